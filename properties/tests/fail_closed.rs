//! P10 against the fault-free twin (issue 11): a faulted run's verdicts of P1, P3, P4, P5, P7
//! and P8 are compared with the same run without its faults, and `reached` counts the
//! presentations a verifier decided inside a timed fault window.

use tokenlab_models::history::{Event, FaultKind};
use tokenlab_properties::property::{FAIL_CLOSED_PARTS, fault_exposed, fault_windows};
use tokenlab_properties::suite::{Expectation, execute, fault_free, run_row, runs_for, twin_of};
use tokenlab_properties::{Property, VerdictKind};

const SEED: u64 = 0x5eed;

fn row(mechanism: &str, sets: &[&str]) -> Expectation {
    Expectation::adhoc(mechanism, sets, Property::P10)
}

const ROLLOVER: [&str; 2] = ["fit_key_rotation=periodic(10m)", "fit_key_overlap=1m"];

/// The widened fault mix is in the run and its windows are found in the history: the JWKS
/// outage, the partner crash, the platform crash, the partition and the deploy reset. The
/// twin has none of them.
#[test]
fn the_fault_mix_and_its_windows() {
    let sets = vec![];
    let mut spec = runs_for("trigger", &sets, Property::P10).remove(0);
    spec.scenario.seed = SEED;
    let (h, _) = execute(&spec).unwrap();
    let w = fault_windows(&h);
    let s = |x: f64| (x * 1e6) as i64;
    for (from, name) in [
        (300.0, "jwks outage"),
        (3000.0, "partner crash"),
        (4000.0, "platform crash"),
        (4500.0, "partition"),
        (5400.0, "deploy reset"),
    ] {
        assert!(
            w.iter().any(|(f, u)| *f == s(from) && *u > s(from)),
            "{name} at {from} s not among {w:?}"
        );
    }
    assert!(fault_exposed(&h, &w) > 0);
    let twin = fault_free(&spec);
    assert!(twin.scenario.nemesis.is_empty());
    assert!(
        !twin
            .scenario
            .sets
            .iter()
            .any(|s| s.starts_with("clock_skew"))
    );
    let (th, _) = execute(&twin).unwrap();
    assert!(fault_windows(&th).is_empty());
    assert!(!th.records.iter().any(|r| matches!(
        &r.event,
        Event::Fault {
            kind: FaultKind::Crash | FaultKind::JwksUnreachable | FaultKind::HttpError,
            ..
        }
    )));
    assert_eq!(fault_exposed(&th, &fault_windows(&th)), 0);
}

/// Positive control: the sound design holds P10, every part holds on the twin too, and
/// presentations were decided inside the fault windows (`reached > 0`).
#[test]
fn the_sound_design_survives_its_faults() {
    for m in ["trigger", "push", "refresh"] {
        let r = run_row(&row(m, &[]), 1, SEED);
        assert_eq!(r.verdict, VerdictKind::Holds, "{m}: {r:?}");
        assert!(r.reached > 0, "{m}: no presentation in a fault window");
        let mut spec = runs_for(m, &[], Property::P10).remove(0);
        spec.scenario.seed = SEED;
        let twin = twin_of(Property::P10, &spec).unwrap();
        assert_eq!(twin.len(), FAIL_CLOSED_PARTS.len());
        assert!(!twin.contains(&VerdictKind::Violated), "{m}: {twin:?}");
    }
}

/// Negative control, fault-induced: with `jwks_fail=open` P takes forged FITs unverified
/// while the JWKS is unreachable (a forged delivery, P8, or a forged install hook, P3); the
/// twin (no outage) holds both, so the faults opened it.
#[test]
fn jwks_fail_open_is_caught_against_a_holding_twin() {
    for m in ["trigger", "push"] {
        let r = run_row(&row(m, &["jwks_fail=open"]), 1, SEED);
        assert_eq!(r.verdict, VerdictKind::Violated, "{m}: {r:?}");
        let c = r.counterexample.unwrap_or_default();
        assert!(
            ["P3", "P8"].iter().any(|p| c.contains(&format!(
                "under faults, {p} fails; the fault-free twin: holds: the faults opened it"
            ))),
            "{m}: {c}"
        );
    }
}

/// The mutant `unknown_kid=accept` across key rollovers takes a FIT whose `kid` P does not
/// hold unverified, also without faults: the twin fails P8 as well, so that is P8's finding
/// (its own row is violated) and P10, which judges what the faults add, holds. A P10 that
/// counted it would report a fault-free bug twice; `jwks_fail=open` above is the control that
/// the faults themselves open a door.
#[test]
fn unknown_kid_accept_fails_without_faults_so_p10_leaves_it_to_p8() {
    for m in ["trigger", "push"] {
        let sound = run_row(&row(m, &ROLLOVER), 1, SEED);
        assert_eq!(sound.verdict, VerdictKind::Holds, "{m}: {sound:?}");
        assert!(sound.reached > 0, "{m}");
        let sets: Vec<&str> = ROLLOVER
            .iter()
            .copied()
            .chain(["unknown_kid=accept"])
            .collect();
        let mut spec = runs_for(
            m,
            &sets.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            Property::P10,
        )
        .remove(0);
        spec.scenario.seed = SEED;
        let twin = twin_of(Property::P10, &spec).unwrap();
        let p8 = FAIL_CLOSED_PARTS
            .iter()
            .position(|p| *p == Property::P8)
            .unwrap();
        assert_eq!(
            twin[p8],
            VerdictKind::Violated,
            "{m}: the twin fails P8: {twin:?}"
        );
        let r = run_row(&row(m, &sets), 1, SEED);
        assert_eq!(r.verdict, VerdictKind::Holds, "{m}: {r:?}");
        assert!(r.reached > 0, "{m}");
        let p8_row = run_row(&Expectation::adhoc(m, &sets, Property::P8), 1, SEED);
        assert_eq!(
            p8_row.verdict,
            VerdictKind::Violated,
            "{m}: P8's own row: {p8_row:?}"
        );
    }
}
