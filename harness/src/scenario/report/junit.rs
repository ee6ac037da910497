//! `--junit FILE`: JUnit XML as CI systems read it (one testsuite, one testcase per
//! scenario; a failure carries the summary's text of it).

use std::fmt::Write as _;

use quick_xml::escape::escape;

use super::summary::{self, Totals};
use crate::scenario::result::{Outcome, ScenarioResult};

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
        match r.outcome {
            Outcome::Passed => out.push_str("/>\n"),
            Outcome::Skipped => {
                let _ = writeln!(out, ">\n      <skipped message=\"{}\"/>\n    </testcase>", escape(r.notes.join("; ").as_str()));
            }
            Outcome::Failed => {
                let title = r.failure.as_ref().map(|f| f.title.clone()).unwrap_or_default();
                let line = r.failure.as_ref().and_then(|f| f.pos).map(|p| format!(" (line {})", p.line)).unwrap_or_default();
                let _ = writeln!(
                    out,
                    ">\n      <failure message=\"{}{}\">{}</failure>\n    </testcase>",
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
