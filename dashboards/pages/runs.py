"""Runs: scheduled notebook runs (issue #9), a private page. The scheduler is not built yet, so this page says
so honestly instead of showing an empty table that looks broken."""

from __future__ import annotations

import panel as pn

from alphabook.accounts.models import Role
from dashboards.components.feedback import notice
from dashboards.components.shell import private


def page() -> pn.template.BaseTemplate:
    return private("Runs", "runs", Role.USER, lambda: notice(
        "Scheduled notebook runs will appear here: each run of a notebook on its schedule, its status and its "
        "output. Scheduling is coming soon; until then, run notebooks from JupyterLab."))
