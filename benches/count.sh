#!/usr/bin/env bash
# Instructions per request or object for every workload of benches/count.rs, counted by
# callgrind: (count(N) - count(0)) / N. Independent of the machine's load, so before/after
# pairs hold on a shared machine (BENCHMARKS.md, "Instruction counts").
#
#   bash benches/count.sh [N]            # builds the bench binary; N defaults to 100
#   COUNT_BIN=/path/to/count bash benches/count.sh   # a saved binary (a baseline)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100}
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 2; }
bin=${COUNT_BIN:-}
if [[ -z $bin ]]; then
    bin=$(cargo bench --bench count --no-run --message-format=json 2>/dev/null |
        python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "count" and m.get("executable"):
        print(m["executable"])')
fi
total() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" "$2" 2>&1 |
        sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
printf '%-18s %12s\n' workload "instr/iter"
for w in parse parse-mutate validate mutate compact-parse compact-validate compact-mutate file file-mutate; do
    zero=$(total "$w" 0)
    many=$(total "$w" "$n")
    printf '%-18s %12d\n' "$w" $(((many - zero) / n))
done
