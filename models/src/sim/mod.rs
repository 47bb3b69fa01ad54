//! The deterministic discrete-event simulator: a virtual clock in microseconds, an event queue
//! ordered by (time, insertion), a simulated network applying per-link fault profiles, the
//! nemesis schedule, a fault-free provisioning phase before t=0, and the workload of
//! `workload.md` §9. One seeded ChaCha RNG per run, forked per role, per link and per tenant:
//! the same seed and inputs give byte-identical results.

pub mod summary;

use crate::faults::{Fate, Nemesis, NetworkProfile, secs};
use crate::history::{DropReason, Event, History};
use crate::ids::{DemandId, Group, IdGen, MsgId, RoleKind, TenantId, TimerId};
use crate::mechanisms::{Mechanism, ResolveError, SharedConfig, resolve};
use crate::message::{Body, Envelope, Response, Value};
use crate::params::Params;
use crate::roles::admin::Admin;
use crate::roles::attacker::{AttackPlan, Attacker, Capability, Loot};
use crate::roles::partner::Partner;
use crate::roles::platform::Platform;
use crate::roles::store::Row;
use crate::roles::store::Store;
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
    /// Install the tenants from this time (s) on, under the run's faults, instead of in the
    /// fault-free provisioning phase before t = 0.
    pub provision_at_s: Option<f64>,
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
    CrashStart {
        role: RoleKind,
        lose_volatile: bool,
    },
    CrashEnd {
        role: RoleKind,
    },
    DeployReset,
    /// The attacker's plan switches capability `i` on.
    AttackStep(usize),
    /// The JWKS becomes unreachable (false) or reachable again (true) at P.
    Jwks(bool),
}

/// What the driver exposes to the attacker: the capabilities that read other parties' state.
#[derive(Default)]
struct Watch {
    taps: Vec<(Group, Group)>,
    continuing: bool,
    logs: bool,
    owned: Option<TenantId>,
    owned_msgs: BTreeSet<MsgId>,
    /// Continuing reads of one row's field.
    stealing: Vec<(&'static str, TenantId)>,
    /// Thefts of one item in transit (A1) or from a log (A3): field, tenant, from_log.
    transit: Vec<(&'static str, TenantId, bool)>,
    transit_msgs: BTreeSet<MsgId>,
    /// Items continuing reads already exposed.
    seen_items: BTreeSet<crate::secret::ItemId>,
    seen_rows: BTreeMap<TenantId, Arc<Row>>,
    observed: std::collections::VecDeque<Arc<Envelope>>,
}

/// Every usable value in a row of P's store, as the attacker sees it after a read.
fn row_loot(tenant: TenantId, row: &Row) -> Vec<Loot> {
    let mut out = Vec::new();
    if let Some(t) = &row.token {
        out.push(Loot {
            field: "token",
            tenant: Some(tenant),
            value: Value::Jwt(t.jwt.clone()),
        });
    }
    for (field, v) in &row.items {
        if matches!(v, Value::Secret(_) | Value::Jwt(_))
            || (*field == "client_id" && matches!(v, Value::Str(_)))
        {
            out.push(Loot {
                field,
                tenant: Some(tenant),
                value: v.clone(),
            });
        }
    }
    out
}

fn loot_items(loot: &[Loot]) -> Vec<crate::secret::ItemId> {
    loot.iter()
        .filter_map(|l| match &l.value {
            Value::Secret(s) => Some(s.id()),
            Value::Jwt(j) => Some(j.id()),
            _ => None,
        })
        .collect()
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
    attacker: Option<Attacker>,
    watch: Watch,
    /// Store reads yield ciphertext only (encrypted at rest, attacker without the key).
    ciphertext_only: bool,
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
            if role == RoleKind::Partner && self.watch.continuing {
                self.breach_continuing();
            }
            if role == RoleKind::Partner && !self.watch.stealing.is_empty() {
                self.steal_continuing();
            }
            self.feed_observations();
        }
    }

    /// Hands what the attacker observed to it, until nothing new is observed.
    fn feed_observations(&mut self) {
        while let Some(env) = self.watch.observed.pop_front() {
            let mut out = Effects::default();
            if let Some(a) = self.attacker.as_mut() {
                a.observe(self.now, &env, &mut out);
            }
            self.apply(RoleKind::Attacker, &mut out);
        }
    }

    /// Continuing A2: every row P wrote since the last look.
    fn breach_continuing(&mut self) {
        let tenants: Vec<TenantId> = self.partner.store.tenants().collect();
        let mut loot = Vec::new();
        for t in tenants {
            let row = self.partner.store.latest(t);
            if self
                .watch
                .seen_rows
                .get(&t)
                .is_some_and(|seen| Arc::ptr_eq(seen, &row))
            {
                continue;
            }
            loot.extend(row_loot(t, &row));
            self.watch.seen_rows.insert(t, row);
        }
        loot.retain(|l| {
            loot_items(std::slice::from_ref(l))
                .into_iter()
                .all(|i| self.watch.seen_items.insert(i))
        });
        self.expose("A2", "continuing", None, loot);
    }

    /// Continuing A2 on one row's field: whatever P wrote there since the last look.
    fn steal_continuing(&mut self) {
        for (field, tenant) in self.watch.stealing.clone() {
            let row = self.partner.store.latest(tenant);
            let mut loot: Vec<Loot> = row_loot(tenant, &row)
                .into_iter()
                .filter(|l| l.field == field || l.field == "client_id")
                .collect();
            loot.retain(|l| {
                loot_items(std::slice::from_ref(l))
                    .into_iter()
                    .all(|i| self.watch.seen_items.insert(i))
            });
            self.expose("A2", "continuing", Some(tenant), loot);
        }
    }

    /// Records what a capability exposed and gives it to the attacker.
    fn expose(
        &mut self,
        capability: &'static str,
        mode: &'static str,
        target: Option<TenantId>,
        loot: Vec<Loot>,
    ) {
        let items = loot_items(&loot);
        if items.is_empty() {
            return;
        }
        // A store read without the key (A2 with `encrypt_at_rest=on`): ciphertext only.
        let store_read = capability == "A2" || (capability == "A5" && mode == "store");
        if store_read && self.ciphertext_only {
            self.history.push(
                self.now,
                Event::Attack {
                    capability,
                    mode: "ciphertext",
                    target,
                    items: Vec::new(),
                },
            );
            return;
        }
        self.history.push(
            self.now,
            Event::Attack {
                capability,
                mode,
                target,
                items,
            },
        );
        let mut out = Effects::default();
        if let Some(a) = self.attacker.as_mut() {
            a.acquire(self.now, loot, &mut out);
        }
        self.apply(RoleKind::Attacker, &mut out);
    }

    /// A targeted theft in transit or from a log: the first matching item for the tenant.
    fn steal_in_transit(&mut self, env: &Arc<Envelope>, logged: bool) {
        if self.watch.transit.is_empty() {
            return;
        }
        let pending: Vec<(usize, &'static str, TenantId)> = self
            .watch
            .transit
            .iter()
            .enumerate()
            .filter(|(_, (_, _, from_log))| *from_log == logged)
            .map(|(i, (f, t, _))| (i, *f, *t))
            .collect();
        for (i, field, tenant) in pending {
            let about = env.request().is_some_and(|r| {
                r.tenant == Some(tenant)
                    || r.headers.tenant("x-acting-for") == Some(tenant)
                    || r.body.tenant("tenant") == Some(tenant)
                    || r.body.tenant("installationId") == Some(tenant)
            }) || env
                .cause
                .is_some_and(|c| self.watch.transit_msgs.contains(&c));
            if !about {
                continue;
            }
            self.watch.transit_msgs.insert(env.id);
            let names: &[&str] = match field {
                "token" => &["x-forge-oauth-system", "access_token", "authorization"],
                "trigger_url" => &["url", "trigger_url"],
                other => std::slice::from_ref(match other {
                    "refresh_token" => &"refresh_token",
                    "client_secret" => &"client_secret",
                    "shared_secret" => &"shared_secret",
                    _ => &"trigger_key",
                }),
            };
            let fields: Vec<&crate::message::Fields> = match &env.body {
                Body::Request(r) => vec![&r.headers, &r.body],
                Body::Response(r) => vec![&r.body],
            };
            let found = fields.iter().flat_map(|f| f.0.iter()).find(|(k, v)| {
                names.contains(k)
                    && match v {
                        // An access token, not a FIT or a Connect JWT.
                        Value::Jwt(j) => {
                            field == "token" && self.platform.keys.verify_access(j).is_ok()
                        }
                        Value::Secret(_) => field != "token",
                        _ => false,
                    }
            });
            if let Some((_, v)) = found {
                let loot = vec![Loot {
                    field,
                    tenant: Some(tenant),
                    value: v.clone(),
                }];
                self.watch.transit.remove(i);
                let mode = if logged { "log" } else { "network" };
                self.expose(if logged { "A3" } else { "A1" }, mode, Some(tenant), loot);
                return;
            }
        }
    }

    /// A1 and A4: does the attacker see this message?
    fn watch_message(&mut self, env: &Arc<Envelope>) {
        if env.from == crate::ids::Party::Attacker || env.to == crate::ids::Party::Attacker {
            return;
        }
        self.steal_in_transit(env, false);
        let (from, to) = (env.from.group(), env.to.group());
        let tapped = self
            .watch
            .taps
            .iter()
            .any(|(a, b)| (*a, *b) == (from, to) || (*a, *b) == (to, from));
        let owned = self.watch.owned.is_some_and(|a| {
            let about_a = env.request().is_some_and(|r| {
                r.tenant == Some(a)
                    || r.headers.tenant("x-acting-for") == Some(a)
                    || r.body.tenant("tenant") == Some(a)
                    || r.body.tenant("installationId") == Some(a)
            }) || env
                .cause
                .is_some_and(|c| self.watch.owned_msgs.contains(&c));
            let touches_p = matches!(env.from, crate::ids::Party::Partner(_))
                || matches!(env.to, crate::ids::Party::Partner(_))
                || env.from == crate::ids::Party::Browser
                || env.to == crate::ids::Party::Browser;
            about_a && touches_p
        });
        if owned {
            self.watch.owned_msgs.insert(env.id);
        }
        if !(tapped || owned) {
            return;
        }
        let items: Vec<crate::secret::ItemId> = env.items().map(|(i, _)| i).collect();
        if !items.is_empty() {
            self.history.push(
                self.now,
                Event::Attack {
                    capability: if tapped { "A1" } else { "A4" },
                    mode: if tapped { "tap" } else { "own" },
                    target: if tapped { None } else { self.watch.owned },
                    items,
                },
            );
        }
        self.watch.observed.push_back(env.clone());
    }

    /// Switches step `i` of the attacker's plan on.
    fn attack_step(&mut self, i: usize) {
        let Some(step) = self
            .attacker
            .as_ref()
            .and_then(|a| a.plan().steps.get(i))
            .map(|s| s.capability.clone())
        else {
            return;
        };
        match &step {
            Capability::Tap { a, b } => self.watch.taps.push((*a, *b)),
            Capability::Breach { continuing } => {
                let tenants: Vec<TenantId> = self.partner.store.tenants().collect();
                let mut loot = Vec::new();
                for t in tenants {
                    let row = self.partner.store.latest(t);
                    loot.extend(row_loot(t, &row));
                    self.watch.seen_rows.insert(t, row);
                }
                self.watch.continuing = *continuing;
                let mode = if *continuing {
                    "continuing"
                } else {
                    "snapshot"
                };
                self.expose("A2", mode, None, loot);
            }
            Capability::ReadLogs => {
                self.watch.logs = true;
                let past: Vec<Arc<Envelope>> = self
                    .history
                    .records
                    .iter()
                    .filter_map(|r| match &r.event {
                        Event::Log { env, .. } => Some(env.clone()),
                        _ => None,
                    })
                    .collect();
                for env in past {
                    self.log_exposed(&env);
                }
            }
            Capability::Own { tenant } => {
                self.watch.owned = Some(*tenant);
                self.platform.registry.attacker_owned = Some(*tenant);
                let row = self.partner.store.latest(*tenant);
                self.expose("A4", "own", Some(*tenant), row_loot(*tenant, &row));
            }
            Capability::StealInTransit {
                field,
                tenant,
                from_log,
            } => self.watch.transit.push((field, *tenant, *from_log)),
            Capability::StealContinuing { field, tenant } => {
                self.watch.stealing.push((field, *tenant));
                self.steal_continuing();
            }
            Capability::Steal {
                field,
                tenant,
                from,
            } => {
                let row = self.partner.store.latest(*tenant);
                // The row's public companions (its client id) come with the stolen item.
                let loot: Vec<Loot> = row_loot(*tenant, &row)
                    .into_iter()
                    .filter(|l| l.field == *field || l.field == "client_id")
                    .collect();
                self.expose("A5", from, Some(*tenant), loot);
            }
            _ => {}
        }
        let mut out = Effects::default();
        if let Some(a) = self.attacker.as_mut() {
            a.start_step(self.now, &step, &mut out);
        }
        self.apply(RoleKind::Attacker, &mut out);
        self.feed_observations();
    }

    /// A3: a log entry the attacker reads.
    fn log_exposed(&mut self, env: &Arc<Envelope>) {
        let items: Vec<crate::secret::ItemId> = env.items().map(|(i, _)| i).collect();
        if items.is_empty() {
            return;
        }
        self.history.push(
            self.now,
            Event::Attack {
                capability: "A3",
                mode: "log",
                target: None,
                items,
            },
        );
        self.watch.observed.push_back(env.clone());
    }

    fn apply(&mut self, role: RoleKind, out: &mut Effects) {
        if self.watch.transit.iter().any(|(_, _, from_log)| *from_log) {
            let logged: Vec<Arc<Envelope>> = out
                .history
                .iter()
                .filter_map(|r| match &r.event {
                    Event::Log { env, .. } => Some(env.clone()),
                    _ => None,
                })
                .collect();
            for env in logged {
                self.steal_in_transit(&env, true);
            }
        }
        if self.watch.logs {
            let logged: Vec<Arc<Envelope>> = out
                .history
                .iter()
                .filter_map(|r| match &r.event {
                    Event::Log { env, .. } => Some(env.clone()),
                    _ => None,
                })
                .collect();
            for env in logged {
                self.log_exposed(&env);
            }
        }
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
        if self.attacker.is_some() {
            self.watch_message(&env);
        }
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
        let (delay, fate) = link.draw(rng, env.is_request());
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
                return;
            }
            Fate::Edge(status) => {
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
            Fate::Delivered => {}
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
    run_with(s, mechanism, profile, params, None)
}

/// Builds and runs a scenario with an attacker following `plan` (`threats.md` §2).
pub fn run_attacked(s: &Scenario, plan: &AttackPlan) -> Result<RunResult, ResolveError> {
    let (mechanism, profile, params) = resolve(&s.mechanism, &s.sets)?;
    Ok(run_with(s, mechanism, profile, params, Some(plan)))
}

/// Runs with resolved parameters and an optional attacker. The attacker's RNG stream is
/// forked last, so a run with an attacker shares every other stream with the run without it
/// (the counterfactual of `threats.md` §2).
pub fn run_with(
    s: &Scenario,
    mechanism: &'static dyn Mechanism,
    profile: Option<&'static str>,
    params: Params,
    plan: Option<&AttackPlan>,
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
    let attacker_rng = master.fork();
    let (partner_side, platform_side) = mechanism.build(&params);
    let cfg = SharedConfig::from_params(&params);
    let store = Store::new(cfg.store.clone());
    let fit = keys.fit_public_key();
    let mut world = World {
        now: SETUP_START,
        queue: BinaryHeap::new(),
        seq: 0,
        partner: Partner::new(partner_side, cfg.partner, store, fit, partner_rng),
        platform: Platform::new(platform_side, cfg.platform, keys, platform_rng),
        admin: Admin::new(cfg.consent_delay),
        network: s.network.clone(),
        link_rngs,
        partitions: Vec::new(),
        down: BTreeMap::new(),
        cancelled: BTreeSet::new(),
        ids: IdGen::new_sim(),
        history: History::default(),
        effects: Effects::default(),
        skipped_partner_down: 0,
        attacker: plan.map(|p| Attacker::new(p.clone(), s.tenants, attacker_rng)),
        ciphertext_only: plan.is_some_and(|p| !p.store_key) && cfg.encrypt_at_rest,
        watch: Watch::default(),
    };
    if let Some(p) = plan {
        for (i, step) in p.steps.iter().enumerate() {
            world.push(step.at, Ev::AttackStep(i));
        }
        for (from, until) in &p.jwks_outages {
            world.push(*from, Ev::Jwks(false));
            world.push(*until, Ev::Jwks(true));
        }
    }

    // Provisioning: every tenant is installed before t=0, 10 ms apart, on fault-free links
    // (or, with `provision_at_s`, during the run and under its faults).
    let install_from = s.provision_at_s.map_or(SETUP_START, secs);
    for i in 0..s.tenants {
        world.push(
            install_from + i64::from(i) * 10_000,
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
            Ev::AttackStep(i) => world.attack_step(i),
            Ev::Jwks(reachable) => {
                world.partner.set_jwks_reachable(reachable);
                world.history.push(
                    q.at,
                    Event::Fault {
                        kind: if reachable {
                            "jwks_restored"
                        } else {
                            "jwks_unreachable"
                        },
                        detail: String::new(),
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
