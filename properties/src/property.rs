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
    /// P9's network clause: the registered IP range and the attacker's location (H23).
    pub network: crate::allowlist::NetworkCheck,
    /// P3: the mechanism asks an admin's consent before it issues (where it declares
    /// `consent_required`, whatever its value: `off` is the mutant P3 must catch).
    pub consent_by_design: bool,
    /// P1's principal clause: users and the principal switches (H12).
    pub principals: tokenlab_models::principals::PrincipalConfig,
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
                credential_binding_with(f, b.grace),
                f,
                &input.network,
            ),
            Property::P10 => fail_closed(f, input),
            Property::P11 => executability_with(f, input.tenants),
            Property::P12 => read_your_writes_with(f),
        }
    }
}

/// P10: the fault-free verdicts of P1, P3, P4 (finite B), P5, P7 and P8 must survive.
fn fail_closed(f: &Facts<'_>, input: &CheckInput) -> Verdict {
    // P4's fault-free verdict includes finding F-grace's slip of one refresh cycle; faults
    // must not add to it.
    let b = &crate::checkers::ExposureBounds {
        grace_slip: true,
        ..input.bounds
    };
    let parts = [
        tenant_isolation_with(f),
        authorized_issuance_with(f, input.consent_by_design),
        bounded_exposure_with(f, b),
        revocation_with(f, input.outstanding),
        delivery_integrity_with(f),
        injection_resistance_with(f),
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
}
