//! Running one external program, with a time limit and an output cap, optionally
//! through a pseudo-terminal that answers its prompts: the scenario harness's `run` step
//! (how scenarios drive `jpki-cli`, OpenSC and any other client).
//!
//! This module knows nothing of scenarios: the caller maps its format onto a
//! [`ProgramSpec`] and reads a [`ProgramOutcome`] or a [`ProgramError`] back.
//!
//! Two modes:
//! - **Pipes** (no prompts, `terminal: false`): standard input is empty, a text or a file;
//!   standard output and standard error are captured concurrently.
//! - **Terminal** (prompts, or `terminal: true`): standard input and standard error are a
//!   fresh pseudo-terminal, standard output stays a pipe so binary output is byte-exact
//!   (`jpki-cli` writes DER and PNG to standard output and prompts on the terminal).
//!   [`ProgramOutcome::stderr`] is then what the terminal showed: the program's standard
//!   error, the echo of what was typed, and line ends as `\r\n` (the terminal's `ONLCR`).
//!
//! Every program runs in its own session (through util-linux `setsid` when it is
//! installed, else in its own process group), so a time limit or an overflow kills the
//! whole group, and the program never reaches the terminal the harness itself runs in:
//! in terminal mode the pseudo-terminal becomes its controlling terminal (`setsid
//! --ctty`), so `/dev/tty` is the pseudo-terminal too (`console`, behind `dialoguer`,
//! opens `/dev/tty` when standard input is not a terminal). Without `setsid` the program
//! keeps the harness's controlling terminal, if any.
//!
//! Dependencies: `nix` (it was already in the tree, under `rexpect`) gives safe wrappers
//! for `posix_openpt`, `tcgetattr` and `killpg`; the workspace forbids `unsafe`. `rexpect`
//! (which `clients` used before) is not: its reader thread queues every byte on an
//! unbounded channel that is drained every 100 ms (a program printing hundreds of MB on its
//! terminal exhausts memory before a cap can act), it wires standard output to the terminal
//! too, it forks the threaded harness and runs `Command::exec` in the child, and dropping
//! its `PtyProcess` sends SIGTERM until the program dies (for ever, if it ignores it), then
//! panics if that failed.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use nix::fcntl::OFlag;
use nix::sys::signal::{killpg, Signal};
use nix::sys::termios::{tcgetattr, LocalFlags};
use nix::unistd::Pid;
use zeroize::Zeroizing;

/// What to start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Invocation {
    /// A program and its arguments. A first word without a `/` is looked up on `PATH`
    /// (and in the sbin folders and `~/.cargo/bin`, see [`find_program`]); one with a `/`
    /// is a path, relative to [`ProgramSpec::cwd`].
    Argv(Vec<String>),
    /// A shell command line, run as `sh -c TEXT`.
    Shell(String),
}

/// What the program reads on standard input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// Nothing: `/dev/null`, or in terminal mode a terminal nobody types into (except the
    /// prompts' answers).
    Null,
    /// These bytes, then end-of-file. In terminal mode they are typed into the terminal
    /// (at most [`TYPED_INPUT_MAX`] bytes) before any prompt, then end-of-file (`^D`);
    /// the terminal's line discipline applies (control characters act, lines are echoed).
    Text(Vec<u8>),
    /// The contents of this file (relative to [`ProgramSpec::cwd`]); in terminal mode they
    /// are typed, as for [`Input::Text`].
    File(PathBuf),
}

/// One prompt to answer on the terminal.
#[derive(Clone)]
pub struct Prompt {
    /// What the terminal shows when the program asks (searched in what it showed after the
    /// previous prompt's answer).
    pub expect: regex::Regex,
    /// What to type, without the newline (one is typed after it).
    pub send: String,
    /// The answer is a secret (a PIN): it is never shown in errors or `Debug`, and it is
    /// typed only once the program has turned the terminal's echo off, as a password
    /// prompt does (`read -s`, `stty -echo`, `dialoguer`'s `Password`). That also waits
    /// out `dialoguer`, which flushes pending input as it turns echo off.
    pub secret: bool,
}

impl std::fmt::Debug for Prompt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let send = if self.secret { "<secret>" } else { self.send.as_str() };
        f.debug_struct("Prompt").field("expect", &self.expect.as_str()).field("send", &send).field("secret", &self.secret).finish()
    }
}

/// Everything about one run.
#[derive(Clone, Debug)]
pub struct ProgramSpec {
    /// What to start.
    pub invocation: Invocation,
    /// The working directory; it must exist.
    pub cwd: PathBuf,
    /// Variables added to (or replacing those of) the inherited environment.
    pub env: Vec<(String, String)>,
    /// Standard input.
    pub input: Input,
    /// Prompts to answer, in order; any prompt makes it a terminal run.
    pub prompts: Vec<Prompt>,
    /// Run in a pseudo-terminal even without prompts.
    pub terminal: bool,
    /// The limit for the whole run, prompts included.
    pub timeout: Duration,
    /// The most bytes kept per stream (standard output, standard error or the terminal);
    /// one more and the program is killed.
    pub output_cap: usize,
}

/// The time limit [`ProgramSpec::new`] sets.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The output cap [`ProgramSpec::new`] sets: 16 MiB per stream.
pub const DEFAULT_OUTPUT_CAP: usize = 16 << 20;
/// The most bytes [`Input::Text`] may type into a terminal: what a terminal's input buffer
/// holds (4096 bytes on Linux, less the end-of-file characters).
pub const TYPED_INPUT_MAX: usize = 4000;

impl ProgramSpec {
    /// A run of `invocation` in `cwd`: no input, no prompts, no terminal,
    /// [`DEFAULT_TIMEOUT`] and [`DEFAULT_OUTPUT_CAP`].
    pub fn new(invocation: Invocation, cwd: impl Into<PathBuf>) -> ProgramSpec {
        ProgramSpec {
            invocation,
            cwd: cwd.into(),
            env: Vec::new(),
            input: Input::Null,
            prompts: Vec::new(),
            terminal: false,
            timeout: DEFAULT_TIMEOUT,
            output_cap: DEFAULT_OUTPUT_CAP,
        }
    }
}

/// How the program ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// It exited with this code.
    Code(i32),
    /// It was killed by this signal.
    Signal(i32),
}

impl Exit {
    /// Exit code 0.
    pub fn success(self) -> bool {
        self == Exit::Code(0)
    }

    fn from_status(status: ExitStatus) -> Exit {
        match (status.code(), status.signal()) {
            (Some(code), _) => Exit::Code(code),
            (None, Some(signal)) => Exit::Signal(signal),
            // Neither: only for a stopped or continued process, which `wait` does not report.
            (None, None) => Exit::Code(-1),
        }
    }
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exit::Code(code) => write!(f, "exit code {code}"),
            Exit::Signal(signal) => write!(f, "killed by signal {signal}"),
        }
    }
}

/// What a finished run did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgramOutcome {
    /// How it ended.
    pub exit: Exit,
    /// Its standard output, byte for byte.
    pub stdout: Vec<u8>,
    /// Its standard error; in terminal mode, what the terminal showed.
    pub stderr: Vec<u8>,
    /// From start to exit.
    pub elapsed: Duration,
}

/// Why a run gave no [`ProgramOutcome`]. The program is no longer running when this is
/// returned (it was killed if need be).
#[derive(Debug, thiserror::Error)]
pub enum ProgramError {
    /// The program does not exist.
    #[error("program `{program}` not found on PATH (nor in /usr/sbin, /sbin, ~/.cargo/bin); install it or give its full path")]
    NotFound {
        /// The name or path given.
        program: String,
    },
    /// The program exists but could not be started.
    #[error("cannot start `{program}`: {source}; check that it is an executable file")]
    Spawn {
        /// The path found.
        program: String,
        /// Why.
        source: io::Error,
    },
    /// The harness's own I/O failed (pseudo-terminal, threads, pipes).
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// Why.
        source: io::Error,
    },
    /// A prompt did not appear in time, or the program ended without showing it.
    #[error(
        "prompt /{expect}/ did not appear within {waited:?}{}; check the pattern against what the terminal showed: \"{seen}\"",
        ended.map(|e| format!(" (the program ended first, {e})")).unwrap_or_default()
    )]
    PromptNeverCame {
        /// The prompt's pattern.
        expect: String,
        /// The end of what the terminal showed (at most about 500 characters, control
        /// characters escaped).
        seen: String,
        /// How long after the start the wait was given up.
        waited: Duration,
        /// How the program ended, if it did.
        ended: Option<Exit>,
    },
    /// A secret prompt appeared but the program left the terminal's echo on (until the time
    /// limit, or until it ended), so the secret was not typed: it would have shown.
    #[error(
        "prompt /{expect}/ appeared but the terminal kept echoing for {waited:?}, so the secret was not typed; if the program reads it visibly, make the prompt not secret"
    )]
    EchoStayedOn {
        /// The prompt's pattern.
        expect: String,
        /// How long it was waited for.
        waited: Duration,
    },
    /// The run took longer than [`ProgramSpec::timeout`]; the program was killed.
    #[error("the program did not finish within {after:?} and was killed; raise the timeout if it needs longer. It last wrote: stdout \"{stdout_tail}\", stderr \"{stderr_tail}\"")]
    TimedOut {
        /// The time limit.
        after: Duration,
        /// The end of its standard output (as [`ProgramError::PromptNeverCame::seen`]).
        stdout_tail: String,
        /// The end of its standard error or terminal.
        stderr_tail: String,
    },
    /// The program wrote more than [`ProgramSpec::output_cap`] to one stream; it was killed.
    #[error("the program wrote more than {cap} bytes to {stream} and was killed; raise the output cap if that much is expected")]
    OutputCap {
        /// `stdout`, `stderr` or `the terminal`.
        stream: &'static str,
        /// The cap.
        cap: usize,
    },
    /// The spec cannot be run as given (empty command, missing directory or input file,
    /// typed input too long, a pattern that does not compile for bytes).
    #[error("{0}")]
    BadInput(String),
}

type Result<T, E = ProgramError> = std::result::Result<T, E>;

/// How often a waiting run checks whether the program has exited, and the echo flag.
const TICK: Duration = Duration::from_millis(10);
/// How much of a stream errors quote.
const TAIL_CHARS: usize = 500;
/// End-of-file on a terminal (`VEOF`, `^D`).
const EOF_CHAR: u8 = 0x04;

/// Runs `spec` to the end: returns how the program exited and what it wrote, or why it did
/// not finish (its process group is killed then). Never panics.
///
/// The run ends when the program has exited and its output streams are closed: a
/// background process it left holding them counts as still running (until the time limit).
pub fn run_program(spec: &ProgramSpec) -> Result<ProgramOutcome> {
    let start = Instant::now();
    // A timeout too large for the clock: practically none.
    let forever = || start.checked_add(Duration::from_secs(1 << 32));
    let deadline = start.checked_add(spec.timeout).or_else(forever).unwrap_or(start);
    if !spec.cwd.is_dir() {
        return Err(ProgramError::BadInput(format!("working directory `{}` does not exist", spec.cwd.display())));
    }
    let (program, args) = resolve(&spec.invocation, &spec.cwd)?;
    let terminal = spec.terminal || !spec.prompts.is_empty();
    let prompts = spec
        .prompts
        .iter()
        .map(|p| {
            regex::bytes::Regex::new(p.expect.as_str())
                .map_err(|e| ProgramError::BadInput(format!("prompt pattern /{}/: {e}", p.expect.as_str())))
        })
        .collect::<Result<Vec<_>>>()?;

    let mut command = session_command(&program, terminal);
    command.args(&args).current_dir(&spec.cwd).envs(spec.env.iter().map(|(k, v)| (k, v)));
    command.stdout(Stdio::piped());
    let timing = Timing { start, deadline, timeout: spec.timeout };
    if terminal {
        in_terminal(spec, command, &program, &prompts, timing)
    } else {
        with_pipes(spec, command, &program, timing)
    }
}

/// When a run started and must end.
#[derive(Clone, Copy)]
struct Timing {
    start: Instant,
    deadline: Instant,
    timeout: Duration,
}

/// Terminal mode: standard input and standard error a new pseudo-terminal.
fn in_terminal(
    spec: &ProgramSpec,
    mut command: Command,
    program: &Path,
    prompts: &[regex::bytes::Regex],
    timing: Timing,
) -> Result<ProgramOutcome> {
    let typed = match &spec.input {
        Input::Null => None,
        Input::Text(text) => Some(Zeroizing::new(text.clone())),
        Input::File(path) => Some(Zeroizing::new(read_input_file(&spec.cwd.join(path))?)),
    };
    if typed.as_ref().is_some_and(|t| t.len() > TYPED_INPUT_MAX) {
        return Err(ProgramError::BadInput(format!(
                "typed input is longer than {TYPED_INPUT_MAX} bytes, more than a terminal holds; give it to the program as a file, or run without a terminal"
            )));
    }
    let (master, slave) = open_pty()?;
    let slave_err = slave.try_clone().map_err(io_error("duplicating the pseudo-terminal"))?;
    command.stdin(Stdio::from(slave)).stderr(Stdio::from(slave_err));
    let mut run = Running::spawn(command, program, spec.output_cap, true)?;
    if let Some(out) = run.child.stdout.take() {
        run.capture(out, Which::Out)?;
    }
    run.capture(master.try_clone().map_err(io_error("duplicating the pseudo-terminal"))?, Which::Err)?;
    run.converse(&master, typed, &spec.prompts, prompts, timing)?;
    run.finish(timing)
}

/// Pipe mode: standard input from nowhere, a text or a file; output captured.
fn with_pipes(spec: &ProgramSpec, mut command: Command, program: &Path, timing: Timing) -> Result<ProgramOutcome> {
    let mut text = None;
    command.stderr(Stdio::piped());
    match &spec.input {
        Input::Null => {
            command.stdin(Stdio::null());
        }
        Input::Text(t) => {
            command.stdin(Stdio::piped());
            text = Some(t.clone());
        }
        Input::File(path) => {
            let path = spec.cwd.join(path);
            let file =
                File::open(&path).map_err(|e| ProgramError::BadInput(format!("cannot open input file `{}`: {e}", path.display())))?;
            command.stdin(Stdio::from(file));
        }
    }
    let mut run = Running::spawn(command, program, spec.output_cap, false)?;
    if let Some(text) = text {
        if let Some(mut stdin) = run.child.stdin.take() {
            // A thread, so a program that reads slowly (or not at all) cannot block the
            // time limit; a program that stops reading makes the write fail, which is
            // its business.
            spawn_thread("process-stdin", move || {
                let _ = stdin.write_all(&text);
            })?;
        }
    }
    if let Some(out) = run.child.stdout.take() {
        run.capture(out, Which::Out)?;
    }
    if let Some(err) = run.child.stderr.take() {
        run.capture(err, Which::Err)?;
    }
    run.finish(timing)
}

/// The program's path and its arguments.
fn resolve(invocation: &Invocation, cwd: &Path) -> Result<(PathBuf, Vec<String>)> {
    let (name, args) = match invocation {
        Invocation::Shell(text) => ("sh", vec!["-c".to_owned(), text.clone()]),
        Invocation::Argv(argv) => match argv.split_first() {
            Some((name, args)) => (name.as_str(), args.to_vec()),
            None => return Err(ProgramError::BadInput("empty command line: give at least the program".into())),
        },
    };
    let path = if name.contains('/') { Some(cwd.join(name)).filter(|p| p.is_file()) } else { find_program(name) };
    let path = path.ok_or_else(|| ProgramError::NotFound { program: name.to_owned() })?;
    // Checked here, as the `setsid` wrapper would only report it as an exit code.
    let executable = path.metadata().map(|m| m.permissions().mode() & 0o111 != 0).unwrap_or(false);
    if !executable {
        return Err(ProgramError::Spawn {
            program: path.display().to_string(),
            source: io::Error::new(io::ErrorKind::PermissionDenied, "not executable"),
        });
    }
    Ok((path, args))
}

/// A command that starts `program` in a new session (the pseudo-terminal, on its standard
/// input, as its controlling terminal if `terminal`), or at least in its own process group.
fn session_command(program: &Path, terminal: bool) -> Command {
    static SETSID: OnceLock<Option<PathBuf>> = OnceLock::new();
    match SETSID.get_or_init(|| find_program("setsid")) {
        Some(setsid) => {
            // Not a process-group leader, so `setsid` calls setsid(2) and execs in place:
            // the program keeps the pid, which becomes its session and group id.
            let mut command = Command::new(setsid);
            if terminal {
                command.arg("--ctty");
            }
            command.arg("--").arg(program);
            command
        }
        None => {
            let mut command = Command::new(program);
            command.process_group(0);
            command
        }
    }
}

fn read_input_file(path: &Path) -> Result<Vec<u8>> {
    let mut data = Vec::new();
    File::open(path)
        .and_then(|f| f.take(TYPED_INPUT_MAX as u64 + 1).read_to_end(&mut data))
        .map_err(|e| ProgramError::BadInput(format!("cannot read input file `{}`: {e}", path.display())))?;
    Ok(data)
}

/// A new pseudo-terminal: (master, slave). Both close on exec and neither becomes the
/// harness's controlling terminal.
fn open_pty() -> Result<(File, File)> {
    let pty = io_error("opening a pseudo-terminal");
    let master = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC).map_err(|e| pty(e.into()))?;
    nix::pty::grantpt(&master).map_err(|e| pty(e.into()))?;
    nix::pty::unlockpt(&master).map_err(|e| pty(e.into()))?;
    let name = nix::pty::ptsname_r(&master).map_err(|e| pty(e.into()))?;
    // std opens with O_CLOEXEC.
    let slave = std::fs::OpenOptions::new().read(true).write(true).custom_flags(nix::libc::O_NOCTTY).open(name).map_err(pty)?;
    Ok((File::from(OwnedFd::from(master)), slave))
}

fn io_error(what: &'static str) -> impl Fn(io::Error) -> ProgramError {
    move |source| ProgramError::Io { what, source }
}

fn spawn_thread(name: &str, f: impl FnOnce() + Send + 'static) -> Result<()> {
    std::thread::Builder::new().name(name.into()).spawn(f).map(drop).map_err(io_error("starting a thread"))
}

/// One captured stream.
#[derive(Default)]
struct Captured {
    data: Vec<u8>,
    closed: bool,
    over_cap: bool,
    error: Option<io::Error>,
}

#[derive(Default)]
struct Streams {
    out: Captured,
    err: Captured,
}

#[derive(Clone, Copy)]
enum Which {
    Out,
    Err,
}

struct Shared {
    streams: Mutex<Streams>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Streams> {
        self.streams.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Why a wait stopped short.
enum Stop {
    Deadline,
    Cap(&'static str),
}

/// A started program. Dropping it, unless it finished, kills the program's group.
struct Running {
    child: Child,
    /// Its process group (and, with `setsid`, session): its pid.
    group: Option<Pid>,
    exit: Option<Exit>,
    shared: Arc<Shared>,
    cap: usize,
    terminal: bool,
    /// It exited and closed its output: nothing left to kill.
    finished: bool,
}

impl Running {
    fn spawn(mut command: Command, program: &Path, cap: usize, terminal: bool) -> Result<Running> {
        let child = command.spawn().map_err(|source| ProgramError::Spawn { program: program.display().to_string(), source })?;
        // The Command holds our copies of the terminal's slave side: close them, or the
        // terminal never reports end-of-file.
        drop(command);
        let group = i32::try_from(child.id()).ok().map(Pid::from_raw);
        let shared = Arc::new(Shared { streams: Mutex::new(Streams::default()), changed: Condvar::new() });
        Ok(Running { child, group, exit: None, shared, cap, terminal, finished: false })
    }

    fn stream_name(&self, which: Which) -> &'static str {
        match (which, self.terminal) {
            (Which::Out, _) => "stdout",
            (Which::Err, false) => "stderr",
            (Which::Err, true) => "the terminal",
        }
    }

    /// Reads `source` into the shared buffer on a thread, up to the cap.
    fn capture(&mut self, mut source: impl Read + Send + 'static, which: Which) -> Result<()> {
        let shared = Arc::clone(&self.shared);
        let cap = self.cap;
        let terminal = self.terminal;
        spawn_thread("process-output", move || {
            let mut buf = vec![0u8; 16 << 10];
            loop {
                let read = source.read(&mut buf);
                let mut streams = shared.lock();
                let stream = match which {
                    Which::Out => &mut streams.out,
                    Which::Err => &mut streams.err,
                };
                let more = match read {
                    Ok(0) => false,
                    Ok(n) => {
                        let room = cap.saturating_sub(stream.data.len());
                        stream.data.extend_from_slice(buf.get(..n.min(room)).unwrap_or_default());
                        stream.over_cap = n > room;
                        !stream.over_cap
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => true,
                    // A terminal whose every slave side is closed reads as EIO: end-of-file.
                    Err(e) if terminal && e.raw_os_error() == Some(nix::libc::EIO) => false,
                    Err(e) => {
                        stream.error = Some(e);
                        false
                    }
                };
                stream.closed = !more;
                drop(streams);
                shared.changed.notify_all();
                if !more {
                    return;
                }
            }
        })
    }

    /// Waits until `done` gives a value (it is asked whenever output arrives, and every
    /// [`TICK`]), a stream overflows, or `deadline` passes.
    fn wait_until<T>(&mut self, deadline: Instant, mut done: impl FnMut(&Streams, Option<Exit>) -> Option<T>) -> Result<T, Stop> {
        let shared = Arc::clone(&self.shared);
        let mut streams = shared.lock();
        loop {
            if streams.out.over_cap {
                return Err(Stop::Cap(self.stream_name(Which::Out)));
            }
            if streams.err.over_cap {
                return Err(Stop::Cap(self.stream_name(Which::Err)));
            }
            if let Some(value) = done(&streams, self.exit) {
                return Ok(value);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Stop::Deadline);
            }
            streams = shared.changed.wait_timeout(streams, TICK.min(deadline - now)).unwrap_or_else(PoisonError::into_inner).0;
            if self.exit.is_none() {
                // An error here would mean the child is not ours to wait for: treat it as gone.
                self.exit = match self.child.try_wait() {
                    Ok(status) => status.map(Exit::from_status),
                    Err(_) => Some(Exit::Code(-1)),
                };
            }
        }
    }

    /// Kills the program's whole group and reaps it.
    fn kill(&mut self) {
        if let Some(group) = self.group {
            // ESRCH: the group is gone already (or `setsid` has not made it yet; then
            // killing the child below is enough, it has no children).
            let _ = killpg(group, Signal::SIGKILL);
        }
        if self.exit.is_none() {
            let _ = self.child.kill();
            self.exit = Some(self.child.wait().map(Exit::from_status).unwrap_or(Exit::Code(-1)));
        }
    }

    /// Kills the program and turns `stop` into the error to return.
    fn stopped(&mut self, stop: Stop, on_deadline: impl FnOnce(&Streams) -> ProgramError) -> ProgramError {
        self.kill();
        match stop {
            Stop::Cap(stream) => ProgramError::OutputCap { stream, cap: self.cap },
            Stop::Deadline => on_deadline(&self.shared.lock()),
        }
    }

    /// The terminal dialogue: types `typed` (then end-of-file), then answers each prompt
    /// once it has appeared.
    fn converse(
        &mut self,
        master: &File,
        typed: Option<Zeroizing<Vec<u8>>>,
        prompts: &[Prompt],
        patterns: &[regex::bytes::Regex],
        timing: Timing,
    ) -> Result<()> {
        let Timing { start, deadline, .. } = timing;
        if let Some(typed) = typed {
            // One ^D sends a partial line without its newline; at a line's start it is
            // end-of-file. A second one after a complete line would stay queued as a second
            // end-of-file for the program's next read.
            let eofs: &[u8] = if typed.is_empty() || typed.ends_with(b"\n") { &[EOF_CHAR] } else { &[EOF_CHAR, EOF_CHAR] };
            self.type_in(master, &typed)?;
            self.type_in(master, eofs)?;
        }
        // Prompts are looked for on the terminal (where programs that read a PIN show
        // them) and on standard output (where a plain `printf 'PIN: '; read x` writes).
        let (mut from, mut from_out) = (0, 0);
        for (prompt, pattern) in prompts.iter().zip(patterns) {
            let found = self.wait_until(deadline, |streams, exit| {
                let shown = streams.err.data.get(from..).unwrap_or_default();
                let printed = streams.out.data.get(from_out..).unwrap_or_default();
                match (pattern.find(shown), pattern.find(printed)) {
                    (Some(m), _) => Some(Ok((from + m.end(), streams.out.data.len().max(from_out)))),
                    (None, Some(m)) => Some(Ok((streams.err.data.len().max(from), from_out + m.end()))),
                    (None, None) if streams.err.closed && exit.is_some() => Some(Err(exit)),
                    (None, None) => None,
                }
            });
            // What the program showed: the terminal, and standard output after it.
            let never_came = |streams: &Streams, ended| {
                let mut seen = tail(&streams.err.data);
                if !streams.out.data.is_empty() {
                    seen = format!("{seen}\" and on standard output \"{}", tail(&streams.out.data));
                }
                ProgramError::PromptNeverCame { expect: prompt.expect.as_str().to_owned(), seen, waited: start.elapsed(), ended }
            };
            (from, from_out) = match found {
                Ok(Ok(ends)) => ends,
                Ok(Err(ended)) => return Err(never_came(&self.shared.lock(), ended)),
                Err(stop) => return Err(self.stopped(stop, |streams| never_came(streams, None))),
            };
            if prompt.secret {
                let asked = Instant::now();
                let echo_off = || tcgetattr(master).is_ok_and(|t| !t.local_flags.contains(LocalFlags::ECHO));
                let echo_stayed_on = || ProgramError::EchoStayedOn { expect: prompt.expect.as_str().to_owned(), waited: asked.elapsed() };
                // Ended with echo on: that too is a secret prompt that did not hide it.
                match self.wait_until(deadline, |streams, exit| {
                    if echo_off() {
                        Some(true)
                    } else {
                        (streams.err.closed && exit.is_some()).then_some(false)
                    }
                }) {
                    Ok(true) => {}
                    Ok(false) => return Err(echo_stayed_on()),
                    Err(stop) => return Err(self.stopped(stop, |_| echo_stayed_on())),
                }
            }
            let mut line = Zeroizing::new(Vec::with_capacity(prompt.send.len() + 1));
            line.extend_from_slice(prompt.send.as_bytes());
            line.push(b'\n');
            self.type_in(master, &line)?;
        }
        Ok(())
    }

    fn type_in(&mut self, mut master: &File, bytes: &[u8]) -> Result<()> {
        let typed = master.write_all(bytes).and_then(|()| master.flush());
        typed.map_err(|source| {
            self.kill();
            ProgramError::Io { what: "typing into the program's terminal", source }
        })
    }

    /// Waits for the program to exit and close its output; returns what it did.
    fn finish(mut self, timing: Timing) -> Result<ProgramOutcome> {
        let Timing { start, deadline, timeout } = timing;
        let ended = self.wait_until(deadline, |streams, exit| exit.filter(|_| streams.out.closed && streams.err.closed));
        let exit = match ended {
            Ok(exit) => exit,
            Err(stop) => {
                return Err(self.stopped(stop, |streams| ProgramError::TimedOut {
                    after: timeout,
                    stdout_tail: tail(&streams.out.data),
                    stderr_tail: tail(&streams.err.data),
                }))
            }
        };
        let elapsed = start.elapsed();
        self.finished = true;
        let mut streams = self.shared.lock();
        if let Some(source) = streams.out.error.take().or_else(|| streams.err.error.take()) {
            return Err(ProgramError::Io { what: "reading the program's output", source });
        }
        Ok(ProgramOutcome { exit, stdout: std::mem::take(&mut streams.out.data), stderr: std::mem::take(&mut streams.err.data), elapsed })
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if !self.finished {
            self.kill();
        }
    }
}

/// The last [`TAIL_CHARS`] characters of `data`, lossily decoded, control characters
/// escaped (`\r`, `\n`, `\u{1b}`), with `…` in front if cut.
fn tail(data: &[u8]) -> String {
    let recent = &data[data.len().saturating_sub(TAIL_CHARS * 4)..];
    let text = String::from_utf8_lossy(recent);
    let count = text.chars().count();
    let mut out = String::new();
    if count > TAIL_CHARS || recent.len() < data.len() {
        out.push('…');
    }
    for c in text.chars().skip(count.saturating_sub(TAIL_CHARS)) {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    out
}

/// A program on `PATH`, in the sbin folders (not on every user's `PATH`), or in
/// `~/.cargo/bin` (where `cargo install` puts jpki-cli).
pub fn find_program(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default();
    dirs.extend(["/usr/sbin", "/sbin"].map(PathBuf::from));
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".cargo/bin"));
    }
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn shell(text: &str) -> ProgramSpec {
        let mut spec = ProgramSpec::new(Invocation::Shell(text.into()), std::env::temp_dir());
        spec.timeout = Duration::from_secs(5);
        spec
    }

    fn prompt(expect: &str, send: &str, secret: bool) -> Prompt {
        Prompt { expect: regex::Regex::new(expect).unwrap(), send: send.into(), secret }
    }

    #[test]
    fn exit_code_and_streams() {
        let out = run_program(&shell("echo out; echo err >&2; exit 3")).unwrap();
        assert_eq!(out.exit, Exit::Code(3));
        assert_eq!(out.stdout, b"out\n");
        assert_eq!(out.stderr, b"err\n");
    }

    #[test]
    fn argv_with_env_and_cwd() {
        let dir = tempfile::tempdir().unwrap();
        let argv = ["sh", "-c", "printf '%s %s' \"$GREETING\" \"$(pwd)\""].map(String::from).to_vec();
        let mut spec = ProgramSpec::new(Invocation::Argv(argv), dir.path());
        spec.env.push(("GREETING".into(), "hello".into()));
        let out = run_program(&spec).unwrap();
        let cwd = dir.path().canonicalize().unwrap();
        assert_eq!(String::from_utf8(out.stdout).unwrap(), format!("hello {}", cwd.display()));
        assert!(out.exit.success());
    }

    #[test]
    fn signal() {
        let out = run_program(&shell("kill -TERM $$")).unwrap();
        assert_eq!(out.exit, Exit::Signal(15));
    }

    #[test]
    fn binary_stdout_is_exact() {
        let out = run_program(&shell(r"printf '\000\377\r\n'")).unwrap();
        assert_eq!(out.stdout, [0x00, 0xff, b'\r', b'\n']);
        let mut spec = shell(r"printf '\000\377\r\n'");
        spec.terminal = true;
        assert_eq!(run_program(&spec).unwrap().stdout, [0x00, 0xff, b'\r', b'\n']);
    }

    #[test]
    fn stdin_text_and_file() {
        let mut spec = shell("tr a-z A-Z");
        spec.input = Input::Text(b"abc\x00\n".to_vec());
        assert_eq!(run_program(&spec).unwrap().stdout, b"ABC\x00\n");

        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("in.txt"), b"from a file").unwrap();
        spec.cwd = dir.path().into();
        spec.input = Input::File("in.txt".into());
        assert_eq!(run_program(&spec).unwrap().stdout, b"FROM A FILE");

        spec.input = Input::File("missing.txt".into());
        assert!(matches!(run_program(&spec), Err(ProgramError::BadInput(_))));
    }

    #[test]
    fn large_output_on_both_streams_does_not_deadlock() {
        let out = run_program(&shell("head -c 3000000 /dev/zero; head -c 3000000 /dev/zero >&2")).unwrap();
        assert_eq!((out.stdout.len(), out.stderr.len()), (3_000_000, 3_000_000));
    }

    #[test]
    fn text_typed_into_the_terminal() {
        // No newline at the end: two ^D, the first sends the partial line.
        let mut spec = shell("test -t 0 && cat | od -An -c");
        spec.terminal = true;
        spec.input = Input::Text(b"one\ntwo".to_vec());
        let out = run_program(&spec).unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        assert_eq!(text.split_whitespace().collect::<Vec<_>>(), ["o", "n", "e", "\\n", "t", "w", "o"], "{text}");
        // A complete last line: one ^D, so a later read does not see a stray end-of-file.
        let mut spec = shell("cat; read next; echo \"next=$next\"");
        spec.input = Input::Text(b"line\n".to_vec());
        spec.prompts.push(prompt("line", "after", false));
        let out = run_program(&spec).unwrap();
        assert_eq!(out.stdout, b"line\nnext=after\n");
    }

    #[test]
    fn secret_prompt_on_the_terminal() {
        let mut spec = shell(r#"printf "PIN: " >&2; stty -echo; read pin; stty echo; echo "got $pin""#);
        spec.prompts.push(prompt("PIN: ", "1234", true));
        let out = run_program(&spec).unwrap();
        assert_eq!(out.stdout, b"got 1234\n");
        assert!(out.exit.success());
        let shown = String::from_utf8_lossy(&out.stderr);
        assert!(shown.contains("PIN: ") && !shown.contains("1234"), "{shown:?}");
    }

    #[test]
    fn two_prompts_in_order() {
        let mut spec = shell(r#"printf "user? " >&2; read u; printf "pass? " >&2; stty -echo; read p; stty echo; echo "$u:$p""#);
        spec.prompts = vec![prompt(r"user\? ", "alice", false), prompt(r"pass\? ", "s3cret", true)];
        let out = run_program(&spec).unwrap();
        assert_eq!(out.stdout, b"alice:s3cret\n");
        // A visible answer is echoed by the terminal, like on a real one.
        assert!(String::from_utf8_lossy(&out.stderr).contains("user? alice\r\n"));
    }

    #[test]
    fn prompt_never_comes() {
        let mut spec = shell(r#"printf "Password: \033[1m" >&2; sleep 10"#);
        spec.prompts.push(prompt("PIN: ", "1234", true));
        spec.timeout = Duration::from_millis(300);
        let started = Instant::now();
        let err = run_program(&spec).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(2));
        let ProgramError::PromptNeverCame { expect, seen, ended: None, .. } = &err else { panic!("{err:?}") };
        assert_eq!((expect.as_str(), seen.as_str()), ("PIN: ", r"Password: \u{1b}[1m"));
        assert!(err.to_string().contains("Password"), "{err}");
    }

    #[test]
    fn prompt_never_comes_because_the_program_ended() {
        let mut spec = shell("echo bye >&2; exit 4");
        spec.prompts.push(prompt("PIN: ", "1234", false));
        let err = run_program(&spec).unwrap_err();
        let ProgramError::PromptNeverCame { seen, ended: Some(Exit::Code(4)), .. } = &err else { panic!("{err:?}") };
        assert_eq!(seen, r"bye\r\n");
    }

    #[test]
    fn secret_not_typed_while_echo_is_on() {
        let mut spec = shell(r#"printf "PIN: " >&2; read pin; echo "$pin""#);
        spec.prompts.push(prompt("PIN: ", "1234", true));
        spec.timeout = Duration::from_millis(300);
        let err = run_program(&spec).unwrap_err();
        assert!(matches!(err, ProgramError::EchoStayedOn { .. }), "{err:?}");
    }

    #[test]
    fn timeout_kills_the_group() {
        let dir = tempfile::tempdir().unwrap();
        let mut spec = shell("sleep 10 & echo $! > bg.pid; echo started; sleep 10");
        spec.cwd = dir.path().into();
        spec.timeout = Duration::from_millis(300);
        let started = Instant::now();
        let err = run_program(&spec).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
        let ProgramError::TimedOut { stdout_tail, .. } = &err else { panic!("{err:?}") };
        assert_eq!(stdout_tail, r"started\n");
        // The background `sleep` went with it (gone, or a zombie nobody has reaped yet).
        let pid = std::fs::read_to_string(dir.path().join("bg.pid")).unwrap();
        let stat = format!("/proc/{}/stat", pid.trim());
        let dead = || std::fs::read_to_string(&stat).map_or(true, |s| s.rsplit(')').next().unwrap().trim_start().starts_with('Z'));
        let waited = Instant::now();
        while !dead() && waited.elapsed() < Duration::from_millis(500) {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(dead(), "the background sleep {} survived", pid.trim());
    }

    #[test]
    fn timeout_in_a_terminal() {
        let mut spec = shell("sleep 10");
        spec.terminal = true;
        spec.timeout = Duration::from_millis(300);
        let started = Instant::now();
        assert!(matches!(run_program(&spec), Err(ProgramError::TimedOut { .. })));
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn output_cap() {
        for (terminal, script, stream) in
            [(false, "yes", "stdout"), (true, "yes", "stdout"), (false, "yes >&2", "stderr"), (true, "yes >&2", "the terminal")]
        {
            let mut spec = shell(script);
            spec.terminal = terminal;
            spec.output_cap = 1 << 20;
            let started = Instant::now();
            let err = run_program(&spec).unwrap_err();
            assert!(
                matches!(err, ProgramError::OutputCap { stream: s, cap: 1_048_576 } if s == stream),
                "{script} terminal={terminal}: {err:?}"
            );
            assert!(started.elapsed() < Duration::from_secs(2), "{script} terminal={terminal}: {:?}", started.elapsed());
        }
    }

    #[test]
    fn output_exactly_at_the_cap_is_kept() {
        let mut spec = shell("head -c 1000 /dev/zero");
        spec.output_cap = 1000;
        assert_eq!(run_program(&spec).unwrap().stdout.len(), 1000);
        spec.output_cap = 999;
        assert!(matches!(run_program(&spec), Err(ProgramError::OutputCap { stream: "stdout", cap: 999 })));
    }

    #[test]
    fn not_found_and_bad_input() {
        let spec = ProgramSpec::new(Invocation::Argv(vec!["mynasim-no-such-program".into()]), std::env::temp_dir());
        let err = run_program(&spec).unwrap_err();
        assert!(matches!(&err, ProgramError::NotFound { program } if program == "mynasim-no-such-program"), "{err:?}");
        assert!(err.to_string().contains("install it or give its full path"));
        let spec = ProgramSpec::new(Invocation::Argv(vec!["./nothing-here".into()]), std::env::temp_dir());
        assert!(matches!(run_program(&spec), Err(ProgramError::NotFound { .. })));
        let spec = ProgramSpec::new(Invocation::Argv(vec![]), std::env::temp_dir());
        assert!(matches!(run_program(&spec), Err(ProgramError::BadInput(_))));
        let spec = ProgramSpec::new(Invocation::Shell("true".into()), "/nonexistent/dir");
        assert!(matches!(run_program(&spec), Err(ProgramError::BadInput(_))));
    }

    #[test]
    fn terminal_is_the_controlling_terminal() {
        if find_program("setsid").is_none() {
            return;
        }
        // /dev/tty is the pseudo-terminal: the prompt is answered there.
        let mut spec = shell(r#"printf "code: " > /dev/tty; read c < /dev/tty; echo "c=$c""#);
        spec.input = Input::Null;
        spec.prompts.push(prompt("code: ", "42", false));
        assert_eq!(run_program(&spec).unwrap().stdout, b"c=42\n");
        // Without a terminal there is no /dev/tty at all, so no program reaches the
        // harness's own terminal.
        let out = run_program(&shell("exec 3</dev/tty && echo opened")).unwrap();
        assert!(!out.exit.success() && out.stdout.is_empty());
    }

    #[test]
    fn tail_escapes_and_cuts() {
        assert_eq!(tail(b"a\r\nb\x1b"), r"a\r\nb\u{1b}");
        let long = "é".repeat(600);
        let cut = tail(long.as_bytes());
        assert!(cut.starts_with('…') && cut.chars().count() == TAIL_CHARS + 1);
    }

    #[test]
    fn secret_is_not_debug_printed() {
        let shown = format!("{:?}", prompt("PIN: ", "1234", true));
        assert!(!shown.contains("1234"), "{shown}");
    }
}
