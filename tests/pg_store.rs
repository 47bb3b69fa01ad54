//! The partner's token store on a real PostgreSQL primary and hot standby (issue 15).
//!
//! Each test that needs PostgreSQL starts its own cluster (`tokenlab-pg-*` under the temp
//! dir, servers run as an unprivileged account) and checks that nothing is left behind: no
//! directory, no server process. Without the server binaries these tests say so and pass,
//! so `cargo test` needs no database; `.ci/run` installs PostgreSQL and sets
//! `TOKENLAB_REQUIRE_POSTGRES=1`, which turns a missing server into a failure.
//!
//! Controls: P12 is violated on the standby with an apply delay (negative control) and holds
//! on the primary (positive control); the secret scan of PostgreSQL's logs finds the token
//! when statements are logged with their parameters (the scan can fail).

mod common;
use common::tokenlab;
use std::path::Path;
use tokenlab::store_pg::cluster::{self, processes_under};
use tokenlab::store_pg::stale_reads::{self as sr, StaleReadsConfig, StoreTarget};
use tokenlab::store_pg::{ClusterOptions, PgStore};
use tokenlab_models::params::ReadFrom;

/// Whether PostgreSQL is here; without it the test passes with a note, unless CI requires it.
fn postgres_or_skip(test: &str) -> bool {
    if cluster::available() {
        return true;
    }
    assert!(
        std::env::var_os("TOKENLAB_REQUIRE_POSTGRES").is_none(),
        "{test}: PostgreSQL server binaries are missing and TOKENLAB_REQUIRE_POSTGRES is set; install them with `apt-get install postgresql`"
    );
    eprintln!("{test}: SKIPPED, no PostgreSQL server binaries (apt-get install postgresql)");
    false
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

fn leaks(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| l.contains("tlsec_") || l.contains("eyJ"))
        .collect()
}

fn assert_gone(dir: &Path) {
    assert!(!dir.exists(), "{} is left behind", dir.display());
    assert!(
        processes_under(dir).is_empty(),
        "servers of {} still run: {:?}",
        dir.display(),
        processes_under(dir)
    );
}

fn cfg(read_from: ReadFrom, apply_delay_ms: u64) -> StaleReadsConfig {
    StaleReadsConfig {
        read_from,
        apply_delay_ms,
        demands: 30,
        concurrency: 10,
        ..StaleReadsConfig::default()
    }
}

#[test]
fn p12_is_violated_on_a_delayed_standby_and_holds_on_the_primary() {
    if !postgres_or_skip("p12 on PostgreSQL") {
        return;
    }
    let rt = runtime();
    let dir = rt.block_on(async {
        let (cluster, store) = sr::start_own(ClusterOptions::default())
            .await
            .expect("a cluster of our own");
        let dir = cluster.dir.clone();
        assert!(
            dir.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("tokenlab-pg-"))
        );
        assert!(!processes_under(&dir).is_empty(), "the servers run");
        // Negative control: an apply delay far beyond the read-after-write window (Δ ≈ 80 ms).
        sr::set_delay(&cluster, &store, 1000).await.expect("delay");
        let target = StoreTarget::Postgres(store.clone());
        let (replica, h_replica) = sr::run(&target, &cfg(ReadFrom::Replica, 1000))
            .await
            .expect("a run on the standby");
        assert_eq!(replica.store, "postgres");
        assert!(
            replica
                .server_version
                .as_deref()
                .is_some_and(|v| v.starts_with("PostgreSQL"))
        );
        assert_eq!(replica.reads, 30, "one read-back per demand");
        assert!(replica.stale > 0, "{replica:?}");
        assert_eq!(replica.p12, "violated");
        // The lag was measured on the standby, and it is at least most of the delay.
        assert!(
            replica.lag_ms.n > 0 && replica.lag_ms.p50 > 500.0,
            "{replica:?}"
        );
        // Positive control: the same store, the same delay, read from the primary.
        let (primary, h_primary) = sr::run(&target, &cfg(ReadFrom::Primary, 1000))
            .await
            .expect("a run on the primary");
        // Every demand missed and read back (the previous run's tokens were emptied).
        assert_eq!(primary.reads, 30, "{primary:?}");
        assert_eq!(primary.stale, 0, "{primary:?}");
        assert_eq!(primary.p12, "holds");
        assert!(primary.p12_reached > 0, "P12 was reached, not vacuous");
        assert_eq!(primary.s3_prediction, 0.0);
        // The real store's histories and PostgreSQL's own logs hold no secret value.
        for h in [&h_replica, &h_primary] {
            let text = serde_json::to_string(h).expect("a history as JSON");
            assert!(text.contains("StoreCommit"), "tokens were committed");
            assert!(
                leaks(&text).is_empty(),
                "the history leaks: {:?}",
                leaks(&text)
            );
        }
        for log in cluster.log_files() {
            let text = std::fs::read_to_string(&log).expect("the server log");
            assert!(
                leaks(&text).is_empty(),
                "{} leaks: {:?}",
                log.display(),
                leaks(&text)
            );
        }
        drop(cluster);
        dir
    });
    assert_gone(&dir);
}

#[test]
fn the_log_scan_finds_the_token_when_statements_are_logged_with_parameters() {
    if !postgres_or_skip("log scan control") {
        return;
    }
    let rt = runtime();
    let dir = rt.block_on(async {
        let opts = ClusterOptions {
            log_statements_with_parameters: true,
            ..ClusterOptions::default()
        };
        let (cluster, store) = sr::start_own(opts).await.expect("a cluster");
        let target = StoreTarget::Postgres(store);
        let c = StaleReadsConfig {
            demands: 3,
            ..cfg(ReadFrom::Primary, 0)
        };
        sr::run(&target, &c).await.expect("a run");
        let logged: String = cluster
            .log_files()
            .iter()
            .map(|l| std::fs::read_to_string(l).unwrap_or_default())
            .collect();
        assert!(
            !leaks(&logged).is_empty(),
            "with log_statement=all and parameters, the JWT reaches the log and the scan sees it"
        );
        cluster.dir.clone()
    });
    assert_gone(&dir);
}

#[test]
fn sigterm_during_a_run_stops_and_removes_the_cluster() {
    if !postgres_or_skip("SIGTERM cleanup") {
        return;
    }
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_tokenlab"))
        .args([
            "stale-reads",
            "--store",
            "postgres",
            "--demands",
            "5000",
            "--apply-delay-ms",
            "0",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("tokenlab starts");
    let dir = std::env::temp_dir().join(format!("tokenlab-pg-{}-0", child.id()));
    // Wait (without a clock) until both servers run, then terminate tokenlab; the bound (5 min
    // of polls) only stops a hang: a loaded machine can take a minute to start the pair.
    // Both servers' `postmaster.pid`, not a count of processes alone: `initdb` and its
    // bootstrap backend are two processes under the directory too, gone a moment later.
    let servers_up = || {
        ["primary", "standby"]
            .iter()
            .all(|d| dir.join(d).join("postmaster.pid").exists())
            && processes_under(&dir).len() >= 2
    };
    let mut polls = 0;
    while !servers_up() && polls < 30_000 {
        std::thread::sleep(std::time::Duration::from_millis(10));
        polls += 1;
    }
    assert!(servers_up(), "the cluster came up");
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let out = child.wait_with_output().expect("tokenlab exits");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("SIGTERM"), "{stderr}");
    assert_gone(&dir);
}

#[test]
fn an_existing_pair_off_loopback_is_refused_before_connecting() {
    let rt = runtime();
    let e = rt
        .block_on(PgStore::open(
            "postgres://tokenlab@10.1.2.3:5432/postgres",
            "postgres://tokenlab@127.0.0.1:5433/postgres",
        ))
        .expect_err("refused");
    assert!(e.to_string().contains("10.1.2.3"), "{e}");
    assert!(e.to_string().contains("loopback"), "{e}");
}

#[test]
fn stale_reads_flags_are_checked_with_one_clear_line() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["--store", "mysql"],
            "expected memory, postgres or a postgres:// URL",
        ),
        (&["--store", "postgres://127.0.0.1:1/x"], "--standby"),
        (
            &["--read-from", "cache"],
            "expected one of primary, replica",
        ),
        (&["--demands", "0"], "--demands must be between 1 and 5000"),
        (
            &["--store", "memory", "--standby", "postgres://127.0.0.1:1/x"],
            "--standby goes with",
        ),
        (
            &[
                "--store",
                "postgres://127.0.0.1:1/x",
                "--standby",
                "postgres://127.0.0.1:2/x",
                "--apply-delay-ms",
                "5",
            ],
            "recovery_min_apply_delay",
        ),
    ];
    for (args, expected) in cases {
        let mut all = vec!["stale-reads"];
        all.extend_from_slice(args);
        let (code, _, stderr) = tokenlab(&all);
        assert_eq!(code, 2, "{all:?}: {stderr}");
        assert!(stderr.contains(expected), "{all:?}: {stderr}");
    }
}

#[test]
fn the_memory_store_gives_the_same_verdicts_without_a_server() {
    let (code, out, err) = tokenlab(&[
        "stale-reads",
        "--store",
        "memory",
        "--apply-delay-ms",
        "1000",
        "--demands",
        "10",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v["schema_version"], 1);
    assert_eq!(v["store"], "memory");
    assert!(v["server_version"].is_null());
    assert_eq!(v["read_from"], "replica");
    assert_eq!(v["reads"], 10);
    assert_eq!(v["stale"], 10);
    assert_eq!(v["p12"], "violated");
    assert_eq!(v["stale_share_ci"].as_array().map(Vec::len), Some(2));
    for key in ["stale_share", "lag_ms", "s3_prediction"] {
        assert!(!v[key].is_null(), "{key}");
    }
    let (code, out, err) = tokenlab(&[
        "stale-reads",
        "--store",
        "memory",
        "--read-from",
        "primary",
        "--apply-delay-ms",
        "1000",
        "--demands",
        "10",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v["stale"], 0);
    assert_eq!(v["p12"], "holds");
    assert!(leaks(&out).is_empty());
}
