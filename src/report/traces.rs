//! The cold path of every mechanism as a recorded simulated trace, computed in the results
//! phase (it runs the simulator) so that the writer only draws what is recorded here.

use super::figures::Arrow;
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use tokenlab_models::history::Event;
use tokenlab_models::mechanisms::{Acquisition, registry};
use tokenlab_models::sim::{Scenario, run};

/// Every mechanism's cold path, keyed by its id.
pub fn cold_paths(seed: u64) -> Result<BTreeMap<String, Vec<Arrow>>> {
    let mut out = BTreeMap::new();
    for m in registry() {
        out.insert(m.id().to_string(), trace(m.id(), seed)?);
    }
    Ok(out)
}

/// The cold path of one mechanism from a real simulated trace: the causal chain of the first
/// acquisition after t = 0 (push: the first delivery; connect-jwt: the signed API call).
fn trace(mech: &str, seed: u64) -> Result<Vec<Arrow>> {
    let mut s = Scenario::new(mech, "same-region").context("same-region preset")?;
    s.tenants = 1;
    s.seed = seed;
    // A pushed-only mechanism's first token waits for its schedule.
    let pushed = tokenlab_models::mechanisms::find(mech)
        .is_some_and(|m| m.acquisition() == Acquisition::PushedOnly);
    s.duration_s = if pushed { 7200.0 } else { 30.0 };
    s.demands_per_tenant_hour = 600.0;
    let res = run(&s).map_err(|e| anyhow::anyhow!("{mech}: {e}"))?;
    let h = &res.history;
    let root = h
        .records
        .iter()
        .filter(|r| r.t >= 0)
        .find_map(|r| match &r.event {
            Event::AttemptStart { request, .. } => request.get(),
            _ => None,
        })
        .or_else(|| {
            h.records
                .iter()
                .filter(|r| r.t >= 0)
                .find_map(|r| match &r.event {
                    Event::Send { env } if env.cause.is_none() => Some(env.id),
                    _ => None,
                })
        });
    let Some(root) = root else {
        return Ok(Vec::new());
    };
    let msgs = h.messages();
    let chain = h.causal_chain(root);
    let t0 = chain.hops.first().map_or(0, |x| x.sent);
    Ok(chain
        .hops
        .iter()
        .filter_map(|hop| {
            let (_, env) = msgs.get(&hop.msg)?;
            let prefix = format!("{} → {} ", env.from, env.to);
            Some(Arrow {
                from: env.from.to_string(),
                to: env.to.to_string(),
                label: hop.summary.trim_start_matches(&prefix).to_string(),
                sent_ms: (hop.sent - t0) as f64 / 1000.0,
                received_ms: (hop.received - t0) as f64 / 1000.0,
            })
        })
        .collect())
}
