//! The attacker of `threats.md` §2. It acts only through the protocol's own messages: what it
//! gains is whatever the platform, the AS, the partner's endpoints and the product API accept.
//! There is no table of outcomes here.
//!
//! Knowledge comes in two ways. Capabilities that read somebody else's state (a tapped hop
//! A1, the partner's store A2, logs A3, its own tenant's material A4, a theft A5) are applied
//! by the driver, which hands the exposed values to [`Attacker::acquire`] / [`Attacker::observe`]
//! and records an `Attack` event. Everything else is protocol traffic the attacker sends:
//! using loot (A5, A9), forging deliveries (A10), replaying captures (A7), redirect tricks (A6).
//!
//! Policy behind every metric (`threats.md` §2): the attacker knows every tenant id; after it
//! gains an item it tries every tenant once, then probes every `probe_every` (60 s) until
//! rejected or the run ends.

use super::{Effects, Input, Outgoing, Role};
use crate::history::{AttackerCapability, ExposureMode};
use crate::ids::{
    APP_ID, Group, IdGen, MsgId, PartnerEndpoint, Party, RoleKind, TenantId, TimerId,
};
use crate::message::{Body, Envelope, Fields, Request, Response, Value};
use crate::secret::{Jwt, Secret};
use crate::token::{
    API_AUDIENCE, AccessClaims, ConnectClaims, FitClaims, client_key, connect_qsh, forge_access,
    forge_fit, sign_connect,
};
use crate::{Micros, SEC};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// How long the attacker's forged FITs and Ts claim to live (its choice: the layout is public,
/// the lifetime is whatever passes the verifiers' `exp` checks, so only the signature or HMAC
/// check refuses the forgery).
const FORGED_LIFETIME: Micros = 3600 * SEC;

/// One capability of `threats.md` §2, switched on at a time.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "capability")]
pub enum Capability {
    /// A1: observe every message on the hops between two groups (both directions).
    Tap { a: Group, b: Group },
    /// A2: read P's store: once (`snapshot`) or every later write too (`continuing`).
    Breach { continuing: bool },
    /// A3: read every log written from now on.
    ReadLogs,
    /// A4: a genuine installation the attacker administers; it sees everything issued for,
    /// bound to or used by P for that tenant.
    Own { tenant: TenantId },
    /// A5: one stolen item of one victim tenant (`field` of its row; `token` = the cached T).
    Steal {
        field: &'static str,
        tenant: TenantId,
        from: ExposureMode,
    },
    /// A1 (`from_log: false`) or A3 (`true`) aimed at one item: the first instance of `field`
    /// for `tenant` that crosses a hop (or lands in a log) from now on.
    StealInTransit {
        field: &'static str,
        tenant: TenantId,
        from_log: bool,
    },
    /// A2 restricted to one item of one tenant, `continuing`: the attacker re-reads it after
    /// every write (a persistent foothold on that row).
    StealContinuing {
        field: &'static str,
        tenant: TenantId,
    },
    /// A6: lure the victim's admin into an authorization with the attacker's `redirect_uri`.
    Redirect { victim: TenantId },
    /// A6: inject a code of the attacker's own tenant into the victim's callback (needs A4).
    InjectCode { victim: TenantId },
    /// A6: approve the consent form for the victim's site itself (it is not the victim's
    /// admin): only the AS's check of who consents stops it.
    ForgeConsent { victim: TenantId },
    /// A7: replay captured requests (what A1 observed), and Connect JWTs on another route.
    Replay,
    /// A7, late: replay every captured code exchange, and every captured token request
    /// authenticated by a `client_assertion` (private_key_jwt), once, [`CODE_REPLAY_LATE`]
    /// after it was seen: past the code's lifetime (where the genuine exchange never reached
    /// the AS only the AS's expiry check stops it), and past the assertion's `exp` (the AS
    /// remembers a `jti` only until its `exp`, so only the expiry check stops it).
    ReplayLate,
    /// A9: call a stolen trigger URL `count` times.
    Spam { count: u32 },
    /// A9 at a rate: call every stolen trigger URL `per_min` times a minute, evenly spaced,
    /// until `until` (quota burn against F's invocation limits).
    SpamRate { per_min: u32, until: Micros },
    /// A10: POST forged token deliveries and install hooks to P's endpoints.
    Forge,
    /// A10, once: requests that leave out a parameter the verifier needs, so that only its
    /// missing-parameter check stops them: token requests without `grant_type`, a refresh
    /// grant without its `refresh_token`, an API request with neither token nor site, P's
    /// OAuth start and the consent form without a tenant.
    Malformed,
    /// The partner closes a continuing read of its store (A2 or a continuing A5): no later
    /// write is seen. What was stolen stays with the attacker, who goes on using it.
    EndReads,
}

impl Capability {
    pub fn id(&self) -> AttackerCapability {
        use AttackerCapability::*;
        match self {
            Capability::Tap { .. } => A1,
            Capability::Breach { .. } => A2,
            Capability::ReadLogs => A3,
            Capability::Own { .. } => A4,
            Capability::Steal { .. } => A5,
            Capability::StealContinuing { .. } | Capability::EndReads => A2,
            Capability::StealInTransit {
                from_log: false, ..
            } => A1,
            Capability::StealInTransit { from_log: true, .. } => A3,
            Capability::Redirect { .. }
            | Capability::InjectCode { .. }
            | Capability::ForgeConsent { .. } => A6,
            Capability::Replay | Capability::ReplayLate => A7,
            Capability::Spam { .. } | Capability::SpamRate { .. } => A9,
            Capability::Forge | Capability::Malformed => A10,
        }
    }
}

/// A capability switched on at `at`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AttackStep {
    pub at: Micros,
    pub capability: Capability,
}

/// What the attacker does in one run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AttackPlan {
    pub steps: Vec<AttackStep>,
    /// Use what it learns (off: a passive observer, for confinement runs).
    pub use_loot: bool,
    /// Probe interval after an Accept (the 60 s resolution of every metric).
    pub probe_every: Micros,
    /// Stop probing after this time (the horizon).
    pub until: Micros,
    /// JWKS outages at P (a fault the P10 runs combine with A10): `[from, until)`.
    pub jwks_outages: Vec<(Micros, Micros)>,
    /// Whether store reads (A2, A5 from the store) come with the decryption key. Without it,
    /// and with `encrypt_at_rest=on`, a read yields only ciphertext.
    pub store_key: bool,
}

impl AttackPlan {
    pub fn new(steps: Vec<AttackStep>, until: Micros) -> AttackPlan {
        AttackPlan {
            steps,
            use_loot: true,
            probe_every: 60 * SEC,
            until,
            jwks_outages: Vec::new(),
            store_key: true,
        }
    }
}

/// One value the attacker holds, with where it came from.
#[derive(Clone, Debug)]
pub struct Loot {
    pub field: &'static str,
    /// The tenant it belongs to, as far as the attacker can tell.
    pub tenant: Option<TenantId>,
    pub value: Value,
}

/// The redirect URI an attacker registers under a loose match.
pub const ATTACKER_REDIRECT: &str = "https://partner.example/evil/callback";
const REGISTERED_REDIRECT: &str = "https://partner.example/oauth/callback";

#[derive(Clone, Copy, Debug)]
enum Act {
    Use {
        loot: usize,
        tenant: TenantId,
    },
    Forge,
    /// No answer to a use (lost on the way): probe again next round.
    Unanswered {
        req: MsgId,
    },
    /// Replay a captured FIT delivery with a forged body (index into `fit_captures`).
    ReplayFit {
        capture: usize,
    },
    /// One call of a rate-limited spam (A9), rescheduling itself every `every` until `until`.
    SpamTick {
        loot: usize,
        every: Micros,
        until: Micros,
    },
}

/// A FIT delivery to P.auth / P.recv seen in transit (A1 on the partner–Forge hop).
#[derive(Clone, Debug)]
struct FitCapture {
    to: Party,
    req: Request,
    /// Its answer was seen: the genuine delivery has been decided.
    answered: bool,
}

/// When the second replay of a captured FIT goes out: past the default 60 s FIT lifetime, so
/// only P's `exp` check stops it.
const FIT_REPLAY_LATE: Micros = 120 * SEC;

#[derive(Clone, Debug)]
enum Pending {
    /// A use of loot: its answer decides whether the pair is probed again.
    Use {
        loot: usize,
        tenant: TenantId,
    },
    /// Presenting a T obtained from a mint (one shot).
    Present,
    /// Code injection: the authorize page, then the consent that yields the code.
    Authorize {
        own: TenantId,
        victim: TenantId,
    },
    Consent {
        victim: TenantId,
    },
    Other,
}

/// The attacker role.
pub struct Attacker {
    plan: AttackPlan,
    tenants: u32,
    rng: ChaCha8Rng,
    /// The run's choice source (when a stolen root credential is first used).
    pub choices: crate::choice::Choices,
    ids: IdGen,
    loot: Vec<Loot>,
    known: BTreeSet<String>,
    owned: Option<TenantId>,
    forging: bool,
    replaying: bool,
    replaying_late: bool,
    /// Code exchanges and assertion token requests already scheduled for a late replay.
    captured_late: BTreeSet<MsgId>,
    captured: BTreeSet<MsgId>,
    replays: u32,
    fit_captures: Vec<FitCapture>,
    /// The message id of each capture (same order as `fit_captures`).
    capture_ids: Vec<MsgId>,
    timers: BTreeMap<TimerId, Act>,
    pending: BTreeMap<MsgId, Pending>,
    /// The world's time origin, for the NumericDates of JWTs it forges.
    pub epoch: crate::token::Epoch,
}

/// When a captured code exchange (or assertion token request) is replayed late: past the
/// AS's 60 s code lifetime, and past the default 60 s `assertion_lifetime` (plus the AS's
/// 1 s tolerance). The attacker does not read `exp`: with `assertion_lifetime` ≥ 120 s the
/// late replay still meets the `jti` check.
pub const CODE_REPLAY_LATE: Micros = 120 * SEC;

/// How many captured product-API requests A7 replays (AS requests are always replayed).
const REPLAY_LIMIT: u32 = 8;

fn value_key(v: &Value) -> Option<String> {
    match v {
        Value::Secret(s) => Some(s.expose().to_string()),
        Value::Jwt(j) => Some(j.expose().to_string()),
        Value::Str(s) => Some(format!("str:{s}")),
        _ => None,
    }
}

impl Attacker {
    pub fn new(plan: AttackPlan, tenants: u32, rng: ChaCha8Rng) -> Attacker {
        Attacker {
            plan,
            tenants,
            rng,
            choices: crate::choice::Choices::random(),
            ids: IdGen::new(RoleKind::Attacker),
            loot: Vec::new(),
            known: BTreeSet::new(),
            owned: None,
            forging: false,
            replaying: false,
            replaying_late: false,
            captured_late: BTreeSet::new(),
            captured: BTreeSet::new(),
            replays: 0,
            fit_captures: Vec::new(),
            capture_ids: Vec::new(),
            timers: BTreeMap::new(),
            pending: BTreeMap::new(),
            epoch: crate::token::Epoch::default(),
        }
    }

    pub fn plan(&self) -> &AttackPlan {
        &self.plan
    }

    /// Everything the attacker holds (for reports; values are printed as fingerprints).
    pub fn loot(&self) -> &[Loot] {
        &self.loot
    }

    fn timer(&mut self, out: &mut Effects, at: Micros, act: Act) {
        let id = self.ids.timer();
        self.timers.insert(id, act);
        out.timers.push((at, id));
    }

    fn send(
        &mut self,
        out: &mut Effects,
        now: Micros,
        to: Party,
        req: Request,
        pending: Pending,
    ) -> MsgId {
        let id = self.ids.msg();
        out.send.push(Outgoing {
            depart: now,
            env: Envelope {
                id,
                from: Party::Attacker,
                to,
                cause: None,
                body: Body::Request(req),
            },
        });
        self.pending.insert(id, pending);
        id
    }

    fn tenant_ids(&self) -> Vec<TenantId> {
        (0..self.tenants).map(TenantId).collect()
    }

    /// Values exposed to the attacker (A2, A4, A5 reads). New usable items are tried on every
    /// tenant at once.
    pub fn acquire(&mut self, now: Micros, items: Vec<Loot>, out: &mut Effects) {
        for l in items {
            let Some(key) = value_key(&l.value) else {
                continue;
            };
            if !self.known.insert(key) {
                continue;
            }
            self.loot.push(l);
            let idx = self.loot.len() - 1;
            self.start_using(now, idx, out);
        }
    }

    fn start_using(&mut self, now: Micros, idx: usize, out: &mut Effects) {
        if !self.plan.use_loot || now >= self.plan.until {
            return;
        }
        let l = &self.loot[idx];
        let targets: Vec<TenantId> = match l.field {
            // A URL names its installation: there is nothing to try for another tenant.
            "trigger_url" => l.tenant.into_iter().collect(),
            // An assertion names its client: replayed for the tenant it was captured for.
            "client_assertion" => l.tenant.into_iter().collect(),
            "token"
            | "x-forge-oauth-system"
            | "access_token"
            | "refresh_token"
            | "client_secret"
            | "client_key"
            | "shared_secret"
            | "code" => self.tenant_ids(),
            _ => Vec::new(),
        };
        // When a long-lived credential is first used is a choice (the probe phase relative to
        // the victim's own use of it); tokens and one-off items are used at once.
        let first = if matches!(
            l.field,
            "refresh_token"
                | "client_secret"
                | "client_key"
                | "shared_secret"
                | "trigger_url"
                | "code"
        ) {
            self.choices
                .time(crate::choice::Point::FirstUse, now, now)
                .unwrap_or(now)
        } else {
            now
        };
        for (k, t) in targets.into_iter().enumerate() {
            // Spread the first round by 1 ms per tenant so answers stay distinguishable.
            self.timer(
                out,
                first + k as Micros * crate::MS,
                Act::Use {
                    loot: idx,
                    tenant: t,
                },
            );
        }
    }

    /// A message the attacker saw (A1 tap, A3 log, A4 own tenant's traffic).
    pub fn observe(&mut self, now: Micros, env: &Envelope, out: &mut Effects) {
        let (fields, tenant): (Vec<&Fields>, Option<TenantId>) = match &env.body {
            Body::Request(r) => (
                vec![&r.headers, &r.body],
                r.tenant
                    .or_else(|| r.body.tenant("tenant"))
                    .or_else(|| r.body.tenant("installationId")),
            ),
            Body::Response(r) => (vec![&r.body], None),
        };
        let mut items = Vec::new();
        for f in fields {
            for (name, v) in &f.0 {
                let field = match *name {
                    // A FIT on a request to P: kept for forging, not "used".
                    "authorization" if matches!(env.to, Party::Partner(_)) => "fit",
                    "authorization" => "access_token",
                    n => n,
                };
                if matches!(v, Value::Secret(_) | Value::Jwt(_))
                    || (field == "client_id" && matches!(v, Value::Str(_)))
                {
                    items.push(Loot {
                        field,
                        tenant,
                        value: v.clone(),
                    });
                }
            }
        }
        let had_fit = items.iter().any(|l| l.field == "fit");
        self.capture_fit_delivery(now, env, out);
        self.acquire(now, items, out);
        if self.replaying && env.from.role() == RoleKind::Partner {
            self.replay(now, env, out);
        }
        if self.replaying_late && env.from.role() == RoleKind::Partner {
            self.replay_late(now, env, out);
        }
        if self.forging && had_fit {
            self.forge(now, out);
        }
    }

    fn held(&self, field: &str, tenant: Option<TenantId>) -> Option<&Value> {
        self.loot
            .iter()
            .rev()
            .find(|l| l.field == field && (tenant.is_none() || l.tenant == tenant))
            .map(|l| &l.value)
    }

    /// The key to present with a trigger URL of `tenant` (`url_auth=required`): the
    /// installation's own if stolen, else the one of the installation the attacker
    /// administers (A4), which only F's check that the key is that URL's refuses.
    fn trigger_key_for(&self, tenant: Option<TenantId>) -> Option<&Value> {
        self.held("trigger_key", tenant)
            .or_else(|| self.owned.and_then(|o| self.held("trigger_key", Some(o))))
    }

    fn api_request(tenant: TenantId, route: &'static str, auth: Value, now: Micros) -> Request {
        Request {
            method: crate::message::Method::Get,
            route,
            tenant: Some(tenant),
            headers: Fields::new()
                .with("x-acting-for", Value::Tenant(tenant))
                .with("date", Value::Int(now))
                .with("authorization", auth),
            body: Fields::new(),
        }
    }

    /// One use of loot for one tenant, through the verifier that decides on it.
    fn use_loot(&mut self, now: Micros, idx: usize, tenant: TenantId, out: &mut Effects) {
        let l = self.loot[idx].clone();
        let acting = Fields::new().with("x-acting-for", Value::Tenant(tenant));
        let (to, req) = match (l.field, &l.value) {
            ("token" | "x-forge-oauth-system" | "access_token", Value::Jwt(_)) => (
                Party::API,
                Self::api_request(tenant, "GET /rest/api/resource", l.value.clone(), now),
            ),
            ("refresh_token", Value::Secret(_)) => {
                let mut body = Fields::new()
                    .with("grant_type", Value::Str("refresh_token".into()))
                    .with("refresh_token", l.value.clone())
                    .with("client_id", Value::Str(APP_ID.into()));
                if let Some(cs) = self.held("client_secret", None) {
                    body.0.push(("client_secret", cs.clone()));
                }
                (
                    Party::AS,
                    Request {
                        method: crate::message::Method::Post,
                        route: "POST /oauth/token",
                        tenant: Some(tenant),
                        headers: acting,
                        body,
                    },
                )
            }
            ("client_secret" | "client_key", Value::Secret(_))
            | ("client_assertion", Value::Jwt(_)) => {
                let client_id = self
                    .held("client_id", l.tenant)
                    .cloned()
                    .unwrap_or(Value::Str(APP_ID.into()));
                // A secret is sent as is; with a key (private_key_jwt) the thief signs an
                // assertion of its own (a short one, so any lifetime cap the AS sets admits
                // it); a captured assertion is replayed as is.
                let auth = match (l.field, &l.value) {
                    ("client_key", Value::Secret(key)) => {
                        let cfg = crate::mechanisms::client_auth::ClientAuthConfig {
                            sender_constraint: crate::params::SenderConstraint::PrivateKeyJwt,
                            assertion_lifetime: 5 * SEC,
                        };
                        let id = match &client_id {
                            Value::Str(id) => id.as_str(),
                            _ => APP_ID,
                        };
                        crate::mechanisms::client_auth::credential_fields(
                            cfg,
                            key,
                            id,
                            now,
                            self.epoch,
                            &mut self.rng,
                        )
                    }
                    ("client_assertion", v) => Fields::new()
                        .with(
                            "client_assertion_type",
                            Value::Str(crate::mechanisms::client_auth::JWT_BEARER.into()),
                        )
                        .with("client_assertion", v.clone()),
                    (_, v) => Fields::new().with("client_secret", v.clone()),
                };
                let mut body = Fields::new()
                    .with("grant_type", Value::Str("client_credentials".into()))
                    .with("client_id", client_id);
                body.0.extend(auth.0);
                body.0.push(("tenant", Value::Tenant(tenant)));
                (
                    Party::AS,
                    Request {
                        method: crate::message::Method::Post,
                        route: "POST /oauth/token",
                        tenant: Some(tenant),
                        headers: acting,
                        body,
                    },
                )
            }
            ("trigger_url", Value::Secret(_)) => {
                let mut headers = acting;
                if let Some(key) = self.trigger_key_for(l.tenant) {
                    headers.0.push(("authorization", key.clone()));
                }
                (
                    Party::FORGE,
                    Request {
                        method: crate::message::Method::Get,
                        route: "GET /trigger",
                        tenant: None,
                        headers,
                        body: Fields::new().with("url", l.value.clone()),
                    },
                )
            }
            ("shared_secret", Value::Secret(s)) => {
                // Sign a Connect JWT naming the target tenant as issuer.
                let claims = ConnectClaims {
                    iss: client_key(tenant),
                    iat: self.epoch.numeric_date(now),
                    exp: self.epoch.numeric_date(now + 180 * SEC),
                    qsh: connect_qsh("GET", "/rest/api/resource", &[]),
                    sub: None,
                };
                let jwt = sign_connect(s, &claims);
                (
                    Party::API,
                    Self::api_request(tenant, "GET /rest/api/resource", Value::Jwt(jwt), now),
                )
            }
            ("code", Value::Secret(_)) => {
                let mut body = Fields::new()
                    .with("grant_type", Value::Str("authorization_code".into()))
                    .with("code", l.value.clone())
                    .with("redirect_uri", Value::Str(REGISTERED_REDIRECT.into()))
                    .with("client_id", Value::Str(APP_ID.into()));
                if let Some(cs) = self.held("client_secret", None) {
                    body.0.push(("client_secret", cs.clone()));
                }
                (
                    Party::AS,
                    Request {
                        method: crate::message::Method::Post,
                        route: "POST /oauth/token",
                        tenant: Some(tenant),
                        headers: acting,
                        body,
                    },
                )
            }
            _ => return,
        };
        let id = self.send(out, now, to, req, Pending::Use { loot: idx, tenant });
        self.timer(out, now + 10 * SEC, Act::Unanswered { req: id });
    }

    /// One spam call with a stolen trigger URL (A9). Its answer is not followed up: the
    /// point is the invocation it burns, not what it yields.
    fn spam_once(&mut self, now: Micros, loot: usize, out: &mut Effects) {
        let l = &self.loot[loot];
        let tenant = l.tenant.unwrap_or(TenantId(0));
        let mut headers = Fields::new().with("x-acting-for", Value::Tenant(tenant));
        if let Some(key) = self.trigger_key_for(l.tenant) {
            headers.0.push(("authorization", key.clone()));
        }
        let req = Request {
            method: crate::message::Method::Get,
            route: "GET /trigger",
            tenant: None,
            headers,
            body: Fields::new().with("url", l.value.clone()),
        };
        self.send(out, now, Party::FORGE, req, Pending::Other);
    }

    /// A FIT for `victim` as F writes one (its header and claims are public), valid for
    /// [`FORGED_LIFETIME`], with a signature of random bytes: only P's signature check
    /// refuses it.
    fn forged_fit(&mut self, victim: TenantId, now: Micros) -> Jwt {
        let claims = FitClaims::for_tenant(
            APP_ID,
            victim,
            self.epoch.numeric_date(now),
            self.epoch.numeric_date(now + FORGED_LIFETIME),
            format!("forged-{:016x}", self.rng.random::<u64>()),
        );
        let mut signature = [0u8; 64];
        self.rng.fill(&mut signature);
        forge_fit(&claims, &signature)
    }

    /// A T for `victim` as the platform mints one, valid for [`FORGED_LIFETIME`], with a
    /// random tag: only the API's HMAC check refuses it.
    fn forged_access(&mut self, victim: TenantId, now: Micros) -> Jwt {
        let claims = AccessClaims::app_token(
            APP_ID,
            API_AUDIENCE,
            victim,
            self.epoch.numeric_date(now),
            self.epoch.numeric_date(now + FORGED_LIFETIME),
            format!("forged-{:016x}", self.rng.random::<u64>()),
        );
        let mut tag = [0u8; 32];
        self.rng.fill(&mut tag);
        forge_access(&claims, &tag)
    }

    /// A4 across apps (`apps=2`): app B's FIT and T (and RT, and code) for `tenant`, which F
    /// gave the attacker's backend, presented at app A. An active attacker presents T at app
    /// A's API scope (only the API's check of T's app stops it) and redeems the RT and the
    /// code as client A; with
    /// A10 it delivers T to P.auth and P.recv with
    /// app B's FIT, and an `installed` with its own secrets to P.lifecycle (only P's check of
    /// the FIT's audience stops them). Not for the attacker's own tenant.
    fn cross_app(
        &mut self,
        now: Micros,
        tenant: TenantId,
        fit: Value,
        token: Value,
        grant: &Fields,
        out: &mut Effects,
    ) {
        if Some(tenant) == self.owned || !self.plan.use_loot {
            return;
        }
        let api = Self::api_request(tenant, "GET /rest/api/resource", token.clone(), now);
        self.send(out, now, Party::API, api, Pending::Other);
        // Client B's RT redeemed as client A (with A's client secret where it holds it): only
        // the AS's binding of an RT to its client stops it (RFC 6749 §6, §10.4).
        if let Some(rt) = grant.get("refresh_token") {
            let body = Fields::new()
                .with("grant_type", Value::Str("refresh_token".into()))
                .with("refresh_token", rt.clone())
                .with("client_id", Value::Str(APP_ID.into()));
            self.token_request_as_client_a(now, tenant, body, out);
        }
        // Client B's code (upm-oauth) redeemed as client A, with app B's own PKCE verifier and
        // redirect URI: only the AS's binding of a code to its client stops it (RFC 6749
        // §4.1.3).
        if let Some(code) = grant.get("code") {
            let mut body = Fields::new()
                .with("grant_type", Value::Str("authorization_code".into()))
                .with("code", code.clone())
                .with("client_id", Value::Str(APP_ID.into()));
            for field in ["code_verifier", "redirect_uri"] {
                if let Some(v) = grant.get(field) {
                    body.0.push((field, v.clone()));
                }
            }
            self.token_request_as_client_a(now, tenant, body, out);
        }
        if self.forging {
            self.send_forged(now, tenant, fit, token, out);
        }
    }

    /// A token request for `tenant` as client A, with A's client secret where the attacker
    /// holds it.
    fn token_request_as_client_a(
        &mut self,
        now: Micros,
        tenant: TenantId,
        mut body: Fields,
        out: &mut Effects,
    ) {
        if let Some(cs) = self.held("client_secret", None) {
            body.0.push(("client_secret", cs.clone()));
        }
        let req = Request {
            method: crate::message::Method::Post,
            route: "POST /oauth/token",
            tenant: Some(tenant),
            headers: Fields::new(),
            body,
        };
        self.send(out, now, Party::AS, req, Pending::Other);
    }

    /// An `installed` event for `tenant` carrying the attacker's own secrets.
    fn forged_install(tenant: TenantId, rng: &mut ChaCha8Rng) -> Fields {
        let mut body = Fields::new()
            .with("event", Value::Str("installed".into()))
            .with("installationId", Value::Tenant(tenant));
        for (field, tag) in [
            ("shared_secret", "shared"),
            ("refresh_token", "rt"),
            ("client_secret", "client"),
            ("trigger_url", "url"),
        ] {
            body.0
                .push((field, Value::Secret(Secret::generate(rng, tag))));
        }
        body
    }

    /// A10: forged deliveries to P.auth and P.recv and forged install hooks, for every tenant
    /// the attacker does not own. With A4 it replays its own tenant's latest FIT and T.
    fn forge(&mut self, now: Micros, out: &mut Effects) {
        // Only its own tenant's FIT and T (A4); a FIT captured in transit (a delivery or a
        // lifecycle event) is replayed by [`Attacker::replay_fit`], after the genuine request
        // it came with was decided.
        let own_fit = self.owned.and_then(|o| self.held("fit", Some(o))).cloned();
        let own_token = self.owned.and_then(|o| {
            self.held("x-forge-oauth-system", Some(o))
                .or_else(|| self.held("token", Some(o)))
                .cloned()
        });
        for victim in self.tenant_ids() {
            if Some(victim) == self.owned {
                continue;
            }
            let fit = match &own_fit {
                Some(f) => f.clone(),
                None => Value::Jwt(self.forged_fit(victim, now)),
            };
            let token = match &own_token {
                Some(t) => t.clone(),
                None => {
                    // Presented at the API as well: only the API's HMAC check stops it there.
                    let forged = Value::Jwt(self.forged_access(victim, now));
                    let api =
                        Self::api_request(victim, "GET /rest/api/resource", forged.clone(), now);
                    self.send(out, now, Party::API, api, Pending::Other);
                    forged
                }
            };
            self.send_forged(now, victim, fit, token, out);
        }
    }

    /// A delivery of `token` with `fit` to P.auth and P.recv, and an `installed` carrying the
    /// attacker's secrets with `fit` to P.lifecycle, all for `victim`.
    fn send_forged(
        &mut self,
        now: Micros,
        victim: TenantId,
        fit: Value,
        token: Value,
        out: &mut Effects,
    ) {
        for (endpoint, route) in [
            (PartnerEndpoint::Auth, "POST /auth"),
            (PartnerEndpoint::Recv, "POST /push"),
        ] {
            let req = Request {
                method: crate::message::Method::Post,
                route,
                tenant: Some(victim),
                headers: Fields::new()
                    .with("authorization", fit.clone())
                    .with("x-forge-oauth-system", token.clone()),
                body: Fields::new()
                    .with("expires_at", Value::Int(now + 4 * 3600 * SEC))
                    .with("tenant", Value::Tenant(victim)),
            };
            self.send(out, now, Party::Partner(endpoint), req, Pending::Other);
        }
        let req = Request {
            method: crate::message::Method::Post,
            route: "POST /lifecycle",
            tenant: Some(victim),
            headers: Fields::new().with("authorization", fit),
            body: Self::forged_install(victim, &mut self.rng),
        };
        self.send(
            out,
            now,
            Party::Partner(PartnerEndpoint::Lifecycle),
            req,
            Pending::Other,
        );
    }

    /// A1 + A10: a FIT delivery to P.auth / P.recv, or a lifecycle event to P.lifecycle, seen
    /// in transit is kept; once its answer is seen (the genuine request was decided), the FIT
    /// is replayed with a forged body (a forged T; an `installed` with the attacker's secrets)
    /// at once (only P's binding of the FIT to its first body stops it) and again after the
    /// FIT's lifetime (only P's `exp` check stops it).
    fn capture_fit_delivery(&mut self, now: Micros, env: &Envelope, out: &mut Effects) {
        if !self.forging || env.from == Party::Attacker {
            return;
        }
        match &env.body {
            Body::Request(req)
                if matches!(
                    env.to,
                    Party::Partner(
                        PartnerEndpoint::Auth | PartnerEndpoint::Recv | PartnerEndpoint::Lifecycle
                    )
                ) && req.headers.jwt("authorization").is_some()
                    && (req.tenant.is_none() || req.tenant != self.owned)
                    && !self.capture_ids.contains(&env.id) =>
            {
                self.fit_captures.push(FitCapture {
                    to: env.to,
                    req: req.clone(),
                    answered: false,
                });
                self.capture_ids.push(env.id);
            }
            Body::Response(_) => {
                let Some(idx) = env
                    .cause
                    .and_then(|c| self.capture_ids.iter().position(|id| *id == c))
                else {
                    return;
                };
                if std::mem::replace(&mut self.fit_captures[idx].answered, true) {
                    return;
                }
                self.replay_fit(now, idx, out);
                if now + FIT_REPLAY_LATE < self.plan.until {
                    self.timer(out, now + FIT_REPLAY_LATE, Act::ReplayFit { capture: idx });
                }
            }
            _ => {}
        }
    }

    /// The captured request again, its FIT intact: a delivery with its T forged, a lifecycle
    /// event as an `installed` carrying the attacker's secrets.
    fn replay_fit(&mut self, now: Micros, idx: usize, out: &mut Effects) {
        let FitCapture { to, mut req, .. } = self.fit_captures[idx].clone();
        if to == Party::Partner(PartnerEndpoint::Lifecycle) {
            let tenant = req
                .body
                .tenant("installationId")
                .or(req.tenant)
                .unwrap_or(TenantId(0));
            req.body = Self::forged_install(tenant, &mut self.rng);
        } else {
            // A T for the tenant the FIT names, which P then checks against the FIT.
            let tenant = req.tenant.unwrap_or(TenantId(0));
            let forged = Value::Jwt(self.forged_access(tenant, now));
            req.headers.0.retain(|(k, _)| *k != "x-forge-oauth-system");
            req.headers.0.push(("x-forge-oauth-system", forged));
        }
        self.send(out, now, to, req, Pending::Other);
    }

    /// A7: send a captured request again as the attacker; a Connect JWT also on another route.
    fn replay(&mut self, now: Micros, env: &Envelope, out: &mut Effects) {
        let Some(req) = env.request() else { return };
        let to_api = env.to == Party::API;
        let to_as = env.to == Party::AS;
        if !(to_api || to_as) || !self.captured.insert(env.id) {
            return;
        }
        if to_api {
            if self.replays >= REPLAY_LIMIT {
                return;
            }
            self.replays += 1;
        }
        let at = now + SEC;
        let mut copy = req.clone();
        copy.headers.0.retain(|(k, _)| *k != "date");
        copy.headers.0.push(("date", Value::Int(at)));
        self.send(out, at, env.to, copy.clone(), Pending::Other);
        if to_api {
            // The same signed request on another route: only `qsh` stops it.
            copy.route = "GET /rest/api/other";
            self.send(out, at, env.to, copy, Pending::Other);
        }
    }

    /// A7 late: a captured code exchange sent again once its code has expired, or a captured
    /// token request with a client assertion once the assertion has expired.
    fn replay_late(&mut self, now: Micros, env: &Envelope, out: &mut Effects) {
        let Some(req) = env.request() else { return };
        let late = req.body.str("grant_type") == Some("authorization_code")
            || req.body.jwt("client_assertion").is_some();
        if env.to != Party::AS || !late || !self.captured_late.insert(env.id) {
            return;
        }
        self.send(
            out,
            now + CODE_REPLAY_LATE,
            Party::AS,
            req.clone(),
            Pending::Other,
        );
    }

    /// [`Capability::Malformed`]: each request once, at `now`.
    fn send_malformed(&mut self, now: Micros, out: &mut Effects) {
        let victim = self
            .tenant_ids()
            .into_iter()
            .find(|t| Some(*t) != self.owned);
        let token_request = |body: Fields| Request {
            method: crate::message::Method::Post,
            route: "POST /oauth/token",
            tenant: victim,
            headers: Fields::new(),
            body,
        };
        let client = || Fields::new().with("client_id", Value::Str(APP_ID.into()));
        let grant = |g: &str| client().with("grant_type", Value::Str(g.into()));
        // No grant type, a refresh grant without its token, and the password grant (RFC 6749
        // §4.3), which no modelled AS supports.
        for body in [client(), grant("refresh_token"), grant("password")] {
            let req = token_request(body);
            self.send(out, now, Party::AS, req, Pending::Other);
        }
        let no_site = Request {
            method: crate::message::Method::Get,
            route: "GET /rest/api/resource",
            tenant: None,
            headers: Fields::new().with("date", Value::Int(now)),
            body: Fields::new(),
        };
        self.send(out, now, Party::API, no_site, Pending::Other);
        let start = Request {
            method: crate::message::Method::Get,
            route: "GET /oauth/start",
            tenant: None,
            headers: Fields::new(),
            body: Fields::new(),
        };
        let oauth = Party::Partner(PartnerEndpoint::OAuth);
        self.send(out, now, oauth, start, Pending::Other);
        let consent = Request {
            method: crate::message::Method::Post,
            route: "POST /authorize/consent",
            tenant: None,
            headers: Fields::new(),
            body: Fields::new(),
        };
        self.send(out, now, Party::AS, consent, Pending::Other);
    }

    fn on_step(&mut self, now: Micros, step: &Capability, out: &mut Effects) {
        match step {
            Capability::Own { tenant } => self.owned = Some(*tenant),
            Capability::Malformed => self.send_malformed(now, out),
            Capability::Forge => {
                self.forging = true;
                self.timer(out, now, Act::Forge);
            }
            Capability::Replay => self.replaying = true,
            Capability::ReplayLate => self.replaying_late = true,
            Capability::Spam { count } => {
                let urls: Vec<usize> = (0..self.loot.len())
                    .filter(|i| self.loot[*i].field == "trigger_url")
                    .collect();
                for idx in urls {
                    let tenant = self.loot[idx].tenant.unwrap_or(TenantId(0));
                    for k in 0..*count {
                        self.timer(
                            out,
                            now + k as Micros * 10 * crate::MS,
                            Act::Use { loot: idx, tenant },
                        );
                    }
                }
            }
            Capability::SpamRate { per_min, until } => {
                let every = (60 * SEC / Micros::from((*per_min).max(1))).max(1);
                let until = (*until).min(self.plan.until);
                for loot in 0..self.loot.len() {
                    if self.loot[loot].field == "trigger_url" && now < until {
                        self.timer(out, now, Act::SpamTick { loot, every, until });
                    }
                }
            }
            Capability::Redirect { victim } => {
                let state = Secret::generate(&mut self.rng, "state");
                let req = Request {
                    method: crate::message::Method::Get,
                    route: "GET /lure",
                    tenant: Some(*victim),
                    headers: Fields::new(),
                    body: Fields::new()
                        .with("client_id", Value::Str(APP_ID.into()))
                        .with("redirect_uri", Value::Str(ATTACKER_REDIRECT.into()))
                        .with("scope", Value::Str("read offline_access".into()))
                        .with("state", Value::Secret(state)),
                };
                self.send(out, now, Party::Browser, req, Pending::Other);
            }
            Capability::ForgeConsent { victim } => {
                let verifier = Secret::generate(&mut self.rng, "pkce");
                let req = Request {
                    method: crate::message::Method::Post,
                    route: "POST /authorize/consent",
                    tenant: Some(*victim),
                    headers: Fields::new(),
                    body: Fields::new()
                        .with("approve", Value::Str("yes".into()))
                        .with("client_id", Value::Str(APP_ID.into()))
                        .with("redirect_uri", Value::Str(REGISTERED_REDIRECT.into()))
                        .with(
                            "state",
                            Value::Secret(Secret::generate(&mut self.rng, "state")),
                        )
                        .with("code_challenge", Value::Str(verifier.id().to_string())),
                };
                self.send(out, now, Party::AS, req, Pending::Other);
            }
            Capability::InjectCode { victim } => {
                let own = self.owned.unwrap_or(TenantId(0));
                let req = Request {
                    method: crate::message::Method::Get,
                    route: "GET /authorize",
                    tenant: Some(own),
                    headers: Fields::new(),
                    body: Fields::new()
                        .with("client_id", Value::Str(APP_ID.into()))
                        .with("redirect_uri", Value::Str(REGISTERED_REDIRECT.into())),
                };
                self.send(
                    out,
                    now,
                    Party::AS,
                    req,
                    Pending::Authorize {
                        own,
                        victim: *victim,
                    },
                );
            }
            // Applied by the driver (they read state the attacker has no protocol access to).
            Capability::Tap { .. }
            | Capability::Breach { .. }
            | Capability::ReadLogs
            | Capability::Steal { .. }
            | Capability::StealContinuing { .. }
            | Capability::StealInTransit { .. }
            | Capability::EndReads => {}
        }
    }

    /// The driver switches a capability on.
    pub fn start_step(&mut self, now: Micros, step: &Capability, out: &mut Effects) {
        self.on_step(now, step, out);
    }

    fn on_response(&mut self, now: Micros, cause: MsgId, resp: &Response, out: &mut Effects) {
        let Some(p) = self.pending.remove(&cause) else {
            return;
        };
        match p {
            Pending::Use { loot, tenant } => {
                let accepted = resp.is_success();
                if let Some(Value::Secret(rt)) = resp.body.get("refresh_token") {
                    // Rotation: keep using the successor.
                    self.loot[loot].value = Value::Secret(rt.clone());
                    self.known.insert(rt.expose().to_string());
                }
                if let Some(Value::Jwt(t)) = resp.body.get("access_token") {
                    let req = Self::api_request(
                        tenant,
                        "GET /rest/api/resource",
                        Value::Jwt(t.clone()),
                        now,
                    );
                    self.send(out, now, Party::API, req, Pending::Present);
                }
                let next = now + self.plan.probe_every;
                if accepted && next < self.plan.until {
                    self.timer(out, next, Act::Use { loot, tenant });
                }
            }
            Pending::Authorize { own, victim } => {
                if resp.is_success() {
                    let req = Request {
                        method: crate::message::Method::Post,
                        route: "POST /authorize/consent",
                        tenant: Some(own),
                        headers: Fields::new(),
                        body: Fields::new()
                            .with("approve", Value::Str("yes".into()))
                            .with("redirect_uri", Value::Str(REGISTERED_REDIRECT.into())),
                    };
                    self.send(out, now, Party::AS, req, Pending::Consent { victim });
                }
            }
            Pending::Consent { victim } => {
                // The attacker keeps its own code and plants it in the victim's callback (CSRF).
                if let Some(code) = resp.body.get("code").cloned() {
                    let req = Request {
                        method: crate::message::Method::Get,
                        route: "GET /oauth/callback",
                        tenant: Some(victim),
                        headers: Fields::new(),
                        body: Fields::new().with("code", code),
                    };
                    self.send(
                        out,
                        now,
                        Party::Partner(PartnerEndpoint::OAuth),
                        req,
                        Pending::Other,
                    );
                }
            }
            Pending::Present | Pending::Other => {}
        }
    }
}

impl Role for Attacker {
    fn kind(&self) -> RoleKind {
        RoleKind::Attacker
    }

    fn handle(&mut self, now: Micros, input: Input, out: &mut Effects) {
        match input {
            Input::Timer(id) => match self.timers.remove(&id) {
                Some(Act::Use { loot, tenant }) => self.use_loot(now, loot, tenant, out),
                Some(Act::Forge) => {
                    self.forge(now, out);
                    let next = now + self.plan.probe_every;
                    if next < self.plan.until {
                        self.timer(out, next, Act::Forge);
                    }
                }
                Some(Act::ReplayFit { capture }) => self.replay_fit(now, capture, out),
                Some(Act::SpamTick { loot, every, until }) => {
                    self.spam_once(now, loot, out);
                    if now + every < until {
                        self.timer(out, now + every, Act::SpamTick { loot, every, until });
                    }
                }
                Some(Act::Unanswered { req }) => {
                    if let Some(Pending::Use { loot, tenant }) = self.pending.remove(&req) {
                        let next = now + self.plan.probe_every;
                        if next < self.plan.until {
                            self.timer(out, next, Act::Use { loot, tenant });
                        }
                    }
                }
                None => {}
            },
            Input::Message(env) => match &env.body {
                Body::Response(resp) => {
                    if let Some(c) = env.cause {
                        self.on_response(now, c, resp, out);
                    }
                }
                // `apps=2`: F invokes app B, whose backend is the attacker's.
                Body::Request(req) if req.route == "POST /app-b/invoke" => {
                    if let (Some(tenant), Some(fit), Some(token)) = (
                        req.tenant,
                        req.headers.get("authorization"),
                        req.headers.get("x-forge-oauth-system"),
                    ) {
                        self.cross_app(now, tenant, fit.clone(), token.clone(), &req.body, out);
                    }
                }
                // Something delivered to the attacker's own endpoint (a code after a loose
                // redirect): it learns what it carries.
                Body::Request(req) => {
                    let tenant = req.tenant;
                    let items: Vec<Loot> = req
                        .body
                        .0
                        .iter()
                        .filter(|(_, v)| matches!(v, Value::Secret(_) | Value::Jwt(_)))
                        .map(|(k, v)| Loot {
                            field: k,
                            tenant,
                            value: v.clone(),
                        })
                        .collect();
                    self.acquire(now, items, out);
                    let id = self.ids.msg();
                    out.send.push(Outgoing {
                        depart: now,
                        env: Envelope {
                            id,
                            from: Party::Attacker,
                            to: env.from,
                            cause: Some(env.id),
                            body: Body::Response(Response::ok(Fields::new())),
                        },
                    });
                }
            },
            Input::Demand { .. }
            | Input::Admin(_)
            | Input::Restart { .. }
            | Input::Start
            | Input::StoreDone { .. } => {}
        }
    }
}
