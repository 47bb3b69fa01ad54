//! `tokenlab explore`: one row of `expectations.md` searched on its small world through the
//! choice source (exhaustive within K non-default choices, PCT-biased, or random), with a
//! replayable counterexample. The search lives in `tokenlab_properties::explore`.

use anyhow::{Result, bail};
use clap::Args;
use std::time::Instant;
use tokenlab_models::mechanisms::{Reference, resolve};
use tokenlab_properties::Property;
use tokenlab_properties::VerdictKind;
use tokenlab_properties::explore::{Search, Strategy, explore};
use tokenlab_properties::suite::{Expectation, expectations};

#[derive(Args)]
pub struct ExploreArgs {
    /// ID[:PROFILE][switches], e.g. `refresh`, `refresh[grace_reply=rotate]`.
    #[arg(long)]
    pub mechanism: String,
    /// P1..P12.
    #[arg(long)]
    pub property: String,
    /// Seeds the random and PCT strategies and the draws the search does not enumerate
    /// (decimal or 0x-hex).
    #[arg(long, default_value = "1", value_parser = crate::parse_seed)]
    pub seed: u64,
    /// K: at most this many non-default choices per run (PCT: exactly this many).
    #[arg(long, default_value_t = 1)]
    pub max_unusual: u32,
    /// At most this many runs.
    #[arg(long, default_value_t = 20_000)]
    pub budget: u64,
    /// exhaustive, pct or random.
    #[arg(long, default_value = "exhaustive")]
    pub strategy: String,
    #[arg(long)]
    pub json: bool,
}

/// The row to explore: the `expectations.md` row when one exists, else an ad-hoc one.
pub(crate) fn row_of(
    mechanism: &str,
    property: Property,
) -> Result<(Expectation, Option<VerdictKind>)> {
    let reference = Reference::parse(mechanism)?;
    resolve(mechanism, &[])?;
    if let Some(e) = expectations().into_iter().find(|e| {
        e.property == property
            && e.mechanism == reference.id
            && reference.profile.is_none()
            && e.sets == reference.sets
    }) {
        let expected = e.expected;
        return Ok((e, Some(expected)));
    }
    Ok((Expectation::unlisted(mechanism, reference, property), None))
}

/// Exit: `Ok(true)` when the verdict matches the expectation (or no row exists).
pub fn explore_cmd(a: ExploreArgs) -> Result<bool> {
    let property: Property = a.property.parse()?;
    let strategy: Strategy = a.strategy.parse().map_err(anyhow::Error::msg)?;
    if a.max_unusual > 8 {
        bail!("--max-unusual must be at most 8, got {}", a.max_unusual);
    }
    if a.budget == 0 {
        bail!("--budget must be at least 1");
    }
    let (row, expected) = row_of(&a.mechanism, property)?;
    let search = Search {
        strategy,
        seed: a.seed,
        max_unusual: a.max_unusual,
        budget: a.budget,
    };
    // Wall time for runs/s only (a measurement printed, never a result of the search).
    #[allow(clippy::disallowed_methods)]
    let started = Instant::now();
    let x = explore(&row, &search).map_err(anyhow::Error::msg)?;
    let secs = started.elapsed().as_secs_f64();
    let runs_per_s = if secs > 0.0 {
        x.runs as f64 / secs
    } else {
        0.0
    };
    let vacuous = x.reached == 0 && matches!(x.verdict, VerdictKind::Holds | VerdictKind::Violated);
    let ok = !vacuous && expected.is_none_or(|e| e == x.verdict);
    if a.json {
        let mut v = serde_json::to_value(&x)?;
        v["runs_per_s"] = serde_json::json!((runs_per_s * 10.0).round() / 10.0);
        v["expected"] = serde_json::json!(expected.map(|k| k.name()));
        v["matches"] = serde_json::json!(ok);
        println!("{}", crate::json_out::to_string(&v)?);
    } else {
        println!(
            "{} {}: {} ({} runs, {} distinct histories, {:.0} runs/s, reached {})",
            x.row,
            x.property,
            x.verdict.name(),
            x.runs,
            x.distinct_histories,
            runs_per_s,
            x.reached
        );
        match strategy {
            Strategy::Exhaustive => println!(
                "exhaustive over the small world, at most {} non-default choice(s): {}",
                x.max_unusual,
                if x.exhausted {
                    "the tree was exhausted within the bound".to_string()
                } else if x.counterexample.is_some() {
                    "stopped at the first counterexample".to_string()
                } else {
                    format!(
                        "the budget ({} runs) ran out before the tree was exhausted",
                        a.budget
                    )
                }
            ),
            Strategy::Pct => println!(
                "PCT: {} runs with {} non-default choice(s) each at random positions",
                x.runs, x.max_unusual
            ),
            Strategy::Random => println!("random: {} seeded runs", x.runs),
        }
        println!("choice points in the baseline run: {}", x.choice_points);
        if let Some(c) = &x.counterexample {
            println!(
                "counterexample ({} non-default choice(s)); replay: tokenlab replay --choices '{}'",
                c.unusual, c.choices
            );
            for line in &c.trace {
                println!("  {line}");
            }
        }
        match expected {
            Some(e) if ok => println!("matches expectations.md ({})", e.name()),
            Some(e) => println!("MISMATCH: expectations.md says {}", e.name()),
            None => println!("no row in expectations.md"),
        }
        if vacuous {
            println!("vacuous: the antecedent never fired");
        }
    }
    Ok(ok)
}
