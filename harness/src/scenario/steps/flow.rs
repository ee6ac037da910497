//! `repeat` and `parallel` blocks.

use std::time::Instant;

use serde_saphyr::Spanned;

use crate::scenario::format::{Branch, Pos, RepeatCount, Step};
use crate::scenario::result::Failure;
use crate::scenario::runner::{run_steps, Context};

/// Repeats `steps` a number of times or for a while (at least once).
pub(super) fn repeat(cx: &mut Context<'_>, count: RepeatCount, steps: &[Spanned<Step>], on: Option<&str>) -> Result<(), Failure> {
    match count {
        RepeatCount::Times(n) => {
            for _ in 0..n {
                run_steps(cx, steps, on)?;
            }
        }
        RepeatCount::For(d) => {
            let end = Instant::now() + d;
            loop {
                run_steps(cx, steps, on)?;
                if Instant::now() >= end {
                    break;
                }
            }
        }
    }
    Ok(())
}

/// Runs each branch on its own thread, each with its card's reader; branches must drive
/// different cards.
pub(super) fn parallel(cx: &mut Context<'_>, branches: &[Spanned<Branch>]) -> Result<(), Failure> {
    let mut lanes = Vec::new();
    for branch in branches {
        let card = cx.card_index(branch.value.on.as_deref());
        let reader = cx.readers.get_mut(card).and_then(Option::take).ok_or_else(|| Failure {
            pos: Some(Pos::of(&branch.referenced)),
            ..Failure::new(format!(
                "two parallel branches drive card `{}`; give each branch its own card with `on:`",
                cx.cards[card].spec.name
            ))
        })?;
        let mut readers: Vec<_> = cx.cards.iter().map(|_| None).collect();
        readers[card] = Some(reader);
        lanes.push((card, branch, readers));
    }
    let (cards, scenario, mode, work, clock, show_pins, deadline) =
        (cx.cards, cx.scenario, cx.mode, cx.work.clone(), cx.clock, cx.show_pins, cx.deadline);
    let vars = cx.vars.clone();
    let revoked = cx.revoked.clone();
    let program_env = cx.program_env.clone();
    let snapshots = cx.snapshots.clone();
    let results: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = lanes
            .into_iter()
            .map(|(card, branch, readers)| {
                let (vars, snapshots, work, program_env) = (vars.clone(), snapshots.clone(), work.clone(), program_env.clone());
                let revoked = revoked.clone();
                scope.spawn(move || {
                    let mut lane = Context {
                        scenario,
                        mode,
                        cards,
                        readers,
                        pcscd: None,
                        program_env,
                        vars,
                        work,
                        clock,
                        revoked,
                        snapshots,
                        transcript: Vec::new(),
                        steps_run: 0,
                        show_pins,
                        deadline,
                    };
                    let name = cards[card].spec.name.clone();
                    let result = run_steps(&mut lane, &branch.value.steps, Some(&name));
                    (card, lane, result)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join()).collect()
    });
    let mut first_failure = None;
    for joined in results {
        let Ok((card, mut lane, result)) = joined else {
            first_failure.get_or_insert(Failure::new("a parallel branch panicked"));
            continue;
        };
        cx.readers[card] = lane.readers[card].take();
        cx.transcript.append(&mut lane.transcript);
        cx.steps_run += lane.steps_run;
        if let Err(f) = result {
            first_failure.get_or_insert(f);
        }
    }
    first_failure.map_or(Ok(()), Err)
}
