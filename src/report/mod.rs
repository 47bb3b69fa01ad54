//! `tokenlab report`: runs the sweep of `experiments`, judges each hypothesis of
//! `hypotheses.md` by a stated rule over its data, draws the figures and writes
//! `rfc34-evidence.md`, `rfc34-evidence.html` and `data/*.json`. The simulated sections are a
//! pure function of (seed, quick) and the point results, so a sharded run merged later renders
//! byte-identically to an unsharded one.
//!
//! Data flows one way, and no module below imports one above it:
//!
//! ```text
//! experiments ─► results ─┐   security (matrix, attacks)   loopback (real HTTP)   traces
//!                         ▼            │                           │                 │
//!   analytic ─► analysis ◄── rules ◄───┴───────────────────────────┘                 │
//!                  │ sections                                                        │
//!                  ▼                                                                 ▼
//!      document (+ scorecard) ─► render (markdown, HTML, files) ◄── charts ◄── figures
//! ```
//!
//! `modelled` (what the registries say is modelled) feeds `document` and `analysis`.
//! `section` (the one section model) and `stats` depend on nothing else here; this file only
//! runs the phases in order ([`publish`]).

pub mod analysis;
pub mod analytic;
pub mod breadth;
pub mod charts;
pub mod document;
pub mod evidence;
pub mod experiments;
pub mod figures;
pub mod key_rollover;
pub mod loopback;
pub mod migration;
pub mod modelled;
pub mod principals;
pub mod quota;
pub mod real_servers;
pub mod render;
pub mod results;
pub mod rules;
pub mod scorecard;
pub mod section;
pub mod security;
pub mod sensitivity;
pub mod stats;
pub mod summary;
pub mod traces;

use anyhow::{Context, Result, bail};
use experiments::{Config, PointSpec, points, run_point};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use render::write_file as write;
use results::{PointResult, Results, ShardFile};
use std::path::PathBuf;

/// Options of `tokenlab report`.
#[derive(clap::Args, Clone, Debug)]
pub struct ReportArgs {
    /// Smaller samples (for CI: under a minute); intervals are wider and say so.
    #[arg(long)]
    pub quick: bool,
    /// A miniature sweep (a handful of tenants per point) for testing the pipeline itself.
    #[arg(long, hide = true)]
    pub tiny: bool,
    /// Seed of every run (decimal or 0x-hex).
    #[arg(long, default_value = "1", value_parser = crate::parse_seed)]
    pub seed: u64,
    /// Output directory.
    #[arg(long, default_value = "reports")]
    pub out: PathBuf,
    /// Run only slice I of N of the sweep points (0-based) and write it to OUT/shards/.
    /// Without it: TOKENLAB_SHARD=I/N, JOB_COMPLETION_INDEX with TOKENLAB_SHARDS=N, or
    /// SLURM_ARRAY_TASK_ID − SLURM_ARRAY_TASK_MIN of SLURM_ARRAY_TASK_COUNT.
    #[arg(long, value_name = "I/N", value_parser = crate::batch::parse_shard)]
    pub shard: Option<(usize, usize)>,
    /// Render from shard files found in these directories instead of running.
    #[arg(long, num_args = 1.., value_name = "DIR")]
    pub merge: Vec<PathBuf>,
    /// Skip the loopback (real-network) section.
    #[arg(long)]
    pub no_loopback: bool,
    /// Skip the loopback section's PostgreSQL experiment (it runs when the server binaries
    /// are installed: a primary and hot standby of its own, removed afterwards).
    #[arg(long)]
    pub no_postgres: bool,
    /// Run only the points of one experiment and print their metrics as JSON.
    #[arg(long, value_name = "EXPERIMENT")]
    pub only: Option<String>,
}

/// Runs `indices` of the sweep in parallel (each run single-threaded and seeded) with a
/// progress bar on stderr.
fn run_points(cfg: &Config, specs: &[PointSpec], indices: &[usize]) -> Result<Vec<PointResult>> {
    let bar = ProgressBar::new(indices.len() as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} sweep points ({eta} left) {msg}",
        )
        .expect("static template"),
    );
    let out: Result<Vec<PointResult>, String> = indices
        .par_iter()
        .map(|&i| {
            let spec = &specs[i];
            let m = run_point(spec, cfg.seed)?;
            bar.inc(1);
            Ok(PointResult {
                index: i,
                key: spec.key.clone(),
                experiment: spec.experiment.clone(),
                metrics: m,
            })
        })
        .collect();
    bar.finish_and_clear();
    out.map_err(|e| anyhow::anyhow!("a sweep point failed: {e}"))
}

fn assemble(cfg: Config, specs: Vec<PointSpec>, mut results: Vec<PointResult>) -> Result<Results> {
    results.sort_by_key(|r| r.index);
    results.dedup_by_key(|r| r.index);
    if results.len() != specs.len() {
        let have: std::collections::BTreeSet<usize> = results.iter().map(|r| r.index).collect();
        let missing: Vec<String> = (0..specs.len())
            .filter(|i| !have.contains(i))
            .take(5)
            .map(|i| format!("{i} ({})", specs[i].key))
            .collect();
        bail!(
            "the shards cover {} of {} sweep points; missing e.g. {}",
            results.len(),
            specs.len(),
            missing.join(", ")
        );
    }
    let mut points = Vec::with_capacity(specs.len());
    for (spec, r) in specs.into_iter().zip(results) {
        if spec.key != r.key {
            bail!(
                "shard result {} is '{}' but the sweep expects '{}': shards from another version?",
                r.index,
                r.key,
                spec.key
            );
        }
        points.push((spec, r.metrics));
    }
    Ok(Results {
        config: cfg,
        points,
    })
}

fn read_shards(dirs: &[PathBuf]) -> Result<(Config, Vec<PointResult>)> {
    let files = crate::batch::shard_files(dirs, "shard-");
    if files.is_empty() {
        bail!(
            "no shard-*.json files in {}",
            dirs.iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let mut cfg: Option<Config> = None;
    let mut all = Vec::new();
    for f in files {
        let text =
            std::fs::read_to_string(&f).with_context(|| format!("reading {}", f.display()))?;
        let s: ShardFile = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a tokenlab shard file", f.display()))?;
        match cfg {
            None => cfg = Some(s.config),
            Some(c) if c != s.config => bail!(
                "{} was run with {:?}, the other shards with {:?}",
                f.display(),
                s.config,
                c
            ),
            _ => {}
        }
        all.extend(s.results);
    }
    Ok((cfg.expect("at least one file"), all))
}

/// The loopback measurements, unless skipped (`--no-loopback`, or `--tiny`, which tests the
/// pipeline and must not depend on wall-clock timing).
fn loopback_data(a: &ReportArgs, cfg: &Config) -> Result<loopback::LoopbackData, String> {
    if a.no_loopback || cfg.tiny {
        return Err("skipped (--no-loopback or --tiny)".into());
    }
    let pg = if a.no_postgres {
        loopback::PgPlan::Skip("skipped (--no-postgres)".into())
    } else if !tokenlab::store_pg::cluster::available() {
        loopback::PgPlan::Skip(
            "the PostgreSQL server binaries were not found; install them with `apt-get install postgresql` and rerun to add this experiment".into(),
        )
    } else if cfg.quick {
        loopback::PgPlan::Run {
            delays_ms: loopback::PG_DELAYS_QUICK_MS.to_vec(),
            demands: 60,
        }
    } else {
        loopback::PgPlan::Run {
            delays_ms: loopback::PG_DELAYS_MS.to_vec(),
            demands: 150,
        }
    };
    eprintln!(
        "loopback: calibration and stock-client runs on 127.0.0.1 (about 20 s){}…",
        if matches!(pg, loopback::PgPlan::Run { .. }) {
            ", then read-after-write on a PostgreSQL primary and hot standby (about 40 s)"
        } else {
            ""
        }
    );
    loopback::compute(if cfg.quick { 7 } else { 15 }, pg)
}

/// Everything after the sweep, in order: the security runs and the traces (seeded and
/// deterministic, so a merged run recomputes the same bytes), the sections and their verdicts,
/// the scorecard, the document, the figures; then the writer renders what it is handed.
fn publish(
    dir: &std::path::Path,
    res: &Results,
    loopback: Result<loopback::LoopbackData, String>,
) -> Result<()> {
    let cfg = &res.config;
    let budget = if cfg.quick || cfg.tiny {
        tokenlab_properties::suite::CheckBudget::QUICK
    } else {
        tokenlab_properties::suite::CheckBudget::REPORT
    };
    let sec = security::compute(
        cfg.seed,
        budget,
        cfg.tiny.then_some(&["trigger", "tenant-secret"][..]),
    );
    let traces = traces::cold_paths(cfg.seed)?;
    let hypotheses = analysis::sections(res, Some(&sec));
    let score = scorecard::scorecard(res, &sec);
    let page_one = summary::summaries(res, &sec);
    let doc = document::build(res, &hypotheses, &score, &page_one, &loopback);
    let mut drawn = charts::draw(res, &sec, &traces)?;
    if let Ok(l) = &loopback {
        drawn.figures.extend(loopback::figures(l)?);
    }
    render::write_report(
        dir,
        &doc,
        &traces,
        &drawn,
        &render::DataFiles {
            results: res,
            hypotheses: &hypotheses,
            security: &sec,
            scorecard: &score,
            summary: &page_one,
            loopback: loopback.as_ref().ok(),
        },
    )
}

pub fn run(a: &ReportArgs) -> Result<()> {
    // Wall time is only printed to stderr, never written into the report.
    #[allow(clippy::disallowed_methods)]
    let started = std::time::Instant::now();
    if !a.merge.is_empty() {
        let (cfg, results) = read_shards(&a.merge)?;
        let specs = points(&cfg);
        let res = assemble(cfg, specs, results)?;
        publish(&a.out, &res, loopback_data(a, &cfg))?;
        eprintln!(
            "merged {} sweep points into {} in {:.1} s",
            res.points.len(),
            a.out.display(),
            started.elapsed().as_secs_f64()
        );
        return Ok(());
    }
    let cfg = Config {
        seed: a.seed,
        quick: a.quick,
        tiny: a.tiny,
    };
    let specs = points(&cfg);
    if let Some(only) = &a.only {
        let idx: Vec<usize> = (0..specs.len())
            .filter(|i| &specs[*i].experiment == only)
            .collect();
        if idx.is_empty() {
            let mut names: Vec<&str> = specs.iter().map(|s| s.experiment.as_str()).collect();
            names.dedup();
            bail!(
                "--only: no experiment '{only}'; known: {}",
                names.join(", ")
            );
        }
        let r = run_points(&cfg, &specs, &idx)?;
        println!("{}", crate::json_out::list_to_string("points", &r)?);
        return Ok(());
    }
    // Also from a batch scheduler's environment (`crate::batch`); `--shard` wins.
    if let Some((i, n)) = crate::batch::shard(a.shard)? {
        let idx: Vec<usize> = (0..specs.len()).filter(|k| k % n == i).collect();
        let results = run_points(&cfg, &specs, &idx)?;
        let file = ShardFile {
            config: cfg,
            points: specs.len(),
            shard: (i, n),
            results,
        };
        let path = a.out.join("shards").join(format!("shard-{i}-of-{n}.json"));
        write(&path, serde_json::to_string(&file)?.as_bytes())?;
        eprintln!(
            "shard {i}/{n}: {} of {} points written to {} in {:.1} s",
            file.results.len(),
            specs.len(),
            path.display(),
            started.elapsed().as_secs_f64()
        );
        return Ok(());
    }
    let idx: Vec<usize> = (0..specs.len()).collect();
    let results = run_points(&cfg, &specs, &idx)?;
    let res = assemble(cfg, specs, results)?;
    publish(&a.out, &res, loopback_data(a, &cfg))?;
    eprintln!(
        "report: {} sweep points, written to {} in {:.1} s wall time ({} threads)",
        res.points.len(),
        a.out.display(),
        started.elapsed().as_secs_f64(),
        rayon::current_num_threads()
    );
    Ok(())
}
