#!/usr/bin/env bash
# Fills fuzz/corpus/<target>/ with seeds from the repository's own test data. The corpora
# are not committed (they grow with every run); run this once before fuzzing.
set -euo pipefail
cd "$(dirname "$0")/.."

seed() {
    local target=$1
    shift
    mkdir -p "fuzz/corpus/$target"
    for file in "$@"; do
        [ -f "$file" ] || continue
        # Prefixed, so that seeds never clash with libFuzzer's hash-named entries.
        cp "$file" "fuzz/corpus/$target/seed-$(basename "$file")"
    done
}

# Real AdmissionReview bodies, and every reproducer found so far.
seed admission tests/data/admission-requests/*.json tests/data/fuzz/admission/*
# Manifests, good and broken, as `stsguard validate` reads them.
seed yaml tests/data/examples/*.yaml tests/data/broken/* tests/data/update/*.yaml \
    tests/data/fuzz/yaml/*
# Policy files.
seed policy policies/*.yaml deploy/base/policy.yaml tests/data/fuzz/policy/*
# The patch target builds its objects from structured bytes: it starts from an empty
# corpus (its reproducers are kept as JSON, not as bytes).
mkdir -p fuzz/corpus/patch

for target in admission yaml policy patch; do
    echo "fuzz/corpus/$target: $(find "fuzz/corpus/$target" -type f | wc -l) files"
done
