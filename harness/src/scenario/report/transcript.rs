//! `--transcript-dir DIR`: one file per scenario that `scriptor` (pcsc-tools) replays:
//! each command as a hex line after a `#` comment naming it in the card's terms, its answer
//! as a `#` comment. PIN bytes are `**` unless
//! `--show-pins` (such a file documents the run but cannot be replayed as it is).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::scenario::result::ScenarioResult;

/// The transcript text of one scenario.
pub fn render(result: &ScenarioResult) -> String {
    let mut out = format!("# mynasim scenario {} ({})\n# replay: scriptor -r READER THIS_FILE\n", result.name, result.file.display());
    let mut card = None;
    for e in &result.transcript {
        if card.as_ref() != Some(&e.card) {
            let _ = writeln!(out, "# card {}", e.card);
            card = Some(e.card.clone());
        }
        let spaced: Vec<String> = e.command.as_bytes().chunks(2).map(|c| String::from_utf8_lossy(c).into_owned()).collect();
        let _ = writeln!(out, "# {}", e.name());
        let _ = writeln!(out, "{}", spaced.join(" "));
        let _ = writeln!(out, "# < {} (line {}, {} µs)", e.response.as_deref().unwrap_or("no answer"), e.line, e.micros);
    }
    out
}

/// The file name for a scenario's transcript: its path with `/` as `__`.
pub fn file_name(result: &ScenarioResult) -> String {
    let path = result.file.display().to_string();
    let trimmed = path.trim_start_matches("./").trim_start_matches('/');
    format!("{}.apdu", trimmed.trim_end_matches(".yaml").trim_end_matches(".yml").replace('/', "__"))
}

/// Writes every scenario's transcript into `dir`.
pub fn write_all(results: &[ScenarioResult], dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    for r in results {
        let path = dir.join(file_name(r));
        crate::load::write_atomically(&path, render(r).as_bytes())?;
        written.push(path);
    }
    Ok(written)
}
