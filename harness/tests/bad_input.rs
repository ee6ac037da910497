//! Bad input (issue 11 items 2, 7, 8, 9, 10 and "Bad input tests"): every malformed profile
//! and state file in `fixtures/bad-profiles/` and `fixtures/bad-state/` is refused by
//! `inspect` and `apdu` with exit code 2, the file:line:column (or the file and the field
//! where YAML has no position), a message that says what to write instead, and nothing on
//! disk changed. Odd files (FIFOs, devices, folders), oversized values, exit codes of
//! command-line mistakes, the state-file lock between processes, and a read-only `inspect`.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

const SELECT_JPKI: &str = "00A4040C0AD392F000260100000001";

fn mynasim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mynasim")).args(args).output().unwrap()
}

/// Runs mynasim, killing it if it takes more than 20 s (a FIFO or /dev/zero must not hang it).
fn mynasim_bounded(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mynasim")).args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!("mynasim {args:?} hung; stderr: {}", String::from_utf8_lossy(&out.stderr));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn fixtures(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(sub)
}

/// Every file under `dir`: its path, content and modification time (directories' own
/// times are left out: a lock file made and removed again changes them).
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                out.insert(path.clone(), "dir".to_owned());
                stack.push(path);
            } else {
                let hash = Sha256::digest(std::fs::read(&path).unwrap());
                out.insert(
                    path,
                    format!("{hash:x} {:?} {:o}", meta.modified().unwrap(), std::os::unix::fs::PermissionsExt::mode(&meta.permissions())),
                );
            }
        }
    }
    out
}

/// Checks one refusal; returns what is wrong, if anything.
fn check(command: &str, out: &Output, file: &Path, at: &str, advice: &[&str]) -> Option<String> {
    let err = stderr(out);
    let place = format!("{}{at}", file.display());
    let mut wrong = Vec::new();
    if out.status.code() != Some(2) {
        wrong.push(format!("exit code {:?}, not 2", out.status.code()));
    }
    if !err.contains(&place) {
        wrong.push(format!("no `{place}`"));
    }
    for a in advice {
        if !err.contains(a) {
            wrong.push(format!("no `{a}`"));
        }
    }
    for leak in ["DuplicateKeyPolicy", "Options", "invalid u8", "panicked"] {
        if err.contains(leak) {
            wrong.push(format!("says `{leak}`"));
        }
    }
    (!wrong.is_empty()).then(|| format!("{command} {}: {}\n{err}", file.display(), wrong.join("; ")))
}

/// (fixture, what follows the file name in the message, what the message must say).
const BAD_PROFILES: &[(&str, &str, &[&str])] = &[
    ("unknown-field.yaml", ":2:3", &["unknown field `nmae`", "expected one of name"]),
    ("duplicate-key.yaml", ":2:1", &["write each key once"]),
    ("my-number-check-digit.yaml", ":2:14", &["need 8"]),
    ("my-number-short.yaml", ":2:14", &["12 digits"]),
    ("pin-not-digits.yaml", ":3:12", &["exactly 4 digits 0-9", "not all digits", "such as \"1234\""]),
    ("pin-five-digits.yaml", ":3:12", &["exactly 4 digits", "got 5 characters"]),
    ("sign-password-lower-case.yaml", ":3:12", &["upper-case A-Z and 0-9", "such as \"ABC123\""]),
    ("remaining-300.yaml", ":3:16", &["remaining must be a whole number from 0 to 15", "got 300"]),
    ("remaining-negative.yaml", ":3:16", &["from 0 to 15", "got -1"]),
    ("remaining-not-a-number.yaml", ":3:16", &["from 0 to 15", "got many"]),
    ("max-tries-zero.yaml", ":3:16", &["max_tries must be a whole number from 1 to 15"]),
    ("max-tries-300.yaml", ":3:16", &["from 1 to 15", "got 300"]),
    ("remaining-above-max-tries.yaml", ":3:5", &["cannot exceed max_tries (3)", "write remaining: 0 to 3"]),
    ("remaining-above-default-max-tries.yaml", ":3:16", &["pins.auth.remaining is 9", "write remaining: 0 to 3, or max_tries: 9"]),
    ("sign-remaining-above-default.yaml", ":3:16", &["pins.sign.remaining is 6", "0 to 5"]),
    ("code-remaining-above-default.yaml", ":3:16", &["pins.surface_code_b.remaining is 11", "0 to 10"]),
    ("birth-1800.yaml", ":2:15", &["holder.birth_date 1800-01-01", "write a date from 1900-01-01 on"]),
    ("birth-after-issue.yaml", ":2:15", &["is after card.issued 2025-01-01", "write an earlier birth date"]),
    ("issued-in-the-future.yaml", ":2:11", &["card.issued 2999-01-01", "or earlier"]),
    ("expires-before-issue.yaml", ":3:12", &["card.expires 2024-01-01 is not after card.issued 2025-01-01", "write an expiry after"]),
    ("auth-certificate-dates-inverted.yaml", ":3:15", &["certificates.auth.validity", "write not_after on or after not_before"]),
    ("sign-certificate-dates-inverted.yaml", ":3:15", &["certificates.sign.validity", "write not_after on or after not_before"]),
    ("name-without-separator.yaml", ":2:9", &["U+3000", "such as \"見本\u{3000}花子\""]),
    ("name-too-long.yaml", ":2:9", &["at most 100 characters", "has 123", "write a shorter name"]),
    ("name-with-line-break.yaml", ":2:9", &["control characters", "write it on one line"]),
    ("address-too-long.yaml", ":2:12", &["at most 200 characters", "write a shorter address"]),
    ("address-empty.yaml", ":2:12", &["address is empty", "write one"]),
    ("impossible-date.yaml", ":2:15", &["not a valid date YYYY-MM-DD"]),
    ("unknown-sex.yaml", ":2:8", &["expected one of male, female"]),
    ("atr-too-short.yaml", ":1:6", &["2 to 33 bytes starting with 3B or 3F"]),
    ("security-code-short.yaml", ":2:18", &["exactly 4 digits"]),
    ("serial-letters.yaml", ":2:11", &["exactly 15 digits"]),
    ("municipality-code-long.yaml", ":2:22", &["exactly 5 digits"]),
    ("expires-word.yaml", ":2:12", &["YYYY-MM-DD", "or write `expired`"]),
    ("unknown-validity.yaml", ":3:15", &["expected one of valid, expired, not_yet_valid, dates"]),
    ("tab-indentation.yaml", ":2:2", &["indent with spaces"]),
    ("holder-not-a-mapping.yaml", ":1:9", &["expected a mapping", "write its fields"]),
    ("yaml-syntax.yaml", ":2:9", &["expected a text here", "in quotes"]),
    ("seed-too-long.yaml", ":1:7", &["at most 256 bytes", "write a shorter"]),
    ("extends-missing.yaml", ": extends \"no-such-profile\"", &["no such profile; write a file name"]),
    ("extends-cycle-a.yaml", ": extends \"extends-cycle-a.yaml\"", &["in a cycle; remove one of the `extends:`"]),
    ("photo-missing.yaml", ": photo: cannot read", &["no-such-photo.jp2: no such file; check the path"]),
    ("photo-not-jp2.yaml", ": photo:", &["is not a JPEG 2000", "convert it"]),
    ("photo-too-large.yaml", ": photo:", &["is 20009 bytes", "at most 20000 bytes", "write a smaller JPEG 2000 file"]),
    ("not-utf8.yaml", ": it is not UTF-8 text", &["save it as UTF-8"]),
    ("a-directory.yaml", ": it is a directory, not a regular file", &["name a file"]),
];

#[test]
fn malformed_profiles_are_refused_with_position_advice_and_exit_2() {
    let dir = fixtures("bad-profiles");
    let before = snapshot(&dir);
    let mut failures = Vec::new();
    for (fixture, at, advice) in BAD_PROFILES {
        let path = dir.join(fixture);
        let p = path.to_str().unwrap();
        // A cycle is reported by the profile whose `extends` closes it.
        let named = if *fixture == "extends-cycle-a.yaml" { dir.join("extends-cycle-b.yaml") } else { path.clone() };
        failures.extend(check("inspect", &mynasim(&["inspect", p]), &named, at, advice));
        failures.extend(check("apdu", &mynasim(&["apdu", "--profile", p, SELECT_JPKI]), &named, at, advice));
    }
    assert!(failures.is_empty(), "{} of {} refusals wrong:\n{}", failures.len(), 2 * BAD_PROFILES.len(), failures.join("\n"));
    assert_eq!(snapshot(&dir), before, "a refused profile changed files on disk");
}

/// (fixture folder with card.yaml and state.yaml, what follows state.yaml's path, advice).
const BAD_STATES: &[(&str, &str, &[&str])] = &[
    ("empty", ": the state file is empty", &["delete it"]),
    ("only-comments", ": the state file is empty", &["delete it"]),
    ("duplicate-entries", ": pins: `JPKI auth PIN (0018)` appears twice (lines 4 and 12)", &["keep one entry per PIN"]),
    ("pin-value-not-a-pin", ":4:3", &["JPKI auth PIN (0018)", "it must be exactly 4 digits", "write such a value"]),
    ("sign-password-too-short", ":4:3", &["JPKI signature password (001B)", "6 to 16 characters"]),
    ("code-b-value-letters", ":4:3", &["collation number B", "14 digits"]),
    ("remaining-above-max-tries", ":4:3", &["remaining (7) exceeds max_tries (3)", "write remaining: 0 to 3"]),
    ("max-tries-zero", ":4:3", &["max_tries must be 1 to 15"]),
    ("remaining-300", ":4:3", &["remaining must be 0 to 15, got 300"]),
    ("other-card", ": the state file belongs to card 0123456789abcdef", &["delete the state file or fix the profile's seed"]),
    ("future-version", ": state format version 9 is not supported", &["(expected 1)"]),
    ("syntax-error", ":2:10", &["expected a text here"]),
    ("unknown-field", ":8:3", &["unknown field `verified`", "expected one of pin, value, max_tries, remaining"]),
    ("unknown-pin", ":4:8", &["unknown variant `door_pin`", "expected one of auth_pin"]),
    ("missing-card-id", ":2:1", &["missing field `card_id`"]),
    ("not-utf8", ": it is not UTF-8 text", &["save it as UTF-8"]),
    ("state-is-a-directory", ": it is a directory, not a regular file", &["name a file"]),
];

#[test]
fn malformed_state_files_are_refused_with_position_advice_and_exit_2() {
    let dir = fixtures("bad-state");
    let before = snapshot(&dir);
    let mut failures = Vec::new();
    for (case, at, advice) in BAD_STATES {
        let profile = dir.join(case).join("card.yaml");
        let state = dir.join(case).join("state.yaml");
        let p = profile.to_str().unwrap();
        failures.extend(check("inspect", &mynasim(&["inspect", p]), &state, at, advice));
        failures.extend(check("apdu", &mynasim(&["apdu", "--profile", p, SELECT_JPKI]), &state, at, advice));
    }
    assert!(failures.is_empty(), "{} of {} refusals wrong:\n{}", failures.len(), 2 * BAD_STATES.len(), failures.join("\n"));
    assert_eq!(snapshot(&dir), before, "a refused state file changed files on disk (or a lock file was left)");
    assert!(BAD_PROFILES.len() + BAD_STATES.len() >= 40);
}

/// Item 7: a 1 MB name was accepted and EF 0002 claimed a length truncated to 16 bits.
#[test]
fn oversized_values_are_refused_not_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big-name.yaml");
    std::fs::write(&path, format!("holder:\n  name: \"見本\u{3000}{}\"\n", "花".repeat(300_000))).unwrap();
    let out = mynasim(&["inspect", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains(&format!("{}:2:9", path.display())), "{}", stderr(&out));
    assert!(stderr(&out).contains("a name is at most 100 characters, this one has 300003"), "{}", stderr(&out));
    // The longest name and address the card takes, with the largest photo, load and serve.
    let photo = dir.path().join("face.jp2");
    let mut jp2 = vec![0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50, 0x20, 0x20];
    jp2.resize(20_000, 0x5A);
    std::fs::write(&photo, jp2).unwrap();
    let path = dir.path().join("longest.yaml");
    std::fs::write(
        &path,
        format!("holder:\n  name: \"見本\u{3000}{}\"\n  address: \"{}\"\nphoto: face.jp2\n", "龘".repeat(97), "龘".repeat(200)),
    )
    .unwrap();
    // Issuing builds every file (the surface AP's EF 0002 holds all three): a length the
    // TLV encoding cannot say would refuse the card.
    let out = mynasim(&["inspect", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// Item 8: a FIFO as state file or profile hung `inspect`; /dev/zero was read until memory ran out.
#[test]
fn fifos_and_devices_are_refused_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("state.yaml");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let profile = dir.path().join("card.yaml");
    std::fs::write(&profile, "state_file: state.yaml\n").unwrap();
    for command in [&["inspect", profile.to_str().unwrap()][..], &["apdu", "--profile", profile.to_str().unwrap(), SELECT_JPKI]] {
        let out = mynasim_bounded(command);
        assert_eq!(out.status.code(), Some(2), "{command:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(&format!("{}: it is a FIFO (named pipe), not a regular file", fifo.display())), "{}", stderr(&out));
    }
    let out = mynasim_bounded(&["inspect", fifo.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("cannot read profile"), "{}", stderr(&out));
    let out = mynasim_bounded(&["inspect", "/dev/zero"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("/dev/zero: it is a device, not a regular file"), "{}", stderr(&out));
    let photo = dir.path().join("zero.yaml");
    std::fs::write(&photo, "photo: /dev/zero\n").unwrap();
    let out = mynasim_bounded(&["inspect", photo.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("photo: cannot read /dev/zero: it is a device"), "{}", stderr(&out));
    // A profile larger than the cap is refused without reading it all.
    let huge = dir.path().join("huge.yaml");
    std::fs::write(&huge, format!("# {}\n", "x".repeat(2 << 20))).unwrap();
    let out = mynasim_bounded(&["inspect", huge.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("it is larger than 1048576 bytes"), "{}", stderr(&out));
}

/// Item 9: command-line mistakes exit 2 and say what to write.
#[test]
fn command_line_mistakes_exit_2() {
    let dir = fixtures("bad-profiles");
    let default = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/profiles/default.yaml");
    let default = default.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["inspect", "/nonexistent/profile.yaml"], "cannot read profile /nonexistent/profile.yaml: no such file"),
        (&["inspect", dir.to_str().unwrap()], "it is a directory, not a regular file"),
        (&["apdu", "zz"], "not hex: write pairs of hex digits"),
        (&["apdu", "00A4"], "an APDU has at least 4 bytes"),
        (&["serve", "--vpcd", "nonsense"], "write HOST:PORT, such as 127.0.0.1:35963"),
        (&["serve", "--vpcd", "localhost:99999"], "write HOST:PORT"),
        (&["serve", "--private", default, default, default], "--private serves at most 2 cards"),
    ];
    for (args, says) in cases {
        let out = mynasim_bounded(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
    }
}

fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Item 2: two processes on one state file undid each other's counters.
#[test]
fn a_second_process_on_a_state_file_is_refused_with_the_holders_pid() {
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("card.yaml");
    std::fs::write(&profile, "state_file: state/card.yaml\n").unwrap();
    let p = profile.to_str().unwrap();
    let lock = dir.path().join("state/card.yaml.lock");
    // A serving card waiting for a vpcd that is not there holds its card all along.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let vpcd = format!("127.0.0.1:{port}");
    let mut server = Command::new(env!("CARGO_BIN_EXE_mynasim"))
        .args(["serve", "--vpcd", &vpcd, p])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = server.id().to_string();
    wait_for("the lock", || std::fs::read_to_string(&lock).is_ok_and(|t| t.trim() == pid));
    wait_for("the state file", || dir.path().join("state/card.yaml").is_file());

    let out = mynasim(&["apdu", "--profile", p, SELECT_JPKI, "0020009804 30303030"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("is in use by process {pid}")), "{err}");
    assert!(err.contains("stop that process first"), "{err}");
    let out = mynasim(&["serve", "--vpcd", &vpcd, p]);
    assert!(stderr(&out).contains(&format!("is in use by process {pid}")), "{}", stderr(&out));
    // inspect reads beside it, without the lock.
    let out = mynasim(&["inspect", p]);
    assert!(out.status.success(), "{}", stderr(&out));

    server.kill().unwrap();
    server.wait().unwrap();
    // The holder died without removing its lock file: the lock went with it.
    let out = mynasim(&["apdu", "--profile", p, SELECT_JPKI, "0020009804 30303030"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("< 63C2"));
    assert!(!lock.exists(), "a holder that ends removes its lock file");
}

/// Item 10: inspect created a missing state file and failed on a read-only folder.
#[test]
fn inspect_writes_nothing() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("cards");
    std::fs::create_dir(&folder).unwrap();
    let profile = folder.join("card.yaml");
    std::fs::write(&profile, "state_file: card-state.yaml\n").unwrap();
    std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o555)).unwrap();
    let before = snapshot(&folder);
    let out = mynasim(&["inspect", profile.to_str().unwrap()]);
    std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert!(!folder.join("card-state.yaml").exists(), "inspect created the state file");
    assert_eq!(snapshot(&folder), before);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("(not created yet: the profile's counters apply)"));
    // With a state file: read, not rewritten, not locked.
    mynasim(&["apdu", "--profile", profile.to_str().unwrap(), SELECT_JPKI, "0020009804 30303030"]);
    let before = snapshot(&folder);
    let out = mynasim(&["inspect", profile.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("2/3 tries left"), "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(snapshot(&folder), before);
}
