//! One module per kind of step. Each runs its step against the [`Context`] and returns
//! the failure, with what was expected and what came back.

use super::format::{Pos, Program, Step, StepKind};
use super::result::Failure;
use super::runner::Context;

mod apdu;
mod bench;
mod card;
mod fault;
mod flow;
mod run;
mod set;
mod state;
mod verify;

/// Runs one step on card `card`.
pub(super) fn run(cx: &mut Context<'_>, step: &Step, pos: Pos, card: usize) -> Result<(), Failure> {
    match &step.kind {
        StepKind::Apdu(a) => apdu::run(cx, a, pos, card),
        StepKind::Run(r) => run::run(cx, r),
        StepKind::Card(action) => card::run(cx, action, card),
        StepKind::State(expect) => state::run(cx, expect, card),
        StepKind::Set(set) => set::run(cx, set, card),
        StepKind::Fault(fault) => fault::run(cx, fault, card),
        StepKind::Verify(v) => verify::run(cx, v, card),
        StepKind::Sleep(d) => {
            std::thread::sleep(*d);
            Ok(())
        }
        StepKind::Repeat(count, steps) => flow::repeat(cx, *count, steps, step.on.as_deref()),
        StepKind::Parallel(branches) => flow::parallel(cx, branches),
        StepKind::Bench(spec, steps) => bench::run(cx, spec, steps, step, pos, card),
    }
}

/// A step as a short text for reports.
pub(super) fn describe(step: &Step, show_pins: bool) -> String {
    let name = step.name.as_ref().map(|n| format!(" ({n})")).unwrap_or_default();
    let what = match &step.kind {
        StepKind::Apdu(a) => {
            // As written: variables by name, so a PIN in a variable never shows.
            let text = a.command.0.source();
            let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
            let literal_pin = a.command.0.is_literal() && matches!(compact.get(..4), Some("0020" | "0024" | "8032")) && compact.len() > 10;
            if show_pins || !literal_pin {
                format!("apdu {}", text.trim())
            } else {
                format!("apdu {} (PIN masked)", compact.get(..8).unwrap_or_default())
            }
        }
        StepKind::Run(r) => match &r.program {
            Program::Argv(argv) => format!("run {}", argv.iter().map(|a| a.0.source()).collect::<Vec<_>>().join(" ")),
            Program::Shell(text) => format!("shell {}", super::matchers::excerpt(&text.0.source(), 60)),
        },
        other => other.keyword().to_owned(),
    };
    format!("{what}{name}")
}
