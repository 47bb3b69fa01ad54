//! `tokenlab check`, `tokenlab attack` and `tokenlab replay`: the security matrix, what one
//! stolen credential buys, and the replay of a saved counterexample. The work is done by
//! `tokenlab-properties`; this module parses flags and prints.

use anyhow::{Context, Result, bail};
use clap::Args;
use tokenlab_properties::attack::{
    AttackRequest, AttackResult, Credential, attack, attack_table, credentials, parse_from,
    parse_mode,
};
use tokenlab_properties::suite::{CheckBudget, MatrixRow, expectations, run_row_searched};

#[derive(Args)]
pub struct CheckArgs {
    /// Random full-size cases per row (default: 300 where the small world was not exhausted,
    /// 30 where it was; a row stops at its first counterexample).
    #[arg(long)]
    pub cases: Option<u32>,
    /// A fast pass for tests and CI: 100 search runs and 1 case per row (weaker bound,
    /// stated in the output).
    #[arg(long)]
    pub quick: bool,
    /// K of each row's exhaustive small-world search.
    #[arg(long, default_value_t = 1)]
    pub max_unusual: u32,
    /// Search runs per row (default 1000; 100 with --quick).
    #[arg(long)]
    pub explore_budget: Option<u64>,
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

/// `exh 412/K1` (exhausted), `412/K1 cut` (budget ran out) and the full-size cases.
fn evidence_cell(r: &MatrixRow) -> String {
    match &r.evidence {
        None => format!("{} case(s)", r.cases),
        Some(e) => format!(
            "{}{}/K{} + {} case(s)",
            if e.exhaustive.exhausted { "exh " } else { "" },
            e.exhaustive.runs,
            e.exhaustive.max_unusual,
            e.sampled.cases
        ),
    }
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
    if let Some(n) = a.cases
        && (n == 0 || n > 1000)
    {
        bail!("--cases must be between 1 and 1000, got {n}");
    }
    if a.max_unusual > 4 {
        bail!("--max-unusual must be at most 4, got {}", a.max_unusual);
    }
    let mut budget = if a.quick {
        CheckBudget::QUICK
    } else {
        CheckBudget::DEFAULT
    };
    budget.cases = a.cases;
    budget.max_unusual = a.max_unusual;
    if let Some(b) = a.explore_budget {
        if b == 0 {
            bail!("--explore-budget must be at least 1");
        }
        budget.explore_budget = b;
    }
    let rows: Vec<_> = expectations()
        .into_iter()
        .filter(|e| {
            a.only.is_empty() || a.only.iter().any(|o| *o == e.row || *o == e.property.id())
        })
        .collect();
    if rows.is_empty() {
        bail!("--only matched no row of expectations.md");
    }
    // Wall time is printed, never part of a verdict.
    #[allow(clippy::disallowed_methods)]
    let started = std::time::Instant::now();
    let bar = indicatif::ProgressBar::new(rows.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("check {bar:30} {pos}/{len} rows, {elapsed}")
            .expect("a valid template"),
    );
    let matrix: Vec<MatrixRow> = {
        use rayon::prelude::*;
        rows.par_iter()
            .map(|e| {
                let r = run_row_searched(e, &budget, a.seed);
                bar.inc(1);
                r
            })
            .collect()
    };
    bar.finish_and_clear();
    let wall_s = started.elapsed().as_secs_f64();
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
            crate::json_out::to_string(&serde_json::json!({ "matrix": matrix }))?
        );
        eprintln!("check: {} rows in {wall_s:.1} s", matrix.len());
    } else {
        println!(
            "{:<62} {:<4} {:<11} {:>8}  {:<24} name",
            "mechanism", "prop", "verdict", "reached", "evidence"
        );
        for r in &matrix {
            let m = match &r.variant {
                Some(v) => format!("{}[{v}]", r.mechanism),
                None => r.mechanism.clone(),
            };
            println!(
                "{:<62} {:<4} {:<11} {:>8}  {:<24} {}{}",
                m,
                r.property,
                r.verdict.name(),
                r.reached,
                evidence_cell(r),
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
        let exhausted = matrix
            .iter()
            .filter(|r| r.evidence.as_ref().is_some_and(|e| e.exhaustive.exhausted))
            .count();
        let min_cases = matrix
            .iter()
            .filter(|r| r.verdict.name() == "holds")
            .map(|r| r.cases)
            .min()
            .unwrap_or(0);
        println!(
            "\n{} rows, {} match expectations.md; seed {:#x}; {wall_s:.0} s.\n{exhausted} rows exhausted their small world within {} non-default choice(s); every `holds` row also ran at least {min_cases} full-size case(s) (a 1%-per-case event missed with probability {:.1}% or less). Bounded, seeded model testing: evidence, not a proof.{}",
            matrix.len(),
            matrix.len() - bad.len(),
            a.seed,
            budget.max_unusual,
            100.0 * tokenlab_properties::suite::miss_bound_1pct(min_cases),
            if budget.name == "quick" {
                " --quick: a smoke test, not the default bound."
            } else {
                ""
            }
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
#[derive(Args)]
pub struct AttackArgs {
    /// ID[:PROFILE].
    #[arg(long, required_unless_present = "table")]
    pub mechanism: Option<String>,
    /// Every credential of every mechanism (and the whole store): the attack table.
    #[arg(long)]
    pub table: bool,
    #[arg(long = "set")]
    pub sets: Vec<String>,
    /// List the credentials this mechanism leaves to steal.
    #[arg(long)]
    pub list_credentials: bool,
    /// The credential to steal (see --list-credentials).
    #[arg(long)]
    pub steal: Option<String>,
    /// Where it is stolen from: store, log or network.
    #[arg(long, default_value = "store")]
    pub from: String,
    /// snapshot (one read at --at-s) or continuing (every later write too).
    #[arg(long, default_value = "snapshot")]
    pub mode: String,
    /// `store`: the whole-store breach (A2/A8) instead of one credential.
    #[arg(long)]
    pub breach: Option<String>,
    #[arg(long, default_value_t = 600.0)]
    pub at_s: f64,
    /// With --mode continuing: close the read at this time (the breach found and shut); the
    /// attacker keeps what it read, and W after the close is measured.
    #[arg(long)]
    pub reads_end_at_s: Option<f64>,
    /// The victim tenant, 0..4 (the run installs 4 tenants).
    #[arg(long, default_value_t = tokenlab_properties::attack::DEFAULT_VICTIM)]
    pub victim: u32,
    /// Revoke the victim's credential (or uninstall where there is no revocation) at this time.
    #[arg(long)]
    pub revoke_at_s: Option<f64>,
    #[arg(long, env = "TOKENLAB_SEED", default_value = "1", value_parser = crate::parse_seed)]
    pub seed: u64,
    /// The store thief has no decryption key (with encrypt_at_rest=on it reads ciphertext).
    #[arg(long)]
    pub without_key: bool,
    /// Network preset for the run and its counterfactual (e.g. lossy: false detections).
    #[arg(long, default_value = "same-region")]
    pub preset: String,
    /// A9: with --mechanism trigger and --steal trigger_url (or --breach store: every URL),
    /// call the stolen URL this many times a minute from --at-s, against Forge's invocation
    /// limits (1..=120000; default: no spam). Measures the victim's and the other tenants'
    /// success during the spam beside the same seed without it (10 tenants, ttl=2m).
    #[arg(long)]
    pub spam_rate: Option<u32>,
    /// With --spam-rate: how long the spam lasts, s (0 < S <= 1800).
    #[arg(long, default_value_t = 600.0)]
    pub spam_for_s: f64,
    #[arg(long)]
    pub json: bool,
}

pub fn attack_cmd(a: AttackArgs) -> Result<()> {
    if a.table {
        return attack_table_cmd(a.seed, a.json);
    }
    let mechanism = a.mechanism.clone().unwrap_or_default();
    let creds: Vec<Credential> = credentials(&mechanism, &a.sets)?;
    if a.list_credentials {
        if a.json {
            println!(
                "{}",
                crate::json_out::to_string(&serde_json::json!({ "credentials": creds }))?
            );
        } else {
            for c in &creds {
                println!(
                    "{:<16} {:<14} {:<10} {}",
                    c.id, c.kind, c.lifetime_class, c.tenant_scope
                );
            }
        }
        return Ok(());
    }
    let breach = match a.breach.as_deref() {
        None => false,
        Some("store") => true,
        Some(other) => bail!("--breach must be 'store', got '{other}'"),
    };
    let credential = match (&a.steal, breach) {
        (Some(c), _) => {
            if !creds.iter().any(|x| x.id == *c) {
                bail!(
                    "--steal: {} has no credential '{c}'; known: {}",
                    mechanism,
                    creds
                        .iter()
                        .map(|x| x.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            Some(c.clone())
        }
        (None, true) => None,
        (None, false) => bail!("give --steal CREDENTIAL, --breach store or --list-credentials"),
    };
    if let Some(rate) = a.spam_rate {
        return spam_cmd(&a, &mechanism, credential.is_none(), rate);
    }
    if !(0.0..=30.0 * 86_400.0).contains(&a.at_s) {
        bail!("--at-s must be in [0, 2592000], got {}", a.at_s);
    }
    let req = AttackRequest {
        mechanism: mechanism.clone(),
        sets: a.sets.clone(),
        credential,
        from: parse_from(&a.from)?,
        mode: parse_mode(&a.mode)?,
        at_s: a.at_s,
        revoke_at_s: a.revoke_at_s,
        seed: a.seed,
        preset: a.preset.clone(),
        without_key: a.without_key,
        reads_end_at_s: a.reads_end_at_s,
        victim: a.victim,
    };
    let r = attack(&req).context("running the attack")?;
    if a.json {
        println!("{}", crate::json_out::to_string(&r)?);
    } else {
        println!("{TABLE_HEADER}");
        println!("{}", table_line(&r));
        println!("{TABLE_NOTE}");
    }
    Ok(())
}

/// `tokenlab attack --spam-rate N`: A9 against Forge's invocation limits.
fn spam_cmd(a: &AttackArgs, mechanism: &str, every_url: bool, rate: u32) -> Result<()> {
    if !every_url && a.steal.as_deref() != Some("trigger_url") {
        bail!("--spam-rate spams a stolen URL: give --steal trigger_url or --breach store");
    }
    if a.mode != "snapshot"
        || a.from != "store"
        || a.reads_end_at_s.is_some()
        || a.revoke_at_s.is_some()
    {
        bail!(
            "--spam-rate takes the URL from the store once: --mode, --from, --reads-end-at-s and --revoke-at-s do not apply"
        );
    }
    let req = tokenlab_properties::quota::QuotaRequest {
        mechanism: mechanism.to_string(),
        sets: a.sets.clone(),
        victim: a.victim,
        every_url,
        spam_per_min: rate,
        spam_from_s: a.at_s,
        spam_for_s: a.spam_for_s,
        seed: a.seed,
    };
    let r = tokenlab_properties::quota::quota_attack(&req).context("running the spam (A9)")?;
    if a.json {
        println!("{}", crate::json_out::to_string(&r)?);
    } else {
        let pct = |x: Option<f64>| x.map_or("-".into(), |v| format!("{:.1}%", 100.0 * v));
        println!(
            "group      demands  success  (baseline)  misses  miss_success  (baseline)  slowest_miss_ms"
        );
        for (name, g, b) in [
            ("victim", &r.victim, &r.victim_baseline),
            ("others", &r.others, &r.others_baseline),
        ] {
            println!(
                "{name:<10} {:>7}  {:>7}  ({:>8})  {:>6}  {:>12}  ({:>8})  {}",
                g.demands,
                pct(g.success_rate),
                pct(b.success_rate),
                g.misses,
                pct(g.miss_success_rate),
                pct(b.miss_success_rate),
                g.miss_latency_ms_max
                    .map_or("-".into(), |x| format!("{x:.0}")),
            );
        }
        println!(
            "spam: {} calls, {} admitted, refused {:?}; partner calls refused 429: victim {}, others {}; detected: {}",
            r.spam.calls,
            r.spam.admitted,
            r.spam.refused_by,
            r.victim_rate_limited,
            r.others_rate_limited,
            r.detected_after_s
                .map_or("no".into(), |s| format!("{s:.0} s after the start")),
        );
        println!("model: {}", r.model);
    }
    Ok(())
}

const TABLE_HEADER: &str = "mechanism      credential     tenants tokens attempts accepted  W_s       bound_s   detected  false_det  R_off_s   R_on_s   extra_acc extra_mint";
const TABLE_NOTE: &str = "W, R: 60 s probe resolution; bound 'none' = unbounded (reported, never a pass); extra_* = this run minus the same seed without the theft.";

fn opt(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.0}")).unwrap_or_else(|| "-".into())
}

fn table_line(r: &AttackResult) -> String {
    format!(
        "{:<14} {:<14} {:>7} {:>6} {:>8} {:>8}  {:<9} {:<9} {:<9} {:>9}  {:<9} {:<8} {:>9} {:>10}",
        r.mechanism,
        r.credential,
        r.tenants_compromised,
        r.tokens_obtained,
        r.attempts,
        r.accepted,
        opt(r.exposure_window_s),
        if r.exposure_unbounded {
            "none".to_string()
        } else {
            opt(r.exposure_bound_s)
        },
        match r.detected_after_s {
            Some(s) => format!("{s:.0}s"),
            None => "no".into(),
        },
        r.false_detections,
        opt(r.revocation_latency_s),
        opt(r.revocation_latency_api_checks_on_s),
        r.extra_accepts,
        r.extra_mints,
    )
}

/// `tokenlab attack --table`: every credential of every mechanism, and the whole store.
pub fn attack_table_cmd(seed: u64, json: bool) -> Result<()> {
    let rows = attack_table(seed);
    if json {
        println!(
            "{}",
            crate::json_out::to_string(&serde_json::json!({ "attacks": rows }))?
        );
    } else {
        println!("{TABLE_HEADER}");
        for r in &rows {
            println!("{}", table_line(r));
        }
        println!("{TABLE_NOTE}");
        println!(
            "seed {seed:#x}; theft at 600 s (push 3900 s) from the store, revocation 1800 s later."
        );
    }
    Ok(())
}

#[derive(Args)]
pub struct ReplayArgs {
    /// A saved generated case (JSON), e.g. properties/counterexamples/push_recheck_off_race.json.
    #[arg(required_unless_present = "choices", conflicts_with = "choices")]
    pub file: Option<std::path::PathBuf>,
    /// A choice string printed by `explore` or `check` (`tl1/MECHANISM/PROPERTY/...`).
    #[arg(long)]
    pub choices: Option<String>,
    #[arg(long)]
    pub json: bool,
}

/// `tokenlab replay --choices S`: the run a choice string names, and its verdict.
fn replay_choices(text: &str, json: bool) -> Result<bool> {
    let cs: tokenlab_models::choice::ChoiceString = text.parse()?;
    let r = tokenlab_properties::explore::replay(&cs).map_err(anyhow::Error::msg)?;
    if json {
        println!("{}", crate::json_out::to_string(&r)?);
    } else {
        println!("{} ({} events)", r.choices, r.events);
        println!(
            "{} {} (reached {})",
            r.verdict.property,
            r.verdict.kind.name(),
            r.verdict.reached
        );
        if let Some(c) = &r.verdict.counterexample {
            println!("{c}");
        }
    }
    Ok(r.verdict.holds)
}

struct ReplayFile {
    file: std::path::PathBuf,
    json: bool,
}

/// `tokenlab replay FILE`: re-runs a saved case and shows every verdict; `Ok(false)` when a
/// property is violated (the counterexample reproduces).
pub fn replay(a: ReplayArgs) -> Result<bool> {
    if let Some(c) = &a.choices {
        return replay_choices(c, a.json);
    }
    let Some(file) = a.file else {
        bail!("replay needs a case file or --choices");
    };
    let a = ReplayFile { file, json: a.json };
    let text = std::fs::read_to_string(&a.file)
        .with_context(|| format!("reading {}", a.file.display()))?;
    let case: tokenlab_properties::generated::Case = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a tokenlab case (JSON)", a.file.display()))?;
    if case.tenants == 0
        || case.tenants > 10_000
        || case.duration_s.is_nan()
        || case.duration_s <= 0.0
        || case.duration_s > 30.0 * 86_400.0
    {
        bail!(
            "{}: tenants must be 1..10000 and duration_s > 0",
            a.file.display()
        );
    }
    let verdicts = case
        .check()
        .map_err(|e| anyhow::anyhow!("{}: {e}", a.file.display()))?;
    if a.json {
        println!(
            "{}",
            crate::json_out::to_string(&serde_json::json!({ "case": case, "verdicts": verdicts }))?
        );
    } else {
        println!("{}", case.describe());
        for v in &verdicts {
            println!("{} {} (reached {})", v.property, v.kind.name(), v.reached);
            if let Some(c) = &v.counterexample {
                println!("{c}");
            }
        }
    }
    Ok(verdicts.iter().all(|v| v.holds))
}
