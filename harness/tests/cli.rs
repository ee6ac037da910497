//! The `mynasim` command: exit codes, error messages, the state file.

#![allow(clippy::unwrap_used)]

mod pcsc_sandbox;

use std::process::{Command, Output};

fn mynasim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mynasim")).args(args).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn bad_profile_names_file_line_column_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, "holder:\n  name: 見本\u{3000}花子\n  my_number: '123456789019'\n").unwrap();
    let out = mynasim(&["inspect", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains(&format!("{}:3:14", path.display())), "{err}");
    assert!(err.contains("check digit"), "{err}");

    std::fs::write(&path, "pins:\n  auth:\n    valeu: '1234'\n").unwrap();
    let err = stderr(&mynasim(&["inspect", path.to_str().unwrap()]));
    assert!(err.contains("unknown field `valeu`"), "{err}");

    let out = mynasim(&["inspect", "/nonexistent/profile.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("cannot read profile /nonexistent/profile.yaml"), "{}", stderr(&out));
}

#[test]
fn help_answers_for_every_command() {
    for command in ["serve", "run", "inspect", "export", "bench", "apdu", "pcsc-status"] {
        let out = mynasim(&[command, "--help"]);
        assert!(out.status.success(), "{command}");
        assert!(stdout(&out).contains("Usage: mynasim"), "{command}: {}", stdout(&out));
    }
    assert_eq!(mynasim(&["no-such-command"]).status.code(), Some(2));
}

#[test]
fn state_file_keeps_counters_across_processes() {
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("card.yaml");
    std::fs::write(&profile, "seed: state-test\nstate_file: state/card-state.yaml\n").unwrap();
    let profile = profile.to_str().unwrap();
    let select = "00A4040C0AD392F000260100000001";
    for expected in ["< 63C2", "< 63C1"] {
        let out = mynasim(&["apdu", "--profile", profile, select, "0020009804 30303030"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let text = stdout(&out);
        assert!(text.contains(expected), "{text}");
        // PIN bytes never reach the transcript.
        assert!(text.contains("> 0020009804********"), "{text}");
    }
    let state = std::fs::read_to_string(dir.path().join("state/card-state.yaml")).unwrap();
    assert!(state.contains("remaining: 1"), "{state}");
    let inspect = stdout(&mynasim(&["inspect", profile]));
    assert!(inspect.contains("JPKI auth PIN (0018)                     1/3 tries left"), "{inspect}");
    // Lock it, then the right PIN is refused in the next process too.
    mynasim(&["apdu", "--profile", profile, select, "0020009804 30303030"]);
    let out = stdout(&mynasim(&["apdu", "--profile", profile, select, "0020009804 31323334"]));
    assert!(out.contains("< 6984"), "{out}");
    // No temporary files are left beside the state file.
    let names: Vec<String> =
        std::fs::read_dir(dir.path().join("state")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["card-state.yaml"]);
}

#[test]
fn corrupt_state_file_is_refused_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("card.yaml");
    std::fs::write(&profile, "state_file: s.yaml\n").unwrap();
    std::fs::write(dir.path().join("s.yaml"), "version: 1\ncard_id: [oops\n").unwrap();
    let out = mynasim(&["inspect", profile.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("s.yaml:2"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(dir.path().join("s.yaml")).unwrap(), "version: 1\ncard_id: [oops\n");
}

#[test]
fn every_shipped_profile_loads() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/profiles");
    let mut count = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let out = mynasim(&["inspect", path.to_str().unwrap()]);
        assert!(out.status.success(), "{}: {}", path.display(), stderr(&out));
        count += 1;
    }
    assert!(count >= 6);
}

#[test]
fn opensc_sees_the_card_as_soon_as_serve_says_ready() {
    let mut serve = pcsc_sandbox::ServePrivate::start(&[], &[], std::process::Stdio::null());
    let socket = serve.pcscd_socket.clone();
    let list = Command::new("opensc-tool").arg("-l").env("PCSCLITE_CSOCK_NAME", &socket).output().unwrap();
    let list = stdout(&list);
    // Stop the sandbox the way a user does (Ctrl-C), and check it cleans up.
    serve.signal("INT");
    let status = serve.child.wait().unwrap();
    assert!(list.lines().any(|l| l.contains("Yes") && l.contains("Virtual PCD 00 00")), "{list}");
    assert!(status.success(), "{status}");
    assert!(!std::path::Path::new(&socket).exists(), "the sandbox left {socket}");
}

#[test]
fn ctrl_c_during_start_tears_the_sandbox_down() {
    let child = Command::new(env!("CARGO_BIN_EXE_mynasim"))
        .args(["serve", "--private"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The sandbox takes about half a second to become ready: interrupt it before that.
    std::thread::sleep(std::time::Duration::from_millis(100));
    Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    let out = child.wait_with_output().unwrap();
    let said = stdout(&out);
    if said.contains("# ready") || out.status.code().is_none() {
        // The signal came after the start (the stop path is tested elsewhere) or before the
        // handler existed, when nothing had been started yet.
        return;
    }
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("interrupted while the sandbox was starting"), "{}", stderr(&out));
}

#[test]
fn inspect_shows_pin_values_only_when_asked() {
    let plain = stdout(&mynasim(&["inspect"]));
    assert!(plain.contains("My Number") && !plain.contains("value 1234"), "{plain}");
    let shown = stdout(&mynasim(&["inspect", "--show-pins"]));
    assert!(shown.contains("JPKI auth PIN (0018)                     3/3 tries left  ok  value 1234"), "{shown}");
    assert!(shown.contains("value ABC123"), "{shown}");
}

#[test]
fn bench_measures_every_signing_mode_beside_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    let out = mynasim(&["bench", "--in-process", "--smoke", "--no-verdict", "--json", json.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["version"], 1);
    assert_eq!(report["smoke"], true);
    let measurements = report["measurements"].as_array().unwrap();
    let named = |name: &str| measurements.iter().find(|m| m["name"] == name).unwrap_or_else(|| panic!("no {name} in {report}"));
    for name in [
        "in_process.sign",
        "in_process.sign.p1_01",
        "in_process.sign.p1_02",
        "in_process.sign.p1_03",
        "in_process.sign.p1_04",
        "in_process.sign.p1_05",
    ] {
        let m = named(name);
        assert_eq!(m["reference"]["name"], "OpenSSL RSA-2048 one core", "{m}");
        assert!(m["value"].as_f64().unwrap() > 0.0 && m["ratio"].as_f64().is_some(), "{m}");
        // The human table names every measurement too, and the progress line went to stderr.
        assert!(text.lines().any(|l| l.starts_with(name)), "{text}");
        assert!(stderr(&out).contains(&format!("bench: {name}: ")), "{}", stderr(&out));
    }
    assert_eq!(named("in_process.sign")["target"], serde_json::json!({"kind": "ratio_at_least", "bound": 0.9}));
    assert_eq!(named("in_process.memory_per_card")["target"]["kind"], "at_most");
    // In-process only: nothing through pcscd was attempted, nothing broke.
    assert!(measurements.iter().all(|m| !m["name"].as_str().unwrap().starts_with("pcsc.")), "{report}");
    assert_eq!(report["errors"], serde_json::json!([]));
    assert_eq!(mynasim(&["bench", "--seconds", "-1"]).status.code(), Some(2));
}

#[test]
fn inspect_shows_the_mf_level_objects() {
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("card.yaml");
    std::fs::write(
        &profile,
        "holder:\n  municipality_code: '13221'\ncard:\n  serial: '400000012719843'\n  expires: 2035-02-17\ncontact_atr: opensc\n",
    )
    .unwrap();
    let out = mynasim(&["inspect", profile.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let line =
        |tag: &str| text.lines().find(|l| l.trim_start().starts_with(tag)).unwrap_or_else(|| panic!("no {tag} in {text}")).to_owned();
    assert!(text.contains("MF level (GET DATA with the Issuer Security Domain current):"), "{text}");
    assert!(line("0045").contains("card identification number") && line("0045").contains("15 B  \"400000012719843\""), "{text}");
    assert!(line("00F0").contains("5 B  \"13221\""), "{text}");
    assert!(line("00F2").contains("8 B  \"20350217\""), "{text}");
    assert!(line("0042").contains("16 B  6000019/001"), "{text}");
    assert!(line("00F7").contains("16 B  1322130/002"), "{text}");
    assert!(line("00F8").contains("575 B  6000020/001 → 1322130/002"), "{text}");
    assert!(line("7F21").contains("575 B  1322130/002 → 0000050/001"), "{text}");
    assert!(line("0066").contains("49 B  73 2F 06 07 2A 86 48 86 FC 6B 01"), "{text}");
    assert!(line("5F51").contains("8 B  E0 00 FF 81 31 FE 45 14"), "{text}");

    std::fs::write(&profile, "mf:\n  certificate_7f21: false\n").unwrap();
    let text = stdout(&mynasim(&["inspect", profile.to_str().unwrap()]));
    let lower = text.lines().find(|l| l.trim_start().starts_with("7F21")).unwrap();
    assert!(lower.contains("absent (mf.certificate_7f21: false)"), "{text}");
    assert!(text.lines().any(|l| l.trim_start().starts_with("5F51") && l.contains("18 B  DA 13 FF 81")), "{text}");

    // A phone token has no MF-level objects to show.
    std::fs::write(&profile, "kind: android-token\n").unwrap();
    let text = stdout(&mynasim(&["inspect", profile.to_str().unwrap()]));
    assert!(text.contains("MF level: no Issuer Security Domain, no GET DATA objects, no 5F51 (a phone token)"), "{text}");
    assert!(!text.lines().any(|l| l.trim_start().starts_with("7F21") || l.trim_start().starts_with("5F51")), "{text}");
}

#[test]
fn serve_inspect_listens_on_this_machine_only() {
    let out = mynasim(&["serve", "--inspect=0.0.0.0:8080"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("listens on this machine only") && err.contains("ssh -L"), "{err}");
    let out = mynasim(&["serve", "--inspect=8080"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("write IP:PORT, such as 127.0.0.1:8080"), "{}", stderr(&out));
    let help = stdout(&mynasim(&["serve", "--help"]));
    assert!(help.contains("--inspect[=<ADDR>]"), "{help}");
}
