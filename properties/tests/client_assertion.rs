//! `sender_constraint=private_key_jwt` on the client_credentials mechanisms (issue 13, the
//! last switch of `mechanisms.md` §5–§6): the assertion's single use is judged by P6 with its
//! broken variant and a reachability count, and what a theft of the key buys is measured
//! against the secret it replaces.

use tokenlab_models::history::Event;
use tokenlab_properties::attack::{AttackRequest, From, attack as run_attack};
use tokenlab_properties::suite::{Expectation, execute, run_row, runs_for};
use tokenlab_properties::{Property, VerdictKind};

const SEED: u64 = 0x5eed;
const PKJ: &str = "sender_constraint=private_key_jwt";

fn row(mechanism: &str, sets: &[&str], property: Property) -> Expectation {
    Expectation::adhoc(mechanism, sets, property)
}

/// Rejections of the AS by reason, over one case of every run of a row.
fn rejections(mechanism: &str, sets: &[&str], property: Property, reason: &str) -> usize {
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    runs_for(mechanism, &sets, property)
        .iter()
        .map(|spec| {
            let h = execute(spec).unwrap().0;
            h.records
                .iter()
                .filter(|r| matches!(&r.event, Event::Reject { reason: x, .. } if *x == reason))
                .count()
        })
        .sum()
}

#[test]
fn p6_a_replayed_assertion_is_refused_and_the_mutant_accepts_it() {
    for m in ["global-secret", "tenant-secret"] {
        let sound = run_row(&row(m, &[PKJ], Property::P6), 1, SEED);
        assert_eq!(sound.verdict, VerdictKind::Holds, "{m}: {sound:?}");
        assert!(sound.reached > 0, "{m}: the replay reached the AS");
        // Only the jti check stops the tapped request's replay.
        assert!(
            rejections(m, &[PKJ], Property::P6, "assertion_replayed") > 0,
            "{m}"
        );
        let broken = run_row(
            &row(m, &[PKJ, "assertion_replay_check=off"], Property::P6),
            1,
            SEED,
        );
        assert_eq!(broken.verdict, VerdictKind::Violated, "{m}: {broken:?}");
        assert!(
            broken
                .counterexample
                .unwrap_or_default()
                .contains("one-time assertion"),
            "{m}"
        );
    }
}

fn attack(mechanism: &str, sets: &[&str], credential: &str, from: From) -> u64 {
    let r = run_attack(&AttackRequest::snapshot(
        mechanism,
        sets,
        Some(credential),
        from,
        1,
    ))
    .unwrap();
    r.accepted
}

#[test]
fn the_key_never_crosses_the_token_hop_but_a_stolen_key_is_a_standing_credential() {
    // A tap on the token hop learns the app's secret, and nothing of the key.
    let secret = attack("global-secret", &[], "client_secret", From::Network);
    let key = attack("global-secret", &[PKJ], "client_key", From::Network);
    assert!(secret > 0, "the secret crosses every token request");
    assert_eq!(key, 0, "the key stays at P: only assertions travel");
    // From P's store the key buys what the secret buys: the fix is for the wire.
    let secret = attack("global-secret", &[], "client_secret", From::Store);
    let key = attack("global-secret", &[PKJ], "client_key", From::Store);
    assert!(key > 0);
    assert_eq!(key, secret);
}

#[test]
fn a_tapped_per_tenant_secret_comes_with_its_client_id() {
    // tenant-secret's client id names one installation: a tap that took the secret without
    // the id beside it could not use it (0 accepted), understating A1.
    let tapped = attack("tenant-secret", &[], "client_secret", From::Network);
    let stored = attack("tenant-secret", &[], "client_secret", From::Store);
    assert!(tapped > 0, "the tapped secret and its client id buy tokens");
    assert!(stored > 0);
    // Under private_key_jwt the same tap learns nothing that signs.
    assert_eq!(
        attack("tenant-secret", &[PKJ], "client_key", From::Network),
        0
    );
}
