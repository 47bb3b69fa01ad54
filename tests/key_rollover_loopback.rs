//! Issue 13 item 2 on the loopback driver: a FIT key rollover inside a JWKS outage reaches
//! the real-network driver through the shared world core (the schedule's rollover and outage
//! steps), and costs what it costs in the simulator: deliveries under the new key are refused
//! while P cannot fetch the key set, and accepted again once it can. The same scripted world
//! runs in the simulator, and both histories give the same cost.

use std::time::Duration;
use tokenlab::net::{LoopbackWorld, NetConfig};
use tokenlab_models::SEC;
use tokenlab_models::faults::{LinkProfile, NetworkProfile};
use tokenlab_models::history::History;
use tokenlab_models::roles::attacker::AttackPlan;
use tokenlab_models::sim::rollover::{RolloverCost, rollover_cost};
use tokenlab_models::sim::{Scenario, run_attacked};
use tokenlab_models::world::hard_stop;

/// The rollover at 120 s, inside the outage from 100 to 160 s. Demands come every 5 s from
/// 2 s; the 33 s floor keeps every refetch boundary (155, 190 s) seconds away from a demand,
/// so real overheads cannot move a delivery across one.
const OUTAGE: (i64, i64) = (100 * SEC, 160 * SEC);

fn config() -> NetConfig {
    let mut cfg = NetConfig::new("trigger", 2, 2.0);
    cfg.seed = 5;
    cfg.sets = [
        "fit_key_rotation=periodic(2m)",
        "fit_key_overlap=10s",
        "jwks_refetch_floor=33s",
        "jwks_max_age=none",
        // Every demand is a cold miss: each one is a FIT delivery.
        "ttl=2s",
        "expiry_margin=0s",
        "timeout=1s",
        "platform_timeout=400ms",
        "retries=0",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    cfg.network = NetworkProfile::uniform(LinkProfile::fixed_rtt_ms(4.0));
    cfg.demands = (0..46).map(|i| (5.0 * f64::from(i) + 2.0, i % 2)).collect();
    cfg.duration_s = 235.0;
    cfg.fast_forward = true;
    let mut plan = AttackPlan::new(Vec::new(), OUTAGE.1);
    plan.jwks_outages = vec![OUTAGE];
    cfg.plan = Some(plan);
    cfg
}

fn scenario(cfg: &NetConfig) -> Scenario {
    Scenario {
        preset: "scripted".into(),
        ..cfg.scenario()
    }
}

fn loopback_history(cfg: &NetConfig) -> History {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    rt.block_on(async {
        let world = LoopbackWorld::start(cfg).await.expect("the world starts");
        let stop = hard_stop(&scenario(cfg));
        assert!(
            world.run_until(stop, Duration::from_secs(180)).await,
            "the schedule did not finish"
        );
        world.finish()
    })
}

#[test]
fn a_rollover_inside_an_outage_costs_the_same_on_loopback_as_in_the_simulator() {
    let cfg = config();
    let plan = cfg.plan.clone().expect("plan");
    let sim = run_attacked(&scenario(&cfg), &plan).expect("resolves");
    let sim_cost = rollover_cost(&sim.history, OUTAGE);
    assert!(sim_cost.rollovers >= 1, "{sim_cost:?}");
    assert!(
        sim_cost.refused_in_outage > 0,
        "nothing refused: {sim_cost:?}"
    );
    assert!(sim_cost.recovery_s.is_some(), "{sim_cost:?}");

    let net_cost = rollover_cost(&loopback_history(&cfg), OUTAGE);
    // The counts agree exactly; the recovery time up to the loopback's real overheads (its
    // timestamps are real, the simulator's modelled).
    let whole = |c: &RolloverCost| RolloverCost {
        recovery_s: c.recovery_s.map(f64::round),
        ..c.clone()
    };
    assert_eq!(whole(&net_cost), whole(&sim_cost));
}
