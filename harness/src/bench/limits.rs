//! The transport's floor: a TCP loopback ping-pong with vpcd's framing and the frame
//! sizes of the READ BINARY measurement (a 5-byte C-APDU, a 34-byte R-APDU, each behind
//! a 2-byte length), both ends with TCP_NODELAY and one write per frame. Nothing that
//! crosses vpcd's socket can be faster; pcscd adds its own unix socket hop on top.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Instant;

use anyhow::Result;

/// Round trips of `rounds` ping-pongs, in milliseconds each.
pub fn tcp_ping_pong(rounds: usize) -> Result<Vec<f64>> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let server = std::thread::spawn(move || -> std::io::Result<()> {
        let (mut stream, _) = listener.accept()?;
        stream.set_nodelay(true)?;
        let mut request = [0u8; 7];
        let mut response = [0u8; 36];
        response[..2].copy_from_slice(&34u16.to_be_bytes());
        response[34..].copy_from_slice(&[0x90, 0x00]);
        loop {
            if stream.read_exact(&mut request).is_err() {
                return Ok(());
            }
            stream.write_all(&response)?;
        }
    });
    let mut client = TcpStream::connect(addr)?;
    client.set_nodelay(true)?;
    let mut request = [0u8; 7];
    request[..2].copy_from_slice(&5u16.to_be_bytes());
    request[2..].copy_from_slice(&super::READ_TOKEN);
    let mut response = [0u8; 36];
    let mut samples = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let start = Instant::now();
        client.write_all(&request)?;
        client.read_exact(&mut response)?;
        samples.push(start.elapsed().as_secs_f64() * 1e3);
    }
    drop(client);
    let _ = server.join();
    Ok(samples)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_ping_pong_measures_every_round() {
        let samples = super::tcp_ping_pong(10).unwrap();
        assert_eq!(samples.len(), 10);
        assert!(samples.iter().all(|s| *s > 0.0));
    }
}
