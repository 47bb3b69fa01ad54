//! Role-level tests: one partner, no simulator. A small harness feeds inputs at chosen times,
//! fires the partner's timers in order, lets a test answer its requests by hand, and reads the
//! history it records. Each test pins one behaviour of the partner's engine that no
//! end-to-end run isolates: the single-flight re-check, the backoff bound with full jitter,
//! the demand deadline, cancel-on-timeout and a restart that loses volatile state.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use tokenlab_models::history::{Cause, Event, Outcome, Record};
use tokenlab_models::ids::{DemandId, IdGen, MsgId, Party, RoleKind, TenantId, TimerId};
use tokenlab_models::message::{Body, Envelope, Fields, Request, Response, Value};
use tokenlab_models::params::{JwksFail, Lag, LogToken, UnknownKid};
use tokenlab_models::roles::partner::{
    AttemptResult, Inbound, KeyPolicy, OutRequest, Partner, PartnerConfig, PartnerCx, PartnerSide,
    RetryPolicy,
};
use tokenlab_models::roles::store::{
    Backend, CachedToken, Row, Store, StoreConfig, StoreReply, StoreRequest,
};
use tokenlab_models::roles::{Effects, Input, Outgoing, Role};
use tokenlab_models::secret::Jwt;
use tokenlab_models::token::PlatformKeys;
use tokenlab_models::{MS, Micros, SEC};

const T: TenantId = TenantId(1);
const TTL: Micros = 3600 * SEC;

/// A mechanism that asks the AS and takes T from a 200; any other answer is a retryable
/// failure. It counts `reset_volatile` calls and may say its tokens do not persist.
struct Scripted {
    resets: Arc<AtomicU32>,
    persists: bool,
}

impl PartnerSide for Scripted {
    fn start_attempt(
        &mut self,
        _cx: &mut PartnerCx<'_>,
        tenant: TenantId,
        _row: &Row,
    ) -> Result<OutRequest, Cause> {
        Ok(OutRequest {
            to: Party::AS,
            req: Request {
                method: tokenlab_models::message::Method::Post,
                route: "POST /oauth/token",
                tenant: Some(tenant),
                headers: Fields::new(),
                body: Fields::new(),
            },
        })
    }
    fn on_attempt_response(
        &mut self,
        cx: &mut PartnerCx<'_>,
        _tenant: TenantId,
        resp: &Response,
    ) -> AttemptResult {
        if resp.is_success() {
            AttemptResult::Token {
                jwt: Jwt::new("eyJ.t.sig".into()),
                exp: cx.now + TTL,
                persist: None,
            }
        } else {
            AttemptResult::Failed {
                cause: Cause::HttpError,
                retry: true,
            }
        }
    }
    fn on_inbound(&mut self, _cx: &mut PartnerCx<'_>, _env: &Envelope, _req: &Request) -> Inbound {
        Inbound::Reply {
            tenant: None,
            update: None,
            response: Response::error(404, "no_such_route"),
        }
    }
    fn reset_volatile(&mut self) {
        self.resets.fetch_add(1, Ordering::SeqCst);
    }
    fn persists_tokens(&self) -> bool {
        self.persists
    }
}

fn policy() -> RetryPolicy {
    RetryPolicy {
        attempt_timeout: Some(10 * SEC),
        retries: 2,
        backoff_base: 200 * MS,
        backoff_cap: 5 * SEC,
        deadline: Some(40 * SEC),
        reread: true,
        single_flight: true,
        check_exp: true,
        expiry_margin: 60 * SEC,
    }
}

fn store(read_cost: Micros, write_cost: Micros) -> Store {
    Store::new(StoreConfig {
        write_cost,
        read_cost,
        write_fail: 0.0,
        read_fail: 0.0,
        replica_lag: Lag::Fixed(0),
        cache_ttl: None,
    })
}

/// One partner and everything it asked for.
struct Harness {
    partner: Partner,
    now: Micros,
    /// Pending timers, fired in (time, id) order.
    timers: BTreeMap<(Micros, TimerId), ()>,
    /// Requests it sent that nobody answered yet (by id).
    open: BTreeMap<MsgId, Outgoing>,
    /// Every request it sent, in order.
    sent: Vec<Outgoing>,
    cancelled: Vec<MsgId>,
    history: Vec<Record>,
    ids: IdGen,
    resets: Arc<AtomicU32>,
    next_demand: u64,
    /// Store requests for the driver (external store backend), in order.
    store_requests: Vec<StoreRequest>,
}

impl Harness {
    fn new(retry: RetryPolicy, store: Store, seed: u64, persists: bool) -> Harness {
        let keys = PlatformKeys::generate(&mut ChaCha8Rng::seed_from_u64(99));
        let resets = Arc::new(AtomicU32::new(0));
        let cfg = PartnerConfig {
            retry,
            fit_check: true,
            fit_replay_check: true,
            lifecycle_fit_replay_check: true,
            partner_retention: tokenlab_models::params::PartnerRetention::Forget,
            fit_audience_check: true,
            stale_read_report: true,
            jwks_fail: JwksFail::Closed,
            clock_skew: 0,
            log_token: LogToken::None,
            keys: KeyPolicy {
                refetch_floor: 30 * SEC,
                max_age: None,
                unknown_kid: UnknownKid::Refetch,
                refused_fit_binding: true,
            },
        };
        let side = Scripted {
            resets: resets.clone(),
            persists,
        };
        Harness {
            partner: Partner::new(
                Box::new(side),
                cfg,
                store,
                keys.fit_public_key(),
                ChaCha8Rng::seed_from_u64(seed),
            ),
            now: 0,
            timers: BTreeMap::new(),
            open: BTreeMap::new(),
            sent: Vec::new(),
            cancelled: Vec::new(),
            history: Vec::new(),
            ids: IdGen::new(RoleKind::Platform),
            resets,
            next_demand: 0,
            store_requests: Vec::new(),
        }
    }

    /// Feeds one input at `at` (after firing every timer due before it).
    fn feed(&mut self, at: Micros, input: Input) {
        self.run_until(at);
        self.handle(at, input);
    }

    fn handle(&mut self, at: Micros, input: Input) {
        assert!(at >= self.now, "time runs forward");
        self.now = at;
        let mut out = Effects::default();
        self.partner.handle(at, input, &mut out);
        for (t, id) in out.timers {
            self.timers.insert((t, id), ());
        }
        for o in out.send {
            self.open.insert(o.env.id, o.clone());
            self.sent.push(o);
        }
        for c in out.cancel {
            self.open.remove(&c);
            self.cancelled.push(c);
        }
        self.history.extend(out.history);
        self.store_requests.extend(out.store);
    }

    /// Fires every timer due at or before `t`, in order; the clock ends at `t`.
    fn run_until(&mut self, t: Micros) {
        while let Some((&(at, id), _)) = self.timers.first_key_value() {
            if at > t {
                break;
            }
            self.timers.remove(&(at, id));
            self.handle(at, Input::Timer(id));
        }
        self.now = self.now.max(t);
    }

    /// Fires timers one by one until a request to `to` is open; returns it.
    fn step_until_request(&mut self, to: Party) -> MsgId {
        loop {
            if let Some(o) = self.open.values().find(|o| o.env.to == to) {
                return o.env.id;
            }
            let (&(at, id), _) = self
                .timers
                .first_key_value()
                .unwrap_or_else(|| panic!("no request to {to:?} and no timer left"));
            self.timers.remove(&(at, id));
            self.handle(at, Input::Timer(id));
        }
    }

    fn demand(&mut self, at: Micros) -> DemandId {
        self.next_demand += 1;
        let demand = DemandId(self.next_demand);
        self.feed(at, Input::Demand { demand, tenant: T });
        demand
    }

    /// The oldest unanswered request to `to`.
    fn request_to(&self, to: Party) -> MsgId {
        self.open
            .values()
            .find(|o| o.env.to == to)
            .map(|o| o.env.id)
            .unwrap_or_else(|| panic!("no open request to {to:?}"))
    }

    /// Answers request `req` at `at`.
    fn answer(&mut self, at: Micros, req: MsgId, response: Response) {
        self.run_until(at);
        let o = self.open.remove(&req).expect("an open request");
        let env = Envelope {
            id: self.ids.msg(),
            from: o.env.to,
            to: o.env.from,
            cause: Some(req),
            body: Body::Response(response),
        };
        self.handle(at, Input::Message(env));
    }

    fn events(&self) -> impl Iterator<Item = (Micros, &Event)> {
        self.history.iter().map(|r| (r.t, &r.event))
    }

    fn attempt_starts(&self) -> Vec<Micros> {
        self.events()
            .filter(|(_, e)| matches!(e, Event::AttemptStart { .. }))
            .map(|(t, _)| t)
            .collect()
    }

    fn failed_attempt_ends(&self) -> Vec<Micros> {
        self.events()
            .filter(|(_, e)| matches!(e, Event::AttemptEnd { ok: false, .. }))
            .map(|(t, _)| t)
            .collect()
    }

    fn outcome(&self, demand: DemandId) -> Option<Outcome> {
        let found: Vec<Outcome> = self
            .events()
            .filter_map(|(_, e)| match e {
                Event::Complete {
                    demand: d, outcome, ..
                } if *d == demand => Some(*outcome),
                _ => None,
            })
            .collect();
        assert!(found.len() <= 1, "a demand completes once: {found:?}");
        found.first().copied()
    }
}

fn token_ok() -> Response {
    Response::ok(Fields::new().with("access_token", Value::Str("t".into())))
}

#[test]
fn single_flight_rechecks_a_write_that_committed_during_the_lookup() {
    // Reads cost 2 ms, writes 5 ms. Demand 1 misses and acquires; T arrives at 100 ms and its
    // write-behind commits at 105 ms, after the acquisition has ended. Demand 2 reads at
    // 104 ms (a miss: nothing committed yet) and looks at the result at 106 ms, when no
    // acquisition is in flight but the store has a newer commit: it must read again and use
    // that T, not start a second acquisition.
    let mut h = Harness::new(policy(), store(2 * MS, 5 * MS), 1, true);
    let d1 = h.demand(0);
    h.run_until(2 * MS);
    let req = h.request_to(Party::AS);
    h.answer(100 * MS, req, token_ok());
    h.demand(104 * MS);
    h.run_until(SEC);
    assert_eq!(
        h.attempt_starts().len(),
        1,
        "one acquisition: {:?}",
        h.history
    );
    // Reads: demand 1 at 0; demand 2 at 104 ms (stale), then the re-check at 106 ms.
    let reads: Vec<Micros> = h
        .events()
        .filter(|(_, e)| {
            matches!(
                e,
                Event::Local {
                    step: tokenlab_models::history::LocalStep::StoreRead,
                    ..
                }
            )
        })
        .map(|(t, _)| t)
        .collect();
    assert_eq!(reads, vec![0, 104 * MS, 106 * MS]);
    // Both demands reached the API with the one token.
    let api_calls = h.sent.iter().filter(|o| o.env.to == Party::API).count();
    assert_eq!(api_calls, 2);
    assert_eq!(h.outcome(d1), None, "API calls still open");
}

#[test]
fn backoff_waits_are_full_jitter_under_min_cap_base_times_two_to_the_n() {
    // Every attempt fails at once; no re-read, free store operations: the gap between a
    // failed attempt and the next start is exactly the backoff draw. The partner's RNG is
    // used for nothing else here, so a clone of its seed predicts every draw:
    // U(0, min(cap, base·2ⁿ)) for retry n.
    let mut p = policy();
    p.retries = 6;
    p.reread = false;
    p.deadline = None;
    let (base, cap) = (p.backoff_base, p.backoff_cap);
    let mut longest = [0 as Micros; 6];
    for seed in 0..40 {
        let mut h = Harness::new(p, store(0, 0), seed, true);
        let d = h.demand(0);
        for _ in 0..=p.retries {
            let req = h.step_until_request(Party::AS);
            let now = h.now;
            h.answer(now, req, Response::error(503, "unavailable"));
        }
        h.run_until(h.now + 60 * SEC);
        assert_eq!(h.outcome(d), Some(Outcome::Fail(Cause::HttpError)));
        let (ends, starts) = (h.failed_attempt_ends(), h.attempt_starts());
        assert_eq!(
            starts.len(),
            p.retries as usize + 1,
            "an attempt cap of 1 + retries"
        );
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        for n in 0..p.retries as usize {
            let wait = starts[n + 1] - ends[n];
            let ceiling = cap.min(base << n);
            assert!(wait <= ceiling, "retry {n}: waited {wait} > {ceiling}");
            assert_eq!(
                wait,
                rng.random_range(0..=ceiling),
                "retry {n}, seed {seed}"
            );
            longest[n] = longest[n].max(wait);
        }
    }
    // Full jitter: over 40 runs each retry's longest wait comes near its ceiling (not a
    // fixed fraction of it, not capped at base).
    for (n, l) in longest.iter().enumerate() {
        let ceiling = cap.min(base << n);
        assert!(
            *l * 10 >= ceiling * 8,
            "retry {n}: longest {l} of {ceiling}"
        );
    }
}

#[test]
fn the_demand_deadline_fails_the_waiters_and_cancels_the_attempt() {
    // Attempts time out after 10 s, the demand after 3 s: the deadline comes first.
    let mut p = policy();
    p.deadline = Some(3 * SEC);
    let mut h = Harness::new(p, store(2 * MS, 5 * MS), 1, true);
    let d1 = h.demand(0);
    let d2 = h.demand(SEC);
    h.run_until(2 * SEC);
    let req = h.request_to(Party::AS);
    assert_eq!(
        h.attempt_starts().len(),
        1,
        "demand 2 waits on demand 1's acquisition"
    );
    h.run_until(3 * SEC + 2 * MS - 1);
    assert_eq!(h.outcome(d1), None, "not before the deadline");
    h.run_until(3 * SEC + 2 * MS);
    assert_eq!(h.outcome(d1), Some(Outcome::Fail(Cause::Timeout)));
    assert_eq!(h.outcome(d2), Some(Outcome::Fail(Cause::Timeout)));
    assert_eq!(h.cancelled, vec![req], "the open attempt is abandoned");
    assert!(h.open.is_empty());
}

#[test]
fn an_attempt_timeout_cancels_the_request_and_ignores_a_late_answer() {
    let mut p = policy();
    p.attempt_timeout = Some(500 * MS);
    p.retries = 0;
    let mut h = Harness::new(p, store(2 * MS, 5 * MS), 1, true);
    let d = h.demand(0);
    h.run_until(2 * MS);
    let req = h.request_to(Party::AS);
    h.run_until(502 * MS);
    assert_eq!(h.cancelled, vec![req]);
    assert_eq!(h.outcome(d), Some(Outcome::Fail(Cause::Timeout)));
    // The answer arrives after all: nothing happens (no token, no second completion).
    let before = h.history.len();
    h.open.insert(req, h.sent[0].clone());
    h.answer(SEC, req, token_ok());
    assert_eq!(h.history.len(), before, "{:?}", &h.history[before..]);
    assert!(h.partner.store.latest(T).token.is_none());
}

#[test]
fn a_restart_that_loses_volatile_state_abandons_demands_and_forgets_acquisitions() {
    let mut h = Harness::new(policy(), store(2 * MS, 5 * MS), 1, false);
    // A token committed before: with persists_tokens() = false a restart loses it too.
    h.partner
        .store
        .write(T, 0, &mut ChaCha8Rng::seed_from_u64(0), |row| {
            row.token = Some(CachedToken {
                jwt: Jwt::new("eyJ.old.sig".into()),
                exp: -1,
            })
        })
        .unwrap();
    let d = h.demand(10 * MS);
    h.run_until(20 * MS);
    let req = h.request_to(Party::AS);
    h.feed(
        SEC,
        Input::Restart {
            lost_volatile: true,
        },
    );
    assert_eq!(h.outcome(d), Some(Outcome::Unknown));
    assert_eq!(h.resets.load(Ordering::SeqCst), 1);
    assert!(h.partner.store.latest(T).token.is_none(), "tokens lost");
    // The old acquisition's answer is not awaited any more, and a new demand acquires anew.
    let before = h.history.len();
    h.answer(SEC + MS, req, token_ok());
    assert_eq!(
        h.history.len(),
        before,
        "a late answer to a lost request is ignored"
    );
    let d2 = h.demand(2 * SEC);
    h.run_until(2 * SEC + 2 * MS);
    assert_eq!(
        h.attempt_starts().len(),
        2,
        "a fresh acquisition, not a stale waiter"
    );
    let req2 = h.request_to(Party::AS);
    h.answer(2 * SEC + 50 * MS, req2, token_ok());
    h.run_until(3 * SEC);
    assert_eq!(h.outcome(d2), None, "its API call is still open");
    assert!(h.sent.iter().any(|o| o.env.to == Party::API));
    // The timers of the lost acquisition (its deadline at 40 s) fire into nothing.
    h.run_until(60 * SEC);
    assert_eq!(
        h.outcome(d2),
        Some(Outcome::Fail(Cause::Timeout)),
        "API never answered"
    );
}

#[test]
fn with_an_external_store_reads_and_writes_wait_for_the_driver() {
    // Control: the model store answers through its own timers and asks the driver nothing.
    let mut model = Harness::new(policy(), store(2 * MS, 5 * MS), 1, true);
    model.demand(0);
    assert!(model.store_requests.is_empty());
    assert_eq!(model.timers.len(), 1, "the lookup's timer after t_r");

    let mut h = Harness::new(policy(), store(2 * MS, 5 * MS), 1, true);
    h.partner.set_store_backend(Backend::External);
    let first = h.demand(0);
    let Some(StoreRequest::Read {
        ticket,
        tenant,
        from_replica: false,
    }) = h.store_requests.pop()
    else {
        panic!("the lookup is a read request: {:?}", h.store_requests);
    };
    assert_eq!(tenant, T);
    // Nothing moves until the driver answers: no timer, no request.
    h.run_until(SEC);
    assert!(h.timers.is_empty() && h.open.is_empty());
    h.handle(
        SEC + 3 * MS,
        Input::StoreDone {
            ticket,
            reply: StoreReply::Read(Ok(None)),
        },
    );
    let req = h.request_to(Party::AS);
    h.answer(SEC + 10 * MS, req, token_ok());
    // T is used at once (write-behind); its write is a request, committed when answered.
    let Some(StoreRequest::Write { ticket, token, .. }) = h.store_requests.pop() else {
        panic!("the token write is a request: {:?}", h.store_requests);
    };
    assert!(
        !h.events()
            .any(|(_, e)| matches!(e, Event::StoreCommit { .. }))
    );
    h.handle(
        SEC + 30 * MS,
        Input::StoreDone {
            ticket,
            reply: StoreReply::Written(Ok(())),
        },
    );
    let commits: Vec<Micros> = h
        .events()
        .filter(|(_, e)| matches!(e, Event::StoreCommit { .. }))
        .map(|(t, _)| t)
        .collect();
    assert_eq!(
        commits,
        vec![SEC + 30 * MS],
        "committed when the driver said so"
    );
    let api = h.request_to(Party::API);
    h.answer(SEC + 40 * MS, api, Response::ok(Fields::new()));
    assert_eq!(h.outcome(first), Some(Outcome::Ok));
    // A later demand's read returns the stored token: a hit, no acquisition.
    let second = h.demand(2 * SEC);
    let Some(StoreRequest::Read { ticket, .. }) = h.store_requests.pop() else {
        panic!("a read request");
    };
    h.handle(
        2 * SEC + MS,
        Input::StoreDone {
            ticket,
            reply: StoreReply::Read(Ok(Some(token))),
        },
    );
    let api = h.request_to(Party::API);
    h.answer(2 * SEC + 10 * MS, api, Response::ok(Fields::new()));
    assert_eq!(h.outcome(second), Some(Outcome::Ok));
    assert_eq!(
        h.attempt_starts().len(),
        1,
        "only the first demand acquired"
    );
}
