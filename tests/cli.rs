//! The CLI: clear one-line errors with exit code 2, identical JSON for the same seed, and the
//! `--loss 0.1 --retries 0` check of the issue.

mod common;
use common::tokenlab;
use std::collections::BTreeSet;

#[test]
fn bad_input_gets_one_clear_line_and_exit_code_2() {
    for (args, needle) in [
        (
            vec!["simulate", "--mechanism", "nope"],
            "unknown mechanism 'nope'",
        ),
        (
            vec!["simulate", "--mechanism", "trigger:nope"],
            "unknown profile 'nope'",
        ),
        (
            vec![
                "simulate",
                "--mechanism",
                "trigger",
                "--set",
                "retries=lots",
            ],
            "bad value 'lots' for 'retries'",
        ),
        (
            vec![
                "simulate",
                "--mechanism",
                "push",
                "--set",
                "read_from=replica",
            ],
            "unknown switch 'read_from'",
        ),
        (
            vec![
                "simulate",
                "--mechanism",
                "trigger",
                "--set",
                "read_form=replica",
            ],
            "unknown switch 'read_form' for trigger; valid: ",
        ),
        (
            vec!["simulate", "--mechanism", "trigger[url_auth=maybe]"],
            "bad value 'maybe' for 'url_auth': expected one of none, required",
        ),
        (
            vec!["simulate", "--mechanism", "trigger[url_auth=required"],
            "bad mechanism reference",
        ),
        (
            vec!["simulate", "--mechanism", "trigger", "--set", "oops"],
            "expected KEY=VALUE",
        ),
        (
            vec!["simulate", "--mechanism", "trigger", "--preset", "moon"],
            "unknown preset 'moon'",
        ),
        (
            vec!["simulate", "--mechanism", "trigger", "--loss", "2"],
            "--loss must be between 0 and 1",
        ),
        (
            vec![
                "simulate",
                "--mechanism",
                "refresh",
                "--platform-retries",
                "3",
            ],
            "has no platform retries",
        ),
        (
            vec!["simulate", "--mechanism", "trigger", "--seed", "xyz"],
            "not a seed",
        ),
        (
            vec!["simulate", "--mechanism", "trigger", "--tenants", "0"],
            "--tenants must be",
        ),
    ] {
        let (code, _, err) = tokenlab(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn mechanisms_json_lists_all_seven_with_profiles() {
    let (code, out, _) = tokenlab(&["mechanisms", "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["schema_version"], 1);
    let v = &v["mechanisms"];
    let ids: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "trigger",
            "push",
            "refresh",
            "upm-oauth",
            "global-secret",
            "tenant-secret",
            "connect-jwt"
        ]
    );
    assert!(v[0]["profiles"][0]["name"] == "sample" && v[0]["description"].is_string());
    // Issue 12: the shared switches are listed too, each with its default and basis.
    let full: serde_json::Value = serde_json::from_str(&out).unwrap();
    let shared = full["shared_switches"].as_array().unwrap();
    let users = shared.iter().find(|s| s["key"] == "users").unwrap();
    assert!(users["default"] == "0" && users["basis"] == "inference");
}

/// The switch keys a text of `mechanisms.md` names: its backticked `key=values` and bare
/// `key` tokens, less the backticked words of its prose (values, a mechanism's name).
fn spec_switch_keys(text: &str) -> Vec<String> {
    const PROSE: [&str; 3] = ["off", "private_key_jwt", "refresh"];
    text.split('`')
        .skip(1)
        .step_by(2)
        .map(|t| t.split('=').next().unwrap_or(""))
        .filter(|k| !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        .filter(|k| !PROSE.contains(k))
        .map(str::to_string)
        .collect()
}

#[test]
fn mechanisms_json_lists_every_switch_of_the_spec() {
    let copy = include_str!("data/mechanisms-switches.md");
    // The lines after the file's opening comment, each verbatim from the spec.
    let lines: Vec<&str> = copy
        .split_once("-->")
        .unwrap()
        .1
        .lines()
        .filter(|l| !l.is_empty())
        .collect();
    let spec =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/spec/mechanisms.md");
    if let Ok(spec) = std::fs::read_to_string(spec) {
        for line in &lines {
            assert!(
                spec.lines().any(|s| s == *line),
                "tests/data/mechanisms-switches.md is out of date with the spec: {line}"
            );
        }
    }
    let (code, out, _) = tokenlab(&["mechanisms", "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let keys = |list: &serde_json::Value| -> BTreeSet<String> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|s| s["key"].as_str().unwrap().to_string())
            .collect()
    };
    let shared = keys(&v["shared_switches"]);
    let mut scope = ("shared", shared.clone());
    let mut missing = Vec::new();
    for line in lines {
        let wanted = if let Some(heading) = line.strip_prefix("## ") {
            let id = heading.split('`').nth(1).unwrap();
            let m = v["mechanisms"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["id"] == id)
                .unwrap_or_else(|| panic!("mechanism {id} missing"));
            // A mechanism takes its own switches and the shared ones (push's `ttl`).
            scope = (id, keys(&m["switches"]).union(&shared).cloned().collect());
            continue;
        } else if let Some(row) = line.strip_prefix("| ") {
            spec_switch_keys(row.split('|').next().unwrap())
        } else if line.starts_with("Platform switches") {
            // Only the `key=values` ones: `platform_retries` and `platform_timeout` are named
            // there bare, as per mechanism.
            line.split('`')
                .skip(1)
                .step_by(2)
                .filter(|t| t.contains('='))
                .flat_map(|t| spec_switch_keys(&format!("`{t}`")))
                .collect()
        } else {
            spec_switch_keys(line.split("**Switches:**").nth(1).unwrap())
        };
        let (id, have) = if line.starts_with(['|', 'P']) {
            ("shared", &shared)
        } else {
            (scope.0, &scope.1)
        };
        for k in wanted {
            // F's backoff is push's `platform_backoff`: the registry says whose it is.
            let k = if k == "backoff" {
                "platform_backoff".into()
            } else {
                k
            };
            if !have.contains(&k) {
                missing.push(format!("{id}: {k}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "switches of mechanisms.md that `mechanisms --json` does not list: {missing:?}"
    );
}

#[test]
fn simulate_json_is_reproducible_and_loss_matches_the_hop_count() {
    let args = [
        "simulate",
        "--mechanism",
        "trigger",
        "--loss",
        "0.1",
        "--retries",
        "0",
        "--tenants",
        "2000",
        "--duration-s",
        "60",
        "--demands-per-tenant-hour",
        "600",
        "--json",
    ];
    let (c1, a, _) = tokenlab(&args);
    let (c2, b, _) = tokenlab(&args);
    assert_eq!((c1, c2), (0, 0));
    assert_eq!(a, b, "same seed, byte-identical JSON");
    let v: serde_json::Value = serde_json::from_str(&a).unwrap();
    for key in [
        "demands",
        "succeeded",
        "unknown",
        "success_rate",
        "orphan_mints",
        "messages_per_demand",
        "platform_requests_per_tenant_hour",
        "platform_mints_per_tenant_hour",
    ] {
        assert!(!v[key].is_null(), "missing {key}");
    }
    for cause in [
        "timeout",
        "http_error",
        "stale_read",
        "expired_token",
        "locked_out",
        "no_token",
        "rejected",
    ] {
        assert!(v["failed"][cause].is_u64(), "missing failed.{cause}");
    }
    let rate = v["cold"]["token_success_rate"].as_f64().unwrap();
    let (p, n) = (0.9f64.powi(4), 2000.0);
    assert!(
        (rate - p).abs() < 2.576 * (p * (1.0 - p) / n).sqrt() + 0.001,
        "trigger cold rate {rate}"
    );
    assert!(
        !a.contains("tlsec_") && !a.contains("eyJ"),
        "no secret in the JSON"
    );
}

#[test]
fn a_bracketed_reference_means_the_same_as_set() {
    let common = ["--duration-s", "60", "--tenants", "5", "--json"];
    let run = |head: &[&str]| {
        let args: Vec<&str> = head.iter().chain(&common).copied().collect();
        let (code, out, err) = tokenlab(&args);
        assert_eq!(code, 0, "{err}");
        out
    };
    let bracket = run(&["simulate", "--mechanism", "trigger[read_from=replica]"]);
    let set = run(&[
        "simulate",
        "--mechanism",
        "trigger",
        "--set",
        "read_from=replica",
    ]);
    assert_eq!(bracket, set);
    assert!(bracket.contains("read_from=replica"), "{bracket}");
}

/// Issue 13 item 4: the composite `migration` is listed beside the seven mechanisms (not among
/// them), with its switches, their defaults and basis; a bad value names the switch.
#[test]
fn mechanisms_json_lists_the_migration_composite_and_its_switches() {
    let (code, out, _) = tokenlab(&["mechanisms", "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let c = &v["composites"][0];
    assert_eq!(c["id"], "migration");
    let switches = c["switches"].as_array().unwrap();
    let get = |k: &str| switches.iter().find(|s| s["key"] == k).unwrap();
    for (key, default, basis) in [
        ("migrate_to", "trigger", "inference"),
        ("migration_start", "1h", "inference"),
        ("migration_window", "2h", "inference"),
        ("connect_revoke", "at_window_end", "mutant"),
        ("migration_use", "forge", "inference"),
        ("jwt_exp", "180s", "unverified"),
    ] {
        let s = get(key);
        assert!(s["default"] == default && s["basis"] == basis, "{s}");
    }
    let (code, _, err) = tokenlab(&[
        "simulate",
        "--mechanism",
        "migration",
        "--set",
        "migration_use=both",
    ]);
    assert_ne!(code, 0);
    assert!(
        err.contains("bad value 'both' for 'migration_use': expected one of forge, connect"),
        "{err}"
    );
    let (code, _, err) = tokenlab(&["simulate", "--mechanism", "migrate"]);
    assert_ne!(code, 0);
    assert!(err.contains("composites: migration"), "{err}");
}
