# syntax=docker/dockerfile:1
# The alphabook hub image: JupyterHub, its proxy (configurable-http-proxy from hub/package.json) and
# DockerSpawner, which starts one single-user container per person. Build context: the repository root.
FROM node:20-bookworm-slim AS node

FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    ALPHABOOK_HOME=/srv/alphabook-home

# Node.js for configurable-http-proxy, taken from the official node image (Debian's is older).
COPY --from=node /usr/local/bin/node /usr/local/bin/node
COPY --from=node /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/npm
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm

WORKDIR /srv/alphabook
COPY pyproject.toml README.md LICENSE ./
COPY backend ./backend
RUN pip install --no-cache-dir -e . "dockerspawner==14.0.0" "jupyterhub-kubespawner==7.1.0"
WORKDIR /srv/alphabook/hub
COPY hub/package.json hub/package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error && npm cache clean --force
WORKDIR /srv/alphabook
COPY kernels ./kernels
COPY notebooks ./notebooks
COPY dashboards ./dashboards
COPY hub/jupyterhub_config.py ./hub/jupyterhub_config.py
COPY hub/templates ./hub/templates
RUN mkdir -p /srv/alphabook-home/hub

# The hub stays root: DockerSpawner talks to the Docker socket mounted from the host, which root owns.
VOLUME ["/srv/alphabook-home"]
EXPOSE 8000 8081

# /hub/health through the public proxy: answers only when both the proxy and the hub are up.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/hub/health', timeout=4)"]

CMD ["jupyterhub", "-f", "/srv/alphabook/hub/jupyterhub_config.py"]
