//! `mynasim inspect`: a card's holder, PIN counters and locks, certificate validity, the
//! MF-level GET DATA objects.

use std::path::PathBuf;

use anyhow::Result;
use mynasim_harness::keycache::DirKeyCache;
use mynasim_harness::load::{load_card_read_only, LoadedCard};
use mynasim_harness::transcript::spaced_hex;
use mynasim_simulator::applets::isd::{self, ObjectFormat};
use mynasim_simulator::applets::{jpki, AppletId};
use mynasim_simulator::files::Content;
use mynasim_simulator::pins::PinId;
use mynasim_simulator::pki::cv::{describe_key_id, mf_cv_key_ids};

/// Print a card's state: PIN counters and locks, certificate validity, the MF-level GET DATA
/// objects (tag, name, size, value or key IDs).
#[derive(clap::Args)]
pub struct Args {
    /// Card profile (YAML); none = the default card.
    profile: Option<PathBuf>,
    /// Also print every PIN's value (a test card's, but still: only when asked).
    #[arg(long)]
    show_pins: bool,
}

/// Runs `inspect`: reads the profile and its state file without locking or writing them
/// (a missing state file is not created), so it works on a read-only folder and beside a
/// serving card.
pub fn run(args: Args) -> Result<()> {
    let loaded = load_card_read_only(args.profile.as_deref(), &mut DirKeyCache::default_location())?;
    inspect(&loaded, args.show_pins)
}

fn inspect(loaded: &LoadedCard, show_pins: bool) -> Result<()> {
    let card = &loaded.card;
    let holder = &loaded.holder;
    outln!("card {} ({})", card.card_id(), loaded.name);
    outln!("holder: {}, born {}, {:?}, My Number {}", holder.name, holder.birth_date, holder.sex, holder.my_number);
    outln!("address: {} (municipality {})", holder.address, holder.municipality_code);
    outln!("card expires: {}", loaded.expires);
    if let Some(path) = &loaded.state_file {
        let note = if path.is_file() { "" } else { " (not created yet: the profile's counters apply)" };
        outln!("state file: {}{note}", path.display());
    }
    if card.kind().is_phone() {
        outln!("kind: {} (a phone's JPKI token: the JPKI AP only)", card.kind().name());
    }
    outln!("PINs:");
    // The PINs of the applications this card holds (a phone token has the JPKI AP's only).
    let held = |pin: PinId| card.applets().iter().any(|a| a.files.iter().any(|ef| ef.content == Content::Pin(pin)));
    for pin in PinId::ALL.into_iter().filter(|pin| held(*pin)) {
        let record = card.pin(pin);
        let status = if record.is_blocked() { "LOCKED" } else { "ok" };
        let value = if show_pins && pin != PinId::TextReserved {
            format!("  value {}", String::from_utf8_lossy(&record.value))
        } else {
            String::new()
        };
        outln!("  {:<40} {}/{} tries left  {status}{value}", pin.describe(), record.remaining, record.max_tries);
    }
    outln!("certificates:");
    let now = openssl::asn1::Asn1Time::days_from_now(0).ok();
    if let Some(applet) = card.applet(AppletId::Jpki) {
        for (label, fid) in [
            ("auth (000A)", jpki::AUTH_CERTIFICATE),
            ("signature (0001)", jpki::SIGNATURE_CERTIFICATE),
            ("auth CA (000B)", jpki::AUTH_CA_CERTIFICATE),
            ("signature CA (0002)", jpki::SIGNATURE_CA_CERTIFICATE),
        ] {
            match applet.binary(fid).map(openssl::x509::X509::from_der) {
                Some(Ok(cert)) => {
                    let state = match &now {
                        Some(now) if cert.not_after() < now => "EXPIRED",
                        Some(now) if cert.not_before() > now => "NOT YET VALID",
                        _ => "valid",
                    };
                    outln!("  {label:<20} {} → {}  {state}", cert.not_before(), cert.not_after());
                }
                _ => outln!("  {label:<20} absent"),
            }
        }
    }
    if card.kind().is_phone() {
        outln!("MF level: no Issuer Security Domain, no GET DATA objects, no 5F51 (a phone token)");
        return Ok(());
    }
    outln!("MF level (GET DATA with the Issuer Security Domain current):");
    for object in &card.isd().objects {
        let value = &object.value;
        let shown = match object.format {
            ObjectFormat::Text => format!("{:?}", String::from_utf8_lossy(value)),
            ObjectFormat::KeyId => describe_key_id(value).unwrap_or_else(|| spaced_hex(value)),
            ObjectFormat::CvCertificate => match mf_cv_key_ids(value) {
                Some((issuer, subject)) => {
                    format!("{} → {}", describe_key_id(issuer).unwrap_or_default(), describe_key_id(subject).unwrap_or_default())
                }
                None => "not in the CV layout".to_owned(),
            },
            ObjectFormat::Ber => spaced_hex(value),
        };
        outln!("  {:04X} {:<42} {:>4} B  {shown}", object.tag, object.name, value.len());
    }
    if card.isd().data_object(isd::tag::CHAIN_LOWER).is_none() {
        outln!(
            "  {:04X} {:<42}         absent (mf.certificate_7f21: false)",
            isd::tag::CHAIN_LOWER,
            isd::tag::name(isd::tag::CHAIN_LOWER).unwrap_or_default()
        );
    }
    let contact = card.contact_atr().get(1..).unwrap_or_default();
    outln!(
        "  {:04X} {:<42} {:>4} B  {}  (in every state)",
        isd::tag::CONTACT_ATR,
        "contact ATR without TS",
        contact.len(),
        spaced_hex(contact)
    );
    Ok(())
}
