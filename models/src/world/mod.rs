//! The world core: everything about a run that is not "how time passes" or "how bytes move",
//! written once and called by both drivers (the simulator in [`crate::sim`] and the loopback
//! driver in the root crate's `net`).
//!
//! - [`World::build`] forks the seed in one fixed order (platform keys, partner, platform,
//!   workload, links, attacker last), builds the roles and the store from the scenario, and
//!   returns the [`Schedule`]: installs, `Start`, demands, admin actions, nemesis and attacker
//!   steps, each at a virtual time, in the order the simulator has always queued them.
//! - [`World::step`], [`World::fire_timer`] and [`World::arrive`] feed inputs to the roles;
//!   every message a role sends goes through the one link decision ([`World::decide`]):
//!   `Send` is recorded, partitions and the link's fault profile are applied (drawing from that
//!   link's own stream), and an edge 5xx/429 is answered by the receiver's edge with a reply that
//!   goes back through the same decision.
//! - What the driver must enact comes out as [`Action`]s, in order: timers to set, messages to
//!   carry to their receiver at a time, edge answers and lost messages. The simulator queues
//!   them in virtual time; the loopback driver sleeps and writes bytes.
//!
//! Nothing here reads a clock: every entry point takes `now`.

mod exposure;

use crate::choice::{Choices, Point};
use crate::faults::{Fate, Nemesis, NetworkProfile, secs};
use crate::history::{DropReason, Event, FaultKind, History};
use crate::ids::{DemandId, Group, IdGen, MsgId, RoleKind, TenantId, TimerId};
use crate::mechanisms::{Mechanism, SharedConfig};
use crate::message::{Body, Envelope, Response};
use crate::params::Params;
use crate::roles::admin::Admin;
use crate::roles::attacker::{AttackPlan, Attacker};
use crate::roles::partner::Partner;
use crate::roles::partner::keys::KeyCache;
use crate::roles::platform::Platform;
use crate::roles::store::{Backend, Store, StoreReply, StoreRequest};
use crate::roles::{AdminAction, Effects, Input, Outgoing, Role};
use crate::sim::{DRAIN, SETUP_START, Scenario};
use crate::token::{FitVerifier, KeyDirectory, PlatformKeys};
use crate::{Micros, SEC};
use exposure::Watch;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Something the schedule makes happen at a virtual time.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// An admin action (installs included).
    Admin(AdminAction),
    /// Provisioning is over: t = 0.
    Start,
    /// P.app needs a token for a tenant.
    Demand(DemandId, TenantId),
    /// A role crashes until `until` (its volatile memory lost or not).
    CrashStart {
        role: RoleKind,
        lose_volatile: bool,
        until: Micros,
    },
    CrashEnd {
        role: RoleKind,
    },
    /// The platform's deploy resets its in-memory schedules.
    DeployReset,
    /// The attacker's plan switches its step `i` on.
    AttackStep(usize),
    /// The JWKS becomes unreachable (false) or reachable again (true) at P.
    Jwks(bool),
    /// F rolls its FIT signing key over to this generation (`fit_key_rotation`).
    KeyRollover(u32),
}

/// Every scheduled step of a run, in queueing order (ties at one time keep this order).
pub type Schedule = Vec<(Micros, Step)>;

/// What a driver must enact after a call into the world, in order.
#[derive(Clone, Debug)]
pub enum Action {
    /// Fire `role`'s timer `id` at `at` (through [`World::fire_timer`]).
    Timer {
        at: Micros,
        role: RoleKind,
        id: TimerId,
    },
    /// Carry `env` to its receiver: it leaves at `depart` and arrives at `at` (then
    /// [`World::arrive_shared`] or [`World::arrive`]). `recorded` is the history's copy that
    /// its `Send` holds ([`Envelope::for_history`]), so its `Receive` can share it instead of
    /// holding a copy of its own.
    Deliver {
        depart: Micros,
        at: Micros,
        env: Envelope,
        recorded: Arc<Envelope>,
    },
    /// The receiver's edge answered request `env` with `status` at `at`, without the role
    /// seeing it; the answer's own fate follows as the next action (its `cause` is `env.id`).
    EdgeAnswer {
        depart: Micros,
        at: Micros,
        env: Envelope,
        status: u16,
    },
    /// A role gave up waiting for the answer to request `0` (its connection closes).
    Cancel(MsgId),
    /// A message lost on its link or in a partition: it never arrives.
    Lost {
        msg: MsgId,
        is_request: bool,
        cause: Option<MsgId>,
    },
    /// The partner asks the external token store for an operation (only after
    /// [`World::set_store_backend`] with [`Backend::External`]); the driver performs it and
    /// answers through [`World::store_done`].
    Store(StoreRequest),
}

/// How installs are spaced: 10 ms apart, closer when there are so many tenants that 10 ms
/// would not fit them all into the provisioning phase before t = 0.
pub fn install_spacing(tenants: u32) -> Micros {
    let phase = -SETUP_START;
    (10 * crate::MS).min(phase / Micros::from(tenants.max(1)))
}

/// The one place a run's world lives: the roles, the links and the history.
pub struct World {
    pub partner: Partner,
    pub platform: Platform,
    pub admin: Admin,
    pub attacker: Option<Attacker>,
    now: Micros,
    network: NetworkProfile,
    link_rngs: BTreeMap<(Group, Group), ChaCha8Rng>,
    partitions: Vec<(Group, Group, Micros, Micros)>,
    down: BTreeMap<RoleKind, Micros>,
    cancelled: BTreeSet<MsgId>,
    ids: IdGen,
    history: History,
    effects: Effects,
    skipped_partner_down: u64,
    watch: Watch,
    /// Store reads yield ciphertext only (encrypted at rest, attacker without the key).
    ciphertext_only: bool,
    actions: Vec<Action>,
    /// The run's one choice source (random mode unless an explorer guides the run).
    choices: Choices,
}

/// The platform's keys for a seed: the first stream forked from it. A driver that publishes
/// the public half (the loopback JWKS) calls this before [`World::build`].
pub fn platform_keys(seed: u64) -> PlatformKeys {
    PlatformKeys::generate(&mut ChaCha8Rng::seed_from_u64(seed).fork())
}

/// When a run stops: invocation ends at `duration_s`, then the run drains.
pub fn hard_stop(s: &Scenario) -> Micros {
    secs(s.duration_s) + DRAIN
}

impl World {
    /// Builds the world of a scenario and its schedule. Seeds are forked in one fixed order;
    /// the attacker's stream is forked last, so a run with an attacker shares every other
    /// stream with the run without it (the counterfactual of `threats.md` §2). `fit`: the
    /// partner's FIT verifier when the driver obtained it itself (from a published key set);
    /// otherwise the platform's public key.
    pub fn build(
        s: &Scenario,
        mechanism: &'static dyn Mechanism,
        params: &Params,
        plan: Option<&AttackPlan>,
        fit: Option<FitVerifier>,
    ) -> (World, Schedule) {
        Self::build_guided(s, mechanism, params, plan, fit, Choices::random())
    }

    /// [`World::build`] with a choice source: every role draws its choices through
    /// `choices` (in random mode, exactly `build`).
    pub fn build_guided(
        s: &Scenario,
        mechanism: &'static dyn Mechanism,
        params: &Params,
        plan: Option<&AttackPlan>,
        fit: Option<FitVerifier>,
        choices: Choices,
    ) -> (World, Schedule) {
        let mut master = ChaCha8Rng::seed_from_u64(s.seed);
        // Fork in a fixed order: adding a stream at the end never shifts the others.
        let keys = PlatformKeys::generate(&mut master.fork());
        let partner_rng = master.fork();
        let platform_rng = master.fork();
        let mut workload_rng = master.fork();
        let mut net_master = master.fork();
        let mut link_rngs = BTreeMap::new();
        for a in Group::ALL {
            for b in Group::ALL {
                link_rngs.insert((a, b), net_master.fork());
            }
        }
        let attacker_rng = master.fork();
        let (partner_side, platform_side) = mechanism.build(params);
        let cfg = SharedConfig::from_params(params);
        let store = Store::new(cfg.store.clone());
        let fit = fit.unwrap_or_else(|| keys.fit_public_key());
        // A key schedule: later generations are derived from generation 0 (no draw), P's
        // cache starts from setup's pre-fetch, and F's FITs name their key.
        let key_cache = cfg.platform.fit_keys.map(|schedule| {
            let directory = KeyDirectory::new(&keys, schedule);
            KeyCache::prefetched(Arc::new(directory), cfg.partner.keys, SETUP_START)
        });
        let mut world = World {
            partner: Partner::new(partner_side, cfg.partner, store, fit, partner_rng),
            platform: Platform::new(platform_side, cfg.platform, keys, platform_rng),
            admin: Admin::new(cfg.consent_delay),
            attacker: plan.map(|p| Attacker::new(p.clone(), s.tenants, attacker_rng)),
            now: SETUP_START,
            network: s.network.clone(),
            link_rngs,
            partitions: Vec::new(),
            down: BTreeMap::new(),
            cancelled: BTreeSet::new(),
            ids: IdGen::new_sim(),
            history: History::default(),
            effects: Effects::default(),
            skipped_partner_down: 0,
            watch: Watch::default(),
            ciphertext_only: plan.is_some_and(|p| !p.store_key) && cfg.encrypt_at_rest,
            actions: Vec::new(),
            choices: Choices::random(),
        };
        if let Some(cache) = key_cache {
            world.platform.keys.enable_kid();
            world.partner.keys = Some(cache);
        }
        if choices.is_guided() {
            world.partner.choices = choices.clone();
            world.partner.store.choices = choices.clone();
            world.platform.choices = choices.clone();
            if let Some(a) = world.attacker.as_mut() {
                a.choices = choices.clone();
            }
            world.choices = choices;
        }
        let schedule = world.schedule(s, plan, &mut workload_rng);
        (world, schedule)
    }

    /// Sets model time 0 as a Unix time for every role that writes or reads a NumericDate.
    /// Call it before the first step; the simulator never does (the default epoch keeps every
    /// simulated output as it was), `serve` sets the wall clock at start.
    pub fn set_epoch(&mut self, epoch: crate::token::Epoch) {
        self.platform.keys.set_epoch(epoch);
        self.partner.set_epoch(epoch);
        if let Some(a) = &mut self.attacker {
            a.epoch = epoch;
        }
    }

    /// Where the partner's token rows live. The model store unless a driver that completes
    /// store requests (the loopback driver's PostgreSQL) says otherwise, before the first step.
    pub fn set_store_backend(&mut self, backend: Backend) {
        self.partner.set_store_backend(backend);
    }

    /// The driver completed the partner's store request `ticket` at `now`. A partner that is
    /// down lost the connection with its memory: the answer is dropped.
    pub fn store_done(&mut self, now: Micros, ticket: u64, reply: StoreReply) {
        self.now = now;
        if !self.is_down(RoleKind::Partner, now) {
            self.handle(RoleKind::Partner, Input::StoreDone { ticket, reply });
        }
    }

    /// The schedule, in the order the simulator has always queued it (ties keep it).
    fn schedule(
        &mut self,
        s: &Scenario,
        plan: Option<&AttackPlan>,
        workload_rng: &mut ChaCha8Rng,
    ) -> Schedule {
        let mut out = Schedule::new();
        if let Some(p) = plan {
            for (i, step) in p.steps.iter().enumerate() {
                out.push((self.movable(step.at), Step::AttackStep(i)));
            }
            for (from, until) in &p.jwks_outages {
                out.push((*from, Step::Jwks(false)));
                out.push((*until, Step::Jwks(true)));
            }
        }
        // F's key rollovers (none without `fit_key_rotation`).
        if let Some(k) = self.platform.fit_key_schedule() {
            let stop = hard_stop(s);
            let mut generation = 1u32;
            while i64::from(generation) * k.period < stop {
                out.push((
                    i64::from(generation) * k.period,
                    Step::KeyRollover(generation),
                ));
                generation += 1;
            }
        }
        // Provisioning: every tenant is installed before t=0 on fault-free links (or, with
        // `provision_at_s`, during the run and under its faults).
        let install_from = s.provision_at_s.map_or(SETUP_START, secs);
        let spacing = install_spacing(s.tenants);
        for i in 0..s.tenants {
            out.push((
                install_from + i64::from(i) * spacing,
                Step::Admin(AdminAction::Install(i)),
            ));
        }
        out.push((0, Step::Start));
        let duration = secs(s.duration_s);
        // Workload: Poisson demands per tenant from each tenant's own stream, then the
        // scripted ones.
        let rate_per_us = s.demands_per_tenant_hour / (3600.0 * SEC as f64);
        let mut next_demand = 0u64;
        for i in 0..s.tenants {
            let mut rng = workload_rng.fork();
            let mut t = 0.0f64;
            if rate_per_us <= 0.0 {
                continue;
            }
            loop {
                let u: f64 = 1.0 - rng.random::<f64>();
                t += -u.ln() / rate_per_us;
                if t >= duration as f64 {
                    break;
                }
                next_demand += 1;
                out.push((
                    t as Micros,
                    Step::Demand(DemandId(next_demand), TenantId(i)),
                ));
            }
        }
        for (at_s, tenant) in &s.demands {
            next_demand += 1;
            out.push((
                secs(*at_s),
                Step::Demand(DemandId(next_demand), TenantId(*tenant)),
            ));
        }
        for (at_s, action) in &s.admin {
            out.push((self.movable(secs(*at_s)), Step::Admin(*action)));
        }
        let stop = hard_stop(s);
        // A crash lasts until the first end of a crash of the same role still pending when
        // it starts (the queue's order: crash i's start, then its end).
        let crashes: Vec<(RoleKind, Micros, Micros)> = s
            .nemesis
            .iter()
            .filter_map(|n| match *n {
                Nemesis::Crash {
                    role,
                    from_s,
                    until_s,
                    ..
                } => Some((role.role(), secs(from_s), secs(until_s))),
                _ => None,
            })
            .collect();
        let mut crash_index = 0;
        for n in &s.nemesis {
            match *n {
                Nemesis::Partition {
                    a,
                    b,
                    from_s,
                    until_s,
                } => self.partitions.push((a, b, secs(from_s), secs(until_s))),
                Nemesis::Crash {
                    role,
                    from_s,
                    lose_volatile,
                    until_s,
                } => {
                    let (i, start) = (crash_index, secs(from_s));
                    crash_index += 1;
                    let until = crashes
                        .iter()
                        .enumerate()
                        .filter(|(j, (r, _, end))| {
                            *r == role.role() && (*end > start || (*end == start && *j >= i))
                        })
                        .map(|(_, (_, _, end))| *end)
                        .min()
                        .unwrap_or(stop);
                    out.push((
                        start,
                        Step::CrashStart {
                            role: role.role(),
                            lose_volatile,
                            until,
                        },
                    ));
                    out.push((secs(until_s), Step::CrashEnd { role: role.role() }));
                }
                Nemesis::ReplicaLagSpike {
                    extra_ms,
                    from_s,
                    until_s,
                } => self.partner.store.add_lag_spike(
                    secs(from_s),
                    secs(until_s),
                    (extra_ms * 1000.0) as Micros,
                ),
                Nemesis::DeployReset { at_s } => out.push((secs(at_s), Step::DeployReset)),
            }
        }
        for n in &s.nemesis {
            self.history.push(
                0,
                Event::Fault {
                    kind: FaultKind::Nemesis,
                    detail: format!("{n:?}"),
                },
            );
        }
        out
    }

    /// A scheduled step's time: as scheduled, or (guided) one of the candidate times. Steps
    /// before t = 0 (provisioning, an attacker's own installation) stay where they are.
    fn movable(&self, at: Micros) -> Micros {
        if at < 0 {
            return at;
        }
        self.choices.time(Point::Schedule, at, 0).unwrap_or(at)
    }

    /// The actions the last calls produced, in order.
    pub fn take_actions(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.actions)
    }

    /// Moves the actions into `into` (reusing its buffer).
    pub fn drain_actions(&mut self, into: &mut Vec<Action>) {
        // The simulator hands in its empty vector after every event: trading buffers moves
        // no action (an append copied each one, a message's envelope included).
        if into.is_empty() {
            std::mem::swap(into, &mut self.actions);
        } else {
            into.append(&mut self.actions);
        }
    }

    pub fn history(&self) -> &History {
        &self.history
    }

    /// Demands that found the partner down (no P.app to need a token: nothing recorded).
    pub fn skipped_partner_down(&self) -> u64 {
        self.skipped_partner_down
    }

    pub fn is_down(&self, role: RoleKind, at: Micros) -> bool {
        self.down.get(&role).is_some_and(|until| at < *until)
    }

    fn partitioned(&self, a: Group, b: Group, at: Micros) -> bool {
        self.partitions.iter().any(|(x, y, f, u)| {
            ((*x, *y) == (a, b) || (*x, *y) == (b, a)) && (*f..*u).contains(&at)
        })
    }

    /// A fresh message id (for an answer that arrived without one).
    pub fn next_msg_id(&mut self) -> MsgId {
        self.ids.msg()
    }

    /// Records an event the driver observed itself (an exchange that failed on the socket).
    pub fn record(&mut self, t: Micros, event: Event) {
        self.history.push(t, event);
    }

    /// Runs a scheduled step at `now`.
    pub fn step(&mut self, now: Micros, step: Step) {
        self.now = now;
        match step {
            Step::Admin(a) => self.handle(RoleKind::Admin, Input::Admin(a)),
            Step::Start => {
                self.handle(RoleKind::Partner, Input::Start);
                self.handle(RoleKind::Platform, Input::Start);
            }
            Step::Demand(demand, tenant) => {
                if self.is_down(RoleKind::Partner, now) {
                    self.skipped_partner_down += 1;
                } else {
                    self.handle(RoleKind::Partner, Input::Demand { demand, tenant });
                }
            }
            Step::CrashStart {
                role,
                lose_volatile,
                until,
            } => {
                self.history.push(
                    now,
                    Event::Fault {
                        kind: FaultKind::Crash,
                        detail: format!("{role:?}"),
                    },
                );
                // The memory is lost when the process dies, not when it comes back.
                self.handle(
                    role,
                    Input::Restart {
                        lost_volatile: lose_volatile,
                    },
                );
                self.down.insert(role, until);
            }
            Step::CrashEnd { role } => {
                self.down.remove(&role);
                self.history.push(
                    now,
                    Event::Fault {
                        kind: FaultKind::Restart,
                        detail: format!("{role:?}"),
                    },
                );
            }
            Step::DeployReset => {
                let mut out = std::mem::take(&mut self.effects);
                self.platform.deploy_reset(now, &mut out);
                self.apply(RoleKind::Platform, &mut out);
                out.clear();
                self.effects = out;
            }
            Step::AttackStep(i) => self.attack_step(i),
            Step::KeyRollover(generation) => {
                self.platform.keys.roll_to(generation);
                self.history.push(
                    now,
                    Event::Fault {
                        kind: FaultKind::KeyRollover,
                        detail: crate::token::fit_kid(generation),
                    },
                );
            }
            Step::Jwks(reachable) => {
                self.partner.set_jwks_reachable(reachable);
                self.history.push(
                    now,
                    Event::Fault {
                        kind: if reachable {
                            FaultKind::JwksRestored
                        } else {
                            FaultKind::JwksUnreachable
                        },
                        detail: String::new(),
                    },
                );
            }
        }
    }

    /// A role's timer fires; a role that is down fires it when it comes back (an action).
    pub fn fire_timer(&mut self, now: Micros, role: RoleKind, id: TimerId) {
        self.now = now;
        match self.down.get(&role).copied().filter(|u| now < *u) {
            Some(until) => self.actions.push(Action::Timer {
                at: until,
                role,
                id,
            }),
            None => self.handle(role, Input::Timer(id)),
        }
    }

    /// A message reaches its receiver: dropped if the receiver is down or (for an answer) its
    /// requester gave up; otherwise received and handled. Returns whether it was received.
    pub fn arrive(&mut self, now: Micros, env: Envelope) -> bool {
        let recorded = Arc::new(env.for_history());
        self.arrive_shared(now, env, recorded)
    }

    /// [`World::arrive`] with the envelope of [`Action::Deliver`]: the `Receive` event shares
    /// it with the `Send` event (one envelope in the history per delivered message).
    pub fn arrive_shared(&mut self, now: Micros, env: Envelope, recorded: Arc<Envelope>) -> bool {
        self.now = now;
        let role = env.to.role();
        if self.is_down(role, now) {
            self.history.push(
                now,
                Event::Drop {
                    msg: env.id,
                    reason: DropReason::Crashed,
                },
            );
            return false;
        }
        if !env.is_request()
            && let Some(c) = env.cause
            && self.cancelled.contains(&c)
        {
            self.requester_gone(now, env.id);
            return false;
        }
        self.history.push(
            now,
            Event::Receive {
                who: env.to,
                env: recorded,
            },
        );
        self.handle(role, Input::Message(env));
        true
    }

    /// An answer found no one waiting for it.
    pub fn requester_gone(&mut self, now: Micros, msg: MsgId) {
        self.history.push(
            now,
            Event::Drop {
                msg,
                reason: DropReason::RequesterGone,
            },
        );
    }

    /// Feeds an input to a role and applies its effects (and what the attacker then sees).
    pub fn handle(&mut self, role: RoleKind, input: Input) {
        let mut out = std::mem::take(&mut self.effects);
        let now = self.now;
        match role {
            RoleKind::Partner => self.partner.handle(now, input, &mut out),
            RoleKind::Platform => self.platform.handle(now, input, &mut out),
            RoleKind::Admin => self.admin.handle(now, input, &mut out),
            RoleKind::Attacker => {
                if let Some(a) = self.attacker.as_mut() {
                    a.handle(now, input, &mut out);
                }
            }
        }
        self.apply(role, &mut out);
        out.clear();
        self.effects = out;
        if self.attacker.is_some() {
            self.after_role(role);
        }
    }

    fn apply(&mut self, role: RoleKind, out: &mut Effects) {
        self.read_logs(out);
        self.history.records.append(&mut out.history);
        for id in out.cancel.drain(..) {
            self.cancelled.insert(id);
            self.actions.push(Action::Cancel(id));
        }
        for r in out.store.drain(..) {
            self.actions.push(Action::Store(r));
        }
        for (at, id) in out.timers.drain(..) {
            self.actions.push(Action::Timer { at, role, id });
        }
        for Outgoing { depart, env } in std::mem::take(&mut out.send) {
            self.decide(depart, env);
        }
    }

    /// The link decision for a departing message: `Send` is recorded, the attacker's taps
    /// look, a partition or the link's draw may drop it, an edge error is answered by the
    /// receiver's edge (and that answer departs through this same decision), and otherwise
    /// it is delivered after the link's delay. The outcome is an [`Action`].
    pub fn decide(&mut self, depart: Micros, env: Envelope) {
        let (from, to) = (env.from.group(), env.to.group());
        let provisioning = depart < 0;
        let link = if provisioning {
            self.network.link(from, to).fault_free()
        } else {
            *self.network.link(from, to)
        };
        // The history keeps its own copy to the end of the run: no spare capacity, and no JWT
        // values (a FIT's would be 370 bytes per delivery), which the receiver's copy carries.
        let recorded = Arc::new(env.for_history());
        self.history.push(
            depart,
            Event::Send {
                env: recorded.clone(),
            },
        );
        if self.attacker.is_some() {
            self.watch_message(&env);
        }
        let lost = |env: &Envelope| Action::Lost {
            msg: env.id,
            is_request: env.is_request(),
            cause: env.cause,
        };
        if !provisioning && self.partitioned(from, to, depart) {
            self.history.push(
                depart,
                Event::Drop {
                    msg: env.id,
                    reason: DropReason::Partition,
                },
            );
            self.actions.push(lost(&env));
            return;
        }
        let rng = self
            .link_rngs
            .get_mut(&(from, to))
            .expect("a stream per link");
        let (delay, fate) = link.decide(rng, env.is_request(), &self.choices);
        let arrive = depart + delay;
        match fate {
            Fate::Lost => {
                let reason = if env.is_request() {
                    DropReason::LostRequest
                } else {
                    DropReason::LostResponse
                };
                self.history.push(
                    depart,
                    Event::Drop {
                        msg: env.id,
                        reason,
                    },
                );
                self.actions.push(lost(&env));
            }
            Fate::Edge(status) => {
                // The receiver's edge answers; the request never reaches the role.
                self.history.push(
                    arrive,
                    Event::Fault {
                        kind: FaultKind::HttpError,
                        detail: format!("{status} for {}", env.id),
                    },
                );
                let id = self.ids.msg();
                let code = if status == 429 {
                    "rate_limited"
                } else {
                    "unavailable"
                };
                let reply = Envelope {
                    id,
                    from: env.to,
                    to: env.from,
                    cause: Some(env.id),
                    body: Body::Response(Response::error(status, code)),
                };
                self.actions.push(Action::EdgeAnswer {
                    depart,
                    at: arrive,
                    env,
                    status,
                });
                self.decide(arrive, reply);
            }
            Fate::Delivered => self.actions.push(Action::Deliver {
                depart,
                at: arrive,
                env,
                recorded,
            }),
        }
    }

    /// Ends the run at `stop`: every open demand ends unknown, and the history is ordered by
    /// time (effects may be recorded ahead of their time: a reply departing after a mint).
    pub fn finish(mut self, stop: Micros) -> (History, u64) {
        self.now = stop;
        let mut out = std::mem::take(&mut self.effects);
        self.partner.abandon_all(stop, &mut out);
        let mut history = std::mem::take(&mut self.history);
        history.records.append(&mut out.history);
        let skipped = self.skipped_partner_down;
        // The roles' state is not needed to order the history: freeing it first keeps the
        // sort's index (4 bytes per record) under the run's peak.
        drop(self);
        history.sort_by_time();
        // The records vector grew by doubling: give its spare capacity (up to half of it,
        // 123 MiB at a million tenants) back before the summary and the checkers run.
        history.records.shrink_to_fit();
        (history, skipped)
    }

    /// The history so far, ordered by time (for a driver that reads it while running).
    pub fn history_sorted(&self) -> History {
        let mut h = self.history.clone();
        h.sort_by_time();
        h
    }

    /// Ends every open demand as unknown now, keeping the world (the loopback driver's end).
    pub fn abandon_all(&mut self, now: Micros) {
        self.now = now;
        let mut out = std::mem::take(&mut self.effects);
        self.partner.abandon_all(now, &mut out);
        self.apply(RoleKind::Partner, &mut out);
        out.clear();
        self.effects = out;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installs_are_10_ms_apart_unless_that_would_run_past_t0() {
        assert_eq!(install_spacing(1), 10 * crate::MS);
        assert_eq!(install_spacing(100), 10 * crate::MS);
        assert_eq!(install_spacing(30_000), 10 * crate::MS);
        // A million tenants: 300 µs apart, the last one installed before t = 0.
        let n = 1_000_000u32;
        let spacing = install_spacing(n);
        assert_eq!(spacing, 300);
        assert!(SETUP_START + i64::from(n - 1) * spacing < 0);
        // Just past the point where 10 ms no longer fits, the spacing shrinks.
        assert!(install_spacing(30_001) < 10 * crate::MS);
        assert!(SETUP_START + 30_000 * install_spacing(30_001) < 0);
    }

    #[test]
    fn the_schedule_installs_every_tenant_before_start_in_order() {
        let mut s = Scenario::new("refresh", "same-region").expect("a known preset");
        s.tenants = 5;
        s.duration_s = 60.0;
        s.demands = vec![(1.0, 0)];
        let (m, _, params) = crate::mechanisms::resolve(&s.mechanism, &s.sets).unwrap();
        let (_, schedule) = World::build(&s, m, &params, None, None);
        let installs: Vec<Micros> = schedule
            .iter()
            .filter(|(_, st)| matches!(st, Step::Admin(AdminAction::Install(_))))
            .map(|(t, _)| *t)
            .collect();
        assert_eq!(installs.len(), 5);
        assert!(installs.windows(2).all(|w| w[1] - w[0] == 10 * crate::MS));
        let start = schedule.iter().position(|(_, st)| *st == Step::Start);
        assert!(start.is_some_and(|i| i > 0));
        // The scripted demand follows the Poisson ones, numbered after them.
        let last = schedule
            .iter()
            .filter_map(|(t, st)| match st {
                Step::Demand(d, _) => Some((*t, d.0)),
                _ => None,
            })
            .max_by_key(|(_, d)| *d);
        assert_eq!(last.map(|(t, _)| t), Some(crate::SEC));
    }
}
