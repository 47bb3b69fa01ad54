//! The simulator's checkers judge loopback histories, and the fault profiles are enacted on
//! real sockets: edge 5xx answered by the receiver's HTTP edge, lost requests never sent,
//! partition windows, added latency. Each test checks that the fault was actually exercised.

use std::time::Duration;
use tokenlab::net::{LoopbackWorld, NetConfig};
use tokenlab_models::faults::{LinkProfile, Nemesis};
use tokenlab_models::history::{Cause, DropReason, Event, FaultKind, History, Outcome};
use tokenlab_models::ids::{Group, Party, TenantId};
use tokenlab_models::{MS, Micros};
use tokenlab_properties::{executability, read_your_writes};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// One demand per tenant, sequentially; returns the finished history.
async fn demand_each(world: &LoopbackWorld, tenants: u32) -> Vec<Outcome> {
    let mut out = Vec::new();
    for t in 0..tenants {
        out.push(world.demand(TenantId(t)).await.outcome);
    }
    out
}

fn config(mechanism: &str, tenants: u32, sets: &[&str]) -> NetConfig {
    let mut c = NetConfig::new(mechanism, tenants, 0.0);
    c.sets = sets.iter().map(|s| s.to_string()).collect();
    c
}

fn count(h: &History, f: impl Fn(&Event) -> bool) -> usize {
    h.records.iter().filter(|r| f(&r.event)).count()
}

#[test]
fn p12_and_p11_hold_over_a_loopback_trigger_history() {
    runtime().block_on(async {
        let world = LoopbackWorld::start(&config("trigger", 4, &[]))
            .await
            .unwrap();
        assert!(
            demand_each(&world, 4)
                .await
                .iter()
                .all(|o| *o == Outcome::Ok)
        );
        let h = world.finish();
        let p12 = read_your_writes(&h);
        assert!(p12.holds && p12.reached >= 4, "{p12:?}");
        let p11 = executability(&h, 4);
        assert!(p11.holds && p11.reached == 4, "{p11:?}");
    });
}

#[test]
fn p12_negative_control_a_lagging_replica_breaks_it_on_loopback() {
    // The replica lags 1 s of real time; the read after the trigger's 2xx comes within a
    // millisecond or so on loopback, so it must miss the committed token.
    runtime().block_on(async {
        let sets = ["read_from=replica", "replica_lag=fixed(1s)", "retries=0"];
        let world = LoopbackWorld::start(&config("trigger", 2, &sets))
            .await
            .unwrap();
        demand_each(&world, 2).await;
        let h = world.finish();
        let v = read_your_writes(&h);
        assert!(!v.holds, "{v:?}");
        assert!(count(&h, |e| matches!(e, Event::StaleRead { .. })) >= 1);
    });
}

#[test]
fn p11_negative_control_tokens_for_the_wrong_audience_are_refused_on_loopback() {
    runtime().block_on(async {
        let world = LoopbackWorld::start(&config("refresh", 2, &["token_aud=wrong"]))
            .await
            .unwrap();
        let outcomes = demand_each(&world, 2).await;
        assert!(outcomes.iter().all(|o| *o != Outcome::Ok), "{outcomes:?}");
        let v = executability(&world.finish(), 2);
        assert!(!v.holds && v.reached == 2, "{v:?}");
    });
}

#[test]
fn an_edge_5xx_or_429_is_answered_by_the_http_edge_and_retried_by_the_partner() {
    for status in [503u16, 429] {
        runtime().block_on(async {
            let mut cfg = config(
                "refresh",
                1,
                &["retries=2", "backoff_base=1ms", "backoff_cap=2ms"],
            );
            let mut broken = LinkProfile::fixed_rtt_ms(0.0);
            if status == 503 {
                broken.http_5xx = 1.0;
            } else {
                broken.http_429 = 1.0;
            }
            cfg.network
                .links
                .insert((Group::Partner, Group::AuthServer), broken);
            let world = LoopbackWorld::start(&cfg).await.unwrap();
            let r = world.demand(TenantId(0)).await;
            assert_eq!(r.outcome, Outcome::Fail(Cause::HttpError), "{r:?}");
            let h = world.finish();
            // Three attempts, each answered by the AS's edge over HTTP; the role never saw them.
            let faults = count(&h, |e| {
                matches!(
                    e,
                    Event::Fault {
                        kind: FaultKind::HttpError,
                        ..
                    }
                )
            });
            let answered = count(&h, |e| {
                matches!(e, Event::Receive { env, .. } if env.response().is_some_and(|r| r.status == status))
            });
            let reached_as = count(&h, |e| {
                matches!(e, Event::Receive { who, env } if *who == Party::AS && env.request().is_some_and(|q| q.route == "POST /oauth/token"))
            });
            assert_eq!((faults, answered, reached_as), (3, 3, 0), "{status}");
        });
    }
}

#[test]
fn a_crashed_partner_drops_what_arrives_and_comes_back() {
    runtime().block_on(async {
        let mut cfg = config("refresh", 1, &["timeout=100ms", "retries=0"]);
        // The platform is down for 0.3 s from t=0: the AS drops the refresh.
        cfg.nemesis.push(Nemesis::Crash {
            role: tokenlab_models::faults::CrashRole::Platform,
            from_s: 0.0,
            until_s: 0.3,
            lose_volatile: false,
        });
        let world = LoopbackWorld::start(&cfg).await.unwrap();
        let during = world.demand(TenantId(0)).await;
        assert_eq!(during.outcome, Outcome::Fail(Cause::Timeout), "{during:?}");
        while world.now() < 300 * MS {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let after = world.demand(TenantId(0)).await;
        assert_eq!(after.outcome, Outcome::Ok, "{after:?}");
        let h = world.finish();
        assert!(
            count(&h, |e| matches!(
                e,
                Event::Drop {
                    reason: DropReason::Crashed,
                    ..
                }
            )) >= 1
        );
        assert!(
            count(&h, |e| matches!(
                e,
                Event::Fault {
                    kind: FaultKind::Restart,
                    ..
                }
            )) == 1
        );
    });
}

#[test]
fn a_lost_request_is_never_sent_and_the_attempt_times_out() {
    runtime().block_on(async {
        let sets = [
            "timeout=50ms",
            "retries=1",
            "backoff_base=1ms",
            "backoff_cap=2ms",
        ];
        let mut cfg = config("tenant-secret", 1, &sets);
        let mut lossy = LinkProfile::fixed_rtt_ms(0.0);
        lossy.loss_request = 1.0;
        cfg.network
            .links
            .insert((Group::Partner, Group::AuthServer), lossy);
        let world = LoopbackWorld::start(&cfg).await.unwrap();
        let r = world.demand(TenantId(0)).await;
        assert_eq!(r.outcome, Outcome::Fail(Cause::Timeout), "{r:?}");
        let h = world.finish();
        let lost = count(&h, |e| {
            matches!(
                e,
                Event::Drop {
                    reason: DropReason::LostRequest,
                    ..
                }
            )
        });
        assert_eq!(lost, 2, "both attempts were dropped on the link");
    });
}

#[test]
fn a_lost_response_closes_the_connection_at_the_requesters_timeout() {
    runtime().block_on(async {
        // The AS answers after a 1 ms mint, well before P.app's 50 ms timeout.
        let sets = ["timeout=50ms", "retries=0", "mint_time=1ms"];
        let mut cfg = config("global-secret", 1, &sets);
        let mut lossy = LinkProfile::fixed_rtt_ms(0.0);
        lossy.loss_response = 1.0;
        cfg.network
            .links
            .insert((Group::AuthServer, Group::Partner), lossy);
        let world = LoopbackWorld::start(&cfg).await.unwrap();
        let r = world.demand(TenantId(0)).await;
        assert_eq!(r.outcome, Outcome::Fail(Cause::Timeout), "{r:?}");
        // The AS did receive and answer the request; only the answer was lost. (Polled:
        // the loss is recorded when the answer departs; the guard only bounds a hang.)
        let lost = |h: &History| {
            count(h, |e| {
                matches!(
                    e,
                    Event::Drop {
                        reason: DropReason::LostResponse,
                        ..
                    }
                )
            })
        };
        for _ in 0..500 {
            if lost(&world.history()) > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(lost(&world.finish()), 1);
    });
}

#[test]
fn a_partition_window_drops_traffic_then_heals() {
    runtime().block_on(async {
        // The timeout must exceed the modelled mint time (50 ms) for the healed attempt to succeed.
        let sets = ["timeout=200ms", "retries=0"];
        let mut cfg = config("refresh", 1, &sets);
        cfg.nemesis.push(Nemesis::Partition {
            a: Group::Partner,
            b: Group::AuthServer,
            from_s: 0.0,
            until_s: 1.0,
        });
        let world = LoopbackWorld::start(&cfg).await.unwrap();
        let during = world.demand(TenantId(0)).await;
        assert_eq!(during.outcome, Outcome::Fail(Cause::Timeout), "{during:?}");
        while world.now() < 1_000 * MS {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let after = world.demand(TenantId(0)).await;
        assert_eq!(after.outcome, Outcome::Ok, "{after:?}");
        let h = world.finish();
        assert!(
            count(&h, |e| matches!(
                e,
                Event::Drop {
                    reason: DropReason::Partition,
                    ..
                }
            )) >= 1
        );
    });
}

#[test]
fn injected_latency_is_a_floor_on_the_token_latency() {
    // One-sided on purpose: an injected one-way delay of 5 ms on each of refresh's two hops
    // can only add time, so the measured cold latency is at least 10 ms (no upper bound:
    // the machine may be slow).
    runtime().block_on(async {
        let mut cfg = config("refresh", 1, &[]);
        cfg.network = NetConfig::new("refresh", 1, 5.0).network;
        let world = LoopbackWorld::start(&cfg).await.unwrap();
        let r = world.demand(TenantId(0)).await;
        assert_eq!(r.outcome, Outcome::Ok);
        let latency: Micros = r.token_latency.unwrap();
        assert!(latency >= 10 * MS, "{latency} µs");
    });
}

#[test]
fn a_named_preset_is_enacted_on_loopback_and_the_checkers_still_judge_it() {
    // `lossy`: 80 ms RTT with jitter and a heavy tail, 1% loss each way. Few demands: this is
    // about the preset reaching the sockets, not about rates.
    runtime().block_on(async {
        let cfg = NetConfig::on_preset("trigger", 3, "lossy").expect("a known preset");
        let world = LoopbackWorld::start(&cfg).await.unwrap();
        let outcomes = demand_each(&world, 3).await;
        let h = world.finish();
        // The preset's latency is on every hop: each cold trigger acquisition crossed four
        // links of at least 35 ms one way.
        let cold: Vec<_> = h
            .records
            .iter()
            .filter_map(|r| match r.event {
                Event::Complete {
                    cold: true,
                    token_latency: Some(l),
                    ..
                } => Some(l),
                _ => None,
            })
            .collect();
        assert!(!cold.is_empty(), "{outcomes:?}");
        assert!(cold.iter().all(|l| *l >= 4 * 35 * MS), "{cold:?}");
        let v = read_your_writes(&h);
        assert!(v.holds, "{v:?}");
    });
}
