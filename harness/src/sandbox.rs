//! A private, isolated pcscd + vpcd + card(s), one call to start, dropped to stop.
//!
//! pcscd 1.9.9 always serves `/run/pcscd/pcscd.comm` and ignores `PCSCLITE_CSOCK_NAME`
//! (only the client library honours it), so the sandbox runs pcscd in a private mount
//! namespace where a tmpfs covers `/run` and the sandbox's own folder is bound on
//! `/run/pcscd` (shared/PLATFORM.md). It also runs in a private network namespace with
//! only loopback up: vpcd's listening port (which Debian's vpcd binds on 0.0.0.0) is then
//! reachable from nowhere but the card process beside it, and parallel sandboxes never
//! collide on ports. Clients outside reach pcscd through its unix socket:
//! `PCSCLITE_CSOCK_NAME=<dir>/pcscd.comm`.
//!
//! Process tree: `unshare` → `sh` (sets up mounts and loopback, starts `mynasim serve` for
//! the cards in the background) → `exec pcscd -f`. All of it is one process group, which
//! drop terminates.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Why a sandbox could not start.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// A program the sandbox needs is not installed.
    #[error(
        "`{0}` is not installed; run ci/setup.sh's install_packages or `apt-get install pcscd vsmartcard-vpcd iproute2 util-linux mount`"
    )]
    MissingTool(&'static str),
    /// Debian's vpcd driver is not installed.
    #[error("vpcd driver {VPCD_DRIVER} is missing; install the Debian package vsmartcard-vpcd")]
    MissingDriver,
    /// No card, or more than vpcd can serve in one pcscd.
    #[error("a sandbox holds 1 to {MAX_CARDS} cards (vpcd 3.3 serves two slots per pcscd; start another sandbox for more), {0} asked")]
    CardCount(usize),
    /// A profile file does not exist.
    #[error("cannot find profile {path}")]
    Profile {
        /// The profile as given.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file or process operation failed.
    #[error("{what}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// Why it failed.
        source: std::io::Error,
    },
    /// pcscd or the sandbox shell ended before the cards were ready.
    #[error("the sandbox exited ({status}) before it was ready:\n{log}")]
    Exited {
        /// Exit status.
        status: std::process::ExitStatus,
        /// pcscd's and the cards' output.
        log: String,
    },
    /// The cards did not show up in time.
    #[error("the sandbox was not ready after {timeout:?} (pcscd socket: {socket_up}, cards connected: {cards_up}):\n{log}")]
    Timeout {
        /// How long we waited.
        timeout: Duration,
        /// Whether pcscd's socket existed.
        socket_up: bool,
        /// Whether every card had connected to vpcd.
        cards_up: bool,
        /// pcscd's and the cards' output.
        log: String,
    },
    /// The start was cancelled through [`SandboxOptions::cancel`].
    #[error("interrupted while the sandbox was starting")]
    Interrupted,
}

/// `?` for I/O steps: says what was being done.
trait IoContext<T> {
    fn doing(self, what: &'static str) -> Result<T, SandboxError>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn doing(self, what: &'static str) -> Result<T, SandboxError> {
        self.map_err(|source| SandboxError::Io { what, source })
    }
}

type Result<T, E = SandboxError> = std::result::Result<T, E>;

/// Cards per sandbox: the two slots of one vpcd reader entry.
pub const MAX_CARDS: usize = 2;

/// vpcd's driver as Debian installs it.
pub const VPCD_DRIVER: &str = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so";

/// What a slot holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CardSource {
    /// A card from a profile (`None` = the default card).
    Profile(Option<PathBuf>),
    /// The trivial `90 00` card (benchmark baseline).
    Null,
}

/// How to start a sandbox.
#[derive(Clone, Debug)]
pub struct SandboxOptions {
    /// The `mynasim` binary that serves the cards.
    pub mynasim: PathBuf,
    /// The cards, one per vpcd slot.
    pub cards: Vec<CardSource>,
    /// How long to wait for every card to be powered by pcscd.
    pub timeout: Duration,
    /// Extra arguments for `mynasim serve` (e.g. `--transcript FILE`).
    pub serve_args: Vec<String>,
    /// Set to true (e.g. from a Ctrl-C handler) to abandon a start that is still waiting;
    /// everything already started is torn down.
    pub cancel: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

impl SandboxOptions {
    /// One default card served by `mynasim`.
    pub fn new(mynasim: impl Into<PathBuf>) -> SandboxOptions {
        SandboxOptions {
            mynasim: mynasim.into(),
            cards: vec![CardSource::Profile(None)],
            timeout: Duration::from_secs(60),
            serve_args: Vec::new(),
            cancel: None,
        }
    }
}

/// A running sandbox. Dropping it stops pcscd and the cards and removes its folder.
#[derive(Debug)]
pub struct Sandbox {
    dir: tempfile::TempDir,
    /// The current pcscd (first the `unshare` child, which execs into pcscd).
    child: Child,
    /// The process group of everything in the sandbox.
    group: u32,
    cards: usize,
    mynasim: PathBuf,
    cancel: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

impl Sandbox {
    /// Starts pcscd and the cards; returns once a PC/SC client sees every card present.
    pub fn start(options: &SandboxOptions) -> Result<Sandbox> {
        for tool in ["unshare", "pcscd", "ip", "mount"] {
            if crate::process::find_program(tool).is_none() {
                return Err(SandboxError::MissingTool(tool));
            }
        }
        if !Path::new(VPCD_DRIVER).exists() {
            return Err(SandboxError::MissingDriver);
        }
        if options.cards.is_empty() || options.cards.len() > MAX_CARDS {
            return Err(SandboxError::CardCount(options.cards.len()));
        }
        let dir = tempfile::Builder::new().prefix("mynasim-sandbox-").tempdir().doing("cannot create the sandbox folder")?;
        let conf = dir.path().join("reader.conf.d");
        let sock = dir.path().join("pcscd");
        fs::create_dir_all(&conf).doing("cannot create the reader configuration folder")?;
        fs::create_dir_all(&sock).doing("cannot create the socket folder")?;
        // Started with sudo, the sandbox must still let the user's clients reach the socket.
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).doing("cannot open the sandbox folder to clients")?;
        // One vpcd entry serves two slots, PORT and PORT+1. vpcd 3.3 keeps its slot table
        // indexed by slot number alone (`ctx[Lun & 0xffff]`), so a second entry in the
        // same pcscd overwrites the first one's slots: two cards per pcscd is the limit.
        fs::write(conf.join("vpcd"), vpcd_reader_conf()).doing("cannot write the vpcd reader configuration")?;
        let mut script = String::from(
            "set -e\nip link set lo up\nmount -n -t tmpfs tmpfs /run\nmkdir -p /run/pcscd\nmount -n --bind \"$SANDBOX/pcscd\" /run/pcscd\n",
        );
        for (n, source) in options.cards.iter().enumerate() {
            let port = card_port(n);
            let mut args = vec![
                quote(&options.mynasim.display().to_string()),
                "serve".to_owned(),
                "--vpcd".to_owned(),
                format!("127.0.0.1:{port}"),
                "--ready-file".to_owned(),
                quote(&dir.path().join(format!("ready-{n}")).display().to_string()),
            ];
            args.extend(options.serve_args.iter().map(|a| quote(a)));
            match source {
                CardSource::Null => args.push("--null-card".to_owned()),
                CardSource::Profile(None) => {}
                CardSource::Profile(Some(p)) => {
                    let absolute = fs::canonicalize(p).map_err(|source| SandboxError::Profile { path: p.clone(), source })?;
                    args.push(quote(&absolute.display().to_string()));
                }
            }
            script.push_str(&format!("{} &\n", args.join(" ")));
        }
        script.push_str("exec pcscd --foreground --config \"$SANDBOX/reader.conf.d\"\n");
        let log = fs::File::create(dir.path().join("sandbox.log")).doing("cannot create the sandbox log")?;
        let mut unshare = Command::new("unshare");
        if !is_root() {
            unshare.arg("--map-root-user");
        }
        unshare
            .args(["--mount", "--net", "--propagation", "private", "sh", "-c", &script])
            .env("SANDBOX", dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().doing("cannot share the sandbox log")?)
            .stderr(log)
            .process_group(0);
        let child = unshare.spawn().doing("cannot start unshare")?;
        let group = child.id();
        let mut sandbox =
            Sandbox { dir, child, group, cards: options.cards.len(), mynasim: options.mynasim.clone(), cancel: options.cancel.clone() };
        sandbox.wait_ready(options.timeout)?;
        Ok(sandbox)
    }

    /// Stops pcscd and starts a new one in the same namespaces, as when a desktop's pcscd
    /// restarts: the cards must notice, reconnect and keep their state. Returns once pcscd
    /// has powered every card again.
    pub fn restart_pcscd(&mut self, timeout: Duration) -> Result<()> {
        let card_pid = fs::read_to_string(self.dir.path().join("ready-0")).doing("cannot read the card's pid")?.trim().to_owned();
        for n in 0..self.cards {
            let _ = fs::remove_file(self.dir.path().join(format!("ready-{n}")));
        }
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        self.child.wait().doing("cannot wait for pcscd")?;
        let log = fs::OpenOptions::new().append(true).open(self.dir.path().join("sandbox.log")).doing("cannot open the sandbox log")?;
        let mut nsenter = Command::new("nsenter");
        nsenter.args(["--target", &card_pid, "--mount", "--net"]);
        if !is_root() {
            nsenter.arg("--user").arg("--preserve-credentials");
        }
        self.child = nsenter
            .args(["pcscd", "--foreground", "--config"])
            .arg(self.dir.path().join("reader.conf.d"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().doing("cannot share the sandbox log")?)
            .stderr(log)
            // Process ids fit in an i32 on Linux (pid_max ≤ 2^22).
            .process_group(i32::try_from(self.group).unwrap_or(0))
            .spawn()
            .doing("cannot start nsenter")?;
        self.wait_ready(timeout)
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        let cards = self.cards;
        let deadline = Instant::now() + timeout;
        let mut pause = Duration::from_millis(5);
        loop {
            let socket_up = self.socket().exists();
            let cards_up = (0..cards).all(|n| self.dir.path().join(format!("ready-{n}")).exists());
            if socket_up && cards_up && self.cards_present()? >= cards {
                return Ok(());
            }
            if self.cancel.as_ref().is_some_and(|c| c.load(std::sync::atomic::Ordering::SeqCst)) {
                return Err(SandboxError::Interrupted);
            }
            if let Some(status) = self.child.try_wait().doing("cannot watch pcscd")? {
                return Err(SandboxError::Exited { status, log: self.log() });
            }
            if Instant::now() > deadline {
                return Err(SandboxError::Timeout { timeout, socket_up, cards_up, log: self.log() });
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(100));
        }
    }

    /// How many readers show a card, asked of pcscd by a client process (pcsc-lite binds a
    /// process to the first socket it uses, so the check runs in `mynasim pcsc-status`).
    fn cards_present(&self) -> Result<usize> {
        let output =
            self.command(&self.mynasim).arg("pcsc-status").stderr(Stdio::null()).output().doing("cannot run mynasim pcsc-status")?;
        Ok(String::from_utf8_lossy(&output.stdout).lines().filter(|l| l.starts_with("present")).count())
    }

    /// The value for `PCSCLITE_CSOCK_NAME`.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("pcscd/pcscd.comm")
    }

    /// The sandbox folder (logs, reader configuration).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// pcscd's and the cards' output so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("sandbox.log")).unwrap_or_default()
    }

    /// A command whose PC/SC calls go to this sandbox's pcscd.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new(program);
        command.env("PCSCLITE_CSOCK_NAME", self.socket());
        command
    }

    /// Stops everything (also done on drop).
    pub fn stop(&mut self) {
        let group = format!("-{}", self.group);
        for signal in ["-TERM", "-KILL"] {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            let _ = Command::new("kill").args([signal, "--", &group]).stderr(Stdio::null()).status();
            let deadline = Instant::now() + Duration::from_secs(3);
            while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let _ = self.child.wait();
        // The card servers were reparented inside the group; make sure none is left.
        let _ = Command::new("kill").args(["-KILL", "--", &group]).stderr(Stdio::null()).status();
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.stop();
    }
}

/// pcscd's reader configuration for vpcd in a sandbox: one entry, listening on the ports
/// of slots 0 and 1, its readers named `Virtual PCD 00 00` and `Virtual PCD 00 01`.
pub fn vpcd_reader_conf() -> String {
    let port = card_port(0);
    format!("FRIENDLYNAME \"Virtual PCD\"\nDEVICENAME /dev/null:{port}\nLIBPATH {VPCD_DRIVER}\nCHANNELID {port}\n")
}

/// The vpcd port of card `n` (slot n) in a sandbox.
pub fn card_port(n: usize) -> u16 {
    crate::vpcd::FIRST_PORT + n as u16
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

pub(crate) fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(2) == Some("0")))
        .unwrap_or(false)
}
