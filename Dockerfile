# onec-b24-bridge image: one image for every component, chosen by the command
#   docker run IMAGE ingest | relay | consume --entity deal | migrate | dlq list
# Settings come from BRIDGE_* environment variables at run time; nothing secret is baked in.
# Build with the labels filled in (docs/deployment.md):
#   docker build --build-arg VERSION=0.1.0 --build-arg REVISION=$(git rev-parse HEAD) \
#                --build-arg SOURCE=<repository URL> -t IMAGE .
#
# The base is pinned by digest, so a rebuild gets the same base: this is the multi-arch index that
# python:3.11-slim-bookworm resolved to in September 2026 (CPython 3.11.16). To move it on, resolve the tag
# again (`docker buildx imagetools inspect python:3.11-slim-bookworm`) and replace the digest.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:528257d48c1da0dcecc2e725d1ae34498d60c965f1241e39cd6a85a8859bdf84

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# Dependencies come only from the lock (`./dev lock`): exact versions, every file checked against its
# sha256. Setuptools, the build backend, is in it too, so the project builds without fetching anything.
COPY requirements.lock ./
RUN python -m venv /opt/bridge \
 && /opt/bridge/bin/pip install --require-hashes -r requirements.lock
# Only what `pip install .` needs (pyproject.toml names README.md as the readme).  The Bitrix24 sandbox
# (b24_sandbox/, a test and demo portal) is deliberately not copied, and .dockerignore keeps it out of the
# build context: setuptools finds only the packages present, so this install has no b24_sandbox (setuptools
# cannot leave a package out per extra).  `b24bridge sandbox` and `demo` then say how to install it.  The
# last line fails the build if the sandbox ever slips in.
COPY pyproject.toml README.md ./
COPY bridge ./bridge
COPY onec_outbox ./onec_outbox
# bridge_build_info{revision}: docker build --build-arg REVISION=$(git rev-parse HEAD) .
ARG REVISION=""
RUN if [ -n "$REVISION" ]; then echo "$REVISION" > bridge/REVISION; fi \
 && /opt/bridge/bin/pip install --no-deps --no-build-isolation . \
 && /opt/bridge/bin/pip check \
 && /opt/bridge/bin/b24bridge --version \
 && ! /opt/bridge/bin/python -c "import b24_sandbox" 2>/dev/null

FROM ${PYTHON_IMAGE}
ARG PYTHON_IMAGE
ARG VERSION=0.1.0
ARG REVISION=""
ARG SOURCE=""
LABEL org.opencontainers.image.title="onec-b24-bridge" \
      org.opencontainers.image.description="1C:UT 10.3 to Bitrix24 CRM bridge: ingest, relay, consumers, migrations" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.base.name="${PYTHON_IMAGE}"
# A fixed uid/gid so Kubernetes' runAsNonRoot can verify it (the Helm chart runs as 10001 too).
RUN groupadd --system --gid 10001 bridge \
 && useradd --system --uid 10001 --gid bridge --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin bridge
# The Alembic scripts travel inside the package (bridge/migrations), so `migrate` needs nothing else.
COPY --from=build /opt/bridge /opt/bridge
ENV PATH=/opt/bridge/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
WORKDIR /tmp
USER 10001:10001
# ingest (BRIDGE_INGEST_PORT), relay ops (BRIDGE_RELAY_METRICS_PORT), consumer ops (BRIDGE_CONSUMER_METRICS_PORT)
EXPOSE 8080 9101 9102 9103
ENTRYPOINT ["b24bridge"]
CMD ["--help"]
