//! Shared by the tests that talk PC/SC in process: a private sandbox serving cards from
//! profiles written as YAML text, and this process's PC/SC context pointed at it.
//!
//! pcsc-lite reads `PCSCLITE_CSOCK_NAME` once per process, so a test binary using this
//! holds one test (one sandbox). [`wait_presence`] serves any test with a PC/SC context,
//! and [`ServePrivate`] any test of the `mynasim serve --private` command.

#![allow(dead_code, clippy::unwrap_used)]

use std::ffi::{CStr, CString};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use mynasim_harness::sandbox::{CardSource, Sandbox, SandboxOptions};

/// A running sandbox with its cards' profiles, and the PC/SC view of it.
pub struct PcscSandbox {
    /// The profiles' folder (kept for the sandbox's life).
    pub dir: tempfile::TempDir,
    /// The sandbox (pcscd, vpcd, the cards).
    pub sandbox: Sandbox,
    /// A context on the sandbox's pcscd.
    pub context: pcsc::Context,
    /// The reader of each card, in the order of the profiles.
    pub readers: Vec<CString>,
}

/// Serves one card per YAML text (at most two: vpcd's two slots) and connects PC/SC to it.
pub fn start(profiles: &[&str]) -> PcscSandbox {
    let dir = tempfile::tempdir().unwrap();
    let mut options = SandboxOptions::new(env!("CARGO_BIN_EXE_mynasim"));
    options.cards = profiles
        .iter()
        .enumerate()
        .map(|(n, yaml)| {
            let path = dir.path().join(format!("card-{n}.yaml"));
            std::fs::write(&path, yaml).unwrap();
            CardSource::Profile(Some(path))
        })
        .collect();
    let sandbox = Sandbox::start(&options).unwrap();
    std::env::set_var("PCSCLITE_CSOCK_NAME", sandbox.socket());
    let context = pcsc::Context::establish(pcsc::Scope::User).unwrap();
    let mut names = [0u8; 2048];
    let mut readers: Vec<CString> = context.list_readers(&mut names).unwrap().map(CStr::to_owned).collect();
    // vpcd always shows both its slots; card n is in slot n.
    assert!(readers.len() >= profiles.len(), "{readers:?}");
    readers.truncate(profiles.len());
    PcscSandbox { dir, sandbox, context, readers }
}

/// The profile of card `n` as written by [`start`].
pub fn profile_path(sandbox: &PcscSandbox, n: usize) -> std::path::PathBuf {
    sandbox.dir.path().join(format!("card-{n}.yaml"))
}

/// Waits until pcscd reports `reader` with a card (`present`) or empty.
pub fn wait_presence(context: &pcsc::Context, reader: &CStr, present: bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut states = [pcsc::ReaderState::new(reader, pcsc::State::UNAWARE)];
    loop {
        context.get_status_change(std::time::Duration::from_millis(500), &mut states).ok();
        if states[0].event_state().contains(pcsc::State::PRESENT) == present {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "the reader did not become {}", if present { "present" } else { "empty" });
        states[0].sync_current_state();
    }
}

/// `mynasim serve --private` once it printed `# ready`, with what it printed before; the
/// process is stopped with SIGTERM (its sandbox with it) when dropped.
pub struct ServePrivate {
    /// The serve process (its standard output is closed: serve goes on without it).
    pub child: Child,
    /// pcscd's socket, for `PCSCLITE_CSOCK_NAME`.
    pub pcscd_socket: String,
    /// The control socket (`# control:`).
    pub control_socket: PathBuf,
    /// The inspector's URL with its token (`# inspector:`), when `--inspect` was given.
    pub inspector_url: Option<String>,
}

impl ServePrivate {
    /// Starts `mynasim serve --private ARGS` with `env` added to its environment and its
    /// standard error to `stderr`, and waits for `# ready`.
    pub fn start(args: &[&str], env: &[(&str, &Path)], stderr: Stdio) -> ServePrivate {
        let mut command = Command::new(env!("CARGO_BIN_EXE_mynasim"));
        command.args(["serve", "--private"]).args(args).stdout(Stdio::piped()).stderr(stderr);
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let (mut pcscd_socket, mut control_socket, mut inspector_url) = (None, None, None);
        let mut said = Vec::new();
        for line in stdout.lines().map_while(Result::ok) {
            if let Some(socket) = line.strip_prefix("export PCSCLITE_CSOCK_NAME=") {
                pcscd_socket = Some(socket.to_owned());
            } else if let Some(socket) = line.strip_prefix("# control: mynasim ctl status (socket ") {
                control_socket = Some(PathBuf::from(socket.trim_end_matches(')')));
            } else if let Some(url) = line.strip_prefix("# inspector: ") {
                inspector_url = Some(url.to_owned());
            } else if line.starts_with("# ready") {
                let (Some(pcscd_socket), Some(control_socket)) = (pcscd_socket, control_socket) else {
                    panic!("serve said ready without the pcscd and control sockets: {said:?}");
                };
                return ServePrivate { child, pcscd_socket, control_socket, inspector_url };
            }
            said.push(line);
        }
        let status = child.wait().unwrap();
        panic!("serve --private ended ({status}) before it was ready, having said {said:?}");
    }

    /// The sandbox's folder (pcscd's socket is `<folder>/pcscd/pcscd.comm`).
    pub fn sandbox_dir(&self) -> &Path {
        Path::new(&self.pcscd_socket).parent().and_then(Path::parent).unwrap()
    }

    /// Sends the signal named `signal` (`INT`, `TERM`, `KILL`...) to serve.
    pub fn signal(&self, signal: &str) {
        Command::new("kill").args([&format!("-{signal}"), &self.child.id().to_string()]).status().unwrap();
    }
}

impl Drop for ServePrivate {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        }
        let _ = self.child.wait();
    }
}
