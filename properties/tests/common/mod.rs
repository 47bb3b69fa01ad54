//! Helpers shared by the exploration tests (`explore.rs`, `planted_race.rs`).

use tokenlab_properties::explore::{Search, Strategy};
use tokenlab_properties::suite::{Expectation, expectations};

/// The row of `expectations.md` for `mechanism` (with its variant) and `property`, or an
/// ad-hoc one expected to hold.
pub fn row(mechanism: &str, property: &str) -> Expectation {
    let reference = tokenlab_models::mechanisms::Reference::parse(mechanism).unwrap();
    let property = property.parse().unwrap();
    expectations()
        .into_iter()
        .find(|e| e.property == property && e.mechanism == reference.id && e.sets == reference.sets)
        .unwrap_or_else(|| Expectation::unlisted(mechanism, reference, property))
}

/// The exhaustive search at `seed`: at most one non-default choice, 5,000 runs.
pub fn exhaustive(seed: u64) -> Search {
    Search {
        strategy: Strategy::Exhaustive,
        seed,
        max_unusual: 1,
        budget: 5_000,
    }
}
