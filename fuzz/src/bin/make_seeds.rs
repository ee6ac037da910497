//! Writes the seed corpora into `fuzz/seeds/<target>/`.
//!
//! `cargo run --release --bin make_seeds -- [TRANSCRIPT_DIR]`, where TRANSCRIPT_DIR holds
//! the `.apdu` transcripts of `mynasim run scenarios --in-process --show-pins
//! --transcript-dir DIR` (optional: without it only the APDUs of simulator/tests/*.rs and
//! the hand-written sequences seed `card_sequence`).

use std::path::{Path, PathBuf};

use mynasim_fuzz::Event;

fn parse_hex(text: &str) -> Option<Vec<u8>> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if digits.len() < 8 || digits.len() % 2 != 0 || !digits.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    digits.chunks(2).map(|p| u8::from_str_radix(std::str::from_utf8(p).ok()?, 16).ok()).collect()
}

/// The APDU lines of a transcript (`# ...` lines are comments and answers).
fn transcript_apdus(text: &str) -> Vec<Vec<u8>> {
    text.lines().filter(|l| !l.trim_start().starts_with('#')).filter_map(parse_hex).collect()
}

/// Hex string literals of a Rust test file that look like APDUs (CLA 00/80/08/0C, 4+ bytes).
fn source_apdus(text: &str) -> Vec<Vec<u8>> {
    text.split('"')
        .skip(1)
        .step_by(2)
        .filter_map(parse_hex)
        .filter(|a| a.len() >= 4 && matches!(a[0], 0x00 | 0x80 | 0x08 | 0x0C | 0x10 | 0x01))
        .collect()
}

fn files(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            files(&path, ext, out);
        } else if path.extension().is_some_and(|e| e == ext) {
            out.push(path);
        }
    }
}

fn write(dir: &Path, name: &str, data: &[u8]) {
    std::fs::create_dir_all(dir).expect("seed dir");
    std::fs::write(dir.join(name), data).expect("write seed");
}

fn raw(apdus: &[Vec<u8>]) -> Vec<Event> {
    apdus.iter().cloned().map(Event::Raw).collect()
}

/// Hand-written sequences that reach deep states: each PIN verified, blocked, changed;
/// signatures; secure messaging; restarts.
fn handmade() -> Vec<(&'static str, Vec<Event>)> {
    use Event::*;
    let app = |a: u8| SelectApp { app: a, prefix: 0, p2: 0 };
    let digest = vec![0x5A; 32];
    let mut out = vec![
        (
            "jpki-auth-sign",
            vec![
                app(0),
                SelectEf(0x0018),
                VerifyRight { pin: 0, by_sfi: false },
                SelectEf(0x0017),
                Sign { p1: 2, p2: 0x80, data: digest.clone() },
                Sign { p1: 4, p2: 0x97, data: digest.clone() },
                Sign { p1: 0, p2: 0x97, data: vec![1, 2, 3] },
                ReadBinary { p1: 0x0A, p2: 0, le: 0, flags: 2 },
            ],
        ),
        (
            "jpki-sign-password",
            vec![
                app(0),
                VerifyRight { pin: 1, by_sfi: true },
                ReadBinary { p1: 0x01, p2: 0, le: 0, flags: 2 },
                Sign { p1: 3, p2: 0x9A, data: b"hello".to_vec() },
                Change { pin: 1, by_sfi: true, swap: false, value: vec![4] },
                SaveRestore,
                app(0),
                VerifyRight { pin: 1, by_sfi: true },
                ReadBinary { p1: 0x01, p2: 0x10, le: 0x20, flags: 2 },
            ],
        ),
        (
            "block-auth",
            vec![
                app(0),
                VerifyWrong { pin: 0, by_sfi: true, value: b"0000".to_vec() },
                VerifyWrong { pin: 0, by_sfi: true, value: b"0000".to_vec() },
                VerifyWrong { pin: 0, by_sfi: true, value: Vec::new() },
                VerifyWrong { pin: 0, by_sfi: true, value: b"9".to_vec() },
                VerifyRight { pin: 0, by_sfi: true },
                SaveRestore,
                app(0),
                VerifyRight { pin: 0, by_sfi: true },
                Reset,
                app(0),
                VerifyWrong { pin: 0, by_sfi: true, value: Vec::new() },
            ],
        ),
        (
            "text-pin-sm",
            vec![
                app(1),
                SetSessionKey { kind: 0, body: vec![7; 32] },
                VerifyRight { pin: 2, by_sfi: true },
                ReadBinary { p1: 0x01, p2: 0, le: 0, flags: 2 },
                ReadBinary { p1: 0x02, p2: 0, le: 0, flags: 2 },
                SetSessionKey { kind: 0, body: vec![7; 32] },
                Sm { kind: 0, p1: 0, p2: 0, body: vec![0x00, 0x01], corrupt: 0 },
                Sm { kind: 2, p1: 0, p2: 0, body: vec![0x00, 0x00], corrupt: 0 },
                Sm { kind: 1, p1: 0, p2: 0x91, body: vec![2], corrupt: 0 },
                Sm { kind: 2, p1: 0x82, p2: 0, body: vec![0x00, 0x10], corrupt: 0 },
                Sm { kind: 2, p1: 0, p2: 0, body: vec![0x00], corrupt: 1 },
                Sm { kind: 2, p1: 0, p2: 0, body: vec![0x00, 0x00], corrupt: 0 },
                SetSessionKey { kind: 1, body: vec![0xA0, 0x22, 0x81, 0x20] },
                SetSessionKey { kind: 2, body: vec![0xFF; 255] },
            ],
        ),
        (
            "text-codes",
            vec![
                app(1),
                VerifyRight { pin: 4, by_sfi: true },
                ReadBinary { p1: 0x01, p2: 0, le: 0, flags: 2 },
                ReadBinary { p1: 0x02, p2: 0, le: 0, flags: 2 },
                VerifyRight { pin: 5, by_sfi: true },
                ReadBinary { p1: 0x02, p2: 0, le: 0, flags: 2 },
                VerifyWrong { pin: 3, by_sfi: true, value: b"1234".to_vec() },
                app(1),
                ReadBinary { p1: 0x03, p2: 0, le: 0, flags: 2 },
                Change { pin: 2, by_sfi: true, swap: false, value: vec![0] },
            ],
        ),
        (
            "surface",
            vec![
                app(2),
                VerifyRight { pin: 6, by_sfi: true },
                ReadBinary { p1: 0x01, p2: 0, le: 0, flags: 2 },
                VerifyRight { pin: 7, by_sfi: true },
                ReadBinary { p1: 0x02, p2: 0, le: 0, flags: 2 },
                ReadBinary { p1: 0x05, p2: 0, le: 0, flags: 2 },
                VerifyRight { pin: 8, by_sfi: true },
                ReadBinary { p1: 0x05, p2: 0, le: 0, flags: 3 },
                Sign { p1: 0, p2: 0x00, data: vec![0x30; 51] },
                GetChallenge { le: 8, extended: false },
                SetSessionKey { kind: 0, body: Vec::new() },
            ],
        ),
        (
            "common-juki",
            vec![
                app(3),
                ReadRecord { p1: 1, p2: 0x0C, flags: 1 },
                ReadRecord { p1: 1, p2: 0x14, flags: 1 },
                InternalAuth { p2: 0x00, data: vec![1; 16] },
                InternalAuth { p2: 0x99, data: vec![1; 16] },
                VerifyRight { pin: 9, by_sfi: true },
                Change { pin: 9, by_sfi: true, swap: false, value: vec![0] },
                Change { pin: 9, by_sfi: true, swap: true, value: vec![0] },
                app(4),
                ReadRecord { p1: 1, p2: 0x14, flags: 1 },
                VerifyWrong { pin: 10, by_sfi: true, value: b"0000".to_vec() },
                VerifyRight { pin: 10, by_sfi: true },
                Change { pin: 10, by_sfi: true, swap: false, value: vec![1] },
                SaveRestore,
            ],
        ),
        (
            "classes",
            vec![
                Framed { cla: 0x0C, ins: 0xB0, p1: 0, p2: 0, data: Vec::new(), le: Some(0) },
                Framed { cla: 0x08, ins: 0x20, p1: 0, p2: 0x80, data: vec![1, 2], le: None },
                Framed { cla: 0x10, ins: 0xA4, p1: 4, p2: 0x0C, data: AID_JPKI.to_vec(), le: None },
                Framed { cla: 0x01, ins: 0xA4, p1: 4, p2: 0x0C, data: AID_JPKI.to_vec(), le: None },
                Framed { cla: 0x00, ins: 0xCA, p1: 0x5F, p2: 0x51, data: Vec::new(), le: Some(0) },
                SelectApp { app: 1, prefix: 8, p2: 0 },
                Framed { cla: 0x08, ins: 0xB0, p1: 0, p2: 0, data: vec![0x96, 0x03, 0x00, 0x00, 0x00], le: Some(0) },
                Framed { cla: 0x0C, ins: 0x20, p1: 0, p2: 0x80, data: Vec::new(), le: None },
            ],
        ),
    ];
    // Every PIN: right, wrong until blocked, right again, tries query.
    for pin in 0u8..11 {
        let app = match pin {
            0 | 1 => 0,
            2..=5 => 1,
            6..=8 => 2,
            9 => 3,
            _ => 4,
        };
        let mut events = vec![SelectApp { app, prefix: 0, p2: 0 }, VerifyRight { pin, by_sfi: true }];
        for _ in 0..11 {
            events.push(VerifyWrong { pin, by_sfi: true, value: b"00000000000000".to_vec() });
            events.push(VerifyWrong { pin, by_sfi: true, value: b"0000".to_vec() });
        }
        events.push(VerifyRight { pin, by_sfi: true });
        events.push(SaveRestore);
        events.push(SelectApp { app, prefix: 0, p2: 0 });
        events.push(VerifyWrong { pin, by_sfi: true, value: Vec::new() });
        out.push((["pin-0", "pin-1", "pin-2", "pin-3", "pin-4", "pin-5", "pin-6", "pin-7", "pin-8", "pin-9", "pin-10"][usize::from(pin)], events));
    }
    out
}

const AID_JPKI: &[u8] = mynasim_simulator::applets::jpki::AID;

fn frames(apdus: &[Vec<u8>]) -> Vec<u8> {
    let mut out = vec![0x02];
    for control in [[0x01u8], [0x04]] {
        out.extend_from_slice(&[0x00, 0x01]);
        out.extend_from_slice(&control);
    }
    for a in apdus {
        out.extend_from_slice(&(a.len() as u16).to_be_bytes());
        out.extend_from_slice(a);
    }
    out.extend_from_slice(&[0x00, 0x01, 0x00, 0x00, 0x00]);
    out
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let seeds = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("seeds");
    let _ = std::fs::remove_dir_all(&seeds);

    // card_sequence + vpcd_frames: transcripts, test APDUs, hand-written sequences.
    let seq = seeds.join("card_sequence");
    let vpcd = seeds.join("vpcd_frames");
    let mut n = 0;
    if let Some(dir) = std::env::args().nth(1) {
        let mut transcripts = Vec::new();
        files(Path::new(&dir), "apdu", &mut transcripts);
        for path in transcripts {
            let apdus = transcript_apdus(&std::fs::read_to_string(&path).unwrap_or_default());
            if apdus.is_empty() {
                continue;
            }
            let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            write(&seq, &format!("tr-{stem}"), &mynasim_fuzz::encode(&raw(&apdus)));
            write(&vpcd, &format!("tr-{stem}"), &frames(&apdus));
            n += 1;
        }
    }
    let mut sources = Vec::new();
    files(&root.join("simulator/tests"), "rs", &mut sources);
    for path in sources {
        let apdus = source_apdus(&std::fs::read_to_string(&path).unwrap_or_default());
        let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        for (i, chunk) in apdus.chunks(24).enumerate() {
            write(&seq, &format!("test-{stem}-{i}"), &mynasim_fuzz::encode(&raw(chunk)));
            n += 1;
        }
    }
    for (name, events) in handmade() {
        let bytes = mynasim_fuzz::encode(&events);
        assert_eq!(mynasim_fuzz::decode(&bytes), events, "seed {name} does not round-trip");
        write(&seq, &format!("hand-{name}"), &bytes);
        n += 1;
    }
    write(&vpcd, "trickle", &[0x00, 0x00, 0x03, 0xAA, 0xBB, 0xCC, 0x00, 0x01, 0x04, 0x00]);
    eprintln!("card_sequence: {n} seeds");

    // profile_yaml: the shipped and test profiles, and the inline `card:` overrides.
    let mut yaml = Vec::new();
    files(&root.join("scenarios"), "yaml", &mut yaml);
    files(&root.join("harness/tests"), "yaml", &mut yaml);
    let mut profiles = 0;
    for path in yaml.iter().filter(|p| p.components().any(|c| c.as_os_str() == "profiles")) {
        let name = path.strip_prefix(&root).unwrap_or(path).display().to_string().replace('/', "__");
        write(&seeds.join("profile_yaml"), &name, &std::fs::read(path).unwrap_or_default());
        profiles += 1;
    }
    write(&seeds.join("profile_yaml"), "empty", b"");
    eprintln!("profile_yaml: {profiles} seeds");

    // scenario_yaml: every scenario and fixture.
    let mut scenarios = 0;
    for path in yaml.iter().filter(|p| !p.components().any(|c| c.as_os_str() == "profiles")) {
        let name = path.strip_prefix(&root).unwrap_or(path).display().to_string().replace('/', "__");
        write(&seeds.join("scenario_yaml"), &name, &std::fs::read(path).unwrap_or_default());
        scenarios += 1;
    }
    eprintln!("scenario_yaml: {scenarios} seeds");

    // state_file: the default card's state, and states after a few events.
    let states = seeds.join("state_file");
    let mut run = mynasim_fuzz::Run::new();
    let text = serde_saphyr::to_string(&run.card.persistent_state()).expect("state");
    write(&states, "default", text.as_bytes());
    write(&states, "harness-header", format!("# mynasim card state: retry counters and PIN values. Written by mynasim; delete to reset.\n{text}").as_bytes());
    for (name, events) in handmade().into_iter().filter(|(n, _)| n.starts_with("pin-") || *n == "common-juki" || *n == "jpki-sign-password") {
        let mut partial = Vec::new();
        for e in events {
            partial.push(e);
            if partial.len() == 8 {
                break;
            }
        }
        run = mynasim_fuzz::Run::new();
        for e in &partial {
            run.event(e);
        }
        let text = serde_saphyr::to_string(&run.card.persistent_state()).expect("state");
        write(&states, name, text.as_bytes());
    }
    let entries: Vec<&str> = text.split("- pin:").collect();
    let head = entries[0];
    write(&states, "no-pins", format!("{}pins: []\n", &head[..head.find("pins:").unwrap_or(head.len())]).as_bytes());
    write(&states, "only-auth", format!("{head}- pin:{}", entries.get(1).unwrap_or(&"")).as_bytes());
    write(&states, "duplicate", format!("{text}- pin:{}", entries.get(1).unwrap_or(&"")).as_bytes());
    write(&states, "other-card", text.replace("card_id: ", "card_id: x").as_bytes());
    write(&states, "auth-blocked", text.replacen("max_tries: 3\n  remaining: 3", "max_tries: 3\n  remaining: 0", 1).as_bytes());
    let card_id = run.card.card_id().to_owned();
    write(
        &states,
        "flow-style",
        format!("{{version: 1, card_id: {card_id}, pins: [{{pin: juki_pin, value: '9999', max_tries: 15, remaining: 15}}]}}\n").as_bytes(),
    );
    eprintln!("state_file: seeds written");

    // control_request: request lines as `mynasim ctl` and the inspector send them, with
    // APDUs (`>` lines) between, so requests meet a selected, verified or locked card.
    let control = seeds.join("control_request");
    let select_jpki = ">00A4040C0AD392F000260100000001";
    let select_auth_pin = ">00A4020C020018";
    let sessions: [(&str, Vec<String>); 8] = [
        ("status", vec![r#"{"op":"status","id":1,"v":1}"#.into()]),
        (
            "lock-verify-unlock",
            vec![
                r#"{"op":"lock","card":"0","pin":"auth"}"#.into(),
                select_jpki.into(),
                select_auth_pin.into(),
                ">002000800431323334".into(),
                r#"{"op":"unlock","card":"0","pin":"auth"}"#.into(),
                r#"{"op":"status"}"#.into(),
            ],
        ),
        (
            "office-reset",
            vec![
                r#"{"op":"pin","card":"1","pin":"sign","remaining":1,"value":"ABC123"}"#.into(),
                r#"{"op":"office_reset","card":"1","pin":"sign","new_pin":"XYZ789"}"#.into(),
            ],
        ),
        (
            "faults",
            vec![
                r#"{"op":"fault","card":"0","fault":{"sw":"6F00","match":"00 B0","count":2}}"#.into(),
                r#"{"op":"fault","card":"0","fault":{"sw":"6A82","executed":true}}"#.into(),
                r#"{"op":"fault","card":"0","fault":{"tear":true,"match":"20"}}"#.into(),
                select_jpki.into(),
                ">00200080".into(),
                r#"{"op":"insert","card":"0"}"#.into(),
                r#"{"op":"fault","card":"0","fault":{"clear":true}}"#.into(),
            ],
        ),
        (
            "power",
            vec![
                select_jpki.into(),
                r#"{"op":"reset","card":"0"}"#.into(),
                r#"{"op":"power_cycle","card":"0"}"#.into(),
                r#"{"op":"remove","card":"1"}"#.into(),
                r#"{"op":"insert","card":"1"}"#.into(),
            ],
        ),
        (
            "snapshot-restore",
            vec![
                r#"{"op":"snapshot"}"#.into(),
                r#"{"op":"restore","snapshot":{"mynasim_control":1,"cards":[{"card":"default","inserted":false,"state":"version: 1\n"}]}}"#
                    .into(),
            ],
        ),
        (
            "refusals",
            vec![
                r#"{"op":"lock"}"#.into(),
                r#"{"op":"pin","card":"0","pin":"auth","remaining":9}"#.into(),
                r#"{"op":"fault","card":"0","fault":{"tear":true,"sw":"9000"}}"#.into(),
                r#"{"op":"status","v":2}"#.into(),
                "not json".into(),
            ],
        ),
        ("watch", vec![r#"{"op":"watch"}"#.into(), r#"{"op":"fault","card":"0","fault":{"drop_connection":true}}"#.into()]),
    ];
    for (name, lines) in &sessions {
        write(&control, name, format!("{}\n", lines.join("\n")).as_bytes());
    }
    eprintln!("control_request: {} seeds", sessions.len());
}
