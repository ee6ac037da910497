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
//! Process tree: `unshare` (new mount, network and PID namespaces) → `sh` (mounts,
//! loopback) → `exec mynasim sandbox-init`, PID 1 of the namespace ([`init`]), whose
//! children are the card servers (`mynasim serve`) and pcscd. PID 1 ends when its
//! standard input (a pipe held by [`Sandbox`]) closes, so the sandbox dies with its owner
//! even when the owner is killed with SIGKILL: the kernel kills the rest of the namespace.
//! When a child dies, PID 1 reports which and how and ends the sandbox; [`Sandbox::died`]
//! says so. A start also removes the folders of sandboxes whose owner is gone.

pub mod init;
pub mod pcscd;

use std::fs;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
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
    /// Part of the sandbox died (pcscd, a card server), which ends the sandbox.
    #[error("{status} died, which ended the sandbox:\n{log}")]
    Exited {
        /// Which part and how, e.g. `pcscd with exit code 1`.
        status: String,
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
    /// Another program serving the slot (a peer's virtual card, such as vsmartcard's
    /// `vicc`), which connects to vpcd itself: `{port}` in `argv` becomes the slot's port.
    Program {
        /// The program and its arguments.
        argv: Vec<String>,
        /// Extra environment.
        env: Vec<(String, String)>,
    },
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
    /// Where pcscd's and the cards' logs go.
    pub logs: SandboxLogs,
}

/// Where a sandbox's logs go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SandboxLogs {
    /// `sandbox.log` in the sandbox folder (read with [`Sandbox::log`]; gone with the sandbox).
    Folder,
    /// This process's standard error (`serve --private`: the user sees them).
    Inherit,
    /// Appended to this file.
    File(PathBuf),
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
            logs: SandboxLogs::Folder,
        }
    }
}

/// A running sandbox. Dropping it stops pcscd and the cards and removes its folder.
#[derive(Debug)]
pub struct Sandbox {
    dir: tempfile::TempDir,
    /// `unshare`, whose child is the sandbox's PID 1.
    child: Child,
    /// PID 1's standard input: closing it ends the sandbox.
    control: Option<ChildStdin>,
    /// PID 1's event lines (`died …`, `pcscd-restarted`).
    events: Arc<Mutex<Vec<String>>>,
    cards: usize,
    mynasim: PathBuf,
    cancel: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    logs: SandboxLogs,
}

/// The control socket of the sandbox's profile cards, in its folder.
const CONTROL_SOCKET: &str = "control.sock";
/// What `mynasim serve` takes for the built-in default card among profile paths.
pub const DEFAULT_PROFILE: &str = "@default";

/// The file naming a sandbox folder's owner (to clean up after owners that died).
const OWNER_FILE: &str = "owner.pid";
/// The prefix of sandbox folders in the temp folder.
const FOLDER_PREFIX: &str = "mynasim-sandbox-";

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
        remove_orphaned_folders();
        let dir = tempfile::Builder::new().prefix(FOLDER_PREFIX).tempdir().doing("cannot create the sandbox folder")?;
        fs::write(dir.path().join(OWNER_FILE), format!("{}\n", std::process::id())).doing("cannot write the sandbox owner file")?;
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
        // Consecutive profile cards share one server, whose control socket is the
        // sandbox's ([`Sandbox::control_socket`]).
        let mut cards: Vec<init::CardPlan> = Vec::new();
        let mut grouped = false;
        for source in &options.cards {
            let mut args = options.serve_args.clone();
            match source {
                CardSource::Null => args.push("--null-card".to_owned()),
                CardSource::Profile(profile) => {
                    let profile = match profile {
                        None => DEFAULT_PROFILE.to_owned(),
                        Some(p) => {
                            fs::canonicalize(p).map_err(|source| SandboxError::Profile { path: p.clone(), source })?.display().to_string()
                        }
                    };
                    if let Some(init::CardPlan::Serve { args, slots }) = cards.last_mut().filter(|_| grouped) {
                        args.push(profile);
                        *slots += 1;
                        continue;
                    }
                    if cards.iter().all(|c| !matches!(c, init::CardPlan::Serve { args, .. } if args.iter().any(|a| a == "--control"))) {
                        args.extend(["--control".to_owned(), dir.path().join(CONTROL_SOCKET).display().to_string()]);
                    }
                    args.push(profile);
                    cards.push(init::CardPlan::Serve { args, slots: 1 });
                    grouped = true;
                    continue;
                }
                CardSource::Program { argv, env } => {
                    cards.push(init::CardPlan::Program { argv: argv.clone(), env: env.clone() });
                    grouped = false;
                    continue;
                }
            }
            cards.push(init::CardPlan::Serve { args, slots: 1 });
            grouped = false;
        }
        let plan = init::InitPlan { mynasim: options.mynasim.clone(), cards };
        let plan =
            serde_json::to_string(&plan).map_err(|e| SandboxError::Io { what: "cannot write the sandbox plan", source: e.into() })?;
        fs::write(dir.path().join(init::PLAN_FILE), plan).doing("cannot write the sandbox plan")?;
        let stderr = match &options.logs {
            SandboxLogs::Folder => Stdio::from(fs::File::create(dir.path().join("sandbox.log")).doing("cannot create the sandbox log")?),
            SandboxLogs::File(path) => {
                Stdio::from(fs::OpenOptions::new().create(true).append(true).open(path).doing("cannot open the log file")?)
            }
            SandboxLogs::Inherit => Stdio::inherit(),
        };
        let mut child = namespaces(Some(&dir.path().join("pcscd")))
            .arg(&options.mynasim)
            .arg("sandbox-init")
            .arg(dir.path())
            .env_remove("PCSCLITE_CSOCK_NAME")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .doing("cannot start unshare")?;
        let events = Arc::new(Mutex::new(Vec::new()));
        if let Some(stdout) = child.stdout.take() {
            let events = Arc::clone(&events);
            std::thread::spawn(move || {
                for line in std::io::BufReader::new(stdout).lines().map_while(std::result::Result::ok) {
                    if let Ok(mut e) = events.lock() {
                        e.push(line);
                    }
                }
            });
        }
        let control = child.stdin.take();
        let mut sandbox = Sandbox {
            dir,
            child,
            control,
            events,
            cards: options.cards.len(),
            mynasim: options.mynasim.clone(),
            cancel: options.cancel.clone(),
            logs: options.logs.clone(),
        };
        sandbox.wait_ready(options.timeout)?;
        Ok(sandbox)
    }

    /// Stops pcscd and starts a new one in the same namespaces, as when a desktop's pcscd
    /// restarts: the cards must notice, reconnect and keep their state. Returns once pcscd
    /// has powered every card again.
    pub fn restart_pcscd(&mut self, timeout: Duration) -> Result<()> {
        for n in 0..self.cards {
            let _ = fs::remove_file(self.dir.path().join(format!("ready-{n}")));
        }
        let before = self.event_count("pcscd-restarted");
        let control = self
            .control
            .as_mut()
            .ok_or(SandboxError::Io { what: "the sandbox is stopped", source: std::io::ErrorKind::BrokenPipe.into() })?;
        control.write_all(b"restart-pcscd\n").and_then(|()| control.flush()).doing("cannot ask the sandbox to restart pcscd")?;
        let deadline = Instant::now() + timeout;
        while self.event_count("pcscd-restarted") == before {
            if let Some(died) = self.died() {
                return Err(SandboxError::Exited { status: died, log: self.log() });
            }
            if Instant::now() > deadline {
                return Err(SandboxError::Timeout { timeout, socket_up: false, cards_up: false, log: self.log() });
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        self.wait_ready(deadline.saturating_duration_since(Instant::now()))
    }

    fn event_count(&self, what: &str) -> usize {
        self.events.lock().map(|e| e.iter().filter(|l| *l == what).count()).unwrap_or(0)
    }

    /// Which part of the sandbox died and how (`pcscd with exit code 1`, `card 0 killed by
    /// signal 9 (SIGKILL)`), once one has: the sandbox is then gone.
    pub fn died(&self) -> Option<String> {
        let reported = self.events.lock().ok().and_then(|e| e.iter().find_map(|l| l.strip_prefix("died ").map(str::to_owned)));
        reported.or_else(|| {
            // PID 1 itself gone without a word (killed from outside).
            let status = fs::read_to_string(format!("/proc/{}/stat", self.child.id())).ok();
            match status {
                None => Some("the sandbox's init process".to_owned()),
                Some(stat) if stat.split(") ").nth(1).is_some_and(|rest| rest.starts_with('Z')) => {
                    Some("the sandbox's init process".to_owned())
                }
                Some(_) => None,
            }
        })
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
            if let Some(died) = self.died() {
                return Err(SandboxError::Exited { status: died, log: self.log() });
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

    /// The host's process id of the sandbox's PID 1, to enter its namespaces with `nsenter
    /// --target` (the pids inside the sandbox are those of its own PID namespace).
    pub fn namespace_pid(&self) -> Option<u32> {
        let unshare = self.child.id();
        let children = fs::read_to_string(format!("/proc/{unshare}/task/{unshare}/children")).ok()?;
        children.split_whitespace().next()?.parse().ok()
    }

    /// The value for `PCSCLITE_CSOCK_NAME`.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("pcscd/pcscd.comm")
    }

    /// The control socket of the sandbox's profile cards (`mynasim ctl --control`), if it
    /// serves any.
    pub fn control_socket(&self) -> Option<PathBuf> {
        Some(self.dir.path().join(CONTROL_SOCKET)).filter(|p| p.exists())
    }

    /// The sandbox folder (logs, reader configuration).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// pcscd's and the cards' output so far (when they log to the sandbox folder or a file).
    pub fn log(&self) -> String {
        match &self.logs {
            SandboxLogs::Folder => fs::read_to_string(self.dir.path().join("sandbox.log")).unwrap_or_default(),
            SandboxLogs::File(path) => fs::read_to_string(path).unwrap_or_default(),
            SandboxLogs::Inherit => "(the logs went to standard error)".to_owned(),
        }
    }

    /// A command whose PC/SC calls go to this sandbox's pcscd.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new(program);
        command.env("PCSCLITE_CSOCK_NAME", self.socket());
        command
    }

    /// Stops everything (also done on drop): closes PID 1's input, so the namespace ends.
    pub fn stop(&mut self) {
        self.control = None;
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(5));
        }
        // `unshare --kill-child` takes PID 1, and with it the namespace, along.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Removes sandbox folders whose owner process is gone (a crash, SIGKILL): their
/// processes died with their PID namespace; only the folder stayed.
fn remove_orphaned_folders() {
    let Ok(entries) = fs::read_dir(std::env::temp_dir()) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if !path.file_name().is_some_and(|n| n.to_string_lossy().starts_with(FOLDER_PREFIX)) {
            continue;
        }
        let Ok(owner) = fs::read_to_string(path.join(OWNER_FILE)) else { continue };
        let alive = owner.trim().parse::<u32>().is_ok_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
        if !alive {
            tracing::info!("removing {}, left by a sandbox whose owner (pid {}) is gone", path.display(), owner.trim());
            let _ = fs::remove_dir_all(&path);
        }
    }
}

/// A command entering new mount, network and PID namespaces (`unshare`, as mapped root
/// when not root) that runs the program given as its next arguments as PID 1, after:
/// loopback up (the only network); the kernel's ephemeral ports moved above vpcd's, so a
/// card's connect to vpcd is never given vpcd's own port (a self-connection that keeps vpcd
/// from binding it); a tmpfs on `/run`, with `/run/pcscd` bound to `pcscd_dir` if given
/// (pcscd's fixed socket then appears there, for clients outside). Shared by the sandbox
/// and the scenario worker.
pub fn namespaces(pcscd_dir: Option<&Path>) -> Command {
    let mut unshare = Command::new("unshare");
    if !is_root() {
        unshare.arg("--map-root-user");
    }
    let ephemeral = format!("{} 60999", card_port(MAX_CARDS));
    let bind = if pcscd_dir.is_some() { "mount -n --bind \"$MYNASIM_PCSCD_DIR\" /run/pcscd\n" } else { "" };
    let setup = format!(
        "set -e\nip link set lo up\necho {ephemeral} > /proc/sys/net/ipv4/ip_local_port_range\nmount -n -t tmpfs tmpfs /run\nmkdir -p /run/pcscd\n{bind}exec \"$@\"\n"
    );
    unshare.args(["--mount", "--net", "--pid", "--fork", "--kill-child", "--propagation", "private", "sh", "-c", &setup, "sh"]);
    if let Some(dir) = pcscd_dir {
        unshare.env("MYNASIM_PCSCD_DIR", dir);
    }
    unshare
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

pub(crate) fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(2) == Some("0")))
        .unwrap_or(false)
}
