//! Simulator cost: simulated demands per second for `refresh` and `trigger` on the default
//! preset (history recording on, as always), side by side with a bare loop of the product
//! API's HS256 verification, the crypto floor of one demand. Throughput is in demands
//! (elements), so criterion prints demands/s; messages per demand come from the run itself.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use std::hint::black_box;
use tokenlab_models::sim::{Scenario, run};
use tokenlab_models::token::{API_AUDIENCE, AccessClaims, EPOCH_S, PLATFORM_ISSUER};

fn scenario(m: &str) -> Scenario {
    let mut s = Scenario::new(m, "same-region").expect("preset");
    s.duration_s = 1800.0; // 100 tenants × 30 min ≈ 3,000 demands per iteration
    s
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("simulator");
    g.sample_size(10);
    for m in ["refresh", "trigger"] {
        let s = scenario(m);
        let r = run(&s).expect("runs");
        let messages: u64 = r
            .history
            .records
            .iter()
            .filter(|x| matches!(x.event, tokenlab_models::history::Event::Send { .. }))
            .count() as u64;
        eprintln!(
            "{m}: {} demands, {} messages per run ({:.2} per demand)",
            r.summary.demands,
            messages,
            messages as f64 / r.summary.demands as f64
        );
        g.throughput(Throughput::Elements(r.summary.demands));
        g.bench_function(format!("{m}/demands"), |b| {
            b.iter(|| black_box(run(&s).expect("runs").summary.demands))
        });
    }
    // The crypto floor: one HS256 verification per demand at the product API.
    let key = [7u8; 32];
    let claims = AccessClaims {
        iss: PLATFORM_ISSUER.into(),
        aud: API_AUDIENCE.into(),
        inst: 1,
        app: "app".into(),
        scope: "app-system".into(),
        iat: EPOCH_S,
        exp: EPOCH_S + 3600,
        jti: "0123456789abcdef".into(),
    };
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(&key).unwrap(),
    )
    .unwrap();
    let dec = DecodingKey::from_secret(&key).unwrap();
    let mut v = Validation::new(Algorithm::HS256);
    v.validate_exp = false;
    v.validate_aud = false;
    v.required_spec_claims.clear();
    g.throughput(Throughput::Elements(1));
    g.bench_function("hs256_verify/bare", |b| {
        b.iter(|| {
            black_box(
                jsonwebtoken::decode::<AccessClaims>(black_box(&token), &dec, &v)
                    .unwrap()
                    .claims
                    .inst,
            )
        })
    });
    g.finish();
}

/// Exploration cost: guided small-world runs per second per mechanism (the currency of
/// `explore` and of `check`'s exhaustive evidence). Each iteration runs one row's search with
/// a budget of 20 runs (the P4 row: its theft and the snapshot world); throughput is in runs.
fn bench_explore(c: &mut Criterion) {
    use tokenlab_properties::explore::{Search, Strategy, explore};
    let mut g = c.benchmark_group("explore");
    g.sample_size(10);
    let rows = tokenlab_properties::suite::expectations();
    for m in [
        "trigger",
        "push",
        "refresh",
        "upm-oauth",
        "global-secret",
        "tenant-secret",
        "connect-jwt",
    ] {
        let Some(e) = rows
            .iter()
            .find(|e| e.mechanism == m && e.variant.is_none() && e.property.id() == "P4")
        else {
            continue;
        };
        // A row that holds keeps searching to its budget; a violated one stops early, so the
        // throughput counts the runs one search actually makes.
        let search = Search {
            strategy: Strategy::Exhaustive,
            seed: 1,
            max_unusual: 1,
            budget: 20,
        };
        let runs = explore(e, &search).expect("explores").runs;
        g.throughput(Throughput::Elements(runs));
        g.bench_function(format!("{m}/small_world_runs"), |b| {
            b.iter(|| black_box(explore(e, &search).expect("explores").runs))
        });
    }
    g.finish();
}

criterion_group!(benches, bench, bench_explore);
criterion_main!(benches);
