#!/usr/bin/env bash
# Runs every cargo-fuzz target of fuzz/ for a bounded time (FERRY_FUZZ_SECONDS each, 30 by
# default), starting from the checked-in seeds in fuzz/corpus/<target>/. Inputs the fuzzer
# finds go to a corpus under the target directory (the checked-in seeds stay as they are).
# Any crash, panic or hang (an input running longer than 10 s) fails the script and prints
# the reproducer; replay it with `cargo +nightly fuzz run <target> <file>`.
# Needs the nightly toolchain (sanitizers); installs cargo-fuzz when it is missing.
# Usage: scripts/fuzz.sh [TARGET...]   (default: every target)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
seconds=${FERRY_FUZZ_SECONDS:-30}
target_dir=${CARGO_TARGET_DIR:-$repo/target}/fuzz
work=$target_dir/runs

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi

if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo +nightly fuzz list)
fi

# One build of every target (release, debug assertions, AddressSanitizer), then the runs.
mkdir -p "$work/logs"
if ! cargo +nightly fuzz build --target-dir "$target_dir" >"$work/logs/build.log" 2>&1; then
  tail -n 60 "$work/logs/build.log"
  echo "fuzz: the fuzz targets do not build" >&2
  exit 1
fi

failed=()
for t in "${targets[@]}"; do
  mkdir -p "$work/corpus/$t"
  log=$work/logs/$t.log
  echo "fuzz: $t for ${seconds}s"
  # New inputs go to the first corpus directory, the one under the target directory.
  if cargo +nightly fuzz run --target-dir "$target_dir" "$t" "$work/corpus/$t" "fuzz/corpus/$t" \
      -- -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      >"$log" 2>&1; then
    grep -E '^stat::(number_of_executed_units|new_units_added|peak_rss_mb)' "$log" | sed "s/^/  /"
  else
    failed+=("$t")
    tail -n 60 "$log"
    reproducer=$(grep -o 'Test unit written to [^ ]*' "$log" | tail -n 1 | sed 's/^Test unit written to //')
    echo "fuzz: $t FAILED; reproducer: ${reproducer:-none written} (full log: $log)" >&2
  fi
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz: failing targets: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} targets ran ${seconds}s each without a failure"
