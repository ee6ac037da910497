#!/usr/bin/env bash
# The full test suite: installs what it needs on a fresh Debian/Ubuntu machine (root or
# sudo), then runs every test with cargo nextest, the real-stack tests included.
set -euo pipefail
cd "$(dirname "$0")/.."
source ci/setup.sh
install_packages
install_cargo_tools
cargo fmt --all --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo nextest run --workspace --all-targets --no-fail-fast -E 'not binary(scenarios)'
# The shipped scenarios, sharded in two as a CI matrix would (each exactly once).
bash ci/scenario-partitions.sh 2
# Fuzz smoke: every cargo-fuzz target a few seconds over its seeds (fuzz/README.md). Needs
# the nightly toolchain; cargo-fuzz is installed on first use. An unoptimised build: it
# takes 4 minutes here instead of 9, and the seeds all run the same.
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  command -v cargo-fuzz >/dev/null 2>&1 || cargo install --locked cargo-fuzz
  CARGO_TARGET_DIR="$PWD/fuzz/target" SMOKE_SECONDS=5 SMOKE_BUILD=dev bash fuzz/smoke.sh
else
  echo "fuzz smoke skipped: no nightly toolchain (rustup toolchain install nightly)"
fi
# Benchmark smoke: every path of `mynasim bench` once with tiny counts (seconds), so none
# rots; --no-verdict because a shared CI machine's noise must not fail the build.
# The binary nextest built (`cargo run` would build it again with the features of a
# non-test build: the browser tests' dev-dependencies change those of shared crates).
./target/debug/mynasim bench --smoke --no-verdict --json target/bench-smoke.json
cargo test --workspace --doc
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet
