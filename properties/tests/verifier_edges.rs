//! The boundaries of the verifiers' checks, which no attacker move of the security matrix
//! lands on exactly (a simulated attacker does not present at the one microsecond where a
//! credential stops being valid, and cannot sign an assertion without the client's key): each
//! test below fails on a mutant that survived the matrix's fast mode (issue 11, item 4).
//!
//! - A replaced client credential is valid until, not at, the end of its overlap; a superseded
//!   RT is a grace-window retry through the window's last instant.
//! - The AS refuses a client assertion at its `exp`, and one that lives longer than
//!   `assertion_lifetime` plus a second of NumericDate rounding (RFC 7523 §3 item 4).
//! - The AS refuses an assertion whose `iss` or `sub` is not the client (RFC 7523 §3 items 1
//!   and 2: both must be the `client_id`), even signed with the client's own key.
//! - The product API refuses a Connect JWT from the migration window's end on.
//! - The AS answers a token request that lacks `grant_type`, and a refresh grant that lacks
//!   `refresh_token`, with 400 `invalid_request`, and the password grant with 400
//!   `unsupported_grant_type` (RFC 6749 §5.2), or where it authenticates the client first
//!   (upm-oauth) and none is given, 401 `invalid_client`; global-secret's AS, which has no
//!   refresh grant, answers that one `unsupported_grant_type` too.
//! - F answers P's trigger calls that carry the installation's key (`url_auth=required`), and
//!   refuses the victim's stolen URL with the key of the attacker's own installation.

use rand::SeedableRng;
use tokenlab_models::SEC;
use tokenlab_models::mechanisms::client_auth::{
    ClientAuthConfig, ClientAuthenticator, JWT_BEARER, live,
};
use tokenlab_models::mechanisms::migration::Window;
use tokenlab_models::mechanisms::resolve;
use tokenlab_models::message::{Fields, Method, Request, Value};
use tokenlab_models::secret::Secret;
use tokenlab_models::token::{AssertionClaims, Epoch, TOKEN_ENDPOINT, sign_client_assertion};

const NOW: i64 = 100 * SEC;

fn secret(seed: u64, kind: &str) -> Secret {
    Secret::generate(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed), kind)
}

/// A superseded RT is a grace-window retry up to and including the window's last instant, as
/// P9 judges it, and with no window only in the rotation's own instant (mutation shard 20:
/// the AS's `now - at > grace` → `>=` detected reuse in the window's last instant).
#[test]
fn a_grace_retry_is_in_the_window_through_its_last_instant() {
    use tokenlab_models::mechanisms::refresh::within_grace;
    let grace = 30 * SEC;
    assert!(within_grace(grace, grace));
    assert!(!within_grace(grace + 1, grace));
    assert!(within_grace(0, 0));
    assert!(!within_grace(1, 0));
}

#[test]
fn a_replaced_credential_is_live_until_its_overlap_ends() {
    let current = secret(1, "client");
    let previous = Some((secret(2, "client"), NOW));
    assert_eq!(live(Some(&current), &previous, NOW - 1).len(), 2);
    assert_eq!(live(Some(&current), &previous, NOW), vec![&current]);
}

/// An assertion for `app` signed with `key`, living `life` from [`NOW`], with its own `iss`
/// and `sub`.
fn assertion(key: &Secret, iss: &str, sub: &str, life: i64, jti: &str) -> Request {
    let epoch = Epoch::default();
    let claims = AssertionClaims {
        iss: iss.into(),
        sub: sub.into(),
        aud: TOKEN_ENDPOINT.into(),
        iat: epoch.numeric_date(NOW),
        exp: epoch.numeric_date(NOW + life),
        jti: jti.into(),
    };
    Request {
        method: Method::Post,
        route: "POST /oauth/token",
        tenant: None,
        headers: Fields::new(),
        body: Fields::new()
            .with("client_assertion_type", Value::Str(JWT_BEARER.into()))
            .with(
                "client_assertion",
                Value::Jwt(sign_client_assertion(key, &claims)),
            ),
    }
}

fn authenticator(key: &Secret) -> (ClientAuthenticator, i64) {
    let (_, _, p) = resolve(
        "global-secret",
        &["sender_constraint=private_key_jwt".into()],
    )
    .expect("global-secret resolves");
    let mut auth = ClientAuthenticator::from_params(&p);
    auth.register(key);
    (auth, ClientAuthConfig::from_params(&p).assertion_lifetime)
}

#[test]
fn an_assertion_is_refused_at_its_exp_and_past_the_lifetime_cap() {
    let key = secret(3, "client");
    let (mut auth, life) = authenticator(&key);
    let epoch = Epoch::default();
    let mut check = |req: &Request, now: i64| auth.authenticate(req, "app", &[&key], now, epoch);
    // At its exp (one lifetime after NOW), not before.
    let req = assertion(&key, "app", "app", life, "j1");
    assert_eq!(check(&req, NOW + life), Err("assertion_expired"));
    assert_eq!(check(&req, NOW + life - 1), Ok(()));
    // The cap: the lifetime plus a second of NumericDate rounding, and no more.
    let at_cap = assertion(&key, "app", "app", life + SEC, "j2");
    assert_eq!(check(&at_cap, NOW), Ok(()));
    let past_cap = assertion(&key, "app", "app", life + 2 * SEC, "j3");
    assert_eq!(check(&past_cap, NOW), Err("assertion_expired"));
}

#[test]
fn an_assertion_must_name_the_client_as_both_iss_and_sub() {
    let key = secret(4, "client");
    let (mut auth, life) = authenticator(&key);
    let epoch = Epoch::default();
    for (iss, sub, jti) in [("app", "other", "j1"), ("other", "app", "j2")] {
        let req = assertion(&key, iss, sub, life, jti);
        assert_eq!(
            auth.authenticate(&req, "app", &[&key], NOW, epoch),
            Err("invalid_client"),
            "iss {iss}, sub {sub}"
        );
    }
    // The positive control: the same key, both naming the client.
    let req = assertion(&key, "app", "app", life, "j3");
    assert_eq!(auth.authenticate(&req, "app", &[&key], NOW, epoch), Ok(()));
}

#[test]
fn connect_jwts_are_refused_from_the_window_end_on() {
    let window = |sets: &[&str]| {
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        Window::from_params(&resolve("migration", &sets).expect("migration resolves").2)
    };
    let w = window(&[]);
    assert!(w.connect_accepted(w.end - 1));
    assert!(!w.connect_accepted(w.end));
    // The mutant never retires the sharedSecret.
    let never = window(&["connect_revoke=never"]);
    assert!(never.connect_accepted(never.end));
}

/// RFC 6749 §5.2's error codes at the token endpoint: a request missing a required parameter
/// is `invalid_request`, a grant type the AS does not support `unsupported_grant_type`
/// (mutation shard 12: deleting refresh's arm for either answered the other code, or 404;
/// refused either way, so no property saw it). The A10 malformed-request attacker sends all
/// three requests in each world, without client authentication: upm-oauth's token endpoint,
/// which authenticates its confidential client before it reads the grant, answers 401
/// `invalid_client` (§5.2) to each.
#[test]
fn the_token_endpoint_answers_malformed_requests_with_rfc_6749_codes() {
    use tokenlab_models::ids::Party;
    use tokenlab_models::roles::attacker::{AttackPlan, AttackStep, Capability};
    use tokenlab_models::sim::Scenario;
    use tokenlab_properties::facts::Facts;
    use tokenlab_properties::suite::{RunSpec, execute};
    // Per mechanism, the answers to no grant_type, a refresh grant without refresh_token, and
    // the password grant.
    let invalid_request = (400, "invalid_request");
    let unsupported = (400, "unsupported_grant_type");
    for (mechanism, expected) in [
        ("refresh", [invalid_request, invalid_request, unsupported]),
        ("upm-oauth", [(401, "invalid_client"); 3]),
        // Client credentials only: the refresh grant is one it does not support either.
        ("global-secret", [invalid_request, unsupported, unsupported]),
    ] {
        let mut scenario = Scenario::new(mechanism, "same-region").unwrap();
        scenario.tenants = 3;
        scenario.duration_s = 600.0;
        scenario.seed = 0x5eed;
        let plan = AttackPlan::new(
            vec![AttackStep {
                at: 300 * SEC,
                capability: Capability::Malformed,
            }],
            600 * SEC,
        );
        let (h, _) = execute(&RunSpec {
            scenario,
            plan: Some(plan),
        })
        .expect("the world runs");
        let f = Facts::new(&h);
        let answered: Vec<_> = f
            .requests_from(Party::Attacker)
            .filter(|(_, req, _)| req.route == "POST /oauth/token")
            .map(|(_, req, answer)| {
                let response = answer.expect("the AS answers");
                (
                    req.body.str("grant_type").map(str::to_string),
                    response.status,
                    response.error_code().map(str::to_string),
                )
            })
            .collect();
        let grants = [None, Some("refresh_token"), Some("password")];
        let expected: Vec<_> = grants
            .iter()
            .zip(expected)
            .map(|(g, (status, error))| (g.map(str::to_string), status, Some(error.to_string())))
            .collect();
        assert_eq!(answered, expected, "{mechanism}");
    }
}

/// With `url_auth=required`, F answers P's trigger calls that carry the installation's key:
/// the check refuses a missing or wrong key, not the right one (mutation shard 15: `presented
/// != key` → `==` refused every genuine call, and no row's world with the key required judged
/// P's own calls). Without the key switched on the same world's calls are answered too.
#[test]
fn a_trigger_call_with_its_installations_key_is_answered() {
    use tokenlab_models::ids::Party;
    use tokenlab_models::sim::Scenario;
    use tokenlab_properties::facts::Facts;
    use tokenlab_properties::suite::{RunSpec, execute};
    for sets in [vec![], vec!["url_auth=required".to_string()]] {
        let mut scenario = Scenario::new("trigger", "same-region").unwrap();
        scenario.sets = sets.clone();
        scenario.tenants = 3;
        scenario.duration_s = 1800.0;
        scenario.seed = 0x5eed;
        let (h, _) = execute(&RunSpec {
            scenario,
            plan: None,
        })
        .expect("the world runs");
        let f = Facts::new(&h);
        let statuses: Vec<u16> = f
            .requests_from(Party::APP)
            .filter(|(_, q, _)| q.route == "GET /trigger")
            .filter_map(|(_, _, answer)| answer.map(|r| r.status))
            .collect();
        assert!(
            !statuses.is_empty(),
            "{sets:?}: P never called its trigger URL"
        );
        assert!(
            statuses.iter().all(|s| (200..300).contains(s)),
            "{sets:?}: {statuses:?}"
        );
    }
}

/// With `url_auth=required`, F refuses the victim's stolen trigger URL presented with a key
/// that is not that URL's: the key of the installation the attacker administers (A4), which it
/// presents when it holds none of the victim's (mutation shard 14: the check's `||` → `&&`
/// refused only a missing key, and no attacker presented a wrong one). With token_return
/// `in_band` an accepted call would hand the attacker the victim's T (P1).
#[test]
fn a_stolen_trigger_url_with_another_installations_key_is_refused() {
    use tokenlab_models::ids::Party;
    use tokenlab_properties::facts::Facts;
    use tokenlab_properties::suite::{execute, judge, runs_for};
    use tokenlab_properties::{Property, VerdictKind};
    let sets = vec![
        "token_return=in_band".to_string(),
        "url_auth=required".to_string(),
    ];
    let mut spec = runs_for("trigger", &sets, Property::P1).remove(0);
    spec.scenario.seed = 0x5eed;
    let tenants = spec.scenario.tenants;
    let (h, params) = execute(&spec).expect("the world runs");
    let f = Facts::new(&h);
    let mut answers = Vec::new();
    for (_, q, answer) in f.requests_from(Party::Attacker) {
        // The victim's URL, not the one of the installation the attacker administers.
        let victims = q
            .body
            .secret("url")
            .and_then(|u| f.issued.get(&u.id()))
            .is_some_and(|i| Some(i.tenant) != f.owned);
        if q.route == "GET /trigger" && victims {
            assert!(
                q.headers.secret("authorization").is_some(),
                "the attacker presented no key"
            );
            let response = answer.expect("F answers");
            answers.push((response.status, response.error_code().map(str::to_string)));
        }
    }
    assert!(!answers.is_empty(), "the attacker never called the URL");
    assert!(
        answers
            .iter()
            .all(|a| *a == (401, Some("trigger_auth_required".to_string()))),
        "{answers:?}"
    );
    // Tenant isolation holds: the attacker's in-band T are its own installation's.
    let v = judge(Property::P1, &h, &params, tenants);
    assert_eq!(v.kind, VerdictKind::Holds, "{v:?}");
}
