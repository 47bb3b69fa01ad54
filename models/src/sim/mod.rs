//! The deterministic discrete-event simulator: a virtual clock in microseconds, an event queue
//! ordered by (time, insertion), a simulated network applying per-link fault profiles, the
//! nemesis schedule, a fault-free provisioning phase before t=0, and the workload of
//! `workload.md` §9. One seeded ChaCha RNG per run, forked per role, per link and per tenant:
//! the same seed and inputs give byte-identical results.

pub mod summary;

use crate::faults::{Nemesis, NetworkProfile, secs};
use crate::history::{DropReason, Event, History};
use crate::ids::{DemandId, Group, IdGen, MsgId, RoleKind, TenantId, TimerId};
use crate::mechanisms::{Mechanism, ResolveError, resolve};
use crate::message::{Body, Envelope, Response};
use crate::params::Params;
use crate::roles::admin::Admin;
use crate::roles::partner::Partner;
use crate::roles::platform::Platform;
use crate::roles::store::{Store, StoreConfig};
use crate::roles::{AdminAction, Effects, Input, Outgoing, Role};
use crate::token::PlatformKeys;
use crate::{Micros, SEC};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
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
    Demand(DemandId, TenantId),
    Admin(AdminAction),
    Start,
    CrashStart { role: RoleKind, lose_volatile: bool },
    CrashEnd { role: RoleKind },
    DeployReset,
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

struct World {
    now: Micros,
    queue: BinaryHeap<Queued>,
    seq: u64,
    partner: Partner,
    platform: Platform,
    admin: Admin,
    network: NetworkProfile,
    link_rngs: BTreeMap<(Group, Group), ChaCha8Rng>,
    partitions: Vec<(Group, Group, Micros, Micros)>,
    down: BTreeMap<RoleKind, Micros>,
    cancelled: BTreeSet<MsgId>,
    ids: IdGen,
    history: History,
    effects: Effects,
    skipped_partner_down: u64,
}

impl World {
    fn push(&mut self, at: Micros, ev: Ev) {
        self.seq += 1;
        self.queue.push(Queued {
            at,
            seq: self.seq,
            ev,
        });
    }

    fn is_down(&self, role: RoleKind, at: Micros) -> bool {
        self.down.get(&role).is_some_and(|until| at < *until)
    }

    fn partitioned(&self, a: Group, b: Group, at: Micros) -> bool {
        self.partitions.iter().any(|(x, y, f, u)| {
            ((*x, *y) == (a, b) || (*x, *y) == (b, a)) && (*f..*u).contains(&at)
        })
    }

    fn handle(&mut self, role: RoleKind, input: Input) {
        let mut out = std::mem::take(&mut self.effects);
        let now = self.now;
        match role {
            RoleKind::Partner => self.partner.handle(now, input, &mut out),
            RoleKind::Platform => self.platform.handle(now, input, &mut out),
            RoleKind::Admin => self.admin.handle(now, input, &mut out),
            RoleKind::Attacker => {}
        }
        self.apply(role, &mut out);
        out.clear();
        self.effects = out;
    }

    fn apply(&mut self, role: RoleKind, out: &mut Effects) {
        self.history.records.append(&mut out.history);
        for id in out.cancel.drain(..) {
            self.cancelled.insert(id);
        }
        for (at, id) in out.timers.drain(..) {
            self.push(at, Ev::Timer(role, id));
        }
        for Outgoing { depart, env } in std::mem::take(&mut out.send) {
            self.transmit(depart, env);
        }
    }

    /// Puts a message on its link: partition, loss, edge errors and latency are decided here.
    fn transmit(&mut self, depart: Micros, env: Envelope) {
        let (from, to) = (env.from.group(), env.to.group());
        let provisioning = depart < 0;
        let link = if provisioning {
            self.network.link(from, to).fault_free()
        } else {
            *self.network.link(from, to)
        };
        let env = Arc::new(env);
        self.history.push(depart, Event::Send { env: env.clone() });
        if !provisioning && self.partitioned(from, to, depart) {
            self.history.push(
                depart,
                Event::Drop {
                    msg: env.id,
                    reason: DropReason::Partition,
                },
            );
            return;
        }
        let rng = self
            .link_rngs
            .get_mut(&(from, to))
            .expect("a stream per link");
        let delay = link.latency.sample(rng);
        let arrive = depart + delay;
        if env.is_request() {
            if rng.random::<f64>() < link.loss_request {
                self.history.push(
                    depart,
                    Event::Drop {
                        msg: env.id,
                        reason: DropReason::LostRequest,
                    },
                );
                return;
            }
            let edge = rng.random::<f64>();
            let status = if edge < link.http_5xx {
                Some(503)
            } else if edge < link.http_5xx + link.http_429 {
                Some(429)
            } else {
                None
            };
            if let Some(status) = status {
                // The receiver's edge answers; the request never reaches the role.
                self.history.push(
                    arrive,
                    Event::Fault {
                        kind: "http_error",
                        detail: format!("{status} for {}", env.id),
                    },
                );
                let id = self.ids.msg();
                let code = if status == 429 {
                    "rate_limited"
                } else {
                    "unavailable"
                };
                let err = Envelope {
                    id,
                    from: env.to,
                    to: env.from,
                    cause: Some(env.id),
                    body: Body::Response(Response::error(status, code)),
                };
                self.transmit(arrive, err);
                return;
            }
        } else if rng.random::<f64>() < link.loss_response {
            self.history.push(
                depart,
                Event::Drop {
                    msg: env.id,
                    reason: DropReason::LostResponse,
                },
            );
            return;
        }
        self.push(arrive, Ev::Deliver(Arc::unwrap_or_clone(env)));
    }

    fn deliver(&mut self, env: Envelope) {
        let role = env.to.role();
        if self.is_down(role, self.now) {
            self.history.push(
                self.now,
                Event::Drop {
                    msg: env.id,
                    reason: DropReason::Crashed,
                },
            );
            return;
        }
        if !env.is_request()
            && let Some(c) = env.cause
            && self.cancelled.contains(&c)
        {
            self.history.push(
                self.now,
                Event::Drop {
                    msg: env.id,
                    reason: DropReason::RequesterGone,
                },
            );
            return;
        }
        let env = Arc::new(env);
        self.history.push(
            self.now,
            Event::Receive {
                who: env.to,
                env: env.clone(),
            },
        );
        self.handle(role, Input::Message(Arc::unwrap_or_clone(env)));
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
    let (partner_side, platform_side) = mechanism.build(&params);
    let store = Store::new(StoreConfig {
        write_cost: params.dur_req("db_write"),
        read_cost: params.dur_req("db_read"),
        write_fail: params.prob("q_w"),
        read_fail: params.prob("q_r"),
        replica_lag: params.lag("replica_lag"),
        cache_ttl: params.dur("cache_ttl"),
    });
    let fit = keys.fit_public_key();
    let mut world = World {
        now: SETUP_START,
        queue: BinaryHeap::new(),
        seq: 0,
        partner: Partner::new(partner_side, params.clone(), store, fit, partner_rng),
        platform: Platform::new(platform_side, params.clone(), keys, platform_rng),
        admin: Admin::new(params.dur_req("consent_delay")),
        network: s.network.clone(),
        link_rngs,
        partitions: Vec::new(),
        down: BTreeMap::new(),
        cancelled: BTreeSet::new(),
        ids: IdGen::new_sim(),
        history: History::default(),
        effects: Effects::default(),
        skipped_partner_down: 0,
    };

    // Provisioning: every tenant is installed before t=0, 10 ms apart, on fault-free links.
    for i in 0..s.tenants {
        world.push(
            SETUP_START + i64::from(i) * 10_000,
            Ev::Admin(AdminAction::Install(i)),
        );
    }
    world.push(0, Ev::Start);
    let duration = secs(s.duration_s);
    // Workload: Poisson demands per tenant from each tenant's own stream.
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
            world.push(t as Micros, Ev::Demand(DemandId(next_demand), TenantId(i)));
        }
    }
    for (at_s, action) in &s.admin {
        world.push(secs(*at_s), Ev::Admin(*action));
    }
    for n in &s.nemesis {
        match *n {
            Nemesis::Partition {
                a,
                b,
                from_s,
                until_s,
            } => world.partitions.push((a, b, secs(from_s), secs(until_s))),
            Nemesis::Crash {
                role,
                from_s,
                lose_volatile,
                until_s,
            } => {
                world.push(
                    secs(from_s),
                    Ev::CrashStart {
                        role: role.role(),
                        lose_volatile,
                    },
                );
                world.push(secs(until_s), Ev::CrashEnd { role: role.role() });
            }
            Nemesis::ReplicaLagSpike {
                extra_ms,
                from_s,
                until_s,
            } => world.partner.store.add_lag_spike(
                secs(from_s),
                secs(until_s),
                (extra_ms * 1000.0) as Micros,
            ),
            Nemesis::DeployReset { at_s } => world.push(secs(at_s), Ev::DeployReset),
        }
    }
    for n in &s.nemesis {
        world.history.push(
            0,
            Event::Fault {
                kind: "nemesis",
                detail: format!("{n:?}"),
            },
        );
    }

    let hard_stop = duration + DRAIN;
    while let Some(q) = world.queue.pop() {
        if q.at > hard_stop {
            break;
        }
        world.now = q.at;
        match q.ev {
            Ev::Deliver(env) => world.deliver(env),
            Ev::Timer(role, id) => {
                if let Some(until) = world.down.get(&role).copied().filter(|u| q.at < *u) {
                    // A role that is down fires its timers when it comes back.
                    world.push(until, Ev::Timer(role, id));
                } else {
                    world.handle(role, Input::Timer(id));
                }
            }
            Ev::Demand(demand, tenant) => {
                if world.is_down(RoleKind::Partner, q.at) {
                    world.skipped_partner_down += 1;
                } else {
                    world.handle(RoleKind::Partner, Input::Demand { demand, tenant });
                }
            }
            Ev::Admin(a) => world.handle(RoleKind::Admin, Input::Admin(a)),
            Ev::Start => {
                world.handle(RoleKind::Partner, Input::Start);
                world.handle(RoleKind::Platform, Input::Start);
            }
            Ev::CrashStart {
                role,
                lose_volatile,
            } => {
                world.history.push(
                    q.at,
                    Event::Fault {
                        kind: "crash",
                        detail: format!("{role:?}"),
                    },
                );
                // The memory is lost when the process dies, not when it comes back.
                world.handle(
                    role,
                    Input::Restart {
                        lost_volatile: lose_volatile,
                    },
                );
                let until = world
                    .queue
                    .iter()
                    .filter_map(|x| match x.ev {
                        Ev::CrashEnd { role: r } if r == role => Some(x.at),
                        _ => None,
                    })
                    .min()
                    .unwrap_or(hard_stop);
                world.down.insert(role, until);
            }
            Ev::CrashEnd { role } => {
                world.down.remove(&role);
                world.history.push(
                    q.at,
                    Event::Fault {
                        kind: "restart",
                        detail: format!("{role:?}"),
                    },
                );
            }
            Ev::DeployReset => {
                let mut out = std::mem::take(&mut world.effects);
                world.platform.deploy_reset(q.at, &mut out);
                world.apply(RoleKind::Platform, &mut out);
                out.clear();
                world.effects = out;
            }
        }
    }
    world.now = hard_stop;
    let mut out = std::mem::take(&mut world.effects);
    world.partner.abandon_all(hard_stop, &mut out);
    world.history.records.append(&mut out.history);
    // Effects may be recorded ahead of their time (a reply departing after a mint): order them.
    world.history.records.sort_by_key(|r| r.t);
    let summary = summary::summarize(
        s,
        mechanism,
        profile,
        &params,
        &world.history,
        world.skipped_partner_down,
    );
    RunResult {
        history: world.history,
        summary,
        params,
    }
}
