# syntax=docker/dockerfile:1
# The alphabook service image: the API, the dashboards, Voila, the migration job, Celery beat and the Celery
# workers all run from it (docker-compose.yml picks the command). Build context: the repository root.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    ALPHABOOK_HOME=/srv/alphabook-home

# bubblewrap: the sandbox that runs creators' indicators (API), scheduled notebooks (worker) and Voila pages.
# DL3008 (pin apt versions): Debian bookworm's point releases replace exact versions, which would break
# the build; the base image tag fixes the release and security updates are wanted.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends bubblewrap \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 --shell /bin/bash alphabook

# The checkout lives in /srv/alphabook and is installed editable: alphabook finds its kernels/, notebooks/jobs
# and hub/ next to the package (alphabook.core.config.PROJECT_ROOT), and `python -m dashboards` runs from here.
WORKDIR /srv/alphabook
COPY pyproject.toml README.md LICENSE ./
COPY backend ./backend
RUN pip install --no-cache-dir -e .
COPY kernels ./kernels
COPY notebooks ./notebooks
COPY dashboards ./dashboards
COPY hub/jupyterhub_config.py ./hub/jupyterhub_config.py
COPY hub/templates ./hub/templates
# The sandboxed kernelspecs (alphabook-research, alphabook-sandbox) into the image's Python prefix.
RUN alphabook kernels install \
    && mkdir -p /srv/alphabook-home/runs \
    && chown -R alphabook:alphabook /srv/alphabook-home

# the alphabook user created above
USER 10001
VOLUME ["/srv/alphabook-home"]
EXPOSE 8010 8020 8030

# The API's health endpoint; docker-compose.yml gives the other services their own checks.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8010/services/api/api/health', timeout=4)"]

CMD ["alphabook", "api"]
