"""alphabook's dashboards: Panel apps served by JupyterHub as the managed service ``dashboards``.

Panel (on Bokeh's Tornado server) does the heavy lifting: every page is a function building a Panel layout for
one browser session (``pages/``), from shared pieces (``components/``); the server (``server.py``) serves them under
the service's prefix and adds the hub login (``auth.py``). Pages call alphabook's domain services in this
process: they hold no business logic of their own, and the services check who may do what.
"""
