//! Issue 11's audit fixes: for each, the broken verifier (a test-only mutant switch) that the
//! old checker let slip past now fails, the sound design still holds, and the attacker
//! requests that reached the check in question are counted.

use tokenlab_models::history::{Event, ItemKind};
use tokenlab_models::ids::Party;
use tokenlab_models::message::Body;
use tokenlab_properties::suite::{Expectation, execute, run_row, runs_for};
use tokenlab_properties::{Property, VerdictKind};

const SEED: u64 = 0x5eed;

fn row(mechanism: &str, sets: &[&str], property: &str) -> Expectation {
    Expectation::adhoc(mechanism, sets, property.parse().unwrap())
}

/// The sound design holds (and was reached); the mutant is violated.
fn flips(mechanism: &str, mutant: &[&str], property: &str) {
    flips_from(mechanism, &[], mutant, property);
}

/// As [`flips`], from a variant `base` of the design.
fn flips_from(mechanism: &str, base: &[&str], mutant: &[&str], property: &str) {
    let sound = run_row(&row(mechanism, base, property), 1, SEED);
    assert_eq!(
        sound.verdict,
        VerdictKind::Holds,
        "{mechanism} {property}: {sound:?}"
    );
    assert!(sound.reached > 0, "{mechanism} {property}: not reached");
    let sets: Vec<&str> = base.iter().chain(mutant).copied().collect();
    let broken = run_row(&row(mechanism, &sets, property), 1, SEED);
    assert_eq!(
        broken.verdict,
        VerdictKind::Violated,
        "{mechanism}{mutant:?} {property}: {broken:?}"
    );
}

/// Answers the partner's inbound endpoints gave to attacker requests that carried a FIT the
/// platform issued (replays of a captured FIT), as "status body".
fn answers_to_replayed_fits(mechanism: &str, sets: &[&str], property: Property) -> Vec<String> {
    answers_to_attacker_requests_carrying(mechanism, sets, &[property], |e| match e {
        Event::Issue {
            item,
            kind: ItemKind::Fit,
            ..
        } => vec![*item],
        _ => Vec::new(),
    })
}

/// The answers to the attacker's requests that carried an item `watched` picked from an
/// earlier event (in `property`'s worlds of `mechanism` with `sets`), as "status body".
fn answers_to_attacker_requests_carrying(
    mechanism: &str,
    sets: &[&str],
    properties: &[Property],
    watched: impl Fn(&Event) -> Vec<tokenlab_models::secret::ItemId>,
) -> Vec<String> {
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    let mut out = Vec::new();
    for property in properties {
        for mut spec in runs_for(mechanism, &sets, *property) {
            spec.scenario.seed = SEED;
            let (h, _) = execute(&spec).unwrap();
            let mut items = std::collections::BTreeSet::new();
            let mut from_attacker = std::collections::BTreeSet::new();
            for r in &h.records {
                items.extend(watched(&r.event));
                let Event::Send { env } = &r.event else {
                    continue;
                };
                if env.from == Party::Attacker
                    && env.request().is_some()
                    && env.items().any(|(x, _)| items.contains(&x))
                {
                    from_attacker.insert(env.id);
                }
                if let (Body::Response(resp), Some(c)) = (&env.body, env.cause)
                    && from_attacker.contains(&c)
                {
                    out.push(format!("{} {:?}", resp.status, resp.body));
                }
            }
        }
    }
    out
}

/// P8: a FIT captured in transit and replayed with a forged T. Before, the checker accepted
/// an unissued T that came with a genuine FIT, so a P that does not bind the FIT to its body
/// (`fit_replay_check=off`) passed; now it fails, and the sound P refuses the replay.
#[test]
fn p8_a_replayed_fit_with_a_forged_body() {
    for m in ["trigger", "push"] {
        replayed_fits_flip(m, "fit_replay_check=off", Property::P8);
    }
}

/// `mutant` is violated and the sound design holds on `property`'s worlds of `mechanism`; the
/// attacker's replays of a captured FIT reached the binding (`fit_replayed`) and, past the
/// FIT's lifetime (its binding forgotten), its `exp` check (`invalid_fit`), and were refused.
fn replayed_fits_flip(mechanism: &str, mutant: &str, property: Property) {
    let m = mechanism;
    flips(m, &[mutant], &property.to_string());
    let answers = answers_to_replayed_fits(m, &[], property);
    assert!(
        answers.iter().any(|a| a.contains("fit_replayed")),
        "{m}: the replay reached the FIT binding: {answers:?}"
    );
    assert!(
        answers.iter().any(|a| a.contains("invalid_fit")),
        "{m}: the late replay reached the FIT's exp check: {answers:?}"
    );
    assert!(
        answers.iter().all(|a| a.starts_with("401")),
        "{m}: {answers:?}"
    );
}

/// P3: P.lifecycle did not bind a hook FIT to the event it came with, so an observer of the
/// partner–Forge hop replayed an uninstall's FIT as an `installed` carrying its own secrets,
/// and P stored them for the uninstalled tenant. Now the sound P refuses the replay
/// (`fit_replayed`, and `invalid_fit` past the FIT's lifetime); the mutant
/// `lifecycle_fit_replay_check=off` is violated.
#[test]
fn p3_a_replayed_hook_fit_with_a_forged_install() {
    for m in [
        "global-secret",
        "tenant-secret",
        "refresh",
        "connect-jwt",
        "upm-oauth",
    ] {
        replayed_fits_flip(m, "lifecycle_fit_replay_check=off", Property::P3);
    }
}

/// P9: before, any `Detect` for the tenant satisfied the checker, so an AS that detects reuse
/// but lets the reused RT through, or refuses it but leaves the family (the thief's successor)
/// live, passed. Now the reused presentation must be refused and no RT of its family accepted
/// afterwards.
#[test]
fn p9_reuse_must_be_refused_and_the_family_revoked() {
    for m in ["refresh", "upm-oauth"] {
        flips(m, &["reuse_action=keep_family"], "P9");
        flips(m, &["reuse_action=accept"], "P9");
    }
}

/// P5: the run used to end before revocation + R (R = TTL = 4 h), so the outstanding-T clause
/// could not fire; an API that never checks `exp` passed. Now the run outlasts the bound.
#[test]
fn p5_the_outstanding_token_bound_can_fire() {
    for m in ["push", "refresh", "tenant-secret"] {
        flips(m, &["exp_leeway=ignore"], "P5");
    }
}

/// P6: the API's sender check used to reject every request not from P before the DPoP proof
/// was looked at, so the proof-replay check was unreachable and an API that never remembers
/// proofs passed. A captured proof is signed with P's key: replayed, only its `jti` stops it.
#[test]
fn p6_a_replayed_dpop_proof_reaches_the_jti_check() {
    flips_from(
        "refresh",
        &["sender_constraint=dpop"],
        &["dpop_replay_check=off"],
        "P6",
    );
}

/// P3: the platform's install recheck at mint was masked wherever the credential dies first
/// (the URL is deleted, the RT family or secret revoked), so only push exercised it. Trigger:
/// F's retry of a nested call that runs past the uninstall (P.auth down) mints at timer time.
/// refresh, tenant-secret: with revocation ignored, only the recheck stops a mint after the
/// uninstall. (upm-oauth is not here: its P3 world revokes a grant, and with revocation
/// ignored that issuance is itself a violation.)
#[test]
fn p3_the_install_recheck_at_mint_is_unmasked() {
    flips("trigger", &["recheck_install=off"], "P3");
    for m in ["refresh", "tenant-secret"] {
        flips_from(m, &["revocation=ignored"], &["recheck_install=off"], "P3");
    }
}

/// The security matrix in its fast mode (one sampled case per row, no search): the test
/// command of `scripts/mutants.sh`. A mutated verifier or checker must flip some row.
#[test]
fn quick_matrix_matches_expectations() {
    let rows = tokenlab_properties::suite::expectations();
    let judge = |part: &[Expectation]| -> Vec<String> {
        let mut wrong = Vec::new();
        for e in part {
            let r = run_row(e, 1, 1);
            let missed =
                tokenlab_properties::suite::MISSED_BY_ONE_SAMPLE
                    .iter()
                    .any(|(m, v, p)| {
                        e.mechanism == *m && e.variant.as_deref() == *v && e.property.id() == *p
                    });
            if r.matches == missed {
                wrong.push(format!("{} {}: {:?}", e.row, e.property, r.verdict));
            }
        }
        wrong
    };
    // Two halves on two threads (the rows are independent and seeded).
    let (a, b) = rows.split_at(rows.len() / 2);
    let wrong: Vec<String> = std::thread::scope(|s| {
        let h = s.spawn(|| judge(b));
        let mut w = judge(a);
        w.extend(h.join().expect("no panic"));
        w
    });
    assert!(wrong.is_empty(), "rows that do not match: {wrong:#?}");
}

/// P12: the checker used to count P's own `StaleRead` reports, so a P that retries silently
/// after a stale read passed. Now what P's read returned (`ReadResult`) is compared with what
/// step 4 committed, so the silent P fails whatever it does next (before `ReadResult`, one
/// sampled case at seed 1 re-read, found the T and passed). The row
/// `trigger[read_from=replica,replica_lag=uniform(500ms),stale_read_report=off] P12` is in
/// expectations.md and `quick_matrix_matches_expectations` samples it at seed 1.
#[test]
fn p12_what_p_read_against_what_step_4_committed() {
    let lag = ["read_from=replica", "replica_lag=uniform(500ms)"];
    let silent: Vec<&str> = lag
        .iter()
        .copied()
        .chain(["stale_read_report=off"])
        .collect();
    for sets in [&lag[..], &silent[..]] {
        let r = run_row(&row("trigger", sets, "P12"), 1, SEED);
        assert_eq!(r.verdict, VerdictKind::Violated, "{sets:?}: {r:?}");
        assert!(r.reached > 0);
    }
    let sound = run_row(&row("trigger", &[], "P12"), 1, SEED);
    assert_eq!(sound.verdict, VerdictKind::Holds, "{sound:?}");
    assert!(sound.reached > 0);
    let in_band: Vec<&str> = lag
        .iter()
        .copied()
        .chain(["token_return=in_band"])
        .collect();
    let fixed = run_row(&row("trigger", &in_band, "P12"), 1, SEED);
    assert_eq!(fixed.verdict, VerdictKind::Holds, "{fixed:?}");
    assert!(fixed.reached > 0);
}

/// Every mechanism, `apps=2`: app B's backend (the attacker's) gets app B's FIT and T from F
/// and presents them at app A. Sound, only the API's check of T's app (P1) and P's check of
/// the FIT's audience (P8) stop them; each mutant that drops one is violated. Not judged:
/// global-secret P1 (its default row is violated already: the app-wide secret) and
/// connect-jwt P1's mutant (its API takes Connect JWTs only, so a bearer T never reaches
/// the app check; the mutant is equivalent there).
#[test]
fn apps2_app_b_items_authenticate_nothing_at_app_a() {
    for m in tokenlab_models::mechanisms::registry().map(|m| m.id()) {
        if !matches!(m, "global-secret" | "connect-jwt") {
            flips_from(m, &["apps=2"], &["api_app_check=off"], "P1");
        }
        flips_from(m, &["apps=2"], &["fit_audience_check=off"], "P8");
        // The app B presentations were decided, and refused for the reason only the check in
        // question gives.
        let answers = answers_to_app_b_items(m);
        assert!(
            answers.iter().any(|a| a.contains("wrong_app")) || m == "connect-jwt",
            "{m}: {answers:?}"
        );
        assert!(
            answers.iter().any(|a| a.contains("invalid_fit")),
            "{m}: {answers:?}"
        );
        assert!(
            answers.iter().all(|a| !a.starts_with('2')),
            "{m}: an app B item was accepted at app A: {answers:?}"
        );
    }
}

/// The answers app A's API, AS and P gave to the attacker's presentations of what F handed
/// app B (P1 and P8 worlds with `apps=2`), as "status body".
fn answers_to_app_b_items(mechanism: &str) -> Vec<String> {
    answers_to_attacker_requests_carrying(
        mechanism,
        &["apps=2"],
        &[Property::P1, Property::P8],
        |e| match e {
            Event::Send { env }
                if env
                    .request()
                    .is_some_and(|q| q.route == "POST /app-b/invoke") =>
            {
                env.items().map(|(x, _)| x).collect()
            }
            _ => Vec::new(),
        },
    )
}

/// `apps=2`, the OAuth mechanisms: client B's RT (F hands it to app B's backend, the
/// attacker's) redeemed as client A. Only the AS's binding of an RT to the client it was
/// issued to stops it (RFC 6749 §6, §10.4); the mutant `client_binding=off` mints for app A.
#[test]
fn apps2_client_b_rt_redeemed_as_client_a() {
    for m in ["refresh", "upm-oauth"] {
        flips_from(m, &["apps=2"], &["client_binding=off"], "P1");
        let broken = run_row(&row(m, &["apps=2", "client_binding=off"], "P1"), 1, SEED);
        let c = broken.counterexample.unwrap_or_default();
        assert!(
            c.contains("AS POST /oauth/token") && c.contains("issued for app B"),
            "{m}: {c}"
        );
    }
}

/// P3, consent with an actor: the `Consent` event used to be recorded in the branch that mints
/// the code, so a site authorized without its admin's consent could not be observed. Now the
/// checker judges who posted each consent the AS answered with a code; the attacker posts the
/// victim's consent form itself (`ForgeConsent`). The sound AS refuses it (only its check of
/// who consents stops it); the mutant `consent_actor_check=off` authorizes the site.
#[test]
fn p3_a_consent_not_by_the_sites_admin() {
    flips("upm-oauth", &["consent_actor_check=off"], "P3");
    let broken = run_row(
        &row("upm-oauth", &["consent_actor_check=off"], "P3"),
        1,
        SEED,
    );
    let c = broken.counterexample.unwrap_or_default();
    assert!(c.contains("not its admin"), "{c}");
}

/// P5: a new issuance after a revocation is late at once (R = 0); only a T the API accepts
/// that was issued before the revocation gets the outstanding-T allowance. An RT the AS
/// accepts 0.3 s after the revoke must be the violation, not one an allowance later.
#[test]
fn p5_an_rt_accepted_after_a_revoke_is_late_at_once() {
    let r = run_row(&row("refresh", &["revocation=ignored"], "P5"), 1, SEED);
    assert_eq!(r.verdict, VerdictKind::Violated, "{r:?}");
    let c = r.counterexample.unwrap_or_default();
    let line = c
        .lines()
        .find(|l| l.contains("violation:"))
        .unwrap_or_else(|| panic!("no violation line: {c}"));
    assert!(line.contains("a new issuance accepted"), "{line}");
    let words: Vec<&str> = line.split_whitespace().collect();
    let after = words.iter().position(|w| *w == "after").expect("'after'");
    let secs: f64 = words[after - 1].trim_end_matches('s').parse().unwrap();
    assert!(
        secs < 60.0,
        "the first late acceptance is {secs} s after the revoke: {c}"
    );
}

/// The replaced client secret works for `rotation_overlap` and not after it. A thief who
/// stole it before the rotation keeps minting inside the overlap (its exposure runs past the
/// rotation) and is bounded by rotation + overlap + TTL. A verifier that took the overlap
/// backwards (the old secret refused inside it) would end the exposure at the rotation.
#[test]
fn p4_the_replaced_secret_works_for_its_overlap_and_is_bounded() {
    use tokenlab_properties::attack::{AttackRequest, From, attack as run_attack};
    let sets = ["rotation=periodic(2h)", "rotation_overlap=1h", "ttl=30m"];
    let r = run_row(&row("global-secret", &sets, "P4"), 1, SEED);
    assert_eq!(r.verdict, VerdictKind::Holds, "{r:?}");
    assert!(r.reached > 0);
    let a = run_attack(&AttackRequest::snapshot(
        "global-secret",
        &sets,
        Some("client_secret"),
        From::Store,
        1,
    ))
    .unwrap();
    let w = a.exposure_window_s.unwrap_or(0.0);
    // Stolen at 600 s, rotated at 7200 s: inside the overlap means past 7200 − 600 s.
    assert!(
        w > 6600.0,
        "the replaced secret bought nothing in its overlap: W = {w} s"
    );
    assert!(
        w <= 7200.0 + 3600.0 + 1800.0,
        "W = {w} s past rotation + overlap + TTL"
    );
}

/// P5's retention clause alone, over `mechanism`'s P5 worlds with `sets` (seeded): the
/// verdict it folds into a neutral one (its own `reached`, its counterexample).
fn retention_clause(mechanism: &str, sets: &[&str]) -> tokenlab_properties::Verdict {
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    let mut v = tokenlab_properties::Verdict {
        property: "P5",
        holds: true,
        kind: VerdictKind::Holds,
        reached: 0,
        counterexample: None,
    };
    for mut spec in runs_for(mechanism, &sets, Property::P5) {
        spec.scenario.seed = SEED;
        let (h, _) = execute(&spec).expect("runs");
        let f = tokenlab_properties::facts::Facts::new(&h);
        v = tokenlab_properties::checkers::with_retention_clause(v, &f);
    }
    v
}

/// P5, the retention clause (the mutation survivor in `common.rs` `lifecycle`: its
/// `uninstalled` arm could be deleted and no test failed, P then kept an uninstalled
/// tenant's credentials for ever). The sound P forgets the row before it answers the
/// `uninstalled` hook: the clause holds and was reached (P held the tenant's items when the
/// hook came); `partner_retention=keep` answers 204 and keeps them: violated, naming the
/// tenant and the item, and the whole P5 verdict with it. global-secret's P5 row is violated
/// already (no per-tenant revocation), so only the clause is judged there.
#[test]
fn p5_p_forgets_an_uninstalled_tenants_credentials() {
    for (m, field) in [
        ("trigger", "trigger_url #"),
        ("refresh", "refresh_token #"),
        ("upm-oauth", "client_secret #"),
        ("global-secret", "client_secret #"),
        ("tenant-secret", "client_secret #"),
        ("connect-jwt", "shared_secret #"),
    ] {
        let sound = retention_clause(m, &[]);
        assert_eq!(sound.kind, VerdictKind::Holds, "{m}: {sound:?}");
        assert!(
            sound.reached > 0,
            "{m}: no acknowledged uninstall with items"
        );
        let broken = retention_clause(m, &["partner_retention=keep"]);
        assert_eq!(broken.kind, VerdictKind::Violated, "{m}: {broken:?}");
        assert_eq!(broken.reached, sound.reached, "{m}: the same uninstalls");
        let trace = broken.counterexample.expect("a counterexample");
        assert!(
            trace.contains("admin Uninstall t2")
                && trace.contains("acknowledged the uninstall of t2")
                && trace.contains(field),
            "{m}: {trace}"
        );
        if m != "global-secret" {
            flips(m, &["partner_retention=keep"], "P5");
        }
    }
    // Push keeps no per-tenant item: nothing to forget, the clause is silent either way.
    for sets in [&[][..], &["partner_retention=keep"][..]] {
        let v = retention_clause("push", sets);
        assert_eq!(
            (v.kind, v.reached),
            (VerdictKind::Holds, 0),
            "push {sets:?}"
        );
    }
}

/// P5's retention clause reads P's row per tenant: one tenant's drop says nothing of
/// another's row (a history in which P forgot t2 and not t1, which no switch produces: the
/// mutant keeps every row), and a later item in a field replaces the earlier one.
#[test]
fn p5_retention_reads_each_tenants_row_alone() {
    use tokenlab_models::history::{History, StoredItem};
    use tokenlab_models::ids::TenantId;
    use tokenlab_models::secret::ItemId;
    let stored = |tenant: u32, field: &'static str, item: u64| {
        Box::new(StoredItem {
            tenant: TenantId(tenant),
            field,
            item: ItemId(item),
            cause: None,
        })
    };
    let mut h = History::default();
    h.push(10, Event::StoreItem(stored(1, "refresh_token", 11)));
    h.push(10, Event::StoreItem(stored(2, "refresh_token", 21)));
    h.push(20, Event::StoreItem(stored(1, "refresh_token", 12)));
    h.push(30, Event::StoreDrop(stored(2, "refresh_token", 21)));
    let held = |tenant: u32, t: i64| {
        tokenlab_properties::checkers::held_items(&h, TenantId(tenant), t)
            .into_iter()
            .map(|(f, x)| (f, x.0))
            .collect::<Vec<_>>()
    };
    assert_eq!(held(1, 30), vec![("refresh_token", 12)]);
    assert_eq!(held(1, 15), vec![("refresh_token", 11)]);
    assert_eq!(held(2, 29), vec![("refresh_token", 21)]);
    assert_eq!(held(2, 30), vec![]);
}
