//! The per-demand bench's timed part alone, for profilers: provisions N worlds of the bench's
//! scenario (default preset, 100 tenants, 1800 s) first, then runs each to its end, so a
//! profile that starts after "provisioned" (`perf record -D MS`) sees what
//! `simulator/{m}/demands` times and nothing of its setup. Prints the wall time of the runs.
//!
//! `cargo run --release --example steady_state -- trigger 100`

/// The binary's allocator, as the bench uses it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use tokenlab_models::sim::{Scenario, Sim};

// The one wall-clock read times the runs from outside; the models stay on virtual time.
#[allow(clippy::disallowed_methods)]
fn main() {
    let mut args = std::env::args().skip(1);
    let mechanism = args.next().unwrap_or_else(|| "trigger".into());
    let worlds: usize = args.next().map_or(100, |n| n.parse().expect("a count"));
    let mut s = Scenario::new(&mechanism, "same-region").expect("a preset");
    s.duration_s = 1800.0;
    let sims: Vec<Sim> = (0..worlds)
        .map(|_| {
            let mut sim = Sim::new(&s).expect("resolves");
            sim.provision();
            sim
        })
        .collect();
    eprintln!("provisioned");
    let started = std::time::Instant::now();
    let mut events = 0;
    for mut sim in sims {
        sim.run();
        events += sim.finish().history.records.len();
    }
    eprintln!("ran {worlds} in {:?} ({events} events)", started.elapsed());
}
