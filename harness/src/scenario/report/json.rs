//! `--json`: every result, as the worker protocol carries it, plus totals.

use serde::Serialize;

use super::summary::Totals;
use crate::scenario::result::ScenarioResult;

#[derive(Serialize)]
struct Report<'a> {
    version: u32,
    passed: usize,
    failed: usize,
    skipped: usize,
    seconds: f64,
    scenarios: &'a [ScenarioResult],
}

/// The JSON report (format version 1).
pub fn render(results: &[ScenarioResult], seconds: f64) -> Result<String, serde_json::Error> {
    let t = Totals::of(results);
    serde_json::to_string_pretty(&Report {
        version: 1,
        passed: t.passed,
        failed: t.failed,
        skipped: t.skipped,
        seconds,
        scenarios: results,
    })
}
