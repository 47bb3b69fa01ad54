//! Every verdict rule of the report, each a pure function of a small data struct that the
//! analysis extracts from the results (`analysis.rs`), the security runs (`security.rs`) or the
//! loopback runs (`loopback.rs`). A rule reads no file, runs nothing and formats no table: change
//! its data and the verdict follows, which the tests below show for every rule by flipping it.
//! Mechanisms named here (trigger against refresh, push against trigger…) are the comparisons
//! the hypotheses make by design, not inferences about what a mechanism is.

use super::section::{EvidenceKind, SweepPoint, Verdict};
use super::stats::{Agreement, Interval};
use tokenlab_properties::VerdictKind;

/// H1: cold p50 intervals per preset, trigger's and the AS-based mechanisms'.
pub struct H1Data {
    pub per_preset: Vec<(Vec<Interval>, Vec<Interval>)>,
}

/// Supported when trigger's cold p50 interval lies above every AS-based mechanism's at each
/// preset.
pub fn h1_rule(d: &H1Data) -> Verdict {
    let per_preset = &d.per_preset;
    if per_preset.is_empty() || per_preset.iter().any(|(t, o)| t.is_empty() || o.is_empty()) {
        return Verdict::NotEvaluated("no latency data".into());
    }
    let above = per_preset
        .iter()
        .all(|(t, o)| t.iter().all(|t| o.iter().all(|o| o.below(t))));
    if above {
        Verdict::Supported
    } else {
        Verdict::Refuted
    }
}

/// H2: per loss p, trigger's cold success and every AS-based design's, without and with the
/// partner's default retries.
pub struct H2Data {
    pub no_retry: Vec<(f64, Interval, Vec<Interval>)>,
    pub with_retry: Vec<(f64, Interval, Vec<Interval>)>,
    /// The smallest loss the rule considers (the report: 10%; a sweep: each p alone).
    pub min_loss: f64,
    /// Cold p99 latency with the default retries on each heavy-tailed preset: (preset,
    /// trigger's interval, every AS-based design's). Retries turn failures into waits.
    pub tail: Vec<(String, Interval, Vec<Interval>)>,
}

/// The heavy-tailed presets on which trigger's cold p99 lies measurably above every AS-based
/// design's, and those on which it does not.
fn tail_split(tail: &[(String, Interval, Vec<Interval>)]) -> (Vec<&str>, Vec<&str>) {
    let (worse, not): (Vec<_>, Vec<_>) = tail
        .iter()
        .partition(|(_, t, o)| !o.is_empty() && o.iter().all(|o| o.below(t)));
    (
        worse.iter().map(|x| x.0.as_str()).collect(),
        not.iter().map(|x| x.0.as_str()).collect(),
    )
}

fn below_all(t: &Interval, others: &[Interval]) -> bool {
    !others.is_empty() && others.iter().all(|o| t.below(o))
}

fn ps(v: &[f64]) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        v.iter()
            .map(|p| format!("{p}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// At p ≥ `min_loss` (where the predicted gap exceeds the quick-mode interval widths):
/// supported when trigger is measurably below every AS-based design with and without retries;
/// depends on retries when that holds without retries only, naming the p at which it also
/// holds with them; refuted when trigger's estimate is at least one AS-based design's; not
/// evaluated when the intervals overlap at this n.
pub fn h2_rule(d: &H2Data) -> Verdict {
    let at = |v: &[(f64, Interval, Vec<Interval>)]| -> Vec<(f64, bool)> {
        v.iter()
            .filter(|(p, _, _)| *p >= d.min_loss)
            .map(|(p, t, o)| (*p, below_all(t, o)))
            .collect()
    };
    let considered = at(&d.no_retry);
    if considered.is_empty() {
        return Verdict::NotEvaluated(format!("no loss points at p ≥ {}%", d.min_loss * 100.0));
    }
    if d.no_retry
        .iter()
        .filter(|(p, _, _)| *p >= d.min_loss)
        .any(|(_, t, o)| o.iter().any(|o| t.est >= o.est))
    {
        return Verdict::Refuted;
    }
    let with = at(&d.with_retry);
    let all = |v: &[(f64, bool)]| !v.is_empty() && v.iter().all(|(_, b)| *b);
    let (tail_worse, tail_not) = tail_split(&d.tail);
    match (all(&considered), all(&with)) {
        (true, true) => Verdict::Supported,
        // Retries recover success only by waiting: a tail measurably worse on every
        // heavy-tailed preset is the same failure point paid in time.
        (true, false) if !d.tail.is_empty() && tail_not.is_empty() => Verdict::Supported,
        (true, false) => {
            let sep: Vec<f64> = with.iter().filter(|(_, b)| *b).map(|(p, _)| *p).collect();
            let overlap: Vec<f64> = with.iter().filter(|(_, b)| !*b).map(|(p, _)| *p).collect();
            let tail = if d.tail.is_empty() {
                String::new()
            } else {
                format!(
                    "; trigger's cold p99 with retries is measurably above every AS-based design's on {} and not on {}",
                    if tail_worse.is_empty() {
                        "no heavy-tailed preset".to_string()
                    } else {
                        tail_worse.join(", ")
                    },
                    tail_not.join(", ")
                )
            };
            Verdict::DependsOn(format!(
                "retries: without them trigger fails measurably more often than every AS-based design at p ≥ {}; with the default retries it is measurably worse at p = {} and the intervals overlap at p = {}{tail}",
                d.min_loss,
                ps(&sep),
                ps(&overlap)
            ))
        }
        (false, _) => Verdict::NotEvaluated("the intervals overlap at this n: raise n".into()),
    }
}

/// H4: stale cold reads on a replica (uniform lags, with S3's agreement), S3's agreement at
/// the fixed lags, and the stale cold reads of the variants predicted to have none.
pub struct H4Data {
    pub uniform: Vec<(Interval, Agreement)>,
    pub fixed: Vec<Agreement>,
    pub safe_variants_stale: Vec<u64>,
}

pub fn h4_rule(d: &H4Data) -> Verdict {
    if d.uniform.is_empty() && d.fixed.is_empty() {
        return Verdict::NotEvaluated("no lag data".into());
    }
    let within = d
        .uniform
        .iter()
        .map(|(_, a)| a)
        .chain(&d.fixed)
        .all(|a| *a != Agreement::SimulatorBug);
    let positive = d.uniform.iter().any(|(w, _)| w.lo > 0.0);
    let safe_zero = d.safe_variants_stale.iter().all(|n| *n == 0);
    if positive && safe_zero && within {
        Verdict::DependsOn("where P reads the token back: a replica or a queued write makes stale reads frequent (S3); a primary read or an in-band token removes them, and in-band needs url_auth (H9)".into())
    } else if !positive {
        Verdict::Refuted
    } else {
        Verdict::Supported
    }
}

/// One side of H10: acquisition messages per demand and demand success.
#[derive(Clone, Copy)]
pub struct DemandCost {
    pub messages_per_demand: f64,
    pub success: Interval,
}

/// H10: push against trigger at 60 demands per tenant-hour: acquisition messages per demand
/// and steady-state success (`success`), and availability per tenant-month with cold starts.
pub struct H10Data {
    pub push: DemandCost,
    pub trigger: DemandCost,
    pub push_month: Interval,
    pub trigger_month: Interval,
    /// Cold-start events per tenant-month behind the monthly figures.
    pub cold_events: f64,
}

/// Refuted if push is not cheaper per demand; depends on the steady state if push is cheaper
/// but measurably less available after the warm-up; depends on the cold-start rate if it is
/// as available in steady state but measurably less per tenant-month; supported otherwise.
pub fn h10_rule(d: &H10Data) -> Verdict {
    let cheaper = d.push.messages_per_demand < d.trigger.messages_per_demand;
    if !cheaper {
        return Verdict::Refuted;
    }
    if d.push.success.below(&d.trigger.success) {
        return Verdict::DependsOn("the steady state: push spends fewer partner messages per demand but is measurably less available after the warm-up".into());
    }
    if d.push_month.below(&d.trigger_month) {
        return Verdict::DependsOn(format!(
            "the cold-start rate: in steady state push is as available as trigger with fewer partner messages per demand, but each cold start (an install, or a cache loss without persist_cache) fails demands until the next scheduled push; at {} cold starts per tenant-month availability is {:.5} against {:.5}",
            d.cold_events, d.push_month.est, d.trigger_month.est
        ));
    }
    Verdict::Supported
}

/// One mechanism's availability: steady-state success, the failed demands one cold start costs
/// per tenant, and availability per tenant-month at the default event rates.
#[derive(Clone)]
pub struct Availability {
    pub mechanism: String,
    pub steady: Interval,
    pub cold_failed_per_event: Interval,
    pub month: Interval,
}

/// SS: every mechanism without faults.
pub struct SteadyData {
    pub rows: Vec<Availability>,
}

/// Refuted if some mechanism's steady-state success lies measurably below another's (the
/// steady state itself separates them); depends on the cold-start rate if they agree in steady
/// state but some cold start measurably fails demands; supported if neither separates them.
pub fn steady_rule(d: &SteadyData) -> Verdict {
    if d.rows.is_empty() {
        return Verdict::NotEvaluated("no steady-state runs".into());
    }
    let separated = d
        .rows
        .iter()
        .any(|a| d.rows.iter().any(|b| a.steady.below(&b.steady)));
    if separated {
        return Verdict::Refuted;
    }
    let costly: Vec<String> = d
        .rows
        .iter()
        .filter(|a| a.cold_failed_per_event.lo > 0.0)
        .map(|a| {
            format!(
                "{} ({:.1} failed demands per tenant per cold start; {:.5} per tenant-month)",
                a.mechanism, a.cold_failed_per_event.est, a.month.est
            )
        })
        .collect();
    if costly.is_empty() {
        Verdict::Supported
    } else {
        Verdict::DependsOn(format!(
            "the cold-start rate: after the warm-up every mechanism is equally available, and the difference is the cold start: {}",
            costly.join(", ")
        ))
    }
}

/// H11: push's mean time to first token (minutes) after a cache loss, per configuration.
pub struct H11Data {
    pub ttft_min: Vec<Interval>,
}

pub fn h11_rule(d: &H11Data) -> Verdict {
    if d.ttft_min.is_empty() {
        Verdict::NotEvaluated("no push data".into())
    } else if d.ttft_min.iter().all(|x| x.lo > 1.0) {
        Verdict::Supported
    } else {
        Verdict::Refuted
    }
}

/// H13: time without a token at interval 1 h under a 2 h outage, TTL 1 h and 4 h, and U3's
/// agreement across the grid.
pub struct H13Data {
    pub gap_ttl_1h: Option<Interval>,
    pub gap_ttl_4h: Option<Interval>,
    pub u3: Vec<Agreement>,
}

pub fn h13_rule(d: &H13Data) -> Verdict {
    let agree = d.u3.iter().all(|a| *a != Agreement::SimulatorBug);
    match (d.gap_ttl_1h, d.gap_ttl_4h) {
        (Some(g1), Some(g4)) if g4.below(&g1) => {
            if agree {
                Verdict::Supported
            } else {
                Verdict::DependsOn(
                    "the analytic U3 disagrees somewhere in the grid (see the flags)".into(),
                )
            }
        }
        (Some(_), Some(_)) => Verdict::Refuted,
        _ => Verdict::NotEvaluated("no push grid data".into()),
    }
}

/// H17: per mechanism, (growth of cold p50 from same- to cross-region, L1's prediction), ms.
pub struct H17Data {
    pub growth_ms: Vec<(f64, f64)>,
}

/// hdrhistogram keeps 3 significant digits: allow its quantisation.
pub const H17_TOLERANCE_MS: f64 = 1.0;

pub fn h17_rule(d: &H17Data) -> Verdict {
    if d.growth_ms.is_empty() {
        Verdict::NotEvaluated("no latency data".into())
    } else if d
        .growth_ms
        .iter()
        .all(|(g, pred)| (g - pred).abs() <= H17_TOLERANCE_MS)
    {
        Verdict::Supported
    } else {
        Verdict::Refuted
    }
}

/// H18: acquisitions per miss, the RFC's sample (no lock) and the default (single-flight).
pub struct H18Data {
    pub sample: Option<Interval>,
    pub single_flight: Option<Interval>,
}

pub fn h18_rule(d: &H18Data) -> Verdict {
    match (d.sample, d.single_flight) {
        (Some(s), Some(f)) if f.below(&s) && f.hi <= 1.0 + 1e-9 => Verdict::Supported,
        (Some(_), Some(_)) => Verdict::Refuted,
        _ => Verdict::NotEvaluated("no herd data".into()),
    }
}

/// H19: stored tokens replaced by an earlier-expiring one, keep=max_exp and keep=last_write.
pub struct H19Data {
    pub max_exp_regressions: u64,
    pub last_write_regressions: u64,
}

pub fn h19_rule(d: &H19Data) -> Verdict {
    if d.max_exp_regressions == 0 && d.last_write_regressions > 0 {
        Verdict::DependsOn("the partner keeping the token with the latest exp: with keep=max_exp duplicates and reordering are harmless; with last-write-wins an older T overwrites a newer one".into())
    } else if d.last_write_regressions == 0 {
        Verdict::NotEvaluated(
            "no reordering happened at this n: raise dup_prob or the heavy tail".into(),
        )
    } else {
        Verdict::Refuted
    }
}

/// H20: per retry configuration, (max deliveries to P.auth per acquisition, C2's worst case).
pub struct H20Data {
    pub max_and_bound: Vec<(u64, u64)>,
}

pub fn h20_rule(d: &H20Data) -> Verdict {
    let within = d.max_and_bound.iter().all(|(m, b)| m <= b);
    let amplified = d.max_and_bound.iter().any(|(m, _)| *m > 1);
    if d.max_and_bound.is_empty() {
        Verdict::NotEvaluated("no nested data".into())
    } else if within && amplified {
        Verdict::Supported
    } else {
        Verdict::Refuted
    }
}

/// H25: peak demands held at P under the miss storm, default trigger and default refresh.
pub struct H25Data {
    pub trigger_peak: Option<u64>,
    pub refresh_peak: Option<u64>,
}

pub fn h25_rule(d: &H25Data) -> Verdict {
    match (d.trigger_peak, d.refresh_peak) {
        (Some(t), Some(r)) if t > r => Verdict::Supported,
        (Some(_), Some(_)) => Verdict::Refuted,
        _ => Verdict::NotEvaluated("no herd data".into()),
    }
}

/// One lockout point: grace window, response loss, measured per-refresh hazard.
pub struct LockoutPoint {
    pub grace: String,
    pub loss: f64,
    pub hazard: Interval,
}

/// K: the lockout points, grace window "0" against "30s".
pub struct LockoutData {
    pub points: Vec<LockoutPoint>,
}

pub fn lockout_rule(d: &LockoutData) -> Verdict {
    let at = |g: &str, p: f64| {
        d.points
            .iter()
            .find(|x| x.grace == g && x.loss == p)
            .map(|x| x.hazard)
    };
    let no_grace: Vec<&LockoutPoint> = d.points.iter().filter(|x| x.grace == "0").collect();
    let no_grace_bad = no_grace.iter().all(|x| x.hazard.lo > 0.0);
    let grace_better = d
        .points
        .iter()
        .all(|x| matches!((at("0", x.loss), at("30s", x.loss)), (Some(a), Some(b)) if b.below(&a)));
    if d.points.is_empty() {
        Verdict::NotEvaluated("no lockout data".into())
    } else if no_grace_bad && grace_better {
        Verdict::DependsOn("a grace window: without one, every lost refresh response locks the tenant out (rotation with reuse detection); a 30 s grace window makes it negligible".into())
    } else {
        Verdict::Refuted
    }
}

/// C4: mints per idle tenant-hour of the pushed-only mechanism, and of every other one.
pub struct LoadData {
    pub pushed_idle_mints: Option<f64>,
    pub others_idle_mints: Vec<f64>,
}

pub fn load_rule(d: &LoadData) -> Verdict {
    let others_max = d.others_idle_mints.iter().copied().fold(0.0, f64::max);
    match d.pushed_idle_mints {
        Some(p) if p > 0.0 && others_max == 0.0 => Verdict::Supported,
        Some(_) => Verdict::Refuted,
        None => Verdict::NotEvaluated("no load data".into()),
    }
}

/// PROV: per token-using mechanism, the share of tenants never holding a token at 5% loss.
pub struct ProvisioningData {
    pub lost_at_5pct: Vec<(String, f64)>,
}

pub fn provisioning_rule(d: &ProvisioningData) -> Verdict {
    let mut at5 = d.lost_at_5pct.clone();
    at5.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    match at5.first() {
        Some((m, worst)) if *worst > 0.0 => Verdict::DependsOn(format!(
            "the install path: at 5% loss {m} leaves the largest share of tenants ({:.1}%) without a token for the whole run (after F's lifecycle retries of workload.md §8; an install that needs browser legs is not retried by the admin in the model)",
            worst * 100.0
        )),
        Some(_) => Verdict::Supported,
        None => Verdict::NotEvaluated("no provisioning data".into()),
    }
}

/// One candidate of a dominance comparison: its scores, higher is better (the caller negates
/// costs); `None` counts as the worst value.
#[derive(Clone)]
pub struct Candidate {
    pub mechanism: String,
    pub scores: Vec<Option<f64>>,
}

/// The candidates at least as good as every other on every column.
pub fn dominant(cands: &[Candidate]) -> Vec<String> {
    let at_least = |a: &Candidate, b: &Candidate| {
        a.scores
            .iter()
            .zip(&b.scores)
            .all(|(x, y)| x.unwrap_or(f64::NEG_INFINITY) >= y.unwrap_or(f64::NEG_INFINITY))
    };
    cands
        .iter()
        .filter(|a| cands.iter().all(|b| at_least(a, b)))
        .map(|a| a.mechanism.clone())
        .collect()
}

/// H8: the Forge options on cost of a miss, availability and idle platform load.
pub struct H8Data {
    pub columns: Vec<String>,
    pub candidates: Vec<Candidate>,
}

/// Depends on the weighting unless one option is at least as good as every other on every
/// column; then on the security columns.
pub fn h8_rule(d: &H8Data) -> Verdict {
    if d.candidates.is_empty() {
        return Verdict::NotEvaluated("no candidates".into());
    }
    let w = dominant(&d.candidates);
    if w.is_empty() {
        Verdict::DependsOn(format!(
            "the weighting: no Forge option is best on {} at once",
            d.columns.join(", ")
        ))
    } else {
        Verdict::DependsOn(format!(
            "the security columns: {} is at least as good as every other Forge option on {}",
            w.join(", "),
            d.columns.join(", ")
        ))
    }
}

/// H27: the long-lived-credential designs against push on availability per tenant-month,
/// standing secrets and the root credential's exposure.
pub struct H27Data {
    pub columns: Vec<String>,
    /// The designs with a long-lived credential and a synchronous fetch.
    pub long_lived: Vec<Candidate>,
    pub push: Option<Candidate>,
}

/// Supported if some long-lived-credential design is at least as good as push on every
/// column; refuted if push is at least as good as each of them; a trade-off otherwise.
pub fn h27_rule(d: &H27Data) -> Verdict {
    let Some(push) = &d.push else {
        return Verdict::NotEvaluated("no push row".into());
    };
    if d.long_lived.is_empty() {
        return Verdict::NotEvaluated("no long-lived-credential rows".into());
    }
    let beats =
        |a: &Candidate, b: &Candidate| dominant(&[a.clone(), b.clone()]).contains(&a.mechanism);
    let winners: Vec<&str> = d
        .long_lived
        .iter()
        .filter(|c| beats(c, push))
        .map(|c| c.mechanism.as_str())
        .collect();
    if !winners.is_empty() {
        Verdict::Supported
    } else if d.long_lived.iter().all(|c| beats(push, c)) {
        Verdict::Refuted
    } else {
        Verdict::DependsOn(format!(
            "a trade-off, not a winner: neither push nor {} is at least as good as the other on {} at once",
            d.long_lived
                .iter()
                .map(|c| c.mechanism.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            d.columns.join(", ")
        ))
    }
}

/// E-sec: the matrix rows whose computed verdict differs from expectations.md.
pub struct MatrixData {
    pub mismatches: Vec<String>,
}

pub fn matrix_rule(d: &MatrixData) -> Verdict {
    if d.mismatches.is_empty() {
        Verdict::Supported
    } else {
        Verdict::DependsOn(format!(
            "{} row(s) differ from expectations.md: {}",
            d.mismatches.len(),
            d.mismatches.join("; ")
        ))
    }
}

/// H5: blast radius of one stolen client secret and of the whole store, global against
/// per-tenant secrets.
pub struct H5Data {
    pub global_secret: Option<u64>,
    pub tenant_secret: Option<u64>,
    pub global_store: Option<u64>,
    pub tenant_store: Option<u64>,
}

pub fn h5_rule(d: &H5Data) -> Verdict {
    match (
        d.global_secret,
        d.tenant_secret,
        d.global_store,
        d.tenant_store,
    ) {
        (Some(gs), Some(ts), Some(gb), Some(tb)) if gs > ts && ts <= 1 && gb == tb => {
            Verdict::DependsOn(format!(
                "the leak: one leaked app-wide secret reaches {gs} tenants against {ts} for a per-tenant secret, but a breach of P's store reaches {gb} either way"
            ))
        }
        (Some(gs), Some(ts), _, _) if gs > ts => Verdict::Supported,
        (Some(_), Some(_), _, _) => Verdict::Refuted,
        _ => Verdict::NotEvaluated("no attack rows for the secret mechanisms".into()),
    }
}

/// What the theft of trigger's URL bought.
#[derive(Clone, Copy)]
pub struct UrlTheft {
    pub exposure_unbounded: bool,
    pub tokens_obtained: u64,
    pub accepted: u64,
}

/// H9: the stolen URL, and P7 with the token returned in band, without and with URL auth.
pub struct H9Data {
    pub url: Option<UrlTheft>,
    pub in_band_p7: Option<VerdictKind>,
    pub in_band_url_auth_p7: Option<VerdictKind>,
}

fn name(x: Option<VerdictKind>) -> &'static str {
    x.map_or("—", |k| k.name())
}

pub fn h9_rule(d: &H9Data) -> Verdict {
    match d.url {
        Some(u) if u.exposure_unbounded && u.tokens_obtained == 0 => Verdict::DependsOn(format!(
            "the return path: the stolen URL alone obtained no token ({} trigger calls accepted: quota burn) yet stays usable without bound; with token_return=in_band and no URL authentication it yields tokens (P7 {}), which url_auth=required prevents (P7 {})",
            u.accepted,
            name(d.in_band_p7),
            name(d.in_band_url_auth_p7)
        )),
        Some(u) if u.tokens_obtained > 0 => Verdict::Supported,
        Some(_) => Verdict::Refuted,
        None => Verdict::NotEvaluated("no trigger_url row".into()),
    }
}

/// H14: items living over a day at P per installation, trigger and push, and the tokens
/// trigger's long-lived item (the URL) bought alone per theft.
pub struct H14Data {
    pub trigger: Option<f64>,
    pub push: Option<f64>,
    pub trigger_item_tokens: Option<f64>,
}

pub fn h14_rule(d: &H14Data) -> Verdict {
    match (d.trigger, d.push) {
        (Some(t), Some(p)) if t > 0.0 && p == 0.0 => Verdict::DependsOn(format!(
            "the mechanism and what the item yields: push leaves no item living over a day at P; trigger leaves {t:.0} per installation (the URL), so the RFC's trigger does not meet its own goal to the letter, but the URL alone bought {} tokens per theft: it is a standing credential for quota burn, not for tokens",
            d.trigger_item_tokens
                .map_or("—".into(), |x| format!("{x:.1}"))
        )),
        (Some(0.0), Some(_)) => Verdict::Supported,
        (Some(_), Some(_)) => Verdict::Refuted,
        _ => Verdict::NotEvaluated("no standing-secret data".into()),
    }
}

/// H15: whether a stolen Connect shared secret has no exposure bound (None: no row).
pub struct H15Data {
    pub shared_secret_unbounded: Option<bool>,
}

pub fn h15_rule(d: &H15Data) -> Verdict {
    match d.shared_secret_unbounded {
        Some(true) => Verdict::DependsOn("the weighting of availability against exposure: connect-jwt needs no hop for a token (see H1) but its stolen shared secret has no exposure bound short of reinstall".into()),
        Some(false) => Verdict::Supported,
        None => Verdict::NotEvaluated("no connect-jwt rows".into()),
    }
}

/// Revocation latency of a stolen credential (s), without and with the API's installation
/// check.
#[derive(Clone, Copy)]
pub struct Revocation {
    pub api_check_off_s: Option<f64>,
    pub api_check_on_s: Option<f64>,
}

/// H16: upm-oauth's revocation, against one access-token lifetime, and what its install
/// path costs (the hypothesis' "install-time cost").
pub struct H16Data {
    pub upm_oauth: Option<Revocation>,
    pub ttl_s: f64,
    /// Per token-using mechanism, the share of tenants never holding a token when every
    /// install ran under 5% loss (section PROV); empty when PROV did not run.
    pub install_lost_at_5pct: Vec<(String, f64)>,
}

/// The probe resolution of a measured revocation latency (the attacker probes every 60 s).
const PROBE_S: f64 = 60.0;

pub fn h16_rule(d: &H16Data) -> Verdict {
    let revocation_holds = match d.upm_oauth {
        Some(r) => {
            r.api_check_on_s == Some(0.0)
                && r.api_check_off_s.is_some_and(|x| x <= d.ttl_s + PROBE_S)
        }
        None => return Verdict::NotEvaluated("no upm-oauth rows".into()),
    };
    if !revocation_holds {
        return Verdict::Refuted;
    }
    let upm = d
        .install_lost_at_5pct
        .iter()
        .find(|(m, _)| m == "upm-oauth")
        .map(|(_, x)| *x);
    let others = d
        .install_lost_at_5pct
        .iter()
        .filter(|(m, _)| m != "upm-oauth")
        .map(|(_, x)| *x)
        .fold(None, |a: Option<f64>, x| Some(a.map_or(x, |a| a.max(x))));
    match (upm, others) {
        (Some(u), Some(o)) if u > o && u > 0.0 => Verdict::DependsOn(format!(
            "the install path: revocation works as claimed, but at 5% loss upm-oauth's install (the admin's consent legs and the code exchange) leaves {:.1}% of tenants without a token, against at most {:.1}% for the other token-using mechanisms",
            u * 100.0,
            o * 100.0
        )),
        _ => Verdict::Supported,
    }
}

/// What one breach of P's store bought (mean over the thefts).
#[derive(Clone, Copy)]
pub struct StoreBreach {
    pub unbounded: bool,
    pub at_least_horizon: bool,
    pub w_hours: f64,
    pub tokens: f64,
    pub tenant_hours: f64,
}

/// H21: P1 and P7 for trigger and push, and what a store breach bought each.
pub struct H21Data {
    pub p1: (Option<VerdictKind>, Option<VerdictKind>),
    pub p7: (Option<VerdictKind>, Option<VerdictKind>),
    pub trigger_store: Option<StoreBreach>,
    pub push_store: Option<StoreBreach>,
    /// A continuing read of the store closed after some hours: what it left behind.
    pub trigger_closed: Option<super::security::ClosedRead>,
    pub push_closed: Option<super::security::ClosedRead>,
}

/// Whether the attacker wins: a property that is n/a (its antecedent cannot arise, e.g. push
/// has no on-demand route for P7) or by design is not a loss; only a violation is.
fn violated(v: Option<VerdictKind>) -> Option<bool> {
    v.map(|v| v == VerdictKind::Violated)
}

fn breach_text(b: &StoreBreach) -> String {
    let ge = if b.at_least_horizon { "≥ " } else { "" };
    format!(
        "W {ge}{:.2} h, {:.1} tokens, {ge}{:.1} tenant-hours per theft",
        b.w_hours, b.tokens, b.tenant_hours
    )
}

pub fn h21_rule(d: &H21Data) -> Verdict {
    if [d.p1.0, d.p1.1, d.p7.0, d.p7.1].contains(&None) {
        return Verdict::NotEvaluated("no P1/P7 matrix rows for trigger or push".into());
    }
    let same_p1_p7 = violated(d.p1.0) == violated(d.p1.1) && violated(d.p7.0) == violated(d.p7.1);
    let closed = match (d.trigger_closed, d.push_closed) {
        (Some(t), Some(p)) => format!(
            "; a continuing read closed after {:.0} h leaves {:.2} h of API access with trigger and {:.2} h with push, and trigger's URL still accepted {}{:.2} h after the close{}",
            t.closed_after_h,
            t.api_access_after_close_h,
            p.api_access_after_close_h,
            if t.accepted_to_horizon { "≥ " } else { "" },
            t.accepted_after_close_h,
            if t.api_access_after_close_h <= p.api_access_after_close_h + 0.1 {
                " (quota burn: returned out of band it yields no token)"
            } else {
                ""
            }
        ),
        _ => String::new(),
    };
    match (d.trigger_store, d.push_store) {
        (Some(t), Some(p)) if same_p1_p7 && t.unbounded && !p.unbounded => {
            Verdict::DependsOn(format!(
                "the attack: neither violates P1 or P7 (push's P7 is n/a: it has no on-demand route); after one breach of P's store push's exposure is bounded by the TTL ({}) while trigger's URL keeps working ({}){}{closed}; push holds a live token for every installation, idle ones included",
                breach_text(&p),
                breach_text(&t),
                if p.tokens > t.tokens {
                    "; push gives the attacker more tokens, trigger more time"
                } else {
                    ""
                }
            ))
        }
        (Some(_), Some(_)) if same_p1_p7 => Verdict::Supported,
        (Some(_), Some(_)) => Verdict::Refuted,
        _ => Verdict::NotEvaluated("no trigger/push store rows".into()),
    }
}

/// What one partner mistake costs on one mechanism.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MistakeCost {
    /// A property of the matrix breaks with it (an attacker gains).
    Security,
    /// Only availability suffers (failed demands, lockouts, extra acquisitions).
    Availability,
    /// Nothing measured: neither a matrix row broke nor availability moved.
    NoneMeasured,
}

/// H6 and H24: per mechanism, the cost of each applicable partner mistake
/// (`hypotheses.md` H6's list), and whether the suite caught every planted mutant.
#[derive(Clone)]
pub struct MistakeData {
    pub per_mechanism: Vec<(String, Vec<MistakeCost>)>,
    pub suite_caught_every_mutant: bool,
}

impl MistakeData {
    fn count(&self, m: &str, cost: MistakeCost) -> Option<usize> {
        self.per_mechanism
            .iter()
            .find(|(x, _)| x == m)
            .map(|(_, v)| v.iter().filter(|c| **c == cost).count())
    }
}

/// H6 (as attack surface, not bug likelihood): supported if trigger leaves the partner more
/// mistakes with a security cost than every standard AS-based design; refuted if some such
/// design leaves at least as many, with at least as many costly ones overall.
pub fn h6_rule(d: &MistakeData) -> Verdict {
    if !d.suite_caught_every_mutant {
        return Verdict::NotEvaluated(
            "the suite missed a planted mutant, so a mistake's security cost may be missed too"
                .into(),
        );
    }
    let sec = |m| d.count(m, MistakeCost::Security);
    let costly =
        |m| Some(d.count(m, MistakeCost::Security)? + d.count(m, MistakeCost::Availability)?);
    let Some(t) = sec("trigger") else {
        return Verdict::NotEvaluated("no trigger mistakes".into());
    };
    let others: Vec<(&str, usize, usize)> = ["refresh", "tenant-secret", "global-secret"]
        .into_iter()
        .filter_map(|m| Some((m, sec(m)?, costly(m)?)))
        .collect();
    if others.is_empty() {
        return Verdict::NotEvaluated("no AS-based mechanism's mistakes".into());
    }
    let t_costly = costly("trigger").unwrap_or(t);
    if others.iter().all(|(_, s, _)| t > *s) {
        Verdict::Supported
    } else if others.iter().any(|(_, s, c)| *s >= t && *c >= t_costly) {
        Verdict::Refuted
    } else {
        Verdict::DependsOn(format!(
            "which mistakes the partner makes: trigger leaves {t} with a security cost and {t_costly} costly in all; {}",
            others
                .iter()
                .map(|(m, s, c)| format!("{m} {s} and {c}"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }
}

/// H24: mistakes with a security cost for trigger, refresh and tenant-secret, beside the
/// tenant-hours one stolen root credential bought (B × W).
pub struct H24Data {
    pub mistakes: Option<MistakeData>,
    /// (mechanism, tenant-hours of its root credential's exposure run).
    pub tenant_hours: Vec<(String, Option<f64>)>,
}

/// Reported as measured: depends on what the partner gets wrong, with the counts.
pub fn h24_rule(d: &H24Data) -> Verdict {
    let Some(m) = &d.mistakes else {
        return Verdict::NotEvaluated("no mistake runs".into());
    };
    let part = |x: &str| {
        let th = d
            .tenant_hours
            .iter()
            .find(|(y, _)| y == x)
            .and_then(|(_, v)| *v)
            .map_or("—".to_string(), |v| format!("{v:.1}"));
        format!(
            "{x} {} (B×W {th} tenant-h)",
            m.count(x, MistakeCost::Security).unwrap_or(0)
        )
    };
    Verdict::DependsOn(format!(
        "what the partner gets wrong: mistakes with a security cost: {}, {}, {}",
        part("trigger"),
        part("refresh"),
        part("tenant-secret")
    ))
}

/// H26: one stolen per-tenant secret, P1, and the long-lived secrets standing at P.
pub struct H26Data {
    pub blast_radius: Option<u64>,
    pub p1: Option<VerdictKind>,
    pub long_lived_per_installation: Option<f64>,
}

pub fn h26_rule(d: &H26Data) -> Verdict {
    match (d.blast_radius, d.p1) {
        (Some(b), Some(VerdictKind::Holds)) if b <= 1 => Verdict::DependsOn(format!(
            "standing secrets: P1 holds and one leaked secret reaches {b} tenant, but P keeps {} long-lived secret(s) per installation",
            d.long_lived_per_installation.unwrap_or(f64::NAN)
        )),
        (Some(_), Some(_)) => Verdict::Refuted,
        _ => Verdict::NotEvaluated("no tenant-secret rows".into()),
    }
}

/// CAL: whether loopback agrees with the simulator at 5 ms and keeps the order.
pub struct CalibrationData {
    pub all_agree: bool,
    pub same_ordering: bool,
}

pub fn calibration_rule(d: &CalibrationData) -> Verdict {
    if d.all_agree && d.same_ordering {
        Verdict::Supported
    } else {
        Verdict::Refuted
    }
}

/// H4 on PostgreSQL: one point of the sweep (a read_from at an apply delay).
pub struct PgPoint {
    pub replica: bool,
    pub stale: u64,
    /// The Wilson 95% lower bound of the stale share.
    pub ci_lo: f64,
}

pub struct PgData {
    pub points: Vec<PgPoint>,
}

pub fn pg_read_after_write_rule(d: &PgData) -> Verdict {
    let (replica, primary): (Vec<&PgPoint>, Vec<&PgPoint>) =
        d.points.iter().partition(|p| p.replica);
    if replica.is_empty() || primary.is_empty() {
        return Verdict::NotEvaluated("no standby or no primary points".into());
    }
    let primary_stale: u64 = primary.iter().map(|p| p.stale).sum();
    if primary_stale > 0 {
        return Verdict::Refuted;
    }
    let stale_points = replica
        .iter()
        .filter(|p| p.stale > 0 && p.ci_lo > 0.0)
        .count();
    match stale_points {
        0 => Verdict::Refuted,
        n if n == replica.len() => Verdict::Supported,
        n => Verdict::DependsOn(format!(
            "the standby's lag against the read-after-write window: stale reads at {n} of {} apply delays, none on the primary",
            replica.len()
        )),
    }
}

/// H7: mechanisms a stock OAuth client drives unmodified, and the others.
pub struct H7Data {
    pub stock_client: Vec<String>,
    pub bespoke: Vec<String>,
}

pub fn h7_rule(d: &H7Data) -> Verdict {
    match (d.stock_client.is_empty(), d.bespoke.is_empty()) {
        (false, false) => Verdict::DependsOn(format!(
            "the mechanism: a stock OAuth client works unmodified with {}; {} need bespoke partner code",
            d.stock_client.join(", "),
            d.bespoke.join(", ")
        )),
        (false, true) => Verdict::Supported,
        _ => Verdict::Refuted,
    }
}

/// What refresh's loopback burden says about its grant.
pub struct RefreshGrant {
    pub stock_client_usable: bool,
    pub inbound_endpoints: Vec<String>,
}

/// H22: refresh's grant and what receiving its RT needs.
pub struct H22Data {
    pub refresh: Option<RefreshGrant>,
}

pub fn h22_rule(d: &H22Data) -> Verdict {
    match &d.refresh {
        Some(b) if b.stock_client_usable && !b.inbound_endpoints.is_empty() => {
            Verdict::DependsOn(format!(
                "provisioning: the refresh_token grant is standard and the stock client uses it unmodified, but receiving the RT at install needs {} (not a grant type)",
                b.inbound_endpoints.join(", ")
            ))
        }
        Some(b) if b.stock_client_usable => Verdict::Refuted,
        Some(_) => Verdict::Supported,
        None => Verdict::NotEvaluated("no refresh burden row".into()),
    }
}

/// What decides a verdict, for its evidence label (item 4 of issue 19).
pub struct EvidenceData {
    /// The analytic identity of the model's own settings that fixes the outcome before any
    /// run, if there is one (a model input such as the push schedule, or a retry loop's
    /// arithmetic).
    pub fixed_by: Option<String>,
    /// The quantities the rule compares, each with its analytic prediction where one exists.
    pub compared: Vec<(Interval, Option<f64>)>,
}

/// Relative tolerance for "equals its prediction" (hdrhistogram keeps 3 significant digits).
pub const IDENTITY_TOLERANCE: f64 = 1e-3;

/// A model-consistency check when an identity of the model fixes the outcome, or when every
/// compared quantity has zero spread and equals its prediction (fixed delays: the verdict is
/// the formula evaluated at the parameters); measured otherwise.
pub fn evidence_kind_rule(d: &EvidenceData) -> (EvidenceKind, String) {
    if let Some(why) = &d.fixed_by {
        return (
            EvidenceKind::ModelConsistency,
            format!(
                "True by construction: {why}. Agreement shows the model computes what it should, not that one design is better."
            ),
        );
    }
    let identity = |(i, p): &(Interval, Option<f64>)| {
        let tol = IDENTITY_TOLERANCE * i.est.abs().max(1.0);
        (i.hi - i.lo).abs() <= tol && p.is_some_and(|p| (i.est - p).abs() <= tol)
    };
    if !d.compared.is_empty() && d.compared.iter().all(identity) {
        (
            EvidenceKind::ModelConsistency,
            "True by construction: every compared quantity has zero spread and equals its analytic prediction, so the verdict is the formula evaluated at the stated parameters (fixed link delays); agreement shows the model is right, not that one design is better.".into(),
        )
    } else {
        (
            EvidenceKind::Measured,
            "The outcome was open before the run: the compared quantities come from seeded draws (loss, lags, attacker timing, checkers over histories), not from a formula fixed by the settings.".into(),
        )
    }
}

/// The first value of a one-parameter sweep whose verdict differs from `current` (None: the
/// verdict holds over the whole sweep).
pub fn flip_in_sweep(current: &Verdict, sweep: &[SweepPoint]) -> Option<String> {
    let here = current.kind();
    sweep
        .iter()
        .find(|p| p.verdict != here)
        .map(|p| p.value.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use VerdictKind::{Holds, Violated};

    fn iv(est: f64, lo: f64, hi: f64) -> Interval {
        Interval { est, lo, hi }
    }

    fn is_open(v: &Verdict) -> bool {
        matches!(v, Verdict::NotEvaluated(_))
    }

    #[test]
    fn h1_flips() {
        let trig = vec![iv(217.0, 216.9, 217.1)];
        let refresh = vec![iv(135.0, 134.9, 135.1)];
        let cross = vec![iv(255.0, 254.9, 255.1)];
        let d = |v: Vec<(Vec<Interval>, Vec<Interval>)>| H1Data { per_preset: v };
        assert_eq!(
            h1_rule(&d(vec![(trig.clone(), refresh.clone())])),
            Verdict::Supported
        );
        assert_eq!(
            h1_rule(&d(vec![(refresh.clone(), trig.clone())])),
            Verdict::Refuted
        );
        // Presets are compared separately: cross-region refresh above same-region trigger is fine.
        assert_eq!(
            h1_rule(&d(vec![
                (trig, refresh),
                (vec![iv(457.0, 457.0, 457.0)], cross)
            ])),
            Verdict::Supported
        );
        assert!(is_open(&h1_rule(&d(vec![]))));
    }

    #[test]
    fn h2_flips() {
        let t = iv(0.81, 0.80, 0.82);
        let r = iv(0.90, 0.89, 0.91);
        let close = iv(0.995, 0.99, 1.0);
        type Pts = Vec<(f64, Interval, Vec<Interval>)>;
        let d = |no: Pts, with: Pts| H2Data {
            no_retry: no,
            with_retry: with,
            min_loss: 0.1,
            tail: vec![],
        };
        let no = vec![(0.05, t, vec![r]), (0.1, t, vec![r, r])];
        assert_eq!(h2_rule(&d(no.clone(), no.clone())), Verdict::Supported);
        let with = vec![(0.1, close, vec![close]), (0.2, t, vec![r])];
        let v = h2_rule(&d(no.clone(), with));
        assert!(
            matches!(&v, Verdict::DependsOn(c) if c.contains("worse at p = 0.2") && c.contains("overlap at p = 0.1")),
            "{v:?}"
        );
        // The tail: worse on every heavy-tailed preset makes the retries' recovery a wait,
        // supported; worse on some only keeps depends-on and names them.
        let with = vec![(0.1, close, vec![close]), (0.2, t, vec![r])];
        let slow = iv(10_000.0, 9_900.0, 10_100.0);
        let fast = iv(135.0, 135.0, 135.0);
        let tailed = |tail| H2Data {
            tail,
            ..d(no.clone(), with.clone())
        };
        assert_eq!(
            h2_rule(&tailed(vec![
                ("lossy".into(), slow, vec![fast]),
                ("flaky-partner".into(), slow, vec![fast, fast]),
            ])),
            Verdict::Supported
        );
        let v = h2_rule(&tailed(vec![
            ("lossy".into(), fast, vec![slow]),
            ("flaky-partner".into(), slow, vec![fast]),
        ]));
        assert!(
            matches!(&v, Verdict::DependsOn(c) if c.contains("on flaky-partner and not on lossy")),
            "{v:?}"
        );
        // One AS-based design no better than trigger: not worse than every one.
        let mixed = vec![(0.1, t, vec![r, iv(0.80, 0.79, 0.81)])];
        assert_eq!(h2_rule(&d(mixed.clone(), mixed)), Verdict::Refuted);
        // Flip the input: trigger no longer worse without retries.
        let flipped = vec![(0.1, r, vec![t])];
        assert_eq!(h2_rule(&d(flipped.clone(), flipped)), Verdict::Refuted);
        // Overlapping intervals are not evidence either way.
        let wide = vec![(0.1, iv(0.81, 0.75, 0.87), vec![iv(0.83, 0.78, 0.88)])];
        assert!(is_open(&h2_rule(&d(wide.clone(), wide))));
        assert!(is_open(&h2_rule(&d(vec![], vec![]))));
    }

    #[test]
    fn h4_flips() {
        let stale = (iv(0.4, 0.3, 0.5), Agreement::Agrees);
        let d = H4Data {
            uniform: vec![stale],
            fixed: vec![Agreement::Agrees],
            safe_variants_stale: vec![0, 0],
        };
        assert!(matches!(h4_rule(&d), Verdict::DependsOn(_)));
        // A safe variant with a stale read: the condition no longer removes them.
        let leaky = H4Data {
            safe_variants_stale: vec![0, 3],
            ..d
        };
        assert_eq!(h4_rule(&leaky), Verdict::Supported);
        let none = H4Data {
            uniform: vec![(iv(0.0, 0.0, 0.01), Agreement::Agrees)],
            fixed: vec![],
            safe_variants_stale: vec![],
        };
        assert_eq!(h4_rule(&none), Verdict::Refuted);
        let bug = H4Data {
            uniform: vec![stale],
            fixed: vec![Agreement::SimulatorBug],
            safe_variants_stale: vec![0],
        };
        assert_eq!(h4_rule(&bug), Verdict::Supported);
        let empty = H4Data {
            uniform: vec![],
            fixed: vec![],
            safe_variants_stale: vec![],
        };
        assert!(is_open(&h4_rule(&empty)));
    }

    #[test]
    fn h10_flips() {
        let cost = |m: f64, s: f64| DemandCost {
            messages_per_demand: m,
            success: iv(s, s - 0.01, s + 0.01),
        };
        let one = iv(1.0, 1.0, 1.0);
        let d = |push, trigger, pm| H10Data {
            push,
            trigger,
            push_month: pm,
            trigger_month: one,
            cold_events: 4.05,
        };
        let v = h10_rule(&d(cost(0.5, 0.9), cost(4.0, 1.0), one));
        assert!(matches!(&v, Verdict::DependsOn(c) if c.starts_with("the steady state")));
        let v = h10_rule(&d(cost(0.5, 1.0), cost(4.0, 1.0), iv(0.997, 0.996, 0.998)));
        assert!(matches!(&v, Verdict::DependsOn(c) if c.starts_with("the cold-start rate")));
        assert_eq!(
            h10_rule(&d(cost(0.5, 1.0), cost(4.0, 1.0), one)),
            Verdict::Supported
        );
        assert_eq!(
            h10_rule(&d(cost(5.0, 1.0), cost(4.0, 1.0), one)),
            Verdict::Refuted
        );
    }

    #[test]
    fn steady_flips() {
        let row = |m: &str, s: Interval, c: Interval| Availability {
            mechanism: m.into(),
            steady: s,
            cold_failed_per_event: c,
            month: iv(0.99, 0.98, 1.0),
        };
        let one = iv(1.0, 0.999, 1.0);
        let zero = iv(0.0, 0.0, 0.0);
        let d = |v| SteadyData { rows: v };
        assert!(matches!(
            steady_rule(&d(vec![
                row("a", one, zero),
                row("b", one, iv(30.0, 25.0, 35.0))
            ])),
            Verdict::DependsOn(_)
        ));
        assert_eq!(
            steady_rule(&d(vec![row("a", one, zero), row("b", one, zero)])),
            Verdict::Supported
        );
        assert_eq!(
            steady_rule(&d(vec![
                row("a", one, zero),
                row("b", iv(0.9, 0.89, 0.91), zero)
            ])),
            Verdict::Refuted
        );
        assert!(is_open(&steady_rule(&d(vec![]))));
    }

    #[test]
    fn h11_flips() {
        let d = |v| H11Data { ttft_min: v };
        assert_eq!(h11_rule(&d(vec![iv(30.0, 28.0, 32.0)])), Verdict::Supported);
        assert_eq!(h11_rule(&d(vec![iv(1.0, 0.5, 1.5)])), Verdict::Refuted);
        assert!(is_open(&h11_rule(&d(vec![]))));
    }

    #[test]
    fn h13_flips() {
        let long = iv(60.0, 55.0, 65.0);
        let short = iv(10.0, 8.0, 12.0);
        let d = |a, b, u3| H13Data {
            gap_ttl_1h: a,
            gap_ttl_4h: b,
            u3,
        };
        assert_eq!(
            h13_rule(&d(Some(long), Some(short), vec![Agreement::Agrees])),
            Verdict::Supported
        );
        assert!(matches!(
            h13_rule(&d(Some(long), Some(short), vec![Agreement::SimulatorBug])),
            Verdict::DependsOn(_)
        ));
        assert_eq!(
            h13_rule(&d(Some(short), Some(long), vec![])),
            Verdict::Refuted
        );
        assert!(is_open(&h13_rule(&d(None, Some(long), vec![]))));
    }

    #[test]
    fn h17_flips() {
        let d = |v| H17Data { growth_ms: v };
        assert_eq!(
            h17_rule(&d(vec![(240.0, 240.0), (120.4, 120.0)])),
            Verdict::Supported
        );
        assert_eq!(h17_rule(&d(vec![(130.0, 120.0)])), Verdict::Refuted);
        assert!(is_open(&h17_rule(&d(vec![]))));
    }

    #[test]
    fn h18_flips() {
        let herd = iv(3.0, 2.8, 3.2);
        let one = iv(1.0, 1.0, 1.0);
        let d = |s, f| H18Data {
            sample: s,
            single_flight: f,
        };
        assert_eq!(h18_rule(&d(Some(herd), Some(one))), Verdict::Supported);
        assert_eq!(h18_rule(&d(Some(one), Some(herd))), Verdict::Refuted);
        // Below the sample but still above one acquisition per miss.
        assert_eq!(
            h18_rule(&d(Some(herd), Some(iv(1.2, 1.1, 1.3)))),
            Verdict::Refuted
        );
        assert!(is_open(&h18_rule(&d(None, Some(one)))));
    }

    #[test]
    fn h19_flips() {
        let d = |a, b| H19Data {
            max_exp_regressions: a,
            last_write_regressions: b,
        };
        assert!(matches!(h19_rule(&d(0, 3)), Verdict::DependsOn(_)));
        assert_eq!(h19_rule(&d(1, 3)), Verdict::Refuted);
        assert!(is_open(&h19_rule(&d(0, 0))));
    }

    #[test]
    fn h20_flips() {
        let d = |v| H20Data { max_and_bound: v };
        assert_eq!(h20_rule(&d(vec![(1, 1), (3, 15)])), Verdict::Supported);
        assert_eq!(h20_rule(&d(vec![(1, 1), (16, 15)])), Verdict::Refuted);
        assert_eq!(h20_rule(&d(vec![(1, 1), (1, 15)])), Verdict::Refuted);
        assert!(is_open(&h20_rule(&d(vec![]))));
    }

    #[test]
    fn h25_flips() {
        let d = |t, r| H25Data {
            trigger_peak: t,
            refresh_peak: r,
        };
        assert_eq!(h25_rule(&d(Some(90), Some(60))), Verdict::Supported);
        assert_eq!(h25_rule(&d(Some(60), Some(60))), Verdict::Refuted);
        assert!(is_open(&h25_rule(&d(Some(60), None))));
    }

    #[test]
    fn lockout_flips() {
        let pt = |g: &str, p: f64, h: Interval| LockoutPoint {
            grace: g.into(),
            loss: p,
            hazard: h,
        };
        let bad = iv(0.05, 0.04, 0.06);
        let tiny = iv(0.0, 0.0, 0.001);
        let d = |v| LockoutData { points: v };
        assert!(matches!(
            lockout_rule(&d(vec![pt("0", 0.05, bad), pt("30s", 0.05, tiny)])),
            Verdict::DependsOn(_)
        ));
        // The grace window no longer helps.
        assert_eq!(
            lockout_rule(&d(vec![pt("0", 0.05, bad), pt("30s", 0.05, bad)])),
            Verdict::Refuted
        );
        // No lockouts without a grace window either.
        assert_eq!(
            lockout_rule(&d(vec![pt("0", 0.05, tiny), pt("30s", 0.05, tiny)])),
            Verdict::Refuted
        );
        assert!(is_open(&lockout_rule(&d(vec![]))));
    }

    #[test]
    fn load_flips() {
        let d = |p, o| LoadData {
            pushed_idle_mints: p,
            others_idle_mints: o,
        };
        assert_eq!(load_rule(&d(Some(1.0), vec![0.0, 0.0])), Verdict::Supported);
        assert_eq!(load_rule(&d(Some(1.0), vec![0.0, 0.2])), Verdict::Refuted);
        assert_eq!(load_rule(&d(Some(0.0), vec![0.0])), Verdict::Refuted);
        assert!(is_open(&load_rule(&d(None, vec![0.0]))));
    }

    #[test]
    fn provisioning_flips() {
        let d = |v: Vec<(&str, f64)>| ProvisioningData {
            lost_at_5pct: v.into_iter().map(|(m, x)| (m.to_string(), x)).collect(),
        };
        let v = provisioning_rule(&d(vec![("refresh", 0.01), ("trigger", 0.04)]));
        assert!(
            matches!(&v, Verdict::DependsOn(c) if c.contains("trigger leaves")),
            "{v:?}"
        );
        assert_eq!(
            provisioning_rule(&d(vec![("refresh", 0.0), ("trigger", 0.0)])),
            Verdict::Supported
        );
        assert!(is_open(&provisioning_rule(&d(vec![]))));
    }

    #[test]
    fn matrix_flips() {
        assert_eq!(
            matrix_rule(&MatrixData { mismatches: vec![] }),
            Verdict::Supported
        );
        assert!(matches!(
            matrix_rule(&MatrixData {
                mismatches: vec!["trigger P1: violated (expected holds)".into()]
            }),
            Verdict::DependsOn(_)
        ));
    }

    #[test]
    fn h5_flips() {
        let d = |gs, ts, gb, tb| H5Data {
            global_secret: gs,
            tenant_secret: ts,
            global_store: gb,
            tenant_store: tb,
        };
        assert!(matches!(
            h5_rule(&d(Some(20), Some(1), Some(20), Some(20))),
            Verdict::DependsOn(_)
        ));
        assert_eq!(
            h5_rule(&d(Some(20), Some(1), Some(20), Some(1))),
            Verdict::Supported
        );
        assert_eq!(
            h5_rule(&d(Some(1), Some(1), Some(20), Some(20))),
            Verdict::Refuted
        );
        assert!(is_open(&h5_rule(&d(None, Some(1), None, None))));
    }

    #[test]
    fn h9_flips() {
        let theft = |unbounded, tokens| UrlTheft {
            exposure_unbounded: unbounded,
            tokens_obtained: tokens,
            accepted: 12,
        };
        let d = |u| H9Data {
            url: u,
            in_band_p7: Some(Violated),
            in_band_url_auth_p7: Some(Holds),
        };
        assert!(matches!(
            h9_rule(&d(Some(theft(true, 0)))),
            Verdict::DependsOn(_)
        ));
        assert_eq!(h9_rule(&d(Some(theft(true, 3)))), Verdict::Supported);
        assert_eq!(h9_rule(&d(Some(theft(false, 0)))), Verdict::Refuted);
        assert!(is_open(&h9_rule(&d(None))));
    }

    #[test]
    fn h14_flips() {
        let d = |t, p| H14Data {
            trigger: t,
            push: p,
            trigger_item_tokens: Some(0.0),
        };
        assert!(matches!(
            h14_rule(&d(Some(1.0), Some(0.0))),
            Verdict::DependsOn(_)
        ));
        assert_eq!(h14_rule(&d(Some(0.0), Some(0.0))), Verdict::Supported);
        assert_eq!(h14_rule(&d(Some(1.0), Some(1.0))), Verdict::Refuted);
        assert!(is_open(&h14_rule(&d(None, Some(0.0)))));
    }

    #[test]
    fn h15_flips() {
        let d = |x| H15Data {
            shared_secret_unbounded: x,
        };
        assert!(matches!(h15_rule(&d(Some(true))), Verdict::DependsOn(_)));
        assert_eq!(h15_rule(&d(Some(false))), Verdict::Supported);
        assert!(is_open(&h15_rule(&d(None))));
    }

    #[test]
    fn h16_flips() {
        let d = |off, on| H16Data {
            upm_oauth: Some(Revocation {
                api_check_off_s: off,
                api_check_on_s: on,
            }),
            ttl_s: 4.0 * 3600.0,
            install_lost_at_5pct: vec![],
        };
        assert_eq!(h16_rule(&d(Some(3600.0), Some(0.0))), Verdict::Supported);
        assert_eq!(h16_rule(&d(Some(3600.0), Some(60.0))), Verdict::Refuted);
        assert_eq!(
            h16_rule(&d(Some(5.0 * 3600.0), Some(0.0))),
            Verdict::Refuted
        );
        // The install path weighs in: worse than every other mechanism flips to depends-on.
        let with_install = |upm: f64| H16Data {
            install_lost_at_5pct: vec![("refresh".into(), 0.01), ("upm-oauth".into(), upm)],
            ..d(Some(3600.0), Some(0.0))
        };
        assert!(matches!(
            h16_rule(&with_install(0.2)),
            Verdict::DependsOn(_)
        ));
        assert_eq!(h16_rule(&with_install(0.01)), Verdict::Supported);
        let none = H16Data {
            upm_oauth: None,
            ttl_s: 4.0 * 3600.0,
            install_lost_at_5pct: vec![],
        };
        assert!(is_open(&h16_rule(&none)));
    }

    #[test]
    fn h21_flips() {
        let b = |unbounded: bool| StoreBreach {
            unbounded,
            at_least_horizon: unbounded,
            w_hours: if unbounded { 12.0 } else { 4.0 },
            tokens: if unbounded { 2.0 } else { 4.0 },
            tenant_hours: 8.0,
        };
        let closed = |api, any, to_horizon| super::super::security::ClosedRead {
            closed_after_h: 2.0,
            api_access_after_close_h: api,
            accepted_after_close_h: any,
            accepted_to_horizon: to_horizon,
        };
        let d = |p1b, t: Option<bool>, p: Option<bool>| H21Data {
            p1: (Some(Holds), Some(p1b)),
            p7: (Some(Holds), Some(Holds)),
            trigger_store: t.map(b),
            push_store: p.map(b),
            trigger_closed: Some(closed(3.6, 10.0, true)),
            push_closed: Some(closed(3.5, 3.5, false)),
        };
        let v = h21_rule(&d(Holds, Some(true), Some(false)));
        assert!(
            matches!(&v, Verdict::DependsOn(c) if c.contains("3.60 h of API access with trigger and 3.50 h with push, and trigger's URL still accepted ≥ 10.00 h after the close (quota burn")),
            "{v:?}"
        );
        // n/a (no such route in push) is not a loss: it compares like holds.
        assert!(matches!(
            h21_rule(&d(VerdictKind::NotApplicable, Some(true), Some(false))),
            Verdict::DependsOn(_)
        ));
        assert!(
            matches!(&v, Verdict::DependsOn(c) if c.contains("push gives the attacker more tokens")),
            "{v:?}"
        );
        assert!(matches!(
            h21_rule(&d(Holds, Some(true), Some(false))),
            Verdict::DependsOn(_)
        ));
        assert_eq!(
            h21_rule(&d(Holds, Some(false), Some(false))),
            Verdict::Supported
        );
        assert_eq!(
            h21_rule(&d(Violated, Some(true), Some(false))),
            Verdict::Refuted
        );
        assert!(is_open(&h21_rule(&d(Holds, None, Some(false)))));
    }

    #[test]
    fn h6_flips() {
        use MistakeCost::*;
        let d = |t: Vec<MistakeCost>, r: Vec<MistakeCost>, caught| MistakeData {
            per_mechanism: vec![("trigger".into(), t), ("refresh".into(), r)],
            suite_caught_every_mutant: caught,
        };
        assert_eq!(
            h6_rule(&d(vec![Security, Security], vec![Security], true)),
            Verdict::Supported
        );
        assert!(matches!(
            h6_rule(&d(vec![Security], vec![Security, Availability], true)),
            Verdict::Refuted
        ));
        assert!(matches!(
            h6_rule(&d(
                vec![Security, Availability, Availability],
                vec![Security],
                true
            )),
            Verdict::DependsOn(_)
        ));
        assert!(is_open(&h6_rule(&d(vec![Security], vec![], false))));
    }

    #[test]
    fn h24_flips() {
        let d = |t: usize| H24Data {
            mistakes: Some(MistakeData {
                per_mechanism: vec![
                    ("trigger".into(), vec![MistakeCost::Security; t]),
                    ("refresh".into(), vec![MistakeCost::Security]),
                ],
                suite_caught_every_mutant: true,
            }),
            tenant_hours: vec![("trigger".into(), Some(12.0))],
        };
        let a = h24_rule(&d(5));
        assert!(matches!(&a, Verdict::DependsOn(c) if c.contains("trigger 5 (B×W 12.0")));
        assert_ne!(a, h24_rule(&d(1)));
        assert!(is_open(&h24_rule(&H24Data {
            mistakes: None,
            tenant_hours: vec![]
        })));
    }

    #[test]
    fn h26_flips() {
        let d = |b, p1| H26Data {
            blast_radius: b,
            p1,
            long_lived_per_installation: Some(1.0),
        };
        assert!(matches!(
            h26_rule(&d(Some(1), Some(Holds))),
            Verdict::DependsOn(_)
        ));
        assert_eq!(h26_rule(&d(Some(20), Some(Holds))), Verdict::Refuted);
        assert_eq!(h26_rule(&d(Some(1), Some(Violated))), Verdict::Refuted);
        assert!(is_open(&h26_rule(&d(None, Some(Holds)))));
    }

    #[test]
    fn calibration_flips() {
        let d = |a, o| CalibrationData {
            all_agree: a,
            same_ordering: o,
        };
        assert_eq!(calibration_rule(&d(true, true)), Verdict::Supported);
        let pt = |replica: bool, stale: u64, ci_lo: f64| PgPoint {
            replica,
            stale,
            ci_lo,
        };
        let pg = |points| pg_read_after_write_rule(&PgData { points });
        assert_eq!(
            pg(vec![pt(true, 30, 0.9), pt(false, 0, 0.0)]),
            Verdict::Supported
        );
        assert!(matches!(
            pg(vec![pt(true, 30, 0.9), pt(true, 0, 0.0), pt(false, 0, 0.0)]),
            Verdict::DependsOn(_)
        ));
        assert_eq!(
            pg(vec![pt(true, 0, 0.0), pt(false, 0, 0.0)]),
            Verdict::Refuted
        );
        // A stale read on the primary refutes, whatever the standby does.
        assert_eq!(
            pg(vec![pt(true, 30, 0.9), pt(false, 1, 0.0)]),
            Verdict::Refuted
        );
        assert!(matches!(pg(vec![]), Verdict::NotEvaluated(_)));
        assert_eq!(calibration_rule(&d(true, false)), Verdict::Refuted);
        assert_eq!(calibration_rule(&d(false, true)), Verdict::Refuted);
    }

    #[test]
    fn h7_flips() {
        let d = |s: &[&str], b: &[&str]| H7Data {
            stock_client: s.iter().map(|x| x.to_string()).collect(),
            bespoke: b.iter().map(|x| x.to_string()).collect(),
        };
        assert!(matches!(
            h7_rule(&d(&["refresh"], &["trigger"])),
            Verdict::DependsOn(_)
        ));
        assert_eq!(h7_rule(&d(&["refresh"], &[])), Verdict::Supported);
        assert_eq!(h7_rule(&d(&[], &["trigger"])), Verdict::Refuted);
    }

    #[test]
    fn h22_flips() {
        let d = |usable, inbound: &[&str]| H22Data {
            refresh: Some(RefreshGrant {
                stock_client_usable: usable,
                inbound_endpoints: inbound.iter().map(|x| x.to_string()).collect(),
            }),
        };
        assert!(matches!(
            h22_rule(&d(true, &["P.recv POST /rt"])),
            Verdict::DependsOn(_)
        ));
        assert_eq!(h22_rule(&d(true, &[])), Verdict::Refuted);
        assert_eq!(h22_rule(&d(false, &[])), Verdict::Supported);
        assert!(is_open(&h22_rule(&H22Data { refresh: None })));
    }

    #[test]
    fn evidence_kind_flips() {
        let exact = (iv(217.0, 217.0, 217.0), Some(217.0));
        let d = |fixed: Option<&str>, c: Vec<(Interval, Option<f64>)>| EvidenceData {
            fixed_by: fixed.map(String::from),
            compared: c,
        };
        assert_eq!(
            evidence_kind_rule(&d(None, vec![exact])).0,
            EvidenceKind::ModelConsistency
        );
        // Spread (a heavy-tailed preset) makes it a measurement.
        assert_eq!(
            evidence_kind_rule(&d(None, vec![(iv(217.0, 210.0, 230.0), Some(217.0))])).0,
            EvidenceKind::Measured
        );
        // Zero spread but away from the formula: measured too.
        assert_eq!(
            evidence_kind_rule(&d(None, vec![(iv(250.0, 250.0, 250.0), Some(217.0))])).0,
            EvidenceKind::Measured
        );
        assert_eq!(
            evidence_kind_rule(&d(None, vec![])).0,
            EvidenceKind::Measured
        );
        assert_eq!(
            evidence_kind_rule(&d(Some("a model input"), vec![])).0,
            EvidenceKind::ModelConsistency
        );
    }

    #[test]
    fn flip_in_sweep_flips() {
        let pt = |v: &str, verdict: &Verdict| SweepPoint {
            value: v.into(),
            verdict: verdict.kind().into(),
        };
        let sweep = vec![
            pt("0.1", &Verdict::Supported),
            pt("0.2", &Verdict::Supported),
            pt("0.5", &Verdict::Refuted),
        ];
        assert_eq!(
            flip_in_sweep(&Verdict::Supported, &sweep),
            Some("0.5".to_string())
        );
        assert_eq!(
            flip_in_sweep(&Verdict::Refuted, &sweep),
            Some("0.1".to_string())
        );
        assert_eq!(flip_in_sweep(&Verdict::Supported, &sweep[..2]), None);
    }

    #[test]
    fn h8_h27_flip() {
        let c = |m: &str, v: &[f64]| Candidate {
            mechanism: m.into(),
            scores: v.iter().map(|x| Some(*x)).collect(),
        };
        let cols = vec!["a".to_string(), "b".to_string()];
        let mixed = H8Data {
            columns: cols.clone(),
            candidates: vec![c("x", &[1.0, 0.0]), c("y", &[0.0, 1.0])],
        };
        assert!(matches!(h8_rule(&mixed), Verdict::DependsOn(s) if s.starts_with("the weighting")));
        let dom = H8Data {
            columns: cols.clone(),
            candidates: vec![c("x", &[1.0, 1.0]), c("y", &[0.0, 1.0])],
        };
        assert!(
            matches!(h8_rule(&dom), Verdict::DependsOn(s) if s.starts_with("the security columns: x"))
        );
        // A missing score is the worst value, never a silent drop.
        let missing = Candidate {
            mechanism: "push".into(),
            scores: vec![None, Some(5.0)],
        };
        assert_eq!(
            dominant(&[missing.clone(), c("y", &[0.0, 1.0])]),
            Vec::<String>::new()
        );
        let d = |ll: Vec<Candidate>, p: Candidate| H27Data {
            columns: cols.clone(),
            long_lived: ll,
            push: Some(p),
        };
        assert_eq!(
            h27_rule(&d(vec![c("r", &[1.0, 1.0])], c("push", &[0.0, 1.0]))),
            Verdict::Supported
        );
        assert_eq!(
            h27_rule(&d(vec![c("r", &[0.0, 0.0])], c("push", &[0.0, 1.0]))),
            Verdict::Refuted
        );
        assert!(matches!(
            h27_rule(&d(vec![c("r", &[1.0, 0.0])], c("push", &[0.0, 1.0]))),
            Verdict::DependsOn(_)
        ));
    }
}
