//! Calibration: the same scenario in the simulator and on loopback, at an injected one-way
//! delay of 0 and 5 ms on every inter-party link, no loss. Per mechanism: the median token
//! latency of a cold miss on both sides, the slope (latency per ms of injected delay) and the
//! intercept (at 0 ms).
//!
//! The modelled local costs (mint, store read and write) are set to 0 on both sides, so the
//! simulator's intercept is 0 by construction and the loopback intercept is the protocol's
//! real overhead: HTTP, JWT signing and verification, the store code. No sleep stands in for
//! any of them. Push (no on-demand path) runs with a 2 s interval and is measured on the
//! demands after its first delivery; Connect (no token to fetch) on every demand.
//!
//! Agreement: the medians at 5 ms within max(15%, 0.5 ms); the same ordering of mechanisms
//! wherever the simulator separates them by more than that tolerance; each slope equal to
//! the mechanism's hop count within the tolerance divided by the 5 ms delay.

use super::world::{LoopbackWorld, NetConfig, StartError};
use serde::Serialize;
use std::time::Duration;
use tokenlab_models::faults::{LinkProfile, NetworkProfile};
use tokenlab_models::history::{Event, History};
use tokenlab_models::ids::TenantId;
use tokenlab_models::mechanisms::{Acquisition, Mechanism, registry};
use tokenlab_models::sim::{Scenario, run};
use tokenlab_models::{MS, Micros};

/// The two injected one-way delays, in ms.
pub const DELAYS_MS: [f64; 2] = [0.0, 5.0];
/// Relative tolerance of agreement.
pub const TOLERANCE_REL: f64 = 0.15;
/// Absolute floor of the tolerance, in ms.
pub const TOLERANCE_ABS_MS: f64 = 0.5;
/// Overrides applied on both sides.
pub const CALIBRATION_SETS: [&str; 3] = ["mint_time=0ms", "db_read=0ms", "db_write=0ms"];
const PUSH_INTERVAL: &str = "interval=2s";

/// The tolerance at a reference value, in ms.
pub fn tolerance_ms(reference_ms: f64) -> f64 {
    (TOLERANCE_REL * reference_ms.abs()).max(TOLERANCE_ABS_MS)
}

#[derive(Clone, Debug, Serialize)]
pub struct CalibrationRow {
    pub mechanism: &'static str,
    /// Inter-party one-way messages on a miss's critical path (`mechanisms.md`).
    pub hops: u32,
    /// Which demands were measured.
    pub measured: &'static str,
    /// Medians at 0 and 5 ms, in ms.
    pub sim_median_ms: [f64; 2],
    pub loopback_median_ms: [f64; 2],
    /// Samples behind each median.
    pub sim_samples: [usize; 2],
    pub loopback_samples: [usize; 2],
    /// ms of latency per ms of injected one-way delay.
    pub sim_slope: f64,
    pub loopback_slope: f64,
    /// Latency at 0 ms injected delay, in ms.
    pub sim_intercept_ms: f64,
    pub loopback_intercept_ms: f64,
    /// |loopback − sim| at 5 ms within max(15%, 0.5 ms) of the simulator's median.
    pub agree_at_5ms: bool,
    /// Both slopes equal the hop count within the tolerance / 5 ms.
    pub slopes_match_hops: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct Calibration {
    pub delays_ms: [f64; 2],
    pub loopback_samples_per_point: u32,
    pub sets: Vec<String>,
    pub tolerance: String,
    pub rows: Vec<CalibrationRow>,
    /// Pairs the simulator separates by more than the tolerance keep their order on loopback.
    pub same_ordering: bool,
    pub all_agree: bool,
    /// What the loopback side is, for the report's labelled section.
    pub note: &'static str,
}

const NOTE: &str = "loopback: the roles of the simulator as axum services on 127.0.0.1, hyper-util client, real EdDSA FITs and HS256 tokens, injected delay as a timer sleep per message finished by an OS sleep (its overshoot, a few tenths of a ms per hop on a loaded machine, shows in the loopback slope); modelled mint and store costs set to 0 on both sides, so the loopback intercept is the real overhead";

fn sets_for(m: &dyn Mechanism) -> Vec<String> {
    let mut s: Vec<String> = CALIBRATION_SETS.iter().map(|x| x.to_string()).collect();
    if m.acquisition() == Acquisition::PushedOnly {
        s.push(PUSH_INTERVAL.into());
    }
    s
}

fn median_ms(mut v: Vec<Micros>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_unstable();
    let n = v.len();
    let m = if n % 2 == 1 {
        v[n / 2] as f64
    } else {
        (v[n / 2 - 1] + v[n / 2]) as f64 / 2.0
    };
    m / MS as f64
}

/// Token latencies of the measured demands: cold misses, or every successful demand of a
/// mechanism that never misses cold (push after a delivery, Connect).
fn latencies(h: &History) -> (Vec<Micros>, bool) {
    let mut cold = Vec::new();
    let mut all = Vec::new();
    for r in &h.records {
        if let Event::Complete {
            cold: c,
            token_latency: Some(l),
            ..
        } = &r.event
        {
            all.push(*l);
            if *c {
                cold.push(*l);
            }
        }
    }
    if cold.is_empty() {
        (all, false)
    } else {
        (cold, true)
    }
}

fn network(one_way_ms: f64) -> NetworkProfile {
    NetworkProfile::uniform(LinkProfile::fixed_rtt_ms(2.0 * one_way_ms))
}

fn simulate(m: &dyn Mechanism, one_way_ms: f64) -> Result<(Vec<Micros>, bool), StartError> {
    let mut s = Scenario::new(m.id(), "lan").expect("the lan preset exists");
    s.sets = sets_for(m);
    s.network = network(one_way_ms);
    s.tenants = 40;
    s.duration_s = 30.0;
    s.demands_per_tenant_hour = 360.0;
    Ok(latencies(&run(&s)?.history))
}

async fn loopback(
    m: &dyn Mechanism,
    one_way_ms: f64,
    samples: u32,
) -> Result<(Vec<Micros>, bool), StartError> {
    let tenants = samples.clamp(1, 8);
    let mut cfg = NetConfig::new(m.id(), tenants, one_way_ms);
    cfg.sets = sets_for(m);
    let world = LoopbackWorld::start(&cfg).await?;
    let on_demand = m.hops_on_miss() > 0;
    if m.acquisition() == Acquisition::PushedOnly {
        // The first delivery lands within one interval of t=0.
        tokio::time::sleep(Duration::from_millis(2_100)).await;
    }
    for i in 0..samples {
        if on_demand {
            world.clear_token_cache();
        }
        world.demand(TenantId(i % tenants)).await;
    }
    Ok(latencies(&world.finish()))
}

/// Runs the calibration (async: inside a multi-threaded tokio runtime). `samples` cold
/// acquisitions per mechanism and delay on loopback.
pub async fn calibrate(samples: u32) -> Result<Calibration, StartError> {
    let mut rows = Vec::new();
    for m in registry() {
        let mut sim = [(Vec::new(), false), (Vec::new(), false)];
        let mut lb = [(Vec::new(), false), (Vec::new(), false)];
        for (i, d) in DELAYS_MS.iter().enumerate() {
            sim[i] = simulate(m, *d)?;
            lb[i] = loopback(m, *d, samples).await?;
        }
        let sim_median_ms = [median_ms(sim[0].0.clone()), median_ms(sim[1].0.clone())];
        let loopback_median_ms = [median_ms(lb[0].0.clone()), median_ms(lb[1].0.clone())];
        let span = DELAYS_MS[1] - DELAYS_MS[0];
        let sim_slope = (sim_median_ms[1] - sim_median_ms[0]) / span;
        let loopback_slope = (loopback_median_ms[1] - loopback_median_ms[0]) / span;
        let hops = m.hops_on_miss();
        let tol = tolerance_ms(sim_median_ms[1]);
        let slope_tol = tol / span;
        rows.push(CalibrationRow {
            mechanism: m.id(),
            hops,
            measured: if sim[1].1 && lb[1].1 {
                "cold misses"
            } else {
                "every demand that got a token (the mechanism has no cold miss to measure)"
            },
            sim_samples: [sim[0].0.len(), sim[1].0.len()],
            loopback_samples: [lb[0].0.len(), lb[1].0.len()],
            agree_at_5ms: (loopback_median_ms[1] - sim_median_ms[1]).abs() <= tol,
            slopes_match_hops: (sim_slope - f64::from(hops)).abs() <= slope_tol
                && (loopback_slope - f64::from(hops)).abs() <= slope_tol,
            sim_intercept_ms: sim_median_ms[0],
            loopback_intercept_ms: loopback_median_ms[0],
            sim_median_ms,
            loopback_median_ms,
            sim_slope,
            loopback_slope,
        });
    }
    let mut same_ordering = true;
    for a in &rows {
        for b in &rows {
            let (sa, sb) = (a.sim_median_ms[1], b.sim_median_ms[1]);
            if sa - sb > tolerance_ms(sa.max(sb))
                && a.loopback_median_ms[1] <= b.loopback_median_ms[1]
            {
                same_ordering = false;
            }
        }
    }
    let all_agree = same_ordering && rows.iter().all(|r| r.agree_at_5ms && r.slopes_match_hops);
    Ok(Calibration {
        delays_ms: DELAYS_MS,
        loopback_samples_per_point: samples,
        // Every override used: the push interval applies to pushed-only mechanisms alone.
        sets: CALIBRATION_SETS
            .iter()
            .map(|x| x.to_string())
            .chain([PUSH_INTERVAL.to_string()])
            .collect(),
        tolerance: format!("max({:.0}%, {TOLERANCE_ABS_MS} ms)", TOLERANCE_REL * 100.0),
        rows,
        same_ordering,
        all_agree,
        note: NOTE,
    })
}

/// [`calibrate`] on its own runtime, for callers outside one (the report). Takes ~10 s.
pub fn calibration(samples: u32) -> Result<Calibration, StartError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(StartError::Bind)?
        .block_on(calibrate(samples))
}

/// The calibration as a text table.
pub fn table(c: &Calibration) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "{:<14} {:>4} {:>9} {:>9} {:>9} {:>9} {:>7} {:>7} {:>9} {:>9} {:>6} {:>6}\n",
        "mechanism",
        "hops",
        "sim@0ms",
        "loop@0ms",
        "sim@5ms",
        "loop@5ms",
        "sim/ms",
        "loop/ms",
        "sim_icpt",
        "loop_icpt",
        "agree",
        "slope"
    ));
    for r in &c.rows {
        s.push_str(&format!(
            "{:<14} {:>4} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>7.3} {:>7.3} {:>9.3} {:>9.3} {:>6} {:>6}\n",
            r.mechanism,
            r.hops,
            r.sim_median_ms[0],
            r.loopback_median_ms[0],
            r.sim_median_ms[1],
            r.loopback_median_ms[1],
            r.sim_slope,
            r.loopback_slope,
            r.sim_intercept_ms,
            r.loopback_intercept_ms,
            if r.agree_at_5ms { "yes" } else { "NO" },
            if r.slopes_match_hops { "=hops" } else { "NO" },
        ));
    }
    s.push_str(&format!(
        "median token latency in ms (cold misses; push after its first delivery, connect-jwt every demand); tolerance {}; same ordering: {}; all agree: {}\n{} loopback samples per point; overrides on both sides: {}\n{}\n",
        c.tolerance,
        c.same_ordering,
        c.all_agree,
        c.loopback_samples_per_point,
        c.sets.join(" "),
        c.note
    ));
    s
}
