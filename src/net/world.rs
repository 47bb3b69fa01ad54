//! A world on loopback: the partner, platform and admin roles of one mechanism, the very
//! state machines the simulator runs, each endpoint an axum service on `127.0.0.1:0`, talking
//! real HTTP through a hyper-util client.
//!
//! What the driver owns, and the simulator owns in virtual time instead:
//! - time: virtual `now` is a monotonic clock plus an offset. Provisioning starts at
//!   [`SETUP_START`] and, whenever nothing is in flight, jumps to the next timer (the
//!   simulator's provisioning is fault-free and instantaneous in effect); at the end it jumps
//!   to t=0 and `Start` is delivered. From then on one virtual µs is one real µs.
//! - timers and departures: a scheduler task fires them when the clock reaches them, so a
//!   role's modelled local costs (mint, store) delay its messages exactly as in the simulator.
//! - the network: the same [`NetworkProfile`] decisions from the same per-link RNG streams,
//!   enacted for real: latency is a sleep before the bytes leave, a lost request is never
//!   sent, a lost response is never answered (the requester's own timeout closes the
//!   connection), an edge 5xx/429 is answered by the receiver's HTTP edge without reaching the
//!   role, and a partition drops everything between two groups during its window.
//! - the history, in the simulator's format.
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
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokenlab_models::faults::{Fate, Nemesis, NetworkProfile, secs};
use tokenlab_models::history::{DropReason, Event, History, Outcome};
use tokenlab_models::ids::{DemandId, Group, IdGen, MsgId, Party, RoleKind, TenantId, TimerId};
use tokenlab_models::mechanisms::{Mechanism, ResolveError, SharedConfig, resolve};
use tokenlab_models::message::{Envelope, Value};
use tokenlab_models::params::Params;
use tokenlab_models::roles::admin::Admin;
use tokenlab_models::roles::partner::Partner;
use tokenlab_models::roles::platform::Platform;
use tokenlab_models::roles::store::Store;
use tokenlab_models::roles::{AdminAction, Effects, Input, Outgoing, Role};
use tokenlab_models::sim::SETUP_START;
use tokenlab_models::token::{FitVerifier, PlatformKeys};
use tokenlab_models::{MS, Micros};
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;

/// What a loopback world is built from: the simulator's scenario vocabulary, minus the
/// workload (demands are driven by the caller, one at a time or concurrently).
#[derive(Clone, Debug)]
pub struct NetConfig {
    /// `ID[:PROFILE]`.
    pub mechanism: String,
    pub sets: Vec<String>,
    pub tenants: u32,
    pub seed: u64,
    pub network: NetworkProfile,
    pub nemesis: Vec<Nemesis>,
    /// Parties served by something outside the world (a wiremock server standing in for a
    /// partner endpoint in contract tests): requests to them go to this loopback address.
    pub external: BTreeMap<Party, SocketAddr>,
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
            external: BTreeMap::new(),
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
    Transmit(Envelope),
    CrashStart(RoleKind, bool, Micros),
    CrashEnd(RoleKind),
    DeployReset,
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

struct Roles {
    partner: Partner,
    platform: Platform,
    admin: Admin,
}

/// Driver state; locked only while `Roles` is locked (one lock order: roles, then state).
struct DriverState {
    history: History,
    queue: BinaryHeap<Queued>,
    seq: u64,
    /// Inbound HTTP requests waiting for the role's answer, by request id.
    awaiting_reply: HashMap<MsgId, oneshot::Sender<Option<Reply>>>,
    /// Outgoing requests in flight, so a role's cancel closes the connection.
    outgoing: HashMap<MsgId, tokio::task::AbortHandle>,
    cancelled: BTreeSet<MsgId>,
    demand_waiters: HashMap<DemandId, oneshot::Sender<DemandResult>>,
    link_rngs: BTreeMap<(Group, Group), ChaCha8Rng>,
    ids: IdGen,
    down: BTreeMap<RoleKind, Micros>,
}

struct Shared {
    clock: Clock,
    roles: Mutex<Roles>,
    state: Mutex<DriverState>,
    wake: Notify,
    in_flight: AtomicU64,
    next_demand: AtomicU64,
    addrs: BTreeMap<Party, SocketAddr>,
    client: HttpClient,
    network: NetworkProfile,
    partitions: Vec<(Group, Group, Micros, Micros)>,
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

    fn partitioned(&self, a: Group, b: Group, at: Micros) -> bool {
        self.partitions.iter().any(|(x, y, f, u)| {
            ((*x, *y) == (a, b) || (*x, *y) == (b, a)) && (*f..*u).contains(&at)
        })
    }

    /// Feeds one input to a role and applies its effects; the world is single-threaded in
    /// effect, like the simulator: one role handles one input at a time.
    fn handle(self: &Arc<Self>, role: RoleKind, input: Input) {
        let mut roles = lock(&self.roles);
        self.handle_locked(&mut roles, role, input);
    }

    fn handle_locked(self: &Arc<Self>, roles: &mut Roles, role: RoleKind, input: Input) {
        let now = self.clock.now();
        let mut out = Effects::default();
        match role {
            RoleKind::Partner => roles.partner.handle(now, input, &mut out),
            RoleKind::Platform => roles.platform.handle(now, input, &mut out),
            RoleKind::Admin => roles.admin.handle(now, input, &mut out),
            RoleKind::Attacker => {}
        }
        self.apply(role, now, out);
    }

    fn apply(self: &Arc<Self>, role: RoleKind, now: Micros, mut out: Effects) {
        let mut st = lock(&self.state);
        for r in &out.history {
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
        st.history.records.append(&mut out.history);
        for id in out.cancel.drain(..) {
            st.cancelled.insert(id);
            // Closing the connection is how an HTTP client gives up.
            if let Some(h) = st.outgoing.remove(&id) {
                h.abort();
            }
        }
        for (at, id) in out.timers.drain(..) {
            self.schedule(&mut st, at, Scheduled::Timer(role, id));
        }
        for Outgoing { depart, env } in std::mem::take(&mut out.send) {
            if depart <= now {
                self.transmit(&mut st, depart, env);
            } else {
                self.schedule(&mut st, depart, Scheduled::Transmit(env));
            }
        }
    }

    /// Puts a message on its link: the simulator's fault decisions, drawn in the same order
    /// from the same per-link streams, then enacted on real sockets.
    fn transmit(self: &Arc<Self>, st: &mut DriverState, depart: Micros, env: Envelope) {
        let (from, to) = (env.from.group(), env.to.group());
        let provisioning = depart < 0;
        let link = if provisioning {
            self.network.link(from, to).fault_free()
        } else {
            *self.network.link(from, to)
        };
        let env = Arc::new(env);
        st.history.push(depart, Event::Send { env: env.clone() });
        let env = Arc::unwrap_or_clone(env);
        let drop = |st: &mut DriverState, env: &Envelope, reason| {
            st.history.push(
                depart,
                Event::Drop {
                    msg: env.id,
                    reason,
                },
            );
            // A lost response is never answered: the requester's timeout closes the connection.
            if !env.is_request()
                && let Some(tx) = env.cause.and_then(|c| st.awaiting_reply.remove(&c))
            {
                let _ = tx.send(None);
            }
        };
        if !provisioning && self.partitioned(from, to, depart) {
            drop(st, &env, DropReason::Partition);
            return;
        }
        let rng = st
            .link_rngs
            .get_mut(&(from, to))
            .expect("a stream per link");
        let (delay, fate) = link.draw(rng, env.is_request());
        if fate == Fate::Lost {
            let reason = if env.is_request() {
                DropReason::LostRequest
            } else {
                DropReason::LostResponse
            };
            drop(st, &env, reason);
            return;
        }
        if env.is_request() {
            let status = match fate {
                Fate::Edge(status) => Some(status),
                _ => None,
            };
            if let Some(status) = status {
                st.history.push(
                    depart + delay,
                    Event::Fault {
                        kind: "http_error",
                        detail: format!("{status} for {}", env.id),
                    },
                );
            }
            self.send_request(st, env, delay, status);
        } else {
            match env.cause.and_then(|c| st.awaiting_reply.remove(&c)) {
                Some(tx) => {
                    let _ = tx.send(Some(Reply { env, delay }));
                }
                None => st.history.push(
                    depart,
                    Event::Drop {
                        msg: env.id,
                        reason: DropReason::RequesterGone,
                    },
                ),
            }
        }
    }

    /// One HTTP exchange from a spawned task: wait out the link delay, send, deliver the answer.
    fn send_request(
        self: &Arc<Self>,
        st: &mut DriverState,
        env: Envelope,
        delay: Micros,
        edge: Option<u16>,
    ) {
        let Some(addr) = self.addrs.get(&env.to).copied() else {
            st.history.push(
                self.clock.now(),
                Event::Fault {
                    kind: "no_listener",
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
            let answer = match shared.client.request(req).await {
                Ok(resp) => {
                    let (parts, body) = resp.into_parts();
                    match body.collect().await {
                        Ok(b) => wire::decode_response(
                            &env,
                            parts.status.as_u16(),
                            &parts.headers,
                            &b.to_bytes(),
                            || lock(&shared.state).ids.msg(),
                        )
                        .map_err(|e| e.to_string()),
                        Err(e) => Err(format!("reading the body: {e}")),
                    }
                }
                Err(e) => Err(format!("connection: {e}")),
            };
            lock(&shared.state).outgoing.remove(&id);
            match answer {
                Ok(resp) => shared.deliver(resp),
                Err(detail) => {
                    let now = shared.clock.now();
                    lock(&shared.state).history.push(
                        now,
                        Event::Fault {
                            kind: "http_exchange_failed",
                            detail: format!("{id}: {detail}"),
                        },
                    );
                }
            }
        });
        st.outgoing.insert(id, task.abort_handle());
    }

    /// A message arrives at its receiver.
    fn deliver(self: &Arc<Self>, env: Envelope) {
        let role = env.to.role();
        let mut roles = lock(&self.roles);
        let now = self.clock.now();
        {
            let mut st = lock(&self.state);
            if st.down.get(&role).is_some_and(|until| now < *until) {
                st.history.push(
                    now,
                    Event::Drop {
                        msg: env.id,
                        reason: DropReason::Crashed,
                    },
                );
                if let Some(tx) = st.awaiting_reply.remove(&env.id) {
                    let _ = tx.send(None);
                }
                return;
            }
            if !env.is_request()
                && let Some(c) = env.cause
                && st.cancelled.contains(&c)
            {
                st.history.push(
                    now,
                    Event::Drop {
                        msg: env.id,
                        reason: DropReason::RequesterGone,
                    },
                );
                return;
            }
            let env = Arc::new(env.clone());
            st.history.push(
                now,
                Event::Receive {
                    who: env.to,
                    env: env.clone(),
                },
            );
        }
        self.handle_locked(&mut roles, role, Input::Message(env));
    }

    /// Fires everything due. Runs under the roles lock, so provisioning sees a consistent world.
    fn fire_due(self: &Arc<Self>) {
        let mut roles = lock(&self.roles);
        loop {
            let now = self.clock.now();
            let q = {
                let mut st = lock(&self.state);
                match st.queue.peek() {
                    Some(q) if q.at <= now => st.queue.pop().expect("peeked"),
                    _ => return,
                }
            };
            match q.what {
                Scheduled::Timer(role, id) => {
                    let until = lock(&self.state).down.get(&role).copied();
                    match until {
                        Some(until) if now < until => {
                            // A role that is down fires its timers when it comes back.
                            let mut st = lock(&self.state);
                            self.schedule(&mut st, until, Scheduled::Timer(role, id));
                        }
                        _ => self.handle_locked(&mut roles, role, Input::Timer(id)),
                    }
                }
                Scheduled::Transmit(env) => {
                    let mut st = lock(&self.state);
                    self.transmit(&mut st, q.at, env);
                }
                Scheduled::CrashStart(role, lost_volatile, until) => {
                    {
                        let mut st = lock(&self.state);
                        st.history.push(
                            now,
                            Event::Fault {
                                kind: "crash",
                                detail: format!("{role:?}"),
                            },
                        );
                        st.down.insert(role, until);
                    }
                    // The memory is lost when the process dies, not when it comes back.
                    self.handle_locked(&mut roles, role, Input::Restart { lost_volatile });
                }
                Scheduled::CrashEnd(role) => {
                    let mut st = lock(&self.state);
                    st.down.remove(&role);
                    st.history.push(
                        now,
                        Event::Fault {
                            kind: "restart",
                            detail: format!("{role:?}"),
                        },
                    );
                }
                Scheduled::DeployReset => {
                    let mut out = Effects::default();
                    roles.platform.deploy_reset(now, &mut out);
                    self.apply(RoleKind::Platform, now, out);
                }
            }
        }
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
        let next = lock(&shared.state).queue.peek().map(|q| q.at);
        let now = shared.clock.now();
        match next {
            Some(at) if at <= now => shared.fire_due(),
            Some(at) => {
                tokio::select! {
                    _ = precise_sleep(Duration::from_micros((at - now) as u64)) => {}
                    _ = &mut notified => {}
                }
            }
            None => notified.await,
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
    let (tx, rx) = oneshot::channel();
    let env = {
        let mut st = lock(&shared.state);
        let id = match prov.id {
            Some(id) => id,
            None => st.ids.msg(),
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
            st.history.push(
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
            wire::encode_response(&env, now, |p| shared.base_url(p))
        }
        // Lost on the link: never answered; the requester's timeout closes the connection.
        Ok(None) if !external => std::future::pending().await,
        Ok(None) => wire::error_response(504, "timeout", "the answer was lost (injected fault)"),
        Err(_) => wire::error_response(503, "unavailable", "the world is shutting down"),
    }
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
    /// Builds the world, provisions every tenant (fault-free, as in the simulator) and
    /// delivers `Start` at t=0. Must run inside a multi-threaded tokio runtime.
    pub async fn start(cfg: &NetConfig) -> Result<LoopbackWorld, StartError> {
        let (mechanism, _profile, params) = resolve(&cfg.mechanism, &cfg.sets)?;
        // Nothing leaves 127.0.0.1, stand-ins included.
        if let Some((p, addr)) = cfg.external.iter().find(|(_, a)| !a.ip().is_loopback()) {
            return Err(StartError::Bind(std::io::Error::other(format!(
                "{p} must be on loopback, not {addr}"
            ))));
        }
        // The simulator's fork order, so the roles draw from the same streams.
        let mut master = ChaCha8Rng::seed_from_u64(cfg.seed);
        let keys = PlatformKeys::generate(&mut master.fork());
        let partner_rng = master.fork();
        let platform_rng = master.fork();
        let _workload_rng = master.fork();
        let mut net_master = master.fork();
        let mut link_rngs = BTreeMap::new();
        for a in Group::ALL {
            for b in Group::ALL {
                link_rngs.insert((a, b), net_master.fork());
            }
        }
        let mut tasks = Vec::new();

        // The platform publishes its FIT key set; the partner fetches it.
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

        let (partner_side, platform_side) = mechanism.build(&params);
        let shared = SharedConfig::from_params(&params);
        let store = Store::new(shared.store.clone());
        let mut roles = Roles {
            partner: Partner::new(partner_side, shared.partner, store, fit, partner_rng),
            platform: Platform::new(platform_side, shared.platform, keys, platform_rng),
            admin: Admin::new(shared.consent_delay),
        };

        let mut listeners = Vec::new();
        let mut addrs = BTreeMap::new();
        for p in wire::PARTIES {
            if p == Party::Browser {
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
        let mut partitions = Vec::new();
        let mut scheduled = Vec::new();
        for n in &cfg.nemesis {
            match *n {
                Nemesis::Partition {
                    a,
                    b,
                    from_s,
                    until_s,
                } => partitions.push((a, b, secs(from_s), secs(until_s))),
                Nemesis::Crash {
                    role,
                    from_s,
                    until_s,
                    lose_volatile,
                } => {
                    scheduled.push((
                        secs(from_s),
                        Scheduled::CrashStart(role.role(), lose_volatile, secs(until_s)),
                    ));
                    scheduled.push((secs(until_s), Scheduled::CrashEnd(role.role())));
                }
                Nemesis::ReplicaLagSpike {
                    extra_ms,
                    from_s,
                    until_s,
                } => roles.partner.store.add_lag_spike(
                    secs(from_s),
                    secs(until_s),
                    (extra_ms * MS as f64) as Micros,
                ),
                Nemesis::DeployReset { at_s } => {
                    scheduled.push((secs(at_s), Scheduled::DeployReset))
                }
            }
        }
        let shared = Arc::new(Shared {
            clock: Clock {
                origin: monotonic_now(),
                offset: AtomicI64::new(SETUP_START),
            },
            roles: Mutex::new(roles),
            state: Mutex::new(DriverState {
                history: History::default(),
                queue: BinaryHeap::new(),
                seq: 0,
                awaiting_reply: HashMap::new(),
                outgoing: HashMap::new(),
                cancelled: BTreeSet::new(),
                demand_waiters: HashMap::new(),
                link_rngs,
                ids: IdGen::new_sim(),
                down: BTreeMap::new(),
            }),
            wake: Notify::new(),
            in_flight: AtomicU64::new(0),
            next_demand: AtomicU64::new(0),
            addrs,
            client,
            network: cfg.network.clone(),
            partitions,
        });
        {
            let mut st = lock(&shared.state);
            for (at, what) in scheduled {
                shared.schedule(&mut st, at, what);
            }
            for n in &cfg.nemesis {
                st.history.push(
                    0,
                    Event::Fault {
                        kind: "nemesis",
                        detail: format!("{n:?}"),
                    },
                );
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

    /// Installs every tenant before t=0. Time jumps over idle stretches (consent delays,
    /// modelled costs) while nothing is on the wire, then to t=0, where `Start` arrives.
    async fn provision(&self) {
        let s = &self.shared;
        for i in 0..self.tenants {
            s.handle(RoleKind::Admin, Input::Admin(AdminAction::Install(i)));
        }
        loop {
            tokio::time::sleep(Duration::from_millis(1)).await;
            let _roles = lock(&s.roles);
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
        s.handle(RoleKind::Partner, Input::Start);
        s.handle(RoleKind::Platform, Input::Start);
        // Whatever the nemesis schedules at t=0 is in force before the first demand.
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
        {
            let mut st = lock(&s.state);
            if st
                .down
                .get(&RoleKind::Partner)
                .is_some_and(|until| s.clock.now() < *until)
            {
                // As in the simulator: a crashed partner has no P.app to need a token.
                drop(tx);
            } else {
                st.demand_waiters.insert(demand, tx);
            }
        }
        if !lock(&s.state).demand_waiters.contains_key(&demand) {
            return DemandResult {
                demand,
                outcome: Outcome::Unknown,
                cold: false,
                token_latency: None,
            };
        }
        s.handle(RoleKind::Partner, Input::Demand { demand, tenant });
        rx.await.unwrap_or(DemandResult {
            demand,
            outcome: Outcome::Unknown,
            cold: false,
            token_latency: None,
        })
    }

    /// An admin action (uninstall, revoke, install) through the browser and the UPM.
    pub fn admin(&self, action: AdminAction) {
        self.shared.handle(RoleKind::Admin, Input::Admin(action));
    }

    /// Empties the partner's token cache now, so the next demand is a cold miss (what `Start`
    /// does at t=0; used to measure cold acquisitions repeatedly).
    pub fn clear_token_cache(&self) {
        let now = self.now();
        lock(&self.shared.roles).partner.store.clear_tokens(now);
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
        let row = lock(&self.shared.roles).partner.store.latest(tenant);
        row.items.iter().map(|(k, v)| (*k, v.clone())).collect()
    }

    /// The history so far, ordered by time, in the simulator's format.
    pub fn history(&self) -> History {
        let mut h = lock(&self.shared.state).history.clone();
        h.records.sort_by_key(|r| r.t);
        h
    }

    /// Ends every open demand as unknown (the simulator's hard stop) and returns the history.
    pub fn finish(&self) -> History {
        let s = &self.shared;
        {
            let mut roles = lock(&s.roles);
            let now = s.clock.now();
            let mut out = Effects::default();
            roles.partner.abandon_all(now, &mut out);
            s.apply(RoleKind::Partner, now, out);
        }
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
