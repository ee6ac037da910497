//! pcscd as a child process, for the two places that run one inside namespaces of their
//! own: a sandbox's PID 1 ([`super::init`]) and a scenario's worker
//! ([`crate::scenario::worker`]).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a stopped process has between SIGTERM and SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(3);

/// Starts `pcscd --foreground` on the reader configuration folder `config` (vpcd's
/// entry, [`super::vpcd_reader_conf`]), its output to `stdout` and `stderr`.
pub fn spawn(config: &Path, stdout: Stdio, stderr: Stdio) -> Result<Child, String> {
    Command::new("pcscd")
        .args(["--foreground", "--config"])
        .arg(config)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .map_err(|e| format!("cannot start pcscd: {e}"))
}

/// Stops a child politely (SIGTERM: pcscd removes its socket), then, after
/// [`STOP_GRACE`], not (SIGKILL); and reaps it.
pub fn stop(child: &mut Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGTERM);
    }
    let deadline = Instant::now() + STOP_GRACE;
    while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = child.kill();
    let _ = child.wait();
}
