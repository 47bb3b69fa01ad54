//! `upm-oauth`: OAuth authorized at install time through the UPM (`mechanisms.md` §4), the
//! partners' proposal. Setup runs the authorization-code flow with PKCE and `state` through
//! the admin's browser and a consent; afterwards it works as `refresh`.

use super::common::{judge_token_response, lifecycle, token_response};
use super::refresh::{RefreshPartner, RtAuthority, RtPolicy, rotation_specs};
use super::{Acquisition, Facts, Group, Mechanism, MissSteps, Profile};
use crate::Micros;
use crate::history::{Cause, Event, ItemKind};
use crate::ids::{APP_B_ID, APP_ID, PartnerEndpoint, Party, TenantId};
use crate::message::{Envelope, Fields, Request, Response, Value};
use crate::params::{Basis, Choice, Kind, ParamSpec, Params, SenderConstraint, spec};
use crate::roles::admin::{consent_form, redirect};
use crate::roles::partner::{AttemptResult, Inbound, OutRequest, PartnerCx, PartnerSide};
use crate::roles::platform::{Handling, PlatformCx, PlatformSide};
use crate::roles::store::Row;
use crate::secret::Secret;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Arc;

pub struct UpmOAuth;

/// The redirect URI registered for the app (exact-match allow-list).
pub const REDIRECT_URI: &str = "https://partner.example/oauth/callback";

/// The redirect URI registered for client B (`apps=2`: the attacker's app).
pub const APP_B_REDIRECT_URI: &str = "https://app-b.example/oauth/callback";

/// RFC 7636 `S256`: BASE64URL(SHA-256(verifier)) without padding, as standard clients send it.
fn challenge_of(verifier: &Secret) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.expose().as_bytes()))
}

/// What `upm-oauth` is: the facts the report and the suites ask of it.
const FACTS: Facts = Facts {
    id: "upm-oauth",
    description: "authorization code + PKCE at install through the UPM (admin consents), then the refresh grant",
    hops_on_miss: 2,
    acquisition: Acquisition::OnDemand,
    root_credential: "refresh_token",
    revocable: true,
    miss_steps: MissSteps {
        mints: 1,
        store_writes: 1,
        store_reads: 0,
    },
    acquires_from: Some(Group::AuthServer),
    browser_consent: true,
    capability_url: false,
    warm_up_s: 0.0,
};

impl Mechanism for UpmOAuth {
    fn facts(&self) -> &'static Facts {
        &FACTS
    }
    fn switches(&self) -> Vec<ParamSpec> {
        use Basis::*;
        let mut v = vec![
            spec(
                "pkce",
                Kind::Switch,
                "on",
                Fact,
                "PKCE on the code exchange",
            ),
            spec(
                "state",
                Kind::Switch,
                "on",
                Fact,
                "state binds the callback to the flow P started",
            ),
            spec(
                "redirect_match",
                Kind::Choice(RedirectMatch::NAMES),
                "exact",
                Fact,
                "how the AS matches redirect_uri",
            ),
            spec(
                "consent_actor_check",
                Kind::Switch,
                "on",
                Mutant,
                "the AS takes a consent only from the site's admin (off: mutant, anyone who posts the form authorizes the site)",
            ),
            spec(
                "consent_required",
                Kind::Switch,
                "on",
                Mutant,
                "the AS issues a code only after the site's admin consents (off: mutant, the authorize request alone authorizes the site)",
            ),
            spec(
                "introspection",
                Kind::Switch,
                "off",
                Inference,
                "the API asks the AS whether T is still active (RFC 7662): a revoked grant's outstanding T is refused at once (R = 0), as with `api_checks_installation=on`",
            ),
            spec(
                "code_reuse",
                Kind::Choice(CodeReuse::NAMES),
                "rejected",
                Mutant,
                "allowed: a code works twice (mutant)",
            ),
            spec(
                "code_expiry_check",
                Kind::Switch,
                "on",
                Mutant,
                "the AS refuses a code past its 60 s lifetime (RFC 6749 §4.1.2; off: mutant, a code never expires)",
            ),
            spec(
                "code_binding",
                Kind::Switch,
                "on",
                Mutant,
                "the AS refuses a code redeemed by a client other than the one it was issued to (RFC 6749 §4.1.3; with `apps=2`; off: mutant, it mints for the client that asks)",
            ),
            spec(
                "client_auth",
                Kind::Switch,
                "on",
                Mutant,
                "the token endpoint authenticates the client by its secret (RFC 6749 §6: a client issued credentials MUST authenticate; off: mutant, the `client_id` alone is taken)",
            ),
        ];
        v.extend(rotation_specs("30s"));
        v.push(super::refresh::user_grant_spec());
        v
    }
    fn profiles(&self) -> Vec<Profile> {
        Vec::new()
    }
    fn build(&self, params: &Params) -> (Box<dyn PartnerSide>, Box<dyn PlatformSide>) {
        // The one place upm-oauth reads its switches (the rotation set through RtPolicy).
        let pkce = params.bool("pkce");
        (
            Box::new(UpmPartner {
                inner: RefreshPartner {
                    sender_constraint: SenderConstraint::None,
                    persist_first: params.bool("persist_rt_before_use"),
                },
                flows: BTreeMap::new(),
                calls: BTreeMap::new(),
                next: 1,
                state: params.bool("state"),
                pkce,
            }),
            Box::new(UpmPlatform {
                authority: RtAuthority::new(RtPolicy::from_params(params)),
                client_secret: None,
                codes: BTreeMap::new(),
                redirect_match: params.pick("redirect_match"),
                code_reuse_ok: params.pick::<CodeReuse>("code_reuse") == CodeReuse::Allowed,
                code_expiry_check: params.bool("code_expiry_check"),
                code_binding: params.bool("code_binding"),
                client_auth: params.bool("client_auth"),
                consent_actor_check: params.bool("consent_actor_check"),
                consent_required: params.bool("consent_required"),
                pkce,
            }),
        )
    }
}

crate::choice_enum! {
    /// How the AS matches `redirect_uri` (`redirect_match`).
    enum RedirectMatch { Exact = "exact", Prefix = "prefix" }
}
crate::choice_enum! {
    /// Whether a code works twice (`code_reuse`; `allowed` is a mutant).
    enum CodeReuse { Rejected = "rejected", Allowed = "allowed" }
}

struct Flow {
    tenant: TenantId,
    verifier: Secret,
}

struct UpmPartner {
    inner: RefreshPartner,
    /// Flows P started, by `state`.
    flows: BTreeMap<Secret, Flow>,
    calls: BTreeMap<u64, TenantId>,
    next: u64,
    /// `state` binds the callback to the flow P started.
    state: bool,
    pkce: bool,
}

impl PartnerSide for UpmPartner {
    fn start_attempt(
        &mut self,
        cx: &mut PartnerCx<'_>,
        tenant: TenantId,
        row: &Row,
    ) -> Result<OutRequest, Cause> {
        self.inner.start_attempt(cx, tenant, row)
    }
    fn on_attempt_response(
        &mut self,
        cx: &mut PartnerCx<'_>,
        tenant: TenantId,
        resp: &Response,
    ) -> AttemptResult {
        self.inner.on_attempt_response(cx, tenant, resp)
    }
    fn persists_before_use(&self) -> bool {
        self.inner.persists_before_use()
    }
    fn on_inbound(&mut self, cx: &mut PartnerCx<'_>, _env: &Envelope, req: &Request) -> Inbound {
        let reply = |r| Inbound::Reply {
            tenant: None,
            update: None,
            response: r,
        };
        match req.route {
            "POST /lifecycle" => lifecycle(cx, req, &["client_secret"], true),
            "GET /oauth/start" => {
                let Some(tenant) = req.tenant else {
                    return reply(Response::error(400, "no_tenant"));
                };
                let state = Secret::generate(cx.rng, "state");
                let verifier = Secret::generate(cx.rng, "pkce");
                let challenge = challenge_of(&verifier);
                self.flows.insert(state.clone(), Flow { tenant, verifier });
                let fields = Fields::new()
                    .with("client_id", Value::Str(APP_ID.into()))
                    .with("redirect_uri", Value::Str(REDIRECT_URI.into()))
                    .with("scope", Value::Str("read offline_access".into()))
                    .with("state", Value::Secret(state))
                    .with("code_challenge", Value::Str(challenge));
                reply(redirect(Party::AS, "GET /authorize", fields))
            }
            "GET /oauth/callback" => {
                let use_state = self.state;
                let flow = match req.body.secret("state") {
                    Some(s) if use_state => self.flows.remove(s),
                    // Without `state` P still keeps its flow (the PKCE verifier) in the
                    // browser's session: it takes the one it started for this tenant; with
                    // none, it accepts the callback anyway (the CSRF that `state` prevents).
                    _ if !use_state => req.tenant.map(|t| {
                        let started = self
                            .flows
                            .iter()
                            .find(|(_, f)| f.tenant == t)
                            .map(|(k, _)| k.clone());
                        match started.and_then(|k| self.flows.remove(&k)) {
                            Some(flow) => flow,
                            None => Flow {
                                tenant: t,
                                verifier: Secret::generate(cx.rng, "pkce"),
                            },
                        }
                    }),
                    _ => None,
                };
                let (Some(flow), Some(code)) = (flow, req.body.secret("code")) else {
                    return reply(Response::error(400, "invalid_state"));
                };
                let Some(Value::Secret(client_secret)) =
                    cx.row(flow.tenant).items.get("client_secret").cloned()
                else {
                    return reply(Response::error(500, "no_client_secret"));
                };
                let mut body = Fields::new()
                    .with("grant_type", Value::Str("authorization_code".into()))
                    .with("code", Value::Secret(code.clone()))
                    .with("redirect_uri", Value::Str(REDIRECT_URI.into()))
                    .with("client_id", Value::Str(APP_ID.into()))
                    .with("client_secret", Value::Secret(client_secret));
                if self.pkce {
                    body.0.push(("code_verifier", Value::Secret(flow.verifier)));
                }
                let tag = self.next;
                self.next += 1;
                self.calls.insert(tag, flow.tenant);
                Inbound::Call {
                    call: OutRequest {
                        to: Party::AS,
                        req: Request {
                            method: crate::message::Method::Post,
                            route: "POST /oauth/token",
                            tenant: Some(flow.tenant),
                            headers: Fields::new(),
                            body,
                        },
                    },
                    tag,
                }
            }
            _ => reply(Response::error(404, "no_such_route")),
        }
    }
    fn on_call_response(
        &mut self,
        _cx: &mut PartnerCx<'_>,
        tag: u64,
        resp: Option<&Response>,
    ) -> Inbound {
        let tenant = self.calls.remove(&tag);
        let (Some(tenant), Some(resp)) = (tenant, resp) else {
            return Inbound::Reply {
                tenant: None,
                update: None,
                response: Response::error(502, "code_exchange_failed"),
            };
        };
        match judge_token_response(resp, "refresh_token") {
            // Steady state needs only the RT; T is dropped with the caches at t=0.
            AttemptResult::Token {
                persist: Some(update),
                ..
            } => Inbound::Reply {
                tenant: Some(tenant),
                update: Some(update),
                response: Response::ok(Fields::new()),
            },
            _ => Inbound::Reply {
                tenant: None,
                update: None,
                response: Response::error(502, "code_exchange_failed"),
            },
        }
    }
    fn reset_volatile(&mut self) {
        self.flows.clear();
        self.calls.clear();
    }
}

struct CodeState {
    tenant: TenantId,
    /// The client the code was issued to (app A's, or with `apps=2` app B's).
    client: &'static str,
    redirect_uri: String,
    challenge: Option<String>,
    used: bool,
    /// The end of the code's lifetime ([`CODE_LIFETIME`] after issue).
    exp: Micros,
}

/// How long a code may be redeemed (RFC 6749 §4.1.2: short, 10 min at most): 60 s.
pub const CODE_LIFETIME: Micros = 60 * crate::SEC;

struct UpmPlatform {
    authority: RtAuthority,
    /// The app's client secret (one per app, all tenants).
    client_secret: Option<Secret>,
    codes: BTreeMap<Secret, CodeState>,
    redirect_match: RedirectMatch,
    code_reuse_ok: bool,
    /// The AS refuses a code past its `exp` (`code_expiry_check`; off: mutant).
    code_expiry_check: bool,
    /// The AS refuses a code redeemed by another client (`code_binding`; off: mutant).
    code_binding: bool,
    /// The token endpoint checks the client secret (`client_auth`; off: mutant).
    client_auth: bool,
    pkce: bool,
    /// The AS takes a consent only from the site's admin (`consent_actor_check`; off: mutant).
    consent_actor_check: bool,
    /// The AS asks the site's admin to consent before it issues a code (off: mutant).
    consent_required: bool,
}

impl UpmPlatform {
    fn redirect_ok(&self, uri: &str) -> bool {
        match self.redirect_match {
            RedirectMatch::Prefix => uri.starts_with("https://partner.example/"),
            RedirectMatch::Exact => uri == REDIRECT_URI,
        }
    }
    fn client_ok(&self, req: &Request) -> bool {
        req.body.str("client_id") == Some(APP_ID)
            && (!self.client_auth
                || (req.body.secret("client_secret").is_some()
                    && req.body.secret("client_secret") == self.client_secret.as_ref()))
    }

    /// Issues a code for `tenant` on an authorization request's `body` (its `redirect_uri`,
    /// `code_challenge` and `state`) and sends the browser on with it.
    fn authorize(&mut self, cx: &mut PlatformCx<'_>, tenant: TenantId, body: &Fields) -> Response {
        let code = cx.issue_secret(
            ItemKind::AuthCode,
            "code",
            tenant,
            Party::Partner(PartnerEndpoint::OAuth),
            Some(cx.now + CODE_LIFETIME),
        );
        let redirect_uri = body.str("redirect_uri").unwrap_or(REDIRECT_URI).to_string();
        let challenge = body.str("code_challenge").map(str::to_string);
        let code_key = code.clone();
        self.codes.insert(
            code.clone(),
            CodeState {
                tenant,
                client: APP_ID,
                redirect_uri,
                challenge,
                used: false,
                exp: cx.now + CODE_LIFETIME,
            },
        );
        let mut fields = Fields::new().with("code", Value::Secret(code));
        if let Some(s) = body.get("state") {
            fields.0.push(("state", s.clone()));
        }
        // The browser goes wherever redirect_uri says: the registered callback, or (after
        // a loose match) somewhere else.
        if self.codes[&code_key].redirect_uri == REDIRECT_URI {
            redirect(
                Party::Partner(PartnerEndpoint::OAuth),
                "GET /oauth/callback",
                fields,
            )
        } else {
            redirect(Party::Attacker, "GET /callback", fields)
        }
    }
}

impl PlatformSide for UpmPlatform {
    fn app_b_grant(&mut self, cx: &mut PlatformCx<'_>, tenant: TenantId) -> Fields {
        let (field, rt) = self.authority.app_b_grant(cx, tenant);
        // App B's own authorization of the site, just completed: a code of client B, issued
        // with app B's PKCE challenge to app B's redirect URI, which app B's backend (the
        // attacker's) holds with its verifier. Only client B may redeem it (RFC 6749 §4.1.3).
        let verifier = Secret::generate(cx.rng, "pkce");
        let exp = cx.now + CODE_LIFETIME;
        let code = cx.issue_secret(
            ItemKind::AuthCode,
            "code",
            tenant,
            Party::Attacker,
            Some(exp),
        );
        self.codes.insert(
            code.clone(),
            CodeState {
                tenant,
                client: APP_B_ID,
                redirect_uri: APP_B_REDIRECT_URI.into(),
                challenge: Some(challenge_of(&verifier)),
                used: false,
                exp,
            },
        );
        Fields::new()
            .with(field, rt)
            .with("code", Value::Secret(code))
            .with("code_verifier", Value::Secret(verifier))
            .with("redirect_uri", Value::Str(APP_B_REDIRECT_URI.into()))
    }
    fn on_install(&mut self, cx: &mut PlatformCx<'_>, tenant: TenantId) {
        let secret = match &self.client_secret {
            Some(s) => s.clone(),
            None => {
                let s = cx.issue_secret(
                    ItemKind::ClientSecret,
                    "client",
                    tenant,
                    Party::Partner(PartnerEndpoint::Lifecycle),
                    None,
                );
                self.client_secret = Some(s.clone());
                s
            }
        };
        cx.send_lifecycle(
            tenant,
            "installed",
            Fields::new().with("client_secret", Value::Secret(secret)),
        );
    }
    fn install_response(&mut self, _cx: &mut PlatformCx<'_>, tenant: TenantId) -> Response {
        // The UPM sends the admin on to authorize the app's offline access.
        redirect(
            Party::Partner(PartnerEndpoint::OAuth),
            "GET /oauth/start",
            Fields::new().with("tenant", Value::Tenant(tenant)),
        )
    }
    fn on_uninstall(&mut self, cx: &mut PlatformCx<'_>, tenant: TenantId) {
        self.authority.revoke_tenant(cx, tenant);
    }
    fn on_revoke(&mut self, cx: &mut PlatformCx<'_>, tenant: TenantId) {
        // The revocation button: offline access ends without an uninstall.
        self.authority.revoke_tenant(cx, tenant);
    }
    fn on_request(
        &mut self,
        cx: &mut PlatformCx<'_>,
        env: &Arc<Envelope>,
        req: &Request,
    ) -> Handling {
        let reply = |r| Handling::Reply {
            response: r,
            after: 0,
        };
        match req.route {
            "GET /authorize" => {
                let uri = req.body.str("redirect_uri").unwrap_or("");
                if req.body.str("client_id") != Some(APP_ID) || !self.redirect_ok(uri) {
                    return reply(Response::error(400, "invalid_request"));
                }
                // Without a site named, the consent form asks the admin for it.
                if let Some(tenant) = req.tenant
                    && !cx.installed(tenant)
                {
                    return reply(Response::error(403, "not_installed"));
                }
                let mut fields = Fields::new();
                for k in ["state", "code_challenge", "redirect_uri"] {
                    if let Some(v) = req.body.get(k) {
                        fields.0.push((k, v.clone()));
                    }
                }
                // `consent_required=off` (mutant): the AS authorizes the site named at once,
                // without asking its admin.
                if !self.consent_required
                    && let Some(tenant) = req.tenant
                {
                    return reply(self.authorize(cx, tenant, &fields));
                }
                reply(consent_form("POST /authorize/consent", fields))
            }
            "POST /authorize/consent" => {
                let Some(tenant) = req.tenant else {
                    return reply(Response::error(400, "no_tenant"));
                };
                // Only the tenant's admin can consent: the real admin's browser, or an
                // attacker for the tenant it genuinely owns (A4).
                let admin = env.from == Party::Browser
                    || (env.from == Party::Attacker && cx.registry.attacker_owned == Some(tenant))
                    || !self.consent_actor_check;
                if req.body.str("approve") != Some("yes") || !cx.installed(tenant) || !admin {
                    return reply(Response::error(403, "access_denied"));
                }
                if let Some(i) = cx.registry.installs.get_mut(&tenant) {
                    i.consented = true;
                }
                cx.record(Event::Admin {
                    kind: crate::history::AdminKind::Consent,
                    tenant,
                });
                reply(self.authorize(cx, tenant, &req.body))
            }
            "POST /oauth/token" => {
                if !self.client_ok(req) {
                    return reply(Response::error(401, "invalid_client"));
                }
                match req.body.str("grant_type") {
                    Some("refresh_token") => self.authority.redeem(cx, env, req),
                    Some("authorization_code") => {
                        let reuse_ok = self.code_reuse_ok;
                        let pkce = self.pkce;
                        let Some(code) = req.body.secret("code") else {
                            return reply(Response::error(400, "invalid_request"));
                        };
                        let expiry_check = self.code_expiry_check;
                        let binding = self.code_binding;
                        let Some(c) = self.codes.get_mut(code) else {
                            return reply(Response::error(400, "invalid_grant"));
                        };
                        // A code past its lifetime (a used one is refused as used below,
                        // unless reuse is allowed): only this check stops an unused one.
                        let spent = c.used && !reuse_ok;
                        if expiry_check && cx.now >= c.exp && !spent {
                            return reply(Response::error(400, "code_expired"));
                        }
                        let verifier_ok = match (&c.challenge, req.body.secret("code_verifier")) {
                            (Some(ch), Some(v)) => *ch == challenge_of(v),
                            (None, _) => !pkce,
                            (Some(_), None) => !pkce,
                        };
                        if (c.used && !reuse_ok)
                            || req.body.str("redirect_uri") != Some(c.redirect_uri.as_str())
                            || !verifier_ok
                        {
                            return reply(Response::error(400, "invalid_grant"));
                        }
                        // RFC 6749 §4.1.3: the code was issued to the client redeeming it
                        // (`client_ok` has authenticated it as client A).
                        if binding && req.body.str("client_id") != Some(c.client) {
                            return reply(Response::error(400, "invalid_grant"));
                        }
                        c.used = true;
                        let tenant = c.tenant;
                        if !cx.may_issue(tenant) {
                            return reply(Response::error(403, "not_installed"));
                        }
                        let end = cx.mint_step(Party::AS, env.id);
                        let (jwt, exp) = cx.mint_access(tenant, env.from, end);
                        let rt = self.authority.new_family(cx, tenant, env.from);
                        Handling::Reply {
                            response: token_response(jwt, exp, Some(rt)),
                            after: end - cx.now,
                        }
                    }
                    // RFC 6749 §5.2: a missing parameter is invalid_request.
                    None => reply(Response::error(400, "invalid_request")),
                    _ => reply(Response::error(400, "unsupported_grant_type")),
                }
            }
            _ => reply(Response::error(404, "no_such_route")),
        }
    }
}
