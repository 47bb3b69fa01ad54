//! P12 and P11 over simulated histories, each with its negative control and reachability.

use tokenlab_models::sim::{Scenario, run};
use tokenlab_properties::{executability, read_your_writes};

fn trigger(sets: &[&str]) -> tokenlab_models::sim::RunResult {
    let mut s = Scenario::new("trigger", "same-region").unwrap();
    s.sets = sets.iter().map(|x| x.to_string()).collect();
    s.tenants = 20;
    s.duration_s = 600.0;
    run(&s).unwrap()
}

#[test]
fn p12_holds_reading_the_primary_and_is_reached() {
    let v = read_your_writes(&trigger(&[]).history);
    assert!(v.holds, "{v:?}");
    assert!(
        v.reached >= 20,
        "every cold trigger 2xx reaches the check: {v:?}"
    );
}

#[test]
fn p12_negative_control_a_lagging_replica_breaks_it() {
    let v = read_your_writes(&trigger(&["read_from=replica", "replica_lag=fixed(200ms)"]).history);
    assert!(!v.holds, "{v:?}");
    assert!(v.counterexample.unwrap().contains("no valid token"));
}

#[test]
fn p12_negative_control_a_queued_write_breaks_it_and_in_band_fixes_it() {
    assert!(!read_your_writes(&trigger(&["write_path=queued"]).history).holds);
    let fixed = read_your_writes(
        &trigger(&[
            "read_from=replica",
            "replica_lag=fixed(200ms)",
            "token_return=in_band",
        ])
        .history,
    );
    assert!(fixed.holds, "{fixed:?}");
}

#[test]
fn p11_every_mechanism_is_executable_and_a_broken_audience_is_not() {
    for m in tokenlab_models::mechanisms::registry() {
        let mut s = Scenario::new(m.id(), "same-region").unwrap();
        s.tenants = 10;
        let v = executability(&run(&s).unwrap().history, 10);
        assert!(v.holds && v.reached == 10, "{}: {v:?}", m.id());
    }
    // Negative control: tokens minted for the wrong audience are never accepted.
    let mut s = Scenario::new("refresh", "same-region").unwrap();
    s.tenants = 10;
    s.sets = vec!["token_aud=wrong".into()];
    let v = executability(&run(&s).unwrap().history, 10);
    assert!(!v.holds, "{v:?}");
}
