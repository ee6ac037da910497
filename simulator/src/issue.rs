//! Issuing a card: from a [`Personalization`] to a [`Card`] with every file, key and
//! signature in place (spec §4–§7, §9).

use rand_core::RngCore;
use sha2::{Digest, Sha256};

use crate::applets::{common, isd, jpki, juki, surface, text};
use crate::card::{Atrs, Card};
use crate::images;
use crate::mynumber;
use crate::pki::cv::{cv_certificate, key_id, mf_cv_certificate, KEY_ID_MIDDLE};
use crate::pki::x509::{CaKind, EndEntity, HolderAttributes, TestCa};
use crate::pki::{KeyCache, PkiError, RsaKey};
use crate::profile::{end_of_day_jst, start_of_day_jst, Personalization, ValidityWindow};

/// The test CAs and issuing-side keys shared by every card with the same CA seed.
pub struct Issuers {
    /// The auth CA (spec §9.1).
    pub auth_ca: TestCa,
    /// The signature CA (spec §9.1).
    pub sign_ca: TestCa,
    /// The off-card CA key that signs the 券面 APs' CV certificates (spec §5.4).
    pub cv_ca: RsaKey,
    /// The off-card root of the MF-level CV chain, certifying the intermediate in GET DATA
    /// `00F8` (spec §13.2; [`crate::applets::isd`]).
    pub mf_cv_ca: RsaKey,
}

impl Issuers {
    /// Derives the CAs from `ca_seed`. The CA certificates run 2023-07-16 → 2033-07-15
    /// 14:59:59 UTC, the shape of the 2023-generation J-LIS CAs (spec §9.1).
    pub fn derive(ca_seed: &str, cache: &mut dyn KeyCache) -> Result<Issuers, PkiError> {
        let not_before = start_of_day_jst(time::macros::date!(2023 - 07 - 16));
        let not_after = end_of_day_jst(time::macros::date!(2033 - 07 - 15));
        Ok(Issuers {
            auth_ca: TestCa::new(CaKind::Authentication, RsaKey::derive(ca_seed, "auth-ca", cache)?, not_before, not_after)?,
            sign_ca: TestCa::new(CaKind::Signature, RsaKey::derive(ca_seed, "sign-ca", cache)?, not_before, not_after)?,
            cv_ca: RsaKey::derive(ca_seed, "cv-ca", cache)?,
            mf_cv_ca: RsaKey::derive(ca_seed, "mf-cv-ca", cache)?,
        })
    }
}

fn yyyymmdd(date: time::Date) -> String {
    format!("{:04}{:02}{:02}", date.year(), date.month() as u8, date.day())
}

/// Issues the card. `rng` feeds GET CHALLENGE and PSS salts.
pub fn issue(p: &Personalization, cache: &mut dyn KeyCache, rng: Box<dyn RngCore + Send>) -> Result<Card, PkiError> {
    let issuers = Issuers::derive(&p.ca_seed, cache)?;
    let derived = |label: &str| -> [u8; 32] { Sha256::new().chain_update(p.seed.as_bytes()).chain_update(label).finalize().into() };
    let holder = &p.holder;
    let birth = yyyymmdd(holder.birth_date);
    let expiry = yyyymmdd(p.expires);

    // JPKI AP (spec §4, §9).
    let subject_id = |label: &str| -> String { crate::pki::hex(&derived(label)[..12]).to_uppercase() };
    let serial = |label: &str| -> Vec<u8> {
        let mut s = derived(label)[..4].to_vec();
        s[0] = (s[0] & 0x7F) | 0x01;
        s
    };
    let zeros = |s: &str| "0".repeat(s.chars().count());
    let (name_substitutes, address_substitutes) = (zeros(&holder.name), zeros(&holder.address));
    let birth_date = format!("{}{birth}", mynumber::era_digit(holder.birth_date));
    let attributes = HolderAttributes {
        name: &holder.name,
        name_substitutes: &name_substitutes,
        sex: holder.sex.certificate_code(),
        birth_date: &birth_date,
        address: &holder.address,
        address_substitutes: &address_substitutes,
    };
    let (auth, signature) = {
        // Key label "jpki-<kind>", serial and subject from "<kind>-serial" / "<kind>-subject".
        let mut end_entity = |ca: &TestCa, kind: &str, window: ValidityWindow, attributes: Option<&HolderAttributes<'_>>| {
            let key = RsaKey::derive(&p.seed, &format!("jpki-{kind}"), cache)?;
            let certificate = ca.issue(&EndEntity {
                key: &key,
                serial: &serial(&format!("{kind}-serial")),
                common_name: &subject_id(&format!("{kind}-subject")),
                not_before: window.not_before,
                not_after: window.not_after,
                attributes,
            })?;
            Ok::<_, PkiError>((key, certificate))
        };
        let auth = p.auth_certificate.map(|w| end_entity(&issuers.auth_ca, "auth", w, None)).transpose()?;
        let signature = p.sign_certificate.map(|w| end_entity(&issuers.sign_ca, "sign", w, Some(&attributes))).transpose()?;
        (auth, signature)
    };
    let jpki = jpki::build(jpki::JpkiContent {
        kind: p.kind,
        auth,
        signature,
        auth_ca_certificate: issuers.auth_ca.certificate_der().to_vec(),
        signature_ca_certificate: issuers.sign_ca.certificate_der().to_vec(),
        serial: p.serial.clone(),
    });

    let card_id = crate::pki::hex(&Sha256::new().chain_update(p.seed.as_bytes()).chain_update(holder.my_number.as_bytes()).finalize()[..8]);
    if p.kind.is_phone() {
        // A phone token holds only the JPKI AP (profile::DeviceKind).
        let atrs = Atrs { presented: p.atr.clone(), contact: p.contact_atr.clone() };
        return Ok(Card::new(atrs, isd::phone_token(), p.power, vec![jpki], p.pins.clone(), card_id, rng).with_kind(p.kind));
    }

    // 券面 APs (spec §5, §6): issuing-side keys per municipality, certified by the CV CA.
    // Key IDs as on the surveyed test card (spec §13.5, myna-card fixtures `text-0004.bin`,
    // `surface-0004.bin`): issuer `6000033`/`6000023` group `001`; subject the municipality
    // code followed by `31` (text) or `21` (surface), group `000` (`1322131`, `1322121` on a
    // card of municipality 13221).
    let municipality = &holder.municipality_code;
    let text_issuer = RsaKey::derive(&p.ca_seed, &format!("text-issuer-{municipality}"), cache)?;
    let surface_issuer = RsaKey::derive(&p.ca_seed, &format!("surface-issuer-{municipality}"), cache)?;
    let text_cv = cv_certificate(
        &issuers.cv_ca,
        &key_id("6000033", KEY_ID_MIDDLE, "001"),
        &key_id(&format!("{municipality}31"), KEY_ID_MIDDLE, "000"),
        &text_issuer,
    )?;
    let surface_cv = cv_certificate(
        &issuers.cv_ca,
        &key_id("6000023", KEY_ID_MIDDLE, "001"),
        &key_id(&format!("{municipality}21"), KEY_ID_MIDDLE, "000"),
        &surface_issuer,
    )?;
    let text = text::build(text::TextContent {
        my_number: &holder.my_number,
        name: &holder.name,
        address: &holder.address,
        birth_date: &birth,
        sex: holder.sex.jis_code(),
        issuer_key: &text_issuer,
        cv_certificate: text_cv,
        basic_info_key_id: key_id("6000034", KEY_ID_MIDDLE, "001"),
        basic_info_opaque: derived("text-basic-info"),
        card_key: RsaKey::derive(&p.seed, "text-card", cache)?,
        session_key: RsaKey::derive(&p.seed, "text-session", cache)?,
    })?;
    let mut surface_opaque = key_id("6000025", KEY_ID_MIDDLE, "001").to_vec();
    for i in 0..8u8 {
        surface_opaque.extend_from_slice(&derived(&format!("surface-basic-info-{i}")));
    }
    let surface = surface::build(surface::SurfaceContent {
        my_number: &holder.my_number,
        name: &holder.name,
        address: &holder.address,
        birth_date: &birth,
        sex: holder.sex.jis_code(),
        expiry: &expiry,
        security_code: &p.security_code,
        photo: p.photo.as_deref().unwrap_or(images::SYNTHETIC_PHOTO_JP2),
        municipality_code: municipality,
        issuer_key: &surface_issuer,
        cv_certificate: surface_cv,
        basic_info_key_id: key_id("6000024", KEY_ID_MIDDLE, "001"),
        basic_info_opaque: surface_opaque,
        card_key: RsaKey::derive(&p.seed, "surface-card", cache)?,
    })?;

    let key_reference = key_id("6000019", KEY_ID_MIDDLE, "001");
    let common = common::build(&p.serial, municipality, &expiry, key_reference, RsaKey::derive(&p.seed, "common-ia", cache)?);
    let juki = juki::build(key_reference);

    // MF level (spec §13.2): root → intermediate (00F8) → the municipality's next key (7F21).
    let mf_root_id = key_id("6000020", KEY_ID_MIDDLE, "001");
    let mf_intermediate_id = key_id(&format!("{municipality}30"), KEY_ID_MIDDLE, "002");
    let mf_lower_id = key_id("0000050", KEY_ID_MIDDLE, "001");
    let mf_intermediate = RsaKey::derive(&p.ca_seed, &format!("mf-cv-intermediate-{municipality}"), cache)?;
    let lower_certificate = if p.mf_certificate_7f21 {
        let mf_lower = RsaKey::derive(&p.ca_seed, &format!("mf-cv-lower-{municipality}"), cache)?;
        Some(mf_cv_certificate(&mf_intermediate, &mf_intermediate_id, &mf_lower_id, &mf_lower)?)
    } else {
        None
    };
    let isd = isd::build(isd::IsdContent {
        issuer_identification: key_reference,
        card_number: &p.serial,
        municipality_code: municipality,
        expiry: &expiry,
        intermediate_key_id: mf_intermediate_id,
        upper_certificate: mf_cv_certificate(&issuers.mf_cv_ca, &mf_root_id, &mf_intermediate_id, &mf_intermediate)?,
        lower_certificate,
        root_public_key: issuers.mf_cv_ca.public_key_record(),
    });

    let card_id = crate::pki::hex(&Sha256::new().chain_update(p.seed.as_bytes()).chain_update(holder.my_number.as_bytes()).finalize()[..8]);
    let atrs = Atrs { presented: p.atr.clone(), contact: p.contact_atr.clone() };
    Ok(Card::new(atrs, isd, p.power, vec![jpki, text, surface, common, juki], p.pins.clone(), card_id, rng))
}
