//! Issue 13 item 2: F rotates its FIT signing key; P caches the key set and refetches it on
//! an unknown `kid`, no sooner than a floor after its last fetch; a JWKS outage around the
//! rollover keeps P from learning the new key. Each test states what it exercised (the
//! rollover happened, deliveries were refused), so a pass is never vacuous.

use tokenlab_models::history::{Event, FaultKind};
use tokenlab_models::mechanisms::{SharedConfig, resolve};
use tokenlab_models::roles::attacker::AttackPlan;
use tokenlab_models::sim::rollover::{RolloverCost, rollover_cost};
use tokenlab_models::sim::{Scenario, run, run_attacked};
use tokenlab_models::{Micros, SEC};

const MIN: Micros = 60 * SEC;
/// The rollover at 2 h; the outage from 15 min before it to 15 min after.
const OUTAGE: (Micros, Micros) = (105 * MIN, 135 * MIN);

fn scenario(mech: &str, sets: &[&str]) -> Scenario {
    let mut s = Scenario::new(mech, "same-region").expect("preset");
    s.tenants = 40;
    s.duration_s = 3.0 * 3600.0;
    s.seed = 7;
    // Frequent deliveries: trigger's T lives 20 min, push delivers every 10 min.
    let cadence = if mech == "push" {
        "interval=10m"
    } else {
        "ttl=20m"
    };
    s.sets = ["fit_key_rotation=periodic(2h)", cadence]
        .iter()
        .chain(sets)
        .map(|x| x.to_string())
        .collect();
    s
}

fn cost(mech: &str, sets: &[&str]) -> RolloverCost {
    let s = scenario(mech, sets);
    let mut plan = AttackPlan::new(Vec::new(), OUTAGE.1);
    plan.jwks_outages = vec![OUTAGE];
    let r = run_attacked(&s, &plan).expect("runs");
    rollover_cost(&r.history, OUTAGE)
}

#[test]
fn default_runs_have_no_key_schedule_and_no_rollover() {
    let (_, _, p) = resolve("trigger", &[]).unwrap();
    assert_eq!(SharedConfig::from_params(&p).platform.fit_keys, None);
    let mut s = Scenario::new("push", "same-region").unwrap();
    s.tenants = 5;
    s.duration_s = 3.0 * 3600.0;
    let r = run(&s).unwrap();
    assert!(!r.history.records.iter().any(|x| matches!(
        x.event,
        Event::Fault {
            kind: FaultKind::KeyRollover,
            ..
        }
    )));
}

#[test]
fn closed_partner_refuses_new_key_deliveries_during_the_outage_and_recovers() {
    for mech in ["trigger", "push"] {
        let c = cost(mech, &["jwks_max_age=none", "fit_key_overlap=5m"]);
        assert_eq!(c.rollovers, 1, "{mech}: {c:?}");
        assert!(c.refused_in_outage > 0, "{mech}: nothing refused: {c:?}");
        let rec = c.recovery_s.expect("recovers after the outage");
        assert!(rec >= 0.0, "{mech}: {c:?}");
    }
}

#[test]
fn without_an_outage_a_rollover_costs_nothing() {
    let s = scenario("trigger", &["jwks_max_age=none"]);
    let r = run(&s).unwrap();
    let c = rollover_cost(&r.history, OUTAGE);
    assert_eq!(c.rollovers, 1);
    assert!(c.deliveries > 0);
    assert_eq!(c.refused_in_outage + c.refused_after_outage, 0, "{c:?}");
    assert_eq!(c.demands_failed, 0, "{c:?}");
}

#[test]
fn a_partner_that_never_refetches_never_recovers() {
    let c = cost(
        "trigger",
        &["jwks_max_age=none", "unknown_kid=never_refetch"],
    );
    assert!(c.refused_after_outage > 0, "{c:?}");
    assert_eq!(c.recovery_s, None, "{c:?}");
}

#[test]
fn pre_publication_longer_than_the_max_age_makes_the_outage_free() {
    // The new key is published 1 h before the rollover; P's set is at most 10 min old, so P
    // holds the new key before the outage starts (15 min before the rollover).
    let c = cost("trigger", &["fit_key_overlap=1h", "jwks_max_age=10m"]);
    assert!(c.deliveries > 0);
    assert_eq!(c.refused_in_outage + c.refused_after_outage, 0, "{c:?}");
    // With only a 5 min pre-publication, inside the outage, P cannot learn it in time.
    let c = cost("trigger", &["fit_key_overlap=5m", "jwks_max_age=10m"]);
    assert!(c.refused_in_outage > 0, "{c:?}");
}

#[test]
fn same_seed_same_history() {
    let a = cost("push", &["jwks_max_age=none"]);
    let b = cost("push", &["jwks_max_age=none"]);
    assert_eq!(a, b);
}

#[test]
fn bad_key_schedules_are_refused_with_the_switch_named() {
    // (sets, what the one-line error must name)
    let cases: [(&[&str], &[&str]); 4] = [
        (
            &["fit_key_rotation=periodic(1h)", "fit_key_overlap=1h"],
            &["fit_key_overlap", "shorter than"],
        ),
        (
            &["fit_key_rotation=periodic(500ms)"],
            &["fit_key_rotation", "at least 1s"],
        ),
        (&["unknown_kid=sometimes"], &["unknown_kid", "refetch"]),
        (
            &["jwks_refetch_floor=soon"],
            &["jwks_refetch_floor", "duration"],
        ),
    ];
    for (sets, named) in cases {
        let sets: Vec<String> = sets.iter().map(|x| x.to_string()).collect();
        let e = resolve("trigger", &sets)
            .err()
            .unwrap_or_else(|| panic!("{sets:?} is refused"))
            .to_string();
        assert!(named.iter().all(|n| e.contains(n)), "{sets:?}: {e}");
    }
    // Without a schedule the overlap is not checked against anything.
    resolve("trigger", &["fit_key_overlap=1w".into()]).unwrap();
}
