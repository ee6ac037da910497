//! Reports over [`super::result::ScenarioResult`]s. Each only reads results: the terminal
//! summary with progress ([`summary`]), JUnit XML ([`junit`]), JSON ([`json`]) and
//! transcripts that `scriptor` replays ([`transcript`]).

pub mod json;
pub mod junit;
pub mod summary;
pub mod transcript;
