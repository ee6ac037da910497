//! What a person reads: a progress line while scenarios run, then each failure with the
//! step's line of the file, what was expected, what came back and the last APDUs, then
//! the totals.

use std::fmt::Write as _;

use crate::scenario::check::render_labeled;
use crate::scenario::result::{BenchFigures, BenchResult, Outcome, ScenarioResult};

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
            let _ = writeln!(out, "     line {:>3}  {}", e.line, e.name());
            let _ = writeln!(out, "               > {}", e.command);
            match &e.response {
                Some(response) => {
                    let _ = writeln!(out, "               < {response}");
                    let _ = writeln!(out, "                 {}", crate::transcript::answer_meaning(response));
                }
                None => {
                    let _ = writeln!(out, "               < (no answer)");
                }
            }
        }
    }
    out
}

/// A bench block's figures, under its scenario's line: the block (all cards), each card
/// when there are several, then each step.
pub fn bench(b: &BenchResult) -> String {
    let it = &b.iterations;
    let cards = b.per_card.len();
    let per_card = if cards > 1 { format!(" ({} per card)", rate(it.per_second / cards as f64)) } else { String::new() };
    let card_names = b.per_card.iter().map(|c| c.card.as_str()).collect::<Vec<_>>().join(", ");
    let mut out = format!(
        "     bench `{}` (line {}) on {card_names}: {} in {:.2} s, {}{per_card}, {}",
        b.name,
        b.pos.line,
        iterations(it.count),
        it.seconds,
        rate(it.per_second),
        latencies(it)
    );
    if cards > 1 {
        for c in &b.per_card {
            let _ = write!(
                out,
                "
       card {}: {} iterations, {}, {}",
                c.card,
                c.figures.count,
                rate(c.figures.per_second),
                latencies(&c.figures)
            );
        }
    }
    for s in &b.steps {
        let _ = write!(
            out,
            "
       line {:>3}  {}: {}, {}",
            s.pos.line,
            excerpt_step(&s.step),
            rate(s.figures.per_second),
            latencies(&s.figures)
        );
    }
    out
}

fn iterations(n: u64) -> String {
    if n == 1 {
        "1 iteration".to_owned()
    } else {
        format!("{n} iterations")
    }
}

fn rate(per_second: f64) -> String {
    format!("{per_second:.1}/s")
}

fn latencies(f: &BenchFigures) -> String {
    let errors = if f.errors == 1 { "1 error".to_owned() } else { format!("{} errors", f.errors) };
    if f.count == 0 {
        return "never ran".to_owned();
    }
    if f.count == f.errors {
        return format!("none passed, {errors}");
    }
    format!(
        "median {}, p90 {}, p99 {}, max {}, {errors}",
        human_micros(f.median_us),
        human_micros(f.p90_us),
        human_micros(f.p99_us),
        human_micros(f.max_us)
    )
}

fn excerpt_step(step: &str) -> String {
    const MAX: usize = 48;
    if step.chars().count() <= MAX {
        step.to_owned()
    } else {
        format!("{}…", step.chars().take(MAX).collect::<String>())
    }
}

/// A duration given in microseconds, in a unit a person reads: `812 µs`, `4.02 ms`,
/// `1.23 s`.
pub fn human_micros(us: f64) -> String {
    if us < 10.0 {
        format!("{us:.2} µs")
    } else if us < 1_000.0 {
        format!("{us:.0} µs")
    } else if us < 1_000_000.0 {
        format!("{:.2} ms", us / 1_000.0)
    } else {
        format!("{:.2} s", us / 1_000_000.0)
    }
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
