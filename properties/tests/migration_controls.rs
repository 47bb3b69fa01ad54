//! Issue 13 item 4: the Connect → Forge migration (`migration`). P4's clause for the
//! sharedSecret (bounded by the window's end + `jwt_exp`) with its negative control
//! (`connect_revoke=never`), its positive control (the default, reached > 0), and P1 with both
//! credentials live. Issue 11 (mutants): P11 judged per phase of the window, and an admin's
//! revoke after the window (the Forge grant) judged by P5, and P.app's trigger calls answered
//! through the composite as they are by plain trigger.

use tokenlab_models::history::{Event, ItemKind};
use tokenlab_models::ids::Party;
use tokenlab_models::mechanisms::resolve;
use tokenlab_models::message::Body;
use tokenlab_models::roles::AdminAction;
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

/// The window inside a P11 run (4000 s): Connect before 600 s, both until 2400 s, Forge after.
const PHASED: [&str; 2] = ["migration_start=10m", "migration_window=30m"];

#[test]
fn p11_every_phase_the_tenant_demands_in_must_get_through() {
    let sound = run_row(&row(&PHASED, Property::P11), 1, SEED);
    assert_eq!(sound.verdict, VerdictKind::Holds, "{sound:?}");
    assert!(sound.reached > 0);
    // P made demands, and was accepted, in all three phases.
    let sets: Vec<String> = PHASED.iter().map(|s| s.to_string()).collect();
    let (h, _) = execute(&runs_for("migration", &sets, Property::P11)[0]).unwrap();
    let accepts = |from: f64, until: f64| {
        h.records.iter().any(|r| {
            matches!(r.event, Event::Accept { .. })
                && (from * 1e6) as i64 <= r.t
                && r.t < (until * 1e6) as i64
        })
    };
    assert!(accepts(0.0, 600.0) && accepts(600.0, 2400.0) && accepts(2400.0, 4000.0));
    // The negative control: the Forge T is refused, so P is stranded from the window on. The
    // tenant-level clause alone (no phases: the judge of the other mechanisms) would hold.
    let mut broken = sets.clone();
    broken.push("token_aud=wrong".into());
    let r = run_row(
        &row(&[PHASED[0], PHASED[1], "token_aud=wrong"], Property::P11),
        1,
        SEED,
    );
    assert_eq!(r.verdict, VerdictKind::Violated, "{r:?}");
    let c = r.counterexample.unwrap_or_default();
    assert!(c.contains("in that phase"), "{c}");
    let (h, _) = execute(&runs_for("migration", &broken, Property::P11)[0]).unwrap();
    assert!(tokenlab_properties::executability(&h, 4).holds);
}

/// The P5 world of `migration` with the window over by 300 s (Forge only after it) and an
/// admin's revoke of tenant 1 at 900 s: Connect is retired, so the revoke must reach the Forge
/// side's grant. (`migration` declares no revoke of its own: before the window's end the
/// Connect sharedSecret has none.)
fn revoked_after_the_window(extra: &[&str]) -> tokenlab_properties::Verdict {
    let mut sets: Vec<String> = vec!["migration_start=0s".into(), "migration_window=5m".into()];
    sets.extend(extra.iter().map(|s| s.to_string()));
    let (_, _, params) = resolve("migration", &sets).unwrap();
    let mut spec = runs_for("migration", &sets, Property::P5).remove(0);
    spec.scenario.seed = SEED;
    spec.scenario.admin.push((900.0, AdminAction::Revoke(1)));
    let (h, _) = execute(&spec).unwrap();
    judge(Property::P5, &h, &params, 4)
}

#[test]
fn p5_a_revoke_after_the_window_withdraws_the_forge_grant() {
    let sound = revoked_after_the_window(&[]);
    assert!(sound.holds, "{sound:?}");
    assert!(sound.reached > 0, "nothing was presented after the revoke");
    // The negative control: the platform ignores revocations.
    let broken = revoked_after_the_window(&["revocation=ignored"]);
    assert!(!broken.holds, "{broken:?}");
}

/// P.app's trigger calls of a P11 world (no faults) and the status each was answered with
/// (`None`: never answered).
fn trigger_call_answers(mechanism: &str, sets: &[&str]) -> Vec<Option<u16>> {
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    let (h, _) = execute(&runs_for(mechanism, &sets, Property::P11)[0]).unwrap();
    let mut calls = Vec::new();
    let mut answers = std::collections::BTreeMap::new();
    for r in &h.records {
        let Event::Send { env } = &r.event else {
            continue;
        };
        if matches!(env.from, Party::Partner(_))
            && env.request().is_some_and(|q| q.route == "GET /trigger")
        {
            calls.push(env.id);
        }
        if let (Body::Response(resp), Some(c)) = (&env.body, env.cause) {
            answers.insert(c, resp.status);
        }
    }
    calls.iter().map(|id| answers.get(id).copied()).collect()
}

/// The trigger answers P.app's call once F's delivery to P.auth has succeeded (204, out of
/// band), or failed (502/504): the composite must hand the Forge side the responses to its
/// platform calls, or P.app never learns how its delivery went. Plain trigger is the
/// reference.
#[test]
fn trigger_calls_are_answered_through_the_composite() {
    let plain = trigger_call_answers("trigger", &[]);
    assert!(
        !plain.is_empty() && plain.iter().all(|a| *a == Some(204)),
        "{plain:?}"
    );
    let migrated = trigger_call_answers("migration", &PHASED);
    assert!(!migrated.is_empty(), "P never called the trigger");
    assert!(
        migrated.iter().all(|a| *a == Some(204)),
        "trigger calls unanswered or failed through the composite: {migrated:?}"
    );
}
