#!/usr/bin/env bash
# The main job, on a fresh Debian/Ubuntu machine (root or sudo): install what is missing
# (pcscd, vsmartcard-vpcd, opensc, libpcsclite-dev, jpki-cli, ...), build, start the
# default card (or the profile given as $1) in a private pcscd, run the real-client
# checks (OpenSC, pkcs11-tool + openssl, jpki-cli) and print a summary.
set -euo pipefail
cd "$(dirname "$0")/.."
source ci/setup.sh
install_packages
install_cargo_tools
cargo build --release --quiet --bin mynasim
exec target/release/mynasim check "$@"
