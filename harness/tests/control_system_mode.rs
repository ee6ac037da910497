//! `serve` in system mode opens its control socket where `ctl` finds it (the runtime
//! folder), a change from `ctl` is in the state file when `ctl` returns, and the socket is
//! gone when serve stops. This test plays vpcd itself (a TCP listener): system mode needs
//! no pcscd of ours.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const MYNASIM: &str = env!("CARGO_BIN_EXE_mynasim");

fn ctl(runtime: &Path, args: &[&str]) -> std::process::Output {
    Command::new(MYNASIM).arg("ctl").args(args).env("XDG_RUNTIME_DIR", runtime).output().unwrap()
}

#[test]
fn system_mode_control_is_found_durable_and_cleaned_up() {
    let runtime = tempfile::tempdir().unwrap();
    let cards = tempfile::tempdir().unwrap();
    let profile = cards.path().join("alice.yaml");
    std::fs::write(&profile, "state_file: alice-state.yaml\n").unwrap();
    let vpcd = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = vpcd.local_addr().unwrap().port();
    let mut serve = Command::new(MYNASIM)
        .args(["serve", "--vpcd", &format!("127.0.0.1:{port}"), "--ready-file"])
        .arg(cards.path().join("ready"))
        .arg(&profile)
        .env("XDG_RUNTIME_DIR", runtime.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let first = BufReader::new(serve.stdout.take().unwrap()).lines().next().unwrap().unwrap();
    let entry = runtime.path().join(format!("mynasim/serve-{}.sock", serve.id()));
    assert_eq!(first, format!("# control: mynasim ctl status (socket {})", entry.display()));
    let (mut card, _) = vpcd.accept().unwrap();

    // Found without being named; the card is connected to "vpcd".
    let out = ctl(runtime.path(), &["status", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["cards"][0]["card"], "alice");
    assert_eq!(status["cards"][0]["connected"], true);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&entry).unwrap().permissions().mode() & 0o777, 0o600);

    // `ctl watch` prints what the card answers to vpcd's frames, decoded.
    let mut watcher = Command::new(MYNASIM)
        .args(["ctl", "watch", "--count", "1"])
        .env("XDG_RUNTIME_DIR", runtime.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut watcher_err = BufReader::new(watcher.stderr.take().unwrap());
    let mut line = String::new();
    watcher_err.read_line(&mut line).unwrap();
    assert_eq!(line, "# watching 1 card(s); Ctrl-C to stop\n");
    let select = [0x00, 0xA4, 0x04, 0x0C, 0x0A, 0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01];
    let mut frame = vec![0x00, select.len() as u8];
    frame.extend_from_slice(&select);
    card.write_all(&frame).unwrap();
    let mut answer = [0u8; 4];
    card.read_exact(&mut answer).unwrap();
    assert_eq!(answer, [0x00, 0x02, 0x90, 0x00]);
    let watched = watcher.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&watched.stdout);
    assert!(text.contains("> SELECT 公的個人認証AP\n               00A4040C0AD392F000260100000001\n"), "{text}");
    assert!(text.contains("< 90 00 success"), "{text}");

    // Durable before ctl returns: the state file says so.
    let out = ctl(runtime.path(), &["lock", "sign"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "alice: sign PIN locked (0 of 5 tries left)\n");
    let state = std::fs::read_to_string(cards.path().join("alice-state.yaml")).unwrap();
    let sign = state.split("- pin:").find(|e| e.contains("sign")).unwrap();
    assert!(sign.contains("remaining: 0"), "{state}");

    // A bad request is refused by ctl with what to write; exit code 2 for bad arguments.
    let out = ctl(runtime.path(), &["lock", "pn"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("write one of: auth, sign"), "{}", String::from_utf8_lossy(&out.stderr));

    Command::new("kill").args(["-TERM", &serve.id().to_string()]).status().unwrap();
    serve.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while entry.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!entry.exists(), "the control socket is removed on exit");
    let out = ctl(runtime.path(), &["status"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no mynasim serve is running"), "{}", String::from_utf8_lossy(&out.stderr));
}
