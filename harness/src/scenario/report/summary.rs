//! What a person reads: a progress line while scenarios run, then each failure with the
//! step's line of the file, what was expected, what came back and the last APDUs, then
//! the totals.

use std::fmt::Write as _;

use crate::scenario::check::render_labeled;
use crate::scenario::result::{Outcome, ScenarioResult};

/// APDUs shown before a failure.
pub const LAST_APDUS: usize = 8;

/// Totals of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Passed.
    pub passed: usize,
    /// Failed.
    pub failed: usize,
    /// Skipped.
    pub skipped: usize,
}

impl Totals {
    /// Counts results.
    pub fn of(results: &[ScenarioResult]) -> Totals {
        let mut t = Totals::default();
        for r in results {
            match r.outcome {
                Outcome::Passed => t.passed += 1,
                Outcome::Failed => t.failed += 1,
                Outcome::Skipped => t.skipped += 1,
            }
        }
        t
    }
}

/// The progress line after `done` of `total` scenarios, `failed` of them failing.
pub fn progress(done: usize, total: usize, failed: usize) -> String {
    format!("[{done}/{total}] {failed} failed")
}

/// One line per scenario as it finishes: `ok`, `FAIL` or `skip`, its file and time.
pub fn line(result: &ScenarioResult) -> String {
    let label = match result.outcome {
        Outcome::Passed => "ok  ",
        Outcome::Failed => "FAIL",
        Outcome::Skipped => "skip",
    };
    let notes = if result.notes.is_empty() { String::new() } else { format!("  ({})", result.notes.join("; ")) };
    format!("{label} {} ({:.2} s){notes}", result.file.display(), result.seconds)
}

/// The report of one failed scenario.
pub fn failure(result: &ScenarioResult) -> String {
    let mut out = String::new();
    let Some(f) = &result.failure else { return out };
    let text = std::fs::read_to_string(&result.file).unwrap_or_default();
    let title = if f.step.is_empty() { f.title.clone() } else { format!("{}: {}", f.step, f.title) };
    match f.pos {
        Some(pos) => out.push_str(&render_labeled("failed", &result.file, &text, pos, &title)),
        None => {
            let _ = write!(out, "failed: {title}\n --> {}", result.file.display());
        }
    }
    out.push('\n');
    if let Some(e) = &f.expected {
        let _ = writeln!(out, "   expected: {e}");
    }
    if let Some(a) = &f.actual {
        let _ = writeln!(out, "   actual:   {a}");
    }
    if let Some(d) = &f.detail {
        for l in d.lines() {
            let _ = writeln!(out, "   {l}");
        }
    }
    if !result.transcript.is_empty() {
        let _ = writeln!(out, "   last APDUs ({} in all):", result.transcript.len());
        for e in &result.transcript[result.transcript.len().saturating_sub(LAST_APDUS)..] {
            let _ = writeln!(out, "     line {:>3}  > {}", e.line, e.command);
            let _ = writeln!(out, "               < {}", e.response.as_deref().unwrap_or("(no answer)"));
        }
    }
    out
}

/// The closing summary: totals and time.
pub fn totals(results: &[ScenarioResult], seconds: f64) -> String {
    let t = Totals::of(results);
    let mut s = format!("{} scenarios: {} passed, {} failed", results.len(), t.passed, t.failed);
    if t.skipped > 0 {
        let _ = write!(s, ", {} skipped", t.skipped);
    }
    let _ = write!(s, " in {seconds:.1} s");
    s
}
