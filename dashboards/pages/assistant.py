"""Assistant: a trading idea in a sentence becomes a validated, backtested strategy (issue #11), a private page.

The page calls the assistant's verbs directly (:func:`alphabook.ai.pipeline.generate`, the provider settings of
:mod:`alphabook.ai.service`), the same as the API, so the person's providers, limits and credits apply whichever
door they use. The model's code is untrusted: it runs only in the sandbox, and the page shows it as text. The
provider form stores a key encrypted and shows only its last four characters afterwards.
"""

from __future__ import annotations

import html
from typing import Any

import panel as pn

from alphabook.accounts.models import Role, User
from alphabook.ai import credits, pipeline, service
from alphabook.ai.providers import KINDS
from alphabook.ai.router import DEFAULT_ROUTE, routes_for
from alphabook.ai.schemas import ProviderOut, StrategyOut
from alphabook.sandbox.service import default_executor
from dashboards import context
from dashboards.components.feedback import guarded, notice, off_the_loop
from dashboards.components.shell import private

EXAMPLE = "buy BTC when RSI < 30 and MACD crosses above its signal"
SHOWN_METRICS = (("total_return", "Total return", "{:.2%}"), ("sharpe", "Sharpe", "{:.2f}"),
                 ("max_drawdown", "Max drawdown", "{:.2%}"), ("num_trades", "Trades", "{}"),
                 ("win_rate", "Win rate", "{:.2%}"), ("final_equity", "Final equity", "{:,.2f}"))
CSS = """
table.ab-metrics { border-collapse: collapse; font-size: 0.95em; }
table.ab-metrics th, table.ab-metrics td { text-align: left; padding: 3px 10px; border-bottom: 1px solid #d8dee4; }
ul.ab-steps { margin: 0.3em 0; padding-left: 1.2em; }
pre.ab-code { background: #f6f8fa; border: 1px solid #d0d7de; border-radius: 6px; padding: 8px 10px;
              font-size: 0.85em; white-space: pre-wrap; }
"""


def _metric(summary: dict[str, Any], name: str, shape: str) -> str:
    value = summary.get(name)
    try:
        return shape.format(value) if value is not None else "–"
    except (TypeError, ValueError):
        return str(value)


def result_view(result: StrategyOut) -> list[pn.viewable.Viewable]:
    """The code, the checks and the figures of one generated strategy (its chart has a pane of its own)."""
    steps = "".join(f'<li class="ab-step">{"✓" if step["ok"] else "✗"} {html.escape(step["name"])}: '
                    f'{html.escape(str(step["detail"]))}</li>' for step in result.steps)
    shown: list[pn.viewable.Viewable] = []
    if result.error:
        shown.append(notice(result.error, kind="danger"))
    charge = f", charged {result.charge.display}" if result.charge else ""
    skipped = f" ({'; '.join(result.skipped)})" if result.skipped else ""
    shown.append(pn.pane.HTML(
        f'<p class="ab-answered">Written by <b>{html.escape(result.provider)}</b> ({html.escape(result.model)}) '
        f"in {result.attempts} attempt(s){html.escape(charge + skipped)}.</p><p>{html.escape(result.explanation)}</p>"
        f'<ul class="ab-steps">{steps}</ul>', sizing_mode="stretch_width", stylesheets=[CSS]))
    if result.code:  # a model wrote it: shown as escaped text, never as Markdown that could carry HTML
        shown.append(pn.pane.HTML(f'<pre class="ab-code"><code>{html.escape(result.code)}</code></pre>',
                                  sizing_mode="stretch_width", stylesheets=[CSS]))
    if result.backtest is not None:
        rows = "".join(f"<tr><th>{label}</th><td>{_metric(result.backtest, name, shape)}</td></tr>"
                       for name, label, shape in SHOWN_METRICS)
        where = f"{result.dataset.get('symbol')} {result.dataset.get('timeframe')}, {result.dataset.get('bars')} bars"
        shown.append(pn.pane.HTML(f'<table class="ab-metrics"><caption>Backtest on {html.escape(where)}</caption>'
                                  f"{rows}</table>", stylesheets=[CSS]))
    return shown


def _providers_table(rows: list[ProviderOut]) -> pn.pane.HTML | pn.pane.Alert:
    if not rows:
        return notice("No providers yet: the offline assistant answers (it reads sentences like the example). Add "
                      "your OpenAI, DeepSeek, Ollama, Anthropic or Gemini key below to use a model.")
    body = "".join(f'<tr class="ab-provider"><td>{html.escape(row.name)}</td><td>{html.escape(row.kind)}</td>'
                   f"<td>{html.escape(row.model)}</td><td>{'…' + html.escape(row.key_last4) if row.has_key else ''}"
                   f"</td><td>{row.priority}</td></tr>" for row in rows)
    return pn.pane.HTML('<table class="ab-metrics"><tr><th>Name</th><th>Kind</th><th>Model</th><th>Key</th>'
                        f"<th>Priority</th></tr>{body}</table>", stylesheets=[CSS])


def _settings_form(user: User, said: pn.Column, on_change: Any) -> pn.Column:
    name = pn.widgets.TextInput(name="Name", placeholder="openai", width=140)
    kind = pn.widgets.Select(name="Kind", options=[kind for kind in KINDS if kind != "rules"], width=130)
    model = pn.widgets.TextInput(name="Model (empty: default)", width=180)
    base_url = pn.widgets.TextInput(name="Address (empty: public)", width=220,
                                    visible=context.settings().ai_custom_endpoints)
    key = pn.widgets.PasswordInput(name="API key", width=220)
    priority = pn.widgets.IntInput(name="Priority", value=0, start=0, end=100, width=90)
    save = pn.widgets.Button(name="Save provider", button_type="primary", width=140)
    remove = pn.widgets.Button(name="Remove provider", button_type="light", width=140)

    def saved() -> None:
        change = service.ProviderChange(kind=kind.value, model=model.value or "", base_url=base_url.value or "",
                                        api_key=key.value or None, priority=priority.value or 0)
        with context.session() as session:
            row = service.save_provider(session, user, (name.value or "").strip(), change, context.settings())
            label = f"{row.name} ({row.kind}, {row.model})"
        key.value = ""
        said[:] = [notice(f"Saved {label}; its key is stored encrypted.", kind="success")]
        on_change()

    def removed() -> None:
        gone = (name.value or "").strip()
        with context.session() as session:
            service.delete_provider(session, user, gone)
        said[:] = [notice(f"Removed {gone}.", kind="success")]
        on_change()

    save.on_click(lambda _event: guarded(said, busy=save)(saved)())
    remove.on_click(lambda _event: guarded(said, busy=remove)(removed)())
    return pn.Column(pn.FlexBox(name, kind, model, base_url, key, priority), pn.Row(save, remove),
                     sizing_mode="stretch_width")


def _build() -> pn.viewable.Viewable:
    user = context.viewer().user
    assert user is not None
    said = pn.Column(sizing_mode="stretch_width")
    sentence = pn.widgets.TextAreaInput(name="Your strategy, in a sentence", value=EXAMPLE, height=80,
                                        sizing_mode="stretch_width", max_length=2000)
    provider = pn.widgets.Select(name="Answered by", width=200)
    build = pn.widgets.Button(name="Build strategy", button_type="primary", width=160, align="end")
    output = pn.Column(sizing_mode="stretch_width", min_height=60)
    # On the page from the start, so plotly.js loads with it (a pane added later would find no plotly.js).
    chart = pn.pane.Plotly(None, sizing_mode="stretch_width", height=640, visible=False)
    listed = pn.Column(sizing_mode="stretch_width")
    balance = pn.pane.Markdown()

    def refresh() -> None:
        settings = context.settings()
        with context.session() as session:
            rows = [ProviderOut.of(row) for row in service.providers_of(session, user)]
            routes = [DEFAULT_ROUTE, *(route.name for route in routes_for(session, user, settings))]
            left = credits.credit_balance(session, user)
        provider.options = routes
        provider.value = provider.value if provider.value in routes else DEFAULT_ROUTE
        listed[:] = [_providers_table(rows)]
        balance.object = (f"Platform model credits left: **{left}**" if settings.ai_managed_provider != "none"
                          else "")

    def generate(text: str, route: str) -> StrategyOut:
        with context.session() as session:
            return StrategyOut.of(pipeline.generate(session, user, text, context.settings(), default_executor(),
                                                    route=route))

    @guarded(output, busy=build)
    async def run(_event: object) -> None:
        text, route = sentence.value or "", provider.value or DEFAULT_ROUTE
        result = await off_the_loop(lambda: generate(text, route))
        output[:] = result_view(result)
        chart.object, chart.visible = result.chart, result.chart is not None

    build.on_click(run)
    guarded(said)(refresh)()
    return pn.Column(
        said, "## Describe a strategy",
        pn.pane.Markdown("Rules such as *buy ETH when the 20 EMA crosses above the 50 SMA; sell when RSI > 70*. The "
                         "model's code is checked and run in the sandbox, then backtested on offline data."),
        sentence, pn.Row(provider, build), output, chart,
        "## My AI providers", balance, listed, _settings_form(user, said, refresh),
        sizing_mode="stretch_width")


def page() -> pn.template.BaseTemplate:
    return private("Assistant", "assistant", Role.USER, _build)
