#!/usr/bin/env bash
# Offline benchmark of `stsguard validate`: 10,000, 50,000 and 200,000 copies of the seed
# cassandra StatefulSet (~2 KB each), as one multi-document file, as the same file on stdin
# (`cat file | stsguard validate -`) and as a directory of files. Prints wall time and peak
# RSS (GNU time). Usage: bash benches/offline.sh [runs] [sizes…]
#   runs: best of (default 3); sizes: default 10000 50000 200000 (the directory of 200,000
#   files is left out unless DIR_200K=1: creating it takes longer than the run).
#   COMMANDS="validate mutate plan" measures `mutate` (-o yaml) and `plan` (-o json) too, on
#   the one file and stdin (they take one input, not a directory); the default is validate
#   alone, the figures of BENCHMARKS.md.
#   OUTPUT=text|json|sarif|junit|github: validate's output format (default json).
#   SERVICE=first|last adds a Service `cassandra` that is not headless and selects other
#   pods, before or after the StatefulSets (in the directory: a file sorted first or last):
#   every StatefulSet then has two errors, and with `last` every one waits for the end of
#   the input and is judged again there.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
shift || true
sizes=("${@:-10000 50000 200000}")
read -r -a sizes <<< "${sizes[*]}"
read -r -a commands <<< "${COMMANDS:-validate}"
# STSGUARD_BIN runs a given binary instead (e.g. a saved baseline, for before/after figures).
if [ -z "${STSGUARD_BIN:-}" ]; then
  cargo build --release --quiet --bin stsguard
fi
bin=${STSGUARD_BIN:-${CARGO_TARGET_DIR:-target}/release/stsguard}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The StatefulSet document of the seed example, renamed per copy so every object is distinct.
sts=$(awk 'BEGIN{RS="---\n"} /kind: StatefulSet/ {print; exit}' tests/data/examples/cassandra.yaml)
output=${OUTPUT:-json}
service=$'apiVersion: v1\nkind: Service\nmetadata:\n  name: cassandra\nspec:\n  clusterIP: 10.0.0.1\n  selector:\n    app: other'
make_inputs() { # n: one-$n.yaml, and dir-$n/ unless it is 200,000 without DIR_200K
  local n=$1 head=${sts%%$'\n'  name: cassandra$'\n'*} tail=${sts#*$'\n'  name: cassandra$'\n'}
  {
    [ "${SERVICE:-}" = first ] && printf -- '---\n%s\n' "$service"
    awk -v n="$n" -v head="$head" -v tail="$tail" \
      'BEGIN { for (i = 1; i <= n; i++) printf "---\n%s\n  name: cassandra-%d\n%s\n", head, i, tail }'
    [ "${SERVICE:-}" = last ] && printf -- '---\n%s\n' "$service"
    true
  } > "$work/one-$n.yaml"
  # The directory is only for validate (mutate and plan take one input).
  if [[ " ${commands[*]} " == *" validate "* ]] && { [ "$n" -lt 200000 ] || [ -n "${DIR_200K:-}" ]; }; then
    mkdir -p "$work/dir-$n"
    awk -v dir="$work/dir-$n" -v head="$head" -v tail="$tail" -v n="$n" \
      'BEGIN { for (i = 1; i <= n; i++) { f = dir "/sts-" i ".yaml"; printf "%s\n  name: cassandra-%d\n%s\n", head, i, tail > f; close(f) } }'
    case ${SERVICE:-} in
      first) printf '%s\n' "$service" > "$work/dir-$n/0-service.yaml" ;;
      last) printf '%s\n' "$service" > "$work/dir-$n/z-service.yaml" ;;
    esac
  fi
}

# The arguments of each command, and how many objects its output names (from $work/out).
args_of() {
  case $1 in
    validate) echo "validate --output $output" ;;
    mutate) echo "mutate --output yaml" ;;
    plan) echo "plan --output json" ;;
    *) echo "unknown command $1" >&2; exit 2 ;;
  esac
}
objects_in() {
  case $1 in
    validate)
      case $output in
        json) python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["summary"]["objects"])' "$work/out" ;;
        sarif) python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["runs"][0]["results"]), "results")' "$work/out" ;;
        junit) grep -c '<testcase name="StatefulSet' "$work/out" || true ;;
        *) tail -n 1 "$work/out" | sed -E 's/.*\(([0-9]+) StatefulSets?\).*/\1/' ;;
      esac ;;
    mutate) grep -c '^kind: StatefulSet' "$work/out" || true ;;
    plan) python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["statefulsets"]))' "$work/out" ;;
  esac
}

measure() { # command, label, then the input: a path, or "-" and the file to pipe into stdin
  local command=$1 label=$2 best_wall=999999 best_rss=0 wall rss args
  shift 2
  args=$(args_of "$command")
  for _ in $(seq 1 "$runs"); do
    if [ "$1" = - ]; then
      # Through a pipe, as `helm template . |` gives it (GNU time reports the largest of
      # sh, cat and stsguard: stsguard's).
      # shellcheck disable=SC2086 # $args is several words
      /usr/bin/time -f '%e %M' -o "$work/time" \
        sh -c 'cat "$1" | "$2" $4 - > "$3"' sh "$2" "$bin" "$work/out" "$args" || true
    else
      # shellcheck disable=SC2086
      /usr/bin/time -f '%e %M' -o "$work/time" "$bin" $args "$1" > "$work/out" || true
    fi
    # The last line: GNU time writes "Command exited with non-zero status 1" first when the
    # run has findings.
    read -r wall rss < <(tail -n 1 "$work/time")
    if awk -v a="$wall" -v b="$best_wall" 'BEGIN{exit !(a<b)}'; then best_wall=$wall; best_rss=$rss; fi
  done
  local objects
  objects=$(objects_in "$command")
  printf '%-9s %-34s objects=%-7s wall=%ss (best of %s)  peak RSS=%s MiB\n' \
    "$command" "$label" "$objects" "$best_wall" "$runs" "$((best_rss / 1024))"
}

for n in "${sizes[@]}"; do
  make_inputs "$n"
  size=$(du -m "$work/one-$n.yaml" | cut -f1)
  for command in "${commands[@]}"; do
    measure "$command" "$n in one file ($size MB)" "$work/one-$n.yaml"
    measure "$command" "$n on stdin" - "$work/one-$n.yaml"
    if [ "$command" = validate ] && [ -d "$work/dir-$n" ]; then
      measure "$command" "$n files in a directory" "$work/dir-$n"
    fi
  done
  rm -rf "$work/one-$n.yaml" "$work/dir-$n"
done
