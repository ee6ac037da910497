//! `fault`: faults at the transport (the card's slot), and pcscd's death.

use std::time::Duration;

use crate::scenario::format::{FaultSpec, LatencySpec};
use crate::scenario::result::Failure;
use crate::scenario::runner::Context;
use crate::slot::{CommandMatch, Fault, FaultKind};

pub(super) fn run(cx: &mut Context<'_>, spec: &FaultSpec, card: usize) -> Result<(), Failure> {
    let slot = cx.cards[card].slot.clone();
    if spec.clear {
        slot.clear_faults();
        return Ok(());
    }
    if spec.drop_connection {
        slot.drop_connection();
        return Ok(());
    }
    if spec.kill_pcscd {
        let pcscd = cx.pcscd.as_mut().ok_or_else(|| Failure::new("kill_pcscd needs a private pcscd; this scenario runs in process"))?;
        pcscd.kill();
        return Ok(());
    }
    let matches = match &spec.matches {
        None => CommandMatch::Any,
        Some(p) if p.0.len() == 1 => CommandMatch::Ins(p.0.bytes_or_zero()[0]),
        Some(p) => CommandMatch::Prefix(p.0.nibbles().to_vec()),
    };
    if let Some(LatencySpec::Profile(profile)) = spec.latency {
        for &(ins, millis) in profile.table() {
            let matches = ins.map_or(CommandMatch::Any, CommandMatch::Ins);
            slot.add_fault(Fault { kind: FaultKind::Latency(Duration::from_millis(millis)), matches, remaining: spec.count });
        }
        return Ok(());
    }
    let (kind, default_count) = if let Some(LatencySpec::Fixed(latency)) = spec.latency {
        (FaultKind::Latency(latency), None)
    } else if let Some(sw) = &spec.sw {
        let bytes = sw.0.bytes_or_zero();
        (FaultKind::Sw { sw: [bytes[0], bytes[1]], executed: spec.executed }, Some(1))
    } else {
        (FaultKind::Tear, Some(1))
    };
    slot.add_fault(Fault { kind, matches, remaining: spec.count.or(default_count) });
    Ok(())
}
