//! Every `--json` output of tokenlab is one object whose
//! first key is `schema_version`.

mod common;
use common::tokenlab;

#[test]
fn every_json_output_starts_with_schema_version() {
    let root = env!("CARGO_MANIFEST_DIR");
    let refresh = format!("{root}/scenarios/refresh.toml");
    let sweep = format!("{root}/scenarios/jwks-outage-forge.toml");
    let case = format!("{root}/properties/counterexamples/push_recheck_off_race.json");
    let short = ["--tenants", "2", "--duration-s", "60", "--json"];
    let runs: Vec<Vec<&str>> = vec![
        vec!["mechanisms", "--json"],
        [&["simulate", "--mechanism", "refresh"][..], &short].concat(),
        [&["compare"][..], &short].concat(),
        vec!["check", "--only", "trigger", "--quick", "--json"],
        vec![
            "attack",
            "--mechanism",
            "refresh",
            "--list-credentials",
            "--json",
        ],
        vec![
            "attack",
            "--mechanism",
            "refresh",
            "--steal",
            "refresh_token",
            "--json",
        ],
        vec!["replay", &case, "--json"],
        vec!["report", "--tiny", "--only", "loss"],
        vec!["run", &refresh, "--json"],
        vec!["run", &sweep, "--json"],
        vec!["calibrate", "--samples", "2", "--json"],
    ];
    for args in runs {
        let (_, out, err) = tokenlab(&args);
        assert!(
            out.starts_with("{\n  \"schema_version\": 1,\n"),
            "{args:?}: {err}{}",
            &out[..out.len().min(200)]
        );
        let v: serde_json::Value = serde_json::from_str(&out).expect("one JSON object");
        assert_eq!(v["schema_version"], 1);
    }
}
