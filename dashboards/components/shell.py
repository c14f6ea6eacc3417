"""The frame around every page: one theme, the navigation, and who is signed in.

Panel's ``BootstrapTemplate`` draws the frame (header, responsive main area that reflows at phone width); the
navigation shows the pages this viewer can use, and private pages show a sign-in card instead of their content.
"""

from __future__ import annotations

from collections.abc import Callable

import panel as pn

from alphabook.accounts.models import Role
from dashboards import context
from dashboards.components.feedback import notice

ACCENT = "#1f6feb"
NAVIGATION: tuple[tuple[str, str, Role | None], ...] = (
    ("explore", "Explore", None),
    ("library", "My library", Role.USER),
    ("creator", "Creator", Role.CREATOR),
    ("admin", "Admin", Role.ADMIN),
    ("demo", "Demo trading", None),
    ("providers", "Signal providers", None),
    ("market", "Market", None),
    ("runs", "Runs", Role.USER),
    ("assistant", "Assistant", Role.USER),
    ("notifications", "Notifications", Role.USER),
)
CSS = """
.ab-nav { display: flex; flex-wrap: wrap; gap: 0.2em 1.1em; align-items: center; }
.ab-nav .account { margin-left: auto; }
.ab-nav a { color: white; text-decoration: none; font-weight: 500; white-space: nowrap; }
.ab-nav a.active { text-decoration: underline; }
.ab-card { border: 1px solid #d0d7de; border-radius: 8px; padding: 10px; background: white; }
"""
# The page scrolls as a whole, as web pages do (the template scrolls only its main area, which hides the rest of a
# long page from the browser's own scrolling, find-in-page and full-page screenshots).
PAGE_CSS = """
html, body, #container, #content { height: auto !important; overflow: visible !important; }
#main, #sidebar { overflow: visible !important; height: auto !important; }
@media (max-width: 700px) {  /* a phone: the title shrinks and the navigation wraps under it */
  #header { flex-wrap: wrap; }
  #header .title { font-size: 1.15em; line-height: 1.8em; }
  #header-items { flex-basis: 100%; margin-left: 0; white-space: normal; }
}
"""


def _navigation(active: str) -> pn.pane.HTML:
    viewer = context.viewer()
    links = []
    for slug, label, role in NAVIGATION:
        if role is None or role is Role.USER or viewer.has(role):
            css = ' class="active"' if slug == active else ""
            links.append(f'<a{css} href="{context.url(slug)}">{label}</a>')
    if viewer.user is not None:
        account = (f'<span style="color:white;margin-left:1em">{viewer.user.name}</span> '
                   f'<a href="{context.prefix()}logout">Log out</a>')
    else:
        account = f'<a href="{context.login_url(context.url(active))}">Log in</a>'
    return pn.pane.HTML(f'<nav class="ab-nav">{"".join(links)} <span class="account">{account}</span></nav>',
                        sizing_mode="stretch_width", stylesheets=[CSS])


def page(title: str, *body: pn.viewable.Viewable, active: str,
         sidebar: list[pn.viewable.Viewable] | None = None) -> pn.template.BootstrapTemplate:
    """A page of the dashboards: ``body`` under the shared header and navigation, ``sidebar`` (filters, forms)
    beside it on a wide screen and above it on a phone."""
    template = pn.template.BootstrapTemplate(title=f"alphabook · {title}", header_background=ACCENT,
                                             header=[_navigation(active)], raw_css=[CSS, PAGE_CSS],
                                             meta_viewport="width=device-width, initial-scale=1", sidebar_width=300,
                                             collapsed_sidebar=not sidebar)
    template.main.append(pn.Column(*body, sizing_mode="stretch_width"))  # type: ignore[union-attr]
    if sidebar:
        template.sidebar.extend(sidebar)  # type: ignore[union-attr]
    return template


def private(title: str, active: str, role: Role,
            build: Callable[[], pn.viewable.Viewable]) -> pn.template.BootstrapTemplate:
    """A page only for viewers with ``role``: anyone else gets a card saying how to get in, and nothing else."""
    viewer = context.viewer()
    if viewer.user is None:
        return page(title, notice(f"Log in to see {title.lower()}.", action=("Log in", context.login_url(
            context.url(active)))), active=active)
    if not viewer.has(role):
        return page(title, notice(f"{title} is for {role.value}s; your account is not one.",
                                  action=("Back to the marketplace", context.url("explore"))), active=active)
    return page(title, build(), active=active)
