//! Exploration (`threats.md` §7): the search finds what sampling misses, deterministically.
//!
//! - F-grace: refresh and upm-oauth P4 are violated at the default 30 s grace window (5 s in
//!   the small world), at every seed; `grace_reply=rotate` is still violated; no grace window
//!   and a sender constraint hold, with the small world exhausted.
//! - A planted bug that fires only when two presentations of one RT family arrive within 1 ms
//!   is found by the exhaustive search at every seed and missed by a fixed set of random runs
//!   (`planted_race.rs`: under a second, so it is in the mutants' fast set).
//! - The push retry-after-uninstall race is found; its control holds.
//! - A counterexample's choice string replays to the same violation; another version is refused.

use tokenlab_models::choice::ChoiceString;
use tokenlab_properties::VerdictKind;
use tokenlab_properties::explore::{Search, Strategy, explore, replay};

mod common;
use common::{exhaustive, row};

#[test]
fn f_grace_is_found_at_every_seed_and_replays() {
    for mechanism in ["refresh", "upm-oauth"] {
        let e = row(mechanism, "P4");
        assert_eq!(e.expected, VerdictKind::Violated, "the spec's F-grace row");
        for seed in 1..=5 {
            let x = explore(&e, &exhaustive(seed)).unwrap();
            assert_eq!(x.verdict, VerdictKind::Violated, "{mechanism} seed {seed}");
            let c = x.counterexample.expect("a counterexample");
            assert!(c.unusual <= 1, "fewest non-default choices first");
            let cs: ChoiceString = c.choices.parse().unwrap();
            let replayed = replay(&cs).unwrap();
            assert_eq!(
                replayed.verdict.kind,
                VerdictKind::Violated,
                "{} replays",
                c.choices
            );
        }
    }
}

#[test]
fn rotating_on_a_grace_retry_leaves_the_victim_first_ordering() {
    for mechanism in [
        "refresh[grace_reply=rotate]",
        "upm-oauth[grace_reply=rotate]",
    ] {
        let e = row(mechanism, "P4");
        assert_eq!(e.expected, VerdictKind::Violated);
        for seed in 1..=2 {
            let x = explore(&e, &exhaustive(seed)).unwrap();
            assert_eq!(x.verdict, VerdictKind::Violated, "{mechanism} seed {seed}");
        }
    }
}

#[test]
fn no_grace_window_and_a_sender_constraint_hold_exhaustively() {
    for mechanism in ["refresh[grace_window=0]", "refresh[sender_constraint=dpop]"] {
        let e = row(mechanism, "P4");
        assert_eq!(e.expected, VerdictKind::Holds);
        let x = explore(&e, &exhaustive(1)).unwrap();
        assert_eq!(x.verdict, VerdictKind::Holds, "{mechanism}");
        assert!(x.exhausted, "{mechanism}: {} runs", x.runs);
        assert!(x.reached > 0, "{mechanism}: the theft reached the AS");
        assert!(x.runs > 100, "{mechanism}: the search ran its tree");
    }
}

#[test]
fn the_push_retry_race_is_found_and_its_control_holds() {
    let race = row("push[recheck_install=off]", "P3");
    for seed in 1..=3 {
        let x = explore(&race, &exhaustive(seed)).unwrap();
        assert_eq!(x.verdict, VerdictKind::Violated, "seed {seed}");
        let trace = x.counterexample.unwrap().trace.join("\n");
        assert!(
            trace.contains("uninstall") || trace.contains("Uninstall"),
            "{trace}"
        );
    }
    let control = explore(&row("push", "P3"), &{
        let mut s = exhaustive(1);
        s.budget = 150;
        s
    })
    .unwrap();
    assert_eq!(control.verdict, VerdictKind::Holds);
    assert!(control.reached > 0);
}

#[test]
fn choice_strings_of_another_version_or_world_are_refused() {
    let old = "tl0/refresh/P4/small/1/0=3".parse::<ChoiceString>();
    assert!(old.unwrap_err().to_string().contains("not supported"));
    // A string that names an alternative the run does not offer.
    let cs: ChoiceString = "tl1/refresh/P4/small/1/0=60000".parse().unwrap();
    let err = replay(&cs).unwrap_err();
    assert!(err.contains("does not fit"), "{err}");
    let cs: ChoiceString = "tl1/refresh/P4/small.7/1/-".parse().unwrap();
    assert!(replay(&cs).unwrap_err().contains("run 7"));
}

#[test]
fn pct_places_exactly_k_unusual_choices() {
    let e = row("refresh[grace_window=0]", "P4");
    let x = explore(
        &e,
        &Search {
            strategy: Strategy::Pct,
            seed: 3,
            max_unusual: 2,
            budget: 30,
        },
    )
    .unwrap();
    assert_eq!(x.runs, 30);
    assert!(x.distinct_histories > 1, "biased runs differ");
    assert!(!x.exhausted);
}
