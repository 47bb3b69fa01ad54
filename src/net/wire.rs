//! Envelope ⇄ HTTP, in one place. Every message the roles exchange on loopback goes through
//! these four functions, so what is on the wire is exactly what the models say is sent.
//!
//! - A request's route `"POST /oauth/token"` is its method and path; body fields travel as a
//!   query string (GET) or a form (POST), headers as headers (`authorization: Bearer …`).
//! - The driver's own bookkeeping (message id, cause, sender, tenant site) rides in
//!   `x-tokenlab-*` headers; a stock client that sends none of them still gets an answer.
//! - Responses are JSON objects. A token response also carries the standard `token_type` and
//!   `expires_in` (RFC 6749 §5.1) so unmodified OAuth clients parse it; a 302 carries `Location`.
//! - Values are typed back by name and shape: `tlsec_…` is an opaque secret, `eyJ…` a JWT,
//!   `tenant`/`installationId` a tenant, `expires_at` an integer; all else is a string.

use axum::http;
use bytes::Bytes;
use std::collections::BTreeSet;
use std::sync::Mutex;
use tokenlab_models::ids::{MsgId, PartnerEndpoint, Party, PlatformEndpoint, TenantId};
use tokenlab_models::message::{Body, Envelope, Fields, Request, Response, Value};
use tokenlab_models::secret::{Jwt, Secret};
use tokenlab_models::{Micros, SEC};

pub const H_MSG: &str = "x-tokenlab-msg";
pub const H_CAUSE: &str = "x-tokenlab-cause";
pub const H_FROM: &str = "x-tokenlab-from";
pub const H_TENANT: &str = "x-tokenlab-tenant";
/// An injected edge error: the receiver's edge answers with this status, the role never sees it.
pub const H_EDGE: &str = "x-tokenlab-edge";
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
/// interned, at most [`INTERN_CAP`] of them, so a client sending endless new names cannot
/// grow memory: past the cap, unknown names are refused with a 400.
const INTERN_CAP: usize = 1024;
static INTERNED: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());

fn intern(s: &str) -> Result<&'static str, WireError> {
    let ok = !s.is_empty()
        && s.len() <= 96
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-./ ~".contains(&b));
    if !ok {
        return Err(WireError::BadName(s.chars().take(96).collect()));
    }
    let mut set = INTERNED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(v) = set.get(s) {
        return Ok(v);
    }
    if set.len() >= INTERN_CAP {
        return Err(WireError::BadName(s.into()));
    }
    let v: &'static str = Box::leak(s.to_owned().into_boxed_str());
    set.insert(v);
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

/// Fields whose value, when it does not carry the models' `tlsec_` prefix, is still a secret
/// chosen by a party outside the models (a stock client's PKCE verifier).
const FOREIGN_SECRET_FIELDS: [&str; 1] = ["code_verifier"];

/// A value read off the wire, typed by name and shape.
pub fn typed(name: &str, text: &str) -> Value {
    if matches!(name, "tenant" | "installationId" | "x-acting-for")
        && let Ok(t) = text.parse::<u32>()
    {
        return Value::Tenant(TenantId(t));
    }
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

/// An inbound HTTP request (head and collected body) as the request part of an envelope.
pub fn decode_request(parts: &http::request::Parts, body: &[u8]) -> Result<Request, WireError> {
    let method = match parts.method.as_str() {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
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
            if let Some(cred) = text.strip_prefix("Basic ") {
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
            let token = text.strip_prefix("Bearer ").unwrap_or(text).trim();
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

/// A response envelope as an HTTP response. `now` turns `expires_at` into `expires_in`;
/// `locate` gives the base URL of a party (for a 302's `Location`).
pub fn encode_response(
    env: &Envelope,
    now: Micros,
    locate: impl Fn(Party) -> Option<String>,
) -> http::Response<axum::body::Body> {
    let resp = env.response().expect("encode_response takes a response");
    let mut obj = serde_json::Map::new();
    for (k, v) in &resp.body.0 {
        let j = match v {
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Tenant(t) => serde_json::Value::from(t.0),
            other => serde_json::Value::String(value_text(other)),
        };
        obj.insert((*k).to_owned(), j);
    }
    if resp.body.get("access_token").is_some() {
        obj.insert("token_type".into(), "Bearer".into());
        if let Some(exp) = resp.body.int("expires_at") {
            obj.insert("expires_in".into(), ((exp - now).max(0) / SEC).into());
        }
    }
    let mut b = http::Response::builder()
        .status(resp.status)
        .header("content-type", "application/json")
        .header(H_MSG, env.id.0.to_string());
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

/// What the edge adds to a token response for standard clients; not part of the envelope.
const EDGE_FIELDS: [&str; 2] = ["token_type", "expires_in"];

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
    fields.0.retain(|(k, _)| !EDGE_FIELDS.contains(k));
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
                method: "POST",
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
