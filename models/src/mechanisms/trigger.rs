//! `trigger`: RFC-34's synchronous auth trigger (`mechanisms.md` §1).
//!
//! P.app `GET authTriggerUrl` → F mints T and calls P.auth with the FIT and T → P.auth
//! verifies the FIT and commits T → 2xx to F → F answers P.app 2xx with an empty body →
//! P.app reads T back from its store. Four hops plus t_m + t_w + t_r; correctness needs
//! read-your-writes between the commit and the read (P12).

use super::common::{accept_token_delivery, deliver_token, detect, failed, lifecycle};
use super::{Acquisition, Facts, Group, Mechanism, MissSteps, Profile};
use crate::Micros;
use crate::history::{Cause, ItemKind};
use crate::ids::{PartnerEndpoint, Party, TenantId};
use crate::message::{Envelope, Fields, Request, Response, Value};
use crate::params::{Basis, Choice, Kind, ParamSpec, Params, ReadFrom, Rotation, StoreKey, spec};
use crate::roles::partner::{AttemptResult, Inbound, OutRequest, PartnerCx, PartnerSide};
use crate::roles::platform::{Handling, PlatformCx, PlatformSide};
use crate::roles::quota::{InvocationQuota, QuotaConfig, QuotaCounts, RETRY_AFTER};
use crate::roles::store::Row;
use crate::secret::Secret;
use std::collections::BTreeMap;
use std::sync::Arc;

pub struct Trigger;

/// What `trigger` is: the facts the report and the suites ask of it.
const FACTS: Facts = Facts {
    id: "trigger",
    description: "RFC-34 synchronous auth trigger: P calls a secret per-installation URL, F pushes T to P.auth, P reads it back",
    hops_on_miss: 4,
    acquisition: Acquisition::OnDemand,
    root_credential: "trigger_url",
    revocable: true,
    miss_steps: MissSteps {
        mints: 1,
        store_writes: 1,
        store_reads: 1,
    },
    acquires_from: Some(Group::Forge),
    browser_consent: false,
    capability_url: true,
    warm_up_s: 0.0,
};

impl Mechanism for Trigger {
    fn facts(&self) -> &'static Facts {
        &FACTS
    }
    fn switches(&self) -> Vec<ParamSpec> {
        use Basis::*;
        vec![
            spec(
                "read_from",
                Kind::Choice(ReadFrom::NAMES),
                "primary",
                Inference,
                "where P.app reads T back",
            ),
            spec(
                "write_path",
                Kind::Choice(WritePath::NAMES),
                "direct",
                Fact,
                "queued: P.auth acks before the write commits",
            ),
            spec(
                "queue_delay",
                Kind::Duration,
                "100ms",
                Inference,
                "delay before a queued write starts",
            ),
            spec(
                "token_return",
                Kind::Choice(TokenReturn::NAMES),
                "out_of_band",
                Fact,
                "in_band: F relays T in its 2xx",
            ),
            spec(
                "url_rotation",
                Kind::UrlRotation,
                "never",
                Fact,
                "never, or periodic(ρ): F issues a new URL every ρ; per_use: F issues a new URL after every accepted call and revokes the old one at once, and P learns it from F's signed url_rotated lifecycle event (not from the 2xx, so whoever made the call does not learn it; inference). B(URL): until the next use",
            ),
            spec(
                "url_auth",
                Kind::Choice(UrlAuth::NAMES),
                "none",
                Fact,
                "required: the trigger call must carry a per-installation key",
            ),
            spec(
                "correlate",
                Kind::Switch,
                "off",
                Inference,
                "P.auth flags deliveries P.app did not request",
            ),
            spec(
                "store_key",
                Kind::Choice(StoreKey::NAMES),
                "fit",
                Mutant,
                "body: P.auth keys T by a tenant id in the body (mutant)",
            ),
            spec(
                "mode",
                Kind::Choice(Mode::NAMES),
                "sync",
                Fact,
                "async: F answers 202 with a correlation id at once and delivers T to P.auth later (partners had assumed async; Atlassian: \"made synchronously\" [F: #18])",
            ),
            spec(
                "async_wait",
                Kind::Choice(AsyncWait::NAMES),
                "wait",
                Inference,
                "with mode=async: P.app waits for P.auth's commit signal (wait) or re-reads its store every poll_every (poll)",
            ),
            spec(
                "poll_every",
                Kind::Duration,
                "250ms",
                Inference,
                "with mode=async, async_wait=poll: the interval of P.app's store re-reads",
            ),
            spec(
                "platform_timeout",
                Kind::Duration,
                "5s",
                Unverified,
                "F's timeout on the nested call to P.auth",
            ),
            spec(
                "platform_retries",
                Kind::Int,
                "0",
                Unverified,
                "F's retries of the nested call",
            ),
            spec(
                "platform_backoff",
                Kind::Duration,
                "1s",
                Unverified,
                "F's backoff base between nested retries",
            ),
            spec(
                "invocation_limit_installation",
                Kind::Int,
                "5000",
                Fact,
                "Forge's invocation limit per installation per minute: over it F answers the trigger call 429 with Retry-After [F: limits] (0: no limit)",
            ),
            spec(
                "invocation_limit_app",
                Kind::Int,
                "30000",
                Fact,
                "Forge's invocation limit per app per environment per minute: over it F answers 429 with Retry-After [F: limits] (0: no limit)",
            ),
            spec(
                "quota_counts",
                Kind::Choice(QuotaCounts::NAMES),
                "admitted",
                Inference,
                "what the fixed 60 s invocation windows count: admitted calls, or every attempt (refused ones too); Forge's algorithm is unverified",
            ),
        ]
    }
    fn profiles(&self) -> Vec<Profile> {
        vec![Profile {
            name: "sample",
            description: "the RFC's Java getToken sample: no exp check, no lock, no timeout, no retry",
            sets: &[
                ("check_exp", "off"),
                ("single_flight", "off"),
                ("timeout", "none"),
                ("retries", "0"),
            ],
        }]
    }
    fn build(&self, params: &Params) -> (Box<dyn PartnerSide>, Box<dyn PlatformSide>) {
        let cfg = TriggerConfig::from_params(params);
        (
            Box::new(TriggerPartner {
                requested: BTreeMap::new(),
                cfg,
            }),
            Box::new(TriggerPlatform {
                urls: BTreeMap::new(),
                url_keys: BTreeMap::new(),
                current: BTreeMap::new(),
                nested: BTreeMap::new(),
                next_tag: 1,
                quota: InvocationQuota::new(cfg.quota),
                cfg,
            }),
        )
    }
}

crate::choice_enum! {
    /// When P.auth acknowledges (`write_path`; `queued` acks before the write commits).
    enum WritePath { Direct = "direct", Queued = "queued" }
}
crate::choice_enum! {
    /// Whether F relays T in its 2xx (`token_return`).
    enum TokenReturn { OutOfBand = "out_of_band", InBand = "in_band" }
}
crate::choice_enum! {
    /// Whether F answers the trigger call after the delivery (`mode`).
    enum Mode { Sync = "sync", Async = "async" }
}
crate::choice_enum! {
    /// How P.app learns that an asynchronous delivery arrived (`async_wait`).
    enum AsyncWait { Wait = "wait", Poll = "poll" }
}
crate::choice_enum! {
    /// Whether the trigger call needs a per-installation key (`url_auth`).
    enum UrlAuth { None = "none", Required = "required" }
}

/// Trigger's switches, typed.
#[derive(Clone, Copy, Debug)]
struct TriggerConfig {
    read_from: ReadFrom,
    write_path: WritePath,
    queue_delay: Micros,
    in_band: bool,
    url_rotation: Rotation,
    url_auth: bool,
    correlate: bool,
    store_key: StoreKey,
    platform_timeout: Micros,
    platform_retries: u32,
    platform_backoff: Micros,
    /// `mode=async`: F answers 202 at once and delivers later.
    asynchronous: bool,
    /// With `mode=async`: `None` waits for P.auth's signal, `Some` polls the store.
    poll_every: Option<Micros>,
    /// Forge's invocation limits on trigger calls (A9).
    quota: QuotaConfig,
}

impl TriggerConfig {
    /// The one place trigger reads its switches.
    fn from_params(p: &Params) -> TriggerConfig {
        TriggerConfig {
            read_from: p.pick("read_from"),
            write_path: p.pick("write_path"),
            queue_delay: p.dur_req("queue_delay"),
            in_band: p.pick::<TokenReturn>("token_return") == TokenReturn::InBand,
            url_rotation: p.rotation("url_rotation"),
            url_auth: p.pick::<UrlAuth>("url_auth") == UrlAuth::Required,
            correlate: p.bool("correlate"),
            store_key: p.pick("store_key"),
            platform_timeout: p.dur_req("platform_timeout"),
            platform_retries: p.int("platform_retries") as u32,
            platform_backoff: p.dur_req("platform_backoff"),
            asynchronous: p.pick::<Mode>("mode") == Mode::Async,
            poll_every: (p.pick::<AsyncWait>("async_wait") == AsyncWait::Poll)
                .then(|| p.dur_req("poll_every")),
            quota: QuotaConfig {
                per_installation: p.int("invocation_limit_installation") as u64,
                per_app: p.int("invocation_limit_app") as u64,
                counts: p.pick("quota_counts"),
            },
        }
    }
}

struct TriggerPartner {
    /// Triggers P.app has in flight per tenant (for `correlate`).
    requested: BTreeMap<TenantId, u32>,
    cfg: TriggerConfig,
}

impl PartnerSide for TriggerPartner {
    fn start_attempt(
        &mut self,
        _cx: &mut PartnerCx<'_>,
        tenant: TenantId,
        row: &Row,
    ) -> Result<OutRequest, Cause> {
        let Some(Value::Secret(url)) = row.items.get("trigger_url") else {
            return Err(Cause::Rejected);
        };
        *self.requested.entry(tenant).or_default() += 1;
        let mut headers = Fields::new();
        if self.cfg.url_auth
            && let Some(key) = row.items.get("trigger_key")
        {
            headers.0.push(("authorization", key.clone()));
        }
        Ok(OutRequest {
            to: Party::FORGE,
            // No body and no auth header in the RFC; the URL itself is the capability.
            req: Request {
                method: crate::message::Method::Get,
                route: "GET /trigger",
                tenant: None,
                headers,
                body: Fields::new().with("url", Value::Secret(url.clone())),
            },
        })
    }

    fn on_attempt_response(
        &mut self,
        _cx: &mut PartnerCx<'_>,
        _tenant: TenantId,
        resp: &Response,
    ) -> AttemptResult {
        if !resp.is_success() {
            return failed(resp);
        }
        if self.cfg.asynchronous && resp.status == 202 {
            // Accepted: T comes later to P.auth, which the correlation id will name.
            return AttemptResult::Await {
                poll_every: self.cfg.poll_every,
            };
        }
        if self.cfg.in_band
            && let (Some(jwt), Some(exp)) =
                (resp.body.jwt("access_token"), resp.body.int("expires_at"))
        {
            return AttemptResult::Token {
                jwt: jwt.clone(),
                exp,
                persist: None,
            };
        }
        AttemptResult::ReadBack
    }

    fn on_inbound(&mut self, cx: &mut PartnerCx<'_>, _env: &Envelope, req: &Request) -> Inbound {
        match req.route {
            "POST /auth" => {
                let (mut inbound, tenant) =
                    accept_token_delivery(cx, req, false, self.cfg.store_key);
                if let Some(t) = tenant {
                    let open = self.requested.entry(t).or_default();
                    if *open == 0 {
                        if self.cfg.correlate {
                            detect(cx, "unsolicited_delivery", t);
                        }
                    } else {
                        *open -= 1;
                    }
                    if self.cfg.write_path == WritePath::Queued
                        && let Inbound::Reply { update, .. } = &mut inbound
                    {
                        // Ack now; the write sits in a queue and commits later.
                        if let Some(update) = update.take() {
                            let write_at = cx.now + self.cfg.queue_delay;
                            return Inbound::AckThenWrite {
                                tenant: t,
                                update,
                                response: Response {
                                    status: 204,
                                    body: Fields::new(),
                                },
                                write_at,
                            };
                        }
                    }
                }
                inbound
            }
            "POST /lifecycle" => lifecycle(cx, req, &["trigger_url", "trigger_key"], true),
            _ => Inbound::Reply {
                tenant: None,
                update: None,
                response: Response::error(404, "no_such_route"),
            },
        }
    }

    fn reset_volatile(&mut self) {
        self.requested.clear();
    }

    fn read_from(&self) -> ReadFrom {
        self.cfg.read_from
    }
}

/// A trigger call F is serving: the P.app request it answers and the nested attempt.
struct Nested {
    inbound: Arc<Envelope>,
    tenant: TenantId,
    attempt: u32,
    token: Option<(crate::secret::Jwt, Micros)>,
}

struct TriggerPlatform {
    /// Live URL capabilities → tenant.
    urls: BTreeMap<Secret, TenantId>,
    url_keys: BTreeMap<TenantId, Secret>,
    current: BTreeMap<TenantId, Secret>,
    nested: BTreeMap<u64, Nested>,
    next_tag: u64,
    /// Forge's invocation counters (A9).
    quota: InvocationQuota,
    cfg: TriggerConfig,
}

/// The id F hands P.app in its 202 and puts on the delivery (`mode=async`).
fn correlation_id(tag: u64) -> String {
    format!("corr-{tag}")
}

/// Timer tags above this are URL rotations (tenant in the low bits).
const ROTATE: u64 = 1 << 40;
/// Timer tags above this are nested-call retries.
const RETRY: u64 = 1 << 41;

impl TriggerPlatform {
    fn issue_url(&mut self, cx: &mut PlatformCx<'_>, tenant: TenantId) -> Secret {
        let url = cx.issue_secret(
            ItemKind::TriggerUrl,
            "url",
            tenant,
            Party::Partner(PartnerEndpoint::Lifecycle),
            None,
        );
        if let Some(old) = self.current.insert(tenant, url.clone()) {
            self.urls.remove(&old);
        }
        self.urls.insert(url.clone(), tenant);
        url
    }

    fn call_auth(&mut self, cx: &mut PlatformCx<'_>, tag: u64) {
        let n = &self.nested[&tag];
        let (tenant, cause) = (n.tenant, n.inbound.id);
        let mut extra = Fields::new();
        if self.cfg.asynchronous {
            extra
                .0
                .push(("x-correlation-id", Value::Str(correlation_id(tag))));
        }
        let (_, jwt, exp) = deliver_token(
            cx,
            tenant,
            Party::Partner(PartnerEndpoint::Auth),
            "POST /auth",
            Some(cause),
            Some(self.cfg.platform_timeout),
            tag,
            extra,
        );
        if let Some(n) = self.nested.get_mut(&tag) {
            n.token = Some((jwt, exp));
        }
    }
}

impl PlatformSide for TriggerPlatform {
    fn on_install(&mut self, cx: &mut PlatformCx<'_>, tenant: TenantId) {
        let url = self.issue_url(cx, tenant);
        let mut extra = Fields::new().with("trigger_url", Value::Secret(url));
        if self.cfg.url_auth {
            let key = cx.issue_secret(
                ItemKind::ClientSecret,
                "urlkey",
                tenant,
                Party::Partner(PartnerEndpoint::Lifecycle),
                None,
            );
            self.url_keys.insert(tenant, key.clone());
            extra.0.push(("trigger_key", Value::Secret(key)));
        }
        cx.send_lifecycle(tenant, "installed", extra);
        if let Rotation::Periodic(rho) = self.cfg.url_rotation {
            let at = cx.now.max(0) + rho;
            cx.set_timer(at, ROTATE | u64::from(tenant.0));
        }
    }

    fn on_uninstall(&mut self, _cx: &mut PlatformCx<'_>, tenant: TenantId) {
        // The URL dies with the installation (inference).
        if let Some(url) = self.current.remove(&tenant) {
            self.urls.remove(&url);
        }
        self.url_keys.remove(&tenant);
    }

    fn on_request(
        &mut self,
        cx: &mut PlatformCx<'_>,
        env: &Arc<Envelope>,
        req: &Request,
    ) -> Handling {
        if req.route != "GET /trigger" {
            return Handling::Reply {
                response: Response::error(404, "no_such_route"),
                after: 0,
            };
        }
        let Some(tenant) = req
            .body
            .secret("url")
            .and_then(|u| self.urls.get(u))
            .copied()
        else {
            return Handling::Reply {
                response: Response::error(404, "unknown_trigger_url"),
                after: 0,
            };
        };
        if self.cfg.url_auth {
            let presented = req.headers.secret("authorization");
            if presented.is_none() || presented != self.url_keys.get(&tenant) {
                return Handling::Reply {
                    response: Response::error(401, "trigger_auth_required"),
                    after: 0,
                };
            }
        }
        // An authenticated call invokes the app and counts against its limits (inference:
        // a call refused at the URL key invokes nothing).
        if let Err(over) = self.quota.admit(cx.now, tenant) {
            let mut response = Response::error(429, "rate_limited");
            response
                .body
                .0
                .push((RETRY_AFTER, Value::Int(over.retry_after_s)));
            return Handling::Reply { response, after: 0 };
        }
        if !cx.may_issue(tenant) {
            return Handling::Reply {
                response: Response::error(403, "not_installed"),
                after: 0,
            };
        }
        if self.cfg.url_rotation == Rotation::PerUse {
            // The URL is spent: its successor goes to P's lifecycle endpoint, out of band.
            let url = self.issue_url(cx, tenant);
            cx.send_lifecycle(
                tenant,
                "url_rotated",
                Fields::new().with("trigger_url", Value::Secret(url)),
            );
        }
        let tag = self.next_tag;
        self.next_tag += 1;
        self.nested.insert(
            tag,
            Nested {
                inbound: env.clone(),
                tenant,
                attempt: 0,
                token: None,
            },
        );
        self.call_auth(cx, tag);
        if self.cfg.asynchronous {
            // Acknowledge at once; the delivery (and its retries) continue on their own.
            return Handling::Reply {
                response: Response {
                    status: 202,
                    body: Fields::new().with("correlation_id", Value::Str(correlation_id(tag))),
                },
                after: 0,
            };
        }
        Handling::Later
    }

    fn on_call_response(&mut self, cx: &mut PlatformCx<'_>, tag: u64, resp: Option<&Response>) {
        let Some(n) = self.nested.get_mut(&tag) else {
            return;
        };
        if resp.is_some_and(|r| r.is_success()) && self.cfg.asynchronous {
            // P.app had its 202 long ago: nothing to answer.
            self.nested.remove(&tag);
            return;
        }
        if resp.is_some_and(|r| r.is_success()) {
            let n = self.nested.remove(&tag).expect("present");
            let body = match (self.cfg.in_band, n.token) {
                (true, Some((jwt, exp))) => Fields::new()
                    .with("access_token", Value::Jwt(jwt))
                    .with("expires_at", Value::Int(exp)),
                _ => Fields::new(),
            };
            // Out of band: an empty 2xx; T travels only F → P.auth.
            cx.reply(
                &n.inbound,
                Response {
                    status: if body.0.is_empty() { 204 } else { 200 },
                    body,
                },
                cx.now,
            );
            return;
        }
        if n.attempt < self.cfg.platform_retries && cx.may_issue(n.tenant) {
            n.attempt += 1;
            let wait = self
                .cfg
                .platform_backoff
                .saturating_mul(1 << (n.attempt - 1).min(20));
            cx.set_timer(cx.now + wait, RETRY | tag);
        } else if self.cfg.asynchronous {
            // The delivery is lost for good; P.app finds out by its own timeout.
            self.nested.remove(&tag);
        } else {
            let n = self.nested.remove(&tag).expect("present");
            let status = if resp.is_none() { 504 } else { 502 };
            cx.reply(
                &n.inbound,
                Response::error(status, "auth_endpoint_failed"),
                cx.now,
            );
        }
    }

    fn on_timer(&mut self, cx: &mut PlatformCx<'_>, tag: u64) {
        if tag & RETRY != 0 {
            let tag = tag & !RETRY;
            let Some(tenant) = self.nested.get(&tag).map(|n| n.tenant) else {
                return;
            };
            // The retry mints now: the installation is rechecked now, not when it was
            // scheduled (an uninstall may have come in between).
            if !cx.may_issue(tenant) {
                let n = self.nested.remove(&tag).expect("present");
                if !self.cfg.asynchronous {
                    cx.reply(&n.inbound, Response::error(403, "not_installed"), cx.now);
                }
                return;
            }
            self.call_auth(cx, tag);
        } else if tag & ROTATE != 0 {
            let tenant = TenantId((tag & 0xffff_ffff) as u32);
            if !cx.installed(tenant) {
                return;
            }
            let url = self.issue_url(cx, tenant);
            cx.send_lifecycle(
                tenant,
                "url_rotated",
                Fields::new().with("trigger_url", Value::Secret(url)),
            );
            if let Rotation::Periodic(rho) = self.cfg.url_rotation {
                cx.set_timer(cx.now + rho, tag);
            }
        }
    }

    fn reset_volatile(&mut self) {
        self.nested.clear();
    }
}
