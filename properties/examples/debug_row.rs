//! Prints the presentations and decisions of one row's first run (a debugging aid):
//! `cargo run --release -p tokenlab-properties --example debug_row -- refresh P4 [SET..]`.
use tokenlab_properties::facts::Facts;
use tokenlab_properties::suite::{execute, runs_for};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mech, prop, sets) = (&args[0], &args[1], args[2..].to_vec());
    let prop = prop.parse().unwrap_or_else(|e| panic!("{e}"));
    let mut spec = runs_for(mech, &sets, prop).remove(0);
    if let Ok(s) = std::env::var("SEED") {
        spec.scenario.seed = u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap();
    }
    if let Ok(t) = std::env::var("TENANTS") {
        spec.scenario.tenants = t.parse().unwrap();
    }
    if let Ok(d) = std::env::var("DURATION") {
        spec.scenario.duration_s = d.parse().unwrap();
    }
    let (h, _) = execute(&spec).unwrap();
    let f = Facts::new(&h);
    for p in f.presents.values() {
        if std::env::var("ALL").is_ok() || p.who == tokenlab_models::ids::Party::Attacker {
            println!("{}  root={}", f.line(p.req), f.root_of(p.item));
        }
    }
    for r in &h.records {
        if let tokenlab_models::history::Event::Detect { .. }
        | tokenlab_models::history::Event::Attack { .. } = &r.event
        {
            println!("t={:.3} {:?}", r.t as f64 / 1e6, r.event);
        }
    }
}
