"""One module per page; each exposes ``page() -> Viewable`` and is registered in ``dashboards.server.PAGES``."""
