//! Mechanism latency on real loopback HTTP: a cold-miss token acquisition (the partner's
//! cache emptied before each demand) and a warm demand (token cached), per mechanism, with no
//! injected delay (the protocol's own overhead: HTTP, JWT signing and verification, store
//! code) and with a fixed injected one-way delay on every inter-party link. Each group holds
//! one kind at one delay, so `cargo bench --bench latency` prints the mechanisms side by side.
//!
//! The modelled local costs (mint, store) are set to 0, as in `tokenlab calibrate`, so what
//! is measured is real work plus the injected delay. Push and Connect have no cold miss to
//! measure (no on-demand path; nothing to fetch) and appear in the warm groups only. Load is
//! driven from a spawned task, timed inside it (`iter_custom`).

use criterion::{Criterion, criterion_group, criterion_main};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokenlab::net::{LoopbackWorld, NetConfig};
use tokenlab_models::history::Outcome;
use tokenlab_models::ids::TenantId;
use tokenlab_models::mechanisms::registry;

/// The fixed injected one-way delay of the second pair of groups.
const DELAY_MS: f64 = 1.0;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn world(rt: &tokio::runtime::Runtime, id: &str, one_way_ms: f64) -> Arc<LoopbackWorld> {
    let mut cfg = NetConfig::new(id, 1, one_way_ms);
    cfg.sets = ["mint_time=0ms", "db_read=0ms", "db_write=0ms"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    if id == "push" {
        cfg.sets.push("interval=1s".into());
    }
    let w = rt.block_on(async {
        let w = LoopbackWorld::start(&cfg).await.expect("world starts");
        if id == "push" {
            tokio::time::sleep(Duration::from_millis(1_100)).await;
        }
        // Fill the cache and check the path works before measuring it.
        let r = w.demand(TenantId(0)).await;
        assert_eq!(r.outcome, Outcome::Ok, "{id}: {r:?}");
        w
    });
    Arc::new(w)
}

#[allow(clippy::disallowed_methods)] // benches time real work on the wall clock
async fn timed(w: Arc<LoopbackWorld>, iters: u64, cold: bool) -> Duration {
    tokio::spawn(async move {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            if cold {
                w.clear_token_cache();
            }
            let start = Instant::now();
            let r = w.demand(TenantId(0)).await;
            total += start.elapsed();
            assert_eq!(r.outcome, Outcome::Ok);
            assert_eq!(r.cold, cold);
        }
        total
    })
    .await
    .expect("the bench task runs")
}

fn bench(c: &mut Criterion) {
    let rt = runtime();
    for delay in [0.0, DELAY_MS] {
        for cold in [true, false] {
            let kind = if cold { "cold_miss" } else { "warm" };
            let mut g = c.benchmark_group(format!("loopback/{kind}/delay_{delay}ms"));
            g.sample_size(20)
                .warm_up_time(Duration::from_millis(300))
                .measurement_time(Duration::from_secs(2));
            for m in registry() {
                if cold && m.hops_on_miss() == 0 {
                    continue;
                }
                let w = world(&rt, m.id(), delay);
                g.bench_function(m.id(), |b| {
                    b.to_async(&rt)
                        .iter_custom(|iters| timed(w.clone(), iters, cold))
                });
            }
            g.finish();
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
