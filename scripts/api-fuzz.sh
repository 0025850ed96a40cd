#!/usr/bin/env bash
# Property-based fuzzing of the admin API (issue 19): starts Ferry for real (the embedded
# default `ferry run`: every service's admin API on one server, with the sandboxes and the demo
# integration) on free ports in a throw-away data directory (and, by default, its own
# PostgreSQL schema), waits for /readyz, then runs schemathesis against /api/v1/openapi.json
# with the operator token Ferry generated. Extra arguments go to `schemathesis run`.
#
# Checks: no server error (5xx), responses conform to the document (status code, content
# type, body schema). Every operation is fuzzed, destructive ones included (the instance is
# thrown away afterwards). Bounded: API_FUZZ_MAX_EXAMPLES cases per operation (default 20) and
# API_FUZZ_MAX_TIME seconds for the whole run (default 180). Exits non-zero on any failure.
#
# `ferry run` serves the union of the services' documents: every service's own `/api/v1`
# routes (notifier, both connectors, mapper with the registry, order-orchestrator) plus the
# parking lot of dead letters, which a standalone notifier serves as well. A standalone service
# serves no route that `ferry run` does not, so one run covers every service's document.
#
# Tools: schemathesis in a Python venv under target/ (pinned in
# scripts/requirements-api-fuzz.txt, created on first run); the `ferry` binary of the cargo
# target directory (built if missing or stale). Reports land in target/api-fuzz/.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=target/api-fuzz-venv
requirements=scripts/requirements-api-fuzz.txt
stamp="$venv/.requirements"
if [ ! -x "$venv/bin/schemathesis" ] || ! cmp -s "$requirements" "$stamp"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
  cp "$requirements" "$stamp"
fi

max_examples=${API_FUZZ_MAX_EXAMPLES:-20}
max_time=${API_FUZZ_MAX_TIME:-180}
seed=${API_FUZZ_SEED:-19}

cargo build --quiet -p ferry --bin ferry
ferry=$(realpath "${CARGO_TARGET_DIR:-target}/debug/ferry")
reports="$PWD/target/api-fuzz"
rm -rf "$reports"
mkdir -p "$reports"

# The database: PostgreSQL (production's; a schema of its own, dropped afterwards) unless
# API_FUZZ_DATABASE=sqlite (the embedded default's file in the data directory). SQLite has one
# writer at a time, and the fuzzer's parallel writes beside the demo sync run into its lock
# (see tests/README.md, findings).
database=${API_FUZZ_DATABASE:-postgres}
postgres_url=${FERRY_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}
schema="api_fuzz_$$"
database_env=()
if [ "$database" = postgres ]; then
  database_env=(FERRY_DATABASE__URL="$postgres_url" FERRY_DATABASE__SCHEMA="$schema")
fi

work=$(mktemp -d)
ferry_pid=
cleanup() {
  if [ -n "$ferry_pid" ]; then
    kill "$ferry_pid" 2>/dev/null || true
    wait "$ferry_pid" 2>/dev/null || true
  fi
  if [ "$database" = postgres ]; then
    psql -q "$postgres_url" -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# Free ports (port 0) for the admin server and both sandboxes; ferry reports the ports it got
# in its ready file (FERRY_READY_FILE: {"pid":N,"listeners":{"admin":"127.0.0.1:PORT",...}}).
(
  cd "$work"
  unset FERRY_CONFIG
  # The fuzzer sends requests without a token on purpose; the limit on failed
  # authentications (tested in services/platform) would answer everything 429 after 20.
  exec env "${database_env[@]}" \
    FERRY_ADMIN__LISTEN=127.0.0.1:0 \
    FERRY_ADMIN__AUTH_FAILURES_PER_MINUTE=0 \
    FERRY_SANDBOX__MAILCHIMP_LISTEN=127.0.0.1:0 \
    FERRY_SANDBOX__MPLUSKASSA_LISTEN=127.0.0.1:0 \
    FERRY_READY_FILE="$work/ready.json" \
    RUST_LOG=${RUST_LOG:-warn} \
    "$ferry" run >/dev/null 2>"$reports/ferry.log"
) &
ferry_pid=$!

base=
for _ in $(seq 1 120); do
  if [ -f "$work/ready.json" ]; then
    base=http://$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["listeners"]["admin"])' "$work/ready.json")
    break
  fi
  if ! kill -0 "$ferry_pid" 2>/dev/null; then
    echo "ferry exited before listening; its log:" >&2
    cat "$reports/ferry.log" >&2
    exit 1
  fi
  sleep 1
done
[ -n "$base" ] || { echo "ferry did not report its admin address within 120 s" >&2; exit 1; }
for _ in $(seq 1 60); do
  curl -fsS -o /dev/null "$base/readyz" && break
  sleep 1
done
curl -fsS -o /dev/null "$base/readyz" || { echo "$base/readyz not ready within 60 s" >&2; exit 1; }
token=$(cat "$work/ferry-data/admin-token")
echo "ferry at $base on $database (log: target/api-fuzz/ferry.log)"

# `--max-time` bounds the run; `timeout` only guards against a hang beyond it. One worker:
# with two, hypothesis's parsing of its own lambdas (Python 3.11's `ast`, not thread-safe)
# failed now and then with "AST constructor recursion depth mismatch", a fault of the tool.
set +e
# Run inside the report directory: schemathesis keeps its cache of failures (.schemathesis/)
# in the working directory, and each run starts afresh.
(cd "$reports" && timeout --signal=INT $((max_time + 120)) "$OLDPWD/$venv/bin/schemathesis" run "$base/api/v1/openapi.json" \
  --url "$base" \
  --header "Authorization: Bearer $token" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --max-examples "$max_examples" \
  --max-time "$max_time" \
  --seed "$seed" \
  --workers 1 \
  --request-timeout 20 \
  --suppress-health-check too_slow,filter_too_much \
  --report junit,ndjson --report-dir "$reports" \
  --output-sanitize true \
  "$@")
status=$?
set -e
if ! kill -0 "$ferry_pid" 2>/dev/null; then
  echo "ferry died during the run; see target/api-fuzz/ferry.log" >&2
  status=1
fi
if [ "$status" -eq 0 ]; then
  echo "api-fuzz: no server error and no schema violation"
else
  echo "api-fuzz: failures above (reports in target/api-fuzz/)" >&2
fi
exit "$status"
