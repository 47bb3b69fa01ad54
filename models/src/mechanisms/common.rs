//! Pieces several mechanisms share: the FIT-authenticated token delivery (trigger's P.auth,
//! push's P.recv), lifecycle hooks, and the mapping of AS answers onto the closed taxonomy.

use crate::Micros;
use crate::history::{Cause, Event};
use crate::ids::{MsgId, Party, TenantId};
use crate::message::{Envelope, Fields, Request, Response, Value};
use crate::params::{PartnerRetention, StoreKey};
use crate::roles::partner::{AttemptResult, Inbound, PartnerCx};
use crate::roles::platform::PlatformCx;
use crate::roles::store::CachedToken;

/// P.auth / P.recv: verify the FIT, key T by the FIT's `installationId` (or, with the mutant
/// `store_key=body`, by a tenant id in the body), keep the token with the larger `exp`
/// (or the last write, with the bug variant `keep=last_write`), answer 204 once committed.
pub fn accept_token_delivery(
    cx: &mut PartnerCx<'_>,
    req: &Request,
    keep_last_write: bool,
    store_key: StoreKey,
) -> (Inbound, Option<TenantId>) {
    let fit = req.headers.jwt("authorization");
    let claims = match cx.check_fit(fit) {
        Ok(c) => c,
        Err(_) => {
            if let (Some(jwt), Some(exp)) = (
                req.headers.jwt("x-forge-oauth-system"),
                req.body.int("expires_at"),
            ) {
                cx.bind_unlearnt(format!("{} {:?} {exp}", req.route, jwt.id()), false);
            }
            return (
                Inbound::Reply {
                    tenant: None,
                    update: None,
                    response: Response::error(401, "invalid_fit"),
                },
                None,
            );
        }
    };
    let by_body = store_key == StoreKey::Body;
    let tenant = match (&claims, by_body) {
        (Some(c), false) => TenantId(c.installation_id),
        _ => match req.body.tenant("tenant") {
            Some(t) => t,
            None => {
                return (
                    Inbound::Reply {
                        tenant: None,
                        update: None,
                        response: Response::error(400, "no_tenant"),
                    },
                    None,
                );
            }
        },
    };
    let (Some(jwt), Some(exp)) = (
        req.headers.jwt("x-forge-oauth-system"),
        req.body.int("expires_at"),
    ) else {
        return (
            Inbound::Reply {
                tenant: None,
                update: None,
                response: Response::error(400, "no_token"),
            },
            None,
        );
    };
    // The FIT authenticates this delivery only: the same FIT with another body is a replay.
    if let Some(c) = &claims
        && !cx.bind_fit_body(c, format!("{} {:?} {exp}", req.route, jwt.id()))
    {
        return (
            Inbound::Reply {
                tenant: None,
                update: None,
                response: Response::error(401, "fit_replayed"),
            },
            None,
        );
    }
    let token = CachedToken {
        jwt: jwt.clone(),
        exp,
    };
    // The API site travels with T (the FIT's `apiBaseUrl`); P calls it for this row's demands.
    let site = claims.as_ref().map(|c| TenantId(c.installation_id));
    let update = Box::new(move |row: &mut crate::roles::store::Row| {
        let newer = row.token.as_ref().is_none_or(|old| old.exp <= token.exp);
        if keep_last_write || newer {
            row.token = Some(token);
            if let Some(site) = site {
                row.items.insert("api_site", Value::Tenant(site));
            }
        }
    });
    (
        Inbound::Reply {
            tenant: Some(tenant),
            update: Some(update),
            response: Response {
                status: 204,
                body: Fields::new(),
            },
        },
        Some(tenant),
    )
}

/// P.lifecycle: `installed` stores the listed secret fields in the tenant's row;
/// `uninstalled` forgets the tenant (`partner_retention=keep`, a mutant, keeps the row). With
/// `require_fit` the event must carry a valid FIT.
pub fn lifecycle(
    cx: &mut PartnerCx<'_>,
    req: &Request,
    keep: &'static [&'static str],
    require_fit: bool,
) -> Inbound {
    let tenant = if require_fit {
        match cx.check_fit(req.headers.jwt("authorization")) {
            // A hook FIT authenticates the event it came with only (F's retry of an event
            // carries a fresh FIT; a duplicate delivery has the same body).
            Ok(Some(c)) if !cx.bind_hook_fit_body(&c, format!("{} {:?}", req.route, req.body)) => {
                return Inbound::Reply {
                    tenant: None,
                    update: None,
                    response: Response::error(401, "fit_replayed"),
                };
            }
            Ok(Some(c)) => TenantId(c.installation_id),
            Ok(None) => match req.body.tenant("installationId") {
                Some(t) => t,
                None => {
                    return Inbound::Reply {
                        tenant: None,
                        update: None,
                        response: Response::error(400, "no_tenant"),
                    };
                }
            },
            Err(_) => {
                cx.bind_unlearnt(format!("{} {:?}", req.route, req.body), true);
                return Inbound::Reply {
                    tenant: None,
                    update: None,
                    response: Response::error(401, "invalid_fit"),
                };
            }
        }
    } else {
        match req.body.tenant("installationId") {
            Some(t) => t,
            None => {
                return Inbound::Reply {
                    tenant: None,
                    update: None,
                    response: Response::error(400, "no_tenant"),
                };
            }
        }
    };
    let event = req.body.str("event").unwrap_or("").to_string();
    let mut items: Vec<(&'static str, Value)> = Vec::new();
    for k in keep {
        if let Some(v) = req.body.get(k) {
            items.push((k, v.clone()));
        }
    }
    let update: crate::roles::partner::RowUpdate = match event.as_str() {
        "uninstalled" => match cx.retention() {
            PartnerRetention::Forget => Box::new(|row| *row = Default::default()),
            // The mutant: the row (its refresh token, secrets, URL) outlives the installation.
            PartnerRetention::Keep => Box::new(|_| {}),
        },
        _ => Box::new(move |row| {
            for (k, v) in items {
                row.items.insert(k, v);
            }
        }),
    };
    Inbound::Reply {
        tenant: Some(tenant),
        update: Some(update),
        response: Response {
            status: 204,
            body: Fields::new(),
        },
    }
}

/// An AS token response: `{access_token, expires_at[, refresh_token]}`.
pub fn token_response(
    jwt: crate::secret::Jwt,
    exp: Micros,
    refresh: Option<crate::secret::Secret>,
) -> Response {
    let mut body = Fields::new()
        .with("access_token", Value::Jwt(jwt))
        .with("expires_at", Value::Int(exp));
    if let Some(rt) = refresh {
        body.0.push(("refresh_token", Value::Secret(rt)));
    }
    Response::ok(body)
}

/// Maps a non-2xx answer of F or the AS onto the taxonomy, and whether retrying can help.
pub fn failed(resp: &Response) -> AttemptResult {
    match (resp.status, resp.error_code()) {
        (s, _) if s >= 500 || s == 429 => AttemptResult::Failed {
            cause: Cause::HttpError,
            retry: true,
        },
        (_, Some("invalid_grant" | "invalid_client")) => AttemptResult::Failed {
            cause: Cause::LockedOut,
            retry: false,
        },
        _ => AttemptResult::Failed {
            cause: Cause::Rejected,
            retry: false,
        },
    }
}

/// An AS-style answer to P.app: T in the body, and maybe a rotated RT to persist first.
pub fn judge_token_response(resp: &Response, rt_field: &'static str) -> AttemptResult {
    if !resp.is_success() {
        return failed(resp);
    }
    let (Some(jwt), Some(exp)) = (resp.body.jwt("access_token"), resp.body.int("expires_at"))
    else {
        return AttemptResult::Failed {
            cause: Cause::HttpError,
            retry: true,
        };
    };
    let persist = resp.body.secret("refresh_token").cloned().map(|rt| {
        Box::new(move |row: &mut crate::roles::store::Row| {
            row.items.insert(rt_field, Value::Secret(rt));
        }) as crate::roles::partner::RowUpdate
    });
    AttemptResult::Token {
        jwt: jwt.clone(),
        exp,
        persist,
    }
}

/// F delivers a freshly minted T to a partner endpoint with a FIT (trigger step 3, push).
/// The mint costs `mint_time`; the call departs when it is done. `extra_headers`: what a
/// mechanism adds (trigger `mode=async`: the correlation id).
#[allow(clippy::too_many_arguments)]
pub fn deliver_token(
    cx: &mut PlatformCx<'_>,
    tenant: TenantId,
    to: Party,
    route: &'static str,
    cause: Option<MsgId>,
    timeout: Option<Micros>,
    tag: u64,
    extra_headers: Fields,
) -> (MsgId, crate::secret::Jwt, Micros) {
    let depart = match cause {
        Some(c) => cx.mint_step(Party::FORGE, c),
        None => cx.now + cx.mint_time(),
    };
    let (jwt, exp) = cx.mint_access(tenant, to, depart);
    let fit = cx.sign_fit(tenant);
    let req = Request {
        method: crate::message::Method::Post,
        route,
        tenant: Some(tenant),
        headers: {
            let mut h = Fields::new()
                .with("authorization", Value::Jwt(fit))
                .with("x-forge-oauth-system", Value::Jwt(jwt.clone()));
            h.0.extend(extra_headers.0);
            h
        },
        body: Fields::new()
            .with("expires_at", Value::Int(exp))
            .with("tenant", Value::Tenant(tenant)),
    };
    (
        cx.call(Party::FORGE, to, req, cause, depart, timeout, tag),
        jwt,
        exp,
    )
}

/// Records that an endpoint noticed something suspicious.
pub fn detect(cx: &mut PartnerCx<'_>, kind: &'static str, tenant: TenantId) {
    cx.record(Event::Detect { kind, tenant });
}

/// A `client_credentials`-style request P.app sends to the AS.
pub fn as_request(tenant: TenantId, body: Fields) -> crate::roles::partner::OutRequest {
    crate::roles::partner::OutRequest {
        to: Party::AS,
        req: Request {
            method: crate::message::Method::Post,
            route: "POST /oauth/token",
            tenant: Some(tenant),
            headers: Fields::new(),
            body,
        },
    }
}

/// The inbound envelope's tenant from the request line, if any.
pub fn addressed_tenant(env: &Envelope) -> Option<TenantId> {
    env.request().and_then(|r| r.tenant)
}
