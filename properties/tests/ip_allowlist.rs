//! Issue 12 (H23): the AS-side IP allow-list and the attacker's network location.
//! - positive: with `ip_allowlist=on` and an attacker on the internet, every attacker
//!   presentation at the AS is refused for its location (reached), P's own are accepted;
//! - negative control: the same allow-list with the attacker inside P's network does not
//!   block it (the AS accepts the stolen secret), and the clause does not call that a breach;
//! - mutant: `ip_allowlist=unchecked` (range registered, never checked) fails P9's clause.

use tokenlab_models::history::Event;
use tokenlab_models::ids::Party;
use tokenlab_properties::suite::{Expectation, execute, run_row, runs_for};
use tokenlab_properties::{Property, VerdictKind};

const SEED: u64 = 0x1a23;

/// (attacker AS accepts, attacker AS rejects for `ip_not_allowed`, P's AS accepts).
fn at_the_as(mechanism: &str, sets: &[&str], property: Property) -> (u64, u64, u64) {
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    let (mut acc, mut ip, mut own) = (0, 0, 0);
    for mut spec in runs_for(mechanism, &sets, property) {
        spec.scenario.seed = SEED;
        let (h, _) = execute(&spec).unwrap();
        let mut to_as = std::collections::BTreeMap::new();
        for r in &h.records {
            match &r.event {
                Event::Send { env } if env.to == Party::AS => {
                    to_as.insert(env.id, env.from);
                }
                Event::Accept { req, .. } => match to_as.get(req) {
                    Some(Party::Attacker) => acc += 1,
                    Some(Party::Partner(_)) => own += 1,
                    _ => {}
                },
                Event::Reject { req, reason } if *reason == "ip_not_allowed" => {
                    assert_eq!(to_as.get(req), Some(&Party::Attacker), "P itself refused");
                    ip += 1;
                }
                _ => {}
            }
        }
    }
    (acc, ip, own)
}

#[test]
fn an_outside_attacker_is_refused_and_p_is_not() {
    for m in ["global-secret", "tenant-secret"] {
        let (acc, ip, own) = at_the_as(m, &["ip_allowlist=on"], Property::P9);
        assert_eq!(
            acc, 0,
            "{m}: an attacker request from the internet was accepted"
        );
        assert!(ip > 0, "{m}: the allow-list check was never reached");
        assert!(own > 0, "{m}: P's own requests must still be accepted");
    }
}

#[test]
fn an_inside_attacker_is_not_blocked_and_without_the_list_nobody_is() {
    for sets in [
        &["ip_allowlist=on", "attacker_location=partner_network"][..],
        &["ip_allowlist=off"][..],
    ] {
        let (acc, ip, _) = at_the_as("tenant-secret", sets, Property::P9);
        assert!(acc > 0, "{sets:?}: the stolen secret should work");
        assert_eq!(ip, 0, "{sets:?}");
    }
    let mut inside = Expectation::adhoc(
        "tenant-secret",
        &["ip_allowlist=on", "attacker_location=partner_network"],
        Property::P9,
    );
    inside.expected = VerdictKind::Holds;
    let r = run_row(&inside, 1, SEED);
    assert_eq!(r.verdict, VerdictKind::Holds, "{:?}", r.counterexample);
    assert!(r.reached > 0);
}

#[test]
fn the_unchecked_mutant_fails_the_network_clause() {
    let e = Expectation::adhoc("tenant-secret", &["ip_allowlist=unchecked"], Property::P9);
    let r = run_row(&e, 1, SEED);
    assert_eq!(r.verdict, VerdictKind::Violated);
    let cx = r.counterexample.unwrap();
    assert!(cx.contains("IP allow-list"), "{cx}");
    // The same row with the check in place holds: the violation is the missing check.
    let ok = Expectation::adhoc("tenant-secret", &["ip_allowlist=on"], Property::P9);
    assert_eq!(run_row(&ok, 1, SEED).verdict, VerdictKind::Holds);
}

#[test]
fn bad_values_are_rejected_naming_the_switch() {
    for (m, kv, key) in [
        ("global-secret", "ip_allowlist=maybe", "ip_allowlist"),
        (
            "tenant-secret",
            "attacker_location=moon",
            "attacker_location",
        ),
    ] {
        let err = tokenlab_models::mechanisms::resolve(m, &[kv.to_string()])
            .err()
            .expect("rejected")
            .to_string();
        assert!(
            err.contains(key) && err.contains("expected one of"),
            "{err}"
        );
    }
}
