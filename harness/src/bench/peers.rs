//! The peers people would use instead, measured the same way as mynasim in the same run:
//! vsmartcard's Python card `vicc` in a slot of the same pcscd + vpcd stack, and SoftHSM2
//! signing through PKCS#11 against mynasim signing through OpenSC's PKCS#11 module.
//!
//! Both PKCS#11 modules are driven by one loop ([`pkcs11_loop`], in a child process
//! `mynasim bench-pkcs11` so that OpenSC's pcsc-lite talks to the sandbox's pcscd): load
//! the module, open a session on the first slot with a token, C_Login once, find the
//! private key, then C_Sign with CKM_SHA256_RSA_PKCS over the same 32 bytes for the time
//! given. Process start, module load and login are outside the timed loop for both.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::sandbox::CardSource;

/// OpenSC's PKCS#11 module (Debian's `opensc-pkcs11`).
pub const OPENSC_MODULE: &str = "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so";
/// SoftHSM2's PKCS#11 module (Debian's `softhsm2`).
pub const SOFTHSM_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
/// Where Debian 12's `vsmartcard-vpicc` puts its Python modules (off `sys.path`).
pub const VICC_MODULES: &str = "/usr/lib/python3/site-packages/virtualsmartcard";
/// PyCryptodome under the name `Cryptodome`; vicc imports PyCrypto's `Crypto`.
pub const CRYPTODOME: &str = "/usr/lib/python3/dist-packages/Cryptodome";

/// A sandbox slot served by `vicc -t iso7816` (vsmartcard's ISO 7816 file-system card).
/// `shim` is a folder where a `Crypto` symlink to PyCryptodome is made (Debian 12's
/// package is broken as shipped; shared/PLATFORM.md). `None` when vicc is not installed.
pub fn vicc_card(shim: &Path) -> Result<Option<CardSource>> {
    if !Path::new("/usr/bin/vicc").exists() || !Path::new(VICC_MODULES).exists() {
        return Ok(None);
    }
    if !Path::new(CRYPTODOME).exists() {
        bail!("vicc needs python3-pycryptodome (apt-get install python3-pycryptodome)");
    }
    let link = shim.join("Crypto");
    if !link.exists() {
        std::os::unix::fs::symlink(CRYPTODOME, &link).context("cannot link PyCryptodome for vicc")?;
    }
    Ok(Some(CardSource::Program {
        argv: ["/usr/bin/python3", "/usr/bin/vicc", "-t", "iso7816", "-P", "{port}"].map(String::from).to_vec(),
        env: vec![("PYTHONPATH".into(), format!("{VICC_MODULES}:{}", shim.display()))],
    }))
}

/// A SoftHSM2 token in its own folder, with an RSA-2048 key pair (id 01), user PIN 1234.
pub struct SoftHsmToken {
    dir: tempfile::TempDir,
}

impl SoftHsmToken {
    /// Initialises the token and generates the key (`softhsm2-util`, `pkcs11-tool`).
    /// `None` when SoftHSM2 is not installed.
    pub fn create() -> Result<Option<SoftHsmToken>> {
        if !Path::new(SOFTHSM_MODULE).exists() || crate::process::find_program("softhsm2-util").is_none() {
            return Ok(None);
        }
        let dir = tempfile::Builder::new().prefix("mynasim-softhsm-").tempdir()?;
        std::fs::create_dir(dir.path().join("tokens"))?;
        std::fs::write(
            dir.path().join("softhsm2.conf"),
            format!("directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n", dir.path().join("tokens").display()),
        )?;
        let token = SoftHsmToken { dir };
        token.tool("softhsm2-util", &["--init-token", "--free", "--label", "bench", "--pin", "1234", "--so-pin", "00000000"])?;
        token.tool(
            "pkcs11-tool",
            &[
                "--module",
                SOFTHSM_MODULE,
                "--login",
                "--pin",
                "1234",
                "--keypairgen",
                "--key-type",
                "rsa:2048",
                "--id",
                "01",
                "--label",
                "bench",
            ],
        )?;
        Ok(Some(token))
    }

    fn tool(&self, program: &str, args: &[&str]) -> Result<()> {
        let output = std::process::Command::new(program).args(args).env("SOFTHSM2_CONF", self.conf()).output()?;
        if !output.status.success() {
            bail!("{program} {} failed: {}", args.join(" "), String::from_utf8_lossy(&output.stderr));
        }
        Ok(())
    }

    /// The value for `SOFTHSM2_CONF`.
    pub fn conf(&self) -> PathBuf {
        self.dir.path().join("softhsm2.conf")
    }
}

/// What [`pkcs11_loop`] measured.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Pkcs11Result {
    /// Signatures made.
    pub count: u64,
    /// Seconds the loop ran.
    pub seconds: f64,
    /// Each C_Sign in milliseconds.
    pub samples_ms: Vec<f64>,
    /// Seconds from C_Initialize to a logged-in session with the key found.
    pub setup_seconds: f64,
}

impl Pkcs11Result {
    /// Signatures per second.
    pub fn rate(&self) -> f64 {
        self.count as f64 / self.seconds.max(f64::MIN_POSITIVE)
    }
}

/// Signs with the first private key of `module`'s first token (C_Login with `pin` once)
/// for `duration`, CKM_SHA256_RSA_PKCS over 32 bytes.
pub fn pkcs11_loop(module: &Path, pin: &str, duration: Duration) -> Result<Pkcs11Result> {
    use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
    use cryptoki::mechanism::Mechanism;
    use cryptoki::object::{Attribute, ObjectClass};
    use cryptoki::session::UserType;
    use cryptoki::types::AuthPin;
    let setup = Instant::now();
    let pkcs11 = Pkcs11::new(module).with_context(|| format!("cannot load {}", module.display()))?;
    pkcs11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))?;
    let slot = *pkcs11.get_slots_with_token()?.first().context("no token")?;
    let session = pkcs11.open_rw_session(slot).or_else(|_| pkcs11.open_ro_session(slot))?;
    session.login(UserType::User, Some(&AuthPin::new(pin.into())))?;
    let key = *session.find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY)])?.first().context("no private key")?;
    let setup_seconds = setup.elapsed().as_secs_f64();
    let data = [0x42u8; 32];
    let start = Instant::now();
    let mut samples_ms = Vec::new();
    while start.elapsed() < duration {
        let one = Instant::now();
        let signature = session.sign(&Mechanism::Sha256RsaPkcs, key, &data)?;
        samples_ms.push(one.elapsed().as_secs_f64() * 1e3);
        if signature.len() != 256 {
            bail!("a {}-byte signature", signature.len());
        }
    }
    Ok(Pkcs11Result { count: samples_ms.len() as u64, seconds: start.elapsed().as_secs_f64(), samples_ms, setup_seconds })
}

/// Runs [`pkcs11_loop`] in a child process (`mynasim bench-pkcs11`) with `env` set.
pub fn pkcs11_child(mynasim: &Path, module: &str, pin: &str, duration: Duration, env: &[(&str, &std::ffi::OsStr)]) -> Result<Pkcs11Result> {
    let mut command = std::process::Command::new(mynasim);
    command.args(["bench-pkcs11", "--module", module, "--pin", pin, "--seconds", &duration.as_secs_f64().to_string()]);
    for (k, v) in env {
        command.env(k, v);
    }
    let output = command.stderr(std::process::Stdio::inherit()).output().context("cannot start mynasim bench-pkcs11")?;
    if !output.status.success() {
        bail!("mynasim bench-pkcs11 on {module} failed ({})", output.status);
    }
    let text = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(text.trim()).with_context(|| format!("bad bench-pkcs11 output {text:?}"))
}
