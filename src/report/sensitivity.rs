//! Items 4 and 5 of issue 19: every section's evidence kind ("measured" or "model-consistency
//! check") and the assumption that would flip its verdict, with the value at which it flips.
//! The kind comes from `rules::evidence_kind_rule` over the section's compared quantities or
//! the model identity that fixes it; a flip comes from the section's own one-parameter sweep
//! (the same rule applied at each value) where one exists, from its formula where the formula
//! gives the threshold, and is null with a reason otherwise. Numbers here are computed from the
//! results and the registries, never typed.

use super::analysis::{availability, h8_verdict, h27_verdict, tail_p99};
use super::analytic::{
    CACHE_LOSSES_PER_TENANT_MONTH, COLD_EVENTS_SWEEP, INSTALLS_PER_TENANT_MONTH, hops, l1_ms,
    one_way_ms, pushed_only, self_signed,
};
use super::experiments::{LAG_GRID_MS, LOSS_GRID, OUTAGE_H, RESPONSE_LOSS_GRID, all_refs};
use super::results::Results;
use super::rules::*;
use super::section::{EvidenceKind, Flip, Section, SweepPoint, Verdict};
use super::security::SecurityData;
use super::stats::{Interval, compare, wilson};

/// The AS-based mechanisms H1 and H2 set against trigger (registry ids).
const AS_BASED: [&str; 4] = ["refresh", "upm-oauth", "tenant-secret", "global-secret"];

fn flip(assumption: String, value: Option<String>, basis: &'static str) -> Option<Flip> {
    Some(Flip {
        assumption,
        value,
        basis,
        sweep: Vec::new(),
    })
}

fn point(value: String, v: &Verdict) -> SweepPoint {
    SweepPoint {
        value,
        verdict: v.kind().into(),
    }
}

fn f(v: f64, d: usize) -> String {
    format!("{v:.d$}")
}

/// Every sweep value at which the rule gives another verdict than the section's, with that
/// verdict (None: the verdict holds over the whole sweep).
fn differing(v: &Verdict, sweep: &[SweepPoint]) -> Option<String> {
    flip_in_sweep(v, sweep)?;
    Some(
        sweep
            .iter()
            .filter(|x| x.verdict != v.kind())
            .map(|x| format!("{} ({})", x.value, x.verdict))
            .collect::<Vec<_>>()
            .join(", "),
    )
}

/// What one section's label and flip are, computed from the data.
struct Annotation {
    evidence: EvidenceData,
    flips_if: Option<Flip>,
    reason: Option<String>,
}

impl Annotation {
    fn measured() -> Annotation {
        Annotation {
            evidence: EvidenceData {
                fixed_by: None,
                compared: Vec::new(),
            },
            flips_if: None,
            reason: None,
        }
    }
    fn fixed(why: String) -> Annotation {
        Annotation {
            evidence: EvidenceData {
                fixed_by: Some(why),
                compared: Vec::new(),
            },
            ..Annotation::measured()
        }
    }
    fn flips(mut self, f: Option<Flip>) -> Annotation {
        self.flips_if = f;
        self
    }
    fn because(mut self, why: &str) -> Annotation {
        self.reason = Some(why.into());
        self
    }
}

/// H1's L1 threshold: the partner↔platform RTT below which trigger's cold miss is no longer
/// slower than the slowest AS-based one at the same-region AS RTT (L1 is linear in d).
fn h1_threshold_rtt_ms() -> Option<f64> {
    let d_as = one_way_ms("same-region");
    let slowest_as = AS_BASED
        .iter()
        .filter_map(|m| l1_ms(m, d_as))
        .fold(f64::NAN, f64::max);
    let t0 = l1_ms("trigger", 0.0)?;
    let h = f64::from(hops("trigger"));
    (h > 0.0 && slowest_as.is_finite()).then(|| 2.0 * (slowest_as - t0) / h)
}

fn h1(r: &Results) -> Annotation {
    let mut compared = Vec::new();
    for preset in ["same-region", "cross-region"] {
        for m in all_refs().iter().filter(|m| !pushed_only(m)) {
            if let Some(q) = r
                .get("latency", &format!("{m}@{preset}"))
                .and_then(|x| x.cold_latency_ms.as_ref())
            {
                compared.push((q.p50, l1_ms(m, one_way_ms(preset))));
            }
        }
    }
    let d_as = one_way_ms("same-region");
    let mut fl = Flip {
        assumption: format!(
            "the partner↔platform RTT (rtt_p_f) against the AS RTT ({} ms), L1",
            f(2.0 * d_as, 0)
        ),
        value: h1_threshold_rtt_ms().map(|x| format!("rtt_p_f ≤ {} ms", f(x, 1))),
        basis: "analytic",
        sweep: Vec::new(),
    };
    // The rule on L1's point values at a few partner↔platform RTTs.
    for rtt in [20.0, 40.0, 80.0, 200.0] {
        let t = l1_ms("trigger", rtt / 2.0).map(Interval::point);
        let o: Vec<Interval> = AS_BASED
            .iter()
            .filter_map(|m| l1_ms(m, d_as).map(Interval::point))
            .collect();
        let verdict = h1_rule(&H1Data {
            per_preset: vec![(t.into_iter().collect(), o)],
        });
        fl.sweep
            .push(point(format!("rtt_p_f {} ms", f(rtt, 0)), &verdict));
    }
    Annotation {
        evidence: EvidenceData {
            fixed_by: None,
            compared,
        },
        flips_if: Some(fl),
        reason: None,
    }
}

fn h2(r: &Results, v: &Verdict) -> Annotation {
    let cold = |m: &str, p: f64, rk: &str| {
        r.get("loss", &format!("{m}/p={p}/retries={rk}"))
            .map(|x| wilson(x.cold_ok, x.cold_n))
    };
    let mut fl = Flip {
        assumption:
            "the loss rate p on every inter-party message (trigger against every AS-based design)"
                .into(),
        value: None,
        basis: "sweep",
        sweep: Vec::new(),
    };
    // The tail does not depend on p: every point of the sweep carries the same.
    let tail = tail_p99(r);
    for p in LOSS_GRID.iter().filter(|p| **p > 0.0) {
        let pair = |rk: &str| match cold("trigger", *p, rk) {
            Some(t) => vec![(
                *p,
                t,
                AS_BASED
                    .iter()
                    .filter_map(|m| cold(m, *p, rk))
                    .collect::<Vec<_>>(),
            )],
            None => vec![],
        };
        let verdict = h2_rule(&H2Data {
            no_retry: pair("0"),
            with_retry: pair("default"),
            min_loss: *p,
            tail: tail.clone(),
        });
        fl.sweep.push(point(format!("p = {p}"), &verdict));
    }
    fl.value = differing(v, &fl.sweep);
    Annotation::measured().flips(Some(fl))
}

fn h4(r: &Results, v: &Verdict) -> Annotation {
    let safe: Vec<u64> = ["primary", "in_band"]
        .iter()
        .filter_map(|n| r.get("lag", &format!("variant:{n}")).map(|m| m.cold_stale))
        .collect();
    let mut fl = Flip {
        assumption: "the replica's maximum lag ℓmax (lag ~ U(0, ℓmax)) against Δ = 2d".into(),
        value: None,
        basis: "sweep",
        sweep: Vec::new(),
    };
    let delta = super::analytic::TRIGGER_DELTA_MS;
    for l in LAG_GRID_MS {
        let Some(m) = r.get("lag", &format!("uniform({l}ms)")) else {
            continue;
        };
        let w = wilson(m.cold_stale, m.cold_n);
        let pred = if l <= delta { 0.0 } else { (l - delta) / l };
        let a = compare(pred, &w, Some(m.cold_n), true);
        let verdict = h4_rule(&H4Data {
            uniform: vec![(w, a)],
            fixed: vec![],
            safe_variants_stale: safe.clone(),
        });
        fl.sweep.push(point(format!("ℓmax {l} ms"), &verdict));
    }
    fl.value = differing(v, &fl.sweep);
    Annotation::measured().flips(Some(fl))
}

fn h13(r: &Results, v: &Verdict) -> Annotation {
    let gap = |ttl: &str, d: f64| {
        r.get("push", &format!("push interval=1h ttl={ttl}/outage={d}h"))
            .and_then(|m| m.gap_s)
    };
    let mut fl = Flip {
        assumption: "the length D of the outage in which the platform cannot reach the partner (interval 1 h, TTL 1 h against 4 h)".into(),
        value: None,
        basis: "sweep",
        sweep: Vec::new(),
    };
    for d in OUTAGE_H {
        let verdict = h13_rule(&H13Data {
            gap_ttl_1h: gap("1h", d),
            gap_ttl_4h: gap("4h", d),
            u3: vec![],
        });
        fl.sweep.push(point(format!("D = {d} h"), &verdict));
    }
    fl.value = differing(v, &fl.sweep);
    Annotation::fixed("U3 is the push schedule's arithmetic (interval, TTL and outage length are the model's inputs): a longer TTL keeps more scheduled pushes inside a token's life, so TTL 4 h shortens the gap whenever the outage is shorter than it".into())
        .flips(Some(fl))
}

fn lockout(r: &Results, v: &Verdict) -> Annotation {
    let mut fl = Flip {
        assumption: "the loss rate p of the AS's responses to P".into(),
        value: None,
        basis: "sweep",
        sweep: Vec::new(),
    };
    for p in RESPONSE_LOSS_GRID {
        let pts: Vec<LockoutPoint> = ["0", "30s"]
            .iter()
            .filter_map(|g| {
                let m = r.get("lockout", &format!("grace={g}/p={p}"))?;
                Some(LockoutPoint {
                    grace: g.to_string(),
                    loss: p,
                    hazard: wilson(m.lockout_tenants, m.refreshes_before_lockout),
                })
            })
            .collect();
        let verdict = lockout_rule(&LockoutData { points: pts });
        fl.sweep.push(point(format!("p = {p}"), &verdict));
    }
    fl.value = differing(v, &fl.sweep);
    Annotation::measured().flips(Some(fl))
}

fn h8(r: &Results, v: &Verdict) -> Annotation {
    let local: Vec<String> = all_refs()
        .into_iter()
        .filter(|m| !m.contains(':') && self_signed(m))
        .collect();
    let with = h8_verdict(r, true);
    let fl = Flip {
        assumption: format!(
            "which candidates are compared (the self-signed {} as a candidate, not a reference)",
            local.join(", ")
        ),
        value: (with != *v).then(|| format!("with {}: {}", local.join(", "), with.label())),
        basis: "sweep",
        sweep: vec![
            point("Forge options".into(), v),
            point(format!("with {}", local.join(", ")), &with),
        ],
    };
    Annotation::measured().flips(Some(fl))
}

fn h27(r: &Results, sec: Option<&SecurityData>, v: &Verdict) -> Annotation {
    let Some(sec) = sec else {
        return Annotation::measured().because("no security runs");
    };
    let rule = |e: f64| Some(h27_verdict(r, sec, e));
    Annotation::measured().flips(cold_events_flip(v, &rule))
}

/// The cold-start rate (installs + cache losses per tenant-month) swept through `rule`.
fn cold_events_flip(v: &Verdict, rule: &dyn Fn(f64) -> Option<Verdict>) -> Option<Flip> {
    let mut fl = Flip {
        assumption: format!(
            "cold starts per tenant-month (installs + cache losses; defaults {INSTALLS_PER_TENANT_MONTH} + {CACHE_LOSSES_PER_TENANT_MONTH}, workload.md §9)"
        ),
        value: None,
        basis: "sweep",
        sweep: Vec::new(),
    };
    for e in COLD_EVENTS_SWEEP {
        let verdict = rule(e)?;
        fl.sweep.push(point(format!("{e}"), &verdict));
    }
    fl.value = differing(v, &fl.sweep);
    Some(fl)
}

fn h10(r: &Results, v: &Verdict) -> Annotation {
    let rule = |e: f64| {
        let push = r.get("load", "push/rate=60")?;
        let trig = r.get("load", "trigger/rate=60")?;
        let pa = availability(r, "push/p=0", e)?;
        let ta = availability(r, "trigger/p=0", e)?;
        Some(h10_rule(&H10Data {
            push: DemandCost {
                messages_per_demand: push.messages_per_demand,
                success: pa.steady,
            },
            trigger: DemandCost {
                messages_per_demand: trig.messages_per_demand,
                success: ta.steady,
            },
            push_month: pa.month,
            trigger_month: ta.month,
            cold_events: e,
        }))
    };
    Annotation::measured().flips(cold_events_flip(v, &rule))
}

fn steady(r: &Results, v: &Verdict) -> Annotation {
    let rule = |e: f64| {
        let rows: Vec<Availability> = all_refs()
            .iter()
            .filter(|m| !m.contains(':'))
            .filter_map(|m| availability(r, &format!("{m}/p=0"), e))
            .collect();
        Some(steady_rule(&SteadyData { rows }))
    };
    // The verdict itself does not move with the rate (it names the cold-start cost); the
    // monthly figures in its condition do.
    Annotation::fixed("U4: a pushed-only mechanism's cold start fails λ·T/2 demands per tenant by its schedule's construction, and without faults every mechanism holds a token in steady state".into())
        .flips(cold_events_flip(v, &rule))
        .because("the verdict names the cold-start cost, which no event rate removes")
}

fn h11() -> Annotation {
    // U4: mean time to first token = interval/2 > 1 min iff interval > 2 min.
    Annotation::fixed("U4: the first push after a cache loss or an install comes U(0, interval) later (`first_push_after_install` is a model input), so the mean wait is interval/2 for any interval".into())
        .flips(flip(
            "the push interval T (mean wait T/2 against the rule's 1 min)".into(),
            Some(format!("T ≤ {} min", f(2.0, 0))),
            "analytic",
        ))
}

fn h17(r: &Results) -> Annotation {
    let mut compared = Vec::new();
    let delta_rtt = 2.0 * (one_way_ms("cross-region") - one_way_ms("same-region"));
    for m in ["trigger", "refresh", "tenant-secret", "connect-jwt"] {
        let p50 = |preset: &str| {
            r.get("latency", &format!("{m}@{preset}"))
                .and_then(|x| x.cold_latency_ms.as_ref())
                .map(|q| q.p50)
        };
        if let (Some(a), Some(b)) = (p50("same-region"), p50("cross-region")) {
            let g = Interval {
                est: b.est - a.est,
                lo: b.lo - a.hi,
                hi: b.hi - a.lo,
            };
            compared.push((g, Some(f64::from(hops(m)) / 2.0 * delta_rtt)));
        }
    }
    Annotation {
        evidence: EvidenceData {
            fixed_by: None,
            compared,
        },
        flips_if: None,
        reason: Some("L1 is linear in the link delay: with fixed delays the growth is hops/2 · ΔRTT for every ΔRTT, so no value of the swept RTT flips it; only a delay distribution with spread (not run for this section) could".into()),
    }
}

fn h16(sec: Option<&SecurityData>) -> Annotation {
    let off = sec
        .and_then(|d| d.root("upm-oauth"))
        .and_then(|a| a.revocation_latency_s);
    Annotation::measured().flips(flip(
        "the access-token TTL against upm-oauth's measured revocation latency without the API's installation check".into(),
        off.map(|x| format!("TTL < {} h (R measured {} h, less the 60 s probe)", f((x - 60.0) / 3600.0, 2), f(x / 3600.0, 2))),
        "analytic",
    ))
}

fn h5(sec: Option<&SecurityData>) -> Annotation {
    let n = sec
        .and_then(|d| d.attack("global-secret", "store"))
        .map(|a| a.tenants_compromised);
    Annotation::measured().flips(flip(
        format!(
            "the number of tenants N sharing the app (B of the app-wide secret is N; {} in these runs)",
            n.map_or("—".into(), |n| n.to_string())
        ),
        Some("N = 1 (the app-wide secret reaches no more tenants than a per-tenant one)".into()),
        "analytic",
    ))
}

fn h9(sec: Option<&SecurityData>) -> Annotation {
    let p7 = sec.and_then(|d| d.verdict("trigger", Some("token_return=in_band"), "P7"));
    Annotation::measured().flips(flip(
        "how the token comes back (token_return, out of band by default) and whether the URL is authenticated".into(),
        Some(format!(
            "token_return=in_band with url_auth=none: the URL alone yields tokens (P7 {})",
            p7.map_or("—", |k| k.name())
        )),
        "variant row",
    ))
}

fn h14() -> Annotation {
    Annotation::measured().flips(flip(
        "trigger's URL rotation (url_rotation=never by default)".into(),
        Some("any rotation period of 1 day or less (the URL then no longer counts as an item living over a day)".into()),
        "analytic",
    ))
}

fn h21() -> Annotation {
    Annotation::measured().flips(flip(
        "trigger's URL rotation (url_rotation=never: the URL keeps working after a store breach)".into(),
        Some("any finite rotation period bounds trigger's store breach as well; the rule would then read supported".into()),
        "analytic",
    ))
}

fn h25() -> Annotation {
    Annotation::fixed("Little's law (C3): under the same storm the mechanism with the longer acquisition W holds more demands, and trigger's W exceeds refresh's by L1 at these delays".into())
        .flips(flip(
            "the partner↔platform RTT (trigger's W against refresh's, L1)".into(),
            h1_threshold_rtt_ms().map(|x| format!("rtt_p_f ≤ {} ms", f(x, 1))),
            "analytic",
        ))
}

fn c4() -> Annotation {
    Annotation::fixed("C4: push mints on its schedule whatever the demand (N/T mints per hour), and an on-demand mechanism mints only when a demand misses".into())
        .because("holds for every finite push interval T: an idle push tenant costs 1/T mints per hour, never 0")
}

fn annotation(s: &Section, r: &Results, sec: Option<&SecurityData>) -> Annotation {
    let v = &s.verdict;
    match v {
        Verdict::NotEvaluated(_) => {
            return Annotation::measured().because("not evaluated: nothing to flip");
        }
        Verdict::OnLoopback => {
            return Annotation::measured()
                .because("judged on loopback from wall-clock runs; see the loopback section");
        }
        _ => {}
    }
    match s.id.as_str() {
        "H1" => h1(r),
        "H2" => h2(r, v),
        "H4" => h4(r, v),
        "H5" => h5(sec),
        "H6" => Annotation::measured().because("a count of the partner mistakes with a security cost per design: it flips with the list of mistakes (hypotheses.md H6) and the matrix rows that exercise them, not with a workload value"),
        "H8" => h8(r, v),
        "H27" => h27(r, sec, v),
        "H9" => h9(sec),
        "H10" => h10(r, v),
        "SS" => steady(r, v),
        "H11" => h11(),
        "H13" => h13(r, v),
        "H14" => h14(),
        "H15" => Annotation::measured().because("connect-jwt's shared secret has no rotation switch in the model: no value of a modelled parameter bounds it short of reinstall"),
        "H16" => h16(sec),
        "H17" => h17(r),
        "H18" => Annotation::measured().because("one storm rate (10 demands/s per tenant) is run; C1 says the sample's excess acquisitions shrink linearly with the rate but no rate was swept"),
        "H19" => Annotation::fixed("keep=max_exp never replaces a stored token by one expiring earlier: the rule the switch implements".into()).because("keep=max_exp is regression-free by construction; with no reordering at all (low dup_prob) the verdict opens rather than flips"),
        "H20" => Annotation::fixed("C2: deliveries per acquisition never exceed (r_p+1)(r_f+1), the arithmetic of the two retry loops".into()).because("the bound is the retry loops' arithmetic: only a simulator defect would exceed it"),
        "H21" => h21(),
        "H24" => Annotation::measured().because("counts of costly partner mistakes and measured tenant-hours, reported side by side; no threshold decides it"),
        "H25" => h25(),
        "H26" => Annotation::measured().because("a per-tenant secret reaches one tenant by definition; P1 would flip only with a checker defect"),
        "K" => lockout(r, v),
        "C4" => c4(),
        "OUT" => Annotation::measured().because("the outage length is the swept assumption: the table gives each mechanism's success at every length, and the verdict names who keeps service at 2 h"),
        "PROV" => Annotation::measured().because("the verdict names the mechanism losing the most tenants; no threshold decides it"),
        "E-sec" => Annotation::measured().because("a row-by-row comparison with expectations.md: it flips when a checker's verdict changes, not with a workload parameter"),
        "E-leak" => Annotation::measured().because("a measurement table; the hypotheses that use it carry the flips"),
        _ => Annotation::measured().because("no sweep or formula for this section yet"),
    }
}

/// Sets every section's evidence kind, its basis, and its flip condition (or the reason there
/// is none).
pub fn annotate(sections: &mut [Section], r: &Results, sec: Option<&SecurityData>) {
    for s in sections.iter_mut() {
        if !s.evidence_basis.is_empty() {
            // Annotated by its own module (issue 12's `breadth.rs`).
            continue;
        }
        let a = annotation(s, r, sec);
        let (kind, basis) = if matches!(s.verdict, Verdict::NotEvaluated(_)) {
            (
                EvidenceKind::None,
                "Not evaluated: no data decides this section yet.".to_string(),
            )
        } else {
            evidence_kind_rule(&a.evidence)
        };
        s.evidence_kind = kind;
        s.evidence_basis = basis;
        s.flips_if = a.flips_if;
        s.flips_if_reason = if s.flips_if.is_some() {
            None
        } else {
            Some(
                a.reason
                    .unwrap_or_else(|| "no flip condition computed".into()),
            )
        };
    }
}

/// The sections judged on loopback: measured, no flip (wall-clock runs).
pub fn annotate_loopback(sections: &mut [Section]) {
    for s in sections.iter_mut() {
        s.evidence_kind = EvidenceKind::Measured;
        s.evidence_basis =
            "Measured on loopback in wall-clock time; not reproducible byte for byte.".into();
        s.flips_if = None;
        s.flips_if_reason = Some("judged from wall-clock runs on loopback; no sweep".into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn h1_threshold_is_l1s_crossing() {
        // 4d + 57 = 135 at the default costs: d = 19.5 ms, RTT 39 ms.
        let x = h1_threshold_rtt_ms().expect("registry defaults");
        assert!((x - 39.0).abs() < 1e-9, "{x}");
    }
}
