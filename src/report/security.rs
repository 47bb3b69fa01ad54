//! The security half of the report: the property matrix of `tokenlab check` and the attack
//! table of `tokenlab attack --table`, both run here from the report's seed (they are seeded
//! and deterministic), and the hypotheses that rest on them (H5, H6, H9, H14, H15, H16, H21,
//! H24, H26), each with a rule over those numbers.

use super::analytic::ttl_s;
use super::rules::*;
use super::section::{Block, Section, Verdict};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;
use tokenlab_models::mechanisms::registry;
use tokenlab_properties::attack::{
    ATTACK_TENANTS, AttackRequest, AttackResult, Mode, attack, attack_table,
};
use tokenlab_properties::suite::{CheckBudget, MatrixRow, expectations, run_row_searched};
use tokenlab_properties::{Property, VerdictKind};

#[derive(Clone, Debug, Serialize)]
pub struct SecurityData {
    /// Full-size cases behind a row whose small world was not exhausted.
    pub cases: u32,
    /// The search budget the matrix ran with (`check`'s names: default, quick, report).
    pub budget: &'static str,
    pub matrix: Vec<MatrixRow>,
    /// Rows run for H6/H24 beside the matrix: each applicable partner mistake judged on the
    /// properties it can break, where `expectations.md` has no row for it (no expectation:
    /// what they show is reported, not compared).
    pub mistake_rows: Vec<MatrixRow>,
    pub attacks: Vec<AttackRow>,
}

/// The properties a partner mistake can break (`hypotheses.md` H6): the wrong tenant key
/// crosses tenants (P1); no FIT check lets forged deliveries in (P7, P8); no exp check could
/// keep a revoked or expired T in use (P5); no lock races the partner's refreshes into reuse
/// detection (P9); no `state` opens the authorization to a forged callback (P3, P6).
/// Keeping the last write is an availability mistake only: no property judges it.
pub fn mistake_properties(switch: &str) -> &'static [Property] {
    match switch {
        "store_key=body" => &[Property::P1],
        "fit_check=off" => &[Property::P7, Property::P8],
        "check_exp=off" => &[Property::P5],
        "single_flight=off" => &[Property::P9],
        "state=off" => &[Property::P3, Property::P6],
        _ => &[],
    }
}

/// The mistake rows to run: (mechanism, mistake, property) without an expectation row that
/// sets the mistake's switch for that property.
fn mistake_expectations(
    table: &[tokenlab_properties::suite::Expectation],
    only_mechanisms: Option<&[&str]>,
) -> Vec<tokenlab_properties::suite::Expectation> {
    let mut out = Vec::new();
    for m in registry() {
        let m = m.id();
        if only_mechanisms.is_some_and(|ms| !ms.contains(&m)) {
            continue;
        }
        for (_, switch) in super::experiments::partner_mistakes(m) {
            for p in mistake_properties(switch) {
                let covered = table.iter().any(|e| {
                    e.mechanism == m && e.property == *p && e.sets.iter().any(|s| s == switch)
                });
                if !covered {
                    out.push(tokenlab_properties::suite::Expectation::adhoc(
                        m,
                        &[switch],
                        *p,
                    ));
                }
            }
        }
    }
    out
}

/// One row of the attack table (`workload.md` §9, exposure runs): the credential stolen
/// `thefts` times at drawn times with no uninstall or revocation during the run, W from each
/// theft to the attacker's last accepted use ("≥ horizon" when that reached the run's end),
/// tokens and tenant-hours of access obtained; beside it the table's run with a revocation
/// 30 min after the theft, which gives R, detection and the secrets at rest.
#[derive(Clone, Debug, Serialize)]
pub struct AttackRow {
    pub mechanism: String,
    pub sets: Vec<String>,
    pub credential: String,
    pub mode: Mode,
    pub thefts: u32,
    pub stolen_at_s: Vec<f64>,
    /// The victim of each theft, drawn (workload.md §9: times and victims drawn); the
    /// whole-store rows reach every tenant whichever is named.
    pub victims: Vec<u32>,
    /// Mean W over the thefts, hours (a theft that bought nothing counts 0); None: none bought
    /// anything. When `w_at_least_horizon`, a lower bound.
    pub w_hours: Option<f64>,
    pub w_hours_min: Option<f64>,
    pub w_hours_max: Option<f64>,
    /// True when some theft's exposure reached the run's horizon (within two probes).
    pub w_at_least_horizon: bool,
    /// The shortest theft-to-horizon span over the thefts, hours.
    pub horizon_hours: f64,
    /// Distinct tokens the attacker used at the API, mean per theft.
    pub tokens_obtained: f64,
    /// Tenants the attacker reached (most over the thefts).
    pub tenants_compromised: u64,
    /// Mean over thefts of B × W (tenant-hours; an upper bound: W is the last use over all
    /// tenants reached). None where W is not measured (a continuing breach: the attack harness
    /// gives no W for it, the breach lasts to the horizon).
    pub tenant_hours: Option<f64>,
    pub exposure_unbounded: bool,
    pub exposure_bound_h: Option<f64>,
    /// A continuing read closed by the partner: what it left behind.
    pub closed_read: Option<ClosedRead>,
    /// Secrets at rest at P at the end of the first theft's counterfactual run (no attacker,
    /// no revocation: every installation counted, so denominators agree across rows).
    pub standing_secrets: tokenlab_properties::attack::StandingSecrets,
    /// The attack table's run (revocation 30 min after the theft); None for rows without one.
    pub revocation_run: Option<AttackResult>,
}

/// What a continuing read of P's store left behind once the partner closed it (means over
/// the thefts, hours).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct ClosedRead {
    /// From the theft to the close.
    pub closed_after_h: f64,
    /// From the close to the attacker's last accepted use at the API (data access).
    pub api_access_after_close_h: f64,
    /// From the close to the attacker's last accepted request of any kind (a URL that only
    /// burns quota included); `accepted_to_horizon` when that reached the run's end.
    pub accepted_after_close_h: f64,
    pub accepted_to_horizon: bool,
}

/// Thefts per attack-table row: `workload.md` §9 repeats each leak row.
pub fn thefts(cases: u32) -> u32 {
    if cases >= 3 { 5 } else { 3 }
}

/// A uniform draw in [0, 1) for theft `k` on `stream` (splitmix64 of the seed: no global
/// randomness).
fn theft_draw(seed: u64, k: u32, stream: u64) -> f64 {
    let mut z = seed ^ (u64::from(k)).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ stream;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// Theft times and victims: the table's first theft time, then one per hour with a drawn
/// offset; every theft's victim drawn among the run's installations.
fn thefts_drawn(first_s: f64, n: u32, seed: u64) -> Vec<(f64, u32)> {
    const VICTIM_STREAM: u64 = 0x7669_6374_696d; // "victim"
    (0..n)
        .map(|k| {
            let at = if k == 0 {
                first_s
            } else {
                (first_s + f64::from(k) * 3600.0 + (theft_draw(seed, k, 0) * 3600.0).floor())
                    .round()
            };
            let victim = (theft_draw(seed, k, VICTIM_STREAM) * f64::from(ATTACK_TENANTS)) as u32;
            (at, victim.min(ATTACK_TENANTS - 1))
        })
        .collect()
}

/// Aggregates the exposure runs of one row.
fn exposure_row(
    runs: &[AttackResult],
    mode: Mode,
    revocation_run: Option<AttackResult>,
) -> Option<AttackRow> {
    let first = runs.first()?;
    let n = runs.len() as f64;
    let w: Vec<f64> = runs
        .iter()
        .map(|a| a.exposure_window_s.unwrap_or(0.0) / 3600.0)
        .collect();
    let bought = runs.iter().any(|a| a.exposure_window_s.is_some());
    let at_horizon = runs.iter().any(|a| {
        a.exposure_window_s
            .is_some_and(|x| x >= a.horizon_s - a.stolen_at_s - 2.0 * a.resolution_s)
    });
    let mean = w.iter().sum::<f64>() / n;
    Some(AttackRow {
        mechanism: first.mechanism.clone(),
        sets: first.sets.clone(),
        credential: first.credential.clone(),
        mode,
        thefts: runs.len() as u32,
        stolen_at_s: runs.iter().map(|a| a.stolen_at_s).collect(),
        victims: runs.iter().map(|a| a.victim.0).collect(),
        w_hours: bought.then_some(mean),
        w_hours_min: bought.then(|| w.iter().copied().fold(f64::INFINITY, f64::min)),
        w_hours_max: bought.then(|| w.iter().copied().fold(0.0, f64::max)),
        w_at_least_horizon: at_horizon,
        horizon_hours: runs
            .iter()
            .map(|a| (a.horizon_s - a.stolen_at_s) / 3600.0)
            .fold(f64::INFINITY, f64::min),
        tokens_obtained: runs.iter().map(|a| a.tokens_obtained as f64).sum::<f64>() / n,
        tenants_compromised: runs
            .iter()
            .map(|a| a.tenants_compromised)
            .max()
            .unwrap_or(0),
        tenant_hours: bought.then(|| {
            runs.iter()
                .zip(&w)
                .map(|(a, w)| a.tenants_compromised as f64 * w)
                .sum::<f64>()
                / n
        }),
        exposure_unbounded: runs.iter().any(|a| a.exposure_unbounded),
        exposure_bound_h: first.exposure_bound_s.map(|s| s / 3600.0),
        closed_read: first.exposure_after_close_s.map(|_| {
            let mean = |x: fn(&AttackResult) -> Option<f64>| {
                runs.iter()
                    .map(|a| x(a).unwrap_or(0.0) / 3600.0)
                    .sum::<f64>()
                    / n
            };
            ClosedRead {
                closed_after_h: CONTINUING_READ_S / 3600.0,
                api_access_after_close_h: mean(|a| a.exposure_after_close_s),
                accepted_after_close_h: mean(|a| a.accepted_after_close_s),
                accepted_to_horizon: runs.iter().any(|a| {
                    a.accepted_after_close_s.is_some_and(|x| {
                        x >= a.horizon_s - a.stolen_at_s - CONTINUING_READ_S - 2.0 * a.resolution_s
                    })
                }),
            }
        }),
        standing_secrets: first.standing_secrets.clone(),
        revocation_run,
    })
}

/// The exposure runs of one request: `n` thefts, no revocation.
fn exposure_runs(req: &AttackRequest, n: u32) -> Vec<AttackResult> {
    thefts_drawn(req.at_s, n, req.seed)
        .into_iter()
        .filter_map(|(at_s, victim)| {
            attack(&AttackRequest {
                at_s,
                victim,
                reads_end_at_s: (req.mode == Mode::Continuing).then_some(at_s + CONTINUING_READ_S),
                revoke_at_s: None,
                ..req.clone()
            })
            .ok()
        })
        .collect()
}

/// The mechanisms whose whole store is also breached continuously (H9, H21): the thread's
/// comparison of the trigger URL against pushed tokens.
pub const CONTINUING_BREACH: [&str; 2] = ["trigger", "push"];
/// Thefts of a continuing breach (each simulates the attacker reading every write).
pub const CONTINUING_THEFTS: u32 = 2;
/// How long a continuing read of P's store lasts before the partner finds and closes it
/// (an assumption of the experiment, not a measured value): W after the close is what the
/// breach leaves behind, the thread's "persistent backdoor".
pub const CONTINUING_READ_S: f64 = 2.0 * 3600.0;

/// `only_mechanisms`: restrict the matrix (the pipeline's own tests use two mechanisms). Rows
/// run in parallel; each is searched as `check` searches it, within `budget`.
pub fn compute(seed: u64, budget: CheckBudget, only_mechanisms: Option<&[&str]>) -> SecurityData {
    let table = expectations();
    let mistakes = mistake_expectations(&table, only_mechanisms);
    let rows: Vec<_> = table
        .into_iter()
        .filter(|e| only_mechanisms.is_none_or(|ms| ms.contains(&e.mechanism.as_str())))
        .collect();
    let mut matrix: Vec<MatrixRow> = rows
        .iter()
        .chain(&mistakes)
        .collect::<Vec<_>>()
        .par_iter()
        .map(|e| run_row_searched(e, &budget, seed))
        .collect();
    let mistake_rows = matrix.split_off(rows.len());
    let n = thefts(budget.cases_open);
    // Every exposure request, in table order; run in parallel, collected in that order.
    let table = attack_table(seed);
    let mut jobs: Vec<(usize, Mode, AttackRequest)> = Vec::new();
    for (i, a) in table.iter().enumerate() {
        let credential = (a.credential != "store").then_some(a.credential.as_str());
        let req = AttackRequest {
            mode: a.mode,
            at_s: a.stolen_at_s,
            ..AttackRequest::snapshot(&a.mechanism, &a.sets, credential, a.from, seed)
        };
        let continuing =
            req.credential.is_none() && CONTINUING_BREACH.contains(&a.mechanism.as_str());
        jobs.push((i, a.mode, req.clone()));
        if continuing {
            jobs.push((
                i,
                Mode::Continuing,
                AttackRequest {
                    mode: Mode::Continuing,
                    ..req
                },
            ));
        }
    }
    let runs: Vec<(usize, Mode, Vec<AttackResult>)> = jobs
        .par_iter()
        .map(|(i, mode, req)| {
            // A continuing breach costs far more to simulate: fewer thefts, stated in its row.
            let k = if *mode == Mode::Continuing {
                CONTINUING_THEFTS
            } else {
                n
            };
            (*i, *mode, exposure_runs(req, k))
        })
        .collect();
    let mut attacks = Vec::new();
    for (i, mode, r) in runs {
        let revocation = (mode == Mode::Snapshot).then(|| table[i].clone());
        if let Some(row) = exposure_row(&r, mode, revocation) {
            attacks.push(row);
        }
    }
    SecurityData {
        cases: budget.cases_open,
        budget: budget.name,
        matrix,
        mistake_rows,
        attacks,
    }
}

pub const PROPERTIES: [&str; 12] = [
    "P1", "P2", "P3", "P4", "P5", "P6", "P7", "P8", "P9", "P10", "P11", "P12",
];

impl SecurityData {
    /// The attack table's run of a credential (revocation 30 min after the theft).
    pub fn attack(&self, mechanism: &str, credential: &str) -> Option<&AttackResult> {
        self.exposure(mechanism, credential)
            .and_then(|a| a.revocation_run.as_ref())
    }
    /// The exposure row of a credential (snapshot theft, no revocation).
    pub fn exposure(&self, mechanism: &str, credential: &str) -> Option<&AttackRow> {
        self.attacks.iter().find(|a| {
            a.mechanism == mechanism
                && a.credential == credential
                && a.sets.is_empty()
                && a.mode == Mode::Snapshot
        })
    }
    /// The continuing breach of the whole store, where it was run.
    pub fn continuing(&self, mechanism: &str) -> Option<&AttackRow> {
        self.attacks
            .iter()
            .find(|a| a.mechanism == mechanism && a.mode == Mode::Continuing)
    }
    /// The exposure row of a mechanism's root credential (see [`SecurityData::root`]).
    pub fn root_exposure(&self, mechanism: &str) -> Option<&AttackRow> {
        let r = self.root(mechanism)?;
        self.exposure(mechanism, &r.credential)
    }
    /// The long-lived root credential of a mechanism: the first row of its attack table.
    /// (Not `Mechanism::root_credential`: for upm-oauth that names the per-tenant refresh
    /// token, while the table, and so the published scorecard, leads with the app's client
    /// secret.)
    pub fn root(&self, mechanism: &str) -> Option<&AttackResult> {
        self.attacks
            .iter()
            .filter(|a| a.mode == Mode::Snapshot)
            .filter_map(|a| a.revocation_run.as_ref())
            .find(|a| a.mechanism == mechanism && a.sets.is_empty() && a.credential != "store")
    }
    pub fn verdict(&self, mechanism: &str, variant: Option<&str>, p: &str) -> Option<VerdictKind> {
        self.matrix
            .iter()
            .find(|r| {
                r.mechanism == mechanism && r.variant.as_deref() == variant && r.property == p
            })
            .map(|r| r.verdict)
    }
    /// Live items with lifetime > 1 day at P per installation, from the attack runs'
    /// counterfactual (no attacker).
    pub fn long_lived_per_installation(&self, mechanism: &str) -> Option<f64> {
        let a = self.root_exposure(mechanism)?;
        let n: u64 = a
            .standing_secrets
            .by_kind
            .iter()
            .filter(|(k, _)| k.ends_with("> 1 day"))
            .map(|(_, v)| *v)
            .sum();
        Some(n as f64 / a.standing_secrets.installations.max(1) as f64)
    }
    /// Items living over a day at P, split by scope: (own items per installation, distinct
    /// app-wide items). An app-wide item is one item stored in several installations' rows
    /// (global-secret's secret): counted once, not once per installation.
    pub fn long_lived_by_scope(&self, mechanism: &str) -> Option<(f64, u64)> {
        let per_installation = self.long_lived_per_installation(mechanism)?;
        let s = &self.root_exposure(mechanism)?.standing_secrets;
        let (shared_rows, shared_items) = s
            .shared
            .iter()
            .filter(|(k, _)| k.ends_with("> 1 day"))
            .fold((0, 0), |(r, i), (_, x)| (r + x.rows, i + x.items));
        Some((
            per_installation - shared_rows as f64 / s.installations.max(1) as f64,
            shared_items,
        ))
    }
    /// The default profile's violated properties grouped by cause, each with the switches under
    /// which the mechanism's matrix rows hold. Tenant isolation (P1) and credential binding
    /// (P9) broken by a credential that is app-wide by design (its measured theft reaches
    /// more than one tenant) are one definitional cause, counted once.
    pub fn violation_causes(&self, mechanism: &str) -> Vec<ViolationCause> {
        let app_wide = self
            .root_exposure(mechanism)
            .filter(|a| a.tenants_compromised > 1)
            .map(|a| (a.credential.as_str(), a.tenants_compromised));
        violation_causes(&self.matrix, mechanism, app_wide)
    }
    /// Default-profile properties that hold (or are n/a, by design) out of those checked.
    pub fn invariants_held(&self, mechanism: &str) -> (usize, usize) {
        let rows: Vec<&MatrixRow> = self
            .matrix
            .iter()
            .filter(|r| r.mechanism == mechanism && r.variant.is_none())
            .collect();
        let held = rows
            .iter()
            .filter(|r| r.verdict != VerdictKind::Violated)
            .count();
        (held, rows.len())
    }
}

/// The properties an app-wide credential breaks by definition (`threats.md` P1: its reach of
/// every tenant is B1, its violations come from the one secret accepted for any tenant; P9:
/// the secret is bound to the app only, the same Accept as P1).
const DEFINITIONAL: [&str; 2] = ["P1", "P9"];

/// One cause of a mechanism's default-profile violations.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ViolationCause {
    pub properties: Vec<String>,
    pub cause: String,
    /// True when the design itself decides it (no switch restores it).
    pub definitional: bool,
    /// The matrix's variants under which these properties hold.
    pub holds_with: Vec<String>,
    /// For a definitional cause: the mechanism's variants under which a property the default
    /// profile does not keep holds (what a deployment can add beside it), "switch (property)".
    pub mitigations: Vec<String>,
}

impl ViolationCause {
    /// "P1+P9 (definitional: …)" or "P5 (holds with tenant_block=on)".
    pub fn label(&self) -> String {
        let props = self.properties.join("+");
        if self.definitional {
            format!("{props} one cause, definitional")
        } else if self.holds_with.is_empty() {
            format!("{props} (no switch in the matrix restores it)")
        } else {
            format!("{props} (holds with {})", self.holds_with.join(", "))
        }
    }
}

/// See [`SecurityData::violation_causes`]; `app_wide`: the root credential and the tenants one
/// theft of it reached, when that is more than one.
fn violation_causes(
    matrix: &[MatrixRow],
    mechanism: &str,
    app_wide: Option<(&str, u64)>,
) -> Vec<ViolationCause> {
    let violated: Vec<&MatrixRow> = matrix
        .iter()
        .filter(|r| r.mechanism == mechanism && r.variant.is_none())
        .filter(|r| r.verdict == VerdictKind::Violated)
        .collect();
    let holds_with = |props: &[&str]| -> Vec<String> {
        matrix
            .iter()
            .filter(|r| r.mechanism == mechanism && props.contains(&r.property.as_str()))
            .filter(|r| r.verdict == VerdictKind::Holds)
            .filter_map(|r| r.variant.clone())
            .collect()
    };
    // Variants that turn a property the default profile does not keep (violated or
    // by-design) into one that holds: what a deployment can add beside a definitional cause.
    let mitigations: Vec<String> = matrix
        .iter()
        .filter(|r| r.mechanism == mechanism && r.verdict == VerdictKind::Holds)
        .filter(|r| {
            matrix
                .iter()
                .find(|d| {
                    d.mechanism == mechanism && d.variant.is_none() && d.property == r.property
                })
                .is_some_and(|d| d.verdict != VerdictKind::Holds)
        })
        .filter_map(|r| r.variant.as_ref().map(|v| format!("{v} ({})", r.property)))
        .collect();
    let mut causes = Vec::new();
    let binding: Vec<&str> = violated
        .iter()
        .map(|r| r.property.as_str())
        .filter(|p| app_wide.is_some() && DEFINITIONAL.contains(p))
        .collect();
    if let (Some((credential, tenants)), false) = (app_wide, binding.is_empty()) {
        causes.push(ViolationCause {
            properties: binding.iter().map(|p| p.to_string()).collect(),
            cause: format!(
                "definitional: the {} is app-wide (one theft reaches all {} tenants); recovering from it means rotating it for every tenant",
                credential, tenants
            ),
            definitional: true,
            holds_with: holds_with(&binding),
            mitigations,
        });
    }
    for r in violated
        .iter()
        .filter(|r| !binding.contains(&r.property.as_str()))
    {
        causes.push(ViolationCause {
            properties: vec![r.property.clone()],
            cause: "the default profile".into(),
            definitional: false,
            holds_with: holds_with(&[r.property.as_str()]),
            mitigations: Vec::new(),
        });
    }
    causes
}

fn hours(s: Option<f64>) -> String {
    s.map_or("—".into(), |v| format!("{:.2}", v / 3600.0))
}

/// W as the report prints it: the mean over the thefts with its range, "≥" when an exposure
/// reached the run's horizon, and the declared bound.
fn w_cell(a: &AttackRow) -> String {
    let w = match (a.w_hours, a.w_hours_min, a.w_hours_max) {
        (Some(m), Some(lo), Some(hi)) => {
            let ge = if a.w_at_least_horizon { "≥ " } else { "" };
            format!("{ge}{m:.2} [{lo:.2}, {hi:.2}]")
        }
        _ => "— (bought nothing)".into(),
    };
    let w = match a.closed_read {
        Some(c) => format!(
            "{w}; API access {:.2} h after the read was closed at {:.0} h, requests accepted {}{:.2} h after it",
            c.api_access_after_close_h,
            c.closed_after_h,
            if c.accepted_to_horizon { "≥ " } else { "" },
            c.accepted_after_close_h,
        ),
        None => w,
    };
    let bound = if a.exposure_unbounded {
        "no declared bound".to_string()
    } else {
        format!(
            "bound {}",
            a.exposure_bound_h.map_or("—".into(), |b| format!("{b:.2}"))
        )
    };
    let horizon = if a.w_at_least_horizon {
        format!(
            "; reached the horizon, {:.1} h after the theft",
            a.horizon_hours
        )
    } else {
        String::new()
    };
    format!("{w} ({bound}{horizon})")
}

fn th_cell(a: &AttackRow) -> String {
    a.tenant_hours.map_or("—".into(), |t| {
        format!("{}{t:.1}", if a.w_at_least_horizon { "≥ " } else { "" })
    })
}

fn stolen_cell(a: &AttackRow) -> String {
    let what = if a.credential == "store" {
        "whole store (A2/A8)".to_string()
    } else {
        a.credential.clone()
    };
    match a.mode {
        Mode::Continuing => match a.closed_read {
            Some(c) => format!("{what}, continuing for {:.0} h", c.closed_after_h),
            None => format!("{what}, continuing"),
        },
        Mode::Snapshot => what,
    }
}

fn matrix_blocks(d: &SecurityData) -> (Vec<Block>, Vec<String>) {
    let mut mechs: Vec<String> = Vec::new();
    for r in d.matrix.iter().filter(|r| r.variant.is_none()) {
        if !mechs.contains(&r.mechanism) {
            mechs.push(r.mechanism.clone());
        }
    }
    let mut mismatches = Vec::new();
    let mut rows = Vec::new();
    for m in &mechs {
        let mut row = vec![m.clone()];
        for p in PROPERTIES {
            let cell = d
                .matrix
                .iter()
                .find(|r| &r.mechanism == m && r.variant.is_none() && r.property == p)
                .map_or("—".to_string(), |r| {
                    if r.verdict == r.expected {
                        r.verdict.name().to_string()
                    } else {
                        format!("{} (expected {})", r.verdict.name(), r.expected.name())
                    }
                });
            row.push(cell);
        }
        rows.push(row);
    }
    let mut variants = Vec::new();
    for r in d.matrix.iter().filter(|r| r.variant.is_some()) {
        variants.push(vec![
            r.mechanism.clone(),
            r.variant.clone().unwrap_or_default(),
            format!("{} {}", r.property, r.name),
            r.verdict.name().into(),
            r.expected.name().into(),
            r.reached.to_string(),
            super::evidence::cell(r),
            r.counterexample
                .as_deref()
                .and_then(|c| c.lines().find(|l| !l.trim().is_empty()))
                .unwrap_or("—")
                .chars()
                .take(140)
                .collect(),
        ]);
    }
    for r in &d.matrix {
        if r.verdict != r.expected {
            mismatches.push(format!(
                "{}{} {}: {} (expected {})",
                r.mechanism,
                r.variant
                    .as_deref()
                    .map_or(String::new(), |v| format!("[{v}]")),
                r.property,
                r.verdict.name(),
                r.expected.name()
            ));
        }
    }
    let mut headers = vec!["mechanism".to_string()];
    headers.extend(PROPERTIES.iter().map(|p| p.to_string()));
    (
        vec![
            Block::Text {
                text: format!("Default profiles. Each row was searched on its small world (exhaustive within one non-default choice, the `{}` budget) and then ran up to {} seeded full-size case(s); every verdict is computed by a checker over the recorded history, with `reached` counting the attacker presentations the property's verifier decided on (a pass is never vacuous). The table after the variant rows says how hard each mechanism's rows were searched; `tokenlab check` with its default budget is the stronger run.", d.budget, d.cases),
            },
            Block::Table { headers, rows },
            Block::Text {
                text: "Variant and mutant rows (expectations.md): a switch turned to its unsafe value must flip the verdict, and the safe value must restore it.".into(),
            },
            Block::table(&["mechanism", "variant", "property", "verdict", "expected", "reached", "evidence", "counterexample (first line)"], variants),
        ]
        .into_iter()
        .chain(super::evidence::blocks(&d.matrix))
        .collect(),
        mismatches,
    )
}

fn attack_rows(d: &SecurityData) -> Vec<Vec<String>> {
    d.attacks
        .iter()
        .map(|a| {
            let r = a.revocation_run.as_ref();
            let long: u64 = a
                .standing_secrets
                .by_kind
                .iter()
                .filter(|(k, _)| k.ends_with("> 1 day"))
                .map(|(_, v)| *v)
                .sum();
            vec![
                format!(
                    "{}{}",
                    a.mechanism,
                    if a.sets.is_empty() {
                        String::new()
                    } else {
                        format!(" [{}]", a.sets.join(","))
                    }
                ),
                stolen_cell(a),
                a.thefts.to_string(),
                a.tenants_compromised.to_string(),
                format!("{:.1}", a.tokens_obtained),
                w_cell(a),
                th_cell(a),
                r.map_or("—".into(), |r| {
                    if r.detected {
                        format!("yes, after {:.0} s", r.detected_after_s.unwrap_or(0.0))
                    } else {
                        "no".into()
                    }
                }),
                r.map_or("—".into(), |r| {
                    format!(
                        "{} / {}",
                        hours(r.revocation_latency_s),
                        hours(r.revocation_latency_api_checks_on_s)
                    )
                }),
                format!(
                    "{long} across {} installations",
                    a.standing_secrets.installations
                ),
            ]
        })
        .collect()
}

fn section(
    id: &str,
    title: &str,
    claim: &str,
    experiment: &str,
    blocks: Vec<Block>,
    rule: &str,
    verdict: Verdict,
) -> Section {
    Section {
        id: id.into(),
        title: title.into(),
        claim: claim.into(),
        experiment: experiment.into(),
        blocks,
        rule: rule.into(),
        verdict,
        reproduce: vec![],
        ..Default::default()
    }
}

fn v(x: Option<VerdictKind>) -> &'static str {
    x.map_or("—", |k| k.name())
}

/// The security sections; `id`s match `hypotheses.md`, plus the matrix and the attack table.
/// `install_lost_at_5pct`: section PROV's share of tenants never holding a token at 5% loss,
/// per token-using mechanism (H16 weighs upm-oauth's install path with it).
pub fn sections(
    d: &SecurityData,
    seed: u64,
    install_lost_at_5pct: &[(String, f64)],
) -> Vec<Section> {
    // The report's matrix ran a smaller budget (named in the section); this is the stronger,
    // default run of the same rows.
    let check_cmd = format!("cargo run --release -- check --seed {seed} --json");
    let attack_cmd = format!("cargo run --release -- attack --table --seed {seed} --json");
    let mut out = Vec::new();

    let (blocks, mismatches) = matrix_blocks(d);
    let mut s = section(
        "E-sec",
        "The property matrix (P1–P12)",
        "expectations.md states, for every mechanism and property of threats.md, whether the design keeps it, and which switch breaks it.",
        "`tokenlab check`: the seeded suites with the attacker of threats.md acting through protocol messages, faults included; checkers judge the recorded histories.",
        blocks,
        "Supported if every row's computed verdict equals expectations.md; refuted naming the rows that differ.",
        matrix_rule(&MatrixData { mismatches }),
    );
    s.blocks.extend(super::real_servers::blocks()); // measured, committed: issue 17
    s.reproduce.push(check_cmd.clone());
    out.push(s);

    let mut s = section(
        "E-leak",
        "What one stolen credential buys",
        "threats.md §4 metrics: blast radius B, tokens obtained, exposure window W against its declared bound, detection, revocation latency R, and the secrets standing at rest at P.",
        &format!("Exposure runs (workload.md §9): for each credential P holds (and the whole store), {} thefts from the store, the first at the attack table's time (600 s; push 5 min after its first delivery) and then one per hour at a drawn offset, each theft's victim drawn among the run's 4 installations, with no uninstall or revocation during the run; the attacker then uses the loot through the protocol, probing every 60 s. W runs from the theft to the attacker's last accepted use; an exposure that reached the run's horizon is shown as \"≥\" that value, never as the horizon's value. Tokens: distinct tokens the attacker used at the API, mean per theft. Tenant-hours: B × W per theft, mean (an upper bound: W is the last use over all tenants reached). For trigger and push the whole store is also read continuously (the attacker sees every write) for {} h from the theft, then the partner closes the read (an assumption of the experiment); what is still accepted after the close (at the API, and any request) is what the breach leaves behind. Detection and R come from the attack table's run with a revocation 30 min after the first theft (`tokenlab attack --table`).", thefts(d.cases), CONTINUING_READ_S / 3600.0),
        vec![
            Block::table(&["mechanism", "stolen", "thefts", "tenants reached B", "tokens obtained per theft", "W h, mean [min, max] (declared bound)", "tenant-hours (B × W)", "detected (revocation run)", "R h, api check off / on", "items > 1 day at P"], attack_rows(d)),
            Block::Figure {
                name: "blast-radius".into(),
                caption: "Tenants reached per stolen credential.".into(),
            },
            Block::Figure {
                name: "exposure-window".into(),
                caption: "Exposure window W per stolen credential, in hours, mean over the thefts with no revocation; an exposure that reached the run's horizon is drawn hatched and marked (a longer run would only lengthen it).".into(),
            },
        ],
        "A measurement table; its verdicts are drawn in the hypotheses that use it.",
        Verdict::DependsOn("the credential and the mechanism: see the rows".into()),
    );
    s.reproduce.push(attack_cmd.clone());
    out.push(s);

    // H5: isolation against single-secret leaks, not against a store breach.
    let b = |m: &str, c: &str| d.exposure(m, c).map(|a| a.tenants_compromised);
    let (gs, ts, gb, tb) = (
        b("global-secret", "client_secret"),
        b("tenant-secret", "client_secret"),
        b("global-secret", "store"),
        b("tenant-secret", "store"),
    );
    let verdict = h5_rule(&H5Data {
        global_secret: gs,
        tenant_secret: ts,
        global_store: gb,
        tenant_store: tb,
    });
    let mut s = section(
        "H5",
        "Isolation \"not an industry best practice\"",
        "The tenant-isolation post, to @Pat: \"Why has Atlassian chosen to apply this control when this is not an industry best practice? It is very common for OAuth apps to have access to all accounts using the same client_id and client_secret\" [F: thread].",
        "E-sec: the client secret stolen from P's store (A2 snapshot, one credential) and the whole store, global-secret vs tenant-secret; P1 from the matrix.",
        vec![Block::table(
            &["", "global-secret", "tenant-secret"],
            vec![
                vec!["B, one client secret stolen".into(), opt(gs), opt(ts)],
                vec!["B, the whole store".into(), opt(gb), opt(tb)],
                vec![
                    "P1 tenant isolation (default)".into(),
                    v(d.verdict("global-secret", None, "P1")).into(),
                    v(d.verdict("tenant-secret", None, "P1")).into(),
                ],
            ],
        ),
        Block::Text { text: "The default profile's violations by cause, counted once per cause (the scorecard counts them the same way). A definitional cause is the design itself: an app-wide secret is accepted for any tenant, so tenant isolation (P1) and binding (P9) fall together from the one Accept; no switch restores them, and recovering from one theft means rotating the secret for every tenant. The switches beside each cause are the matrix's variants under which the property holds.".into() },
        Block::table(
            &["mechanism", "violated", "cause", "holds with", "mitigations beside it"],
            ["global-secret", "tenant-secret"]
                .iter()
                .flat_map(|m| {
                    let causes = d.violation_causes(m);
                    if causes.is_empty() {
                        return vec![vec![
                            m.to_string(),
                            "none".into(),
                            "—".into(),
                            "—".into(),
                            "—".into(),
                        ]];
                    }
                    causes
                        .into_iter()
                        .map(|c| {
                            vec![
                                m.to_string(),
                                c.properties.join(", "),
                                c.cause,
                                if c.holds_with.is_empty() {
                                    "no switch in the matrix".into()
                                } else {
                                    c.holds_with.join(", ")
                                },
                                if c.mitigations.is_empty() {
                                    "—".into()
                                } else {
                                    c.mitigations.join(", ")
                                },
                            ]
                        })
                        .collect()
                })
                .collect(),
        )],
        "Depends-on (the kind of leak) if the app-wide secret reaches more tenants than a per-tenant one while a store breach reaches as many either way; supported if isolation shrinks B in both; refuted if it never does.",
        verdict,
    );
    s.reproduce.push(attack_cmd.clone());
    out.push(s);

    // H9: the URL as a standing credential.
    let url = d.exposure("trigger", "trigger_url");
    let inband = d.verdict("trigger", Some("token_return=in_band"), "P7");
    let inband_auth = d.verdict(
        "trigger",
        Some("token_return=in_band,url_auth=required"),
        "P7",
    );
    let verdict = h9_rule(&H9Data {
        url: url.map(|u| UrlTheft {
            exposure_unbounded: u.exposure_unbounded,
            tokens_obtained: u.tokens_obtained.round() as u64,
            accepted: u.revocation_run.as_ref().map_or(0, |r| r.accepted),
        }),
        in_band_p7: inband,
        in_band_url_auth_p7: inband_auth,
    });
    let mut s = section(
        "H9",
        "Unrotated URL as a backdoor",
        "The proprietary-flow post: \"I'm uncomfortable with the unrotated, persistent authTriggerURL … This avoids a persistent 'backdoor' if anyone does manage to get hold of it and decrypt it\" [F: thread].",
        "E-sec: the trigger URL stolen from P's store (A2 snapshot), the trigger's token, the whole store once and continuously (the exposure runs of E-leak, no revocation), and the in-band variants from the matrix.",
        vec![Block::table(
            &[
                "case",
                "tenants reached",
                "tokens obtained per theft",
                "tenant-hours",
                "W h, mean [min, max]",
            ],
            ["trigger_url", "token", "store"]
                .iter()
                .filter_map(|c| d.exposure("trigger", c))
                .chain(d.continuing("trigger"))
                .map(|a| {
                    vec![
                        stolen_cell(a),
                        a.tenants_compromised.to_string(),
                        format!("{:.1}", a.tokens_obtained),
                        th_cell(a),
                        w_cell(a),
                    ]
                })
                .collect(),
        )],
        "Depends-on if the URL alone buys no token but has no exposure bound while the in-band variant turns it into a token source; supported if the URL alone yields tokens; refuted otherwise.",
        verdict,
    );
    s.reproduce.push(attack_cmd.clone());
    out.push(s);

    // H14: long-lived credentials at P; an app-wide item counts once, not per installation.
    let by_scope: BTreeMap<&str, Option<(f64, u64)>> = registry()
        .iter()
        .map(|m| (m.id(), d.long_lived_by_scope(m.id())))
        .collect();
    let ll: BTreeMap<&str, Option<f64>> =
        by_scope.iter().map(|(m, x)| (*m, x.map(|x| x.0))).collect();
    let verdict = h14_rule(&H14Data {
        trigger: ll.get("trigger").copied().flatten(),
        push: ll.get("push").copied().flatten(),
        trigger_item_tokens: d
            .exposure("trigger", "trigger_url")
            .map(|a| a.tokens_obtained),
    });
    // Each credential classified by what it yields alone and by its scope (issue 19: the
    // URL, which alone buys no token, is not counted like an RT or a secret).
    let yields: Vec<Vec<String>> = d
        .attacks
        .iter()
        .filter(|a| a.sets.is_empty() && a.mode == Mode::Snapshot && a.credential != "store")
        .map(|a| {
            vec![
                a.mechanism.clone(),
                a.credential.clone(),
                if a.tokens_obtained > 0.0 {
                    format!("yes: {:.1} tokens per theft", a.tokens_obtained)
                } else {
                    "no token (alone)".into()
                },
                if a.tenants_compromised > 1 {
                    format!("per app: {} tenants", a.tenants_compromised)
                } else {
                    format!("per installation: {} tenant(s)", a.tenants_compromised)
                },
                if a.exposure_unbounded {
                    "no declared bound".into()
                } else {
                    a.exposure_bound_h
                        .map_or("—".into(), |b| format!("bound {b:.2} h"))
                },
            ]
        })
        .collect();
    out.push(section(
        "H14",
        "No long-lived partner credentials",
        "The RFC's goal [F: rfc34]; the 2-cents post concedes it does \"remove the need to store any long-term credentials\", but \"keys are still generated and exchanged\" [F: thread].",
        "E-inv: items at rest at P with a lifetime over one day, counted in a fault-free run with idle installations included: an installation's own items per installation, and app-wide items (the same item stored in every installation's row) once each.",
        vec![
            Block::table(&["mechanism", "own items > 1 day per installation", "app-wide items > 1 day (one item in every installation's row)"], by_scope
                .iter()
                .map(|(m, x)| vec![
                    m.to_string(),
                    x.map_or("—".into(), |x| format!("{:.0}", x.0)),
                    x.map_or("—".into(), |x| x.1.to_string()),
                ])
                .collect()),
            Block::Text { text: "What each credential at P yields on its own (E-leak's exposure runs: a snapshot theft, no revocation) and its scope: per installation (reaches one tenant) or per app (reaches every tenant).".into() },
            Block::table(&["mechanism", "credential", "yields tokens alone", "scope", "exposure"], yields),
        ],
        "Depends-on (the mechanism and what the item yields) if push holds none and trigger holds some, naming the tokens trigger's item bought alone; supported if trigger holds none; refuted if push holds some too.",
        verdict,
    ));

    // H15: Connect.
    let c = d.root("connect-jwt");
    let verdict = h15_rule(&H15Data {
        shared_secret_unbounded: c.map(|a| a.exposure_unbounded),
    });
    out.push(section(
        "H15",
        "Connect as the known alternative",
        "A partner: \"existing connect capabilities will be missed and replaced by an inferior solution from a vendors perspective\" [F: thread].",
        "connect-jwt against the rest: hops and availability from E-lat/E-rel, B and W of its shared secret from E-sec.",
        vec![Block::table(&["stolen", "B", "W h", "R h (off/on)"], d
                .attacks
                .iter()
                .filter(|a| a.mechanism == "connect-jwt")
                .map(|a| {
                    vec![
                        stolen_cell(a),
                        a.tenants_compromised.to_string(),
                        w_cell(a),
                        a.revocation_run.as_ref().map_or("—".into(), |r| {
                            format!(
                                "{} / {}",
                                hours(r.revocation_latency_s),
                                hours(r.revocation_latency_api_checks_on_s)
                            )
                        }),
                    ]
                })
                .collect())],
        "Depends-on if connect-jwt's secret is unbounded in exposure (its latency and availability are shown in H1 and H2); supported if it is bounded as well.",
        verdict,
    ));

    // H16: UPM OAuth revocation.
    let u = d.root("upm-oauth");
    let p5 = d.verdict("upm-oauth", None, "P5");
    let p3 = d.verdict("upm-oauth", None, "P3");
    let verdict = h16_rule(&H16Data {
        upm_oauth: u.map(|a| Revocation {
            api_check_off_s: a.revocation_latency_s,
            api_check_on_s: a.revocation_latency_api_checks_on_s,
        }),
        ttl_s: ttl_s(),
        install_lost_at_5pct: install_lost_at_5pct.to_vec(),
    });
    out.push(section(
        "H16",
        "UPM-authorized OAuth",
        "remie: \"adjusting the UPM to implement the normal OAuth authorization flow\", with authorization and revocation buttons, \"an allow list of callback URLs\", and offline access revocable \"at any time without having to uninstall the app\" [F: thread].",
        "E-sec on upm-oauth: revocation latency with `api_checks_installation` off and on, P5 (revocation) and P3 (authorized issuance: no token without install and consent) from the matrix. Its install path under loss is in section PROV, whose share of tenants left without a token at 5% loss the rule weighs.",
        vec![Block::table(&["metric", "value"], vec![
                vec![
                    "R h, api check off / on".into(),
                    u.map_or("—".into(), |a| {
                        format!(
                            "{} / {}",
                            hours(a.revocation_latency_s),
                            hours(a.revocation_latency_api_checks_on_s)
                        )
                    }),
                ],
                vec!["P5 revocation".into(), v(p5).into()],
                vec!["P3 authorized issuance".into(), v(p3).into()],
            ])],
        "Refuted unless revocation takes effect at once with the API's installation check (R = 0) and within one TTL (4 h) without it (V1); then depends-on the install path if, at 5% loss (section PROV), upm-oauth leaves a larger share of tenants without a token than every other token-using mechanism; supported otherwise.",
        verdict,
    ));

    // H21: push vs trigger security.
    let (tb, pb) = (d.exposure("trigger", "store"), d.exposure("push", "store"));
    let both = |p: &str| (d.verdict("trigger", None, p), d.verdict("push", None, p));
    let breach = |a: &AttackRow| StoreBreach {
        unbounded: a.exposure_unbounded,
        at_least_horizon: a.w_at_least_horizon,
        w_hours: a.w_hours.unwrap_or(0.0),
        tokens: a.tokens_obtained,
        tenant_hours: a.tenant_hours.unwrap_or(0.0),
    };
    let verdict = h21_rule(&H21Data {
        p1: both("P1"),
        p7: both("P7"),
        trigger_store: tb.map(breach),
        push_store: pb.map(breach),
        trigger_closed: d.continuing("trigger").and_then(|a| a.closed_read),
        push_closed: d.continuing("push").and_then(|a| a.closed_read),
    });
    let breach_rows = |label: &str, t: Option<&AttackRow>, p: Option<&AttackRow>| {
        vec![
            vec![
                format!("{label}: B"),
                t.map_or("—".into(), |a| a.tenants_compromised.to_string()),
                p.map_or("—".into(), |a| a.tenants_compromised.to_string()),
            ],
            vec![
                format!("{label}: W h"),
                t.map_or("—".into(), w_cell),
                p.map_or("—".into(), w_cell),
            ],
            vec![
                format!("{label}: tokens per theft"),
                t.map_or("—".into(), |a| format!("{:.1}", a.tokens_obtained)),
                p.map_or("—".into(), |a| format!("{:.1}", a.tokens_obtained)),
            ],
            vec![
                format!("{label}: tenant-hours"),
                t.map_or("—".into(), th_cell),
                p.map_or("—".into(), th_cell),
            ],
        ]
    };
    out.push(section(
        "H21",
        "Push has \"the exact same effect from the point of view of security\"",
        "The 2-cents post [F: thread].",
        "E-sec and E-inv, trigger vs push: the matrix on P1 and P7, and the whole-store theft.",
        vec![Block::table(&["", "trigger", "push"], vec![
                vec!["P1".into(), v(d.verdict("trigger", None, "P1")).into(), v(d.verdict("push", None, "P1")).into()],
                vec!["P4 bounded exposure".into(), v(d.verdict("trigger", None, "P4")).into(), v(d.verdict("push", None, "P4")).into()],
                vec!["P7".into(), v(d.verdict("trigger", None, "P7")).into(), v(d.verdict("push", None, "P7")).into()],
            ].into_iter()
                .chain(breach_rows("whole store once", tb, pb))
                .chain(breach_rows(&format!("whole store read for {:.0} h, then closed", CONTINUING_READ_S / 3600.0), d.continuing("trigger"), d.continuing("push")))
                .collect())],
        "Compared on whether the attacker wins (a property that is n/a, its antecedent impossible in the design, counts as not violated). Depends-on if neither or both violate P1 and P7 but the store breach (one snapshot, no revocation) is bounded for push and unbounded for trigger, naming W, tokens and tenant-hours of each and W after a continuing read is closed; supported if they agree everywhere; refuted if one violates P1 or P7 and the other does not.",
        verdict,
    ));

    // H26: per-installation client credentials.
    let t = d.attack("tenant-secret", "client_secret");
    let p1 = d.verdict("tenant-secret", None, "P1");
    let verdict = h26_rule(&H26Data {
        blast_radius: t.map(|a| a.tenants_compromised),
        p1,
        long_lived_per_installation: d.long_lived_per_installation("tenant-secret"),
    });
    out.push(section(
        "H26",
        "Credentials per (app, clientKey)",
        "marc, relayed in the thread: \"Why not require separate OAuth client credentials for each combination of app and clientKey? This would allow the usage standard OAuth\" [F: thread].",
        "tenant-secret on P1 (matrix), B of one stolen secret, and the secrets standing at P (stock-client use is H7).",
        vec![],
        "Depends-on (standing secrets) if P1 holds and B = 1 while P stores a long-lived secret per installation; refuted if P1 fails or B > 1.",
        verdict,
    ));
    for s in &mut out {
        if s.reproduce.is_empty() {
            s.reproduce.push(check_cmd.clone());
            s.reproduce.push(attack_cmd.clone());
        }
    }
    out
}

fn opt(x: Option<u64>) -> String {
    x.map_or("—".into(), |v| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every applicable mistake is judged on the properties it can break: a row the table
    /// lacks is added, a row the table has is not run twice.
    #[test]
    fn mistake_rows_fill_the_matrix_gaps_only() {
        let table = expectations();
        let extra = mistake_expectations(&table, None);
        let has =
            |v: &[tokenlab_properties::suite::Expectation], m: &str, sw: &str, p: Property| {
                v.iter()
                    .any(|e| e.mechanism == m && e.property == p && e.sets.iter().any(|s| s == sw))
            };
        for m in registry() {
            for (_, sw) in super::super::experiments::partner_mistakes(m.id()) {
                for p in mistake_properties(sw) {
                    let in_table = has(&table, m.id(), sw, *p);
                    assert_ne!(
                        in_table,
                        has(&extra, m.id(), sw, *p),
                        "{} {sw} {p:?}",
                        m.id()
                    );
                }
            }
        }
        // The table's own row for trigger's wrong tenant key is not duplicated.
        assert!(has(&table, "trigger", "store_key=body", Property::P1));
        assert!(!has(&extra, "trigger", "store_key=body", Property::P1));
        assert!(!extra.is_empty());
        assert!(mistake_properties("keep=last_write").is_empty());
    }

    fn row(
        mechanism: &str,
        variant: Option<&str>,
        property: &str,
        verdict: VerdictKind,
    ) -> MatrixRow {
        MatrixRow {
            mechanism: mechanism.into(),
            variant: variant.map(Into::into),
            property: property.into(),
            name: "",
            verdict,
            expected: verdict,
            cases: 1,
            reached: 1,
            counterexample: None,
            matches: true,
            seeds: vec![],
            evidence: None,
            choices: None,
        }
    }

    #[test]
    fn an_app_wide_credential_breaks_p1_and_p9_once_and_switches_are_named() {
        use VerdictKind::*;
        let matrix = vec![
            row("g", None, "P1", Violated),
            row("g", None, "P5", Violated),
            row("g", None, "P6", ByDesign),
            row("g", None, "P9", Violated),
            row("g", Some("tenant_block=on"), "P5", Holds),
            row("g", Some("sender_constraint=mtls"), "P6", Holds),
        ];
        let causes = violation_causes(&matrix, "g", Some(("client_secret", 4)));
        assert_eq!(causes.len(), 2);
        assert_eq!(causes[0].properties, ["P1", "P9"]);
        assert!(causes[0].definitional);
        assert!(causes[0].cause.contains("all 4 tenants"));
        assert_eq!(
            causes[0].mitigations,
            ["tenant_block=on (P5)", "sender_constraint=mtls (P6)"]
        );
        assert_eq!(causes[1].properties, ["P5"]);
        assert_eq!(causes[1].holds_with, ["tenant_block=on"]);
        assert_eq!(causes[1].label(), "P5 (holds with tenant_block=on)");
        // A per-installation credential: every violation is its own cause.
        let causes = violation_causes(&matrix, "g", None);
        assert_eq!(causes.len(), 3);
        assert!(causes.iter().all(|c| !c.definitional));
        // Nothing violated, nothing listed.
        assert!(violation_causes(&matrix[2..3], "g", Some(("s", 4))).is_empty());
    }
}
