//! Each checker's cost per history event on one run (issue 18: none superlinear), with the
//! shared index (`Facts::new`) timed on its own:
//! `cargo run --release -p tokenlab-properties --example checker_scale -- refresh 10000 [3600]`
//! (mechanism, tenants, duration in s; one demand per tenant-hour; then passes and
//! repetitions, see `main`), in CPU seconds of the
//! checking thread. A flat events/s across sizes means linear. Wall-clock timing lives here, in a measuring tool, not in the models.
#![allow(clippy::disallowed_methods)]

use std::time::Instant;

/// This thread's CPU time in seconds (`/proc/thread-self/schedstat`, Linux), so that the
/// figures hold on a loaded machine; wall time where it is missing.
fn cpu_s(wall: Instant) -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .map_or_else(|| wall.elapsed().as_secs_f64(), |ns| ns / 1e9)
}
use tokenlab_models::sim::{Scenario, run};
use tokenlab_properties::Property;
use tokenlab_properties::facts::Facts;
use tokenlab_properties::suite::check_input;

/// `checker_scale probe`: one binary search per lookup in a sorted index of 24-byte entries
/// (as `SortedMap` keeps the messages) at the index sizes of 1 k, 10 k, 100 k and 1 M
/// tenants, keys looked up in random and in ascending order. Same steps per lookup up to
/// log2 of the size; a cost that grows faster in random order only is the cache, not the
/// algorithm.
fn probe() {
    const LOOKUPS: u64 = 2_000_000;
    for size in [30_000u64, 300_000, 3_000_000, 30_000_000] {
        let index: Vec<(u64, [u64; 2])> = (0..size).map(|k| (k * 7, [k, k])).collect();
        for random in [false, true] {
            let mut x = 0x9e37_79b9_7f4a_7c15u64;
            let wall = Instant::now();
            let t = cpu_s(wall);
            let mut found = 0u64;
            for i in 0..LOOKUPS {
                let key = if random {
                    // xorshift: a fixed sequence, no global randomness.
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (x % size) * 7
                } else {
                    (i * size / LOOKUPS) * 7
                };
                if let Ok(j) = index.binary_search_by(|(k, _)| k.cmp(&key)) {
                    found += index[j].1[0] & 1;
                }
            }
            let ns = (cpu_s(wall) - t) * 1e9 / LOOKUPS as f64;
            println!(
                "probe {size} entries, {} order: {ns:.1} ns per lookup ({} odd)",
                if random { "random" } else { "ascending" },
                std::hint::black_box(found)
            );
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("probe") {
        return probe();
    }
    let mech = args.first().map_or("refresh", String::as_str);
    let tenants: u32 = args.get(1).map_or(1000, |t| t.parse().expect("tenants"));
    let duration_s: f64 = args.get(2).map_or(3600.0, |d| d.parse().expect("duration"));
    // Passes over the history (0: the run alone): `perf stat` of 0 and of k passes, one
    // subtracted from the other, counts what the checkers cost (cache misses and all).
    let passes: u32 = args.get(3).map_or(1, |k| k.parse().expect("passes"));
    // Repetitions, whose mean is shown: this VM's thread clock ticks in 4 ms, too coarse for
    // one pass at 10 k tenants.
    let reps: u32 = args.get(4).map_or(1, |k| k.parse().expect("repetitions"));
    let mut s = Scenario::new(mech, "same-region").expect("mechanism and preset");
    s.tenants = tenants;
    s.duration_s = duration_s;
    s.demands_per_tenant_hour = 1.0;
    s.seed = 7;
    let r = run(&s).expect("runs");
    let h = &r.history;
    let events = h.records.len() as f64;
    let input = check_input(h, &r.params, tenants, None);
    let rate = |secs: f64| events / secs / 1e6;
    for _ in 1..passes {
        let f = Facts::new(h);
        for p in Property::ALL {
            std::hint::black_box(p.check_with(&f, &input));
        }
    }
    if passes == 0 {
        return;
    }
    // Each repetition builds its own index and runs every checker on it, as one check does
    // (the lazily built parts of the index count once per repetition); the mean is shown.
    let wall = Instant::now();
    let mut facts_s = 0.0;
    let mut check_s = [0.0f64; Property::ALL.len()];
    let mut verdicts = Vec::new();
    for _ in 0..reps {
        let t = cpu_s(wall);
        let f = Facts::new(h);
        facts_s += (cpu_s(wall) - t) / f64::from(reps);
        verdicts.clear();
        for (k, p) in Property::ALL.into_iter().enumerate() {
            let t = cpu_s(wall);
            verdicts.push(p.check_with(&f, &input));
            check_s[k] += (cpu_s(wall) - t) / f64::from(reps);
        }
    }
    println!(
        "{mech} {tenants} tenants, {} events: Facts::new {facts_s:.4} s ({:.2} M events/s)",
        events,
        rate(facts_s)
    );
    let mut total = facts_s;
    for ((p, secs), v) in Property::ALL.into_iter().zip(check_s).zip(&verdicts) {
        total += secs;
        println!(
            "{mech} {tenants} {p}: {secs:.4} s ({:.2} M events/s) {} reached {}",
            rate(secs),
            v.kind.name(),
            v.reached
        );
    }
    println!(
        "{mech} {tenants} all: {total:.4} s ({:.2} M events/s)",
        rate(total)
    );
}
