//! `tokenlab probe`: measure a real token endpoint's refresh-token semantics (the experiments
//! live in `tokenlab::probe`), print the verdicts with the requests that showed them and the
//! `--set` switches that model the server; `--check` runs the `refresh` P4/P9 rows with them.

use anyhow::{Context, Result, bail};
use clap::Args;
use std::time::Duration;
use tokenlab::probe::{self, Findings, ProbeConfig};
use tokenlab_models::mechanisms::resolve;
use tokenlab_properties::suite::{CheckBudget, MatrixRow, run_row_searched};
use tokenlab_properties::{Property, VerdictKind};

#[derive(Args)]
#[command(
    about = "Measure a token endpoint's refresh-token semantics (rotation, reuse detection, grace window) by bounded black-box experiments. Only for authorization servers you are authorised to test: it presents superseded refresh tokens, which trips reuse detection and revokes those token families.",
    long_about = None
)]
pub struct ProbeArgs {
    /// The token endpoint (http:// only; loopback only unless --allow-remote).
    #[arg(long)]
    token_endpoint: String,
    #[arg(long)]
    client_id: Option<String>,
    /// Sent as HTTP Basic with --client-id (RFC 6749 §2.3.1). Never printed.
    #[arg(long, env = "TOKENLAB_PROBE_CLIENT_SECRET", hide_env_values = true)]
    client_secret: Option<String>,
    /// A refresh token of an independent family (repeat; each probe step spends a family:
    /// 6-8 are enough to bracket a grace window). Never printed, only fingerprinted.
    #[arg(long = "refresh-token", required = true)]
    refresh_tokens: Vec<String>,
    /// Send to a non-loopback host (only to servers you are authorised to test).
    #[arg(long)]
    allow_remote: bool,
    /// At most this many requests.
    #[arg(long, default_value_t = 60)]
    max_requests: u32,
    /// At most this many requests per second.
    #[arg(long, default_value_t = 20.0)]
    max_rate: f64,
    /// The longest wait of the grace window's search, in seconds.
    #[arg(long, default_value_t = 8.0)]
    max_wait_s: f64,
    /// Stop the grace window's search once it is bracketed this tightly, in seconds.
    #[arg(long, default_value_t = 0.25)]
    resolution_s: f64,
    /// Then run tokenlab's `refresh` P4/P9 rows with the measured switches and say whether
    /// F-grace applies to this server.
    #[arg(long)]
    check: bool,
    #[arg(long)]
    json: bool,
}

/// Whether F-grace (detection slips one refresh cycle inside the grace window) applies.
#[derive(serde::Serialize)]
struct CheckResult {
    mechanism: String,
    p4: String,
    p9: String,
    /// P4 with the same switches but `grace_window=0` (the counterfactual).
    p4_without_grace: String,
    f_grace_applies: bool,
    why: String,
    budget: &'static str,
}

fn verdict_name(r: &MatrixRow) -> String {
    r.verdict.name().to_string()
}

fn run_check(sets: &[String]) -> Result<CheckResult> {
    let mechanism = format!("refresh[{}]", sets.join(","));
    let no_grace: Vec<String> = sets
        .iter()
        .map(|s| {
            if s.starts_with("grace_window=") {
                "grace_window=0".to_string()
            } else {
                s.clone()
            }
        })
        .collect();
    let mechanism0 = format!("refresh[{}]", no_grace.join(","));
    let budget = CheckBudget::REPORT;
    let seed = 1;
    let row = |m: &str, p: Property| -> Result<MatrixRow> {
        let (e, _) = crate::cli_explore::row_of(m, p)?;
        Ok(run_row_searched(&e, &budget, seed))
    };
    let p4 = row(&mechanism, Property::P4)?;
    let p9 = row(&mechanism, Property::P9)?;
    let p40 = row(&mechanism0, Property::P4)?;
    let grace = sets
        .iter()
        .any(|s| s.starts_with("grace_window=") && s != "grace_window=0");
    let applies = grace && p4.verdict == VerdictKind::Violated && p40.verdict == VerdictKind::Holds;
    let why = if applies {
        "P4 is violated with the measured grace window and holds with grace_window=0: inside the window reuse detection misses the thief's and the victim's presentations of one RT, and detection slips by one refresh cycle".to_string()
    } else if !grace {
        "no grace window: a reused RT is refused at once".to_string()
    } else if p40.verdict == VerdictKind::Violated {
        "P4 is violated even without the grace window (no rotation or no reuse detection): the exposure is not the grace window's".to_string()
    } else {
        format!(
            "P4 {} with the measured switches: the search did not find the grace-window ordering",
            p4.verdict.name()
        )
    };
    Ok(CheckResult {
        mechanism,
        p4: verdict_name(&p4),
        p9: verdict_name(&p9),
        p4_without_grace: verdict_name(&p40),
        f_grace_applies: applies,
        why,
        budget: budget.name,
    })
}

fn print_text(f: &Findings, sets: &[String], caveats: &[String], check: Option<&CheckResult>) {
    let refs = |r: &[u32]| {
        r.iter()
            .map(|n| format!("#{n}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let line = |name: &str, v: String, r: &[u32], how: &str| {
        println!("  {name:<26} {v:<13} {:<14} {how}", refs(r));
    };
    println!(
        "tokenlab probe: {} requests in {:.1} s, {} of {} families used",
        f.requests.len(),
        f.elapsed_s,
        f.families_used,
        f.families_given
    );
    println!("verdicts (value, requests that showed it, how):");
    for (name, value, requests, how) in f.rows() {
        line(
            name,
            value.unwrap_or_else(|| "undetermined".into()),
            requests,
            how,
        );
    }
    for d in &f.deviations {
        println!("    deviation {d}");
    }
    println!("requests (tokens by SHA-256 fingerprint only):");
    for s in &f.requests {
        println!(
            "  #{:<3} {:>6} ms  {} -> HTTP {}{}{}  {}",
            s.n,
            s.at_ms,
            s.presented,
            s.status,
            s.error
                .as_deref()
                .map(|e| format!(" {e}"))
                .unwrap_or_default(),
            s.refresh_token
                .as_deref()
                .map(|t| format!(" rt {t}"))
                .unwrap_or_default(),
            s.purpose
        );
    }
    println!(
        "model: tokenlab simulate --mechanism refresh {}",
        sets.iter()
            .map(|s| format!("--set {s}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    for c in caveats {
        println!("  caveat: {c}");
    }
    if let Some(c) = check {
        println!(
            "check ({} budget): {} P4 {}, P9 {}; P4 with grace_window=0: {}",
            c.budget, c.mechanism, c.p4, c.p9, c.p4_without_grace
        );
        println!(
            "F-grace applies to this server: {} ({})",
            if c.f_grace_applies { "yes" } else { "no" },
            c.why
        );
    }
}

pub fn probe_cmd(a: ProbeArgs) -> Result<()> {
    let target = probe::target(&a.token_endpoint, a.allow_remote)?;
    if a.max_requests == 0 || a.max_requests > 500 {
        bail!(
            "--max-requests must be between 1 and 500, got {}",
            a.max_requests
        );
    }
    if !(a.max_rate > 0.0 && a.max_rate <= 100.0) {
        bail!(
            "--max-rate must be above 0 and at most 100 per second, got {}",
            a.max_rate
        );
    }
    if !(a.max_wait_s > 0.0 && a.max_wait_s <= 120.0) {
        bail!(
            "--max-wait-s must be above 0 and at most 120, got {}",
            a.max_wait_s
        );
    }
    if !(a.resolution_s >= 0.01 && a.resolution_s <= a.max_wait_s) {
        bail!(
            "--resolution-s must be between 0.01 and --max-wait-s, got {}",
            a.resolution_s
        );
    }
    if a.client_secret.is_some() && a.client_id.is_none() {
        bail!("--client-secret needs --client-id");
    }
    if a.refresh_tokens.iter().any(|t| t.is_empty()) {
        bail!("--refresh-token must not be empty");
    }
    let cfg = ProbeConfig {
        target,
        client_id: a.client_id,
        client_secret: a.client_secret,
        families: a.refresh_tokens,
        max_requests: a.max_requests,
        max_rate: a.max_rate,
        max_wait: Duration::from_secs_f64(a.max_wait_s),
        resolution: Duration::from_secs_f64(a.resolution_s),
        timeout: Duration::from_secs(10),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let f = rt.block_on(probe::probe(cfg))?;
    let (sets, caveats) = probe::model_switches(&f);
    resolve("refresh", &sets).context("the measured switches do not resolve (a tokenlab bug)")?;
    let check = if a.check {
        Some(run_check(&sets)?)
    } else {
        None
    };
    if a.json {
        let v = serde_json::json!({
            "rotation": f.rotation.value,
            "reuse_rejected": f.reuse_rejected.value,
            "grace_window_s": f.grace_window_s.value,
            "grace_window_bounds_s": f.grace_window_bounds_s,
            "grace_reply": f.grace_reply.value,
            "family_revoked_on_reuse": f.family_revoked_on_reuse.value,
            "old_generations_accepted": f.old_generations_accepted.value,
            "access_token_ttl_s": f.access_token_ttl_s.value,
            "error_codes_conform": f.error_codes_conform.value,
            "requests": f.requests.len(),
            "elapsed_s": f.elapsed_s,
            "families_given": f.families_given,
            "families_used": f.families_used,
            "model_switches": sets,
            "model_caveats": caveats,
            "verdicts": {
                "rotation": f.rotation,
                "reuse_rejected": f.reuse_rejected,
                "grace_window_s": f.grace_window_s,
                "grace_reply": f.grace_reply,
                "family_revoked_on_reuse": f.family_revoked_on_reuse,
                "old_generations_accepted": f.old_generations_accepted,
                "access_token_ttl_s": f.access_token_ttl_s,
                "error_codes_conform": f.error_codes_conform,
            },
            "deviations": f.deviations,
            "request_log": f.requests,
            "check": check,
        });
        println!("{}", crate::json_out::to_string(&v)?);
    } else {
        print_text(&f, &sets, &caveats, check.as_ref());
    }
    Ok(())
}
