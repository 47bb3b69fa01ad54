//! The partner's mechanism-author API: what a [`PartnerSide`] implements and what it may use
//! ([`PartnerCx`]). Nothing here knows about retries, timers or single flight.

use super::PartnerConfig;
use super::keys::KeyLookup;
use crate::Micros;
use crate::history::{Cause, Event};
use crate::ids::{Party, TenantId};
use crate::message::{Envelope, Request, Response, Value};
use crate::params::{JwksFail, ReadFrom, SenderConstraint};
use crate::roles::Effects;
use crate::roles::store::{Row, Store};
use crate::secret::{Jwt, Secret};
use crate::token::{FitClaims, FitVerifier, JwtError};
use rand_chacha::ChaCha8Rng;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::sync::Arc;

/// What P.app presents to the product API.
#[derive(Clone, Debug)]
pub enum Credential {
    /// A bearer access token T with its expiry.
    Bearer { jwt: Jwt, exp: Micros },
    /// A per-installation key P signs each request with (Connect's `sharedSecret`).
    SigningKey { secret: Secret },
}

/// A request a mechanism wants sent.
#[derive(Clone, Debug)]
pub struct OutRequest {
    pub to: Party,
    pub req: Request,
}

/// A change to one tenant's row.
pub type RowUpdate = Box<dyn FnOnce(&mut Row) + Send>;

/// How an acquisition attempt's response was judged.
pub enum AttemptResult {
    /// T in hand. `persist`, if any, is committed before T is used (rotated RT).
    Token {
        jwt: Jwt,
        exp: Micros,
        persist: Option<RowUpdate>,
    },
    /// The platform answered 2xx and T is in the store: read it back (trigger).
    ReadBack,
    /// The platform accepted the request and delivers T later (trigger `mode=async`): wait
    /// for P.auth's commit (`None`), or re-read the store every `poll_every`.
    Await {
        poll_every: Option<Micros>,
    },
    Failed {
        cause: Cause,
        retry: bool,
    },
}

/// How a partner endpoint answers an inbound request.
pub enum Inbound {
    /// Optionally write `update` to `tenant`'s row (cost t_w; a failed write answers 500),
    /// then send `response` when the write commits.
    Reply {
        tenant: Option<TenantId>,
        update: Option<RowUpdate>,
        response: Response,
    },
    /// Acknowledge at once and commit `update` later, starting at `write_at` (a queued write:
    /// the ack no longer means "ready to be read").
    AckThenWrite {
        tenant: TenantId,
        update: RowUpdate,
        response: Response,
        write_at: Micros,
    },
    /// Make a nested call first; its response goes to [`PartnerSide::on_call_response`]
    /// with `tag`, which then decides the reply.
    Call { call: OutRequest, tag: u64 },
}

/// The mechanism-specific part of the partner.
pub trait PartnerSide: Send {
    /// A usable credential in a stored row. Default: the cached T, valid while
    /// `now < exp − margin` when `check_exp` is on.
    fn credential(
        &self,
        row: &Row,
        now: Micros,
        check_exp: bool,
        margin: Micros,
    ) -> Option<Credential> {
        let t = row.token.as_ref()?;
        (!check_exp || now < t.exp - margin).then(|| Credential::Bearer {
            jwt: t.jwt.clone(),
            exp: t.exp,
        })
    }
    /// The `authorization` value of an API call. Default: the bearer T.
    fn authorize(&self, _cx: &mut PartnerCx<'_>, cred: &Credential, _req: &Request) -> Value {
        match cred {
            Credential::Bearer { jwt, .. } => Value::Jwt(jwt.clone()),
            Credential::SigningKey { secret } => Value::Secret(secret.clone()),
        }
    }
    /// Starts one acquisition attempt for `tenant`, or says why there is no on-demand path.
    fn start_attempt(
        &mut self,
        cx: &mut PartnerCx<'_>,
        tenant: TenantId,
        row: &Row,
    ) -> Result<OutRequest, Cause>;
    /// Judges the response to an attempt.
    fn on_attempt_response(
        &mut self,
        cx: &mut PartnerCx<'_>,
        tenant: TenantId,
        resp: &Response,
    ) -> AttemptResult;
    /// An inbound request at a partner endpoint.
    fn on_inbound(&mut self, cx: &mut PartnerCx<'_>, env: &Envelope, req: &Request) -> Inbound;
    /// The response to a nested call made by [`Inbound::Call`] (`None`: it timed out).
    fn on_call_response(
        &mut self,
        _cx: &mut PartnerCx<'_>,
        _tag: u64,
        _resp: Option<&Response>,
    ) -> Inbound {
        Inbound::Reply {
            tenant: None,
            update: None,
            response: Response::error(500, "unexpected_call"),
        }
    }
    /// The process restarted and lost its memory.
    fn reset_volatile(&mut self) {}
    /// Whether a rotated RT is committed before T is used (`persist_rt_before_use`; off, the
    /// write is write-behind and a failed one loses the RT).
    fn persists_before_use(&self) -> bool {
        true
    }
    /// Whether cached tokens survive a restart (push `persist_cache=off` says no).
    fn persists_tokens(&self) -> bool {
        true
    }
    /// Where P.app reads its store (trigger's `read_from`).
    fn read_from(&self) -> ReadFrom {
        ReadFrom::Primary
    }
    /// Whether P's credentials are bound to its key (`sender_constraint`).
    fn sender_constraint(&self) -> SenderConstraint {
        SenderConstraint::None
    }
}

/// FIT `jti` → (its exp, the body it first came with), while the FIT is live. Expiry pops a
/// min-heap keyed by `exp` instead of scanning every entry on each bind (a linear scan per
/// FIT made provisioning quadratic in the number of live FITs).
#[derive(Default)]
pub struct FitBodies {
    by_jti: BTreeMap<String, (i64, String)>,
    /// One entry per `by_jti` entry (an entry is only ever inserted when absent and only
    /// removed here), so a popped `jti` is always the live one.
    by_exp: BinaryHeap<Reverse<(i64, String)>>,
}

impl FitBodies {
    /// Drops every entry whose FIT expired before `now` (NumericDate seconds): the entries
    /// with `exp >= now` stay, as the linear `retain` it replaces kept them.
    pub fn expire(&mut self, now: i64) {
        while let Some(Reverse((exp, _))) = self.by_exp.peek()
            && *exp < now
        {
            let Some(Reverse((_, jti))) = self.by_exp.pop() else {
                break;
            };
            self.by_jti.remove(&jti);
        }
    }

    /// The first body bound to `jti` wins: true when `body` is that body.
    pub fn bind(&mut self, jti: &str, exp: i64, body: String) -> bool {
        match self.by_jti.get(jti) {
            Some((_, first)) => *first == body,
            None => {
                self.by_jti.insert(jti.to_owned(), (exp, body));
                self.by_exp.push(Reverse((exp, jti.to_owned())));
                true
            }
        }
    }

    /// Live entries.
    pub fn len(&self) -> usize {
        self.by_jti.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_jti.is_empty()
    }
}

/// What a [`PartnerSide`] may use while handling an input.
pub struct PartnerCx<'a> {
    pub now: Micros,
    pub rng: &'a mut ChaCha8Rng,
    pub store: &'a Store,
    pub(super) cfg: &'a PartnerConfig,
    pub(super) fit: &'a FitVerifier,
    pub(super) jwks_reachable: bool,
    pub(super) keys: Option<&'a mut super::keys::KeyCache>,
    /// The unverified claims of the last FIT refused because P had not learnt its key (with a
    /// key schedule only), so its `jti` can be bound to the body it came with.
    pub(super) unlearnt: Option<FitClaims>,
    pub(super) fit_bodies: &'a mut FitBodies,
    pub(super) out: &'a mut Effects,
}

impl PartnerCx<'_> {
    /// The world's time origin, for NumericDates the partner writes (Connect JWTs).
    pub fn epoch(&self) -> crate::token::Epoch {
        self.fit.epoch()
    }
    /// What P.lifecycle does with a tenant's row at `uninstalled` (`partner_retention`).
    pub fn retention(&self) -> crate::params::PartnerRetention {
        self.cfg.partner_retention
    }
}

/// Why a FIT was refused at a partner endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FitRefusal {
    Missing,
    Invalid(JwtError),
    JwksUnreachable,
}

impl PartnerCx<'_> {
    /// Verifies a FIT as P.auth / P.recv do, honouring `fit_check` and `jwks_fail`.
    /// Returns the claims (or, with the check switched off, `None` as "accepted unchecked").
    pub fn check_fit(&mut self, fit: Option<&Jwt>) -> Result<Option<FitClaims>, FitRefusal> {
        if !self.cfg.fit_check {
            return Ok(None);
        }
        if let Some(keys) = self.keys.as_deref_mut() {
            // F rotates its key: the FIT's `kid` picks a key from P's cached set.
            let fit = fit.ok_or(FitRefusal::Missing)?;
            let kid = crate::token::header_kid(fit);
            let refusal = match keys.lookup(kid.as_deref(), self.now, self.jwks_reachable) {
                KeyLookup::Found(v) => {
                    return v
                        .verify_audience(fit, self.now, self.cfg.fit_audience_check)
                        .map(Some)
                        .map_err(FitRefusal::Invalid);
                }
                KeyLookup::Unchecked => return Ok(None),
                KeyLookup::Unreachable if self.cfg.jwks_fail == JwksFail::Open => return Ok(None),
                KeyLookup::Unreachable => FitRefusal::JwksUnreachable,
                KeyLookup::Unknown => FitRefusal::Invalid(JwtError::UnknownKey),
            };
            // A genuine FIT refused only because P has not learnt its key yet must not be
            // replayable with another body once P has: remember its `jti` (unverified) with
            // the body it came with ([`PartnerCx::bind_unlearnt`]).
            if self.cfg.keys.refused_fit_binding {
                self.unlearnt =
                    jsonwebtoken::dangerous::insecure_decode_claims::<FitClaims>(fit.expose()).ok();
            }
            return Err(refusal);
        }
        if !self.jwks_reachable {
            return if self.cfg.jwks_fail == JwksFail::Open {
                Ok(None)
            } else {
                Err(FitRefusal::JwksUnreachable)
            };
        }
        let fit = fit.ok_or(FitRefusal::Missing)?;
        self.fit
            .verify_audience(fit, self.now, self.cfg.fit_audience_check)
            .map(Some)
            .map_err(FitRefusal::Invalid)
    }
    /// Binds a verified FIT to the body it came with: the first body for a `jti` wins, the
    /// same body again is a duplicate delivery (accepted, idempotent), another body is a
    /// replayed FIT carrying a forged one (refused). `check` is the endpoint's switch
    /// (`fit_replay_check` at P.auth / P.recv, `lifecycle_fit_replay_check` at P.lifecycle);
    /// off (a mutant), every body is accepted. Entries are dropped once their FIT has expired
    /// (a later replay fails the FIT's `exp` check instead).
    pub fn bind_fit_body(&mut self, claims: &FitClaims, body: String) -> bool {
        self.bind(claims, body, self.cfg.fit_replay_check)
    }
    /// After a refusal for a key P had not learnt: binds that FIT's `jti` to `body` as
    /// [`PartnerCx::bind_fit_body`] (`hook`: as [`PartnerCx::bind_hook_fit_body`]) would have,
    /// so that the first body a FIT came with stays the only one P will take with it.
    pub fn bind_unlearnt(&mut self, body: String, hook: bool) {
        if let Some(c) = self.unlearnt.take() {
            let check = if hook {
                self.cfg.lifecycle_fit_replay_check
            } else {
                self.cfg.fit_replay_check
            };
            self.bind(&c, body, check);
        }
    }
    /// [`PartnerCx::bind_fit_body`] for P.lifecycle's hook FITs.
    pub fn bind_hook_fit_body(&mut self, claims: &FitClaims, body: String) -> bool {
        self.bind(claims, body, self.cfg.lifecycle_fit_replay_check)
    }
    fn bind(&mut self, claims: &FitClaims, body: String, check: bool) -> bool {
        if !check {
            return true;
        }
        let now = self.fit.epoch().numeric_date(self.now);
        self.fit_bodies.expire(now);
        self.fit_bodies.bind(&claims.jti, claims.exp, body)
    }
    /// The newest version of a tenant's row at the primary.
    pub fn row(&self, tenant: TenantId) -> Arc<Row> {
        self.store.latest(tenant)
    }
    pub fn record(&mut self, event: Event) {
        self.out.record(self.now, event);
    }
}

#[cfg(test)]
mod fit_bodies_tests {
    use super::FitBodies;

    /// The heap drops exactly what `retain(exp >= now)` dropped, and the first body wins.
    #[test]
    fn expiry_matches_the_linear_scan_and_the_first_body_wins() {
        let mut b = FitBodies::default();
        let mut naive: std::collections::BTreeMap<String, (i64, String)> = Default::default();
        let (mut replayed, mut expired) = (0, 0);
        for step in 0..400i64 {
            let now = step / 3;
            let before = b.len();
            b.expire(now);
            naive.retain(|_, (exp, _)| *exp >= now);
            expired += before - b.len();
            let jti = format!("j{}", step % 7);
            let exp = now + (step * 13) % 11;
            let body = format!("b{}", step % 4);
            let first = naive
                .entry(jti.clone())
                .or_insert((exp, body.clone()))
                .1
                .clone();
            assert_eq!(
                b.bind(&jti, exp, body.clone()),
                first == body,
                "step {step}"
            );
            replayed += usize::from(first != body);
            assert_eq!(b.len(), naive.len(), "step {step}");
        }
        // Both paths were exercised: a live jti with another body, and expiry.
        assert!(
            replayed > 0 && expired > 0,
            "{replayed} replays, {expired} expired"
        );
    }
}
