//! Driving real client programs against a sandbox.
//!
//! `jpki-cli` (siketyan/jpki-rs) asks for PINs on a terminal with `dialoguer`, which
//! flushes pending input (TCSAFLUSH) before reading and, with no terminal at all, loops on
//! the prompt for ever printing hundreds of MB (shared/PLATFORM.md). So it runs in a
//! pseudo-terminal, with a time limit; the PIN is typed only once the prompt has appeared;
//! its standard output goes to a file so binary results are not mangled by the terminal.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Why a client run failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The program is not installed.
    #[error("{0} is not installed; run `cargo install --locked jpki-cli`")]
    NotInstalled(&'static str),
    /// The program could not be started or read.
    #[error("cannot run {program}")]
    Io {
        /// The program.
        program: String,
        /// Why.
        source: std::io::Error,
    },
    /// The pseudo-terminal session failed (no prompt, time limit).
    #[error("jpki-cli {args:?}: {what}")]
    Terminal {
        /// The arguments.
        args: Vec<String>,
        /// What was expected.
        what: &'static str,
        /// Why.
        source: rexpect::error::Error,
    },
    /// The program ran and reported a failure.
    #[error("jpki-cli {args:?} failed ({status}): {output}")]
    Failed {
        /// The arguments.
        args: Vec<String>,
        /// Exit status as reported.
        status: String,
        /// What it printed.
        output: String,
    },
    /// Typed input must be one short line.
    #[error("typed input must be one line of UTF-8, at most 1024 bytes")]
    Input,
}

type Result<T, E = ClientError> = std::result::Result<T, E>;

fn owned(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| (*a).to_owned()).collect()
}

/// How long one client run may take.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

/// `jpki-cli` pointed at one pcscd.
#[derive(Clone, Debug)]
pub struct JpkiCli {
    program: PathBuf,
    socket: PathBuf,
}

impl JpkiCli {
    /// `jpki-cli` from `PATH` (or `~/.cargo/bin`), talking to the pcscd at `socket`.
    pub fn new(socket: impl Into<PathBuf>) -> Result<JpkiCli> {
        let program = find_program("jpki-cli").ok_or(ClientError::NotInstalled("jpki-cli"))?;
        Ok(JpkiCli { program, socket: socket.into() })
    }

    /// Runs a command that asks for no PIN; returns its standard output.
    pub fn run(&self, args: &[&str]) -> Result<Vec<u8>> {
        // (jpki-cli exits 0 after errors: they show as `ERROR` on standard error.)
        let output = Command::new(&self.program)
            .args(args)
            .env("PCSCLITE_CSOCK_NAME", &self.socket)
            // A prompt with no terminal would loop for ever: make sure it cannot happen.
            .stdin(Stdio::null())
            .output()
            .map_err(|source| ClientError::Io { program: self.program.display().to_string(), source })?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() || stderr.contains("ERROR") {
            return Err(ClientError::Failed { args: owned(args), status: output.status.to_string(), output: stderr.trim().to_owned() });
        }
        Ok(output.stdout)
    }

    /// Runs a command in a pseudo-terminal, types `input` (then end-of-file) if given,
    /// types `pin` at its prompt, and returns its standard output.
    ///
    /// jpki-cli exits 0 even when it fails (it only logs `ERROR`), so its terminal output
    /// is checked too. Its standard input must be the terminal: with a file there, its
    /// prompt fails with EBADF.
    pub fn run_with_pin(&self, args: &[&str], pin: &str, input: Option<&[u8]>) -> Result<Vec<u8>> {
        let io = |source| ClientError::Io { program: "jpki-cli".into(), source };
        let terminal = |what| move |source| ClientError::Terminal { args: owned(args), what, source };
        let work = tempfile::tempdir().map_err(io)?;
        let out = work.path().join("stdout");
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg("out=$1; shift; exec \"$@\" > \"$out\"")
            .arg("sh")
            .arg(&out)
            .arg(&self.program)
            .args(args)
            .env("PCSCLITE_CSOCK_NAME", &self.socket)
            .env("NO_COLOR", "1");
        let timeout_ms = u64::try_from(CLIENT_TIMEOUT.as_millis()).unwrap_or(u64::MAX);
        let mut session =
            rexpect::session::spawn_command(command, Some(timeout_ms)).map_err(terminal("a pseudo-terminal session"))?;
        if let Some(input) = input {
            let text = std::str::from_utf8(input).map_err(|_| ClientError::Input)?;
            if text.contains('\n') || text.len() > 1024 {
                return Err(ClientError::Input);
            }
            session.send(text).map_err(terminal("to take typed input"))?;
            // The first ^D ends the partial line, the second is end-of-file.
            session.send_control('d').map_err(terminal("to take end-of-file"))?;
            session.send_control('d').map_err(terminal("to take end-of-file"))?;
        }
        session.exp_regex(r"pin_hint[^:]*: ").map_err(terminal("a PIN prompt"))?;
        session.send_line(pin).map_err(terminal("to take the PIN"))?;
        let transcript = session.exp_eof().unwrap_or_default();
        let status = session.process().wait().map_err(terminal("to finish"))?;
        if !matches!(status, rexpect::process::WaitStatus::Exited(_, 0)) || transcript.contains("ERROR") {
            return Err(ClientError::Failed { args: owned(args), status: format!("{status:?}"), output: transcript.trim().to_owned() });
        }
        std::fs::read(&out).map_err(io)
    }
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
