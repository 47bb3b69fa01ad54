//! P1's `reached` counts the attacker requests that put the tenant (or app) check to the test
//! and were decided (issue 11): a genuine item of another tenant or app, or an app-wide item
//! for a tenant the attacker is not entitled to. A stolen item used for its own tenant, and a
//! forgery (refused by a signature or lookup check before any tenant check), do not count.

use tokenlab_models::history::ExposureMode;
use tokenlab_models::ids::TenantId;
use tokenlab_models::roles::attacker::{AttackPlan, AttackStep, Capability};
use tokenlab_models::sim::Scenario;
use tokenlab_models::{Micros, SEC};
use tokenlab_properties::suite::{RunSpec, execute, run_row};
use tokenlab_properties::{Property, VerdictKind, tenant_isolation};

fn at(s: f64) -> Micros {
    (s * SEC as f64) as Micros
}

fn run(mechanism: &str, steps: Vec<AttackStep>) -> (u64, u64) {
    let mut s = Scenario::new(mechanism, "same-region").unwrap();
    s.tenants = 4;
    s.duration_s = 1800.0;
    s.demands_per_tenant_hour = 30.0;
    s.seed = 0x5eed;
    let spec = RunSpec {
        scenario: s,
        plan: Some(AttackPlan::new(steps, at(1800.0))),
    };
    let (h, _) = execute(&spec).unwrap();
    // Every attacker-originated presentation some verifier decided (what `reached` counted
    // before).
    let f = tokenlab_properties::facts::Facts::new(&h);
    let decided_attacker = f
        .decided()
        .filter(|(p, _, _)| f.attacker_originated(p))
        .count() as u64;
    (tenant_isolation(&h).reached, decided_attacker)
}

fn steal(field: &'static str, tenant: u32) -> AttackStep {
    AttackStep {
        at: at(600.0),
        capability: Capability::Steal {
            field,
            tenant: TenantId(tenant),
            from: ExposureMode::Store,
        },
    }
}

/// A thief with tenant 1's trigger URL only ever calls it for tenant 1 (F mints for the URL's
/// own installation): its requests are decided but reach no tenant check. With tenant 1's T
/// it also tries the other tenants at the API, and those decisions are counted.
#[test]
fn own_tenant_use_is_not_reached() {
    let (reached, decided) = run("trigger", vec![steal("trigger_url", 1)]);
    assert!(decided > 0, "the thief's requests were decided");
    assert_eq!(reached, 0);
    let (reached, _) = run("trigger", vec![steal("trigger_url", 1), steal("token", 1)]);
    assert!(reached > 0, "tenant 1's T tried for another tenant");
}

/// With its own tenant (A4) the attacker presents tenant 0's genuine items for other
/// tenants: those decisions are the tenant check's, and they are counted.
#[test]
fn an_own_tenants_item_for_another_tenant_is_reached() {
    let own = AttackStep {
        at: at(-301.0),
        capability: Capability::Own {
            tenant: TenantId(0),
        },
    };
    let forge = AttackStep {
        at: at(300.0),
        capability: Capability::Forge,
    };
    for m in ["trigger", "refresh", "tenant-secret"] {
        let (reached, decided) = run(m, vec![own.clone(), forge.clone()]);
        assert!(reached > 0, "{m}: reached {reached} of {decided}");
    }
}

/// The controls still flip with the narrower count: the sound design holds with reached > 0,
/// the mutant that keys T by the body's tenant is violated.
#[test]
fn p1_controls_with_the_narrow_count() {
    let sound = run_row(
        &tokenlab_properties::suite::Expectation::adhoc("trigger", &[], Property::P1),
        1,
        0x5eed,
    );
    assert_eq!(sound.verdict, VerdictKind::Holds);
    assert!(sound.reached > 0);
    let broken = run_row(
        &tokenlab_properties::suite::Expectation::adhoc(
            "trigger",
            &["store_key=body"],
            Property::P1,
        ),
        1,
        0x5eed,
    );
    assert_eq!(broken.verdict, VerdictKind::Violated);
    assert!(broken.reached > 0);
}
