//! `refresh`: a refresh-token grant with one RT per installation (`mechanisms.md` §3).
//! P → AS `grant_type=refresh_token`; AS → P `{access_token, expires_in[, refresh_token']}`.
//! With rotation the new RT is persisted (t_w) before T is used; a lost response leaves P
//! with a superseded RT (K1), which a grace window absorbs (K2, FAPI) and reuse detection
//! punishes by revoking the family.

use super::common::{as_request, judge_token_response, lifecycle, token_response};
use super::{Acquisition, Facts, Group, Mechanism, MissSteps, Profile};
use crate::Micros;
use crate::history::{Cause, Event, ItemKind};
use crate::ids::{PartnerEndpoint, Party, TenantId};
use crate::message::{Envelope, Fields, Request, Response, Value};
use crate::params::{Basis, Choice, Kind, ParamSpec, Params, Revocation, SenderConstraint, spec};
use crate::roles::partner::{AttemptResult, Inbound, OutRequest, PartnerCx, PartnerSide};
use crate::roles::platform::{Handling, PlatformCx, PlatformSide};
use crate::roles::store::Row;
use crate::secret::Secret;
use std::collections::BTreeMap;
use std::sync::Arc;

pub struct Refresh;

/// Rotation switches shared with `upm-oauth`.
pub fn rotation_specs(grace_default: &'static str) -> Vec<ParamSpec> {
    use Basis::*;
    vec![
        spec(
            "rotation",
            Kind::Switch,
            "on",
            Fact,
            "a new RT replaces the old one at every refresh",
        ),
        spec(
            "reuse_detection",
            Kind::Switch,
            "on",
            Fact,
            "a superseded RT outside the grace window revokes the family",
        ),
        spec(
            "grace_window",
            Kind::Duration,
            grace_default,
            Fact,
            "a superseded RT still works this long (FAPI)",
        ),
        spec(
            "grace_reply",
            Kind::Choice(GraceReply::NAMES),
            "current",
            Inference,
            "a retry inside the grace window gets the family's current RT (current, Okta) or a new one that supersedes it (rotate)",
        ),
        spec(
            "planted_race",
            Kind::Switch,
            "off",
            Mutant,
            "test-only planted bug: a superseded RT presented within 1 ms of the family's last presentation is taken for a retry (proves that exploration finds what sampling misses)",
        ),
        spec(
            "reuse_action",
            Kind::Choice(ReuseAction::NAMES),
            "revoke",
            Mutant,
            "what detected reuse does: revoke the family and refuse (revoke); keep_family: refuse but leave the family live, accept: let it through as a retry (mutants)",
        ),
        spec(
            "as_binding",
            Kind::Switch,
            "on",
            Mutant,
            "the AS refuses an RT presented for another installation (off: mutant, it mints for the tenant asked)",
        ),
        spec(
            "client_binding",
            Kind::Switch,
            "on",
            Mutant,
            "the AS refuses an RT presented by a client other than the one it was issued to (RFC 6749 §6, §10.4; with `apps=2`; off: mutant)",
        ),
        spec(
            "rt_max_life",
            Kind::Duration,
            "365d",
            Unverified,
            "absolute RT lifetime (3LO value)",
        ),
        spec(
            "rt_idle_expiry",
            Kind::Duration,
            "90d",
            Unverified,
            "an RT family unused this long is refused (3LO value): a thief who waits past it gains nothing, and so does an idle partner",
        ),
        spec(
            "rt_expiry_check",
            Kind::Switch,
            "on",
            Mutant,
            "the AS refuses an RT past `rt_max_life` or of a family unused for `rt_idle_expiry` (off: mutant, an RT never expires)",
        ),
        spec(
            "persist_rt_before_use",
            Kind::Switch,
            "on",
            Inference,
            "P commits a rotated RT before it uses T (off: write-behind, a failed write loses the RT and the next refresh presents a superseded one)",
        ),
    ]
}

/// What `refresh` is: the facts the report and the suites ask of it.
const FACTS: Facts = Facts {
    id: "refresh",
    description: "refresh-token grant: P holds a per-installation RT and asks the AS for T on demand",
    hops_on_miss: 2,
    acquisition: Acquisition::OnDemand,
    root_credential: "refresh_token",
    revocable: true,
    miss_steps: MissSteps {
        mints: 1,
        store_writes: 1,
        store_reads: 0,
    },
    acquires_from: Some(Group::AuthServer),
    browser_consent: false,
    capability_url: false,
    warm_up_s: 0.0,
};

impl Mechanism for Refresh {
    fn facts(&self) -> &'static Facts {
        &FACTS
    }
    fn switches(&self) -> Vec<ParamSpec> {
        let mut v = rotation_specs("30s");
        v.push(spec(
            "sender_constraint",
            Kind::Choice(&["none", "mtls", "dpop"]),
            "none",
            Basis::Fact,
            "RT and T usable only with P's key (RFC 8705 mTLS, RFC 9449 DPoP)",
        ));
        v.push(user_grant_spec());
        v
    }
    fn profiles(&self) -> Vec<Profile> {
        vec![Profile {
            name: "3lo",
            description: "Atlassian 3LO style: rotation with reuse detection and no grace window",
            sets: &[
                ("rotation", "on"),
                ("reuse_detection", "on"),
                ("grace_window", "0"),
            ],
        }]
    }
    fn build(&self, params: &Params) -> (Box<dyn PartnerSide>, Box<dyn PlatformSide>) {
        // The one place refresh reads its switches (the rotation set through RtPolicy).
        let sender_constraint = params.pick("sender_constraint");
        (
            Box::new(RefreshPartner {
                sender_constraint,
                persist_first: params.bool("persist_rt_before_use"),
            }),
            Box::new(RefreshPlatform {
                authority: RtAuthority::new(RtPolicy::from_params(params)),
                sender_constraint,
            }),
        )
    }
}

/// `user_grant` (H12), shared with `upm-oauth`: read by the principal layer
/// (`principals.rs`), not by the simulated workload.
pub fn user_grant_spec() -> ParamSpec {
    spec(
        "user_grant",
        Kind::Switch,
        "off",
        Basis::Inference,
        "each user who consents gets an RT bound to that user (a user T acts as that user only); P keeps the app's RT too; needs users=N",
    )
}

/// P.app's side of the refresh grant, shared with `upm-oauth`.
pub struct RefreshPartner {
    pub sender_constraint: SenderConstraint,
    /// `persist_rt_before_use`.
    pub persist_first: bool,
}

pub fn refresh_request(tenant: TenantId, row: &Row) -> Result<OutRequest, Cause> {
    let Some(Value::Secret(rt)) = row.items.get("refresh_token") else {
        return Err(Cause::Rejected);
    };
    let mut body = Fields::new()
        .with("grant_type", Value::Str("refresh_token".into()))
        .with("refresh_token", Value::Secret(rt.clone()))
        .with("client_id", Value::Str(crate::ids::APP_ID.into()));
    if let Some(Value::Secret(cs)) = row.items.get("client_secret") {
        body.0.push(("client_secret", Value::Secret(cs.clone())));
    }
    Ok(as_request(tenant, body))
}

impl PartnerSide for RefreshPartner {
    fn start_attempt(
        &mut self,
        _cx: &mut PartnerCx<'_>,
        tenant: TenantId,
        row: &Row,
    ) -> Result<OutRequest, Cause> {
        refresh_request(tenant, row)
    }
    fn on_attempt_response(
        &mut self,
        _cx: &mut PartnerCx<'_>,
        _tenant: TenantId,
        resp: &Response,
    ) -> AttemptResult {
        judge_token_response(resp, "refresh_token")
    }
    fn sender_constraint(&self) -> SenderConstraint {
        self.sender_constraint
    }
    fn persists_before_use(&self) -> bool {
        self.persist_first
    }
    fn on_inbound(&mut self, cx: &mut PartnerCx<'_>, _env: &Envelope, req: &Request) -> Inbound {
        match req.route {
            "POST /lifecycle" => lifecycle(cx, req, &["refresh_token"], true),
            _ => Inbound::Reply {
                tenant: None,
                update: None,
                response: Response::error(404, "no_such_route"),
            },
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RtStatus {
    Current,
    Superseded { at: Micros },
}

struct RtState {
    tenant: TenantId,
    family: u64,
    status: RtStatus,
    issued_at: Micros,
}

crate::choice_enum! {
    /// What a grace-window retry is handed (`grace_reply`).
    pub enum GraceReply { Current = "current", Rotate = "rotate" }
}

crate::choice_enum! {
    /// What detected reuse does (`reuse_action`; the non-default values are mutants).
    pub enum ReuseAction { Revoke = "revoke", KeepFamily = "keep_family", Accept = "accept" }
}

struct Family {
    /// The client the family was issued to (app A's, or with `apps=2` app B's).
    client: &'static str,
    current: Secret,
    revoked: bool,
    /// When an RT of this family was last presented (the planted bug's trigger).
    last_presented: Option<Micros>,
    /// When the family was issued or last redeemed (`rt_idle_expiry` counts from here).
    last_used: Micros,
}

/// The switches of [`rotation_specs`], typed.
#[derive(Clone, Copy, Debug)]
pub struct RtPolicy {
    pub rotation: bool,
    pub reuse_detection: bool,
    pub grace: Micros,
    pub max_life: Micros,
    /// A family unused this long is refused (`rt_idle_expiry`).
    pub idle_expiry: Micros,
    /// The AS refuses an expired or idle RT (`rt_expiry_check`; off: mutant).
    pub expiry_check: bool,
    /// The AS refuses an RT presented for another installation (off: mutant).
    pub as_binding: bool,
    /// The AS refuses an RT presented by another client than its own (off: mutant).
    pub client_binding: bool,
    pub grace_reply: GraceReply,
    /// What detected reuse does (non-default: mutants).
    pub reuse_action: ReuseAction,
    /// Test-only planted bug (`planted_race`).
    pub planted_race: bool,
}

impl RtPolicy {
    /// The one place the rotation switches (declared by [`rotation_specs`]) are read.
    pub fn from_params(params: &Params) -> RtPolicy {
        RtPolicy {
            rotation: params.bool("rotation"),
            reuse_detection: params.bool("reuse_detection"),
            grace: params.dur_req("grace_window"),
            max_life: params.dur_req("rt_max_life"),
            idle_expiry: params.dur_req("rt_idle_expiry"),
            expiry_check: params.bool("rt_expiry_check"),
            as_binding: params.bool("as_binding"),
            client_binding: params.bool("client_binding"),
            grace_reply: params.pick::<GraceReply>("grace_reply"),
            reuse_action: params.pick::<ReuseAction>("reuse_action"),
            planted_race: params.bool("planted_race"),
        }
    }
}

/// Whether a superseded RT presented `since` after its rotation is still a grace-window retry
/// (`grace` long): the window includes its last instant, as P9 judges it, so with no window
/// only a retry in the rotation's own instant is one.
pub fn within_grace(since: Micros, grace: Micros) -> bool {
    since <= grace
}

/// The AS's refresh-token bookkeeping: families, rotation, grace and reuse detection.
pub struct RtAuthority {
    rts: BTreeMap<Secret, RtState>,
    families: BTreeMap<u64, Family>,
    by_tenant: BTreeMap<TenantId, Vec<u64>>,
    policy: RtPolicy,
}

impl RtAuthority {
    pub fn new(policy: RtPolicy) -> RtAuthority {
        RtAuthority {
            rts: BTreeMap::new(),
            families: BTreeMap::new(),
            by_tenant: BTreeMap::new(),
            policy,
        }
    }

    /// A new RT family for a tenant; returns its first RT.
    pub fn new_family(&mut self, cx: &mut PlatformCx<'_>, tenant: TenantId, to: Party) -> Secret {
        self.new_family_for(cx, crate::ids::APP_ID, tenant, to)
    }

    /// [`RtAuthority::new_family`] for `client`.
    pub fn new_family_for(
        &mut self,
        cx: &mut PlatformCx<'_>,
        client: &'static str,
        tenant: TenantId,
        to: Party,
    ) -> Secret {
        let family = self.families.len() as u64 + 1;
        let rt = cx.issue_secret(
            ItemKind::RefreshToken,
            "rt",
            tenant,
            to,
            Some(cx.now + self.policy.max_life),
        );
        self.rts.insert(
            rt.clone(),
            RtState {
                tenant,
                family,
                status: RtStatus::Current,
                issued_at: cx.now,
            },
        );
        self.families.insert(
            family,
            Family {
                client,
                current: rt.clone(),
                revoked: false,
                last_presented: None,
                last_used: cx.now,
            },
        );
        self.by_tenant.entry(tenant).or_default().push(family);
        rt
    }

    /// `apps=2`: a family of client B for `tenant`, issued to app B's backend (the attacker's),
    /// as the field F's invocation of app B carries.
    pub fn app_b_grant(
        &mut self,
        cx: &mut PlatformCx<'_>,
        tenant: TenantId,
    ) -> (&'static str, Value) {
        let rt = self.new_family_for(cx, crate::ids::APP_B_ID, tenant, Party::Attacker);
        ("refresh_token", Value::Secret(rt))
    }

    /// Revokes every family of a tenant (uninstall, revoke button).
    pub fn revoke_tenant(&mut self, cx: &PlatformCx<'_>, tenant: TenantId) {
        if cx.cfg.revocation == Revocation::Ignored {
            return;
        }
        for f in self.by_tenant.get(&tenant).into_iter().flatten() {
            if let Some(fam) = self.families.get_mut(f) {
                fam.revoked = true;
            }
        }
    }

    /// The refresh grant. Answers after the mint time.
    pub fn redeem(&mut self, cx: &mut PlatformCx<'_>, env: &Envelope, req: &Request) -> Handling {
        let reject = |code| Handling::Reply {
            response: Response::error(400, code),
            after: 0,
        };
        let Some(rt) = req.body.secret("refresh_token") else {
            return reject("invalid_request");
        };
        let Some(state) = self.rts.get(rt) else {
            return reject("invalid_grant");
        };
        // A rotated RT inherits `issued_at`: the family's first issue.
        let (bound, family, family_issued) = (state.tenant, state.family, state.issued_at);
        // The RT is bound to its installation: presented for another tenant, it is refused.
        // The mutant `as_binding=off` trusts the tenant the request names instead.
        let tenant = match req.tenant {
            Some(t) if t != bound && !self.policy.as_binding => t,
            Some(t) if t != bound => return reject("invalid_grant"),
            _ => bound,
        };
        // RFC 6749 §6: the RT was issued to the client presenting it.
        let client = req.body.str("client_id").unwrap_or(crate::ids::APP_ID);
        if self.policy.client_binding && self.families[&family].client != client {
            return reject("invalid_grant");
        }
        let fam = &self.families[&family];
        // The family's absolute lifetime counts from its first RT; its idle expiry from its
        // last redemption.
        let expired = cx.now >= family_issued + self.policy.max_life
            || cx.now >= fam.last_used + self.policy.idle_expiry;
        if fam.revoked || (expired && self.policy.expiry_check) {
            return reject("invalid_grant");
        }
        let last = self
            .families
            .get_mut(&family)
            .expect("family")
            .last_presented
            .replace(cx.now);
        let planted = self.policy.planted_race && last.is_some_and(|l| cx.now - l < crate::MS);
        if let RtStatus::Superseded { at } = state.status
            && !within_grace(cx.now - at, self.policy.grace)
            && !planted
        {
            let action = self.policy.reuse_action;
            if self.policy.reuse_detection {
                if action == ReuseAction::Revoke {
                    self.families.get_mut(&family).expect("family").revoked = true;
                }
                cx.record(Event::Detect {
                    kind: "refresh_token_reuse",
                    tenant,
                });
            }
            if !(self.policy.reuse_detection && action == ReuseAction::Accept) {
                return reject("invalid_grant");
            }
        }
        if !cx.may_issue(tenant) {
            return Handling::Reply {
                response: Response::error(403, "not_installed"),
                after: 0,
            };
        }
        let end = cx.mint_step(Party::AS, env.id);
        let (jwt, exp) = cx.mint_access(tenant, env.from, end);
        self.families.get_mut(&family).expect("family").last_used = cx.now;
        let next = if !self.policy.rotation {
            None
        } else if matches!(state.status, RtStatus::Superseded { .. })
            && self.policy.grace_reply == GraceReply::Current
        {
            // A retry inside the grace window gets the family's current RT again.
            Some(self.families[&family].current.clone())
        } else {
            // A fresh rotation, or (`grace_reply=rotate`) a grace retry that supersedes the
            // family's current RT, so that the last-issued RT is the only valid one.
            let superseded = self.families[&family].current.clone();
            // It expires with its family, as the check above enforces.
            let new_rt = cx.issue_secret(
                ItemKind::RefreshToken,
                "rt",
                tenant,
                env.from,
                Some(family_issued + self.policy.max_life),
            );
            if let Some(s) = self.rts.get_mut(&superseded)
                && s.status == RtStatus::Current
            {
                s.status = RtStatus::Superseded { at: cx.now };
            }
            self.rts.insert(
                new_rt.clone(),
                RtState {
                    tenant,
                    family,
                    status: RtStatus::Current,
                    issued_at: family_issued,
                },
            );
            self.families.get_mut(&family).expect("family").current = new_rt.clone();
            Some(new_rt)
        };
        Handling::Reply {
            response: token_response(jwt, exp, next),
            after: end - cx.now,
        }
    }
}

struct RefreshPlatform {
    authority: RtAuthority,
    sender_constraint: SenderConstraint,
}

impl PlatformSide for RefreshPlatform {
    fn app_b_grant(&mut self, cx: &mut PlatformCx<'_>, tenant: TenantId) -> Fields {
        let (field, rt) = self.authority.app_b_grant(cx, tenant);
        Fields::new().with(field, rt)
    }
    fn sender_constraint(&self) -> SenderConstraint {
        self.sender_constraint
    }
    fn on_install(&mut self, cx: &mut PlatformCx<'_>, tenant: TenantId) {
        // Provisioning channel is hypothetical (workload.md §8): a FIT-authenticated event.
        let rt = self
            .authority
            .new_family(cx, tenant, Party::Partner(PartnerEndpoint::Lifecycle));
        cx.send_lifecycle(
            tenant,
            "installed",
            Fields::new().with("refresh_token", Value::Secret(rt)),
        );
    }
    fn on_uninstall(&mut self, cx: &mut PlatformCx<'_>, tenant: TenantId) {
        self.authority.revoke_tenant(cx, tenant);
    }
    fn on_revoke(&mut self, cx: &mut PlatformCx<'_>, tenant: TenantId) {
        self.authority.revoke_tenant(cx, tenant);
    }
    fn on_request(
        &mut self,
        cx: &mut PlatformCx<'_>,
        env: &Arc<Envelope>,
        req: &Request,
    ) -> Handling {
        match (req.route, req.body.str("grant_type")) {
            ("POST /oauth/token", Some("refresh_token")) => self.authority.redeem(cx, env, req),
            // RFC 6749 §5.2: a missing parameter is invalid_request.
            ("POST /oauth/token", None) => Handling::Reply {
                response: Response::error(400, "invalid_request"),
                after: 0,
            },
            ("POST /oauth/token", _) => Handling::Reply {
                response: Response::error(400, "unsupported_grant_type"),
                after: 0,
            },
            _ => Handling::Reply {
                response: Response::error(404, "no_such_route"),
                after: 0,
            },
        }
    }
}
