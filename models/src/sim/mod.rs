//! The deterministic discrete-event simulator: a virtual clock in microseconds and an event
//! queue ordered by (time, insertion). Everything else about a run (seeds, roles, the store,
//! the schedule of installs, demands, nemesis and attacker steps, the link decisions and the
//! attacker's view) is the world core in [`crate::world`], which the loopback driver shares.
//! The same seed and inputs give byte-identical results.

pub mod summary;

use crate::choice::Choices;
use crate::faults::{Nemesis, NetworkProfile};
use crate::history::History;
use crate::ids::{RoleKind, TimerId};
use crate::mechanisms::{Mechanism, ResolveError, resolve};
use crate::message::Envelope;
use crate::params::Params;
use crate::roles::AdminAction;
use crate::roles::attacker::AttackPlan;
use crate::world::{Action, Step, World, hard_stop};
use crate::{Micros, SEC};
use serde::Serialize;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

pub use summary::Summary;

/// When provisioning starts (it is fault-free and completes before t=0).
pub const SETUP_START: Micros = -300 * SEC;
/// How long the run drains after invocation stops (the default deadline).
pub const DRAIN: Micros = 40 * SEC;

/// Everything a run depends on.
#[derive(Clone, Debug, Serialize)]
pub struct Scenario {
    /// `ID[:PROFILE]`.
    pub mechanism: String,
    /// `KEY=VALUE` overrides.
    pub sets: Vec<String>,
    pub preset: String,
    pub tenants: u32,
    pub duration_s: f64,
    pub demands_per_tenant_hour: f64,
    pub seed: u64,
    pub network: NetworkProfile,
    pub nemesis: Vec<Nemesis>,
    /// Admin actions during the run, at seconds.
    pub admin: Vec<(f64, AdminAction)>,
    /// Install the tenants from this time (s) on, under the run's faults, instead of in the
    /// fault-free provisioning phase before t = 0.
    pub provision_at_s: Option<f64>,
    /// Scripted demands besides the Poisson workload: (seconds, tenant).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub demands: Vec<(f64, u32)>,
}

impl Scenario {
    /// The defaults of `workload.md` §9 on a preset.
    pub fn new(mechanism: &str, preset: &str) -> Option<Scenario> {
        let p = crate::faults::preset(preset)?;
        Some(Scenario {
            mechanism: mechanism.into(),
            sets: Vec::new(),
            preset: preset.into(),
            tenants: 100,
            duration_s: 7200.0,
            demands_per_tenant_hour: 60.0,
            seed: 1,
            network: p.network,
            nemesis: p.nemesis,
            admin: Vec::new(),
            provision_at_s: None,
            demands: Vec::new(),
        })
    }
}

/// The result of one run.
pub struct RunResult {
    pub history: History,
    pub summary: Summary,
    pub params: Params,
}

#[derive(Debug)]
enum Ev {
    Deliver(Envelope),
    Timer(RoleKind, TimerId),
    Step(Step),
}

struct Queued {
    at: Micros,
    seq: u64,
    ev: Ev,
}
impl PartialEq for Queued {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Queued {
    fn cmp(&self, o: &Self) -> Ordering {
        // Min-heap on (time, insertion order).
        (o.at, o.seq).cmp(&(self.at, self.seq))
    }
}

/// The simulator's half of a run: the event queue and the virtual clock.
struct Queue {
    heap: BinaryHeap<Queued>,
    seq: u64,
}

impl Queue {
    fn push(&mut self, at: Micros, ev: Ev) {
        self.seq += 1;
        self.heap.push(Queued {
            at,
            seq: self.seq,
            ev,
        });
    }

    /// Queues what the world asked for, in order. Edge answers and losses need nothing more
    /// in virtual time: the answer's own fate is the next action.
    fn enact(&mut self, actions: &mut Vec<Action>) {
        for a in actions.drain(..) {
            match a {
                Action::Timer { at, role, id } => self.push(at, Ev::Timer(role, id)),
                Action::Deliver { at, env, .. } => self.push(at, Ev::Deliver(env)),
                Action::EdgeAnswer { .. } | Action::Lost { .. } | Action::Cancel(_) => {}
                // The simulator never selects the external store backend.
                Action::Store(_) => unreachable!("the simulator runs the model store"),
            }
        }
    }
}

/// Builds and runs a scenario.
pub fn run(s: &Scenario) -> Result<RunResult, ResolveError> {
    let (mechanism, profile, params) = resolve(&s.mechanism, &s.sets)?;
    Ok(run_resolved(s, mechanism, profile, params))
}

/// Runs with already resolved parameters.
pub fn run_resolved(
    s: &Scenario,
    mechanism: &'static dyn Mechanism,
    profile: Option<&'static str>,
    params: Params,
) -> RunResult {
    run_with(s, mechanism, profile, params, None)
}

/// Builds and runs a scenario with an attacker following `plan` (`threats.md` §2).
pub fn run_attacked(s: &Scenario, plan: &AttackPlan) -> Result<RunResult, ResolveError> {
    let (mechanism, profile, params) = resolve(&s.mechanism, &s.sets)?;
    Ok(run_with(s, mechanism, profile, params, Some(plan)))
}

/// Runs with resolved parameters and an optional attacker.
pub fn run_with(
    s: &Scenario,
    mechanism: &'static dyn Mechanism,
    profile: Option<&'static str>,
    params: Params,
    plan: Option<&AttackPlan>,
) -> RunResult {
    run_guided(s, mechanism, profile, params, plan, Choices::random())
}

/// [`run_with`] through a choice source (an explorer's guide; random mode is `run_with`).
pub fn run_guided(
    s: &Scenario,
    mechanism: &'static dyn Mechanism,
    profile: Option<&'static str>,
    params: Params,
    plan: Option<&AttackPlan>,
    choices: Choices,
) -> RunResult {
    let (mut world, schedule) = World::build_guided(s, mechanism, &params, plan, None, choices);
    let mut queue = Queue {
        heap: BinaryHeap::new(),
        seq: 0,
    };
    for (at, step) in schedule {
        queue.push(at, Ev::Step(step));
    }
    let stop = hard_stop(s);
    let mut actions = Vec::new();
    while let Some(q) = queue.heap.pop() {
        if q.at > stop {
            break;
        }
        match q.ev {
            Ev::Deliver(env) => {
                world.arrive(q.at, env);
            }
            Ev::Timer(role, id) => world.fire_timer(q.at, role, id),
            Ev::Step(step) => world.step(q.at, step),
        }
        world.drain_actions(&mut actions);
        queue.enact(&mut actions);
    }
    let (history, skipped) = world.finish(stop);
    let summary = summary::summarize(s, mechanism, profile, &params, &history, skipped);
    RunResult {
        history,
        summary,
        params,
    }
}
