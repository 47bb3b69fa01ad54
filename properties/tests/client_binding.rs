//! P9's client clause (issue 11, `apps=2`): an RT or a code is redeemed only by the client it
//! was issued to (RFC 6749 §4.1.3, §6, §10.4). F hands client B's RT (and with upm-oauth a code
//! of client B, with its PKCE verifier) to app B's backend (the attacker's), which redeems it
//! as client A; only the AS's binding of an RT or a code to its client stops it.

use tokenlab_properties::suite::{Expectation, run_row};
use tokenlab_properties::{Property, VerdictKind};

const SEED: u64 = 0x5eed;

fn p9(mechanism: &str, sets: &[&str]) -> tokenlab_properties::suite::MatrixRow {
    run_row(&Expectation::adhoc(mechanism, sets, Property::P9), 1, SEED)
}

#[test]
fn client_b_rt_redeemed_as_client_a_fails_p9() {
    for m in ["refresh", "upm-oauth"] {
        let sound = p9(m, &["apps=2"]);
        assert_eq!(sound.verdict, VerdictKind::Holds, "{m}: {sound:?}");
        assert!(sound.reached > 0, "{m}");
        let broken = p9(m, &["apps=2", "client_binding=off"]);
        assert_eq!(broken.verdict, VerdictKind::Violated, "{m}: {broken:?}");
        let c = broken.counterexample.unwrap_or_default();
        assert!(
            c.contains("issued to client B (app B) and was redeemed as client A"),
            "{m}: {c}"
        );
    }
}

/// The code half (upm-oauth): client B's code, with app B's own PKCE verifier and redirect
/// URI, redeemed as client A. With the RT binding intact, only the code binding stops it: the
/// mutant `code_binding=off` is caught on a code, not an RT.
#[test]
fn client_b_code_redeemed_as_client_a_fails_p9() {
    let broken = p9("upm-oauth", &["apps=2", "code_binding=off"]);
    assert_eq!(broken.verdict, VerdictKind::Violated, "{broken:?}");
    let c = broken.counterexample.unwrap_or_default();
    assert!(c.contains("(AuthCode)"), "{c}");
    assert!(
        c.contains("issued to client B (app B) and was redeemed as client A"),
        "{c}"
    );
}

/// Without a second app the clause is silent: P9's verdict and reach are those of the
/// default row.
#[test]
fn one_app_the_clause_is_silent() {
    let h = {
        let mut spec = tokenlab_properties::suite::runs_for("refresh", &[], Property::P9).remove(0);
        spec.scenario.seed = SEED;
        tokenlab_properties::suite::execute(&spec).unwrap().0
    };
    let v = tokenlab_properties::credential_binding(&h, 0);
    let w = tokenlab_properties::checkers::with_client_clause(v.clone(), &h);
    assert_eq!((v.kind, v.reached), (w.kind, w.reached));
}
