# Shared install steps for ci/*.sh (sourced, not run).

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# Debian packages: the PC/SC stack the real-client tests cross, the build dependencies, the
# peers `mynasim bench` measures against (vicc, SoftHSM2), and the headless browser the page
# tests drive (harness/tests/browser/mod.rs: chromium and its chromedriver, about 130 MB to
# fetch, 20 s to install; IPAex Gothic, 3 MB, so that screenshots show Japanese text rather
# than empty boxes).
install_packages() {
  local wanted=(pcscd vsmartcard-vpcd opensc libpcsclite-dev libssl-dev pkg-config util-linux mount procps iproute2 openssl pcsc-tools python3-pyscard python3-cryptography vsmartcard-vpicc python3-pycryptodome softhsm2 chromium chromium-driver fonts-ipaexfont-gothic)
  local missing=()
  for p in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "Installing: ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
}

install_cargo_tools() {
  export PATH="$HOME/.cargo/bin:$PATH"
  if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo is missing: install a Rust toolchain (1.89 or newer), e.g. from https://rustup.rs, then run this again" >&2
    exit 1
  fi
  # fmt and clippy gate every change (ci/test.sh).
  if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
    rustup component add rustfmt clippy
  fi
  command -v cargo-nextest >/dev/null 2>&1 || cargo install --locked cargo-nextest
  # The JPKI client the real-client tests drive (siketyan/jpki-rs).
  command -v jpki-cli >/dev/null 2>&1 || cargo install --locked jpki-cli
}
