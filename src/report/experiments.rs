//! The experiments of the evidence report as a flat, deterministic list of sweep points. Each
//! point is one seeded simulator run; its metrics are computed from the run's history alone.
//! The list depends only on the configuration (seed, quick), so `--shard I/N` can run a slice
//! of it anywhere and `--merge` can put the slices back together by index.

use super::stats::{Interval, mean_ci, quantile_ci};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tokenlab_models::faults::{LatencyDist, Nemesis, preset, secs};
use tokenlab_models::history::{Event, ItemKind, Outcome};
use tokenlab_models::ids::{Group, PartnerEndpoint, Party, TenantId};
use tokenlab_models::mechanisms::{Acquisition, registry, resolve};
use tokenlab_models::sim::{RunResult, Scenario, run_resolved};
use tokenlab_models::{Micros, SEC};

/// What the whole sweep depends on.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Config {
    pub seed: u64,
    pub quick: bool,
    /// A miniature sweep for the pipeline's own tests: same points, a handful of tenants.
    #[serde(default)]
    pub tiny: bool,
}

impl Config {
    /// The flag that reproduces this sample size.
    pub fn scale_flag(&self) -> &'static str {
        if self.tiny {
            " --tiny"
        } else if self.quick {
            " --quick"
        } else {
            ""
        }
    }
    /// Tenants for the rate experiments: each contributes one cold demand.
    fn cold_tenants(&self) -> u32 {
        self.small(4000, 400)
    }
    fn small(&self, full: u32, quick: u32) -> u32 {
        if self.tiny {
            quick.min(20)
        } else if self.quick {
            quick
        } else {
            full
        }
    }
}

/// A network change applied on top of the preset.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum NetMod {
    /// Independent loss of every inter-party request and response.
    Loss(f64),
    /// HTTP 5xx at the receiver's edge on every inter-party request.
    Errors(f64),
    /// Fixed one-way delay on every inter-party link.
    DelayMs(f64),
    /// Loss of responses travelling on one directed link.
    ResponseLoss { from: Group, to: Group, p: f64 },
    /// 5xx on the requests of one directed link.
    LinkErrors { from: Group, to: Group, p: f64 },
}

/// One run of the sweep.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PointSpec {
    pub experiment: String,
    /// Unique within the sweep; names every value that differs from the experiment's base.
    pub key: String,
    pub mechanism: String,
    pub sets: Vec<String>,
    pub preset: String,
    pub tenants: u32,
    pub duration_s: f64,
    pub demands_per_tenant_hour: f64,
    pub net: Vec<NetMod>,
    pub nemesis: Vec<Nemesis>,
    /// Keep every cold latency (for CDFs).
    pub keep_cold_latencies: bool,
    /// Start of the window for the token-gap metric (seconds).
    pub gap_from_s: Option<f64>,
    /// Install the tenants during the run, under its faults (seconds).
    #[serde(default)]
    pub provision_at_s: Option<f64>,
    /// Where the steady state starts (seconds): demands invoked from here on are the steady
    /// state, those before it the cold start at t = 0 (`workload.md` §9).
    #[serde(default)]
    pub steady_from_s: Option<f64>,
}

impl PointSpec {
    fn new(experiment: &str, key: String, mechanism: &str, tenants: u32) -> PointSpec {
        PointSpec {
            experiment: experiment.into(),
            key,
            mechanism: mechanism.into(),
            sets: Vec::new(),
            preset: "same-region".into(),
            tenants,
            duration_s: 60.0,
            demands_per_tenant_hour: 600.0,
            net: Vec::new(),
            nemesis: Vec::new(),
            keep_cold_latencies: false,
            gap_from_s: None,
            provision_at_s: None,
            steady_from_s: None,
        }
    }

    /// The `tokenlab simulate` command that reproduces this point (where flags can express it).
    pub fn reproduce(&self, seed: u64) -> String {
        let mut c = format!(
            "cargo run --release -- simulate --mechanism {} --preset {} --tenants {} --duration-s {} --demands-per-tenant-hour {} --seed {seed}",
            self.mechanism,
            self.preset,
            self.tenants,
            self.duration_s,
            self.demands_per_tenant_hour
        );
        for s in &self.sets {
            c.push_str(&format!(" --set {s}"));
        }
        for n in &self.net {
            match n {
                NetMod::Loss(p) => c.push_str(&format!(" --loss {p}")),
                NetMod::Errors(p) => c.push_str(&format!(" --error-rate {p}")),
                NetMod::DelayMs(d) => c.push_str(&format!(" --latency-ms {d}")),
                _ => {
                    return format!(
                        "cargo run --release -- report --only {} (link-level faults have no simulate flag)",
                        self.experiment
                    );
                }
            }
        }
        if !self.nemesis.is_empty() || self.provision_at_s.is_some() {
            return format!(
                "cargo run --release -- report --only {} (nemesis schedules and in-run installs have no simulate flag)",
                self.experiment
            );
        }
        c
    }

    pub fn scenario(&self, seed: u64) -> Result<Scenario, String> {
        let p = preset(&self.preset).ok_or_else(|| format!("unknown preset {}", self.preset))?;
        let mut network = p.network;
        for m in &self.net {
            match *m {
                NetMod::Loss(p) => network.map_all(|l| {
                    l.loss_request = p;
                    l.loss_response = p;
                }),
                NetMod::Errors(p) => network.map_all(|l| l.http_5xx = p),
                NetMod::DelayMs(ms) => network.map_all(|l| l.latency = LatencyDist::Fixed { ms }),
                NetMod::ResponseLoss { from, to, p } => {
                    let mut l = *network.link(from, to);
                    l.loss_response = p;
                    network.links.insert((from, to), l);
                }
                NetMod::LinkErrors { from, to, p } => {
                    let mut l = *network.link(from, to);
                    l.http_5xx = p;
                    network.links.insert((from, to), l);
                }
            }
        }
        let mut nemesis = p.nemesis;
        nemesis.extend(self.nemesis.iter().cloned());
        Ok(Scenario {
            mechanism: self.mechanism.clone(),
            sets: self.sets.clone(),
            preset: self.preset.clone(),
            tenants: self.tenants,
            duration_s: self.duration_s,
            demands_per_tenant_hour: self.demands_per_tenant_hour,
            seed,
            network,
            nemesis,
            admin: Vec::new(),
            provision_at_s: self.provision_at_s,
            demands: Vec::new(),
        })
    }
}

/// Every mechanism reference: the default profiles, then the "as published" ones.
pub fn all_refs() -> Vec<String> {
    let mut v: Vec<String> = registry().iter().map(|m| m.id().to_string()).collect();
    for m in registry() {
        for p in m.profiles() {
            v.push(format!("{}:{}", m.id(), p.name));
        }
    }
    v
}

/// Mechanisms a demand can be served by without waiting for the platform's schedule (all but
/// the pushed-only ones, whose miss fails fast), in registry order.
pub fn on_demand() -> Vec<&'static str> {
    registry()
        .iter()
        .filter(|m| m.acquisition() != Acquisition::PushedOnly)
        .map(|m| m.id())
        .collect()
}

/// Mechanisms whose tokens only arrive on the platform's schedule, in registry order.
pub fn pushed_only() -> Vec<&'static str> {
    registry()
        .iter()
        .filter(|m| m.acquisition() == Acquisition::PushedOnly)
        .map(|m| m.id())
        .collect()
}

/// Presets of E-lat: the two RTTs of H1/H17, then the heavy-tailed ones for p99 (H2).
pub const LATENCY_PRESETS: [&str; 5] = [
    "same-region",
    "cross-region",
    "flaky-partner",
    "lossy",
    "platform-brownout",
];
/// H2's heavy-tailed presets: the partner's endpoints (only trigger crosses them), every link
/// alike, and the platform's endpoints (the partner's calls to F and to the AS).
pub const TAIL_PRESETS: [&str; 3] = ["flaky-partner", "lossy", "platform-brownout"];
pub const LOSS_GRID: [f64; 6] = [0.0, 0.01, 0.02, 0.05, 0.1, 0.2];
pub const LAG_GRID_MS: [f64; 10] = [
    0.0, 50.0, 100.0, 150.0, 200.0, 300.0, 400.0, 500.0, 750.0, 1000.0,
];
pub const FIXED_LAG_MS: [f64; 4] = [40.0, 79.0, 81.0, 120.0];
pub const RESPONSE_LOSS_GRID: [f64; 5] = [0.01, 0.02, 0.05, 0.1, 0.2];
/// Push grid: (interval, ttl) and partner outage lengths (hours).
pub const PUSH_GRID: [(&str, &str); 4] = [("15m", "1h"), ("15m", "4h"), ("1h", "1h"), ("1h", "4h")];
pub const OUTAGE_H: [f64; 4] = [0.0, 2.0, 3.5, 5.0];
/// When the push outage starts (hours): long after every tenant's first delivery.
pub const OUTAGE_AT_H: f64 = 3.0;
pub const LOAD_RATES: [f64; 3] = [0.0, 1.0, 60.0];
pub const HERD_RATE: f64 = 36_000.0;
pub const PROVISION_LOSS: [f64; 3] = [0.0, 0.05, 0.2];

/// H6's partner mistakes (`hypotheses.md` H6): (mistake, the switch that makes it).
pub const PARTNER_MISTAKES: [(&str, &str); 6] = [
    ("wrong tenant key", "store_key=body"),
    ("no FIT check", "fit_check=off"),
    ("no exp check", "check_exp=off"),
    ("no lock", "single_flight=off"),
    ("keep the last write", "keep=last_write"),
    ("no state", "state=off"),
];

/// The mistakes a mechanism's partner can make: its own switches, and the shared ones that
/// touch what it holds (a partner that signs its own requests caches no token, so it has no
/// expiry check to get wrong; one that only receives pushes has no acquisition to lock).
pub fn partner_mistakes(mechanism: &str) -> Vec<(&'static str, &'static str)> {
    let Some(m) = registry().into_iter().find(|m| m.id() == mechanism) else {
        return Vec::new();
    };
    let own: Vec<&str> = m.switches().iter().map(|s| s.key).collect();
    PARTNER_MISTAKES
        .into_iter()
        .filter(|(_, switch)| {
            let key = switch.split('=').next().unwrap_or_default();
            match key {
                "fit_check" => true,
                "check_exp" => m.acquisition() != Acquisition::SelfSigned,
                // A lock serialises the partner's own acquisitions; push makes none.
                "single_flight" => m.acquisition() == Acquisition::OnDemand,
                _ => own.contains(&key),
            }
        })
        .collect()
}

/// The mistakes' workload: past one TTL (so tokens expire and are renewed), with 1% loss so
/// retries run. Concurrent misses (what a lock is for) are the herd experiment's (H18).
pub const MISTAKE_RATE: f64 = 120.0;
pub const MISTAKE_HOURS: f64 = 5.0;
pub const MISTAKE_LOSS: f64 = 0.01;
/// Loss rates of the steady-state runs (every mechanism).
pub const STEADY_LOSS: [f64; 3] = [0.0, 0.01, 0.05];
/// Push intervals run in steady state against their mints (the spec's 5m and 1h, and 15m).
pub const STEADY_PUSH_INTERVALS: [&str; 3] = ["5m", "15m", "1h"];
/// Demands per tenant-hour in the steady-state runs (the default workload).
pub const STEADY_RATE: f64 = 60.0;
/// Hours of steady state after the warm-up (`workload.md` §9: at least 2).
pub const STEADY_HOURS: f64 = 2.0;

/// The warm-up of `workload.md` §9: max(interval, TTL) + the expiry margin, in seconds
/// (`interval_s` is 0 for a mechanism without a push schedule).
pub fn warm_up_s(interval_s: f64) -> f64 {
    let ttl = super::analytic::ttl_s();
    interval_s.max(ttl) + super::analytic::expiry_margin_s()
}

/// The whole sweep, in a fixed order.
pub fn points(cfg: &Config) -> Vec<PointSpec> {
    let mut v = Vec::new();
    let n = cfg.cold_tenants();
    // E-lat: every reference on both presets, cold latencies kept for the CDF; and the
    // heavy-tailed presets for the tail (H2's "timeouts").
    for preset in LATENCY_PRESETS {
        for r in all_refs() {
            let mut p =
                PointSpec::new("latency", format!("{r}@{preset}"), &r, cfg.small(2000, 200));
            p.preset = preset.into();
            p.keep_cold_latencies = true;
            v.push(p);
        }
    }
    // E-rel: loss and 5xx sweeps, without and with the partner's retries.
    for kind in ["loss", "5xx"] {
        for m in on_demand() {
            for retries in [Some(0u32), None] {
                for p in LOSS_GRID {
                    let rk = retries.map_or("default".to_string(), |r| r.to_string());
                    let mut s = PointSpec::new(kind, format!("{m}/p={p}/retries={rk}"), m, n);
                    if let Some(r) = retries {
                        s.sets.push(format!("retries={r}"));
                    }
                    s.net.push(if kind == "loss" {
                        NetMod::Loss(p)
                    } else {
                        NetMod::Errors(p)
                    });
                    v.push(s);
                }
            }
        }
    }
    // Read-after-write: trigger reading a lagging replica, no retries.
    for l in LAG_GRID_MS {
        let mut s = PointSpec::new("lag", format!("uniform({l}ms)"), "trigger", n);
        s.sets = vec![
            "read_from=replica".into(),
            "retries=0".into(),
            format!("replica_lag=uniform({l}ms)"),
        ];
        v.push(s);
    }
    for l in FIXED_LAG_MS {
        let mut s = PointSpec::new("lag", format!("fixed({l}ms)"), "trigger", n);
        s.sets = vec![
            "read_from=replica".into(),
            "retries=0".into(),
            format!("replica_lag=fixed({l}ms)"),
        ];
        v.push(s);
    }
    for (name, extra) in [
        ("primary", "read_from=primary"),
        ("in_band", "token_return=in_band"),
        ("queued", "write_path=queued"),
        ("replica+retries", "retries=2"),
    ] {
        let mut s = PointSpec::new("lag", format!("variant:{name}"), "trigger", n);
        s.sets = vec![
            "read_from=replica".into(),
            "retries=0".into(),
            "replica_lag=uniform(500ms)".into(),
            extra.into(),
        ];
        if name == "primary" || name == "queued" {
            s.sets[0] = "read_from=primary".into();
        }
        v.push(s);
    }
    // Push grid: interval × TTL × partner outage (the platform cannot reach P.recv).
    let push_cases: Vec<(String, Vec<String>)> = PUSH_GRID
        .iter()
        .map(|(i, l)| {
            (
                format!("push interval={i} ttl={l}"),
                vec![format!("interval={i}"), format!("ttl={l}")],
            )
        })
        .chain(std::iter::once(("push:shipped".to_string(), Vec::new())))
        .collect();
    for (label, sets) in &push_cases {
        for d in OUTAGE_H {
            let mech = if label == "push:shipped" {
                "push:shipped"
            } else {
                "push"
            };
            let mut s = PointSpec::new(
                "push",
                format!("{label}/outage={d}h"),
                mech,
                cfg.small(400, 100),
            );
            s.sets = sets.clone();
            s.demands_per_tenant_hour = 6.0;
            s.duration_s = (OUTAGE_AT_H + d + 6.0) * 3600.0;
            s.gap_from_s = Some(OUTAGE_AT_H * 3600.0);
            if d > 0.0 {
                s.nemesis.push(Nemesis::Partition {
                    a: Group::Forge,
                    b: Group::Partner,
                    from_s: OUTAGE_AT_H * 3600.0,
                    until_s: (OUTAGE_AT_H + d) * 3600.0,
                });
            }
            v.push(s);
        }
    }
    // The same issuance outage for every mechanism: P cannot reach F or the AS (nor they P)
    // for D hours from OUTAGE_AT_H; the product API stays up. Steady metrics count from the
    // outage's start to 2 h after its end.
    for m in registry() {
        for d in OUTAGE_H {
            let mut s = PointSpec::new(
                "outage",
                format!("{}/outage={d}h", m.id()),
                m.id(),
                cfg.small(200, 50),
            );
            s.demands_per_tenant_hour = 6.0;
            s.duration_s = (OUTAGE_AT_H + d + 2.0) * 3600.0;
            s.steady_from_s = Some(OUTAGE_AT_H * 3600.0);
            s.gap_from_s = Some(OUTAGE_AT_H * 3600.0);
            if d > 0.0 {
                for platform in [Group::Forge, Group::AuthServer] {
                    s.nemesis.push(Nemesis::Partition {
                        a: platform,
                        b: Group::Partner,
                        from_s: OUTAGE_AT_H * 3600.0,
                        until_s: (OUTAGE_AT_H + d) * 3600.0,
                    });
                }
            }
            v.push(s);
        }
    }
    // Refresh-token rotation under response loss, with and without a grace window.
    for grace in ["0", "30s"] {
        for p in RESPONSE_LOSS_GRID {
            let mut s = PointSpec::new(
                "lockout",
                format!("grace={grace}/p={p}"),
                "refresh",
                cfg.small(500, 100),
            );
            s.sets = vec![format!("grace_window={grace}"), "ttl=10m".into()];
            s.duration_s = 4.0 * 3600.0;
            s.demands_per_tenant_hour = 60.0;
            s.net.push(NetMod::ResponseLoss {
                from: Group::AuthServer,
                to: Group::Partner,
                p,
            });
            v.push(s);
        }
    }
    // Platform load: requests and mints per tenant-hour, idle tenants included.
    for m in registry() {
        for rate in LOAD_RATES {
            let mut s = PointSpec::new(
                "load",
                format!("{}/rate={rate}", m.id()),
                m.id(),
                cfg.small(200, 50),
            );
            s.duration_s = 7200.0;
            s.demands_per_tenant_hour = rate;
            v.push(s);
        }
    }
    // The cache-miss herd at 10 demands/s per tenant, with and without single-flight.
    for (label, mech, sets) in [
        ("trigger:sample", "trigger:sample", vec![]),
        ("trigger", "trigger", vec![]),
        ("refresh", "refresh", vec![]),
        (
            "refresh:3lo single_flight=off",
            "refresh:3lo",
            vec!["single_flight=off".to_string()],
        ),
    ] {
        let mut s = PointSpec::new("herd", label.into(), mech, cfg.small(500, 100));
        s.sets = sets;
        s.duration_s = 5.0;
        s.demands_per_tenant_hour = HERD_RATE;
        v.push(s);
    }
    // Nested retries: the partner's auth endpoint answers 5xx to the platform's call.
    for rp in [0u32, 2] {
        for rf in [0u32, 4] {
            let mut s = PointSpec::new(
                "nested",
                format!("retries={rp}/platform_retries={rf}"),
                "trigger",
                cfg.small(2000, 300),
            );
            s.sets = vec![format!("retries={rp}"), format!("platform_retries={rf}")];
            s.net.push(NetMod::LinkErrors {
                from: Group::Forge,
                to: Group::Partner,
                p: 0.5,
            });
            v.push(s);
        }
    }
    // Duplicated push deliveries under a heavy-tailed partner link, keep-newest vs last write.
    for keep in ["max_exp", "last_write"] {
        let mut s = PointSpec::new("dup", format!("keep={keep}"), "push", cfg.small(200, 50));
        s.sets = vec![
            format!("keep={keep}"),
            "dup_prob=0.2".into(),
            "interval=15m".into(),
        ];
        s.preset = "flaky-partner".into();
        s.duration_s = 6.0 * 3600.0;
        s.demands_per_tenant_hour = 6.0;
        v.push(s);
    }
    // Steady state apart from the cold start at t = 0 (`workload.md` §9): every mechanism at
    // the default workload, long enough to leave STEADY_HOURS after the warm-up; push also at
    // other intervals (its interval against its mints and its cold-start cost).
    let steady_cases: Vec<(String, String, Vec<String>, f64)> = registry()
        .iter()
        .flat_map(|m| {
            STEADY_LOSS.iter().map(move |p| {
                (
                    format!("{}/p={p}", m.id()),
                    m.id().to_string(),
                    Vec::new(),
                    *p,
                )
            })
        })
        .chain(
            pushed_only()
                .into_iter()
                .flat_map(|m| {
                    STEADY_PUSH_INTERVALS
                        .iter()
                        .map(move |i| (format!("{m} interval={i}/p=0"), m, *i))
                })
                .map(|(k, m, i)| (k, m.to_string(), vec![format!("interval={i}")], 0.0)),
        )
        .collect();
    for (key, mech, sets, p) in steady_cases {
        let interval = sets
            .iter()
            .find_map(|s| s.strip_prefix("interval="))
            .map(super::analytic::seconds)
            .unwrap_or_else(|| {
                let t = super::analytic::switch_default_s(&mech, "interval");
                if t.is_nan() { 0.0 } else { t }
            });
        let warm = warm_up_s(interval);
        let mut s = PointSpec::new("steady", key, &mech, cfg.small(400, 100));
        s.sets = sets;
        s.duration_s = warm + STEADY_HOURS * 3600.0;
        s.demands_per_tenant_hour = STEADY_RATE;
        s.steady_from_s = Some(warm);
        if p > 0.0 {
            s.net.push(NetMod::Loss(p));
        }
        v.push(s);
    }
    // H6/H24: each partner mistake on its mechanism (and the mechanism without it), scored by
    // what it costs in availability; its security cost comes from the matrix.
    for m in registry() {
        let mistakes = partner_mistakes(m.id());
        if mistakes.is_empty() {
            continue;
        }
        for (label, sets) in std::iter::once(("none", vec![])).chain(
            mistakes
                .iter()
                .map(|(_, switch)| (*switch, vec![switch.to_string()])),
        ) {
            let key = format!("{}/{label}", m.id());
            let mut s = PointSpec::new("mistakes", key, m.id(), cfg.small(50, 20));
            s.sets = sets;
            s.duration_s = MISTAKE_HOURS * 3600.0;
            s.demands_per_tenant_hour = MISTAKE_RATE;
            s.net.push(NetMod::Loss(MISTAKE_LOSS));
            v.push(s);
        }
        // A lock matters when demands meet a miss together: the herd's workload (H18).
        if mistakes.iter().any(|(_, sw)| *sw == "single_flight=off") {
            for (label, sets) in [
                ("none", vec![]),
                ("single_flight=off", vec!["single_flight=off".to_string()]),
            ] {
                let key = format!("{}/herd/{label}", m.id());
                let mut s = PointSpec::new("mistakes", key, m.id(), cfg.small(200, 50));
                s.sets = sets;
                s.duration_s = 5.0;
                s.demands_per_tenant_hour = HERD_RATE;
                v.push(s);
            }
        }
    }
    // Provisioning under faults: every tenant installed during the run on lossy links.
    for m in on_demand().into_iter().chain(pushed_only()) {
        for p in PROVISION_LOSS {
            let mut s = PointSpec::new("provision", format!("{m}/p={p}"), m, cfg.small(500, 200));
            s.provision_at_s = Some(0.0);
            // One run length for every mechanism: two push intervals, so a pushed-only tenant's
            // first token can arrive (issue 19: push no longer runs longer than the others).
            s.duration_s = 7200.0;
            s.demands_per_tenant_hour = 60.0;
            s.net.push(NetMod::Loss(p));
            v.push(s);
        }
    }
    v
}

/// Percentiles with exact order-statistic intervals.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Quantiles {
    pub n: u64,
    pub p50: Interval,
    pub p99: Interval,
}

fn quantiles(mut v: Vec<f64>) -> Option<Quantiles> {
    v.sort_by(f64::total_cmp);
    Some(Quantiles {
        n: v.len() as u64,
        p50: quantile_ci(&v, 0.5)?,
        p99: quantile_ci(&v, 0.99)?,
    })
}

/// Everything the report reads from one run, computed from its history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub demands: u64,
    pub succeeded: u64,
    pub unknown: u64,
    pub failed: BTreeMap<String, u64>,
    /// Each tenant's first demand, and how many of those obtained a token.
    pub cold_n: u64,
    pub cold_ok: u64,
    pub cold_latency_ms: Option<Quantiles>,
    /// Present only where the experiment keeps them (CDFs), sorted.
    pub cold_latencies_ms: Vec<f64>,
    /// Demands that found a valid token (latency of a hit).
    pub warm_latency_ms: Option<Quantiles>,
    pub stale_reads: u64,
    /// Cold demands on which a stale read happened.
    pub cold_stale: u64,
    pub orphan_mints: u64,
    pub messages_per_demand: f64,
    pub platform_requests_per_tenant_hour: f64,
    pub platform_mints_per_tenant_hour: f64,
    /// Acquisitions started before the tenant's first successful demand, per tenant (mean).
    pub acquisitions_before_first_token: Option<Interval>,
    pub acquisitions: u64,
    /// Platform→P.auth deliveries (requests received at the partner's auth endpoint).
    pub auth_deliveries: u64,
    pub max_auth_deliveries_per_acquisition: u64,
    /// Time to first token per tenant (s), from t = 0.
    pub ttft_s: Option<Interval>,
    pub tenants_without_token: u64,
    /// Per tenant: seconds without a valid token in [gap_from, end].
    pub gap_s: Option<Interval>,
    pub gap_tenants: u64,
    pub gap_window_s: f64,
    /// Tenants that were locked out (a demand failed `locked_out`), and the refresh attempts
    /// made before each tenant's first lockout (the exposure for a per-refresh hazard).
    pub lockout_tenants: u64,
    pub refreshes_before_lockout: u64,
    /// A stored token replaced by one that expires earlier (an older T overwrote a newer one).
    pub regressions: u64,
    /// Demands waiting at P at once: the maximum and the time average over the run.
    pub max_inflight_demands: u64,
    pub mean_inflight_demands: f64,
    pub unverified_parameters: Vec<String>,
    /// The steady state and the cold start before it, where the point asks (`steady_from_s`).
    #[serde(default)]
    pub steady: Option<Steady>,
}

/// Demands after the warm-up, and what the cold start at t = 0 cost before it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Steady {
    pub from_s: f64,
    pub demands: u64,
    pub succeeded: u64,
    pub unknown: u64,
    pub failed: BTreeMap<String, u64>,
    /// Every completed steady demand (failures at their time of failure).
    pub latency_ms: Option<Quantiles>,
    pub platform_requests_per_tenant_hour: f64,
    pub platform_mints_per_tenant_hour: f64,
    /// Per tenant: demands that failed before the tenant's first success (the cold start's
    /// cost per event), mean with its CLT interval.
    pub cold_start_failed_demands: Interval,
    /// Per tenant: seconds from t = 0 to the first stored token (mean; None: no token held).
    pub cold_start_ttft_s: Option<Interval>,
}

/// Runs one point and measures it.
pub fn run_point(spec: &PointSpec, seed: u64) -> Result<Metrics, String> {
    let s = spec.scenario(seed)?;
    let (m, profile, params) =
        resolve(&spec.mechanism, &spec.sets).map_err(|e| format!("{}: {e}", spec.key))?;
    let r = run_resolved(&s, m, profile, params);
    Ok(measure(spec, &r))
}

fn measure(spec: &PointSpec, r: &RunResult) -> Metrics {
    let sm = &r.summary;
    let end = secs(spec.duration_s);
    let margin = r.params.dur("expiry_margin").unwrap_or(0);
    let mut invoked: BTreeMap<u64, Micros> = BTreeMap::new();
    let mut first_demand: BTreeMap<TenantId, u64> = BTreeMap::new();
    let mut cold_lat = Vec::new();
    let mut warm_lat = Vec::new();
    let mut first_ok: BTreeMap<TenantId, Micros> = BTreeMap::new();
    let mut acq_starts: Vec<(TenantId, Micros, u64)> = Vec::new();
    let mut acq_seen: BTreeMap<u64, TenantId> = BTreeMap::new();
    let mut exp_of = BTreeMap::new();
    let mut commits: BTreeMap<TenantId, Vec<(Micros, Option<Micros>)>> = BTreeMap::new();
    let mut auth_deliveries = 0u64;
    let mut auth_per_root: BTreeMap<u64, u64> = BTreeMap::new();
    let mut cause_of = BTreeMap::new();
    let mut root_acq = BTreeMap::new();
    let mut stale_tenant_time: Vec<(TenantId, Micros)> = Vec::new();
    let mut locked: BTreeMap<TenantId, Micros> = BTreeMap::new();
    let mut inflight_area: i128 = 0;
    let (mut inflight, mut max_inflight, mut last_t) = (0i64, 0i64, 0 as Micros);
    // (tenant, invoked at, completed at, outcome) of every completed demand.
    let mut done: Vec<(TenantId, Micros, Micros, Outcome)> = Vec::new();
    let steady_from = spec.steady_from_s.map(secs);
    let (mut steady_requests, mut steady_mints) = (0u64, 0u64);
    for rec in &r.history.records {
        if rec.t >= 0 && rec.t <= end {
            inflight_area += i128::from(inflight) * i128::from(rec.t - last_t);
            last_t = rec.t;
        }
        match &rec.event {
            Event::Invoke { demand, tenant } => {
                invoked.insert(demand.0, rec.t);
                first_demand.entry(*tenant).or_insert(demand.0);
                inflight += 1;
                max_inflight = max_inflight.max(inflight);
            }
            Event::Complete {
                demand,
                tenant,
                outcome,
                token_latency,
                cold,
            } => {
                inflight -= 1;
                if let Some(t0) = invoked.get(&demand.0) {
                    done.push((*tenant, *t0, rec.t, *outcome));
                }
                let is_first = first_demand.get(tenant) == Some(&demand.0);
                if is_first && let Some(tl) = token_latency {
                    cold_lat.push(*tl as f64 / 1000.0);
                }
                if *outcome == Outcome::Ok {
                    first_ok.entry(*tenant).or_insert(rec.t);
                    if !cold && let Some(t0) = invoked.get(&demand.0) {
                        warm_lat.push((rec.t - t0) as f64 / 1000.0);
                    }
                }
                if *outcome == Outcome::Fail(tokenlab_models::history::Cause::LockedOut) {
                    locked.entry(*tenant).or_insert(rec.t);
                }
            }
            Event::AttemptStart {
                tenant,
                acquisition,
                request,
                ..
            } => {
                if acq_seen.insert(*acquisition, *tenant).is_none() {
                    acq_starts.push((*tenant, rec.t, *acquisition));
                }
                if let Some(req) = request.get() {
                    root_acq.insert(req, *acquisition);
                }
            }
            Event::Send { env } => {
                if let Some(c) = env.cause {
                    cause_of.insert(env.id, c);
                }
                if steady_from.is_some_and(|f| rec.t >= f && rec.t <= end)
                    && env.is_request()
                    && (is_platform(env.from) || is_platform(env.to))
                {
                    steady_requests += 1;
                }
            }
            Event::Receive { who, env }
                if *who == Party::Partner(PartnerEndpoint::Auth)
                    && env.is_request()
                    && rec.t >= 0 =>
            {
                auth_deliveries += 1;
                let mut m = env.id;
                while let Some(c) = cause_of.get(&m) {
                    m = *c;
                }
                if let Some(a) = root_acq.get(&m) {
                    *auth_per_root.entry(*a).or_insert(0) += 1;
                }
            }
            Event::Issue {
                item,
                kind: ItemKind::AccessToken,
                exp,
                ..
            } => {
                exp_of.insert(*item, *exp);
                if steady_from.is_some_and(|f| rec.t >= f && rec.t <= end) {
                    steady_mints += 1;
                }
            }
            Event::StoreCommit { tenant, item, .. } => {
                commits
                    .entry(*tenant)
                    .or_default()
                    .push((rec.t, exp_of.get(item).copied().flatten()));
            }
            Event::StaleRead { tenant, .. } => stale_tenant_time.push((*tenant, rec.t)),
            _ => {}
        }
    }
    // Cold demands with a stale read: the tenant's first stale read precedes its first success.
    let mut cold_stale = 0u64;
    let mut seen_stale = std::collections::BTreeSet::new();
    for (t, at) in &stale_tenant_time {
        if seen_stale.insert(*t) && first_ok.get(t).is_none_or(|ok| at <= ok) {
            cold_stale += 1;
        }
    }
    let mut herd: BTreeMap<TenantId, f64> = BTreeMap::new();
    for (t, at, _) in &acq_starts {
        if *at >= 0 && first_ok.get(t).is_none_or(|ok| at < ok) {
            *herd.entry(*t).or_insert(0.0) += 1.0;
        }
    }
    let herd: Vec<f64> = herd.into_values().collect();
    let acquisitions_before_first_token = (!herd.is_empty()).then(|| mean_ci(&herd));
    let refreshes_before_lockout = acq_starts
        .iter()
        .filter(|(t, at, _)| *at >= 0 && locked.get(t).is_none_or(|l| at < l))
        .count() as u64;
    // Token held over time (the last commit) and its validity window.
    let mut regressions = 0u64;
    let mut gaps = Vec::new();
    let mut ttft = Vec::new();
    let gap_from = spec.gap_from_s.map(secs);
    for tid in 0..spec.tenants {
        let c = commits.get(&TenantId(tid)).cloned().unwrap_or_default();
        let mut prev_exp: Option<Micros> = None;
        for (_, e) in &c {
            if let (Some(p), Some(e)) = (prev_exp, e)
                && e < &p
            {
                regressions += 1;
            }
            if e.is_some() {
                prev_exp = *e;
            }
        }
        if let Some((t, _)) = c.iter().find(|(t, _)| *t >= 0) {
            ttft.push(*t as f64 / SEC as f64);
        }
        if let Some(from) = gap_from {
            // Seconds in [from, end] with no valid token held.
            let mut covered: Micros = 0;
            for (i, (t, e)) in c.iter().enumerate() {
                let Some(e) = e else { continue };
                let next = c.get(i + 1).map_or(end, |(n, _)| *n);
                let lo = (*t).max(from);
                let hi = next.min(e - margin).min(end);
                if hi > lo {
                    covered += hi - lo;
                }
            }
            gaps.push((end - from - covered) as f64 / SEC as f64);
        }
    }
    let tenants_without_token = u64::from(spec.tenants) - ttft.len() as u64;
    let steady = steady_from.map(|from| {
        let mut st = Steady {
            from_s: from as f64 / SEC as f64,
            demands: 0,
            succeeded: 0,
            unknown: 0,
            failed: BTreeMap::new(),
            latency_ms: None,
            platform_requests_per_tenant_hour: 0.0,
            platform_mints_per_tenant_hour: 0.0,
            cold_start_failed_demands: Interval::point(0.0),
            cold_start_ttft_s: (!ttft.is_empty()).then(|| mean_ci(&ttft)),
        };
        let mut lat = Vec::new();
        let mut cold_failed: BTreeMap<TenantId, f64> =
            (0..spec.tenants).map(|t| (TenantId(t), 0.0)).collect();
        for (tenant, t0, t1, outcome) in &done {
            if *t0 >= from {
                match outcome {
                    Outcome::Ok => st.succeeded += 1,
                    Outcome::Fail(c) => *st.failed.entry(c.name().to_string()).or_insert(0) += 1,
                    Outcome::Unknown => {}
                }
                if *outcome != Outcome::Unknown {
                    lat.push((t1 - t0) as f64 / 1000.0);
                }
            } else if matches!(outcome, Outcome::Fail(_))
                && first_ok.get(tenant).is_none_or(|ok| t0 < ok)
            {
                *cold_failed.entry(*tenant).or_insert(0.0) += 1.0;
            }
        }
        // Unknown: still open at the hard stop, whether or not it completed as unknown.
        st.demands = invoked.values().filter(|t| **t >= from).count() as u64;
        st.unknown = st.demands - st.succeeded - st.failed.values().sum::<u64>();
        st.latency_ms = quantiles(lat);
        let tenant_hours = f64::from(spec.tenants) * (end - from) as f64 / SEC as f64 / 3600.0;
        if tenant_hours > 0.0 {
            st.platform_requests_per_tenant_hour = steady_requests as f64 / tenant_hours;
            st.platform_mints_per_tenant_hour = steady_mints as f64 / tenant_hours;
        }
        let per: Vec<f64> = cold_failed.into_values().collect();
        st.cold_start_failed_demands = mean_ci(&per);
        st
    });
    let cold_n = first_demand.len() as u64;
    Metrics {
        demands: sm.demands,
        succeeded: sm.succeeded,
        unknown: sm.unknown,
        failed: sm.failed.clone(),
        cold_n,
        cold_ok: sm.cold.token_acquired,
        cold_latency_ms: quantiles(cold_lat.clone()),
        cold_latencies_ms: if spec.keep_cold_latencies {
            let mut v = cold_lat;
            v.sort_by(f64::total_cmp);
            v
        } else {
            Vec::new()
        },
        warm_latency_ms: quantiles(warm_lat),
        stale_reads: sm.stale_reads,
        cold_stale,
        orphan_mints: sm.orphan_mints,
        messages_per_demand: sm.messages_per_demand,
        platform_requests_per_tenant_hour: sm.platform_requests_per_tenant_hour,
        platform_mints_per_tenant_hour: sm.platform_mints_per_tenant_hour,
        acquisitions_before_first_token,
        acquisitions: acq_seen.len() as u64,
        auth_deliveries,
        max_auth_deliveries_per_acquisition: auth_per_root.values().copied().max().unwrap_or(0),
        ttft_s: (!ttft.is_empty()).then(|| mean_ci(&ttft)),
        tenants_without_token,
        gap_tenants: gaps.iter().filter(|g| **g > 1e-6).count() as u64,
        gap_s: (!gaps.is_empty()).then(|| mean_ci(&gaps)),
        gap_window_s: gap_from.map_or(0.0, |f| (end - f) as f64 / SEC as f64),
        lockout_tenants: locked.len() as u64,
        refreshes_before_lockout,
        regressions,
        max_inflight_demands: max_inflight.max(0) as u64,
        mean_inflight_demands: if end > 0 {
            inflight_area as f64 / end as f64
        } else {
            0.0
        },
        unverified_parameters: sm.unverified_parameters.clone(),
        steady,
    }
}

fn is_platform(p: Party) -> bool {
    matches!(
        p,
        Party::Platform(
            tokenlab_models::ids::PlatformEndpoint::Forge
                | tokenlab_models::ids::PlatformEndpoint::AuthServer
        )
    )
}
