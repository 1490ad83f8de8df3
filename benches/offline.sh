#!/usr/bin/env bash
# Offline benchmark of `stsguard validate`: 1,000 and 10,000 copies of the seed cassandra
# StatefulSet, as one multi-document file and as a directory of files. Prints wall time and
# peak RSS (GNU time). Usage: bash benches/offline.sh [runs]   (default 5 runs, best shown)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
# STSGUARD_BIN runs a given binary instead (e.g. a saved baseline, for before/after figures).
if [ -z "${STSGUARD_BIN:-}" ]; then
  cargo build --release --quiet --bin stsguard
fi
bin=${STSGUARD_BIN:-${CARGO_TARGET_DIR:-target}/release/stsguard}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The StatefulSet document of the seed example, renamed per copy so every object is distinct.
sts=$(awk 'BEGIN{RS="---\n"} /kind: StatefulSet/ {print; exit}' tests/data/examples/cassandra.yaml)
for n in 1000 10000; do
  mkdir -p "$work/dir-$n"
  for i in $(seq 1 "$n"); do
    doc=${sts/$'\n'  name: cassandra$'\n'/$'\n'  name: cassandra-$i$'\n'}
    printf -- '---\n%s\n' "$doc" >> "$work/one-$n.yaml"
    printf '%s\n' "$doc" > "$work/dir-$n/sts-$i.yaml"
  done
done

measure() { # label, args...
  local label=$1; shift
  local best_wall=999999 best_rss=0
  for _ in $(seq 1 "$runs"); do
    /usr/bin/time -f '%e %M' -o "$work/time" "$bin" validate --output json "$@" > "$work/out.json" || true
    read -r wall rss < "$work/time"
    if awk -v a="$wall" -v b="$best_wall" 'BEGIN{exit !(a<b)}'; then best_wall=$wall; best_rss=$rss; fi
  done
  local objects
  objects=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["summary"]["objects"])' "$work/out.json")
  printf '%-34s objects=%-6s wall=%ss (best of %s)  peak RSS=%s MiB\n' \
    "$label" "$objects" "$best_wall" "$runs" "$((best_rss / 1024))"
}

measure "1,000 in one file" "$work/one-1000.yaml"
measure "10,000 in one file" "$work/one-10000.yaml"
measure "1,000 files in a directory" "$work/dir-1000"
measure "10,000 files in a directory" "$work/dir-10000"
