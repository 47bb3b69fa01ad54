//! `connect-jwt`: Connect's per-installation `sharedSecret` (`mechanisms.md` §7). The host
//! POSTs `installed` with the secret at setup; P then signs every API request locally with an
//! HS256 JWT carrying `qsh`. No hops on a miss: cold equals warm.

use super::Mechanism;
use super::common::lifecycle;
use super::{Acquisition, Facts, MissSteps};
use crate::Micros;
use crate::history::{Cause, ItemKind};
use crate::ids::{PartnerEndpoint, Party, TenantId};
use crate::message::{Envelope, Fields, Request, Response, Value};
use crate::params::{Basis, Choice, Kind, ParamSpec, Params, Revocation, spec};
use crate::roles::partner::{
    AttemptResult, Credential, Inbound, OutRequest, PartnerCx, PartnerSide,
};
use crate::roles::platform::{Handling, PlatformCx, PlatformSide};
use crate::roles::resource::{ApiDecision, jwt_reason};
use crate::roles::store::Row;
use crate::secret::Secret;
use crate::token::{
    ConnectClaims, client_key, connect_issuer, connect_qsh, sign_connect, verify_connect,
};
use std::collections::BTreeMap;
use std::sync::Arc;

pub struct ConnectJwt;

/// What `connect-jwt` is: the facts the report and the suites ask of it.
const FACTS: Facts = Facts {
    id: "connect-jwt",
    description: "Connect baseline: per-installation sharedSecret from the installed hook; P signs each request (HS256, qsh)",
    hops_on_miss: 0,
    acquisition: Acquisition::SelfSigned,
    root_credential: "shared_secret",
    revocable: false,
    miss_steps: MissSteps::NONE,
    acquires_from: None,
    browser_consent: false,
    capability_url: false,
    warm_up_s: 0.0,
};

impl Mechanism for ConnectJwt {
    fn facts(&self) -> &'static Facts {
        &FACTS
    }
    fn switches(&self) -> Vec<ParamSpec> {
        use Basis::*;
        vec![
            spec(
                "signed_install",
                Kind::Switch,
                "on",
                Fact,
                "the installed hook is signed (off: pre-2021 unsigned install)",
            ),
            spec(
                "qsh",
                Kind::Switch,
                "on",
                Mutant,
                "the API checks the query-string hash (off: mutant)",
            ),
            spec(
                "secret_scope",
                Kind::Choice(SecretScope::NAMES),
                "per_install",
                Fact,
                "per_app: one sharedSecret for every installation (2019–2021)",
            ),
            spec(
                "jwt_exp",
                Kind::Duration,
                "180s",
                Unverified,
                "lifetime of a Connect JWT",
            ),
            spec(
                "act_as_user",
                Kind::Switch,
                "off",
                Inference,
                "the ACT_AS_USER scope: the sharedSecret signs a JWT-bearer assertion naming a user and the AS answers with a user T (2LO impersonation; needs users=N; read by the principal layer)",
            ),
        ]
    }
    fn build(&self, params: &Params) -> (Box<dyn PartnerSide>, Box<dyn PlatformSide>) {
        // The one place connect-jwt reads its switches.
        let per_app = params.pick::<SecretScope>("secret_scope") == SecretScope::PerApp;
        (
            Box::new(ConnectPartner {
                jwt_exp: params.dur_req("jwt_exp"),
                signed_install: params.bool("signed_install"),
            }),
            Box::new(ConnectPlatform {
                secrets: BTreeMap::new(),
                app_secret: None,
                per_app,
                qsh: params.bool("qsh"),
            }),
        )
    }
}

crate::choice_enum! {
    /// One sharedSecret per installation, or one for the app (`secret_scope`, 2019–2021).
    enum SecretScope { PerInstall = "per_install", PerApp = "per_app" }
}

struct ConnectPartner {
    jwt_exp: Micros,
    /// The installed hook is signed (off: pre-2021 unsigned install).
    signed_install: bool,
}

fn request_qsh(req: &Request) -> String {
    let path = req
        .route
        .split_once(' ')
        .map(|(_, p)| p)
        .unwrap_or(req.route);
    connect_qsh(req.method.as_str(), path, &[])
}

impl PartnerSide for ConnectPartner {
    fn credential(
        &self,
        row: &Row,
        _now: Micros,
        _check_exp: bool,
        _margin: Micros,
    ) -> Option<Credential> {
        match row.items.get("shared_secret") {
            Some(Value::Secret(s)) => Some(Credential::SigningKey { secret: s.clone() }),
            _ => None,
        }
    }
    fn authorize(&self, cx: &mut PartnerCx<'_>, cred: &Credential, req: &Request) -> Value {
        match cred {
            Credential::SigningKey { secret } => {
                let tenant = req.tenant.expect("API calls name their tenant");
                let claims = ConnectClaims {
                    iss: client_key(tenant),
                    iat: cx.epoch().numeric_date(cx.now),
                    exp: cx.epoch().numeric_date(cx.now + self.jwt_exp),
                    qsh: request_qsh(req),
                    sub: None,
                };
                Value::Jwt(sign_connect(secret, &claims))
            }
            Credential::Bearer { jwt, .. } => Value::Jwt(jwt.clone()),
        }
    }
    fn start_attempt(
        &mut self,
        _cx: &mut PartnerCx<'_>,
        _tenant: TenantId,
        _row: &Row,
    ) -> Result<OutRequest, Cause> {
        // No sharedSecret means the installed hook never arrived: nothing to ask for.
        Err(Cause::Rejected)
    }
    fn on_attempt_response(
        &mut self,
        _cx: &mut PartnerCx<'_>,
        _tenant: TenantId,
        _resp: &Response,
    ) -> AttemptResult {
        AttemptResult::Failed {
            cause: Cause::Rejected,
            retry: false,
        }
    }
    fn on_inbound(&mut self, cx: &mut PartnerCx<'_>, _env: &Envelope, req: &Request) -> Inbound {
        match req.route {
            "POST /lifecycle" => lifecycle(cx, req, &["shared_secret"], self.signed_install),
            _ => Inbound::Reply {
                tenant: None,
                update: None,
                response: Response::error(404, "no_such_route"),
            },
        }
    }
}

struct ConnectPlatform {
    /// clientKey → (tenant, sharedSecret); removed at uninstall.
    secrets: BTreeMap<String, (TenantId, Secret)>,
    /// With `secret_scope=per_app`, the one secret every installation shares.
    app_secret: Option<Secret>,
    per_app: bool,
    /// The API checks the query-string hash (off: mutant).
    qsh: bool,
}

impl PlatformSide for ConnectPlatform {
    fn on_install(&mut self, cx: &mut PlatformCx<'_>, tenant: TenantId) {
        let s = match (&self.app_secret, self.per_app) {
            (Some(s), true) => s.clone(),
            _ => {
                let s = cx.issue_secret(
                    ItemKind::SharedSecret,
                    "shared",
                    tenant,
                    Party::Partner(PartnerEndpoint::Lifecycle),
                    None,
                );
                if self.per_app {
                    self.app_secret = Some(s.clone());
                }
                s
            }
        };
        self.secrets.insert(client_key(tenant), (tenant, s.clone()));
        cx.send_lifecycle(
            tenant,
            "installed",
            Fields::new()
                .with("shared_secret", Value::Secret(s))
                .with("clientKey", Value::Str(client_key(tenant))),
        );
    }
    fn on_uninstall(&mut self, cx: &mut PlatformCx<'_>, tenant: TenantId) {
        // The host sends `disabled` and `uninstalled` in parallel, ~5 ms apart in the wild
        // [F: connect-49046]: here both leave at once and the links decide their order.
        cx.send_lifecycle(tenant, "disabled", Fields::new());
        // The host no longer knows the iss: immediate revocation (inference).
        if cx.cfg.revocation == Revocation::Enforced {
            self.secrets.remove(&client_key(tenant));
        }
    }
    fn on_request(
        &mut self,
        _cx: &mut PlatformCx<'_>,
        _env: &Arc<Envelope>,
        _req: &Request,
    ) -> Handling {
        Handling::Reply {
            response: Response::error(404, "no_such_route"),
            after: 0,
        }
    }
    fn verify_api(&self, cx: &PlatformCx<'_>, req: &Request) -> Option<ApiDecision> {
        let Some(Value::Jwt(jwt)) = req.headers.get("authorization") else {
            return Some(Err("no_token"));
        };
        Some((|| {
            let tenant = req.tenant.ok_or("no_tenant")?;
            let iss = connect_issuer(jwt).map_err(jwt_reason)?;
            let (bound, secret) = self.secrets.get(&iss).ok_or("unknown_issuer")?;
            let claims = verify_connect(secret, jwt).map_err(jwt_reason)?;
            cx.keys
                .epoch()
                .check_exp(claims.exp, cx.now, 0)
                .map_err(jwt_reason)?;
            if self.qsh && claims.qsh != request_qsh(req) {
                return Err("qsh_mismatch");
            }
            if *bound != tenant {
                return Err("wrong_tenant");
            }
            Ok((tenant, "app"))
        })())
    }
}
