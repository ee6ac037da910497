//! Live control through the real stack: `mynasim serve --private` (pcscd + vpcd in a
//! sandbox), a PC/SC client connected to its card with the `pcsc` crate, and `mynasim ctl`
//! changing the card under it: a locked PIN answers `69 84` to the client's next VERIFY,
//! a removed card is `SCARD_W_REMOVED_CARD`, an office reset with a new PIN verifies, and
//! `ctl watch` shows the client's APDUs decoded.
//!
//! One test: pcsc-lite reads `PCSCLITE_CSOCK_NAME` once per process.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod pcsc_sandbox;

use pcsc_sandbox::{wait_presence, ServePrivate};

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const MYNASIM: &str = env!("CARGO_BIN_EXE_mynasim");
const SELECT_JPKI: &[u8] = &[0x00, 0xA4, 0x04, 0x0C, 0x0A, 0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01];
const SELECT_AUTH_PIN: &[u8] = &[0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x18];

fn ctl(runtime: &Path, args: &[&str]) -> String {
    let out = Command::new(MYNASIM).arg("ctl").args(args).env("XDG_RUNTIME_DIR", runtime).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "ctl {args:?} failed: {}{}", text, String::from_utf8_lossy(&out.stderr));
    text
}

fn send(card: &pcsc::Card, apdu: &[u8]) -> Result<Vec<u8>, pcsc::Error> {
    let mut buf = [0u8; 4096];
    card.transmit(apdu, &mut buf).map(<[u8]>::to_vec)
}

fn verify(pin: &[u8]) -> Vec<u8> {
    let mut apdu = vec![0x00, 0x20, 0x00, 0x80, pin.len() as u8];
    apdu.extend_from_slice(pin);
    apdu
}

#[test]
fn ctl_changes_the_card_under_a_connected_pcsc_client() {
    let runtime = tempfile::tempdir().unwrap();
    let serve = ServePrivate::start(&[], &[("XDG_RUNTIME_DIR", runtime.path())], Stdio::null());
    assert!(serve.control_socket.exists());
    std::env::set_var("PCSCLITE_CSOCK_NAME", &serve.pcscd_socket);
    let context = pcsc::Context::establish(pcsc::Scope::User).unwrap();
    let mut names = [0u8; 2048];
    let reader = context.list_readers(&mut names).unwrap().next().unwrap().to_owned();

    // ctl finds the one running serve by itself, and lists it.
    assert!(ctl(runtime.path(), &["list"]).contains("cards: default"));

    // A watcher from the start sees the client's APDUs, decoded.
    let watcher = Command::new(MYNASIM)
        .args(["ctl", "watch", "--json", "--count", "4"])
        .env("XDG_RUNTIME_DIR", runtime.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));

    let card = context.connect(&reader, pcsc::ShareMode::Shared, pcsc::Protocols::ANY).unwrap();
    assert_eq!(send(&card, SELECT_JPKI).unwrap(), [0x90, 0x00]);
    assert_eq!(send(&card, SELECT_AUTH_PIN).unwrap(), [0x90, 0x00]);
    assert_eq!(send(&card, &[0x00, 0x20, 0x00, 0x80]).unwrap(), [0x63, 0xC3], "3 tries left");

    // Locked from outside while the client stays connected: its next VERIFY is refused.
    assert!(ctl(runtime.path(), &["lock", "auth"]).contains("auth PIN locked"));
    assert_eq!(send(&card, &verify(b"1234")).unwrap(), [0x69, 0x84]);
    let status: serde_json::Value = serde_json::from_str(&ctl(runtime.path(), &["status", "--json"])).unwrap();
    let auth = &status["cards"][0]["pins"][0];
    assert_eq!((auth["pin"].as_str(), auth["remaining"].as_u64(), auth["blocked"].as_bool()), (Some("auth"), Some(0), Some(true)));
    assert_eq!(status["cards"][0]["applet"], "jpki");
    assert_eq!(status["cards"][0]["ef"], "0018");

    let watched = watcher.wait_with_output().unwrap();
    let lines: Vec<serde_json::Value> =
        String::from_utf8_lossy(&watched.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let apdus: Vec<(&str, &str)> =
        lines.iter().filter(|e| e["event"] == "apdu").map(|e| (e["name"].as_str().unwrap(), e["response"].as_str().unwrap())).collect();
    assert_eq!(apdus.len(), 4, "{lines:#?}");
    assert_eq!(apdus[0], ("SELECT 公的個人認証AP", "9000"));
    assert!(apdus[1].0.starts_with("SELECT EF 0018"), "{apdus:?}");
    assert_eq!(apdus[3].1, "6984");
    let verify_event = lines.iter().find(|e| e["event"] == "apdu" && e["response"] == "6984").unwrap();
    assert_eq!(verify_event["command"], "0020008004********", "PIN bytes are masked");
    assert!(lines.iter().any(|e| e["event"] == "control" && e["done"].as_str().unwrap().contains("locked")), "{lines:#?}");

    // Pulled out: the client sees the card removed.
    ctl(runtime.path(), &["remove"]);
    wait_presence(&context, &reader, false);
    assert_eq!(send(&card, SELECT_JPKI).unwrap_err(), pcsc::Error::RemovedCard);
    drop(card);

    // Back in, reset by the office with a new PIN: the new PIN verifies.
    ctl(runtime.path(), &["insert"]);
    wait_presence(&context, &reader, true);
    assert!(ctl(runtime.path(), &["office-reset", "auth", "--new-pin", "5678"]).contains("3 of 3 tries left"));
    let card = context.connect(&reader, pcsc::ShareMode::Shared, pcsc::Protocols::ANY).unwrap();
    assert_eq!(send(&card, SELECT_JPKI).unwrap(), [0x90, 0x00]);
    assert_eq!(send(&card, SELECT_AUTH_PIN).unwrap(), [0x90, 0x00]);
    assert_eq!(send(&card, &verify(b"5678")).unwrap(), [0x90, 0x00]);

    // One try left, from the command line.
    ctl(runtime.path(), &["pin", "auth", "--remaining", "1"]);
    assert_eq!(send(&card, &[0x00, 0x20, 0x00, 0x80]).unwrap(), [0x63, 0xC1]);

    // A latency fault on signatures only, then cleared.
    assert!(ctl(runtime.path(), &["fault", "latency", "300ms", "--ins", "2A"]).contains("latency 300ms on INS 2A"));
    let started = Instant::now();
    send(&card, &[0x80, 0x2A, 0x00, 0x80, 0x01, 0x00]).unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    ctl(runtime.path(), &["fault", "clear"]);
    let status: serde_json::Value = serde_json::from_str(&ctl(runtime.path(), &["status", "--json"])).unwrap();
    assert_eq!(status["cards"][0]["faults"], serde_json::json!([]));
}
