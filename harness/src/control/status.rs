//! A card's status as the control protocol shows it, read from the card under its slot's
//! lock (the same state the scenario `state` step checks).

use mynasim_simulator::applets::{jpki, AppletId};
use mynasim_simulator::decode;
use mynasim_simulator::sm::SmState;

use super::protocol::{CardState, CertificateStatus, PinStatus};
use crate::load::LoadedCard;
use crate::scenario::format::PinName;
use crate::slot::Fault;

/// The application a PIN belongs to.
fn applet_of(pin: PinName) -> AppletId {
    match pin {
        PinName::Auth | PinName::Sign => AppletId::Jpki,
        PinName::Text | PinName::TextCodeA | PinName::TextCodeB => AppletId::Text,
        PinName::SurfaceBirthDate | PinName::SurfaceCodeA | PinName::SurfaceCodeB => AppletId::Surface,
        PinName::Common => AppletId::Common,
        PinName::Juki => AppletId::Juki,
    }
}

/// The card's changing state: presence, PINs, selection, secure messaging, faults; `seq`
/// is its number in the slot's count of changes.
pub fn card_state(loaded: &LoadedCard, inserted: bool, connected: bool, faults: &[Fault], seq: u64) -> CardState {
    let card = &loaded.card;
    let session = card.session();
    let pins = PinName::ALL
        .iter()
        .filter(|p| card.applet(applet_of(**p)).is_some())
        .map(|&pin| {
            let record = card.pin(pin.id());
            PinStatus {
                pin,
                label: pin.id().describe().to_owned(),
                remaining: record.remaining,
                max_tries: record.max_tries,
                blocked: record.is_blocked(),
                verified: session.verified.contains(pin.id()),
            }
        })
        .collect();
    let applet = session.applet.and_then(|i| card.applets().get(i));
    let files = applet.map_or(card.isd().files.as_slice(), |a| a.files.as_slice());
    let ef = session.current.and_then(|i| files.get(i)).map(|f| f.fid);
    CardState {
        seq,
        inserted,
        connected,
        pins,
        applet: applet.map(|a| a.id.key().to_owned()),
        applet_label: applet.map(|a| decode::applet_name(a.id).to_owned()),
        ef: ef.map(|fid| format!("{fid:04X}")),
        ef_label: ef.and_then(|fid| decode::object_name(applet.map(|a| a.id), fid)).map(str::to_owned),
        sm: matches!(session.sm, SmState::Open(_)),
        faults: faults.iter().map(ToString::to_string).collect(),
    }
}

/// The JPKI certificates and their validity now.
pub fn certificates(loaded: &LoadedCard) -> Vec<CertificateStatus> {
    let Some(applet) = loaded.card.applet(AppletId::Jpki) else { return Vec::new() };
    let now = time::OffsetDateTime::now_utc();
    let rfc3339 = |t: time::OffsetDateTime| t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
    [
        ("auth", jpki::AUTH_CERTIFICATE),
        ("sign", jpki::SIGNATURE_CERTIFICATE),
        ("auth_ca", jpki::AUTH_CA_CERTIFICATE),
        ("sign_ca", jpki::SIGNATURE_CA_CERTIFICATE),
    ]
    .into_iter()
    .filter_map(|(which, fid)| {
        let info = crate::verify::is_der_certificate(applet.binary(fid)?).ok()?;
        Some(CertificateStatus {
            which: which.to_owned(),
            ef: format!("{fid:04X}"),
            subject: info.subject,
            not_before: rfc3339(info.not_before),
            not_after: rfc3339(info.not_after),
            valid_now: info.not_before <= now && now <= info.not_after,
        })
    })
    .collect()
}
