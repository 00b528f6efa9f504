#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs the package with its test and Spark extras,
# fetches the pinned JVM jars with Maven, starts the local Kafka broker, runs the linters, the
# layer contracts, the type checker and every test (unit, contract, integration), then stops the broker.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m pip install --quiet --disable-pip-version-check -e ".[dev,spark,aws]"
scripts/fetch-jvm.sh

export WIKIGUARD_SCRATCH="${WIKIGUARD_SCRATCH:-$PWD/.scratch}"
scripts/kafka.sh start
trap 'scripts/kafka.sh stop || true' EXIT
scripts/kafka.sh wait

echo "== ruff"; python3 -m ruff check wikiguard tests benchmarks
echo "== import-linter"; lint-imports
echo "== mypy --strict (domain, application)"; python3 -m mypy
echo "== pytest"; python3 -m pytest -p no:cacheprovider -q "$@"
