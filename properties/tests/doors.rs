//! Issue 11 item 3: every check a verifier makes needs an attacker move or fault that only
//! that check stops. Each check that can be switched off is a `mutant` switch; this test
//! holds the list of where each one's negative control lives, so a new check without one
//! (or a control that disappears) fails here instead of going unnoticed.

use std::collections::BTreeSet;
use tokenlab_models::mechanisms::{registry, shared_specs};
use tokenlab_models::params::Basis;
use tokenlab_properties::VerdictKind;
use tokenlab_properties::suite::expectations;

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
];

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
