//! The vpcd transport and the sandbox over the real stack: pcscd restarts, several cards,
//! network isolation.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use mynasim_harness::sandbox::{CardSource, Sandbox, SandboxOptions};

fn output(sandbox: &Sandbox, program: &str, args: &[&str]) -> String {
    let out = sandbox.command(program).args(args).output().unwrap();
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn auth_tries(dump: &str) -> String {
    let auth = dump.split("PIN [Digital Signature PIN]").next().unwrap();
    auth.lines().find(|l| l.contains("Tries left")).unwrap_or_default().trim().to_owned()
}

#[test]
fn card_reconnects_after_pcscd_restarts_and_keeps_its_counters() {
    let mut sandbox = Sandbox::start(&SandboxOptions::new(env!("CARGO_BIN_EXE_mynasim"))).unwrap();
    let text = output(&sandbox, "pkcs15-tool", &["--verify-pin", "--auth-id", "01", "--pin", "0000"]);
    assert!(text.contains("PIN code or key incorrect"), "{text}");
    assert_eq!(auth_tries(&output(&sandbox, "pkcs15-tool", &["-D"])), "Tries left     : 2");
    sandbox.restart_pcscd(Duration::from_secs(30)).unwrap();
    let name = sandbox.command("opensc-tool").arg("-n").output().unwrap();
    assert_eq!(String::from_utf8_lossy(&name.stdout).trim(), "jpki", "{}", sandbox.log());
    assert_eq!(auth_tries(&output(&sandbox, "pkcs15-tool", &["-D"])), "Tries left     : 2");
}

#[test]
fn two_cards_one_per_slot_each_answering_for_itself() {
    let profiles = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/profiles");
    let mut options = SandboxOptions::new(env!("CARGO_BIN_EXE_mynasim"));
    options.cards = vec![
        CardSource::Profile(Some(profiles.join("auth-pin-locked.yaml"))),
        CardSource::Profile(Some(profiles.join("sign-pin-one-try-left.yaml"))),
    ];
    let sandbox = Sandbox::start(&options).unwrap();
    let list = output(&sandbox, "opensc-tool", &["-l"]);
    let with_card: Vec<&str> = list.lines().filter(|l| l.contains("Yes")).collect();
    assert_eq!(with_card.len(), 2, "{list}");
    let tries: Vec<String> = (0..2)
        .map(|reader| {
            let dump = output(&sandbox, "pkcs15-tool", &["--reader", &reader.to_string(), "-D"]);
            dump.lines().filter(|l| l.contains("Tries left")).map(|l| l.trim().to_owned()).collect::<Vec<_>>().join(", ")
        })
        .collect();
    assert_eq!(tries, ["Tries left     : 0, Tries left     : 5", "Tries left     : 3, Tries left     : 1"]);
}

#[test]
fn a_third_card_is_refused_with_the_reason() {
    let mut options = SandboxOptions::new(env!("CARGO_BIN_EXE_mynasim"));
    options.cards = vec![CardSource::Profile(None); 3];
    let err = Sandbox::start(&options).unwrap_err().to_string();
    assert!(err.contains("holds 1 to 2 cards") && err.contains("3 asked"), "{err}");
}

#[test]
fn vpcd_ports_are_reachable_from_nowhere_outside_the_sandbox() {
    let sandbox = Sandbox::start(&SandboxOptions::new(env!("CARGO_BIN_EXE_mynasim"))).unwrap();
    let card_pid = sandbox.namespace_pid().unwrap().to_string();
    let card_pid = card_pid.as_str();
    // Inside: vpcd listens (on 0.0.0.0, as Debian's vpcd does) in a namespace whose only
    // interface is loopback.
    let inside = |args: &[&str]| {
        let out = Command::new("nsenter").args(["--target", card_pid, "--net"]).args(args).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let listening = inside(&["ss", "-Hltn"]);
    assert!(listening.contains(":35963"), "{listening}");
    let links = inside(&["ip", "-o", "link"]);
    let names: Vec<&str> = links.lines().filter_map(|l| l.split(':').nth(1)).map(str::trim).collect();
    assert_eq!(names, ["lo"], "{links}");
    // Outside: no listener on the vpcd ports in the host's namespace on behalf of the sandbox.
    let host = Command::new("ss").args(["-Hltnp"]).output().unwrap();
    let host = String::from_utf8_lossy(&host.stdout);
    assert!(!host.lines().any(|l| l.contains(":35963") && l.contains("pcscd")), "{host}");
}

#[test]
fn sandboxes_run_side_by_side() {
    let sandboxes: Vec<Sandbox> = std::thread::scope(|scope| {
        let handles: Vec<_> =
            (0..4).map(|_| scope.spawn(|| Sandbox::start(&SandboxOptions::new(env!("CARGO_BIN_EXE_mynasim"))).unwrap())).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let sockets: std::collections::HashSet<_> = sandboxes.iter().map(Sandbox::socket).collect();
    assert_eq!(sockets.len(), 4);
    for sandbox in &sandboxes {
        let name = sandbox.command("opensc-tool").arg("-n").output().unwrap();
        assert_eq!(String::from_utf8_lossy(&name.stdout).trim(), "jpki", "{}", sandbox.log());
    }
    // A wrong PIN in one sandbox leaves the others' cards alone.
    output(&sandboxes[0], "pkcs15-tool", &["--verify-pin", "--auth-id", "01", "--pin", "0000"]);
    assert_eq!(auth_tries(&output(&sandboxes[0], "pkcs15-tool", &["-D"])), "Tries left     : 2");
    assert_eq!(auth_tries(&output(&sandboxes[1], "pkcs15-tool", &["-D"])), "Tries left     : 3");
}

#[test]
fn a_slot_can_be_served_by_another_program_given_its_port() {
    // Any program that connects to vpcd itself (a peer's virtual card, such as vicc): here
    // mynasim's trivial card started as a plain program, `{port}` its slot's port.
    let mut options = SandboxOptions::new(env!("CARGO_BIN_EXE_mynasim"));
    options.cards = vec![
        CardSource::Profile(None),
        CardSource::Program {
            argv: [env!("CARGO_BIN_EXE_mynasim"), "--log", "warn", "serve", "--null-card", "--vpcd", "127.0.0.1:{port}"]
                .map(String::from)
                .to_vec(),
            env: vec![],
        },
    ];
    let sandbox = Sandbox::start(&options).unwrap();
    // The program's card answers 90 00 to anything, the profile's card refuses a bogus INS.
    let answers: Vec<String> =
        (0..2).map(|r| output(&sandbox, "opensc-tool", &["--reader", &r.to_string(), "-s", "00 EE 00 00"])).collect();
    assert!(answers[1].contains("Received (SW1=0x90, SW2=0x00)"), "{}", answers[1]);
    assert!(!answers[0].contains("Received (SW1=0x90, SW2=0x00)"), "{}", answers[0]);
}
