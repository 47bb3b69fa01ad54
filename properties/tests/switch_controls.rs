//! Issue 13's switches that a property judges: each with the broken variant that fails, the
//! sound one that holds, and (where the fix was in the checker) the old reading that let the
//! broken variant slip past.

use tokenlab_models::mechanisms::resolve;
use tokenlab_properties::suite::{Expectation, execute, judge, run_row, runs_for};
use tokenlab_properties::{Property, VerdictKind, authorized_issuance};

const SEED: u64 = 0x5eed;

fn row(mechanism: &str, sets: &[&str], property: Property) -> Expectation {
    Expectation::adhoc(mechanism, sets, property)
}

/// Every history of a row's runs (one case each).
fn histories(
    mechanism: &str,
    sets: &[&str],
    property: Property,
) -> Vec<tokenlab_models::history::History> {
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    runs_for(mechanism, &sets, property)
        .iter()
        .map(|spec| execute(spec).unwrap().0)
        .collect()
}

#[test]
fn p3_a_code_issued_without_the_admins_consent() {
    let sound = run_row(&row("upm-oauth", &[], Property::P3), 1, SEED);
    assert_eq!(sound.verdict, VerdictKind::Holds, "{sound:?}");
    assert!(sound.reached > 0);
    let broken = run_row(
        &row("upm-oauth", &["consent_required=off"], Property::P3),
        1,
        SEED,
    );
    assert_eq!(broken.verdict, VerdictKind::Violated, "{broken:?}");
    assert!(
        broken
            .counterexample
            .unwrap_or_default()
            .contains("consent=false")
    );
    // The old reading (consent required only of tenants where a consent was seen) let the
    // mutant through: no consent is ever seen when none is asked for.
    for h in histories("upm-oauth", &["consent_required=off"], Property::P3) {
        assert!(authorized_issuance(&h, false).holds, "the old reading");
        assert!(!authorized_issuance(&h, true).holds);
    }
}

#[test]
fn p5_introspection_refuses_a_revoked_grants_outstanding_token() {
    let sound = run_row(
        &row("upm-oauth", &["introspection=on"], Property::P5),
        1,
        SEED,
    );
    assert_eq!(sound.verdict, VerdictKind::Holds, "{sound:?}");
    assert!(sound.reached > 0);
    // Without introspection the API serves a revoked grant's T until it expires: judged with
    // the R = 0 that introspection declares, that run fails.
    let (_, _, introspecting) = resolve("upm-oauth", &["introspection=on".into()]).unwrap();
    let judged: Vec<bool> = histories("upm-oauth", &[], Property::P5)
        .iter()
        .map(|h| judge(Property::P5, h, &introspecting, 3).holds)
        .collect();
    assert!(judged.contains(&false), "{judged:?}");
}

#[test]
fn p4_a_rotated_secret_is_bounded_by_the_rotation_and_its_overlap() {
    // A T shorter than the overlap: the thief re-mints with the replaced secret inside it.
    let sets = ["rotation=periodic(2h)", "rotation_overlap=1h", "ttl=30m"];
    let sound = run_row(&row("global-secret", &sets, Property::P4), 1, SEED);
    assert_eq!(sound.verdict, VerdictKind::Holds, "{sound:?}");
    assert!(sound.reached > 0);
    // The replaced secret works for the overlap: a bound that leaves it out (ρ + TTL, the
    // spec's text before this change) is exceeded by the thief's last T.
    let (_, _, no_overlap) = resolve(
        "global-secret",
        &[
            "rotation=periodic(2h)".into(),
            "rotation_overlap=0s".into(),
            "ttl=30m".into(),
        ],
    )
    .unwrap();
    let judged: Vec<bool> = histories("global-secret", &sets, Property::P4)
        .iter()
        .map(|h| judge(Property::P4, h, &no_overlap, 3).holds)
        .collect();
    assert!(judged.contains(&false), "{judged:?}");
}

#[test]
fn p4_a_platform_that_never_rotates_the_url_breaks_the_per_use_bound() {
    // Issue 12's `url_rotation=per_use` declares B(URL) = the URL's next use + TTL. Its
    // negative control: an F that keeps the URL (the default `never`), judged against that
    // bound, lets the thief call it long after its next use.
    let (_, _, per_use) = resolve("trigger", &["url_rotation=per_use".into()]).unwrap();
    let judged: Vec<bool> = histories("trigger", &[], Property::P4)
        .iter()
        .map(|h| judge(Property::P4, h, &per_use, 3).holds)
        .collect();
    assert!(judged.contains(&false), "{judged:?}");
}
