//! A refresh token's own validity (issue 11, P4's RT clauses): the AS refuses an RT past the
//! family's absolute lifetime (`rt_max_life`) or of a family unused for `rt_idle_expiry`, and
//! upm-oauth's token endpoint refuses a refresh grant without the client's secret (RFC 6749
//! §6). No row's world isolates these checks: an active victim refreshes long before either
//! expiry and its rotation or reuse detection stops a thief first, and upm-oauth's P4 row
//! violates through F-grace anyway. Each world below is one that only the check in question
//! stops, with its negative control (the check switched off) and the refusals that show the
//! attacker reached it.

use tokenlab_models::SEC;
use tokenlab_models::history::{History, ItemKind};
use tokenlab_models::ids::Party;
use tokenlab_properties::facts::{Decision, Facts};
use tokenlab_properties::suite::{execute, judge, runs_for};
use tokenlab_properties::{Property, Verdict, VerdictKind};

const SEED: u64 = 0x5eed;

/// P4's first world for `mechanism` with `sets` (the root credential, an RT, stolen alone at
/// 600 s), with `demands` per tenant-hour: 0 is an idle victim, who never redeems its RT.
fn rt_theft(mechanism: &str, sets: &[&str], demands: f64) -> (History, Verdict) {
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    let mut spec = runs_for(mechanism, &sets, Property::P4).remove(0);
    spec.scenario.seed = SEED;
    spec.scenario.demands_per_tenant_hour = demands;
    let (h, params) = execute(&spec).expect("the world runs");
    let v = judge(Property::P4, &h, &params, spec.scenario.tenants);
    (h, v)
}

/// The AS's answers to the attacker's RT presentations: (accepted, refused with `reason`).
fn attacker_rt_answers(h: &History) -> (usize, Vec<&'static str>) {
    let f = Facts::new(h);
    let mut accepted = 0;
    let mut refused = Vec::new();
    for (p, d, _) in f.decided() {
        let rt = f.issued.get(&p.item).map(|i| i.kind) == Some(ItemKind::RefreshToken);
        if p.who != Party::Attacker || !rt {
            continue;
        }
        match d {
            Decision::Accept { .. } => accepted += 1,
            Decision::Reject { reason } => refused.push(*reason),
        }
    }
    (accepted, refused)
}

fn assert_only_check_stops(mechanism: &str, sets: &[&str], off: &str, demands: f64, why: &str) {
    let (h, sound) = rt_theft(mechanism, sets, demands);
    assert_eq!(sound.kind, VerdictKind::Holds, "{sound:?}");
    let (accepted, refused) = attacker_rt_answers(&h);
    assert_eq!(accepted, 0, "{refused:?}");
    assert!(!refused.is_empty(), "the attacker never presented the RT");
    assert!(sound.reached > 0, "{sound:?}");

    let broken_sets: Vec<&str> = sets.iter().copied().chain([off]).collect();
    let (h, broken) = rt_theft(mechanism, &broken_sets, demands);
    assert_eq!(broken.kind, VerdictKind::Violated, "{broken:?}");
    let c = broken.counterexample.unwrap_or_default();
    assert!(c.contains(why), "{c}");
    assert!(attacker_rt_answers(&h).0 > 0);
}

#[test]
fn an_idle_familys_rt_is_refused_by_the_idle_expiry_alone() {
    assert_only_check_stops(
        "refresh",
        &["rt_idle_expiry=5m"],
        "rt_expiry_check=off",
        0.0,
        "past rt_idle_expiry",
    );
}

#[test]
fn an_rt_past_its_lifetime_is_refused_by_the_lifetime_check_alone() {
    assert_only_check_stops(
        "refresh",
        &["rt_max_life=5m"],
        "rt_expiry_check=off",
        0.0,
        "past its lifetime",
    );
}

#[test]
fn an_rt_stolen_without_the_client_secret_buys_nothing() {
    assert_only_check_stops(
        "upm-oauth",
        &[],
        "client_auth=off",
        6.0,
        "without client authentication",
    );
}

/// Every RT of a family, rotated or not, records the family's expiry: the first RT's issue
/// plus `rt_max_life`, which is when the AS stops accepting any of them.
#[test]
fn a_rotated_rt_expires_with_its_family() {
    let (h, _) = rt_theft("refresh", &["rt_max_life=1d"], 6.0);
    let f = Facts::new(&h);
    let mut rotated = 0;
    for (x, i) in f.issued.iter() {
        if i.kind != ItemKind::RefreshToken {
            continue;
        }
        let first = f.issued[&f.root_of(*x)].t;
        assert_eq!(i.exp, Some(first + 24 * 3600 * SEC), "{x:?}");
        rotated += usize::from(f.root_of(*x) != *x);
    }
    assert!(rotated > 0, "no RT was rotated");
}
