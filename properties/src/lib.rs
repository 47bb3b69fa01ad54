//! tokenlab-properties: the invariants of `threats.md` §3 as checkers over histories. A
//! checker reads only the history, so it judges simulated and real-network runs alike. Each
//! returns a verdict with `reached`: how often the property's antecedent actually fired, so
//! a pass is never vacuous.
//!
//! This crate starts with P12 (read-your-writes) and P11 (executability); the attacker-driven
//! properties P1–P10 follow with the attacker role.

use serde::Serialize;
use std::collections::BTreeSet;
use tokenlab_models::Micros;
use tokenlab_models::history::{Event, History};
use tokenlab_models::ids::{MsgId, Party, TenantId};

/// The outcome of one checker over one history.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Verdict {
    pub property: &'static str,
    pub holds: bool,
    /// How many times the antecedent fired (0 means the result says nothing).
    pub reached: u64,
    /// The first violation, as a readable line.
    pub counterexample: Option<String>,
}

/// P12 Read-your-writes: a 2xx from the trigger implies that P.app's subsequent read finds
/// the token committed before it. Reached by every trigger 2xx P.app receives.
pub fn read_your_writes(h: &History) -> Verdict {
    let mut trigger_requests: BTreeSet<MsgId> = BTreeSet::new();
    let mut ok_responses: BTreeSet<MsgId> = BTreeSet::new();
    let mut reached = 0;
    let mut counterexample = None;
    let mut violations = 0u64;
    for r in &h.records {
        match &r.event {
            Event::Send { env }
                if env.request().is_some_and(|q| q.route == "GET /trigger")
                    && env.from == Party::APP =>
            {
                trigger_requests.insert(env.id);
            }
            Event::Receive { who, env } if *who == Party::APP => {
                if let (Some(resp), Some(c)) = (env.response(), env.cause)
                    && resp.is_success()
                    && trigger_requests.contains(&c)
                {
                    reached += 1;
                    ok_responses.insert(env.id);
                }
            }
            Event::StaleRead {
                tenant,
                cause: Some(c),
            } if ok_responses.contains(c) => {
                violations += 1;
                if counterexample.is_none() {
                    counterexample = Some(describe(r.t, *tenant, *c, h));
                }
            }
            _ => {}
        }
    }
    Verdict {
        property: "P12",
        holds: violations == 0,
        reached,
        counterexample,
    }
}

fn describe(t: Micros, tenant: TenantId, response: MsgId, h: &History) -> String {
    let commit = h
        .records
        .iter()
        .filter(|r| r.t <= t)
        .filter_map(|r| match &r.event {
            Event::StoreCommit { tenant: x, .. } if *x == tenant => Some(r.t),
            _ => None,
        })
        .next_back();
    format!(
        "t={:.3}s {tenant}: trigger answered 2xx ({response}) after the token was committed at {}, but P.app's read found no valid token",
        t as f64 / 1e6,
        commit
            .map(|c| format!("t={:.3}s", c as f64 / 1e6))
            .unwrap_or_else(|| "an unknown time".into())
    )
}

/// P11 Executability: with no faults and no attacker, every installed tenant reaches an
/// Accept at the product API. Reached once per tenant that made a demand.
pub fn executability(h: &History, tenants: u32) -> Verdict {
    let mut accepted = BTreeSet::new();
    let mut demanded = BTreeSet::new();
    for r in &h.records {
        match &r.event {
            Event::Accept { tenant, .. } => {
                accepted.insert(*tenant);
            }
            Event::Invoke { tenant, .. } => {
                demanded.insert(*tenant);
            }
            _ => {}
        }
    }
    let missing: Vec<u32> = (0..tenants)
        .filter(|t| !accepted.contains(&TenantId(*t)))
        .collect();
    Verdict {
        property: "P11",
        holds: missing.is_empty(),
        reached: demanded.len() as u64,
        counterexample: (!missing.is_empty())
            .then(|| format!("tenants never accepted: {missing:?}")),
    }
}
