#!/usr/bin/env bash
# Seeds a fresh database with examples/chat, serves it on 127.0.0.1:$PORT, runs the shared
# harness against it unchanged, then stops the server (by its PID). Build first:
#   cargo build --release --locked --example chat
#   bench/run-chat.sh [harness options...]          e.g. --quick, --only rest
# Environment: HARNESS (default ../shared/bench beside this repository), CARGO_TARGET_DIR,
# PORT (default 3040), SEED_USERS / SEED_MESSAGES (default 1000 / 1000), BENCH_NICE (e.g.
# -10: server and load generator at a higher priority on a busy machine; root only).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
harness="${HARNESS:-$repo/../shared/bench}"
bin="$(cd "$repo" && realpath -m "${CARGO_TARGET_DIR:-target}")/release/examples/chat"
port="${PORT:-3040}"
[ -x "$bin" ] || { echo "build it first: cargo build --release --locked --example chat" >&2; exit 1; }
[ -x "$harness/run.sh" ] || { echo "no harness at $harness (set HARNESS)" >&2; exit 1; }

work="$(mktemp -d)"
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid"; wait "$pid" || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
export ROOST_DATABASE_URL="sqlite://$work/chat.db?mode=rwc" ROOST_DATA_DIR="$work"
export ROOST_HOST=127.0.0.1 ROOST_PORT="$port"
"$bin" seed --users "${SEED_USERS:-1000}" --messages "${SEED_MESSAGES:-1000}" 2>/dev/null
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
nice_cmd=()
if [ -n "${BENCH_NICE:-}" ]; then nice_cmd=(nice -n "$BENCH_NICE"); fi
"${nice_cmd[@]}" "$bin" >"$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$port/messages" && break; sleep 0.1; done
echo "uptime before: $(uptime)"
set +e
"$harness/run.sh" "http://127.0.0.1:$port" --server-pid "$pid" --label roost-chat \
  --meta "server=roost examples/chat ($(git -C "$repo" rev-parse --short HEAD)), release build" \
  --meta "seed=${SEED_USERS:-1000} users, ${SEED_MESSAGES:-1000} messages" "$@"
rc=$?
set -e
echo "uptime after: $(uptime)"
grep -iE "panic|internal error" "$work/server.log" | head -5 >&2 || true
exit $rc
