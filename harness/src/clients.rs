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

use anyhow::{bail, Context, Result};

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
        let program = find_program("jpki-cli").context("jpki-cli is not installed; run `cargo install --locked jpki-cli`")?;
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
            .with_context(|| format!("cannot run {}", self.program.display()))?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() || stderr.contains("ERROR") {
            bail!("jpki-cli {args:?} failed ({}): {}", output.status, stderr.trim());
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
        let work = tempfile::tempdir()?;
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
        let mut session = rexpect::session::spawn_command(command, Some(timeout_ms)).context("cannot start jpki-cli in a pseudo-terminal")?;
        if let Some(input) = input {
            if input.contains(&b'\n') || input.len() > 1024 {
                bail!("typed input must be one line of at most 1024 bytes");
            }
            session.send(std::str::from_utf8(input).context("typed input must be UTF-8")?)?;
            // The first ^D ends the partial line, the second is end-of-file.
            session.send_control('d')?;
            session.send_control('d')?;
        }
        session.exp_regex(r"pin_hint[^:]*: ").context("jpki-cli did not ask for the PIN")?;
        session.send_line(pin)?;
        let transcript = session.exp_eof().unwrap_or_default();
        let status = session.process().wait().context("jpki-cli did not finish")?;
        if !matches!(status, rexpect::process::WaitStatus::Exited(_, 0)) || transcript.contains("ERROR") {
            bail!("jpki-cli {args:?} failed ({status:?}): {}", transcript.trim());
        }
        std::fs::read(&out).context("cannot read jpki-cli's output")
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
