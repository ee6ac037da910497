//! The vpcd transport (vsmartcard's virtual reader driver in pcscd).
//!
//! Protocol: every message is a 2-byte big-endian length and a payload. A 1-byte payload
//! is a control message (`00` power off, `01` power on, `02` reset, `04` get ATR); any
//! other payload is a C-APDU, answered with the R-APDU.
//!
//! Two socket options defeat the 44 ms stall measured with Debian's vpcd 3.3
//! (shared/PLATFORM.md): vpcd writes the length and the payload in two sends without
//! TCP_NODELAY, so Nagle waits for our delayed ACK. We re-arm TCP_QUICKACK before every
//! read (Linux clears it after use) and send each response in one write with TCP_NODELAY.
//!
//! The `vpicc` crate (0.1.0) has neither option nor reconnection, so this small transport
//! is written here.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use socket2::SockRef;
use tracing::{debug, error, info, warn};

use crate::transcript;
use mynasim_simulator::decode::Decoder;
use mynasim_simulator::power::PowerEvent;

/// What the transport does with an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Send it.
    Send,
    /// The card was pulled out after the command took effect: close the connection
    /// without answering.
    TearOut,
}

/// What vpcd talks to: a card that answers APDUs and resets.
pub trait VirtualCard {
    /// A name for logs.
    fn name(&self) -> &str;
    /// The ATR.
    fn atr(&self) -> Vec<u8>;
    /// Power off (also removal and a lost reader), power on, warm reset.
    fn power(&mut self, event: PowerEvent);
    /// Answers one C-APDU into `response` (cleared first). Any state change must be
    /// durable when this returns: the transport sends the answer right after.
    fn process(&mut self, apdu: &[u8], response: &mut Vec<u8>) -> Delivery;
    /// Blocks while the card is out of the reader (before every connection to vpcd).
    fn wait_inserted(&mut self) {}
    /// Told about each new vpcd connection (a slot keeps a handle to cut it on removal).
    fn connected(&mut self, _stream: &TcpStream) {}
}

impl VirtualCard for crate::load::LoadedCard {
    fn name(&self) -> &str {
        &self.name
    }

    fn atr(&self) -> Vec<u8> {
        self.card.atr().to_vec()
    }

    fn power(&mut self, event: PowerEvent) {
        self.card.power(event);
    }

    fn process(&mut self, apdu: &[u8], response: &mut Vec<u8>) -> Delivery {
        self.answer(apdu, response);
        Delivery::Send
    }
}

/// A trivial card that answers `90 00` to everything: the baseline of the transport
/// benchmarks (the cost of pcscd + vpcd alone).
#[derive(Debug, Default)]
pub struct NullCard;

impl VirtualCard for NullCard {
    fn name(&self) -> &str {
        "null card"
    }

    fn atr(&self) -> Vec<u8> {
        mynasim_simulator::profile::ATR_CONTACT.to_vec()
    }

    fn power(&mut self, _event: PowerEvent) {}

    fn process(&mut self, _apdu: &[u8], response: &mut Vec<u8>) -> Delivery {
        response.clear();
        response.extend_from_slice(&mynasim_simulator::Sw::SUCCESS.to_bytes());
        Delivery::Send
    }
}

/// vpcd's first port (slot 0); slot n listens on `FIRST_PORT + n`.
pub const FIRST_PORT: u16 = 35_963;

/// Control messages (one-byte payloads).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// `00` power off, `01` power on, `02` reset.
    Power(PowerEvent),
    /// `04`.
    GetAtr,
}

impl Control {
    /// Decodes a control byte.
    pub fn from_byte(b: u8) -> Option<Control> {
        match b {
            0x00 => Some(Control::Power(PowerEvent::Off)),
            0x01 => Some(Control::Power(PowerEvent::On)),
            0x02 => Some(Control::Power(PowerEvent::WarmReset)),
            0x04 => Some(Control::GetAtr),
            _ => None,
        }
    }
}

/// Reads one frame's payload into `buf`. `Ok(false)` on a clean end of stream before a frame.
pub fn read_frame(stream: &mut impl Read, buf: &mut Vec<u8>) -> io::Result<bool> {
    let mut header = [0u8; 2];
    match stream.read_exact(&mut header[..1]) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(false),
        Err(e) => return Err(e),
    }
    stream.read_exact(&mut header[1..])?;
    let len = usize::from(u16::from_be_bytes(header));
    buf.clear();
    buf.resize(len, 0);
    stream.read_exact(buf)?;
    Ok(true)
}

/// Writes one frame in a single write. Payloads over 65,535 bytes cannot be framed.
pub fn write_frame(stream: &mut impl Write, payload: &[u8], scratch: &mut Vec<u8>) -> io::Result<()> {
    let len = u16::try_from(payload.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("frame of {} bytes exceeds 65,535", payload.len())))?;
    scratch.clear();
    scratch.extend_from_slice(&len.to_be_bytes());
    scratch.extend_from_slice(payload);
    stream.write_all(scratch)
}

/// Serves `card` to the vpcd slot at `addr` for ever: connects, answers frames, and on a
/// dropped connection (pcscd restarted, vpcd reloaded) treats it as card removal and
/// reconnects. Counters and locks live in the card and survive.
///
/// `socket_fix` false leaves TCP_NODELAY and TCP_QUICKACK alone: only for measuring what
/// they are worth (`mynasim bench --pcsc --no-socket-fix`).
pub fn serve(card: &mut dyn VirtualCard, addr: &str, ready_file: Option<&std::path::Path>, socket_fix: bool) -> io::Result<()> {
    let target: SocketAddr =
        addr.to_socket_addrs()?.next().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("cannot resolve {addr}")))?;
    let mut waiting_logged = false;
    // vpcd starts listening a moment after pcscd starts: retry soon, then every 100 ms.
    let mut pause = Duration::from_millis(5);
    loop {
        card.wait_inserted();
        match TcpStream::connect(target) {
            Ok(stream) if is_self_connection(&stream) => {
                // Nothing listened on vpcd's port yet and the kernel picked that very port
                // as our socket's own: TCP's simultaneous open connected it to itself.
                // Close it at once (it holds the port vpcd is about to bind) and retry.
                drop(stream);
                std::thread::sleep(pause);
            }
            Ok(stream) => {
                waiting_logged = false;
                pause = Duration::from_millis(5);
                card.connected(&stream);
                info!(card = %card.name(), "connected to vpcd at {target}");
                match run_session(card, stream, ready_file, socket_fix) {
                    Ok(()) => info!(card = %card.name(), "vpcd closed the connection; reconnecting"),
                    Err(e) => warn!(card = %card.name(), "vpcd connection lost: {e}; reconnecting"),
                }
                // The reader is gone: for the card, the power went off.
                card.power(PowerEvent::Off);
            }
            Err(e) => {
                if !waiting_logged {
                    info!(card = %card.name(), "waiting for vpcd at {target} ({e})");
                    waiting_logged = true;
                }
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(100));
            }
        }
    }
}

/// Whether `stream` is connected to itself: a connection to a local port nobody listens on
/// succeeds when the kernel happens to choose that same port as the socket's own (TCP
/// simultaneous open). The socket then holds vpcd's port, and vpcd cannot bind it.
pub fn is_self_connection(stream: &TcpStream) -> bool {
    matches!((stream.local_addr(), stream.peer_addr()), (Ok(local), Ok(peer)) if local == peer)
}

/// Answers frames until the peer closes the connection.
/// `ready_file` is created once connected to vpcd.
pub fn run_session(
    card: &mut dyn VirtualCard,
    mut stream: TcpStream,
    ready_file: Option<&std::path::Path>,
    socket_fix: bool,
) -> io::Result<()> {
    stream.set_nodelay(socket_fix)?;
    if let Some(path) = ready_file.filter(|p| !p.exists()) {
        // The sandbox reads our pid from it (to enter our namespaces), then asks pcscd
        // whether the card is present.
        std::fs::write(path, format!("{}\n", std::process::id()))?;
    }
    let mut request = Vec::with_capacity(512);
    let mut response = Vec::with_capacity(512);
    let mut scratch = Vec::with_capacity(512);
    // Names the APDUs in the debug log; only fed while that log is on, so it costs the
    // APDU path nothing otherwise (its names can lag until the next SELECT after it is
    // turned on).
    let mut decoder = Decoder::new();
    loop {
        // Linux clears TCP_QUICKACK after it acts: re-arm it before every read.
        if socket_fix {
            SockRef::from(&stream).set_tcp_quickack(true)?;
        }
        if !read_frame(&mut stream, &mut request)? {
            return Ok(());
        }
        match request.as_slice() {
            [] => warn!(card = %card.name(), "ignoring an empty frame from vpcd"),
            [byte] => match Control::from_byte(*byte) {
                Some(Control::GetAtr) => write_frame(&mut stream, &card.atr(), &mut scratch)?,
                Some(Control::Power(event)) => {
                    debug!(card = %card.name(), "{event:?}");
                    if event != PowerEvent::WarmReset {
                        decoder.power_cycle();
                    }
                    card.power(event);
                }
                None => warn!(card = %card.name(), "ignoring unknown vpcd control byte {byte:02X}"),
            },
            apdu => {
                // The state is durable once `process` returns; only then does the answer leave.
                let delivery = card.process(apdu, &mut response);
                debug!(target: "mynasim::apdu", card = %card.name(), "{}  {}", transcript::command(apdu), decoder.command(apdu));
                if delivery == Delivery::TearOut {
                    info!(card = %card.name(), "torn out after the command took effect; no answer");
                    return Ok(());
                }
                debug!(target: "mynasim::apdu", card = %card.name(), "{}  {}", transcript::response(&response), decoder.response(&response));
                if let Err(e) = write_frame(&mut stream, &response, &mut scratch) {
                    if e.kind() == io::ErrorKind::InvalidInput {
                        error!(card = %card.name(), "{e}; answering 6F 00");
                        write_frame(&mut stream, &mynasim_simulator::Sw::NO_PRECISE_DIAGNOSIS.to_bytes(), &mut scratch)?;
                    } else {
                        return Err(e);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out one byte per call, like a slow socket.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match (self.0.split_first(), buf.first_mut()) {
                (Some((b, rest)), Some(slot)) => {
                    *slot = *b;
                    self.0 = rest;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    /// The race behind a sandbox whose vpcd could not bind its port: a socket bound to a
    /// port and connected to that same port is connected to itself.
    #[test]
    fn a_socket_connected_to_its_own_port_is_recognised() {
        use socket2::{Domain, Socket, Type};
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        socket.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into()).unwrap();
        let own = socket.local_addr().unwrap();
        socket.connect(&own).unwrap();
        let stream: TcpStream = socket.into();
        assert!(is_self_connection(&stream));

        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let other = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        assert!(!is_self_connection(&other));
    }

    #[test]
    fn frames_survive_partial_reads() {
        let mut buf = Vec::new();
        let mut input = Trickle(&[0x00, 0x03, 0xAA, 0xBB, 0xCC, 0x00, 0x01, 0x04]);
        assert!(read_frame(&mut input, &mut buf).unwrap());
        assert_eq!(buf, [0xAA, 0xBB, 0xCC]);
        assert!(read_frame(&mut input, &mut buf).unwrap());
        assert_eq!(buf, [0x04]);
        assert!(!read_frame(&mut input, &mut buf).unwrap());
    }

    #[test]
    fn truncated_frames_are_errors_not_panics() {
        let mut buf = Vec::new();
        assert!(read_frame(&mut Trickle(&[0x00]), &mut buf).is_err());
        assert!(read_frame(&mut Trickle(&[0x00, 0x05, 0x01]), &mut buf).is_err());
    }

    #[test]
    fn oversize_frames_are_refused() {
        let mut out = Vec::new();
        let mut scratch = Vec::new();
        assert!(write_frame(&mut out, &vec![0; 65_536], &mut scratch).is_err());
        write_frame(&mut out, &[0x90, 0x00], &mut scratch).unwrap();
        assert_eq!(out, [0x00, 0x02, 0x90, 0x00]);
    }
}
