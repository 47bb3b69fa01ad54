//! One section per hypothesis of `hypotheses.md`: the claim, the experiment, the numbers beside
//! their analytic predictions, and a verdict computed by a stated rule over those numbers.
//! Nothing here writes a verdict by hand: change the data and the verdict follows.

use super::analytic::{
    CACHE_LOSSES_PER_TENANT_MONTH, COLD_EVENTS_SWEEP, DELIVERY_S, INSTALLS_PER_TENANT_MONTH,
    TRIGGER_DELTA_MS, availability_per_tenant_month, db_write_ms, expiry_margin_s, hops, l1_ms,
    mint_ms, one_way_ms, pushed_only, s1, seconds, self_signed, switch_default_s, ttl_s, u3,
};
use super::experiments::{
    FIXED_LAG_MS, HERD_RATE, LAG_GRID_MS, LOAD_RATES, LOSS_GRID, MISTAKE_HOURS, MISTAKE_LOSS,
    MISTAKE_RATE, Metrics, OUTAGE_AT_H, OUTAGE_H, PROVISION_LOSS, PUSH_GRID, RESPONSE_LOSS_GRID,
    STEADY_HOURS, STEADY_LOSS, STEADY_PUSH_INTERVALS, STEADY_RATE, TAIL_PRESETS, all_refs,
    on_demand, partner_mistakes,
};
use super::results::Results;
use super::rules::*;
use super::section::{Block, Section, Verdict};
use super::stats::{Agreement, Interval, compare, wilson};

fn f(v: f64, digits: usize) -> String {
    if v.is_nan() {
        "—".into()
    } else {
        format!("{v:.digits$}")
    }
}

fn iv(i: &Interval, digits: usize) -> String {
    format!(
        "{} [{}, {}]",
        f(i.est, digits),
        f(i.lo, digits),
        f(i.hi, digits)
    )
}

fn cold_rate(m: &Metrics) -> Interval {
    wilson(m.cold_ok, m.cold_n)
}

fn agreement_cell(a: &Agreement) -> String {
    a.label().to_string()
}

struct Ctx<'a> {
    r: &'a Results,
    seed: u64,
}

impl Ctx<'_> {
    fn m(&self, exp: &str, key: &str) -> Option<&Metrics> {
        self.r.get(exp, key)
    }
    fn repro(&self, exp: &str, key: &str) -> String {
        self.r
            .spec(exp, key)
            .map(|s| s.reproduce(self.seed))
            .unwrap_or_default()
    }
    fn only(&self, exp: &str) -> String {
        let q = self.r.config.scale_flag();
        format!(
            "cargo run --release -- report --only {exp} --seed {}{q}",
            self.seed
        )
    }
}

fn missing(id: &str, title: &str, what: &str) -> Section {
    Section {
        id: id.into(),
        title: title.into(),
        claim: String::new(),
        experiment: String::new(),
        blocks: vec![Block::Text {
            text: format!("The data for this section is missing: {what}."),
        }],
        rule: String::new(),
        verdict: Verdict::NotEvaluated(format!("missing data ({what})")),
        reproduce: vec![],
        ..Default::default()
    }
}

/// The latency rows of H1/H17: (ref, preset) → cold p50 interval and L1.
fn latency_row(c: &Ctx, r: &str, preset: &str) -> Option<(Interval, Interval, Option<f64>)> {
    // A pushed-only mechanism has no on-demand path: its rare first-demand hits are not a latency.
    if pushed_only(r) {
        return None;
    }
    let m = c.m("latency", &format!("{r}@{preset}"))?;
    let q = m.cold_latency_ms.as_ref()?;
    Some((q.p50, q.p99, l1_ms(r, one_way_ms(preset))))
}

fn h1(c: &Ctx) -> Section {
    let mut rows = Vec::new();
    let mut per_preset = Vec::new();
    for preset in ["same-region", "cross-region"] {
        let (mut trig, mut others) = (Vec::new(), Vec::new());
        for r in all_refs() {
            let Some((p50, p99, pred)) = latency_row(c, &r, preset) else {
                if pushed_only(&r) {
                    rows.push(vec![
                        r.clone(),
                        preset.into(),
                        "no on-demand path (a miss fails fast, `no_token`)".into(),
                        "—".into(),
                        "—".into(),
                        "—".into(),
                        "—".into(),
                    ]);
                }
                continue;
            };
            let agree = pred.map(|p| compare(p, &p50, None, true));
            let warm = c
                .m("latency", &format!("{r}@{preset}"))
                .and_then(|m| m.warm_latency_ms.as_ref())
                .map_or("—".into(), |q| f(q.p50.est, 1));
            rows.push(vec![
                r.clone(),
                preset.into(),
                iv(&p50, 1),
                iv(&p99, 1),
                warm,
                pred.map_or("—".into(), |p| f(p, 1)),
                agree.map_or("—".into(), |a| agreement_cell(&a)),
            ]);
            if r == "trigger" {
                trig.push(p50);
            } else if AS_BASED.contains(&r.as_str()) {
                others.push(p50);
            }
        }
        per_preset.push((trig, others));
    }
    let n = c
        .m("latency", "trigger@same-region")
        .map_or(0, |m| m.cold_n);
    Section {
        id: "H1".into(),
        title: "Double round trip".into(),
        claim: "Double-round-trip post: the caller \"will have to wait for a double round trip (remote resource request to authTriggerUrl → forge request to authTriggerRemoteEndpoint → …)\" [F: thread].".into(),
        experiment: format!("E-lat: every mechanism's cold-miss token latency (each tenant's first demand, n = {n} per row) at RTT 80 ms (same-region) and 200 ms (cross-region), no faults. Intervals: exact 95% order-statistic intervals. Latency here is fixed per link, so the intervals are degenerate: the spread is zero by construction."),
        blocks: vec![
            Block::table(&["mechanism", "preset", "cold p50 ms [95% CI]", "cold p99 ms [95% CI]", "warm p50 ms (hit, incl. the API call)", "L1 prediction ms", "agreement"], rows),
            Block::Figure {
                name: "latency-cdf".into(),
                caption: "Cold-miss token latency CDF per mechanism (same-region and cross-region).".into(),
            },
        ],
        rule: "Supported if trigger's cold p50 interval lies entirely above the interval of every AS-based mechanism (refresh, upm-oauth, tenant-secret, global-secret) at both presets; refuted otherwise.".into(),
        verdict: h1_rule(&H1Data { per_preset }),
        reproduce: vec![
            c.repro("latency", "trigger@same-region"),
            c.repro("latency", "refresh@cross-region"),
        ],
        ..Default::default()
    }
}

/// Whether S2 is a lower bound for this mechanism: a lost ack or response still leaves T
/// stored for the re-read before the retry, which only the mechanism delivering T to the
/// partner's store out of band (trigger) does.
fn reread_makes_bound(m: &str) -> bool {
    hops(m) > 2
}

/// The mechanisms H1 sets against trigger: those that get a token from an authorization server.
const AS_BASED: [&str; 4] = ["refresh", "upm-oauth", "tenant-secret", "global-secret"];

fn h2(c: &Ctx) -> Section {
    let mut rows = Vec::new();
    let (mut nr, mut wr) = (Vec::new(), Vec::new());
    for kind in ["loss", "5xx"] {
        for m in on_demand() {
            for rk in ["0", "default"] {
                for p in LOSS_GRID {
                    let Some(x) = c.m(kind, &format!("{m}/p={p}/retries={rk}")) else {
                        continue;
                    };
                    let w = cold_rate(x);
                    let (pred, agree) = if rk == "0" {
                        let s = s1(m, kind, p);
                        (
                            f(s, 4),
                            agreement_cell(&compare(s, &w, Some(x.cold_n), true)),
                        )
                    } else if reread_makes_bound(m) {
                        // S2 is a lower bound only where a retry re-reads the cache and a call
                        // whose ack was lost has still stored T (trigger).
                        let s = 1.0 - (1.0 - s1(m, kind, p)).powi(3);
                        let ok = w.hi + 1e-12 >= s;
                        (
                            format!("≥ {}", f(s, 4)),
                            if ok {
                                "agrees (lower bound)".into()
                            } else {
                                "below the S2 bound: attempts not independent (see failures)".into()
                            },
                        )
                    } else {
                        // AS-based: the retry presents the grant again; S2 is the prediction
                        // itself (independent attempts), judged like any other.
                        let s = 1.0 - (1.0 - s1(m, kind, p)).powi(3);
                        (
                            f(s, 4),
                            agreement_cell(&compare(s, &w, Some(x.cold_n), true)),
                        )
                    };
                    if kind == "loss" && (p == 0.01 || p == 0.05 || p == 0.2) {
                        rows.push(vec![
                            m.into(),
                            format!("{p}"),
                            rk.into(),
                            iv(&w, 4),
                            pred,
                            agree,
                            x.cold_latency_ms
                                .as_ref()
                                .map_or("—".into(), |q| iv(&q.p99, 0)),
                        ]);
                    }
                    if kind == "loss" && (m == "trigger" || AS_BASED.contains(&m)) {
                        let v = if rk == "0" { &mut nr } else { &mut wr };
                        v.push((p, m, w));
                    }
                }
            }
        }
    }
    let pair = |v: &[(f64, &str, Interval)]| -> Vec<(f64, Interval, Vec<Interval>)> {
        LOSS_GRID
            .iter()
            .filter_map(|p| {
                let t = v.iter().find(|(q, m, _)| q == p && *m == "trigger")?.2;
                let o: Vec<Interval> = v
                    .iter()
                    .filter(|(q, m, _)| q == p && AS_BASED.contains(m))
                    .map(|x| x.2)
                    .collect();
                Some((*p, t, o))
            })
            .collect()
    };
    let (nrp, wrp) = (pair(&nr), pair(&wr));
    let mut fails = Vec::new();
    if let Some(x) = c.m("loss", "trigger/p=0.05/retries=0") {
        for (k, v) in &x.failed {
            if *v > 0 {
                fails.push(vec!["trigger".into(), k.clone(), v.to_string()]);
            }
        }
    }
    if let Some(x) = c.m("loss", "refresh/p=0.05/retries=0") {
        for (k, v) in &x.failed {
            if *v > 0 {
                fails.push(vec!["refresh".into(), k.clone(), v.to_string()]);
            }
        }
    }
    let n = c.m("loss", "trigger/p=0/retries=0").map_or(0, |m| m.cold_n);
    let width = c
        .m("loss", "trigger/p=0.05/retries=0")
        .map_or(f64::NAN, |m| cold_rate(m).width());
    Section {
        id: "H2".into(),
        title: "Many failure points".into(),
        claim: "Double-round-trip post: \"There is a lot that can go wrong (timeouts, network failures, etc)\" [F: thread].".into(),
        experiment: format!("E-rel: independent loss p on every inter-party message (and, separately, edge 5xx on every request), p ∈ {{0, 1, 2, 5, 10, 20}}%, without retries and with the default retries (2). n = {n} cold demands per point; the Wilson 95% interval at p = 5% for trigger is {} wide. The same correlated outage of the platform's issuance for every mechanism is in section OUT.", f(width, 4)),
        blocks: vec![
            Block::table(&["mechanism", "loss p", "retries", "cold token success [95% Wilson]", "S1/S2 prediction", "agreement", "cold p99 ms [95% CI]"], rows),
            Block::Figure {
                name: "success-vs-loss".into(),
                caption: "Cold token success against loss, no retries; dashed: S1 = (1−p)^hops.".into(),
            },
            Block::Figure {
                name: "success-vs-loss-retries".into(),
                caption: "The same with the default retries (2); dashed: the S2 lower bound.".into(),
            },
            Block::Figure {
                name: "p99-vs-loss".into(),
                caption: "Cold token p99 latency against loss, default retries.".into(),
            },
            Block::Text {
                text: format!("Tail latency on the heavy-tailed presets, default retries, each tenant's first demand: {}.", TAIL_PRESETS.iter().filter_map(|p| tokenlab_models::faults::preset(p).map(|x| format!("`{p}` ({})", x.description))).collect::<Vec<_>>().join("; ")),
            },
            Block::table(&["preset", "mechanism", "cold p50 ms [95% CI]", "cold p99 ms [95% CI]", "cold token success [95% Wilson]"], tail_rows(c)),
            Block::Text {
                text: "Failures at p = 5% without retries, by the closed taxonomy (demands, not only cold ones):".into(),
            },
            Block::table(&["mechanism", "cause", "demands"], fails),
        ],
        rule: "At every p ≥ 10%: supported if trigger's Wilson interval lies below that of every AS-based design (refresh, upm-oauth, tenant-secret, global-secret) without retries, and with the default retries either its success lies below theirs at every such p or its cold p99 lies measurably above every AS-based design's (order-statistic intervals apart) on every heavy-tailed preset (retries turn the failure into a wait); depends on retries if the first holds only, naming the p and the presets at which trigger is measurably worse with them; refuted if trigger's estimate is at least one AS-based design's without retries; not evaluated if the intervals overlap at this n.".into(),
        verdict: h2_rule(&H2Data {
            no_retry: nrp,
            with_retry: wrp,
            min_loss: 0.1,
            tail: tail_p99(c.r),
        }),
        reproduce: vec![
            c.repro("loss", "trigger/p=0.05/retries=0"),
            c.repro("loss", "refresh/p=0.05/retries=0"),
            c.only("5xx"),
            c.repro("latency", "trigger@flaky-partner"),
            c.repro("latency", "trigger@lossy"),
            c.repro("latency", "refresh@lossy"),
        ],
        ..Default::default()
    }
}

/// H2's tail: cold latency on every heavy-tailed preset for every on-demand mechanism.
fn tail_rows(c: &Ctx) -> Vec<Vec<String>> {
    TAIL_PRESETS
        .iter()
        .flat_map(|preset| {
            on_demand().into_iter().filter_map(move |m| {
                let x = c.m("latency", &format!("{m}@{preset}"))?;
                let q = x.cold_latency_ms.as_ref();
                Some(vec![
                    preset.to_string(),
                    m.to_string(),
                    q.map_or("—".into(), |q| iv(&q.p50, 0)),
                    q.map_or("—".into(), |q| iv(&q.p99, 0)),
                    iv(&cold_rate(x), 4),
                ])
            })
        })
        .collect()
}

/// H2's rule input: trigger's cold p99 and every AS-based design's, per heavy-tailed preset.
pub fn tail_p99(r: &Results) -> Vec<(String, Interval, Vec<Interval>)> {
    let p99 = |m: &str, preset: &str| {
        r.get("latency", &format!("{m}@{preset}"))?
            .cold_latency_ms
            .as_ref()
            .map(|q| q.p99)
    };
    TAIL_PRESETS
        .iter()
        .filter_map(|preset| {
            let t = p99("trigger", preset)?;
            let o: Vec<Interval> = AS_BASED.iter().filter_map(|m| p99(m, preset)).collect();
            Some((preset.to_string(), t, o))
        })
        .collect()
}

fn h4(c: &Ctx) -> Section {
    let mut rows = Vec::new();
    let (mut uniform, mut fixed) = (Vec::new(), Vec::new());
    for l in LAG_GRID_MS {
        let key = format!("uniform({l}ms)");
        let Some(m) = c.m("lag", &key) else { continue };
        let w = wilson(m.cold_stale, m.cold_n);
        let pred = if l <= TRIGGER_DELTA_MS {
            0.0
        } else {
            (l - TRIGGER_DELTA_MS) / l
        };
        let a = compare(pred, &w, Some(m.cold_n), true);
        uniform.push((w, a));
        rows.push(vec![key, iv(&w, 4), f(pred, 4), agreement_cell(&a)]);
    }
    for l in FIXED_LAG_MS {
        let key = format!("fixed({l}ms)");
        let Some(m) = c.m("lag", &key) else { continue };
        let w = wilson(m.cold_stale, m.cold_n);
        let pred = if l > TRIGGER_DELTA_MS { 1.0 } else { 0.0 };
        let a = compare(pred, &w, Some(m.cold_n), true);
        fixed.push(a);
        rows.push(vec![key, iv(&w, 4), f(pred, 4), agreement_cell(&a)]);
    }
    let mut variants = Vec::new();
    let mut safe_variants_stale = Vec::new();
    for (name, pred) in [
        ("primary", Some(0.0)),
        ("in_band", Some(0.0)),
        ("queued", None),
        ("replica+retries", None),
    ] {
        let Some(m) = c.m("lag", &format!("variant:{name}")) else {
            continue;
        };
        let stale = wilson(m.cold_stale, m.cold_n);
        let ok = cold_rate(m);
        if pred.is_some() {
            safe_variants_stale.push(m.cold_stale);
        }
        variants.push(vec![
            name.into(),
            iv(&stale, 4),
            iv(&ok, 4),
            pred.map_or("—".into(), |p| f(p, 1)),
        ]);
    }
    let verdict = h4_rule(&H4Data {
        uniform,
        fixed,
        safe_variants_stale,
    });
    Section {
        id: "H4".into(),
        title: "Read-after-write".into(),
        claim: "The 2-cents post: the chain must \"write to the source of truth and not a queue, and ensure any read mechanisms are up to date (i.e. replicas caught up, caches are flushed)\"; 200 must mean \"the token is actually ready to be read\" [F: thread].".into(),
        experiment: "trigger with `read_from=replica`, no retries; the replica lag is drawn per read, U(0, L) for L from 0 to 1 s, and fixed lags around Δ = 2d = 80 ms; then the variants at U(0, 500 ms). Metric: share of cold demands on which P's read-back found no token (a P12 read-your-writes violation, recorded by the store itself).".into(),
        blocks: vec![
            Block::table(&["replica lag", "stale cold reads [95% Wilson]", "S3: P(lag > 80 ms)", "agreement"], rows),
            Block::Figure {
                name: "stale-vs-lag".into(),
                caption: "Stale read-backs against the maximum replica lag; dashed: S3.".into(),
            },
            Block::Text {
                text: "Variants at lag U(0, 500 ms):".into(),
            },
            Block::table(&["variant", "stale cold reads", "cold token success", "prediction (stale)"], variants),
        ],
        rule: "Depends-on (with the condition) if stale reads are measurably above 0 on a replica (Wilson lower bound > 0), exactly 0 with `read_from=primary` and `token_return=in_band`, and no point is flagged as a simulator bug; refuted if no lag produces stale reads.".into(),
        verdict,
        reproduce: vec![
            c.repro("lag", "uniform(500ms)"),
            c.repro("lag", "variant:in_band"),
        ],
        ..Default::default()
    }
}

fn push_rows(c: &Ctx) -> (Vec<Vec<String>>, Vec<Agreement>) {
    let mut rows = Vec::new();
    let mut u3_agreements = Vec::new();
    let cases: Vec<(String, f64, f64)> = PUSH_GRID
        .iter()
        .map(|(i, l)| (format!("push interval={i} ttl={l}"), seconds(i), seconds(l)))
        .chain(std::iter::once((
            "push:shipped".to_string(),
            3600.0,
            4.0 * 3600.0,
        )))
        .collect();
    for (label, t, l) in cases {
        for d in OUTAGE_H {
            let Some(m) = c.m("push", &format!("{label}/outage={d}h")) else {
                continue;
            };
            let Some(gap) = m.gap_s else { continue };
            let lp = l - expiry_margin_s() - DELIVERY_S;
            let n = m.gap_tenants;
            let tenants =
                c.r.spec("push", &format!("{label}/outage={d}h"))
                    .map_or(0, |s| u64::from(s.tenants));
            let lapse = wilson(n, tenants);
            let (pred_cell, agree_cell) = if lp >= t {
                let (pl, eg) = u3(t, lp, d * 3600.0);
                // U3 assumes every push during the outage is lost; the platform's retries (4, 5 s
                // timeout, backoff) deliver a push scheduled in the outage's last seconds just
                // after it ends, so with an outage the formula's assumption is broken.
                let holds = d == 0.0;
                let a1 = compare(pl, &lapse, Some(tenants), holds);
                // U3 resolves gaps to the schedule, not to the tens of ms of a delivery: compare
                // at ±1 s, or a degenerate interval would flag a rounding of δ.
                let slack = Interval {
                    est: gap.est,
                    lo: gap.lo - 1.0,
                    hi: gap.hi + 1.0,
                };
                let a2 = compare(eg / 60.0, &scale(&slack, 1.0 / 60.0), None, holds);
                u3_agreements.extend([a1, a2]);
                (
                    format!("{} / {}", f(pl, 3), f(eg / 60.0, 1)),
                    format!("{} / {}", a1.label(), a2.label()),
                )
            } else {
                (
                    "m = 0: T > L − s, a lapse every interval".into(),
                    "—".into(),
                )
            };
            rows.push(vec![
                label.clone(),
                f(d, 1),
                iv(&lapse, 3),
                iv(&scale(&gap, 1.0 / 60.0), 1),
                pred_cell,
                agree_cell,
                m.ttft_s
                    .as_ref()
                    .map_or("—".into(), |x| iv(&scale(x, 1.0 / 60.0), 1)),
            ]);
        }
    }
    (rows, u3_agreements)
}

fn scale(i: &Interval, k: f64) -> Interval {
    Interval {
        est: i.est * k,
        lo: i.lo * k,
        hi: i.hi * k,
    }
}

fn push_table(rows: Vec<Vec<String>>) -> Block {
    Block::table(
        &[
            "configuration",
            "outage h",
            "tenants with a lapse [95% Wilson]",
            "min without a token per tenant [95% CI]",
            "U3: P(lapse) / E[gap] min",
            "agreement",
            "time to first token min [95% CI]",
        ],
        rows,
    )
}

/// One steady-state run's availability: steady success (Wilson), failed demands per tenant
/// per cold start, and availability per tenant-month with `events` cold starts a month
/// (interval from the two intervals' ends).
pub fn availability(r: &Results, key: &str, events: f64) -> Option<Availability> {
    let m = r.get("steady", key)?;
    let st = m.steady.as_ref()?;
    let steady = wilson(st.succeeded, st.demands - st.unknown);
    let cold = st.cold_start_failed_demands;
    let cold = Interval {
        est: cold.est,
        lo: cold.lo.max(0.0),
        hi: cold.hi,
    };
    let month = |s: f64, c: f64| availability_per_tenant_month(s, c, events, STEADY_RATE);
    Some(Availability {
        mechanism: key.split('/').next().unwrap_or(key).to_string(),
        steady,
        cold_failed_per_event: cold,
        month: Interval {
            est: month(steady.est, cold.est),
            lo: month(steady.lo, cold.hi),
            hi: month(steady.hi, cold.lo),
        },
    })
}

/// Installs plus cache losses per tenant-month at the defaults of `workload.md` §9.
pub fn default_cold_events() -> f64 {
    INSTALLS_PER_TENANT_MONTH + CACHE_LOSSES_PER_TENANT_MONTH
}

fn steady_section(c: &Ctx) -> Section {
    let events = default_cold_events();
    let mut rows = Vec::new();
    for m in all_refs().iter().filter(|r| !r.contains(':')) {
        for p in STEADY_LOSS {
            let key = format!("{m}/p={p}");
            let Some(x) = c.m("steady", &key) else {
                continue;
            };
            let Some(st) = x.steady.as_ref() else {
                continue;
            };
            rows.push(vec![
                m.clone(),
                format!("{p}"),
                st.demands.to_string(),
                iv(&wilson(st.succeeded, st.demands - st.unknown), 5),
                failures_cell(&st.failed),
                st.latency_ms.as_ref().map_or("—".into(), |q| {
                    format!("{} / {}", iv(&q.p50, 0), iv(&q.p99, 0))
                }),
                f(st.platform_requests_per_tenant_hour, 3),
                f(st.platform_mints_per_tenant_hour, 3),
            ]);
        }
    }
    // The cost of one cold start per mechanism (no faults), beside U4 for the pushed-only.
    let mut cold_rows = Vec::new();
    let mut avail = Vec::new();
    for m in all_refs().iter().filter(|r| !r.contains(':')) {
        let key = format!("{m}/p=0");
        let Some(a) = availability(c.r, &key, events) else {
            continue;
        };
        let st = c.m("steady", &key).and_then(|x| x.steady.as_ref());
        let pred = if pushed_only(m) {
            STEADY_RATE * switch_default_s(m, "interval") / 3600.0 / 2.0
        } else {
            0.0
        };
        let cold_lat = c
            .m("latency", &format!("{m}@same-region"))
            .filter(|_| !pushed_only(m))
            .and_then(|x| x.cold_latency_ms.as_ref())
            .map_or("—".into(), |q| f(q.p50.est, 0));
        cold_rows.push(vec![
            m.clone(),
            iv(&a.cold_failed_per_event, 2),
            f(pred, 2),
            agreement_cell(&compare(pred, &a.cold_failed_per_event, None, true)),
            cold_lat,
            st.and_then(|s| s.cold_start_ttft_s)
                .map_or("—".into(), |x| iv(&scale(&x, 1.0 / 60.0), 1)),
        ]);
        avail.push(a);
    }
    // Availability per tenant-month against the cold-start rate.
    let mut headers: Vec<String> = vec!["mechanism".into()];
    headers.extend(
        COLD_EVENTS_SWEEP
            .iter()
            .map(|e| format!("{e} cold starts / tenant-month")),
    );
    let month_rows: Vec<Vec<String>> = avail
        .iter()
        .map(|a| {
            let mut row = vec![a.mechanism.clone()];
            for e in COLD_EVENTS_SWEEP {
                let x = availability_per_tenant_month(
                    a.steady.est,
                    a.cold_failed_per_event.est,
                    e,
                    STEADY_RATE,
                );
                row.push(f(x, 5));
            }
            row
        })
        .collect();
    // Push's interval against its mints and its cold-start cost.
    let mut push_rows = Vec::new();
    for m in super::experiments::pushed_only() {
        for i in STEADY_PUSH_INTERVALS {
            let key = format!("{m} interval={i}/p=0");
            let (Some(x), Some(a)) = (c.m("steady", &key), availability(c.r, &key, events)) else {
                continue;
            };
            let Some(st) = x.steady.as_ref() else {
                continue;
            };
            push_rows.push(vec![
                format!("{m} interval={i}"),
                f(st.platform_mints_per_tenant_hour, 3),
                f(3600.0 / seconds(i), 3),
                iv(&a.cold_failed_per_event, 2),
                f(STEADY_RATE * seconds(i) / 3600.0 / 2.0, 2),
                iv(&a.month, 5),
            ]);
        }
    }
    let n = c.r.spec("steady", "trigger/p=0").map_or(0, |s| s.tenants);
    let warm_h =
        c.r.spec("steady", "push/p=0")
            .and_then(|s| s.steady_from_s)
            .map_or(f64::NAN, |x| x / 3600.0);
    let verdict = steady_rule(&SteadyData { rows: avail });
    Section {
        id: "SS".into(),
        title: "Steady state and cold starts".into(),
        claim: "workload.md §9: t = 0 is a cold start for every tenant at once, one event and not the normal day; availability and latency are judged in the steady state after the warm-up, and the cost of a cold start is measured apart and combined with event rates.".into(),
        experiment: format!("Every mechanism, {n} tenants at {STEADY_RATE} demands/tenant-hour, caches empty at t = 0; the steady state is every demand invoked after the warm-up max(interval, TTL) + the expiry margin ({} h for the 1 h push and for the TTL), then {STEADY_HOURS} h; loss p on every inter-party message (the API call included). A cold start's cost is the failed demands per tenant before its first success. Per tenant-month: 30 days of demands, steady failures plus (installs + cache losses) × the cold-start cost; defaults {INSTALLS_PER_TENANT_MONTH} installs and {CACHE_LOSSES_PER_TENANT_MONTH} cache losses per tenant-month (workload.md §9, inference), swept.", f(warm_h, 2)),
        blocks: vec![
            Block::table(&["mechanism", "loss p", "steady demands", "steady success [95% Wilson]", "failures", "demand latency p50 / p99 ms [95% CI]", "platform requests / tenant-h (steady)", "mints / tenant-h (steady)"], rows),
            Block::Text { text: "The p99 at p > 0 sits on the API call's 10 s timeout step: a lost API request or response fails the demand at its timeout, whatever the mechanism; its interval is the order-statistic interval of that step.".into() },
            Block::table(&["mechanism", "failed demands per tenant per cold start [95% CI]", "U4: λ·T/2 (pushed-only), else 0", "agreement", "cold-miss token latency p50 ms", "time to first token min [95% CI] (on-demand: when the first demand came)"], cold_rows),
            Block::table(&headers.iter().map(String::as_str).collect::<Vec<_>>(), month_rows),
            Block::table(&["configuration", "mints / tenant-h (steady)", "1/T", "failed demands per cold start [95% CI]", "U4: λ·T/2", "availability per tenant-month at the defaults [95% CI]"], push_rows),
            Block::Text { text: push_long_intervals_note() },
        ],
        rule: "Refuted if some mechanism's steady-state success (no faults) lies measurably below another's; depends on the cold-start rate if they agree in steady state but some mechanism's cold start measurably fails demands (lower bound > 0); supported otherwise.".into(),
        verdict,
        reproduce: vec![c.only("steady")],
        ..Default::default()
    }
}

fn h10(c: &Ctx) -> Section {
    let load = |m: &str| c.m("load", &format!("{m}/rate=60"));
    let (Some(push), Some(trig)) = (load("push"), load("trigger")) else {
        return missing(
            "H10",
            "Push removes \"90% of the complexity\"",
            "load points for push and trigger",
        );
    };
    let push_ttft = push.ttft_s;
    let rows = vec![
        vec![
            "push".into(),
            f(push.messages_per_demand, 2),
            iv(&wilson(push.succeeded, push.demands - push.unknown), 4),
            push.failed
                .get("no_token")
                .copied()
                .unwrap_or(0)
                .to_string(),
            push_ttft.map_or("—".into(), |x| iv(&scale(&x, 1.0 / 60.0), 1)),
        ],
        vec![
            "trigger".into(),
            f(trig.messages_per_demand, 2),
            iv(&wilson(trig.succeeded, trig.demands - trig.unknown), 4),
            trig.failed
                .get("no_token")
                .copied()
                .unwrap_or(0)
                .to_string(),
            trig.ttft_s
                .map_or("—".into(), |x| iv(&scale(&x, 1.0 / 60.0), 1)),
        ],
    ];
    let events = default_cold_events();
    let (Some(pa), Some(ta)) = (
        availability(c.r, "push/p=0", events),
        availability(c.r, "trigger/p=0", events),
    ) else {
        return missing(
            "H10",
            "Push removes \"90% of the complexity\"",
            "steady-state points for push and trigger",
        );
    };
    let cost = |m: &Metrics, a: &Availability| DemandCost {
        messages_per_demand: m.messages_per_demand,
        success: a.steady,
    };
    let verdict = h10_rule(&H10Data {
        push: cost(push, &pa),
        trigger: cost(trig, &ta),
        push_month: pa.month,
        trigger_month: ta.month,
        cold_events: events,
    });
    let steady_rows: Vec<Vec<String>> = [&pa, &ta]
        .iter()
        .map(|a| {
            vec![
                a.mechanism.clone(),
                iv(&a.steady, 5),
                iv(&a.cold_failed_per_event, 2),
                iv(&a.month, 5),
            ]
        })
        .collect();
    Section {
        id: "H10".into(),
        title: "Push removes \"90% of the complexity\"".into(),
        claim: "The 2-cents post: \"Why not just have forge proactively send a new key to the callback every so often? It removes 90% of the complexity … All we have to do is implement an endpoint that receives a key and updates a db\" [F: thread].".into(),
        experiment: format!("Messages per demand on the acquisition path from the load experiment at 60 demands/tenant-hour, 2 h, no faults (its demand success includes the cold start at t = 0 and is shown for that reason only). Availability from the steady-state runs (section SS): success after the warm-up, the failed demands one cold start costs per tenant, and availability per tenant-month at {events} cold starts (installs + cache losses) per tenant-month. What each design makes the partner implement (endpoints, state, message types, failure branches) is counted on loopback: see H7 in the loopback section."),
        blocks: vec![
            Block::table(&["mechanism", "acquisition messages per demand", "2 h run's demand success incl. the cold start [95% Wilson]", "failed no_token", "time to first token min"], rows),
            Block::table(&["mechanism", "steady-state success [95% Wilson]", "failed demands per cold start [95% CI]", "availability per tenant-month [95% CI]"], steady_rows),
        ],
        rule: "Refuted if push needs no fewer acquisition messages per demand; depends on the steady state if it is cheaper but measurably less available after the warm-up; depends on the cold-start rate if it is as available in steady state but measurably less available per tenant-month; supported otherwise.".into(),
        verdict,
        reproduce: vec![
            c.repro("load", "push/rate=60"),
            c.repro("load", "trigger/rate=60"),
            c.only("steady"),
        ],
        ..Default::default()
    }
}

fn h11(c: &Ctx) -> Section {
    let mut rows = Vec::new();
    let mut ttft_min = Vec::new();
    for (label, t) in [
        ("push interval=15m ttl=4h", 900.0),
        ("push interval=1h ttl=4h", 3600.0),
        ("push:shipped", 3600.0),
    ] {
        let Some(m) = c.m("push", &format!("{label}/outage=0h")) else {
            continue;
        };
        let Some(x) = m.ttft_s else { continue };
        let x = scale(&x, 1.0 / 60.0);
        let pred = t / 2.0 / 60.0;
        let a = compare(pred, &x, None, true);
        ttft_min.push(x);
        rows.push(vec![
            label.into(),
            iv(&x, 1),
            f(pred, 1),
            agreement_cell(&a),
        ]);
    }
    let verdict = h11_rule(&H11Data { ttft_min });
    Section {
        id: "H11".into(),
        title: "Waiting for the next trigger".into(),
        claim: "A Preview-thread partner: the remote \"has to wait for the subsequent scheduled trigger request\" [F: preview, eco-1107].".into(),
        experiment: "push, every tenant's cache emptied at t = 0 (as after a cache loss or a fresh install): time until the first token is stored, per tenant.".into(),
        blocks: vec![Block::table(&["configuration", "time to first token, mean min [95% CI]", "U4: interval/2 min", "agreement"], rows)],
        rule: "Supported if the mean time to first token after a cache loss is measurably above one minute (interval lower bound > 1 min), i.e. a demand in that window has no way to get a token; refuted otherwise.".into(),
        verdict,
        reproduce: vec![c.only("push")],
        ..Default::default()
    }
}

fn h13(c: &Ctx) -> Section {
    let (rows, u3) = push_rows(c);
    // Compare TTL 1 h and 4 h at interval 1 h under a 2 h outage.
    let gap = |ttl: &str, d: f64| {
        c.m("push", &format!("push interval=1h ttl={ttl}/outage={d}h"))
            .and_then(|m| m.gap_s)
    };
    let verdict = h13_rule(&H13Data {
        gap_ttl_1h: gap("1h", 2.0),
        gap_ttl_4h: gap("4h", 2.0),
        u3,
    });
    Section {
        id: "H13".into(),
        title: "TTL 1 h → 4 h".into(),
        claim: "DanielReed (Atlassian), Preview: the max TTL was extended \"from 1 hour to 4 hours\" [F: preview]; that this was done so that push would work is an inference.".into(),
        experiment: format!("push grid: interval × TTL × an outage in which the platform cannot reach the partner (a partition from t = {OUTAGE_AT_H} h for D hours); time without a valid token per tenant from the outage start to 6 h after it ends (valid = stored and more than s = 60 s from exp). U3 assumes every push inside the outage is lost; the platform's retries deliver a push scheduled in the outage's last ~35 s just after it ends, which shortens the mean gap by about that much: where the interval excludes U3 this is labelled a correlation effect (an assumption broken), not a simulator bug."),
        blocks: vec![
            push_table(rows),
            Block::Figure {
                name: "push-grid".into(),
                caption: "Minutes without a valid token per tenant against outage length, per interval × TTL.".into(),
            },
        ],
        rule: "Supported if, at interval 1 h and a 2 h outage, TTL 4 h leaves measurably less time without a token than TTL 1 h (disjoint intervals) and U3 agrees across the grid; depends-on if U3 is flagged; refuted if TTL 4 h does not help.".into(),
        verdict,
        reproduce: vec![c.only("push")],
        ..Default::default()
    }
}

fn h17(c: &Ctx) -> Section {
    let growth = |r: &str| -> Option<f64> {
        let a = latency_row(c, r, "same-region")?.0.est;
        let b = latency_row(c, r, "cross-region")?.0.est;
        Some(b - a)
    };
    let mut rows = Vec::new();
    let mut growth_ms = Vec::new();
    // One mechanism per hop count: four, two and none.
    for r in ["trigger", "refresh", "tenant-secret", "connect-jwt"] {
        let Some(g) = growth(r) else { continue };
        let delta_rtt = 2.0 * (one_way_ms("cross-region") - one_way_ms("same-region"));
        // Each round trip on the miss path crosses the preset's RTT once.
        let pred = f64::from(hops(r)) / 2.0 * delta_rtt;
        growth_ms.push((g, pred));
        rows.push(vec![r.into(), f(g, 1), f(pred, 1)]);
    }
    let verdict = h17_rule(&H17Data { growth_ms });
    Section {
        id: "H17".into(),
        title: "Geography".into(),
        claim: "RFC-8 commenters raised EU remotes being routed through US Forge [F: rfc8-16].".into(),
        experiment: "E-lat at RTT 80 ms vs 200 ms between partner and platform (ΔRTT = 120 ms).".into(),
        blocks: vec![Block::table(&["mechanism", "growth of cold p50, ms", "L1: hops/2 · ΔRTT"], rows)],
        rule: "Supported if every mechanism's cold p50 grows by its L1 share of ΔRTT within 1 ms (trigger 2·ΔRTT, AS-based ΔRTT, connect-jwt 0).".into(),
        verdict,
        reproduce: vec![c.repro("latency", "trigger@cross-region")],
        ..Default::default()
    }
}

fn h18(c: &Ctx) -> Section {
    let mut rows = Vec::new();
    let get = |k: &str| {
        c.m("herd", k)
            .and_then(|m| m.acquisitions_before_first_token)
    };
    // C1 as written uses the acquisition latency W. A demand arriving after the token is
    // committed at P hits the store, so the window that matters is W_vis, miss to commit:
    // 2d + t_m + t_w = 135 ms for both trigger (F→P.auth commit) and refresh.
    let d = one_way_ms("same-region");
    let w_vis = 2.0 * d + mint_ms() + db_write_ms();
    for (k, w) in [
        ("trigger:sample", l1_ms("trigger", d)),
        ("trigger", None),
        ("refresh", None),
        ("refresh:3lo single_flight=off", l1_ms("refresh", d)),
    ] {
        let Some(m) = c.m("herd", k) else { continue };
        let Some(x) = m.acquisitions_before_first_token else {
            continue;
        };
        let lambda = HERD_RATE / 3600.0;
        let as_written = w.map_or(1.0, |w| 1.0 + lambda * w / 1000.0);
        let pred = w.map_or(1.0, |_| 1.0 + lambda * w_vis / 1000.0);
        let a = compare(pred, &x, None, true);
        let a0 = compare(as_written, &x, None, true);
        rows.push(vec![
            k.into(),
            iv(&x, 3),
            f(as_written, 3),
            agreement_cell(&a0),
            f(pred, 3),
            agreement_cell(&a),
            m.lockout_tenants.to_string(),
        ]);
    }
    let verdict = h18_rule(&H18Data {
        sample: get("trigger:sample"),
        single_flight: get("trigger"),
    });
    Section {
        id: "H18".into(),
        title: "Thundering herd".into(),
        claim: "Inference: the RFC's sample getToken has no lock, so concurrent misses each fire their own trigger.".into(),
        experiment: format!("Every tenant's cache is empty at t = 0 and demands arrive at {} per second per tenant. Metric: acquisitions (trigger calls or refresh grants) a tenant starts before its first token. analytic.md's C1 takes W as the whole acquisition latency (217 ms for trigger); the simulation shows the herd window closes earlier, when the token is committed at P (135 ms), because later demands hit the store. Both predictions are shown with their agreement. W_vis is a refit made after seeing the run, so its agreement is a consistency check of the explanation, not a test of a prediction; the verdict does not use either. With single-flight the partner re-reads the store when a lookup's read predates the commit of an acquisition that has just finished (double-checked locking); without that re-check, single-flight refresh started a second refresh for 1.8% of tenants in this experiment.", HERD_RATE / 3600.0),
        blocks: vec![Block::table(&["configuration", "acquisitions per miss [95% CI]", "C1 as written: 1 + λW", "agreement (as written)", "C1 with W_vis (miss → commit), refit after the run", "agreement (W_vis)", "tenants locked out"], rows)],
        rule: "Supported if the sample's acquisitions per miss are measurably above those of the default (single-flight) trigger, and the default's interval does not exceed 1.".into(),
        verdict,
        reproduce: vec![c.only("herd")],
        ..Default::default()
    }
}

fn h19(c: &Ctx) -> Section {
    let (Some(a), Some(b)) = (c.m("dup", "keep=max_exp"), c.m("dup", "keep=last_write")) else {
        return missing("H19", "Duplicates and retries", "dup points");
    };
    let rows = vec![
        vec![
            "keep=max_exp".into(),
            a.regressions.to_string(),
            iv(&a.gap_s.unwrap_or(Interval::point(f64::NAN)), 1),
        ],
        vec![
            "keep=last_write".into(),
            b.regressions.to_string(),
            iv(&b.gap_s.unwrap_or(Interval::point(f64::NAN)), 1),
        ],
    ];
    let verdict = h19_rule(&H19Data {
        max_exp_regressions: a.regressions,
        last_write_regressions: b.regressions,
    });
    Section {
        id: "H19".into(),
        title: "Duplicates and retries".into(),
        claim: "Scheduled triggers have \"a small chance of duplicated invocations\", and remote calls get 4 retries [F: st-module, essentials].".into(),
        experiment: "push every 15 min with dup_prob = 0.2 (raised from the default 0.001 to make reordering measurable) on the flaky-partner preset (heavy-tailed delays), 6 h; keep=max_exp vs keep=last_write. Metric: stored tokens replaced by one that expires earlier.".into(),
        blocks: vec![Block::table(&["partner store", "regressions (older T overwrote newer)", "—"], rows)],
        rule: "Depends-on (keep=max_exp) if max_exp shows no regression and last_write shows at least one; not evaluated if last_write shows none (no reordering at this n).".into(),
        verdict,
        reproduce: vec![c.only("dup")],
        ..Default::default()
    }
}

fn h20(c: &Ctx) -> Section {
    let mut rows = Vec::new();
    let mut max_and_bound = Vec::new();
    for rp in [0u32, 2] {
        for rf in [0u32, 4] {
            let key = format!("retries={rp}/platform_retries={rf}");
            let Some(m) = c.m("nested", &key) else {
                continue;
            };
            let bound = u64::from((rp + 1) * (rf + 1));
            max_and_bound.push((m.max_auth_deliveries_per_acquisition, bound));
            rows.push(vec![
                key,
                f(m.auth_deliveries as f64 / m.acquisitions.max(1) as f64, 2),
                m.max_auth_deliveries_per_acquisition.to_string(),
                bound.to_string(),
                m.orphan_mints.to_string(),
                iv(&cold_rate(m), 4),
                m.cold_latency_ms
                    .as_ref()
                    .map_or("—".into(), |q| f(q.p99.est, 0)),
            ]);
        }
    }
    let verdict = h20_rule(&H20Data { max_and_bound });
    Section {
        id: "H20".into(),
        title: "Nested retries".into(),
        claim: "The proprietary-flow post: \"when things fail we need to retry the request to get a token, and Atlassian need to retry sending the token to us a few times if things go wrong before responding\" [F: thread].".into(),
        experiment: "trigger, the partner's auth endpoint answering 5xx to half of the platform's calls; partner retries r_p ∈ {0, 2} × platform retries r_f ∈ {0, 4} (platform retries are an unverified parameter).".into(),
        blocks: vec![Block::table(&["configuration", "deliveries to P.auth per acquisition", "max per acquisition", "C2 worst case (r_p+1)(r_f+1)", "orphan mints", "cold success [95% Wilson]", "cold p99 ms"], rows)],
        rule: "Supported if nesting multiplies deliveries (some acquisition gets more than one) and never exceeds the C2 worst case.".into(),
        verdict,
        reproduce: vec![c.only("nested")],
        ..Default::default()
    }
}

fn h25(c: &Ctx) -> Section {
    let mut rows = Vec::new();
    let tenants = c.r.spec("herd", "trigger:sample").map_or(0, |s| s.tenants);
    let mut peaks = H25Data {
        trigger_peak: None,
        refresh_peak: None,
    };
    for k in ["trigger:sample", "trigger", "refresh"] {
        let w = l1_ms(k, one_way_ms("same-region")).unwrap_or(f64::NAN);
        let Some(m) = c.m("herd", k) else { continue };
        let pred = f64::from(tenants) * HERD_RATE / 3600.0 * w / 1000.0;
        rows.push(vec![
            k.into(),
            m.max_inflight_demands.to_string(),
            f(pred, 0),
            f(m.max_inflight_demands as f64 / pred, 2),
        ]);
        if k == "trigger" {
            peaks.trigger_peak = Some(m.max_inflight_demands);
        } else if k == "refresh" {
            peaks.refresh_peak = Some(m.max_inflight_demands);
        }
    }
    let verdict = h25_rule(&peaks);
    Section {
        id: "H25".into(),
        title: "Blocking chain".into(),
        claim: "The 2-cents post: the flow \"needs to work in a blocking IO fashion\" [F: thread].".into(),
        experiment: format!("A miss storm: {tenants} tenants miss at t = 0 with 10 demands/s each. Metric: the peak number of demands held waiting at P."),
        blocks: vec![
            Block::table(&["configuration", "peak demands held at P", "C3: N·λ·W (mean in flight during the miss)", "peak / C3 mean"], rows),
            Block::Text { text: "C3 (Little's law) predicts the mean in flight; the table shows the peak, which for Poisson arrivals lies above the mean, so the ratio is shown and no agreement is judged: the verdict compares the two mechanisms' peaks under the same storm, not either with C3.".into() },
        ],
        rule: "Supported if the default trigger holds more demands at its peak than the default refresh under the same storm (its W is longer).".into(),
        verdict,
        reproduce: vec![c.only("herd")],
        ..Default::default()
    }
}

fn lockout_data(c: &Ctx) -> (Vec<Vec<String>>, Vec<LockoutPoint>) {
    let mut rows = Vec::new();
    let mut pts = Vec::new();
    for grace in ["0", "30s"] {
        for p in RESPONSE_LOSS_GRID {
            let Some(m) = c.m("lockout", &format!("grace={grace}/p={p}")) else {
                continue;
            };
            let q = wilson(m.lockout_tenants, m.refreshes_before_lockout);
            // Only responses AS→P are lost. Without grace, the retry presents the superseded
            // RT: one lost response locks out (K1 with no request loss: q = p). With a grace
            // window every attempt inside it must lose its response: p^(retries+1).
            let pred = if grace == "0" { p } else { p.powi(3) };
            let a = compare(pred, &q, Some(m.refreshes_before_lockout), true);
            rows.push(vec![
                format!("grace_window={grace}"),
                format!("{p}"),
                m.refreshes_before_lockout.to_string(),
                m.lockout_tenants.to_string(),
                iv(&q, 5),
                f(pred, 5),
                agreement_cell(&a),
            ]);
            pts.push(LockoutPoint {
                grace: grace.to_string(),
                loss: p,
                hazard: q,
            });
        }
    }
    (rows, pts)
}

fn h_lockout(c: &Ctx) -> Section {
    let (rows, pts) = lockout_data(c);
    let verdict = lockout_rule(&LockoutData { points: pts });
    Section {
        id: "K".into(),
        title: "Refresh-token rotation lockouts (analytic K1–K2)".into(),
        claim: "Not a thread claim: the cost partners would pay for the refresh-token alternative they proposed, if it rotates with reuse detection (Atlassian 3LO style) and no grace window.".into(),
        experiment: "refresh with TTL 10 min (to make refreshes frequent), 4 h, responses from the AS to P lost with probability p; grace window 0 vs 30 s; the partner's default retries (2). Metric: the per-refresh lockout hazard, tenants locked out over refresh attempts made before each tenant's lockout. Only responses are lost here (requests arrive), so analytic.md's K1 q = p(1−p) with loss both ways becomes q = p, and K2 with k attempts inside the grace window becomes p^k (every attempt's response lost); the prediction column uses these forms.".into(),
        blocks: vec![
            Block::table(&["configuration", "response loss p", "refreshes", "tenants locked out", "per-refresh hazard [95% Wilson]", "K1/K2 prediction", "agreement"], rows),
            Block::Figure {
                name: "lockouts-vs-loss".into(),
                caption: "Per-refresh lockout hazard against response loss, with and without a grace window; dashed: K1/K2.".into(),
            },
        ],
        rule: "Depends-on (the grace window) if the hazard is measurably above 0 at every p without a grace window and measurably lower with 30 s at every p.".into(),
        verdict,
        reproduce: vec![c.only("lockout")],
        ..Default::default()
    }
}

fn load_section(c: &Ctx) -> Section {
    let mut rows = Vec::new();
    let mut pushed_idle_mints = None;
    let mut others_idle_mints = Vec::new();
    for m in all_refs().iter().filter(|r| !r.contains(':')) {
        for rate in LOAD_RATES {
            let Some(x) = c.m("load", &format!("{m}/rate={rate}")) else {
                continue;
            };
            let spec = c.r.spec("load", &format!("{m}/rate={rate}"));
            let dur_h = spec.map_or(2.0, |s| s.duration_s / 3600.0);
            let pred = if pushed_only(m) {
                // One mint per push interval, whatever the demand.
                3600.0 / switch_default_s(m, "interval")
            } else if self_signed(m) {
                0.0
            } else {
                let active = 1.0 - (-rate * dur_h).exp();
                let per = (dur_h * 3600.0 / (ttl_s() - expiry_margin_s())).ceil();
                active * per / dur_h
            };
            if rate == 0.0 {
                if pushed_only(m) {
                    pushed_idle_mints = Some(x.platform_mints_per_tenant_hour);
                } else {
                    others_idle_mints.push(x.platform_mints_per_tenant_hour);
                }
            }
            rows.push(vec![
                m.clone(),
                f(rate, 0),
                f(x.platform_requests_per_tenant_hour, 3),
                f(x.platform_mints_per_tenant_hour, 3),
                f(pred, 3),
            ]);
        }
    }
    let verdict = load_rule(&LoadData {
        pushed_idle_mints,
        others_idle_mints,
    });
    Section {
        id: "C4".into(),
        title: "Platform load: push pays for idle tenants (analytic C4)".into(),
        claim: "Inference from the designs: push mints on a schedule whether or not a tenant is used; on-demand mechanisms mint only for active tenants.".into(),
        experiment: "Every mechanism, 2 h, demand rates 0 (idle), 1 and 60 per tenant-hour, no faults. Counts of platform-side requests (to F or the AS) and of access-token mints, per tenant-hour. In a 2 h run an on-demand tenant's first mint is most of its mints, so the 2 h figures are (active tenants) × ⌈run / (L − s)⌉ / run, an artefact of the run length; C4's steady rate, (active tenants)/(L − s), is set beside the steady-state runs' counts (section SS) in the second table.".into(),
        blocks: vec![
            Block::table(&["mechanism", "demands/tenant-h", "platform requests/tenant-h (2 h)", "mints/tenant-h (2 h)", "2 h prediction: first mints / run length"], rows),
            Block::table(&["mechanism", "platform requests/tenant-h (steady)", "mints/tenant-h (steady)", "C4 steady: 1/T (push) or 1/(L − s) (on demand, every tenant active)"], steady_load_rows(c)),
        ],
        rule: "Supported if idle push tenants cost mints (> 0) while no on-demand mechanism mints for an idle tenant.".into(),
        verdict,
        reproduce: vec![c.repro("load", "push/rate=0"), c.repro("load", "trigger/rate=0")],
        ..Default::default()
    }
}

/// C4 in steady state, from the steady-state runs at 60 demands/tenant-hour.
fn steady_load_rows(c: &Ctx) -> Vec<Vec<String>> {
    all_refs()
        .iter()
        .filter(|m| !m.contains(':'))
        .filter_map(|m| {
            let st = c.m("steady", &format!("{m}/p=0"))?.steady.as_ref()?;
            let pred = if pushed_only(m) {
                3600.0 / switch_default_s(m, "interval")
            } else if self_signed(m) {
                0.0
            } else {
                3600.0 / (ttl_s() - expiry_margin_s())
            };
            Some(vec![
                m.clone(),
                f(st.platform_requests_per_tenant_hour, 3),
                f(st.platform_mints_per_tenant_hour, 3),
                f(pred, 3),
            ])
        })
        .collect()
}

/// Section PROV's share of tenants never holding a token when installed under 5% loss, per
/// A point's failures by cause, the causes that occurred only ("timeout 3, rejected 1").
fn failures_cell(failed: &std::collections::BTreeMap<String, u64>) -> String {
    failed
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// token-using mechanism (empty when PROV did not run).
fn provision_lost_at_5pct(c: &Ctx) -> Vec<(String, f64)> {
    on_demand()
        .into_iter()
        .chain(super::experiments::pushed_only())
        .filter(|m| !self_signed(m))
        .filter_map(|m| {
            let key = format!("{m}/p=0.05");
            let x = c.m("provision", &key)?;
            let tenants =
                c.r.spec("provision", &key)
                    .map_or(0, |s| u64::from(s.tenants));
            Some((m.to_string(), wilson(x.tenants_without_token, tenants).est))
        })
        .collect()
}

fn provisioning(c: &Ctx) -> Section {
    let mut rows = Vec::new();
    let mechs: Vec<&str> = on_demand()
        .into_iter()
        .chain(super::experiments::pushed_only())
        .collect();
    for m in &mechs {
        for p in PROVISION_LOSS {
            let Some(x) = c.m("provision", &format!("{m}/p={p}")) else {
                continue;
            };
            let tenants =
                c.r.spec("provision", &format!("{m}/p={p}"))
                    .map_or(0, |s| u64::from(s.tenants));
            let uses_tokens = !self_signed(m);
            let lost = wilson(x.tenants_without_token, tenants);
            rows.push(vec![
                m.to_string(),
                format!("{p}"),
                if uses_tokens {
                    iv(&lost, 3)
                } else {
                    "— (signs locally, no token)".into()
                },
                iv(&wilson(x.succeeded, x.demands - x.unknown), 3),
                failures_cell(&x.failed),
            ]);
        }
    }
    let verdict = provisioning_rule(&ProvisioningData {
        lost_at_5pct: provision_lost_at_5pct(c),
    });
    Section {
        id: "PROV".into(),
        title: "Provisioning under faults".into(),
        claim: "Not a thread claim: what each mechanism's install step (URL or secret delivery, the UPM consent and code exchange) costs when the network is lossy.".into(),
        experiment: format!("Every tenant installed during the run (10 ms apart from t = 0) with independent loss on every inter-party message; {} h for every mechanism at 60 demands/tenant-hour. Metric: tenants that never held a token, and demand success. F retries each lifecycle event (the install delivery carrying the URL, RT or secret) on timeout or 5xx as workload.md §8 gives: `event_retries` 4, `event_timeout` 5 s, `event_backoff` 1 s doubling (the backoff unverified). What is still lost is the admin's own side: the install click (browser → UPM) is lost with probability p and the model's admin does not click again, so about p of the tenants of every mechanism are never installed; upm-oauth's install also needs the browser legs of consent and the partner's code exchange, each lossy and not retried.", f(c.r.spec("provision", "trigger/p=0").map_or(f64::NAN, |s| s.duration_s / 3600.0), 0)),
        blocks: vec![Block::table(&["mechanism", "loss p", "tenants never holding a token [95% Wilson]", "demand success [95% Wilson]", "failures"], rows)],
        rule: "Reported as measured; depends-on names the mechanism whose install loses the most tenants at 5% loss.".into(),
        verdict,
        reproduce: vec![c.only("provision")],
        ..Default::default()
    }
}

fn on_loopback(id: &str, title: &str, claim: &str, experiment: &str) -> Section {
    Section {
        id: id.into(),
        title: title.into(),
        claim: claim.into(),
        experiment: experiment.into(),
        blocks: vec![Block::Text {
            text: "This hypothesis is tested with a real OAuth client over real HTTP; its data and verdict are in the loopback section at the end, kept apart because wall-clock runs are not reproducible byte for byte.".into(),
        }],
        rule: "See the loopback section.".into(),
        verdict: Verdict::OnLoopback,
        reproduce: vec![],
        ..Default::default()
    }
}

fn not_landed(id: &str, title: &str, claim: &str, experiment: &str, needs: &str) -> Section {
    Section {
        id: id.into(),
        title: title.into(),
        claim: claim.into(),
        experiment: experiment.into(),
        blocks: vec![Block::Text {
            text: format!(
                "This section's source has not landed yet: {needs}. The verdict is left open rather than guessed."
            ),
        }],
        rule: "—".into(),
        verdict: Verdict::NotEvaluated(needs.into()),
        reproduce: vec![],
        ..Default::default()
    }
}

const H8_COLUMNS: [&str; 4] = [
    "cost of a miss (cold p50; a push miss fails)",
    "steady-state success at 5% loss",
    "availability per tenant-month",
    "mints per idle tenant-hour",
];

/// H8's scores for one mechanism (higher is better; costs negated).
fn h8_candidate(c: &Ctx, m: &str) -> Candidate {
    let events = default_cold_events();
    Candidate {
        mechanism: m.to_string(),
        scores: vec![
            latency_row(c, m, "same-region").map(|x| -x.0.est),
            availability(c.r, &format!("{m}/p=0.05"), events).map(|a| a.steady.est),
            availability(c.r, &format!("{m}/p=0"), events).map(|a| a.month.est),
            c.m("load", &format!("{m}/rate=0"))
                .map(|x| -x.platform_mints_per_tenant_hour),
        ],
    }
}

fn score_cells(cand: &Candidate, negated: &[bool], digits: &[usize]) -> Vec<String> {
    let mut row = vec![cand.mechanism.clone()];
    for ((x, neg), d) in cand.scores.iter().zip(negated).zip(digits) {
        row.push(x.map_or("— (worst)".into(), |v| f(if *neg { -v } else { v }, *d)));
    }
    row
}

/// The Forge options: every default profile but the self-signed ones (Connect's model, shown
/// as a reference).
fn forge_options() -> Vec<String> {
    all_refs()
        .into_iter()
        .filter(|r| !r.contains(':') && !self_signed(r))
        .collect()
}

/// H8's verdict with or without the self-signed reference among the candidates.
pub fn h8_verdict(r: &Results, with_reference: bool) -> Verdict {
    let c = Ctx {
        r,
        seed: r.config.seed,
    };
    h8_rule(&h8_data(&c, with_reference))
}

/// H27's verdict at `events` cold starts per tenant-month.
pub fn h27_verdict(r: &Results, sec: &super::security::SecurityData, events: f64) -> Verdict {
    let c = Ctx {
        r,
        seed: r.config.seed,
    };
    let mut d = h27_data(&c, sec);
    for x in d.long_lived.iter_mut().chain(d.push.iter_mut()) {
        x.scores[0] = availability(r, &format!("{}/p=0", x.mechanism), events).map(|a| a.month.est);
    }
    h27_rule(&d)
}

fn h8_data(c: &Ctx, with_reference: bool) -> H8Data {
    let mut names = forge_options();
    if with_reference {
        names.extend(
            all_refs()
                .into_iter()
                .filter(|r| !r.contains(':') && self_signed(r)),
        );
    }
    H8Data {
        columns: H8_COLUMNS.iter().map(|s| s.to_string()).collect(),
        candidates: names.iter().map(|m| h8_candidate(c, m)).collect(),
    }
}

fn h8(c: &Ctx) -> Section {
    let data = h8_data(c, false);
    let negated = [true, false, false, true];
    let digits = [0, 4, 5, 3];
    let mut rows: Vec<Vec<String>> = data
        .candidates
        .iter()
        .map(|x| score_cells(x, &negated, &digits))
        .collect();
    for r in all_refs()
        .iter()
        .filter(|r| !r.contains(':') && self_signed(r))
    {
        let mut row = score_cells(&h8_candidate(c, r), &negated, &digits);
        row[0] = format!(
            "{r} (reference: not a Forge option; signs locally, its user-token path is not modelled)"
        );
        rows.push(row);
    }
    let mut headers = vec!["mechanism"];
    headers.extend(H8_COLUMNS);
    let verdict = h8_rule(&data);
    Section {
        id: "H8".into(),
        title: "The trade-off question".into(),
        claim: "The trade-off post: \"If we go with this more proprietary flow, what does this do to your app development efforts? How does it affect … performance, reliability, and security?\" [F: thread].".into(),
        experiment: "The Forge options (every default profile but the self-signed connect-jwt, shown as a reference) on the operational columns: the cost of a miss (cold p50, E-lat; a pushed-only miss fails fast and counts as the worst), steady-state success at 5% loss and availability per tenant-month (section SS), and mints per idle tenant-hour (C4). Security columns are H27's and E-leak's.".into(),
        blocks: vec![Block::table(&headers, rows)],
        rule: "Depends-on (the weighting) unless one Forge option is at least as good as every other on every column (a missing value counts as the worst); then depends-on the security columns.".into(),
        verdict,
        reproduce: vec![c.only("steady"), c.only("latency")],
        ..Default::default()
    }
}

const H27_COLUMNS: [&str; 3] = [
    "availability per tenant-month",
    "items > 1 day at P per installation",
    "W of the root credential h (≥: reached the horizon)",
];

fn h27_data(c: &Ctx, sec: &super::security::SecurityData) -> H27Data {
    let cand = |m: &str| Candidate {
        mechanism: m.to_string(),
        scores: vec![
            availability(c.r, &format!("{m}/p=0"), default_cold_events()).map(|a| a.month.est),
            sec.long_lived_per_installation(m).map(|x| -x),
            sec.root_exposure(m).map(|a| -a.w_hours.unwrap_or(0.0)),
        ],
    };
    H27Data {
        columns: H27_COLUMNS.iter().map(|s| s.to_string()).collect(),
        long_lived: ["refresh", "tenant-secret", "upm-oauth"]
            .iter()
            .map(|m| cand(m))
            .collect(),
        push: Some(cand("push")),
    }
}

fn h27(c: &Ctx, sec: Option<&super::security::SecurityData>) -> Section {
    let title = "Outcome: long-lived credentials plus synchronous fetch";
    let Some(sec) = sec else {
        return missing("H27", title, "the security runs");
    };
    let data = h27_data(c, sec);
    let mut rows: Vec<Vec<String>> = data
        .long_lived
        .iter()
        .chain(data.push.iter())
        .map(|x| score_cells(x, &[false, true, true], &[5, 0, 2]))
        .collect();
    for (row, m) in rows
        .iter_mut()
        .zip(["refresh", "tenant-secret", "upm-oauth", "push"])
    {
        if sec.root_exposure(m).is_some_and(|a| a.w_at_least_horizon) {
            row[3] = format!("≥ {}", row[3]);
        }
    }
    let mut headers = vec!["mechanism"];
    headers.extend(H27_COLUMNS);
    Section {
        id: "H27".into(),
        title: title.into(),
        claim: "Atlassian's closing post: there is \"a very strong preference for long-lived credentials that you can use synchronously to fetch new access tokens … as close as possible to standard OAuth\" [F: thread].".into(),
        experiment: "hypotheses.md H27's comparison: refresh, tenant-secret and upm-oauth against push on availability when a token is missing (availability per tenant-month with cold starts, section SS), standing secrets (items living over a day at P, E-inv) and W of the root credential (E-leak's exposure runs, no revocation).".into(),
        blocks: vec![Block::table(&headers, rows)],
        rule: "Supported if some long-lived-credential design is at least as good as push on every column; refuted if push is at least as good as each of them; depends-on (a trade-off) otherwise.".into(),
        verdict: h27_rule(&data),
        reproduce: vec![c.only("steady")],
        ..Default::default()
    }
}

/// One partner mistake on one mechanism: what it cost in the matrix and in availability.
fn mistake_table(c: &Ctx, sec: &super::security::SecurityData) -> (Vec<Vec<String>>, MistakeData) {
    use tokenlab_properties::VerdictKind;
    let mut rows = Vec::new();
    let mut per_mechanism = Vec::new();
    let success = |x: &Metrics| x.succeeded as f64 / (x.demands - x.unknown).max(1) as f64;
    for m in tokenlab_models::mechanisms::registry() {
        let m = m.id();
        let mistakes = partner_mistakes(m);
        if mistakes.is_empty() {
            continue;
        }
        let mut costs = Vec::new();
        for (label, switch) in mistakes {
            let with_switch: Vec<_> = sec
                .matrix
                .iter()
                .chain(&sec.mistake_rows)
                .filter(|r| r.mechanism == m)
                .filter(|r| {
                    r.variant
                        .as_deref()
                        .is_some_and(|v| v.split(',').any(|s| s == switch))
                })
                .collect();
            // A violation counts against the mistake only where the default profile holds:
            // global-secret's P5 and P9 are violated without any mistake.
            let already = |r: &&&tokenlab_properties::suite::MatrixRow| {
                sec.verdict(m, None, &r.property) == Some(VerdictKind::Violated)
            };
            let broken: Vec<String> = with_switch
                .iter()
                .filter(|r| r.verdict == VerdictKind::Violated && !already(r))
                .map(|r| {
                    format!(
                        "{} violated ({})",
                        r.property,
                        r.variant.as_deref().unwrap_or("")
                    )
                })
                .collect();
            let as_before: Vec<String> = with_switch
                .iter()
                .filter(|r| r.verdict == VerdictKind::Violated && already(r))
                .map(|r| format!("{} violated, as without the mistake", r.property))
                .collect();
            let security = if !broken.is_empty() {
                broken.join("; ")
            } else if !as_before.is_empty() {
                as_before.join("; ")
            } else if with_switch.is_empty() {
                "no property judges it (availability only)".into()
            } else {
                let judged: Vec<String> = with_switch
                    .iter()
                    .map(|r| format!("{} {}", r.property, r.verdict.name()))
                    .collect();
                judged.join(", ")
            };
            let base = c.m("mistakes", &format!("{m}/none"));
            let x = c.m("mistakes", &format!("{m}/{switch}"));
            let mut costly = false;
            let mut avail = match (base, x) {
                (Some(b), Some(x)) => {
                    let drop = success(b) - success(x);
                    costly |=
                        drop >= 0.01 || x.lockout_tenants > 0 || x.regressions > b.regressions;
                    let mut t = format!("success {:.4} → {:.4}", success(b), success(x));
                    if x.lockout_tenants > 0 {
                        t.push_str(&format!(", {} tenants locked out", x.lockout_tenants));
                    }
                    if x.regressions > b.regressions {
                        t.push_str(&format!(", {} regressions", x.regressions));
                    }
                    t
                }
                _ => "—".into(),
            };
            if switch == "single_flight=off" {
                let hb = c.m("mistakes", &format!("{m}/herd/none"));
                let hx = c.m("mistakes", &format!("{m}/herd/single_flight=off"));
                if let (Some(hb), Some(hx)) = (hb, hx) {
                    let a = |x: &Metrics| x.acquisitions_before_first_token.as_ref().map(|i| i.est);
                    if let (Some(ab), Some(ax)) = (a(hb), a(hx)) {
                        costly |= ax >= 1.5 * ab || hx.lockout_tenants > 0;
                        avail.push_str(&format!(
                            "; herd: {ab:.2} → {ax:.2} acquisitions per tenant before its first token"
                        ));
                        if hx.lockout_tenants > 0 {
                            avail.push_str(&format!(", {} tenants locked out", hx.lockout_tenants));
                        }
                    }
                }
            }
            let cost = if !broken.is_empty() {
                MistakeCost::Security
            } else if costly {
                MistakeCost::Availability
            } else {
                MistakeCost::NoneMeasured
            };
            costs.push(cost);
            rows.push(vec![
                m.to_string(),
                label.to_string(),
                format!("`{switch}`"),
                security,
                avail,
                match cost {
                    MistakeCost::Security => "security",
                    MistakeCost::Availability => "availability",
                    MistakeCost::NoneMeasured => "none measured",
                }
                .into(),
            ]);
        }
        per_mechanism.push((m.to_string(), costs));
    }
    let suite_caught_every_mutant = sec
        .matrix
        .iter()
        .filter(|r| r.variant.is_some() && r.expected == VerdictKind::Violated)
        .all(|r| r.verdict == VerdictKind::Violated);
    (
        rows,
        MistakeData {
            per_mechanism,
            suite_caught_every_mutant,
        },
    )
}

const MISTAKE_HEADERS: [&str; 6] = [
    "mechanism",
    "partner mistake",
    "switch",
    "security cost (the matrix's rows with it, and a row per property it can break where the matrix has none)",
    "availability cost (its run against the same run without it)",
    "cost",
];

fn mistakes_experiment() -> String {
    format!(
        "E-mut as attack surface, not bug likelihood: every mistake of hypotheses.md H6's list that applies to a mechanism (its own switches; the shared ones where the partner holds a token), scored by consequence. Security cost: the property matrix's rows with the switch (E-sec), and where the matrix has none, one row per property the mistake can break (wrong tenant key P1; no FIT check P7, P8; no exp check P5; no lock P9; no state P3, P6; keeping the last write is judged by availability only), searched like a matrix row. Availability cost: one run with the mistake against the same seed without it, {MISTAKE_HOURS} h (past one TTL) at {MISTAKE_RATE} demands per tenant-hour with {}% loss; for \"no lock\" also the herd's workload (H18: 10 demands per second per tenant from an empty cache).",
        MISTAKE_LOSS * 100.0
    )
}

/// The partner-mistake table and its scores, computed once for H6 and H24.
type Mistakes = (Vec<Vec<String>>, MistakeData);

fn h6(c: &Ctx, mistakes: Option<&Mistakes>) -> Section {
    let title = "Error-prone";
    let Some((rows, data)) = mistakes else {
        return missing("H6", title, "the security runs");
    };
    let summary: Vec<Vec<String>> = data
        .per_mechanism
        .iter()
        .map(|(m, v)| {
            let n = |k| v.iter().filter(|c| **c == k).count();
            vec![
                m.clone(),
                v.len().to_string(),
                n(MistakeCost::Security).to_string(),
                n(MistakeCost::Availability).to_string(),
                n(MistakeCost::NoneMeasured).to_string(),
            ]
        })
        .collect();
    Section {
        id: "H6".into(),
        title: title.into(),
        claim: "The tenant-isolation post: it is \"overcomplicating engineering efforts (making it error prone)\"; the glue-code post: \"every vendor's implementation can have bugs\" [F: thread].".into(),
        experiment: mistakes_experiment(),
        blocks: vec![
            Block::table(
                &["mechanism", "applicable mistakes", "security cost", "availability cost", "none measured"],
                summary,
            ),
            Block::table(&MISTAKE_HEADERS, rows.clone()),
        ],
        rule: "Not evaluated if the suite misses a planted mutant. Supported if trigger leaves the partner more mistakes with a security cost than every standard AS-based design (refresh, tenant-secret, global-secret); refuted if one of them leaves at least as many, and at least as many costly ones overall; depends-on otherwise. A mistake \"not in the matrix\" is untested, not shown harmless, and counts as no security cost (for example `fit_check=off` on the lifecycle endpoint that delivers an RT or a secret at install has no attacker row yet), so the comparison favours the designs with fewer rows.".into(),
        verdict: h6_rule(data),
        reproduce: vec![c.only("mistakes")],
        ..Default::default()
    }
}

fn h24(
    c: &Ctx,
    sec: Option<&super::security::SecurityData>,
    mistakes: Option<&Mistakes>,
) -> Section {
    let title = "\"Not at all confident … more secure system overall\"";
    let (Some(sec), Some((rows, data))) = (sec, mistakes) else {
        return missing("H24", title, "the security runs");
    };
    let three = ["trigger", "refresh", "tenant-secret"];
    let tenant_hours: Vec<(String, Option<f64>)> = three
        .iter()
        .map(|m| {
            (
                m.to_string(),
                sec.root_exposure(m).and_then(|a| a.tenant_hours),
            )
        })
        .collect();
    Section {
        id: "H24".into(),
        title: title.into(),
        claim: "The 2-cents post [F: thread].".into(),
        experiment: format!(
            "{} Compared for trigger, refresh and tenant-secret, beside B × W (tenant-hours) of each root credential from E-leak's exposure runs.",
            mistakes_experiment()
        ),
        blocks: vec![Block::table(
            &MISTAKE_HEADERS,
            rows.iter()
                .filter(|r| three.contains(&r[0].as_str()))
                .cloned()
                .collect(),
        )],
        rule: "Reported as measured (hypotheses.md expects no closed form): depends-on names, per design, the mistakes with a security cost and the tenant-hours one stolen root credential bought.".into(),
        verdict: h24_rule(&H24Data {
            mistakes: Some(data.clone()),
            tenant_hours,
        }),
        reproduce: vec![c.only("mistakes")],
        ..Default::default()
    }
}

/// OUT: one issuance outage grid for every mechanism (issue 19: correlated outages were
/// applied to push only).
fn outage_section(c: &Ctx) -> Section {
    let mut rows = Vec::new();
    let mut at_2h: Vec<(String, f64)> = Vec::new();
    for m in tokenlab_models::mechanisms::registry() {
        let m = m.id();
        for d in OUTAGE_H {
            let key = format!("{m}/outage={d}h");
            let Some(x) = c.m("outage", &key) else {
                continue;
            };
            let Some(st) = x.steady.as_ref() else {
                continue;
            };
            let succ = wilson(st.succeeded, st.demands - st.unknown);
            if d == 2.0 {
                at_2h.push((m.to_string(), succ.est));
            }
            rows.push(vec![
                m.to_string(),
                f(d, 1),
                st.demands.to_string(),
                iv(&succ, 4),
                failures_cell(&st.failed),
                if self_signed(m) {
                    "— (holds no token)".into()
                } else {
                    x.gap_s
                        .as_ref()
                        .map_or("—".into(), |g| iv(&scale(g, 1.0 / 60.0), 1))
                },
                if self_signed(m) {
                    "—".into()
                } else {
                    x.gap_tenants.to_string()
                },
            ]);
        }
    }
    at_2h.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let kept: Vec<&str> = at_2h
        .iter()
        .filter(|(_, s)| *s >= 0.99)
        .map(|(m, _)| m.as_str())
        .collect();
    let verdict = if at_2h.is_empty() {
        Verdict::NotEvaluated("no outage runs".into())
    } else {
        Verdict::DependsOn(format!(
            "how long the platform is unreachable: through a 2 h issuance outage {} keep at least 99% of demands served (cached tokens outlive it); {}",
            if kept.is_empty() {
                "no mechanism does".to_string()
            } else {
                kept.join(", ")
            },
            at_2h
                .iter()
                .filter(|(_, s)| *s < 0.99)
                .map(|(m, s)| format!("{m} {s:.3}"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
    };
    Section {
        id: "OUT".into(),
        title: "The same issuance outage for every mechanism".into(),
        claim: "Not a thread claim: the thread's designs differ in when the partner needs the platform, so an outage of the platform's issuance (F and the AS unreachable from P, and P from them; the product API up) costs each differently. The push grid (H10) runs this outage for push alone.".into(),
        experiment: format!("Every mechanism at its defaults, 6 demands per tenant-hour; the partition starts at t = {OUTAGE_AT_H} h, long after every cache is warm, and lasts D hours; metrics from the outage's start to 2 h after its end: demand success [95% Wilson], failures, and minutes per tenant without a valid token in P's store (mean over tenants [95%]); a self-signing design holds no token, so its gap is not defined."),
        blocks: vec![Block::table(
            &["mechanism", "outage h", "demands", "success from the outage start", "failures", "minutes without a valid token per tenant", "tenants with a gap"],
            rows,
        )],
        rule: "Reported as measured: depends-on names the mechanisms that keep at least 99% of demands served through a 2 h outage, and the success of the others.".into(),
        verdict,
        reproduce: vec![c.only("outage")],
        ..Default::default()
    }
}

/// Every section, in the order of `hypotheses.md`, plus the analytic cross-check sections.
pub fn sections(r: &Results, sec: Option<&super::security::SecurityData>) -> Vec<Section> {
    let c = Ctx {
        r,
        seed: r.config.seed,
    };
    let mistakes = sec.map(|s| mistake_table(&c, s));
    let sec_needs = "the attacker and the property checkers (issue 3)";
    let mut v = vec![
        h1(&c),
        h2(&c),
        super::breadth::h3(c.seed),
        h4(&c),
        not_landed(
            "H5",
            "Isolation \"not an industry best practice\"",
            "The tenant-isolation post: \"It is very common for OAuth apps to have access to all accounts using the same client_id and client_secret\" [F: thread].",
            "E-sec with A5, A1, A3 on global-secret vs tenant-secret, then A2 and A8.",
            sec_needs,
        ),
        h6(&c, mistakes.as_ref()),
        on_loopback(
            "H7",
            "Standard OAuth and libraries",
            "\"with a standard flow we'd just plug in a library and never think about it again\" [F: thread].",
            "E-conf: a stock RFC 6749 client against each mechanism.",
        ),
        h8(&c),
        not_landed(
            "H9",
            "Unrotated URL as a backdoor",
            "\"I'm uncomfortable with the unrotated, persistent authTriggerURL … a persistent 'backdoor'\" [F: thread].",
            "E-sec with A5(URL), continuing A2, url_rotation, token_return, url_auth.",
            sec_needs,
        ),
        h10(&c),
        h11(&c),
        super::principals::h12(c.seed),
        h13(&c),
        not_landed(
            "H14",
            "No long-lived partner credentials",
            "The RFC's goal; the 2-cents post concedes it does \"remove the need to store any long-term credentials\" [F: rfc34, thread].",
            "E-inv: items with lifetime > 1 day stored at P.",
            sec_needs,
        ),
        not_landed(
            "H15",
            "Connect as the known alternative",
            "\"existing connect capabilities will be missed and replaced by an inferior solution from a vendors perspective\" [F: thread].",
            "connect-jwt vs the rest on hops, on-demand ability, B and W.",
            sec_needs,
        ),
        not_landed(
            "H16",
            "UPM-authorized OAuth",
            "remie: \"adjusting the UPM to implement the normal OAuth authorization flow\" [F: thread].",
            "E-sec on upm-oauth: revoke while installed, A6 negatives, cross-tenant RT.",
            sec_needs,
        ),
        h17(&c),
        h18(&c),
        h19(&c),
        h20(&c),
        not_landed(
            "H21",
            "Push has \"the exact same effect … security\"",
            "The 2-cents post [F: thread].",
            "E-sec and E-inv, trigger vs push.",
            sec_needs,
        ),
        on_loopback(
            "H22",
            "A custom grant type",
            "@AdamMoore: \"we will need to create a custom grant type … I'm not sure how well it will work with standard OAuth libraries out-of-the-box\" [F: thread].",
            "E-conf on refresh with an RT provisioned at install.",
        ),
        super::breadth::h23(c.seed),
        h24(&c, sec, mistakes.as_ref()),
        h25(&c),
        not_landed(
            "H26",
            "Credentials per (app, clientKey)",
            "marc: \"Why not require separate OAuth client credentials for each combination of app and clientKey?\" [F: thread].",
            "tenant-secret on P1, E-conf and B.",
            sec_needs,
        ),
        h27(&c, sec),
        h_lockout(&c),
        load_section(&c),
        steady_section(&c),
        outage_section(&c),
        provisioning(&c),
        super::key_rollover::section(c.seed),
        super::quota::a9(c.seed, r.config.quick || r.config.tiny),
        super::migration::section(c.seed),
    ];
    if let Some(d) = sec {
        let mut extra = Vec::new();
        for s in super::security::sections(d, r.config.seed, &provision_lost_at_5pct(&c)) {
            match v.iter_mut().find(|x| x.id == s.id) {
                Some(slot) => *slot = s,
                None => extra.push(s),
            }
        }
        v.extend(extra);
    }
    for s in &mut v {
        s.reproduce.retain(|x| !x.is_empty());
    }
    super::sensitivity::annotate(&mut v, r, sec);
    v
}

/// The spec's longer push intervals (1d, 1w) are not run: with an interval beyond the TTL the
/// pushed token is dead for part of every interval, so the steady state is the analytic
/// share TTL/interval (a history of a week at this rate would not fit the report's memory).
fn push_long_intervals_note() -> String {
    let ttl = ttl_s();
    let share = |interval_s: f64| (ttl / interval_s).min(1.0);
    format!(
        "Not run: the spec's push intervals 1d and 1w (mechanisms.md). With an interval longer than the TTL ({:.0} h) a pushed-only partner holds a live token for TTL/interval of each interval, so its steady-state success is at most {:.3} (1d) and {:.3} (1w) at {:.3} and {:.4} mints per tenant-hour: an interval beyond the TTL trades availability for mints one for one (analytic, by construction; a week's history at this rate would not fit the report's memory).",
        ttl / 3600.0,
        share(86_400.0),
        share(7.0 * 86_400.0),
        1.0 / 24.0,
        1.0 / 168.0
    )
}
