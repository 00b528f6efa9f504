#!/usr/bin/env bash
# Fetch the project's JVM jars from Maven Central into jvm/lib/<profile>/.
#
#   scripts/fetch-jvm.sh            # both profiles: kafka and spark
#   scripts/fetch-jvm.sh spark      # just one
#   scripts/fetch-jvm.sh --force    # refetch even if up to date
#
# Versions are pinned in jvm/pom.xml only. Idempotent: each lib/<profile>/ holds a
# stamp with the sha256 of jvm/pom.xml; when it matches, nothing runs (fast no-op).
# Extra Maven options can be passed with WIKIGUARD_MVN_ARGS (e.g. "-o" offline).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
POM="$ROOT/jvm/pom.xml"
LIB="$ROOT/jvm/lib"

force=0
profiles=()
for arg in "$@"; do
  case "$arg" in
    --force|-f) force=1 ;;
    kafka|spark) profiles+=("$arg") ;;
    -h|--help) sed -n '2,11p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "fetch-jvm.sh: unknown argument '$arg' (expected kafka, spark, --force)" >&2; exit 2 ;;
  esac
done
[ "${#profiles[@]}" -gt 0 ] || profiles=(kafka spark)

command -v mvn >/dev/null 2>&1 || { echo "fetch-jvm.sh: mvn not found on PATH (apt-get install maven)" >&2; exit 1; }
command -v java >/dev/null 2>&1 || { echo "fetch-jvm.sh: java not found on PATH (Java 17 needed)" >&2; exit 1; }

pom_hash="$(sha256sum "$POM" | cut -d' ' -f1)"

for p in "${profiles[@]}"; do
  out="$LIB/$p"
  stamp="$out/.fetched-pom-sha256"
  if [ "$force" -eq 0 ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$pom_hash" ] \
     && compgen -G "$out/*.jar" >/dev/null; then
    echo "fetch-jvm.sh: jvm/lib/$p up to date ($(ls "$out"/*.jar | wc -l) jars)"
    continue
  fi
  echo "fetch-jvm.sh: fetching jvm/lib/$p with Maven ..."
  start=$(date +%s)
  rm -rf "$out"
  # shellcheck disable=SC2086
  # (Debian's mvn -q still prints bare ESC[0m sequences: strip them)
  if ! mvn -q -B -Dstyle.color=never ${WIKIGUARD_MVN_ARGS:-} -f "$POM" -P "$p" package 2>&1 \
       | sed -u 's/\x1b\[0m//g'; then
    rm -rf "$out"
    echo "fetch-jvm.sh: Maven failed for profile '$p' (see output above)" >&2
    exit 1
  fi
  compgen -G "$out/*.jar" >/dev/null || { echo "fetch-jvm.sh: no jars landed in $out" >&2; exit 1; }
  echo "$pom_hash" > "$stamp"
  echo "fetch-jvm.sh: jvm/lib/$p: $(ls "$out"/*.jar | wc -l) jars in $(( $(date +%s) - start ))s"
done
rm -rf "$ROOT/jvm/target"
