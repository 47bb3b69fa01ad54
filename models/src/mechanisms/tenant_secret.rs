//! `tenant-secret`: client credentials per (app, clientKey) (`mechanisms.md` §6), marc's
//! suggestion: "separate OAuth client credentials for each combination of app and clientKey".

use super::Mechanism;
use super::client_auth::{self, ClientAuthConfig, ClientAuthenticator};
use super::common::token_response;
use super::global_secret::ClientCredentialsPartner;
use super::{Acquisition, Facts, Group, MissSteps};
use crate::Micros;
use crate::history::ItemKind;
use crate::ids::{APP_ID, PartnerEndpoint, Party, TenantId};
use crate::message::{Envelope, Fields, Request, Response, Value};
use crate::params::{Basis, Kind, ParamSpec, Params, Revocation, Rotation, SenderConstraint, spec};
use crate::roles::partner::PartnerSide;
use crate::roles::platform::{Handling, PlatformCx, PlatformSide};
use crate::secret::Secret;
use std::collections::BTreeMap;
use std::sync::Arc;

pub struct TenantSecret;

/// What `tenant-secret` is: the facts the report and the suites ask of it.
const FACTS: Facts = Facts {
    id: "tenant-secret",
    description: "client credentials per installation: one secret per tenant, each revocable on its own",
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

impl Mechanism for TenantSecret {
    fn facts(&self) -> &'static Facts {
        &FACTS
    }
    fn switches(&self) -> Vec<ParamSpec> {
        let mut v = vec![
            spec(
                "rotation",
                Kind::Rotation,
                "off",
                Basis::Inference,
                "off, or periodic(ρ): the AS issues a new secret every ρ",
            ),
            client_auth::sender_constraint_spec(),
            spec(
                "as_binding",
                Kind::Switch,
                "on",
                Basis::Mutant,
                "the AS refuses a secret presented for another installation (off: mutant)",
            ),
            spec(
                "rotation_overlap",
                Kind::Duration,
                "1h",
                Basis::Inference,
                "how long the previous secret still works",
            ),
        ];
        v.extend(crate::network::allowlist_switches());
        v.extend(client_auth::switches());
        v
    }
    fn build(&self, params: &Params) -> (Box<dyn PartnerSide>, Box<dyn PlatformSide>) {
        // The one place tenant-secret reads its switches.
        let sender_constraint = params.pick("sender_constraint");
        (
            // P's side is global-secret's: the client id in its row names the installation.
            Box::new(ClientCredentialsPartner {
                auth: ClientAuthConfig::from_params(params),
            }),
            Box::new(TenantPlatform {
                auth: ClientAuthenticator::from_params(params),
                secrets: BTreeMap::new(),
                rotation: params.rotation("rotation"),
                overlap: params.dur_req("rotation_overlap"),
                as_binding: params.bool("as_binding"),
                sender_constraint,
                ip_allowlist: params.pick("ip_allowlist"),
            }),
        )
    }
}

/// The tenant's client id: `{app}:{clientKey}`.
pub fn client_id(tenant: TenantId) -> String {
    // No ':' in it: a client id travels unencoded in HTTP Basic with many clients (§2.3.1).
    format!("{APP_ID}.{}", crate::token::client_key(tenant))
}

/// Per tenant: the current secret and a previous one valid until a deadline.
struct Secrets {
    current: Secret,
    previous: Option<(Secret, Micros)>,
    revoked: bool,
}

struct TenantPlatform {
    /// How the AS authenticates P (the secret, or an assertion signed with P's key).
    auth: ClientAuthenticator,
    secrets: BTreeMap<TenantId, Secrets>,
    rotation: Rotation,
    overlap: Micros,
    /// The AS refuses a secret presented for another installation (off: mutant).
    as_binding: bool,
    sender_constraint: SenderConstraint,
    /// The AS's IP allow-list of P's range (`ip_allowlist`).
    ip_allowlist: crate::network::IpAllowlist,
}

impl TenantPlatform {
    fn issue(&mut self, cx: &mut PlatformCx<'_>, tenant: TenantId, event: &'static str) {
        let s = cx.issue_secret(
            ItemKind::ClientSecret,
            "client",
            tenant,
            Party::Partner(PartnerEndpoint::Lifecycle),
            None,
        );
        self.auth.register(&s);
        let previous = self
            .secrets
            .remove(&tenant)
            .filter(|p| !p.revoked)
            .map(|p| (p.current, cx.now + self.overlap));
        self.secrets.insert(
            tenant,
            Secrets {
                current: s.clone(),
                previous,
                revoked: false,
            },
        );
        cx.send_lifecycle(
            tenant,
            event,
            Fields::new()
                .with(self.auth.field(), Value::Secret(s))
                .with("client_id", Value::Str(client_id(tenant))),
        );
    }
}

impl PlatformSide for TenantPlatform {
    fn sender_constraint(&self) -> SenderConstraint {
        self.sender_constraint
    }
    fn ip_allowlist(&self) -> crate::network::IpAllowlist {
        self.ip_allowlist
    }
    fn on_install(&mut self, cx: &mut PlatformCx<'_>, tenant: TenantId) {
        self.issue(cx, tenant, "installed");
        if let Rotation::Periodic(rho) = self.rotation {
            cx.set_timer(cx.now.max(0) + rho, u64::from(tenant.0));
        }
    }
    fn on_timer(&mut self, cx: &mut PlatformCx<'_>, tag: u64) {
        let tenant = TenantId(tag as u32);
        if cx.installed(tenant) && self.secrets.get(&tenant).is_some_and(|s| !s.revoked) {
            self.issue(cx, tenant, "secret_rotated");
            if let Rotation::Periodic(rho) = self.rotation {
                cx.set_timer(cx.now + rho, tag);
            }
        }
    }
    fn on_uninstall(&mut self, cx: &mut PlatformCx<'_>, tenant: TenantId) {
        self.on_revoke(cx, tenant);
    }
    fn on_revoke(&mut self, cx: &mut PlatformCx<'_>, tenant: TenantId) {
        if cx.cfg.revocation == Revocation::Enforced
            && let Some(s) = self.secrets.get_mut(&tenant)
        {
            s.revoked = true;
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
        // The client id names the installation; the secret must be that installation's.
        let tenant = self
            .secrets
            .keys()
            .copied()
            .find(|t| req.body.str("client_id") == Some(client_id(*t).as_str()));
        let Some(tenant) = tenant else {
            return reply(Response::error(401, "invalid_client"));
        };
        let s = &self.secrets[&tenant];
        let valid = client_auth::live(Some(&s.current), &s.previous, cx.now);
        let epoch = cx.keys.epoch();
        let checked = self
            .auth
            .authenticate(req, &client_id(tenant), &valid, cx.now, epoch);
        if s.revoked {
            return reply(Response::error(401, "invalid_client"));
        }
        if let Err(reason) = checked {
            return reply(Response::error(401, reason));
        }
        let tenant = match req.body.tenant("tenant") {
            Some(t) if t != tenant && !self.as_binding => t,
            Some(t) if t != tenant => return reply(Response::error(403, "wrong_tenant")),
            _ => tenant,
        };
        if !cx.may_issue(tenant) {
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
