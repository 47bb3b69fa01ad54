//! `tokenlab check`, `tokenlab attack` and `tokenlab replay`: the security matrix, what one
//! stolen credential buys, and the replay of a saved counterexample. The work is done by
//! `tokenlab-properties`; this module parses flags and prints.

use anyhow::{Result, bail};
use clap::Args;
use tokenlab_properties::suite::{MatrixRow, expectations, run_row};

#[derive(Args)]
pub struct CheckArgs {
    /// Seeds per row.
    #[arg(long, default_value_t = 1)]
    pub cases: u32,
    /// Base seed (decimal or 0x-hex); TOKENLAB_SEED overrides the default.
    #[arg(long, env = "TOKENLAB_SEED", default_value = "1", value_parser = crate::parse_seed)]
    pub seed: u64,
    /// Only rows whose mechanism cell (e.g. `trigger`, `refresh[reuse_detection=off]`) or
    /// property equals this; repeatable.
    #[arg(long = "only")]
    pub only: Vec<String>,
    #[arg(long)]
    pub json: bool,
}

fn verdict_cell(r: &MatrixRow) -> String {
    let v = r.verdict.name();
    if r.matches {
        v.to_string()
    } else if r.verdict == r.expected {
        format!("{v} (vacuous: nothing reached it)")
    } else {
        format!("{v} (expected {})", r.expected.name())
    }
}

pub fn check(a: CheckArgs) -> Result<bool> {
    if a.cases == 0 || a.cases > 1000 {
        bail!("--cases must be between 1 and 1000, got {}", a.cases);
    }
    let rows: Vec<_> = expectations()
        .into_iter()
        .filter(|e| a.only.is_empty() || a.only.iter().any(|o| *o == e.row || *o == e.property))
        .collect();
    if rows.is_empty() {
        bail!("--only matched no row of expectations.md");
    }
    let matrix: Vec<MatrixRow> = rows.iter().map(|e| run_row(e, a.cases, a.seed)).collect();
    let bad: Vec<String> = matrix
        .iter()
        .filter(|r| !r.matches)
        .map(|r| {
            let m = match &r.variant {
                Some(v) => format!("{}[{v}]", r.mechanism),
                None => r.mechanism.clone(),
            };
            format!("{m} {}: {}", r.property, verdict_cell(r))
        })
        .collect();
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "matrix": matrix }))?
        );
    } else {
        println!(
            "{:<62} {:<4} {:<11} {:>8}  name",
            "mechanism", "prop", "verdict", "reached"
        );
        for r in &matrix {
            let m = match &r.variant {
                Some(v) => format!("{}[{v}]", r.mechanism),
                None => r.mechanism.clone(),
            };
            println!(
                "{:<62} {:<4} {:<11} {:>8}  {}{}",
                m,
                r.property,
                r.verdict.name(),
                r.reached,
                r.name,
                if r.matches {
                    String::new()
                } else {
                    format!("  <-- MISMATCH: {}", verdict_cell(r))
                }
            );
        }
        for r in matrix.iter().filter(|r| r.verdict.name() == "violated") {
            if let Some(c) = &r.counterexample {
                let m = match &r.variant {
                    Some(v) => format!("{}[{v}]", r.mechanism),
                    None => r.mechanism.clone(),
                };
                println!("\n{m} {} counterexample:\n{c}", r.property);
            }
        }
        println!(
            "\n{} rows, {} match expectations.md; seed {:#x}, {} case(s) per row. Bounded, seeded model testing: evidence, not a proof.",
            matrix.len(),
            matrix.len() - bad.len(),
            a.seed,
            a.cases
        );
    }
    if !bad.is_empty() {
        eprintln!(
            "tokenlab check: {} row(s) differ from expectations.md:",
            bad.len()
        );
        for b in &bad {
            eprintln!("  {b}");
        }
    }
    Ok(bad.is_empty())
}
