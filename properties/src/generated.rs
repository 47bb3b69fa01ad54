//! Generated cases for the property-based suites (`tests/generated.rs`) and `tokenlab replay`:
//! one mechanism, a seed, and an interleaving of admin actions, faults and attacker actions
//! on top of the seeded demand workload. A case is plain serde data, so a shrunk
//! counterexample is saved as JSON and replayed with `tokenlab replay FILE`.

use crate::Property;
use crate::suite::{RunSpec, execute, judge_all};
use crate::{Verdict, VerdictKind};
use serde::{Deserialize, Serialize};
use tokenlab_models::faults::{CrashRole, Nemesis};
use tokenlab_models::ids::{Group, TenantId};
use tokenlab_models::mechanisms::of_reference;
use tokenlab_models::roles::AdminAction;
use tokenlab_models::roles::attacker::{AttackPlan, AttackStep, Capability};
use tokenlab_models::sim::Scenario;
use tokenlab_models::{Micros, SEC};

/// One generated step, at a virtual time in seconds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "op")]
pub enum Op {
    Install {
        tenant: u32,
        at_s: f64,
    },
    Uninstall {
        tenant: u32,
        at_s: f64,
    },
    /// Revoke the tenant's grant or credential (upm-oauth's button; consent comes with the
    /// install flow).
    Revoke {
        tenant: u32,
        at_s: f64,
    },
    /// A5: steal the mechanism's long-lived item (or T, with `token`) of a tenant.
    Steal {
        tenant: u32,
        token: bool,
        at_s: f64,
    },
    /// A9: call every stolen trigger URL `count` times (quota burn).
    Spam {
        count: u32,
        at_s: f64,
    },
    /// A2 snapshot.
    Breach {
        at_s: f64,
    },
    /// A10.
    Forge {
        at_s: f64,
    },
    /// A1 on P's links, with A7 replays of what it captures.
    TapAndReplay {
        at_s: f64,
    },
    /// A1 on the Forge → P hop (lifecycle events and deliveries, FITs included).
    TapForge {
        at_s: f64,
    },
    /// A4 from before provisioning.
    Own {
        tenant: u32,
    },
    JwksOutage {
        from_s: f64,
        until_s: f64,
    },
    CrashPartner {
        from_s: f64,
        until_s: f64,
        lose_volatile: bool,
    },
    Partition {
        from_s: f64,
        until_s: f64,
    },
    DeployReset {
        at_s: f64,
    },
}

/// A generated case.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Case {
    /// `ID[:PROFILE]`.
    pub mechanism: String,
    pub sets: Vec<String>,
    pub seed: u64,
    pub tenants: u32,
    pub duration_s: f64,
    pub ops: Vec<Op>,
    /// The properties judged on the case.
    pub properties: Vec<Property>,
}

fn at(s: f64) -> Micros {
    (s * SEC as f64) as Micros
}

impl Case {
    /// The simulator run this case stands for.
    pub fn spec(&self) -> RunSpec {
        let mut s = Scenario::new(&self.mechanism, "same-region").expect("preset exists");
        s.sets = self.sets.clone();
        s.tenants = self.tenants;
        s.duration_s = self.duration_s;
        s.demands_per_tenant_hour = 60.0;
        s.seed = self.seed;
        // An unknown mechanism fails in `execute`, naming it; no item is stolen before that.
        let root = of_reference(&self.mechanism).map_or("token", |m| m.root_credential());
        let mut steps = Vec::new();
        let mut outages = Vec::new();
        for op in &self.ops {
            match *op {
                Op::Install { tenant, at_s } => s.admin.push((at_s, AdminAction::Install(tenant))),
                Op::Uninstall { tenant, at_s } => {
                    s.admin.push((at_s, AdminAction::Uninstall(tenant)))
                }
                Op::Revoke { tenant, at_s } => s.admin.push((at_s, AdminAction::Revoke(tenant))),
                Op::Steal {
                    tenant,
                    token,
                    at_s,
                } => steps.push(AttackStep {
                    at: at(at_s),
                    capability: Capability::Steal {
                        field: if token { "token" } else { root },
                        tenant: TenantId(tenant),
                        from: tokenlab_models::history::ExposureMode::Store,
                    },
                }),
                Op::Spam { count, at_s } => steps.push(AttackStep {
                    at: at(at_s),
                    capability: Capability::Spam { count },
                }),
                Op::Breach { at_s } => steps.push(AttackStep {
                    at: at(at_s),
                    capability: Capability::Breach { continuing: false },
                }),
                Op::Forge { at_s } => steps.push(AttackStep {
                    at: at(at_s),
                    capability: Capability::Forge,
                }),
                Op::TapAndReplay { at_s } => {
                    // Not the Forge hop: a tapped FIT replayed with a forged body is a finding
                    // of its own (the FIT does not cover the body), judged separately.
                    for b in [Group::ProductApi, Group::AuthServer] {
                        steps.push(AttackStep {
                            at: at(at_s),
                            capability: Capability::Tap {
                                a: Group::Partner,
                                b,
                            },
                        });
                    }
                    steps.push(AttackStep {
                        at: at(at_s),
                        capability: Capability::Replay,
                    });
                }
                Op::TapForge { at_s } => steps.push(AttackStep {
                    at: at(at_s),
                    capability: Capability::Tap {
                        a: Group::Partner,
                        b: Group::Forge,
                    },
                }),
                Op::Own { tenant } => steps.push(AttackStep {
                    at: at(-301.0),
                    capability: Capability::Own {
                        tenant: TenantId(tenant),
                    },
                }),
                Op::JwksOutage { from_s, until_s } => outages.push((at(from_s), at(until_s))),
                Op::CrashPartner {
                    from_s,
                    until_s,
                    lose_volatile,
                } => s.nemesis.push(Nemesis::Crash {
                    role: CrashRole::Partner,
                    from_s,
                    until_s,
                    lose_volatile,
                }),
                Op::Partition { from_s, until_s } => s.nemesis.push(Nemesis::Partition {
                    a: Group::Partner,
                    b: Group::Forge,
                    from_s,
                    until_s,
                }),
                Op::DeployReset { at_s } => s.nemesis.push(Nemesis::DeployReset { at_s }),
            }
        }
        let mut plan = AttackPlan::new(steps, at(self.duration_s));
        plan.jwks_outages = outages;
        RunSpec {
            scenario: s,
            plan: Some(plan),
        }
    }

    /// Runs the case and judges every listed property; the first violation, if any.
    pub fn check(&self) -> Result<Vec<Verdict>, String> {
        let spec = self.spec();
        let (h, params) = execute(&spec)?;
        Ok(judge_all(&self.properties, &h, &params, self.tenants))
    }

    /// The case as a numbered trace of its generated steps.
    pub fn describe(&self) -> String {
        let mut lines = vec![format!(
            "{}{} seed {:#x}, {} tenants, {} s",
            self.mechanism,
            if self.sets.is_empty() {
                String::new()
            } else {
                format!("[{}]", self.sets.join(","))
            },
            self.seed,
            self.tenants,
            self.duration_s
        )];
        for (i, op) in self.ops.iter().enumerate() {
            lines.push(format!("step {}: {op:?}", i + 1));
        }
        lines.join("\n")
    }
}

/// The first violated verdict of a case, with its trace, or `None`. A case that cannot run is
/// an error, never a pass.
pub fn first_violation(case: &Case) -> Result<Option<String>, String> {
    Ok(violation_in(case, &case.check()?))
}

/// The first violated verdict among `verdicts` already computed for `case`, with its trace.
pub fn violation_in(case: &Case, verdicts: &[Verdict]) -> Option<String> {
    verdicts
        .iter()
        .find(|v| v.kind == VerdictKind::Violated)
        .map(|v| {
            format!(
                "{}\n{} violated:\n{}",
                case.describe(),
                v.property,
                v.counterexample.as_deref().unwrap_or_default()
            )
        })
}
