//! `tokenlab run FILE` and `tokenlab scenario --example NAME`. A run judges the file's
//! properties through `Property::check` (via the suites' `judge`, as `check` and `replay` do);
//! the exit code is 0 when every verdict matches its expectation, 1 when one does not, and 2
//! (from `main`) on a bad file.

use super::examples::EXAMPLES;
use super::locate::{FileError, Path, at_path, from_toml};
use super::sweep::{self, Point};
use super::{Experiment, build, file::ScenarioFile};
use anyhow::{Context, Result, bail};
use rayon::prelude::*;
use serde::Serialize;
use tokenlab_models::mechanisms::resolve;
use tokenlab_models::sim::{Summary, run_with};
use tokenlab_properties::VerdictKind;
use tokenlab_properties::suite::judge;

#[derive(clap::Args)]
pub struct RunArgs {
    /// A scenario file (TOML; see `tokenlab scenario --example NAME` and README.md).
    pub file: std::path::PathBuf,
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args)]
pub struct ScenarioArgs {
    /// Print this commented example (without a name: list them).
    #[arg(long, value_name = "NAME", num_args = 0..=1, default_missing_value = "")]
    pub example: Option<String>,
}

/// One property's verdict beside what the file expected.
#[derive(Clone, Debug, Serialize)]
pub struct VerdictRow {
    pub property: &'static str,
    pub name: &'static str,
    pub verdict: VerdictKind,
    pub expected: &'static str,
    pub matches: bool,
    pub reached: u64,
    pub counterexample: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    pub summary: Summary,
    pub verdicts: Vec<VerdictRow>,
    pub matches: bool,
}

/// A loaded file: one experiment, or the points of its sweep.
pub struct Loaded {
    pub params: Vec<String>,
    pub points: Vec<Point>,
}

/// Reads, parses and checks a scenario file; every problem with the file is a [`FileError`].
pub fn load(path: &std::path::Path) -> Result<Loaded> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {name}"))?;
    Ok(load_text(&name, &text)?)
}

pub fn load_text(name: &str, text: &str) -> Result<Loaded, FileError> {
    let err = |p: &Path, m: String| at_path(name, text, p, m);
    let parsed: ScenarioFile = toml::from_str(text).map_err(|e| from_toml(name, text, &e))?;
    let base = build(&parsed, &err)?;
    let Some(sw) = &parsed.sweep else {
        return Ok(Loaded {
            params: Vec::new(),
            points: vec![Point {
                values: Vec::new(),
                experiment: base,
            }],
        });
    };
    let params = sweep::params(sw, &err)?;
    let raw: toml::Table = toml::from_str(text).map_err(|e| from_toml(name, text, &e))?;
    let points = sweep::points(&raw, &params, &err)?;
    Ok(Loaded {
        params: params.into_iter().map(|p| p.name).collect(),
        points,
    })
}

/// Runs one experiment and judges its properties.
pub fn execute(x: &Experiment) -> Result<Outcome> {
    let s = &x.scenario;
    let (m, profile, params) = resolve(&s.mechanism, &s.sets)?;
    let r = run_with(s, m, profile, params, x.plan.as_ref());
    let verdicts: Vec<VerdictRow> = x
        .properties
        .iter()
        .map(|(p, expect)| {
            let v = judge(*p, &r.history, &r.params, s.tenants);
            VerdictRow {
                property: p.id(),
                name: p.name(),
                verdict: v.kind,
                expected: expect.name(),
                matches: expect.matches(v.kind),
                reached: v.reached,
                counterexample: v.counterexample,
            }
        })
        .collect();
    let matches = verdicts.iter().all(|v| v.matches);
    Ok(Outcome {
        summary: r.summary,
        verdicts,
        matches,
    })
}

fn verdict_line(v: &VerdictRow) -> String {
    format!(
        "{:<4} {:<40} {:<10} expected {:<10} reached {:>6}{}{}",
        v.property,
        v.name,
        v.verdict.name(),
        v.expected,
        v.reached,
        if v.reached == 0 && v.verdict != VerdictKind::Violated {
            "  (vacuous: nothing reached it)"
        } else {
            ""
        },
        if v.matches { "" } else { "  <-- MISMATCH" },
    )
}

/// `tokenlab run`: `Ok(false)` when a verdict differs from its expectation.
pub fn run_cmd(a: RunArgs) -> Result<bool> {
    let loaded = load(&a.file)?;
    let outcomes: Vec<Outcome> = loaded
        .points
        .par_iter()
        .map(|p| execute(&p.experiment))
        .collect::<Result<_>>()?;
    let ok = outcomes.iter().all(|o| o.matches);
    let file = a.file.display().to_string();
    if loaded.params.is_empty() {
        let o = &outcomes[0];
        if a.json {
            println!("{}", serde_json::to_string_pretty(o)?);
        } else {
            crate::print_summary(&o.summary);
            println!();
            for v in &o.verdicts {
                println!("{}", verdict_line(v));
                if let Some(c) = v.counterexample.as_ref().filter(|_| !v.matches) {
                    println!("{c}");
                }
            }
            println!("{}", footer(&file, &outcomes));
        }
    } else if a.json {
        #[derive(Serialize)]
        struct JsonPoint<'a> {
            values: std::collections::BTreeMap<&'a str, &'a str>,
            #[serde(flatten)]
            outcome: &'a Outcome,
        }
        let points: Vec<JsonPoint> = loaded
            .points
            .iter()
            .zip(&outcomes)
            .map(|(p, o)| JsonPoint {
                values: p
                    .values
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect(),
                outcome: o,
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "parameters": loaded.params,
                "points": points,
                "matches": ok,
            }))?
        );
    } else {
        print_sweep(&loaded, &outcomes);
        println!("{}", footer(&file, &outcomes));
    }
    Ok(ok)
}

fn footer(file: &str, outcomes: &[Outcome]) -> String {
    let total: usize = outcomes.iter().map(|o| o.verdicts.len()).sum();
    let good: usize = outcomes
        .iter()
        .map(|o| o.verdicts.iter().filter(|v| v.matches).count())
        .sum();
    if total == 0 {
        format!("{file}: no properties named; nothing judged")
    } else {
        format!("{file}: {good} of {total} verdicts as expected")
    }
}

fn print_sweep(loaded: &Loaded, outcomes: &[Outcome]) {
    let props: Vec<&str> = outcomes[0].verdicts.iter().map(|v| v.property).collect();
    let widths: Vec<usize> = loaded
        .params
        .iter()
        .enumerate()
        .map(|(i, name)| {
            loaded
                .points
                .iter()
                .map(|p| p.values[i].1.len())
                .chain([name.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut head = String::new();
    for (name, w) in loaded.params.iter().zip(&widths) {
        head.push_str(&format!("{name:<w$}  "));
    }
    head.push_str(&format!(
        "{:>7} {:>8} {:>9} {:>9}",
        "demands", "success", "lat_p50", "lat_p99"
    ));
    for p in &props {
        head.push_str(&format!(" {p:>10}"));
    }
    println!("{head}");
    for (p, o) in loaded.points.iter().zip(outcomes) {
        let mut line = String::new();
        for ((_, v), w) in p.values.iter().zip(&widths) {
            line.push_str(&format!("{v:<w$}  "));
        }
        let s = &o.summary;
        line.push_str(&format!(
            "{:>7} {:>8.4} {:>9} {:>9}",
            s.demands,
            s.success_rate,
            crate::fmt_opt(s.latency_ms.as_ref().map(|l| l.p50)),
            crate::fmt_opt(s.latency_ms.as_ref().map(|l| l.p99)),
        ));
        for v in &o.verdicts {
            let cell = if v.matches {
                v.verdict.name().to_string()
            } else {
                format!("{}!", v.verdict.name())
            };
            line.push_str(&format!(" {cell:>10}"));
        }
        println!("{line}");
    }
    let s = &outcomes[0].summary;
    println!(
        "{} · seed {} · {} points; latencies in ms of virtual time; '!' = not the expected verdict",
        match &s.profile {
            Some(p) => format!("{}:{p}", s.mechanism),
            None => s.mechanism.clone(),
        },
        s.seed_hex,
        outcomes.len()
    );
}

/// `tokenlab scenario --example NAME`.
pub fn scenario_cmd(a: ScenarioArgs) -> Result<()> {
    match a.example.as_deref() {
        Some(name) if !name.is_empty() => {
            let Some((_, text)) = EXAMPLES.iter().find(|(n, _)| *n == name) else {
                bail!(
                    "--example: no example '{name}'; known: {}",
                    EXAMPLES
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            };
            print!("{text}");
        }
        _ => {
            for (n, text) in EXAMPLES {
                let title = text
                    .lines()
                    .next()
                    .unwrap_or("")
                    .trim_start_matches('#')
                    .trim();
                println!("{n:<24} {title}");
            }
            println!("print one with: tokenlab scenario --example NAME > my.toml");
        }
    }
    Ok(())
}
