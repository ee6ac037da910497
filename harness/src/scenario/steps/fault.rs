//! `fault`: faults at the transport (the card's slot, [`crate::slot::Slot::inject_fault`]),
//! and pcscd's death.

use crate::scenario::format::FaultSpec;
use crate::scenario::result::Failure;
use crate::scenario::runner::Context;

pub(super) fn run(cx: &mut Context<'_>, spec: &FaultSpec, card: usize) -> Result<(), Failure> {
    if spec.kill_pcscd {
        let pcscd = cx.pcscd.as_mut().ok_or_else(|| Failure::new("kill_pcscd needs a private pcscd; this scenario runs in process"))?;
        pcscd.kill();
        return Ok(());
    }
    cx.cards[card].slot.inject_fault(spec);
    Ok(())
}
