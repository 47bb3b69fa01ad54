//! The CLI: clear one-line errors with exit code 2, identical JSON for the same seed, and the
//! `--loss 0.1 --retries 0` check of the issue.

mod common;
use common::tokenlab;

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
