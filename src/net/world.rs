//! A world on loopback: the world core of `tokenlab_models::world` (the very roles, store,
//! schedule and link decisions the simulator runs), each endpoint an axum service on
//! `127.0.0.1:0`, talking real HTTP through a hyper-util client. This driver owns only what is
//! about real time and real bytes:
//! - time: virtual `now` is a monotonic clock plus an offset. Provisioning starts at
//!   [`SETUP_START`] and, whenever nothing is in flight, jumps to the next scheduled item (the
//!   simulator's provisioning is fault-free and instantaneous in effect); then it jumps to
//!   t = 0, where the schedule's `Start` fires. From then on one virtual µs is one real µs.
//! - a scheduler task that fires timers, scheduled steps and departures when the clock reaches
//!   them, so a role's modelled local costs (mint, store) delay its messages as in the
//!   simulator.
//! - enacting the core's link decisions on sockets: latency is a sleep before the bytes leave,
//!   a lost request is never sent, a lost response is never answered (the requester's own
//!   timeout closes the connection), an edge 5xx/429 is answered by the receiver's HTTP edge
//!   without reaching the role and its answer travels back with the delay the core drew.
//!
//! The platform publishes its FIT key as a JWK set on its own listener; the partner's FIT
//! verifier is built from the key set fetched over HTTP, so the partner never holds more than
//! the public key.

use super::client::{HttpClient, new_client};
use super::wire::{self, H_EDGE, MAX_BODY_BYTES};
use axum::body::Body as AxumBody;
use axum::extract::{Request as AxumRequest, State};
use axum::http;
use http_body_util::BodyExt;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokenlab_models::Micros;
use tokenlab_models::faults::{Nemesis, NetworkProfile};
use tokenlab_models::history::{Event, FaultKind, History, Outcome};
use tokenlab_models::ids::{DemandId, MsgId, PartnerEndpoint, Party, RoleKind, TenantId, TimerId};
use tokenlab_models::mechanisms::{Mechanism, ResolveError, resolve};
use tokenlab_models::message::{Envelope, Value};
use tokenlab_models::params::Params;
use tokenlab_models::roles::AdminAction;
use tokenlab_models::roles::attacker::AttackPlan;
use tokenlab_models::roles::store::{Backend, StoreRequest};
use tokenlab_models::sim::{SETUP_START, Scenario};
use tokenlab_models::token::{FitVerifier, PlatformKeys};
use tokenlab_models::world::{Action, Step, World, platform_keys};
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;

/// What a loopback world is built from: the simulator's scenario vocabulary. Demands are
/// scripted (`demands`) or driven by the caller, one at a time or concurrently.
#[derive(Clone, Debug)]
pub struct NetConfig {
    /// `ID[:PROFILE]`.
    pub mechanism: String,
    pub sets: Vec<String>,
    pub tenants: u32,
    pub seed: u64,
    pub network: NetworkProfile,
    pub nemesis: Vec<Nemesis>,
    /// Admin actions at seconds, as in the simulator's scenario.
    pub admin: Vec<(f64, AdminAction)>,
    /// Scripted demands: (seconds, tenant).
    pub demands: Vec<(f64, u32)>,
    /// Install the tenants from this time (s) on, under the run's faults.
    pub provision_at_s: Option<f64>,
    /// Where the schedule ends (a crash with no end lasts until then, plus the drain).
    pub duration_s: f64,
    /// After t = 0, jump the clock over stretches in which nothing is on the wire, as in
    /// provisioning (for scripted runs: their outcomes do not depend on real waiting).
    pub fast_forward: bool,
    /// An attacker following this plan, acting through the same links as everyone else
    /// (with its own listener for what is sent to it, such as a code after a loose redirect).
    pub plan: Option<AttackPlan>,
    /// Parties served by something outside the world (a wiremock server standing in for a
    /// partner endpoint in contract tests): requests to them go to this loopback address.
    pub external: BTreeMap<Party, SocketAddr>,
    /// Model time 0 as a Unix time (s). `None`: the models' fixed epoch, as in the
    /// simulator; `serve` passes the wall clock at start so stock clients see real times.
    pub epoch_s: Option<i64>,
    /// The partner's token store on PostgreSQL (a primary and its hot standby) instead of
    /// the model store: the core's store requests are performed there.
    pub pg_store: Option<Arc<crate::store_pg::PgStore>>,
}

impl NetConfig {
    /// A fault-free world: every inter-party link has a fixed one-way delay `one_way_ms`.
    pub fn new(mechanism: &str, tenants: u32, one_way_ms: f64) -> NetConfig {
        NetConfig {
            mechanism: mechanism.into(),
            sets: Vec::new(),
            tenants,
            seed: 1,
            network: NetworkProfile::uniform(tokenlab_models::faults::LinkProfile::fixed_rtt_ms(
                2.0 * one_way_ms,
            )),
            nemesis: Vec::new(),
            admin: Vec::new(),
            demands: Vec::new(),
            provision_at_s: None,
            duration_s: 24.0 * 3600.0,
            fast_forward: false,
            plan: None,
            external: BTreeMap::new(),
            epoch_s: None,
            pg_store: None,
        }
    }
    /// On a named preset (its link profiles and nemesis schedule).
    pub fn on_preset(mechanism: &str, tenants: u32, preset: &str) -> Option<NetConfig> {
        let p = tokenlab_models::faults::preset(preset)?;
        Some(NetConfig {
            network: p.network,
            nemesis: p.nemesis,
            ..NetConfig::new(mechanism, tenants, 0.0)
        })
    }

    /// The simulator's scenario for the same world (no Poisson workload: demands are
    /// scripted or driven by the caller).
    pub fn scenario(&self) -> Scenario {
        Scenario {
            mechanism: self.mechanism.clone(),
            sets: self.sets.clone(),
            preset: String::new(),
            tenants: self.tenants,
            duration_s: self.duration_s,
            demands_per_tenant_hour: 0.0,
            seed: self.seed,
            network: self.network.clone(),
            nemesis: self.nemesis.clone(),
            admin: self.admin.clone(),
            provision_at_s: self.provision_at_s,
            demands: self.demands.clone(),
        }
    }
}

/// Why a world could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    #[error("binding a loopback listener: {0}")]
    Bind(#[from] std::io::Error),
    #[error("fetching the platform's published key set: {0}")]
    Jwks(String),
}

/// How one demand ended, from its `Complete` record.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct DemandResult {
    pub demand: DemandId,
    pub outcome: Outcome,
    pub cold: bool,
    /// From the cache miss to a token in hand, in µs (0 on a hit).
    pub token_latency: Option<Micros>,
}

impl DemandResult {
    /// A demand that found no partner to serve it (crashed).
    fn unknown(demand: DemandId) -> DemandResult {
        DemandResult {
            demand,
            outcome: Outcome::Unknown,
            cold: false,
            token_latency: None,
        }
    }
}

/// Virtual time: a monotonic clock plus an offset that only ever grows.
struct Clock {
    origin: Instant,
    offset: AtomicI64,
}

impl Clock {
    fn now(&self) -> Micros {
        self.offset.load(AtomicOrdering::SeqCst) + self.origin.elapsed().as_micros() as Micros
    }
    /// Moves virtual time forward to `t` (never back).
    fn jump_to(&self, t: Micros) {
        let elapsed = self.origin.elapsed().as_micros() as Micros;
        self.offset.fetch_max(t - elapsed, AtomicOrdering::SeqCst);
    }
}

enum Scheduled {
    Timer(RoleKind, TimerId),
    Step(Step),
    /// A request leaves on a socket after `delay`; `edge`: the receiver's edge answers it.
    Request {
        env: Envelope,
        delay: Micros,
        edge: Option<u16>,
    },
    /// An answer goes back on the connection that carried its request, after `delay`.
    Reply(Reply),
}

struct Queued {
    at: Micros,
    seq: u64,
    what: Scheduled,
}
impl PartialEq for Queued {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Queued {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (o.at, o.seq).cmp(&(self.at, self.seq))
    }
}

/// A response on its way back to the HTTP connection that carried the request.
struct Reply {
    env: Envelope,
    delay: Micros,
}

/// Driver state; locked only while the world is locked (one lock order: world, then state).
struct DriverState {
    queue: BinaryHeap<Queued>,
    seq: u64,
    /// Inbound HTTP requests waiting for the role's answer, by request id.
    awaiting_reply: HashMap<MsgId, oneshot::Sender<Option<Reply>>>,
    /// Outgoing requests in flight, so a role's cancel closes the connection.
    outgoing: HashMap<MsgId, tokio::task::AbortHandle>,
    /// Edge-answered requests: the answer the core decided and its return delay (None while
    /// undecided, or when the answer is lost on the way back).
    edge_replies: HashMap<MsgId, Option<Reply>>,
    demand_waiters: HashMap<DemandId, oneshot::Sender<DemandResult>>,
    /// How far the history has been scanned for completed demands.
    seen_records: usize,
}

struct Shared {
    clock: Clock,
    world: Mutex<World>,
    state: Mutex<DriverState>,
    wake: Notify,
    in_flight: AtomicU64,
    next_demand: AtomicU64,
    addrs: BTreeMap<Party, SocketAddr>,
    client: HttpClient,
    /// Jump over idle stretches after t = 0 too (scripted runs), not only in provisioning.
    fast_forward: bool,
    /// Nothing scheduled after this virtual time fires (`run_until`).
    halt_at: AtomicI64,
    /// Where the store requests go (external store backend), if anywhere.
    pg_store: Option<Arc<crate::store_pg::PgStore>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere must not wedge the world: the data is plain state.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running loopback world. Dropping it stops its servers and tasks.
pub struct LoopbackWorld {
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
    /// The URL of the platform's published FIT key set.
    pub jwks_url: String,
    pub mechanism: &'static dyn Mechanism,
    pub params: Params,
    pub tenants: u32,
}

struct InFlight(Arc<Shared>);
impl InFlight {
    fn new(s: &Arc<Shared>) -> InFlight {
        s.in_flight.fetch_add(1, AtomicOrdering::SeqCst);
        InFlight(s.clone())
    }
}
impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, AtomicOrdering::SeqCst);
    }
}

impl Shared {
    fn schedule(&self, st: &mut DriverState, at: Micros, what: Scheduled) {
        st.seq += 1;
        st.queue.push(Queued {
            at,
            seq: st.seq,
            what,
        });
        self.wake.notify_one();
    }

    /// Runs `f` on the world at the clock's now, then enacts what it asked for.
    fn with_world<R>(self: &Arc<Self>, f: impl FnOnce(&mut World, Micros) -> R) -> R {
        let mut world = lock(&self.world);
        let now = self.clock.now();
        let r = f(&mut world, now);
        self.enact(&mut world, now);
        r
    }

    /// Enacts the world's actions on sockets and timers, and answers finished demands.
    fn enact(self: &Arc<Self>, world: &mut World, now: Micros) {
        let actions = world.take_actions();
        let mut st = lock(&self.state);
        let records = &world.history().records;
        for r in &records[st.seen_records.min(records.len())..] {
            if let Event::Complete {
                demand,
                outcome,
                cold,
                token_latency,
                ..
            } = &r.event
                && let Some(w) = st.demand_waiters.remove(demand)
            {
                let _ = w.send(DemandResult {
                    demand: *demand,
                    outcome: *outcome,
                    cold: *cold,
                    token_latency: *token_latency,
                });
            }
        }
        st.seen_records = records.len();
        for a in actions {
            match a {
                Action::Timer { at, role, id } => {
                    self.schedule(&mut st, at, Scheduled::Timer(role, id))
                }
                Action::Cancel(id) => {
                    // Closing the connection is how an HTTP client gives up.
                    if let Some(h) = st.outgoing.remove(&id) {
                        h.abort();
                    }
                }
                Action::Deliver {
                    depart, at, env, ..
                } if env.is_request() => {
                    let what = Scheduled::Request {
                        env,
                        delay: at - depart,
                        edge: None,
                    };
                    self.depart(world, &mut st, now, depart, what);
                }
                Action::Deliver {
                    depart, at, env, ..
                } => {
                    let reply = Reply {
                        env,
                        delay: at - depart,
                    };
                    let slot = reply.env.cause.and_then(|c| st.edge_replies.get_mut(&c));
                    match slot {
                        Some(slot) => *slot = Some(reply),
                        None => self.depart(world, &mut st, now, depart, Scheduled::Reply(reply)),
                    }
                }
                Action::EdgeAnswer {
                    depart,
                    at,
                    env,
                    status,
                } => {
                    st.edge_replies.insert(env.id, None);
                    let what = Scheduled::Request {
                        env,
                        delay: at - depart,
                        edge: Some(status),
                    };
                    self.depart(world, &mut st, now, depart, what);
                }
                Action::Lost {
                    is_request: false,
                    cause: Some(cause),
                    ..
                } => {
                    // A lost answer is never given: the requester's timeout closes the
                    // connection (an edge answer stays undecided, to the same effect).
                    if let Some(tx) = st.awaiting_reply.remove(&cause) {
                        let _ = tx.send(None);
                    }
                }
                // A lost request is simply never sent.
                Action::Lost { .. } => {}
                Action::Store(req) => self.store_request(req),
            }
        }
    }

    /// Hands a store request to PostgreSQL (in the core's order: writes are queued there as
    /// they come) and feeds the answer back into the world when it arrives.
    fn store_request(self: &Arc<Self>, req: StoreRequest) {
        let Some(pg) = &self.pg_store else {
            return; // the external backend is only ever set together with a store
        };
        let ticket = match &req {
            StoreRequest::Write { ticket, .. } | StoreRequest::Read { ticket, .. } => *ticket,
            StoreRequest::ClearTokens => 0,
        };
        if let Some(answer) = pg.submit(req) {
            let guard = InFlight::new(self);
            let shared = self.clone();
            tokio::spawn(async move {
                let _guard = guard;
                if let Ok(reply) = answer.await {
                    shared.with_world(|w, now| w.store_done(now, ticket, reply));
                }
            });
        }
    }

    /// Sends now what departs now; schedules the rest for its departure.
    fn depart(
        self: &Arc<Self>,
        world: &mut World,
        st: &mut DriverState,
        now: Micros,
        depart: Micros,
        what: Scheduled,
    ) {
        if depart <= now {
            self.leave(world, st, depart, what);
        } else {
            self.schedule(st, depart, what);
        }
    }

    /// A message leaves now: a request on a new connection, an answer on its request's.
    fn leave(
        self: &Arc<Self>,
        world: &mut World,
        st: &mut DriverState,
        depart: Micros,
        what: Scheduled,
    ) {
        match what {
            Scheduled::Request { env, delay, edge } => {
                self.send_request(world, st, env, delay, edge)
            }
            Scheduled::Reply(reply) => {
                match reply.env.cause.and_then(|c| st.awaiting_reply.remove(&c)) {
                    Some(tx) => {
                        let _ = tx.send(Some(reply));
                    }
                    None => world.requester_gone(depart, reply.env.id),
                }
            }
            Scheduled::Timer(..) | Scheduled::Step(_) => unreachable!("only messages depart"),
        }
    }

    /// One HTTP exchange from a spawned task: wait out the link delay, send, deliver the answer.
    fn send_request(
        self: &Arc<Self>,
        world: &mut World,
        st: &mut DriverState,
        env: Envelope,
        delay: Micros,
        edge: Option<u16>,
    ) {
        let Some(addr) = self.addrs.get(&env.to).copied() else {
            world.record(
                self.clock.now(),
                Event::Fault {
                    kind: FaultKind::NoListener,
                    detail: format!("{} has no listener", env.to),
                },
            );
            return;
        };
        let guard = InFlight::new(self);
        let shared = self.clone();
        let id = env.id;
        let task = tokio::spawn(async move {
            let _guard = guard;
            precise_sleep(Duration::from_micros(delay.max(0) as u64)).await;
            let req = wire::encode_request(&env, &addr.to_string(), edge);
            let exchange = shared.client.request(req).await;
            lock(&shared.state).outgoing.remove(&id);
            if edge.is_some() {
                // The edge answered on the wire; the answer the core decided travels back.
                let reply = lock(&shared.state).edge_replies.remove(&id).flatten();
                if let (Ok(_), Some(Reply { env, delay })) = (&exchange, reply) {
                    precise_sleep(Duration::from_micros(delay.max(0) as u64)).await;
                    shared.deliver(env);
                }
                return;
            }
            let answer = match exchange {
                Ok(resp) => {
                    let (parts, body) = resp.into_parts();
                    match body.collect().await {
                        Ok(b) => wire::decode_response(
                            &env,
                            parts.status.as_u16(),
                            &parts.headers,
                            &b.to_bytes(),
                            || lock(&shared.world).next_msg_id(),
                        )
                        .map_err(|e| e.to_string()),
                        Err(e) => Err(format!("reading the body: {e}")),
                    }
                }
                Err(e) => Err(format!("connection: {e}")),
            };
            match answer {
                Ok(resp) => shared.deliver(resp),
                Err(detail) => shared.with_world(|w, now| {
                    w.record(
                        now,
                        Event::Fault {
                            kind: FaultKind::HttpExchangeFailed,
                            detail: format!("{id}: {detail}"),
                        },
                    )
                }),
            }
        });
        st.outgoing.insert(id, task.abort_handle());
    }

    /// A message arrives at its receiver (the core decides whether it is received).
    fn deliver(self: &Arc<Self>, env: Envelope) {
        let (id, is_request) = (env.id, env.is_request());
        self.with_world(|w, now| {
            if !w.arrive(now, env)
                && is_request
                && let Some(tx) = lock(&self.state).awaiting_reply.remove(&id)
            {
                let _ = tx.send(None);
            }
        });
    }

    /// Fires everything due. Runs under the world lock, so provisioning sees a consistent world.
    fn fire_due(self: &Arc<Self>) {
        let mut world = lock(&self.world);
        loop {
            let now = self.clock.now();
            let q = {
                let mut st = lock(&self.state);
                let halt = self.halt_at.load(AtomicOrdering::SeqCst);
                match st.queue.peek() {
                    Some(q) if q.at <= now && q.at <= halt => st.queue.pop().expect("peeked"),
                    _ => return,
                }
            };
            match q.what {
                Scheduled::Timer(role, id) => world.fire_timer(now, role, id),
                Scheduled::Step(step) => world.step(now, step),
                what => {
                    let mut st = lock(&self.state);
                    self.leave(&mut world, &mut st, q.at, what);
                }
            }
            self.enact(&mut world, now);
        }
    }

    /// Jumps the clock to `t` when nothing is on the wire (under the world lock, so nothing
    /// starts meanwhile). Returns whether it jumped.
    fn jump_if_idle(&self, t: Micros) -> bool {
        let _world = lock(&self.world);
        if self.in_flight.load(AtomicOrdering::SeqCst) > 0 || self.clock.now() >= t {
            return false;
        }
        self.clock.jump_to(t);
        true
    }

    fn base_url(&self, p: Party) -> Option<String> {
        self.addrs.get(&p).map(|a| format!("http://{a}"))
    }
}

/// The driver owns real time (the models never read it): the one place the wall clock enters.
#[allow(clippy::disallowed_methods)]
fn monotonic_now() -> Instant {
    Instant::now()
}

/// The wall clock as a Unix time (s), for `serve`'s epoch: virtual time 0 is this instant,
/// so the tokens a stock client gets carry real `iat`/`exp`. Only the driver reads it.
#[allow(clippy::disallowed_methods)]
pub fn wall_clock_unix_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Sleeps for `d` with sub-millisecond precision. tokio's timer has 1 ms granularity, which
/// would add up to a millisecond per hop, so the last stretch (at most 2 ms) is an OS sleep
/// on the blocking pool: precise to the kernel's timer slack, and it burns no CPU on a
/// shared machine the way a spin would. Cancelling it leaves at most 2 ms of a pool thread.
pub async fn precise_sleep(d: Duration) {
    if d.is_zero() {
        return;
    }
    let deadline = monotonic_now() + d;
    const FINE: Duration = Duration::from_millis(2);
    if d > FINE {
        tokio::time::sleep(d - FINE).await;
    }
    let rest = deadline.saturating_duration_since(monotonic_now());
    if !rest.is_zero() {
        let _ = tokio::task::spawn_blocking(move || std::thread::sleep(rest)).await;
    }
}

async fn run_scheduler(shared: Arc<Shared>) {
    loop {
        let notified = shared.wake.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let halt = shared.halt_at.load(AtomicOrdering::SeqCst);
        let next = lock(&shared.state)
            .queue
            .peek()
            .map(|q| q.at)
            .filter(|at| *at <= halt);
        let now = shared.clock.now();
        let wake_at = match next {
            Some(at) if at <= now => {
                shared.fire_due();
                continue;
            }
            Some(at) => at,
            None if now < halt && halt < Micros::MAX => halt,
            None => {
                notified.await;
                continue;
            }
        };
        if shared.fast_forward && shared.jump_if_idle(wake_at) {
            continue;
        }
        // Fast-forwarding polls for the moment the world goes idle.
        let mut wait = (wake_at - now) as u64;
        if shared.fast_forward {
            wait = wait.min(1_000);
        }
        tokio::select! {
            _ = precise_sleep(Duration::from_micros(wait)) => {}
            _ = &mut notified => {}
        }
    }
}

/// Who an outside client without an `x-tokenlab-from` header stands for: the platform calling
/// the partner, a human's browser at the authorization pages, the partner's app elsewhere.
fn default_sender(to: Party, route: &str) -> Party {
    match to {
        Party::Partner(_) => Party::FORGE,
        _ if route.contains(" /authorize") => Party::Browser,
        _ => Party::APP,
    }
}

/// Any party's HTTP edge: decode, hand to the role, answer when the role answers.
async fn serve_party(
    State((shared, party)): State<(Arc<Shared>, Party)>,
    req: AxumRequest,
) -> http::Response<AxumBody> {
    let (parts, body) = req.into_parts();
    if let Some(v) = parts.headers.get(H_EDGE) {
        // An injected edge error: the receiver's load balancer answers, the role never sees it.
        let status = v
            .to_str()
            .ok()
            .and_then(|s| s.parse::<u16>().ok())
            .filter(|s| *s == 429 || (500..600).contains(s))
            .unwrap_or(503);
        let code = if status == 429 {
            "rate_limited"
        } else {
            "unavailable"
        };
        return wire::error_response(status, code, "injected edge error");
    }
    let bytes = match http_body_util::Limited::new(body, MAX_BODY_BYTES)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return wire::error_response(
                413,
                "invalid_request",
                &format!("the body is unreadable or larger than {MAX_BODY_BYTES} bytes"),
            );
        }
    };
    let decoded = wire::provenance(&parts.headers)
        .and_then(|p| wire::decode_request(&parts, &bytes).map(|r| (p, r)));
    let (prov, request) = match decoded {
        Ok(x) => x,
        Err(e) => return wire::error_response(400, "invalid_request", &e.to_string()),
    };
    let external = prov.id.is_none();
    // Only a client outside the driver gets pages; the driver's own browser reads JSON.
    let rendering = if external {
        wire::Rendering::for_request(&parts.headers, request.tenant)
    } else {
        wire::Rendering::default()
    };
    let (tx, rx) = oneshot::channel();
    let env = {
        let mut world = lock(&shared.world);
        let mut st = lock(&shared.state);
        let id = match prov.id {
            Some(id) => id,
            None => world.next_msg_id(),
        };
        if st.awaiting_reply.contains_key(&id) {
            return wire::error_response(409, "invalid_request", "this message id is in use");
        }
        st.awaiting_reply.insert(id, tx);
        let env = Envelope {
            id,
            from: prov.from.unwrap_or(default_sender(party, request.route)),
            to: party,
            cause: prov.cause,
            body: tokenlab_models::message::Body::Request(request),
        };
        if external {
            // Nobody in the driver sent it: record its sending so the history is complete.
            world.record(
                shared.clock.now(),
                Event::Send {
                    env: Arc::new(env.clone()),
                },
            );
        }
        env
    };
    let id = env.id;
    let _guard = InFlight::new(&shared);
    shared.deliver(env);
    let answer = if external {
        // A client outside the driver never waits forever, whatever the role does.
        match tokio::time::timeout(EXTERNAL_ANSWER_LIMIT, rx).await {
            Ok(a) => a,
            Err(_) => {
                lock(&shared.state).awaiting_reply.remove(&id);
                return wire::error_response(504, "timeout", "the role did not answer in time");
            }
        }
    } else {
        rx.await
    };
    match answer {
        Ok(Some(Reply { env, delay })) => {
            precise_sleep(Duration::from_micros(delay.max(0) as u64)).await;
            let now = shared.clock.now();
            // A client outside the driver is sent back to the redirect URI it registered
            // (RFC 6749 §4.1.2), the one `serve` prints; the driver's own browser goes on
            // to the loopback partner that serves that callback.
            let locate = |p: Party| match p {
                Party::Partner(PartnerEndpoint::OAuth) if external => {
                    Some(registered_redirect_origin().to_owned())
                }
                _ => shared.base_url(p),
            };
            wire::encode_response(&env, now, locate, rendering)
        }
        // Lost on the link: never answered; the requester's timeout closes the connection.
        Ok(None) if !external => std::future::pending().await,
        Ok(None) => wire::error_response(504, "timeout", "the answer was lost (injected fault)"),
        Err(_) => wire::error_response(503, "unavailable", "the world is shutting down"),
    }
}

/// The origin of the partner's registered redirect URI (`https://partner.example`).
fn registered_redirect_origin() -> &'static str {
    use tokenlab_models::mechanisms::upm_oauth::REDIRECT_URI;
    let after_scheme = REDIRECT_URI.find("://").map_or(0, |i| i + 3);
    let end = REDIRECT_URI[after_scheme..]
        .find('/')
        .map_or(REDIRECT_URI.len(), |i| after_scheme + i);
    &REDIRECT_URI[..end]
}

/// How long a request from outside the driver may wait for its answer.
const EXTERNAL_ANSWER_LIMIT: Duration = Duration::from_secs(30);

/// The platform's FIT verification key as a JWK set (RFC 8037 OKP).
fn jwks_json(keys: &PlatformKeys) -> String {
    use base64::Engine;
    let x = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(keys.fit_public_bytes());
    serde_json::json!({
        "keys": [{ "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": "fit-1", "x": x }]
    })
    .to_string()
}

/// The partner's side of key publication: fetch the set over HTTP, build the verifier.
async fn fetch_fit_verifier(client: &HttpClient, url: &str) -> Result<FitVerifier, StartError> {
    let err = |e: String| StartError::Jwks(e);
    let req = http::Request::get(url)
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .map_err(|e| err(e.to_string()))?;
    let resp = client.request(req).await.map_err(|e| err(e.to_string()))?;
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| err(e.to_string()))?
        .to_bytes();
    let set: jsonwebtoken::jwk::JwkSet =
        serde_json::from_slice(&body).map_err(|e| err(e.to_string()))?;
    let jwk = set
        .find("fit-1")
        .ok_or_else(|| err("no key 'fit-1' in the set".into()))?;
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).map_err(|e| err(e.to_string()))?;
    Ok(FitVerifier::from_decoding_key(key))
}

async fn bind_loopback() -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(("127.0.0.1", 0)).await
}

impl LoopbackWorld {
    /// Builds the world, provisions every tenant on the schedule (fault-free before t = 0, as
    /// in the simulator) and runs up to t = 0. Must run inside a multi-threaded tokio runtime.
    pub async fn start(cfg: &NetConfig) -> Result<LoopbackWorld, StartError> {
        let (mechanism, _profile, params) = resolve(&cfg.mechanism, &cfg.sets)?;
        // Nothing leaves 127.0.0.1, stand-ins included.
        if let Some((p, addr)) = cfg.external.iter().find(|(_, a)| !a.ip().is_loopback()) {
            return Err(StartError::Bind(std::io::Error::other(format!(
                "{p} must be on loopback, not {addr}"
            ))));
        }
        let mut tasks = Vec::new();

        // The platform publishes its FIT key set; the partner fetches it.
        let keys = platform_keys(cfg.seed);
        let jwks_listener = bind_loopback().await?;
        let jwks_url = format!(
            "http://{}/.well-known/jwks.json",
            jwks_listener.local_addr()?
        );
        let jwks = jwks_json(&keys);
        let router = axum::Router::new().route(
            "/.well-known/jwks.json",
            axum::routing::get(move || {
                let jwks = jwks.clone();
                async move { ([("content-type", "application/json")], jwks) }
            }),
        );
        tasks.push(tokio::spawn(async move {
            let _ = axum::serve(jwks_listener, router).await;
        }));
        let client = new_client();
        let fit = fetch_fit_verifier(&client, &jwks_url).await?;

        let scenario = cfg.scenario();
        let (mut world, schedule) =
            World::build(&scenario, mechanism, &params, cfg.plan.as_ref(), Some(fit));
        if let Some(e) = cfg.epoch_s {
            world.set_epoch(tokenlab_models::token::Epoch(e));
        }
        if cfg.pg_store.is_some() {
            world.set_store_backend(Backend::External);
        }

        let mut listeners = Vec::new();
        let mut addrs = BTreeMap::new();
        for p in wire::PARTIES {
            if p == Party::Browser || (p == Party::Attacker && cfg.plan.is_none()) {
                continue; // the admin's browser only ever receives answers
            }
            if let Some(addr) = cfg.external.get(&p) {
                addrs.insert(p, *addr);
                continue;
            }
            let l = bind_loopback().await?;
            addrs.insert(p, l.local_addr()?);
            listeners.push((p, l));
        }
        let scripted = schedule
            .iter()
            .filter_map(|(_, s)| match s {
                Step::Demand(d, _) => Some(d.0),
                _ => None,
            })
            .max()
            .unwrap_or(0);
        let shared = Arc::new(Shared {
            clock: Clock {
                origin: monotonic_now(),
                offset: AtomicI64::new(SETUP_START),
            },
            world: Mutex::new(world),
            state: Mutex::new(DriverState {
                queue: BinaryHeap::new(),
                seq: 0,
                awaiting_reply: HashMap::new(),
                outgoing: HashMap::new(),
                edge_replies: HashMap::new(),
                demand_waiters: HashMap::new(),
                seen_records: 0,
            }),
            wake: Notify::new(),
            in_flight: AtomicU64::new(0),
            next_demand: AtomicU64::new(scripted),
            addrs,
            client,
            fast_forward: cfg.fast_forward,
            halt_at: AtomicI64::new(Micros::MAX),
            pg_store: cfg.pg_store.clone(),
        });
        {
            let mut st = lock(&shared.state);
            for (at, step) in schedule {
                shared.schedule(&mut st, at, Scheduled::Step(step));
            }
        }
        for (p, l) in listeners {
            let router = axum::Router::new()
                .fallback(serve_party)
                .with_state((shared.clone(), p));
            tasks.push(tokio::spawn(async move {
                let _ = axum::serve(l, router).await;
            }));
        }
        tasks.push(tokio::spawn(run_scheduler(shared.clone())));
        let world = LoopbackWorld {
            shared,
            tasks,
            jwks_url,
            mechanism,
            params,
            tenants: cfg.tenants,
        };
        world.provision().await;
        Ok(world)
    }

    /// Runs the schedule up to t = 0. Time jumps over idle stretches (install spacing,
    /// consent delays, modelled costs) while nothing is on the wire, then to t = 0.
    async fn provision(&self) {
        let s = &self.shared;
        loop {
            tokio::time::sleep(Duration::from_millis(1)).await;
            let _world = lock(&s.world);
            let st = lock(&s.state);
            if s.in_flight.load(AtomicOrdering::SeqCst) > 0 {
                continue;
            }
            match st.queue.peek().map(|q| q.at) {
                Some(at) if at < 0 => {
                    s.clock.jump_to(at);
                    s.wake.notify_one();
                }
                _ => break,
            }
        }
        s.clock.jump_to(0);
        // `Start`, and whatever else the schedule has at t = 0, before the first demand.
        s.fire_due();
    }

    /// Virtual now (µs; 0 = `Start`).
    pub fn now(&self) -> Micros {
        self.shared.clock.now()
    }

    /// P.app needs a token for `tenant` and then makes one product-API call: the
    /// simulator's demand, answered when its `Complete` record is written.
    pub async fn demand(&self, tenant: TenantId) -> DemandResult {
        let s = &self.shared;
        let demand = DemandId(s.next_demand.fetch_add(1, AtomicOrdering::SeqCst) + 1);
        let (tx, rx) = oneshot::channel();
        let served = s.with_world(|w, now| {
            // As in the simulator: a crashed partner has no P.app to need a token.
            let up = !w.is_down(RoleKind::Partner, now);
            if up {
                lock(&s.state).demand_waiters.insert(demand, tx);
            }
            w.step(now, Step::Demand(demand, tenant));
            up
        });
        if !served {
            return DemandResult::unknown(demand);
        }
        rx.await.unwrap_or(DemandResult::unknown(demand))
    }

    /// Runs the schedule up to virtual time `t` (nothing later fires) and waits until the
    /// clock has passed it with nothing on the wire, or `limit` passes. Returns whether it got
    /// there. With `fast_forward` idle stretches take no real time.
    pub async fn run_until(&self, t: Micros, limit: Duration) -> bool {
        let s = &self.shared;
        s.halt_at.store(t, AtomicOrdering::SeqCst);
        s.wake.notify_one();
        let deadline = monotonic_now() + limit;
        loop {
            tokio::time::sleep(Duration::from_millis(2)).await;
            let done = {
                let _world = lock(&s.world);
                s.clock.now() >= t && s.in_flight.load(AtomicOrdering::SeqCst) == 0
            };
            if done {
                return true;
            }
            if monotonic_now() > deadline {
                return false;
            }
        }
    }

    /// Demands that found the partner down (nothing recorded, as in the simulator).
    pub fn skipped_partner_down(&self) -> u64 {
        lock(&self.shared.world).skipped_partner_down()
    }

    /// An admin action (uninstall, revoke, install) through the browser and the UPM.
    pub fn admin(&self, action: AdminAction) {
        self.shared
            .with_world(|w, now| w.step(now, Step::Admin(action)));
    }

    /// Empties the partner's token cache now, so the next demand is a cold miss (what `Start`
    /// does at t=0; used to measure cold acquisitions repeatedly).
    pub fn clear_token_cache(&self) {
        let now = self.now();
        lock(&self.shared.world).partner.store.clear_tokens(now);
    }

    /// The URL of a party's listener.
    pub fn url(&self, p: Party) -> Option<String> {
        self.shared.base_url(p)
    }

    /// Every listener: party and base URL.
    pub fn endpoints(&self) -> Vec<(Party, String)> {
        self.shared
            .addrs
            .iter()
            .map(|(p, a)| (*p, format!("http://{a}")))
            .collect()
    }

    /// What provisioning delivered to the partner for `tenant` and the partner keeps in its
    /// store (refresh token, client secret, trigger URL, shared secret…): the credentials a
    /// partner would configure its own client with. Values are secrets: never log them.
    pub fn partner_credentials(&self, tenant: TenantId) -> Vec<(&'static str, Value)> {
        let row = lock(&self.shared.world).partner.store.latest(tenant);
        row.items.iter().map(|(k, v)| (*k, v.clone())).collect()
    }

    /// The history so far, ordered by time, in the simulator's format.
    pub fn history(&self) -> History {
        lock(&self.shared.world).history_sorted()
    }

    /// Ends every open demand as unknown (the simulator's hard stop) and returns the history.
    pub fn finish(&self) -> History {
        self.shared.with_world(|w, now| w.abandon_all(now));
        self.history()
    }
}

impl Drop for LoopbackWorld {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}
