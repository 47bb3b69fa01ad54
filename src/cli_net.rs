//! The real-network subcommands: `serve` (one mechanism's world on loopback, until Ctrl-C)
//! and `calibrate` (simulator vs loopback at injected delays 0 and 5 ms).

use anyhow::{Context, Result, bail};
use clap::Args;
use std::collections::{BTreeMap, BTreeSet};
use tokenlab::net::{LoopbackWorld, NetConfig, calibrate};
use tokenlab_models::faults::{PRESET_NAMES, preset};
use tokenlab_models::history::Event;
use tokenlab_models::ids::{Party, TenantId};

#[derive(Args)]
pub struct ServeArgs {
    /// ID[:PROFILE], e.g. refresh, trigger:sample.
    #[arg(long)]
    mechanism: String,
    /// KEY=VALUE for any switch of the mechanism (validated).
    #[arg(long = "set")]
    sets: Vec<String>,
    /// Network preset whose faults are enacted on the loopback links.
    #[arg(long, default_value = "lan")]
    preset: String,
    #[arg(long, default_value_t = 3)]
    tenants: u32,
    /// Seed (decimal or 0x-hex).
    #[arg(long, default_value = "1", value_parser = crate::parse_seed)]
    seed: u64,
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the tokio runtime")
}

/// What each endpoint was seen to receive during provisioning and one demand: route and the
/// names (never the values) of the fields it reads.
fn expectations(world: &LoopbackWorld) -> BTreeMap<Party, BTreeSet<String>> {
    let mut out: BTreeMap<Party, BTreeSet<String>> = BTreeMap::new();
    for r in &world.history().records {
        if let Event::Receive { who, env } = &r.event
            && let Some(q) = env.request()
        {
            let mut names: Vec<&str> = q.headers.0.iter().map(|(k, _)| *k).collect();
            names.extend(q.body.0.iter().map(|(k, _)| *k));
            let names = if names.is_empty() {
                String::new()
            } else {
                format!(" [{}]", names.join(", "))
            };
            out.entry(*who)
                .or_default()
                .insert(format!("{}{names}", q.route));
        }
    }
    out
}

pub fn serve(a: ServeArgs) -> Result<()> {
    let Some(p) = preset(&a.preset) else {
        bail!(
            "unknown preset '{}'; known: {}",
            a.preset,
            PRESET_NAMES.join(", ")
        );
    };
    if a.tenants < 2 || a.tenants > 1000 {
        bail!("--tenants must be between 2 and 1000, got {}", a.tenants);
    }
    let cfg = NetConfig {
        mechanism: a.mechanism.clone(),
        sets: a.sets.clone(),
        tenants: a.tenants,
        seed: a.seed,
        network: p.network,
        nemesis: p.nemesis,
        ..NetConfig::new(&a.mechanism, a.tenants, 0.0)
    };
    runtime()?.block_on(async {
        // Listen for Ctrl-C before saying "serving", so an early interrupt is never missed.
        #[cfg(unix)]
        let mut interrupt =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
                .context("listening for Ctrl-C")?;
        let world = LoopbackWorld::start(&cfg).await?;
        // One demand on the last tenant shows the on-demand path; tenant 0 stays untouched
        // so its printed credentials are current.
        let demo = world.demand(TenantId(a.tenants - 1)).await;
        println!(
            "tokenlab serve: {} on 127.0.0.1 (preset {}, {} tenants t0..t{}, seed {:#x})",
            world.mechanism.id(),
            a.preset,
            a.tenants,
            a.tenants - 1,
            a.seed
        );
        println!(
            "a demand for t{} by the partner's own client: {:?}, token latency {} µs",
            a.tenants - 1,
            demo.outcome,
            demo.token_latency
                .map_or("-".to_string(), |t| t.to_string())
        );
        println!("published FIT key set: {}", world.jwks_url);
        println!("endpoints (what each received so far: route [field names]):");
        let seen = expectations(&world);
        for (party, url) in world.endpoints() {
            println!("  {:<12} {url}", party.to_string());
            for e in seen.get(&party).into_iter().flatten() {
                println!("  {:<12}   {e}", "");
            }
        }
        println!(
            "requests: POST bodies as application/x-www-form-urlencoded or JSON; name the tenant with a `tenant` field or an x-tokenlab-tenant header; client credentials may also go in Basic auth."
        );
        println!(
            "SECRETS of demo tenant t0 follow. This is the only place tokenlab ever prints a secret; they are valid only in this loopback world:"
        );
        let creds = world.partner_credentials(TenantId(0));
        if creds.is_empty() {
            println!("  (none: this mechanism provisions no credential to the partner)");
        }
        for (k, v) in creds {
            println!("  {k} = {}", tokenlab::net::wire::value_text(&v));
        }
        println!("serving until Ctrl-C");
        use std::io::Write;
        let _ = std::io::stdout().flush();
        #[cfg(unix)]
        interrupt.recv().await;
        #[cfg(not(unix))]
        tokio::signal::ctrl_c()
            .await
            .context("waiting for Ctrl-C")?;
        println!("stopped");
        Ok::<(), anyhow::Error>(())
    })
}

#[derive(Args)]
pub struct CalibrateArgs {
    /// Cold acquisitions measured per mechanism and delay.
    #[arg(long, default_value_t = 15)]
    samples: u32,
    /// Print the calibration as JSON.
    #[arg(long)]
    json: bool,
}

pub fn calibrate_cmd(a: CalibrateArgs) -> Result<()> {
    if a.samples == 0 || a.samples > 1000 {
        bail!("--samples must be between 1 and 1000, got {}", a.samples);
    }
    let c = runtime()?.block_on(calibrate::calibrate(a.samples))?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&c)?);
    } else {
        print!("{}", calibrate::table(&c));
    }
    Ok(())
}
