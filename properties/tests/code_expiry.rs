//! Authorization-code expiry (issue 11): upm-oauth's AS refuses a code past its 60 s lifetime
//! (RFC 6749 §4.1.2). The attacker taps P–AS and replays a captured code exchange after the
//! code's lifetime (A7 late), in a world where P's own exchange was lost (a partition during a
//! re-install), so the code was never redeemed and only the expiry check stops the replay.

use tokenlab_properties::facts::Facts;
use tokenlab_properties::suite::{Expectation, execute, run_row, runs_for};
use tokenlab_properties::{Property, VerdictKind};

const SEED: u64 = 0x5eed;

/// The answers the AS gave to the attacker's late code exchanges in P6's worlds, as
/// "status body".
fn late_answers(sets: &[&str]) -> Vec<String> {
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    let mut out = Vec::new();
    for mut spec in runs_for("upm-oauth", &sets, Property::P6) {
        spec.scenario.seed = SEED;
        let (h, _) = execute(&spec).unwrap();
        let f = Facts::new(&h);
        let late = f
            .requests_from(tokenlab_models::ids::Party::Attacker)
            .filter(|(t, q, _)| {
                q.body.str("grant_type") == Some("authorization_code")
                    && *t >= 400 * tokenlab_models::SEC
            });
        out.extend(
            late.filter_map(|(_, _, answer)| answer)
                .map(|resp| format!("{} {:?}", resp.status, resp.body)),
        );
    }
    out
}

#[test]
fn a_late_code_is_refused_only_by_the_expiry_check() {
    let sound = run_row(&Expectation::adhoc("upm-oauth", &[], Property::P6), 1, SEED);
    assert_eq!(sound.verdict, VerdictKind::Holds, "{sound:?}");
    assert!(sound.reached > 0);
    let answers = late_answers(&[]);
    assert!(
        answers.iter().any(|a| a.contains("code_expired")),
        "{answers:?}"
    );
    let broken = run_row(
        &Expectation::adhoc("upm-oauth", &["code_expiry_check=off"], Property::P6),
        1,
        SEED,
    );
    assert_eq!(broken.verdict, VerdictKind::Violated, "{broken:?}");
    let c = broken.counterexample.unwrap_or_default();
    assert!(c.contains("past its lifetime"), "{c}");
    let answers = late_answers(&["code_expiry_check=off"]);
    assert!(answers.iter().any(|a| a.starts_with('2')), "{answers:?}");
}

/// The reason the history records for the refusal is the expiry check's own.
#[test]
fn the_refusal_is_recorded_as_code_expired() {
    let mut spec = runs_for("upm-oauth", &[], Property::P6).remove(1);
    spec.scenario.seed = SEED;
    let (h, _) = execute(&spec).unwrap();
    assert!(h.records.iter().any(|r| matches!(
        r.event,
        tokenlab_models::history::Event::Reject {
            reason: "code_expired",
            ..
        }
    )));
}

/// A bad value for the switch is refused naming it.
#[test]
fn a_bad_switch_value_is_refused() {
    let e = tokenlab_models::mechanisms::resolve("upm-oauth", &["code_expiry_check=maybe".into()])
        .err()
        .expect("refused")
        .to_string();
    assert!(
        e.contains("bad value 'maybe' for 'code_expiry_check'"),
        "{e}"
    );
}
