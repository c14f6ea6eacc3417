"""How the API's routers are put together."""

from __future__ import annotations

import re

from fastapi.routing import APIRoute

from alphabook.api.main import DOMAIN_ROUTERS
from alphabook.api.routes import hooks


def _sample(route: APIRoute) -> str:
    """A path the route answers, its parameters filled in."""
    return re.sub(r"{[^}]+}", "1", route.path)


def test_the_hooks_router_matched_first_takes_no_other_route_s_path() -> None:
    """``api.main`` matches the hooks router first (alerts are the busiest path, by far). That must not change which
    endpoint any request reaches: no route of the hooks router and route of another, sharing a method, match one
    another's paths. (All the routers are included under the same prefix, so their own paths are compared.)"""
    assert DOMAIN_ROUTERS[0] is hooks.router
    ours = [route for route in hooks.router.routes if isinstance(route, APIRoute)]
    others = [route for router in DOMAIN_ROUTERS[1:] for route in router.routes if isinstance(route, APIRoute)]
    assert len(ours) >= 10 and len(others) >= 60
    clashes = [(one.path, other.path) for one in ours for other in others if one.methods & other.methods and (
        one.path_regex.match(_sample(other)) or other.path_regex.match(_sample(one)))]
    assert clashes == []
