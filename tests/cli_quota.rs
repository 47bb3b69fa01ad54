//! `tokenlab attack --spam-rate` (issue 13 item 1, A9): clear errors for bad values, and the
//! spam measured against scaled-down invocation limits (a hundredth of Forge's, so the runs
//! stay small): refusals happen, the other tenants are reached only when every attempt is
//! counted, P's Retry-After wait is what keeps them served, and url_auth=required stops the
//! spam before it counts.

mod common;
use common::tokenlab;

fn spam(extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "attack",
        "--mechanism",
        "trigger",
        "--steal",
        "trigger_url",
        "--set",
        "invocation_limit_installation=50",
        "--set",
        "invocation_limit_app=300",
        "--spam-for-s",
        "60",
        "--json",
    ];
    args.extend_from_slice(extra);
    let (code, out, err) = tokenlab(&args);
    assert_eq!(code, 0, "{args:?}: {err}");
    serde_json::from_str(&out).expect("JSON")
}

fn n(v: &serde_json::Value, path: &[&str]) -> u64 {
    path.iter()
        .fold(v, |v, k| &v[*k])
        .as_u64()
        .unwrap_or_else(|| panic!("{path:?} in {v}"))
}

#[test]
fn bad_spam_input_gets_one_clear_line() {
    const URL: [&str; 5] = [
        "--mechanism",
        "trigger",
        "--steal",
        "trigger_url",
        "--spam-rate",
    ];
    for (args, needle) in [
        (
            [&URL[..], &["0"]].concat(),
            "--spam-rate must be calls per minute in 1..=120000",
        ),
        (
            [&URL[..], &["999999"]].concat(),
            "--spam-rate must be calls per minute",
        ),
        (
            [&URL[..], &["10", "--spam-for-s", "0"]].concat(),
            "--spam-for-s must be in (0, 1800]",
        ),
        (
            [&URL[..], &["10", "--victim", "10"]].concat(),
            "--victim must be a tenant id in 0..10",
        ),
        (
            [&URL[..], &["10", "--mode", "continuing"]].concat(),
            "--mode, --from, --reads-end-at-s and --revoke-at-s do not apply",
        ),
        (
            [&URL[..], &["10", "--set", "quota_counts=all"]].concat(),
            "bad value 'all' for 'quota_counts'",
        ),
        (
            vec![
                "--mechanism",
                "trigger",
                "--steal",
                "token",
                "--spam-rate",
                "10",
            ],
            "give --steal trigger_url or --breach store",
        ),
        (
            vec![
                "--mechanism",
                "refresh",
                "--breach",
                "store",
                "--spam-rate",
                "10",
            ],
            "root credential is a trigger URL",
        ),
    ] {
        let args = [&["attack"][..], &args].concat();
        let (code, _, err) = tokenlab(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
}

#[test]
fn one_url_reaches_other_tenants_only_when_every_attempt_counts() {
    // 400 calls a minute: over the installation's 50 and the app's 300.
    let admitted = spam(&["--spam-rate", "400"]);
    assert!(
        n(&admitted, &["spam", "refused_by", "rate_limited"]) > 0,
        "{admitted}"
    );
    assert_eq!(n(&admitted, &["others_rate_limited"]), 0, "{admitted}");
    let attempts = spam(&["--spam-rate", "400", "--set", "quota_counts=attempts"]);
    // Reached: the other tenants' calls to F were refused ...
    assert!(n(&attempts, &["others_rate_limited"]) > 0, "{attempts}");
    // ... and P's Retry-After wait kept their demands served (the same as without the spam).
    let failed = |v: &serde_json::Value, g: &str| n(v, &[g, "demands"]) - n(v, &[g, "succeeded"]);
    assert_eq!(
        failed(&attempts, "others"),
        failed(&attempts, "others_baseline")
    );
    let slowest = attempts["others"]["miss_latency_ms_max"]
        .as_f64()
        .unwrap_or(0.0);
    assert!(
        slowest > 1_000.0,
        "a Retry-After wait shows as latency: {attempts}"
    );
    // Negative control: without a retry P cannot wait for the window, and the refused
    // calls fail demands that succeed without the spam.
    let no_retry = spam(&[
        "--spam-rate",
        "400",
        "--set",
        "quota_counts=attempts",
        "--set",
        "retries=0",
    ]);
    assert!(n(&no_retry, &["others_rate_limited"]) > 0, "{no_retry}");
    assert!(
        failed(&no_retry, "others") > failed(&no_retry, "others_baseline"),
        "{no_retry}"
    );
}

#[test]
fn url_auth_stops_the_spam_before_it_counts() {
    let v = spam(&["--spam-rate", "400", "--set", "url_auth=required"]);
    assert_eq!(n(&v, &["spam", "admitted"]), 0, "{v}");
    assert!(
        n(&v, &["spam", "refused_by", "trigger_auth_required"]) > 0,
        "{v}"
    );
    assert!(v["spam"]["refused_by"].get("rate_limited").is_none(), "{v}");
}
