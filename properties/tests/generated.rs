//! Property-based suites over every mechanism: proptest generates interleavings of installs,
//! uninstalls, revocations, faults (JWKS outage, partner crash, partition, deploy reset) and
//! attacker actions (thefts, a store breach, forged deliveries, taps with replays, an owned
//! tenant) on top of the seeded demand workload, and every property whose default verdict is
//! `holds` is judged over the whole history (each checker is a predicate over every prefix,
//! so "after every step" is the same as over the whole run). Failures shrink to the fewest
//! steps and are persisted in `proptest-regressions/`; the shrunk case is written as JSON so
//! `tokenlab replay FILE` shows the violation again.
//!
//! `PROPTEST_CASES` sets the number of cases per mechanism (default 8, so the whole
//! `cargo test` stays within minutes on 2 cores).

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestCaseError, TestError, TestRunner};
use tokenlab_models::mechanisms::of_reference;
use tokenlab_properties::generated::{Case, Op, first_violation, violation_in};
use tokenlab_properties::suite::expectations;
use tokenlab_properties::{Property, VerdictKind};

const TENANTS: u32 = 4;
const DURATION_S: f64 = 1800.0;

fn config(name: &str) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    Config {
        cases,
        // One file per suite: a saved seed only means something to its own strategy.
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(Box::leak(
            format!(
                "{}/proptest-regressions/generated-{name}.txt",
                env!("CARGO_MANIFEST_DIR")
            )
            .into_boxed_str(),
        )))),
        // Deterministic: the generator's seed is fixed unless the environment sets one.
        rng_algorithm: proptest::test_runner::RngAlgorithm::ChaCha,
        ..Config::default()
    }
}

fn runner(name: &str) -> TestRunner {
    TestRunner::new_with_rng(
        config(name),
        proptest::test_runner::TestRng::from_seed(
            proptest::test_runner::RngAlgorithm::ChaCha,
            &[7; 32],
        ),
    )
}

fn time() -> impl Strategy<Value = f64> {
    (1u32..((DURATION_S as u32) - 60)).prop_map(f64::from)
}

fn tenant() -> impl Strategy<Value = u32> {
    0..TENANTS
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (tenant(), time()).prop_map(|(tenant, at_s)| Op::Uninstall { tenant, at_s }),
        (tenant(), time()).prop_map(|(tenant, at_s)| Op::Install { tenant, at_s }),
        (tenant(), time()).prop_map(|(tenant, at_s)| Op::Revoke { tenant, at_s }),
        (tenant(), any::<bool>(), time()).prop_map(|(tenant, token, at_s)| Op::Steal {
            tenant,
            token,
            at_s
        }),
        time().prop_map(|at_s| Op::Breach { at_s }),
        (1u32..50, time()).prop_map(|(count, at_s)| Op::Spam { count, at_s }),
        time().prop_map(|at_s| Op::Forge { at_s }),
        time().prop_map(|at_s| Op::TapAndReplay { at_s }),
        tenant().prop_map(|tenant| Op::Own { tenant }),
        (time(), 10u32..600).prop_map(|(from_s, d)| Op::JwksOutage {
            from_s,
            until_s: from_s + f64::from(d)
        }),
        (time(), 1u32..300, any::<bool>()).prop_map(|(from_s, d, lose_volatile)| {
            Op::CrashPartner {
                from_s,
                until_s: from_s + f64::from(d),
                lose_volatile,
            }
        }),
        (time(), 1u32..300).prop_map(|(from_s, d)| Op::Partition {
            from_s,
            until_s: from_s + f64::from(d)
        }),
        time().prop_map(|at_s| Op::DeployReset { at_s }),
    ]
}

fn case(
    mechanism: &'static str,
    sets: Vec<String>,
    properties: Vec<Property>,
) -> impl Strategy<Value = Case> {
    // Where revocation means uninstall (expectations.md P5), no Revoke.
    let revocable = of_reference(mechanism)
        .expect("known mechanism")
        .revocable();
    let ops = prop::collection::vec(op(), 0..8).prop_map(move |ops| {
        ops.into_iter()
            .filter(|o| revocable || !matches!(o, Op::Revoke { .. }))
            .collect::<Vec<_>>()
    });
    (any::<u64>(), ops).prop_map(move |(seed, ops)| Case {
        mechanism: mechanism.into(),
        sets: sets.clone(),
        seed,
        tenants: TENANTS,
        duration_s: DURATION_S,
        ops,
        properties: properties.clone(),
    })
}

/// The properties a mechanism's default row expects to hold, minus those whose antecedents
/// need a horizon longer than a generated case (P4) or a fault-free run (P11), and P10 (the
/// generated faults make every judged property a P10 check already).
fn holding(mechanism: &str) -> Vec<Property> {
    expectations()
        .into_iter()
        .filter(|e| {
            e.variant.is_none()
                && e.mechanism == mechanism
                && e.expected == VerdictKind::Holds
                && !matches!(e.property, Property::P4 | Property::P10 | Property::P11)
        })
        .map(|e| e.property)
        .collect()
}

fn save(name: &str, c: &Case) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("counterexamples");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(c).unwrap()).unwrap();
    path
}

fn suite(mechanism: &'static str) {
    let props = holding(mechanism);
    assert!(!props.is_empty());
    let reached = std::cell::Cell::new(0u64);
    let result = runner(mechanism).run(&case(mechanism, Vec::new(), props), |c| {
        let verdicts = c.check().map_err(TestCaseError::fail)?;
        reached.set(reached.get() + verdicts.iter().map(|v| v.reached).sum::<u64>());
        // Judge the verdicts just computed: one simulation per case.
        match violation_in(&c, &verdicts) {
            None => Ok(()),
            Some(trace) => Err(TestCaseError::fail(trace)),
        }
    });
    if let Err(TestError::Fail(reason, minimal)) = result {
        let path = save(mechanism, &minimal);
        panic!(
            "{reason}\nshrunk case saved; rerun with: cargo run --release -- replay {}",
            path.display()
        );
    }
    result.unwrap();
    // The generated attacks and faults actually reached the verifiers the properties name.
    assert!(
        reached.get() > 0,
        "{mechanism}: nothing reached any checker"
    );
}

#[test]
fn generated_trigger() {
    suite("trigger");
}
#[test]
fn generated_push() {
    suite("push");
}
#[test]
fn generated_refresh() {
    suite("refresh");
}
#[test]
fn generated_upm_oauth() {
    suite("upm-oauth");
}
#[test]
fn generated_global_secret() {
    suite("global-secret");
}
#[test]
fn generated_tenant_secret() {
    suite("tenant-secret");
}
#[test]
fn generated_connect_jwt() {
    suite("connect-jwt");
}

/// The generators must be able to find a race: with the platform's installation recheck
/// switched off, a push retry after an uninstall mints for an uninstalled tenant (P3). The
/// runner finds it, shrinks it to a handful of steps, and the shrunk case replays.
#[test]
fn generated_suite_finds_and_shrinks_the_push_retry_race() {
    let mut r = runner("push-retry-race");
    let strategy = (any::<u64>(), prop::collection::vec(op(), 0..8)).prop_map(|(seed, mut ops)| {
        // The race needs an uninstall while deliveries are failing; the generator supplies
        // the rest of the interleaving.
        ops.push(Op::CrashPartner {
            from_s: 60.0,
            until_s: 1500.0,
            lose_volatile: false,
        });
        ops.push(Op::Uninstall {
            tenant: 1,
            at_s: 700.0,
        });
        Case {
            mechanism: "push".into(),
            sets: vec![
                "recheck_install=off".into(),
                "interval=5m".into(),
                "platform_backoff=60s".into(),
            ],
            seed,
            tenants: TENANTS,
            duration_s: DURATION_S,
            ops,
            properties: vec![Property::P3],
        }
    });
    let result = r.run(&strategy, |c| {
        match first_violation(&c).map_err(TestCaseError::fail)? {
            None => Ok(()),
            Some(trace) => Err(TestCaseError::fail(trace)),
        }
    });
    let Err(TestError::Fail(reason, minimal)) = result else {
        panic!("the generators never produced the push retry race: {result:?}");
    };
    assert!(reason.message().contains("P3 violated"), "{reason}");
    // Shrinking removed every generated step the race does not need.
    assert!(minimal.ops.len() <= 3, "not shrunk: {}", minimal.describe());
    let path = save("push_recheck_off_race", &minimal);
    let replayed: Case = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert!(
        first_violation(&replayed).expect("runs").is_some(),
        "the saved case must violate again"
    );
}

/// A FIT authenticates the caller, not the body, unless P binds it to the first body it came
/// with. An observer of the Forge → P hop (A1) replays an uninstall's genuine FIT within its
/// 60 s lifetime as an `installed` carrying its own secret (A10). P.lifecycle refuses it
/// (`fit_replayed`), so P3 holds; without the binding (the mutant
/// `lifecycle_fit_replay_check=off`) P stores the attacker's secret for that tenant.
#[test]
fn a_tapped_fit_replayed_with_a_forged_body_is_refused() {
    let door = |sets: Vec<String>| Case {
        mechanism: "global-secret".into(),
        sets,
        seed: 1,
        tenants: TENANTS,
        duration_s: DURATION_S,
        ops: vec![
            Op::TapForge { at_s: 1.0 },
            Op::Forge { at_s: 1.0 },
            Op::Uninstall {
                tenant: 0,
                at_s: 700.0,
            },
        ],
        properties: vec![Property::P3],
    };
    let sound = door(Vec::new());
    let verdicts = sound.check().expect("runs");
    assert_eq!(violation_in(&sound, &verdicts), None);
    assert!(verdicts.iter().all(|v| v.reached > 0), "{verdicts:?}");
    let trace = first_violation(&door(vec!["lifecycle_fit_replay_check=off".into()]))
        .expect("runs")
        .expect("without the binding the replayed FIT is accepted");
    assert!(
        trace.contains("P accepted a client_secret for t0"),
        "{trace}"
    );
}
