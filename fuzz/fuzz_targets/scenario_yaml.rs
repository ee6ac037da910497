//! Scenario files: the input written to a file next to a copy of the shipped profiles and
//! loaded with `mynasim_harness::scenario::load`. No panic; errors are fine, and an
//! error that names a position names one inside the file.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

/// `<tmp>/mynasim-fuzz-scenario-<pid>/scenarios/fuzz/input.yaml`, with the shipped
/// `scenarios/profiles/*.yaml` copied to `scenarios/profiles/` so `extends: default` works.
fn input_path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let root = std::env::temp_dir().join(format!("mynasim-fuzz-scenario-{}", std::process::id())).join("scenarios");
        let profiles = root.join("profiles");
        std::fs::create_dir_all(&profiles).expect("temp dir");
        std::fs::create_dir_all(root.join("fuzz")).expect("temp dir");
        let shipped = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios/profiles");
        for entry in std::fs::read_dir(&shipped).into_iter().flatten().flatten() {
            let _ = std::fs::copy(entry.path(), profiles.join(entry.file_name()));
        }
        root.join("fuzz").join("input.yaml")
    })
}

/// Lines as YAML counts them: breaks are LF, CRLF and a lone CR.
fn yaml_lines(text: &str) -> u32 {
    let bytes = text.as_bytes();
    let breaks = bytes.iter().enumerate().filter(|(i, b)| **b == b'\n' || (**b == b'\r' && bytes.get(i + 1) != Some(&b'\n'))).count();
    breaks as u32 + 1
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let path = input_path();
    std::fs::write(path, text).expect("write the scenario file");
    if let Err(e) = mynasim_harness::scenario::load(path) {
        if let Some(pos) = e.pos {
            // YAML line breaks: LF, CRLF and a lone CR (YAML 1.2 §5.4). `str::lines` does
            // not split at a lone CR; see `yaml_lines`.
            let lines = yaml_lines(text);
            assert!(pos.line <= lines + 1, "error position line {} beyond the file's {lines} lines: {}", pos.line, e.message);
        }
    }
});
