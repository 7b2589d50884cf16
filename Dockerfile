# onec-b24-bridge image: one image for every component, chosen by the command
#   docker run IMAGE ingest | relay | consume --entity deal | migrate | dlq list
# Settings come from BRIDGE_* environment variables at run time; nothing secret is baked in.
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# Only what `pip install .` needs (pyproject.toml names README.md as the readme).
COPY pyproject.toml README.md ./
COPY bridge ./bridge
COPY onec_outbox ./onec_outbox
# bridge_build_info{revision}: docker build --build-arg REVISION=$(git rev-parse HEAD) .
ARG REVISION=""
RUN if [ -n "$REVISION" ]; then echo "$REVISION" > bridge/REVISION; fi \
 && python -m venv /opt/bridge \
 && /opt/bridge/bin/pip install . \
 && /opt/bridge/bin/b24bridge --version

FROM ${PYTHON_IMAGE}
# A fixed uid/gid so Kubernetes' runAsNonRoot can verify it (the Helm chart runs as 10001 too).
RUN groupadd --system --gid 10001 bridge \
 && useradd --system --uid 10001 --gid bridge --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin bridge
COPY --from=build /opt/bridge /opt/bridge
# The Alembic scripts are not part of the Python package; bridge/db.py finds them through
# BRIDGE_MIGRATIONS_DIR.
COPY migrations /opt/bridge/migrations
ENV PATH=/opt/bridge/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    BRIDGE_MIGRATIONS_DIR=/opt/bridge/migrations
WORKDIR /tmp
USER 10001:10001
# ingest (BRIDGE_INGEST_PORT), relay ops (BRIDGE_RELAY_METRICS_PORT), consumer ops (BRIDGE_CONSUMER_METRICS_PORT)
EXPOSE 8080 9101 9102
ENTRYPOINT ["b24bridge"]
CMD ["--help"]
