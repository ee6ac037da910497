#!/usr/bin/env bash
# The main job, on a fresh Debian/Ubuntu machine (root or sudo): install what is missing
# (pcscd, vsmartcard-vpcd, opensc, libpcsclite-dev, jpki-cli, ...), build, and run the
# whole shipped scenario suite (scenarios/, or the paths given), each scenario in its own
# private pcscd, with a summary. Extra arguments go to `mynasim run` (e.g. --junit FILE).
set -euo pipefail
cd "$(dirname "$0")/.."
source ci/setup.sh
install_packages
install_cargo_tools
cargo build --release --quiet --bin mynasim
exec target/release/mynasim run "$@"
