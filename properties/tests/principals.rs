//! Issue 12 (H12): users as principals beside the app, P1's principal clause.
//! - positive: each mechanism's grant holds the clause with users in the run (reached > 0);
//!   connect-jwt with `act_as_user` reaches every user offline, a user RT its own user only,
//!   push and trigger the app only (a user-token request is refused);
//! - negative controls: the API that skips the principal check, and the AS that honours a
//!   claimed user, each fail the clause on the same rows;
//! - with `users=0` (the default) the clause is silent: reached is what P1 had before;
//! - bad values of every new switch are rejected naming it.

use std::collections::BTreeSet;
use tokenlab_models::mechanisms::resolve;
use tokenlab_models::principals::{Principal, PrincipalConfig, REPORT_USERS, offline_reach};
use tokenlab_properties::principals::principal_run;
use tokenlab_properties::suite::{Expectation, run_row};
use tokenlab_properties::{Property, VerdictKind};

const SEED: u64 = 0x12b;

fn cfg(mechanism: &str, sets: &[&str]) -> PrincipalConfig {
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    let (_, _, p) = resolve(mechanism, &sets).unwrap();
    PrincipalConfig::from_params(&p)
}

fn p1(mechanism: &str, sets: &[&str]) -> (VerdictKind, u64, Option<String>) {
    let e = Expectation::adhoc(mechanism, sets, Property::P1);
    let r = run_row(&e, 1, SEED);
    (r.verdict, r.reached, r.counterexample)
}

#[test]
fn every_grant_holds_the_clause_and_reaches_it() {
    for (m, sets) in [
        ("connect-jwt", &["users=3", "act_as_user=on"][..]),
        ("connect-jwt", &["users=3"][..]),
        ("refresh", &["users=3", "user_grant=on"][..]),
        ("upm-oauth", &["users=3", "user_grant=on"][..]),
        ("push", &["users=3"][..]),
        ("trigger", &["users=3"][..]),
    ] {
        let run = principal_run(cfg(m, sets));
        assert!(
            run.violations.is_empty(),
            "{m} {sets:?}: {:?}",
            run.violations
        );
        assert!(run.reached > 0, "{m} {sets:?}: never reached");
        let (_, off_reached, _) = p1(m, &[]);
        let (v, reached, cx) = p1(m, sets);
        assert_eq!(v, VerdictKind::Holds, "{m} {sets:?}: {cx:?}");
        assert_eq!(reached, off_reached + run.reached, "{m} {sets:?}");
    }
}

#[test]
fn the_capability_matrix_is_the_spec() {
    let users: BTreeSet<Principal> = (0..REPORT_USERS).map(Principal::User).collect();
    let app: BTreeSet<Principal> = [Principal::App].into();
    let reach = |m, sets| offline_reach(&principal_run(cfg(m, sets)));
    let with_users: BTreeSet<Principal> = app.union(&users).copied().collect();
    assert_eq!(
        reach("connect-jwt", &["users=3", "act_as_user=on"])["shared_secret"],
        with_users
    );
    assert_eq!(reach("connect-jwt", &["users=3"])["shared_secret"], app);
    let r = reach("refresh", &["users=3", "user_grant=on"]);
    assert_eq!(r["app grant"], app);
    assert_eq!(r["user-2 grant"], [Principal::User(2)].into());
    for m in ["push", "trigger", "global-secret", "tenant-secret"] {
        assert_eq!(reach(m, &["users=3"])["app grant"], app, "{m}");
    }
}

#[test]
fn the_mutants_fail_the_clause() {
    for (m, sets) in [
        (
            "refresh",
            &["users=3", "user_grant=on", "api_principal_check=off"][..],
        ),
        ("connect-jwt", &["users=3", "as_user_claim=honoured"][..]),
        ("trigger", &["users=3", "as_user_claim=honoured"][..]),
    ] {
        let (v, reached, cx) = p1(m, sets);
        assert_eq!(v, VerdictKind::Violated, "{m} {sets:?}");
        assert!(reached > 0);
        let cx = cx.unwrap();
        assert!(cx.contains("1. ") && cx.contains("violation"), "{cx}");
    }
}

#[test]
fn without_users_the_clause_is_silent() {
    // The mutants change nothing while the app is the only principal.
    let (v, reached, _) = p1("trigger", &[]);
    let (v2, reached2, _) = p1("trigger", &["as_user_claim=honoured"]);
    assert_eq!((v, reached), (v2, reached2));
    assert!(!cfg("trigger", &[]).active());
}

#[test]
fn bad_values_are_rejected_naming_the_switch() {
    for (m, kv, key) in [
        ("trigger", "users=9", "users"),
        ("trigger", "users=many", "users"),
        ("push", "api_principal_check=maybe", "api_principal_check"),
        ("push", "as_user_claim=trusted", "as_user_claim"),
        ("connect-jwt", "act_as_user=yes", "act_as_user"),
        ("refresh", "user_grant=1", "user_grant"),
        ("upm-oauth", "user_grant=sometimes", "user_grant"),
    ] {
        let err = resolve(m, &[kv.to_string()])
            .err()
            .unwrap_or_else(|| panic!("{m} {kv} accepted"))
            .to_string();
        assert!(err.contains(key) && err.contains("bad value"), "{err}");
    }
    // Switches only where the spec puts them.
    assert!(resolve("push", &["act_as_user=on".to_string()]).is_err());
    assert!(resolve("trigger", &["user_grant=on".to_string()]).is_err());
}

fn attack_users(mechanism: &str, sets: &[&str], credential: Option<&str>) -> (u64, Option<u64>) {
    use tokenlab_properties::attack::{AttackRequest, From, attack};
    let r = attack(&AttackRequest::snapshot(
        mechanism,
        sets,
        credential,
        From::Store,
        SEED,
    ))
    .unwrap();
    (r.tenants_compromised, r.users_compromised)
}

#[test]
fn attack_measures_blast_radius_in_users() {
    // A stolen sharedSecret with ACT_AS_USER: every user of the tenant it reaches.
    let (t, u) = attack_users(
        "connect-jwt",
        &["users=3", "act_as_user=on"],
        Some("shared_secret"),
    );
    assert!(t > 0);
    assert_eq!(u, Some(t * 3));
    // Without it, the app only.
    let (t, u) = attack_users("connect-jwt", &["users=3"], Some("shared_secret"));
    assert!(t > 0);
    assert_eq!(u, Some(0));
    // A store breach with user grants: every consenting user's RT.
    let (t, u) = attack_users("refresh", &["users=3", "user_grant=on"], None);
    assert!(t > 0);
    assert_eq!(u, Some(t * 3));
    // users=0: the field is absent, so `attack --json` is unchanged.
    assert_eq!(
        attack_users("connect-jwt", &[], Some("shared_secret")).1,
        None
    );
}
