//! The I/O edge of mynasim: loading profiles and state files, the key cache on disk, the
//! vpcd transport that puts a [`mynasim_simulator::Card`] into a real `pcscd`, and private
//! pcscd sandboxes. The card core itself never does I/O.

pub mod bench;
pub mod control;
pub mod export;
pub mod inspector;
pub mod keycache;
pub mod load;
pub mod process;
pub mod sandbox;
pub mod scenario;
pub mod slot;
pub mod transcript;
pub mod verify;
pub mod vpcd;
