"""Runs: my scheduled notebooks (issue #9) and what became of each run, a private page.

A person schedules a notebook from JupyterLab's terminal or the API; this page is where they come back to see
whether it ran. It calls the scheduler's services directly (:mod:`alphabook.scheduler.jobs` to list jobs and runs
and to queue a run now, :func:`alphabook.scheduler.queue.cancel`), the same verbs as the API, so ownership and the
rules are the same whichever door is used. A run's executed notebook is served beside the page through
:data:`ROUTES` (``runs/output?run=<id>``, HTML rendered by nbconvert), for its owner only: a Bokeh websocket
cannot hand the browser a whole document, and the API's address would need the hub cookie of the API's path.
The list refreshes itself every few seconds while a run is queued or running.
"""

from __future__ import annotations

import asyncio
import html
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import panel as pn
from bokeh.models import ColumnDataSource, DataRange1d, FactorRange, HoverTool
from bokeh.models.renderers import DataRenderer
from bokeh.plotting import figure
from panel.io.callbacks import PeriodicCallback
from tornado import web

from alphabook.accounts import service as accounts
from alphabook.accounts.models import Role, User
from alphabook.core.clock import as_utc
from alphabook.core.errors import AlphabookError, NotFound
from alphabook.scheduler import jobs, outputs, queue
from alphabook.scheduler.models import RunStatus
from alphabook.scheduler.schemas import JobOut, RunOut
from dashboards import auth, context
from dashboards.components.feedback import guarded, notice, off_the_loop, words
from dashboards.components.reports import when
from dashboards.components.shell import private

RUNS_SHOWN = 50
REFRESH_MS = 3000  # while a run is queued or running; a finished list stays still
ACTIVE = (RunStatus.QUEUED, RunStatus.RUNNING)
COLOURS: dict[str, str] = {
    RunStatus.QUEUED: "#6e7781", RunStatus.RUNNING: "#1f6feb", RunStatus.SUCCEEDED: "#1a7f37",
    RunStatus.FAILED: "#cf222e", RunStatus.TIMED_OUT: "#bc4c00", RunStatus.CANCELLED: "#8c959f",
}
CSS = """
table.ab-runs { border-collapse: collapse; width: 100%; font-size: 0.92em; }
table.ab-runs th, table.ab-runs td { text-align: left; vertical-align: top; padding: 4px 8px;
                                     border-bottom: 1px solid #d8dee4; }
table.ab-runs td.error { max-width: 420px; overflow-wrap: anywhere; color: #57606a; }
.ab-badge { display: inline-block; padding: 1px 8px; border-radius: 10px; color: white; font-size: 0.85em;
            font-weight: 600; white-space: nowrap; }
.ab-job { border: 1px solid #d0d7de; border-radius: 8px; padding: 6px 10px; background: white; }
.ab-job code { background: #f6f8fa; padding: 0 3px; }
"""
HOW_TO = """
You have no scheduled notebooks yet. A job runs a notebook from your home on a schedule, in your
`alphabook-research` kernel, with the parameters you give (papermill fills the cell tagged `parameters`);
each run appears here with its status, its duration, the cell that failed if one did, and its executed notebook.

Schedule one through the API with your hub token (the hub's Token page gives one):

```
POST /services/api/api/jobs
{"name": "daily-report", "notebook": "reports/daily.ipynb", "cron": "0 9 * * 1-5",
 "timezone": "Europe/London", "parameters": {"symbol": "BTC-USD"}}
```

or ask an operator of the machine, who can run
`alphabook jobs create --user {name} --name daily-report --notebook reports/daily.ipynb --cron "0 9 * * 1-5"
--tz Europe/London`. Then come back here to run it now, or to watch it run on its schedule.
"""


@dataclass(frozen=True, slots=True)
class Shown:
    """What the page shows of the viewer's jobs and runs, read in one database session."""

    jobs: list[JobOut]
    runs: list[RunOut]


def _read(user: User) -> Shown:
    with context.session() as session:
        return Shown(jobs=[JobOut.of(job) for job in jobs.jobs_of(session, user)],
                     runs=[RunOut.of(run) for run in jobs.runs_of(session, user, None, RUNS_SHOWN)])


def output_url(run_id: int) -> str:
    return context.url("runs/output", run=run_id)


def badge(status: str) -> str:
    colour = COLOURS.get(status, "#6e7781")
    return (f'<span class="ab-badge ab-status-{html.escape(status)}" style="background:{colour}">'
            f"{html.escape(status.replace('_', ' '))}</span>")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


def first_line(error: str | None) -> str:
    lines = [line.strip() for line in (error or "").splitlines() if line.strip()]
    return lines[0][:300] if lines else ""


def _job_card(job: JobOut) -> pn.pane.HTML:
    state = "enabled" if job.enabled else "paused"
    upcoming = when(job.next_run_at) or "not scheduled"
    return pn.pane.HTML(
        f'<div class="ab-job"><b>{html.escape(job.name)}</b> <small>({state})</small><br>'
        f"Runs <code>{html.escape(job.notebook)}</code> in <code>{html.escape(job.kernel)}</code><br>"
        f"{html.escape(job.schedule)} · next run {upcoming}</div>", sizing_mode="stretch_width", stylesheets=[CSS])


def _runs_table(runs: Sequence[RunOut]) -> pn.pane.HTML:
    head = "".join(f"<th>{name}</th>" for name in ("Run", "Job", "Status", "Trigger", "Attempt", "Scheduled",
                                                 "Duration", "Failed at", "Error", "Output"))
    rows = []
    for run in runs:
        failed_at = f"cell {run.failed_cell}" if run.failed_cell is not None else ""
        link = f'<a href="{html.escape(output_url(run.id))}" target="_blank">Output</a>' if run.has_output else ""
        rows.append(
            f'<tr class="ab-run" data-run="{run.id}"><td>#{run.id}</td><td>{html.escape(run.job)}</td>'
            f"<td>{badge(run.status)}</td><td>{html.escape(run.trigger)}</td><td>{run.attempt}</td>"
            f"<td>{when(run.scheduled_for)}</td><td>{duration(run.duration_seconds)}</td><td>{failed_at}</td>"
            f'<td class="error">{html.escape(first_line(run.error))}</td><td>{link}</td></tr>')
    return pn.pane.HTML(f'<table class="ab-runs"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody>'
                        "</table>", sizing_mode="stretch_width", stylesheets=[CSS])


def per_day(runs: Sequence[RunOut]) -> figure:
    """Runs per day (UTC, by scheduled time) stacked by status."""
    counted = Counter((as_utc(run.scheduled_for).strftime("%Y-%m-%d"), run.status) for run in runs)
    days = sorted({day for day, _ in counted})
    statuses = [status.value for status in RunStatus if any(each == status for _, each in counted)]
    data: dict[str, list[object]] = {"day": list(days)}
    for status in statuses:
        data[status] = [counted.get((day, status), 0) for day in days]
    plot = figure(x_range=FactorRange(factors=days), y_range=DataRange1d(start=0), height=220,
                  sizing_mode="stretch_width", title="Runs per day (UTC) by status", tools="save",
                  toolbar_location=None, y_axis_label="runs")
    bars = plot.vbar_stack(statuses, x="day", width=0.6, source=ColumnDataSource(data),
                           color=[COLOURS[status] for status in statuses],
                           legend_label=[status.replace("_", " ") for status in statuses])
    renderers: list[DataRenderer] = list(bars)
    plot.add_tools(HoverTool(renderers=renderers, tooltips=[("day", "@day"), ("status", "$name"),
                                                            ("runs", "@$name")]))
    plot.xgrid.grid_line_color = None
    plot.legend.location = "top_left"
    plot.legend.orientation = "horizontal"
    return plot


def _job_row(job: JobOut, said: pn.Column, run_now: Callable[[int, str], None]) -> pn.Row:
    button = pn.widgets.Button(name="Run now", button_type="primary", width=110, align="center")
    act = guarded(said, busy=button)(run_now)
    button.on_click(lambda _event: act(job.id, job.name))
    return pn.Row(_job_card(job), button, sizing_mode="stretch_width")


def _cancel_button(run: RunOut, said: pn.Column, cancel: Callable[[int], None]) -> pn.widgets.Button:
    button = pn.widgets.Button(name=f"Cancel run #{run.id}", button_type="danger", width=150)
    act = guarded(said, busy=button)(cancel)
    button.on_click(lambda _event: act(run.id))
    return button


def _build() -> pn.viewable.Viewable:
    user = context.viewer().user
    assert user is not None
    said = pn.Column(sizing_mode="stretch_width")
    job_list = pn.Column(sizing_mode="stretch_width")
    run_list = pn.Column(sizing_mode="stretch_width")
    chart = pn.Column(sizing_mode="stretch_width")
    refresh_button = pn.widgets.Button(name="Refresh", width=110)
    body = pn.Column(sizing_mode="stretch_width")
    ticking: list[PeriodicCallback] = []

    def show(shown: Shown) -> None:
        if not shown.jobs and not shown.runs:
            body[:] = [pn.pane.Markdown(HOW_TO.replace("{name}", user.name), sizing_mode="stretch_width")]
            return
        rows: list[pn.viewable.Viewable] = [_job_row(job, said, run_now) for job in shown.jobs]
        job_list[:] = rows or [notice("You have no jobs now; their past runs are below.")]
        if shown.runs:
            cancels = [_cancel_button(run, said, cancel) for run in shown.runs if run.status in ACTIVE]
            run_list[:] = [_runs_table(shown.runs), pn.FlexBox(*cancels)] if cancels else [_runs_table(shown.runs)]
            chart[:] = [pn.pane.Bokeh(per_day(shown.runs), sizing_mode="stretch_width")]
        else:
            run_list[:] = [notice("No runs yet: click Run now, or wait for the schedule.")]
            chart[:] = []
        body[:] = [said, "## My scheduled notebooks", job_list,
                   pn.Row("## Latest runs", refresh_button, sizing_mode="stretch_width"), run_list, chart]
        _keep_watching(any(run.status in ACTIVE for run in shown.runs))

    def _keep_watching(active: bool) -> None:
        if active and not ticking:
            ticking.append(pn.state.add_periodic_callback(refresh_quietly, period=REFRESH_MS))  # type: ignore[arg-type]
        elif not active and ticking:
            ticking.pop().stop()

    def refresh() -> None:
        show(_read(user))

    async def refresh_quietly() -> None:
        try:
            show(await off_the_loop(lambda: _read(user)))
        except Exception as error:  # a blip of the database: say so, and try again on the next tick
            said[:] = [notice(words(error), kind="warning")]

    def run_now(job_id: int, name: str) -> None:
        with context.session() as session:
            run = jobs.run_now(session, user, jobs.get_job(session, user, job_id))
            number = run.id
        said[:] = [notice(f"Run #{number} of {name} is queued; it starts within seconds and this list follows it.",
                          kind="success")]
        refresh()

    def cancel(run_id: int) -> None:
        with context.session() as session:
            run = queue.cancel(session, jobs.get_run(session, user, run_id))
            status = run.status
        said[:] = [notice(f"Run #{run_id} is cancelled." if status == RunStatus.CANCELLED else
                          f"Run #{run_id} will stop within seconds.", kind="success")]
        refresh()

    refresh_button.on_click(lambda _event: guarded(said, busy=refresh_button)(refresh)())
    guarded(body)(refresh)()
    return body


def page() -> pn.template.BaseTemplate:
    return private("Runs", "runs", Role.USER, _build)


class RunOutputHandler(auth.PlainHandler):
    """A run's executed notebook as HTML, for its owner (anyone else, or nobody, gets a 404 or the login)."""

    async def get(self) -> None:
        token = self.get_cookie(context.identity().cookie_name)
        hub_user = await context.identity().user_for_token(token) if token else None
        if hub_user is None:
            self.redirect(context.login_url(self.request.uri))
            return
        try:
            run_id = int(self.get_argument("run", ""))
        except ValueError:
            raise web.HTTPError(404, "Which run? Open one from the Runs page.") from None
        try:
            body = await asyncio.to_thread(_rendered, hub_user.name, hub_user.roles, run_id)
        except AlphabookError as error:
            raise web.HTTPError(error.status if isinstance(error, NotFound) else 404, words(error)) from None
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Content-Security-Policy", outputs.SANDBOXED)
        self.finish(body)


def _rendered(name: str, roles: list[str], run_id: int) -> str:
    with context.session() as session:
        user = accounts.ensure_user(session, name, roles=roles)
        run = jobs.get_run(session, user, run_id)
        if run.owner_id != user.id:  # administrators see others' runs through the API, not here
            raise NotFound(f"There is no run {run_id} of yours.")
        return outputs.as_html(run, context.settings())


ROUTES = [("/runs/output", RunOutputHandler)]
