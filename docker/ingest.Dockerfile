# syntax=docker/dockerfile:1
#
# WikiGuard ingest (ECS Fargate): SSE -> allowlist -> Kafka.
# Build from the repository root, so the package is the build context:
#
#   docker build -f docker/ingest.Dockerfile -t wikiguard-ingest:0.1.0 .
#
# The `aws` extra brings the MSK IAM token signer (WIKIGUARD_KAFKA_SECURITY=iam);
# the `spark` extra is left out: the ingest never runs Spark.

# --- build: resolve every dependency to a wheel once ----------------------
FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
# README.md is the project's `readme`; setuptools needs it to build.
COPY pyproject.toml README.md ./
COPY wikiguard ./wikiguard
RUN pip wheel --wheel-dir /wheels ".[aws]"

# --- runtime ----------------------------------------------------------------
FROM python:3.11-slim

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    WIKIGUARD_ALLOWLIST=/etc/wikiguard/allowlist.yaml \
    WIKIGUARD_STATE_DIR=/home/wikiguard/state

# Install from the wheels only: no source tree or build cache in this image.
# Versions are pinned by the build stage itself (--no-index), hence DL3013.
# hadolint ignore=DL3013
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --find-links /wheels "wikiguard[aws]"

# The packaged default allowlist, used unless WIKIGUARD_ALLOWLIST points elsewhere
# (e.g. a file mounted into the task).
COPY wikiguard/entrypoints/default_allowlist.yaml /etc/wikiguard/allowlist.yaml

# Unprivileged user. WIKIGUARD_STATE_DIR (heartbeat read by `wikiguard health`,
# resume file) lives in its home; it is task-local and lost on replacement.
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/wikiguard wikiguard
USER 10001:10001
WORKDIR /home/wikiguard

HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["wikiguard", "health"]

ENTRYPOINT ["wikiguard", "ingest"]
