//! vpcd frames: `read_frame` over arbitrary bytes until EOF or an error, as `run_session`
//! does, each frame handled like the transport handles it (control byte or APDU).
//! Invariants: no panic; each frame is exactly the bytes its 2-byte length announced; the
//! buffer never grows beyond what a 2-byte length allows; answers re-frame.
#![no_main]

use std::io::{self, Read};

use libfuzzer_sys::fuzz_target;
use mynasim_harness::vpcd::{read_frame, write_frame, Control};

/// A reader that hands out at most `chunk` bytes per call (a slow socket).
struct Chunked<'a> {
    data: &'a [u8],
    chunk: usize,
}

impl Read for Chunked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.data.len().min(buf.len()).min(self.chunk);
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, stream)) = data.split_first() else { return };
    let mut reader = Chunked { data: stream, chunk: usize::from(mode % 8) + 1 + if mode & 0x80 != 0 { 65_536 } else { 0 } };
    let mut card = mynasim_fuzz::Run::new().card;
    let (mut request, mut response, mut scratch, mut out) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut consumed = 0usize;
    loop {
        match read_frame(&mut reader, &mut request) {
            Ok(false) => {
                assert_eq!(consumed, stream.len(), "clean EOF before the end of the stream");
                break;
            }
            Ok(true) => {
                assert!(request.len() <= 0xFFFF, "frame of {} bytes", request.len());
                assert!(request.capacity() <= 2 * 0x1_0000, "buffer of {} bytes for a frame of {}", request.capacity(), request.len());
                let len = usize::from(u16::from_be_bytes([stream[consumed], stream[consumed + 1]]));
                assert_eq!(request.len(), len, "frame length differs from its header");
                assert_eq!(request.as_slice(), &stream[consumed + 2..consumed + 2 + len], "frame bytes differ");
                consumed += 2 + len;
            }
            Err(e) => {
                assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof, "unexpected error kind: {e}");
                assert!(stream.len() - consumed < 2 + 0xFFFF, "truncation error with a whole frame left");
                break;
            }
        }
        match request.as_slice() {
            [] => {}
            [byte] => match Control::from_byte(*byte) {
                Some(Control::GetAtr) => write_frame(&mut out, card.atr(), &mut scratch).expect("ATR frames"),
                Some(Control::Power(event)) => card.power(event),
                None => {}
            },
            apdu => {
                card.process(apdu, &mut response);
                assert!(response.len() >= 2, "answer without status word");
                write_frame(&mut out, &response, &mut scratch).expect("an answer does not frame");
                out.clear();
            }
        }
    }
});
