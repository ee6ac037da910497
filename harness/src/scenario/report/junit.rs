//! `--junit FILE`: JUnit XML as CI systems read it (one testsuite, one testcase per
//! scenario; a failure carries the summary's text of it).

use std::fmt::Write as _;

use quick_xml::escape::escape;

use super::summary::{self, Totals};
use crate::scenario::result::{BenchFigures, Outcome, ScenarioResult};

/// The JUnit XML document.
pub fn render(results: &[ScenarioResult], seconds: f64) -> String {
    let t = Totals::of(results);
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"mynasim\" tests=\"{}\" failures=\"{}\" skipped=\"{}\" time=\"{seconds:.3}\">",
        results.len(),
        t.failed,
        t.skipped
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"mynasim scenarios\" tests=\"{}\" failures=\"{}\" skipped=\"{}\" time=\"{seconds:.3}\">",
        results.len(),
        t.failed,
        t.skipped
    );
    for r in results {
        let file = r.file.display().to_string();
        let _ = write!(
            out,
            "    <testcase name=\"{}\" classname=\"{}\" file=\"{}\" time=\"{:.3}\"",
            escape(r.name.as_str()),
            escape(file.trim_end_matches(".yaml").replace('/', ".").as_str()),
            escape(file.as_str()),
            r.seconds
        );
        if !r.benches.is_empty() {
            out.push_str(">\n");
            bench_properties(&mut out, r);
        }
        let close = if r.benches.is_empty() { "" } else { "    </testcase>\n" };
        match r.outcome {
            Outcome::Passed if r.benches.is_empty() => out.push_str("/>\n"),
            Outcome::Passed => out.push_str(close),
            Outcome::Skipped => {
                let _ = writeln!(out, ">\n      <skipped message=\"{}\"/>\n    </testcase>", escape(r.notes.join("; ").as_str()));
            }
            Outcome::Failed => {
                let title = r.failure.as_ref().map(|f| f.title.clone()).unwrap_or_default();
                let line = r.failure.as_ref().and_then(|f| f.pos).map(|p| format!(" (line {})", p.line)).unwrap_or_default();
                let open = if r.benches.is_empty() { ">\n" } else { "" };
                let _ = writeln!(
                    out,
                    "{open}      <failure message=\"{}{}\">{}</failure>\n    </testcase>",
                    escape(title.as_str()),
                    escape(line.as_str()),
                    escape(summary::failure(r).as_str())
                );
            }
        }
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

/// A scenario's bench figures: `bench.NAME.FIGURE` for the block (all cards),
/// `bench.NAME.line.N.FIGURE` per step (times in µs, rates per second), and the
/// summary's text of them as system-out.
fn bench_properties(out: &mut String, r: &ScenarioResult) {
    out.push_str("      <properties>\n");
    for b in &r.benches {
        let mut figures = |prefix: String, f: &BenchFigures| {
            let values = [
                ("count", f.count as f64),
                ("errors", f.errors as f64),
                ("seconds", f.seconds),
                ("per_second", f.per_second),
                ("median_us", f.median_us),
                ("p90_us", f.p90_us),
                ("p99_us", f.p99_us),
                ("max_us", f.max_us),
            ];
            for (name, value) in values {
                let _ = writeln!(out, "        <property name=\"{}.{name}\" value=\"{value}\"/>", escape(prefix.as_str()));
            }
        };
        figures(format!("bench.{}", b.name), &b.iterations);
        for s in &b.steps {
            figures(format!("bench.{}.line.{}", b.name, s.pos.line), &s.figures);
        }
    }
    out.push_str("      </properties>\n");
    let text: Vec<String> = r.benches.iter().map(summary::bench).collect();
    let _ = writeln!(out, "      <system-out>{}</system-out>", escape(text.join("\n").as_str()));
}
