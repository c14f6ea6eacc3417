"""``python -m dashboards``: how JupyterHub starts the service."""

from dashboards.server import main

main()
