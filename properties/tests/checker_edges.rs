//! Checker and verifier details that the security matrix's verdicts do not pin down, found by
//! the mutation run (issue 11, item 4): each test below fails on a mutant that survived the
//! matrix's fast mode.
//!
//! - F's nested-call retry is bounded by `platform_retries` (trigger).
//! - P5 starts a fresh installation's clock at the reinstall: the consent that follows a
//!   reinstall during the run ends nothing (upm-oauth).
//! - P10's fault windows (a crash, a partition) run past the fault's end by the recovery time
//!   (a restarted role rebuilding its state), and no further.
//! - P3's `reached` leaves routine issuances out, and counts an issuance after an uninstall.
//! - P4 bounds an idle victim's stolen RT by its lifetime and names no refresh.
//! - P4 bounds a per-use trigger URL from its next use after the theft.
//! - F retries a lifecycle event exactly `event_retries` times.
//! - P3 takes the admin's own consent (the browser's) as the admin's.
//! - P9's grace window includes its last instant: a superseded RT presented exactly `grace`
//!   after its rotation is still a legitimate retry.
//! - P6 reports bearer replay as by design only where the design has no one-time item: a
//!   per-request Connect JWT alone makes it one that has; the attacker's own first
//!   presentation is not reached.
//! - P9 takes only a detection between the rotation and the reuse's decision.
//! - P10's bounds slip one refresh cycle (F-grace) where the grace window is open.
//! - P5 judges what the platform issues of its own accord after an uninstall; trigger's URL
//!   rotation stops at the uninstall.
//! - P4's daily-rotation worlds outlast the rotation period; P4 bounds a stolen code or FIT
//!   by the TTL and an idle victim's RT by its recorded `exp`.
//! - P3 reaches the attacker's presentations after an uninstall; P8's `reached` counts the
//!   attacker's requests only; P9 takes a family accept in the reuse's own instant as
//!   concurrent; the platform answers a minting request when its mint ends; every property
//!   has its own name.
//! - P4's RT clauses end validity at the `exp` and idle-expiry instants themselves, and judge
//!   client authentication from the credential's own instant; P5's issuance clause orders an
//!   issue and an install or uninstall of the same instant.
//! - P5 judges an outstanding T strictly after its bound; P9 reaches credential
//!   presentations only; P3 takes the attacker's consent for its own site as that site's
//!   admin's; P4 bounds an A2 snapshot, not a continuing read; P3 reaches the platform's
//!   refusal to issue for an ended installation; F answers a trigger call whose retry meets
//!   an uninstall; P10's P4 part allows F-grace's slip; P5's worlds steal the root credential
//!   after P holds it; `judge_all` equals `judge` property by property; tenant-secret's
//!   rotation stops at the revocation and the uninstall; P2 lets the browser carry a code and
//!   nothing else; P4 counts against a theft only what it yields; P5's retention
//!   counterexample names the uninstall P acknowledged; P10's JWKS outage window runs to the
//!   restoration plus the recovery; F's retries back off exponentially; P8 takes a delivery as
//!   authenticated only by a FIT of the tenant it stores into; P10's deploy-reset window runs
//!   twice the recovery, and a crash's schedule entry opens none; P9 takes a superseded RT
//!   refused for another installation as no reuse; P3 does not reach an issuance before the
//!   first install; every world's attacker steps fall inside it.

use std::collections::BTreeMap;

use tokenlab_models::SEC;
use tokenlab_models::faults::{CrashRole, Nemesis};
use tokenlab_models::history::ExposureMode;
use tokenlab_models::history::{AdminKind, Event, FaultKind, History, ItemKind};
use tokenlab_models::ids::{MsgId, Party, TenantId};
use tokenlab_models::mechanisms::resolve;
use tokenlab_models::roles::AdminAction;
use tokenlab_models::roles::attacker::{AttackPlan, AttackStep, Capability};
use tokenlab_models::sim::Scenario;
use tokenlab_properties::Property;
use tokenlab_properties::facts::{Decision, Facts};
use tokenlab_properties::property::fault_windows;
use tokenlab_properties::suite::{RunSpec, execute, judge, runs_for};

const SEED: u64 = 0x5eed;

/// How long a timed fault's effects count after it ends (`property::FAULT_RECOVERY`'s
/// documented value: 300 s, inference).
const RECOVERY: i64 = 300 * SEC;

/// The hand-built histories' issuance: `item` of `kind` for tenant 1, delivered to P.app,
/// with no declared expiry.
fn issued_to_p(item: tokenlab_models::secret::ItemId, kind: ItemKind) -> Event {
    Event::Issue {
        item,
        kind,
        tenant: TenantId(1),
        to: Party::APP,
        exp: None,
    }
}

/// A hand-built history's verdict: violated, reached once, its counterexample naming `names`.
fn assert_violated_once(v: &tokenlab_properties::Verdict, names: &str) {
    assert_eq!(v.reached, 1, "{v:?}");
    assert_verdict(v, false, names, "");
}

/// A verdict that holds exactly when `holds`, and otherwise has a counterexample naming
/// `names`; `case` says which case of a table failed.
fn assert_verdict(v: &tokenlab_properties::Verdict, holds: bool, names: &str, case: &str) {
    assert_eq!(v.holds, holds, "{case}: {v:?}");
    if !holds {
        let c = v.counterexample.as_deref().unwrap_or_default();
        assert!(c.contains(names), "{case}: {c}");
    }
}

/// `who` presents `item` for tenant 1 in request `req` at `t`, and it is accepted there.
fn accepted(h: &mut History, t: i64, who: Party, item: tokenlab_models::secret::ItemId, req: u64) {
    h.push(
        t,
        Event::Present {
            who,
            item,
            tenant: TenantId(1),
            req: MsgId(req),
        },
    );
    h.push(
        t,
        Event::Accept {
            req: MsgId(req),
            tenant: TenantId(1),
            acting_as: "P.app",
        },
    );
}

/// Message `id` from `from` to `to` at `t` (an answer names its request as `cause`).
fn send(
    h: &mut History,
    t: i64,
    (id, cause): (u64, Option<u64>),
    (from, to): (Party, Party),
    body: tokenlab_models::message::Body,
) {
    h.push(
        t,
        Event::Send {
            env: std::sync::Arc::new(tokenlab_models::message::Envelope {
                id: MsgId(id),
                from,
                to,
                cause: cause.map(MsgId),
                body,
            }),
        },
    );
}

/// `who` calls the product API for tenant 1 with `jwt` in request `req` at `t`, and the API
/// accepts it.
fn api_call(h: &mut History, t: i64, req: u64, who: Party, jwt: &tokenlab_models::secret::Jwt) {
    use tokenlab_models::message::{Body, Fields, Method, Request, Value};
    let call = Body::Request(Request {
        method: Method::Get,
        route: "GET /rest/api/resource",
        tenant: Some(TenantId(1)),
        headers: Fields::new().with("authorization", Value::Jwt(jwt.clone())),
        body: Fields::new(),
    });
    send(h, t, (req, None), (who, Party::API), call);
    accepted(h, t, who, jwt.id(), req);
}

/// The attacker's `capability` (in `mode`) exposes `items` of `target` at `t`.
fn exposed(
    h: &mut History,
    t: i64,
    (capability, mode): (
        tokenlab_models::history::AttackerCapability,
        tokenlab_models::history::ExposureMode,
    ),
    target: TenantId,
    items: &[tokenlab_models::secret::ItemId],
) {
    h.push(
        t,
        Event::Attack {
            capability,
            mode,
            target: Some(target),
            items: items.into(),
        },
    );
}

/// Tenant 1's installation at time 0, the first record of a hand-built history.
fn installed_history() -> History {
    let mut h = History::default();
    h.push(
        0,
        Event::Admin {
            kind: AdminKind::Install,
            tenant: TenantId(1),
        },
    );
    h
}

/// A trigger world on the same-region preset (4 tenants, 1800 s, the seed above) with one
/// nemesis: the fault-window and retry tests below differ only in the fault and a setting.
fn world_with(nemesis: Nemesis) -> Scenario {
    let mut s = world_with_no_fault();
    s.nemesis.push(nemesis);
    s
}

fn world_with_no_fault() -> Scenario {
    let mut s = Scenario::new("trigger", "same-region").unwrap();
    s.tenants = 4;
    s.duration_s = 1800.0;
    s.seed = SEED;
    s
}

/// The partner down from 300 s to 600 s, its volatile state lost or kept.
fn partner_crash(lose_volatile: bool) -> Nemesis {
    Nemesis::Crash {
        role: CrashRole::Partner,
        from_s: 300.0,
        until_s: 600.0,
        lose_volatile,
    }
}

/// The history of one run of `s`.
fn history(s: Scenario) -> History {
    execute(&RunSpec {
        scenario: s,
        plan: None,
    })
    .unwrap()
    .0
}

/// F's nested `POST /auth` attempts per inbound trigger call (the instants they were sent),
/// and how many calls F answered with a 5xx of its own (the nested call failed for good).
fn nested_attempts(sets: &[&str]) -> (BTreeMap<MsgId, Vec<i64>>, usize) {
    let mut s = Scenario::new("trigger", "flaky-partner").unwrap();
    // A short-lived T: P.app calls the trigger about once a minute per tenant.
    s.sets = std::iter::once("ttl=1m")
        .chain(sets.iter().copied())
        .map(str::to_string)
        .collect();
    s.tenants = 8;
    s.duration_s = 1800.0;
    s.demands_per_tenant_hour = 60.0;
    s.seed = SEED;
    let h = history(s);
    let f = Facts::new(&h);
    let mut per_call: BTreeMap<MsgId, Vec<i64>> = BTreeMap::new();
    let mut failed = 0;
    for (_, (t, env)) in f.msgs.iter() {
        let Some(q) = env.request() else { continue };
        if env.from == Party::FORGE
            && q.route == "POST /auth"
            && let Some(call) = env.cause
        {
            per_call.entry(call).or_default().push(*t);
        }
        if env.to == Party::FORGE && q.route == "GET /trigger" {
            let answered_5xx = f
                .answers
                .get(&env.id)
                .and_then(|(_, a)| a.response().map(|r| r.status >= 500))
                .unwrap_or(false);
            if answered_5xx {
                failed += 1;
            }
        }
    }
    (per_call, failed)
}

/// With the default `platform_retries=0` F answers a failed nested call at once: one attempt
/// per trigger call, and the failures reach P.app as 5xx. With `platform_retries=2` some call
/// is retried, none more than twice, and the second retry waits at least twice the backoff
/// base after the first (mutation shard 20's neighbour: `1 << (attempt - 1)` → `>>` retried
/// at once).
#[test]
fn f_retries_the_nested_call_at_most_platform_retries_times() {
    let (per_call, failed) = nested_attempts(&[]);
    assert!(!per_call.is_empty(), "no nested call was made");
    assert!(
        failed > 0,
        "no nested call failed: the retry path was not reached"
    );
    let most = per_call.values().map(Vec::len).max().unwrap_or(0);
    assert_eq!(
        most, 1,
        "a trigger call was retried with platform_retries=0"
    );

    let (per_call, _) = nested_attempts(&["platform_retries=2"]);
    let most = per_call.values().map(Vec::len).max().unwrap_or(0);
    assert!(
        most > 1,
        "no nested call was retried with platform_retries=2"
    );
    assert!(
        most <= 3,
        "a call was tried {most} times with platform_retries=2"
    );
    let backoff = SEC; // `platform_backoff`'s default
    let thrice: Vec<&Vec<i64>> = per_call.values().filter(|a| a.len() == 3).collect();
    assert!(!thrice.is_empty(), "no call was retried twice");
    for sent in thrice {
        assert!(sent[2] - sent[1] >= 2 * backoff, "{sent:?}");
    }
}

/// upm-oauth's P5 world with tenant 3 uninstalled at 600 s and reinstalled (and re-consented)
/// at 900 s. The new installation's Accepts are not late: the uninstall belongs to the old
/// one, and the new consent ends nothing.
#[test]
fn p5_a_reinstall_starts_afresh() {
    let (_, _, params) = resolve("upm-oauth", &[]).unwrap();
    let mut spec = runs_for("upm-oauth", &[], Property::P5).remove(0);
    spec.scenario.seed = SEED;
    spec.scenario.admin.push((600.0, AdminAction::Uninstall(3)));
    spec.scenario.admin.push((900.0, AdminAction::Install(3)));
    let tenants = spec.scenario.tenants;
    let (h, _) = execute(&spec).unwrap();
    let f = Facts::new(&h);
    let t3 = TenantId(3);
    let reconsent = f
        .admin
        .iter()
        .filter(|(t, k, x)| *x == t3 && *k == AdminKind::Consent && *t >= 900 * SEC)
        .map(|(t, _, _)| *t)
        .min()
        .expect("tenant 3 consented again after its reinstall");
    let used_after = f
        .decided()
        .filter(|(p, d, t)| {
            p.tenant == t3 && *t > reconsent && matches!(d, Decision::Accept { .. })
        })
        .count();
    assert!(used_after > 0, "the new installation was never used");
    let v = judge(Property::P5, &h, &params, tenants);
    assert!(v.holds, "{v:?}");
    assert!(v.reached > 0, "{v:?}");
}

/// P10's window of a partner crash runs from the crash to its restart plus the recovery time
/// (300 s, inference): presentations decided while the restarted partner rebuilds its state
/// are fault-exposed. The run has some.
#[test]
fn a_crash_window_covers_the_recovery_after_the_restart() {
    let mut s = world_with(partner_crash(true));
    s.demands_per_tenant_hour = 120.0;
    let h = history(s);
    let restart = h
        .records
        .iter()
        .find(|r| matches!(&r.event, Event::Fault { kind, .. } if *kind == FaultKind::Restart))
        .map(|r| r.t)
        .expect("the partner restarted");
    let w = fault_windows(&h);
    let f = Facts::new(&h);
    let after: Vec<i64> = f
        .decided()
        .map(|(_, _, t)| t)
        .filter(|t| (restart..restart + RECOVERY).contains(t))
        .collect();
    assert!(!after.is_empty(), "nothing was decided after the restart");
    assert!(
        after
            .iter()
            .all(|t| w.iter().any(|(a, b)| (*a..*b).contains(t))),
        "presentations {}s after the restart are outside every fault window {w:?}",
        RECOVERY / SEC
    );
    assert!(
        !w.iter()
            .any(|(a, b)| (*a..*b).contains(&(restart + RECOVERY))),
        "the window outlasts the recovery time: {w:?}"
    );
}

/// A seeded refresh run of 4 tenants for 30 minutes, with `sets`, `demands` per tenant-hour
/// and the attacker's `plan`.
fn refresh_run(
    sets: &[&str],
    demands: f64,
    plan: Option<AttackPlan>,
) -> (History, tokenlab_models::params::Params) {
    let mut s = Scenario::new("refresh", "same-region").unwrap();
    s.sets = sets.iter().map(|x| x.to_string()).collect();
    s.tenants = 4;
    s.duration_s = 1800.0;
    s.demands_per_tenant_hour = demands;
    s.seed = SEED;
    execute(&RunSpec { scenario: s, plan }).unwrap()
}

/// P3's `reached` counts what put its checks to the test (an issuance refused or made for an
/// ended installation, an attacker's request for one, a consent or lifecycle post by someone
/// else), not the routine issuances of installed tenants: a run with no attacker and no
/// uninstall, refreshing every five minutes, reaches nothing.
#[test]
fn p3_routine_issuance_is_not_reached() {
    let (h, params) = refresh_run(&["ttl=5m"], 60.0, None);
    let issued = h
        .records
        .iter()
        .filter(|r| matches!(&r.event, Event::Issue { .. }))
        .count();
    assert!(
        issued > 8,
        "only {issued} issuances: the run did not refresh"
    );
    let quiet = judge(Property::P3, &h, &params, 4);
    assert!(quiet.holds, "{quiet:?}");
    assert_eq!(quiet.reached, 0, "{quiet:?}");
}

/// P2's `reached` counts every issued item the attacker receives, not only those a theft
/// exposed: with `apps=2` F hands app B's grant to app B's backend (the attacker's), and with
/// no theft at all those receipts are what P2 reached (mutation shard 4: `who == Attacker ||
/// logged` → `&&` counted none).
#[test]
fn p2_reaches_what_the_attacker_receives_without_a_theft() {
    let (h, params) = refresh_run(
        &["apps=2"],
        30.0,
        Some(AttackPlan::new(Vec::new(), 1800 * SEC)),
    );
    let f = Facts::new(&h);
    assert!(f.exposures.is_empty(), "no theft in this world");
    let received = h
        .records
        .iter()
        .filter(|r| match &r.event {
            Event::Receive { who, env } => {
                *who == Party::Attacker && env.items().any(|(x, _)| f.issued.contains_key(&x))
            }
            _ => false,
        })
        .count();
    assert!(received > 0, "app B's backend received nothing");
    let v = judge(Property::P2, &h, &params, 4);
    assert!(v.holds, "{v:?}");
    assert!(v.reached > 0, "{v:?}");
}

/// P7's counterexample names the request whose answer delivered T to the attacker (the URL
/// thief's trigger call), not only the answer (mutation shard 4: with the cause filter's `!`
/// deleted, the request line was dropped).
#[test]
fn p7_names_the_request_whose_answer_delivered_t() {
    let sets = vec!["token_return=in_band".to_string()];
    let (_, _, params) = resolve("trigger", &sets).unwrap();
    let mut violated = 0;
    for mut spec in runs_for("trigger", &sets, Property::P7) {
        spec.scenario.seed = SEED;
        let (h, _) = execute(&spec).unwrap();
        let v = judge(Property::P7, &h, &params, 4);
        if let Some(c) = v.counterexample.filter(|_| !v.holds) {
            violated += 1;
            assert!(c.contains("attacker → F GET /trigger presenting"), "{c}");
            assert!(c.contains("F → attacker 200 (field access_token)"), "{c}");
        }
    }
    assert!(
        violated > 0,
        "no world of the row delivered T to the attacker"
    );
}

/// P3's `reached` counts the attacker's presentations that meet an ended installation, not
/// every one decided: a thief using tenant 1's stolen RT while every installation stands
/// reaches nothing (mutation shard 4: `ended_before` → `true` counted them all).
#[test]
fn p3_a_thief_on_standing_installations_is_not_reached() {
    let steal = AttackStep {
        at: 600 * SEC,
        capability: Capability::Steal {
            field: "refresh_token",
            tenant: TenantId(1),
            from: ExposureMode::Store,
        },
    };
    let (h, params) = refresh_run(&[], 30.0, Some(AttackPlan::new(vec![steal], 1800 * SEC)));
    let f = Facts::new(&h);
    let decided = f
        .decided()
        .filter(|(p, _, _)| f.attacker_originated(p))
        .count();
    assert!(decided > 0, "the thief's presentations were decided");
    let v = judge(Property::P3, &h, &params, 4);
    assert!(v.holds, "{v:?}");
    assert_eq!(v.reached, 0, "{v:?}");
}

/// P3 reaches an issuance for an ended installation whichever way it ended: after an
/// uninstall (the grant of a site that never consented stands) as after a revoked grant.
/// A hand-built history, since the platform's own recheck refuses both in every world.
#[test]
fn p3_reaches_an_issuance_after_an_uninstall() {
    use tokenlab_models::secret::ItemId;
    use tokenlab_properties::checkers::authorized_issuance;
    let t1 = TenantId(1);
    let admin = |kind| Event::Admin { kind, tenant: t1 };
    let mut h = History::default();
    h.push(0, admin(AdminKind::Install));
    h.push(10 * SEC, admin(AdminKind::Uninstall));
    h.push(20 * SEC, issued_to_p(ItemId(7), ItemKind::AccessToken));
    // The counterexample names the admin events up to the issuance (mutation shard 4: the
    // filter `<=` → `>` named only later ones).
    assert_violated_once(
        &authorized_issuance(&h, false),
        "t=10.000s admin Uninstall t1",
    );
}

/// P4's bounds for the hand-built RT histories: TTL 300 s, grace 30 s, `rt_max_life` 1 h,
/// nothing else bounded.
fn rt_bounds() -> tokenlab_properties::checkers::ExposureBounds {
    tokenlab_properties::checkers::ExposureBounds {
        ttl: 300 * SEC,
        url: None,
        url_per_use: false,
        secret: None,
        shared: None,
        shared_until: None,
        grace: 30 * SEC,
        rt_max_life: Some(3600 * SEC),
        rt_idle_expiry: None,
        grace_slip: false,
    }
}

/// P4's bound for a stolen RT starts at the victim's next refresh after the theft; an idle
/// victim never refreshes, so its bound is the RT's absolute lifetime and the counterexample
/// names no refresh (before the fix it named one at `theft + rt_max_life - grace - TTL`, a
/// refresh that never happened). No declared lifetime: unbounded.
#[test]
fn p4_an_idle_victims_rt_is_bounded_by_its_lifetime_alone() {
    use tokenlab_models::history::{AttackerCapability, ExposureMode};
    use tokenlab_models::ids::PartnerEndpoint;
    use tokenlab_models::secret::ItemId;
    use tokenlab_properties::checkers::{ExposureBounds, exposure_windows};
    let t1 = TenantId(1);
    let rt = ItemId(5);
    let p_app = Party::Partner(PartnerEndpoint::App);
    let mut h = History::default();
    h.push(0, issued_to_p(rt, ItemKind::RefreshToken));
    exposed(
        &mut h,
        10 * SEC,
        (AttackerCapability::A5, ExposureMode::Snapshot),
        t1,
        &[rt],
    );
    let bounds = rt_bounds();
    let idle = exposure_windows(&h, &bounds);
    assert_eq!(idle.len(), 1, "{idle:?}");
    assert_eq!(idle[0].next_refresh, None, "{idle:?}");
    assert_eq!(idle[0].deadline, Some(3610 * SEC), "{idle:?}");
    let unbounded = exposure_windows(
        &h,
        &ExposureBounds {
            rt_max_life: None,
            rt_idle_expiry: None,
            ..bounds
        },
    );
    assert_eq!(unbounded[0].deadline, None, "{unbounded:?}");

    // The victim refreshes at 100 s: the bound is that refresh + grace + TTL.
    h.push(
        100 * SEC,
        Event::Present {
            who: p_app,
            item: rt,
            tenant: t1,
            req: MsgId(1),
        },
    );
    let active = exposure_windows(&h, &bounds);
    assert_eq!(active[0].next_refresh, Some(100 * SEC), "{active:?}");
    assert_eq!(active[0].deadline, Some(430 * SEC), "{active:?}");

    // With F-grace's one-cycle slip (P10's bounds) the bound runs from the refresh after
    // next: a refresh inside the grace window may hand the thief the next RT (mutation shard
    // 5: the slip's `grace > 0` → `< 0` never slipped).
    h.push(
        400 * SEC,
        Event::Present {
            who: p_app,
            item: rt,
            tenant: t1,
            req: MsgId(2),
        },
    );
    let slipped = exposure_windows(
        &h,
        &ExposureBounds {
            grace_slip: true,
            ..bounds
        },
    );
    assert_eq!(slipped[0].next_refresh, Some(400 * SEC), "{slipped:?}");
    assert_eq!(slipped[0].deadline, Some(730 * SEC), "{slipped:?}");
}

/// F delivers a lifecycle event once and retries it `event_retries` times on timeout or 5xx
/// (default 4, fact): an `uninstalled` event sent while P is down is attempted exactly
/// 1 + `event_retries` times (all within the outage: 5 s timeouts, 1 s backoff doubling).
#[test]
fn f_retries_a_lifecycle_event_event_retries_times() {
    let attempts = |sets: &[&str]| {
        let mut s = world_with(partner_crash(false));
        s.sets = sets.iter().map(|x| x.to_string()).collect();
        s.admin.push((400.0, AdminAction::Uninstall(1)));
        let h = history(s);
        let mut sent: Vec<i64> = Facts::new(&h)
            .msgs
            .values()
            .filter(|(_, env)| {
                env.from == Party::FORGE
                    && env.request().is_some_and(|q| {
                        q.route == "POST /lifecycle"
                            && q.tenant == Some(TenantId(1))
                            && q.body.str("event") == Some("uninstalled")
                    })
            })
            .map(|(t, _)| *t)
            .collect();
        sent.sort_unstable();
        sent
    };
    let sent = attempts(&[]);
    assert_eq!(sent.len(), 5, "event_retries=4");
    assert_eq!(attempts(&["event_retries=1"]).len(), 2, "event_retries=1");
    // The backoff doubles: each wait between attempts is longer than the one before
    // (mutation shard 20: `1 << attempt` → `>>` retried at once after the first wait).
    let gaps: Vec<i64> = sent.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps.windows(2).all(|g| g[1] > g[0]), "{gaps:?}");
}

/// P3 takes a consent posted by the site's admin (the browser) as the admin's: upm-oauth's P3
/// world, where every site is authorized through its admin's consent page, holds, and the
/// browser's consents were answered with a code.
#[test]
fn p3_the_admins_own_consent_authorizes_the_site() {
    let (_, _, params) = resolve("upm-oauth", &[]).unwrap();
    let mut spec = runs_for("upm-oauth", &[], Property::P3).remove(0);
    spec.scenario.seed = SEED;
    let tenants = spec.scenario.tenants;
    let (h, _) = execute(&spec).unwrap();
    let f = Facts::new(&h);
    let admin_consents = f
        .msgs
        .iter()
        .filter(|(id, (_, env))| {
            env.from == Party::Browser
                && env
                    .request()
                    .is_some_and(|q| q.route == "POST /authorize/consent")
                && f.answers.get(id).is_some_and(|(_, a)| {
                    a.response()
                        .is_some_and(|r| r.body.secret("code").is_some())
                })
        })
        .count();
    assert!(
        admin_consents > 0,
        "no admin consent was answered with a code"
    );
    let v = judge(Property::P3, &h, &params, tenants);
    assert!(v.holds, "{v:?}");
}

/// P4's bound for a stolen trigger URL with `url_rotation=per_use` runs from the URL's next
/// use after the theft (whoever makes it) plus TTL, not from the theft: a URL stolen at 10 s
/// and used at 100 s is bounded at 100 s + TTL; one never used again at the theft + TTL.
#[test]
fn p4_a_per_use_urls_bound_runs_from_its_next_use() {
    use tokenlab_models::history::{AttackerCapability, ExposureMode};
    use tokenlab_models::secret::ItemId;
    use tokenlab_properties::checkers::{ExposureBounds, exposure_windows};
    let t1 = TenantId(1);
    let url = ItemId(9);
    let mut h = History::default();
    h.push(0, issued_to_p(url, ItemKind::TriggerUrl));
    exposed(
        &mut h,
        10 * SEC,
        (AttackerCapability::A2, ExposureMode::Snapshot),
        t1,
        &[url],
    );
    let ttl = 300 * SEC;
    let bounds = ExposureBounds {
        ttl,
        url: Some(ttl),
        url_per_use: true,
        secret: None,
        shared: None,
        shared_until: None,
        grace: 0,
        rt_max_life: None,
        rt_idle_expiry: None,
        grace_slip: false,
    };
    let unused = exposure_windows(&h, &bounds);
    assert_eq!(unused[0].deadline, Some(10 * SEC + ttl), "{unused:?}");
    h.push(
        100 * SEC,
        Event::Present {
            who: Party::Attacker,
            item: url,
            tenant: t1,
            req: MsgId(1),
        },
    );
    h.push(
        100 * SEC,
        Event::Accept {
            req: MsgId(1),
            tenant: t1,
            acting_as: "P.app",
        },
    );
    let used = exposure_windows(&h, &bounds);
    assert_eq!(used[0].deadline, Some(100 * SEC + ttl), "{used:?}");
}

/// P10's window of a partition runs from its start to its end plus the recovery time, and no
/// further.
#[test]
fn a_partition_window_ends_a_recovery_time_after_the_partition() {
    use tokenlab_models::ids::Group;
    let mut s = world_with(Nemesis::Partition {
        a: Group::Partner,
        b: Group::Forge,
        from_s: 300.0,
        until_s: 600.0,
    });
    s.tenants = 2;
    let h = history(s);
    let w = fault_windows(&h);
    assert!(
        w.contains(&(300 * SEC, 600 * SEC + RECOVERY)),
        "no window [300 s, 600 s + recovery): {w:?}"
    );
}

/// P10's window of a deploy reset runs from the reset for twice the recovery time (the first
/// push comes about 5 min after it), and the schedule opens no window for a crash (its
/// window comes from the crash and restart events): only a partition's entry is read as one
/// (mutation shard 21: the partition arm's guard → `true` took every schedule entry for a
/// partition, and the deploy reset's, which names no `from_s`, opened none).
#[test]
fn a_deploy_reset_window_runs_twice_the_recovery() {
    let h = history(world_with(Nemesis::DeployReset { at_s: 600.0 }));
    assert_eq!(fault_windows(&h), [(600 * SEC, 600 * SEC + 2 * RECOVERY)]);
    let mut h = installed_history();
    let crash = Nemesis::Crash {
        role: CrashRole::Partner,
        from_s: 300.0,
        until_s: 400.0,
        lose_volatile: false,
    };
    h.push(
        0,
        Event::Fault {
            kind: FaultKind::Nemesis,
            detail: format!("{crash:?}"),
        },
    );
    assert_eq!(fault_windows(&h), []);
}

/// P10's window of a JWKS outage runs from the keys becoming unreachable to their
/// restoration plus the recovery time (mutation shard 19: with the `JwksUnreachable` arm
/// deleted no window opened, and no row's verdict changed).
#[test]
fn a_jwks_outage_window_runs_to_the_restoration_plus_the_recovery() {
    let fault = |kind| Event::Fault {
        kind,
        detail: String::new(),
    };
    let mut h = installed_history();
    h.push(300 * SEC, fault(FaultKind::JwksUnreachable));
    h.push(900 * SEC, fault(FaultKind::JwksRestored));
    assert_eq!(fault_windows(&h), [(300 * SEC, 900 * SEC + RECOVERY)]);
}

/// P9's hand-built histories: tenant 1's RT `old`, issued at 0, presented by P at 100 s
/// (request 1) and rotated there: the AS's answer (message 2) hands back `new`.
fn rotated_at_100s() -> (
    tokenlab_models::secret::Secret,
    tokenlab_models::secret::Secret,
    History,
) {
    use tokenlab_models::message::{Body, Fields, Response, Value};
    use tokenlab_models::secret::Secret;
    let old = Secret::from_foreign("tl_rt_old");
    let new = Secret::from_foreign("tl_rt_new");
    let mut h = installed_history();
    h.push(0, issued_to_p(old.id(), ItemKind::RefreshToken));
    accepted(&mut h, 100 * SEC, Party::APP, old.id(), 1);
    h.push(100 * SEC, issued_to_p(new.id(), ItemKind::RefreshToken));
    let rotated = Body::Response(Response::ok(
        Fields::new().with("refresh_token", Value::Secret(new.clone())),
    ));
    send(
        &mut h,
        100 * SEC,
        (2, Some(1)),
        (Party::AS, Party::APP),
        rotated,
    );
    (old, new, h)
}

/// P9's reuse window opens strictly after `grace`: an RT presented again exactly `grace` after
/// the answer that rotated it is a retry inside the window (accepted, nothing to detect), one
/// presented a microsecond later is reuse that nothing detected. A hand-built history, since no
/// seeded run lands a retry on the boundary (mutation shard 4: `>` → `>=` survived).
#[test]
fn p9_the_grace_window_includes_its_last_instant() {
    use tokenlab_properties::checkers::credential_binding;
    let t1 = TenantId(1);
    let grace = 30 * SEC;
    let (old, _, mut h) = rotated_at_100s();
    let present = |h: &mut History, t, req| accepted(h, t, Party::APP, old.id(), req);
    let mut at_edge = h.clone();
    present(&mut at_edge, 100 * SEC + grace, 3);
    let v = credential_binding(&at_edge, grace);
    assert!(
        v.holds,
        "a retry at the window's last instant is legitimate: {v:?}"
    );
    assert_eq!(v.reached, 0, "{v:?}");

    // A detection for the tenant before the rotation is not this reuse's (mutation shard 5:
    // the window's `&&` → `||` took any detection).
    h.push(
        50 * SEC,
        Event::Detect {
            kind: "rt_reuse",
            tenant: t1,
        },
    );
    present(&mut h, 100 * SEC + grace + 1, 3);
    assert_violated_once(&credential_binding(&h, grace), "nothing detected it");
}

/// P6's "by design" is for a design whose only credential is a bearer: a world in which P also
/// signs per-request Connect JWTs (migration's Connect phase) has a one-time item, so an
/// accepted replay of the Forge T there is judged, not waved through. Hand-built, since the
/// seeded migration worlds never accept a replayed T (mutation shard 4: `||` → `&&` in
/// `one_time_seen` survived).
#[test]
fn p6_a_per_request_jwt_alone_makes_bearer_replay_judged() {
    use tokenlab_models::secret::Jwt;
    use tokenlab_properties::VerdictKind;
    use tokenlab_properties::checkers::replay;
    let bearer = Jwt::new("forge.t.sig".into());
    let connect = Jwt::new("connect.jwt.sig".into());
    let mut h = installed_history();
    h.push(0, issued_to_p(bearer.id(), ItemKind::AccessToken));
    api_call(&mut h, 10 * SEC, 1, Party::APP, &bearer);
    api_call(&mut h, 20 * SEC, 2, Party::Attacker, &bearer);
    let bearer_only = replay(&h);
    assert_eq!(bearer_only.kind, VerdictKind::ByDesign, "{bearer_only:?}");
    assert_eq!(bearer_only.reached, 1, "{bearer_only:?}");

    api_call(&mut h, 30 * SEC, 3, Party::APP, &connect);
    let with_connect = replay(&h);
    assert_eq!(with_connect.kind, VerdictKind::Holds, "{with_connect:?}");
    assert_eq!(with_connect.reached, 1, "{with_connect:?}");
    // The attacker's first presentation of a JWT of its own is neither a replay nor a late
    // redemption: not reached (mutation shard 5: `expired && attacker` → `||` counted it).
    api_call(
        &mut h,
        40 * SEC,
        4,
        Party::Attacker,
        &Jwt::new("attacker.own.jwt".into()),
    );
    assert_eq!(replay(&h).reached, 1, "{:?}", replay(&h));
}

/// P5's issuance clause reads what the platform issues of its own accord: an issue for a
/// tenant after its uninstall is a violation, one after a reinstall is not (mutation shard 5:
/// the platform's `installed` check → `true` let trigger's rotation timer issue a URL for
/// an uninstalled tenant, and P5 looked at presentations only).
#[test]
fn p5_judges_an_issuance_after_the_uninstall_without_a_presentation() {
    use tokenlab_properties::checkers::revocation;
    let item = |n: u64| tokenlab_models::secret::ItemId(n);
    let admin = |h: &mut History, t: i64, kind: AdminKind| {
        h.push(
            t,
            Event::Admin {
                kind,
                tenant: TenantId(1),
            },
        );
    };
    let mut h = installed_history();
    h.push(10 * SEC, issued_to_p(item(1), ItemKind::TriggerUrl));
    admin(&mut h, 100 * SEC, AdminKind::Uninstall);
    assert!(revocation(&h, 0).holds, "{:?}", revocation(&h, 0));
    h.push(200 * SEC, issued_to_p(item(2), ItemKind::TriggerUrl));
    assert_verdict(
        &revocation(&h, 0),
        false,
        "100.000s after its uninstall",
        "",
    );

    let mut h = installed_history();
    admin(&mut h, 100 * SEC, AdminKind::Uninstall);
    admin(&mut h, 150 * SEC, AdminKind::Install);
    h.push(200 * SEC, issued_to_p(item(2), ItemKind::TriggerUrl));
    assert!(revocation(&h, 0).holds, "{:?}", revocation(&h, 0));
}

/// Trigger's periodic URL rotation stops at the uninstall: in P5's world with a 10 min
/// rotation, the other tenants' URLs go on rotating after tenant 2's uninstall, tenant 2's
/// do not, and P5 holds. Only the platform's `installed` check at the rotation timer stops
/// it (no presentation asks for a rotated URL, so no recheck at mint sees it).
#[test]
fn trigger_rotation_stops_at_the_uninstall() {
    let issued = p5_issues_after_its_admin_events("trigger", "url_rotation", ItemKind::TriggerUrl);
    assert_eq!(issued[&2], 0);
    assert!(
        issued[&1] >= 2,
        "the rotation timer never ran past the uninstall"
    );
}

/// P5's world of `mechanism` with a 10 min periodic rotation (`switch=periodic(10m)`), where P5
/// must hold: how many items of `kind` each tenant (1 to 3) was issued after the world's last
/// admin event (tenant 2's uninstall, and tenant 1's revocation where the design revokes).
fn p5_issues_after_its_admin_events(
    mechanism: &str,
    switch: &str,
    kind: ItemKind,
) -> BTreeMap<u32, usize> {
    let sets = vec![format!("{switch}=periodic(10m)")];
    let mut spec = runs_for(mechanism, &sets, Property::P5).remove(0);
    spec.scenario.seed = SEED;
    let ended = spec
        .scenario
        .admin
        .iter()
        .map(|(at, _)| (*at * SEC as f64) as i64)
        .max()
        .expect("P5's world uninstalls");
    let (h, params) = execute(&spec).unwrap();
    let v = judge(Property::P5, &h, &params, spec.scenario.tenants);
    assert!(v.holds, "{mechanism}: {v:?}");
    let f = Facts::new(&h);
    (1..=3)
        .map(|tenant| {
            let after = f
                .issued
                .values()
                .filter(|i| i.kind == kind && i.tenant == TenantId(tenant) && i.t > ended);
            (tenant, after.count())
        })
        .collect()
}

/// P4's worlds for a daily rotation (`periodic(1d)`) outlast the period, so that the
/// rotation is exercised: the stolen trigger URL is replaced during the run and the
/// attacker's later calls with it are refused (mutation shard 5: a 1 h world, `30 · 3600`
/// → `30 + 3600`, held without ever reaching the rotation).
#[test]
fn p4_daily_rotation_worlds_reach_the_rotation() {
    let sets = vec!["url_rotation=periodic(1d)".to_string()];
    let day = 86_400 * SEC;
    let mut refused_after_rotation = 0;
    for mut spec in runs_for("trigger", &sets, Property::P4) {
        spec.scenario.seed = SEED;
        let (h, _) = execute(&spec).unwrap();
        let f = Facts::new(&h);
        let stolen: Vec<_> = f
            .issued
            .iter()
            .filter(|(_, i)| i.kind == ItemKind::TriggerUrl && i.t < day)
            .map(|(x, _)| *x)
            .collect();
        refused_after_rotation += f
            .decided()
            .filter(|(p, d, t)| {
                p.who == Party::Attacker
                    && *t > day
                    && stolen.contains(&p.item)
                    && matches!(d, Decision::Reject { .. })
            })
            .count();
    }
    assert!(refused_after_rotation > 0, "no world ran past the rotation");
}

/// P3 reaches the attacker's presentations for an installation that has ended by uninstall
/// alone (the grant of a site that never consented stands): the platform's answer to them is
/// the check P3 judges (mutation shard 6: `!installed || !grant` → `&&` in `ended_before`
/// counted only an installation both uninstalled and revoked).
#[test]
fn p3_reaches_a_presentation_after_an_uninstall() {
    use tokenlab_models::secret::ItemId;
    use tokenlab_properties::checkers::authorized_issuance;
    let t1 = TenantId(1);
    let mut h = installed_history();
    h.push(0, issued_to_p(ItemId(7), ItemKind::AccessToken));
    let present = |h: &mut History, t: i64, req: u64| {
        h.push(
            t,
            Event::Present {
                who: Party::Attacker,
                item: ItemId(7),
                tenant: t1,
                req: MsgId(req),
            },
        );
        h.push(
            t,
            Event::Reject {
                req: MsgId(req),
                reason: "not_installed",
            },
        );
    };
    present(&mut h, 5 * SEC, 1);
    assert_eq!(authorized_issuance(&h, false).reached, 0);
    h.push(
        10 * SEC,
        Event::Admin {
            kind: AdminKind::Uninstall,
            tenant: t1,
        },
    );
    present(&mut h, 20 * SEC, 2);
    let v = authorized_issuance(&h, false);
    assert!(v.holds, "{v:?}");
    assert_eq!(v.reached, 1, "{v:?}");
}

/// P8's `reached` counts the attacker's requests to P only: in a world without an attacker,
/// the platform's own deliveries and P's answers reach nothing (mutation shard 6: `&&` → `||`
/// counted every answered message to P).
#[test]
fn p8_reached_counts_only_the_attackers_requests() {
    let h = history(world_with_no_fault());
    let f = Facts::new(&h);
    let to_p = f
        .msgs
        .iter()
        .filter(|(id, (_, env))| matches!(env.to, Party::Partner(_)) && f.answers.contains_key(id))
        .count();
    assert!(to_p > 0, "nothing was sent to P");
    let v = tokenlab_properties::checkers::injection_resistance(&h);
    assert_eq!(v.reached, 0, "{v:?}");
}

/// P9: a family RT accepted in the very microsecond the reuse was decided is concurrent with
/// it, not an accept after the revocation (the checker cannot order two decisions of one
/// instant, and does not call that a live family); one a microsecond later is (mutation shard
/// 6: `*at > t` → `>=`).
#[test]
fn p9_a_family_accept_in_the_same_instant_as_the_reuse_is_not_after_it() {
    use tokenlab_properties::checkers::credential_binding;
    let t1 = TenantId(1);
    let grace = 30 * SEC;
    let (old, new, mut h) = rotated_at_100s();
    // The thief presents the old RT at 200 s: detected and refused.
    let reuse = 200 * SEC;
    h.push(
        reuse,
        Event::Present {
            who: Party::Attacker,
            item: old.id(),
            tenant: t1,
            req: MsgId(3),
        },
    );
    h.push(
        reuse,
        Event::Detect {
            kind: "refresh_token_reuse",
            tenant: t1,
        },
    );
    h.push(
        reuse,
        Event::Reject {
            req: MsgId(3),
            reason: "invalid_grant",
        },
    );
    let mut same_instant = h.clone();
    accepted(&mut same_instant, reuse, Party::APP, new.id(), 4);
    // Reached twice: the thief's presentation at the binding check and as a reuse.
    let v = credential_binding(&same_instant, grace);
    assert!(v.holds, "{v:?}");
    assert_eq!(v.reached, 2, "{v:?}");
    accepted(&mut h, reuse + 1, Party::APP, new.id(), 4);
    let v = credential_binding(&h, grace);
    assert_verdict(&v, false, "its family was not revoked", "");
}

/// The platform answers a request that mints when its mint step ends, not before: in every
/// mechanism, every answer to a request departs no earlier than the end of the mint it
/// carries (mutation shards 6 and 9: `end - now` → `end / now` in refresh's and
/// tenant-secret's AS answered at once, and the latency figures would have lost the cost).
#[test]
fn the_platform_answers_after_its_mint() {
    use tokenlab_models::history::LocalStep;
    for mechanism in tokenlab_models::mechanisms::registry().map(|m| m.id()) {
        let mut s = Scenario::new(mechanism, "same-region").unwrap();
        s.tenants = 4;
        s.duration_s = 7200.0;
        s.seed = SEED;
        let h = history(s);
        let f = Facts::new(&h);
        let (mut mints, mut answered) = (0, 0);
        for r in &h.records {
            let Event::Local {
                step: LocalStep::Mint,
                start,
                end,
                cause,
                ..
            } = &r.event
            else {
                continue;
            };
            assert!(end > start, "{mechanism}: a mint takes time");
            mints += 1;
            let Some((sent, _)) = cause.get().and_then(|c| f.answers.get(&c)) else {
                continue;
            };
            assert!(
                sent >= end,
                "{mechanism}: answered at {sent} before the mint's end {end}"
            );
            answered += 1;
        }
        // Push's platform mints on its own schedule and connect-jwt's P signs its own JWTs:
        // no request waits on a mint there (no mint step is recorded). Every other mechanism
        // answers minting requests.
        if matches!(mechanism, "push" | "connect-jwt") {
            assert_eq!(mints, 0, "{mechanism}: a request waited on a mint");
        } else {
            assert!(answered > 0, "{mechanism}: no minting request was answered");
        }
    }
}

/// Every property carries its own name (the report's and `check`'s tables label rows by it):
/// twelve distinct, non-empty names (mutation shard 7: `Property::name` → "").
#[test]
fn every_property_has_its_own_name() {
    let names: std::collections::BTreeSet<&str> = Property::ALL.iter().map(|p| p.name()).collect();
    assert_eq!(names.len(), Property::ALL.len(), "{names:?}");
    assert!(names.iter().all(|n| !n.is_empty()), "{names:?}");
    assert_eq!(Property::P4.name(), "bounded exposure");
}

/// P4's bound for a stolen code or FIT is the theft plus TTL (what it buys is one T), and an
/// idle victim's stolen RT with a recorded `exp` is bounded by that `exp` where it comes
/// before theft + `rt_max_life` (mutation shard 9: the code/FIT arm's `+` → `-` survived;
/// no seeded world has an accepted use of a stolen code or FIT).
#[test]
fn p4_bounds_a_stolen_code_or_fit_by_the_ttl_and_an_rt_by_its_exp() {
    use tokenlab_models::history::AttackerCapability;
    use tokenlab_models::secret::ItemId;
    use tokenlab_properties::checkers::exposure_windows;
    let (code, fit, rt) = (ItemId(1), ItemId(2), ItemId(3));
    let mut h = History::default();
    h.push(0, issued_to_p(code, ItemKind::AuthCode));
    h.push(0, issued_to_p(fit, ItemKind::Fit));
    h.push(
        0,
        Event::Issue {
            item: rt,
            kind: ItemKind::RefreshToken,
            tenant: TenantId(1),
            to: Party::APP,
            exp: Some(1000 * SEC),
        },
    );
    exposed(
        &mut h,
        10 * SEC,
        (AttackerCapability::A5, ExposureMode::Snapshot),
        TenantId(1),
        &[code, fit, rt],
    );
    let bounds = rt_bounds();
    let deadlines: Vec<_> = exposure_windows(&h, &bounds)
        .iter()
        .map(|w| (w.kind, w.deadline))
        .collect();
    assert_eq!(
        deadlines,
        vec![
            (Some(ItemKind::AuthCode), Some(310 * SEC)),
            (Some(ItemKind::Fit), Some(310 * SEC)),
            (Some(ItemKind::RefreshToken), Some(1000 * SEC)),
        ]
    );
}

/// P4's RT clauses end validity at their instants, not after them: an attacker's RT accepted
/// exactly at its recorded `exp`, or exactly `rt_idle_expiry` after its family's last accepted
/// use, is a violation, one a microsecond earlier is not; the victim's accepted redemption
/// restarts the idle clock; and a refresh grant without client authentication is judged from
/// the instant the client was issued a credential (the new clauses' boundaries, which the
/// seeded worlds of `rt_validity.rs` do not land on).
#[test]
fn p4_an_rts_validity_ends_at_its_expiry_instants() {
    use tokenlab_models::message::{Body, Fields, Method, Request, Value};
    use tokenlab_models::secret::Secret;
    use tokenlab_properties::checkers::bounded_exposure;
    let rt = Secret::from_foreign("tl_rt_family");
    let with_rt = |exp: Option<i64>| {
        let mut h = installed_history();
        h.push(
            0,
            Event::Issue {
                item: rt.id(),
                kind: ItemKind::RefreshToken,
                tenant: TenantId(1),
                to: Party::APP,
                exp,
            },
        );
        h
    };
    // The attacker's refresh grant at `t` (request `req`), with or without the client secret.
    let grant = |h: &mut History, t: i64, req: u64, secret: Option<&Secret>| {
        let mut body = Fields::new().with("refresh_token", Value::Secret(rt.clone()));
        if let Some(s) = secret {
            body = body.with("client_secret", Value::Secret(s.clone()));
        }
        let request = Body::Request(Request {
            method: Method::Post,
            route: "POST /oauth/token",
            tenant: Some(TenantId(1)),
            headers: Fields::new(),
            body,
        });
        send(h, t, (req, None), (Party::Attacker, Party::AS), request);
        accepted(h, t, Party::Attacker, rt.id(), req);
    };
    let judged = |h: &History, idle: Option<i64>| {
        let mut b = rt_bounds();
        b.rt_max_life = None;
        b.rt_idle_expiry = idle;
        bounded_exposure(h, &b)
    };

    // The absolute lifetime: `exp` at 1000 s.
    for (t, holds) in [(1000 * SEC - 1, true), (1000 * SEC, false)] {
        let mut h = with_rt(Some(1000 * SEC));
        grant(&mut h, t, 1, None);
        let v = judged(&h, None);
        let names = "past its lifetime (exp t=1000.000s)";
        assert_verdict(&v, holds, names, &format!("accepted at {t}"));
    }

    // The idle expiry, 600 s, from the family's issue at 0 or from the victim's use at 500 s.
    let idle = Some(600 * SEC);
    for (victim_use, t, holds) in [
        (None, 600 * SEC - 1, true),
        (None, 600 * SEC, false),
        (Some(500 * SEC), 1100 * SEC - 1, true),
        (Some(500 * SEC), 1100 * SEC, false),
    ] {
        let mut h = with_rt(None);
        if let Some(u) = victim_use {
            accepted(&mut h, u, Party::APP, rt.id(), 9);
        }
        grant(&mut h, t, 1, None);
        let v = judged(&h, idle);
        let case = format!("victim's use {victim_use:?}, accepted at {t}");
        assert_verdict(&v, holds, "past rt_idle_expiry", &case);
    }

    // Client authentication: the client's secret issued to P at 100 s.
    let client_secret = Secret::from_foreign("tl_cs_client");
    for (t, secret, holds) in [
        (100 * SEC - 1, None, true),
        (100 * SEC, None, false),
        (100 * SEC, Some(&client_secret), true),
    ] {
        let mut h = with_rt(None);
        h.push(
            100 * SEC,
            Event::Issue {
                item: client_secret.id(),
                kind: ItemKind::ClientSecret,
                tenant: TenantId(1),
                to: Party::APP,
                exp: None,
            },
        );
        grant(&mut h, t, 1, secret);
        let v = judged(&h, None);
        let case = format!("at {t}, secret {}", secret.is_some());
        assert_verdict(&v, holds, "RFC 6749 §6", &case);
        // A family first issued to another client (app B's, which the attacker runs under
        // `apps=2`) is not bound by P's credential: that client was issued none.
        if t == 100 * SEC && secret.is_none() {
            let Event::Issue { to, .. } = &mut h.records[1].event else {
                panic!("the RT's issue is the second record");
            };
            *to = Party::Attacker;
            let v = judged(&h, None);
            assert!(v.holds, "app B's own RT: {v:?}");
        }
    }
}

/// P5's issuance clause at a shared instant: an install issues in the instant it is recorded
/// (an issue then is the new installation's), an uninstall ends only what comes after it (an
/// issue in its own instant is not after it), and an install in the uninstall's instant is the
/// later of the two (the tenant is installed again).
#[test]
fn p5_an_issuance_in_the_instant_of_an_admin_event() {
    use tokenlab_properties::checkers::revocation;
    let admin = |h: &mut History, t: i64, kind: AdminKind| {
        h.push(
            t,
            Event::Admin {
                kind,
                tenant: TenantId(1),
            },
        );
    };
    let url = tokenlab_models::secret::ItemId(1);
    let issue_at = |h: &mut History, t: i64| h.push(t, issued_to_p(url, ItemKind::TriggerUrl));

    // Uninstalled at 100 s, installed again at 200 s.
    let mut reinstall = installed_history();
    admin(&mut reinstall, 100 * SEC, AdminKind::Uninstall);
    admin(&mut reinstall, 200 * SEC, AdminKind::Install);
    for (t, holds) in [
        (100 * SEC, true),
        (100 * SEC + 1, false),
        (200 * SEC - 1, false),
        (200 * SEC, true),
    ] {
        let mut h = reinstall.clone();
        issue_at(&mut h, t);
        let v = revocation(&h, 0);
        assert_eq!(v.holds, holds, "issued at {t}: {v:?}");
    }

    // Uninstalled and installed again in one instant: an issue after it is the new one's.
    let mut h = installed_history();
    admin(&mut h, 100 * SEC, AdminKind::Uninstall);
    admin(&mut h, 100 * SEC, AdminKind::Install);
    issue_at(&mut h, 150 * SEC);
    assert!(revocation(&h, 0).holds, "{:?}", revocation(&h, 0));
}

/// P5's outstanding-T clause: an outstanding T accepted at the API in the uninstall's own
/// instant plus `outstanding_r` is not after it; a microsecond later it is (mutation shard
/// 11: `>` → `>=` survived; no seeded world lands an API accept on that instant).
#[test]
fn p5_an_outstanding_t_is_judged_strictly_after_its_bound() {
    use tokenlab_models::secret::Jwt;
    use tokenlab_properties::checkers::revocation;
    let t = Jwt::new("outstanding.t.sig".into());
    let mut h = installed_history();
    h.push(0, issued_to_p(t.id(), ItemKind::AccessToken));
    h.push(
        100 * SEC,
        Event::Admin {
            kind: AdminKind::Uninstall,
            tenant: TenantId(1),
        },
    );
    for r in [0, 60 * SEC] {
        let mut at_bound = h.clone();
        api_call(&mut at_bound, 100 * SEC + r, 1, Party::APP, &t);
        let v = revocation(&at_bound, r);
        assert!(v.holds, "accepted at the uninstall + {r}: {v:?}");
        let mut after = h.clone();
        api_call(&mut after, 100 * SEC + r + 1, 1, Party::APP, &t);
        let v = revocation(&after, r);
        let case = format!("accepted after the uninstall + {r}");
        assert_verdict(&v, false, "an outstanding T accepted", &case);
    }
}

/// P9 judges credentials (RTs, client secrets, and what the attacker presents that the
/// platform never issued): the thief's presentation of an access token is not P9's, so it
/// is not reached (mutation shard 12: `kind.is_none() && attacker` → `||` counted every
/// attacker presentation).
#[test]
fn p9_reaches_only_credential_presentations() {
    use tokenlab_models::secret::Jwt;
    use tokenlab_properties::checkers::credential_binding;
    let (_, _, mut h) = rotated_at_100s();
    let t = Jwt::new("stolen.t.sig".into());
    h.push(0, issued_to_p(t.id(), ItemKind::AccessToken));
    api_call(&mut h, 150 * SEC, 3, Party::Attacker, &t);
    let v = credential_binding(&h, 30 * SEC);
    assert!(v.holds, "{v:?}");
    assert_eq!(v.reached, 0, "a T is not a credential of P9's: {v:?}");
}

/// P3's consent clause: the attacker consenting for the site it administers (A4) is that
/// site's admin, so a code for it is neither reached nor a violation; the same form posted
/// for a site it does not own is (mutation shard 13: `env.from == Attacker` → `!=` took the
/// attacker's own consent for someone else's; no P3 world has the attacker consent at all).
#[test]
fn p3_the_attackers_consent_for_its_own_site_is_its_admins() {
    use tokenlab_models::history::{AttackerCapability, ExposureMode};
    use tokenlab_models::message::{Body, Fields, Method, Request, Response, Value};
    use tokenlab_models::secret::Secret;
    use tokenlab_properties::checkers::authorized_issuance;
    let own = TenantId(2);
    let consent = |h: &mut History, req: u64, site: TenantId| {
        let form = Body::Request(Request {
            method: Method::Post,
            route: "POST /authorize/consent",
            tenant: Some(site),
            headers: Fields::new(),
            body: Fields::new().with("approve", Value::Str("yes".into())),
        });
        send(h, 10 * SEC, (req, None), (Party::Attacker, Party::AS), form);
        let code = Secret::from_foreign(&format!("tl_code_{req}"));
        let answer = Body::Response(Response::ok(
            Fields::new().with("code", Value::Secret(code)),
        ));
        let reply = (req + 1, Some(req));
        send(h, 10 * SEC, reply, (Party::AS, Party::Attacker), answer);
    };
    let mut h = installed_history();
    exposed(
        &mut h,
        0,
        (AttackerCapability::A4, ExposureMode::Own),
        own,
        &[],
    );
    let mut for_its_own = h.clone();
    consent(&mut for_its_own, 1, own);
    let v = authorized_issuance(&for_its_own, false);
    assert!(v.holds, "{v:?}");
    assert_eq!(v.reached, 0, "{v:?}");
    consent(&mut h, 1, TenantId(1));
    let v = authorized_issuance(&h, false);
    assert!(
        !v.holds,
        "the victim's site consented by the attacker: {v:?}"
    );
    assert_eq!(v.reached, 1, "{v:?}");
}

/// P4 bounds thefts only: an A2 snapshot of P's store is one (a window per item), an A2
/// continuing read is not (the attacker reads every later write: a foothold, not one theft
/// with a bound) (mutation shard 13: `A2 && Snapshot` → `||` made every continuing read a
/// theft).
#[test]
fn p4_an_a2_snapshot_is_a_theft_and_a_continuing_read_is_not() {
    use tokenlab_models::history::{AttackerCapability, ExposureMode};
    use tokenlab_models::secret::ItemId;
    use tokenlab_properties::checkers::exposure_windows;
    let t = ItemId(1);
    let windows = |mode: ExposureMode| {
        let mut h = installed_history();
        h.push(0, issued_to_p(t, ItemKind::AccessToken));
        exposed(
            &mut h,
            10 * SEC,
            (AttackerCapability::A2, mode),
            TenantId(1),
            &[t],
        );
        exposure_windows(&h, &rt_bounds()).len()
    };
    assert_eq!(windows(ExposureMode::Snapshot), 1);
    assert_eq!(windows(ExposureMode::Continuing), 0);
}

/// P3 counts the platform's refusal to issue for an ended installation (its install recheck
/// at mint, `IssueDenied`) as reached: the check P3 is about met the request (mutation shard
/// 14: deleting that arm left a world whose every late request was refused unreached).
#[test]
fn p3_reaches_the_platforms_refusal_to_issue() {
    use tokenlab_properties::checkers::authorized_issuance;
    let mut h = installed_history();
    h.push(
        10 * SEC,
        Event::Admin {
            kind: AdminKind::Uninstall,
            tenant: TenantId(1),
        },
    );
    let v = authorized_issuance(&h, false);
    assert_eq!((v.holds, v.reached), (true, 0), "{v:?}");
    h.push(
        20 * SEC,
        Event::IssueDenied {
            tenant: TenantId(1),
        },
    );
    let v = authorized_issuance(&h, false);
    assert_eq!((v.holds, v.reached), (true, 1), "{v:?}");
}

/// F answers every trigger call, including one whose nested call F was retrying when the
/// tenant was uninstalled: the retry rechecks the installation, mints nothing and answers
/// 403 `not_installed` (mutation shard 14: the answer sent only in asynchronous mode left
/// the synchronous caller without one). A flaky partner with retries, and every tenant
/// uninstalled in turn, with a 2 min backoff, so that some retry meets an uninstall.
#[test]
fn f_answers_a_trigger_call_whose_retry_meets_an_uninstall() {
    let mut s = Scenario::new("trigger", "flaky-partner").unwrap();
    s.sets = vec![
        "ttl=1m".into(),
        "platform_retries=2".into(),
        "platform_backoff=2m".into(),
    ];
    s.tenants = 8;
    s.duration_s = 1800.0;
    s.demands_per_tenant_hour = 240.0;
    s.seed = SEED;
    s.admin = (1..=8u32)
        .map(|t| (150.0 * f64::from(t), AdminAction::Uninstall(t - 1)))
        .collect();
    let h = history(s);
    let denied = h
        .records
        .iter()
        .filter(|r| matches!(r.event, Event::IssueDenied { .. }))
        .count();
    assert!(denied > 0, "no retry met an uninstall");
    let f = Facts::new(&h);
    let mut unanswered = Vec::new();
    let mut not_installed = 0;
    for (id, (_, env)) in f.msgs.iter() {
        let Some(q) = env.request() else { continue };
        if env.to != Party::FORGE || q.route != "GET /trigger" {
            continue;
        }
        match f.answers.get(id).and_then(|(_, a)| a.response()) {
            Some(r) if r.error_code() == Some("not_installed") => not_installed += 1,
            Some(_) => {}
            None => unanswered.push(*id),
        }
    }
    assert!(not_installed > 0, "no call was answered not_installed");
    assert!(
        unanswered.is_empty(),
        "unanswered trigger calls: {unanswered:?}"
    );
}

/// P10's P4 part allows F-grace's one-cycle slip, which the fault-free P4 verdict already
/// reports as a finding: an attacker's Accept after the next refresh's bound but before the
/// slipped one is not a fault's doing (mutation shard 15: deleting `grace_slip: true` from
/// `fail_closed_parts` judged it by the unslipped bound, and no seeded P10 world lands there).
#[test]
fn p10_s_p4_part_allows_f_grace_s_slip() {
    use tokenlab_models::history::{AttackerCapability, ExposureMode};
    use tokenlab_models::secret::ItemId;
    use tokenlab_properties::property::fail_closed_parts;
    use tokenlab_properties::suite::check_input;
    let rt = ItemId(5);
    let mut h = installed_history();
    h.push(0, issued_to_p(rt, ItemKind::RefreshToken));
    exposed(
        &mut h,
        10 * SEC,
        (AttackerCapability::A5, ExposureMode::Snapshot),
        TenantId(1),
        &[rt],
    );
    // The victim refreshes at 100 s and 400 s: bounds 430 s, and 730 s slipped one cycle.
    accepted(&mut h, 100 * SEC, Party::APP, rt, 1);
    accepted(&mut h, 400 * SEC, Party::APP, rt, 2);
    accepted(&mut h, 600 * SEC, Party::Attacker, rt, 3);
    let (_, _, params) = resolve("refresh", &[]).unwrap();
    let mut input = check_input(&h, &params, 1, None);
    input.bounds = rt_bounds();
    let unslipped = tokenlab_properties::checkers::bounded_exposure(&h, &input.bounds);
    assert!(!unslipped.holds, "{unslipped:?}");
    let parts = fail_closed_parts(&Facts::new(&h), &input);
    let p4 = &parts[2];
    assert_eq!(p4.property, "P4", "{parts:?}");
    assert!(p4.holds, "{p4:?}");
}

/// P5's worlds steal each root credential after P holds it, so that the revocation has
/// something stolen to outlive: in every mechanism's world each theft of the root credential
/// exposes it (push's partner holds its first T only after the warm-up; mutation shard 15:
/// `300 + warm` → `300 - warm` stole before the install and took nothing, and P5 held
/// unreached by it).
#[test]
fn p5_worlds_steal_the_root_credential_after_p_holds_it() {
    use tokenlab_models::history::AttackerCapability;
    for m in tokenlab_models::mechanisms::registry() {
        let mut spec = runs_for(m.id(), &[], Property::P5).remove(0);
        spec.scenario.seed = SEED;
        let plan = spec.plan.clone().expect("P5's worlds have an attacker");
        let (h, _) = execute(&spec).unwrap();
        let mut root_thefts = 0;
        for step in &plan.steps {
            let Capability::Steal { field, tenant, .. } = step.capability else {
                continue;
            };
            if field != m.root_credential() {
                continue;
            }
            root_thefts += 1;
            let exposed = h.records.iter().any(|r| {
                r.t == step.at
                    && matches!(
                        &r.event,
                        Event::Attack {
                            capability: AttackerCapability::A5,
                            target: Some(t),
                            items,
                            ..
                        } if *t == tenant && !items.is_empty()
                    )
            });
            assert!(
                exposed,
                "{}: the theft of {field} of {tenant} at {} took nothing",
                m.id(),
                step.at
            );
        }
        // The victim's and the revoked tenant's (push's root credential is T itself: four).
        assert!(root_thefts >= 2, "{}: {root_thefts} thefts", m.id());
    }
}

/// `judge_all` (one shared index for several properties, what `simulate` and scenario runs
/// use) gives each property the verdict `judge` gives it alone (mutation shard 15:
/// `judge_all` → `vec![]` survived; only the CLI's tests read it).
#[test]
fn judging_all_properties_at_once_equals_judging_each() {
    use tokenlab_properties::suite::judge_all;
    for mechanism in ["trigger", "refresh", "upm-oauth"] {
        let mut spec = runs_for(mechanism, &[], Property::P1).remove(0);
        spec.scenario.seed = SEED;
        let tenants = spec.scenario.tenants;
        let (h, params) = execute(&spec).unwrap();
        let all = judge_all(&Property::ALL, &h, &params, tenants);
        let each: Vec<_> = Property::ALL
            .iter()
            .map(|p| judge(*p, &h, &params, tenants))
            .collect();
        assert_eq!(all, each, "{mechanism}");
    }
}

/// Tenant-secret's periodic rotation stops at the uninstall and at the revocation: in P5's
/// world with a 10 min rotation, tenant 1 (revoked) and tenant 2 (uninstalled) get no secret
/// after 900 s, tenant 3's goes on rotating, and P5 holds (mutation shard 16: the timer's
/// `installed && !revoked` → `||` rotated a revoked installation's secret).
#[test]
fn tenant_secret_rotation_stops_at_the_revocation_and_the_uninstall() {
    let issued =
        p5_issues_after_its_admin_events("tenant-secret", "rotation", ItemKind::ClientSecret);
    assert_eq!((issued[&1], issued[&2]), (0, 0));
    assert!(
        issued[&3] >= 2,
        "the rotation timer never ran past the revocation"
    );
}

/// P2's browser clause: the browser may carry an authorization code (it passes through the
/// redirect) and nothing else, and nobody else may learn a code without a theft behind it
/// (mutation shard 16: `who == Browser && kind == AuthCode` → `||` allowed the browser every
/// item and everyone a code; no world's browser ever sees anything but a code). The
/// counterexample names the request the answer came to (shard 23: the cause filter's `!`
/// deleted dropped it).
#[test]
fn p2_the_browser_may_carry_a_code_and_nothing_else() {
    use tokenlab_models::message::{Body, Fields, Method, Request, Response, Value};
    use tokenlab_models::secret::Secret;
    use tokenlab_properties::checkers::confinement;
    let code = Secret::from_foreign("tl_code_redirect");
    let token = Secret::from_foreign("tl_at_opaque");
    let cases = [
        ("the browser carries the code", Party::Browser, &code, true),
        ("the browser learns a token", Party::Browser, &token, false),
        (
            "the attacker learns the code",
            Party::Attacker,
            &code,
            false,
        ),
    ];
    for (case, who, item, holds) in cases {
        let mut h = installed_history();
        h.push(0, issued_to_p(code.id(), ItemKind::AuthCode));
        h.push(0, issued_to_p(token.id(), ItemKind::AccessToken));
        // The learner's request, and the answer that carried the item: the counterexample
        // names both (the request first).
        let ask = Body::Request(Request {
            method: Method::Get,
            route: "GET /item",
            tenant: Some(TenantId(1)),
            headers: Fields::new(),
            body: Fields::new(),
        });
        send(&mut h, 5 * SEC, (1, None), (who, Party::AS), ask);
        let answer = Response::ok(Fields::new().with("value", Value::Secret(item.clone())));
        let env = std::sync::Arc::new(tokenlab_models::message::Envelope {
            id: MsgId(2),
            from: Party::AS,
            to: who,
            cause: Some(MsgId(1)),
            body: Body::Response(answer),
        });
        h.push(10 * SEC, Event::Receive { who, env });
        let v = confinement(&h);
        assert_verdict(&v, holds, "with no exposure behind it", case);
        if !holds {
            let c = v.counterexample.unwrap_or_default();
            assert!(
                c.contains("t=5.000s") && c.contains("GET /item"),
                "{case}: {c}"
            );
        }
    }
}

/// P4 counts against a theft only what it yields: the attacker's accepted requests with the
/// stolen item or one it derived from it, and, for a stolen shared secret, the requests the
/// attacker signed itself (items nobody issued). A forged item does not count against a
/// stolen T, nor a separately stolen T against the secret (mutation shard 17: the clause's
/// `SharedSecret && unissued` → `||` did both).
#[test]
fn p4_counts_against_a_theft_only_what_it_yields() {
    use tokenlab_models::history::{AttackerCapability, ExposureMode};
    use tokenlab_models::secret::{Jwt, Secret};
    use tokenlab_properties::checkers::{ExposureBounds, exposure_windows};
    let shared = Secret::from_foreign("tl_shared_secret");
    let t = Jwt::new("stolen.t.sig".into());
    let forged = Jwt::new("self.signed.sig".into());
    let bounds = ExposureBounds {
        shared: Some(3600 * SEC),
        ..rt_bounds()
    };
    let mut h = installed_history();
    h.push(0, issued_to_p(t.id(), ItemKind::AccessToken));
    h.push(0, issued_to_p(shared.id(), ItemKind::SharedSecret));
    exposed(
        &mut h,
        10 * SEC,
        (AttackerCapability::A5, ExposureMode::Snapshot),
        TenantId(1),
        &[t.id(), shared.id()],
    );
    api_call(&mut h, 100 * SEC, 1, Party::Attacker, &t);
    api_call(&mut h, 400 * SEC, 2, Party::Attacker, &forged);
    api_call(&mut h, 500 * SEC, 3, Party::Attacker, &forged);
    let accepted: Vec<_> = exposure_windows(&h, &bounds)
        .iter()
        .map(|w| (w.kind, w.accepted))
        .collect();
    assert_eq!(
        accepted,
        [
            (Some(ItemKind::AccessToken), 1),
            (Some(ItemKind::SharedSecret), 2)
        ]
    );
}

/// P5's retention counterexample names the uninstall P acknowledged: the tenant's own last
/// one before the hook, not another admin event of the tenant, a later uninstall of it, nor
/// another tenant's uninstall (mutation shard 17: the lookup's `tenant && Uninstall` → `||`
/// named tenant 2's uninstall; every world has one uninstall and nothing after it).
#[test]
fn p5_retention_names_the_uninstall_p_acknowledged() {
    use tokenlab_models::history::StoredItem;
    use tokenlab_models::message::{Body, Fields, Request, Response, Value};
    use tokenlab_models::secret::ItemId;
    use tokenlab_properties::checkers::with_retention_clause;
    let admin = |kind, t| Event::Admin {
        kind,
        tenant: TenantId(t),
    };
    let mut h = installed_history();
    h.push(0, admin(AdminKind::Install, 2));
    h.push(0, issued_to_p(ItemId(7), ItemKind::RefreshToken));
    h.push(
        0,
        Event::StoreItem(Box::new(StoredItem {
            tenant: TenantId(1),
            field: "refresh_token",
            item: ItemId(7),
            cause: None,
        })),
    );
    h.push(100 * SEC, admin(AdminKind::Uninstall, 1));
    h.push(150 * SEC, admin(AdminKind::Uninstall, 2));
    h.push(160 * SEC, admin(AdminKind::Revoke, 1));
    let hook = Body::Request(Request {
        method: tokenlab_models::message::Method::Post,
        route: "POST /lifecycle",
        tenant: Some(TenantId(1)),
        headers: Fields::new(),
        body: Fields::new().with("event", Value::Str("uninstalled".into())),
    });
    send(
        &mut h,
        200 * SEC,
        (1, None),
        (Party::FORGE, Party::APP),
        hook,
    );
    let ack = Body::Response(Response {
        status: 204,
        body: Fields::new(),
    });
    send(
        &mut h,
        201 * SEC,
        (2, Some(1)),
        (Party::APP, Party::FORGE),
        ack,
    );
    h.push(300 * SEC, admin(AdminKind::Install, 1));
    h.push(400 * SEC, admin(AdminKind::Uninstall, 1));
    let neutral = tokenlab_properties::Verdict {
        property: "P5",
        holds: true,
        kind: tokenlab_properties::VerdictKind::Holds,
        reached: 0,
        counterexample: None,
    };
    let v = with_retention_clause(neutral, &Facts::new(&h));
    assert_violated_once(&v, "1. t=100.000s admin Uninstall t1\n");
}

/// P8 takes a delivery as authenticated only by a FIT the platform issued for the tenant the
/// delivery stores into: not another tenant's genuine FIT, nor the tenant's own T presented in
/// its place (mutation shard 20: the clause's `Fit && tenant` → `||` took either; no attacker
/// delivers with a genuine FIT of another tenant or with a T as the FIT).
#[test]
fn p8_a_delivery_is_authenticated_by_a_fit_of_its_own_tenant() {
    use tokenlab_models::ids::PartnerEndpoint;
    use tokenlab_models::message::{Body, Fields, Method, Request, Value};
    use tokenlab_models::secret::Jwt;
    use tokenlab_properties::checkers::injection_resistance;
    let issue = |item: &Jwt, kind, tenant| Event::Issue {
        item: item.id(),
        kind,
        tenant: TenantId(tenant),
        to: Party::APP,
        exp: None,
    };
    let fit_1 = Jwt::new("fit.tenant1.sig".into());
    let fit_2 = Jwt::new("fit.tenant2.sig".into());
    let t_2 = Jwt::new("t.tenant2.sig".into());
    let cases = [
        ("tenant 2's own FIT", &fit_2, true),
        ("tenant 1's FIT", &fit_1, false),
        ("tenant 2's T as the FIT", &t_2, false),
    ];
    for (case, authorization, holds) in cases {
        let mut h = installed_history();
        h.push(0, issue(&fit_1, ItemKind::Fit, 1));
        h.push(0, issue(&fit_2, ItemKind::Fit, 2));
        h.push(0, issue(&t_2, ItemKind::AccessToken, 2));
        let delivery = Body::Request(Request {
            method: Method::Post,
            route: "POST /auth",
            tenant: Some(TenantId(2)),
            headers: Fields::new().with("authorization", Value::Jwt(authorization.clone())),
            body: Fields::new().with("token", Value::Jwt(t_2.clone())),
        });
        let to = Party::Partner(PartnerEndpoint::Auth);
        send(&mut h, 10 * SEC, (1, None), (Party::Attacker, to), delivery);
        h.push(
            10 * SEC,
            Event::StoreCommit {
                tenant: TenantId(2),
                item: t_2.id(),
                cause: Some(MsgId(1)),
            },
        );
        let v = injection_resistance(&h);
        assert_verdict(&v, holds, "", case);
    }
}

/// P9's reuse is a second presentation of an RT for its own installation: a superseded RT
/// presented for another installation and refused there met the binding check, so nothing
/// had to detect it; for its own installation past the grace window it is reuse (mutation
/// shard 22: `refused_elsewhere`'s `!` deleted took the refused cross-tenant presentation for
/// reuse that nothing detected).
#[test]
fn p9_a_superseded_rt_refused_for_another_installation_is_not_reuse() {
    use tokenlab_properties::checkers::credential_binding;
    let grace = 30 * SEC;
    let (old, _, h) = rotated_at_100s();
    let presented_for = |tenant: u32| {
        let mut h = h.clone();
        let at = 100 * SEC + grace + 1;
        h.push(
            at,
            Event::Present {
                who: Party::Attacker,
                item: old.id(),
                tenant: TenantId(tenant),
                req: MsgId(3),
            },
        );
        h.push(
            at,
            Event::Reject {
                req: MsgId(3),
                reason: "invalid_grant",
            },
        );
        credential_binding(&h, grace)
    };
    let elsewhere = presented_for(2);
    assert!(elsewhere.holds, "{elsewhere:?}");
    assert_verdict(
        &presented_for(1),
        false,
        "nothing detected it",
        "own installation",
    );
}

/// P3 reaches an issuance for an ended installation or grant only: one before the tenant's
/// first install (here after its admin's consent) is a violation but not the check P3 is
/// about meeting a request (mutation shard 22: `ever_installed`'s `Install && t <= now` →
/// `||` took any earlier admin event, or a later install, for an installation).
#[test]
fn p3_an_issuance_before_the_first_install_is_not_reached() {
    use tokenlab_properties::checkers::authorized_issuance;
    let admin = |kind| Event::Admin {
        kind,
        tenant: TenantId(1),
    };
    let mut h = History::default();
    h.push(10 * SEC, admin(AdminKind::Consent));
    h.push(
        50 * SEC,
        issued_to_p(tokenlab_models::secret::ItemId(3), ItemKind::AccessToken),
    );
    h.push(100 * SEC, admin(AdminKind::Install));
    let v = authorized_issuance(&h, false);
    assert!(!v.holds, "{v:?}");
    assert_eq!(v.reached, 0, "{v:?}");
}

/// Every property's worlds place their attacker's steps inside the run, for every mechanism
/// (push's warm-up included): a world that ends before its thefts judges nothing (mutation
/// shard 22: P7's `1200 + warm` → `-` gave push a world of negative length, and push's P7
/// row is `n/a` anyway).
#[test]
fn every_attack_step_falls_inside_its_world() {
    for m in tokenlab_models::mechanisms::registry() {
        for property in Property::ALL {
            for spec in runs_for(m.id(), &[], property) {
                let end = (spec.scenario.duration_s * SEC as f64) as i64;
                for step in spec.plan.iter().flat_map(|p| &p.steps) {
                    assert!(
                        step.at < end,
                        "{} {property:?}: a step at {} in a world of {end}",
                        m.id(),
                        step.at
                    );
                }
            }
        }
    }
}
