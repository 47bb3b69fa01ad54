//! An asynchronous acquisition (issue 12, H3: trigger `mode=async`): the platform answered
//! "accepted" at once and delivers T later to P.auth. P.app either waits for P.auth to
//! signal the commit for its tenant (`wait`: an in-process wake-up keyed by the tenant the
//! correlation id named) or re-reads its store every `poll_every` (`poll`), in both cases
//! until the attempt's timeout, after which the attempt fails as a `timeout` and the usual
//! retry policy applies. The pending entries this needs are the partner-side state H3 asks
//! about.

use super::api::Credential;
use super::engine::{Partner, ReadThen, Timer};
use crate::history::Cause;
use crate::ids::TenantId;
use crate::roles::Effects;
use crate::{Micros, SEC};

/// Timers of an awaited acquisition.
pub(super) enum AwaitTimer {
    /// Time for the next poll of the store.
    PollStart {
        acq: u64,
        attempt: u32,
        every: Micros,
        deadline: Micros,
    },
    /// A poll's read completed.
    PollDone {
        acq: u64,
        attempt: u32,
        every: Micros,
        deadline: Micros,
        cred: Option<Credential>,
    },
    /// P.auth committed a delivery for this tenant (wait): read it back.
    Wake { tenant: TenantId },
    /// Nothing came within the attempt's timeout.
    GiveUp { acq: u64, attempt: u32 },
}

/// How long an awaited attempt may last without a per-attempt timeout (`timeout=none`).
const UNBOUNDED_WAIT: Micros = 3600 * SEC;

impl Partner {
    fn live(&self, acq: u64, attempt: u32) -> bool {
        self.acqs.get(&acq).is_some_and(|a| a.attempt == attempt)
    }

    /// The platform accepted the request: wait for the delivery, or poll for it.
    pub(super) fn await_delivery(
        &mut self,
        now: Micros,
        acq: u64,
        attempt: u32,
        tenant: TenantId,
        poll_every: Option<Micros>,
        out: &mut Effects,
    ) {
        let deadline = now + self.policy.attempt_timeout.unwrap_or(UNBOUNDED_WAIT);
        match poll_every {
            Some(every) => self.poll_later(out, now, acq, attempt, every, deadline),
            None => {
                self.awaiting.insert(tenant, (acq, attempt));
                self.timer(
                    out,
                    deadline,
                    Timer::Await(AwaitTimer::GiveUp { acq, attempt }),
                );
            }
        }
    }

    fn poll_later(
        &mut self,
        out: &mut Effects,
        now: Micros,
        acq: u64,
        attempt: u32,
        every: Micros,
        deadline: Micros,
    ) {
        let t = AwaitTimer::PollStart {
            acq,
            attempt,
            every,
            deadline,
        };
        self.timer(out, now + every, Timer::Await(t));
    }

    /// P.auth's write for `tenant` commits at `commit`: a waiting P.app reads it then.
    pub(super) fn wake_at(&mut self, out: &mut Effects, tenant: TenantId, commit: Micros) {
        if self.awaiting.contains_key(&tenant) {
            self.timer(out, commit, Timer::Await(AwaitTimer::Wake { tenant }));
        }
    }

    pub(super) fn on_await_timer(&mut self, now: Micros, t: AwaitTimer, out: &mut Effects) {
        match t {
            AwaitTimer::PollStart {
                acq,
                attempt,
                every,
                deadline,
            } => {
                if let Some(tenant) = self.acqs.get(&acq).map(|a| a.tenant)
                    && self.live(acq, attempt)
                {
                    let then = ReadThen::Poll {
                        acq,
                        attempt,
                        every,
                        deadline,
                    };
                    self.read_then(now, tenant, out, None, then);
                }
            }
            AwaitTimer::PollDone {
                acq,
                attempt,
                every,
                deadline,
                cred,
            } => {
                if !self.live(acq, attempt) {
                    return;
                }
                match cred {
                    Some(c) => self.token_in_hand(now, acq, c, out),
                    None if now + every <= deadline => {
                        self.poll_later(out, now, acq, attempt, every, deadline)
                    }
                    None => self.attempt_failed(now, acq, Cause::Timeout, true, out),
                }
            }
            AwaitTimer::Wake { tenant } => {
                if let Some((acq, attempt)) = self.awaiting.remove(&tenant)
                    && self.live(acq, attempt)
                {
                    let then = ReadThen::ReadBack { acq, attempt };
                    self.read_then(now, tenant, out, None, then);
                }
            }
            AwaitTimer::GiveUp { acq, attempt } => {
                let Some(tenant) = self.acqs.get(&acq).map(|a| a.tenant) else {
                    return;
                };
                if self.awaiting.get(&tenant) == Some(&(acq, attempt)) {
                    self.awaiting.remove(&tenant);
                    self.attempt_failed(now, acq, Cause::Timeout, true, out);
                }
            }
        }
    }
}
