//! Issue 13 item 2: F rotates its FIT signing key while P cannot reach the JWKS. What the
//! outage costs each FIT-using mechanism (refused deliveries, failed demands, time to recover
//! after the outage) across P's refetch floor, its key-set max age, F's overlap and the
//! never-refetching mutant. Computed in the results phase from simulator histories (the same
//! `rollover_cost` reads a loopback history in `tests/key_rollover_loopback.rs`).

use super::section::{Block, EvidenceKind, Flip, Section, SweepPoint, Verdict};
use tokenlab_models::roles::attacker::AttackPlan;
use tokenlab_models::sim::rollover::{RolloverCost, rollover_cost};
use tokenlab_models::sim::{Scenario, run_attacked};
use tokenlab_models::{Micros, SEC};

/// The mechanisms whose tokens arrive with a FIT.
pub const FIT_MECHANISMS: [&str; 2] = ["trigger", "push"];
/// The rollover at 2 h; the outage from 15 min before it to 17 min after (its end falls
/// between the refetch attempts of both floors, so the floor's cost shows).
const ROLLOVER_H: f64 = 2.0;
const OUTAGE: (Micros, Micros) = (105 * 60 * SEC, 137 * 60 * SEC);
const TENANTS: u32 = 40;
const DURATION_H: f64 = 3.0;

/// One P / F policy of the table: its switches and a short label.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Policy {
    pub floor: &'static str,
    pub max_age: &'static str,
    pub overlap: &'static str,
    pub unknown_kid: &'static str,
}

/// The grid: the refetch floor with an unknown-`kid` refetch only; the max age against F's
/// pre-publication overlap; the mutant that never refetches.
pub const POLICIES: [Policy; 6] = [
    Policy {
        floor: "30s",
        max_age: "none",
        overlap: "5m",
        unknown_kid: "refetch",
    },
    Policy {
        floor: "5m",
        max_age: "none",
        overlap: "5m",
        unknown_kid: "refetch",
    },
    Policy {
        floor: "30s",
        max_age: "10m",
        overlap: "5m",
        unknown_kid: "refetch",
    },
    Policy {
        floor: "30s",
        max_age: "10m",
        overlap: "20m",
        unknown_kid: "refetch",
    },
    Policy {
        floor: "30s",
        max_age: "10m",
        overlap: "1h",
        unknown_kid: "refetch",
    },
    Policy {
        floor: "30s",
        max_age: "none",
        overlap: "5m",
        unknown_kid: "never_refetch",
    },
];

impl Policy {
    fn sets(&self, mechanism: &str) -> Vec<String> {
        // Frequent deliveries: trigger's T lives 20 min, push delivers every 10 min.
        let cadence = if mechanism == "push" {
            "interval=10m"
        } else {
            "ttl=20m"
        };
        vec![
            format!("fit_key_rotation=periodic({ROLLOVER_H}h)"),
            format!("fit_key_overlap={}", self.overlap),
            format!("jwks_refetch_floor={}", self.floor),
            format!("jwks_max_age={}", self.max_age),
            format!("unknown_kid={}", self.unknown_kid),
            cadence.into(),
        ]
    }
}

/// One row: a mechanism under a policy, and what the outage cost it.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub mechanism: &'static str,
    pub policy: Policy,
    pub cost: RolloverCost,
}

fn scenario(mechanism: &str, p: &Policy, seed: u64) -> Scenario {
    let mut s = Scenario::new(mechanism, "same-region").expect("the same-region preset");
    s.tenants = TENANTS;
    s.duration_s = DURATION_H * 3600.0;
    s.seed = seed;
    s.sets = p.sets(mechanism);
    s
}

/// Runs every mechanism under every policy (12 simulator runs of 40 tenants for 3 h).
pub fn data(seed: u64) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    for m in FIT_MECHANISMS {
        for p in POLICIES {
            let s = scenario(m, &p, seed);
            let mut plan = AttackPlan::new(Vec::new(), OUTAGE.1);
            plan.jwks_outages = vec![OUTAGE];
            let r = run_attacked(&s, &plan).map_err(|e| format!("{m}: {e}"))?;
            rows.push(Row {
                mechanism: m,
                policy: p,
                cost: rollover_cost(&r.history, OUTAGE),
            });
        }
    }
    Ok(rows)
}

/// Supported when the outage across the rollover costs availability that ends: every
/// refetching partner that refused deliveries accepts again after the outage, and the
/// never-refetching mutant (the control that the runs exercised the rollover) does not.
/// Refuted when a refetching partner never recovers. Not evaluated when no row refused
/// anything (the outage did not bite: the runs would show nothing).
pub fn rule(rows: &[Row]) -> Verdict {
    let refetching = rows.iter().filter(|r| r.policy.unknown_kid == "refetch");
    if !rows
        .iter()
        .any(|r| r.cost.refused_in_outage + r.cost.refused_after_outage > 0)
    {
        return Verdict::NotEvaluated("no delivery was refused in any run".into());
    }
    if let Some(r) = refetching.clone().find(|r| r.cost.recovery_s.is_none()) {
        return Verdict::DependsOn(format!(
            "{} with jwks_refetch_floor={} never recovered",
            r.mechanism, r.policy.floor
        ));
    }
    let control_recovers = rows
        .iter()
        .filter(|r| r.policy.unknown_kid == "never_refetch")
        .any(|r| r.cost.recovery_s.is_some());
    if control_recovers {
        return Verdict::NotEvaluated(
            "the never-refetching control recovered: the rollover was not exercised".into(),
        );
    }
    Verdict::Supported
}

fn secs(x: Option<f64>) -> String {
    x.map_or("never".into(), |s| format!("{s:.0}"))
}

/// The command that reproduces the table's runs.
pub fn command(seed: u64) -> String {
    format!(
        "cargo run --release -- run scenarios/key-rollover-outage.toml (seed {seed} in the report; the table's refused-delivery counts: cargo test -p tokenlab-models --test key_rollover)"
    )
}

pub fn section(seed: u64) -> Section {
    let title = "Key rollover during a JWKS outage";
    let claim = "Issue 13 item 2: F rotates its FIT signing key on a schedule; P caches the key set and refetches it on an unknown `kid` (floored). With `jwks_fail=closed` an outage across a rollover costs availability only, and P recovers after it.";
    let experiment = format!(
        "trigger and push, {TENANTS} tenants for {DURATION_H} h on same-region; F rolls its key over at {ROLLOVER_H} h (`fit_key_rotation=periodic({ROLLOVER_H}h)`); the JWKS is unreachable from 105 to 137 min. Per policy: P's refetch floor, its key-set max age (none: only an unknown `kid` refetches) and F's overlap (the new key is published that long before the rollover). The security side (P8 and P10 through the rollover, the `jwks_fail=open` and `unknown_kid=accept` negative controls) is in the expectation table's issue-13 rows."
    );
    let rows = match data(seed) {
        Ok(d) => d,
        Err(e) => {
            return Section::runs_failed("K-rollover", title, claim, &experiment, &e.to_string());
        }
    };
    let verdict = rule(&rows);
    let table = rows
        .iter()
        .map(|r| {
            let c = &r.cost;
            vec![
                r.mechanism.to_string(),
                r.policy.unknown_kid.to_string(),
                r.policy.floor.to_string(),
                r.policy.max_age.to_string(),
                r.policy.overlap.to_string(),
                c.deliveries.to_string(),
                c.refused_in_outage.to_string(),
                c.refused_after_outage.to_string(),
                format!("{} / {}", c.demands_failed, c.demands),
                secs(c.recovery_s),
            ]
        })
        .collect();
    // The flip: without refetching, nothing recovers.
    let without_control: Vec<Row> = rows
        .iter()
        .filter(|r| r.policy.unknown_kid == "refetch")
        .cloned()
        .collect();
    let sweep = vec![
        SweepPoint {
            value: "refetch".into(),
            verdict: rule(&without_control).kind().into(),
        },
        SweepPoint {
            value: "never_refetch".into(),
            verdict: "depends on".into(),
        },
    ];
    Section {
        id: "K-rollover".into(),
        title: title.into(),
        claim: claim.into(),
        experiment,
        blocks: vec![
            Block::table(
                &[
                    "mechanism",
                    "unknown_kid",
                    "jwks_refetch_floor",
                    "jwks_max_age",
                    "fit_key_overlap",
                    "deliveries",
                    "refused in outage",
                    "refused after",
                    "demands failed / demands",
                    "recovery after the outage (s)",
                ],
                table,
            ),
            Block::Text {
                text: "Refused deliveries are F's token deliveries that P.auth / P.recv answered 401 (a FIT under a key P had not learnt); recovery is from the outage's end to the first accepted delivery after the last refusal, so it includes the wait for the next delivery. The rollover schedule and overlap are parameters (Atlassian's schedule is not public: unverified); the floor and max age follow jose's createRemoteJWKSet defaults (30 s, 10 min; inference). With a pre-publication overlap longer than the max age plus the outage's lead, P learns the new key before the outage and the outage costs nothing; with a shorter one it depends on when P's last refresh before the outage fell (the 20 min rows). Failed demands include those a run has without any rollover (push: tenants whose first delivery has not come yet): compare a row with the 1 h overlap row of its mechanism, which refused nothing.".into(),
            },
        ],
        rule: "Supported when every refetching partner that refused deliveries accepts again after the outage and the never-refetching control does not; depends on the policy when a refetching partner never recovers; not evaluated when nothing was refused.".into(),
        verdict,
        reproduce: vec![command(seed)],
        evidence_kind: EvidenceKind::Measured,
        evidence_basis: "Measured: refused deliveries, failed demands and recovery times counted from the runs' histories.".into(),
        flips_if: Some(Flip {
            assumption: "P refetches the key set on an unknown `kid` (`unknown_kid`)".into(),
            value: Some("never_refetch".into()),
            basis: "sweep",
            sweep,
        }),
        flips_if_reason: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(kid: &'static str, refused: u64, recovery: Option<f64>) -> Row {
        Row {
            mechanism: "trigger",
            policy: Policy {
                unknown_kid: kid,
                ..POLICIES[0]
            },
            cost: RolloverCost {
                refused_in_outage: refused,
                recovery_s: recovery,
                ..Default::default()
            },
        }
    }

    #[test]
    fn the_rule_flips_on_recovery_and_on_the_control() {
        let ok = vec![row("refetch", 3, Some(40.0)), row("never_refetch", 9, None)];
        assert_eq!(rule(&ok), Verdict::Supported);
        let stuck = vec![row("refetch", 3, None), row("never_refetch", 9, None)];
        assert!(matches!(rule(&stuck), Verdict::DependsOn(_)));
        let control_recovers = vec![
            row("refetch", 3, Some(1.0)),
            row("never_refetch", 9, Some(1.0)),
        ];
        assert!(matches!(rule(&control_recovers), Verdict::NotEvaluated(_)));
        let nothing = vec![row("refetch", 0, Some(0.0))];
        assert!(matches!(rule(&nothing), Verdict::NotEvaluated(_)));
    }
}
