//! Envelope ⇄ HTTP, in one place. Every message the roles exchange on loopback goes through
//! these four functions, so what is on the wire is exactly what the models say is sent.
//!
//! - A request's route `"POST /oauth/token"` is its method and path; body fields travel as a
//!   query string (GET) or a form (POST), headers as headers (`authorization: Bearer …`).
//! - The driver's own bookkeeping (message id, cause, sender, tenant site) rides in
//!   `x-tokenlab-*` headers; a stock client that sends none of them still gets an answer.
//! - Responses are JSON objects; a 302 carries `Location`. A token response is standard
//!   (RFC 6749 §5.1): `access_token`, `token_type`, `expires_in`, `scope` and any
//!   `refresh_token`, with `Cache-Control: no-store` and `Pragma: no-cache`. The models' own
//!   expiry (`expires_at`, model µs) is not a standard field: it rides in the
//!   `x-tokenlab-expires-at` header, which stock clients ignore and the driver reads back.
//! - A consent form asked for by a browser (`Accept: text/html`) is an HTML page whose form
//!   POSTs the approval; the driver's own browser reads it as JSON.
//! - Values are typed back by name and shape: `tlsec_…` is an opaque secret, `eyJ…` a JWT,
//!   `tenant`/`installationId` a tenant, a pushed token's `expires_at` an integer; a
//!   credential field (refresh token, code, client
//!   secret, PKCE verifier) is a secret whatever its shape, so an unknown one is an unknown
//!   secret (`invalid_grant`, §5.2), not a missing one; all else is a string.

use axum::http;
use bytes::Bytes;
use std::collections::BTreeSet;
use std::sync::{Mutex, MutexGuard};
use tokenlab_models::ids::{MsgId, PartnerEndpoint, Party, PlatformEndpoint, TenantId};
use tokenlab_models::message::{Body, Envelope, Fields, Method, Request, Response, Value};
use tokenlab_models::secret::{Jwt, Secret};
use tokenlab_models::{Micros, SEC};

pub const H_MSG: &str = "x-tokenlab-msg";
pub const H_CAUSE: &str = "x-tokenlab-cause";
pub const H_FROM: &str = "x-tokenlab-from";
pub const H_TENANT: &str = "x-tokenlab-tenant";
/// An injected edge error: the receiver's edge answers with this status, the role never sees it.
pub const H_EDGE: &str = "x-tokenlab-edge";
/// A token response's expiry in model µs (not a standard field: §5.1 has only `expires_in`).
pub const H_EXPIRES_AT: &str = "x-tokenlab-expires-at";
/// Largest request body accepted (a token request is well under 1 KiB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Every addressable party, with the name used on the wire and in `serve`'s listing.
pub const PARTIES: [Party; 11] = [
    Party::Partner(PartnerEndpoint::App),
    Party::Partner(PartnerEndpoint::Auth),
    Party::Partner(PartnerEndpoint::Recv),
    Party::Partner(PartnerEndpoint::Lifecycle),
    Party::Partner(PartnerEndpoint::OAuth),
    Party::Platform(PlatformEndpoint::Forge),
    Party::Platform(PlatformEndpoint::AuthServer),
    Party::Platform(PlatformEndpoint::ProductApi),
    Party::Platform(PlatformEndpoint::Upm),
    Party::Browser,
    Party::Attacker,
];

pub fn party_name(p: Party) -> String {
    p.to_string()
}

pub fn party_by_name(s: &str) -> Option<Party> {
    PARTIES.into_iter().find(|p| p.to_string() == s)
}

/// Why an inbound HTTP request could not become an envelope (answered with 400).
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum WireError {
    #[error("header {0} is not valid")]
    BadHeader(&'static str),
    #[error("the body is not a valid form, query or JSON object: {0}")]
    BadBody(String),
    #[error("the path or a field name is not acceptable: {0:?}")]
    BadName(String),
    #[error("the Basic credentials are not valid base64 'id:secret'")]
    BadBasic,
    #[error("method {0} is not served (GET, POST, PUT, DELETE are)")]
    BadMethod(String),
}

/// Route and field names are `&'static str` in the models. Names read off the wire are
/// interned, at most [`INTERN_CAP`] new ones, so a client sending endless new names cannot
/// grow memory: past the cap, unknown names are refused with a 400. The models' own names
/// (every name the driver encodes, and the standard OAuth vocabulary of [`STOCK_NAMES`])
/// are known without counting against the cap, so a flood of junk names cannot lock a
/// legitimate client out (a finding of the wire fuzzer).
const INTERN_CAP: usize = 1024;

struct Interned {
    names: BTreeSet<&'static str>,
    /// Names leaked from the wire (what the cap bounds).
    foreign: usize,
}

static INTERNED: Mutex<Interned> = Mutex::new(Interned {
    names: BTreeSet::new(),
    foreign: 0,
});

/// What stock clients send that the models read, known before any driver traffic.
const STOCK_NAMES: [&str; 21] = [
    "POST /oauth/token",
    "GET /authorize",
    "POST /authorize/consent",
    "GET /rest/api/resource",
    "grant_type",
    "refresh_token",
    "client_id",
    "client_secret",
    "client_assertion",
    "client_assertion_type",
    "code",
    "code_verifier",
    "code_challenge",
    "code_challenge_method",
    "redirect_uri",
    "response_type",
    "state",
    "scope",
    "tenant",
    "approve",
    "authorization",
];

fn interned() -> MutexGuard<'static, Interned> {
    let mut g = INTERNED.lock().unwrap_or_else(|e| e.into_inner());
    if g.names.is_empty() {
        g.names.extend(STOCK_NAMES);
    }
    g
}

/// A name the models use: known from now on, free of the cap.
fn remember(name: &'static str) {
    interned().names.insert(name);
}

fn intern(s: &str) -> Result<&'static str, WireError> {
    let ok = !s.is_empty()
        && s.len() <= 96
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-./ ~".contains(&b));
    if !ok {
        return Err(WireError::BadName(s.chars().take(96).collect()));
    }
    let mut set = interned();
    if let Some(v) = set.names.get(s) {
        return Ok(v);
    }
    if set.foreign >= INTERN_CAP {
        return Err(WireError::BadName(s.into()));
    }
    let v: &'static str = Box::leak(s.to_owned().into_boxed_str());
    set.names.insert(v);
    set.foreign += 1;
    Ok(v)
}

/// The wire text of a value.
pub fn value_text(v: &Value) -> String {
    match v {
        Value::Str(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        Value::Tenant(t) => t.0.to_string(),
        Value::Secret(s) => s.expose().to_owned(),
        Value::Jwt(j) => j.expose().to_owned(),
    }
}

/// Fields whose value, when it does not carry the models' `tlsec_` prefix, is still a secret:
/// one chosen by a party outside the models (a stock client's PKCE verifier), or a credential
/// the models never issued (a mistyped or forged refresh token, code or client secret).
const FOREIGN_SECRET_FIELDS: [&str; 4] =
    ["code_verifier", "refresh_token", "code", "client_secret"];

/// A value read off the wire, typed by name and shape.
pub fn typed(name: &str, text: &str) -> Value {
    if matches!(name, "tenant" | "installationId" | "x-acting-for")
        && let Ok(t) = text.parse::<u32>()
    {
        return Value::Tenant(TenantId(t));
    }
    // A pushed token (F to P.auth, a request between the models' own parties) names its
    // expiry in model µs; token *responses* carry it in a header instead.
    if name == "expires_at"
        && let Ok(i) = text.parse::<i64>()
    {
        return Value::Int(i);
    }
    if let Some(s) = Secret::from_wire(text) {
        return Value::Secret(s);
    }
    if text.starts_with("eyJ") && text.matches('.').count() == 2 {
        return Value::Jwt(Jwt::new(text.to_owned()));
    }
    if FOREIGN_SECRET_FIELDS.contains(&name) && !text.is_empty() {
        return Value::Secret(Secret::from_foreign(text));
    }
    Value::Str(text.to_owned())
}

fn form(fields: &Fields) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in &fields.0 {
        s.append_pair(k, &value_text(v));
    }
    s.finish()
}

/// Splits a route template into method and path.
pub fn split_route(route: &str) -> (&str, &str) {
    route.split_once(' ').unwrap_or(("GET", route))
}

/// An outgoing request envelope as an HTTP request to `authority` (`127.0.0.1:port`).
pub fn encode_request(
    env: &Envelope,
    authority: &str,
    edge_status: Option<u16>,
) -> http::Request<http_body_util::Full<Bytes>> {
    let req = env.request().expect("encode_request takes a request");
    remember(req.route);
    for (k, _) in req.body.0.iter().chain(&req.headers.0) {
        remember(k);
    }
    let (method, path) = split_route(req.route);
    let query = form(&req.body);
    let (uri, body) = if method == "GET" {
        let uri = if query.is_empty() {
            format!("http://{authority}{path}")
        } else {
            format!("http://{authority}{path}?{query}")
        };
        (uri, String::new())
    } else {
        (format!("http://{authority}{path}"), query)
    };
    let mut b = http::Request::builder()
        .method(method)
        .uri(uri)
        .header(H_MSG, env.id.0.to_string())
        .header(H_FROM, party_name(env.from));
    if let Some(c) = env.cause {
        b = b.header(H_CAUSE, c.0.to_string());
    }
    if let Some(t) = req.tenant {
        b = b.header(H_TENANT, t.0.to_string());
    }
    if let Some(s) = edge_status {
        b = b.header(H_EDGE, s.to_string());
    }
    for (k, v) in &req.headers.0 {
        let text = value_text(v);
        let text = if *k == "authorization" {
            format!("Bearer {text}")
        } else {
            text
        };
        b = b.header(*k, text);
    }
    if method != "GET" {
        b = b.header("content-type", "application/x-www-form-urlencoded");
    }
    b.body(http_body_util::Full::new(Bytes::from(body)))
        .expect("a request built from static routes and encoded fields is valid")
}

/// The driver ids an inbound request carries, if it came from the driver itself.
pub struct Provenance {
    pub id: Option<MsgId>,
    pub cause: Option<MsgId>,
    pub from: Option<Party>,
}

fn header_str<'a>(
    h: &'a http::HeaderMap,
    name: &'static str,
) -> Result<Option<&'a str>, WireError> {
    match h.get(name) {
        None => Ok(None),
        Some(v) => v.to_str().map(Some).map_err(|_| WireError::BadHeader(name)),
    }
}

fn header_u64(h: &http::HeaderMap, name: &'static str) -> Result<Option<u64>, WireError> {
    header_str(h, name)?
        .map(|s| s.parse().map_err(|_| WireError::BadHeader(name)))
        .transpose()
}

pub fn provenance(h: &http::HeaderMap) -> Result<Provenance, WireError> {
    Ok(Provenance {
        id: header_u64(h, H_MSG)?.map(MsgId),
        cause: header_u64(h, H_CAUSE)?.map(MsgId),
        from: header_str(h, H_FROM)?
            .map(|s| party_by_name(s).ok_or(WireError::BadHeader(H_FROM)))
            .transpose()?,
    })
}

fn push_pairs(fields: &mut Fields, text: &str) -> Result<(), WireError> {
    for (k, v) in form_urlencoded::parse(text.as_bytes()) {
        let name = intern(&k)?;
        fields.0.push((name, typed(name, &v)));
    }
    Ok(())
}

fn push_json(fields: &mut Fields, body: &[u8]) -> Result<(), WireError> {
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| WireError::BadBody(e.to_string()))?;
    let serde_json::Value::Object(map) = v else {
        return Err(WireError::BadBody("expected a JSON object".into()));
    };
    for (k, v) in map {
        let name = intern(&k)?;
        let text = match v {
            serde_json::Value::String(s) => s,
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            other => {
                return Err(WireError::BadBody(format!(
                    "field {k:?} must be a string or a number, got {other}"
                )));
            }
        };
        fields.0.push((name, typed(name, &text)));
    }
    Ok(())
}

/// The credentials after an authentication scheme, whose name is case-insensitive (RFC 7235
/// §2.1: `basic` and `BASIC` are `Basic`).
fn strip_scheme<'a>(text: &'a str, scheme: &str) -> Option<&'a str> {
    let (name, rest) = text.split_once(' ')?;
    name.eq_ignore_ascii_case(scheme).then_some(rest)
}

/// An inbound HTTP request (head and collected body) as the request part of an envelope.
pub fn decode_request(parts: &http::request::Parts, body: &[u8]) -> Result<Request, WireError> {
    let method = match parts.method.as_str() {
        "GET" => Method::Get,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        other => return Err(WireError::BadMethod(other.chars().take(16).collect())),
    };
    let route = intern(&format!("{method} {}", parts.uri.path()))?;
    let mut headers = Fields::new();
    let mut fields = Fields::new();
    for (name, value) in &parts.headers {
        let n = name.as_str();
        // The models' headers: credentials, Forge's, and the tenant a request acts for.
        if n != "authorization" && n != "x-acting-for" && !n.starts_with("x-forge-") {
            continue;
        }
        let text = value.to_str().map_err(|_| {
            WireError::BadHeader(match n {
                "authorization" => "authorization",
                "x-acting-for" => "x-acting-for",
                _ => "x-forge-*",
            })
        })?;
        if n == "authorization" {
            if let Some(cred) = strip_scheme(text, "Basic") {
                // RFC 6749 §2.3.1: client credentials in Basic auth are the form fields.
                use base64::Engine;
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(cred.trim())
                    .map_err(|_| WireError::BadBasic)?;
                let raw = String::from_utf8(raw).map_err(|_| WireError::BadBasic)?;
                let (id, secret) = raw.split_once(':').ok_or(WireError::BadBasic)?;
                let dec = |s: &str| {
                    form_urlencoded::parse(format!("v={s}").as_bytes())
                        .next()
                        .map(|(_, v)| v.into_owned())
                        .unwrap_or_default()
                };
                fields.0.push(("client_id", typed("client_id", &dec(id))));
                fields
                    .0
                    .push(("client_secret", typed("client_secret", &dec(secret))));
                continue;
            }
            let token = strip_scheme(text, "Bearer").unwrap_or(text).trim();
            headers
                .0
                .push(("authorization", typed("authorization", token)));
        } else {
            let name = intern(n)?;
            headers.0.push((name, typed(name, text)));
        }
    }
    if let Some(q) = parts.uri.query() {
        push_pairs(&mut fields, q)?;
    }
    if !body.is_empty() {
        let json = parts
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if json {
            push_json(&mut fields, body)?;
        } else {
            let text = std::str::from_utf8(body)
                .map_err(|_| WireError::BadBody("the form is not UTF-8".into()))?;
            push_pairs(&mut fields, text)?;
        }
    }
    let tenant = match header_str(&parts.headers, H_TENANT)? {
        Some(t) => Some(TenantId(
            t.parse().map_err(|_| WireError::BadHeader(H_TENANT))?,
        )),
        // A stock client names the site as an ordinary `tenant` parameter.
        None => fields.tenant("tenant"),
    };
    Ok(Request {
        method,
        route,
        tenant,
        headers,
        body: fields,
    })
}

/// How a response is rendered for its requester.
#[derive(Clone, Copy, Debug, Default)]
pub struct Rendering {
    /// A browser asked (`Accept: text/html`): a consent form becomes an HTML page.
    pub html: bool,
    /// The site the request named, prefilled in a consent page.
    pub tenant: Option<TenantId>,
}

impl Rendering {
    /// From an inbound request's head: HTML only for a client that asks for it.
    pub fn for_request(h: &http::HeaderMap, tenant: Option<TenantId>) -> Rendering {
        let html = h
            .get_all("accept")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.contains("text/html"));
        Rendering { html, tenant }
    }
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The consent step as a page a person can use: the request's parameters travel as hidden
/// fields, the site is asked for unless the request named it, and two buttons POST the
/// answer (`approve=yes` or `approve=no`) to the form's route.
pub fn consent_page(fields: &Fields, tenant: Option<TenantId>) -> Option<String> {
    let route = fields.str("consent_form")?;
    let (_, path) = split_route(route);
    let mut hidden = String::new();
    for (k, v) in &fields.0 {
        if *k == "consent_form" {
            continue;
        }
        hidden.push_str(&format!(
            "<input type=\"hidden\" name=\"{}\" value=\"{}\">\n",
            html_escape(k),
            html_escape(&value_text(v))
        ));
    }
    let site = match tenant {
        Some(t) => format!("<input type=\"hidden\" name=\"tenant\" value=\"{}\">\n<p>Site: t{}</p>\n", t.0, t.0),
        None => "<p><label>Site (tenant number) <input type=\"number\" name=\"tenant\" min=\"0\" value=\"0\" required></label></p>\n".to_string(),
    };
    Some(format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>Authorize {app}</title></head>\n<body>\n<h1>Authorize {app}</h1>\n<p>The app asks for access to this site on your behalf (offline access included).</p>\n<form method=\"post\" action=\"{path}\">\n{hidden}{site}<button type=\"submit\" name=\"approve\" value=\"yes\">Approve</button>\n<button type=\"submit\" name=\"approve\" value=\"no\">Deny</button>\n</form>\n</body></html>\n",
        app = html_escape(tokenlab_models::ids::APP_ID),
        path = html_escape(path),
    ))
}

/// What the edge adds to a token response for standard clients (RFC 6749 §5.1); not part of
/// the envelope.
const EDGE_FIELDS: [&str; 3] = ["token_type", "expires_in", "scope"];

/// A response envelope as an HTTP response. `now` turns the models' `expires_at` into
/// `expires_in`; `locate` gives the base URL of a party (for a 302's `Location`).
pub fn encode_response(
    env: &Envelope,
    now: Micros,
    locate: impl Fn(Party) -> Option<String>,
    rendering: Rendering,
) -> http::Response<axum::body::Body> {
    let resp = env.response().expect("encode_response takes a response");
    if rendering.html
        && resp.status == 200
        && let Some(page) = consent_page(&resp.body, rendering.tenant)
    {
        return http::Response::builder()
            .status(200)
            .header("content-type", "text/html; charset=utf-8")
            .header("cache-control", "no-store")
            .header(H_MSG, env.id.0.to_string())
            .body(axum::body::Body::from(page))
            .expect("a static page response is valid");
    }
    let token = resp.body.get("access_token").is_some();
    let mut obj = serde_json::Map::new();
    for (k, v) in &resp.body.0 {
        remember(k);
        if token && *k == "expires_at" {
            continue; // model µs: in a header, not a field stock clients would misread
        }
        let j = match v {
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Tenant(t) => serde_json::Value::from(t.0),
            other => serde_json::Value::String(value_text(other)),
        };
        obj.insert((*k).to_owned(), j);
    }
    let mut b = http::Response::builder()
        .status(resp.status)
        .header("content-type", "application/json")
        .header(H_MSG, env.id.0.to_string());
    if token {
        obj.insert("token_type".into(), "Bearer".into());
        obj.insert("scope".into(), tokenlab_models::token::ACCESS_SCOPE.into());
        if let Some(exp) = resp.body.int("expires_at") {
            obj.insert("expires_in".into(), ((exp - now).max(0) / SEC).into());
            b = b.header(H_EXPIRES_AT, exp.to_string());
        }
    }
    if resp.status == 401 && resp.body.str("error") == Some("invalid_client") {
        // §5.2: a failed client authentication names the scheme a client may use.
        b = b.header("www-authenticate", "Basic realm=\"tokenlab\"");
    }
    if token || resp.body.get("error").is_some() {
        // §5.1/§5.2: nothing caches a credential or an answer about one.
        b = b
            .header("cache-control", "no-store")
            .header("pragma", "no-cache");
    }
    if resp.status == 302
        && let (Some(to), Some(route)) = (
            resp.body.str("location_to"),
            resp.body.str("location_route"),
        )
        && let Some(base) = party_by_name(to).and_then(&locate)
    {
        let mut rest = Fields::new();
        for (k, v) in &resp.body.0 {
            if !matches!(*k, "location_to" | "location_route") {
                rest.0.push((k, v.clone()));
            }
        }
        let (_, path) = split_route(route);
        b = b.header("location", format!("{base}{path}?{}", form(&rest)));
    }
    let body = serde_json::to_vec(&serde_json::Value::Object(obj)).expect("JSON of scalars");
    b.body(axum::body::Body::from(body)).unwrap_or_else(|_| {
        error_response(500, "bad_status", "the role answered an invalid status")
    })
}

/// An HTTP response to `req` as a response envelope.
pub fn decode_response(
    req: &Envelope,
    status: u16,
    headers: &http::HeaderMap,
    body: &[u8],
    fallback_id: impl FnOnce() -> MsgId,
) -> Result<Envelope, WireError> {
    let mut fields = Fields::new();
    if !body.is_empty() {
        push_json(&mut fields, body)?;
    }
    if fields.get("access_token").is_some() {
        fields.0.retain(|(k, _)| !EDGE_FIELDS.contains(k));
        if let Some(exp) = header_str(headers, H_EXPIRES_AT)? {
            let exp = exp
                .parse::<i64>()
                .map_err(|_| WireError::BadHeader(H_EXPIRES_AT))?;
            // Where the models put it: right after the token.
            let at = fields
                .0
                .iter()
                .position(|(k, _)| *k == "access_token")
                .map_or(0, |i| i + 1);
            fields.0.insert(at, ("expires_at", Value::Int(exp)));
        }
    }
    let id = header_u64(headers, H_MSG)?
        .map(MsgId)
        .unwrap_or_else(fallback_id);
    Ok(Envelope {
        id,
        from: req.to,
        to: req.from,
        cause: Some(req.id),
        body: Body::Response(Response {
            status,
            body: fields,
        }),
    })
}

/// A JSON error answered by the driver itself (malformed request, edge fault).
pub fn error_response(
    status: u16,
    code: &str,
    description: &str,
) -> http::Response<axum::body::Body> {
    let body = serde_json::json!({ "error": code, "error_description": description });
    http::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(axum::body::Body::from(body.to_string()))
        .expect("a static error response is valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_typed_back_by_name_and_shape() {
        assert_eq!(typed("tenant", "7"), Value::Tenant(TenantId(7)));
        assert_eq!(typed("expires_at", "-5"), Value::Int(-5));
        assert!(matches!(
            typed("refresh_token", "not-ours"),
            Value::Secret(_)
        ));
        assert!(matches!(
            typed("refresh_token", "tlsec_rt_00"),
            Value::Secret(_)
        ));
        assert!(matches!(typed("authorization", "eyJa.b.c"), Value::Jwt(_)));
        assert!(matches!(typed("code_verifier", "abc"), Value::Secret(_)));
        assert_eq!(
            typed("grant_type", "refresh_token"),
            Value::Str("refresh_token".into())
        );
    }

    #[test]
    fn a_request_round_trips_through_http() {
        let env = Envelope {
            id: MsgId(0x1_0000_0000_0005),
            from: Party::APP,
            to: Party::AS,
            cause: None,
            body: Body::Request(Request {
                method: tokenlab_models::message::Method::Post,
                route: "POST /oauth/token",
                tenant: Some(TenantId(3)),
                headers: Fields::new(),
                body: Fields::new()
                    .with("grant_type", Value::Str("refresh_token".into()))
                    .with("tenant", Value::Tenant(TenantId(3))),
            }),
        };
        let http = encode_request(&env, "127.0.0.1:1", None);
        let (parts, body) = http.into_parts();
        let p = provenance(&parts.headers).unwrap();
        assert_eq!((p.id, p.from), (Some(env.id), Some(Party::APP)));
        use http_body_util::BodyExt;
        let bytes = futures_lite_block(body.collect())
            .expect("infallible")
            .to_bytes();
        let req = decode_request(&parts, &bytes).unwrap();
        assert_eq!(Some(&req), env.request());
    }

    /// `Full` is always ready: poll it once without a runtime.
    fn futures_lite_block<F: std::future::Future>(f: F) -> F::Output {
        let mut f = std::pin::pin!(f);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match f.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(v) => v,
            std::task::Poll::Pending => panic!("Full bodies are ready at once"),
        }
    }

    #[test]
    fn names_outside_the_vocabulary_alphabet_are_refused() {
        assert!(intern("POST /oauth/token").is_ok());
        assert!(intern("bad\nname").is_err());
        assert!(intern("").is_err());
    }
}
