//! What happens to a sandbox when things go wrong: its owner killed with SIGKILL, pcscd
//! dying inside it, signals to a `serve` started in the background by a script; and where
//! its logs go.

#![allow(clippy::unwrap_used)]

mod pcsc_sandbox;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use pcsc_sandbox::ServePrivate;
use std::time::{Duration, Instant};

/// Processes whose command line mentions `needle`.
fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(needle) {
            found.push(format!("{}: {cmdline}", entry.file_name().to_string_lossy()));
        }
    }
    found
}

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "{what} within {timeout:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_sandbox_dies_with_its_owner_and_the_next_start_removes_its_folder() {
    let mut serve = ServePrivate::start(&[], &[], Stdio::null());
    let dir = serve.sandbox_dir().display().to_string();
    assert!(!processes_mentioning(&dir).is_empty(), "the sandbox runs");
    serve.signal("KILL");
    serve.child.wait().unwrap();
    // pcscd, the card servers and PID 1 go with it.
    wait_until("every process of the sandbox gone", Duration::from_secs(5), || processes_mentioning(&dir).is_empty());
    // (pcscd had no chance to remove its socket file, but nothing answers on it.)
    assert!(std::os::unix::net::UnixStream::connect(Path::new(&dir).join("pcscd/pcscd.comm")).is_err(), "pcscd still answers");
    // Only the folder stays; the next sandbox start removes it (perhaps another test's,
    // running beside this one).
    let next =
        mynasim_harness::sandbox::Sandbox::start(&mynasim_harness::sandbox::SandboxOptions::new(env!("CARGO_BIN_EXE_mynasim"))).unwrap();
    assert!(!Path::new(&dir).exists(), "{dir} was not cleaned up");
    drop(next);
}

#[test]
fn pcscd_dying_ends_serve_with_a_message_and_exit_code_1() {
    let mut serve = ServePrivate::start(&[], &[], Stdio::piped());
    let dir = serve.sandbox_dir().display().to_string();
    let pcscd: Vec<String> = processes_mentioning(&format!("{dir}/reader.conf.d")).into_iter().filter(|p| p.contains("pcscd ")).collect();
    assert_eq!(pcscd.len(), 1, "{pcscd:?}");
    let pid = pcscd[0].split(':').next().unwrap().to_owned();
    Command::new("kill").args(["-KILL", &pid]).status().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(status) = serve.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "serve --private did not notice pcscd's death");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut serve.child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("pcscd killed by signal 9 (SIGKILL) died"), "{stderr}");
    wait_until("every process of the sandbox gone", Duration::from_secs(5), || processes_mentioning(&dir).is_empty());
}

#[test]
fn private_mode_logs_reach_the_terminal_or_a_file() {
    // Standard error: the cards' own log lines.
    let mut serve = ServePrivate::start(&["--log", "debug"], &[], Stdio::piped());
    serve.signal("INT");
    let status = serve.child.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut serve.child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("connected to vpcd"), "{stderr}");
    // A file the user names, which outlives the sandbox.
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut serve = ServePrivate::start(&["--log", "debug", "--log-file", log.path().to_str().unwrap()], &[], Stdio::piped());
    serve.signal("TERM");
    assert!(serve.child.wait().unwrap().success());
    let text = std::fs::read_to_string(log.path()).unwrap();
    assert!(text.contains("connected to vpcd"), "{text}");
}

#[test]
fn system_mode_stops_on_int_term_and_hup_even_started_in_the_background() {
    for signal in ["INT", "TERM", "HUP"] {
        // Play vpcd: once the card has connected, its signal handlers are in place.
        let vpcd = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = vpcd.local_addr().unwrap().port();
        let ready = tempfile::NamedTempFile::new().unwrap();
        // A script's background job starts with SIGINT ignored.
        let script = format!(
            "{} serve --vpcd 127.0.0.1:{port} --ready-file {} >/dev/null 2>&1 & echo $!; wait",
            env!("CARGO_BIN_EXE_mynasim"),
            ready.path().display()
        );
        let mut shell = Command::new("sh").args(["-c", &script]).stdout(Stdio::piped()).spawn().unwrap();
        let mut lines = BufReader::new(shell.stdout.take().unwrap()).lines();
        let pid = lines.next().unwrap().unwrap();
        let (_card, _) = vpcd.accept().unwrap();
        Command::new("kill").args([&format!("-{signal}"), &pid]).status().unwrap();
        wait_until(&format!("serve gone after SIG{signal}"), Duration::from_secs(5), || !Path::new(&format!("/proc/{pid}")).exists());
        shell.wait().unwrap();
    }
}

/// The kernel's ephemeral port range inside the namespaces of process `pid`.
fn ephemeral_ports_of(pid: &str) -> String {
    let mut nsenter = Command::new("nsenter");
    nsenter.args(["--target", pid, "--net"]);
    if !std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
    {
        nsenter.args(["--user", "--preserve-credentials"]);
    }
    let out = nsenter.args(["cat", "/proc/sys/net/ipv4/ip_local_port_range"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A card's connect to vpcd is never given vpcd's own port as its local port (TCP
/// simultaneous open would connect it to itself and keep vpcd from binding its port: a
/// sandbox then never shows its card). In the sandbox and in a scenario's worker alike, the
/// kernel's ephemeral ports start above vpcd's two.
#[test]
fn ephemeral_ports_stay_above_vpcds_in_sandboxes_and_scenario_workers() {
    let above_vpcd = format!("{} 60999", mynasim_harness::sandbox::card_port(mynasim_harness::sandbox::MAX_CARDS));
    let serve = ServePrivate::start(&[], &[], Stdio::null());
    let dir = serve.sandbox_dir().display().to_string();
    let init = processes_mentioning(&format!("sandbox-init {dir}"));
    let pid = init.first().and_then(|p| p.split(':').next()).unwrap_or_else(|| panic!("no sandbox-init for {dir}"));
    assert_eq!(ephemeral_ports_of(pid), above_vpcd);
    drop(serve);

    let scenario = tempfile::Builder::new().suffix(".yaml").tempfile().unwrap();
    std::fs::write(
        scenario.path(),
        format!(
            "name: ports\nsteps:\n  - run: [cat, /proc/sys/net/ipv4/ip_local_port_range]\n    stdout:\n      contains: [\"{}\"]\n",
            above_vpcd.replace(' ', "\\t")
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mynasim")).arg("run").arg(scenario.path()).output().unwrap();
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}
