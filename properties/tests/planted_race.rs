//! The exploration's planted bug (`threats.md` §7): an AS that takes a superseded RT presented
//! within 1 ms of its family's last presentation for a retry is found by the exhaustive search
//! at every seed and missed by a fixed set of random runs; without the bug the same search
//! holds. Split from `explore.rs` so that it runs in the mutants' fast set (under a second):
//! every mutant of the planted window (`<` → `<=`, `==`, `>`, `-` → `+`, `/`, the guard's
//! `&&` → `||`) makes it fail or is that window's boundary.

use tokenlab_properties::VerdictKind;
use tokenlab_properties::explore::{Search, Strategy, explore};

mod common;
use common::{exhaustive, row};

/// The planted bug: an AS that takes a superseded RT presented within 1 ms of the family's
/// last presentation for a retry. Only an attacker placed inside a request's in-flight window
/// triggers it.
#[test]
fn the_search_finds_a_planted_1ms_race_that_random_runs_miss() {
    let planted = row("refresh[grace_window=0,planted_race=on]", "P4");
    for seed in 1..=3 {
        let x = explore(&planted, &exhaustive(seed)).unwrap();
        assert_eq!(x.verdict, VerdictKind::Violated, "seed {seed}");
    }
    let random = Search {
        strategy: Strategy::Random,
        seed: 1,
        max_unusual: 0,
        budget: 20,
    };
    let r = explore(&planted, &random).unwrap();
    assert_eq!(r.runs, 20);
    assert!(r.reached > 0, "the random runs reached the AS");
    assert_eq!(
        r.verdict,
        VerdictKind::Holds,
        "20 random runs at seeds 1..20 do not place the thief within 1 ms"
    );
    // The control: without the planted bug the same search holds.
    let control = explore(&row("refresh[grace_window=0]", "P4"), &exhaustive(1)).unwrap();
    assert_eq!(control.verdict, VerdictKind::Holds);
}
