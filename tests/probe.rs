//! `tokenlab probe` against real authorization servers started locally on 127.0.0.1:
//! django-oauth-toolkit (PyPI, pinned in `tests/probe_servers/dot/requirements.txt`), node
//! `oidc-provider` (npm, pinned in `tests/probe_servers/oidc_provider/package-lock.json`) and
//! `tokenlab serve`, each in several configurations. The probe's classification must equal
//! each configuration's ground truth (the server's own settings and source), and the committed
//! report data (`src/report/real_servers.json`) must agree with it.
//!
//! Runtimes: a venv with the pinned django-oauth-toolkit (`TOKENLAB_PROBE_PYTHON`, default
//! `target/probe-venv/bin/python`) and `npm ci` in `tests/probe_servers/oidc_provider`.
//! Without them a test passes with a printed SKIPPED reason, unless
//! `TOKENLAB_REQUIRE_PROBE_SERVERS=1` (set by `.ci/run`), which makes a missing runtime fail.
//!
//! `TOKENLAB_PROBE_RECORD=DIR` writes each configuration's measured entry to `DIR/ID.json`
//! and runs `--check` on every configuration (`scripts/probe-real-servers.sh` merges them).
//! Servers are stopped by their PID when the guard drops, also when an assertion fails.

use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Guards against a hang only; no test asserts on time.
const HANG_GUARD: Duration = Duration::from_secs(120);
const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const COMMITTED: &str = include_str!("../src/report/real_servers.json");

/// A server process, killed by its PID (and its temporary directory removed) on drop.
struct Server {
    child: Child,
    keys: Vec<(String, String)>,
    banner: String,
    tmp: Option<PathBuf>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(t) = &self.tmp {
            let _ = std::fs::remove_dir_all(t);
        }
    }
}

impl Server {
    /// Starts `cmd` and reads its `  key = value` lines up to the line starting with `serving`.
    fn start(mut cmd: Command, tmp: Option<PathBuf>) -> Server {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {cmd:?}: {e}"));
        let stdout = child.stdout.take().expect("piped");
        let mut server = Server {
            child,
            keys: Vec::new(),
            banner: String::new(),
            tmp,
        };
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        loop {
            let line = rx
                .recv_timeout(HANG_GUARD)
                .unwrap_or_else(|_| panic!("{cmd:?} did not come up"));
            if line.starts_with("serving") {
                break;
            }
            if server.banner.is_empty() {
                server.banner = line.clone();
            }
            if let Some((k, v)) = line.strip_prefix("  ").and_then(|l| l.split_once(" = ")) {
                server.keys.push((k.trim().to_string(), v.to_string()));
            }
        }
        std::thread::spawn(move || while rx.recv().is_ok() {});
        server
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.keys
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn all(&self, key: &str) -> Vec<String> {
        self.keys
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Every secret the server printed (the probe must print none of them).
    fn secrets(&self) -> Vec<String> {
        let mut s = self.all("refresh_token");
        s.extend(self.get("client_secret").map(str::to_string));
        s
    }
}

/// What a configuration really does (its settings, read against the server's source).
#[derive(Clone, Debug)]
struct Truth {
    rotation: bool,
    reuse_rejected: bool,
    /// `None`: no rotation, nothing superseded.
    grace_s: Option<f64>,
    grace_reply: Option<&'static str>,
    family_revoked: bool,
    old_generations: bool,
}

const NO_ROTATION: Truth = Truth {
    rotation: false,
    reuse_rejected: false,
    grace_s: None,
    grace_reply: None,
    family_revoked: false,
    old_generations: false,
};

fn rotating(grace_s: f64, reply: Option<&'static str>, revoked: bool, old: bool) -> Truth {
    Truth {
        rotation: true,
        reuse_rejected: true,
        grace_s: Some(grace_s),
        grace_reply: reply,
        family_revoked: revoked,
        old_generations: old,
    }
}

/// Asserts one classification (the probe's `--json`, or a committed entry) against the truth.
fn assert_truth(id: &str, v: &Value, t: &Truth) {
    let b = |k: &str| v[k].as_bool();
    assert_eq!(b("rotation"), Some(t.rotation), "{id}: rotation in {v:#}");
    assert_eq!(
        b("reuse_rejected"),
        Some(t.reuse_rejected),
        "{id}: reuse_rejected in {v:#}"
    );
    assert_eq!(
        b("family_revoked_on_reuse"),
        Some(t.family_revoked),
        "{id}: family_revoked_on_reuse in {v:#}"
    );
    assert_eq!(
        b("old_generations_accepted"),
        Some(t.old_generations),
        "{id}: old_generations_accepted in {v:#}"
    );
    assert_eq!(
        v["grace_reply"].as_str(),
        t.grace_reply,
        "{id}: grace_reply in {v:#}"
    );
    match t.grace_s {
        None => assert!(
            v["grace_window_s"].is_null(),
            "{id}: grace_window_s in {v:#}"
        ),
        Some(g) => {
            let w = v["grace_window_s"].as_f64().unwrap_or(-1.0);
            // The search stops at a 0.25 s bracket; its midpoint is within that of the truth.
            assert!(
                (w - g).abs() <= 0.3,
                "{id}: grace_window_s {w} vs {g} in {v:#}"
            );
        }
    }
    let sets: Vec<&str> = v["model_switches"]
        .as_array()
        .expect("model_switches")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let on = |b: bool| if b { "on" } else { "off" };
    assert!(
        sets.contains(&format!("rotation={}", on(t.rotation)).as_str()),
        "{id}: {sets:?}"
    );
    if t.rotation {
        assert!(
            sets.contains(&format!("reuse_detection={}", on(t.family_revoked)).as_str()),
            "{id}: {sets:?}"
        );
    }
    if let Some(r) = t.grace_reply {
        assert!(
            sets.contains(&format!("grace_reply={r}").as_str()),
            "{id}: {sets:?}"
        );
    }
}

/// Negative control: the assertion can fail. A measurement matches no other configuration's
/// truth of the same server (every configuration tested is told apart).
fn distinguishes<'a>(id: &str, v: &Value, others: impl Iterator<Item = (&'a str, &'a Truth)>) {
    for (other, t) in others.filter(|(o, _)| *o != id) {
        let wrong = std::panic::catch_unwind(|| assert_truth(other, v, t));
        assert!(
            wrong.is_err(),
            "{id}: its measurement also matches {other}'s truth"
        );
    }
}

/// Runs the probe on a started server, checks it against the truth and the committed data.
fn probe_and_assert(
    id: &str,
    server: &Server,
    client_id: Option<&str>,
    t: &Truth,
    check: bool,
) -> Value {
    let record = std::env::var_os("TOKENLAB_PROBE_RECORD");
    let check = check || record.is_some();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tokenlab"));
    cmd.arg("probe").arg("--json").arg("--token-endpoint").arg(
        server
            .get("token_endpoint")
            .expect("token_endpoint printed"),
    );
    if let Some(c) = client_id.or(server.get("client_id")) {
        cmd.args(["--client-id", c]);
    }
    if let Some(s) = server.get("client_secret") {
        cmd.arg(format!("--client-secret={s}"));
    }
    for rt in server.all("refresh_token") {
        // `=`: a token may start with '-'.
        cmd.arg(format!("--refresh-token={rt}"));
    }
    if check {
        cmd.arg("--check");
    }
    let out = cmd
        .env_remove("TOKENLAB_SEED")
        .output()
        .expect("runs the probe");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{id}: probe failed: {stderr}");
    for s in server.secrets() {
        assert!(
            !stdout.contains(&s) && !stderr.contains(&s),
            "{id}: the probe printed a secret"
        );
    }
    let v: Value = serde_json::from_str(&stdout).expect("probe --json is JSON");
    assert_truth(id, &v, t);
    let n = v["requests"].as_u64().unwrap_or(0);
    assert!(n > 0 && n <= 60, "{id}: {n} requests");
    // Reachability: every rejection the verdicts rest on was really sent.
    assert_eq!(v["request_log"].as_array().map(Vec::len), Some(n as usize));
    if check {
        let applies = t.grace_s.is_some_and(|g| g > 0.0) && t.family_revoked;
        assert_eq!(
            v["check"]["f_grace_applies"].as_bool(),
            Some(applies),
            "{id}: F-grace in {:#}",
            v["check"]
        );
    }
    // The committed report data agrees with the truth and with this measurement.
    if record.is_none() {
        let committed: Value = serde_json::from_str(COMMITTED).expect("real_servers.json");
        let entry = committed["configurations"]
            .as_array()
            .and_then(|a| a.iter().find(|e| e["id"] == id))
            .unwrap_or_else(|| panic!("{id}: no entry in src/report/real_servers.json"));
        assert_truth(&format!("{id} (committed)"), entry, t);
        for k in [
            "rotation",
            "reuse_rejected",
            "grace_reply",
            "family_revoked_on_reuse",
            "old_generations_accepted",
        ] {
            assert_eq!(
                entry[k], v[k],
                "{id}: committed {k} differs from this measurement"
            );
        }
    }
    if let Some(dir) = record {
        let e = serde_json::json!({
            "id": id,
            "server": server.banner,
            "rotation": v["rotation"],
            "reuse_rejected": v["reuse_rejected"],
            "grace_window_s": v["grace_window_s"],
            "grace_reply": v["grace_reply"],
            "family_revoked_on_reuse": v["family_revoked_on_reuse"],
            "old_generations_accepted": v["old_generations_accepted"],
            "access_token_ttl_s": v["access_token_ttl_s"],
            "error_codes_conform": v["error_codes_conform"],
            "requests": v["requests"],
            "elapsed_s": v["elapsed_s"],
            "model_switches": v["model_switches"],
            "p4": v["check"]["p4"],
            "p9": v["check"]["p9"],
            "f_grace_applies": v["check"]["f_grace_applies"],
        });
        let path = Path::new(&dir).join(format!("{id}.json"));
        std::fs::write(&path, serde_json::to_string_pretty(&e).unwrap()).expect("records");
    }
    v
}

/// Whether a runtime is here; without it the test passes with a note, unless CI requires it.
fn runtime_or_skip(test: &str, what: &str, ok: bool, install: &str) -> bool {
    if ok {
        return true;
    }
    assert!(
        std::env::var_os("TOKENLAB_REQUIRE_PROBE_SERVERS").is_none(),
        "{test}: {what} is missing and TOKENLAB_REQUIRE_PROBE_SERVERS is set; install it with `{install}`"
    );
    eprintln!("{test}: SKIPPED, {what} is missing ({install})");
    false
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tokenlab-probe-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

// ---- django-oauth-toolkit -------------------------------------------------------------

fn dot_python() -> PathBuf {
    std::env::var_os("TOKENLAB_PROBE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(ROOT).join("target/probe-venv/bin/python"))
}

fn dot_available() -> bool {
    Command::new(dot_python())
        .args(["-c", "import oauth2_provider, django"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// One django-oauth-toolkit configuration: its own settings.
fn dot(id: &str, rotate: bool, grace_s: u32, reuse_protection: bool, families: u32) -> Server {
    let tmp = temp_dir(id);
    let mut cmd = Command::new(dot_python());
    cmd.arg(Path::new(ROOT).join("tests/probe_servers/dot/server.py"))
        .arg("--dir")
        .arg(&tmp)
        .args(["--families", &families.to_string()])
        .args(["--rotate", if rotate { "1" } else { "0" }])
        .args(["--grace", &grace_s.to_string()])
        .args([
            "--reuse-protection",
            if reuse_protection { "1" } else { "0" },
        ]);
    Server::start(cmd, Some(tmp))
}

const DOT_INSTALL: &str = "python3 -m venv target/probe-venv && target/probe-venv/bin/pip install -r tests/probe_servers/dot/requirements.txt";

#[test]
fn django_oauth_toolkit_configurations() {
    if !runtime_or_skip(
        "django_oauth_toolkit_configurations",
        "the django-oauth-toolkit venv",
        dot_available(),
        DOT_INSTALL,
    ) {
        return;
    }
    // ROTATE_REFRESH_TOKEN, REFRESH_TOKEN_GRACE_PERIOD_SECONDS, REFRESH_TOKEN_REUSE_PROTECTION.
    // Inside the grace period a retry is handed the previous access token and the refresh
    // token it was rotated to (`current`); an RT two generations old is refused (the pinned
    // version checks that the presented RT's successor access token still exists: its fix of
    // issue 1617; pinned here as a finding: `old_generations_accepted = false`).
    let cases: [(&str, bool, u32, bool, Truth); 5] = [
        (
            "dot-grace1-reuse",
            true,
            1,
            true,
            rotating(1.0, Some("current"), true, false),
        ),
        (
            "dot-grace1-noreuse",
            true,
            1,
            false,
            rotating(1.0, Some("current"), false, false),
        ),
        (
            "dot-nograce-reuse",
            true,
            0,
            true,
            rotating(0.0, None, true, false),
        ),
        (
            "dot-nograce-noreuse",
            true,
            0,
            false,
            rotating(0.0, None, false, false),
        ),
        ("dot-norotate", false, 0, true, NO_ROTATION),
    ];
    for (id, rotate, grace, reuse, truth) in cases.clone() {
        let families = if grace > 0 { 8 } else { 3 };
        let s = dot(id, rotate, grace, reuse, families);
        assert!(s.banner.contains("django-oauth-toolkit"), "{}", s.banner);
        let v = probe_and_assert(id, &s, None, &truth, id == "dot-grace1-reuse");
        distinguishes(id, &v, cases.iter().map(|c| (c.0, &c.4)));
    }
}

// ---- node oidc-provider ----------------------------------------------------------------

fn oidc_dir() -> PathBuf {
    Path::new(ROOT).join("tests/probe_servers/oidc_provider")
}

fn oidc_available() -> bool {
    oidc_dir()
        .join("node_modules/oidc-provider/package.json")
        .exists()
        && Command::new("node")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
}

const OIDC_INSTALL: &str = "node + npm, then `npm ci` in tests/probe_servers/oidc_provider";

#[test]
fn oidc_provider_configurations() {
    if !runtime_or_skip(
        "oidc_provider_configurations",
        "node oidc-provider",
        oidc_available(),
        OIDC_INSTALL,
    ) {
        return;
    }
    // rotateRefreshToken; a consumed RT presented again destroys it and revokes its grant
    // (lib/actions/grants/refresh_token.js): reuse detection always on, no grace window.
    let cases: [(&str, bool, Truth); 2] = [
        ("oidc-rotate", true, rotating(0.0, None, true, false)),
        ("oidc-norotate", false, NO_ROTATION),
    ];
    for (id, rotate, truth) in cases.clone() {
        let mut cmd = Command::new("node");
        cmd.current_dir(oidc_dir()).arg("server.js").args([
            "--families",
            "3",
            "--rotate",
            if rotate { "true" } else { "false" },
        ]);
        let s = Server::start(cmd, None);
        assert!(s.banner.contains("oidc-provider"), "{}", s.banner);
        let v = probe_and_assert(id, &s, None, &truth, id == "oidc-rotate");
        distinguishes(id, &v, cases.iter().map(|c| (c.0, &c.2)));
    }
}

// ---- tokenlab serve --------------------------------------------------------------------

#[test]
fn tokenlab_serve_configurations() {
    // refresh's own switches. Its model accepts any superseded RT inside the window (measured
    // from that RT's supersession), so an RT two generations old is accepted: pinned.
    let cases: [(&str, &[&str], Truth); 5] = [
        (
            "serve-grace1-current",
            &["grace_window=1s"],
            rotating(1.0, Some("current"), true, true),
        ),
        (
            "serve-grace1-rotate",
            &["grace_window=1s", "grace_reply=rotate"],
            rotating(1.0, Some("rotate"), true, true),
        ),
        (
            "serve-nograce",
            &["grace_window=0"],
            rotating(0.0, None, true, false),
        ),
        (
            "serve-nograce-noreuse",
            &["grace_window=0", "reuse_detection=off"],
            rotating(0.0, None, false, false),
        ),
        (
            "serve-norotate",
            &["rotation=off", "reuse_detection=off"],
            NO_ROTATION,
        ),
    ];
    for (id, sets, truth) in cases.clone() {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tokenlab"));
        cmd.args([
            "serve",
            "--mechanism",
            "refresh",
            "--tenants",
            "8",
            "--set",
            "ttl=60s",
        ]);
        for s in sets {
            cmd.args(["--set", s]);
        }
        let s = Server::start(cmd, None);
        let v = probe_and_assert(id, &s, None, &truth, false);
        distinguishes(id, &v, cases.iter().map(|c| (c.0, &c.2)));
    }
}

/// Bad input is one clear line, and nothing is sent off loopback without --allow-remote.
#[test]
fn probe_refuses_bad_input_and_remote_hosts() {
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_tokenlab"))
            .arg("probe")
            .args(args)
            .output()
            .expect("runs");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (code, err) = run(&[
        "--token-endpoint",
        "http://192.0.2.1/token",
        "--refresh-token",
        "x",
    ]);
    assert_eq!(code, Some(2));
    assert!(err.contains("not a loopback address"), "{err}");
    let (code, err) = run(&[
        "--token-endpoint",
        "https://127.0.0.1/token",
        "--refresh-token",
        "x",
    ]);
    assert_eq!(code, Some(2));
    assert!(err.contains("https is not supported"), "{err}");
    let (code, err) = run(&[
        "--token-endpoint",
        "http://127.0.0.1:9/token",
        "--refresh-token",
        "x",
        "--max-requests",
        "0",
    ]);
    assert_eq!(code, Some(2));
    assert!(err.contains("--max-requests"), "{err}");
    let (code, err) = run(&[
        "--token-endpoint",
        "http://127.0.0.1:9/token",
        "--refresh-token",
        "x",
        "--client-secret",
        "s",
    ]);
    assert_eq!(code, Some(2));
    assert!(err.contains("--client-secret needs --client-id"), "{err}");
    // A closed port: a clear error naming the request, no panic.
    let (code, err) = run(&[
        "--token-endpoint",
        "http://127.0.0.1:9/token",
        "--refresh-token",
        "x",
    ]);
    assert_eq!(code, Some(2));
    assert!(err.contains("request #1"), "{err}");
    let help = Command::new(env!("CARGO_BIN_EXE_tokenlab"))
        .args(["probe", "--help"])
        .output()
        .expect("runs");
    assert!(String::from_utf8_lossy(&help.stdout).contains("authorised to test"));
}

/// The committed data names every configuration once, each with measured switches.
#[test]
fn committed_real_servers_data_is_complete() {
    let v: Value = serde_json::from_str(COMMITTED).expect("real_servers.json");
    let ids: BTreeMap<&str, &Value> = v["configurations"]
        .as_array()
        .expect("configurations")
        .iter()
        .map(|e| (e["id"].as_str().expect("id"), e))
        .collect();
    for id in [
        "dot-grace1-reuse",
        "dot-grace1-noreuse",
        "dot-nograce-reuse",
        "dot-nograce-noreuse",
        "dot-norotate",
        "oidc-rotate",
        "oidc-norotate",
        "serve-grace1-current",
        "serve-grace1-rotate",
        "serve-nograce",
        "serve-nograce-noreuse",
        "serve-norotate",
    ] {
        let e = ids.get(id).unwrap_or_else(|| panic!("{id} missing"));
        assert!(
            e["model_switches"]
                .as_array()
                .is_some_and(|a| !a.is_empty()),
            "{id}"
        );
        assert!(e["f_grace_applies"].is_boolean(), "{id}: f_grace_applies");
    }
    assert_eq!(ids.len(), 12);
}
