//! 住基AP, the resident-registry application `D3 92 10 00 31 00 01 01 04 01` (spec §7.3).
//!
//! EF 0002 (one 16-byte key reference, identical to the common AP's) and the 4-digit PIN
//! 001C with its own counter, changed with `80 32`. Where the 住民票コード lives is \[unk\]
//! (spec §12 item 6), so the simulator holds no such file.

use super::{Applet, AppletId, ChangeCommand, SessionKeySupport};
use crate::files::{Access, Ef};
use crate::pins::PinId;

/// DF name (spec §7.1).
pub const AID: &[u8] = &[0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x04, 0x01];

/// FID of the key-reference record EF.
pub const KEY_REFERENCE: u16 = 0x0002;
/// FID of the PIN.
pub const PIN: u16 = 0x001C;

/// Builds the application.
pub fn build(key_reference: [u8; 16]) -> Applet {
    Applet {
        id: AppletId::Juki,
        aid: AID,
        files: vec![Ef::records(KEY_REFERENCE, vec![key_reference.to_vec()], Access::Free), Ef::pin(PIN, PinId::JukiPin)],
        keys: Vec::new(),
        default_key: None,
        change_command: ChangeCommand::ChangeKey,
        session_key: SessionKeySupport::Refused,
    }
}
