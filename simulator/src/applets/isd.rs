//! The MF level: the GlobalPlatform Issuer Security Domain (card manager), current at power-up
//! and selectable by its default AID `A0 00 00 01 51 00 00` (spec §13.1), with the data
//! objects GET DATA answers there (spec §13.2).
//!
//! What the card answers at this level (spec §13.1, myna-card 3.3.4 `src/mf.rs`):
//! - `00 A4 04 0C 07 A0 00 00 01 51 00 00` → `90 00`: leaves the current AP, clears its
//!   security status and any secure-messaging session, and restores the power-up state.
//! - `00 A4 00 00` (SELECT MF, no data) → `6A 86` with the ISD current; with an AP current
//!   `90 00`, and nothing changes (the AP, its current EF and security status stay).
//! - `3F00` by FID (`00 A4 00 0C 02 3F 00`, `00 A4 02 0C 02 3F 00`) → `6A 82` in every state.
//! - One EF, `001E`, selectable (`90 00`); READ BINARY and READ RECORD on it `69 81`. `2F10`,
//!   `2F11` and every other FID `6A 82`.
//! - GET DATA of the objects of [`tag`], as bare values (no tag, no length), only with the
//!   ISD current; `6A 88` for any other tag and, for these tags, in an AP. `5F51` (the
//!   contact ATR, spec §13.3) is not here: it answers in every state ([`crate::card::Card`]).
//!
//! Choices (\[inf\]):
//! - `00 A4 04 00 00` / `00 A4 04 0C` (SELECT by name without a name) selects the ISD:
//!   the GlobalPlatform Card Specification's SELECT (v2.2 / v2.3 §11.9.2.3, data field of the
//!   command) lets the Lc and data field be omitted when the Issuer Security Domain is being
//!   selected, so an empty name is the ISD (the rule as recalled; the specification's text
//!   was not at hand to quote). The survey did not try it.
//! - The ISD answers its full AID only; a partial name such as `A0 00 00 01 51` is not
//!   matched against it (the partial-name rule of spec §2.5 stays the APs' rule, so no
//!   foreign prefix reaches the card manager). The survey only sent the full AID.
//! - `001E` is reached by SELECT only: READ BINARY / READ RECORD by SFI at this level answer
//!   `6A 82` ("the MF holds no EF with a short identifier", spec §13.1).
//! - `0042` (issuer identification number, "a 16-byte key reference") is the card's key
//!   reference of the common and juki APs' EF 0002: the survey gives only its shape.
//! - `0066` is GlobalPlatform Card Recognition Data (GPCS v2.3 Annex H.2) for a GP 2.2.1
//!   card with SCP02 i=55, the value of tag `66` (the `73` template and its OIDs): the
//!   response carries no tag of its own like every object here, although other GP cards
//!   answer `80 CA 00 66` with the `66` wrapper. Its content on the real card is \[unk\].
//! - An Le (short or extended) smaller than the object answers `67 00`, for the small
//!   objects too: the card refuses a short Le for the large objects with `67 00` rather than
//!   `6C xx` (spec §13.2), so it is taken to check "does the object fit", never to send a
//!   part or the exact length. An Le larger than the object returns the object. No Le at all
//!   (case 1) is taken as the short maximum, 256; a data field answers `67 00`.
//! - The test CV chain (spec §13.2 "Simulator consequence"): the root is the simulator's MF
//!   CV CA key (`6000020/001`, the test root's ID on real cards), derived from the CA seed
//!   apart from the 券面 APs' CV CA (real cards name a different root, `6000020`, from the
//!   `6000023` / `6000033` that sign the 券面 certificates); the intermediate
//!   `<municipality>30/002` (the fixture's `1322130/002` belongs to municipality 13221) is
//!   derived from the CA seed and the municipality; the key it certifies in `7F21`,
//!   `0000050/001` (the fixture's ID, which names no card), is an issuing-side key of that
//!   municipality too, so cards share the chain as real cards of one municipality appear to.
//!   No command uses the private halves. `00F7` is the intermediate's key ID, which is
//!   `00F8`'s subject and `7F21`'s issuer (the fixtures' `1322130/002`, padding included).
//!   Key IDs use the middle bytes `08 05` and zero padding (the fixtures' last padding byte
//!   varies, `A8`, `98`, `40`; its meaning is \[unk\]).
//! - A profile leaves `7F21` out (`mf: { certificate_7f21: false }`), as on older cards.
//!
//! Checked against the real objects (myna-card 3.3.4 `tests/fixtures/mf-do-F8.bin`,
//! `mf-do-7F21.bin`): both are 575 bytes in the layout above; the real `7F21` verifies under
//! the key carried in the real `00F8` with RSASSA-PKCS1-v1_5 / SHA-256 over the 297 body
//! bytes, the scheme [`crate::pki::cv::mf_cv_certificate`] signs with. Unlike the 券面 APs'
//! EF 0004 (568 bytes, spec §5.3), these objects open with the `4D` header list.

use crate::files::Ef;

/// The default AID of the Issuer Security Domain (GlobalPlatform).
pub const AID: &[u8] = &[0xA0, 0x00, 0x00, 0x01, 0x51, 0x00, 0x00];

/// The one EF of the MF level: selectable, every read `69 81` (spec §13.1).
pub const INTERNAL_EF: u16 = 0x001E;

/// Tags of the MF-level GET DATA objects (spec §13.2, §13.3).
pub mod tag {
    /// Issuer identification number, a 16-byte key reference.
    pub const ISSUER_IDENTIFICATION: u16 = 0x0042;
    /// Card identification number, ASCII (the common AP's card serial).
    pub const CARD_IDENTIFICATION: u16 = 0x0045;
    /// GlobalPlatform card recognition data.
    pub const CARD_RECOGNITION: u16 = 0x0066;
    /// 全国地方公共団体コード of the issuing municipality, 5 ASCII digits.
    pub const MUNICIPALITY_CODE: u16 = 0x00F0;
    /// Card expiry, 8 ASCII digits `YYYYMMDD`.
    pub const EXPIRY: u16 = 0x00F2;
    /// Key ID of the intermediate that signs [`CHAIN_LOWER`].
    pub const INTERMEDIATE_KEY_ID: u16 = 0x00F7;
    /// CV certificate: the root certifying the intermediate.
    pub const CHAIN_UPPER: u16 = 0x00F8;
    /// CV certificate: the intermediate certifying the key below it (absent on older cards).
    pub const CHAIN_LOWER: u16 = 0x7F21;
    /// The contact ATR without TS, answered in every state (spec §13.3).
    pub const CONTACT_ATR: u16 = 0x5F51;

    /// Every tag above with what it names, in tag order: the one place the names are
    /// written (the MF level's objects, the APDU decoder, `mynasim inspect`).
    pub const NAMES: [(u16, &str); 9] = [
        (ISSUER_IDENTIFICATION, "issuer identification number"),
        (CARD_IDENTIFICATION, "card identification number"),
        (CARD_RECOGNITION, "card recognition data (GlobalPlatform)"),
        (MUNICIPALITY_CODE, "municipality code"),
        (EXPIRY, "card expiry"),
        (INTERMEDIATE_KEY_ID, "intermediate key ID"),
        (CHAIN_UPPER, "CV certificate: root → intermediate"),
        (CONTACT_ATR, "contact ATR without TS"),
        (CHAIN_LOWER, "CV certificate: intermediate → next key"),
    ];

    /// What a GET DATA tag names, if it is one of the card's.
    pub fn name(tag: u16) -> Option<&'static str> {
        NAMES.iter().find(|(t, _)| *t == tag).map(|(_, name)| *name)
    }
}

/// How an object's value reads, for inspection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectFormat {
    /// ASCII text.
    Text,
    /// A 16-byte key ID.
    KeyId,
    /// An MF-level CV certificate ([`crate::pki::cv::mf_cv_certificate`]).
    CvCertificate,
    /// BER-TLV.
    Ber,
}

/// One GET DATA object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataObject {
    /// Tag (P1-P2 of GET DATA).
    pub tag: u16,
    /// What it is ([`tag::name`]).
    pub name: &'static str,
    /// How its value reads.
    pub format: ObjectFormat,
    /// The value, as GET DATA returns it.
    pub value: Vec<u8>,
}

/// GlobalPlatform Card Recognition Data (GPCS v2.3 Annex H.2), the value of tag `66`:
/// `73 { 06 <1.2.840.114283.1>, 60 { 06 <…2.2.2.1> }, 63 { 06 <…3> }, 64 { 06 <…4.2.85> } }`:
/// GlobalPlatform card recognition data, card management GP 2.2.1, the GP card
/// identification scheme, SCP02 with i = 55.
pub const CARD_RECOGNITION_DATA: [u8; 49] = [
    0x73, 0x2F, //
    0x06, 0x07, 0x2A, 0x86, 0x48, 0x86, 0xFC, 0x6B, 0x01, //
    0x60, 0x0C, 0x06, 0x0A, 0x2A, 0x86, 0x48, 0x86, 0xFC, 0x6B, 0x02, 0x02, 0x02, 0x01, //
    0x63, 0x09, 0x06, 0x07, 0x2A, 0x86, 0x48, 0x86, 0xFC, 0x6B, 0x03, //
    0x64, 0x0B, 0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xFC, 0x6B, 0x04, 0x02, 0x55,
];

/// What the issuer puts at the MF level.
pub struct IsdContent<'a> {
    /// `0042`.
    pub issuer_identification: [u8; 16],
    /// `0045`: the common AP's card serial.
    pub card_number: &'a str,
    /// `00F0`.
    pub municipality_code: &'a str,
    /// `00F2`, `YYYYMMDD`.
    pub expiry: &'a str,
    /// `00F7`: the intermediate's key ID.
    pub intermediate_key_id: [u8; 16],
    /// `00F8`.
    pub upper_certificate: Vec<u8>,
    /// `7F21`, or `None` (older cards).
    pub lower_certificate: Option<Vec<u8>>,
    /// The MF CV CA's public key as `90 03 01 00 01 91 82 01 00 <modulus>`: not on the
    /// card, kept for `mynasim export`.
    pub root_public_key: Vec<u8>,
}

/// The Issuer Security Domain: the MF level's file and data objects.
#[derive(Clone, Debug)]
pub struct IssuerSecurityDomain {
    /// Whether SELECT by [`AID`] (or by an empty name) reaches it: true on the card.
    pub selectable: bool,
    /// The MF-level EFs (only [`INTERNAL_EF`]).
    pub files: Vec<Ef>,
    /// The GET DATA objects, in tag order.
    pub objects: Vec<DataObject>,
    /// The public key a verifier trusts to check `00F8` (`90 03 01 00 01 91 82 01 00 <n>`);
    /// not answered by any command (the real root key is published off-card).
    pub root_public_key: Vec<u8>,
}

impl IssuerSecurityDomain {
    /// Index of the EF with this FID.
    pub fn find(&self, fid: u16) -> Option<usize> {
        self.files.iter().position(|ef| ef.fid == fid)
    }

    /// The value of a GET DATA object.
    pub fn data_object(&self, tag: u16) -> Option<&[u8]> {
        self.objects.iter().find(|o| o.tag == tag).map(|o| o.value.as_slice())
    }
}

/// A phone token's MF level (\[inf\]): what is current at power-up, but not selectable by
/// the ISD's AID (`6A 82`: the token answers for the JPKI AP only, spec §4.1), with no EF
/// and no GET DATA object (the card number, municipality, expiry and CV chain are the
/// plastic card's; no survey of a phone's MF level is public).
pub fn phone_token() -> IssuerSecurityDomain {
    IssuerSecurityDomain { selectable: false, files: Vec::new(), objects: Vec::new(), root_public_key: Vec::new() }
}

/// Builds the MF level.
pub fn build(content: IsdContent<'_>) -> IssuerSecurityDomain {
    let object = |tag, format, value: &[u8]| DataObject { tag, name: tag::name(tag).unwrap_or_default(), format, value: value.to_vec() };
    let mut objects = vec![
        object(tag::ISSUER_IDENTIFICATION, ObjectFormat::KeyId, &content.issuer_identification),
        object(tag::CARD_IDENTIFICATION, ObjectFormat::Text, content.card_number.as_bytes()),
        object(tag::CARD_RECOGNITION, ObjectFormat::Ber, &CARD_RECOGNITION_DATA),
        object(tag::MUNICIPALITY_CODE, ObjectFormat::Text, content.municipality_code.as_bytes()),
        object(tag::EXPIRY, ObjectFormat::Text, content.expiry.as_bytes()),
        object(tag::INTERMEDIATE_KEY_ID, ObjectFormat::KeyId, &content.intermediate_key_id),
        object(tag::CHAIN_UPPER, ObjectFormat::CvCertificate, &content.upper_certificate),
    ];
    if let Some(lower) = &content.lower_certificate {
        objects.push(object(tag::CHAIN_LOWER, ObjectFormat::CvCertificate, lower));
    }
    IssuerSecurityDomain { selectable: true, files: vec![Ef::internal(INTERNAL_EF)], objects, root_public_key: content.root_public_key }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tag_has_one_name() {
        let tags = [
            tag::ISSUER_IDENTIFICATION,
            tag::CARD_IDENTIFICATION,
            tag::CARD_RECOGNITION,
            tag::MUNICIPALITY_CODE,
            tag::EXPIRY,
            tag::INTERMEDIATE_KEY_ID,
            tag::CHAIN_UPPER,
            tag::CHAIN_LOWER,
            tag::CONTACT_ATR,
        ];
        assert_eq!(tag::NAMES.len(), tags.len());
        for t in tags {
            assert_eq!(tag::NAMES.iter().filter(|(named, _)| *named == t).count(), 1, "{t:04X}");
            assert!(tag::name(t).is_some_and(|name| !name.is_empty()), "{t:04X}");
        }
        assert!(tag::NAMES.windows(2).all(|w| w[0].0 < w[1].0), "in tag order");
        assert_eq!(tag::name(0x0001), None);
    }
}
