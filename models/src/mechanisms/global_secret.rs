//! `global-secret`: one client secret for all tenants (`mechanisms.md` §5), the baseline a
//! partner called "very common". P → AS `client_credentials` (id, secret, tenant) → T.

use super::Mechanism;
use super::client_auth::{
    self, ClientAuthConfig, ClientAuthenticator, credential_field, credential_fields,
};
use super::common::{as_request, judge_token_response, lifecycle, token_response};
use super::{Acquisition, Facts, Group, MissSteps};
use crate::Micros;
use crate::history::{Cause, ItemKind};
use crate::ids::{APP_ID, PartnerEndpoint, Party, TenantId};
use crate::message::{Envelope, Fields, Request, Response, Value};
use crate::params::{Basis, Kind, ParamSpec, Params, Revocation, Rotation, SenderConstraint, spec};
use crate::roles::partner::{AttemptResult, Inbound, OutRequest, PartnerCx, PartnerSide};
use crate::roles::platform::{Handling, PlatformCx, PlatformSide};
use crate::roles::store::Row;
use crate::secret::Secret;
use std::collections::BTreeSet;
use std::sync::Arc;

pub struct GlobalSecret;

/// What `global-secret` is: the facts the report and the suites ask of it.
const FACTS: Facts = Facts {
    id: "global-secret",
    description: "one app-wide client secret; client_credentials names the tenant; one leak reaches every tenant",
    hops_on_miss: 2,
    acquisition: Acquisition::OnDemand,
    root_credential: "client_secret",
    revocable: true,
    miss_steps: MissSteps {
        mints: 1,
        store_writes: 0,
        store_reads: 0,
    },
    acquires_from: Some(Group::AuthServer),
    browser_consent: false,
    capability_url: false,
    warm_up_s: 0.0,
};

impl Mechanism for GlobalSecret {
    fn facts(&self) -> &'static Facts {
        &FACTS
    }
    fn switches(&self) -> Vec<ParamSpec> {
        let mut v = vec![
            spec(
                "tenant_block",
                Kind::Switch,
                "off",
                Basis::Inference,
                "an AS-side per-tenant block (revoke one tenant without rotating)",
            ),
            client_auth::sender_constraint_spec(),
            spec(
                "rotation",
                Kind::Rotation,
                "off",
                Basis::Inference,
                "off (manual, never in a run), or periodic(ρ): the app's one secret is replaced every ρ and sent to every live installation",
            ),
            spec(
                "rotation_overlap",
                Kind::Duration,
                "1h",
                Basis::Inference,
                "how long the previous secret still works after a rotation",
            ),
        ];
        v.extend(crate::network::allowlist_switches());
        v.extend(client_auth::switches());
        v
    }
    fn build(&self, params: &Params) -> (Box<dyn PartnerSide>, Box<dyn PlatformSide>) {
        // The one place global-secret reads its switches.
        let sender_constraint = params.pick("sender_constraint");
        (
            Box::new(ClientCredentialsPartner {
                auth: ClientAuthConfig::from_params(params),
            }),
            Box::new(GlobalPlatform {
                auth: ClientAuthenticator::from_params(params),
                secret: None,
                previous: None,
                rotation: params.rotation("rotation"),
                overlap: params.dur_req("rotation_overlap"),
                blocked: BTreeSet::new(),
                tenant_block: params.bool("tenant_block"),
                sender_constraint,
                ip_allowlist: params.pick("ip_allowlist"),
            }),
        )
    }
}

/// P.app's `client_credentials` request, shared with `tenant-secret`.
pub struct ClientCredentialsPartner {
    pub auth: ClientAuthConfig,
}

impl PartnerSide for ClientCredentialsPartner {
    fn start_attempt(
        &mut self,
        cx: &mut PartnerCx<'_>,
        tenant: TenantId,
        row: &Row,
    ) -> Result<OutRequest, Cause> {
        let field = credential_field(self.auth.sender_constraint);
        let Some(Value::Secret(secret)) = row.items.get(field) else {
            return Err(Cause::Rejected);
        };
        let client_id = match row.items.get("client_id") {
            Some(Value::Str(id)) => id.clone(),
            _ => APP_ID.to_string(),
        };
        let mut body = Fields::new()
            .with("grant_type", Value::Str("client_credentials".into()))
            .with("client_id", Value::Str(client_id.clone()));
        let epoch = cx.epoch();
        body.0
            .extend(credential_fields(self.auth, secret, &client_id, cx.now, epoch, cx.rng).0);
        body.0.push(("tenant", Value::Tenant(tenant)));
        Ok(as_request(tenant, body))
    }
    fn on_attempt_response(
        &mut self,
        _cx: &mut PartnerCx<'_>,
        _tenant: TenantId,
        resp: &Response,
    ) -> AttemptResult {
        judge_token_response(resp, credential_field(self.auth.sender_constraint))
    }
    fn sender_constraint(&self) -> SenderConstraint {
        self.auth.sender_constraint
    }
    fn on_inbound(&mut self, cx: &mut PartnerCx<'_>, _env: &Envelope, req: &Request) -> Inbound {
        match req.route {
            "POST /lifecycle" => lifecycle(
                cx,
                req,
                client_auth::hook_fields(self.auth.sender_constraint),
                true,
            ),
            _ => Inbound::Reply {
                tenant: None,
                update: None,
                response: Response::error(404, "no_such_route"),
            },
        }
    }
}

struct GlobalPlatform {
    /// How the AS authenticates P (the secret, or an assertion signed with P's key).
    auth: ClientAuthenticator,
    secret: Option<Secret>,
    /// The secret a rotation replaced, and until when it still works (`rotation_overlap`).
    previous: Option<(Secret, Micros)>,
    rotation: Rotation,
    overlap: Micros,
    blocked: BTreeSet<TenantId>,
    /// An AS-side per-tenant block (`tenant_block`).
    tenant_block: bool,
    sender_constraint: SenderConstraint,
    /// The AS's IP allow-list of P's range (`ip_allowlist`).
    ip_allowlist: crate::network::IpAllowlist,
}

impl PlatformSide for GlobalPlatform {
    fn sender_constraint(&self) -> SenderConstraint {
        self.sender_constraint
    }
    fn ip_allowlist(&self) -> crate::network::IpAllowlist {
        self.ip_allowlist
    }
    fn revokes_grant(&self) -> bool {
        // One secret for every tenant: no per-tenant grant to withdraw (tenant_block is the way).
        false
    }
    fn on_install(&mut self, cx: &mut PlatformCx<'_>, tenant: TenantId) {
        // The app's secret exists once; every install event carries the same one.
        let secret = match &self.secret {
            Some(s) => s.clone(),
            None => {
                // The first install creates the secret and starts its rotation schedule.
                if let Rotation::Periodic(rho) = self.rotation {
                    cx.set_timer(cx.now.max(0) + rho, 0);
                }
                let s = cx.issue_secret(
                    ItemKind::ClientSecret,
                    "client",
                    tenant,
                    Party::Partner(PartnerEndpoint::Lifecycle),
                    None,
                );
                self.auth.register(&s);
                self.secret = Some(s.clone());
                s
            }
        };
        self.blocked.remove(&tenant);
        cx.send_lifecycle(
            tenant,
            "installed",
            Fields::new().with(self.auth.field(), Value::Secret(secret)),
        );
    }
    fn on_timer(&mut self, cx: &mut PlatformCx<'_>, tag: u64) {
        let Rotation::Periodic(rho) = self.rotation else {
            return;
        };
        // A rotation: a new app-wide secret, pushed to every live installation; the old one
        // works for `rotation_overlap` more.
        let live = cx.registry.installed_tenants();
        let Some(&first) = live.first() else {
            return;
        };
        let s = cx.issue_secret(
            ItemKind::ClientSecret,
            "client",
            first,
            Party::Partner(PartnerEndpoint::Lifecycle),
            None,
        );
        self.auth.register(&s);
        self.previous = self
            .secret
            .replace(s.clone())
            .map(|p| (p, cx.now + self.overlap));
        for tenant in live {
            cx.send_lifecycle(
                tenant,
                "secret_rotated",
                Fields::new().with(self.auth.field(), Value::Secret(s.clone())),
            );
        }
        cx.set_timer(cx.now + rho, tag);
    }
    fn on_revoke(&mut self, cx: &mut PlatformCx<'_>, tenant: TenantId) {
        if self.tenant_block && cx.cfg.revocation == Revocation::Enforced {
            self.blocked.insert(tenant);
        }
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
        if req.route == "POST /oauth/token" && req.body.str("grant_type").is_none() {
            // RFC 6749 §5.2: a missing parameter is invalid_request.
            return reply(Response::error(400, "invalid_request"));
        }
        if req.route != "POST /oauth/token"
            || req.body.str("grant_type") != Some("client_credentials")
        {
            return reply(Response::error(400, "unsupported_grant_type"));
        }
        let valid = client_auth::live(self.secret.as_ref(), &self.previous, cx.now);
        if req.body.str("client_id") != Some(APP_ID) {
            return reply(Response::error(401, "invalid_client"));
        }
        let epoch = cx.keys.epoch();
        if let Err(reason) = self.auth.authenticate(req, APP_ID, &valid, cx.now, epoch) {
            return reply(Response::error(401, reason));
        }
        let Some(tenant) = req.body.tenant("tenant") else {
            return reply(Response::error(400, "invalid_request"));
        };
        if !cx.may_issue(tenant) || self.blocked.contains(&tenant) {
            return reply(Response::error(403, "not_installed"));
        }
        let end = cx.mint_step(Party::AS, env.id);
        let (jwt, exp) = cx.mint_access(tenant, env.from, end);
        Handling::Reply {
            response: token_response(jwt, exp, None),
            after: end - cx.now,
        }
    }
}
