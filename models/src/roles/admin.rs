//! The admin and their browser: performs install, uninstall and revoke through the UPM,
//! follows redirects (the browser legs of upm-oauth) and consents after a human delay.

use super::{AdminAction, Effects, Input, Outgoing, Role};
use crate::Micros;
use crate::ids::{IdGen, MsgId, PartnerEndpoint, Party, PlatformEndpoint, RoleKind, TimerId};
use crate::message::{Body, Envelope, Fields, Request, Response, Value};
use std::collections::BTreeMap;

/// Builds a redirect the browser follows: 302 to `to` at `route`, carrying `fields`.
pub fn redirect(to: Party, route: &'static str, fields: Fields) -> Response {
    let target = match to {
        Party::Partner(PartnerEndpoint::OAuth) => "P.oauth",
        Party::Platform(PlatformEndpoint::AuthServer) => "AS",
        Party::Attacker => "attacker",
        _ => "UPM",
    };
    let mut body = Fields::new()
        .with("location_to", Value::Str(target.into()))
        .with("location_route", Value::Str(route.into()));
    body.0.extend(fields.0);
    Response { status: 302, body }
}

/// A page asking the human to consent; the browser posts `route` with `fields` after a delay.
pub fn consent_form(route: &'static str, fields: Fields) -> Response {
    let mut body = Fields::new().with("consent_form", Value::Str(route.into()));
    body.0.extend(fields.0);
    Response { status: 200, body }
}

fn route_of(s: &str) -> Option<&'static str> {
    // Routes the browser may be sent to (static vocabulary, so nothing is leaked to 'static).
    [
        "GET /oauth/start",
        "GET /authorize",
        "POST /authorize/consent",
        "GET /oauth/callback",
        "GET /callback",
    ]
    .into_iter()
    .find(|r| *r == s)
}

pub struct Admin {
    ids: IdGen,
    consent_delay: Micros,
    /// Each open browser request and the tenant it is about.
    open: BTreeMap<MsgId, u32>,
    consents: BTreeMap<TimerId, (u32, &'static str, Fields)>,
}

impl Admin {
    pub fn new(consent_delay: Micros) -> Admin {
        Admin {
            ids: IdGen::new(RoleKind::Admin),
            consent_delay,
            open: BTreeMap::new(),
            consents: BTreeMap::new(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn send(
        &mut self,
        now: Micros,
        to: Party,
        route: &'static str,
        tenant: u32,
        body: Fields,
        cause: Option<MsgId>,
        out: &mut Effects,
    ) {
        let id = self.ids.msg();
        let req = Request {
            method: if route.starts_with("POST") {
                crate::message::Method::Post
            } else {
                crate::message::Method::Get
            },
            route,
            tenant: Some(crate::ids::TenantId(tenant)),
            headers: Fields::new(),
            body,
        };
        out.send.push(Outgoing {
            depart: now,
            env: Envelope {
                id,
                from: Party::Browser,
                to,
                cause,
                body: Body::Request(req),
            },
        });
        self.open.insert(id, tenant);
    }

    fn on_response(&mut self, now: Micros, env: Envelope, out: &mut Effects) {
        let Some(tenant) = env.cause.and_then(|c| self.open.remove(&c)) else {
            return;
        };
        let Some(resp) = env.response() else { return };
        let mut rest = Fields::new();
        for (k, v) in &resp.body.0 {
            if !matches!(*k, "location_to" | "location_route" | "consent_form") {
                rest.0.push((k, v.clone()));
            }
        }
        if resp.status == 302 {
            let to = match resp.body.str("location_to") {
                Some("P.oauth") => Party::Partner(PartnerEndpoint::OAuth),
                Some("AS") => Party::AS,
                Some("attacker") => Party::Attacker,
                _ => return,
            };
            if let Some(route) = resp.body.str("location_route").and_then(route_of) {
                self.send(now, to, route, tenant, rest, Some(env.id), out);
            }
        } else if let Some(route) = resp.body.str("consent_form").and_then(route_of) {
            let id = self.ids.timer();
            self.consents.insert(
                id,
                (
                    tenant,
                    route,
                    rest.with("approve", Value::Str("yes".into())),
                ),
            );
            out.timers.push((now + self.consent_delay, id));
        }
    }
}

impl Role for Admin {
    fn kind(&self) -> RoleKind {
        RoleKind::Admin
    }

    fn handle(&mut self, now: Micros, input: Input, out: &mut Effects) {
        match input {
            Input::Admin(action) => {
                let route = match action {
                    AdminAction::Install(_) => "POST /upm/install",
                    AdminAction::Uninstall(_) => "POST /upm/uninstall",
                    AdminAction::Revoke(_) => "POST /upm/revoke",
                };
                let t = action.tenant();
                let body = Fields::new().with("tenant", Value::Tenant(t));
                self.send(
                    now,
                    Party::Platform(PlatformEndpoint::Upm),
                    route,
                    t.0,
                    body,
                    None,
                    out,
                );
            }
            // A6: the admin follows a link the attacker planted (phishing, CSRF), starting an
            // authorization at the AS with the attacker's parameters.
            Input::Message(env)
                if env.from == Party::Attacker
                    && env.request().is_some_and(|r| r.route == "GET /lure") =>
            {
                let req = env.request().expect("a request");
                if let Some(t) = req.tenant {
                    self.send(
                        now,
                        Party::AS,
                        "GET /authorize",
                        t.0,
                        req.body.clone(),
                        Some(env.id),
                        out,
                    );
                }
            }
            Input::Message(env) => self.on_response(now, env, out),
            Input::Timer(id) => {
                if let Some((tenant, route, fields)) = self.consents.remove(&id) {
                    self.send(now, Party::AS, route, tenant, fields, None, out);
                }
            }
            _ => {}
        }
    }
}
