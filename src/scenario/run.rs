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
use serde::{Deserialize, Serialize};
use tokenlab_models::mechanisms::resolve;
use tokenlab_models::sim::{Summary, run_with};
use tokenlab_properties::suite::judge_all;
use tokenlab_properties::{Property, VerdictKind};

#[derive(clap::Args)]
pub struct RunArgs {
    /// Scenario files (TOML; see `tokenlab scenario --example NAME` and README.md). Every
    /// file is checked before any runs; `--shard` and `--merge` take one file.
    #[arg(required = true, num_args = 1..)]
    pub files: Vec<std::path::PathBuf>,
    #[arg(long)]
    pub json: bool,
    /// Run only slice I of N of the sweep's points and write it to OUT/shards/ (also from a
    /// batch scheduler's environment, as `report` reads it).
    #[arg(long, value_name = "I/N", value_parser = crate::batch::parse_shard)]
    pub shard: Option<(usize, usize)>,
    /// A small report of the scenario in DIR (scenario.md, scenario.html, data/); with a
    /// shard, where the shard is written (default: the current directory).
    #[arg(long, value_name = "DIR")]
    pub out: Option<std::path::PathBuf>,
    /// Print the sweep from the shard files in these directories instead of running it.
    #[arg(long, num_args = 1.., value_name = "DIR")]
    pub merge: Vec<std::path::PathBuf>,
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
    let ps: Vec<Property> = x.properties.iter().map(|(p, _)| *p).collect();
    let verdicts: Vec<VerdictRow> = x
        .properties
        .iter()
        .zip(judge_all(&ps, &r.history, &r.params, s.tenants))
        .map(|((p, expect), v)| {
            VerdictRow {
                property: p.id(),
                name: p.name(),
                verdict: v.kind,
                expected: expect.name(),
                // As in `check`: a "holds" that nothing reached is never a pass.
                matches: expect.matches(v.kind)
                    && (v.kind != tokenlab_properties::VerdictKind::Holds || v.reached > 0),
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

/// One sweep point as the table and `--json` print it; also what a shard file carries, so a
/// merged sweep prints the same bytes as an unsharded one.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PointOut {
    pub index: usize,
    pub values: Vec<(String, String)>,
    pub demands: u64,
    pub success_rate: f64,
    pub lat_p50: Option<f64>,
    pub lat_p99: Option<f64>,
    /// (property, verdict, matches).
    pub verdicts: Vec<(String, String, bool)>,
    pub label: String,
    pub seed_hex: String,
    /// The point's `--json` object.
    pub json: serde_json::Value,
}

fn point_out(index: usize, p: &Point) -> Result<PointOut> {
    #[derive(Serialize)]
    struct JsonPoint<'a> {
        values: std::collections::BTreeMap<&'a str, &'a str>,
        #[serde(flatten)]
        outcome: &'a Outcome,
    }
    let o = execute(&p.experiment)?;
    let json = serde_json::to_value(JsonPoint {
        values: p
            .values
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect(),
        outcome: &o,
    })?;
    Ok(point_from(index, &p.values, &o, json))
}

/// The printable row of an outcome.
fn point_from(
    index: usize,
    values: &[(String, String)],
    o: &Outcome,
    json: serde_json::Value,
) -> PointOut {
    let s = &o.summary;
    PointOut {
        index,
        values: values.to_vec(),
        demands: s.demands,
        success_rate: s.success_rate,
        lat_p50: s.latency_ms.as_ref().map(|l| l.p50),
        lat_p99: s.latency_ms.as_ref().map(|l| l.p99),
        verdicts: o
            .verdicts
            .iter()
            .map(|v| {
                (
                    v.property.to_string(),
                    v.verdict.name().to_string(),
                    v.matches,
                )
            })
            .collect(),
        label: match &s.profile {
            Some(p) => format!("{}:{p}", s.mechanism),
            None => s.mechanism.clone(),
        },
        seed_hex: s.seed_hex.clone(),
        json,
    }
}

/// A slice of a sweep (`run --shard`), tied to the file's exact text.
#[derive(Serialize, Deserialize)]
struct RunShard {
    file_fnv: String,
    points: usize,
    shard: (usize, usize),
    results: Vec<PointOut>,
}

fn file_fnv(path: &std::path::Path) -> Result<String> {
    let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(format!("{:016x}", tokenlab_models::secret::fnv1a(&text)))
}

/// `tokenlab run`: `Ok(false)` when a verdict differs from its expectation.
pub fn run_cmd(a: RunArgs) -> Result<bool> {
    if let [one] = &a.files[..] {
        return run_file(&a, one, load(one)?);
    }
    let n = a.files.len();
    if a.shard.is_some() || !a.merge.is_empty() || a.out.is_some() {
        bail!("--shard, --merge and --out take one scenario file, got {n}");
    }
    if crate::batch::shard(None)?.is_some() {
        bail!("a batch scheduler's shard applies to one scenario file, got {n}");
    }
    // A bad file stops everything before anything runs (exit 2).
    let all: Vec<Loaded> = a.files.iter().map(|f| load(f)).collect::<Result<_>>()?;
    let mut ok = true;
    if a.json {
        let mut runs = Vec::new();
        for (f, l) in a.files.iter().zip(&all) {
            let (good, value) = json_value(l)?;
            ok &= good;
            runs.push(serde_json::json!({ "file": f.display().to_string(), "result": value }));
        }
        println!(
            "{}",
            crate::json_out::to_string(&serde_json::json!({ "runs": runs, "matches": ok }))?
        );
    } else {
        for (i, (f, l)) in a.files.iter().zip(all).enumerate() {
            if i > 0 {
                println!();
            }
            println!("== {}", f.display());
            ok &= run_file(&a, f, l)?;
        }
    }
    Ok(ok)
}

/// One file's result as a JSON value (for several files at once).
fn json_value(l: &Loaded) -> Result<(bool, serde_json::Value)> {
    if l.params.is_empty() {
        let o = execute(&l.points[0].experiment)?;
        return Ok((o.matches, serde_json::to_value(&o)?));
    }
    let points: Vec<PointOut> = l
        .points
        .par_iter()
        .enumerate()
        .map(|(i, p)| point_out(i, p))
        .collect::<Result<_>>()?;
    let ok = points.iter().all(|p| p.verdicts.iter().all(|v| v.2));
    let json: Vec<&serde_json::Value> = points.iter().map(|p| &p.json).collect();
    Ok((
        ok,
        serde_json::json!({ "parameters": l.params, "points": json, "matches": ok }),
    ))
}

fn run_file(a: &RunArgs, path: &std::path::Path, loaded: Loaded) -> Result<bool> {
    let file = path.display().to_string();
    if !a.merge.is_empty() {
        if loaded.params.is_empty() {
            bail!("{file}: no [sweep] to merge");
        }
        let points = read_run_shards(a, path, loaded.points.len())?;
        return print_points(a, path, &loaded, &points);
    }
    let shard = crate::batch::shard(a.shard)?;
    if loaded.params.is_empty() {
        if shard.is_some() {
            bail!(
                "{file}: no [sweep] to shard (--shard, or a batch scheduler's environment: see README.md)"
            );
        }
        let o = execute(&loaded.points[0].experiment)?;
        let json = crate::json_out::to_string(&o)?;
        if let Some(dir) = &a.out {
            let row = point_from(0, &[], &o, serde_json::Value::Null);
            write_report(dir, &file, &loaded, &[], &[row], &json)?;
        }
        if a.json {
            println!("{json}");
        } else {
            crate::print_summary(&o.summary);
            println!();
            for v in &o.verdicts {
                println!("{}", verdict_line(v));
                if let Some(c) = v.counterexample.as_ref().filter(|_| !v.matches) {
                    println!("{c}");
                }
            }
            let total = o.verdicts.len();
            let good = o.verdicts.iter().filter(|v| v.matches).count();
            println!("{}", footer(&file, good, total));
        }
        return Ok(o.matches);
    }
    let n = loaded.points.len();
    let idx: Vec<usize> = match shard {
        Some((i, k)) => (0..n).filter(|x| x % k == i).collect(),
        None => (0..n).collect(),
    };
    let points: Vec<PointOut> = idx
        .par_iter()
        .map(|&i| point_out(i, &loaded.points[i]))
        .collect::<Result<_>>()?;
    if let Some((i, k)) = shard {
        let shard_path = a
            .out
            .clone()
            .unwrap_or_else(|| ".".into())
            .join("shards")
            .join(format!("scenario-shard-{i}-of-{k}.json"));
        let body = RunShard {
            file_fnv: file_fnv(path)?,
            points: n,
            shard: (i, k),
            results: points,
        };
        if let Some(dir) = shard_path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::write(&shard_path, serde_json::to_string(&body)?)
            .with_context(|| format!("writing {}", shard_path.display()))?;
        // A shard's verdicts are judged at the merge, so a scheduler runs the merge.
        eprintln!(
            "shard {i}/{k}: {} of {n} points written to {}",
            body.results.len(),
            shard_path.display()
        );
        return Ok(true);
    }
    print_points(a, path, &loaded, &points)
}

fn write_report(
    dir: &std::path::Path,
    file: &str,
    loaded: &Loaded,
    params: &[String],
    points: &[PointOut],
    json: &str,
) -> Result<()> {
    let first = &loaded.points[0].experiment;
    let steps = first.plan.as_ref().map_or(0, |p| p.steps.len());
    super::report::write(dir, file, &first.scenario, steps, params, points, json)?;
    eprintln!("scenario report written to {}", dir.display());
    Ok(())
}

fn read_run_shards(a: &RunArgs, path: &std::path::Path, n: usize) -> Result<Vec<PointOut>> {
    let want = file_fnv(path)?;
    let files = crate::batch::shard_files(&a.merge, "scenario-shard-");
    if files.is_empty() {
        bail!("no scenario-shard-*.json files in the --merge directories");
    }
    let mut all: Vec<PointOut> = Vec::new();
    for f in files {
        let text =
            std::fs::read_to_string(&f).with_context(|| format!("reading {}", f.display()))?;
        let s: RunShard = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a tokenlab scenario shard", f.display()))?;
        if s.file_fnv != want || s.points != n {
            bail!(
                "{} was run from another version of {} (or another file)",
                f.display(),
                path.display()
            );
        }
        all.extend(s.results);
    }
    all.sort_by_key(|p| p.index);
    all.dedup_by_key(|p| p.index);
    if all.len() != n {
        let have: std::collections::BTreeSet<usize> = all.iter().map(|p| p.index).collect();
        let missing: Vec<String> = (0..n)
            .filter(|i| !have.contains(i))
            .take(5)
            .map(|i| i.to_string())
            .collect();
        bail!(
            "the shards cover {} of {n} sweep points; missing e.g. {}",
            all.len(),
            missing.join(", ")
        );
    }
    Ok(all)
}

/// Prints a sweep (table or JSON) from its points, sharded or not.
fn print_points(
    a: &RunArgs,
    path: &std::path::Path,
    loaded: &Loaded,
    points: &[PointOut],
) -> Result<bool> {
    let params = &loaded.params;
    let ok = points.iter().all(|p| p.verdicts.iter().all(|v| v.2));
    let values: Vec<&serde_json::Value> = points.iter().map(|p| &p.json).collect();
    let json = crate::json_out::to_string(&serde_json::json!({
        "parameters": params,
        "points": values,
        "matches": ok,
    }))?;
    if let Some(dir) = &a.out {
        write_report(
            dir,
            &path.display().to_string(),
            loaded,
            params,
            points,
            &json,
        )?;
    }
    if a.json {
        println!("{json}");
    } else {
        print_sweep(params, points);
        let total: usize = points.iter().map(|p| p.verdicts.len()).sum();
        let good: usize = points
            .iter()
            .map(|p| p.verdicts.iter().filter(|v| v.2).count())
            .sum();
        println!("{}", footer(&path.display().to_string(), good, total));
    }
    Ok(ok)
}

fn footer(file: &str, good: usize, total: usize) -> String {
    if total == 0 {
        format!("{file}: no properties named; nothing judged")
    } else {
        format!("{file}: {good} of {total} verdicts as expected")
    }
}

fn print_sweep(params: &[String], points: &[PointOut]) {
    let props: Vec<&str> = points[0].verdicts.iter().map(|v| v.0.as_str()).collect();
    let widths: Vec<usize> = params
        .iter()
        .enumerate()
        .map(|(i, name)| {
            points
                .iter()
                .map(|p| p.values[i].1.len())
                .chain([name.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut head = String::new();
    for (name, w) in params.iter().zip(&widths) {
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
    for p in points {
        let mut line = String::new();
        for ((_, v), w) in p.values.iter().zip(&widths) {
            line.push_str(&format!("{v:<w$}  "));
        }
        line.push_str(&format!(
            "{:>7} {:>8.4} {:>9} {:>9}",
            p.demands,
            p.success_rate,
            crate::fmt_opt(p.lat_p50),
            crate::fmt_opt(p.lat_p99),
        ));
        for (_, verdict, matches) in &p.verdicts {
            let cell = if *matches {
                verdict.clone()
            } else {
                format!("{verdict}!")
            };
            line.push_str(&format!(" {cell:>10}"));
        }
        println!("{line}");
    }
    println!(
        "{} · seed {} · {} points; latencies in ms of virtual time; '!' = not the expected verdict",
        points[0].label,
        points[0].seed_hex,
        points.len()
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
