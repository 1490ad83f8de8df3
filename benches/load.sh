#!/usr/bin/env bash
# Load test of `stsguard serve` on 127.0.0.1: wrk (2 threads, 32 connections, TLS) posts the
# recorded review 029-mutate-create-cassandra.json (15.6 KB) to /validate and /mutate.
# Prints req/s, p50, p99 and the server's RSS idle and peak. Installs wrk from Debian's
# packages when missing. Usage: bash benches/load.sh [seconds] [server]   (default 20 stsguard)
# where server is `stsguard`, or one of the reference servers of benches/floor.rs: `canned`
# (TLS + HTTP + a fixed answer: the floor) or `value` (the same, parsing the body into a
# generic serde_json::Value first) or `typed` (a typed kube AdmissionReview and a one-label
# patch, as the kube-rs admission example does). LOAD_BODY=compact posts the same review without the
# recorded file's indentation (7.4 KB), as the API server sends it. The server reads its
# other settings from STSGUARD_* variables, e.g. STSGUARD_WORKERS=1 for one runtime thread.
# LOAD_WRK_THREADS sets wrk's threads (default 2, the load the targets are set for); with
# one, wrk's threads no longer take turns on a core, which is where the floor's p99 comes
# from on a 2-core machine (BENCHMARKS.md).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
server_kind=${2:-stsguard}
threads=${LOAD_WRK_THREADS:-2}
if ! command -v wrk >/dev/null; then
  apt-get update -qq && apt-get install -y -qq wrk
fi
admission=127.0.0.1:18443
health=127.0.0.1:18080
work=$(mktemp -d)
case "$server_kind" in
  stsguard)
    # STSGUARD_BIN runs a given binary instead (e.g. a saved baseline, for before/after figures).
    if [ -z "${STSGUARD_BIN:-}" ]; then
      cargo build --release --quiet --bin stsguard
    fi
    bin=${STSGUARD_BIN:-${CARGO_TARGET_DIR:-target}/release/stsguard}
    "$bin" serve --listen "$admission" --health-listen "$health" \
      --ephemeral-ca-file "$work/ca.crt" --log-level warn 2> "$work/server.log" &
    ready() { curl -fs "http://$health/readyz" >/dev/null 2>&1; }
    ;;
  canned|value|typed)
    bin=$(cargo bench --quiet --bench floor --no-run --message-format=json 2>/dev/null \
      | grep -o '"executable":"[^"]*/floor-[^"]*"' | cut -d'"' -f4)
    "$bin" serve "$server_kind" "$admission" > "$work/server.log" 2>&1 &
    ready() { grep -q listening "$work/server.log"; }
    ;;
  *) echo "unknown server $server_kind (stsguard, canned, value or typed)" >&2; exit 2 ;;
esac
server=$!
# Waits for the server to finish shutting down, so that the next run finds the port free.
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do
  ready && break
  kill -0 "$server" 2>/dev/null || break
  sleep 0.1
done
if ! ready; then
  # e.g. the port is still held by the previous run's server
  echo "the $server_kind server did not start:" >&2
  cat "$work/server.log" >&2
  exit 1
fi

body=tests/data/admission-requests/029-mutate-create-cassandra.json
if [ "${LOAD_BODY:-recorded}" = compact ]; then
  python3 -c 'import json, sys; print(json.dumps(json.load(open(sys.argv[1])), separators=(",", ":")))' \
    "$body" > "$work/compact.json"
  body=$work/compact.json
fi
cat > "$work/post.lua" <<LUA
local f = assert(io.open("$body", "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
done = function(summary, latency, requests)
  io.write(string.format("RESULT req/s=%.0f p50=%.2fms p99=%.2fms errors=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.status + summary.errors.timeout))
end
LUA

rss() { awk '/^VmRSS/ {printf "%.1f", $2/1024}' "/proc/$server/status"; }
hwm() { awk '/^VmHWM/ {printf "%.1f", $2/1024}' "/proc/$server/status"; }
echo "idle RSS: $(rss) MiB"
for endpoint in validate mutate; do
  # A short warm-up so the first connections' handshakes are not what is measured.
  wrk -t"$threads" -c32 -d2s -s "$work/post.lua" "https://$admission/$endpoint" >/dev/null
  result=$(wrk -t"$threads" -c32 -d"${seconds}s" --latency -s "$work/post.lua" "https://$admission/$endpoint" | grep RESULT)
  echo "/$endpoint: ${result#RESULT } peak RSS=$(hwm) MiB"
done
