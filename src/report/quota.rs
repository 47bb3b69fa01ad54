//! Issue 13 item 1: A9, a stolen trigger URL spammed against Forge's invocation limits
//! (`threats.md` A9 and §6: "the URL alone buys quota/DoS"). Each row is one
//! `tokenlab attack --spam-rate` run with its baseline (same seed, no spam), through
//! [`tokenlab_properties::quota`]; the verdict is a pure rule over the rows, tested below
//! by flipping it. Kept out of `analysis.rs`, which only calls [`a9`].

use super::section::{Block, EvidenceKind, Section, Verdict};
use rayon::prelude::*;
use tokenlab_properties::quota::{GroupOutcome, QuotaRequest, QuotaResult, quota_attack};

/// One spam scenario.
#[derive(Clone, Copy, Debug)]
pub struct SpamCase {
    pub label: &'static str,
    pub sets: &'static [&'static str],
    /// Every tenant's URL (an A2 snapshot) instead of the victim's.
    pub every_url: bool,
    /// Calls per minute, per URL.
    pub per_min: u32,
}

/// The rows: below and over the per-installation limit (5,000/min), over the app-wide limit
/// (30,000/min) under either counting rule, and the two trigger switches `threats.md` §6
/// names. Every URL at once (`--breach store`) is left to the CLI: at 6,000 calls a minute
/// per URL its run admits six times the calls of one URL and takes minutes.
pub const CASES: [SpamCase; 7] = [
    SpamCase {
        label: "victim's URL, below the installation limit",
        sets: &[],
        every_url: false,
        per_min: 3_000,
    },
    SpamCase {
        label: "victim's URL, over the installation limit",
        sets: &[],
        every_url: false,
        per_min: 10_000,
    },
    SpamCase {
        label: "victim's URL, over the app limit",
        sets: &[],
        every_url: false,
        per_min: 40_000,
    },
    SpamCase {
        label: "victim's URL, over the app limit, every attempt counted",
        sets: &["quota_counts=attempts"],
        every_url: false,
        per_min: 40_000,
    },
    SpamCase {
        label: "victim's URL, 4x the app limit, every attempt counted",
        sets: &["quota_counts=attempts"],
        every_url: false,
        per_min: 120_000,
    },
    SpamCase {
        label: "victim's URL, url_auth=required (the key not stolen)",
        sets: &["url_auth=required"],
        every_url: false,
        per_min: 10_000,
    },
    SpamCase {
        label: "victim's URL, correlate=on",
        sets: &["correlate=on"],
        every_url: false,
        per_min: 10_000,
    },
];

/// When the spam starts, s (after every tenant's cold start).
const SPAM_FROM_S: f64 = 600.0;

/// The run's scale: the full report spams for two windows at the published limits; the
/// tiny and quick reports for one window with limits and rates divided by 100, so the
/// shape is the same at a hundredth of the calls.
fn scale(quick: bool) -> (f64, u32) {
    if quick { (60.0, 100) } else { (120.0, 1) }
}

fn request(case: &SpamCase, seed: u64, quick: bool) -> QuotaRequest {
    let (spam_for_s, div) = scale(quick);
    let mut sets: Vec<String> = case.sets.iter().map(|s| s.to_string()).collect();
    if div > 1 {
        sets.push(format!("invocation_limit_installation={}", 5_000 / div));
        sets.push(format!("invocation_limit_app={}", 30_000 / div));
    }
    QuotaRequest {
        mechanism: "trigger".into(),
        sets,
        victim: 1,
        every_url: case.every_url,
        spam_per_min: case.per_min / div,
        spam_from_s: SPAM_FROM_S,
        spam_for_s,
        seed,
    }
}

/// The command that reproduces one row.
pub fn command(req: &QuotaRequest) -> String {
    let what = if req.every_url {
        "--breach store"
    } else {
        "--steal trigger_url"
    };
    let sets: String = req.sets.iter().map(|s| format!(" --set {s}")).collect();
    format!(
        "cargo run --release -- attack --mechanism trigger {what}{sets} --spam-rate {} --at-s {} --spam-for-s {} --victim {} --seed {} --json",
        req.spam_per_min, req.spam_from_s, req.spam_for_s, req.victim, req.seed
    )
}

fn pct(x: Option<f64>) -> String {
    x.map_or("-".into(), |v| format!("{:.1}%", 100.0 * v))
}

fn group(g: &GroupOutcome, base: &GroupOutcome) -> String {
    format!(
        "{} ({}); misses {}/{} ok, slowest {} ms",
        pct(g.success_rate),
        pct(base.success_rate),
        g.misses_succeeded,
        g.misses,
        g.miss_latency_ms_max
            .map_or("-".into(), |x| format!("{x:.0}")),
    )
}

/// Whether the spam reached the other tenants: more of their demands failed than without
/// it, or a call of theirs to F was refused 429.
fn reached_others(r: &QuotaResult) -> bool {
    let failed = |g: &GroupOutcome| g.demands - g.succeeded;
    failed(&r.others) > failed(&r.others_baseline) || r.others_rate_limited > 0
}

/// The rule: reported as measured, naming what decides whether one URL reaches the other
/// tenants: the counting rule of the app-wide window, which is unverified.
pub fn a9_rule(rows: &[(SpamCase, QuotaResult)]) -> Verdict {
    let one_url = |attempts: bool| {
        rows.iter()
            .filter(|(c, _)| {
                !c.every_url
                    && c.sets.contains(&"quota_counts=attempts") == attempts
                    && !c.sets.contains(&"url_auth=required")
            })
            .collect::<Vec<_>>()
    };
    let reached =
        |v: &[&(SpamCase, QuotaResult)]| v.iter().filter(|(_, r)| reached_others(r)).count();
    let (admitted, attempts) = (one_url(false), one_url(true));
    let (ra, rt) = (reached(&admitted), reached(&attempts));
    let victim_failed: u64 = rows
        .iter()
        .map(|(_, r)| r.victim.demands - r.victim.succeeded)
        .sum();
    let text = format!(
        "Forge's counting rule (unverified): counting admitted calls, one stolen URL reached the other tenants in {ra} of {} rows; counting every attempt, in {rt} of {}; the victim's own demands failed {victim_failed} times in all rows (each admitted spam call delivers a fresh token to P.auth)",
        admitted.len(),
        attempts.len(),
    );
    if ra == 0 && rt == 0 {
        Verdict::DependsOn(format!("nothing at these rates: {text}"))
    } else {
        Verdict::DependsOn(text)
    }
}

/// The A9 section.
pub fn a9(seed: u64, quick: bool) -> Section {
    let title = "A stolen trigger URL against Forge's invocation limits";
    let claim = "threats.md §6: \"The URL alone (A3/A5) makes F mint, but T goes to P.auth, not to the attacker: quota burn, DoS (A9) and timing signals\"; the limits are 5,000 invocations a minute per installation and 30,000 per app per environment [F: limits].";
    let (spam_for_s, div) = scale(quick);
    let experiment = format!(
        "trigger with F's invocation limits on ({} and {} a minute{}): the attacker steals the victim's URL from P's store at {SPAM_FROM_S:.0} s and calls it at a fixed rate for {spam_for_s:.0} s; 10 tenants, 600 demands per tenant-hour, ttl=2m (so each tenant calls F about once a minute; with the default 4 h TTL a tenant calls F every ~4 h and the spam meets almost none of its demands), P honours Retry-After within its 40 s deadline. Demands invoked during the spam, beside the same seed without it. Window model: fixed 60 s windows from t=0; Retry-After is the rest of the window; a call without the URL key (url_auth=required) invokes nothing and is not counted (inference; Forge's algorithm is unverified).",
        5_000 / div,
        30_000 / div,
        if div > 1 {
            ", limits and rates divided by 100 at this scale"
        } else {
            ""
        }
    );
    // The rows are independent runs: in parallel, collected in order.
    let runs: Vec<_> = CASES
        .par_iter()
        .map(|case| quota_attack(&request(case, seed, quick)).map(|r| (*case, r)))
        .collect();
    let mut rows = Vec::new();
    for run in runs {
        match run {
            Ok(row) => rows.push(row),
            Err(e) => {
                return Section::runs_failed("A9", title, claim, &experiment, &e.to_string());
            }
        }
    }
    let verdict = a9_rule(&rows);
    let table = rows
        .iter()
        .map(|(c, r)| {
            let refused: Vec<String> = r
                .spam
                .refused_by
                .iter()
                .map(|(k, v)| format!("{v} {k}"))
                .collect();
            vec![
                c.label.to_string(),
                format!("{}", r.request.spam_per_min),
                format!(
                    "{} / {} / {}",
                    r.spam.calls,
                    r.spam.admitted,
                    if refused.is_empty() {
                        "0".into()
                    } else {
                        refused.join(", ")
                    }
                ),
                group(&r.victim, &r.victim_baseline),
                group(&r.others, &r.others_baseline),
                format!("{} / {}", r.victim_rate_limited, r.others_rate_limited),
                r.detected_after_s
                    .map_or("no".into(), |s| format!("{s:.0} s")),
            ]
        })
        .collect();
    Section {
        id: "A9".into(),
        title: title.into(),
        claim: claim.into(),
        experiment,
        blocks: vec![
            Block::table(
                &[
                    "scenario",
                    "calls/min per URL",
                    "spam calls / admitted / refused",
                    "victim: success (baseline); its misses",
                    "other tenants: success (baseline); their misses",
                    "partner calls refused 429: victim / others",
                    "detected (correlate)",
                ],
                table,
            ),
            Block::Text {
                text: "A miss is a demand that found no valid token and called F. Every admitted spam call makes F mint a token and deliver it to P.auth, which stores it: the victim's cache stays fresh while the spam is admitted, and the spam's cost lands on P.auth (one delivery and store write per admitted call) and on the app's quota. Whether one URL reaches other tenants depends on what the app-wide window counts: admitted calls (the installation limit caps one URL at a sixth of the app's budget) or every attempt (refused calls still fill it). A refused partner call waits for Retry-After and succeeds when that falls inside its deadline, so the cost shows first as latency.".into(),
            },
        ],
        rule: "Reported as measured: the condition names, for one stolen URL, in how many rows the spam reached the other tenants (a demand of theirs failed that did not without the spam, or a call of theirs to F was refused 429) under each counting rule, and how often the victim's demands failed.".into(),
        verdict,
        reproduce: CASES
            .iter()
            .map(|c| command(&request(c, seed, quick)))
            .collect(),
        evidence_kind: EvidenceKind::Measured,
        evidence_basis: "Measured: demands, misses and refusals counted from seeded runs and their no-spam baselines; the limits and the window model are inputs, what reaches whom comes from the runs.".into(),
        flips_if: None,
        flips_if_reason: Some("a measured report, not a verdict: the counting rule is shown both ways in the table".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokenlab_properties::quota::SpamOutcome;

    fn result(others_ok: u64, others_429: u64) -> QuotaResult {
        let g = |demands, succeeded, misses| GroupOutcome {
            demands,
            succeeded,
            misses,
            misses_succeeded: misses,
            ..Default::default()
        };
        QuotaResult {
            request: request(&CASES[0], 1, true),
            tenants: 10,
            demands_per_tenant_hour: 600.0,
            ttl: "2m",
            victim: g(10, 10, 0),
            others: g(100, others_ok, 10),
            victim_baseline: g(10, 10, 1),
            others_baseline: g(100, 100, 10),
            spam: SpamOutcome::default(),
            victim_rate_limited: 0,
            others_rate_limited: others_429,
            detected_after_s: None,
            model: "",
        }
    }

    #[test]
    fn the_rule_counts_rows_that_reached_other_tenants() {
        let rows = vec![(CASES[2], result(100, 0)), (CASES[3], result(100, 0))];
        let quiet = a9_rule(&rows);
        assert!(matches!(&quiet, Verdict::DependsOn(c) if c.starts_with("nothing at these rates")));
        // The flip: the attempts row now costs the other tenants a refused call.
        let rows = vec![(CASES[2], result(100, 0)), (CASES[3], result(100, 3))];
        let spread = a9_rule(&rows);
        assert!(
            matches!(&spread, Verdict::DependsOn(c) if c.contains("counting every attempt, in 1 of 1")),
            "{spread:?}"
        );
        assert_ne!(quiet, spread);
        // A failed demand of the others counts too.
        assert!(reached_others(&result(97, 0)));
    }

    #[test]
    fn the_reproduce_command_names_every_switch() {
        let c = command(&request(&CASES[3], 7, false));
        assert!(
            c.contains("--steal trigger_url --set quota_counts=attempts --spam-rate 40000"),
            "{c}"
        );
        assert!(c.contains("--seed 7"));
        let every = SpamCase {
            every_url: true,
            ..CASES[1]
        };
        let c = command(&request(&every, 7, true));
        assert!(c.contains("--breach store"), "{c}");
        assert!(c.contains("--set invocation_limit_app=300"), "{c}");
    }
}
