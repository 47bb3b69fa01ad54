//! The deterministic discrete-event simulator: a virtual clock in microseconds and an event
//! queue ordered by (time, insertion). Everything else about a run (seeds, roles, the store,
//! the schedule of installs, demands, nemesis and attacker steps, the link decisions and the
//! attacker's view) is the world core in [`crate::world`], which the loopback driver shares.
//! The same seed and inputs give byte-identical results.

pub mod rollover;
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
use crate::world::Schedule;
use crate::world::{Action, Step, World, hard_stop};
use crate::{Micros, SEC};
use serde::Serialize;
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::Arc;

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

/// A queued event that is not on the schedule: a timer, or a message whose envelope waits in
/// the queue's slab (so the heap moves 32-byte entries, never envelopes).
#[derive(Clone, Copy, Debug)]
enum Ev {
    Deliver(u32),
    Timer(RoleKind, TimerId),
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

/// What the queue hands the driver next.
enum Next {
    Step(Step),
    Deliver(Envelope, Arc<Envelope>),
    Timer(RoleKind, TimerId),
}

/// The simulator's half of a run: the event queue and the virtual clock.
///
/// The order is one queue ordered by (time, insertion), with the whole schedule inserted
/// first. It is kept in two parts with the same order: the schedule, sorted once by time
/// (stably, so ties keep their queueing order) and read with a cursor, and a heap of what
/// the roles ask for while the run goes on (timers and messages), which is small. A
/// scheduled step precedes a dynamic event at the same time, as its insertion did.
struct Queue {
    schedule: Vec<(Micros, Step)>,
    next: usize,
    heap: BinaryHeap<Queued>,
    seq: u64,
    /// Each message in flight with the history's copy of it (see [`Action::Deliver`]).
    envelopes: Vec<Option<(Envelope, Arc<Envelope>)>>,
    free: Vec<u32>,
}

impl Queue {
    fn new(mut schedule: Schedule) -> Queue {
        schedule.sort_by_key(|(at, _)| *at);
        Queue {
            schedule,
            next: 0,
            heap: BinaryHeap::new(),
            seq: 0,
            envelopes: Vec::new(),
            free: Vec::new(),
        }
    }

    fn push(&mut self, at: Micros, ev: Ev) {
        self.seq += 1;
        self.heap.push(Queued {
            at,
            seq: self.seq,
            ev,
        });
    }

    fn push_envelope(&mut self, at: Micros, env: (Envelope, Arc<Envelope>)) {
        let slot = match self.free.pop() {
            Some(i) => {
                self.envelopes[i as usize] = Some(env);
                i
            }
            None => {
                self.envelopes.push(Some(env));
                u32::try_from(self.envelopes.len() - 1).expect("under 2^32 messages in flight")
            }
        };
        self.push(at, Ev::Deliver(slot));
    }

    /// The time of the next event, if any.
    fn peek(&self) -> Option<Micros> {
        let scheduled = self.schedule.get(self.next).map(|(at, _)| *at);
        let dynamic = self.heap.peek().map(|q| q.at);
        match (scheduled, dynamic) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Takes the next event (the caller checked [`Queue::peek`]).
    fn pop(&mut self) -> Option<(Micros, Next)> {
        let scheduled = self.schedule.get(self.next).map(|(at, _)| *at);
        let take_step = match (scheduled, self.heap.peek()) {
            (Some(a), Some(q)) => a <= q.at,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => return None,
        };
        if take_step {
            let (at, step) = std::mem::replace(&mut self.schedule[self.next], (0, Step::Start));
            self.next += 1;
            if self.next == self.schedule.len() {
                self.schedule = Vec::new();
                self.next = 0;
            }
            return Some((at, Next::Step(step)));
        }
        let q = self.heap.pop()?;
        let next = match q.ev {
            Ev::Timer(role, id) => Next::Timer(role, id),
            Ev::Deliver(slot) => {
                self.free.push(slot);
                let (env, recorded) = self.envelopes[slot as usize]
                    .take()
                    .expect("a queued envelope");
                Next::Deliver(env, recorded)
            }
        };
        Some((q.at, next))
    }

    /// Queues what the world asked for, in order. Edge answers and losses need nothing more
    /// in virtual time: the answer's own fate is the next action.
    fn enact(&mut self, actions: &mut Vec<Action>) {
        for a in actions.drain(..) {
            match a {
                Action::Timer { at, role, id } => self.push(at, Ev::Timer(role, id)),
                Action::Deliver {
                    at, env, recorded, ..
                } => self.push_envelope(at, (env, recorded)),
                Action::EdgeAnswer { .. } | Action::Lost { .. } | Action::Cancel(_) => {}
                // The simulator never selects the external store backend.
                Action::Store(_) => unreachable!("the simulator runs the model store"),
            }
        }
    }
}

/// One simulated run in phases, for drivers that time them apart (the bench measures
/// provisioning, the steady state and the summary separately): [`Sim::provision`] runs every
/// event before t = 0, [`Sim::run`] the rest up to the hard stop, [`Sim::finish`] ends the
/// run and [`Sim::summarize`] makes the summary. [`run`] does all four.
pub struct Sim {
    world: World,
    queue: Queue,
    actions: Vec<Action>,
    stop: Micros,
    scenario: Scenario,
    mechanism: &'static dyn Mechanism,
    profile: Option<&'static str>,
    params: Params,
}

/// A run that ended: its history, the demands skipped (partner down), ready to summarize.
pub struct Finished {
    pub history: History,
    pub skipped_partner_down: u64,
    scenario: Scenario,
    mechanism: &'static dyn Mechanism,
    profile: Option<&'static str>,
    params: Params,
}

impl Sim {
    /// Builds the world and the schedule of a scenario (nothing runs yet).
    pub fn new(s: &Scenario) -> Result<Sim, ResolveError> {
        let (mechanism, profile, params) = resolve(&s.mechanism, &s.sets)?;
        Ok(Sim::guided(
            s,
            (mechanism, profile, params),
            None,
            Choices::random(),
        ))
    }

    /// The world of `s` with a resolved mechanism, an optional attacker and a choice source.
    fn guided(
        s: &Scenario,
        (mechanism, profile, params): (&'static dyn Mechanism, Option<&'static str>, Params),
        plan: Option<&AttackPlan>,
        choices: Choices,
    ) -> Sim {
        let (world, schedule) = World::build_guided(s, mechanism, &params, plan, None, choices);
        Sim {
            world,
            queue: Queue::new(schedule),
            actions: Vec::new(),
            stop: hard_stop(s),
            scenario: s.clone(),
            mechanism,
            profile,
            params,
        }
    }

    /// Runs every event before `until` (and not past the hard stop).
    fn run_until(&mut self, until: Micros) {
        while let Some(at) = self.queue.peek() {
            if at >= until || at > self.stop {
                break;
            }
            let Some((at, next)) = self.queue.pop() else {
                break;
            };
            match next {
                Next::Deliver(env, recorded) => {
                    self.world.arrive_shared(at, env, recorded);
                }
                Next::Timer(role, id) => self.world.fire_timer(at, role, id),
                Next::Step(step) => self.world.step(at, step),
            }
            self.world.drain_actions(&mut self.actions);
            self.queue.enact(&mut self.actions);
        }
    }

    /// Provisioning: every event before t = 0.
    pub fn provision(&mut self) {
        self.run_until(0);
    }

    /// The rest of the run, up to the hard stop.
    pub fn run(&mut self) {
        self.run_until(Micros::MAX);
    }

    /// History events recorded so far.
    pub fn events(&self) -> usize {
        self.world.history().records.len()
    }

    /// Ends the run at the hard stop (open demands end unknown; the history is ordered).
    pub fn finish(self) -> Finished {
        let (history, skipped_partner_down) = self.world.finish(self.stop);
        Finished {
            history,
            skipped_partner_down,
            scenario: self.scenario,
            mechanism: self.mechanism,
            profile: self.profile,
            params: self.params,
        }
    }
}

impl Finished {
    /// The run's summary (the `simulate --json` object).
    pub fn summarize(&self) -> Summary {
        summary::summarize(
            &self.scenario,
            self.mechanism,
            self.profile,
            &self.params,
            &self.history,
            self.skipped_partner_down,
        )
    }

    /// The summary and the run's result.
    pub fn into_result(self) -> RunResult {
        let summary = self.summarize();
        self.into_result_with(summary)
    }

    /// The run's result with a summary made by [`Finished::summarize`].
    pub fn into_result_with(self, summary: Summary) -> RunResult {
        RunResult {
            history: self.history,
            summary,
            params: self.params,
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
    let mut sim = Sim::guided(s, (mechanism, profile, params), plan, choices);
    sim.run();
    sim.finish().into_result()
}
