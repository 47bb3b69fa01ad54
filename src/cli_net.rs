//! The real-network subcommands: `serve` (one mechanism's world on loopback, until Ctrl-C)
//! and `calibrate` (simulator vs loopback at injected delays 0 and 5 ms).

use anyhow::{Context, Result, bail};
use clap::Args;
use std::collections::{BTreeMap, BTreeSet};
use tokenlab::net::{LoopbackWorld, NetConfig, calibrate};
use tokenlab_models::faults::{PRESET_NAMES, preset};
use tokenlab_models::history::Event;
use tokenlab_models::ids::{APP_ID, Group, Party, TenantId};
use tokenlab_models::mechanisms::upm_oauth::REDIRECT_URI;
use tokenlab_models::message::Value;

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
    /// Demo tenants (sites) t0..t(N-1); each gets its credentials printed.
    #[arg(long, default_value_t = 1)]
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

/// The `key = value` lines a stock client is configured from: endpoints and values shared by
/// every tenant, then `tenant = i` and that tenant's own credentials, for each tenant.
fn client_block(world: &LoopbackWorld) -> Vec<(String, String)> {
    use tokenlab::net::wire::value_text;
    let facts = world.mechanism.facts();
    let mut out: Vec<(String, String)> = Vec::new();
    let mut put = |k: &str, v: String| out.push((k.to_string(), v));
    let url = |p: Party| world.url(p).unwrap_or_default();
    if facts.acquires_from == Some(Group::AuthServer) {
        put("token_endpoint", format!("{}/oauth/token", url(Party::AS)));
    }
    if facts.browser_consent {
        put(
            "authorization_endpoint",
            format!("{}/authorize", url(Party::AS)),
        );
        put("redirect_uri", REDIRECT_URI.to_string());
    }
    put(
        "api_endpoint",
        format!("{}/rest/api/resource", url(Party::API)),
    );
    put("jwks_uri", world.jwks_url.clone());
    let rows: Vec<Vec<(&'static str, Value)>> = (0..world.tenants)
        .map(|t| world.partner_credentials(TenantId(t)))
        .collect();
    // A value every tenant holds alike (one app-wide secret) is shared; a single tenant's
    // credentials stay under its own heading.
    let shared = |k: &str, v: &Value| {
        rows.len() > 1
            && rows
                .iter()
                .all(|r| r.iter().any(|(k2, v2)| *k2 == k && v2 == v))
    };
    if !rows.iter().flatten().any(|(k, _)| *k == "client_id") {
        put("client_id", APP_ID.to_string());
    }
    for (k, v) in rows.first().into_iter().flatten() {
        if shared(k, v) {
            put(k, value_text(v));
        }
    }
    for (t, row) in rows.iter().enumerate() {
        put("tenant", t.to_string());
        for (k, v) in row {
            if !shared(k, v) {
                put(k, value_text(v));
            }
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
    if a.tenants < 1 || a.tenants > 1000 {
        bail!("--tenants must be between 1 and 1000, got {}", a.tenants);
    }
    // Virtual time 0 is the wall clock now, so tokens carry real `iat`/`exp` (the driver may
    // read the clock; the models only ever see this number).
    let epoch_s = tokenlab::net::world::wall_clock_unix_s();
    let cfg = NetConfig {
        mechanism: a.mechanism.clone(),
        sets: a.sets.clone(),
        tenants: a.tenants,
        seed: a.seed,
        network: p.network,
        nemesis: p.nemesis,
        epoch_s: Some(epoch_s),
        ..NetConfig::new(&a.mechanism, a.tenants, 0.0)
    };
    runtime()?.block_on(async {
        // Listen for Ctrl-C before saying "serving", so an early interrupt is never missed.
        #[cfg(unix)]
        let mut interrupt =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
                .context("listening for Ctrl-C")?;
        let world = LoopbackWorld::start(&cfg).await?;
        // One demand on the last tenant shows the on-demand path (the credentials printed
        // below are read after it, so they are current).
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
            "requests: standard OAuth 2.0 (RFC 6749); POST bodies as application/x-www-form-urlencoded or JSON; client credentials in the body or in Basic auth; name the site with a `tenant` field only where no credential names it (global-secret)."
        );
        println!(
            "SECRETS follow with what a client needs, shared first, then per tenant. This is the only place tokenlab ever prints a secret; they are valid only in this loopback world:"
        );
        for (k, v) in client_block(&world) {
            println!("  {k} = {v}");
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
        println!("{}", crate::json_out::to_string(&c)?);
    } else {
        print!("{}", calibrate::table(&c));
    }
    Ok(())
}

#[derive(Args)]
pub struct StaleReadsArgs {
    /// `memory` (the model store), `postgres` (tokenlab starts its own primary and hot
    /// standby on 127.0.0.1 and removes them at the end) or `postgres://…` (an existing
    /// primary on loopback; needs --standby).
    #[arg(long, default_value = "memory")]
    store: String,
    /// The existing hot standby of `--store postgres://…` (`postgres://…`).
    #[arg(long)]
    standby: Option<String>,
    /// Where P.app reads T back: replica (the standby) or primary.
    #[arg(long, default_value = "replica")]
    read_from: String,
    /// Injected lag: the standby's recovery_min_apply_delay (postgres), or the model
    /// store's fixed replica lag (memory). Default 0.
    #[arg(long)]
    apply_delay_ms: Option<u64>,
    /// Demands, each a different tenant's cold miss (one read-back each).
    #[arg(long, default_value_t = 200)]
    demands: u32,
    /// Injected one-way delay per inter-party link (ms); the read-after-write window Δ is
    /// about twice this.
    #[arg(long, default_value_t = 40.0)]
    one_way_ms: f64,
    #[arg(long)]
    json: bool,
}

/// `stale-reads`' JSON: the result and, with a cluster of our own, its start-up time.
#[derive(serde::Serialize)]
struct StaleReadsOut {
    #[serde(flatten)]
    result: tokenlab::store_pg::StaleReads,
    cluster_startup_s: Option<f64>,
}

enum StoreArg {
    Memory,
    Own,
    Existing { primary: String, standby: String },
}

fn store_arg(a: &StaleReadsArgs) -> Result<StoreArg> {
    let store = match a.store.as_str() {
        "memory" => StoreArg::Memory,
        "postgres" => StoreArg::Own,
        url if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            let Some(standby) = a.standby.clone() else {
                bail!(
                    "--store {url} points at an existing primary: name its hot standby with --standby postgres://…"
                );
            };
            if a.apply_delay_ms.is_some() {
                bail!(
                    "--apply-delay-ms applies to the cluster tokenlab starts (--store postgres); an existing standby's lag is its own recovery_min_apply_delay: set it there"
                );
            }
            StoreArg::Existing {
                primary: url.to_owned(),
                standby,
            }
        }
        other => bail!("--store: expected memory, postgres or a postgres:// URL, got '{other}'"),
    };
    if a.standby.is_some() && !matches!(store, StoreArg::Existing { .. }) {
        bail!("--standby goes with --store postgres://PRIMARY (an existing pair)");
    }
    Ok(store)
}

pub fn stale_reads(a: StaleReadsArgs) -> Result<()> {
    use tokenlab::store_pg::stale_reads::{self as sr, StaleReadsConfig, StoreTarget};
    use tokenlab_models::params::{Choice, ReadFrom};
    let Some(read_from) = ReadFrom::from_name(&a.read_from) else {
        bail!(
            "--read-from: expected one of {}, got '{}'",
            ReadFrom::NAMES.join(", "),
            a.read_from
        );
    };
    if a.demands == 0 || a.demands > 5000 {
        bail!("--demands must be between 1 and 5000, got {}", a.demands);
    }
    if !(0.0..=1000.0).contains(&a.one_way_ms) {
        bail!(
            "--one-way-ms must be between 0 and 1000, got {}",
            a.one_way_ms
        );
    }
    if a.apply_delay_ms.is_some_and(|d| d > 600_000) {
        bail!("--apply-delay-ms must be at most 600000 (10 min)");
    }
    let store = store_arg(&a)?;
    let mut cfg = StaleReadsConfig {
        read_from,
        apply_delay_ms: a.apply_delay_ms.unwrap_or(0),
        demands: a.demands,
        one_way_ms: a.one_way_ms,
        ..StaleReadsConfig::default()
    };
    let out = runtime()?.block_on(async {
        // Ctrl-C and SIGTERM end the run through the ordinary path: the cluster (if ours) is
        // dropped, which stops both servers and removes their directory.
        let mut interrupt =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
                .context("listening for Ctrl-C")?;
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .context("listening for SIGTERM")?;
        // Our own cluster starts outside the select below: a signal during its start-up is
        // taken right after, and the cluster is then dropped (stopped and removed).
        let own = match &store {
            StoreArg::Own => Some(
                sr::start_own(tokenlab::store_pg::ClusterOptions::default())
                    .await
                    .context("starting PostgreSQL (--store postgres)")?,
            ),
            _ => None,
        };
        let work = async {
            match (&store, &own) {
                (StoreArg::Own, Some((cluster, pg))) => {
                    sr::set_delay(cluster, pg, cfg.apply_delay_ms).await?;
                    let (r, _) = sr::run(&StoreTarget::Postgres(pg.clone()), &cfg).await?;
                    Ok::<_, anyhow::Error>(r)
                }
                (StoreArg::Existing { primary, standby }, _) => {
                    let pg = tokenlab::store_pg::PgStore::open(primary, standby).await?;
                    let shown = pg.standby_apply_delay().await?;
                    cfg.apply_delay_ms = sr::parse_pg_duration_ms(&shown).unwrap_or(0);
                    pg.set_expected_lag_ms(cfg.apply_delay_ms);
                    let (r, _) = sr::run(&StoreTarget::Postgres(std::sync::Arc::new(pg)), &cfg)
                        .await?;
                    Ok(r)
                }
                _ => Ok(sr::run(&StoreTarget::Memory, &cfg).await?.0),
            }
        };
        let r = tokio::select! {
            biased;
            _ = interrupt.recv() => Err(anyhow::anyhow!("interrupted (Ctrl-C); a cluster tokenlab started is stopped and removed")),
            _ = terminate.recv() => Err(anyhow::anyhow!("terminated (SIGTERM); a cluster tokenlab started is stopped and removed")),
            r = work => r,
        };
        let startup = own.as_ref().map(|(c, _)| c.startup.as_secs_f64());
        // On an error the cluster is dropped here, before the message is printed.
        r.map(|r| (r, startup, own.map(|(c, _)| c)))
    })?;
    let (result, startup, cluster) = out;
    if a.json {
        let o = StaleReadsOut {
            result,
            cluster_startup_s: startup.map(|s| (s * 1000.0).round() / 1000.0),
        };
        println!("{}", crate::json_out::to_string(&o)?);
    } else {
        print_stale_reads(&result, startup);
    }
    drop(cluster);
    Ok(())
}

fn print_stale_reads(r: &tokenlab::store_pg::StaleReads, startup: Option<f64>) {
    println!(
        "stale reads: trigger's cold path on loopback, store {}{}, read_from={}, apply delay {} ms, {} demands ({:.1} s)",
        r.store,
        r.server_version
            .as_deref()
            .map_or(String::new(), |v| format!(
                " ({})",
                v.split(',').next().unwrap_or(v)
            )),
        r.read_from,
        r.apply_delay_ms,
        r.demands,
        r.wall_s
    );
    println!(
        "  reads {}, stale {}: share {:.3}, 95% CI [{:.3}, {:.3}]",
        r.reads, r.stale, r.stale_share, r.stale_share_ci[0], r.stale_share_ci[1]
    );
    let q = |x: &tokenlab::store_pg::stale_reads::QuantilesMs| {
        format!(
            "n {}, min {:.1}, p10 {:.1}, p50 {:.1}, p90 {:.1}, p99 {:.1}, max {:.1}",
            x.n, x.min, x.p10, x.p50, x.p90, x.p99, x.max
        )
    };
    println!("  replication lag ms: {}", q(&r.lag_ms));
    println!("  window Δ ms (commit → read-back): {}", q(&r.window_ms));
    println!(
        "  S3 prediction P(lag > Δ): {:.3} ({} the interval)",
        r.s3_prediction,
        if r.s3_within_ci { "inside" } else { "outside" }
    );
    println!(
        "  P12 read-your-writes: {} ({} trigger 2xx reached P.app)",
        r.p12, r.p12_reached
    );
    if let Some(s) = startup {
        println!("  cluster start-up: {s:.2} s (stopped and removed at exit)");
    }
}
