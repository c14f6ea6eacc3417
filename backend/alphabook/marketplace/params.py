"""A listing version's parameter schema, and the check every call's parameters pass before they run.

pydantic does the heavy lifting: the schema is a list of :class:`ParamSpec` (type, default, range or
choices), validated when a version is submitted; :func:`resolve` overlays a caller's values on the defaults
and refuses unknown names, wrong types and out-of-range values before anything reaches the sandbox.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from alphabook.core.errors import InvalidInput

__all__ = ["ParamSpec", "parse_schema", "resolve"]


class ParamSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    type: Literal["int", "float", "bool", "choice"]
    default: int | float | bool | str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    description: str = Field(default="", max_length=300)

    @model_validator(mode="after")
    def _default_fits(self) -> ParamSpec:
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            raise ValueError(f"{self.name}: minimum {self.minimum:g} is above maximum {self.maximum:g}")
        if self.type == "choice" and not self.choices:
            raise ValueError(f"{self.name}: a choice parameter needs its choices")
        self.check(self.default)
        return self

    def check(self, value: object) -> int | float | bool | str:
        """``value`` if it is valid for this parameter; ValueError saying what would be valid otherwise."""
        if self.type == "bool":
            if not isinstance(value, bool):
                raise ValueError(f"{self.name} must be true or false, not {value!r}")
            return value
        if self.type == "choice":
            if value not in self.choices:
                raise ValueError(f"{self.name} must be one of {', '.join(self.choices)}, not {value!r}")
            return str(value)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{self.name} must be a number, not {value!r}")
        if self.type == "int":
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(f"{self.name} must be a whole number, not {value!r}")
            value = int(value)
        else:
            value = float(value)
        if self.minimum is not None and value < self.minimum:
            raise ValueError(f"{self.name} must be at least {self.minimum:g}, not {value:g}")
        if self.maximum is not None and value > self.maximum:
            raise ValueError(f"{self.name} must be at most {self.maximum:g}, not {value:g}")
        return value


def parse_schema(raw: Sequence[Mapping[str, Any]]) -> list[ParamSpec]:
    try:
        specs = [ParamSpec.model_validate(item) for item in raw]
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InvalidInput(f"Parameter schema: {'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    names = [spec.name for spec in specs]
    if len(set(names)) != len(names):
        raise InvalidInput("Parameter schema: every parameter needs its own name.")
    return specs


def resolve(schema: Sequence[Mapping[str, Any]], given: Mapping[str, Any]) -> dict[str, Any]:
    """The defaults overlaid with ``given``, each value checked; InvalidInput names what is valid."""
    specs = {spec.name: spec for spec in parse_schema(schema)}
    for name in given:
        if name not in specs:
            close = difflib.get_close_matches(name, specs, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise InvalidInput(f"Unknown parameter {name!r}{hint}; this listing takes: "
                               f"{', '.join(specs) or 'no parameters'}.")
    resolved = {}
    for name, spec in specs.items():
        try:
            resolved[name] = spec.check(given.get(name, spec.default))
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None
    return resolved
