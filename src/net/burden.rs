//! What a partner must implement beyond a stock OAuth client, per mechanism, counted from
//! what the partner role actually does on loopback rather than from a hand-kept list:
//!
//! - inbound endpoints: every partner endpoint and route that received a request;
//! - persistent state: every item provisioning left in the partner's store row (the access
//!   token cache is common to all mechanisms and not counted);
//! - message types: every request route the partner sent or received, except the two a stock
//!   client covers: the product-API call (unless the partner must sign it itself), and the
//!   token request when it is a standard grant;
//! - failure branches (indicative): distinct failures the partner saw or answered in a run
//!   with injected edge errors and loss, plus its answers to one bare request per inbound
//!   endpoint. Indicative because a longer or nastier run can reach more branches.
//!
//! A mechanism is usable by a stock client when its on-demand acquisition is one standard
//! token request (`POST /oauth/token` with an RFC 6749 grant type).

use super::client::new_client;
use super::wire;
use super::world::{LoopbackWorld, NetConfig, StartError};
use axum::http;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde::Serialize;
use std::collections::BTreeSet;
use std::time::Duration;
use tokenlab_models::faults::{LinkProfile, NetworkProfile};
use tokenlab_models::history::{Event, History};
use tokenlab_models::ids::{Party, TenantId};
use tokenlab_models::mechanisms::{Acquisition, find, registry};
use tokenlab_models::roles::AdminAction;

/// Grants a stock OAuth client sends (RFC 6749 §4).
const STANDARD_GRANTS: [&str; 3] = ["refresh_token", "client_credentials", "authorization_code"];
/// The product-API call every client makes, whatever the mechanism.
const API_ROUTE: &str = "GET /rest/api/resource";

/// Counts of [`Burden`]'s lists.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BurdenCounts {
    pub inbound_endpoints: usize,
    pub persistent_state: usize,
    pub message_types: usize,
    pub failure_branches: usize,
}

/// What the partner implements beyond a stock OAuth client, for one mechanism.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Burden {
    pub mechanism: &'static str,
    /// The on-demand acquisition is one standard token request: a stock client can do it.
    pub stock_client_usable: bool,
    /// The first request of an on-demand acquisition (`None`: there is no on-demand path).
    pub on_demand_request: Option<String>,
    /// `"P.auth POST /auth"`: endpoints the partner must host.
    pub inbound_endpoints: Vec<String>,
    /// Names of the items the partner must persist per tenant.
    pub persistent_state: Vec<String>,
    /// Request routes the partner must produce or parse beyond the stock client's.
    pub message_types: Vec<String>,
    /// Indicative: failures observed under injected faults and bare requests.
    pub failure_branches: Vec<String>,
    pub counts: BurdenCounts,
    /// How the failure branches were found (they are a lower bound).
    pub failure_branches_basis: &'static str,
}

const FAILURE_BASIS: &str = "indicative: observed on loopback with 15% edge 5xx, 5% 429, 5% request and 5% response loss on every link, a revoked tenant, and one bare request per inbound endpoint; a lower bound";

fn routes_of(
    h: &History,
) -> (
    BTreeSet<String>,
    BTreeSet<&'static str>,
    Option<String>,
    bool,
) {
    let mut inbound = BTreeSet::new();
    let mut routes = BTreeSet::new();
    let mut first_attempt = None;
    let mut attempt_ids = BTreeSet::new();
    for r in &h.records {
        if let Event::AttemptStart { request, .. } = &r.event
            && let Some(id) = request.get()
        {
            attempt_ids.insert(id);
        }
    }
    let mut standard = false;
    for r in &h.records {
        match &r.event {
            Event::Send { env } if matches!(env.from, Party::Partner(_)) => {
                if let Some(q) = env.request() {
                    routes.insert(q.route);
                    if attempt_ids.contains(&env.id) && first_attempt.is_none() {
                        let grant = q.body.str("grant_type");
                        standard = q.route == "POST /oauth/token"
                            && grant.is_some_and(|g| STANDARD_GRANTS.contains(&g));
                        first_attempt = Some(match grant {
                            Some(g) => format!("{} grant_type={g}", q.route),
                            None => q.route.to_string(),
                        });
                    }
                }
            }
            Event::Receive { who, env } if matches!(who, Party::Partner(_)) => {
                if let Some(q) = env.request() {
                    routes.insert(q.route);
                    inbound.insert(format!("{who} {}", q.route));
                }
            }
            _ => {}
        }
    }
    (inbound, routes, first_attempt, standard)
}

/// Whether the partner's product-API calls carry a credential the platform never issued
/// (a JWT the partner signs itself, per request: Connect's).
fn api_calls_self_signed(h: &History) -> bool {
    let issued: BTreeSet<_> = h
        .records
        .iter()
        .filter_map(|r| match &r.event {
            Event::Issue { item, .. } => Some(*item),
            _ => None,
        })
        .collect();
    h.records.iter().any(|r| match &r.event {
        Event::Send { env } if matches!(env.from, Party::Partner(_)) => env
            .request()
            .filter(|q| q.route == API_ROUTE)
            .and_then(|q| q.headers.jwt("authorization"))
            .is_some_and(|j| !issued.contains(&j.id())),
        _ => false,
    })
}

fn failures_of(h: &History, out: &mut BTreeSet<String>) {
    for r in &h.records {
        match &r.event {
            Event::AttemptEnd {
                ok: false,
                cause: Some(c),
                ..
            } => {
                out.insert(format!("acquisition attempt failed: {}", c.name()));
            }
            Event::Complete {
                outcome: tokenlab_models::history::Outcome::Fail(c),
                ..
            } => {
                out.insert(format!("demand failed: {}", c.name()));
            }
            Event::Receive {
                who: Party::Partner(_),
                env,
            } => {
                if let Some(resp) = env.response()
                    && resp.status >= 400
                {
                    out.insert(format!(
                        "{} answered {} {}",
                        env.from,
                        resp.status,
                        resp.error_code().unwrap_or("-")
                    ));
                }
            }
            Event::Send { env } if matches!(env.from, Party::Partner(_)) => {
                if let Some(resp) = env.response()
                    && resp.status >= 400
                {
                    out.insert(format!(
                        "{} answers {} {}",
                        env.from,
                        resp.status,
                        resp.error_code().unwrap_or("-")
                    ));
                }
            }
            _ => {}
        }
    }
}

fn short_run_sets(id: &str) -> Vec<String> {
    let mut s: Vec<String> = [
        "mint_time=1ms",
        "timeout=60ms",
        "backoff_base=1ms",
        "backoff_cap=4ms",
        "deadline=1s",
    ]
    .iter()
    .map(|x| x.to_string())
    .collect();
    if pushed_only(id) {
        s.push("interval=1s".into());
    }
    s
}

/// Whether the mechanism's tokens only arrive on the platform's schedule.
fn pushed_only(id: &str) -> bool {
    find(id).is_some_and(|m| m.acquisition() == Acquisition::PushedOnly)
}

/// Gives a pushed-only mechanism's schedule time to deliver the first tokens.
async fn settle(id: &str) {
    if pushed_only(id) {
        tokio::time::sleep(Duration::from_millis(1_100)).await;
    }
}

/// One bare request (no credentials, no fields) to an inbound endpoint: the refusal branch.
async fn bare_request(world: &LoopbackWorld, endpoint: &str) -> Option<String> {
    let (party, route) = endpoint.split_once(' ')?;
    let base = world.url(wire::party_by_name(party)?)?;
    let (method, path) = wire::split_route(route);
    let req = http::Request::builder()
        .method(method)
        .uri(format!("{base}{path}"))
        .body(Full::new(Bytes::new()))
        .ok()?;
    let resp = new_client().request(req).await.ok()?;
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.ok()?.to_bytes();
    let code = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "-".into());
    (status >= 400).then(|| format!("{party} answers {status} {code} to a bare {route}"))
}

/// The burden of one mechanism (its default profile).
pub async fn mechanism_burden(id: &'static str) -> Result<Burden, StartError> {
    // Fault-free: what the partner must host, keep and speak.
    let mut cfg = NetConfig::new(id, 2, 0.0);
    cfg.sets = short_run_sets(id);
    let world = LoopbackWorld::start(&cfg).await?;
    settle(id).await;
    world.demand(TenantId(0)).await;
    tokio::time::sleep(Duration::from_millis(10)).await;
    world.demand(TenantId(0)).await;
    let persistent_state: Vec<String> = world
        .partner_credentials(TenantId(0))
        .into_iter()
        .map(|(k, _)| k.to_string())
        .collect();
    let h = world.finish();
    let (inbound, routes, on_demand_request, stock_client_usable) = routes_of(&h);
    let mut failures = BTreeSet::new();
    for e in &inbound {
        if let Some(f) = bare_request(&world, e).await {
            failures.insert(f);
        }
    }
    drop(world);
    let mut message_types: Vec<String> = routes
        .into_iter()
        .filter(|r| *r != API_ROUTE && !(stock_client_usable && *r == "POST /oauth/token"))
        .map(str::to_string)
        .collect();
    if api_calls_self_signed(&h) {
        // No stock client signs each API call with a per-installation key.
        message_types.push(format!("{API_ROUTE} signed by the partner per request"));
    }

    // Faulted: which failures the partner has to tell apart.
    let mut cfg = NetConfig::new(id, 4, 0.0);
    cfg.sets = short_run_sets(id);
    cfg.seed = 7;
    cfg.network = NetworkProfile::uniform(LinkProfile {
        http_5xx: 0.15,
        http_429: 0.05,
        loss_request: 0.05,
        loss_response: 0.05,
        ..LinkProfile::fixed_rtt_ms(0.0)
    });
    let world = LoopbackWorld::start(&cfg).await?;
    world.admin(AdminAction::Revoke(3));
    settle(id).await;
    for round in 0..3 {
        for t in 0..4 {
            world.demand(TenantId(t)).await;
        }
        if round == 0 {
            world.clear_token_cache();
        }
    }
    failures_of(&world.finish(), &mut failures);

    let inbound_endpoints: Vec<String> = inbound.into_iter().collect();
    let failure_branches: Vec<String> = failures.into_iter().collect();
    Ok(Burden {
        mechanism: id,
        stock_client_usable,
        on_demand_request,
        counts: BurdenCounts {
            inbound_endpoints: inbound_endpoints.len(),
            persistent_state: persistent_state.len(),
            message_types: message_types.len(),
            failure_branches: failure_branches.len(),
        },
        inbound_endpoints,
        persistent_state,
        message_types,
        failure_branches,
        failure_branches_basis: FAILURE_BASIS,
    })
}

/// Every mechanism's burden, in registry order. Async: call from inside a tokio runtime.
pub async fn partner_burden_async() -> Result<Vec<Burden>, StartError> {
    let mut out = Vec::new();
    for m in registry() {
        out.push(mechanism_burden(m.id()).await?);
    }
    Ok(out)
}

/// Every mechanism's burden, in registry order (starts its own runtime: do not call from
/// inside one; use [`partner_burden_async`] there). Takes a few seconds of loopback runs.
pub fn partner_burden() -> Result<Vec<Burden>, StartError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(StartError::Bind)?
        .block_on(partner_burden_async())
}
