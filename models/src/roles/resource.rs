//! The product API: where tenant isolation is enforced. It checks the signature of T, `exp`
//! against `now` (with the configured leeway), the audience, the app it was minted for, the binding of T to the tenant
//! whose resources are addressed, and, with `api_checks_installation=on`, that the
//! installation is still live and its grant not revoked; last, the principal (H12): a user
//! token reaches its own user's data only, and an app token cannot claim a user.

use crate::Micros;
use crate::ids::{APP_ID, TenantId};
use crate::message::{Request, Value};
use crate::token::{API_AUDIENCE, JwtError, PLATFORM_ISSUER, PlatformKeys};

/// The verifier's decision: the tenant and principal served, or a reason.
pub type ApiDecision = Result<(TenantId, &'static str), &'static str>;

/// What the API knows of installations.
pub trait InstallView {
    fn live(&self, tenant: TenantId) -> bool;
}

pub fn jwt_reason(e: JwtError) -> &'static str {
    match e {
        JwtError::Malformed => "malformed",
        JwtError::BadSignature => "bad_signature",
        JwtError::Expired => "expired",
        JwtError::WrongAudience => "wrong_audience",
        JwtError::WrongIssuer => "wrong_issuer",
        JwtError::UnknownKey => "unknown_key",
    }
}

/// The header naming whose data a request addresses (H12): a user's name, or absent for the
/// app's. The simulated workload never sends it, so every simulated request addresses the app.
pub const ACT_AS_HEADER: &str = "x-act-as";

/// The API's principal check (H12): a user token reaches its own user's data only, and an app
/// token cannot claim a user. `token_sub`: the user the token acts as (`None`: the app);
/// `addressed`: whose data the request addresses (`None`: the app's). `enforce=false` is the
/// mutant API that skips the check (`api_principal_check=off`) and serves whoever is addressed.
pub fn check_principal(
    token_sub: Option<&str>,
    addressed: Option<&str>,
    enforce: bool,
) -> Result<Option<String>, &'static str> {
    if !enforce {
        return Ok(addressed.map(str::to_string));
    }
    match (token_sub, addressed) {
        (None, None) => Ok(None),
        (Some(u), Some(a)) if u == a => Ok(Some(u.to_string())),
        (Some(_), Some(_)) => Err("wrong_user"),
        (None, Some(_)) => Err("app_token_claims_user"),
        (Some(_), None) => Err("user_token_for_app_data"),
    }
}

/// Checks a bearer access token presented for `req.tenant`. The principal check runs last,
/// after every tenant check; `principal_check=false` is the mutant API that skips it.
#[allow(clippy::too_many_arguments)]
pub fn verify_bearer(
    keys: &PlatformKeys,
    installs: &dyn InstallView,
    checks_installation: bool,
    checks_app: bool,
    leeway: Micros,
    req: &Request,
    now: Micros,
    principal_check: bool,
) -> ApiDecision {
    let Some(Value::Jwt(token)) = req.headers.get("authorization") else {
        return Err(if req.tenant.is_none() {
            "no_tenant"
        } else {
            "no_bearer_token"
        });
    };
    keys.verify_access_with(token, |claims| {
        // A request that names no site acts for the one its token is bound to (a stock
        // client sends only the bearer token).
        let tenant = req.tenant.unwrap_or(TenantId(claims.inst));
        if claims.iss != PLATFORM_ISSUER {
            return Err("wrong_issuer");
        }
        if claims.aud != API_AUDIENCE {
            return Err("wrong_audience");
        }
        // App A's scope: a T minted for another app on the same platform (`apps=2`) is
        // refused.
        if checks_app && claims.app != APP_ID {
            return Err("wrong_app");
        }
        keys.epoch()
            .check_exp(claims.exp, now, leeway)
            .map_err(jwt_reason)?;
        if TenantId(claims.inst) != tenant {
            return Err("wrong_tenant");
        }
        if checks_installation && !installs.live(tenant) {
            return Err("not_installed");
        }
        let addressed = match req.headers.get(ACT_AS_HEADER) {
            Some(Value::Str(u)) => Some(u.as_str()),
            _ => None,
        };
        let user = check_principal(claims.sub.as_deref(), addressed, principal_check)?;
        Ok((tenant, if user.is_some() { "user" } else { "app" }))
    })
    .map_err(jwt_reason)?
}
