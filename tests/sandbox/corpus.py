"""Loads the sandbox's attack and legitimate corpora, which both sandbox layers are tested against.

Each case is a file under ``tests/sandbox/attacks/`` or ``tests/sandbox/legit/`` that defines
``indicator(df, **params)``. Its header comments say what should happen:

* attacks: first line ``# expect: rejected | error | limit <timeout|cpu|memory|output|processes> | contained``,
  second line says what the snippet tries;
* legit: an optional ``# params: {"length": 14}`` line (JSON) anywhere in the leading comment block;
  ``expect`` is ``"ok"``.

The static layer (``test_corpus_static.py``) runs what is safe in-process; the OS layer's runner runs all
of them in the pool.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

CORPUS_ROOT = Path(__file__).parent
EXPECTATIONS = ("rejected", "error", "contained", "ok", "limit timeout", "limit cpu", "limit memory",
                "limit output", "limit processes")


@dataclass(frozen=True)
class Case:
    name: str
    path: Path
    source: str
    expect: str
    params: dict[str, Any] = field(default_factory=dict)


def _header(source: str) -> list[str]:
    lines = []
    for line in source.splitlines():
        if not line.startswith("#"):
            break
        lines.append(line[1:].strip())
    return lines


def _parse(path: Path, kind: str) -> Case:
    source = path.read_text(encoding="utf-8")
    expect = "ok" if kind == "legit" else ""
    params: dict[str, Any] = {}
    for line in _header(source):
        key, _, value = line.partition(":")
        if key.strip() == "expect":
            expect = " ".join(value.split())
        elif key.strip() == "params":
            params = json.loads(value)
    if expect not in EXPECTATIONS:
        raise ValueError(f"{path}: header says expect {expect!r}; use one of {EXPECTATIONS}")
    return Case(name=path.stem, path=path, source=source, expect=expect, params=params)


def load_corpus(kind: Literal["attacks", "legit"]) -> list[Case]:
    """Every case of ``kind`` ("attacks" or "legit"), sorted by file name."""
    if kind not in ("attacks", "legit"):
        raise ValueError(f"unknown corpus {kind!r}; use 'attacks' or 'legit'")
    return [_parse(path, kind) for path in sorted((CORPUS_ROOT / kind).glob("[0-9]*.py"))]
