//! `card`: what a reader or a person does to the card.

use std::time::Duration;

use crate::scenario::format::CardAction;
use crate::scenario::result::{Failure, Mode};
use crate::scenario::runner::Context;

/// How long pcscd may take to notice an insertion or removal.
const PRESENCE_TIMEOUT: Duration = Duration::from_secs(10);

pub(super) fn run(cx: &mut Context<'_>, action: &CardAction, card: usize) -> Result<(), Failure> {
    let slot = cx.cards[card].slot.clone();
    let reader_failure = |e: super::super::reader::ReaderError| Failure::new(format!("PC/SC: {e}"));
    match action {
        CardAction::Remove => {
            reader(cx, card)?.disconnect();
            slot.remove();
            reader(cx, card)?.wait_present(false, PRESENCE_TIMEOUT).map_err(reader_failure)
        }
        CardAction::Insert => {
            let reader = reader(cx, card)?;
            if !slot.is_inserted() {
                // Pulled out by a tear or a dropped connection: let pcscd see the reader
                // empty first, or it never notices the card went.
                reader.disconnect();
                reader.wait_present(false, PRESENCE_TIMEOUT).map_err(reader_failure)?;
            }
            slot.insert();
            reader.wait_present(true, PRESENCE_TIMEOUT).map_err(reader_failure)
        }
        CardAction::Reset => reader(cx, card)?.reset(false).map_err(reader_failure),
        CardAction::PowerCycle => reader(cx, card)?.reset(true).map_err(reader_failure),
        CardAction::RestartPcscd => {
            let pcscd =
                cx.pcscd.as_mut().ok_or_else(|| Failure::new("restart-pcscd needs a private pcscd; this scenario runs in process"))?;
            pcscd.restart().map_err(|e| Failure::new(format!("pcscd did not come back: {e}")))?;
            for r in cx.readers.iter_mut().flatten() {
                r.disconnect();
            }
            Ok(())
        }
        CardAction::Restart => {
            let spec = &cx.cards[card].spec;
            let loaded =
                crate::load::load_profile(spec.profile.clone(), &spec.label, &mut crate::keycache::DirKeyCache::default_location())
                    .map_err(|e| Failure::new(format!("cannot restart the card: {e}")))?;
            swap(cx, card, loaded)
        }
        CardAction::Replace(spec) => {
            let dir = cx.scenario.file.parent().map(std::path::Path::to_path_buf).unwrap_or_default();
            let (mut profile, label) = crate::scenario::check::resolve_card(spec, &dir).map_err(Failure::new)?;
            profile.state_file = None;
            let loaded = crate::load::load_profile(profile, &label, &mut crate::keycache::DirKeyCache::default_location())
                .map_err(|e| Failure::new(format!("cannot load the replacement card: {e}")))?;
            swap(cx, card, loaded)
        }
    }
}

/// Puts `loaded` in the card's slot and waits for pcscd to see it.
fn swap(cx: &mut Context<'_>, card: usize, loaded: crate::load::LoadedCard) -> Result<(), Failure> {
    let slot = cx.cards[card].slot.clone();
    let inserted = slot.is_inserted();
    let pcsc = cx.mode == Mode::Pcsc;
    let reader = reader(cx, card)?;
    reader.disconnect();
    if !inserted {
        slot.replace(loaded);
        return Ok(());
    }
    // Out, then the other card in, as a person swaps cards: pcscd sees the reader empty
    // in between.
    slot.remove();
    if pcsc {
        reader.wait_present(false, PRESENCE_TIMEOUT).map_err(|e| Failure::new(format!("PC/SC: {e}")))?;
    }
    slot.replace(loaded);
    slot.insert();
    if pcsc {
        reader.wait_present(true, PRESENCE_TIMEOUT).map_err(|e| Failure::new(format!("PC/SC: {e}")))?;
    }
    Ok(())
}

fn reader<'c>(cx: &'c mut Context<'_>, card: usize) -> Result<&'c mut Box<dyn crate::scenario::reader::Reader>, Failure> {
    cx.readers.get_mut(card).and_then(Option::as_mut).ok_or_else(|| Failure::new("internal: no reader for this card"))
}
