//! Issue 11 item 3: every check a verifier makes needs an attacker move or fault that only
//! that check stops. Each check that can be switched off is a `mutant` switch; this test
//! holds the list of where each one's negative control lives, so a new check without one
//! (or a control that disappears) fails here instead of going unnoticed.

use std::collections::{BTreeMap, BTreeSet};
use tokenlab_models::SEC;
use tokenlab_models::history::{Event, History};
use tokenlab_models::ids::Party;
use tokenlab_models::mechanisms::{registry, shared_specs};
use tokenlab_models::message::Body;
use tokenlab_models::params::Basis;
use tokenlab_models::roles::attacker::{AttackPlan, AttackStep, Capability};
use tokenlab_models::sim::Scenario;
use tokenlab_properties::VerdictKind;
use tokenlab_properties::suite::{RunSpec, execute, expectations, runs_for};

const SEED: u64 = 0x5eed;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Door {
    verifier: String,
    route: String,
    status: u16,
    code: String,
}

/// Mutant switches whose negative control is not an expectation row, with where it is.
const CONTROLLED_ELSEWHERE: &[(&str, &str, &str)] = &[
    (
        "push",
        "keep",
        "an availability bug, not a security check: H19 in the report compares max_exp with last_write (src/report/rules.rs)",
    ),
    (
        "refresh",
        "planted_race",
        "a planted bug for the search itself: properties/tests/explore.rs finds it where sampling does not",
    ),
    (
        "upm-oauth",
        "planted_race",
        "the same planted bug in the refresh-token policy upm-oauth shares with refresh (refresh.rs); refresh's control covers it",
    ),
    (
        "refresh",
        "rt_expiry_check",
        "properties/tests/rt_validity.rs: an idle victim's RT stolen past `rt_idle_expiry`, and one past `rt_max_life`, are refused with it on and redeemed with it off (P4 violated); no row's victim is idle, so no row's world isolates it",
    ),
    (
        "upm-oauth",
        "rt_expiry_check",
        "the same expiry check in the refresh-token policy upm-oauth shares with refresh (refresh.rs); refresh's control in rt_validity.rs covers it",
    ),
    (
        "upm-oauth",
        "client_auth",
        "properties/tests/rt_validity.rs: an RT stolen without the client secret is refused with it on and redeemed with it off (P4 violated, RFC 6749 §6); upm-oauth's P4 row violates through F-grace either way",
    ),
];

/// Doors that no row's worlds reach, because no property P1–P12 judges the move that reaches
/// them, with the world outside the rows that does: (verifier, route, status, error, world).
/// `doors_outside_the_rows_are_reached` runs each world; the list is rendered into `doors.md`.
const REACHED_OUTSIDE_THE_ROWS: &[(&str, &str, u16, &str, &str)] = &[
    (
        "Platform(Forge)",
        "GET /trigger",
        429,
        "rate_limited",
        "A9: the victim's stolen trigger URL called 400 times a minute for 60 s against limits of 50 per installation and 300 per app (`tokenlab attack --mechanism trigger --steal trigger_url --set invocation_limit_installation=50 --set invocation_limit_app=300 --spam-rate 400 --spam-for-s 60`); availability, judged by the quota section of the report, not by a property",
    ),
    (
        "Platform(AuthServer)",
        "POST /oauth/token",
        400,
        "invalid_request",
        MALFORMED,
    ),
    (
        "Platform(AuthServer)",
        "POST /authorize/consent",
        400,
        "no_tenant",
        MALFORMED,
    ),
    (
        "Platform(ProductApi)",
        "GET /rest/api/resource",
        401,
        "no_tenant",
        MALFORMED,
    ),
    (
        "Partner(OAuth)",
        "GET /oauth/start",
        400,
        "no_tenant",
        MALFORMED,
    ),
];

/// The world of [`MALFORMED_MECHANISMS`] with [`Capability::Malformed`].
const MALFORMED: &str = "A10 malformed requests (`Capability::Malformed` at 300 s in refresh, upm-oauth and global-secret worlds, `doors_outside_the_rows_are_reached`): a token request without `grant_type`, a refresh grant without `refresh_token`, the password grant (answered `unsupported_grant_type`), an API request with neither token nor site, P's OAuth start and the consent form without a tenant; only the missing-parameter check stops each (a `let … else`, so no mutant removes it)";

const MALFORMED_MECHANISMS: &[&str] = &["refresh", "upm-oauth", "global-secret"];

/// `key` is set in a row's variant (`m[a=b,key=c]`).
fn sets_key(sets: &[String], key: &str) -> bool {
    sets.iter()
        .any(|s| s.split_once('=').is_some_and(|(k, _)| k == key))
}

#[test]
fn every_mutant_switch_has_a_negative_control() {
    let rows = expectations();
    let violated = |mechanism: Option<&str>, key: &str| {
        rows.iter().any(|e| {
            e.expected == VerdictKind::Violated
                && mechanism.is_none_or(|m| e.mechanism == m)
                && sets_key(&e.sets, key)
        })
    };
    let elsewhere: BTreeSet<(&str, &str)> = CONTROLLED_ELSEWHERE
        .iter()
        .map(|(m, k, _)| (*m, *k))
        .collect();
    let mut missing = Vec::new();
    let mut checked = 0;
    for m in registry() {
        for s in m
            .switches()
            .into_iter()
            .filter(|s| s.basis == Basis::Mutant)
        {
            checked += 1;
            if !violated(Some(m.id()), s.key) && !elsewhere.contains(&(m.id(), s.key)) {
                missing.push(format!("{}[{}]", m.id(), s.key));
            }
        }
    }
    for s in shared_specs()
        .into_iter()
        .filter(|s| s.basis == Basis::Mutant)
    {
        checked += 1;
        if !violated(None, s.key) {
            missing.push(format!("shared {}", s.key));
        }
    }
    assert!(checked > 20, "only {checked} mutant switches found");
    assert!(
        missing.is_empty(),
        "mutant switches without a `violated` row in expectations.md or an entry in \
         CONTROLLED_ELSEWHERE: {missing:?}"
    );
    // The exceptions are real switches: a renamed one must not leave a stale excuse.
    for (m, k, _) in CONTROLLED_ELSEWHERE {
        let mech = registry().into_iter().find(|x| x.id() == *m).unwrap();
        assert!(
            mech.switches()
                .iter()
                .any(|s| s.key == *k && s.basis == Basis::Mutant),
            "{m}[{k}] is listed in CONTROLLED_ELSEWHERE but is not a mutant switch"
        );
    }
}

/// Every refusal a verifier gave an attacker request in the default and variant rows'
/// worlds, as (verifier, route, status, error code) → the first row that produced it.
fn doors_reached(rows: &[tokenlab_properties::suite::Expectation]) -> BTreeMap<Door, String> {
    let mut out = BTreeMap::new();
    for e in rows {
        for mut spec in runs_for(&e.mechanism, &e.sets, e.property) {
            spec.scenario.seed = SEED;
            let Ok((h, _)) = execute(&spec) else { continue };
            doors_of(&h, &format!("{} {}", e.row, e.property), &mut out);
        }
    }
    out
}

/// The refusals verifiers gave the attacker's requests in one history, each labelled with
/// `label` where it is the first.
fn doors_of(h: &History, label: &str, out: &mut BTreeMap<Door, String>) {
    {
        {
            let mut asked = BTreeMap::new();
            for r in &h.records {
                let Event::Send { env } = &r.event else {
                    continue;
                };
                if env.from == Party::Attacker
                    && let Some(req) = env.request()
                {
                    asked.insert(env.id, req.route);
                }
                if let (Body::Response(resp), Some(c)) = (&env.body, env.cause)
                    && let Some(route) = asked.get(&c)
                    && resp.status >= 400
                {
                    let door = Door {
                        verifier: format!("{:?}", env.from),
                        route: route.to_string(),
                        status: resp.status,
                        code: resp.error_code().unwrap_or("-").to_string(),
                    };
                    out.entry(door).or_insert_with(|| label.to_string());
                }
            }
        }
    }
}

/// The committed list of doors (`properties/data/doors.md`): regenerate it with
/// `TOKENLAB_BLESS=1 cargo test -p tokenlab-properties --test doors`.
const DOORS_MD: &str = "data/doors.md";

fn render(doors: &BTreeMap<Door, String>) -> String {
    let mut out = String::from(
        "# Doors: every refusal a verifier gave the attacker\n\n\
         Generated by `properties/tests/doors.rs` (seed 0x5eed): every world of every row of \
         `expectations.md` is run once, and each distinct refusal a verifier gave an attacker \
         request (verifier, route, status, error code) is listed with the first row whose \
         worlds produced it. A check that appears here is exercised by an attacker move; the \
         test fails when a door stops being reached or a new one appears unlisted. Checks \
         that can be switched off have their negative control in the row that sets the \
         `mutant` switch (`every_mutant_switch_has_a_negative_control`).\n\n\
         | verifier | route | status | error | first row that reaches it |\n|---|---|---|---|---|\n",
    );
    for (d, row) in doors {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            d.verifier, d.route, d.status, d.code, row
        ));
    }
    out.push_str(
        "\n## Reached outside the rows\n\n\
         Refusals that no row's worlds produce, because no property judges the move that \
         reaches them, with the world that does (`doors.rs` runs it \
         and fails when the door is not reached there, or when a row reaches it too).\n\n\
         | verifier | route | status | error | world that reaches it |\n|---|---|---|---|---|\n",
    );
    for (verifier, route, status, code, world) in REACHED_OUTSIDE_THE_ROWS {
        out.push_str(&format!(
            "| {verifier} | {route} | {status} | {code} | {world} |\n"
        ));
    }
    out
}

#[test]
fn doors_outside_the_rows_are_reached() {
    use tokenlab_properties::quota::{QuotaRequest, quota_attack};
    let r = quota_attack(&QuotaRequest {
        mechanism: "trigger".into(),
        sets: vec![
            "invocation_limit_installation=50".into(),
            "invocation_limit_app=300".into(),
        ],
        victim: 1,
        every_url: false,
        spam_per_min: 400,
        spam_from_s: 600.0,
        spam_for_s: 60.0,
        seed: SEED,
    })
    .unwrap();
    let mut malformed = BTreeMap::new();
    for m in MALFORMED_MECHANISMS {
        let mut scenario = Scenario::new(m, "same-region").unwrap();
        scenario.tenants = 3;
        scenario.duration_s = 900.0;
        scenario.seed = SEED;
        let until = (scenario.duration_s * SEC as f64) as i64;
        let step = AttackStep {
            at: 300 * SEC,
            capability: Capability::Malformed,
        };
        let spec = RunSpec {
            scenario,
            plan: Some(AttackPlan::new(vec![step], until)),
        };
        let (h, _) = execute(&spec).unwrap();
        doors_of(&h, m, &mut malformed);
    }
    for (verifier, route, status, code, world) in REACHED_OUTSIDE_THE_ROWS {
        if *world != MALFORMED {
            continue;
        }
        assert!(
            malformed.keys().any(|d| d.verifier == *verifier
                && d.route == *route
                && d.status == *status
                && d.code == *code),
            "{verifier} {route} {status} {code} not reached by the malformed requests: {malformed:#?}"
        );
    }
    let refused = r.spam.refused_by.get("rate_limited").copied().unwrap_or(0);
    assert!(refused > 0, "the spam was never rate limited: {:?}", r.spam);
    assert!(
        r.spam.admitted > 0,
        "the quota refused every call: {:?}",
        r.spam
    );
}

#[test]
fn every_door_in_the_list_is_reached_by_an_attacker_move() {
    let doors = doors_reached(&expectations());
    let text = render(&doors);
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(DOORS_MD);
    if std::env::var_os("TOKENLAB_BLESS").is_some() {
        std::fs::write(&path, &text).unwrap();
    }
    // The verifiers that must have doors at all: the product API, the AS, F and P's inbound.
    for verifier in [
        "Platform(ProductApi)",
        "Platform(AuthServer)",
        "Platform(Forge)",
        "Partner(Auth)",
        "Partner(Recv)",
    ] {
        assert!(
            doors.keys().any(|d| d.verifier == verifier),
            "no attacker request was refused by {verifier}"
        );
    }
    // A door listed as reached outside the rows must not be reached by a row (it would be
    // listed twice, and its excuse would be stale).
    for (verifier, route, status, code, _) in REACHED_OUTSIDE_THE_ROWS {
        assert!(
            !doors.keys().any(|d| d.verifier == *verifier
                && d.route == *route
                && d.status == *status
                && d.code == *code),
            "{verifier} {route} {status} {code} is reached by a row now: drop it from \
             REACHED_OUTSIDE_THE_ROWS"
        );
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let lines = |t: &str| -> BTreeSet<String> {
        t.lines()
            .filter(|l| l.starts_with("| ") && !l.starts_with("| verifier"))
            .map(String::from)
            .collect()
    };
    let (now, then) = (lines(&text), lines(&committed));
    let lost: Vec<&String> = then.difference(&now).collect();
    let new: Vec<&String> = now.difference(&then).collect();
    assert!(
        lost.is_empty() && new.is_empty(),
        "{DOORS_MD} differs from the doors reached now (regenerate with TOKENLAB_BLESS=1 if \
         the change is meant).\nno longer reached: {lost:#?}\nnew: {new:#?}"
    );
}
