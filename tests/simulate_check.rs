//! `simulate --check` and `--stats` (issue 18): the checked properties are added after the
//! unchanged summary, the cost goes to stderr, and an unknown property is refused by name.

mod common;
use common::tokenlab;

const SMALL: [&str; 6] = ["--tenants", "10", "--duration-s", "600", "--seed", "3"];

#[test]
fn check_adds_properties_after_the_unchanged_summary_and_stats_go_to_stderr() {
    let mut plain = vec!["simulate", "--mechanism", "trigger", "--json"];
    plain.extend(SMALL);
    let (code, base, _) = tokenlab(&plain);
    assert_eq!(code, 0);
    let mut checked = plain.clone();
    checked.extend(["--check", "P1,P12", "--stats"]);
    let (code, out, err) = tokenlab(&checked);
    assert_eq!(code, 0, "{err}");
    let mut v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let props = v
        .as_object_mut()
        .unwrap()
        .remove("properties")
        .expect("properties");
    // Without the added key, the object is the plain run's, value for value.
    let base: serde_json::Value = serde_json::from_str(&base).unwrap();
    assert_eq!(v, base);
    assert_eq!(props["P1"]["verdict"], "holds");
    // Reachability: trigger's 2xx answers exercise P12's antecedent.
    assert_eq!(props["P12"]["verdict"], "holds");
    assert!(props["P12"]["reached"].as_u64().unwrap() > 0, "{props}");
    for needle in ["history events", "peak memory", "per demand"] {
        assert!(err.contains(needle), "{err}");
    }
}

#[test]
fn check_names_a_property_of_its_mechanism_as_not_applicable() {
    let mut args = vec![
        "simulate",
        "--mechanism",
        "refresh",
        "--json",
        "--check",
        "P12",
    ];
    args.extend(SMALL);
    let (code, out, _) = tokenlab(&args);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["properties"]["P12"]["verdict"], "n/a");
}

#[test]
fn an_unknown_property_is_refused_by_name() {
    let (code, _, err) = tokenlab(&["simulate", "--mechanism", "trigger", "--check", "P1,P13"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--check") && err.contains("P13"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}
