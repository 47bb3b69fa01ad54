//! The platform: identity service (authorization server and token issuer), Forge (trigger
//! URLs, scheduled pushes, lifecycle events), the installation registry, the UPM console and
//! the product API. F, the AS and the API are one platform and share keys and registry.
//! Mechanism-specific endpoints live in a [`PlatformSide`].

use super::resource::{ApiDecision, InstallView, verify_bearer};
use super::{AdminAction, Effects, Input, Outgoing, Role};
use crate::Micros;
use crate::history::{AdminKind, Event, ItemKind, LocalStep};
use crate::ids::{
    APP_B_ID, APP_ID, IdGen, MsgId, PartnerEndpoint, Party, PlatformEndpoint, RoleKind, TenantId,
    TimerId,
};
use crate::message::{Body, Envelope, Fields, Request, Response, Value};
use crate::params::{Apps, ExpLeeway, Revocation, SenderConstraint, TokenAud};
use crate::secret::{ItemId, Jwt, Secret};
use crate::token::{API_AUDIENCE, AccessClaims, FitClaims, PlatformKeys};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// One installation in the registry.
#[derive(Clone, Debug, Default)]
pub struct Installation {
    pub installed: bool,
    pub consented: bool,
    pub grant_revoked: bool,
}

#[derive(Default)]
pub struct Registry {
    pub installs: BTreeMap<TenantId, Installation>,
    /// The tenant an attacker genuinely administers (A4), if any: its admin actions for
    /// that tenant are as valid as the real admin's.
    pub attacker_owned: Option<TenantId>,
}

impl Registry {
    /// The installed tenants, in id order.
    pub fn installed_tenants(&self) -> Vec<TenantId> {
        self.installs
            .iter()
            .filter(|(_, i)| i.installed)
            .map(|(t, _)| *t)
            .collect()
    }
}

impl InstallView for Registry {
    fn live(&self, tenant: TenantId) -> bool {
        self.installs
            .get(&tenant)
            .is_some_and(|i| i.installed && !i.grant_revoked)
    }
}

/// The platform's shared switches, typed (built by `mechanisms::SharedConfig::from_params`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlatformConfig {
    /// With DPoP the API refuses a proof it has seen (`dpop_replay_check`; off: mutant).
    pub dpop_replay_check: bool,
    /// F and the AS check the installation at every mint (`recheck_install`; off: mutant).
    pub recheck_install: bool,
    pub mint_time: Micros,
    /// Access token lifetime.
    pub ttl: Micros,
    pub token_aud: TokenAud,
    pub fit_ttl: Micros,
    pub revocation: Revocation,
    pub exp_leeway: ExpLeeway,
    /// The API rejects T of an uninstalled app or revoked grant.
    pub api_checks_installation: bool,
    /// Lifecycle events (install, uninstall) F → P: retries on timeout or 5xx, the
    /// per-attempt timeout and the exponential backoff base (`workload.md` §8: 4 and 5 s).
    pub event_retries: u32,
    pub event_timeout: Micros,
    pub event_backoff: Micros,
    /// `apps=2`: F also invokes app B (the attacker's backend) for every live installation.
    pub apps: Apps,
    /// The API serves app A's scope only to T minted for app A (`api_app_check`; off: mutant).
    pub api_app_check: bool,
    /// Where the attacker's requests come from (`attacker_location`; H23's allow-list).
    pub attacker_location: crate::network::Location,
    /// F's FIT key schedule (`fit_key_rotation`, `fit_key_overlap`); `None`: one key.
    pub fit_keys: Option<crate::token::KeySchedule>,
}

/// How a platform endpoint handles a request.
pub enum Handling {
    /// Answer after `after` (a mint or other fixed-cost step).
    Reply { response: Response, after: Micros },
    /// The answer comes later through [`PlatformCx::reply`] (a nested call is running).
    Later,
}

/// The mechanism-specific part of the platform.
pub trait PlatformSide: Send {
    /// An installation was registered: provision what the mechanism needs (setup).
    fn on_install(&mut self, _cx: &mut PlatformCx<'_>, _tenant: TenantId) {}
    /// The UPM's answer to the admin's browser after an install.
    fn install_response(&mut self, _cx: &mut PlatformCx<'_>, _tenant: TenantId) -> Response {
        Response::ok(Fields::new())
    }
    fn on_uninstall(&mut self, _cx: &mut PlatformCx<'_>, _tenant: TenantId) {}
    fn on_revoke(&mut self, _cx: &mut PlatformCx<'_>, _tenant: TenantId) {}
    /// t=0: provisioning is over (push starts its schedules).
    fn on_start(&mut self, _cx: &mut PlatformCx<'_>, _tenants: &[TenantId]) {}
    /// `apps=2`: the grant app B's backend holds for `tenant`, sent with F's invocation: an RT
    /// issued to client B where the AS keeps RTs, and with upm-oauth a code of client B too
    /// (with its PKCE verifier and redirect URI); nothing elsewhere.
    fn app_b_grant(&mut self, _cx: &mut PlatformCx<'_>, _tenant: TenantId) -> Fields {
        Fields::new()
    }
    /// A request to a route of this mechanism.
    fn on_request(
        &mut self,
        cx: &mut PlatformCx<'_>,
        env: &Arc<Envelope>,
        req: &Request,
    ) -> Handling;
    /// The response to a call made with [`PlatformCx::call`] (`None`: timed out or lost).
    fn on_call_response(&mut self, _cx: &mut PlatformCx<'_>, _tag: u64, _resp: Option<&Response>) {}
    fn on_timer(&mut self, _cx: &mut PlatformCx<'_>, _tag: u64) {}
    /// A deploy reset the schedules (push only).
    fn on_deploy_reset(&mut self, _cx: &mut PlatformCx<'_>) {}
    /// Checks an API credential this mechanism owns (Connect JWTs); `None`: a bearer T.
    fn verify_api(&self, _cx: &PlatformCx<'_>, _req: &Request) -> Option<ApiDecision> {
        None
    }
    /// Whether an admin `Revoke` withdraws the tenant's grant at the registry. An app-wide
    /// credential (global-secret) has no per-tenant grant: only its own `tenant_block` can.
    fn revokes_grant(&self) -> bool {
        true
    }
    fn reset_volatile(&mut self) {}
    /// Whether credentials and T work only over P's own key (`sender_constraint`).
    fn sender_constraint(&self) -> SenderConstraint {
        SenderConstraint::None
    }
    /// Whether the AS refuses requests from outside P's registered range (`ip_allowlist`).
    fn ip_allowlist(&self) -> crate::network::IpAllowlist {
        crate::network::IpAllowlist::Off
    }
}

enum Timer {
    CallTimeout {
        req: MsgId,
    },
    Mechanism {
        tag: u64,
    },
    /// `apps=2`: F's next round of app B invocations.
    AppB,
}

/// How often F invokes app B for each live installation (`apps=2`), and the first round.
const APP_B_EVERY: Micros = 120 * crate::SEC;

/// One lifecycle event F is delivering to P.lifecycle, kept until P acknowledges it or F
/// runs out of retries.
#[derive(Clone, Debug)]
struct LifecycleEvent {
    tenant: TenantId,
    event: &'static str,
    extra: Fields,
    attempt: u32,
}

/// What happens next to a lifecycle delivery in flight.
enum LifecycleTimer {
    /// The attempt sent as `req` timed out (if it is still outstanding).
    Timeout { req: MsgId },
    /// The backoff before the next attempt ended.
    Retry(LifecycleEvent),
}

/// Lifecycle deliveries in flight. Their timers have their own id space (the top bit set),
/// so delivering with a timeout does not renumber the platform's messages.
#[derive(Default)]
struct LifecycleCalls {
    in_flight: BTreeMap<MsgId, LifecycleEvent>,
    timers: BTreeMap<TimerId, LifecycleTimer>,
    next_timer: u64,
}

impl LifecycleCalls {
    const TIMER_SPACE: u64 = 1 << 63;

    fn set_timer(&mut self, out: &mut Effects, at: Micros, timer: LifecycleTimer) {
        self.next_timer += 1;
        let id = TimerId(Self::TIMER_SPACE | self.next_timer);
        self.timers.insert(id, timer);
        out.timers.push((at, id));
    }
}

/// What a [`PlatformSide`] may use.
pub struct PlatformCx<'a> {
    pub now: Micros,
    pub rng: &'a mut ChaCha8Rng,
    /// The run's choice source (push duplicates and phases).
    pub choices: &'a crate::choice::Choices,
    pub cfg: &'a PlatformConfig,
    pub keys: &'a PlatformKeys,
    pub registry: &'a mut Registry,
    ids: &'a mut IdGen,
    calls: &'a mut BTreeMap<MsgId, u64>,
    timers: &'a mut BTreeMap<TimerId, Timer>,
    lifecycle: &'a mut LifecycleCalls,
    out: &'a mut Effects,
}

impl PlatformCx<'_> {
    pub fn record(&mut self, event: Event) {
        self.out.record(self.now, event);
    }
    pub fn installed(&self, tenant: TenantId) -> bool {
        self.registry
            .installs
            .get(&tenant)
            .is_some_and(|i| i.installed)
    }
    /// May the platform issue for this tenant now? With `recheck_install=off` (a mutant) it
    /// does not look.
    pub fn may_issue(&mut self, tenant: TenantId) -> bool {
        if !self.cfg.recheck_install {
            return true;
        }
        let live = self.registry.live(tenant);
        if !live {
            self.record(Event::IssueDenied { tenant });
        }
        live
    }
    /// `mint_time`: the cost of minting at F or the AS.
    pub fn mint_time(&self) -> Micros {
        self.cfg.mint_time
    }
    /// Records a mint step on the causal chain of `cause`.
    pub fn mint_step(&mut self, who: Party, cause: MsgId) -> Micros {
        let end = self.now + self.mint_time();
        self.record(Event::Local {
            who,
            step: LocalStep::Mint,
            start: self.now,
            end,
            cause: Some(cause).into(),
        });
        end
    }
    fn jti(&mut self) -> String {
        format!("{:016x}", self.rng.random::<u64>())
    }
    /// Mints an access token T for `tenant`, issued to `to`, valid for `ttl` from `at`.
    pub fn mint_access(&mut self, tenant: TenantId, to: Party, at: Micros) -> (Jwt, Micros) {
        self.mint_access_for(APP_ID, tenant, to, at)
    }
    /// [`PlatformCx::mint_access`] for `app`.
    fn mint_access_for(
        &mut self,
        app: &str,
        tenant: TenantId,
        to: Party,
        at: Micros,
    ) -> (Jwt, Micros) {
        let ttl = self.cfg.ttl;
        let aud = if self.cfg.token_aud == TokenAud::Wrong {
            "other-api"
        } else {
            API_AUDIENCE
        };
        let epoch = self.keys.epoch();
        let claims = AccessClaims::app_token(
            app,
            aud,
            tenant,
            epoch.numeric_date(at),
            epoch.numeric_date(at + ttl),
            self.jti(),
        );
        let jwt = self.keys.mint_access(&claims);
        // The exact expiry the API will enforce (NumericDates are whole seconds).
        let exp = self.keys.epoch().model_time(claims.exp);
        self.record(Event::Issue {
            item: jwt.id(),
            kind: ItemKind::AccessToken,
            tenant,
            to,
            exp: Some(exp),
        });
        (jwt, exp)
    }
    /// Signs a FIT for a call to the partner about `tenant`.
    pub fn sign_fit(&mut self, tenant: TenantId) -> Jwt {
        self.sign_fit_for(APP_ID, tenant, Party::Partner(PartnerEndpoint::App))
    }
    /// [`PlatformCx::sign_fit`] for a call to `app`'s backend `to`.
    fn sign_fit_for(&mut self, app: &str, tenant: TenantId, to: Party) -> Jwt {
        let now = self.now;
        let epoch = self.keys.epoch();
        let claims = FitClaims::for_tenant(
            app,
            tenant,
            epoch.numeric_date(now),
            epoch.numeric_date(now + self.cfg.fit_ttl),
            self.jti(),
        );
        let fit = self.keys.sign_fit(&claims);
        // Recorded so a checker can tell a genuine FIT for tenant i from a replayed or forged one.
        self.record(Event::Issue {
            item: fit.id(),
            kind: ItemKind::Fit,
            tenant,
            to,
            exp: Some(now + self.cfg.fit_ttl),
        });
        fit
    }
    /// `apps=2`: one invocation of app B's backend (the attacker's) for `tenant`, as F invokes
    /// a Forge app: a FIT for app B and a T minted for app B.
    fn invoke_app_b(&mut self, tenant: TenantId, grant: Fields) {
        let now = self.now;
        let fit = self.sign_fit_for(APP_B_ID, tenant, Party::Attacker);
        let (token, exp) = self.mint_access_for(APP_B_ID, tenant, Party::Attacker, now);
        let mut body = Fields::new()
            .with("installationId", Value::Tenant(tenant))
            .with("expires_at", Value::Int(exp));
        body.0.extend(grant.0);
        let req = Request {
            method: crate::message::Method::Post,
            route: "POST /app-b/invoke",
            tenant: Some(tenant),
            headers: Fields::new()
                .with("authorization", Value::Jwt(fit))
                .with("x-forge-oauth-system", Value::Jwt(token)),
            body,
        };
        let id = self.ids.msg();
        self.out.send.push(Outgoing {
            depart: now,
            env: Envelope {
                id,
                from: Party::FORGE,
                to: Party::Attacker,
                cause: None,
                body: Body::Request(req),
            },
        });
    }
    /// Generates and records a long-lived secret issued to `to`.
    pub fn issue_secret(
        &mut self,
        kind: ItemKind,
        tag: &str,
        tenant: TenantId,
        to: Party,
        exp: Option<Micros>,
    ) -> Secret {
        let s = Secret::generate(self.rng, tag);
        self.record(Event::Issue {
            item: s.id(),
            kind,
            tenant,
            to,
            exp,
        });
        s
    }
    /// Sends a request; its answer (or `None` after `timeout`) reaches `on_call_response(tag)`.
    #[allow(clippy::too_many_arguments)]
    pub fn call(
        &mut self,
        from: Party,
        to: Party,
        req: Request,
        cause: Option<MsgId>,
        depart: Micros,
        timeout: Option<Micros>,
        tag: u64,
    ) -> MsgId {
        let id = self.ids.msg();
        self.out.send.push(Outgoing {
            depart,
            env: Envelope {
                id,
                from,
                to,
                cause,
                body: Body::Request(req),
            },
        });
        self.calls.insert(id, tag);
        if let Some(t) = timeout {
            let tid = self.ids.timer();
            self.timers.insert(tid, Timer::CallTimeout { req: id });
            self.out.timers.push((depart + t, tid));
        }
        id
    }
    /// A lifecycle event F → P.lifecycle, authenticated by a FIT. F retries it on timeout or
    /// 5xx (`event_retries`), each attempt with a fresh FIT and the same body.
    pub fn send_lifecycle(&mut self, tenant: TenantId, event: &'static str, extra: Fields) {
        self.deliver_lifecycle(LifecycleEvent {
            tenant,
            event,
            extra,
            attempt: 0,
        });
    }

    fn deliver_lifecycle(&mut self, ev: LifecycleEvent) {
        let fit = self.sign_fit(ev.tenant);
        let mut body = Fields::new()
            .with("event", Value::Str(ev.event.into()))
            .with("installationId", Value::Tenant(ev.tenant));
        body.0.extend(ev.extra.0.iter().cloned());
        let req = Request {
            method: crate::message::Method::Post,
            route: "POST /lifecycle",
            tenant: Some(ev.tenant),
            headers: Fields::new().with("authorization", Value::Jwt(fit)),
            body,
        };
        let id = self.ids.msg();
        let now = self.now;
        self.out.send.push(Outgoing {
            depart: now,
            env: Envelope {
                id,
                from: Party::FORGE,
                to: Party::Partner(PartnerEndpoint::Lifecycle),
                cause: None,
                body: Body::Request(req),
            },
        });
        self.lifecycle.set_timer(
            self.out,
            now + self.cfg.event_timeout,
            LifecycleTimer::Timeout { req: id },
        );
        self.lifecycle.in_flight.insert(id, ev);
    }

    /// The attempt `req` ended: acknowledged (`Some` 2xx or 4xx: P refused it, a retry would
    /// not help), or failed (`None`: timed out; 5xx). A failed attempt is retried after an
    /// exponential backoff while retries remain.
    fn lifecycle_attempt_ended(&mut self, req: MsgId, resp: Option<&Response>) {
        let Some(mut ev) = self.lifecycle.in_flight.remove(&req) else {
            return;
        };
        let failed = resp.is_none_or(|r| r.status >= 500);
        if failed && ev.attempt < self.cfg.event_retries {
            let wait = self
                .cfg
                .event_backoff
                .saturating_mul(1 << ev.attempt.min(20));
            ev.attempt += 1;
            let at = self.now + wait;
            self.lifecycle
                .set_timer(self.out, at, LifecycleTimer::Retry(ev));
        }
    }

    /// Answers `inbound` at `depart`.
    pub fn reply(&mut self, inbound: &Envelope, response: Response, depart: Micros) {
        let id = self.ids.msg();
        self.out
            .send
            .push(Outgoing::reply(id, inbound, response, depart));
    }
    /// Abandons an outstanding call (the connection is closed; a late answer is dropped).
    pub fn cancel(&mut self, req: MsgId) {
        self.calls.remove(&req);
        self.out.cancel.push(req);
    }
    pub fn set_timer(&mut self, at: Micros, tag: u64) {
        let id = self.ids.timer();
        self.timers.insert(id, Timer::Mechanism { tag });
        self.out.timers.push((at, id));
    }
}

/// The platform role.
pub struct Platform {
    side: Box<dyn PlatformSide>,
    cfg: PlatformConfig,
    sender_constraint: SenderConstraint,
    pub keys: PlatformKeys,
    pub registry: Registry,
    rng: ChaCha8Rng,
    /// The run's choice source.
    pub choices: crate::choice::Choices,
    ids: IdGen,
    calls: BTreeMap<MsgId, u64>,
    timers: BTreeMap<TimerId, Timer>,
    lifecycle: LifecycleCalls,
    /// DPoP proofs already accepted (`jti` single use, RFC 9449).
    seen_proofs: BTreeSet<Secret>,
    /// The largest clock skew observed from the partner (`exp_leeway=track_skew` widens by it).
    observed_skew: Micros,
}

/// Request fields that carry a credential presented to F or the AS, in order of precedence.
const PRESENTED_FIELDS: [&str; 5] = [
    "url",
    "refresh_token",
    "code",
    "client_secret",
    "authorization",
];

/// The credential a request presents, if any (the item a verifier decides on). A client
/// assertion presents the key it names (`kid`): the assertion itself is a one-time item that
/// P6 judges, the key is the credential.
pub fn presented_item(req: &Request) -> Option<ItemId> {
    if let Some(a) = req.body.jwt("client_assertion") {
        return crate::token::assertion_kid(a);
    }
    PRESENTED_FIELDS
        .iter()
        .find_map(|k| match req.body.get(k).or_else(|| req.headers.get(k)) {
            Some(Value::Secret(s)) => Some(s.id()),
            Some(Value::Jwt(j)) => Some(j.id()),
            _ => None,
        })
}

/// The tenant a presenter acts for: its declared `x-acting-for` (P: the demand it serves; an
/// attacker: its target), else the tenant the request addresses.
pub fn acting_tenant(req: &Request) -> Option<TenantId> {
    req.headers
        .tenant("x-acting-for")
        .or(req.tenant)
        .or_else(|| req.body.tenant("tenant"))
}

/// Error codes as static reasons for the history.
fn reason_of(resp: &Response) -> &'static str {
    const KNOWN: [&str; 17] = [
        "invalid_grant",
        "invalid_client",
        "not_installed",
        "unknown_trigger_url",
        "trigger_auth_required",
        "invalid_request",
        "unsupported_grant_type",
        "wrong_tenant",
        "access_denied",
        "no_such_route",
        "sender_constraint",
        "no_tenant",
        "unavailable",
        "rate_limited",
        "assertion_expired",
        "assertion_replayed",
        "code_expired",
    ];
    let code = resp.error_code().unwrap_or("");
    KNOWN.into_iter().find(|k| *k == code).unwrap_or("rejected")
}

impl Platform {
    /// F's FIT key schedule, if it rotates its key.
    pub fn fit_key_schedule(&self) -> Option<crate::token::KeySchedule> {
        self.cfg.fit_keys
    }

    pub fn new(
        side: Box<dyn PlatformSide>,
        cfg: PlatformConfig,
        keys: PlatformKeys,
        rng: ChaCha8Rng,
    ) -> Platform {
        Platform {
            sender_constraint: side.sender_constraint(),
            side,
            cfg,
            keys,
            registry: Registry::default(),
            rng,
            choices: crate::choice::Choices::random(),
            ids: IdGen::new(RoleKind::Platform),
            calls: BTreeMap::new(),
            timers: BTreeMap::new(),
            lifecycle: LifecycleCalls::default(),
            seen_proofs: BTreeSet::new(),
            observed_skew: 0,
        }
    }

    /// With `sender_constraint=mtls|dpop` a credential and the T minted from it work only
    /// over P's own key; the model's proof of possession is that P itself sent the request.
    /// `private_key_jwt` authenticates the client at the token endpoint only: T stays bearer.
    fn sender_constrained(&self) -> bool {
        matches!(
            self.sender_constraint,
            SenderConstraint::Mtls | SenderConstraint::Dpop
        )
    }

    fn with_side<T>(
        &mut self,
        now: Micros,
        out: &mut Effects,
        f: impl FnOnce(&mut dyn PlatformSide, &mut PlatformCx<'_>) -> T,
    ) -> T {
        let mut cx = PlatformCx {
            now,
            rng: &mut self.rng,
            choices: &self.choices,
            cfg: &self.cfg,
            keys: &self.keys,
            registry: &mut self.registry,
            ids: &mut self.ids,
            calls: &mut self.calls,
            timers: &mut self.timers,
            lifecycle: &mut self.lifecycle,
            out,
        };
        f(self.side.as_mut(), &mut cx)
    }

    fn reply(&mut self, inbound: &Envelope, response: Response, depart: Micros, out: &mut Effects) {
        let id = self.ids.msg();
        out.send
            .push(Outgoing::reply(id, inbound, response, depart));
    }

    fn admin(&mut self, now: Micros, action: AdminAction, out: &mut Effects) -> Response {
        let tenant = action.tenant();
        match action {
            AdminAction::Install(_) => {
                let i = self.registry.installs.entry(tenant).or_default();
                i.installed = true;
                i.grant_revoked = false;
                out.record(
                    now,
                    Event::Admin {
                        kind: AdminKind::Install,
                        tenant,
                    },
                );
                self.with_side(now, out, |side, cx| {
                    side.on_install(cx, tenant);
                    side.install_response(cx, tenant)
                })
            }
            AdminAction::Uninstall(_) => {
                if let Some(i) = self.registry.installs.get_mut(&tenant) {
                    i.installed = false;
                }
                out.record(
                    now,
                    Event::Admin {
                        kind: AdminKind::Uninstall,
                        tenant,
                    },
                );
                self.with_side(now, out, |side, cx| {
                    side.on_uninstall(cx, tenant);
                    cx.send_lifecycle(tenant, "uninstalled", Fields::new());
                });
                Response::ok(Fields::new())
            }
            AdminAction::Revoke(_) => {
                if self.cfg.revocation == Revocation::Enforced
                    && self.side.revokes_grant()
                    && let Some(i) = self.registry.installs.get_mut(&tenant)
                {
                    i.grant_revoked = true;
                }
                out.record(
                    now,
                    Event::Admin {
                        kind: AdminKind::Revoke,
                        tenant,
                    },
                );
                self.with_side(now, out, |side, cx| side.on_revoke(cx, tenant));
                Response::ok(Fields::new())
            }
        }
    }

    fn on_api(&mut self, now: Micros, env: &Arc<Envelope>, req: &Request, out: &mut Effects) {
        let track_skew = self.cfg.exp_leeway == ExpLeeway::TrackSkew;
        if let Some(date) = req.headers.int("date")
            && env.from.role() == RoleKind::Partner
        {
            self.observed_skew = self.observed_skew.max((now - date).abs());
        }
        let leeway = match self.cfg.exp_leeway {
            _ if track_skew => self.observed_skew,
            // The mutant that never checks exp: a leeway longer than any run.
            ExpLeeway::Ignore => 365 * 86_400 * crate::SEC,
            _ => 0,
        };
        // Access logs record the request line: a credential in the query lands there.
        if req
            .body
            .0
            .iter()
            .any(|(_, v)| matches!(v, Value::Secret(_) | Value::Jwt(_)))
        {
            out.record(
                now,
                Event::Log {
                    who: Party::API,
                    env: env.clone(),
                },
            );
        }
        let decision = {
            let cx = PlatformCx {
                now,
                rng: &mut self.rng,
                choices: &self.choices,
                cfg: &self.cfg,
                keys: &self.keys,
                registry: &mut self.registry,
                ids: &mut self.ids,
                calls: &mut self.calls,
                timers: &mut self.timers,
                lifecycle: &mut self.lifecycle,
                out,
            };
            match self.side.verify_api(&cx, req) {
                Some(d) => d,
                None => verify_bearer(
                    &self.keys,
                    &self.registry,
                    self.cfg.api_checks_installation,
                    self.cfg.api_app_check,
                    leeway,
                    req,
                    now,
                    true,
                ),
            }
        };
        let decision = decision.and_then(|ok| {
            if !self.sender_constrained() {
                return Ok(ok);
            }
            if self.sender_constraint == SenderConstraint::Dpop {
                // DPoP: the proof is signed with P's key, so a captured proof replayed from
                // any link passes the key check; only its `jti` (seen before) stops it. A
                // request without a proof has no key behind it.
                let proof = req.headers.secret("dpop").ok_or("dpop_missing")?;
                if !self.seen_proofs.insert(proof.clone()) && self.cfg.dpop_replay_check {
                    return Err("dpop_replay");
                }
                return Ok(ok);
            }
            // mTLS: the certificate is bound to P's TLS connection; nobody else has it.
            if env.from.role() != RoleKind::Partner {
                return Err("sender_constraint");
            }
            Ok(ok)
        });
        if let (Some(tenant), Some(v)) = (acting_tenant(req), req.headers.get("authorization")) {
            let item = match v {
                Value::Jwt(j) => Some(j.id()),
                Value::Secret(s) => Some(s.id()),
                _ => None,
            };
            if let Some(item) = item {
                out.record(
                    now,
                    Event::Present {
                        who: env.from,
                        item,
                        tenant,
                        req: env.id,
                    },
                );
            }
        }
        let response = match decision {
            Ok((tenant, acting_as)) => {
                out.record(
                    now,
                    Event::Accept {
                        req: env.id,
                        tenant,
                        acting_as,
                    },
                );
                Response::ok(Fields::new())
            }
            Err(reason) => {
                out.record(
                    now,
                    Event::Reject {
                        req: env.id,
                        reason,
                    },
                );
                Response::error(401, reason)
            }
        };
        self.reply(env, response, now, out);
    }

    fn on_message(&mut self, now: Micros, env: Envelope, out: &mut Effects) {
        let env = Arc::new(env);
        match &env.body {
            Body::Request(req) => match env.to {
                Party::Platform(PlatformEndpoint::ProductApi) => self.on_api(now, &env, req, out),
                Party::Platform(PlatformEndpoint::Forge | PlatformEndpoint::AuthServer)
                    if presented_item(req).is_some() =>
                {
                    self.on_presentation(now, &env, req, out)
                }
                Party::Platform(PlatformEndpoint::Upm) => {
                    let Some(t) = req.body.tenant("tenant") else {
                        self.reply(&env, Response::error(400, "missing_tenant"), now, out);
                        return;
                    };
                    let action = match req.route {
                        "POST /upm/install" => AdminAction::Install(t.0),
                        "POST /upm/uninstall" => AdminAction::Uninstall(t.0),
                        "POST /upm/revoke" => AdminAction::Revoke(t.0),
                        _ => {
                            self.reply(&env, Response::error(404, "no_such_route"), now, out);
                            return;
                        }
                    };
                    let response = self.admin(now, action, out);
                    self.reply(&env, response, now, out);
                }
                _ => match self.with_side(now, out, |side, cx| side.on_request(cx, &env, req)) {
                    Handling::Reply { response, after } => {
                        self.reply(&env, response, now + after, out)
                    }
                    Handling::Later => {}
                },
            },
            Body::Response(resp) => {
                let Some(cause) = env.cause else { return };
                if self.lifecycle.in_flight.contains_key(&cause) {
                    self.with_side(now, out, |_, cx| {
                        cx.lifecycle_attempt_ended(cause, Some(resp))
                    });
                } else if let Some(tag) = self.calls.remove(&cause) {
                    self.with_side(now, out, |side, cx| {
                        side.on_call_response(cx, tag, Some(resp))
                    });
                }
            }
        }
    }

    /// A credential presented to F or the AS: the mechanism decides; the platform records
    /// the presentation and the decision (`threats.md` §1 `Present`, `Accept`, `Reject`).
    fn on_presentation(
        &mut self,
        now: Micros,
        env: &Arc<Envelope>,
        req: &Request,
        out: &mut Effects,
    ) {
        let item = presented_item(req).expect("checked by the caller");
        let acting = acting_tenant(req);
        if let Some(tenant) = acting {
            out.record(
                now,
                Event::Present {
                    who: env.from,
                    item,
                    tenant,
                    req: env.id,
                },
            );
        }
        // Checks of the AS itself, before the mechanism looks: the sender constraint, then
        // the IP allow-list of P's range (issue 12, H23).
        let refusal = if env.to != Party::AS {
            None
        } else if self.sender_constrained() && env.from.role() != RoleKind::Partner {
            Some((401, "sender_constraint"))
        } else if self.side.ip_allowlist() == crate::network::IpAllowlist::On
            && !crate::network::in_partner_range(crate::network::location_of(
                env.from,
                self.cfg.attacker_location,
            ))
        {
            Some((403, "ip_not_allowed"))
        } else {
            None
        };
        if let Some((status, reason)) = refusal {
            out.record(
                now,
                Event::Reject {
                    req: env.id,
                    reason,
                },
            );
            self.reply(env, Response::error(status, reason), now, out);
            return;
        }
        let mark = out.send.len();
        match self.with_side(now, out, |side, cx| side.on_request(cx, env, req)) {
            Handling::Reply { response, after } => {
                let event = if response.is_success() {
                    let minted = response
                        .body
                        .jwt("access_token")
                        .and_then(|t| self.keys.verify_access(t).ok())
                        .map(|c| TenantId(c.inst));
                    minted.or(acting).map(|tenant| Event::Accept {
                        req: env.id,
                        tenant,
                        acting_as: "app",
                    })
                } else {
                    Some(Event::Reject {
                        req: env.id,
                        reason: reason_of(&response),
                    })
                };
                if let Some(e) = event {
                    out.record(now, e);
                }
                self.reply(env, response, now + after, out)
            }
            Handling::Later => {
                // F accepted the credential and started minting for the tenant it names.
                let tenant = out.send[mark..]
                    .iter()
                    .find_map(|o| o.env.request().and_then(|r| r.tenant))
                    .or(acting);
                if let Some(tenant) = tenant {
                    out.record(
                        now,
                        Event::Accept {
                            req: env.id,
                            tenant,
                            acting_as: "app",
                        },
                    );
                }
            }
        }
    }

    fn on_timer(&mut self, now: Micros, id: TimerId, out: &mut Effects) {
        if let Some(timer) = self.lifecycle.timers.remove(&id) {
            self.with_side(now, out, |_, cx| match timer {
                LifecycleTimer::Timeout { req } => {
                    if cx.lifecycle.in_flight.contains_key(&req) {
                        cx.out.cancel.push(req);
                        cx.lifecycle_attempt_ended(req, None);
                    }
                }
                LifecycleTimer::Retry(ev) => cx.deliver_lifecycle(ev),
            });
            return;
        }
        match self.timers.remove(&id) {
            Some(Timer::CallTimeout { req }) => {
                if let Some(tag) = self.calls.remove(&req) {
                    out.cancel.push(req);
                    self.with_side(now, out, |side, cx| side.on_call_response(cx, tag, None));
                }
            }
            Some(Timer::Mechanism { tag }) => {
                self.with_side(now, out, |side, cx| side.on_timer(cx, tag))
            }
            Some(Timer::AppB) => self.invoke_app_b(now, out),
            None => {}
        }
    }

    /// `apps=2`: F invokes app B's backend (the attacker's) for every live installation, with
    /// a FIT for app B and a T minted for app B, both recorded as issued to the attacker.
    fn invoke_app_b(&mut self, now: Micros, out: &mut Effects) {
        let tenants: Vec<TenantId> = self
            .registry
            .installs
            .keys()
            .copied()
            .filter(|t| self.registry.live(*t))
            .collect();
        self.with_side(now, out, |side, cx| {
            for tenant in tenants {
                let grant = side.app_b_grant(cx, tenant);
                cx.invoke_app_b(tenant, grant);
            }
        });
        let id = self.ids.timer();
        self.timers.insert(id, Timer::AppB);
        out.timers.push((now + APP_B_EVERY, id));
    }

    /// A deploy resets scheduled triggers (nemesis).
    pub fn deploy_reset(&mut self, now: Micros, out: &mut Effects) {
        self.with_side(now, out, |side, cx| side.on_deploy_reset(cx));
    }
}

impl Role for Platform {
    fn kind(&self) -> RoleKind {
        RoleKind::Platform
    }

    fn handle(&mut self, now: Micros, input: Input, out: &mut Effects) {
        match input {
            Input::Message(env) => self.on_message(now, env, out),
            Input::Timer(id) => self.on_timer(now, id, out),
            Input::Start => {
                let tenants = self.registry.installed_tenants();
                self.with_side(now, out, |side, cx| side.on_start(cx, &tenants));
                if self.cfg.apps == Apps::Two {
                    let id = self.ids.timer();
                    self.timers.insert(id, Timer::AppB);
                    out.timers.push((now + APP_B_EVERY, id));
                }
            }
            Input::Restart { lost_volatile } => {
                if lost_volatile {
                    // Lifecycle events stay queued: F delivers them from a durable queue.
                    self.calls.clear();
                    self.side.reset_volatile();
                }
            }
            Input::Demand { .. } | Input::Admin(_) | Input::StoreDone { .. } => {}
        }
    }
}
