//! Messages: one HTTP-shaped vocabulary for every mechanism, so a new mechanism adds routes,
//! not message types, and the real-network driver maps an envelope onto a request 1:1.
//!
//! Secret-bearing values are typed ([`Value::Secret`], [`Value::Jwt`]), which is how the
//! checkers derive who learned what from message contents alone.

use crate::ids::{MsgId, Party, TenantId};
use crate::secret::{ItemId, Jwt, Secret};
use serde::Serialize;
use std::fmt;

/// A field value.
#[derive(Clone, PartialEq, Serialize)]
pub enum Value {
    Str(String),
    Int(i64),
    Tenant(TenantId),
    Secret(Secret),
    Jwt(Jwt),
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Str(s) => write!(f, "{s:?}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Tenant(t) => write!(f, "{t}"),
            Value::Secret(s) => write!(f, "{s}"),
            Value::Jwt(j) => write!(f, "{j}"),
        }
    }
}

/// Named fields (headers, query or form body). Field names are static route vocabulary.
#[derive(Clone, Default, PartialEq, Serialize)]
pub struct Fields(pub Vec<(&'static str, Value)>);

impl Fields {
    pub fn new() -> Self {
        Fields(Vec::new())
    }
    pub fn with(mut self, k: &'static str, v: Value) -> Self {
        self.0.push((k, v));
        self
    }
    pub fn get(&self, k: &str) -> Option<&Value> {
        self.0.iter().find(|(n, _)| *n == k).map(|(_, v)| v)
    }
    pub fn secret(&self, k: &str) -> Option<&Secret> {
        match self.get(k) {
            Some(Value::Secret(s)) => Some(s),
            _ => None,
        }
    }
    pub fn jwt(&self, k: &str) -> Option<&Jwt> {
        match self.get(k) {
            Some(Value::Jwt(j)) => Some(j),
            _ => None,
        }
    }
    pub fn int(&self, k: &str) -> Option<i64> {
        match self.get(k) {
            Some(Value::Int(i)) => Some(*i),
            _ => None,
        }
    }
    pub fn str(&self, k: &str) -> Option<&str> {
        match self.get(k) {
            Some(Value::Str(s)) => Some(s),
            _ => None,
        }
    }
    pub fn tenant(&self, k: &str) -> Option<TenantId> {
        match self.get(k) {
            Some(Value::Tenant(t)) => Some(*t),
            _ => None,
        }
    }
}

impl fmt::Debug for Fields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(k, v)| (k, v)))
            .finish()
    }
}

/// An HTTP method. One byte (a `&'static str` was 16, which put the history's
/// `Arc<Envelope>`, 7 per tenant, one allocator size class up: 160 bytes instead of 128);
/// it prints, debugs and serializes as its name, as the string did.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl Serialize for Method {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Request {
    pub method: Method,
    /// The route template, e.g. `POST /oauth/token`.
    pub route: &'static str,
    /// The tenant whose resources the request addresses (public; for the product API this is
    /// the site in `apiBaseUrl`).
    pub tenant: Option<TenantId>,
    pub headers: Fields,
    pub body: Fields,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Response {
    pub status: u16,
    pub body: Fields,
}

impl Response {
    pub fn ok(body: Fields) -> Response {
        Response { status: 200, body }
    }
    pub fn error(status: u16, code: &'static str) -> Response {
        Response {
            status,
            body: Fields::new().with("error", Value::Str(code.into())),
        }
    }
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
    pub fn error_code(&self) -> Option<&str> {
        self.body.str("error")
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum Body {
    Request(Request),
    Response(Response),
}

/// One one-way message between parties.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Envelope {
    pub id: MsgId,
    pub from: Party,
    pub to: Party,
    /// For a response: the request it answers. For a request: the request whose handling
    /// caused it (a nested call), if any. Following `cause` gives a demand's causal chain.
    pub cause: Option<MsgId>,
    pub body: Body,
}

impl Envelope {
    pub fn request(&self) -> Option<&Request> {
        match &self.body {
            Body::Request(r) => Some(r),
            Body::Response(_) => None,
        }
    }
    pub fn response(&self) -> Option<&Response> {
        match &self.body {
            Body::Response(r) => Some(r),
            Body::Request(_) => None,
        }
    }
    pub fn is_request(&self) -> bool {
        matches!(self.body, Body::Request(_))
    }

    /// The copy the history keeps of this message (its `Send` and `Receive` share it): every
    /// field as it is, except JWTs, which keep their identity without their value
    /// ([`Jwt::fingerprint_only`]), and no spare capacity. It prints, serializes and yields
    /// [`Envelope::items`] as the message does; the receiver gets the message itself.
    pub fn for_history(&self) -> Envelope {
        let fields = |f: &Fields| {
            Fields(
                f.0.iter()
                    .map(|(k, v)| {
                        let v = match v {
                            Value::Jwt(j) => Value::Jwt(j.fingerprint_only()),
                            v => v.clone(),
                        };
                        (*k, v)
                    })
                    .collect(),
            )
        };
        let body = match &self.body {
            Body::Request(r) => Body::Request(Request {
                method: r.method,
                route: r.route,
                tenant: r.tenant,
                headers: fields(&r.headers),
                body: fields(&r.body),
            }),
            Body::Response(r) => Body::Response(Response {
                status: r.status,
                body: fields(&r.body),
            }),
        };
        Envelope {
            id: self.id,
            from: self.from,
            to: self.to,
            cause: self.cause,
            body,
        }
    }

    /// Every secret item this message carries: what its receiver learns.
    pub fn items(&self) -> impl Iterator<Item = (ItemId, &'static str)> + '_ {
        let fields: Vec<&Fields> = match &self.body {
            Body::Request(r) => vec![&r.headers, &r.body],
            Body::Response(r) => vec![&r.body],
        };
        fields
            .into_iter()
            .flat_map(|f| f.0.iter())
            .filter_map(|(name, v)| match v {
                Value::Secret(s) => Some((s.id(), *name)),
                Value::Jwt(j) => Some((j.id(), *name)),
                _ => None,
            })
    }

    /// One line for traces: `F → P.auth POST /auth` or `P.auth → F 200`.
    pub fn summary(&self) -> String {
        match &self.body {
            Body::Request(r) => format!("{} → {} {}", self.from, self.to, r.route),
            Body::Response(r) => match r.error_code() {
                Some(code) => format!("{} → {} {} {}", self.from, self.to, r.status, code),
                None => format!("{} → {} {}", self.from, self.to, r.status),
            },
        }
    }
}
