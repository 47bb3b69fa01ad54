//! Scenario files: every committed example runs and matches its expectations, a bad file gets
//! one line naming the file, line, column, key and what was expected (exit 2, never a panic),
//! and the same file gives the same bytes.

use std::path::PathBuf;

mod common;
use common::tokenlab;

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tokenlab-scenario-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("mkdir");
    d
}

const BASE: &str =
    "version = 1\nmechanism = \"refresh\"\n[workload]\ntenants = 4\nduration_s = 3600\n";

/// (what is wrong, file text, line, column, key, part of the message).
#[allow(clippy::type_complexity)]
const BAD: &[(&str, &str, usize, usize, &str, &str)] = &[
    (
        "unknown top-level key",
        "version = 1\nmechanism = \"refresh\"\ncolour = \"red\"\n",
        3,
        1,
        "colour",
        "unknown field `colour`, expected one of `version`, `mechanism`",
    ),
    (
        "unknown key in a table",
        "version = 1\nmechanism = \"refresh\"\n[workload]\ntenant = 4\n",
        4,
        1,
        "workload.tenant",
        "unknown field `tenant`, expected one of `tenants`",
    ),
    (
        "top-level key after a table lands in the table",
        "version = 1\nmechanism = \"refresh\"\n[workload]\ntenants = 4\npreset = \"lan\"\n",
        5,
        1,
        "workload.preset",
        "unknown field `preset`",
    ),
    (
        "wrong type",
        "version = 1\nmechanism = \"refresh\"\n[workload]\ntenants = \"ten\"\n",
        4,
        11,
        "workload.tenants",
        "invalid type: string \"ten\", expected u32",
    ),
    (
        "missing key",
        "version = 1\n",
        1,
        1,
        "(top level)",
        "missing field `mechanism`",
    ),
    (
        "TOML syntax",
        "version = 1\nmechanism = = \"refresh\"\n",
        2,
        13,
        "(syntax)",
        "",
    ),
    (
        "unsupported version",
        "version = 2\nmechanism = \"refresh\"\n",
        1,
        11,
        "version",
        "expected 1 (the only format version), got 2",
    ),
    (
        "unknown mechanism",
        "version = 1\nmechanism = \"oauth3\"\n",
        2,
        13,
        "mechanism",
        "unknown mechanism 'oauth3'",
    ),
    (
        "unknown switch",
        "version = 1\nmechanism = \"refresh\"\n[switches]\ngrace_windw = \"10s\"\n",
        4,
        15,
        "switches.grace_windw",
        "unknown switch 'grace_windw'",
    ),
    (
        "unknown switch value",
        "version = 1\nmechanism = \"refresh\"\n[switches]\nrotation = \"maybe\"\n",
        4,
        12,
        "switches.rotation",
        "bad value 'maybe' for 'rotation': expected on or off",
    ),
    (
        "unknown preset",
        "version = 1\nmechanism = \"refresh\"\npreset = \"moon\"\n",
        3,
        10,
        "preset",
        "unknown preset 'moon'; expected one of lan, same-region",
    ),
    (
        "unknown nemesis kind",
        "version = 1\nmechanism = \"refresh\"\n[[nemesis]]\nkind = \"meteor\"\n",
        4,
        8,
        "nemesis[0].kind",
        "unknown variant `meteor`, expected one of `partition`, `crash`",
    ),
    (
        "a time outside the run",
        "version = 1\nmechanism = \"refresh\"\n[workload]\nduration_s = 3600\n[[nemesis]]\nkind = \"crash\"\nrole = \"partner\"\nfrom_s = 100\nuntil_s = 99999\n",
        9,
        11,
        "nemesis[0].until_s",
        "expected a time in [0, 3600] s (the run), got 99999",
    ),
    (
        "a window that ends before it starts",
        "version = 1\nmechanism = \"refresh\"\n[[nemesis]]\nkind = \"partition\"\na = \"partner\"\nb = \"auth-server\"\nfrom_s = 200\nuntil_s = 100\n",
        8,
        11,
        "nemesis[0].until_s",
        "expected a time after from_s (200), got 100",
    ),
    (
        "a credential the mechanism does not have",
        "version = 1\nmechanism = \"refresh\"\n[workload]\ntenants = 4\n[[attacker.steps]]\naction = \"steal\"\ncredential = \"trigger_url\"\nat_s = 60\n",
        7,
        14,
        "attacker.steps[0].credential",
        "refresh has no credential 'trigger_url'; expected one of refresh_token",
    ),
    (
        "a tenant outside the workload",
        "version = 1\nmechanism = \"refresh\"\n[workload]\ntenants = 4\n[[attacker.steps]]\naction = \"steal\"\ncredential = \"refresh_token\"\ntenant = 9\nat_s = 60\n",
        8,
        10,
        "attacker.steps[0].tenant",
        "expected a tenant in 0..4 (workload.tenants), got 9",
    ),
    (
        "an unknown attacker action",
        "version = 1\nmechanism = \"refresh\"\n[[attacker.steps]]\naction = \"bribe\"\nat_s = 60\n",
        4,
        10,
        "attacker.steps[0].action",
        "unknown variant `bribe`, expected one of `steal`, `breach`",
    ),
    (
        "a misspelt key in an attacker step",
        "version = 1\nmechanism = \"refresh\"\n[[attacker.steps]]\naction = \"breach\"\nat_sec = 60\n",
        5,
        1,
        "attacker.steps[0].at_sec",
        "unknown field `at_sec`",
    ),
    (
        "an unknown property",
        "version = 1\nmechanism = \"refresh\"\n[properties]\nP13 = \"holds\"\n",
        4,
        7,
        "properties.P13",
        "unknown property 'P13'; known: P1..P12",
    ),
    (
        "an unknown expectation",
        "version = 1\nmechanism = \"refresh\"\n[properties]\nP1 = \"maybe\"\n",
        4,
        6,
        "properties.P1",
        "expected holds, violated, n/a, by-design or any, got 'maybe'",
    ),
    (
        "a probability above 1",
        "version = 1\nmechanism = \"refresh\"\n[[links]]\nloss = 2.0\n",
        4,
        8,
        "links[0].loss",
        "expected a probability in [0, 1], got 2",
    ),
    (
        "a negative delay",
        "version = 1\nmechanism = \"refresh\"\n[[links]]\nlatency = { kind = \"uniform\", min_ms = 50, max_ms = -1 }\n",
        4,
        11,
        "links[0].latency",
        "expected milliseconds in [0, 600000]",
    ),
    (
        "not a number",
        "version = 1\nmechanism = \"refresh\"\n[[nemesis]]\nkind = \"deploy_reset\"\nat_s = nan\n",
        5,
        8,
        "nemesis[0].at_s",
        "expected a time in [0, 7200] s (the run), got NaN",
    ),
    (
        "three sweep parameters",
        "version = 1\nmechanism = \"refresh\"\n[sweep]\nworkload.tenants = [1, 2]\nworkload.seed = [1, 2]\nswitches.rotation = [\"on\", \"off\"]\n",
        3,
        1,
        "sweep",
        "expected one or two parameters",
    ),
    (
        "a bad value in a sweep",
        "version = 1\nmechanism = \"refresh\"\n[sweep]\nswitches.grace_window = [\"10s\", \"soon\"]\n",
        4,
        25,
        "sweep.switches.grace_window",
        "at the sweep point switches.grace_window = soon: bad value 'soon' for 'grace_window'",
    ),
];

#[test]
fn every_bad_file_gets_one_line_naming_file_line_column_and_key() {
    let dir = scratch("bad");
    let mut failures = Vec::new();
    for (i, (what, text, line, col, key, message)) in BAD.iter().enumerate() {
        let path = dir.join(format!("bad-{i}.toml"));
        std::fs::write(&path, text).expect("write");
        let p = path.to_str().expect("utf-8");
        let (code, out, err) = tokenlab(&["run", p]);
        let prefix = format!("tokenlab: {p}:{line}:{col}: {key}: ");
        let ok = code == 2
            && out.is_empty()
            && err.lines().count() == 1
            && err.starts_with(&prefix)
            && err.contains(message)
            && !err.contains("panicked");
        if !ok {
            failures.push(format!(
                "{what}: exit {code}, expected prefix {prefix:?} and {message:?}, got {err:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_missing_file_is_exit_2() {
    let (code, _, err) = tokenlab(&["run", "/nonexistent/tokenlab.toml"]);
    assert_eq!(code, 2);
    assert!(err.contains("reading /nonexistent/tokenlab.toml"), "{err}");
}

#[test]
fn expectations_decide_the_exit_code_and_output_is_deterministic() {
    let dir = scratch("exit");
    let good = dir.join("good.toml");
    // P11 (executability) is reached by every demand; a "holds" nothing reached never passes.
    std::fs::write(&good, format!("{BASE}[properties]\nP11 = \"holds\"\n")).expect("write");
    let wrong = dir.join("wrong.toml");
    std::fs::write(&wrong, format!("{BASE}[properties]\nP11 = \"violated\"\n")).expect("write");
    let vacuous = dir.join("vacuous.toml");
    std::fs::write(&vacuous, format!("{BASE}[properties]\nP1 = \"holds\"\n")).expect("write");
    let g = good.to_str().expect("utf-8");
    let (code, a, err) = tokenlab(&["run", g, "--json"]);
    assert_eq!(code, 0, "{err}");
    let (_, b, _) = tokenlab(&["run", g, "--json"]);
    assert_eq!(a, b, "same file, same bytes");
    let v: serde_json::Value = serde_json::from_str(&a).expect("json");
    assert_eq!(v["verdicts"][0]["property"], "P11");
    assert_eq!(v["matches"], true);
    let (code, out, _) = tokenlab(&["run", wrong.to_str().expect("utf-8")]);
    assert_eq!(code, 1);
    assert!(out.contains("MISMATCH"), "{out}");
    // No attacker: P1 holds with nothing reached, which is not a pass.
    let (code, out, _) = tokenlab(&["run", vacuous.to_str().expect("utf-8")]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("vacuous"), "{out}");
}

#[test]
fn every_committed_example_runs_as_expected_and_prints_with_scenario_example() {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut names: Vec<String> = std::fs::read_dir(format!("{root}/scenarios"))
        .expect("scenarios/")
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_suffix(".toml")
                .map(String::from)
        })
        .collect();
    names.sort();
    assert!(names.len() >= 7 + 3, "one per mechanism and the what-ifs");
    for n in &names {
        let file = format!("{root}/scenarios/{n}.toml");
        let (code, out, err) = tokenlab(&["run", &file]);
        assert_eq!(code, 0, "{n}: {out}{err}");
        let (code, printed, _) = tokenlab(&["scenario", "--example", n]);
        assert_eq!(code, 0);
        assert_eq!(
            printed,
            std::fs::read_to_string(&file).expect("read"),
            "{n}"
        );
    }
    let (code, _, err) = tokenlab(&["scenario", "--example", "nope"]);
    assert_eq!(code, 2);
    assert!(err.contains("known: "), "{err}");
}

#[test]
fn several_files_run_in_one_call_and_a_bad_one_stops_them_all_before_running() {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut files: Vec<String> = std::fs::read_dir(format!("{root}/scenarios"))
        .expect("scenarios/")
        .flatten()
        .map(|e| e.path().to_string_lossy().to_string())
        .collect();
    files.sort();
    let mut args = vec!["run"];
    args.extend(files.iter().map(String::as_str));
    let (code, out, err) = tokenlab(&args);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.matches("\n== ").count() + 1, files.len(), "{out}");
    args.push("--json");
    let (code, out, _) = tokenlab(&args);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["runs"].as_array().map(Vec::len), Some(files.len()));
    let dir = scratch("several");
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "version = 1\n").expect("write");
    let (code, out, err) = tokenlab(&["run", &files[0], bad.to_str().expect("utf-8")]);
    assert_eq!((code, out.as_str()), (2, ""), "{err}");
    assert!(err.contains("missing field `mechanism`"), "{err}");
}

#[test]
fn out_writes_a_small_report_with_the_json_as_its_data() {
    let root = env!("CARGO_MANIFEST_DIR");
    let file = format!("{root}/scenarios/sweep-grace-window.toml");
    let dir = scratch("out");
    let d = dir.to_str().expect("utf-8");
    let (code, json, err) = tokenlab(&["run", &file, "--json", "--out", d]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        std::fs::read_to_string(dir.join("data/scenario.json")).expect("data"),
        json
    );
    let md = std::fs::read_to_string(dir.join("scenario.md")).expect("markdown");
    assert!(
        md.contains("## Sweep over links.0.loss × switches.grace_window"),
        "{md}"
    );
    assert!(md.contains("| 0.05 | 120s |"), "{md}");
    let html = std::fs::read_to_string(dir.join("scenario.html")).expect("html");
    assert!(html.starts_with("<!DOCTYPE html>"));
    // The same file gives the same report.
    let again = scratch("out-again");
    let (code, _, _) = tokenlab(&["run", &file, "--out", again.to_str().expect("utf-8")]);
    assert_eq!(code, 0);
    assert_eq!(
        md,
        std::fs::read_to_string(again.join("scenario.md")).expect("markdown")
    );
}
