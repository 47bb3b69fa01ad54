//! Issue 13 item 4: the Connect → Forge migration (`migration`). P4's clause for the
//! sharedSecret (bounded by the window's end + `jwt_exp`) with its negative control
//! (`connect_revoke=never`), its positive control (the default, reached > 0), and P1 with both
//! credentials live.

use tokenlab_models::history::{Event, ItemKind};
use tokenlab_models::ids::Party;
use tokenlab_models::mechanisms::resolve;
use tokenlab_properties::suite::{Expectation, execute, judge, run_row, runs_for};
use tokenlab_properties::{Property, VerdictKind};

const SEED: u64 = 0x5eed;

fn row(sets: &[&str], property: Property) -> Expectation {
    Expectation::adhoc("migration", sets, property)
}

#[test]
fn p4_positive_control_the_retired_secret_is_bounded() {
    let sound = run_row(&row(&[], Property::P4), 1, SEED);
    assert_eq!(sound.verdict, VerdictKind::Holds, "{sound:?}");
    assert!(sound.reached > 0, "the stolen secret was never presented");
}

#[test]
fn p4_negative_control_a_secret_never_retired_is_violated() {
    let broken = run_row(&row(&["connect_revoke=never"], Property::P4), 1, SEED);
    assert_eq!(broken.verdict, VerdictKind::Violated, "{broken:?}");
    assert!(broken.reached > 0);
    let c = broken.counterexample.unwrap_or_default();
    assert!(c.contains("SharedSecret"), "{c}");
}

#[test]
fn p4_the_clause_judges_the_window_not_the_switch() {
    // The histories of the `never` run judged with the default's parameters still violate,
    // and the default's histories judged with `never`'s still hold: the verdict comes from
    // what the API accepted, not from the switch's value.
    let sets: Vec<String> = vec!["connect_revoke=never".into()];
    let (_, _, default) = resolve("migration", &[]).unwrap();
    let never: Vec<bool> = runs_for("migration", &sets, Property::P4)
        .iter()
        .map(|s| {
            let (h, _) = execute(s).unwrap();
            judge(Property::P4, &h, &default, 4).holds
        })
        .collect();
    assert!(never.contains(&false), "{never:?}");
    let (_, _, never_params) = resolve("migration", &sets).unwrap();
    for s in runs_for("migration", &[], Property::P4) {
        let (h, _) = execute(&s).unwrap();
        assert!(judge(Property::P4, &h, &never_params, 4).holds);
    }
}

#[test]
fn p1_holds_with_both_credentials_live() {
    let r = run_row(&row(&["migration_start=0s"], Property::P1), 1, SEED);
    assert_eq!(r.verdict, VerdictKind::Holds, "{r:?}");
    assert!(r.reached > 0);
    // Both credentials were issued during the run: the window was open.
    let sets: Vec<String> = vec!["migration_start=0s".into()];
    let (h, _) = execute(&runs_for("migration", &sets, Property::P1)[0]).unwrap();
    let issued = |k: ItemKind| {
        h.records
            .iter()
            .any(|r| matches!(&r.event, Event::Issue { kind, .. } if *kind == k))
    };
    assert!(issued(ItemKind::SharedSecret) && issued(ItemKind::TriggerUrl));
    // P used a Forge T at the API during the window.
    assert!(h.records.iter().any(|r| matches!(
        &r.event,
        Event::Issue {
            kind: ItemKind::AccessToken,
            to: Party::Partner(_),
            ..
        }
    )));
}
