//! `migration`: a composite, not an eighth mechanism (issue 13 item 4). One installation runs
//! `connect-jwt` and one Forge mechanism (`migrate_to`) side by side while an app moves from
//! Connect to Forge:
//!
//! - before `migration_start` the installation is Connect only (the sharedSecret of the
//!   `installed` hook; P signs each API call);
//! - at `migration_start` F provisions the Forge side for every installed tenant (its own
//!   `installed` event: the trigger URL, or push's schedule) and for `migration_window` both
//!   credentials are live; P uses the one `migration_use` names (Connect until the Forge
//!   credential has arrived);
//! - from the window's end P uses Forge only, and with `connect_revoke=at_window_end` the
//!   product API refuses Connect JWTs for the installation (`connect_retired`);
//!   `connect_revoke=never` is the negative control: the sharedSecret is never retired.
//!
//! P4's declared bound for the sharedSecret is the window's end plus `jwt_exp`
//! ([`connect_bound`]); a theft after the window buys nothing.

use super::connect_jwt::ConnectJwt;
use super::push::Push;
use super::trigger::Trigger;
use super::{Acquisition, Facts, Group, Mechanism, MissSteps};
use crate::Micros;
use crate::history::Cause;
use crate::ids::TenantId;
use crate::message::{Envelope, Fields, Request, Response, Value};
use crate::params::{Basis, Choice, Kind, ParamSpec, Params, ReadFrom, SenderConstraint, spec};
use crate::roles::partner::{
    AttemptResult, Credential, Inbound, OutRequest, PartnerCx, PartnerSide,
};
use crate::roles::platform::{Handling, PlatformCx, PlatformSide};
use crate::roles::resource::ApiDecision;
use crate::roles::store::Row;
use std::sync::Arc;

pub struct Migration;

/// What `migration` is. Its root credential is the Connect sharedSecret (what A5 steals
/// first: the only long-lived item before the window); after the window P acquires T from F.
const FACTS: Facts = Facts {
    id: "migration",
    description: "composite: connect-jwt and one Forge mechanism (migrate_to) on one installation; both credentials live during the migration window, Forge only after it",
    hops_on_miss: 0,
    acquisition: Acquisition::SelfSigned,
    root_credential: "shared_secret",
    revocable: false,
    miss_steps: MissSteps::NONE,
    acquires_from: Some(Group::Forge),
    browser_consent: false,
    capability_url: false,
    warm_up_s: 0.0,
};

crate::choice_enum! {
    /// The Forge mechanism an installation migrates to (`migrate_to`).
    pub enum MigrateTo { Trigger = "trigger", Push = "push" }
}

crate::choice_enum! {
    /// Whether the platform retires the Connect sharedSecret at the window's end
    /// (`connect_revoke`; `never`: the negative control).
    pub enum ConnectRevoke { AtWindowEnd = "at_window_end", Never = "never" }
}

crate::choice_enum! {
    /// Which credential P uses for API calls during the window (`migration_use`).
    pub enum MigrationUse { Forge = "forge", Connect = "connect" }
}

/// Where a moment falls relative to the migration window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Connect only.
    Before,
    /// Both credentials live.
    During,
    /// Forge only (the sharedSecret is refused unless `connect_revoke=never`).
    After,
}

/// The migration's schedule, typed (read once from the switches).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub start: Micros,
    pub end: Micros,
    pub revoke: ConnectRevoke,
    pub using: MigrationUse,
    pub to: MigrateTo,
}

impl Window {
    pub fn from_params(p: &Params) -> Window {
        let start = p.dur_req("migration_start");
        Window {
            start,
            end: start + p.dur_req("migration_window"),
            revoke: p.pick("connect_revoke"),
            using: p.pick("migration_use"),
            to: p.pick("migrate_to"),
        }
    }
    pub fn phase(&self, now: Micros) -> Phase {
        if now < self.start {
            Phase::Before
        } else if now < self.end {
            Phase::During
        } else {
            Phase::After
        }
    }
    /// Whether the product API accepts a Connect JWT for the installation at `now`.
    pub fn connect_accepted(&self, now: Micros) -> bool {
        self.revoke == ConnectRevoke::Never || now < self.end
    }
}

/// P4's declared bound for a stolen sharedSecret (absolute): the window's end plus the
/// Connect JWT lifetime; `None` where `params` are not a migration's.
pub fn connect_bound(p: &Params) -> Option<Micros> {
    p.get("migration_window")?;
    let w = Window::from_params(p);
    Some(w.end + p.dur_req("jwt_exp"))
}

/// The Forge target's own parameters: its switches at their defaults, except that trigger's
/// switches are the composite's (it declares them; push's stay at push's defaults).
fn forge_params(to: MigrateTo, p: &Params) -> Params {
    match to {
        MigrateTo::Trigger => p.clone(),
        MigrateTo::Push => {
            super::resolve("push", &[])
                .expect("push resolves at its defaults")
                .2
        }
    }
}

fn forge_of(to: MigrateTo) -> &'static dyn Mechanism {
    match to {
        MigrateTo::Trigger => &Trigger,
        MigrateTo::Push => &Push,
    }
}

impl Mechanism for Migration {
    fn facts(&self) -> &'static Facts {
        &FACTS
    }
    fn switches(&self) -> Vec<ParamSpec> {
        use Basis::*;
        let mut v = vec![
            spec(
                "migrate_to",
                Kind::Choice(MigrateTo::NAMES),
                "trigger",
                Inference,
                "the Forge mechanism the installation migrates to (push: push's own switches stay at their defaults; the trigger switches below apply to trigger)",
            ),
            spec(
                "migration_start",
                Kind::Duration,
                "1h",
                Inference,
                "when F provisions the Forge credential for every installed tenant (before it: Connect only)",
            ),
            spec(
                "migration_window",
                Kind::Duration,
                "2h",
                Inference,
                "how long both credentials are live (Atlassian gives no fixed window)",
            ),
            spec(
                "connect_revoke",
                Kind::Choice(ConnectRevoke::NAMES),
                "at_window_end",
                Mutant,
                "at_window_end: from the window's end the API refuses Connect JWTs for the installation; never: the sharedSecret is never retired (mutant, the negative control)",
            ),
            spec(
                "migration_use",
                Kind::Choice(MigrationUse::NAMES),
                "forge",
                Inference,
                "the credential P uses during the window (Connect until the Forge credential has arrived); before it Connect, after it Forge",
            ),
        ];
        v.extend(ConnectJwt.switches());
        v.extend(Trigger.switches());
        v
    }
    fn build(&self, params: &Params) -> (Box<dyn PartnerSide>, Box<dyn PlatformSide>) {
        let window = Window::from_params(params);
        let (connect_p, connect_f) = ConnectJwt.build(params);
        let (forge_p, forge_f) = forge_of(window.to).build(&forge_params(window.to, params));
        (
            Box::new(MigrationPartner {
                window,
                connect: connect_p,
                forge: forge_p,
            }),
            Box::new(MigrationPlatform {
                window,
                connect: connect_f,
                forge: forge_f,
                provisioned: false,
            }),
        )
    }
}

struct MigrationPartner {
    window: Window,
    connect: Box<dyn PartnerSide>,
    forge: Box<dyn PartnerSide>,
}

impl MigrationPartner {
    /// Whether the Forge credential has reached P's row (trigger: its URL; push: a T).
    fn forge_ready(&self, row: &Row) -> bool {
        match self.window.to {
            MigrateTo::Trigger => row.items.get("trigger_url").is_some(),
            MigrateTo::Push => row.token.is_some(),
        }
    }
}

impl PartnerSide for MigrationPartner {
    fn credential(
        &self,
        row: &Row,
        now: Micros,
        check_exp: bool,
        margin: Micros,
    ) -> Option<Credential> {
        let connect = || self.connect.credential(row, now, check_exp, margin);
        let forge = || self.forge.credential(row, now, check_exp, margin);
        match self.window.phase(now) {
            Phase::Before => connect(),
            Phase::During if self.window.using == MigrationUse::Forge && self.forge_ready(row) => {
                forge()
            }
            Phase::During => connect(),
            Phase::After => forge(),
        }
    }
    fn authorize(&self, cx: &mut PartnerCx<'_>, cred: &Credential, req: &Request) -> Value {
        match cred {
            Credential::SigningKey { .. } => self.connect.authorize(cx, cred, req),
            Credential::Bearer { .. } => self.forge.authorize(cx, cred, req),
        }
    }
    fn start_attempt(
        &mut self,
        cx: &mut PartnerCx<'_>,
        tenant: TenantId,
        row: &Row,
    ) -> Result<OutRequest, Cause> {
        self.forge.start_attempt(cx, tenant, row)
    }
    fn on_attempt_response(
        &mut self,
        cx: &mut PartnerCx<'_>,
        tenant: TenantId,
        resp: &Response,
    ) -> AttemptResult {
        self.forge.on_attempt_response(cx, tenant, resp)
    }
    fn on_inbound(&mut self, cx: &mut PartnerCx<'_>, env: &Envelope, req: &Request) -> Inbound {
        // Connect's `installed` carries the sharedSecret; every other event and route is the
        // Forge side's (an `uninstalled` clears the whole row either way).
        if req.route == "POST /lifecycle" && req.body.get("shared_secret").is_some() {
            self.connect.on_inbound(cx, env, req)
        } else {
            self.forge.on_inbound(cx, env, req)
        }
    }
    fn on_call_response(
        &mut self,
        cx: &mut PartnerCx<'_>,
        tag: u64,
        resp: Option<&Response>,
    ) -> Inbound {
        self.forge.on_call_response(cx, tag, resp)
    }
    fn reset_volatile(&mut self) {
        self.connect.reset_volatile();
        self.forge.reset_volatile();
    }
    fn persists_before_use(&self) -> bool {
        self.forge.persists_before_use()
    }
    fn persists_tokens(&self) -> bool {
        self.forge.persists_tokens()
    }
    fn read_from(&self) -> ReadFrom {
        self.forge.read_from()
    }
    fn sender_constraint(&self) -> SenderConstraint {
        self.forge.sender_constraint()
    }
}

/// The platform timer tag of the window's start (the Forge side's own tags are far below).
const PROVISION: u64 = 1 << 52;

struct MigrationPlatform {
    window: Window,
    connect: Box<dyn PlatformSide>,
    forge: Box<dyn PlatformSide>,
    /// The Forge side has been provisioned (the window has started).
    provisioned: bool,
}

impl MigrationPlatform {
    fn provision(&mut self, cx: &mut PlatformCx<'_>) {
        if self.provisioned {
            return;
        }
        self.provisioned = true;
        let tenants = cx.registry.installed_tenants();
        for t in &tenants {
            self.forge.on_install(cx, *t);
        }
        self.forge.on_start(cx, &tenants);
    }
}

/// Whether an API call's `authorization` is a Connect JWT (its issuer a clientKey) rather
/// than a bearer T (issued by the platform). Both are HS256: only the claims tell them apart.
fn is_connect_jwt(req: &Request) -> bool {
    match req.headers.get("authorization") {
        Some(Value::Jwt(jwt)) => {
            crate::token::connect_issuer(jwt).is_ok_and(|iss| iss != crate::token::PLATFORM_ISSUER)
        }
        _ => false,
    }
}

impl PlatformSide for MigrationPlatform {
    fn on_install(&mut self, cx: &mut PlatformCx<'_>, tenant: TenantId) {
        self.connect.on_install(cx, tenant);
        if self.provisioned {
            self.forge.on_install(cx, tenant);
        }
    }
    fn on_uninstall(&mut self, cx: &mut PlatformCx<'_>, tenant: TenantId) {
        self.connect.on_uninstall(cx, tenant);
        if self.provisioned {
            self.forge.on_uninstall(cx, tenant);
        }
    }
    fn on_revoke(&mut self, cx: &mut PlatformCx<'_>, tenant: TenantId) {
        self.connect.on_revoke(cx, tenant);
        self.forge.on_revoke(cx, tenant);
    }
    fn on_start(&mut self, cx: &mut PlatformCx<'_>, _tenants: &[TenantId]) {
        if cx.now >= self.window.start {
            self.provision(cx);
        } else {
            cx.set_timer(self.window.start, PROVISION);
        }
    }
    fn app_b_grant(&mut self, cx: &mut PlatformCx<'_>, tenant: TenantId) -> Fields {
        self.forge.app_b_grant(cx, tenant)
    }
    fn on_request(
        &mut self,
        cx: &mut PlatformCx<'_>,
        env: &Arc<Envelope>,
        req: &Request,
    ) -> Handling {
        if !self.provisioned {
            return Handling::Reply {
                response: Response::error(404, "no_such_route"),
                after: 0,
            };
        }
        self.forge.on_request(cx, env, req)
    }
    fn on_call_response(&mut self, cx: &mut PlatformCx<'_>, tag: u64, resp: Option<&Response>) {
        self.forge.on_call_response(cx, tag, resp);
    }
    fn on_timer(&mut self, cx: &mut PlatformCx<'_>, tag: u64) {
        if tag == PROVISION {
            self.provision(cx);
        } else {
            self.forge.on_timer(cx, tag);
        }
    }
    fn on_deploy_reset(&mut self, cx: &mut PlatformCx<'_>) {
        if self.provisioned {
            self.forge.on_deploy_reset(cx);
        }
    }
    fn verify_api(&self, cx: &PlatformCx<'_>, req: &Request) -> Option<ApiDecision> {
        if is_connect_jwt(req) {
            if !self.window.connect_accepted(cx.now) {
                return Some(Err("connect_retired"));
            }
            return self.connect.verify_api(cx, req);
        }
        self.forge.verify_api(cx, req)
    }
    fn revokes_grant(&self) -> bool {
        self.forge.revokes_grant()
    }
    fn reset_volatile(&mut self) {
        self.connect.reset_volatile();
        self.forge.reset_volatile();
    }
    fn sender_constraint(&self) -> SenderConstraint {
        self.forge.sender_constraint()
    }
    fn ip_allowlist(&self) -> crate::network::IpAllowlist {
        self.forge.ip_allowlist()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(sets: &[&str]) -> Window {
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        let (_, _, p) = super::super::resolve("migration", &sets).unwrap();
        Window::from_params(&p)
    }

    #[test]
    fn phases_and_connect_acceptance_follow_the_window() {
        let h = 3600 * crate::SEC;
        let w = window(&[]);
        assert_eq!((w.start, w.end), (h, 3 * h));
        assert_eq!(w.phase(0), Phase::Before);
        assert_eq!(w.phase(h), Phase::During);
        assert_eq!(w.phase(3 * h - 1), Phase::During);
        assert_eq!(w.phase(3 * h), Phase::After);
        // A Connect JWT is accepted before and during the window and refused after it...
        assert!(w.connect_accepted(0));
        assert!(w.connect_accepted(3 * h - 1));
        assert!(!w.connect_accepted(3 * h));
        // ...unless the sharedSecret is never retired (the negative control).
        let never = window(&["connect_revoke=never"]);
        assert!(never.connect_accepted(30 * h));
    }

    #[test]
    fn the_bound_is_the_window_end_plus_jwt_exp() {
        let (_, _, p) = super::super::resolve("migration", &["jwt_exp=60s".into()]).unwrap();
        assert_eq!(
            connect_bound(&p),
            Some(3 * 3600 * crate::SEC + 60 * crate::SEC)
        );
        let (_, _, c) = super::super::resolve("connect-jwt", &[]).unwrap();
        assert_eq!(connect_bound(&c), None);
    }

    #[test]
    fn bad_values_are_refused_by_name() {
        let e = super::super::resolve("migration[migrate_to=refresh]", &[])
            .err()
            .unwrap()
            .to_string();
        assert_eq!(
            e,
            "bad value 'refresh' for 'migrate_to': expected one of trigger, push"
        );
        let e = super::super::resolve("migration[connect_revoke=later]", &[])
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("bad value 'later' for 'connect_revoke'"), "{e}");
    }
}
