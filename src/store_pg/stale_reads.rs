//! Read-after-write on loopback (H4, `analytic.md` S3, P12): trigger's cold path, once per
//! tenant, against the model store or a real PostgreSQL primary and hot standby.
//!
//! Every demand is a tenant's first, so it misses, calls the trigger URL, and after the 2xx
//! reads T back from where `read_from` says. With `retries=0` each demand makes exactly one
//! read-back, and the reads are independent trials: `stale` of `reads` found no token
//! (the history's `StaleRead` after a trigger 2xx, the very events P12 judges). The S3
//! prediction P(lag > Δ) is computed per read from the measured lag distribution (every
//! committed write watched on the standby) and that read's own window Δ (the token's commit
//! to the read-back's start, from the history), then averaged; on the primary it is 0.

use super::store::PgStore;
use crate::net::{LoopbackWorld, NetConfig};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tokenlab_models::Micros;
use tokenlab_models::history::{Event, History, LocalStep};
use tokenlab_models::ids::{MsgId, Party, TenantId};
use tokenlab_models::message::Value;
use tokenlab_models::params::{Choice, ReadFrom};

/// Where the tokens live.
#[derive(Clone, Debug)]
pub enum StoreTarget {
    /// The model store; the replica lag is `fixed(apply_delay_ms)`.
    Memory,
    /// A PostgreSQL primary and hot standby, opened and caught up by the caller.
    Postgres(Arc<PgStore>),
}

/// One run's settings.
#[derive(Clone, Debug)]
pub struct StaleReadsConfig {
    pub read_from: ReadFrom,
    /// The standby's `recovery_min_apply_delay` (set by the caller on PostgreSQL), or the
    /// model store's fixed replica lag.
    pub apply_delay_ms: u64,
    /// Demands, one per tenant.
    pub demands: u32,
    /// Injected one-way delay on every inter-party link (ms); Δ is about twice this.
    pub one_way_ms: f64,
    /// Demands in flight at once.
    pub concurrency: u32,
    pub seed: u64,
}

impl Default for StaleReadsConfig {
    fn default() -> Self {
        StaleReadsConfig {
            read_from: ReadFrom::Replica,
            apply_delay_ms: 0,
            demands: 200,
            one_way_ms: 40.0,
            concurrency: 20,
            seed: 1,
        }
    }
}

/// Quantiles of a sample, in ms.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct QuantilesMs {
    pub n: usize,
    pub min: f64,
    pub p10: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

impl QuantilesMs {
    pub fn of(us: &[i64]) -> QuantilesMs {
        if us.is_empty() {
            return QuantilesMs::default();
        }
        let mut v = us.to_vec();
        v.sort_unstable();
        let q = |p: f64| {
            let i = ((p * (v.len() - 1) as f64).round() as usize).min(v.len() - 1);
            round3(v[i] as f64 / 1000.0)
        };
        QuantilesMs {
            n: v.len(),
            min: q(0.0),
            p10: q(0.1),
            p50: q(0.5),
            p90: q(0.9),
            p99: q(0.99),
            max: q(1.0),
        }
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// What `tokenlab stale-reads` prints.
#[derive(Clone, Debug, Serialize)]
pub struct StaleReads {
    /// `memory` or `postgres`.
    pub store: &'static str,
    /// The database's own `version()`; null for the model store.
    pub server_version: Option<String>,
    pub read_from: &'static str,
    pub apply_delay_ms: u64,
    pub demands: u32,
    /// Read-backs after a trigger 2xx.
    pub reads: u64,
    /// Of those, reads that found no token.
    pub stale: u64,
    pub stale_share: f64,
    /// Wilson 95% interval of `stale_share`.
    pub stale_share_ci: [f64; 2],
    /// Replication lag: from a token write's commit acknowledgement to its first sighting on
    /// the standby (model store: the configured lag).
    pub lag_ms: QuantilesMs,
    /// Δ per read: from the token's commit to the read-back's start.
    pub window_ms: QuantilesMs,
    /// S3: the mean over reads of P(lag > Δ) under the measured lag distribution (0 on the
    /// primary).
    pub s3_prediction: f64,
    /// Whether the prediction lies in `stale_share_ci`.
    pub s3_within_ci: bool,
    /// P12 (read-your-writes) judged on this run's history: `holds` or `violated`.
    pub p12: &'static str,
    /// Trigger 2xx that reached P.app (P12's antecedent).
    pub p12_reached: u64,
    pub wall_s: f64,
}

/// Wilson score interval (95%) for k of n.
pub fn wilson(k: u64, n: u64) -> [f64; 2] {
    if n == 0 {
        return [0.0, 1.0];
    }
    const Z: f64 = 1.959_963_984_540_054;
    let (k, n) = (k as f64, n as f64);
    let p = k / n;
    let z2 = Z * Z;
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = Z * ((p * (1.0 - p) / n) + z2 / (4.0 * n * n)).sqrt() / denom;
    [
        round6((centre - half).max(0.0)),
        round6((centre + half).min(1.0)),
    ]
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum StaleReadsError {
    #[error("--demands must be between 1 and 5000, got {0}")]
    Demands(u32),
    #[error("starting the loopback world: {0}")]
    Start(#[from] crate::net::StartError),
    #[error("PostgreSQL: {0}")]
    Pg(#[from] super::PgStoreError),
}

/// Per read-back after a trigger 2xx: its window Δ and whether it was stale.
#[derive(Clone, Debug, PartialEq)]
pub struct ReadBack {
    pub tenant: TenantId,
    pub window: Micros,
    pub stale: bool,
}

/// The read-backs of a history (trigger 2xx → read), in time order.
pub fn read_backs(h: &History) -> Vec<ReadBack> {
    let mut trigger_tenant: BTreeMap<MsgId, TenantId> = BTreeMap::new();
    let mut ok_response_tenant: BTreeMap<MsgId, TenantId> = BTreeMap::new();
    let mut commits: BTreeMap<TenantId, Vec<Micros>> = BTreeMap::new();
    let mut stale: BTreeSet<MsgId> = BTreeSet::new();
    for r in &h.records {
        match &r.event {
            Event::Send { env } if env.from == Party::APP => {
                if let Some(q) = env.request()
                    && q.route == "GET /trigger"
                    && let Some(Value::Tenant(t)) = q.headers.get("x-acting-for")
                {
                    trigger_tenant.insert(env.id, *t);
                }
            }
            Event::Receive { who, env } if *who == Party::APP => {
                if let (Some(resp), Some(c)) = (env.response(), env.cause)
                    && resp.is_success()
                    && let Some(t) = trigger_tenant.get(&c)
                {
                    ok_response_tenant.insert(env.id, *t);
                }
            }
            Event::StoreCommit { tenant, .. } => commits.entry(*tenant).or_default().push(r.t),
            Event::StaleRead { cause: Some(c), .. } => {
                stale.insert(*c);
            }
            _ => {}
        }
    }
    h.records
        .iter()
        .filter_map(|r| match &r.event {
            Event::Local {
                step: LocalStep::StoreRead,
                start,
                cause,
                ..
            } => {
                let c = &cause.get()?;
                let tenant = *ok_response_tenant.get(c)?;
                let commit = commits
                    .get(&tenant)
                    .and_then(|v| v.iter().rev().find(|t| **t <= *start).copied());
                Some(ReadBack {
                    tenant,
                    window: commit.map_or(0, |c| start - c),
                    stale: stale.contains(c),
                })
            }
            _ => None,
        })
        .collect()
}

/// S3 from a measured lag sample: the mean over windows of the share of lags above each.
pub fn s3_prediction(lags_us: &[i64], windows_us: &[i64]) -> f64 {
    if lags_us.is_empty() || windows_us.is_empty() {
        return 0.0;
    }
    let mut lags = lags_us.to_vec();
    lags.sort_unstable();
    let n = lags.len() as f64;
    let sum: f64 = windows_us
        .iter()
        .map(|w| {
            let at_or_below = lags.partition_point(|l| l <= w);
            (lags.len() - at_or_below) as f64 / n
        })
        .sum();
    round6(sum / windows_us.len() as f64)
}

/// Runs the experiment once. Needs a multi-threaded tokio runtime. With PostgreSQL the
/// caller has set the standby's apply delay and waited for catch-up. Returns the result and
/// the run's history.
pub async fn run(
    target: &StoreTarget,
    cfg: &StaleReadsConfig,
) -> Result<(StaleReads, History), StaleReadsError> {
    if cfg.demands == 0 || cfg.demands > 5000 {
        return Err(StaleReadsError::Demands(cfg.demands));
    }
    let t0 = super::monotonic_now();
    let mut sets = vec![
        format!("read_from={}", cfg.read_from.name()),
        "write_path=direct".to_string(),
        "retries=0".to_string(),
    ];
    let pg = match target {
        StoreTarget::Memory => {
            sets.push(format!("replica_lag=fixed({}ms)", cfg.apply_delay_ms));
            None
        }
        StoreTarget::Postgres(pg) => {
            pg.reset(Duration::from_millis(3 * cfg.apply_delay_ms + 30_000))
                .await?;
            pg.take_lags();
            Some(pg.clone())
        }
    };
    let net = NetConfig {
        sets,
        seed: cfg.seed,
        pg_store: pg.clone(),
        ..NetConfig::new("trigger", cfg.demands, cfg.one_way_ms)
    };
    let world = Arc::new(LoopbackWorld::start(&net).await?);
    let next = Arc::new(AtomicU32::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..cfg.concurrency.clamp(1, cfg.demands) {
        let (world, next, n) = (world.clone(), next.clone(), cfg.demands);
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= n {
                    return;
                }
                world.demand(TenantId(i)).await;
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let history = world.finish();
    let reads = read_backs(&history);
    let commits = history
        .records
        .iter()
        .filter(|r| matches!(r.event, Event::StoreCommit { .. }))
        .count();
    let lags: Vec<i64> = match &pg {
        None => vec![cfg.apply_delay_ms as i64 * 1000; commits],
        Some(pg) => {
            // Every commit's lag watcher reports once the standby shows it.
            let wait = Duration::from_millis(2 * cfg.apply_delay_ms + 5000);
            let deadline = super::monotonic_now() + wait;
            let mut lags = Vec::new();
            loop {
                lags.extend(pg.take_lags());
                if lags.len() >= commits || super::monotonic_now() > deadline {
                    break lags;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    drop(world);
    let n = reads.len() as u64;
    let k = reads.iter().filter(|r| r.stale).count() as u64;
    let windows: Vec<i64> = reads.iter().map(|r| r.window).collect();
    let prediction = match cfg.read_from {
        ReadFrom::Primary => 0.0,
        ReadFrom::Replica => s3_prediction(&lags, &windows),
    };
    let ci = wilson(k, n);
    let p12 = tokenlab_properties::read_your_writes(&history);
    let out = StaleReads {
        store: if pg.is_some() { "postgres" } else { "memory" },
        server_version: pg.as_ref().map(|p| p.server_version.clone()),
        read_from: cfg.read_from.name(),
        apply_delay_ms: cfg.apply_delay_ms,
        demands: cfg.demands,
        reads: n,
        stale: k,
        stale_share: if n == 0 {
            0.0
        } else {
            round6(k as f64 / n as f64)
        },
        stale_share_ci: ci,
        lag_ms: QuantilesMs::of(&lags),
        window_ms: QuantilesMs::of(&windows),
        s3_prediction: prediction,
        s3_within_ci: ci[0] - 1e-9 <= prediction && prediction <= ci[1] + 1e-9,
        p12: if p12.holds { "holds" } else { "violated" },
        p12_reached: p12.reached,
        wall_s: round3(t0.elapsed().as_secs_f64()),
    };
    Ok((out, history))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_is_the_known_interval() {
        // 10 of 100: [0.0552, 0.1744] (Wilson 1927; as in the report's statistics).
        let [lo, hi] = wilson(10, 100);
        assert!((lo - 0.0552).abs() < 1e-3 && (hi - 0.1744).abs() < 1e-3);
        assert_eq!(wilson(0, 0), [0.0, 1.0]);
        assert_eq!(wilson(0, 50)[0], 0.0);
    }

    #[test]
    fn s3_counts_lags_strictly_above_each_window() {
        let lags = [10_000, 20_000, 30_000, 40_000];
        assert_eq!(s3_prediction(&lags, &[25_000]), 0.5);
        assert_eq!(s3_prediction(&lags, &[40_000]), 0.0);
        assert_eq!(s3_prediction(&lags, &[0, 40_000]), 0.5);
        assert_eq!(s3_prediction(&[], &[1]), 0.0);
    }

    #[test]
    fn quantiles_in_ms() {
        let q = QuantilesMs::of(&[1000, 2000, 3000]);
        assert_eq!((q.n, q.min, q.p50, q.max), (3, 1.0, 2.0, 3.0));
    }
}

/// A PostgreSQL duration as `SHOW` prints it (`0`, `80ms`, `2s`, `1min`), in ms.
pub fn parse_pg_duration_ms(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().ok()?;
    let factor = match unit.trim() {
        "" | "ms" => 1,
        "s" => 1000,
        "min" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    Some(n * factor)
}

/// Why a PostgreSQL run could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Cluster(#[from] super::ClusterError),
    #[error(transparent)]
    Store(#[from] super::PgStoreError),
    #[error(transparent)]
    Run(#[from] StaleReadsError),
    #[error("the standby did not take recovery_min_apply_delay = {0} ms (it shows '{1}')")]
    Delay(u64, String),
    #[error("starting PostgreSQL: {0}")]
    Join(String),
}

/// Starts a cluster of our own (off the async threads) and opens the token store on it.
pub async fn start_own(
    opts: super::ClusterOptions,
) -> Result<(super::Cluster, Arc<PgStore>), SessionError> {
    let cluster = tokio::task::spawn_blocking(move || super::Cluster::start(&opts))
        .await
        .map_err(|e| SessionError::Join(e.to_string()))??;
    let store = PgStore::open(&cluster.primary_conninfo(), &cluster.standby_conninfo()).await?;
    Ok((cluster, Arc::new(store)))
}

/// Sets our standby's apply delay, waits until the standby reports it, then until it has
/// replayed everything written so far.
pub async fn set_delay(
    cluster: &super::Cluster,
    store: &PgStore,
    ms: u64,
) -> Result<(), SessionError> {
    cluster.set_apply_delay_ms(ms)?;
    store.set_expected_lag_ms(ms);
    let deadline = super::monotonic_now() + Duration::from_secs(10);
    loop {
        let shown = store.standby_apply_delay().await?;
        if parse_pg_duration_ms(&shown) == Some(ms) {
            break;
        }
        if super::monotonic_now() > deadline {
            return Err(SessionError::Delay(ms, shown));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    store
        .catch_up(Duration::from_millis(3 * ms + 30_000))
        .await?;
    Ok(())
}

/// The report's experiment: at each apply delay, `read_from=replica` then `primary`, on a
/// cluster of our own.
#[derive(Clone, Debug, Serialize)]
pub struct Sweep {
    pub server_version: String,
    pub cluster_startup_s: f64,
    pub one_way_ms: f64,
    pub demands: u32,
    pub points: Vec<StaleReads>,
}

/// Runs [`Sweep`] (blocking: its own runtime, cluster started and removed inside).
pub fn sweep_blocking(delays_ms: &[u64], demands: u32) -> Result<Sweep, SessionError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| SessionError::Join(e.to_string()))?;
    rt.block_on(async {
        let (cluster, store) = start_own(super::ClusterOptions::default()).await?;
        let mut points = Vec::new();
        let base = StaleReadsConfig {
            demands,
            ..StaleReadsConfig::default()
        };
        for &d in delays_ms {
            set_delay(&cluster, &store, d).await?;
            for read_from in [ReadFrom::Replica, ReadFrom::Primary] {
                let cfg = StaleReadsConfig {
                    read_from,
                    apply_delay_ms: d,
                    ..base.clone()
                };
                points.push(run(&StoreTarget::Postgres(store.clone()), &cfg).await?.0);
                store
                    .catch_up(Duration::from_millis(3 * d + 30_000))
                    .await?;
            }
        }
        Ok(Sweep {
            server_version: store.server_version.clone(),
            cluster_startup_s: round3(cluster.startup.as_secs_f64()),
            one_way_ms: base.one_way_ms,
            demands,
            points,
        })
    })
}
