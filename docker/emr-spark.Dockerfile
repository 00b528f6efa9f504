# syntax=docker/dockerfile:1
#
# Custom EMR Serverless image for the WikiGuard Spark jobs.
# The stock emr-7.x images run PySpark on Python 3.9; wikiguard needs 3.11 and
# its third-party dependencies (attrs, dependency-injector, orjson, pydeequ ...).
# The wikiguard code itself is NOT baked in: it ships per release as a zip in
# --py-files (see docker/spark-jobs.md), so a code change needs no new image.
#
#   docker build -f docker/emr-spark.Dockerfile -t <account>.dkr.ecr.<region>.amazonaws.com/wikiguard-spark:emr-7.9.0 .
#
# Then set `emr_image_uri` in Terraform to that URI. The ECR repository policy
# must let emr-serverless.amazonaws.com pull it.

ARG EMR_RELEASE=emr-7.9.0
# AWS publishes one `latest` tag per EMR release; the release is the pin.
# hadolint ignore=DL3007
FROM public.ecr.aws/emr-serverless/spark/${EMR_RELEASE}:latest

# hadolint ignore=DL3066
USER root

# hadolint ignore=DL3041
RUN dnf install -y python3.11 python3.11-pip && dnf clean all

# Dependencies only: the runtime deps of pyproject.toml plus the `aws` extra and
# pydeequ from the `spark` extra. pyspark is NOT installed: EMR provides Spark
# (and py4j) and a pip pyspark would shadow it.
COPY pyproject.toml /tmp/wikiguard/pyproject.toml
# hadolint ignore=DL3013
RUN python3.11 -c "import tomllib; p = tomllib.load(open('/tmp/wikiguard/pyproject.toml', 'rb'))['project']; \
reqs = p['dependencies'] + p['optional-dependencies']['aws'] + [r for r in p['optional-dependencies']['spark'] if not r.startswith('pyspark')]; \
print('\n'.join(reqs))" > /tmp/wikiguard/requirements.txt \
    && python3.11 -m pip install --no-cache-dir -r /tmp/wikiguard/requirements.txt \
    && rm -rf /tmp/wikiguard

# Driver and executors run Python 3.11.
ENV PYSPARK_PYTHON=/usr/bin/python3.11 \
    PYSPARK_DRIVER_PYTHON=/usr/bin/python3.11

# EMR Serverless requires the image to end as hadoop:hadoop (a named user).
# hadolint ignore=DL3066
USER hadoop:hadoop
