# syntax=docker/dockerfile:1
# The single-user image DockerSpawner starts for each person: JupyterLab with the alphabook extension,
# the sandboxed kernels (bubblewrap) and the notebook SDK, as the non-root user jovyan.
# Build context: the repository root.
FROM node:20-bookworm-slim AS node

# --- the JupyterLab extension, built with JupyterLab's own builder (what `make` does) -------------------
FROM python:3.11-slim-bookworm AS extension
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY --from=node /usr/local/bin/node /usr/local/bin/node
COPY --from=node /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/npm
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
    && pip install --no-cache-dir "jupyterlab>=4.6,<5"
WORKDIR /build/extensions
COPY extensions/package.json extensions/package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY extensions/ ./
RUN npm run build

# --- the user server ---------------------------------------------------------------------------------
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# bubblewrap: every kernel runs inside it (kernels/README.md).
# DL3008 (pin apt versions): Debian bookworm's point releases replace exact versions, which would break
# the build; the base image tag fixes the release and security updates are wanted.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends bubblewrap \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 1000 --shell /bin/bash jovyan

WORKDIR /srv/alphabook
COPY pyproject.toml README.md LICENSE ./
COPY backend ./backend
RUN pip install --no-cache-dir -e .
COPY kernels ./kernels
COPY --from=extension /build/extensions ./extensions
# The prebuilt labextension and the server extension's config land in the image's prefix (pyproject shared-data).
RUN pip install --no-cache-dir --no-deps ./extensions \
    && rm -rf ./extensions/node_modules \
    && jupyter server extension enable --sys-prefix alphabook_jupyterlab \
    && alphabook kernels install

# jovyan, created above
USER 1000
WORKDIR /home/jovyan
ENV HOME=/home/jovyan
EXPOSE 8888

CMD ["jupyterhub-singleuser"]
