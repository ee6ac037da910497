//! Regression tests for findings of the fuzz targets in `fuzz/` (see fuzz/README.md). A
//! test marked `#[ignore = "fuzz finding: ..."]` fails until the bug it names is fixed.

#![allow(clippy::unwrap_used)]

use mynasim_harness::scenario;

/// `scenario_yaml` (hand-minimized from crash-5b5f2a0f…): YAML takes a lone CR as a line
/// break (YAML 1.2 §5.4), so serde-saphyr's error location counts it, but the rendered
/// error then has no `--> file:line:column` header and no quoted line (the renderer finds
/// no line 4 in the text, which `str::lines` splits only at LF). The same file with LF
/// breaks names the file and quotes the line. (A fix: turn lone CRs into LFs before
/// parsing; byte offsets and so positions stay the same.)
#[test]
fn errors_in_a_file_with_cr_line_breaks_name_the_file_and_quote_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let text = "name: cr\rsteps:\r  - apdu: \"00 A4 04 0C 0A D3 92 F0 00 26 01 00 00 00 01\"\r    sw: \"${nope}\"\r";
    let path = dir.path().join("cr.yaml");
    std::fs::write(&path, text).unwrap();
    let error = scenario::load(&path).unwrap_err();
    assert_eq!(error.pos.map(|p| (p.line, p.column)), Some((4, 9)), "{}", error.message);
    assert!(error.message.contains(&format!("--> {}:4:9", path.display())), "no file:line:column in:\n{}", error.message);
    assert!(error.message.contains("sw: \"${nope}\""), "the offending line is not quoted:\n{}", error.message);
}

/// The same scenario with LF line breaks: the guard of the test above (passes).
#[test]
fn errors_in_a_file_with_lf_line_breaks_name_the_file_and_quote_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let text = "name: lf\nsteps:\n  - apdu: \"00 A4 04 0C 0A D3 92 F0 00 26 01 00 00 00 01\"\n    sw: \"${nope}\"\n";
    let path = dir.path().join("lf.yaml");
    std::fs::write(&path, text).unwrap();
    let error = scenario::load(&path).unwrap_err();
    assert_eq!(error.pos.map(|p| (p.line, p.column)), Some((4, 9)), "{}", error.message);
    assert!(error.message.contains(&format!("--> {}:4:9", path.display())), "{}", error.message);
    assert!(error.message.contains("sw: \"${nope}\""), "{}", error.message);
}
