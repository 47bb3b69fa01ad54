//! The security suites: every row of `expectations.md` (a copy lives in `data/`) becomes
//! seeded simulated runs with the attacker and faults the row needs, judged by the row's
//! checker. [`security_matrix`] is what `tokenlab check` prints and the report reads.
//!
//! A row's verdict aggregates its cases (one seed each): `violated` if any case violates,
//! else `by-design` if any case says so, else `holds`, else `n/a`. A `holds` or `violated`
//! verdict whose antecedent never fired (`reached == 0`) is vacuous and never matches.
//! A violated row's counterexample comes from the smallest run (fewest tenants, then the
//! shortest horizon) that still violates: a shrunk trace.

use crate::checkers::ExposureBounds;
use crate::{CheckInput, Property, Verdict, VerdictKind};
use serde::Serialize;
use tokenlab_models::history::History;
use tokenlab_models::ids::{Group, TenantId};
use tokenlab_models::mechanisms::{Acquisition, Mechanism, Reference, of_reference, resolve};
use tokenlab_models::params::{ParamValue, Params, Rotation, SenderConstraint};
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
    pub property: Property,
    pub expected: VerdictKind,
    pub must_reach: String,
    pub note: String,
}

/// A row of the expectation table that does not parse.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("expectations.md line {line}: {why}")]
pub struct TableError {
    /// 1-based.
    pub line: usize,
    pub why: String,
}

impl Expectation {
    /// A row that is not in the table, for a parsed reference written as `row` (its
    /// mechanism and switches; no variant name), judged for `property`, expected to hold.
    pub fn unlisted(row: &str, reference: Reference, property: Property) -> Expectation {
        Expectation {
            row: row.to_string(),
            mechanism: reference.id,
            variant: None,
            sets: reference.sets,
            property,
            expected: VerdictKind::Holds,
            must_reach: String::new(),
            note: String::new(),
        }
    }

    /// A row that is not in the table (for tests and controls): `mechanism` with `sets`,
    /// judged for `property`, expected to hold.
    pub fn adhoc(mechanism: &str, sets: &[&str], property: Property) -> Expectation {
        Expectation {
            row: mechanism.into(),
            mechanism: mechanism.into(),
            variant: (!sets.is_empty()).then(|| sets.join(",")),
            sets: sets.iter().map(|s| s.to_string()).collect(),
            property,
            expected: VerdictKind::Holds,
            must_reach: String::new(),
            note: String::new(),
        }
    }
}

/// The expectation table (the compiled-in copy; a test parses it, so this cannot fail).
pub fn expectations() -> Vec<Expectation> {
    parse_expectations(EXPECTATIONS_MD).unwrap_or_else(|e| panic!("{e}"))
}

/// Parses an expectation table: every line starting with `|` other than the header and its
/// separator is a row, and a row that does not parse is an error naming its line.
pub fn parse_expectations(text: &str) -> Result<Vec<Expectation>, TableError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let err = |why: String| TableError { line: i + 1, why };
        let line = line.trim();
        if !line.starts_with('|') {
            continue;
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() != 7 || !cells[6].is_empty() {
            return Err(err(format!(
                "expected 5 cells between '|', got {}",
                cells.len().saturating_sub(2)
            )));
        }
        if cells[1] == "mechanism" || cells[1..6].iter().all(|c| c.chars().all(|ch| ch == '-')) {
            continue;
        }
        let reference = Reference::parse(cells[1]).map_err(|e| err(e.to_string()))?;
        if reference.profile.is_some() {
            return Err(err(format!(
                "'{}': a row names switches, not a profile",
                cells[1]
            )));
        }
        resolve(cells[1], &[]).map_err(|e| err(e.to_string()))?;
        let property = cells[2]
            .parse::<Property>()
            .map_err(|e| err(e.to_string()))?;
        let expected = VerdictKind::parse(cells[3]).ok_or_else(|| {
            err(format!(
                "unknown verdict '{}'; known: holds, violated, n/a, by-design",
                cells[3]
            ))
        })?;
        let variant = cells[1]
            .split_once('[')
            .map(|(_, rest)| rest.trim_end_matches(']').to_string());
        out.push(Expectation {
            row: cells[1].to_string(),
            mechanism: reference.id,
            variant,
            sets: reference.sets,
            property,
            expected,
            must_reach: cells[4].to_string(),
            note: cells[5].to_string(),
        });
    }
    Ok(out)
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
    /// How hard the row was searched (`threats.md` §7); absent for a sampled-only run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Evidence>,
    /// Replays the counterexample exactly (`tokenlab replay --choices`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub choices: Option<String>,
}

/// The strength of a row's verdict: the exhaustive search of its small world and the random
/// cases of its full-size world.
#[derive(Clone, Debug, Serialize)]
pub struct Evidence {
    pub exhaustive: ExhaustiveEvidence,
    pub sampled: SampledEvidence,
}

#[derive(Clone, Debug, Serialize)]
pub struct ExhaustiveEvidence {
    pub runs: u64,
    /// Every assignment of at most `max_unusual` non-default choices was run.
    pub exhausted: bool,
    pub max_unusual: u32,
    pub distinct_histories: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct SampledEvidence {
    pub cases: u32,
    /// The probability that an event of per-case probability 1% was missed: 0.99^cases.
    pub miss_bound_1pct: f64,
}

/// How hard `check` looks at each row.
#[derive(Clone, Copy, Debug)]
pub struct CheckBudget {
    /// Random cases of the full-size world; `None`: [`CheckBudget::cases_for`] decides.
    pub cases: Option<u32>,
    /// K of the exhaustive search of the small world.
    pub max_unusual: u32,
    /// Runs the exhaustive search may spend per row.
    pub explore_budget: u64,
    /// Full-size cases behind a row whose small world was exhausted, and behind one whose
    /// was not.
    pub cases_exhausted: u32,
    pub cases_open: u32,
    /// `default`, `quick` or `report`: printed beside the bound it reached.
    pub name: &'static str,
}

impl CheckBudget {
    /// `check`'s default: exhaustive K = 1 on the small world (1000 runs per row); 300
    /// full-size cases where the small world was not exhausted (a 1% event is missed with
    /// probability 0.99^300 = 4.9%), 30 where it was.
    pub const DEFAULT: CheckBudget = CheckBudget {
        cases: None,
        max_unusual: 1,
        explore_budget: 1000,
        cases_exhausted: 30,
        cases_open: 300,
        name: "default",
    };
    /// `check --quick`: a 100-run search and 1 case per row (a smoke test).
    pub const QUICK: CheckBudget = CheckBudget {
        cases: None,
        max_unusual: 1,
        explore_budget: 100,
        cases_exhausted: 1,
        cases_open: 1,
        name: "quick",
    };
    /// The report's security section: a 400-run search (enough for every grace-window row at
    /// the report's seed), 1 or 3 cases, within the report's time (the report prints the
    /// bound this reaches; `check` is the stronger run).
    pub const REPORT: CheckBudget = CheckBudget {
        cases: None,
        max_unusual: 1,
        explore_budget: 400,
        cases_exhausted: 1,
        cases_open: 3,
        name: "report",
    };

    pub fn cases_for(&self, exhausted: bool) -> u32 {
        match (self.cases, exhausted) {
            (Some(n), _) => n,
            (None, true) => self.cases_exhausted,
            (None, false) => self.cases_open,
        }
    }
}

/// The miss bound of `n` random cases for a 1% event.
pub fn miss_bound_1pct(n: u32) -> f64 {
    0.99f64.powi(n as i32)
}

/// A row searched as `check` does: the small world exhaustively, then full-size random cases
/// (none once a counterexample is found; the first violating case ends the sampling).
pub fn run_row_searched(e: &Expectation, budget: &CheckBudget, seed: u64) -> MatrixRow {
    let search = crate::explore::Search {
        strategy: crate::explore::Strategy::Exhaustive,
        seed,
        max_unusual: budget.max_unusual,
        budget: budget.explore_budget,
    };
    let x = crate::explore::explore(e, &search);
    let (exhausted, runs, distinct, found, reached_small, small_kind) = match &x {
        Ok(x) => (
            x.exhausted,
            x.runs,
            x.distinct_histories,
            x.counterexample.clone(),
            x.reached,
            Some(x.verdict),
        ),
        Err(_) => (false, 0, 0, None, 0, None),
    };
    let cases = if found.is_some() {
        0
    } else {
        budget.cases_for(exhausted)
    };
    let mut row = if cases > 0 {
        run_row(e, cases, seed)
    } else {
        MatrixRow {
            mechanism: e.mechanism.clone(),
            variant: e.variant.clone(),
            property: e.property.id().to_string(),
            name: e.property.name(),
            verdict: VerdictKind::Violated,
            expected: e.expected,
            cases: 0,
            reached: 0,
            counterexample: None,
            matches: false,
            seeds: Vec::new(),
            evidence: None,
            choices: None,
        }
    };
    row.reached += reached_small;
    if let Some(c) = found {
        row.verdict = VerdictKind::Violated;
        row.counterexample = Some(format!(
            "small world, {} non-default choice(s); replay: tokenlab replay --choices '{}'\n{}",
            c.unusual,
            c.choices,
            c.trace.join("\n")
        ));
        row.choices = Some(c.choices);
    } else if let Some(k) = small_kind
        && k != VerdictKind::NotApplicable
        && row.verdict == VerdictKind::NotApplicable
    {
        row.verdict = k;
    }
    if let Err(msg) = &x {
        row.counterexample = Some(format!("cannot explore: {msg}"));
        row.verdict = VerdictKind::NotApplicable;
    }
    let vacuous =
        matches!(row.verdict, VerdictKind::Holds | VerdictKind::Violated) && row.reached == 0;
    row.matches = row.verdict == e.expected && !vacuous;
    row.evidence = Some(Evidence {
        exhaustive: ExhaustiveEvidence {
            runs,
            exhausted,
            max_unusual: budget.max_unusual,
            distinct_histories: distinct,
        },
        sampled: SampledEvidence {
            cases: row.cases,
            miss_bound_1pct: miss_bound_1pct(row.cases),
        },
    });
    row
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
            from: tokenlab_models::history::ExposureMode::Store,
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
pub fn runs_for(mechanism: &str, sets: &[String], property: Property) -> Vec<RunSpec> {
    let Some(m) = of_reference(mechanism) else {
        // Runs and fails naming the reference: a case that cannot run is not skipped.
        return vec![RunSpec {
            scenario: base(mechanism, sets, 60.0, 0.0),
            plan: None,
        }];
    };
    runs_of(m, mechanism, sets, property)
}

fn runs_of(
    m: &'static dyn Mechanism,
    mechanism: &str,
    sets: &[String],
    property: Property,
) -> Vec<RunSpec> {
    let root = m.root_credential();
    // A pushed-only partner holds T only after its first delivery: steal later.
    let warm = m.warm_up_s();
    let long = sets.iter().any(|s| s.contains("periodic(1d)"));
    let mut sets = sets.to_vec();
    match property {
        Property::P1 => {
            let d = 1800.0 + warm;
            let mut steps = vec![
                step(BEFORE_SETUP, Capability::Own { tenant: OWN }),
                step(300.0, Capability::Forge),
                steal(600.0 + warm, root, VICTIM),
                steal(900.0 + warm, "token", VICTIM),
            ];
            if m.browser_consent() {
                steps.push(step(700.0, Capability::Redirect { victim: VICTIM }));
            }
            vec![RunSpec {
                scenario: base(mechanism, &sets, d, 30.0),
                plan: Some(plan(steps, d)),
            }]
        }
        Property::P2 => {
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
            if !m.capability_url() {
                steps.extend(url_only.clone());
            }
            let mut out = vec![RunSpec {
                scenario: base(mechanism, &sets, d, 30.0),
                plan: Some(plan(steps, d)),
            }];
            if m.capability_url() {
                out.push(RunSpec {
                    scenario: base(mechanism, &sets, d, 30.0),
                    plan: Some(plan(url_only, d)),
                });
            }
            out
        }
        Property::P3 => {
            let d = 1800.0;
            let mut s = base(mechanism, &sets, d, 60.0);
            s.admin = vec![
                (700.0, AdminAction::Uninstall(2)),
                (900.0, AdminAction::Uninstall(3)),
            ];
            if m.browser_consent() {
                s.admin.push((800.0, AdminAction::Revoke(1)));
            }
            // P's endpoint is down across the uninstalls, so the platform's retries run past
            // them: push's deliveries (P.recv), or (trigger) F's nested call for a stolen URL
            // (P.auth), where only F's recheck at the retry's mint stops them.
            let retried = if m.acquisition() == Acquisition::PushedOnly {
                Some(("interval=5m", 60.0))
            } else if m.capability_url() {
                Some(("platform_retries=3", 590.0))
            } else {
                None
            };
            if let Some((switch, down_from)) = retried {
                s.sets.push(switch.into());
                s.sets.push("platform_backoff=60s".into());
                s.nemesis.push(tokenlab_models::faults::Nemesis::Crash {
                    role: tokenlab_models::faults::CrashRole::Partner,
                    from_s: down_from,
                    until_s: 1500.0,
                    lose_volatile: false,
                });
            }
            let mut steps = vec![
                step(300.0, Capability::Forge),
                steal(600.0, root, TenantId(2)),
                steal(600.0, root, VICTIM),
            ];
            if m.browser_consent() {
                // The RT grant needs the app's client secret too: without it the AS refuses
                // the client before the installation is ever looked at.
                steps.push(steal(590.0, "client_secret", VICTIM));
                // A consent for the victim's site posted by the attacker, not its admin.
                steps.push(step(400.0, Capability::ForgeConsent { victim: VICTIM }));
            }
            if retried.is_none() {
                // A1 on the partner–Forge hop: the uninstall events are seen in transit and
                // their FITs replayed as `installed` with the attacker's secrets (within the
                // FIT's lifetime only P.lifecycle's binding of a FIT to its body stops it).
                // Not where P is down across the uninstalls (F's events never get through).
                steps.push(step(
                    650.0,
                    Capability::Tap {
                        a: Group::Partner,
                        b: Group::Forge,
                    },
                ));
            }
            vec![RunSpec {
                scenario: s,
                plan: Some(plan(steps, d)),
            }]
        }
        Property::P4 => {
            // At least 3·max(finite B): B(RT) can reach next refresh (≤ TTL) + grace + TTL.
            // The root credential's theft runs alone, so that a search can place it against
            // the victim's refreshes without a second theft masking it (F-grace); the store
            // snapshot and the token theft run together in a second world.
            let d = if long { 30.0 * 3600.0 } else { 24.0 * 3600.0 };
            let root_theft = vec![steal(600.0 + warm, root, VICTIM)];
            let snapshot = vec![
                step(1200.0 + warm, Capability::Breach { continuing: false }),
                steal(1500.0 + warm, "token", VICTIM),
            ];
            [root_theft, snapshot]
                .into_iter()
                .map(|steps| RunSpec {
                    scenario: base(mechanism, &sets, d, 6.0),
                    plan: Some(plan(steps, d)),
                })
                .collect()
        }
        Property::P5 => {
            // Long enough for the outstanding-T clause to fire: the revocation at 900 s plus
            // R (= TTL with `api_checks_installation=off`) plus half an hour of probes.
            let ttl_s = resolve(mechanism, &sets)
                .map(|(_, _, p)| p.dur_req("ttl") as f64 / SEC as f64)
                .unwrap_or(0.0);
            let d = (900.0 + ttl_s + 1800.0).max(3600.0) + warm;
            let mut s = base(mechanism, &sets, d, 30.0);
            s.admin = vec![(900.0 + warm, AdminAction::Uninstall(2))];
            if m.revocable() {
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
        Property::P6 => {
            let d = 1200.0;
            let mut steps = vec![step(BEFORE_SETUP, Capability::Replay)];
            if !m.browser_consent() {
                steps.push(step(
                    BEFORE_SETUP,
                    Capability::Tap {
                        a: Group::Partner,
                        b: Group::ProductApi,
                    },
                ));
            }
            if m.acquires_from() == Some(Group::AuthServer) {
                steps.push(step(
                    BEFORE_SETUP,
                    Capability::Tap {
                        a: Group::Partner,
                        b: Group::AuthServer,
                    },
                ));
                // private_key_jwt: each tapped assertion is also replayed after its `exp`,
                // when the AS has forgotten its `jti`: only the expiry check stops it.
                let assertions = resolve(mechanism, &sets).is_ok_and(|(_, _, p)| {
                    p.get("sender_constraint").is_some()
                        && p.pick::<SenderConstraint>("sender_constraint")
                            == SenderConstraint::PrivateKeyJwt
                });
                if assertions {
                    steps.push(step(BEFORE_SETUP, Capability::ReplayLate));
                }
            }
            let mut p = plan(steps, d);
            p.use_loot = false;
            let mut runs = vec![RunSpec {
                scenario: base(mechanism, &sets, d, 30.0),
                plan: Some(p),
            }];
            if m.browser_consent() {
                runs.push(lost_code_exchange(mechanism, &sets, d));
            }
            runs
        }
        Property::P7 => {
            let d = 1200.0 + warm;
            let mut steps = vec![
                step(300.0, Capability::Forge),
                steal(300.0 + warm, root, VICTIM),
                steal(400.0 + warm, "token", VICTIM),
            ];
            if m.browser_consent() {
                steps.push(step(300.0, Capability::Redirect { victim: VICTIM }));
            }
            vec![RunSpec {
                scenario: base(mechanism, &sets, d, 30.0),
                plan: Some(plan(steps, d)),
            }]
        }
        Property::P8 => {
            let fit_deliveries = m.capability_url() || m.acquisition() == Acquisition::PushedOnly;
            // With FIT deliveries, A10 from the start and A1 on the partner–Forge hop: the
            // first deliveries (cold starts) are seen in transit and replayed with a forged T.
            let forge_at = if fit_deliveries { 0.0 } else { 300.0 };
            // A pushed-only partner's first deliveries come within its warm-up.
            let d = 900.0 + warm;
            let mut steps = vec![step(forge_at, Capability::Forge)];
            if fit_deliveries {
                steps.push(step(
                    0.0,
                    Capability::Tap {
                        a: Group::Partner,
                        b: Group::Forge,
                    },
                ));
            }
            if m.browser_consent() {
                steps.push(step(BEFORE_SETUP, Capability::Own { tenant: OWN }));
                steps.push(step(400.0, Capability::InjectCode { victim: VICTIM }));
            }
            vec![RunSpec {
                scenario: base(mechanism, &sets, d, 30.0),
                plan: Some(plan(steps, d)),
            }]
        }
        Property::P9 => {
            let d = 5.0 * 3600.0;
            let steps = vec![
                step(BEFORE_SETUP, Capability::Own { tenant: OWN }),
                steal(600.0, root, VICTIM),
            ];
            // A second world on lossy links: lost responses and the retries they cause are
            // the antecedents the row names (a retry of a rotated RT, inside or outside the
            // grace window).
            let mut lossy = base(mechanism, &sets, d, 6.0);
            let preset = tokenlab_models::faults::preset("lossy").expect("preset");
            lossy.network = preset.network;
            lossy.preset = "lossy".into();
            vec![
                RunSpec {
                    scenario: base(mechanism, &sets, d, 6.0),
                    plan: Some(plan(steps.clone(), d)),
                },
                RunSpec {
                    scenario: lossy,
                    plan: Some(plan(steps, d)),
                },
            ]
        }
        Property::P10 => {
            // Faults: JWKS outage, P's clock 2 h behind, lossy links, a partner crash, a
            // platform crash, a partition between P and where it acquires from, a deploy
            // reset of every push schedule; attacker: forged deliveries and stolen items.
            // Judged against the same run without its faults (`suite::fault_free`).
            use tokenlab_models::faults::{CrashRole, Nemesis};
            let d = 6.0 * 3600.0;
            sets.push("clock_skew=2h".into());
            let mut s = base(mechanism, &sets, d, 6.0);
            let lossy = tokenlab_models::faults::preset("lossy").expect("preset");
            s.network = lossy.network;
            s.preset = "lossy".into();
            s.nemesis.extend([
                Nemesis::Crash {
                    role: CrashRole::Partner,
                    from_s: 3000.0,
                    until_s: 3060.0,
                    lose_volatile: true,
                },
                Nemesis::Crash {
                    role: CrashRole::Platform,
                    from_s: 4000.0,
                    until_s: 4300.0,
                    lose_volatile: true,
                },
                Nemesis::Partition {
                    a: Group::Partner,
                    b: m.acquires_from().unwrap_or(Group::Forge),
                    from_s: 4500.0,
                    until_s: 4800.0,
                },
                Nemesis::DeployReset { at_s: 5400.0 },
            ]);
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
        Property::P11 => {
            let d = 4000.0;
            vec![RunSpec {
                scenario: base(mechanism, &sets, d, 60.0),
                plan: None,
            }]
        }
        Property::P12 => {
            // No attacker; the generator is every cold demand.
            let d = 1800.0;
            vec![RunSpec {
                scenario: base(mechanism, &sets, d, 60.0),
                plan: None,
            }]
        }
    }
}

/// P6's second world where a code is issued mid-run: tenant 2 is uninstalled and installed
/// again at 300 s while P is cut off from the AS (299–330 s), so P's code exchange is lost
/// and its code never redeemed. The attacker taps P–AS and replays the exchange after the
/// code's lifetime (A7 late): only the AS's expiry check stops it.
fn lost_code_exchange(mechanism: &str, sets: &[String], d: f64) -> RunSpec {
    let mut s = base(mechanism, sets, d, 30.0);
    s.admin = vec![
        (200.0, AdminAction::Uninstall(2)),
        (300.0, AdminAction::Install(2)),
    ];
    s.nemesis.push(tokenlab_models::faults::Nemesis::Partition {
        a: Group::Partner,
        b: Group::AuthServer,
        from_s: 299.0,
        until_s: 330.0,
    });
    let mut p = plan(
        vec![
            step(
                BEFORE_SETUP,
                Capability::Tap {
                    a: Group::Partner,
                    b: Group::AuthServer,
                },
            ),
            step(BEFORE_SETUP, Capability::ReplayLate),
        ],
        d,
    );
    p.use_loot = false;
    RunSpec {
        scenario: s,
        plan: Some(p),
    }
}

/// A duration parameter where the mechanism declares it; `None` where it has no such thing
/// (no grace window, no absolute RT lifetime). A key of another kind is `None` too: a
/// switch named `rotation` is not a rotation period.
fn declared(params: &Params, key: &str) -> Option<Micros> {
    match params.get(key)? {
        ParamValue::Duration(d) => *d,
        ParamValue::Rotation(Rotation::Periodic(r)) => Some(*r),
        _ => None,
    }
}

/// The declared bounds of a run's parameters (`threats.md` §3 P4).
pub fn bounds(params: &Params) -> ExposureBounds {
    let ttl = params.dur_req("ttl");
    let url_per_use = matches!(
        params.get("url_rotation"),
        Some(ParamValue::Rotation(Rotation::PerUse))
    );
    ExposureBounds {
        ttl,
        url: if url_per_use {
            Some(ttl)
        } else {
            declared(params, "url_rotation").map(|r| r + ttl)
        },
        url_per_use,
        // The periodic secret rotation of tenant-secret and global-secret (refresh's
        // `rotation` is a switch): the stolen secret is replaced within ρ and still works for
        // `rotation_overlap` after that, and a T minted at the last moment lives a TTL more.
        secret: declared(params, "rotation")
            .map(|r| r + declared(params, "rotation_overlap").unwrap_or(0) + ttl),
        shared: None,
        shared_until: tokenlab_models::mechanisms::migration::connect_bound(params),
        grace: declared(params, "grace_window").unwrap_or(0),
        rt_max_life: declared(params, "rt_max_life"),
        rt_idle_expiry: declared(params, "rt_idle_expiry"),
        grace_slip: false,
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
pub fn judge(property: Property, h: &History, params: &Params, tenants: u32) -> Verdict {
    judge_with(property, h, params, tenants, None)
}

/// [`judge`] with P10's fault-free twin verdicts (from [`twin_of`]).
pub fn judge_with(
    property: Property,
    h: &History,
    params: &Params,
    tenants: u32,
    twin: Option<Vec<VerdictKind>>,
) -> Verdict {
    let mut input = check_input_without_windows(params, tenants, twin);
    // Only P10 reads the fault windows (a pass over every record).
    if property == Property::P10 {
        input.faults.windows = crate::property::fault_windows(h);
    }
    property.check(h, &input)
}

/// Judges one history for several properties over one shared index of it ([`Facts`] is
/// built once, not once per checker): the verdicts in the order of `properties`. P10 is
/// judged without its fault-free twin here (every failing part counts, and its
/// counterexample says so).
pub fn judge_all(
    properties: &[Property],
    h: &History,
    params: &Params,
    tenants: u32,
) -> Vec<Verdict> {
    let mut input = check_input_without_windows(params, tenants, None);
    if properties.contains(&Property::P10) {
        input.faults.windows = crate::property::fault_windows(h);
    }
    let f = crate::facts::Facts::new(h);
    properties
        .iter()
        .map(|p| p.check_with(&f, &input))
        .collect()
}

/// What the checkers need besides the history, from the run's parameters.
pub fn check_input(
    h: &History,
    params: &Params,
    tenants: u32,
    twin: Option<Vec<VerdictKind>>,
) -> CheckInput {
    let mut input = check_input_without_windows(params, tenants, twin);
    input.faults.windows = crate::property::fault_windows(h);
    input
}

/// [`check_input`] without P10's fault windows (empty).
fn check_input_without_windows(
    params: &Params,
    tenants: u32,
    twin: Option<Vec<VerdictKind>>,
) -> CheckInput {
    CheckInput {
        bounds: bounds(params),
        outstanding: if tokenlab_models::mechanisms::api_checks_grant(params) {
            0
        } else {
            params.dur_req("ttl")
        },
        tenants,
        phases: params
            .get("migration_window")
            .map(|_| {
                let w = tokenlab_models::mechanisms::migration::Window::from_params(params);
                vec![w.start, w.end]
            })
            .unwrap_or_default(),
        network: crate::allowlist::NetworkCheck::from_params(params),
        consent_by_design: params.get("consent_required").is_some(),
        principals: crate::principals::config(params),
        faults: crate::Faults {
            windows: Vec::new(),
            twin,
        },
    }
}

/// A run's fault-free twin: the same seed, world, workload and attacker, without its faults
/// (no link loss or edge errors, no nemesis, no JWKS outage, no clock skew).
pub fn fault_free(spec: &RunSpec) -> RunSpec {
    let mut twin = spec.clone();
    let s = &mut twin.scenario;
    s.network.map_all(|l| *l = l.fault_free());
    s.nemesis.clear();
    s.sets.retain(|kv| {
        kv.split_once('=')
            .is_none_or(|(k, _)| k.trim() != "clock_skew")
    });
    if let Some(p) = twin.plan.as_mut() {
        p.jwks_outages.clear();
    }
    twin
}

/// P10's twin: the verdicts of [`crate::property::FAIL_CLOSED_PARTS`] on `spec`'s fault-free
/// twin; `None` for every other property (and where the twin cannot run).
pub fn twin_of(property: Property, spec: &RunSpec) -> Option<Vec<VerdictKind>> {
    if property != Property::P10 {
        return None;
    }
    let twin = fault_free(spec);
    let (h, params) = execute(&twin).ok()?;
    let input = check_input(&h, &params, twin.scenario.tenants, None);
    Some(
        crate::property::fail_closed_parts(&crate::facts::Facts::new(&h), &input)
            .into_iter()
            .map(|v| v.kind)
            .collect(),
    )
}

fn row_seed(seed: u64, e: &Expectation) -> u64 {
    let h = tokenlab_models::secret::fnv1a(format!("{}|{}", e.row, e.property).as_bytes());
    seed ^ h
}

/// Rows that one sampled case per row (seed 1, no search) gets wrong, as (mechanism, variant,
/// property). The list is exact, and the search (`check`'s default) finds every one of them:
/// - F-grace needs the thief's and the victim's presentations within the grace window of each
///   other, a few percent of random runs;
/// - the refused-FIT replay needs the genuine FIT refused for a key P has not learnt yet, then
///   replayed once it has: one non-default choice of the small-world search.
pub const MISSED_BY_ONE_SAMPLE: &[(&str, Option<&str>, &str)] = &[
    ("refresh", None, "P4"),
    ("refresh", Some("grace_reply=rotate"), "P4"),
    ("upm-oauth", Some("grace_reply=rotate"), "P4"),
    (
        "push",
        Some("fit_key_rotation=periodic(10m),fit_key_overlap=1m,refused_fit_binding=off"),
        "P8",
    ),
];

/// Runs one row over `cases` seeds.
pub fn run_row(e: &Expectation, cases: u32, seed: u64) -> MatrixRow {
    let specs = runs_for(&e.mechanism, &e.sets, e.property);
    let mut kinds = Vec::new();
    let mut reached = 0;
    let mut counterexample: Option<String> = None;
    let mut seeds = Vec::new();
    let mut first_violation: Option<(RunSpec, u64, usize)> = None;
    let mut ran = 0;
    for k in 0..cases.max(1) {
        if first_violation.is_some() {
            break;
        }
        ran += 1;
        let s = row_seed(seed, e).wrapping_add(u64::from(k));
        seeds.push(format!("{s:#x}"));
        for (run, spec) in specs.iter().enumerate() {
            let mut spec = spec.clone();
            spec.scenario.seed = s;
            match execute(&spec) {
                Ok((h, params)) => {
                    let twin = twin_of(e.property, &spec);
                    let v = judge_with(e.property, &h, &params, spec.scenario.tenants, twin);
                    reached += v.reached;
                    if v.kind == VerdictKind::Violated && first_violation.is_none() {
                        first_violation = Some((spec.clone(), s, run));
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
    let mut choices = None;
    if let Some((spec, s, run)) = &first_violation {
        choices = Some(
            tokenlab_models::choice::ChoiceString {
                mechanism: e.row.clone(),
                property: e.property.id().to_string(),
                world: tokenlab_models::choice::WorldSize::Full,
                run: *run as u32,
                seed: *s,
                decisions: None,
            }
            .to_string(),
        );
        if let Some(c) = shrink(e, spec) {
            counterexample = Some(c);
        }
    }
    let vacuous = matches!(verdict, VerdictKind::Holds | VerdictKind::Violated) && reached == 0;
    MatrixRow {
        mechanism: e.mechanism.clone(),
        variant: e.variant.clone(),
        property: e.property.id().to_string(),
        name: e.property.name(),
        verdict,
        expected: e.expected,
        cases: ran,
        reached,
        counterexample,
        matches: verdict == e.expected && !vacuous,
        seeds,
        evidence: None,
        choices,
    }
}

/// A row's verdict from its runs': violated, else by-design, else holds, else n/a.
pub(crate) fn aggregate(kinds: &[VerdictKind]) -> VerdictKind {
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
        let twin = twin_of(e.property, s);
        let v = judge_with(e.property, &h, &params, s.scenario.tenants, twin);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_parses_whole() {
        let rows = expectations();
        let table_lines = EXPECTATIONS_MD
            .lines()
            .filter(|l| l.trim().starts_with('|'))
            .count();
        assert_eq!(
            rows.len(),
            table_lines - 2,
            "every row but header and separator"
        );
    }

    #[test]
    fn a_malformed_row_is_an_error_with_its_line() {
        let head = "# t\n\n| mechanism | property | expected | must reach | note |\n|---|---|---|---|---|\n";
        let ok = format!("{head}| trigger | P1 | holds | A4 | n |\n");
        assert_eq!(parse_expectations(&ok).unwrap().len(), 1);
        for (row, why) in [
            (
                "| trigger | P13 | holds | A4 | n |",
                "unknown property 'P13'",
            ),
            ("| trigger | P1 | hold | A4 | n |", "unknown verdict 'hold'"),
            ("| trigger | P1 | holds | A4 |", "expected 5 cells"),
            (
                "| trigerr | P1 | holds | A4 | n |",
                "unknown mechanism 'trigerr'",
            ),
            (
                "| trigger[read_form=replica] | P1 | holds | A4 | n |",
                "unknown switch 'read_form'",
            ),
            (
                "| trigger[read_from=replica | P1 | holds | A4 | n |",
                "closing ']'",
            ),
        ] {
            let e = parse_expectations(&format!("{head}{row}\n")).unwrap_err();
            assert_eq!(e.line, 5, "{row}");
            let msg = e.to_string();
            assert!(msg.starts_with("expectations.md line 5: "), "{msg}");
            assert!(msg.contains(why), "{row}: {msg}");
        }
    }
}
