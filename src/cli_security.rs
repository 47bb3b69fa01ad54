//! `tokenlab check`, `tokenlab attack` and `tokenlab replay`: the security matrix, what one
//! stolen credential buys, and the replay of a saved counterexample. The work is done by
//! `tokenlab-properties`; this module parses flags and prints.

use anyhow::{Context, Result, bail};
use clap::Args;
use tokenlab_properties::attack::{
    AttackRequest, AttackResult, Credential, attack, attack_table, credentials, parse_from,
    parse_mode,
};
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
        .filter(|e| {
            a.only.is_empty() || a.only.iter().any(|o| *o == e.row || *o == e.property.id())
        })
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
            crate::json_out::to_string(&serde_json::json!({ "matrix": matrix }))?
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
