//! `push`: proactive push by a scheduled trigger (`mechanisms.md` §2), what shipped in
//! preview. Every `interval`, F mints T and POSTs it to P.recv with a FIT; on timeout or 5xx
//! F retries up to `platform_retries` times, each attempt with a fresh T. There is no
//! on-demand path: a miss fails fast with `no_token`.

use super::common::{accept_token_delivery, deliver_token, lifecycle};
use super::{Acquisition, Facts, Mechanism, MissSteps, Profile};
use crate::Micros;
use crate::choice::Point;
use crate::history::Cause;
use crate::ids::{PartnerEndpoint, Party, TenantId};
use crate::message::{Envelope, Fields, Request, Response};
use crate::params::{Basis, Choice, Kind, ParamSpec, Params, StoreKey, spec};
use crate::roles::partner::{AttemptResult, Inbound, OutRequest, PartnerCx, PartnerSide};
use crate::roles::platform::{Handling, PlatformCx, PlatformSide};
use crate::roles::store::Row;
use rand::RngExt;
use std::collections::BTreeMap;
use std::sync::Arc;

pub struct Push;

/// What `push` is: the facts the report and the suites ask of it.
const FACTS: Facts = Facts {
    id: "push",
    description: "proactive push: F's scheduled trigger delivers a fresh T to P.recv every interval; no on-demand path",
    hops_on_miss: 0,
    acquisition: Acquisition::PushedOnly,
    root_credential: "token",
    revocable: false,
    miss_steps: MissSteps::NONE,
    acquires_from: None,
    browser_consent: false,
    capability_url: false,
    // The first delivery lands within one interval (1h at the defaults).
    warm_up_s: 3600.0,
};

impl Mechanism for Push {
    fn facts(&self) -> &'static Facts {
        &FACTS
    }
    fn switches(&self) -> Vec<ParamSpec> {
        use Basis::*;
        vec![
            spec(
                "interval",
                Kind::Duration,
                "1h",
                Fact,
                "push interval (5m, 1h, 1d, 1w)",
            ),
            spec(
                "platform_retries",
                Kind::Int,
                "4",
                Fact,
                "F's retries of a failed delivery",
            ),
            spec(
                "platform_timeout",
                Kind::Duration,
                "5s",
                Fact,
                "F's per-delivery timeout",
            ),
            spec(
                "platform_backoff",
                Kind::Duration,
                "1s",
                Unverified,
                "F's exponential backoff base",
            ),
            spec(
                "dup_prob",
                Kind::Prob,
                "0.001",
                Unverified,
                "probability a delivery is duplicated",
            ),
            spec(
                "first_push_after_install",
                Kind::Choice(FirstPush::NAMES),
                "uniform",
                Inference,
                "a new installation's first push: uniform = U(0, interval), from the schedule's even phase; immediate = at install (no cold start, a burst when many install at once)",
            ),
            spec(
                "deploy_first_push",
                Kind::Duration,
                "5m",
                Fact,
                "first push after a deploy reset",
            ),
            spec(
                "persist_cache",
                Kind::Switch,
                "on",
                Inference,
                "off: P loses its tokens when it restarts",
            ),
            spec(
                "keep",
                Kind::Choice(Keep::NAMES),
                "max_exp",
                Mutant,
                "last_write: a late retry overwrites a newer T (bug variant)",
            ),
            spec(
                "store_key",
                Kind::Choice(StoreKey::NAMES),
                "fit",
                Mutant,
                "body: P.recv keys T by a tenant id in the body (mutant)",
            ),
        ]
    }
    fn profiles(&self) -> Vec<Profile> {
        vec![Profile {
            name: "shipped",
            description: "what the platform shipped in preview: interval 1h, TTL 4h, 4 retries, 5 s timeout",
            sets: &[
                ("interval", "1h"),
                ("ttl", "4h"),
                ("platform_retries", "4"),
                ("platform_timeout", "5s"),
            ],
        }]
    }
    fn build(&self, params: &Params) -> (Box<dyn PartnerSide>, Box<dyn PlatformSide>) {
        (
            Box::new(PushPartner {
                keep_last_write: params.pick::<Keep>("keep") == Keep::LastWrite,
                store_key: params.pick("store_key"),
                persist: params.bool("persist_cache"),
            }),
            Box::new(PushPlatform {
                interval: params.dur_req("interval"),
                retries: params.int("platform_retries") as u32,
                timeout: params.dur_req("platform_timeout"),
                backoff: params.dur_req("platform_backoff"),
                dup_prob: params.prob("dup_prob"),
                deploy_first: params.dur_req("deploy_first_push"),
                first_push: params.pick("first_push_after_install"),
                generation: 0,
                tags: BTreeMap::new(),
                next_tag: 1,
                started: false,
            }),
        )
    }
}

crate::choice_enum! {
    /// When a new installation's first push comes (`first_push_after_install`).
    enum FirstPush { Uniform = "uniform", Immediate = "immediate" }
}
crate::choice_enum! {
    /// Which of two deliveries P.recv keeps (`keep`; `last_write` is the bug variant).
    enum Keep { MaxExp = "max_exp", LastWrite = "last_write" }
}

struct PushPartner {
    keep_last_write: bool,
    store_key: StoreKey,
    persist: bool,
}

impl PartnerSide for PushPartner {
    fn start_attempt(
        &mut self,
        _cx: &mut PartnerCx<'_>,
        _tenant: TenantId,
        _row: &Row,
    ) -> Result<OutRequest, Cause> {
        // "there's not endpoint currently available to refresh access token" [eco-1107].
        Err(Cause::NoToken)
    }
    fn on_attempt_response(
        &mut self,
        _cx: &mut PartnerCx<'_>,
        _tenant: TenantId,
        _resp: &Response,
    ) -> AttemptResult {
        AttemptResult::Failed {
            cause: Cause::NoToken,
            retry: false,
        }
    }
    fn on_inbound(&mut self, cx: &mut PartnerCx<'_>, _env: &Envelope, req: &Request) -> Inbound {
        match req.route {
            "POST /push" => accept_token_delivery(cx, req, self.keep_last_write, self.store_key).0,
            "POST /lifecycle" => lifecycle(cx, req, &[], true),
            _ => Inbound::Reply {
                tenant: None,
                update: None,
                response: Response::error(404, "no_such_route"),
            },
        }
    }
    fn persists_tokens(&self) -> bool {
        self.persist
    }
}

#[derive(Clone, Copy)]
enum Tag {
    /// The scheduled slot of a tenant, in a schedule generation (a deploy starts a new one).
    Slot { tenant: TenantId, generation: u64 },
    /// Delivery attempt `attempt` of one push.
    Attempt { tenant: TenantId, attempt: u32 },
}

struct PushPlatform {
    interval: Micros,
    retries: u32,
    timeout: Micros,
    backoff: Micros,
    dup_prob: f64,
    deploy_first: Micros,
    first_push: FirstPush,
    generation: u64,
    tags: BTreeMap<u64, Tag>,
    next_tag: u64,
    started: bool,
}

impl PushPlatform {
    fn tag(&mut self, t: Tag) -> u64 {
        let id = self.next_tag;
        self.next_tag += 1;
        self.tags.insert(id, t);
        id
    }

    fn schedule(&mut self, cx: &mut PlatformCx<'_>, tenant: TenantId, at: Micros) {
        let tag = self.tag(Tag::Slot {
            tenant,
            generation: self.generation,
        });
        cx.set_timer(at, tag);
    }

    /// A schedule's first push: U(0, interval), or under guidance at once, after half an
    /// interval or just before a whole one; with `first_push_after_install=immediate`, at once.
    fn phase(&self, cx: &mut PlatformCx<'_>) -> Micros {
        if self.first_push == FirstPush::Immediate {
            return 0;
        }
        match cx.choices.pick(Point::PushPhase, 3) {
            None => cx.rng.random_range(0..self.interval),
            Some(0) => 0,
            Some(1) => self.interval / 2,
            Some(_) => self.interval - 1,
        }
    }

    fn deliver(&mut self, cx: &mut PlatformCx<'_>, tenant: TenantId, attempt: u32) {
        // Every attempt rechecks the installation and mints afresh.
        if !cx.may_issue(tenant) {
            return;
        }
        let arity = if self.dup_prob > 0.0 { 2 } else { 1 };
        let duplicate = match cx.choices.pick(Point::PushDuplicate, arity) {
            None => cx.rng.random::<f64>() < self.dup_prob,
            Some(k) => k == 1,
        };
        let copies = if duplicate { 2 } else { 1 };
        for _ in 0..copies {
            let tag = self.tag(Tag::Attempt { tenant, attempt });
            deliver_token(
                cx,
                tenant,
                Party::Partner(PartnerEndpoint::Recv),
                "POST /push",
                None,
                Some(self.timeout),
                tag,
                Fields::new(),
            );
        }
    }
}

impl PlatformSide for PushPlatform {
    fn on_install(&mut self, cx: &mut PlatformCx<'_>, tenant: TenantId) {
        cx.send_lifecycle(tenant, "installed", crate::message::Fields::new());
        if self.started {
            let phase = self.phase(cx);
            self.schedule(cx, tenant, cx.now + phase);
        }
    }

    fn on_start(&mut self, cx: &mut PlatformCx<'_>, tenants: &[TenantId]) {
        self.started = true;
        // Every install counts as completed at t=0: first push after U(0, interval).
        for t in tenants {
            let phase = self.phase(cx);
            self.schedule(cx, *t, cx.now + phase);
        }
    }

    fn on_request(
        &mut self,
        _cx: &mut PlatformCx<'_>,
        _env: &Arc<Envelope>,
        _req: &Request,
    ) -> Handling {
        Handling::Reply {
            response: Response::error(404, "no_such_route"),
            after: 0,
        }
    }

    fn on_timer(&mut self, cx: &mut PlatformCx<'_>, tag: u64) {
        match self.tags.remove(&tag) {
            Some(Tag::Slot { tenant, generation })
                if generation == self.generation && cx.installed(tenant) =>
            {
                self.deliver(cx, tenant, 0);
                self.schedule(cx, tenant, cx.now + self.interval);
            }
            Some(Tag::Attempt { tenant, attempt }) => self.deliver(cx, tenant, attempt),
            _ => {}
        }
    }

    fn on_call_response(&mut self, cx: &mut PlatformCx<'_>, tag: u64, resp: Option<&Response>) {
        let Some(Tag::Attempt { tenant, attempt }) = self.tags.remove(&tag) else {
            return;
        };
        let ok = resp.is_some_and(|r| r.is_success());
        if !ok && attempt < self.retries {
            let wait = self.backoff.saturating_mul(1 << attempt.min(20));
            let retry = self.tag(Tag::Attempt {
                tenant,
                attempt: attempt + 1,
            });
            cx.set_timer(cx.now + wait, retry);
        }
    }

    fn on_deploy_reset(&mut self, cx: &mut PlatformCx<'_>) {
        self.generation += 1;
        let tenants = cx.registry.installed_tenants();
        for t in tenants {
            self.schedule(cx, t, cx.now + self.deploy_first);
        }
    }
}
