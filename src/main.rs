//! tokenlab: the command line. `report` writes the evidence report (the main job),
//! `mechanisms` lists the models, `simulate` runs one in the deterministic simulator, `compare`
//! runs all seven side by side, `check`/`attack`/`replay` are the security suites, and
//! `serve`/`calibrate` run the roles on loopback. Bad input gets one clear line and exit code 2.

mod batch;
mod cli_explore;
mod cli_net;
mod cli_probe;
mod cli_security;
mod json_out;
mod scenario;
mod sim_stats;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use std::process::ExitCode;
use tokenlab_models::faults::{LatencyDist, PRESET_NAMES, preset};
use tokenlab_models::mechanisms::{composites, registry, resolve, shared_specs};
use tokenlab_models::sim::{Scenario, Summary, run_resolved};

mod report;

/// mimalloc instead of glibc malloc (issue 18: the 1 M-tenant run's peak memory). With the
/// options [`tune_allocator`] sets, what the run frees at its end (the roles' state) goes back
/// to the system, so the summary and the checkers' index fit under the run's own peak; glibc
/// keeps those scattered holes and the index's large vectors come on top (1 M tenants: peak
/// 4,342 MiB with glibc, 4,097 MiB with mimalloc, same build otherwise). The binary only: the
/// libraries and their tests keep the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's options for a long single-threaded run that frees a lot at its end: return
/// freed memory at once (`purge_delay` 0; its default of 1 s left the 100 k-tenant peak at
/// 436-474 MiB instead of 423) and commit arena memory as it is used, not ahead
/// (`arena_eager_commit` 0; the default, 2, commits ahead where the system overcommits, as
/// Linux does; no clear effect measured). An option given in the
/// environment (`MIMALLOC_PURGE_DELAY`, `MIMALLOC_ARENA_EAGER_COMMIT`) is left as given. The
/// numbers are those of `mi_option_t` in mimalloc v3's `mimalloc.h` (libmimalloc-sys 0.1.49,
/// pinned by Cargo.lock); `mi_option_set` only stores a value the allocator reads later.
fn tune_allocator() {
    unsafe extern "C" {
        fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
    }
    const ARENA_EAGER_COMMIT: std::ffi::c_int = 4;
    const PURGE_DELAY: std::ffi::c_int = 15;
    for (option, env) in [
        (PURGE_DELAY, "MIMALLOC_PURGE_DELAY"),
        (ARENA_EAGER_COMMIT, "MIMALLOC_ARENA_EAGER_COMMIT"),
    ] {
        if std::env::var_os(env).is_none() {
            // SAFETY: a setter of one of mimalloc's global options, called before any other
            // thread exists; the option number is a valid `mi_option_t` (see above).
            unsafe { mi_option_set(option, 0) };
        }
    }
}

#[derive(Parser)]
#[command(
    name = "tokenlab",
    version,
    about = "Security analysis and comparison harness for Forge RFC-34 token delivery"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the mechanisms, their profiles and switches.
    Mechanisms {
        #[arg(long)]
        json: bool,
    },
    /// Run one mechanism in the deterministic simulator.
    Simulate(SimArgs),
    /// Run every mechanism (default profiles and the "as published" ones) side by side.
    Compare(CommonArgs),
    /// Run every experiment and write the RFC evidence report (markdown, HTML, data, figures).
    Report(report::ReportArgs),
    /// Run the security suites and print the matrix against expectations.md (exit 1 on a mismatch).
    Check(cli_security::CheckArgs),
    /// What one stolen credential (or the whole store) buys an attacker, with the counterfactual.
    Attack(cli_security::AttackArgs),
    /// Serve one mechanism's world on loopback (127.0.0.1) until Ctrl-C.
    Serve(cli_net::ServeArgs),
    /// Simulator vs loopback at injected one-way delays of 0 and 5 ms, per mechanism.
    Calibrate(cli_net::CalibrateArgs),
    /// Search one row on its small world (exhaustive within K non-default choices, PCT or
    /// random) and print a replayable counterexample (exit 1 on a mismatch with expectations.md).
    Explore(cli_explore::ExploreArgs),
    /// Read-after-write on loopback: trigger's cold path against the model store or PostgreSQL
    /// (a primary and a streaming hot standby); stale-read share against S3, and P12.
    StaleReads(cli_net::StaleReadsArgs),
    /// Re-run a saved counterexample (generated case JSON, or `--choices` string) and show its verdicts (exit 1 if violated).
    Replay(cli_security::ReplayArgs),
    /// Measure a real token endpoint's refresh-token semantics (only servers you are authorised to test).
    Probe(cli_probe::ProbeArgs),
    /// Run a scenario file (TOML): its summary and property verdicts (exit 1 on a mismatch).
    Run(scenario::run::RunArgs),
    /// Print a commented example scenario file (`--example NAME`; without NAME, list them).
    Scenario(scenario::run::ScenarioArgs),
}

#[derive(Args, Clone)]
struct CommonArgs {
    /// Named network preset: lan, same-region, cross-region, lossy, flaky-partner, platform-brownout.
    #[arg(long, default_value = "same-region")]
    preset: String,
    #[arg(long, default_value_t = 100)]
    tenants: u32,
    #[arg(long, default_value_t = 7200.0)]
    duration_s: f64,
    #[arg(long, default_value_t = 60.0)]
    demands_per_tenant_hour: f64,
    /// Seed (decimal or 0x-hex); TOKENLAB_SEED overrides the default.
    #[arg(long, env = "TOKENLAB_SEED", default_value = "1", value_parser = parse_seed)]
    seed: u64,
    /// Independent loss probability per inter-party message (requests and responses).
    #[arg(long)]
    loss: Option<f64>,
    /// HTTP 5xx probability per inter-party request.
    #[arg(long)]
    error_rate: Option<f64>,
    /// Fixed one-way delay on every inter-party link, in ms.
    #[arg(long)]
    latency_ms: Option<f64>,
    /// Replica lag U(0, MS) (matters where reads go to a replica, e.g. trigger read_from=replica).
    #[arg(long)]
    replica_lag_ms: Option<f64>,
    /// The partner's retries.
    #[arg(long)]
    retries: Option<u32>,
    /// The platform's retries (trigger's nested call, push deliveries).
    #[arg(long)]
    platform_retries: Option<u32>,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct SimArgs {
    /// ID[:PROFILE], e.g. trigger, trigger:sample, push:shipped, refresh:3lo.
    #[arg(long)]
    mechanism: String,
    /// KEY=VALUE for any switch of the mechanism (validated).
    #[arg(long = "set")]
    sets: Vec<String>,
    /// Run these property checkers over the run's history (comma-separated, e.g. P1,P12);
    /// the JSON gets `properties: {P1: {verdict, reached}, ...}`.
    #[arg(long, value_delimiter = ',')]
    check: Vec<String>,
    /// Print the run's cost to stderr: history events, peak memory, µs per demand.
    #[arg(long)]
    stats: bool,
    #[command(flatten)]
    common: CommonArgs,
}

pub(crate) fn parse_seed(s: &str) -> Result<u64, String> {
    let r = match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16),
        None => s.parse(),
    };
    r.map_err(|_| format!("'{s}' is not a seed (decimal or 0x-hex)"))
}

fn check_prob(name: &str, p: Option<f64>) -> Result<()> {
    if let Some(p) = p
        && !(0.0..=1.0).contains(&p)
    {
        bail!("--{name} must be between 0 and 1, got {p}");
    }
    Ok(())
}

/// Builds the scenario and runs it; every user error is one line.
fn scenario(
    mechanism: &str,
    sets: &[String],
    c: &CommonArgs,
) -> Result<(Scenario, tokenlab_models::sim::RunResult)> {
    let (s, (m, profile, params)) = build_scenario(mechanism, sets, c)?;
    let result = run_resolved(&s, m, profile, params);
    Ok((s, result))
}

/// A resolved mechanism: the model, its profile and its parameters.
type Resolved = (
    &'static dyn tokenlab_models::mechanisms::Mechanism,
    Option<&'static str>,
    tokenlab_models::params::Params,
);

/// Builds the scenario and resolves the mechanism; every user error is one line.
fn build_scenario(
    mechanism: &str,
    sets: &[String],
    c: &CommonArgs,
) -> Result<(Scenario, Resolved)> {
    let Some(p) = preset(&c.preset) else {
        bail!(
            "unknown preset '{}'; known: {}",
            c.preset,
            PRESET_NAMES.join(", ")
        );
    };
    check_prob("loss", c.loss)?;
    check_prob("error-rate", c.error_rate)?;
    if c.tenants == 0 || c.tenants > 1_000_000 {
        bail!("--tenants must be between 1 and 1000000, got {}", c.tenants);
    }
    if !(c.duration_s > 0.0 && c.duration_s <= 30.0 * 86_400.0) {
        bail!("--duration-s must be in (0, 2592000], got {}", c.duration_s);
    }
    if !(c.demands_per_tenant_hour >= 0.0 && c.demands_per_tenant_hour <= 36_000.0) {
        bail!(
            "--demands-per-tenant-hour must be in [0, 36000], got {}",
            c.demands_per_tenant_hour
        );
    }
    for (name, v) in [
        ("latency-ms", c.latency_ms),
        ("replica-lag-ms", c.replica_lag_ms),
    ] {
        if let Some(v) = v
            && !(0.0..=600_000.0).contains(&v)
        {
            bail!("--{name} must be between 0 and 600000, got {v}");
        }
    }
    let mut sets = sets.to_vec();
    if let Some(r) = c.retries {
        sets.push(format!("retries={r}"));
    }
    if let Some(l) = c.replica_lag_ms {
        sets.push(format!("replica_lag=uniform({l}ms)"));
    }
    if let Some(r) = c.platform_retries {
        let (m, _, _) = resolve(mechanism, &[])?;
        if !m.switches().iter().any(|s| s.key == "platform_retries") {
            bail!(
                "--platform-retries: {} has no platform retries (only trigger and push do)",
                m.id()
            );
        }
        sets.push(format!("platform_retries={r}"));
    }
    let (m, profile, params) = resolve(mechanism, &sets)?;
    let mut network = p.network;
    network.map_all(|l| {
        if let Some(ms) = c.latency_ms {
            l.latency = LatencyDist::Fixed { ms };
        }
        if let Some(p) = c.loss {
            l.loss_request = p;
            l.loss_response = p;
        }
        if let Some(e) = c.error_rate {
            l.http_5xx = e;
        }
    });
    let s = Scenario {
        mechanism: mechanism.into(),
        sets: sets.clone(),
        preset: c.preset.clone(),
        tenants: c.tenants,
        duration_s: c.duration_s,
        demands_per_tenant_hour: c.demands_per_tenant_hour,
        seed: c.seed,
        network,
        nemesis: p.nemesis,
        admin: Vec::new(),
        provision_at_s: None,
        demands: Vec::new(),
    };
    Ok((s, (m, profile, params)))
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.1}")).unwrap_or_else(|| "-".into())
}

fn table_row(s: &Summary) -> String {
    let name = match &s.profile {
        Some(p) => format!("{}:{p}", s.mechanism),
        None => s.mechanism.clone(),
    };
    let fails: Vec<String> = s
        .failed
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(k, n)| format!("{k}={n}"))
        .collect();
    format!(
        "{:<16} {:>7} {:>8.4} {:>9} {:>9} {:>8.4} {:>9} {:>9} {:>6} {:>7.2} {:>8.2} {:>8.2}  {}",
        name,
        s.demands,
        s.success_rate,
        fmt_opt(s.latency_ms.as_ref().map(|l| l.p50)),
        fmt_opt(s.latency_ms.as_ref().map(|l| l.p99)),
        s.cold.token_success_rate,
        fmt_opt(s.cold.token_latency_ms.as_ref().map(|l| l.p50)),
        fmt_opt(s.cold.token_latency_ms.as_ref().map(|l| l.p99)),
        s.orphan_mints,
        s.messages_per_demand,
        s.platform_requests_per_tenant_hour,
        s.platform_mints_per_tenant_hour,
        if fails.is_empty() {
            "-".into()
        } else {
            fails.join(" ")
        },
    )
}

const HEADER: &str = "mechanism        demands  success  lat_p50  lat_p99 cold_tok  tok_p50  tok_p99 orphan msg/dem req/t-h mint/t-h  failures";

fn print_summary(s: &Summary) {
    println!("{HEADER}");
    println!("{}", table_row(s));
    println!(
        "seed {} · preset {} · {} tenants · {} s · {} demands/tenant-hour · hops on a miss {}",
        s.seed_hex, s.preset, s.tenants, s.duration_s, s.demands_per_tenant_hour, s.hops_on_miss
    );
    if let Some(p50) = s.cold.time_to_first_token_s.p50 {
        println!(
            "time to first token: p50 {p50:.1} s, max {:.1} s",
            s.cold.time_to_first_token_s.max.unwrap_or(0.0)
        );
    }
    println!(
        "unknown {} · stale reads {} · detections {}",
        s.unknown, s.stale_reads, s.detections
    );
    if !s.switches.is_empty() {
        println!("switches: {}", s.switches.join(", "));
    }
    println!(
        "unverified defaults in force: {}",
        s.unverified_parameters.join(", ")
    );
    println!("latencies in ms (simulated, virtual time); cold = each tenant's first demand");
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Attack(a) => cli_security::attack_cmd(a)?,
        Command::Replay(a) => {
            if !cli_security::replay(a)? {
                std::process::exit(1);
            }
        }
        Command::Explore(a) => {
            if !cli_explore::explore_cmd(a)? {
                std::process::exit(1);
            }
        }
        Command::Check(a) => {
            if !cli_security::check(a)? {
                std::process::exit(1);
            }
        }
        Command::Run(a) => {
            if !scenario::run::run_cmd(a)? {
                std::process::exit(1);
            }
        }
        Command::Scenario(a) => scenario::run::scenario_cmd(a)?,
        Command::Serve(a) => cli_net::serve(a)?,
        Command::Probe(a) => cli_probe::probe_cmd(a)?,
        Command::Calibrate(a) => cli_net::calibrate_cmd(a)?,
        Command::StaleReads(a) => cli_net::stale_reads(a)?,
        Command::Mechanisms { json } => {
            let list: Vec<serde_json::Value> = registry()
                .iter()
                .map(|m| {
                    serde_json::json!({
                        "id": m.id(),
                        "description": m.description(),
                        "hops_on_miss": m.hops_on_miss(),
                        "profiles": m.profiles(),
                        "switches": m.switches().iter().map(switch_json).collect::<Vec<_>>(),
                    })
                })
                .collect();
            if json {
                // Every mechanism also takes the shared switches (the partner's hygiene, the
                // platform's checks, the workload values). Composites (`migration`) come in
                // their own list, so the seven mechanisms' entries are unchanged.
                let shared: Vec<_> = shared_specs().iter().map(switch_json).collect();
                let composites: Vec<serde_json::Value> = composites()
                    .iter()
                    .map(|m| {
                        serde_json::json!({
                            "id": m.id(),
                            "description": m.description(),
                            "switches": m.switches().iter().map(switch_json).collect::<Vec<_>>(),
                        })
                    })
                    .collect();
                let body = serde_json::json!({"mechanisms": list, "composites": composites, "shared_switches": shared});
                println!("{}", json_out::to_string(&body)?);
            } else {
                for m in registry() {
                    let profiles: Vec<String> = m
                        .profiles()
                        .iter()
                        .map(|p| format!("{}:{}", m.id(), p.name))
                        .collect();
                    println!("{:<14} {}", m.id(), m.description());
                    if !profiles.is_empty() {
                        println!("{:<14} profiles: {}", "", profiles.join(", "));
                    }
                    let sw: Vec<String> = m
                        .switches()
                        .iter()
                        .map(|s| format!("{}={}", s.key, s.default))
                        .collect();
                    println!("{:<14} switches: {}", "", sw.join(" "));
                }
                let shared: Vec<String> = shared_specs()
                    .iter()
                    .map(|s| format!("{}={}", s.key, s.default))
                    .collect();
                println!("{:<14} {}", "(every one)", shared.join(" "));
                for m in composites() {
                    println!("{:<14} {}", m.id(), m.description());
                    let sw: Vec<String> = m
                        .switches()
                        .iter()
                        .map(|s| format!("{}={}", s.key, s.default))
                        .collect();
                    println!("{:<14} switches: {}", "", sw.join(" "));
                }
            }
        }
        Command::Simulate(a) => {
            if a.check.is_empty() && !a.stats {
                let (_, r) = scenario(&a.mechanism, &a.sets, &a.common)?;
                if a.common.json {
                    println!("{}", json_out::to_string(&r.summary)?);
                } else {
                    print_summary(&r.summary);
                }
            } else {
                let properties = sim_stats::parse_checks(&a.check)?;
                let (s, _) = build_scenario(&a.mechanism, &a.sets, &a.common)?;
                let out = sim_stats::run(&s, &properties)?;
                if a.common.json {
                    println!("{}", json_out::to_string(&out)?);
                } else {
                    print_summary(&out.summary);
                    sim_stats::print_properties(&out);
                }
                if a.stats {
                    eprintln!("{}", out.stats.line());
                }
            }
        }
        Command::Report(a) => report::run(&a)?,
        Command::Compare(c) => {
            let mut refs: Vec<String> = Vec::new();
            for m in registry() {
                refs.push(m.id().to_string());
                for p in m.profiles() {
                    refs.push(format!("{}:{}", m.id(), p.name));
                }
            }
            let mut out = Vec::new();
            if !c.json {
                println!("{HEADER}");
            }
            for r in &refs {
                let (_, res) = scenario(r, &[], &c).with_context(|| format!("running {r}"))?;
                if !c.json {
                    println!("{}", table_row(&res.summary));
                }
                out.push(res.summary);
            }
            if c.json {
                println!("{}", json_out::list_to_string("runs", &out)?);
            } else {
                println!(
                    "seed {:#x} · preset {} · {} tenants · {} s · {} demands/tenant-hour; latencies in ms of virtual time",
                    c.seed, c.preset, c.tenants, c.duration_s, c.demands_per_tenant_hour
                );
                println!(
                    "push has no on-demand path: a miss fails fast (no_token) until its first delivery (analytic U4)."
                );
            }
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    tune_allocator();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tokenlab: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// A switch as `mechanisms --json` lists it.
fn switch_json(s: &tokenlab_models::params::ParamSpec) -> serde_json::Value {
    serde_json::json!({"key": s.key, "default": s.default, "basis": s.basis, "doc": s.doc})
}
