//! Acquisition and retry (`mechanisms.md` §0): one attempt at a time per acquisition, a
//! per-attempt timeout, full-jitter backoff U(0, min(cap, base·2ⁿ)), a re-read of the cache
//! before each retry, and the waiters served or failed together.

use super::api::{AttemptResult, Credential};
use super::engine::{AttemptState, Partner, Pending, ReadThen, Timer, WriteThen};
use crate::Micros;
use crate::history::{Cause, Event, Outcome};
use crate::ids::Party;
use crate::message::{Envelope, Value};
use crate::roles::Effects;
use crate::roles::store::CachedToken;
use rand::RngExt;

impl Partner {
    pub(super) fn start_attempt(&mut self, now: Micros, acq: u64, out: &mut Effects) {
        let (tenant, attempt) = {
            let a = &self.acqs[&acq];
            (a.tenant, a.attempt)
        };
        let row = self.store.latest(tenant);
        match self.with_side(now, out, |side, cx| side.start_attempt(cx, tenant, &row)) {
            Ok(mut r) => {
                r.req
                    .headers
                    .0
                    .push(("x-acting-for", Value::Tenant(tenant)));
                let req = self.send(out, now, Party::APP, r, None);
                out.record(
                    now,
                    Event::AttemptStart {
                        tenant,
                        acquisition: acq,
                        attempt,
                        request: Some(req).into(),
                    },
                );
                self.pending.insert(req, Pending::Attempt { acq, attempt });
                self.acqs.get_mut(&acq).expect("live").state = AttemptState::Waiting { req };
                if let Some(t) = self.policy.attempt_timeout {
                    self.timer(out, now + t, Timer::AttemptTimeout { acq, attempt });
                }
            }
            Err(cause) => {
                out.record(
                    now,
                    Event::AttemptStart {
                        tenant,
                        acquisition: acq,
                        attempt,
                        request: None.into(),
                    },
                );
                self.attempt_failed(now, acq, cause, false, out);
            }
        }
    }

    pub(super) fn attempt_failed(
        &mut self,
        now: Micros,
        acq: u64,
        cause: Cause,
        retry: bool,
        out: &mut Effects,
    ) {
        let Some(a) = self.acqs.get_mut(&acq) else {
            return;
        };
        out.record(
            now,
            Event::AttemptEnd {
                acquisition: acq,
                attempt: a.attempt,
                ok: false,
                cause: Some(cause),
            },
        );
        if retry && a.attempt < self.policy.retries {
            a.state = AttemptState::Backoff;
            let ceiling = self.policy.backoff_cap.min(
                self.policy
                    .backoff_base
                    .saturating_mul(1 << a.attempt.min(30)),
            );
            let arity = if ceiling > 0 { 3 } else { 1 };
            let wait = match self.choices.pick(crate::choice::Point::Jitter, arity) {
                None => self.rng.random_range(0..=ceiling),
                Some(0) => ceiling / 2,
                Some(1) => 0,
                Some(_) => ceiling,
            };
            let mut at = now + wait;
            if let Some(not_before) = a.retry_after.take() {
                at = at.max(not_before);
                // Coming back after the demand's deadline helps nobody: give up now.
                if let Some(dl) = self.policy.deadline
                    && at >= a.started + dl
                {
                    self.finish_acquisition(now, acq, Err(cause), out);
                    return;
                }
            }
            self.timer(out, at, Timer::BackoffDone { acq });
        } else {
            self.finish_acquisition(now, acq, Err(cause), out);
        }
    }

    pub(super) fn finish_acquisition(
        &mut self,
        now: Micros,
        acq: u64,
        result: Result<Credential, Cause>,
        out: &mut Effects,
    ) {
        let Some(a) = self.acqs.remove(&acq) else {
            return;
        };
        if self.inflight.get(&a.tenant) == Some(&acq) {
            self.inflight.remove(&a.tenant);
        }
        if let AttemptState::Waiting { req } = a.state {
            self.pending.remove(&req);
            out.cancel.push(req);
        }
        for demand in a.waiters {
            match &result {
                Ok(cred) => {
                    if let Some(d) = self.demands.get_mut(&demand) {
                        d.token_latency = d.miss_at.map(|m| now - m);
                    }
                    self.api_call(now, demand, cred.clone(), out);
                }
                Err(cause) => self.complete(now, demand, Outcome::Fail(*cause), out),
            }
        }
    }

    pub(super) fn token_in_hand(
        &mut self,
        now: Micros,
        acq: u64,
        cred: Credential,
        out: &mut Effects,
    ) {
        if let Some(a) = self.acqs.get(&acq) {
            out.record(
                now,
                Event::AttemptEnd {
                    acquisition: acq,
                    attempt: a.attempt,
                    ok: true,
                    cause: None,
                },
            );
        }
        self.finish_acquisition(now, acq, Ok(cred), out);
    }

    pub(super) fn on_attempt_response(
        &mut self,
        now: Micros,
        env: &Envelope,
        acq: u64,
        attempt: u32,
        out: &mut Effects,
    ) {
        let Some(a) = self.acqs.get_mut(&acq) else {
            return;
        };
        if a.attempt != attempt {
            return;
        }
        a.state = AttemptState::Busy;
        let tenant = a.tenant;
        let resp = env.response().expect("a response");
        match self.with_side(now, out, |side, cx| {
            side.on_attempt_response(cx, tenant, resp)
        }) {
            AttemptResult::Token { jwt, exp, persist } => {
                let cred = Credential::Bearer {
                    jwt: jwt.clone(),
                    exp,
                };
                let token = CachedToken { jwt, exp };
                let first = self.side.persists_before_use();
                match persist {
                    // Rotation: persist the new RT (and T) before using T.
                    Some(update) if first && self.external_store() => {
                        let update: crate::roles::partner::RowUpdate = Box::new(move |row| {
                            update(row);
                            row.token = Some(token);
                        });
                        let then = WriteThen::Persist { acq, attempt, cred };
                        self.write_external(now, tenant, Some(env.id), out, update, then);
                    }
                    Some(update) if first => {
                        let res = self.write_row(now, tenant, Some(env.id), out, move |row| {
                            update(row);
                            row.token = Some(token);
                        });
                        let at = now + self.store.cfg.write_cost;
                        let cred = res.ok().map(|_| cred);
                        self.timer(out, at, Timer::PersistDone { acq, attempt, cred });
                    }
                    // No rotation, or `persist_rt_before_use=off`: use T at once; the write
                    // (T, and a rotated RT) is write-behind, and a failed one goes unnoticed.
                    persist => {
                        let update = move |row: &mut crate::roles::store::Row| {
                            if let Some(update) = persist {
                                update(row);
                            }
                            row.token = Some(token)
                        };
                        if self.external_store() {
                            let update = Box::new(update);
                            self.write_external(now, tenant, None, out, update, WriteThen::Nothing);
                        } else {
                            // Off the critical path: recorded without a cause so it is not on
                            // the chain.
                            let _ = self.write_row(now, tenant, None, out, update);
                        }
                        self.token_in_hand(now, acq, cred, out);
                    }
                }
            }
            AttemptResult::ReadBack => {
                let then = ReadThen::ReadBack { acq, attempt };
                self.read_then(now, tenant, out, Some(env.id), then);
            }
            AttemptResult::Await { poll_every } => {
                self.await_delivery(now, acq, attempt, tenant, poll_every, out)
            }
            AttemptResult::Failed { cause, retry } => {
                // F's invocation limit names when to come back (`Retry-After`): P honours it.
                if resp.status == 429
                    && let Some(s) = resp.body.int(crate::roles::quota::RETRY_AFTER)
                    && let Some(a) = self.acqs.get_mut(&acq)
                {
                    a.retry_after = Some(now + s * crate::SEC);
                }
                self.attempt_failed(now, acq, cause, retry, out)
            }
        }
    }
}
