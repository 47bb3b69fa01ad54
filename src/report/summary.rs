//! Page one (issue 19 item 6): per design, computed from the data, what a miss costs, how
//! available it is in steady state and per cold start, what one stolen root credential buys,
//! and what it keeps at rest at P, each line with the assumptions that drive it. The same
//! objects are written to `data/summary.json`; the table on page one is rendered from them.
//! No number here is typed: each comes from the sweep, the security runs or the registries.

use super::analysis::{availability, default_cold_events};
use super::analytic::{
    CACHE_LOSSES_PER_TENANT_MONTH, INSTALLS_PER_TENANT_MONTH, hops, one_way_ms, pushed_only,
    switch_default_s,
};
use super::experiments::{STEADY_RATE, all_refs};
use super::results::Results;
use super::section::Block;
use super::security::SecurityData;
use serde::Serialize;
use std::collections::BTreeMap;

/// One line of a design's summary: its text, the numbers in it, and what drives them.
#[derive(Clone, Debug, Serialize)]
pub struct Line {
    pub text: String,
    pub numbers: BTreeMap<&'static str, Option<f64>>,
    pub assumptions: Vec<String>,
}

/// One design on page one.
#[derive(Clone, Debug, Serialize)]
pub struct DesignSummary {
    pub mechanism: String,
    pub on_a_miss: Line,
    pub availability: Line,
    pub stolen_root_credential: Line,
    pub at_rest: Line,
}

fn f(v: Option<f64>, d: usize) -> String {
    v.map_or("—".into(), |x| format!("{x:.d$}"))
}

fn on_a_miss(r: &Results, m: &str) -> Line {
    let p50 = |preset: &str| {
        r.get("latency", &format!("{m}@{preset}"))
            .and_then(|x| x.cold_latency_ms.as_ref())
            .map(|q| q.p50.est)
    };
    let rtt = 2.0 * one_way_ms("same-region");
    let rtt_x = 2.0 * one_way_ms("cross-region");
    let mut numbers = BTreeMap::new();
    numbers.insert("hops_on_miss", Some(f64::from(hops(m))));
    let text = if pushed_only(m) {
        let t = switch_default_s(m, "interval") / 3600.0;
        numbers.insert("push_interval_h", Some(t));
        format!(
            "fails fast (`no_token`): no on-demand path; the next scheduled push comes within {} h",
            f(Some(t), 2)
        )
    } else {
        let (a, b) = (p50("same-region"), p50("cross-region"));
        numbers.insert("cold_p50_ms", a);
        numbers.insert("cold_p50_cross_region_ms", b);
        format!(
            "{} ms ({} inter-party messages); {} ms cross-region",
            f(a, 0),
            hops(m),
            f(b, 0)
        )
    };
    Line {
        text,
        numbers,
        assumptions: vec![
            format!(
                "fixed link delays: RTT {} ms (cross-region {} ms between P and F)",
                f(Some(rtt), 0),
                f(Some(rtt_x), 0)
            ),
            "mint and store costs at their registry defaults".into(),
        ],
    }
}

fn availability_line(r: &Results, m: &str) -> Line {
    let events = default_cold_events();
    let a0 = availability(r, &format!("{m}/p=0"), events);
    let a5 = availability(r, &format!("{m}/p=0.05"), events);
    let mut numbers = BTreeMap::new();
    numbers.insert("steady_state_success", a0.as_ref().map(|a| a.steady.est));
    numbers.insert(
        "steady_state_success_at_5pct_loss",
        a5.as_ref().map(|a| a.steady.est),
    );
    numbers.insert(
        "cold_start_failed_demands",
        a0.as_ref().map(|a| a.cold_failed_per_event.est),
    );
    numbers.insert(
        "availability_per_tenant_month",
        a0.as_ref().map(|a| a.month.est),
    );
    Line {
        text: format!(
            "steady state {} ({} at 5% loss); a cold start fails {} demands per tenant; {} per tenant-month",
            f(numbers["steady_state_success"], 4),
            f(numbers["steady_state_success_at_5pct_loss"], 4),
            f(numbers["cold_start_failed_demands"], 1),
            f(numbers["availability_per_tenant_month"], 5)
        ),
        numbers,
        assumptions: vec![
            format!("{STEADY_RATE} demands per tenant-hour"),
            format!(
                "{INSTALLS_PER_TENANT_MONTH} installs and {CACHE_LOSSES_PER_TENANT_MONTH} cache losses per tenant-month (workload.md §9, inference)"
            ),
            "loss, where stated, on every inter-party message including the API call".into(),
        ],
    }
}

fn stolen(sec: &SecurityData, m: &str) -> Line {
    let x = sec.root_exposure(m);
    let mut numbers = BTreeMap::new();
    numbers.insert("tenants", x.map(|a| a.tenants_compromised as f64));
    numbers.insert("tokens_per_theft", x.map(|a| a.tokens_obtained));
    numbers.insert("tenant_hours", x.and_then(|a| a.tenant_hours));
    numbers.insert("w_hours", x.and_then(|a| a.w_hours));
    numbers.insert("bound_hours", x.and_then(|a| a.exposure_bound_h));
    numbers.insert("horizon_hours", x.map(|a| a.horizon_hours));
    let text = match x {
        Some(a) => {
            let ge = if a.w_at_least_horizon { "≥ " } else { "" };
            format!(
                "{}: {} tenants, {} tokens, {}{} tenant-hours per theft; W {}{} h ({})",
                a.credential,
                a.tenants_compromised,
                f(Some(a.tokens_obtained), 1),
                ge,
                f(a.tenant_hours, 1),
                ge,
                f(a.w_hours, 2),
                match a.exposure_bound_h {
                    Some(b) if !a.exposure_unbounded => format!("bound {b:.2} h"),
                    _ => "no bound".into(),
                }
            )
        }
        None => "—".into(),
    };
    Line {
        text,
        numbers,
        assumptions: match x {
            Some(a) => vec![
                format!(
                    "{} snapshot thefts from P's store, victims drawn, no revocation during the run",
                    a.thefts
                ),
                "\"≥\": the exposure reached the run's horizon (horizon_hours)".into(),
                "the attacker probes every 60 s; 4 tenants in the attack runs".into(),
            ],
            None => vec![],
        },
    }
}

fn at_rest(sec: &SecurityData, m: &str) -> Line {
    let ll = sec.long_lived_per_installation(m);
    let app_wide = sec.long_lived_by_scope(m).map(|x| x.1);
    let live: Option<f64> = sec.root_exposure(m).map(|a| {
        a.standing_secrets.by_kind.values().sum::<u64>() as f64
            / a.standing_secrets.installations.max(1) as f64
    });
    let mut numbers = BTreeMap::new();
    numbers.insert("items_over_1_day_per_installation", ll);
    numbers.insert("live_items_per_installation", live);
    numbers.insert("app_wide_items_over_1_day", app_wide.map(|x| x as f64));
    let shared = match app_wide {
        Some(n) if n > 0 => {
            format!("; of which {n} app-wide (one item stored in every installation's row)")
        }
        _ => String::new(),
    };
    Line {
        text: format!(
            "{} items living over a day per installation{shared} ({} live items of any lifetime)",
            f(ll, 0),
            f(live, 1)
        ),
        numbers,
        assumptions: vec![
            "counted at the end of a fault-free run without the attacker, idle installations included".into(),
        ],
    }
}

/// One summary per default profile, in registry order.
pub fn summaries(r: &Results, sec: &SecurityData) -> Vec<DesignSummary> {
    all_refs()
        .into_iter()
        .filter(|m| !m.contains(':'))
        .map(|m| DesignSummary {
            on_a_miss: on_a_miss(r, &m),
            availability: availability_line(r, &m),
            stolen_root_credential: stolen(sec, &m),
            at_rest: at_rest(sec, &m),
            mechanism: m,
        })
        .collect()
}

/// Page one's table and the assumptions under it.
pub fn blocks(s: &[DesignSummary]) -> Vec<Block> {
    let rows = s
        .iter()
        .map(|d| {
            vec![
                d.mechanism.clone(),
                d.on_a_miss.text.clone(),
                d.availability.text.clone(),
                d.stolen_root_credential.text.clone(),
                d.at_rest.text.clone(),
            ]
        })
        .collect();
    let mut out = vec![
        Block::Text {
            text: "Page one, computed: per design, what a miss costs, its availability in steady state and per cold start, what one stolen root credential buys, and what it keeps at rest at P (data/summary.json holds each line's numbers and assumptions).".into(),
        },
        Block::table(
            &[
                "design",
                "on a miss",
                "availability",
                "one stolen root credential buys",
                "kept at rest at P",
            ],
            rows,
        ),
    ];
    if let Some(d) = s.first() {
        let mut a = Vec::new();
        for (name, l) in [
            ("on a miss", &d.on_a_miss),
            ("availability", &d.availability),
            ("at rest", &d.at_rest),
        ] {
            a.push(format!("{name}: {}", l.assumptions.join("; ")));
        }
        let stolen: Vec<String> = s
            .iter()
            .flat_map(|d| d.stolen_root_credential.assumptions.iter().cloned())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        a.push(format!("stolen root credential: {}", stolen.join("; ")));
        out.push(Block::Text {
            text: format!("Assumptions driving each column: {}.", a.join(". ")),
        });
    }
    out
}
