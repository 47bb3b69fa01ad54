//! The partner backend: P.app (demand-driven, token cache, the one retry policy shared by all
//! mechanisms, single-flight) and the partner endpoints a mechanism needs (P.auth, P.recv,
//! lifecycle hooks, the OAuth redirect), all hosting one [`PartnerSide`] of a mechanism and
//! one store.
//!
//! Retry policy (`mechanisms.md` §0): per-attempt timeout, exponential backoff with full
//! jitter U(0, min(cap, base·2ⁿ)), an attempt cap, a deadline per demand, and a re-read of
//! the cache before each retry.

use super::store::{CachedToken, Row, Store, StoreFailure};
use super::{Effects, Input, Outgoing, Role};
use crate::Micros;
use crate::history::{Cause, Event, LocalStep, Outcome};
use crate::ids::{DemandId, IdGen, MsgId, Party, RoleKind, TenantId, TimerId};
use crate::message::{Body, Envelope, Fields, Request, Response, Value};
use crate::params::{JwksFail, LogToken, ReadFrom, SenderConstraint};
use crate::secret::{Jwt, Secret};
use crate::token::{FitClaims, FitVerifier, JwtError};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::sync::Arc;

/// What P.app presents to the product API.
#[derive(Clone, Debug)]
pub enum Credential {
    /// A bearer access token T with its expiry.
    Bearer { jwt: Jwt, exp: Micros },
    /// A per-installation key P signs each request with (Connect's `sharedSecret`).
    SigningKey { secret: Secret },
}

/// A request a mechanism wants sent.
#[derive(Clone, Debug)]
pub struct OutRequest {
    pub to: Party,
    pub req: Request,
}

/// A change to one tenant's row.
pub type RowUpdate = Box<dyn FnOnce(&mut Row) + Send>;

/// How an acquisition attempt's response was judged.
pub enum AttemptResult {
    /// T in hand. `persist`, if any, is committed before T is used (rotated RT).
    Token {
        jwt: Jwt,
        exp: Micros,
        persist: Option<RowUpdate>,
    },
    /// The platform answered 2xx and T is in the store: read it back (trigger).
    ReadBack,
    Failed {
        cause: Cause,
        retry: bool,
    },
}

/// How a partner endpoint answers an inbound request.
pub enum Inbound {
    /// Optionally write `update` to `tenant`'s row (cost t_w; a failed write answers 500),
    /// then send `response` when the write commits.
    Reply {
        tenant: Option<TenantId>,
        update: Option<RowUpdate>,
        response: Response,
    },
    /// Acknowledge at once and commit `update` later, starting at `write_at` (a queued write:
    /// the ack no longer means "ready to be read").
    AckThenWrite {
        tenant: TenantId,
        update: RowUpdate,
        response: Response,
        write_at: Micros,
    },
    /// Make a nested call first; its response goes to [`PartnerSide::on_call_response`]
    /// with `tag`, which then decides the reply.
    Call { call: OutRequest, tag: u64 },
}

/// The mechanism-specific part of the partner.
pub trait PartnerSide: Send {
    /// A usable credential in a stored row. Default: the cached T, valid while
    /// `now < exp − margin` when `check_exp` is on.
    fn credential(
        &self,
        row: &Row,
        now: Micros,
        check_exp: bool,
        margin: Micros,
    ) -> Option<Credential> {
        let t = row.token.as_ref()?;
        (!check_exp || now < t.exp - margin).then(|| Credential::Bearer {
            jwt: t.jwt.clone(),
            exp: t.exp,
        })
    }
    /// The `authorization` value of an API call. Default: the bearer T.
    fn authorize(&self, _cx: &mut PartnerCx<'_>, cred: &Credential, _req: &Request) -> Value {
        match cred {
            Credential::Bearer { jwt, .. } => Value::Jwt(jwt.clone()),
            Credential::SigningKey { secret } => Value::Secret(secret.clone()),
        }
    }
    /// Starts one acquisition attempt for `tenant`, or says why there is no on-demand path.
    fn start_attempt(
        &mut self,
        cx: &mut PartnerCx<'_>,
        tenant: TenantId,
        row: &Row,
    ) -> Result<OutRequest, Cause>;
    /// Judges the response to an attempt.
    fn on_attempt_response(
        &mut self,
        cx: &mut PartnerCx<'_>,
        tenant: TenantId,
        resp: &Response,
    ) -> AttemptResult;
    /// An inbound request at a partner endpoint.
    fn on_inbound(&mut self, cx: &mut PartnerCx<'_>, env: &Envelope, req: &Request) -> Inbound;
    /// The response to a nested call made by [`Inbound::Call`] (`None`: it timed out).
    fn on_call_response(
        &mut self,
        _cx: &mut PartnerCx<'_>,
        _tag: u64,
        _resp: Option<&Response>,
    ) -> Inbound {
        Inbound::Reply {
            tenant: None,
            update: None,
            response: Response::error(500, "unexpected_call"),
        }
    }
    /// The process restarted and lost its memory.
    fn reset_volatile(&mut self) {}
    /// Whether cached tokens survive a restart (push `persist_cache=off` says no).
    fn persists_tokens(&self) -> bool {
        true
    }
    /// Where P.app reads its store (trigger's `read_from`).
    fn read_from(&self) -> ReadFrom {
        ReadFrom::Primary
    }
    /// Whether P's credentials are bound to its key (`sender_constraint`).
    fn sender_constraint(&self) -> SenderConstraint {
        SenderConstraint::None
    }
}

/// What a [`PartnerSide`] may use while handling an input.
pub struct PartnerCx<'a> {
    pub now: Micros,
    pub rng: &'a mut ChaCha8Rng,
    pub store: &'a Store,
    cfg: &'a PartnerConfig,
    fit: &'a FitVerifier,
    jwks_reachable: bool,
    out: &'a mut Effects,
}

/// Why a FIT was refused at a partner endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FitRefusal {
    Missing,
    Invalid(JwtError),
    JwksUnreachable,
}

impl PartnerCx<'_> {
    /// Verifies a FIT as P.auth / P.recv do, honouring `fit_check` and `jwks_fail`.
    /// Returns the claims (or, with the check switched off, `None` as "accepted unchecked").
    pub fn check_fit(&self, fit: Option<&Jwt>) -> Result<Option<FitClaims>, FitRefusal> {
        if !self.cfg.fit_check {
            return Ok(None);
        }
        if !self.jwks_reachable {
            return if self.cfg.jwks_fail == JwksFail::Open {
                Ok(None)
            } else {
                Err(FitRefusal::JwksUnreachable)
            };
        }
        let fit = fit.ok_or(FitRefusal::Missing)?;
        self.fit
            .verify(fit, self.now)
            .map(Some)
            .map_err(FitRefusal::Invalid)
    }
    /// The newest version of a tenant's row at the primary.
    pub fn row(&self, tenant: TenantId) -> Arc<Row> {
        self.store.latest(tenant)
    }
    pub fn record(&mut self, event: Event) {
        self.out.record(self.now, event);
    }
}

/// The partner's shared hygiene (`mechanisms.md` §0), resolved once per run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Per attempt, on every partner-initiated call (`timeout`).
    pub attempt_timeout: Option<Micros>,
    pub retries: u32,
    pub backoff_base: Micros,
    pub backoff_cap: Micros,
    /// Per demand; `None` where nothing bounds it.
    pub deadline: Option<Micros>,
    /// Re-read the cache before each retry (`reread_before_retry`).
    pub reread: bool,
    pub single_flight: bool,
    pub check_exp: bool,
    pub expiry_margin: Micros,
}

/// The partner's shared switches, typed (built by `mechanisms::SharedConfig::from_params`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartnerConfig {
    pub retry: RetryPolicy,
    /// P.auth / P.recv verify the FIT (`fit_check`; off is a mutant).
    pub fit_check: bool,
    pub jwks_fail: JwksFail,
    /// How far P's clock runs behind the platform's.
    pub clock_skew: Micros,
    pub log_token: LogToken,
}

struct Demand {
    tenant: TenantId,
    cold: bool,
    miss_at: Option<Micros>,
    token_latency: Option<Micros>,
}

enum AttemptState {
    Waiting { req: MsgId },
    Backoff,
    Busy,
}

struct Acquisition {
    tenant: TenantId,
    waiters: Vec<DemandId>,
    attempt: u32,
    state: AttemptState,
}

enum Pending {
    Attempt { acq: u64, attempt: u32 },
    Api { demand: DemandId },
    Call { inbound: Arc<Envelope>, tag: u64 },
}

enum Timer {
    LookupDone {
        demand: DemandId,
        cred: Option<Credential>,
        /// When the store read behind `cred` was taken.
        read_at: Micros,
    },
    AttemptTimeout {
        acq: u64,
        attempt: u32,
    },
    Deadline {
        acq: u64,
    },
    BackoffDone {
        acq: u64,
    },
    RereadDone {
        acq: u64,
        cred: Option<Credential>,
    },
    ReadBackDone {
        acq: u64,
        attempt: u32,
        cred: Option<Credential>,
        cause: Option<MsgId>,
    },
    PersistDone {
        acq: u64,
        attempt: u32,
        cred: Option<Credential>,
    },
    ApiTimeout {
        demand: DemandId,
        req: MsgId,
    },
    CallTimeout {
        req: MsgId,
    },
}

/// The partner role.
pub struct Partner {
    side: Box<dyn PartnerSide>,
    cfg: PartnerConfig,
    policy: RetryPolicy,
    read_from_replica: bool,
    sender_constraint: SenderConstraint,
    pub store: Store,
    fit: FitVerifier,
    jwks_reachable: bool,
    rng: ChaCha8Rng,
    ids: IdGen,
    demands: BTreeMap<DemandId, Demand>,
    acqs: BTreeMap<u64, Acquisition>,
    next_acq: u64,
    inflight: BTreeMap<TenantId, u64>,
    pending: BTreeMap<MsgId, Pending>,
    timers: BTreeMap<TimerId, Timer>,
}

impl Partner {
    pub fn new(
        side: Box<dyn PartnerSide>,
        cfg: PartnerConfig,
        store: Store,
        fit: FitVerifier,
        rng: ChaCha8Rng,
    ) -> Partner {
        Partner {
            policy: cfg.retry,
            read_from_replica: side.read_from() == ReadFrom::Replica,
            sender_constraint: side.sender_constraint(),
            side,
            cfg,
            store,
            fit,
            jwks_reachable: true,
            rng,
            ids: IdGen::new(RoleKind::Partner),
            demands: BTreeMap::new(),
            acqs: BTreeMap::new(),
            next_acq: 0,
            inflight: BTreeMap::new(),
            pending: BTreeMap::new(),
            timers: BTreeMap::new(),
        }
    }

    /// The JWKS nemesis: while unreachable, FIT checks fail closed (or open, the mutant).
    pub fn set_jwks_reachable(&mut self, reachable: bool) {
        self.jwks_reachable = reachable;
    }

    fn timer(&mut self, out: &mut Effects, at: Micros, t: Timer) {
        let id = self.ids.timer();
        self.timers.insert(id, t);
        out.timers.push((at, id));
    }

    fn send(
        &mut self,
        out: &mut Effects,
        depart: Micros,
        from: Party,
        r: OutRequest,
        cause: Option<MsgId>,
    ) -> MsgId {
        let id = self.ids.msg();
        out.send.push(Outgoing {
            depart,
            env: Envelope {
                id,
                from,
                to: r.to,
                cause,
                body: Body::Request(r.req),
            },
        });
        id
    }

    /// Runs `f` with a context over this role's state (split borrows).
    fn with_side<T>(
        &mut self,
        now: Micros,
        out: &mut Effects,
        f: impl FnOnce(&mut dyn PartnerSide, &mut PartnerCx<'_>) -> T,
    ) -> T {
        let mut cx = PartnerCx {
            now,
            rng: &mut self.rng,
            store: &self.store,
            cfg: &self.cfg,
            fit: &self.fit,
            jwks_reachable: self.jwks_reachable,
            out,
        };
        f(self.side.as_mut(), &mut cx)
    }

    fn read_credential(
        &mut self,
        now: Micros,
        tenant: TenantId,
        out: &mut Effects,
        cause: Option<MsgId>,
    ) -> Option<Credential> {
        let row = self
            .store
            .read(tenant, now, self.read_from_replica, &mut self.rng);
        out.record(
            now,
            Event::Local {
                who: Party::APP,
                step: LocalStep::StoreRead,
                start: now,
                end: now + self.store.cfg.read_cost,
                cause,
            },
        );
        let row = row.ok()?;
        self.side
            .credential(&row, now, self.policy.check_exp, self.policy.expiry_margin)
    }

    fn on_demand(&mut self, now: Micros, demand: DemandId, tenant: TenantId, out: &mut Effects) {
        out.record(now, Event::Invoke { demand, tenant });
        self.demands.insert(
            demand,
            Demand {
                tenant,
                cold: false,
                miss_at: None,
                token_latency: None,
            },
        );
        let cred = self.read_credential(now, tenant, out, None);
        let at = now + self.store.cfg.read_cost;
        self.timer(
            out,
            at,
            Timer::LookupDone {
                demand,
                cred,
                read_at: now,
            },
        );
    }

    fn complete(&mut self, now: Micros, demand: DemandId, outcome: Outcome, out: &mut Effects) {
        if let Some(d) = self.demands.remove(&demand) {
            out.record(
                now,
                Event::Complete {
                    demand,
                    tenant: d.tenant,
                    outcome,
                    cold: d.cold,
                    token_latency: d.token_latency,
                },
            );
        }
    }

    fn on_lookup(
        &mut self,
        now: Micros,
        demand: DemandId,
        cred: Option<Credential>,
        read_at: Micros,
        out: &mut Effects,
    ) {
        let Some(d) = self.demands.get_mut(&demand) else {
            return;
        };
        let tenant = d.tenant;
        if let Some(cred) = cred {
            d.token_latency = Some(0);
            self.api_call(now, demand, cred, out);
            return;
        }
        // Double-checked locking: a write committed since this lookup's read (an acquisition
        // that just finished, a push or trigger delivery) may hold the token; read again rather
        // than start a second acquisition.
        if self.policy.single_flight
            && !self.inflight.contains_key(&tenant)
            && self.store.committed_since(tenant, read_at, now)
        {
            let cred = self.read_credential(now, tenant, out, None);
            let at = now + self.store.cfg.read_cost;
            self.timer(
                out,
                at,
                Timer::LookupDone {
                    demand,
                    cred,
                    read_at: now,
                },
            );
            return;
        }
        d.cold = true;
        d.miss_at = Some(now);
        if self.policy.single_flight
            && let Some(acq) = self.inflight.get(&tenant)
        {
            self.acqs
                .get_mut(acq)
                .expect("inflight acquisition exists")
                .waiters
                .push(demand);
            return;
        }
        self.next_acq += 1;
        let acq = self.next_acq;
        self.acqs.insert(
            acq,
            Acquisition {
                tenant,
                waiters: vec![demand],
                attempt: 0,
                state: AttemptState::Busy,
            },
        );
        if self.policy.single_flight {
            self.inflight.insert(tenant, acq);
        }
        if let Some(dl) = self.policy.deadline {
            self.timer(out, now + dl, Timer::Deadline { acq });
        }
        self.start_attempt(now, acq, out);
    }

    fn start_attempt(&mut self, now: Micros, acq: u64, out: &mut Effects) {
        let (tenant, attempt) = {
            let a = &self.acqs[&acq];
            (a.tenant, a.attempt)
        };
        let row = self.store.latest(tenant);
        match self.with_side(now, out, |side, cx| side.start_attempt(cx, tenant, &row)) {
            Ok(mut r) => {
                r.req
                    .headers
                    .0
                    .push(("x-acting-for", Value::Tenant(tenant)));
                let req = self.send(out, now, Party::APP, r, None);
                out.record(
                    now,
                    Event::AttemptStart {
                        tenant,
                        acquisition: acq,
                        attempt,
                        request: Some(req),
                    },
                );
                self.pending.insert(req, Pending::Attempt { acq, attempt });
                self.acqs.get_mut(&acq).expect("live").state = AttemptState::Waiting { req };
                if let Some(t) = self.policy.attempt_timeout {
                    self.timer(out, now + t, Timer::AttemptTimeout { acq, attempt });
                }
            }
            Err(cause) => {
                out.record(
                    now,
                    Event::AttemptStart {
                        tenant,
                        acquisition: acq,
                        attempt,
                        request: None,
                    },
                );
                self.attempt_failed(now, acq, cause, false, out);
            }
        }
    }

    fn attempt_failed(
        &mut self,
        now: Micros,
        acq: u64,
        cause: Cause,
        retry: bool,
        out: &mut Effects,
    ) {
        let Some(a) = self.acqs.get_mut(&acq) else {
            return;
        };
        out.record(
            now,
            Event::AttemptEnd {
                acquisition: acq,
                attempt: a.attempt,
                ok: false,
                cause: Some(cause),
            },
        );
        if retry && a.attempt < self.policy.retries {
            a.state = AttemptState::Backoff;
            let ceiling = self.policy.backoff_cap.min(
                self.policy
                    .backoff_base
                    .saturating_mul(1 << a.attempt.min(30)),
            );
            let wait = self.rng.random_range(0..=ceiling);
            self.timer(out, now + wait, Timer::BackoffDone { acq });
        } else {
            self.finish_acquisition(now, acq, Err(cause), out);
        }
    }

    fn finish_acquisition(
        &mut self,
        now: Micros,
        acq: u64,
        result: Result<Credential, Cause>,
        out: &mut Effects,
    ) {
        let Some(a) = self.acqs.remove(&acq) else {
            return;
        };
        if self.inflight.get(&a.tenant) == Some(&acq) {
            self.inflight.remove(&a.tenant);
        }
        if let AttemptState::Waiting { req } = a.state {
            self.pending.remove(&req);
            out.cancel.push(req);
        }
        for demand in a.waiters {
            match &result {
                Ok(cred) => {
                    if let Some(d) = self.demands.get_mut(&demand) {
                        d.token_latency = d.miss_at.map(|m| now - m);
                    }
                    self.api_call(now, demand, cred.clone(), out);
                }
                Err(cause) => self.complete(now, demand, Outcome::Fail(*cause), out),
            }
        }
    }

    fn token_in_hand(&mut self, now: Micros, acq: u64, cred: Credential, out: &mut Effects) {
        if let Some(a) = self.acqs.get(&acq) {
            out.record(
                now,
                Event::AttemptEnd {
                    acquisition: acq,
                    attempt: a.attempt,
                    ok: true,
                    cause: None,
                },
            );
        }
        self.finish_acquisition(now, acq, Ok(cred), out);
    }

    fn on_attempt_response(
        &mut self,
        now: Micros,
        env: &Envelope,
        acq: u64,
        attempt: u32,
        out: &mut Effects,
    ) {
        let Some(a) = self.acqs.get_mut(&acq) else {
            return;
        };
        if a.attempt != attempt {
            return;
        }
        a.state = AttemptState::Busy;
        let tenant = a.tenant;
        let resp = env.response().expect("a response");
        match self.with_side(now, out, |side, cx| {
            side.on_attempt_response(cx, tenant, resp)
        }) {
            AttemptResult::Token { jwt, exp, persist } => {
                let cred = Credential::Bearer {
                    jwt: jwt.clone(),
                    exp,
                };
                let token = CachedToken { jwt, exp };
                match persist {
                    // Rotation: persist the new RT (and T) before using T.
                    Some(update) => {
                        let res = self.write_row(now, tenant, Some(env.id), out, move |row| {
                            update(row);
                            row.token = Some(token);
                        });
                        let at = now + self.store.cfg.write_cost;
                        let cred = res.ok().map(|_| cred);
                        self.timer(out, at, Timer::PersistDone { acq, attempt, cred });
                    }
                    // No rotation: use T at once; caching it is write-behind.
                    None => {
                        // Off the critical path: recorded without a cause so it is not on the chain.
                        let _ = self
                            .write_row(now, tenant, None, out, move |row| row.token = Some(token));
                        self.token_in_hand(now, acq, cred, out);
                    }
                }
            }
            AttemptResult::ReadBack => {
                let cred = self.read_credential(now, tenant, out, Some(env.id));
                let at = now + self.store.cfg.read_cost;
                self.timer(
                    out,
                    at,
                    Timer::ReadBackDone {
                        acq,
                        attempt,
                        cred,
                        cause: Some(env.id),
                    },
                );
            }
            AttemptResult::Failed { cause, retry } => {
                self.attempt_failed(now, acq, cause, retry, out)
            }
        }
    }

    /// Writes a row, recording the local step and any newly committed token.
    fn write_row(
        &mut self,
        now: Micros,
        tenant: TenantId,
        cause: Option<MsgId>,
        out: &mut Effects,
        update: impl FnOnce(&mut Row),
    ) -> Result<Micros, StoreFailure> {
        let before = self.store.latest(tenant).token.as_ref().map(|t| t.jwt.id());
        let items_before = self.store.latest(tenant).items.clone();
        let res = self.store.write(tenant, now, &mut self.rng, update);
        let end = now + self.store.cfg.write_cost;
        out.record(
            now,
            Event::Local {
                who: Party::APP,
                step: LocalStep::StoreWrite,
                start: now,
                end,
                cause,
            },
        );
        if res.is_ok() {
            let row = self.store.latest(tenant);
            for (field, v) in &row.items {
                let item = match v {
                    Value::Secret(s) => s.id(),
                    Value::Jwt(j) => j.id(),
                    _ => continue,
                };
                if items_before.get(field) != Some(v) {
                    out.record(
                        end,
                        Event::StoreItem {
                            tenant,
                            field,
                            item,
                            cause,
                        },
                    );
                }
            }
            let after = self.store.latest(tenant).token.as_ref().map(|t| t.jwt.id());
            if let Some(item) = after
                && after != before
            {
                out.record(
                    end,
                    Event::StoreCommit {
                        tenant,
                        item,
                        cause,
                    },
                );
            }
        }
        res
    }

    fn api_call(&mut self, now: Micros, demand: DemandId, cred: Credential, out: &mut Effects) {
        let Some(tenant) = self.demands.get(&demand).map(|d| d.tenant) else {
            return;
        };
        // The site comes with the token (the FIT's `apiBaseUrl`); P acts for the demand's tenant.
        let site = match self.store.latest(tenant).items.get("api_site") {
            Some(Value::Tenant(t)) => *t,
            _ => tenant,
        };
        let skew = self.cfg.clock_skew;
        let mut req = Request {
            method: "GET",
            route: "GET /rest/api/resource",
            tenant: Some(site),
            headers: Fields::new()
                .with("x-acting-for", Value::Tenant(tenant))
                .with("date", Value::Int(now - skew)),
            body: Fields::new(),
        };
        let auth = self.with_side(now, out, |side, cx| side.authorize(cx, &cred, &req));
        if self.cfg.log_token == LogToken::Url {
            // The mutant: T travels in the query string too, where access logs keep it.
            req.body.0.push(("access_token", auth.clone()));
        }
        req.headers.0.push(("authorization", auth));
        if self.sender_constraint == SenderConstraint::Dpop {
            let proof = Secret::generate(&mut self.rng, "dpop");
            req.headers.0.push(("dpop", Value::Secret(proof)));
        }
        let id = self.send(
            out,
            now,
            Party::APP,
            OutRequest {
                to: Party::API,
                req,
            },
            None,
        );
        self.pending.insert(id, Pending::Api { demand });
        if let Some(t) = self.policy.attempt_timeout {
            self.timer(out, now + t, Timer::ApiTimeout { demand, req: id });
        }
    }

    fn on_api_response(
        &mut self,
        now: Micros,
        demand: DemandId,
        resp: &Response,
        out: &mut Effects,
    ) {
        let outcome = if resp.is_success() {
            Outcome::Ok
        } else if resp.status == 401 && resp.error_code() == Some("expired") {
            Outcome::Fail(Cause::ExpiredToken)
        } else if resp.status >= 500 || resp.status == 429 {
            Outcome::Fail(Cause::HttpError)
        } else {
            Outcome::Fail(Cause::Rejected)
        };
        self.complete(now, demand, outcome, out);
    }

    fn on_inbound(&mut self, now: Micros, env: Envelope, out: &mut Effects) {
        let env = Arc::new(env);
        let req = env.request().expect("a request");
        if self.cfg.log_token == LogToken::RequestLog {
            // The mutant: the endpoint's request log keeps every header, T included.
            out.record(
                now,
                Event::Log {
                    who: env.to,
                    env: env.clone(),
                },
            );
        }
        let decision = self.with_side(now, out, |side, cx| side.on_inbound(cx, &env, req));
        self.apply_inbound(now, env, decision, out);
    }

    fn apply_inbound(
        &mut self,
        now: Micros,
        inbound: Arc<Envelope>,
        decision: Inbound,
        out: &mut Effects,
    ) {
        match decision {
            Inbound::Reply {
                tenant,
                update,
                response,
            } => {
                let (depart, response) = match (tenant, update) {
                    (Some(t), Some(update)) => {
                        match self.write_row(now, t, Some(inbound.id), out, update) {
                            Ok(commit) => (commit, response),
                            Err(StoreFailure) => (
                                now + self.store.cfg.write_cost,
                                Response::error(500, "store_write_failed"),
                            ),
                        }
                    }
                    _ => (now, response),
                };
                let id = self.ids.msg();
                out.send.push(Outgoing {
                    depart,
                    env: Envelope {
                        id,
                        from: inbound.to,
                        to: inbound.from,
                        cause: Some(inbound.id),
                        body: Body::Response(response),
                    },
                });
            }
            Inbound::AckThenWrite {
                tenant,
                update,
                response,
                write_at,
            } => {
                let _ = self.write_row(write_at, tenant, Some(inbound.id), out, update);
                let id = self.ids.msg();
                out.send.push(Outgoing {
                    depart: now,
                    env: Envelope {
                        id,
                        from: inbound.to,
                        to: inbound.from,
                        cause: Some(inbound.id),
                        body: Body::Response(response),
                    },
                });
            }
            Inbound::Call { call, tag } => {
                let id = self.send(out, now, inbound.to, call, Some(inbound.id));
                self.pending.insert(id, Pending::Call { inbound, tag });
                if let Some(t) = self.policy.attempt_timeout {
                    self.timer(out, now + t, Timer::CallTimeout { req: id });
                }
            }
        }
    }

    fn on_timer(&mut self, now: Micros, id: TimerId, out: &mut Effects) {
        let Some(t) = self.timers.remove(&id) else {
            return;
        };
        match t {
            Timer::LookupDone {
                demand,
                cred,
                read_at,
            } => self.on_lookup(now, demand, cred, read_at, out),
            Timer::AttemptTimeout { acq, attempt } => {
                if let Some(a) = self.acqs.get_mut(&acq)
                    && a.attempt == attempt
                    && let AttemptState::Waiting { req } = a.state
                {
                    a.state = AttemptState::Busy;
                    self.pending.remove(&req);
                    out.cancel.push(req);
                    self.attempt_failed(now, acq, Cause::Timeout, true, out);
                }
            }
            Timer::Deadline { acq } => {
                if let Some(a) = self.acqs.get(&acq) {
                    out.record(
                        now,
                        Event::AttemptEnd {
                            acquisition: acq,
                            attempt: a.attempt,
                            ok: false,
                            cause: Some(Cause::Timeout),
                        },
                    );
                    self.finish_acquisition(now, acq, Err(Cause::Timeout), out);
                }
            }
            Timer::BackoffDone { acq } => {
                let Some(a) = self.acqs.get_mut(&acq) else {
                    return;
                };
                a.state = AttemptState::Busy;
                let tenant = a.tenant;
                if self.policy.reread {
                    let cred = self.read_credential(now, tenant, out, None);
                    let at = now + self.store.cfg.read_cost;
                    self.timer(out, at, Timer::RereadDone { acq, cred });
                } else {
                    self.acqs.get_mut(&acq).expect("live").attempt += 1;
                    self.start_attempt(now, acq, out);
                }
            }
            Timer::RereadDone { acq, cred } => {
                let Some(a) = self.acqs.get_mut(&acq) else {
                    return;
                };
                match cred {
                    Some(c) => self.finish_acquisition(now, acq, Ok(c), out),
                    None => {
                        a.attempt += 1;
                        self.start_attempt(now, acq, out);
                    }
                }
            }
            Timer::ReadBackDone {
                acq,
                attempt,
                cred,
                cause,
            } => {
                if self.acqs.get(&acq).is_none_or(|a| a.attempt != attempt) {
                    return;
                }
                match cred {
                    Some(c) => self.token_in_hand(now, acq, c, out),
                    None => {
                        let tenant = self.acqs[&acq].tenant;
                        out.record(now, Event::StaleRead { tenant, cause });
                        self.attempt_failed(now, acq, Cause::StaleRead, true, out);
                    }
                }
            }
            Timer::PersistDone { acq, attempt, cred } => {
                if self.acqs.get(&acq).is_none_or(|a| a.attempt != attempt) {
                    return;
                }
                match cred {
                    Some(c) => self.token_in_hand(now, acq, c, out),
                    // The taxonomy is closed: an internal store failure surfaces as http_error.
                    None => self.attempt_failed(now, acq, Cause::HttpError, true, out),
                }
            }
            Timer::ApiTimeout { demand, req } => {
                if self.pending.remove(&req).is_some() {
                    out.cancel.push(req);
                    self.complete(now, demand, Outcome::Fail(Cause::Timeout), out);
                }
            }
            Timer::CallTimeout { req } => {
                if let Some(Pending::Call { inbound, tag }) = self.pending.remove(&req) {
                    out.cancel.push(req);
                    let decision =
                        self.with_side(now, out, |side, cx| side.on_call_response(cx, tag, None));
                    self.apply_inbound(now, inbound, decision, out);
                }
            }
        }
    }

    fn on_message(&mut self, now: Micros, env: Envelope, out: &mut Effects) {
        match &env.body {
            Body::Request(_) => self.on_inbound(now, env, out),
            Body::Response(resp) => {
                let Some(cause) = env.cause else { return };
                match self.pending.remove(&cause) {
                    Some(Pending::Attempt { acq, attempt }) => {
                        self.on_attempt_response(now, &env, acq, attempt, out)
                    }
                    Some(Pending::Api { demand }) => self.on_api_response(now, demand, resp, out),
                    Some(Pending::Call { inbound, tag }) => {
                        let decision = self.with_side(now, out, |side, cx| {
                            side.on_call_response(cx, tag, Some(resp))
                        });
                        self.apply_inbound(now, inbound, decision, out);
                    }
                    None => {}
                }
            }
        }
    }

    /// Ends every open demand as unknown (hard stop, or a crash that lost the process).
    pub fn abandon_all(&mut self, now: Micros, out: &mut Effects) {
        let open: Vec<DemandId> = self.demands.keys().copied().collect();
        for d in open {
            self.complete(now, d, Outcome::Unknown, out);
        }
    }
}

impl Role for Partner {
    fn kind(&self) -> RoleKind {
        RoleKind::Partner
    }

    fn handle(&mut self, now: Micros, input: Input, out: &mut Effects) {
        match input {
            Input::Message(env) => self.on_message(now, env, out),
            Input::Timer(id) => self.on_timer(now, id, out),
            Input::Demand { demand, tenant } => self.on_demand(now, demand, tenant, out),
            Input::Start => self.store.clear_tokens(now),
            Input::Restart { lost_volatile } => {
                if lost_volatile {
                    self.abandon_all(now, out);
                    self.acqs.clear();
                    self.inflight.clear();
                    self.pending.clear();
                    self.timers.clear();
                    self.side.reset_volatile();
                    if !self.side.persists_tokens() {
                        self.store.clear_tokens(now);
                    }
                }
            }
            Input::Admin(_) => {}
        }
    }
}
