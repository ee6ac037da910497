//! In-process scaling: K cards in one process signing concurrently on all cores, against
//! `min(K, cores) x` OpenSSL's one-core rate measured in the same run, and the resident
//! memory each card beyond the first costs.
//!
//! The cards are [`Card::duplicate`]s of one issued card: that is how a program holds
//! many cards without issuing (and generating keys for) each, and what the scenario
//! harness does for repeated cards. A duplicate shares nothing mutable with its original:
//! files, keys, PIN counters and session are its own.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use mynasim_simulator::command::SignMode;
use mynasim_simulator::Card;
use rand_core::SeedableRng;

use super::{digest_info, prepare_for_signing, sign_apdu};

/// One point of the in-process curve.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScalePoint {
    /// Cards signing at once.
    pub cards: usize,
    /// Worker threads (`min(cards, cores)`).
    pub threads: usize,
    /// Signatures per second, all cards together.
    pub signs_per_second: f64,
    /// OpenSSL's one-core sign rate, measured just before on this process's main thread.
    pub openssl_one_core: f64,
    /// OpenSSL signing on `threads` threads at once, measured just before: what this
    /// machine's cores really give at that moment (on a shared machine, less than
    /// `threads x` one core).
    pub openssl_threads: f64,
}

impl ScalePoint {
    /// `min(K, cores) x` OpenSSL one core: the ceiling of this point.
    pub fn ceiling(&self) -> f64 {
        self.threads as f64 * self.openssl_one_core
    }
}

/// Resident memory of this process in bytes (`VmRSS`), if Linux says.
pub fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: u64 = status.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// `count` duplicates of `card`, each ready to sign (JPKI selected, auth PIN verified).
pub fn duplicates(card: &Card, count: usize, auth_pin: &[u8]) -> Result<Vec<Card>> {
    (0..count)
        .map(|n| {
            let mut c = card.duplicate(Box::new(rand_chacha::ChaCha20Rng::seed_from_u64(n as u64)));
            prepare_for_signing(&mut c, auth_pin)?;
            Ok(c)
        })
        .collect()
}

/// Resident bytes per card beyond the first: RSS with `count` prepared duplicates held,
/// less RSS with one, over `count - 1`.
pub fn memory_per_card(card: &Card, count: usize, auth_pin: &[u8]) -> Result<f64> {
    let one = duplicates(card, 1, auth_pin)?;
    let before = resident_bytes().unwrap_or(0);
    let many = duplicates(card, count.max(2) - 1, auth_pin)?;
    let after = resident_bytes().unwrap_or(0);
    drop((one, many));
    Ok(after.saturating_sub(before) as f64 / (count.max(2) - 1) as f64)
}

/// OpenSSL's RSA-2048 PKCS#1 sign rate on this thread over `duration`.
pub fn openssl_rate(rsa: &openssl::rsa::Rsa<openssl::pkey::Private>, duration: Duration) -> Result<f64> {
    let digest_info = digest_info();
    let mut signature = vec![0u8; 256];
    let start = Instant::now();
    let mut n = 0u32;
    while start.elapsed() < duration {
        rsa.private_encrypt(&digest_info, &mut signature, openssl::rsa::Padding::PKCS1)?;
        n += 1;
    }
    Ok(f64::from(n) / start.elapsed().as_secs_f64())
}

/// OpenSSL's RSA-2048 PKCS#1 sign rate on `threads` threads at once, in all.
pub fn openssl_concurrently(rsa: &openssl::rsa::Rsa<openssl::pkey::Private>, threads: usize, duration: Duration) -> Result<f64> {
    let rates: Vec<Result<f64>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads.max(1)).map(|_| scope.spawn(|| openssl_rate(rsa, duration))).collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| bail!("an OpenSSL thread panicked"))).collect()
    });
    rates.into_iter().sum()
}

/// Signs with every card for `duration`: `min(cards, cores)` threads, each taking its share
/// of the cards in turn (round robin). Returns signatures per second in all.
pub fn sign_concurrently(cards: &mut [Card], cores: usize, duration: Duration) -> Result<f64> {
    let threads = cards.len().min(cores).max(1);
    let chunk = cards.len().div_ceil(threads);
    let apdu = sign_apdu(SignMode::Pkcs1Raw);
    let start = Instant::now();
    let counts: Vec<Result<u64>> = std::thread::scope(|scope| {
        let handles: Vec<_> = cards
            .chunks_mut(chunk)
            .map(|share| {
                let apdu = &apdu;
                scope.spawn(move || -> Result<u64> {
                    let mut response = Vec::with_capacity(300);
                    let mut n = 0u64;
                    while start.elapsed() < duration {
                        for card in share.iter_mut() {
                            card.process(apdu, &mut response);
                            if response.len() != 258 {
                                bail!("signing failed: {:02X?}", &response[response.len().saturating_sub(2)..]);
                            }
                            n += 1;
                        }
                    }
                    Ok(n)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| bail!("a signing thread panicked"))).collect()
    });
    let elapsed = start.elapsed().as_secs_f64();
    let mut total = 0;
    for c in counts {
        total += c?;
    }
    Ok(total as f64 / elapsed)
}

/// The in-process curve for each card count: OpenSSL one core then the K cards, in
/// `rounds` interleaved slices of `slice` each, so noise falls on both alike.
pub fn in_process(card: &Card, counts: &[usize], cores: usize, slice: Duration, rounds: u32, auth_pin: &[u8]) -> Result<Vec<ScalePoint>> {
    let rsa = openssl::rsa::Rsa::generate(2048)?;
    let mut points = Vec::new();
    for &k in counts {
        let mut cards = duplicates(card, k, auth_pin)?;
        // One untimed signature per card first: the first use of a key pays one-off costs
        // (a start-up cost, measured apart); the curve is the steady state.
        let mut response = Vec::with_capacity(300);
        let apdu = sign_apdu(SignMode::Pkcs1Raw);
        for c in cards.iter_mut() {
            c.process(&apdu, &mut response);
        }
        let threads = k.min(cores).max(1);
        let (mut openssl, mut together, mut ours) = (0.0, 0.0, 0.0);
        for _ in 0..rounds.max(1) {
            openssl += openssl_rate(&rsa, slice)?;
            together += openssl_concurrently(&rsa, threads, slice)?;
            ours += sign_concurrently(&mut cards, cores, slice)?;
        }
        let r = f64::from(rounds.max(1));
        points.push(ScalePoint {
            cards: k,
            threads,
            signs_per_second: ours / r,
            openssl_one_core: openssl / r,
            openssl_threads: together / r,
        });
    }
    Ok(points)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ceiling_counts_only_the_cores_the_cards_can_use() {
        let p = |cards, threads| ScalePoint { cards, threads, signs_per_second: 0.0, openssl_one_core: 1000.0, openssl_threads: 0.0 };
        assert_eq!(p(1, 1).ceiling(), 1000.0);
        assert_eq!(p(1000, 2).ceiling(), 2000.0);
    }

    #[test]
    fn resident_memory_is_read() {
        assert!(resident_bytes().is_some_and(|b| b > 0));
    }
}
