//! The partner's engine: demands, the token cache read, acquisition bookkeeping (single
//! flight, timers), API calls and restarts. The attempt loop lives in [`super::acquire`],
//! inbound handling in [`super::inbound`]; a mechanism never sees any of this.

use super::api::{Credential, OutRequest, PartnerCx, PartnerSide, RowUpdate};
use super::{PartnerConfig, RetryPolicy};
use crate::Micros;
use crate::history::{Cause, Event, LocalStep, Outcome};
use crate::ids::{DemandId, IdGen, MsgId, Party, RoleKind, TenantId, TimerId};
use crate::message::{Body, Envelope, Fields, Request, Response, Value};
use crate::params::{LogToken, ReadFrom, SenderConstraint};
use crate::roles::store::{
    Backend, CachedToken, Row, Store, StoreFailure, StoreReply, StoreRequest,
};
use crate::roles::{Effects, Input, Outgoing, Role};
use crate::secret::Secret;
use crate::token::FitVerifier;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::sync::Arc;

pub(super) struct Demand {
    pub(super) tenant: TenantId,
    pub(super) cold: bool,
    pub(super) miss_at: Option<Micros>,
    pub(super) token_latency: Option<Micros>,
}

pub(super) enum AttemptState {
    Waiting { req: MsgId },
    Backoff,
    Busy,
}

pub(super) struct Acquisition {
    pub(super) tenant: TenantId,
    pub(super) waiters: Vec<DemandId>,
    pub(super) attempt: u32,
    pub(super) state: AttemptState,
    /// When it started (the demand deadline counts from here).
    pub(super) started: Micros,
    /// The last attempt's 429 asked to come back no sooner than this (`Retry-After`).
    pub(super) retry_after: Option<Micros>,
}

pub(super) enum Pending {
    Attempt { acq: u64, attempt: u32 },
    Api { demand: DemandId },
    Call { inbound: Arc<Envelope>, tag: u64 },
}

pub(super) enum Timer {
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
    /// An awaited asynchronous delivery (trigger `mode=async`, `awaiting.rs`).
    Await(super::awaiting::AwaitTimer),
    /// A queued write starts (external store backend; the model store dates it directly).
    QueuedWrite {
        tenant: TenantId,
        update: RowUpdate,
        cause: Option<MsgId>,
    },
}

/// What a store read was for: the timer it completes (with the model store, after `t_r`).
pub(super) enum ReadThen {
    Lookup {
        demand: DemandId,
    },
    Reread {
        acq: u64,
    },
    ReadBack {
        acq: u64,
        attempt: u32,
    },
    /// A poll of an awaited delivery (`awaiting.rs`).
    Poll {
        acq: u64,
        attempt: u32,
        every: Micros,
        deadline: Micros,
    },
}

impl ReadThen {
    fn timer(self, cred: Option<Credential>, read_at: Micros, cause: Option<MsgId>) -> Timer {
        match self {
            ReadThen::Lookup { demand } => Timer::LookupDone {
                demand,
                cred,
                read_at,
            },
            ReadThen::Reread { acq } => Timer::RereadDone { acq, cred },
            ReadThen::Poll {
                acq,
                attempt,
                every,
                deadline,
            } => Timer::Await(super::awaiting::AwaitTimer::PollDone {
                acq,
                attempt,
                every,
                deadline,
                cred,
            }),
            ReadThen::ReadBack { acq, attempt } => Timer::ReadBackDone {
                acq,
                attempt,
                cred,
                cause,
            },
        }
    }
}

/// What waits for a token write to commit (external store backend).
pub(super) enum WriteThen {
    Nothing,
    /// The rotated credentials are persisted: use T (`PersistDone`).
    Persist {
        acq: u64,
        attempt: u32,
        cred: Credential,
    },
    /// P.auth / P.recv answers once the write committed (or failed).
    Reply {
        inbound: Arc<Envelope>,
        response: Response,
    },
}

/// A store request the driver has not completed yet (external store backend).
enum StoreWait {
    Read {
        tenant: TenantId,
        start: Micros,
        cause: Option<MsgId>,
        then: ReadThen,
    },
    Write {
        tenant: TenantId,
        token: CachedToken,
        start: Micros,
        cause: Option<MsgId>,
        then: WriteThen,
    },
}

/// The partner role.
impl Partner {
    /// The world's time origin (see [`crate::token::Epoch`]).
    pub fn set_epoch(&mut self, epoch: crate::token::Epoch) {
        self.fit.set_epoch(epoch);
        if let Some(k) = &mut self.keys {
            k.set_epoch(epoch);
        }
    }
}

pub struct Partner {
    pub(super) side: Box<dyn PartnerSide>,
    pub(super) cfg: PartnerConfig,
    pub(super) policy: RetryPolicy,
    pub(super) read_from_replica: bool,
    pub(super) sender_constraint: SenderConstraint,
    pub store: Store,
    pub(super) fit: FitVerifier,
    pub(super) jwks_reachable: bool,
    /// The cached key set when F rotates its FIT key (`None`: one pre-fetched key).
    pub keys: Option<super::keys::KeyCache>,
    /// FIT `jti` → (its exp, the body it first came with), while the FIT is live.
    pub(super) fit_bodies: super::api::FitBodies,
    pub(super) rng: ChaCha8Rng,
    /// The run's choice source (random mode: the draws below come from `rng`).
    pub choices: crate::choice::Choices,
    pub(super) ids: IdGen,
    pub(super) demands: BTreeMap<DemandId, Demand>,
    pub(super) acqs: BTreeMap<u64, Acquisition>,
    pub(super) next_acq: u64,
    pub(super) inflight: BTreeMap<TenantId, u64>,
    pub(super) pending: BTreeMap<MsgId, Pending>,
    pub(super) timers: BTreeMap<TimerId, Timer>,
    /// Tenants whose P.app waits for an asynchronous delivery: (acquisition, attempt).
    pub(super) awaiting: BTreeMap<TenantId, (u64, u32)>,
    backend: Backend,
    next_ticket: u64,
    store_waits: BTreeMap<u64, StoreWait>,
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
            keys: None,
            fit_bodies: Default::default(),
            rng,
            choices: crate::choice::Choices::random(),
            ids: IdGen::new(RoleKind::Partner),
            demands: BTreeMap::new(),
            acqs: BTreeMap::new(),
            next_acq: 0,
            inflight: BTreeMap::new(),
            pending: BTreeMap::new(),
            timers: BTreeMap::new(),
            awaiting: BTreeMap::new(),
            backend: Backend::Model,
            next_ticket: 0,
            store_waits: BTreeMap::new(),
        }
    }

    /// Where the token rows live (the model store unless a driver completes an external one).
    /// Set it before the first input.
    pub fn set_store_backend(&mut self, backend: Backend) {
        self.backend = backend;
    }

    pub(super) fn external_store(&self) -> bool {
        self.backend == Backend::External
    }

    /// Drops every cached token: in the model store, and in the external one if there is one.
    fn clear_tokens(&mut self, now: Micros, out: &mut Effects) {
        self.store.clear_tokens(now);
        if self.external_store() {
            out.store.push(StoreRequest::ClearTokens);
        }
    }

    /// The JWKS nemesis: while unreachable, FIT checks fail closed (or open, the mutant).
    pub fn set_jwks_reachable(&mut self, reachable: bool) {
        self.jwks_reachable = reachable;
    }

    pub(super) fn timer(&mut self, out: &mut Effects, at: Micros, t: Timer) {
        let id = self.ids.timer();
        self.timers.insert(id, t);
        out.timers.push((at, id));
    }

    pub(super) fn send(
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
    pub(super) fn with_side<T>(
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
            keys: self.keys.as_mut(),
            unlearnt: None,
            fit_bodies: &mut self.fit_bodies,
            out,
        };
        f(self.side.as_mut(), &mut cx)
    }

    pub(super) fn read_credential(
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
                cause: cause.into(),
            },
        );
        let row = row.ok()?;
        self.side
            .credential(&row, now, self.policy.check_exp, self.policy.expiry_margin)
    }

    /// Reads `tenant`'s row and continues with `then`: with the model store the read is taken
    /// now and its result delivered by a timer after `t_r`; with an external store it is a
    /// request the driver completes.
    pub(super) fn read_then(
        &mut self,
        now: Micros,
        tenant: TenantId,
        out: &mut Effects,
        cause: Option<MsgId>,
        then: ReadThen,
    ) {
        if self.external_store() {
            self.next_ticket += 1;
            let ticket = self.next_ticket;
            out.store.push(StoreRequest::Read {
                ticket,
                tenant,
                from_replica: self.read_from_replica,
            });
            self.store_waits.insert(
                ticket,
                StoreWait::Read {
                    tenant,
                    start: now,
                    cause,
                    then,
                },
            );
            return;
        }
        let cred = self.read_credential(now, tenant, out, cause);
        let at = now + self.store.cfg.read_cost;
        let timer = then.timer(cred, now, cause);
        self.timer(out, at, timer);
    }

    /// A token write on the external store: the row (items included) is updated in the
    /// model store at once, the token commits when the driver says so.
    pub(super) fn write_external(
        &mut self,
        now: Micros,
        tenant: TenantId,
        cause: Option<MsgId>,
        out: &mut Effects,
        update: RowUpdate,
        then: WriteThen,
    ) {
        let before = self.store.latest(tenant).token.clone();
        let items_before = self.store.latest(tenant).items.clone();
        let res = self.store.write(tenant, now, &mut self.rng, update);
        if res.is_ok() {
            self.record_items(now, tenant, &items_before, cause, out);
        }
        let after = self.store.latest(tenant).token.clone();
        match (res, after) {
            (Ok(_), Some(token)) if Some(&token) != before.as_ref() => {
                self.next_ticket += 1;
                let ticket = self.next_ticket;
                out.store.push(StoreRequest::Write {
                    ticket,
                    tenant,
                    token: token.clone(),
                });
                self.store_waits.insert(
                    ticket,
                    StoreWait::Write {
                        tenant,
                        token,
                        start: now,
                        cause,
                        then,
                    },
                );
            }
            // Nothing for the token store to commit (items only, or an older token kept).
            (res, _) => {
                out.record(
                    now,
                    Event::Local {
                        who: Party::APP,
                        step: LocalStep::StoreWrite,
                        start: now,
                        end: now,
                        cause: cause.into(),
                    },
                );
                self.write_done(now, then, res.is_ok(), out);
            }
        }
    }

    fn write_done(&mut self, now: Micros, then: WriteThen, ok: bool, out: &mut Effects) {
        match then {
            WriteThen::Nothing => {}
            WriteThen::Persist { acq, attempt, cred } => self.run_timer(
                now,
                Timer::PersistDone {
                    acq,
                    attempt,
                    cred: ok.then_some(cred),
                },
                out,
            ),
            WriteThen::Reply { inbound, response } => {
                let response = if ok {
                    response
                } else {
                    Response::error(500, "store_write_failed")
                };
                self.reply(now, &inbound, response, out);
            }
        }
    }

    /// The driver completed store request `ticket` (external store backend).
    fn on_store_done(&mut self, now: Micros, ticket: u64, reply: StoreReply, out: &mut Effects) {
        let Some(wait) = self.store_waits.remove(&ticket) else {
            return; // lost with the process's memory
        };
        match (wait, reply) {
            (
                StoreWait::Read {
                    tenant,
                    start,
                    cause,
                    then,
                },
                StoreReply::Read(res),
            ) => {
                out.record(
                    start,
                    Event::Local {
                        who: Party::APP,
                        step: LocalStep::StoreRead,
                        start,
                        end: now,
                        cause: cause.into(),
                    },
                );
                let cred = res.ok().and_then(|token| {
                    let row = Row {
                        token,
                        items: self.store.latest(tenant).items.clone(),
                    };
                    // Judged at the read's snapshot, as with the model store.
                    self.side.credential(
                        &row,
                        start,
                        self.policy.check_exp,
                        self.policy.expiry_margin,
                    )
                });
                let timer = then.timer(cred, start, cause);
                self.run_timer(now, timer, out);
            }
            (
                StoreWait::Write {
                    tenant,
                    token,
                    start,
                    cause,
                    then,
                },
                StoreReply::Written(res),
            ) => {
                out.record(
                    start,
                    Event::Local {
                        who: Party::APP,
                        step: LocalStep::StoreWrite,
                        start,
                        end: now,
                        cause: cause.into(),
                    },
                );
                if res.is_ok() {
                    out.record(
                        now,
                        Event::StoreCommit {
                            tenant,
                            item: token.jwt.id(),
                            cause,
                        },
                    );
                }
                self.write_done(now, then, res.is_ok(), out);
            }
            // A reply of the wrong kind: the driver's bug; the operation failed.
            (StoreWait::Read { then, start, .. }, StoreReply::Written(_)) => {
                let timer = then.timer(None, start, None);
                self.run_timer(now, timer, out);
            }
            (StoreWait::Write { then, .. }, StoreReply::Read(_)) => {
                self.write_done(now, then, false, out)
            }
        }
    }

    /// An answer to an inbound request, departing at `depart`.
    pub(super) fn reply(
        &mut self,
        depart: Micros,
        inbound: &Envelope,
        response: Response,
        out: &mut Effects,
    ) {
        let id = self.ids.msg();
        out.send
            .push(Outgoing::reply(id, inbound, response, depart));
    }

    pub(super) fn on_demand(
        &mut self,
        now: Micros,
        demand: DemandId,
        tenant: TenantId,
        out: &mut Effects,
    ) {
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
        self.read_then(now, tenant, out, None, ReadThen::Lookup { demand });
    }

    pub(super) fn complete(
        &mut self,
        now: Micros,
        demand: DemandId,
        outcome: Outcome,
        out: &mut Effects,
    ) {
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

    pub(super) fn on_lookup(
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
            self.read_then(now, tenant, out, None, ReadThen::Lookup { demand });
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
                started: now,
                retry_after: None,
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

    /// Writes a row, recording the local step and any newly committed token.
    pub(super) fn write_row(
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
                cause: cause.into(),
            },
        );
        if res.is_ok() {
            self.record_items(end, tenant, &items_before, cause, out);
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

    /// Records every long-lived item of `tenant`'s row that differs from `items_before`, and
    /// every one `items_before` held that the row no longer has.
    fn record_items(
        &self,
        at: Micros,
        tenant: TenantId,
        items_before: &crate::roles::store::Items,
        cause: Option<MsgId>,
        out: &mut Effects,
    ) {
        let row = self.store.latest(tenant);
        for (field, v) in &row.items {
            let item = match v {
                Value::Secret(s) => s.id(),
                Value::Jwt(j) => j.id(),
                _ => continue,
            };
            if items_before.get(field) != Some(v) {
                out.record(
                    at,
                    Event::StoreItem(Box::new(crate::history::StoredItem {
                        tenant,
                        field,
                        item,
                        cause,
                    })),
                );
            }
        }
        for (field, v) in items_before {
            let item = match v {
                Value::Secret(s) => s.id(),
                Value::Jwt(j) => j.id(),
                _ => continue,
            };
            if row.items.get(field).is_none() {
                out.record(
                    at,
                    Event::StoreDrop(Box::new(crate::history::StoredItem {
                        tenant,
                        field,
                        item,
                        cause,
                    })),
                );
            }
        }
    }

    pub(super) fn api_call(
        &mut self,
        now: Micros,
        demand: DemandId,
        cred: Credential,
        out: &mut Effects,
    ) {
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
            method: crate::message::Method::Get,
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

    pub(super) fn on_api_response(
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

    pub(super) fn on_timer(&mut self, now: Micros, id: TimerId, out: &mut Effects) {
        let Some(t) = self.timers.remove(&id) else {
            return;
        };
        self.run_timer(now, t, out);
    }

    /// What a timer does when it fires (or a store completion that stands for one).
    pub(super) fn run_timer(&mut self, now: Micros, t: Timer, out: &mut Effects) {
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
                    self.read_then(now, tenant, out, None, ReadThen::Reread { acq });
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
                let item = match &cred {
                    Some(Credential::Bearer { jwt, .. }) => Some(jwt.id()),
                    Some(Credential::SigningKey { secret }) => Some(secret.id()),
                    None => None,
                };
                out.record(
                    now,
                    Event::ReadResult {
                        tenant: self.acqs[&acq].tenant,
                        item,
                        cause: cause.into(),
                    },
                );
                match cred {
                    Some(c) => self.token_in_hand(now, acq, c, out),
                    None => {
                        let tenant = self.acqs[&acq].tenant;
                        if self.cfg.stale_read_report {
                            out.record(now, Event::StaleRead { tenant, cause });
                        }
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
            Timer::QueuedWrite {
                tenant,
                update,
                cause,
            } => self.write_external(now, tenant, cause, out, update, WriteThen::Nothing),
            Timer::Await(t) => self.on_await_timer(now, t, out),
        }
    }

    pub(super) fn on_message(&mut self, now: Micros, env: Envelope, out: &mut Effects) {
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
            Input::Start => self.clear_tokens(now, out),
            Input::StoreDone { ticket, reply } => self.on_store_done(now, ticket, reply, out),
            Input::Restart { lost_volatile } => {
                if lost_volatile {
                    self.abandon_all(now, out);
                    self.acqs.clear();
                    self.inflight.clear();
                    self.pending.clear();
                    self.timers.clear();
                    self.awaiting.clear();
                    self.store_waits.clear();
                    self.side.reset_volatile();
                    if let Some(k) = &mut self.keys {
                        k.forget();
                    }
                    if !self.side.persists_tokens() {
                        self.clear_tokens(now, out);
                    }
                }
            }
            Input::Admin(_) => {}
        }
    }
}
