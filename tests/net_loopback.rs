//! The real-network driver on loopback: every mechanism's roles as HTTP services, demands
//! answered over real sockets, and the simulator's property checkers over the loopback history.

use tokenlab::net::{LoopbackWorld, NetConfig};
use tokenlab_models::history::{Event, Outcome};
use tokenlab_models::ids::TenantId;
use tokenlab_models::mechanisms::registry;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

#[test]
fn every_mechanism_serves_a_cold_and_a_warm_demand_on_loopback() {
    let rt = runtime();
    rt.block_on(async {
        for m in registry() {
            let mut cfg = NetConfig::new(m.id(), 2, 0.0);
            // Push delivers on its schedule only: a short interval so the first push lands soon.
            if m.id() == "push" {
                cfg.sets.push("interval=1s".into());
            }
            let world = LoopbackWorld::start(&cfg).await.expect("world starts");
            if m.id() == "push" {
                tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
            }
            let first = world.demand(TenantId(1)).await;
            assert_eq!(
                first.outcome,
                Outcome::Ok,
                "{}: first demand {first:?}",
                m.id()
            );
            // Without rotation the token is cached write-behind (commit after db_write = 5 ms);
            // on loopback the first demand can finish before that, so wait the write out.
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            let second = world.demand(TenantId(1)).await;
            assert_eq!(
                second.outcome,
                Outcome::Ok,
                "{}: warm demand {second:?}",
                m.id()
            );
            assert!(
                !second.cold,
                "{}: the second demand is served from the cache",
                m.id()
            );
            // Loopback only: every listener is on 127.0.0.1.
            for (_, url) in world.endpoints() {
                assert!(url.starts_with("http://127.0.0.1:"), "{url}");
            }
            assert!(world.jwks_url.starts_with("http://127.0.0.1:"));
            let h = world.finish();
            // Real bytes crossed real sockets: every received message was sent first.
            let sent = h
                .records
                .iter()
                .filter(|r| matches!(r.event, Event::Send { .. }))
                .count();
            let received = h
                .records
                .iter()
                .filter(|r| matches!(r.event, Event::Receive { .. }))
                .count();
            assert!(
                received > 0 && received <= sent,
                "{}: {received} of {sent}",
                m.id()
            );
        }
    });
}

#[test]
fn a_stand_in_party_off_loopback_is_refused() {
    let rt = runtime();
    let mut cfg = NetConfig::new("trigger", 1, 0.0);
    cfg.external.insert(
        tokenlab_models::ids::Party::Partner(tokenlab_models::ids::PartnerEndpoint::Auth),
        "10.0.0.1:80".parse().unwrap(),
    );
    let err = rt
        .block_on(LoopbackWorld::start(&cfg))
        .err()
        .expect("refused");
    assert!(err.to_string().contains("must be on loopback"), "{err}");
}

/// `sender_constraint=private_key_jwt` over real HTTP: the assertion is a form field a stock
/// OAuth client sends (RFC 7523 §2.2), and the client secret never crosses the token hop.
#[test]
fn private_key_jwt_clients_authenticate_with_an_assertion_on_loopback() {
    let rt = runtime();
    rt.block_on(async {
        for id in ["global-secret", "tenant-secret"] {
            let mut cfg = NetConfig::new(id, 2, 0.0);
            cfg.sets.push("sender_constraint=private_key_jwt".into());
            let world = LoopbackWorld::start(&cfg).await.expect("world starts");
            let first = world.demand(TenantId(1)).await;
            assert_eq!(first.outcome, Outcome::Ok, "{id}: {first:?}");
            let h = world.finish();
            let token_requests: Vec<_> = h
                .records
                .iter()
                .filter_map(|r| match &r.event {
                    Event::Send { env } => env.request().filter(|q| q.route == "POST /oauth/token"),
                    _ => None,
                })
                .collect();
            assert!(!token_requests.is_empty(), "{id}");
            for q in token_requests {
                assert!(q.body.jwt("client_assertion").is_some(), "{id}: {q:?}");
                assert!(q.body.get("client_secret").is_none(), "{id}: {q:?}");
            }
        }
    });
}
