//! Contract tests of the platform side, with wiremock standing in for the partner's auth
//! endpoint (trigger) and push receiver: the platform times out the nested trigger call and
//! answers the trigger with an error, retries exactly the configured number of times, and
//! every request carries the token header and an invocation token (FIT) that verifies
//! against the published key set.

use std::time::Duration;
use tokenlab::net::{LoopbackWorld, NetConfig};
use tokenlab_models::faults::Nemesis;
use tokenlab_models::history::{Event, History, Outcome};
use tokenlab_models::ids::{APP_ID, PartnerEndpoint, Party, TenantId};
use tokenlab_models::token::FitClaims;
use wiremock::matchers::{header_exists, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

const AUTH: Party = Party::Partner(PartnerEndpoint::Auth);
const RECV: Party = Party::Partner(PartnerEndpoint::Recv);

fn sets(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Every request wiremock saw carries `authorization: Bearer <FIT>` that verifies (EdDSA)
/// against the key set the platform publishes, for the app and tenant 0, and the token T in
/// `x-forge-oauth-system`.
async fn check_headers(server: &MockServer, world: &LoopbackWorld) -> usize {
    let jwks: jsonwebtoken::jwk::JwkSet = {
        let client = tokenlab::net::client::new_client();
        let req = axum::http::Request::get(world.jwks_url.as_str())
            .body(http_body_util::Full::new(bytes::Bytes::new()))
            .unwrap();
        let resp = client.request(req).await.unwrap();
        use http_body_util::BodyExt;
        serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap()
    };
    let key = jsonwebtoken::DecodingKey::from_jwk(&jwks.keys[0]).unwrap();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    v.set_audience(&[APP_ID]);
    v.validate_exp = false; // model time, not the wall clock
    v.required_spec_claims.clear();
    let requests = server.received_requests().await.expect("recording is on");
    for r in &requests {
        let auth = r.headers.get("authorization").unwrap().to_str().unwrap();
        let fit = auth.strip_prefix("Bearer ").expect("a bearer FIT");
        let claims = jsonwebtoken::decode::<FitClaims>(fit, &key, &v).expect("FIT verifies");
        assert_eq!(claims.claims.installation_id, 0);
        let t = r
            .headers
            .get("x-forge-oauth-system")
            .unwrap()
            .to_str()
            .unwrap();
        assert!(t.starts_with("eyJ"), "the token header carries a JWT");
    }
    requests.len()
}

fn trigger_answers(h: &History) -> Vec<u16> {
    let triggers: Vec<_> = h
        .records
        .iter()
        .filter_map(|r| match &r.event {
            Event::Send { env } if env.request().is_some_and(|q| q.route == "GET /trigger") => {
                Some(env.id)
            }
            _ => None,
        })
        .collect();
    h.records
        .iter()
        .filter_map(|r| match &r.event {
            Event::Receive { who, env } if *who == Party::APP => env
                .response()
                .filter(|_| env.cause.is_some_and(|c| triggers.contains(&c)))
                .map(|resp| resp.status),
            _ => None,
        })
        .collect()
}

async fn trigger_world(server: &MockServer) -> LoopbackWorld {
    let mut cfg = NetConfig::new("trigger", 1, 0.0);
    // F: 100 ms per nested call, one retry; P.app waits longer than F does.
    cfg.sets = sets(&[
        "platform_timeout=100ms",
        "platform_retries=1",
        "platform_backoff=1ms",
        "timeout=3s",
        "retries=0",
    ]);
    cfg.external.insert(AUTH, *server.address());
    LoopbackWorld::start(&cfg).await.expect("world starts")
}

#[test]
fn the_platform_times_out_a_slow_auth_endpoint_and_answers_the_trigger_with_an_error() {
    runtime().block_on(async {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/auth"))
            .and(header_exists("authorization"))
            .and(header_exists("x-forge-oauth-system"))
            .respond_with(ResponseTemplate::new(204).set_delay(Duration::from_millis(600)))
            .expect(2) // the call and one retry, each timed out
            .mount(&server)
            .await;
        let world = trigger_world(&server).await;
        let r = world.demand(TenantId(0)).await;
        assert_ne!(r.outcome, Outcome::Ok, "{r:?}");
        let answers = trigger_answers(&world.finish());
        assert_eq!(
            answers.len(),
            1,
            "the trigger was answered, not left hanging"
        );
        assert!(answers[0] >= 500, "answered with an error: {answers:?}");
        assert_eq!(check_headers(&server, &world).await, 2);
        server.verify().await;
    });
}

#[test]
fn the_platform_retries_a_failing_auth_endpoint_then_answers_with_an_error() {
    runtime().block_on(async {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/auth"))
            .respond_with(ResponseTemplate::new(500))
            .expect(2)
            .mount(&server)
            .await;
        let world = trigger_world(&server).await;
        assert_ne!(world.demand(TenantId(0)).await.outcome, Outcome::Ok);
        let answers = trigger_answers(&world.finish());
        assert!(answers.len() == 1 && answers[0] >= 500, "{answers:?}");
        assert_eq!(check_headers(&server, &world).await, 2);
        server.verify().await;
    });
}

#[test]
fn a_dropped_connection_at_the_auth_endpoint_counts_as_a_failed_call() {
    runtime().block_on(async {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/auth"))
            .respond_with_err(|_: &wiremock::Request| {
                std::io::Error::new(std::io::ErrorKind::ConnectionReset, "dropped")
            })
            .expect(2)
            .mount(&server)
            .await;
        let world = trigger_world(&server).await;
        assert_ne!(world.demand(TenantId(0)).await.outcome, Outcome::Ok);
        let answers = trigger_answers(&world.finish());
        assert!(answers.len() == 1 && answers[0] >= 500, "{answers:?}");
        server.verify().await;
    });
}

#[test]
fn a_healthy_auth_endpoint_gets_one_call_and_the_trigger_succeeds() {
    // The positive control of the three above: same world, a 204 at once.
    runtime().block_on(async {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/auth"))
            .respond_with(ResponseTemplate::new(204))
            .expect(1)
            .mount(&server)
            .await;
        let world = trigger_world(&server).await;
        world.demand(TenantId(0)).await;
        let answers = trigger_answers(&world.finish());
        assert!(
            answers.len() == 1 && (200..300).contains(&answers[0]),
            "{answers:?}"
        );
        assert_eq!(check_headers(&server, &world).await, 1);
        server.verify().await;
    });
}

#[test]
fn push_retries_a_failing_receiver_exactly_the_configured_number_of_times() {
    runtime().block_on(async {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/push"))
            .respond_with(ResponseTemplate::new(503))
            .expect(4) // one delivery and platform_retries=3
            .mount(&server)
            .await;
        let mut cfg = NetConfig::new("push", 1, 0.0);
        // One slot only: the hourly schedule is superseded by a deploy reset whose first
        // push comes 1 ms later; the next slot is an hour away.
        cfg.sets = sets(&[
            "interval=1h",
            "deploy_first_push=1ms",
            "platform_retries=3",
            "platform_backoff=2ms",
            "platform_timeout=500ms",
        ]);
        cfg.nemesis.push(Nemesis::DeployReset { at_s: 0.0 });
        cfg.external.insert(RECV, *server.address());
        let world = LoopbackWorld::start(&cfg).await.expect("world starts");
        // Wait for the platform to receive the last retry's answer (hang guard 30 s).
        let answered = |h: &History| {
            h.records
                .iter()
                .filter(|r| {
                    matches!(&r.event, Event::Receive { who: Party::Platform(_), env }
                        if env.response().is_some_and(|x| x.status == 503))
                })
                .count()
        };
        for _ in 0..1500 {
            if answered(&world.history()) >= 4 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(answered(&world.history()), 4);
        assert_eq!(check_headers(&server, &world).await, 4);
        server.verify().await;
    });
}
