//! Shared by the tests that talk PC/SC in process: a private sandbox serving cards from
//! profiles written as YAML text, and this process's PC/SC context pointed at it.
//!
//! pcsc-lite reads `PCSCLITE_CSOCK_NAME` once per process, so a test binary using this
//! holds one test (one sandbox). [`wait_presence`] serves any test with a PC/SC context.

#![allow(dead_code, clippy::unwrap_used)]

use std::ffi::{CStr, CString};

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
