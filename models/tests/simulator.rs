//! The simulator against the identities of analytic.md §8 and the happy paths. Every check
//! reads what the roles actually did (the history), so drawing outcomes from a formula
//! cannot pass: the latency identity needs the real causal chain, the loss shares need the
//! real drop locations, the stale-read grid needs the real replica.

use std::collections::{BTreeMap, BTreeSet};
use tokenlab_models::faults::{LatencyDist, LinkProfile, NetworkProfile};
use tokenlab_models::history::{Cause, DropReason, Event, History, Outcome};
use tokenlab_models::ids::{MsgId, Party, TenantId};
use tokenlab_models::mechanisms::registry;
use tokenlab_models::sim::{RunResult, Scenario, run};
use tokenlab_models::{MS, Micros};

fn scenario(mechanism: &str, sets: &[&str], d_ms: f64, loss: f64) -> Scenario {
    let mut s = Scenario::new(mechanism, "same-region").unwrap();
    s.sets = sets.iter().map(|x| x.to_string()).collect();
    s.network = NetworkProfile::uniform(LinkProfile {
        latency: LatencyDist::Fixed { ms: d_ms },
        loss_request: loss,
        loss_response: loss,
        http_5xx: 0.0,
        http_429: 0.0,
    });
    s
}

fn go(s: &Scenario) -> RunResult {
    run(s).expect("scenario resolves")
}

/// 99% Wilson-free normal interval for a binomial rate (n large in these tests).
fn within_99(successes: u64, n: u64, p: f64) -> bool {
    let se = (p * (1.0 - p) / n as f64).sqrt();
    let observed = successes as f64 / n as f64;
    (observed - p).abs() <= 2.576 * se + 0.5 / n as f64
}

/// Each tenant's first demand's acquisition request (the first attempt's first message).
fn first_attempts(h: &History) -> BTreeMap<TenantId, MsgId> {
    let mut out = BTreeMap::new();
    for r in &h.records {
        if let Event::AttemptStart {
            tenant,
            attempt: 0,
            request,
            ..
        } = &r.event
            && let Some(req) = request.get()
        {
            out.entry(*tenant).or_insert(req);
        }
    }
    out
}

#[test]
fn every_mechanism_reaches_an_accepted_api_call_for_every_tenant() {
    for m in registry() {
        let mut s = scenario(m.id(), &[], 40.0, 0.0);
        s.tenants = 20;
        s.duration_s = 7200.0; // push: within one interval, and then some
        let r = go(&s);
        let accepted: BTreeSet<TenantId> = r
            .history
            .records
            .iter()
            .filter_map(|x| match x.event {
                Event::Accept { tenant, .. } => Some(tenant),
                _ => None,
            })
            .collect();
        assert_eq!(
            accepted.len(),
            20,
            "{}: tenants with an Accept: {accepted:?}",
            m.id()
        );
        let rejects = r
            .history
            .records
            .iter()
            .filter(|x| matches!(x.event, Event::Reject { .. }))
            .count();
        assert_eq!(rejects, 0, "{}: no faults, no attacker, no rejects", m.id());
        if m.id() != "push" {
            assert_eq!(r.summary.success_rate, 1.0, "{}", m.id());
        }
    }
}

#[test]
fn same_seed_same_json_and_different_seeds_differ_under_faults() {
    for m in ["trigger", "refresh", "push"] {
        let mut s = scenario(m, &[], 40.0, 0.05);
        s.tenants = 30;
        s.duration_s = 1800.0;
        let a = serde_json::to_string(&go(&s).summary).unwrap();
        let b = serde_json::to_string(&go(&s).summary).unwrap();
        assert_eq!(a, b, "{m}: same seed must give byte-identical results");
        s.seed = 2;
        let c = serde_json::to_string(&go(&s).summary).unwrap();
        assert_ne!(a, c, "{m}: a different seed must change a faulted run");
    }
}

#[test]
fn cold_latency_equals_the_critical_path_and_the_causal_chain_exactly() {
    // analytic.md L1 with t_m = 50 ms, t_w = 5 ms, t_r = 2 ms.
    for d_ms in [40.0, 13.0, 100.0] {
        let d = (d_ms * 1000.0) as Micros;
        for (m, expected) in [
            ("trigger", 4 * d + 50 * MS + 5 * MS + 2 * MS),
            ("refresh", 2 * d + 50 * MS + 5 * MS),
            ("upm-oauth", 2 * d + 50 * MS + 5 * MS),
            ("global-secret", 2 * d + 50 * MS),
            ("tenant-secret", 2 * d + 50 * MS),
            ("connect-jwt", 0),
        ] {
            let mut s = scenario(m, &[], d_ms, 0.0);
            s.tenants = 10;
            s.duration_s = 600.0;
            let r = go(&s);
            let firsts = first_attempts(&r.history);
            let mut cold = 0;
            for rec in &r.history.records {
                if let Event::Complete {
                    tenant,
                    cold: true,
                    token_latency: Some(lat),
                    outcome: Outcome::Ok,
                    ..
                } = rec.event
                {
                    cold += 1;
                    assert_eq!(lat, expected, "{m} d={d_ms}ms: cold token latency");
                    if m != "connect-jwt" {
                        let req = firsts.get(&tenant).expect("a cold miss starts an attempt");
                        let chain = r.history.causal_chain(*req);
                        assert_eq!(chain.total(), lat, "{m}: causal chain {chain:#?}");
                        assert_eq!(
                            chain.hops.len() as u32,
                            registry()
                                .iter()
                                .find(|x| x.id() == m)
                                .unwrap()
                                .hops_on_miss()
                        );
                    }
                }
            }
            if m == "connect-jwt" {
                // Connect signs locally: no demand is ever a cold miss.
                assert_eq!(cold, 0, "{m}: {cold} cold misses");
            } else {
                assert!(cold >= 10, "{m}: {cold} cold demands checked");
            }
        }
    }
}

/// Cold first-attempt outcomes under independent loss, with no retries.
struct LossRun {
    n: u64,
    acquired: u64,
    first_loss_at_hop: BTreeMap<usize, u64>,
    stored_but_failed: u64,
}

fn loss_run(m: &str, p: f64, hop_of: impl Fn(Party, bool) -> usize) -> LossRun {
    let mut s = scenario(m, &["retries=0"], 40.0, p);
    s.tenants = 4000;
    s.duration_s = 60.0;
    s.demands_per_tenant_hour = 600.0;
    let r = go(&s);
    let h = &r.history;
    let firsts = first_attempts(h);
    let roots: BTreeMap<MsgId, TenantId> = firsts.iter().map(|(t, m)| (*m, *t)).collect();
    let msgs = h.messages();
    let root_of = |mut id: MsgId| {
        while let Some(c) = msgs.get(&id).and_then(|(_, e)| e.cause) {
            id = c;
        }
        id
    };
    let mut first_loss: BTreeMap<TenantId, usize> = BTreeMap::new();
    let mut stored: BTreeSet<TenantId> = BTreeSet::new();
    for rec in &h.records {
        match &rec.event {
            Event::Drop {
                msg,
                reason: DropReason::LostRequest | DropReason::LostResponse,
            } => {
                if let Some(t) = roots.get(&root_of(*msg)) {
                    let env = &msgs[msg].1;
                    first_loss
                        .entry(*t)
                        .or_insert(hop_of(env.from, env.is_request()));
                }
            }
            Event::StoreCommit { cause: Some(c), .. } => {
                if let Some(t) = roots.get(&root_of(*c)) {
                    stored.insert(*t);
                }
            }
            _ => {}
        }
    }
    let mut out = LossRun {
        n: 0,
        acquired: 0,
        first_loss_at_hop: BTreeMap::new(),
        stored_but_failed: 0,
    };
    for (tenant, (token_latency, outcome)) in first_demands(h) {
        if firsts.contains_key(&tenant) {
            out.n += 1;
            if token_latency.is_some() {
                out.acquired += 1;
            } else if let Outcome::Fail(_) = outcome
                && stored.contains(&tenant)
            {
                out.stored_but_failed += 1;
            }
            if let Some(k) = first_loss.get(&tenant) {
                *out.first_loss_at_hop.entry(*k).or_default() += 1;
            }
        }
    }
    out
}

#[test]
fn cold_success_and_failure_location_match_independent_loss() {
    let p = 0.1;
    // trigger: hop 1 P.app→F, 2 F→P.auth, 3 P.auth→F (ack), 4 F→P.app.
    let t = loss_run("trigger", p, |from, req| match (from, req) {
        (Party::Partner(_), true) if from == Party::APP => 1,
        (_, true) => 2,
        (Party::Partner(_), false) => 3,
        _ => 4,
    });
    assert!(t.n > 3500, "n = {}", t.n);
    assert!(
        within_99(t.acquired, t.n, 0.9f64.powi(4)),
        "trigger acquired {}/{}",
        t.acquired,
        t.n
    );
    for k in 1..=4 {
        let got = t.first_loss_at_hop.get(&k).copied().unwrap_or(0);
        assert!(
            within_99(got, t.n, p * (1.0 - p).powi(k as i32 - 1)),
            "trigger hop {k}: {got}/{}",
            t.n
        );
    }
    // Stored but failed: the ack or the response was lost after the commit.
    let want = (1.0 - p).powi(2) * (1.0 - (1.0 - p).powi(2));
    assert!(
        within_99(t.stored_but_failed, t.n, want),
        "stored-but-failed {}/{}",
        t.stored_but_failed,
        t.n
    );

    // refresh: hop 1 P.app→AS, 2 AS→P.app.
    let r = loss_run("refresh", p, |_, req| if req { 1 } else { 2 });
    assert!(
        within_99(r.acquired, r.n, 0.9f64.powi(2)),
        "refresh acquired {}/{}",
        r.acquired,
        r.n
    );
    for k in 1..=2 {
        let got = r.first_loss_at_hop.get(&k).copied().unwrap_or(0);
        assert!(
            within_99(got, r.n, p * (1.0 - p).powi(k as i32 - 1)),
            "refresh hop {k}: {got}/{}",
            r.n
        );
    }
}

/// Each tenant's first demand (the smallest demand id): its token latency and outcome.
fn first_demands(h: &History) -> BTreeMap<TenantId, (Option<Micros>, Outcome)> {
    let mut firsts: BTreeMap<TenantId, (tokenlab_models::ids::DemandId, Option<Micros>, Outcome)> =
        BTreeMap::new();
    for rec in &h.records {
        if let Event::Complete {
            demand,
            tenant,
            token_latency,
            outcome,
            ..
        } = rec.event
        {
            let e = firsts
                .entry(tenant)
                .or_insert((demand, token_latency, outcome));
            if demand < e.0 {
                *e = (demand, token_latency, outcome);
            }
        }
    }
    firsts
        .into_iter()
        .map(|(t, (_, l, o))| (t, (l, o)))
        .collect()
}

fn first_demand_causes(r: &RunResult) -> Vec<Option<Cause>> {
    first_demands(&r.history)
        .into_values()
        .map(|(_, outcome)| match outcome {
            Outcome::Fail(c) => Some(c),
            _ => None,
        })
        .collect()
}

#[test]
fn a_trigger_read_is_stale_exactly_when_the_fixed_lag_exceeds_two_d() {
    for d_ms in [10.0, 40.0] {
        let two_d = 2.0 * d_ms;
        for (lag_ms, stale) in [
            (two_d - 1.0, false),
            (two_d, false),
            (two_d + 1.0, true),
            (3.0 * two_d, true),
        ] {
            let lag = format!("replica_lag=fixed({lag_ms}ms)");
            let mut s = scenario(
                "trigger",
                &["read_from=replica", &lag, "retries=0"],
                d_ms,
                0.0,
            );
            s.tenants = 20;
            s.duration_s = 300.0;
            let r = go(&s);
            let causes = first_demand_causes(&r);
            assert_eq!(causes.len(), 20);
            let stale_count = causes
                .iter()
                .filter(|c| **c == Some(Cause::StaleRead))
                .count();
            assert_eq!(
                stale_count,
                if stale { 20 } else { 0 },
                "d={d_ms} lag={lag_ms}"
            );
        }
    }
    // The fixes: reading the primary, or relaying T in band.
    for fix in ["read_from=primary", "token_return=in_band"] {
        let mut s = scenario(
            "trigger",
            &[fix, "replica_lag=fixed(500ms)", "retries=0"],
            40.0,
            0.0,
        );
        s.tenants = 20;
        s.duration_s = 300.0;
        assert_eq!(go(&s).summary.stale_reads, 0, "{fix}");
    }
}

#[test]
fn uniform_replica_lag_gives_the_predicted_stale_rate() {
    // S3: lag ~ U(0, 500 ms), Δ = 2d = 80 ms → P(stale) = 0.84.
    let mut s = scenario(
        "trigger",
        &[
            "read_from=replica",
            "replica_lag=uniform(500ms)",
            "retries=0",
        ],
        40.0,
        0.0,
    );
    s.tenants = 3000;
    s.duration_s = 60.0;
    s.demands_per_tenant_hour = 600.0;
    let r = go(&s);
    let causes = first_demand_causes(&r);
    let n = causes.len() as u64;
    let stale = causes
        .iter()
        .filter(|c| **c == Some(Cause::StaleRead))
        .count() as u64;
    assert!(n > 2500);
    assert!(within_99(stale, n, 0.84), "stale {stale}/{n}");
}

#[test]
fn push_has_no_on_demand_path_and_rotation_lockout_is_real() {
    // push: a miss fails fast with no_token; overall success ≈ 1 − T/(2·duration) = 0.75 (U4).
    let mut s = scenario("push", &[], 40.0, 0.0);
    s.tenants = 200;
    let r = go(&s);
    assert!(r.summary.failed["no_token"] > 0);
    assert!(
        (r.summary.success_rate - 0.75).abs() < 0.03,
        "{}",
        r.summary.success_rate
    );
    assert_eq!(r.summary.messages_per_demand, 0.0);

    // refresh:3lo under response loss locks tenants out (K1); the grace window prevents it (K2).
    let run_lockouts = |m: &str| {
        let mut s = scenario(m, &["ttl=5m"], 40.0, 0.05);
        s.tenants = 100;
        s.duration_s = 3600.0;
        go(&s).summary.failed["locked_out"]
    };
    assert!(
        run_lockouts("refresh:3lo") > 0,
        "3lo must lock some tenants out"
    );
    assert_eq!(
        run_lockouts("refresh"),
        0,
        "a 30 s grace window absorbs retried refreshes"
    );
}

/// `locked_out` demands of a run (0 where none failed that way).
fn lockouts(s: &Scenario) -> u64 {
    go(s).summary.failed.get("locked_out").copied().unwrap_or(0)
}

#[test]
fn rt_idle_expiry_refuses_a_family_left_unused() {
    // T lives 5 min, so a busy partner redeems its RT about every 4 min: a 2 min idle expiry
    // refuses the family at the next refresh (the partner is locked out), a 1 h one never fires.
    let run = |idle: &str| {
        let idle = format!("rt_idle_expiry={idle}");
        let mut s = scenario("refresh", &["ttl=5m", &idle], 40.0, 0.0);
        s.tenants = 20;
        s.duration_s = 1800.0;
        lockouts(&s)
    };
    assert!(run("2m") > 0, "an idle family must be refused");
    assert_eq!(run("1h"), 0);
}

#[test]
fn persisting_a_rotated_rt_after_use_loses_it_to_a_failed_write() {
    // With write-behind (`persist_rt_before_use=off`) a failed write loses the rotated RT
    // unnoticed; the next refresh presents the superseded one outside the grace window and
    // reuse detection revokes the family. Persisting first turns the failure into a retry
    // inside the grace window.
    let run = |persist: &str| {
        let persist = format!("persist_rt_before_use={persist}");
        let mut s = scenario("refresh", &["ttl=5m", "q_w=0.05", &persist], 40.0, 0.0);
        s.tenants = 50;
        s.duration_s = 3600.0;
        lockouts(&s)
    };
    assert!(run("off") > 0, "write-behind must lose some RTs");
    assert_eq!(
        run("on"),
        0,
        "persist-first retries inside the grace window"
    );
}

#[test]
fn an_immediate_first_push_removes_the_cold_start() {
    // U(0, interval) leaves a new installation without T for half an interval on average
    // (U4: success ≈ 0.75 over 2 h); a push at install leaves it none.
    let mut s = scenario("push", &["first_push_after_install=immediate"], 40.0, 0.0);
    s.tenants = 200;
    let r = go(&s);
    assert!(r.summary.success_rate > 0.99, "{}", r.summary.success_rate);
}

#[test]
fn a_rotated_global_secret_reaches_every_installation_and_the_old_one_expires() {
    // Every 10 min the app's one secret is replaced; P keeps acquiring with the new one.
    let mut s = scenario(
        "global-secret",
        &["rotation=periodic(10m)", "rotation_overlap=1m", "ttl=5m"],
        40.0,
        0.0,
    );
    s.tenants = 20;
    s.duration_s = 3600.0;
    let r = go(&s);
    let secrets = r
        .history
        .records
        .iter()
        .filter(|x| {
            matches!(
                x.event,
                Event::Issue {
                    kind: tokenlab_models::history::ItemKind::ClientSecret,
                    ..
                }
            )
        })
        .count();
    assert_eq!(secrets, 1 + 6, "the install's secret and one per 10 min");
    assert!(r.summary.success_rate > 0.99, "{}", r.summary.success_rate);
    assert_eq!(r.summary.failed.get("rejected").copied().unwrap_or(0), 0);
}
