//! What a FIT key rollover during a JWKS outage costs, read from a history (either driver's):
//! F's token deliveries to P.auth / P.recv that P refused, the demands that failed, and how
//! long after the outage P took to accept deliveries again.

use crate::Micros;
use crate::history::{Event, FaultKind, History, Outcome};
use crate::ids::{PartnerEndpoint, Party};
use crate::message::Body;
use serde::Serialize;

/// The cost of one run.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RolloverCost {
    /// Key rollovers in the run (`key_rollover` faults).
    pub rollovers: u64,
    /// F's answered deliveries to P.auth / P.recv.
    pub deliveries: u64,
    /// Deliveries P refused (401): inside the outage, and after it ended.
    pub refused_in_outage: u64,
    pub refused_after_outage: u64,
    /// Demands that ended, and those that failed.
    pub demands: u64,
    pub demands_failed: u64,
    /// From the end of the outage to the first delivery P accepted after its last refusal
    /// (0 when nothing was refused, or P recovered before the outage ended); `None` when P
    /// refused deliveries and never accepted one again.
    pub recovery_s: Option<f64>,
}

fn is_delivery_endpoint(p: Party) -> bool {
    matches!(
        p,
        Party::Partner(PartnerEndpoint::Auth) | Party::Partner(PartnerEndpoint::Recv)
    )
}

/// The cost of the JWKS outage `[from, until)` in history `h`.
pub fn rollover_cost(h: &History, outage: (Micros, Micros)) -> RolloverCost {
    let (from, until) = outage;
    let mut c = RolloverCost::default();
    let mut last_refusal: Option<Micros> = None;
    let mut first_ok_after: Option<Micros> = None;
    for r in &h.records {
        match &r.event {
            Event::Fault {
                kind: FaultKind::KeyRollover,
                ..
            } => c.rollovers += 1,
            Event::Complete { outcome, .. } => {
                c.demands += 1;
                if matches!(outcome, Outcome::Fail(_)) {
                    c.demands_failed += 1;
                }
            }
            Event::Send { env } if is_delivery_endpoint(env.from) && env.to == Party::FORGE => {
                let Body::Response(resp) = &env.body else {
                    continue;
                };
                c.deliveries += 1;
                if resp.status == 401 {
                    if r.t < from {
                        continue;
                    }
                    if r.t < until {
                        c.refused_in_outage += 1;
                    } else {
                        c.refused_after_outage += 1;
                    }
                    last_refusal = Some(r.t);
                    first_ok_after = None;
                } else if (200..300).contains(&resp.status)
                    && last_refusal.is_some()
                    && first_ok_after.is_none()
                {
                    first_ok_after = Some(r.t);
                }
            }
            _ => {}
        }
    }
    c.recovery_s = match (last_refusal, first_ok_after) {
        (None, _) => Some(0.0),
        (Some(_), Some(ok)) => Some((ok - until).max(0) as f64 / crate::SEC as f64),
        (Some(_), None) => None,
    };
    c
}
