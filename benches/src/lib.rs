//! Criterion benchmarks live in `benches/card.rs`; run `cargo bench -p mynasim-benches`.
