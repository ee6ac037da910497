//! 公的個人認証AP, the JPKI application (spec §4).
//!
//! Objects (spec §4.2): certificates 0001 (signature, behind the signature password),
//! 0002 (signature CA), 000A (auth), 000B (auth CA); token information 0006; certificate
//! availability 0008; private keys 0017 (auth) and 001A (signature); PINs 0018 and 001B.
//!
//! Choices where the spec says \[unk\]/\[inf\]:
//! - An absent signature certificate (holders under 15, spec §4.6): EF 0001 and key 001A
//!   are not on the card (SELECT `6A 82`); PIN 001B stays; EF 0008 byte 0 is `00`.
//! - An absent auth certificate (profile option): EF 000A and key 0017 are absent likewise.
//! - Of the unknown objects (spec §4.2), 0009 (protected) and 0016 (terminal CA key
//!   reference) are present: SELECT `90 00`, READ `69 82`; the others are omitted.
//! - COMPUTE DIGITAL SIGNATURE offers all six P1 modes of U1's report (spec §3.7).
//! - A phone token ([`DeviceKind::AndroidToken`], [`DeviceKind::IphoneToken`]) is this AP
//!   with its own EF 0006 label ([`token_label`]) and EF 000A behind the auth PIN; the rest
//!   is the card's (see [`DeviceKind`] for what differs and why).

use super::{Applet, AppletId, AppletKey, ChangeCommand, KeyUse, SessionKeySupport};
use crate::command::SignMode;
use crate::files::{Access, Ef};
use crate::pins::{PinId, PinSet};
use crate::pki::RsaKey;
use crate::profile::DeviceKind;

/// DF name `D3 92 F0 00 26 01 00 00 00 01` (spec §4.1).
pub const AID: &[u8] = &[0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01];

/// FID of the signature certificate (署名用電子証明書).
pub const SIGNATURE_CERTIFICATE: u16 = 0x0001;
/// FID of the signature CA certificate.
pub const SIGNATURE_CA_CERTIFICATE: u16 = 0x0002;
/// FID of the token information.
pub const TOKEN_INFO: u16 = 0x0006;
/// FID of the certificate availability bytes.
pub const CERTIFICATE_AVAILABILITY: u16 = 0x0008;
/// FID of the auth certificate (利用者証明用電子証明書).
pub const AUTH_CERTIFICATE: u16 = 0x000A;
/// FID of the auth CA certificate.
pub const AUTH_CA_CERTIFICATE: u16 = 0x000B;
/// FID of the auth private key.
pub const AUTH_KEY: u16 = 0x0017;
/// FID of the auth PIN.
pub const AUTH_PIN: u16 = 0x0018;
/// FID of the signature private key.
pub const SIGNATURE_KEY: u16 = 0x001A;
/// FID of the signature password.
pub const SIGNATURE_PASSWORD: u16 = 0x001B;

/// The label every physical card carries (spec §4.3).
pub const TOKEN_LABEL: &[u8] = b"JPKIAPICCTOKEN2";
/// The label of the Android smartphone JPKI token (spec §4.3, §13.5; myna-card `TokenType`).
pub const ANDROID_TOKEN_LABEL: &[u8] = b"JPKIAPGPSETOKEN";
/// The label of the iPhone smartphone JPKI token (spec §4.3, §13.5; myna-card `TokenType`).
pub const IPHONE_TOKEN_LABEL: &[u8] = b"JPKIAPIOSTOKEN";

/// The label EF 0006 starts with (space-padded to 32 bytes there).
pub const fn token_label(kind: DeviceKind) -> &'static [u8] {
    match kind {
        DeviceKind::Card => TOKEN_LABEL,
        DeviceKind::AndroidToken => ANDROID_TOKEN_LABEL,
        DeviceKind::IphoneToken => IPHONE_TOKEN_LABEL,
    }
}

/// What the JPKI AP holds for one card.
pub struct JpkiContent {
    /// The card or a phone token.
    pub kind: DeviceKind,
    /// Auth key and certificate (`None` = absent).
    pub auth: Option<(RsaKey, Vec<u8>)>,
    /// Signature key and certificate (`None` = absent).
    pub signature: Option<(RsaKey, Vec<u8>)>,
    /// Auth CA certificate.
    pub auth_ca_certificate: Vec<u8>,
    /// Signature CA certificate.
    pub signature_ca_certificate: Vec<u8>,
    /// Card serial (15 digits), for the token information's serialNumber.
    pub serial: String,
}

/// Builds the application.
pub fn build(content: JpkiContent) -> Applet {
    let mut files = vec![
        Ef::binary(TOKEN_INFO, token_info(token_label(content.kind), &content.serial), Access::Free),
        Ef::binary(
            CERTIFICATE_AVAILABILITY,
            vec![if content.signature.is_some() { 0x8F } else { 0x00 }, if content.auth.is_some() { 0x8F } else { 0x00 }, 0x00],
            Access::Free,
        ),
        Ef::binary(SIGNATURE_CA_CERTIFICATE, content.signature_ca_certificate, Access::Free),
        Ef::binary(AUTH_CA_CERTIFICATE, content.auth_ca_certificate, Access::Free),
        Ef::pin(AUTH_PIN, PinId::AuthPin),
        Ef::pin(SIGNATURE_PASSWORD, PinId::SignPassword),
        Ef::unknown(0x0009),
        Ef::unknown(0x0016),
    ];
    let mut keys = Vec::new();
    if let Some((key, certificate)) = content.auth {
        // Free on the card; behind the auth PIN on a phone token (spec §4.2, §13.5).
        let read = if content.kind.is_phone() { Access::AnyOf(PinSet::of(&[PinId::AuthPin])) } else { Access::Free };
        files.push(Ef::binary(AUTH_CERTIFICATE, certificate, read));
        files.push(Ef::key(AUTH_KEY, keys.len()));
        keys.push(AppletKey { key, guard: Some(PinId::AuthPin), usage: KeyUse::Signature(&SignMode::ALL) });
    }
    if let Some((key, certificate)) = content.signature {
        files.push(Ef::binary(SIGNATURE_CERTIFICATE, certificate, Access::AnyOf(PinSet::of(&[PinId::SignPassword]))));
        files.push(Ef::key(SIGNATURE_KEY, keys.len()));
        keys.push(AppletKey { key, guard: Some(PinId::SignPassword), usage: KeyUse::Signature(&SignMode::ALL) });
    }
    files.sort_by_key(|ef| ef.fid);
    Applet {
        id: AppletId::Jpki,
        aid: AID,
        files,
        keys,
        default_key: None,
        change_command: ChangeCommand::ChangeReferenceData,
        session_key: SessionKeySupport::Refused,
    }
}

/// EF 0006: a 160-byte PKCS#11 `CK_TOKEN_INFO` (spec §4.3, U1's layout and example values)
/// under `label`.
pub fn token_info(label: &[u8], serial: &str) -> Vec<u8> {
    fn padded(out: &mut Vec<u8>, text: &[u8], len: usize) {
        let start = out.len();
        out.extend_from_slice(&text[..text.len().min(len)]);
        out.resize(start + len, b' ');
    }
    let mut out = Vec::with_capacity(160);
    padded(&mut out, label, 32);
    padded(&mut out, b"00000000000000000000000000000001", 32);
    padded(&mut out, b"E16R01NJ", 16);
    padded(&mut out, format!("{serial:0>16}").as_bytes(), 16);
    // flags: RNG | LOGIN_REQUIRED | USER_PIN_INITIALIZED | TOKEN_INITIALIZED.
    for value in [0x0000_040Du32, 1, 0, 1, 0, 16, 6] {
        out.extend_from_slice(&value.to_be_bytes());
    }
    out.extend_from_slice(&[0xFF; 16]);
    out.extend_from_slice(b"0301");
    out.extend_from_slice(&[b'9'; 16]);
    debug_assert_eq!(out.len(), 160);
    out
}
