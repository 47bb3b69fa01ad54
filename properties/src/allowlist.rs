//! P9's network clause (issue 12, H23): with an IP allow-list registered (`ip_allowlist`),
//! a credential is also bound to P's network range, so the AS accepts no presentation that
//! comes from outside it. Where each presentation came from is the presenter's location
//! (`models::network`): P's own requests from its network, the attacker's from the run's
//! `attacker_location`. `reached` counts attacker presentations decided by the AS while a
//! range is registered, inside or outside; a violation needs an outside one accepted (the
//! mutant `ip_allowlist=unchecked`).

use crate::facts::{Decision, Facts, numbered};
use crate::{Verdict, VerdictKind};
use tokenlab_models::history::History;
use tokenlab_models::ids::Party;
use tokenlab_models::network::{IpAllowlist, Location, in_partner_range, location_of};
use tokenlab_models::params::{Choice, ParamValue, Params};

/// What the clause needs from a run's parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetworkCheck {
    /// P registered a range at the AS (`ip_allowlist` on, or the `unchecked` mutant).
    pub registered: bool,
    pub attacker_location: Location,
}

impl NetworkCheck {
    /// No range registered: the clause is silent (every mechanism without `ip_allowlist`).
    pub const NONE: NetworkCheck = NetworkCheck {
        registered: false,
        attacker_location: Location::Internet,
    };

    pub fn from_params(params: &Params) -> NetworkCheck {
        let choice = |key| match params.get(key) {
            Some(ParamValue::Choice(c)) => Some(*c),
            _ => None,
        };
        NetworkCheck {
            registered: choice("ip_allowlist")
                .and_then(IpAllowlist::from_name)
                .is_some_and(IpAllowlist::registered),
            attacker_location: choice("attacker_location")
                .and_then(Location::from_name)
                .unwrap_or(Location::Internet),
        }
    }
}

/// The clause alone: its violations (numbered traces) and `reached`.
pub fn network_binding(h: &History, n: &NetworkCheck) -> (Vec<String>, u64) {
    if !n.registered {
        return (Vec::new(), 0);
    }
    network_binding_with(&Facts::new(h), n)
}

/// [`network_binding`] over a shared index of the history (the caller checked
/// `n.registered`, or the clause finds nothing to judge).
pub fn network_binding_with(f: &Facts<'_>, n: &NetworkCheck) -> (Vec<String>, u64) {
    if !n.registered {
        return (Vec::new(), 0);
    }
    let mut violations = Vec::new();
    let mut reached = 0;
    for (p, d, _) in f.decided() {
        if f.verifier(p.req) != Some(Party::AS) || !f.attacker_originated(p) {
            continue;
        }
        reached += 1;
        let at = location_of(p.who, n.attacker_location);
        if matches!(d, Decision::Accept { .. }) && !in_partner_range(at) {
            let mut lines = f.provenance(p.item);
            lines.push(f.line(p.req));
            lines.push(format!(
                "violation: the AS accepted a request from {} although P registered an IP allow-list of its own network",
                at.name()
            ));
            violations.push(numbered(lines));
        }
    }
    (violations, reached)
}

/// P9's verdict with the network clause folded in.
pub fn with_network_clause(v: Verdict, h: &History, n: &NetworkCheck) -> Verdict {
    if !n.registered {
        return with_network_clause_of(v, (Vec::new(), 0));
    }
    with_network_clause_of(v, network_binding_with(&Facts::new(h), n))
}

/// [`with_network_clause`] over a shared index of the history.
pub fn with_network_clause_with(v: Verdict, f: &Facts<'_>, n: &NetworkCheck) -> Verdict {
    with_network_clause_of(v, network_binding_with(f, n))
}

fn with_network_clause_of(mut v: Verdict, (violations, reached): (Vec<String>, u64)) -> Verdict {
    v.reached += reached;
    if let Some(first) = violations.into_iter().next() {
        if v.kind != VerdictKind::Violated {
            v.counterexample = Some(first);
        }
        v.kind = VerdictKind::Violated;
        v.holds = false;
    }
    v
}
