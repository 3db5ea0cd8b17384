#!/usr/bin/env bash
# Serves examples/bare (fixed bytes, no token check, no database) on 127.0.0.1:$PORT and runs
# the harness's REST, Socket.IO and fan-out suites against it (no login or create suite:
# it hashes nothing and stores nothing). Build first:
#   cargo build --release --locked --example bare
#   bench/run-bare.sh [harness options...]
# Environment: HARNESS, CARGO_TARGET_DIR, PORT (default 3041), BENCH_NICE (see run-chat.sh).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
harness="${HARNESS:-$repo/../shared/bench}"
bin="$(cd "$repo" && realpath -m "${CARGO_TARGET_DIR:-target}")/release/examples/bare"
port="${PORT:-3041}"
[ -x "$bin" ] || { echo "build it first: cargo build --release --locked --example bare" >&2; exit 1; }
[ -x "$harness/run.sh" ] || { echo "no harness at $harness (set HARNESS)" >&2; exit 1; }

pid=""
trap 'if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; fi' EXIT
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
nice_cmd=()
if [ -n "${BENCH_NICE:-}" ]; then nice_cmd=(nice -n "$BENCH_NICE"); fi
ROOST_HOST=127.0.0.1 ROOST_PORT="$port" "${nice_cmd[@]}" "$bin" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$port/messages" && break; sleep 0.1; done
echo "uptime before: $(uptime)"
set +e
"$harness/run.sh" "http://127.0.0.1:$port" --server-pid "$pid" --label bare-limit --only rest,socket,fanout \
  --meta "server=roost examples/bare (fixed bytes, no token check, no database)" "$@"
rc=$?
set -e
echo "uptime after: $(uptime)"
exit $rc
