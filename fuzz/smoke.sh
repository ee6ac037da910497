#!/usr/bin/env bash
# Runs every fuzz target for a few seconds over its seeds (CI's fuzz-smoke step).
# Exits non-zero if any target crashes, fails an invariant or does not build.
#   fuzz/smoke.sh            # 5 s per target
#   SMOKE_SECONDS=30 fuzz/smoke.sh
#   SMOKE_BUILD=dev fuzz/smoke.sh   # unoptimised: builds in under half the time (CI), runs
#                                   # about 9x fewer inputs per second, the seeds all the same
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/work/target-fuzz}"
seconds="${SMOKE_SECONDS:-5}"
build=()
if [ "${SMOKE_BUILD:-release}" = dev ]; then build=(--dev); fi
targets=(card_sequence vpcd_frames profile_yaml state_file scenario_yaml control_request)

cargo +nightly fuzz build "${build[@]}"
failed=()
for target in "${targets[@]}"; do
    mkdir -p "corpus/$target" "seeds/$target"
    echo "== $target (${seconds}s)"
    # One process (no -jobs): a crash makes libFuzzer, and so cargo fuzz, exit non-zero.
    if ! cargo +nightly fuzz run "${build[@]}" "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$seconds" -timeout=60 -print_final_stats=1 2>&1 | tail -n 25; then
        failed+=("$target")
    fi
done
if ((${#failed[@]})); then
    echo "fuzz smoke FAILED: ${failed[*]} (inputs in fuzz/artifacts/<target>/)" >&2
    exit 1
fi
echo "fuzz smoke: all ${#targets[@]} targets ran ${seconds}s without a finding"
