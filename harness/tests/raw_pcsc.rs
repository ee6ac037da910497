//! Raw APDUs through pcscd with the `pcsc` crate.

#![allow(clippy::unwrap_used)]

use mynasim_harness::sandbox::{Sandbox, SandboxOptions};

#[test]
fn raw_apdus_through_pcscd() {
    let sandbox = Sandbox::start(&SandboxOptions::new(env!("CARGO_BIN_EXE_mynasim"))).unwrap();
    // pcsc-lite reads PCSCLITE_CSOCK_NAME when the first context is established; this test
    // process talks to one sandbox only.
    std::env::set_var("PCSCLITE_CSOCK_NAME", sandbox.socket());
    let ctx = pcsc::Context::establish(pcsc::Scope::User).unwrap();
    let mut readers_buf = [0u8; 2048];
    let reader = ctx.list_readers(&mut readers_buf).unwrap().next().unwrap().to_owned();
    let card = ctx.connect(&reader, pcsc::ShareMode::Shared, pcsc::Protocols::ANY).unwrap();
    let mut buf = [0u8; 300];
    let select = [0x00, 0xA4, 0x04, 0x0C, 0x0A, 0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01];
    assert_eq!(card.transmit(&select, &mut buf).unwrap(), [0x90, 0x00]);
    assert_eq!(card.transmit(&[0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x06], &mut buf).unwrap(), [0x90, 0x00]);
    let token = card.transmit(&[0x00, 0xB0, 0x00, 0x00, 0x20], &mut buf).unwrap();
    assert_eq!(&token[..15], b"JPKIAPICCTOKEN2");
    assert_eq!(&token[32..], [0x90, 0x00]);
    assert_eq!(card.transmit(&[0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x99], &mut buf).unwrap(), [0x6A, 0x82]);
    let (atr_len, atr) = {
        let mut names = [0u8; 256];
        let mut atr = [0u8; 64];
        let status = card.status2(&mut names, &mut atr).unwrap();
        (status.atr().len(), status.atr().to_vec())
    };
    assert_eq!(atr[..atr_len], mynasim_simulator::profile::ATR_CONTACT[..]);
}
