//! Requests at the partner's endpoints (P.auth, P.recv, lifecycle, the OAuth redirect): the
//! mechanism decides, the engine writes the row and answers (or makes the nested call).

use super::api::Inbound;
use super::engine::{Partner, Pending, Timer, WriteThen};
use crate::Micros;
use crate::history::Event;
use crate::message::{Envelope, Response};
use crate::params::LogToken;
use crate::roles::store::StoreFailure;
use crate::roles::{Effects, Outgoing};
use std::sync::Arc;

impl Partner {
    pub(super) fn on_inbound(&mut self, now: Micros, env: Envelope, out: &mut Effects) {
        let env = Arc::new(env);
        let req = env.request().expect("a request");
        if self.cfg.log_token == LogToken::RequestLog {
            // The mutant: the endpoint's request log keeps every header, T included.
            out.record(
                now,
                Event::Log {
                    who: env.to,
                    env: env.clone(),
                },
            );
        }
        let decision = self.with_side(now, out, |side, cx| side.on_inbound(cx, &env, req));
        self.apply_inbound(now, env, decision, out);
    }

    pub(super) fn apply_inbound(
        &mut self,
        now: Micros,
        inbound: Arc<Envelope>,
        decision: Inbound,
        out: &mut Effects,
    ) {
        match decision {
            Inbound::Reply {
                tenant,
                update,
                response,
            } => {
                let (depart, response) = match (tenant, update) {
                    // The answer waits for the external store's commit.
                    (Some(t), Some(update)) if self.external_store() => {
                        let then = WriteThen::Reply {
                            inbound: inbound.clone(),
                            response,
                        };
                        self.write_external(now, t, Some(inbound.id), out, update, then);
                        return;
                    }
                    (Some(t), Some(update)) => {
                        match self.write_row(now, t, Some(inbound.id), out, update) {
                            Ok(commit) => {
                                self.wake_at(out, t, commit);
                                (commit, response)
                            }
                            Err(StoreFailure) => (
                                now + self.store.cfg.write_cost,
                                Response::error(500, "store_write_failed"),
                            ),
                        }
                    }
                    _ => (now, response),
                };
                let id = self.ids.msg();
                out.send
                    .push(Outgoing::reply(id, &inbound, response, depart));
            }
            Inbound::AckThenWrite {
                tenant,
                update,
                response,
                write_at,
            } => {
                if self.external_store() {
                    let cause = Some(inbound.id);
                    let queued = Timer::QueuedWrite {
                        tenant,
                        update,
                        cause,
                    };
                    self.timer(out, write_at, queued);
                } else {
                    if let Ok(commit) =
                        self.write_row(write_at, tenant, Some(inbound.id), out, update)
                    {
                        self.wake_at(out, tenant, commit);
                    }
                }
                let id = self.ids.msg();
                out.send.push(Outgoing::reply(id, &inbound, response, now));
            }
            Inbound::Call { call, tag } => {
                let id = self.send(out, now, inbound.to, call, Some(inbound.id));
                self.pending.insert(id, Pending::Call { inbound, tag });
                if let Some(t) = self.policy.attempt_timeout {
                    self.timer(out, now + t, Timer::CallTimeout { req: id });
                }
            }
        }
    }
}
