//! Driving real client programs against a sandbox.
//!
//! `jpki-cli` (siketyan/jpki-rs) asks for PINs on a terminal with `dialoguer`, which
//! flushes pending input (TCSAFLUSH) before reading and, with no terminal at all, loops on
//! the prompt for ever printing hundreds of MB (shared/PLATFORM.md). So it runs through
//! [`run_program`]: in a pseudo-terminal, with a time limit and an output cap; the PIN is
//! typed only once the prompt has appeared and echo is off; its standard output stays a
//! pipe so binary results are not mangled by the terminal.

use std::path::PathBuf;
use std::time::Duration;

use crate::process::{
    run_program, Input, Invocation, ProgramError, ProgramOutcome, ProgramSpec, Prompt,
};

/// Why a client run failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The program is not installed.
    #[error("{0} is not installed; run `cargo install --locked jpki-cli`")]
    NotInstalled(&'static str),
    /// The program could not be run to the end (not started, no prompt, time limit,
    /// output cap).
    #[error("jpki-cli {args:?}: {source}")]
    Run {
        /// The arguments.
        args: Vec<String>,
        /// Why.
        source: ProgramError,
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
}

type Result<T, E = ClientError> = std::result::Result<T, E>;

fn owned(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| (*a).to_owned()).collect()
}

/// How long one client run may take.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);
/// The most one client run may print on one stream (certificates and the face photo are
/// a few kB; the no-terminal loop prints hundreds of MB).
pub const CLIENT_OUTPUT_CAP: usize = 4 << 20;

/// jpki-cli's PIN prompt, as `dialoguer` shows it.
const PIN_PROMPT: &str = r"pin_hint[^:]*: ";

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
        Ok(JpkiCli {
            program,
            socket: socket.into(),
        })
    }

    fn spec(&self, args: &[&str]) -> ProgramSpec {
        let argv = std::iter::once(self.program.display().to_string())
            .chain(args.iter().map(|a| (*a).to_owned()))
            .collect();
        let mut spec = ProgramSpec::new(Invocation::Argv(argv), ".");
        spec.env = vec![
            (
                "PCSCLITE_CSOCK_NAME".into(),
                self.socket.display().to_string(),
            ),
            ("NO_COLOR".into(), "1".into()),
        ];
        spec.timeout = CLIENT_TIMEOUT;
        spec.output_cap = CLIENT_OUTPUT_CAP;
        spec
    }

    /// Runs `spec`; jpki-cli exits 0 even when it fails (it only logs `ERROR`), so its
    /// standard error (or terminal) is checked too. Returns its standard output.
    fn run_spec(args: &[&str], spec: &ProgramSpec) -> Result<Vec<u8>> {
        let ProgramOutcome {
            exit,
            stdout,
            stderr,
            ..
        } = run_program(spec).map_err(|source| ClientError::Run {
            args: owned(args),
            source,
        })?;
        let stderr = String::from_utf8_lossy(&stderr);
        if !exit.success() || stderr.contains("ERROR") {
            return Err(ClientError::Failed {
                args: owned(args),
                status: exit.to_string(),
                output: stderr.trim().to_owned(),
            });
        }
        Ok(stdout)
    }

    /// Runs a command that asks for no PIN; returns its standard output. Its standard input
    /// is empty, so a prompt fails instead of waiting.
    pub fn run(&self, args: &[&str]) -> Result<Vec<u8>> {
        Self::run_spec(args, &self.spec(args))
    }

    /// Runs a command in a pseudo-terminal, types `input` (then end-of-file) if given,
    /// types `pin` at its prompt, and returns its standard output.
    ///
    /// Its standard input must be the terminal: with a file there, its prompt fails with
    /// EBADF.
    pub fn run_with_pin(&self, args: &[&str], pin: &str, input: Option<&[u8]>) -> Result<Vec<u8>> {
        let mut spec = self.spec(args);
        if let Some(input) = input {
            spec.input = Input::Text(input.to_vec());
        }
        let expect = regex::Regex::new(PIN_PROMPT).map_err(|e| ClientError::Run {
            args: owned(args),
            source: ProgramError::BadInput(format!("PIN prompt pattern: {e}")),
        })?;
        spec.prompts.push(Prompt {
            expect,
            send: pin.to_owned(),
            secret: true,
        });
        Self::run_spec(args, &spec)
    }
}

/// A program on `PATH`, in the sbin folders (not on every user's `PATH`), or in
/// `~/.cargo/bin` (where `cargo install` puts jpki-cli).
pub fn find_program(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(["/usr/sbin", "/sbin"].map(PathBuf::from));
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".cargo/bin"));
    }
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}
