//! `mynasim run` end to end: malformed scenario files are refused before anything runs
//! (exit 2, `FILE:LINE:COLUMN`, what to write instead), failing scenarios are reported
//! where they fail (exit 1, expected/actual, the last APDUs), the JUnit/JSON/transcript
//! reports, isolation of parallel scenarios, and the in-process mode.
//!
//! Fixtures: `tests/fixtures/` (never part of the shipped `scenarios/` suite).

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mynasim_harness::sandbox::{CardSource, Sandbox, SandboxOptions};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
const MARKER_SCENARIO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/marker/writes-marker.yaml");
const MARKER_VAR: &str = "MYNASIM_TEST_MARKER";

fn fixture(rel: &str) -> PathBuf {
    Path::new(FIXTURES).join(rel)
}

fn mynasim_run(args: &[&str], envs: &[(&str, &Path)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mynasim"));
    command.arg("run").args(args);
    for (k, v) in envs {
        command.env(k, v);
    }
    command.output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn both(o: &Output) -> String {
    format!("--- exit {:?}\n--- stdout\n{}\n--- stderr\n{}", o.status.code(), stdout(o), stderr(o))
}

// ---------------------------------------------------------------------------------------
// 1. Malformed scenarios: exit 2, position, a hint, and nothing runs.
// ---------------------------------------------------------------------------------------

/// Copies the bad fixture and the marker-writing valid scenario into one folder, runs the
/// folder, and checks the refusal: exit 2, `FILE:LINE[:COLUMN]`, the hint, no scenario
/// line, no marker.
fn assert_refused(name: &str, line: u32, column: Option<u32>, hint: &str) {
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("suite");
    std::fs::create_dir(&suite).unwrap();
    let bad = suite.join(name);
    std::fs::copy(fixture(&format!("bad-scenarios/{name}")), &bad).unwrap();
    // Sorted after most bad names and before some: the order must not matter.
    std::fs::copy(MARKER_SCENARIO, suite.join("m-valid-writes-marker.yaml")).unwrap();
    let marker = dir.path().join("marker");
    let out = mynasim_run(&["--jobs", "2", suite.to_str().unwrap()], &[(MARKER_VAR, &marker)]);
    let err = stderr(&out);
    let all = both(&out);
    assert_eq!(out.status.code(), Some(2), "{name}: {all}");
    let at = match column {
        Some(c) => format!("{}:{line}:{c}", bad.display()),
        None => format!("{}:{line}:", bad.display()),
    };
    assert!(err.contains(&at), "{name}: stderr does not name {at}\n{all}");
    assert!(err.contains(hint), "{name}: stderr does not say {hint:?}\n{all}");
    assert!(err.contains("nothing ran"), "{name}: {all}");
    let out_text = stdout(&out);
    assert!(
        !out_text.lines().any(|l| l.starts_with("ok ") || l.starts_with("FAIL") || l.starts_with("skip")),
        "{name}: a scenario ran\n{all}"
    );
    assert!(!out_text.contains("passed"), "{name}: {all}");
    assert!(!marker.exists(), "{name}: the valid scenario beside the bad file ran (marker written)\n{all}");
}

/// The control for [`assert_refused`]: alone, the marker scenario does run and write it.
#[test]
fn marker_scenario_writes_its_marker_when_it_runs() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("marker");
    let out = mynasim_run(&[MARKER_SCENARIO], &[(MARKER_VAR, &marker)]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert!(stdout(&out).contains("1 passed"), "{}", both(&out));
    assert!(marker.exists(), "{}", both(&out));
}

macro_rules! refused {
    ($($test:ident: $file:literal, $line:literal, $column:expr, $hint:literal;)*) => {
        $(
            #[test]
            fn $test() {
                assert_refused($file, $line, $column, $hint);
            }
        )*
    };
}

refused! {
    refuses_yaml_syntax_error: "yaml-syntax.yaml", 4, Some(4), "did not find expected '-' indicator";
    refuses_unknown_step_key: "unknown-step-key.yaml", 3, Some(5), "unknown field `apdo`, expected one of name, on, apdu";
    refuses_unknown_top_level_key: "unknown-top-level-key.yaml", 2, Some(1), "unknown field `descripton`, expected one of name, description";
    refuses_unknown_step_option: "unknown-step-option.yaml", 4, Some(5), "unknown field `sww`, expected one of name, on, apdu, sw";
    // The step-shape errors point at the step (its first key), not at the stray option.
    refuses_option_of_another_step_kind: "option-of-another-kind.yaml", 4, Some(5), "`exit` belongs to run and shell steps";
    refuses_two_step_keys: "two-step-keys.yaml", 4, Some(5), "has apdu and sleep; split it into steps";
    refuses_step_without_step_key: "no-step-key.yaml", 4, Some(5), "a step needs one of: apdu, run, shell";
    refuses_bad_hex: "bad-hex.yaml", 3, Some(11), "write bytes as hex pairs such as \"00 A4 04 0C\"";
    refuses_odd_hex_digits: "odd-hex.yaml", 3, Some(11), "every byte is two digits";
    refuses_sw_with_non_hex_digit: "bad-sw-digit.yaml", 4, Some(9), "write four hex digits, `x` for any digit";
    refuses_sw_with_three_digits: "bad-sw-length.yaml", 4, Some(9), "a status word is two bytes, e.g. \"9000\"";
    refuses_bad_data_pattern: "bad-data-pattern.yaml", 4, Some(11), "write bytes as hex, `x` for any digit";
    refuses_bad_regex: "bad-regex.yaml", 4, Some(20), "unclosed group";
    refuses_bad_duration: "bad-duration.yaml", 4, Some(14), "write e.g. \"300ms\", \"2s\" or \"1m\"";
    refuses_missing_profile: "missing-profile.yaml", 2, Some(7), "write the name of a file in a profiles/ folder above the scenario";
    refuses_inline_profile_with_bad_field: "inline-profile-bad-field.yaml", 2, Some(47), "must be exactly 4 digits";
    refuses_undefined_variable: "undefined-variable.yaml", 4, Some(5), "define it under `vars:` or `save:` it in an earlier step";
    refuses_variable_used_before_its_save: "variable-before-save.yaml", 4, Some(5), "variable `later` is not defined here; define it under `vars:`";
    refuses_unknown_card_fact: "no-such-card-fact.yaml", 4, Some(5), "a card's facts are card.name, card.my_number";
    refuses_unclosed_reference: "malformed-reference.yaml", 4, Some(11), "write `${name}`";
    refuses_on_naming_no_card: "on-no-card.yaml", 6, Some(5), "this scenario's cards are alice, bob";
    refuses_unchanged_since_naming_no_earlier_step: "unchanged-since-no-step.yaml", 4, Some(5), "name a step with `name:` before this one, or write `start`";
    refuses_program_not_installed: "run-not-installed.yaml", 3, Some(5), "install it, give its full path, or use `shell:`";
    refuses_bad_exit_value: "bad-exit.yaml", 4, Some(11), "write a number, `failure` (any non-zero) or `any`";
    refuses_office_reset_of_sign: "office-reset-sign.yaml", 3, Some(5), "reset with kiosk_reset: sign";
    refuses_fault_with_two_kinds: "fault-two-kinds.yaml", 3, Some(5), "a fault step sets one of: latency, sw, tear";
    refuses_bench_without_count: "bench-without-count.yaml", 3, Some(12), "say how long to measure: `times: 100` (iterations) or `for: 10s`";
    refuses_bench_with_times_and_for: "bench-times-and-for.yaml", 4, Some(7), "give `times` or `for`, not both";
    refuses_bench_of_zero_times: "bench-zero-times.yaml", 3, Some(12), "write `times: 1` or more";
    refuses_bench_unknown_threshold: "bench-unknown-threshold.yaml", 5, Some(17), "unknown field `p99_under`, expected one of median_below, p90_below, p99_below";
    refuses_bench_threshold_not_a_duration: "bench-bad-threshold-duration.yaml", 6, Some(20), "write e.g. \"300ms\", \"2s\" or \"1m\"";
    refuses_bench_without_steps: "bench-without-steps.yaml", 4, Some(5), "a bench block needs `steps:`, the steps to measure";
    refuses_bench_on_a_card_not_in_the_scenario: "bench-cards-no-card.yaml", 4, Some(5), "its cards are alice, bob (or write `cards: all`)";
    refuses_bench_inside_parallel: "bench-in-parallel.yaml", 7, Some(13), "put it at the top level, with `cards: all`";
}

/// More than two cards: refused, and nothing runs, but the message has no position.
#[test]
fn refuses_three_cards_without_running() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("three-cards.yaml");
    std::fs::copy(fixture("bad-scenarios/three-cards.yaml"), &bad).unwrap();
    std::fs::copy(MARKER_SCENARIO, dir.path().join("valid.yaml")).unwrap();
    let marker = dir.path().join("marker");
    let out = mynasim_run(&[dir.path().to_str().unwrap()], &[(MARKER_VAR, &marker)]);
    assert_eq!(out.status.code(), Some(2), "{}", both(&out));
    assert!(stderr(&out).contains("a scenario has 1 to 2 cards"), "{}", both(&out));
    assert!(!marker.exists(), "{}", both(&out));
}

#[test]
fn refuses_three_cards_at_the_cards_key() {
    // `cards:` is line 2, column 1; the third card `carol:` is line 5, column 3.
    assert_refused("three-cards.yaml", 2, Some(1), "a scenario has 1 to 2 cards");
}

/// Every bad fixture is covered by a test above.
#[test]
fn every_bad_fixture_has_a_test() {
    let source = include_str!("scenario_runner.rs");
    for entry in std::fs::read_dir(fixture("bad-scenarios")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(source.contains(&format!("\"{name}\"")), "no test for bad-scenarios/{name}");
    }
}

/// All bad files of a folder are reported, not just the first.
#[test]
fn every_invalid_file_is_reported_in_one_run() {
    let out = mynasim_run(&["--check", &format!("{FIXTURES}/bad-scenarios")], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", both(&out));
    let count = std::fs::read_dir(fixture("bad-scenarios")).unwrap().count();
    assert!(stderr(&out).contains(&format!("{count} scenario file(s) are invalid; nothing ran")), "{}", both(&out));
}

#[test]
fn missing_profile_hint_names_a_folder_for_relative_paths() {
    let out = Command::new(env!("CARGO_BIN_EXE_mynasim"))
        .args(["run", "--check", "missing-profile.yaml"])
        .current_dir(fixture("bad-scenarios"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", both(&out));
    let err = stderr(&out);
    assert!(!err.contains("or a path relative to \n"), "the hint names no folder:\n{err}");
}

// ---------------------------------------------------------------------------------------
// 2. Failing scenarios: exit 1, the failing step's file:line, expected/actual, last APDUs.
// ---------------------------------------------------------------------------------------

fn run_failing(name: &str) -> (Output, String) {
    let file = fixture(&format!("failing/{name}"));
    let out = mynasim_run(&[file.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(1), "{name}: {}", both(&out));
    let text = stdout(&out);
    assert!(text.lines().any(|l| l.starts_with("FAIL ")), "{name}: {}", both(&out));
    assert!(text.contains("1 scenarios: 0 passed, 1 failed"), "{name}: {}", both(&out));
    (out, format!("{}:", file.display()))
}

/// `line`: the failing step; `last_apdu_line`: the step of the last APDU sent, named
/// `last_command` in the card's terms.
fn assert_apdu_failure(name: &str, line: u32, (last_apdu_line, last_command): (u32, &str), expected: &str, actual: &str) {
    let (out, prefix) = run_failing(name);
    let text = stdout(&out);
    assert!(text.contains(&format!("{prefix}{line}:5")), "{name}: no {prefix}{line}:5\n{}", both(&out));
    assert!(text.contains(&format!("   expected: {expected}")), "{name}: {}", both(&out));
    assert!(text.contains(&format!("   actual:   {actual}")), "{name}: {}", both(&out));
    assert!(text.contains("   last APDUs ("), "{name}: {}", both(&out));
    assert!(
        text.contains(&format!("     line {last_apdu_line:>3}  {last_command}\n               > ")),
        "{name}: the last APDUs do not show line {last_apdu_line} as {last_command:?}\n{}",
        both(&out)
    );
}

#[test]
fn failing_wrong_status_word() {
    assert_apdu_failure("wrong-sw.yaml", 5, (5, "VERIFY 0018 (auth PIN): tries left?"), "63C2", "63C3");
}

#[test]
fn failing_data_mismatch() {
    assert_apdu_failure(
        "data-mismatch.yaml",
        5,
        (5, "READ BINARY 000A (auth certificate) offset 0 len 4"),
        "4 bytes matching the pattern",
        "30 82",
    );
}

#[test]
fn failing_state_mismatch() {
    assert_apdu_failure("state-mismatch.yaml", 7, (5, "VERIFY 0018 (auth PIN) (4 bytes, masked)"), "3", "2");
}

#[test]
fn failing_prompt_never_comes() {
    let (out, prefix) = run_failing("prompt-never-comes.yaml");
    let text = stdout(&out);
    assert!(text.contains(&format!("{prefix}3:5")), "{}", both(&out));
    assert!(text.contains("prompt /PIN:/ did not appear within"), "{}", both(&out));
}

#[test]
fn failing_run_times_out() {
    let (out, prefix) = run_failing("run-times-out.yaml");
    let text = stdout(&out);
    assert!(text.contains(&format!("{prefix}3:5")), "{}", both(&out));
    assert!(text.contains("did not finish within 300ms and was killed"), "{}", both(&out));
}

#[test]
fn failing_run_steps_show_expected_and_actual() {
    for name in ["run-times-out.yaml", "prompt-never-comes.yaml"] {
        let (out, _) = run_failing(name);
        let text = stdout(&out);
        assert!(text.contains("   expected: ") && text.contains("   actual:   "), "{name}: {}", both(&out));
    }
}

#[test]
fn prompt_failure_quotes_what_the_terminal_showed() {
    let (out, _) = run_failing("prompt-never-comes.yaml");
    // Not the quoted source line (which also says hello): what the program showed, in the
    // message (`echo` writes to standard output, not the terminal).
    assert!(stdout(&out).contains("on standard output \"hello"), "{}", both(&out));
}

#[test]
fn prompt_that_appears_is_answered() {
    let out = mynasim_run(&[fixture("prompt/prompt-answered.yaml").to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
}

// ---------------------------------------------------------------------------------------
// 3. Reports: JUnit, JSON, transcripts, and a transcript replayed by scriptor.
// ---------------------------------------------------------------------------------------

/// The value of `attr="..."` in the first tag named `tag`.
fn attribute(xml: &str, tag: &str, attr: &str) -> Option<String> {
    let start = xml.find(&format!("<{tag} "))?;
    let end = start + xml[start..].find('>')?;
    let head = &xml[start..end];
    let at = head.find(&format!(" {attr}=\""))? + attr.len() + 3;
    Some(head[at..at + head[at..].find('"')?].to_owned())
}

#[test]
fn junit_counts_and_names_the_failing_line() {
    let dir = tempfile::tempdir().unwrap();
    let xml_path = dir.path().join("junit.xml");
    let out = mynasim_run(&["--junit", xml_path.to_str().unwrap(), &format!("{FIXTURES}/report")], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    let xml = std::fs::read_to_string(&xml_path).unwrap();
    assert!(xml.starts_with("<?xml"), "{xml}");
    for tag in ["testsuites", "testsuite"] {
        assert_eq!(attribute(&xml, tag, "tests").as_deref(), Some("2"), "{xml}");
        assert_eq!(attribute(&xml, tag, "failures").as_deref(), Some("1"), "{xml}");
    }
    assert_eq!(xml.matches("<testcase ").count(), 2, "{xml}");
    assert_eq!(xml.matches("<failure ").count(), 1, "{xml}");
    let message = attribute(&xml, "failure", "message").unwrap();
    assert!(message.contains("status word") && message.contains("(line 5)"), "{message}");
    assert!(xml.contains("fails.yaml:5:5"), "{xml}");
}

#[test]
fn json_report_parses_with_totals_and_outcomes() {
    let out = mynasim_run(&["--json", &format!("{FIXTURES}/report")], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", both(&out)));
    assert_eq!(v["passed"], 1, "{v}");
    assert_eq!(v["failed"], 1, "{v}");
    let scenarios = v["scenarios"].as_array().unwrap();
    assert_eq!(scenarios.len(), 2, "{v}");
    let outcome = |suffix: &str| {
        scenarios.iter().find(|s| s["file"].as_str().unwrap().ends_with(suffix)).map(|s| s["outcome"].as_str().unwrap().to_owned())
    };
    assert_eq!(outcome("report/passes.yaml").as_deref(), Some("passed"), "{v}");
    assert_eq!(outcome("report/fails.yaml").as_deref(), Some("failed"), "{v}");
    // The human lines went to standard error.
    assert!(stderr(&out).contains("FAIL "), "{}", both(&out));
}

#[test]
fn transcript_dir_writes_one_file_per_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let tdir = dir.path().join("transcripts");
    let out = mynasim_run(&["--transcript-dir", tdir.to_str().unwrap(), &format!("{FIXTURES}/report")], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    let mut names: Vec<String> = std::fs::read_dir(&tdir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.iter().all(|n| n.ends_with(".apdu")), "{names:?}");
    assert!(names[0].ends_with("report__fails.apdu") && names[1].ends_with("report__passes.apdu"), "{names:?}");
    let passes = std::fs::read_to_string(tdir.join(&names[1])).unwrap();
    // Without --show-pins the PIN bytes are masked.
    assert!(passes.contains("00 20 00 80 04 ** ** ** **"), "{passes}");
    assert!(!passes.contains("30 30 30 30"), "{passes}");
}

/// The status words of a transcript's `# < ...` comments.
fn transcript_sws(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# < "))
        .map(|rest| {
            let hex = rest.split_whitespace().next().unwrap();
            hex[hex.len() - 4..].to_uppercase()
        })
        .collect()
}

/// The status words scriptor printed (`< .. .. 63 C2 : ...`).
fn scriptor_sws(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.trim_start().strip_prefix("< "))
        .map(|rest| {
            let bytes: Vec<&str> = rest.split(':').next().unwrap().split_whitespace().collect();
            bytes[bytes.len().saturating_sub(2)..].concat().to_uppercase()
        })
        .collect()
}

#[test]
fn scriptor_replays_a_transcript_with_the_same_status_words() {
    let dir = tempfile::tempdir().unwrap();
    let tdir = dir.path().join("transcripts");
    let out = mynasim_run(
        &["--show-pins", "--transcript-dir", tdir.to_str().unwrap(), fixture("apdu-only/auth-pin-counter.yaml").to_str().unwrap()],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    let file = std::fs::read_dir(&tdir).unwrap().next().unwrap().unwrap().path();
    let transcript = std::fs::read_to_string(&file).unwrap();
    assert!(transcript.contains("00 20 00 80 04 30 30 30 30"), "--show-pins keeps the PIN bytes:\n{transcript}");
    let expected = transcript_sws(&transcript);
    assert_eq!(expected, ["9000", "9000", "63C3", "63C2", "9000", "9000"], "{transcript}");

    let mut options = SandboxOptions::new(env!("CARGO_BIN_EXE_mynasim"));
    options.cards = vec![CardSource::Profile(None)];
    let sandbox = Sandbox::start(&options).unwrap();
    let replay = sandbox.command("scriptor").args(["-r", "Virtual PCD 00 00"]).arg(&file).output().unwrap();
    let text = String::from_utf8_lossy(&replay.stdout).into_owned();
    let all = format!("{text}\n{}\nsandbox log:\n{}", String::from_utf8_lossy(&replay.stderr), sandbox.log());
    assert!(replay.status.success(), "{all}");
    assert_eq!(scriptor_sws(&text), expected, "{all}");
}

// ---------------------------------------------------------------------------------------
// 4. Isolation: parallel scenarios never share a card.
// ---------------------------------------------------------------------------------------

#[test]
fn parallel_lockouts_do_not_cross_talk() {
    let out = mynasim_run(&["--jobs", "4", &format!("{FIXTURES}/isolation")], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    let text = stdout(&out);
    assert_eq!(text.lines().filter(|l| l.starts_with("ok ")).count(), 5, "{}", both(&out));
    assert!(text.contains("5 scenarios: 5 passed, 0 failed"), "{}", both(&out));
    assert!(!text.contains("skipped"), "every scenario ran through pcscd: {}", both(&out));
}

// ---------------------------------------------------------------------------------------
// 5. In process.
// ---------------------------------------------------------------------------------------

#[test]
fn in_process_runs_apdu_only_scenarios() {
    let out = mynasim_run(&["--in-process", fixture("apdu-only/auth-pin-counter.yaml").to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    let text = stdout(&out);
    assert!(text.lines().any(|l| l.starts_with("ok ") && l.contains("auth-pin-counter.yaml")), "{}", both(&out));
    assert!(text.contains("1 scenarios: 1 passed, 0 failed"), "{}", both(&out));
}

#[test]
fn in_process_skips_scenarios_with_run_steps() {
    let out = mynasim_run(&["--in-process", fixture("in-process/with-run-step.yaml").to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    let text = stdout(&out);
    let line = text.lines().find(|l| l.contains("with-run-step.yaml")).unwrap_or_default();
    assert!(line.starts_with("skip ") && line.contains("needs pcscd"), "{}", both(&out));
    assert!(text.contains("0 passed, 0 failed, 1 skipped"), "{}", both(&out));
}

/// On a machine without pcscd (hidden here by binding /dev/null over it in a private mount
/// namespace), APDU-only scenarios run in process by themselves and the run says so; the
/// scenarios that need pcscd are skipped with the reason.
#[test]
fn without_pcscd_apdu_only_scenarios_run_in_process() {
    let pcscd = ["/usr/sbin/pcscd", "/sbin/pcscd"].into_iter().find(|p| Path::new(p).is_file()).expect("pcscd is installed");
    let script = format!("mount -n --bind /dev/null {pcscd} && exec \"$@\"");
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script, "sh", env!("CARGO_BIN_EXE_mynasim"), "run"])
        .arg(fixture("apdu-only/auth-pin-counter.yaml"))
        .arg(fixture("in-process/with-run-step.yaml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert!(stderr(&out).contains("no private pcscd here"), "{}", both(&out));
    let text = stdout(&out);
    let line = |name: &str| text.lines().find(|l| l.contains(name)).unwrap_or_default().to_owned();
    assert!(line("auth-pin-counter.yaml").starts_with("ok ") && line("auth-pin-counter.yaml").contains("ran in process"), "{}", both(&out));
    assert!(line("with-run-step.yaml").starts_with("skip ") && line("with-run-step.yaml").contains("needs pcscd"), "{}", both(&out));
}

/// The README's complete example is the shipped scenario it names, word for word (and that
/// scenario passes in the suite), so the documentation cannot drift from what runs.
#[test]
fn readme_example_is_the_shipped_scenario() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    for file in ["scenarios/lockouts/sign-password-last-try.yaml", "scenarios/bench/pcsc-sign-two-cards.yaml"] {
        let marker = format!("```yaml\n# {file}\n");
        let start = readme.find(&marker).unwrap_or_else(|| panic!("the README shows {file}")) + marker.len();
        let example = &readme[start..start + readme[start..].find("```").unwrap()];
        let shipped = std::fs::read_to_string(root.join(file)).unwrap();
        assert_eq!(example, shipped, "{file}");
    }
}

/// A scenario runs on a copy of its profile's state file (issue 11 item 6: the old `check`
/// spent tries in the profile's own file): wrong PINs in the scenario leave the user's
/// state file byte for byte as it was, and the scenario starts from its counters.
#[test]
fn scenarios_never_write_the_profiles_own_state_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("card.yaml"), "seed: state-copy\nstate_file: card-state.yaml\n").unwrap();
    // Make the state file: one wrong PIN through `mynasim apdu` (2 tries left on disk).
    let apdu = Command::new(env!("CARGO_BIN_EXE_mynasim"))
        .args(["apdu", "--profile"])
        .arg(dir.path().join("card.yaml"))
        .args(["00A4040C0AD392F000260100000001", "00A4020C020018", "002000800430303030"])
        .output()
        .unwrap();
    assert!(stdout(&apdu).contains("< 63C2"), "{}", both(&apdu));
    let before = std::fs::read(dir.path().join("card-state.yaml")).unwrap();
    std::fs::write(
        dir.path().join("lock.yaml"),
        "card: card.yaml\nsteps:\n  - apdu: 00A4040C0AD392F000260100000001\n  - apdu: 00A4020C020018\n  - apdu: 002000800430303030\n    sw: 63C1\n  - apdu: 002000800430303030\n    sw: 63C0\n  - state: { pins: { auth: { blocked: true } } }\n",
    )
    .unwrap();
    let out = mynasim_run(&[dir.path().join("lock.yaml").to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert_eq!(std::fs::read(dir.path().join("card-state.yaml")).unwrap(), before, "the profile's state file changed");
}

// ---------------------------------------------------------------------------------------
// 6. Bench blocks: what they measure, thresholds, reports.
// ---------------------------------------------------------------------------------------

/// Runs a bench fixture with `--json` (and `extra` arguments); the exit code and the
/// scenario's JSON.
fn run_bench(name: &str, extra: &[&str]) -> (Output, serde_json::Value) {
    let file = fixture(&format!("bench/{name}"));
    let mut args = vec!["--json"];
    args.extend_from_slice(extra);
    args.push(file.to_str().unwrap());
    let out = mynasim_run(&args, &[]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", both(&out)));
    let scenario = v["scenarios"][0].clone();
    (out, scenario)
}

fn us(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// A 25 ms sleep and an APDU, 5 times after 2 warm-up iterations: 5 iterations counted,
/// none failed, every latency of the sleep at least 25 ms, the APDU timed on its own, the
/// rate bounded by the sleeps, thresholds met; in process and through pcscd.
fn assert_sleep_bench(mode: &[&str], expected_mode: &str) {
    let (out, s) = run_bench("sleep.yaml", mode);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert_eq!(s["mode"], expected_mode, "{s}");
    let benches = s["benches"].as_array().unwrap();
    assert_eq!(benches.len(), 1, "{s}");
    let b = &benches[0];
    assert_eq!(b["name"], "naps", "{b}");
    assert_eq!(b["pos"]["line"], 4, "{b}");
    assert_eq!(b["warmup"], 2, "{b}");
    let it = &b["iterations"];
    assert_eq!(it["count"], 5, "{b}");
    assert_eq!(it["errors"], 0, "{b}");
    assert!(us(&it["median_us"]) >= 25_000.0, "{b}");
    assert!(us(&it["p90_us"]) >= us(&it["median_us"]) && us(&it["p99_us"]) >= us(&it["p90_us"]), "{b}");
    assert!(us(&it["max_us"]) >= us(&it["p99_us"]), "{b}");
    // Each iteration sleeps 25 ms: at most 40 per second.
    let rate = us(&it["per_second"]);
    assert!(rate > 0.0 && rate <= 40.0, "{b}");
    assert!(us(&it["seconds"]) >= 0.125, "{b}");
    let per_card = b["per_card"].as_array().unwrap();
    assert_eq!(per_card.len(), 1, "{b}");
    assert_eq!(per_card[0]["card"], "card", "{b}");
    assert_eq!(per_card[0]["count"], 5, "{b}");
    let steps = b["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2, "{b}");
    assert_eq!(steps[0]["step"], "sleep", "{b}");
    assert_eq!(steps[0]["pos"]["line"], 10, "{b}");
    assert_eq!(steps[0]["count"], 5, "{b}");
    assert!(us(&steps[0]["median_us"]) >= 25_000.0, "{b}");
    assert!(steps[1]["step"].as_str().unwrap().starts_with("apdu 00 A4 02 0C"), "{b}");
    assert_eq!(steps[1]["count"], 5, "{b}");
    // The APDU alone is far from the 25 ms of the sleep: steps are timed one by one.
    assert!(us(&steps[1]["median_us"]) < 25_000.0, "{b}");
    // Warm-up iterations are run (their APDUs are in the transcript) but not counted.
    let selects = s["transcript"].as_array().unwrap().iter().filter(|e| e["command"] == "00A4020C020006").count();
    assert_eq!(selects, 7, "{s}");
    // The summary shows the block and its steps in human units.
    let err = stderr(&out);
    assert!(err.contains("bench `naps` (line 4) on card: 5 iterations in"), "{}", both(&out));
    assert!(err.contains("       line  10  sleep: "), "{}", both(&out));
    assert!(err.contains(" ms, p90 "), "{}", both(&out));
}

#[test]
fn bench_measures_each_iteration_and_step_in_process() {
    assert_sleep_bench(&["--in-process"], "in-process");
}

#[test]
fn bench_measures_each_iteration_and_step_through_pcscd() {
    assert_sleep_bench(&[], "pcsc");
}

#[test]
fn bench_scale_multiplies_iterations_and_warm_up() {
    let (out, s) = run_bench("sleep.yaml", &["--in-process", "--bench-scale", "2"]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert_eq!(s["benches"][0]["iterations"]["count"], 10, "{s}");
    assert_eq!(s["benches"][0]["warmup"], 4, "{s}");
    let out = mynasim_run(&["--bench-scale", "0", &fixture("bench/sleep.yaml").display().to_string()], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", both(&out));
    assert!(stderr(&out).contains("is not a positive number"), "{}", both(&out));
}

/// `for: 200ms` of 20 ms sleeps: iterations until the time is up (at most 10 fit, at least
/// one runs), measured over at least the 200 ms; `--bench-scale 2` doubles the time.
#[test]
fn bench_for_a_duration_runs_until_the_time_is_up() {
    for (scale, at_least) in [("1", 0.2_f64), ("2", 0.4)] {
        let (out, s) = run_bench("for-duration.yaml", &["--in-process", "--bench-scale", scale]);
        assert_eq!(out.status.code(), Some(0), "{}", both(&out));
        let it = &s["benches"][0]["iterations"];
        let count = it["count"].as_u64().unwrap();
        let most = (at_least / 0.02).round() as u64;
        assert!((1..=most).contains(&count), "scale {scale}: {it}");
        assert!(us(&it["seconds"]) >= at_least, "scale {scale}: {it}");
        assert!(us(&it["median_us"]) >= 20_000.0, "scale {scale}: {it}");
    }
}

/// `cards: all`: one lane per card at once through pcscd, each card's figures and the
/// total; each card's APDUs reach that card.
#[test]
fn bench_on_all_cards_reports_each_card_and_the_total() {
    let (out, s) = run_bench("two-cards.yaml", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    let b = &s["benches"][0];
    assert_eq!(b["iterations"]["count"], 40, "{b}");
    let cards: Vec<(&str, u64)> =
        b["per_card"].as_array().unwrap().iter().map(|c| (c["card"].as_str().unwrap(), c["count"].as_u64().unwrap())).collect();
    assert_eq!(cards, [("alice", 20), ("bob", 20)], "{b}");
    // The total rate is over one wall time for both cards: about their sum, and more than either.
    let total = us(&b["iterations"]["per_second"]);
    let each: Vec<f64> = b["per_card"].as_array().unwrap().iter().map(|c| us(&c["per_second"])).collect();
    assert!(total > 0.0 && total <= each.iter().sum::<f64>() * 1.0001, "{b}");
    for card in ["alice", "bob"] {
        let n = s["transcript"].as_array().unwrap().iter().filter(|e| e["card"] == card).count();
        assert_eq!(n, 20, "{card}: {s}");
    }
    assert!(stderr(&out).contains("card bob: 20 iterations"), "{}", both(&out));
}

/// A missed threshold fails the scenario at the threshold's position, with the figure,
/// measured and required; the figures are still reported.
#[test]
fn bench_threshold_missed_names_the_figure_and_its_position() {
    let (out, s) = run_bench("p99-missed.yaml", &["--in-process"]);
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    let err = stderr(&out);
    let file = fixture("bench/p99-missed.yaml");
    assert!(err.contains(&format!("{}:7:20", file.display())), "{}", both(&out));
    assert!(err.contains("bench (slow): the p99 iteration took"), "{}", both(&out));
    assert!(err.contains("not below 1.00 ms"), "{}", both(&out));
    assert!(err.contains("expected: p99 below 1.00 ms"), "{}", both(&out));
    assert_eq!(s["outcome"], "failed", "{s}");
    assert_eq!(s["failure"]["pos"]["line"], 7, "{s}");
    assert_eq!(s["benches"][0]["iterations"]["count"], 3, "{s}");
    assert!(us(&s["benches"][0]["iterations"]["p99_us"]) >= 5_000.0, "{s}");

    let (out, s) = run_bench("rate-missed.yaml", &["--in-process"]);
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    let err = stderr(&out);
    assert!(err.contains(&format!("{}:6:38", fixture("bench/rate-missed.yaml").display())), "{}", both(&out));
    assert!(err.contains("iterations per second, required at least 1000000"), "{}", both(&out));
    assert_eq!(s["failure"]["expected"], "at least 1000000 per second", "{s}");
}

/// Failing steps are errors of their step and iteration: within `max_errors` the
/// scenario passes and every iteration ran; beyond it the scenario fails at the step, and
/// the block stopped there.
#[test]
fn bench_counts_errors_and_fails_beyond_max_errors() {
    let (out, s) = run_bench("errors-allowed.yaml", &["--in-process"]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    let b = &s["benches"][0];
    assert_eq!((b["iterations"]["count"].as_u64(), b["iterations"]["errors"].as_u64()), (Some(3), Some(3)), "{b}");
    let steps: Vec<(u64, u64)> =
        b["steps"].as_array().unwrap().iter().map(|s| (s["count"].as_u64().unwrap(), s["errors"].as_u64().unwrap())).collect();
    assert_eq!(steps, [(3, 0), (3, 3), (0, 0)], "{b}");
    assert_eq!(b["iterations"]["per_second"], 0.0, "{b}");

    let (out, s) = run_bench("errors-refused.yaml", &["--in-process"]);
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    assert_eq!(s["failure"]["pos"]["line"], 7, "{s}");
    assert!(stderr(&out).contains("1 of 1 iterations failed, 0 allowed"), "{}", both(&out));
    assert_eq!(s["benches"][0]["iterations"]["count"], 1, "{s}");
}

/// JUnit carries a bench's figures as properties and its summary as system-out; a
/// scenario without a bench block has neither (and no `benches` in the JSON).
#[test]
fn bench_figures_in_junit_and_absent_without_bench() {
    let dir = tempfile::tempdir().unwrap();
    let xml_path = dir.path().join("report.xml");
    let out = mynasim_run(
        &[
            "--in-process",
            "--junit",
            xml_path.to_str().unwrap(),
            fixture("bench/sleep.yaml").to_str().unwrap(),
            fixture("report/passes.yaml").to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    let xml = std::fs::read_to_string(&xml_path).unwrap();
    assert!(xml.contains("<property name=\"bench.naps.count\" value=\"5\"/>"), "{xml}");
    assert!(xml.contains("<property name=\"bench.naps.median_us\" value=\""), "{xml}");
    assert!(xml.contains("<property name=\"bench.naps.line.10.count\" value=\"5\"/>"), "{xml}");
    assert!(xml.contains("<system-out>     bench `naps` (line 4)"), "{xml}");
    assert_eq!(xml.matches("<properties>").count(), 1, "{xml}");
    // Every testcase is closed: the bench one by `</testcase>`, the other by `/>` as before.
    let open: Vec<&str> = xml.lines().filter(|l| l.trim_start().starts_with("<testcase ")).collect();
    assert_eq!(open.len(), 2, "{xml}");
    assert_eq!(open.iter().filter(|l| l.ends_with("/>")).count(), 1, "{xml}");
    assert_eq!(xml.matches("</testcase>").count(), 1, "{xml}");

    let out = mynasim_run(&["--json", &format!("{FIXTURES}/report")], &[]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for s in v["scenarios"].as_array().unwrap() {
        assert!(s.get("benches").is_none(), "{s}");
    }
}
