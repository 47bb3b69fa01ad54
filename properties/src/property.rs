//! The properties of `threats.md` §3 as a closed set: each knows its id, its name and its
//! checker, and nothing else decides which checker runs.

use crate::checkers::{
    ExposureBounds, authorized_issuance_with, bounded_exposure_with, confinement_with,
    credential_binding_with, delivery_integrity_with, injection_resistance_with, replay_with,
    revocation_with, tenant_isolation_with,
};
use crate::facts::Facts;
use crate::{Verdict, VerdictKind, executability_with, read_your_writes_with};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use tokenlab_models::Micros;
use tokenlab_models::history::History;

/// P1–P12.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Property {
    P1,
    P2,
    P3,
    P4,
    P5,
    P6,
    P7,
    P8,
    P9,
    P10,
    P11,
    P12,
}

/// What a checker may need besides the history (from the run's resolved parameters).
#[derive(Clone, Debug)]
pub struct CheckInput {
    /// The declared exposure bounds (P4, P9's grace window).
    pub bounds: ExposureBounds,
    /// How long a T minted before a revocation may still be accepted (P5).
    pub outstanding: Micros,
    /// Tenants in the run (P11).
    pub tenants: u32,
    /// P11: the run's phase boundaries (the `migration` window's start and end; empty for
    /// the other mechanisms): a tenant must reach an Accept in every phase it demands in.
    pub phases: Vec<Micros>,
    /// P9's network clause: the registered IP range and the attacker's location (H23).
    pub network: crate::allowlist::NetworkCheck,
    /// P3: the mechanism asks an admin's consent before it issues (where it declares
    /// `consent_required`, whatever its value: `off` is the mutant P3 must catch).
    pub consent_by_design: bool,
    /// P1's principal clause: users and the principal switches (H12).
    pub principals: tokenlab_models::principals::PrincipalConfig,
    /// P10: the run's timed fault windows and its fault-free twin's verdicts.
    pub faults: Faults,
}

/// What P10 knows of a run's faults besides its history.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// The timed fault windows `[from, until)` (a JWKS outage, a crash, a partition, a deploy
    /// reset, each with its recovery tail): a presentation decided inside one was exposed to
    /// a fault. Whole-run faults (lossy links, P's clock skew) open no window.
    pub windows: Vec<(Micros, Micros)>,
    /// The verdicts of [`FAIL_CLOSED_PARTS`] on the same run without its faults (same seed,
    /// world and attacker), in that order; `None` where no twin was run.
    pub twin: Option<Vec<VerdictKind>>,
}

/// The properties whose fault-free verdicts P10 requires to survive the faults (P4 with its
/// finite bound).
pub const FAIL_CLOSED_PARTS: [Property; 6] = [
    Property::P1,
    Property::P3,
    Property::P4,
    Property::P5,
    Property::P7,
    Property::P8,
];

/// How long after a timed fault ends its effects still count (a restarted role rebuilding
/// its state, retries after a partition heals, the first push ~5 min after a deploy reset):
/// 300 s, basis inference.
pub const FAULT_RECOVERY: Micros = 300 * tokenlab_models::SEC;

/// The timed fault windows of a history, each `[start, end + FAULT_RECOVERY)`: a crash to its
/// restart, a JWKS outage to its restoration, a partition (from the nemesis schedule recorded
/// at t = 0) and a deploy reset. Derived from the recorded events alone.
pub fn fault_windows(h: &History) -> Vec<(Micros, Micros)> {
    use tokenlab_models::history::{Event, FaultKind};
    let mut windows = Vec::new();
    let mut open: std::collections::BTreeMap<String, Micros> = Default::default();
    let number = |detail: &str, key: &str| -> Option<Micros> {
        let rest = &detail[detail.find(key)? + key.len()..];
        let end = rest.find([',', ' ', '}']).unwrap_or(rest.len());
        let s: f64 = rest[..end].parse().ok()?;
        Some(tokenlab_models::faults::secs(s))
    };
    for r in &h.records {
        let Event::Fault { kind, detail } = &r.event else {
            continue;
        };
        match kind {
            FaultKind::Crash => {
                open.insert(format!("crash {detail}"), r.t);
            }
            FaultKind::JwksUnreachable => {
                open.insert("jwks".into(), r.t);
            }
            FaultKind::Restart | FaultKind::JwksRestored => {
                let key = if *kind == FaultKind::Restart {
                    format!("crash {detail}")
                } else {
                    "jwks".into()
                };
                if let Some(from) = open.remove(&key) {
                    windows.push((from, r.t + FAULT_RECOVERY));
                }
            }
            FaultKind::Nemesis if detail.starts_with("Partition") => {
                if let (Some(f), Some(u)) =
                    (number(detail, "from_s: "), number(detail, "until_s: "))
                {
                    windows.push((f, u + FAULT_RECOVERY));
                }
            }
            FaultKind::Nemesis if detail.starts_with("DeployReset") => {
                if let Some(at) = number(detail, "at_s: ") {
                    windows.push((at, at + 2 * FAULT_RECOVERY));
                }
            }
            _ => {}
        }
    }
    // Still open at the end of the run.
    windows.extend(open.into_values().map(|from| (from, Micros::MAX)));
    windows.sort_unstable();
    windows
}

/// The presentations decided by a verifier inside one of `windows`: P10's `reached`.
pub fn fault_exposed(h: &History, windows: &[(Micros, Micros)]) -> u64 {
    if windows.is_empty() {
        return 0;
    }
    fault_exposed_with(&Facts::new(h), windows)
}

/// [`fault_exposed`] over a shared index of the history.
pub fn fault_exposed_with(f: &Facts<'_>, windows: &[(Micros, Micros)]) -> u64 {
    f.decided()
        .filter(|(_, _, t)| windows.iter().any(|(f, u)| (*f..*u).contains(t)))
        .count() as u64
}

/// A property id that is not P1–P12.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown property '{0}'; known: P1..P12")]
pub struct UnknownProperty(pub String);

impl Property {
    pub const ALL: [Property; 12] = [
        Property::P1,
        Property::P2,
        Property::P3,
        Property::P4,
        Property::P5,
        Property::P6,
        Property::P7,
        Property::P8,
        Property::P9,
        Property::P10,
        Property::P11,
        Property::P12,
    ];

    /// `P1` … `P12`.
    pub fn id(self) -> &'static str {
        match self {
            Property::P1 => "P1",
            Property::P2 => "P2",
            Property::P3 => "P3",
            Property::P4 => "P4",
            Property::P5 => "P5",
            Property::P6 => "P6",
            Property::P7 => "P7",
            Property::P8 => "P8",
            Property::P9 => "P9",
            Property::P10 => "P10",
            Property::P11 => "P11",
            Property::P12 => "P12",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Property::P1 => "tenant isolation",
            Property::P2 => "confinement",
            Property::P3 => "authorized issuance",
            Property::P4 => "bounded exposure",
            Property::P5 => "revocation",
            Property::P6 => "replay",
            Property::P7 => "delivery integrity",
            Property::P8 => "injection resistance",
            Property::P9 => "credential binding and reuse detection",
            Property::P10 => "fail-closed under faults",
            Property::P11 => "executability",
            Property::P12 => "read-your-writes",
        }
    }

    /// Runs this property's checker.
    pub fn check(self, h: &History, input: &CheckInput) -> Verdict {
        self.check_with(&Facts::new(h), input)
    }

    /// Runs this property's checker over a shared index of the history: build one
    /// [`Facts`] per history and pass it to every property judged on it.
    pub fn check_with(self, f: &Facts<'_>, input: &CheckInput) -> Verdict {
        let b = &input.bounds;
        match self {
            Property::P1 => crate::principals::with_principal_clause(
                tenant_isolation_with(f),
                &input.principals,
            ),
            Property::P2 => confinement_with(f),
            Property::P3 => authorized_issuance_with(f, input.consent_by_design),
            Property::P4 => bounded_exposure_with(f, b),
            Property::P5 => revocation_with(f, input.outstanding),
            Property::P6 => replay_with(f),
            Property::P7 => delivery_integrity_with(f),
            Property::P8 => injection_resistance_with(f),
            Property::P9 => crate::allowlist::with_network_clause_with(
                crate::checkers::with_client_clause_with(credential_binding_with(f, b.grace), f),
                f,
                &input.network,
            ),
            Property::P10 => fail_closed(f, input),
            Property::P11 => executability_with(f, input.tenants, &input.phases),
            Property::P12 => read_your_writes_with(f),
        }
    }
}

/// P10's parts on one history: the verdicts of [`FAIL_CLOSED_PARTS`], in that order.
pub fn fail_closed_parts(f: &Facts<'_>, input: &CheckInput) -> Vec<Verdict> {
    // P4's fault-free verdict includes finding F-grace's slip of one refresh cycle; faults
    // must not add to it.
    let b = &crate::checkers::ExposureBounds {
        grace_slip: true,
        ..input.bounds
    };
    vec![
        tenant_isolation_with(f),
        authorized_issuance_with(f, input.consent_by_design),
        bounded_exposure_with(f, b),
        revocation_with(f, input.outstanding),
        delivery_integrity_with(f),
        injection_resistance_with(f),
    ]
}

/// P10: the fault-free verdicts of P1, P3, P4 (finite B), P5, P7 and P8 must survive the
/// faults. A part violated under faults that its fault-free twin held violates P10 (the faults
/// opened the door); a part the twin fails too is that property's own finding, judged by its
/// own row, and does not count again here. Without a twin (a lone history) every part
/// violated under faults counts. `reached` counts the presentations a verifier decided inside
/// a timed fault window.
fn fail_closed(f: &Facts<'_>, input: &CheckInput) -> Verdict {
    judge_fail_closed(
        fail_closed_parts(f, input),
        input.faults.twin.as_deref(),
        fault_exposed_with(f, &input.faults.windows),
    )
}

/// P10's verdict from its parts under faults and (where run) the twin's.
pub fn judge_fail_closed(
    faulted: Vec<Verdict>,
    twin: Option<&[VerdictKind]>,
    reached: u64,
) -> Verdict {
    let violated: Vec<(usize, Verdict)> = faulted
        .into_iter()
        .enumerate()
        .filter(|(_, v)| v.kind == VerdictKind::Violated)
        .collect();
    // With a twin, only a part the twin did not fail is the faults' doing.
    let first = match twin {
        Some(t) => violated
            .iter()
            .find(|(i, _)| t.get(*i) != Some(&VerdictKind::Violated)),
        None => violated.first(),
    };
    match first {
        Some((i, v)) => {
            let twin_says = match twin {
                Some(t) => t.get(*i).map_or(String::new(), |k| {
                    format!("; the fault-free twin: {}: the faults opened it", k.name())
                }),
                // Said, so a reader does not take a fault-free bug for the faults' doing.
                None => "; no fault-free twin was run, so this part may fail without faults too"
                    .to_string(),
            };
            Verdict {
                property: "P10",
                holds: false,
                kind: VerdictKind::Violated,
                reached,
                counterexample: v
                    .counterexample
                    .as_ref()
                    .map(|c| format!("under faults, {} fails{twin_says}:\n{c}", v.property)),
            }
        }
        None => Verdict {
            property: "P10",
            holds: true,
            kind: VerdictKind::Holds,
            reached,
            counterexample: None,
        },
    }
}

impl FromStr for Property {
    type Err = UnknownProperty;
    fn from_str(s: &str) -> Result<Property, UnknownProperty> {
        Property::ALL
            .into_iter()
            .find(|p| p.id() == s.trim())
            .ok_or_else(|| UnknownProperty(s.into()))
    }
}

impl fmt::Display for Property {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_unknown_is_an_error() {
        for p in Property::ALL {
            assert_eq!(p.id().parse::<Property>(), Ok(p));
            assert_eq!(
                serde_json::to_string(&p).unwrap(),
                format!("\"{}\"", p.id())
            );
        }
        let e = "P13".parse::<Property>().unwrap_err();
        assert_eq!(e.to_string(), "unknown property 'P13'; known: P1..P12");
        assert!("p1".parse::<Property>().is_err());
    }
    fn part(property: &'static str, kind: VerdictKind) -> Verdict {
        Verdict {
            property,
            holds: kind != VerdictKind::Violated,
            kind,
            reached: 1,
            counterexample: (kind == VerdictKind::Violated).then(|| "1. trace".to_string()),
        }
    }

    #[test]
    fn p10_names_what_the_twin_said() {
        use VerdictKind::*;
        let faulted = || {
            vec![
                part("P1", Violated),
                part("P3", Holds),
                part("P4", ByDesign),
                part("P5", Holds),
                part("P7", NotApplicable),
                part("P8", Violated),
            ]
        };
        // The twin failed P1 too but held P8: P8 is the faults' doing and is named first.
        let twin = [Violated, Holds, ByDesign, Holds, NotApplicable, Holds];
        let v = judge_fail_closed(faulted(), Some(&twin), 7);
        assert_eq!((v.kind, v.reached), (Violated, 7));
        let c = v.counterexample.unwrap();
        assert!(
            c.starts_with("under faults, P8 fails; the fault-free twin: holds: the faults opened it:\n1. trace"),
            "{c}"
        );
        // Both failed without faults too: their own rows' findings, not the faults'.
        let twin = [Violated, Holds, ByDesign, Holds, NotApplicable, Violated];
        let v = judge_fail_closed(faulted(), Some(&twin), 7);
        assert_eq!((v.kind, v.counterexample), (Holds, None));
        // No twin: the first violation, and a word that no twin was run.
        let c = judge_fail_closed(faulted(), None, 0)
            .counterexample
            .unwrap();
        assert!(
            c.starts_with("under faults, P1 fails; no fault-free twin was run, so this part may fail without faults too:\n"),
            "{c}"
        );
        // Nothing violated under faults: P10 holds.
        let ok = vec![part("P1", Holds), part("P8", Holds)];
        let v = judge_fail_closed(ok, Some(&twin), 3);
        assert_eq!((v.kind, v.holds, v.reached), (Holds, true, 3));
    }

    #[test]
    fn fault_windows_from_the_recorded_events() {
        use tokenlab_models::SEC;
        use tokenlab_models::history::{Event, FaultKind, History};
        let mut h = History::default();
        let fault = |kind, detail: &str| Event::Fault {
            kind,
            detail: detail.into(),
        };
        h.push(
            0,
            fault(
                FaultKind::Nemesis,
                "Partition { a: Partner, b: AuthServer, from_s: 4500.0, until_s: 4800.0 }",
            ),
        );
        h.push(0, fault(FaultKind::Nemesis, "DeployReset { at_s: 5400.0 }"));
        h.push(
            0,
            fault(
                FaultKind::Nemesis,
                "ReplicaLagSpike { extra_ms: 5.0, from_s: 1.0, until_s: 2.0 }",
            ),
        );
        h.push(300 * SEC, fault(FaultKind::JwksUnreachable, ""));
        h.push(900 * SEC, fault(FaultKind::JwksRestored, ""));
        h.push(3000 * SEC, fault(FaultKind::Crash, "Partner"));
        h.push(3060 * SEC, fault(FaultKind::Restart, "Partner"));
        h.push(9000 * SEC, fault(FaultKind::Crash, "Platform"));
        let r = FAULT_RECOVERY;
        assert_eq!(
            fault_windows(&h),
            vec![
                (300 * SEC, 900 * SEC + r),
                (3000 * SEC, 3060 * SEC + r),
                (4500 * SEC, 4800 * SEC + r),
                (5400 * SEC, 5400 * SEC + 2 * r),
                (9000 * SEC, Micros::MAX),
            ]
        );
    }
}
