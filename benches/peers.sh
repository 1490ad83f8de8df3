#!/usr/bin/env bash
# stsguard side by side with the reference servers of benches/floor.rs, in one run: the same
# load (benches/load.sh: wrk -t2 -c32 over TLS, review 029) against each server in turn,
# ROUNDS times (default 2), so that every figure is read against its neighbours — this
# machine's speed drifts by the hour, only the ratios hold.
#   canned  TLS + HTTP + a fixed answer, the body not read: the floor
#   typed   a typed kube AdmissionReview<DynamicObject> and a one-label patch (the kube-rs
#           admission example's work)
#   value   the body parsed into a serde_json::Value, then the fixed answer
# Usage: bash benches/peers.sh [seconds]   (default 10; LOAD_BODY=compact as load.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
rounds=${ROUNDS:-2}
cargo build --release --quiet --bin stsguard
cargo bench --quiet --bench floor --no-run 2>/dev/null
printf '%-6s %-9s %-10s %10s %9s %9s %9s\n' round server endpoint "req/s" p50 p99 "peak RSS"
for round in $(seq 1 "$rounds"); do
  for server in stsguard typed value canned; do
    STSGUARD_BIN=${STSGUARD_BIN:-${CARGO_TARGET_DIR:-target}/release/stsguard} \
      bash benches/load.sh "$seconds" "$server" |
      sed -n 's|^/\([a-z]*\): req/s=\([0-9]*\) p50=\([0-9.]*ms\) p99=\([0-9.]*ms\) errors=\([0-9]*\) peak RSS=\(.*\)$|\1 \2 \3 \4 \5 \6|p' |
      while read -r endpoint rps p50 p99 errors rss; do
        [ "$errors" = 0 ] || echo "  ($errors errors)" >&2
        printf '%-6s %-9s %-10s %10s %9s %9s %9s\n' "$round" "$server" "/$endpoint" "$rps" "$p50" "$p99" "$rss"
      done
  done
done
