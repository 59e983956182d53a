#!/usr/bin/env bash
# Runs each cargo-fuzz target of fuzz/ for a bounded time and reports how many
# inputs it executed.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# SECONDS is per target (default 30); the targets default to all of them
# (range_header, service, encoding_tag). The corpus grows in
# fuzz/corpus/TARGET (kept out of git), seeded from fuzz/seeds/TARGET; a crash
# is saved in fuzz/artifacts/TARGET/ and makes the script exit non-zero once
# every target has run.
#
# Environment:
#   FUZZ_SANITIZER  cargo fuzz's --sanitizer (default: address; `none` runs
#                   about four times faster, and the crate has no unsafe code)
#   FUZZ_ARGS       extra libFuzzer flags, e.g. FUZZ_ARGS=-runs=10000000
#                   (-max_total_time still bounds the run: give a large
#                   SECONDS with -runs)
#
# Works on a fresh machine with a stable toolchain: it installs cargo-fuzz
# when it is missing, and sets RUSTC_BOOTSTRAP=1 (the sanitizer and coverage
# flags are nightly-only) unless the toolchain is a nightly.
set -euo pipefail

cd "$(dirname "$0")/.."

seconds="${1:-30}"
shift || true
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -eq 0 ]; then
    echo "usage: $0 [SECONDS] [TARGET...]" >&2
    exit 2
fi
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
    targets=(range_header service encoding_tag)
fi
sanitizer="${FUZZ_SANITIZER:-address}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "==> installing cargo-fuzz (cargo install cargo-fuzz --locked)"
    cargo install cargo-fuzz --locked
fi
if ! rustc --version | grep -q nightly; then
    export RUSTC_BOOTSTRAP=1
fi

# Build first, so that the time limit is spent fuzzing. Its own target
# directory: fuzz builds never touch the main crate's target/.
target_dir="fuzz/target"
echo "==> building the fuzz targets (sanitizer: $sanitizer)"
for target in "${targets[@]}"; do
    cargo fuzz build --sanitizer "$sanitizer" --target-dir "$target_dir" "$target"
done

log_dir="fuzz/target/fuzz-logs"
mkdir -p "$log_dir"
failed=()
summary=()
for target in "${targets[@]}"; do
    corpus="fuzz/corpus/$target"
    seeds="fuzz/seeds/$target"
    mkdir -p "$corpus" "fuzz/artifacts/$target"
    log="$log_dir/$target.log"
    echo "==> $target for ${seconds}s (log: $log)"
    status=0
    # shellcheck disable=SC2086 # FUZZ_ARGS is a list of flags
    cargo fuzz run --sanitizer "$sanitizer" --target-dir "$target_dir" "$target" "$corpus" "$seeds" -- \
        -max_total_time="$seconds" -print_final_stats=1 ${FUZZ_ARGS:-} >"$log" 2>&1 || status=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    if [ -z "$runs" ]; then
        # No final stats (a crash): the last progress line has the count.
        runs=$(grep -oE '^#[0-9]+' "$log" | tail -n 1 | tr -d '#' || true)
    fi
    line="$target: ${runs:-?} executions, ${rate:-?} exec/s"
    if [ "$status" -ne 0 ]; then
        line="$line, FAILED (exit $status)"
        failed+=("$target")
        grep -E -A1 'panicked at' "$log" | head -n 4 >&2 || true
        grep -E 'Test unit written to|SUMMARY' "$log" | head -n 4 >&2 || true
    fi
    echo "$line"
    summary+=("$line")
done

echo
echo "==> summary"
printf '%s\n' "${summary[@]}"
if [ "${#failed[@]}" -ne 0 ]; then
    echo "crashes in: ${failed[*]} (inputs in fuzz/artifacts/; reproduce with" \
        "RUSTC_BOOTSTRAP=1 cargo fuzz run TARGET fuzz/artifacts/TARGET/crash-...)" >&2
    exit 1
fi
