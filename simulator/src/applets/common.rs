//! 共通カードAP, the common card application `D3 92 10 00 31 00 01 01 01 00` (spec §7.2).
//!
//! EF 0001 (record 1: SIMPLE-TLV `01 1C` + serial, municipality code, expiry), EF 0002
//! (one 16-byte key reference), key 0019 (INTERNAL AUTHENTICATE, no credential) and the
//! 4-digit PIN 001C, changed with JICSAP CHANGE KEY `80 32`.
//!
//! Choices: EF 0002's read rule is \[unk\]; it is free here. The public half of key 0019 is
//! on no file of the card (spec §7.2); `mynasim inspect` prints it.

use super::{Applet, AppletId, AppletKey, ChangeCommand, KeyUse, SessionKeySupport};
use crate::files::{Access, Ef};
use crate::pins::PinId;
use crate::pki::RsaKey;

/// DF name (spec §7.1).
pub const AID: &[u8] = &[0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x01, 0x00];

/// FID of the card-information record EF.
pub const CARD_INFO: u16 = 0x0001;
/// FID of the key-reference record EF.
pub const KEY_REFERENCE: u16 = 0x0002;
/// FID of the internal-authentication key.
pub const INTERNAL_AUTH_KEY: u16 = 0x0019;
/// FID of the PIN.
pub const PIN: u16 = 0x001C;

/// Builds the application.
pub fn build(serial: &str, municipality_code: &str, expiry_yyyymmdd: &str, key_reference: [u8; 16], key: RsaKey) -> Applet {
    let mut record = vec![0x01, 0x1C];
    record.extend_from_slice(serial.as_bytes());
    record.extend_from_slice(municipality_code.as_bytes());
    record.extend_from_slice(expiry_yyyymmdd.as_bytes());
    Applet {
        id: AppletId::Common,
        aid: AID,
        files: vec![
            Ef::records(CARD_INFO, vec![record], Access::Free),
            Ef::records(KEY_REFERENCE, vec![key_reference.to_vec()], Access::Free),
            Ef::key(INTERNAL_AUTH_KEY, 0),
            Ef::pin(PIN, PinId::CommonPin),
        ],
        keys: vec![AppletKey { key, guard: None, usage: KeyUse::InternalAuthenticate }],
        default_key: Some(0),
        change_command: ChangeCommand::ChangeKey,
        session_key: SessionKeySupport::Unsupported,
    }
}
