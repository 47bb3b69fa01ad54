//! One world core, two drivers: the same seed and scripted scenario (loss, edge 5xx and 429,
//! a partner crash with a demand inside it, a replica-lag spike) run in the simulator and on
//! loopback must give the same history up to timestamps: the same sequence of event kinds,
//! the same fate for every message and the same outcome for every demand.
//!
//! The script keeps outcomes independent of wall-clock races: demands are 4 s apart, so one
//! acquisition is in flight at a time; every deadline (the partner's 1 s timeout, the
//! platform's 400 ms one) is far from the ~70 ms a trigger exchange takes; the crash and the
//! lag spike start and end between demands. Event kinds are compared from t = 0 on: the
//! installs before it overlap, so their interleaving (not their fates) follows real overheads. The test also checks that each fault was
//! actually exercised, so a pass is never vacuous.

use std::collections::BTreeMap;
use std::time::Duration;
use tokenlab::net::{LoopbackWorld, NetConfig};
use tokenlab_models::SEC;
use tokenlab_models::faults::{CrashRole, LinkProfile, Nemesis, NetworkProfile};
use tokenlab_models::history::ExposureMode;
use tokenlab_models::history::{Event, FaultKind, History};
use tokenlab_models::ids::{DemandId, MsgId};
use tokenlab_models::ids::{Party, TenantId};
use tokenlab_models::roles::attacker::{AttackPlan, AttackStep, Capability};
use tokenlab_models::sim::rollover::{RolloverCost, rollover_cost};
use tokenlab_models::sim::{Scenario, run, run_attacked};
use tokenlab_models::world::hard_stop;

const SEED: u64 = 3;

/// The scripted world, as the loopback driver's configuration.
fn config() -> NetConfig {
    let mut cfg = NetConfig::new("trigger", 2, 2.0);
    cfg.seed = SEED;
    cfg.sets = sets(&[
        "timeout=1s",
        "platform_timeout=400ms",
        "backoff_base=20ms",
        "backoff_cap=100ms",
        "read_from=replica",
        // Every demand is a cold miss: the token lapses before the tenant's next demand.
        "ttl=2s",
        "expiry_margin=0s",
    ]);
    cfg.network = NetworkProfile::uniform(LinkProfile {
        loss_request: 0.08,
        loss_response: 0.08,
        http_5xx: 0.08,
        http_429: 0.05,
        ..LinkProfile::fixed_rtt_ms(4.0)
    });
    cfg.nemesis = vec![
        Nemesis::Crash {
            role: CrashRole::Partner,
            from_s: 13.0,
            until_s: 17.0,
            lose_volatile: true,
        },
        Nemesis::ReplicaLagSpike {
            extra_ms: 3000.0,
            from_s: 26.0,
            until_s: 34.0,
        },
    ];
    cfg.demands = (0..10).map(|i| (2.0 + 4.0 * f64::from(i), i % 2)).collect();
    cfg.duration_s = 44.0;
    cfg.fast_forward = true;
    cfg
}

/// The same world as a simulator scenario.
fn scenario(cfg: &NetConfig) -> Scenario {
    Scenario {
        preset: "scripted".into(),
        ..cfg.scenario()
    }
}

/// What must agree between the drivers: kinds in time order, message fates, demand outcomes.
#[derive(Debug, PartialEq)]
struct Shape {
    kinds: Vec<String>,
    fates: BTreeMap<MsgId, String>,
    outcomes: BTreeMap<DemandId, String>,
}

fn kind(e: &Event) -> String {
    match e {
        Event::Drop { reason, .. } => format!("Drop({reason:?})"),
        Event::Fault { kind, .. } => format!("Fault({kind})"),
        Event::Complete { outcome, cold, .. } => format!("Complete({outcome:?}, cold={cold})"),
        other => {
            let s = format!("{other:?}");
            s.split([' ', '{', '('])
                .next()
                .unwrap_or_default()
                .to_string()
        }
    }
}

fn shape(h: &History) -> Shape {
    let mut fates = BTreeMap::new();
    let mut outcomes = BTreeMap::new();
    for r in &h.records {
        match &r.event {
            Event::Send { env } => {
                fates.entry(env.id).or_insert_with(|| "sent".to_string());
            }
            Event::Receive { env, .. } => {
                fates.insert(env.id, "received".into());
            }
            Event::Drop { msg, reason } => {
                fates.insert(*msg, format!("dropped {reason:?}"));
            }
            Event::Complete {
                demand, outcome, ..
            } => {
                outcomes.insert(*demand, format!("{outcome:?}"));
            }
            _ => {}
        }
    }
    Shape {
        // Provisioning before t = 0 runs installs 10 ms apart whose exchanges overlap, so
        // their interleaving depends on real overheads; every fate is still compared.
        kinds: h
            .records
            .iter()
            .filter(|r| r.t >= 0)
            .map(|r| kind(&r.event))
            .collect(),
        fates,
        outcomes,
    }
}

fn loopback_history(cfg: &NetConfig) -> (History, u64) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    rt.block_on(async {
        let world = LoopbackWorld::start(cfg).await.expect("the world starts");
        let stop = hard_stop(&scenario(cfg));
        let limit = Duration::from_secs(120);
        assert!(
            world.run_until(stop, limit).await,
            "the schedule did not finish"
        );
        (world.finish(), world.skipped_partner_down())
    })
}

fn sets(s: &[&str]) -> Vec<String> {
    s.iter().map(|s| s.to_string()).collect()
}

/// An attacker who steals `field` of `tenant` from P's store at `at` and uses it every
/// `probe_every` until `until`.
fn store_theft(
    field: &'static str,
    tenant: u32,
    at: i64,
    until: i64,
    probe_every: i64,
) -> AttackPlan {
    let mut plan = AttackPlan::new(
        vec![AttackStep {
            at,
            capability: Capability::Steal {
                field,
                tenant: TenantId(tenant),
                from: ExposureMode::Store,
            },
        }],
        until,
    );
    plan.probe_every = probe_every;
    plan
}

/// The attacker's requests that were served (200).
fn attacker_served(h: &History) -> usize {
    h.records
        .iter()
        .filter(|r| matches!(&r.event, Event::Receive { who: Party::Attacker, env } if env.response().is_some_and(|x| x.status == 200)))
        .count()
}

#[test]
fn simulator_and_loopback_give_the_same_history() {
    let cfg = config();
    let sim = run(&scenario(&cfg)).expect("the scenario resolves");
    let sim_shape = shape(&sim.history);

    // Every fault was exercised, and a demand fell into the crash.
    let count = |k: &str| sim_shape.kinds.iter().filter(|x| x.starts_with(k)).count();
    assert!(count("Drop(LostRequest)") > 0, "no lost request");
    assert!(count("Drop(LostResponse)") > 0, "no lost response");
    let edges: Vec<&String> = sim
        .history
        .records
        .iter()
        .filter_map(|r| match &r.event {
            Event::Fault { kind, detail } if *kind == FaultKind::HttpError => Some(detail),
            _ => None,
        })
        .collect();
    assert!(edges.iter().any(|d| d.starts_with("503")), "no edge 5xx");
    assert!(edges.iter().any(|d| d.starts_with("429")), "no edge 429");
    assert!(count("Fault(crash)") == 1 && count("Fault(restart)") == 1);
    assert!(count("StaleRead") > 0, "the lag spike caused no stale read");
    assert_eq!(
        sim.summary.skipped_partner_down, 1,
        "no demand in the crash"
    );
    assert_eq!(sim_shape.outcomes.len(), 9, "every other demand completes");

    let (net, net_skipped) = loopback_matching(&cfg, &sim.history);
    assert_eq!(
        net_skipped, 1,
        "loopback: the demand in the crash is not skipped"
    );
    assert_same(&sim.history, &net);
}

/// The loopback run of `cfg` whose shape matches `sim`'s, out of up to three attempts (else
/// the last). Loopback runs on real sockets and a real clock: on a loaded machine two
/// exchanges the model starts a millisecond apart can interleave the other way, while a real
/// disagreement of the drivers shows on every attempt.
fn loopback_matching(cfg: &NetConfig, sim: &History) -> (History, u64) {
    let want = shape(sim);
    let mut run = loopback_history(cfg);
    for _ in 1..3 {
        if shape(&run.0) == want {
            break;
        }
        run = loopback_history(cfg);
    }
    run
}

/// Panics, naming the first difference, unless the two histories have the same shape.
fn assert_same(sim: &History, net: &History) {
    let sim_shape = shape(sim);
    let net_shape = shape(net);
    // To compare by eye: TOKENLAB_PARITY_DUMP=DIR writes both histories there, one event a line.
    if let Ok(dir) = std::env::var("TOKENLAB_PARITY_DUMP") {
        for (name, h) in [("simulator", sim), ("loopback", net)] {
            let lines: Vec<String> = h
                .records
                .iter()
                .map(|r| format!("{} {:?}", r.t, r.event))
                .collect();
            std::fs::write(format!("{dir}/parity-{name}.txt"), lines.join("\n"))
                .expect("the dump directory is writable");
        }
    }
    if net_shape != sim_shape {
        let first = sim_shape
            .kinds
            .iter()
            .zip(&net_shape.kinds)
            .position(|(a, b)| a != b);
        panic!(
            "the drivers disagree (first differing event kind at {first:?}):\n\
             simulator: {} events, outcomes {:?}\nloopback:  {} events, outcomes {:?}\n\
             fates that differ: {:?}",
            sim_shape.kinds.len(),
            sim_shape.outcomes,
            net_shape.kinds.len(),
            net_shape.outcomes,
            sim_shape
                .fates
                .iter()
                .filter(|(m, f)| net_shape.fates.get(m) != Some(f))
                .collect::<Vec<_>>(),
        );
    }
}

/// An attacker steals tenant 1's refresh token from P's store at 5 s and uses it every 2 s;
/// the victim's next refresh presents a superseded token and reuse detection revokes the
/// family. The attacker acts through the same links on both drivers.
#[test]
fn an_attacked_run_is_the_same_on_both_drivers() {
    let mut cfg = NetConfig::new("refresh", 2, 2.0);
    cfg.seed = SEED;
    cfg.sets = sets(&["ttl=2s", "expiry_margin=0s", "grace_window=0s"]);
    cfg.demands = (0..6).map(|i| (2.0 + 4.0 * f64::from(i), i % 2)).collect();
    cfg.duration_s = 24.0;
    cfg.fast_forward = true;
    let plan = store_theft("refresh_token", 1, 5 * SEC, 20 * SEC, 2 * SEC);
    cfg.plan = Some(plan.clone());
    let sim = run_attacked(&scenario(&cfg), &plan).expect("the scenario resolves");
    // The theft happened, the attacker was served, and the victim's reuse was detected.
    assert!(
        attacker_served(&sim.history) > 0,
        "the stolen token bought nothing"
    );
    assert!(
        sim.history
            .records
            .iter()
            .any(|r| matches!(r.event, Event::Detect { .. })),
        "no reuse detected"
    );
    let (net, _) = loopback_matching(&cfg, &sim.history);
    assert_same(&sim.history, &net);
}

// Issue 13 item 2 on the loopback driver: a FIT key rollover inside a JWKS outage reaches the
// real-network driver through the shared world core (the schedule's rollover and outage
// steps) and costs what it costs in the simulator: deliveries under the new key are refused
// while P cannot fetch the key set, and accepted again once it can.

/// The rollover at 120 s, inside the outage from 100 to 160 s. Demands come every 5 s from
/// 2 s; the 33 s floor keeps every refetch boundary (155, 190 s) seconds away from a demand,
/// so real overheads cannot move a delivery across one.
const ROLLOVER_OUTAGE: (i64, i64) = (100 * SEC, 160 * SEC);

fn rollover_config() -> NetConfig {
    let mut cfg = NetConfig::new("trigger", 2, 2.0);
    cfg.seed = 5;
    cfg.sets = sets(&[
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
    ]);
    cfg.network = NetworkProfile::uniform(LinkProfile::fixed_rtt_ms(4.0));
    cfg.demands = (0..46).map(|i| (5.0 * f64::from(i) + 2.0, i % 2)).collect();
    cfg.duration_s = 235.0;
    cfg.fast_forward = true;
    let mut plan = AttackPlan::new(Vec::new(), ROLLOVER_OUTAGE.1);
    plan.jwks_outages = vec![ROLLOVER_OUTAGE];
    cfg.plan = Some(plan);
    cfg
}

#[test]
fn a_key_rollover_inside_a_jwks_outage_costs_the_same_on_both_drivers() {
    let cfg = rollover_config();
    let plan = cfg.plan.clone().expect("plan");
    let sim = run_attacked(&scenario(&cfg), &plan).expect("resolves");
    let sim_cost = rollover_cost(&sim.history, ROLLOVER_OUTAGE);
    assert!(sim_cost.rollovers >= 1, "{sim_cost:?}");
    assert!(
        sim_cost.refused_in_outage > 0,
        "nothing refused: {sim_cost:?}"
    );
    assert!(sim_cost.recovery_s.is_some(), "{sim_cost:?}");

    let net_cost = rollover_cost(&loopback_history(&cfg).0, ROLLOVER_OUTAGE);
    // The counts agree exactly; the recovery time up to the loopback's real overheads (its
    // timestamps are real, the simulator's modelled).
    let whole = |c: &RolloverCost| RolloverCost {
        recovery_s: c.recovery_s.map(f64::round),
        ..c.clone()
    };
    assert_eq!(whole(&net_cost), whole(&sim_cost));
}

// Issue 13 item 4 on the loopback driver: the composite `migration` (connect-jwt + trigger on
// one installation) runs through the same world core. F provisions the trigger URL at 9.5 s,
// both credentials are live until 23.5 s, and from then on the API refuses Connect JWTs. An
// attacker who stole the sharedSecret at 4.5 s is served until the window's end and refused
// after it, on both drivers alike. One tenant: the attacker tries a stolen secret on every
// tenant 1 ms apart, a race the real network may order either way.

#[test]
fn a_migration_window_is_the_same_on_both_drivers() {
    let mut cfg = NetConfig::new("migration", 1, 2.0);
    cfg.seed = SEED;
    cfg.sets = sets(&[
        "migration_start=9500ms",
        "migration_window=14s",
        "ttl=2s",
        "expiry_margin=0s",
        "timeout=1s",
        "platform_timeout=400ms",
        "retries=0",
    ]);
    cfg.network = NetworkProfile::uniform(LinkProfile::fixed_rtt_ms(4.0));
    // Demands 4 s apart from 2 s and the attacker's probes 3 s apart from 4.5 s: none closer
    // than 0.5 s to each other or to a phase boundary (9.5 s, 23.5 s).
    cfg.demands = (0..9).map(|i| (2.0 + 4.0 * f64::from(i), 0)).collect();
    cfg.duration_s = 38.0;
    cfg.fast_forward = true;
    let plan = store_theft(
        "shared_secret",
        0,
        4500 * tokenlab_models::MS,
        36 * SEC,
        3 * SEC,
    );
    cfg.plan = Some(plan.clone());
    let sim = run_attacked(&scenario(&cfg), &plan).expect("the scenario resolves");
    // Served before the window's end, refused as retired after it: the phase logic was
    // exercised on both sides of the boundary.
    assert!(
        attacker_served(&sim.history) > 0,
        "the stolen sharedSecret bought nothing"
    );
    let retired = sim
        .history
        .records
        .iter()
        .filter(
            |r| matches!(&r.event, Event::Reject { reason, .. } if *reason == "connect_retired"),
        )
        .count();
    assert!(retired > 0, "no Connect JWT refused after the window");
    let (net, _) = loopback_matching(&cfg, &sim.history);
    assert_same(&sim.history, &net);
}
