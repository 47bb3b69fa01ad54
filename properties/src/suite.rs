//! The security suites: every row of `expectations.md` (a copy lives in `data/`) becomes
//! seeded simulated runs with the attacker and faults the row needs, judged by the row's
//! checker. [`security_matrix`] is what `tokenlab check` prints and the report reads.
//!
//! A row's verdict aggregates its cases (one seed each): `violated` if any case violates,
//! else `by-design` if any case says so, else `holds`, else `n/a`. A `holds` or `violated`
//! verdict whose antecedent never fired (`reached == 0`) is vacuous and never matches.
//! A violated row's counterexample comes from the smallest run (fewest tenants, then the
//! shortest horizon) that still violates: a shrunk trace.

use crate::checkers::{
    ExposureBounds, authorized_issuance, bounded_exposure, confinement, credential_binding,
    delivery_integrity, injection_resistance, replay, revocation, tenant_isolation,
};
use crate::{Verdict, VerdictKind, executability, read_your_writes};
use serde::Serialize;
use tokenlab_models::history::History;
use tokenlab_models::ids::{Group, TenantId};
use tokenlab_models::mechanisms::resolve;
use tokenlab_models::params::{Params, Rotation};
use tokenlab_models::roles::AdminAction;
use tokenlab_models::roles::attacker::{AttackPlan, AttackStep, Capability};
use tokenlab_models::sim::{Scenario, run_with};
use tokenlab_models::{Micros, SEC};

/// The expectation table, verbatim from the spec.
pub const EXPECTATIONS_MD: &str = include_str!("../data/expectations.md");

/// One row of `expectations.md`.
#[derive(Clone, Debug, Serialize)]
pub struct Expectation {
    /// As written: `trigger`, `refresh[rotation=off,reuse_detection=off]`.
    pub row: String,
    pub mechanism: String,
    /// `None` for a default-profile row; else the switches as written.
    pub variant: Option<String>,
    pub sets: Vec<String>,
    pub property: String,
    pub expected: VerdictKind,
    pub must_reach: String,
    pub note: String,
}

/// Parses the expectation table.
pub fn expectations() -> Vec<Expectation> {
    let mut out = Vec::new();
    for line in EXPECTATIONS_MD.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() != 7 || !cells[2].starts_with('P') || cells[1] == "mechanism" {
            continue;
        }
        let Some(expected) = VerdictKind::parse(cells[3]) else {
            continue;
        };
        let row = cells[1].to_string();
        let (mechanism, variant) = match row.split_once('[') {
            Some((m, rest)) => (m.to_string(), Some(rest.trim_end_matches(']').to_string())),
            None => (row.clone(), None),
        };
        let sets = variant
            .as_deref()
            .map(|v| v.split(',').map(|s| s.trim().to_string()).collect())
            .unwrap_or_default();
        out.push(Expectation {
            row,
            mechanism,
            variant,
            sets,
            property: cells[2].to_string(),
            expected,
            must_reach: cells[4].to_string(),
            note: cells[5].to_string(),
        });
    }
    out
}

/// The name of each property.
pub fn property_name(p: &str) -> &'static str {
    match p {
        "P1" => "tenant isolation",
        "P2" => "confinement",
        "P3" => "authorized issuance",
        "P4" => "bounded exposure",
        "P5" => "revocation",
        "P6" => "replay",
        "P7" => "delivery integrity",
        "P8" => "injection resistance",
        "P9" => "credential binding and reuse detection",
        "P10" => "fail-closed under faults",
        "P11" => "executability",
        "P12" => "read-your-writes",
        _ => "?",
    }
}

/// One row of the security matrix (`tokenlab check --json`).
#[derive(Clone, Debug, Serialize)]
pub struct MatrixRow {
    pub mechanism: String,
    pub variant: Option<String>,
    pub property: String,
    pub name: &'static str,
    pub verdict: VerdictKind,
    pub expected: VerdictKind,
    pub cases: u32,
    pub reached: u64,
    pub counterexample: Option<String>,
    /// `verdict == expected` and the result is not vacuous.
    pub matches: bool,
    /// The seeds the cases ran with (rerun: `tokenlab check --seed`).
    pub seeds: Vec<String>,
}

/// The long-lived item a mechanism's partner stores (what A5 steals first).
pub fn root_field(mechanism: &str) -> &'static str {
    match mechanism {
        "trigger" => "trigger_url",
        "push" => "token",
        "refresh" | "upm-oauth" => "refresh_token",
        "global-secret" | "tenant-secret" => "client_secret",
        "connect-jwt" => "shared_secret",
        _ => "token",
    }
}

const OWN: TenantId = TenantId(0);
const VICTIM: TenantId = TenantId(1);

fn at(s: f64) -> Micros {
    (s * SEC as f64) as Micros
}

fn step(t: f64, capability: Capability) -> AttackStep {
    AttackStep {
        at: at(t),
        capability,
    }
}

fn steal(t: f64, field: &'static str, tenant: TenantId) -> AttackStep {
    step(
        t,
        Capability::Steal {
            field,
            tenant,
            from: "store",
        },
    )
}

/// Before provisioning: the attacker owns its tenant, or taps, from the start.
const BEFORE_SETUP: f64 = -301.0;

/// One simulated run of a row.
#[derive(Clone, Debug)]
pub struct RunSpec {
    pub scenario: Scenario,
    pub plan: Option<AttackPlan>,
}

fn base(mechanism: &str, sets: &[String], duration_s: f64, rate: f64) -> Scenario {
    let mut s = Scenario::new(mechanism, "same-region").expect("preset exists");
    s.sets = sets.to_vec();
    s.tenants = 4;
    s.duration_s = duration_s;
    s.demands_per_tenant_hour = rate;
    s
}

fn plan(steps: Vec<AttackStep>, duration_s: f64) -> AttackPlan {
    AttackPlan::new(steps, at(duration_s))
}

/// The runs that exercise `property` on `mechanism` with `sets` (the generators of
/// `expectations.md`'s "attacker/fault that must reach it" column).
pub fn runs_for(mechanism: &str, sets: &[String], property: &str) -> Vec<RunSpec> {
    let root = root_field(mechanism);
    // Push holds a token only after its first delivery (within one interval): steal later.
    let warm = if mechanism == "push" { 3600.0 } else { 0.0 };
    let long = sets.iter().any(|s| s.contains("periodic(1d)"));
    let mut sets = sets.to_vec();
    match property {
        "P1" => {
            let d = 1800.0 + warm;
            let mut steps = vec![
                step(BEFORE_SETUP, Capability::Own { tenant: OWN }),
                step(300.0, Capability::Forge),
                steal(600.0 + warm, root, VICTIM),
                steal(900.0 + warm, "token", VICTIM),
            ];
            if mechanism == "upm-oauth" {
                steps.push(step(700.0, Capability::Redirect { victim: VICTIM }));
            }
            vec![RunSpec {
                scenario: base(mechanism, &sets, d, 30.0),
                plan: Some(plan(steps, d)),
            }]
        }
        "P2" => {
            let d = 1800.0 + warm;
            let mut steps = vec![
                step(0.0, Capability::ReadLogs),
                step(
                    0.0,
                    Capability::Tap {
                        a: Group::Partner,
                        b: Group::ProductApi,
                    },
                ),
                step(
                    0.0,
                    Capability::Tap {
                        a: Group::Partner,
                        b: Group::AuthServer,
                    },
                ),
                step(
                    0.0,
                    Capability::Tap {
                        a: Group::Partner,
                        b: Group::Forge,
                    },
                ),
                step(1200.0 + warm, Capability::Breach { continuing: false }),
            ];
            // A stolen URL on its own (the in-band backdoor needs nothing else).
            let url_only = vec![steal(600.0 + warm, root, VICTIM)];
            if mechanism != "trigger" {
                steps.extend(url_only.clone());
            }
            let mut out = vec![RunSpec {
                scenario: base(mechanism, &sets, d, 30.0),
                plan: Some(plan(steps, d)),
            }];
            if mechanism == "trigger" {
                out.push(RunSpec {
                    scenario: base(mechanism, &sets, d, 30.0),
                    plan: Some(plan(url_only, d)),
                });
            }
            out
        }
        "P3" => {
            let d = 1800.0;
            let mut s = base(mechanism, &sets, d, 60.0);
            s.admin = vec![
                (700.0, AdminAction::Uninstall(2)),
                (900.0, AdminAction::Uninstall(3)),
            ];
            if mechanism == "upm-oauth" {
                s.admin.push((800.0, AdminAction::Revoke(1)));
            }
            if mechanism == "push" {
                // Deliveries fail while P.recv is down, so retries run past the uninstalls.
                s.sets.push("interval=5m".into());
                s.sets.push("platform_backoff=60s".into());
                s.nemesis.push(tokenlab_models::faults::Nemesis::Crash {
                    role: tokenlab_models::faults::CrashRole::Partner,
                    from_s: 60.0,
                    until_s: 1500.0,
                    lose_volatile: false,
                });
            }
            let steps = vec![
                step(300.0, Capability::Forge),
                steal(600.0, root, TenantId(2)),
                steal(600.0, root, VICTIM),
            ];
            vec![RunSpec {
                scenario: s,
                plan: Some(plan(steps, d)),
            }]
        }
        "P4" => {
            // At least 3·max(finite B): B(RT) can reach next refresh (≤ TTL) + grace + TTL.
            let d = if long { 30.0 * 3600.0 } else { 24.0 * 3600.0 };
            let steps = vec![
                steal(600.0 + warm, root, VICTIM),
                step(1200.0 + warm, Capability::Breach { continuing: false }),
                steal(1500.0 + warm, "token", VICTIM),
            ];
            vec![RunSpec {
                scenario: base(mechanism, &sets, d, 6.0),
                plan: Some(plan(steps, d)),
            }]
        }
        "P5" => {
            let d = 3600.0 + warm;
            let mut s = base(mechanism, &sets, d, 30.0);
            s.admin = vec![(900.0 + warm, AdminAction::Uninstall(2))];
            if !matches!(mechanism, "push" | "connect-jwt") {
                s.admin.push((900.0 + warm, AdminAction::Revoke(1)));
            }
            let steps = vec![
                steal(300.0 + warm, root, VICTIM),
                steal(300.0 + warm, root, TenantId(2)),
                steal(400.0 + warm, "token", VICTIM),
                steal(400.0 + warm, "token", TenantId(2)),
            ];
            vec![RunSpec {
                scenario: s,
                plan: Some(plan(steps, d)),
            }]
        }
        "P6" => {
            let d = 1200.0;
            let mut steps = vec![step(BEFORE_SETUP, Capability::Replay)];
            if mechanism != "upm-oauth" {
                steps.push(step(
                    BEFORE_SETUP,
                    Capability::Tap {
                        a: Group::Partner,
                        b: Group::ProductApi,
                    },
                ));
            }
            if matches!(
                mechanism,
                "upm-oauth" | "refresh" | "global-secret" | "tenant-secret"
            ) {
                steps.push(step(
                    BEFORE_SETUP,
                    Capability::Tap {
                        a: Group::Partner,
                        b: Group::AuthServer,
                    },
                ));
            }
            let mut p = plan(steps, d);
            p.use_loot = false;
            vec![RunSpec {
                scenario: base(mechanism, &sets, d, 30.0),
                plan: Some(p),
            }]
        }
        "P7" => {
            let d = 1200.0 + warm;
            let mut steps = vec![
                step(300.0, Capability::Forge),
                steal(300.0 + warm, root, VICTIM),
                steal(400.0 + warm, "token", VICTIM),
            ];
            if mechanism == "upm-oauth" {
                steps.push(step(300.0, Capability::Redirect { victim: VICTIM }));
            }
            vec![RunSpec {
                scenario: base(mechanism, &sets, d, 30.0),
                plan: Some(plan(steps, d)),
            }]
        }
        "P8" => {
            let d = 900.0;
            let mut steps = vec![step(300.0, Capability::Forge)];
            if mechanism == "upm-oauth" {
                steps.push(step(BEFORE_SETUP, Capability::Own { tenant: OWN }));
                steps.push(step(400.0, Capability::InjectCode { victim: VICTIM }));
            }
            vec![RunSpec {
                scenario: base(mechanism, &sets, d, 30.0),
                plan: Some(plan(steps, d)),
            }]
        }
        "P9" => {
            let d = 5.0 * 3600.0;
            let steps = vec![
                step(BEFORE_SETUP, Capability::Own { tenant: OWN }),
                steal(600.0, root, VICTIM),
            ];
            vec![RunSpec {
                scenario: base(mechanism, &sets, d, 6.0),
                plan: Some(plan(steps, d)),
            }]
        }
        "P10" => {
            // Faults: JWKS outage, P's clock 2 h behind, lossy links, a partner crash;
            // attacker: forged deliveries and stolen items.
            let d = 6.0 * 3600.0;
            sets.push("clock_skew=2h".into());
            let mut s = base(mechanism, &sets, d, 6.0);
            let lossy = tokenlab_models::faults::preset("lossy").expect("preset");
            s.network = lossy.network;
            s.preset = "lossy".into();
            s.nemesis.push(tokenlab_models::faults::Nemesis::Crash {
                role: tokenlab_models::faults::CrashRole::Partner,
                from_s: 3000.0,
                until_s: 3060.0,
                lose_volatile: true,
            });
            let steps = vec![
                step(300.0, Capability::Forge),
                steal(600.0 + warm, root, VICTIM),
                steal(700.0 + warm, "token", VICTIM),
            ];
            let mut p = plan(steps, d);
            p.jwks_outages = vec![(at(300.0), at(900.0))];
            vec![RunSpec {
                scenario: s,
                plan: Some(p),
            }]
        }
        "P11" => {
            let d = 4000.0;
            vec![RunSpec {
                scenario: base(mechanism, &sets, d, 60.0),
                plan: None,
            }]
        }
        _ => {
            // P12: no attacker; the generator is every cold demand.
            let d = 1800.0;
            vec![RunSpec {
                scenario: base(mechanism, &sets, d, 60.0),
                plan: None,
            }]
        }
    }
}

/// The declared bounds of a mechanism and parameters (`threats.md` §3 P4).
pub fn bounds(mechanism: &str, params: &Params) -> ExposureBounds {
    let ttl = params.dur_req("ttl");
    let rotation = |k: &str| match params.get(k) {
        Some(tokenlab_models::params::ParamValue::Rotation(Rotation::Periodic(r))) => {
            Some(*r + ttl)
        }
        _ => None,
    };
    ExposureBounds {
        ttl,
        url: rotation("url_rotation"),
        secret: if mechanism == "tenant-secret" {
            rotation("rotation")
        } else {
            None
        },
        shared: None,
        grace: if params.has("grace_window") {
            params.dur_req("grace_window")
        } else {
            0
        },
        rt_max_life: if params.has("rt_max_life") {
            params.dur_req("rt_max_life")
        } else {
            365 * 86_400 * SEC
        },
    }
}

/// Runs one spec.
pub fn execute(spec: &RunSpec) -> Result<(History, Params), String> {
    let (m, profile, params) =
        resolve(&spec.scenario.mechanism, &spec.scenario.sets).map_err(|e| e.to_string())?;
    let r = run_with(&spec.scenario, m, profile, params, spec.plan.as_ref());
    Ok((r.history, r.params))
}

/// Judges one history for one property.
pub fn judge(
    mechanism: &str,
    property: &str,
    h: &History,
    params: &Params,
    tenants: u32,
) -> Verdict {
    let b = bounds(mechanism, params);
    let outstanding = if params.bool("api_checks_installation") {
        0
    } else {
        params.dur_req("ttl")
    };
    match property {
        "P1" => tenant_isolation(h),
        "P2" => confinement(h),
        "P3" => authorized_issuance(h),
        "P4" => bounded_exposure(h, &b),
        "P5" => revocation(h, outstanding),
        "P6" => replay(h),
        "P7" => delivery_integrity(h),
        "P8" => injection_resistance(h),
        "P9" => credential_binding(h, b.grace),
        "P10" => {
            // The fault-free verdicts of P1, P3, P4 (finite B), P5, P7 and P8 must survive.
            let parts = [
                tenant_isolation(h),
                authorized_issuance(h),
                bounded_exposure(h, &b),
                revocation(h, outstanding),
                delivery_integrity(h),
                injection_resistance(h),
            ];
            let reached = parts[0].reached + parts[5].reached;
            match parts.into_iter().find(|v| v.kind == VerdictKind::Violated) {
                Some(v) => Verdict {
                    property: "P10",
                    holds: false,
                    kind: VerdictKind::Violated,
                    reached,
                    counterexample: v
                        .counterexample
                        .map(|c| format!("under faults, {} fails:\n{c}", v.property)),
                },
                None => Verdict {
                    property: "P10",
                    holds: true,
                    kind: VerdictKind::Holds,
                    reached,
                    counterexample: None,
                },
            }
        }
        "P11" => executability(h, tenants),
        _ => read_your_writes(h),
    }
}

fn row_seed(seed: u64, e: &Expectation) -> u64 {
    let h = tokenlab_models::secret::fnv1a(format!("{}|{}", e.row, e.property).as_bytes());
    seed ^ h
}

/// Runs one row over `cases` seeds.
pub fn run_row(e: &Expectation, cases: u32, seed: u64) -> MatrixRow {
    let specs = runs_for(&e.mechanism, &e.sets, &e.property);
    let mut kinds = Vec::new();
    let mut reached = 0;
    let mut counterexample: Option<String> = None;
    let mut seeds = Vec::new();
    let mut first_violation: Option<(RunSpec, u64)> = None;
    for k in 0..cases.max(1) {
        let s = row_seed(seed, e).wrapping_add(u64::from(k));
        seeds.push(format!("{s:#x}"));
        for spec in &specs {
            let mut spec = spec.clone();
            spec.scenario.seed = s;
            match execute(&spec) {
                Ok((h, params)) => {
                    let v = judge(
                        &e.mechanism,
                        &e.property,
                        &h,
                        &params,
                        spec.scenario.tenants,
                    );
                    reached += v.reached;
                    if v.kind == VerdictKind::Violated && first_violation.is_none() {
                        first_violation = Some((spec.clone(), s));
                        counterexample = v.counterexample.clone();
                    }
                    kinds.push(v.kind);
                }
                Err(msg) => {
                    counterexample = Some(format!("cannot run: {msg}"));
                    kinds.push(VerdictKind::NotApplicable);
                }
            }
        }
    }
    let verdict = aggregate(&kinds);
    if let Some((spec, _)) = first_violation
        && let Some(c) = shrink(e, &spec)
    {
        counterexample = Some(c);
    }
    let vacuous = matches!(verdict, VerdictKind::Holds | VerdictKind::Violated) && reached == 0;
    MatrixRow {
        mechanism: e.mechanism.clone(),
        variant: e.variant.clone(),
        property: e.property.clone(),
        name: property_name(&e.property),
        verdict,
        expected: e.expected,
        cases: cases.max(1),
        reached,
        counterexample,
        matches: verdict == e.expected && !vacuous,
        seeds,
    }
}

fn aggregate(kinds: &[VerdictKind]) -> VerdictKind {
    for k in [
        VerdictKind::Violated,
        VerdictKind::ByDesign,
        VerdictKind::Holds,
    ] {
        if kinds.contains(&k) {
            return k;
        }
    }
    VerdictKind::NotApplicable
}

/// Shrinks a violating run: fewest tenants first, then the shortest horizon, keeping the
/// seed; returns the smallest run's counterexample, headed by its parameters.
pub fn shrink(e: &Expectation, spec: &RunSpec) -> Option<String> {
    let mut best = spec.clone();
    let violates = |s: &RunSpec| -> Option<Verdict> {
        let (h, params) = execute(s).ok()?;
        let v = judge(&e.mechanism, &e.property, &h, &params, s.scenario.tenants);
        (v.kind == VerdictKind::Violated).then_some(v)
    };
    let mut last = violates(&best)?;
    for tenants in 2..best.scenario.tenants {
        let mut c = best.clone();
        c.scenario.tenants = tenants;
        if let Some(v) = violates(&c) {
            best = c;
            last = v;
            break;
        }
    }
    for _ in 0..4 {
        let mut c = best.clone();
        c.scenario.duration_s = (c.scenario.duration_s / 2.0).max(60.0);
        if let Some(p) = c.plan.as_mut() {
            p.until = at(c.scenario.duration_s);
            p.steps.retain(|s| s.at < at(c.scenario.duration_s));
        }
        c.scenario.admin.retain(|(t, _)| *t < c.scenario.duration_s);
        match violates(&c) {
            Some(v) => {
                best = c;
                last = v;
            }
            None => break,
        }
    }
    Some(format!(
        "shrunk run: {} tenants, {} s, seed {:#x}\n{}",
        best.scenario.tenants,
        best.scenario.duration_s,
        best.scenario.seed,
        last.counterexample.unwrap_or_default()
    ))
}

/// The security matrix: every row of `expectations.md` (defaults first, variants after, as
/// in the table), each over `cases` seeds derived from `seed`.
pub fn security_matrix(cases: u32, seed: u64) -> Vec<MatrixRow> {
    expectations()
        .iter()
        .map(|e| run_row(e, cases, seed))
        .collect()
}
