//! P1–P10 of `threats.md` §3 as predicates over one history (P11 and P12 are in the crate
//! root). Each returns a [`Verdict`] whose `reached` counts the attacker-originated (or, for
//! P10 and P12, fault-exposed) presentations that got a decision from the verifier the
//! property names, and whose counterexample is a numbered trace.

use crate::facts::{Decision, Facts, Grouped, ItemMap, numbered, short};
use crate::{Verdict, VerdictKind};
use std::collections::{BTreeMap, BTreeSet};
use tokenlab_models::Micros;
use tokenlab_models::history::{
    AdminKind, AttackerCapability, Event, ExposureMode, History, ItemKind, StoredItem,
};
use tokenlab_models::ids::{MsgId, PartnerEndpoint, Party, TenantId};
use tokenlab_models::message::Value;
use tokenlab_models::secret::ItemId;

fn verdict(
    property: &'static str,
    violations: Vec<String>,
    reached: u64,
    otherwise: VerdictKind,
) -> Verdict {
    let kind = if violations.is_empty() {
        otherwise
    } else {
        VerdictKind::Violated
    };
    Verdict {
        property,
        holds: kind != VerdictKind::Violated,
        kind,
        reached,
        counterexample: violations.into_iter().next(),
    }
}

/// Folds a clause's first violation into a property's verdict: the verdict becomes violated
/// with the clause's counterexample, unless it was violated already (its own stays).
fn fold_clause(mut v: Verdict, first: Option<String>) -> Verdict {
    if let Some(c) = first
        && v.kind != VerdictKind::Violated
    {
        v.kind = VerdictKind::Violated;
        v.holds = false;
        v.counterexample = Some(c);
    }
    v
}

fn is_verifier(p: Party) -> bool {
    matches!(p, Party::Platform(_))
}

/// The FITs and T that F handed app B's backend (`apps=2`, the attacker's app) in its
/// invocations: issued for app B, they authenticate nothing at app A.
fn issued_to_app_b(f: &Facts<'_>) -> BTreeSet<ItemId> {
    f.msgs
        .values()
        .filter(|(_, env)| {
            env.to == Party::Attacker
                && env
                    .request()
                    .is_some_and(|r| r.route == "POST /app-b/invoke")
        })
        .flat_map(|(_, env)| env.items().map(|(x, _)| x).collect::<Vec<_>>())
        .collect()
}

/// P1 Tenant isolation.
pub fn tenant_isolation(h: &History) -> Verdict {
    tenant_isolation_with(&Facts::new(h))
}

/// [`tenant_isolation`] over a shared index of the history.
pub fn tenant_isolation_with(f: &Facts<'_>) -> Verdict {
    let app_b = issued_to_app_b(f);
    let mut violations = Vec::new();
    let mut reached = 0;
    for (p, d, _) in f.decided() {
        let cross_app = app_b.contains(&p.item);
        let bound = f.bound_tenant(p.item);
        let wrong_binding = bound.is_some_and(|i| i != p.tenant);
        let unentitled = !f.entitled(p.who, p.tenant, p.t);
        // Reached: an attacker request that put the tenant or app check to the test, decided
        // by the verifier: a genuine item of another app, bound to another tenant, or (an
        // app-wide item) presented for a tenant the presenter is not entitled to. A stolen
        // item used for its own tenant, or a forgery (which the signature or lookup check
        // refuses first), never reaches it.
        let genuine = f.issued.contains_key(&p.item);
        if f.attacker_originated(p) && (cross_app || wrong_binding || (unentitled && genuine)) {
            reached += 1;
        }
        let Decision::Accept { tenant: served } = d else {
            continue;
        };
        // App isolation (`apps=2`): what F handed app B (its T, its client's RT) is accepted
        // by none of app A's verifiers (the API's app A scope, the AS's grant for client A).
        if cross_app {
            let mut lines = f.provenance(p.item);
            lines.push(f.line(p.req));
            lines.push(format!(
                "violation: {} was issued for app B and was accepted for app A, for {}",
                short(p.item),
                p.tenant
            ));
            violations.push(numbered(lines));
            continue;
        }
        if wrong_binding || unentitled {
            let mut lines = f.provenance(p.item);
            lines.push(f.line(p.req));
            lines.push(if wrong_binding {
                format!(
                    "violation: {} is bound to {}, accepted for {} (served {served})",
                    short(p.item),
                    bound.expect("checked"),
                    p.tenant
                )
            } else {
                format!(
                    "violation: {} is not entitled to {} and was accepted",
                    p.who, p.tenant
                )
            });
            violations.push(numbered(lines));
        }
    }
    verdict("P1", violations, reached, VerdictKind::Holds)
}

/// P9's client clause (`apps=2`): an RT or code is redeemed only by the client it was issued
/// to (RFC 6749 §6, §10.4, §4.1.3). One that F handed app B's backend (the attacker's) is
/// accepted at none of client A's grants. `reached` adds the attacker's redemptions of client
/// B's items at the token endpoint that the AS decided; without a second app it is silent.
pub fn with_client_clause(v: Verdict, h: &History) -> Verdict {
    with_client_clause_with(v, &Facts::new(h))
}

/// [`with_client_clause`] over a history's shared [`Facts`].
pub fn with_client_clause_with(mut v: Verdict, f: &Facts) -> Verdict {
    let app_b = issued_to_app_b(f);
    if app_b.is_empty() {
        return v;
    }
    let mut first = None;
    for (p, d, _) in f.decided() {
        let grant = f
            .issued
            .get(&p.item)
            .is_some_and(|i| matches!(i.kind, ItemKind::RefreshToken | ItemKind::AuthCode));
        let at_token_endpoint = f
            .msgs
            .get(&p.req)
            .and_then(|(_, env)| env.request())
            .is_some_and(|r| r.route == "POST /oauth/token");
        if !(app_b.contains(&p.item) && grant && at_token_endpoint) {
            continue;
        }
        v.reached += 1;
        if first.is_none() && matches!(d, Decision::Accept { .. }) {
            let mut lines = f.provenance(p.item);
            lines.push(f.line(p.req));
            lines.push(format!(
                "violation: {} was issued to client B (app B) and was redeemed as client A",
                short(p.item)
            ));
            first = Some(numbered(lines));
        }
    }
    fold_clause(v, first)
}

/// P2 Confinement: every learner of a secret item is its issuer, a verifier, P, the principal
/// it was issued to (the browser for a code), or was handed it by an attack. Logs are never
/// allowed holders.
pub fn confinement(h: &History) -> Verdict {
    confinement_with(&Facts::new(h))
}

/// [`confinement`] over a shared index of the history.
pub fn confinement_with(f: &Facts<'_>) -> Verdict {
    let h = f.h;
    let mut exposed: BTreeSet<ItemId> = BTreeSet::new();
    let mut violations = Vec::new();
    let mut reached = 0;
    for r in &h.records {
        let (who, env, logged) = match &r.event {
            Event::Attack { items, .. } => {
                // Each exposure is a learn the checker judged (allowed: it has a cause).
                reached += items
                    .iter()
                    .filter(|x| f.issued.get(x).is_some_and(|i| i.kind != ItemKind::Fit))
                    .count() as u64;
                exposed.extend(items.iter().copied());
                continue;
            }
            Event::Receive { who, env } => (*who, env, false),
            Event::Log { who, env } => (*who, env, true),
            _ => continue,
        };
        for (x, field) in env.items() {
            let Some(i) = f.issued.get(&x) else { continue };
            if i.kind == ItemKind::Fit {
                continue;
            }
            if who == Party::Attacker || logged {
                reached += 1;
            }
            let allowed = !logged
                && (matches!(who, Party::Platform(_) | Party::Partner(_))
                    || (who == Party::Browser && i.kind == ItemKind::AuthCode)
                    || who == i.to
                    || (who == Party::Attacker && exposed.contains(&x)));
            if !allowed {
                let holder = if logged {
                    format!("the log of {who}")
                } else {
                    who.to_string()
                };
                let mut lines = f.provenance(x);
                if let Some(c) = env.cause.filter(|_| !env.is_request()) {
                    lines.push(f.line(c));
                }
                lines.push(f.line(env.id));
                lines.push(format!(
                    "violation: {holder} learned {} ({:?} of {}, field {field}) with no exposure behind it",
                    short(x),
                    i.kind,
                    i.tenant
                ));
                violations.push(numbered(lines));
            }
        }
    }
    verdict("P2", violations, reached, VerdictKind::Holds)
}

/// Installation state per tenant over time, from the admin events.
struct Installs<'f> {
    /// The admin events by tenant, each tenant's in history order: a question about one
    /// tenant reads its own few events, not every tenant's (which made P3 and P5 quadratic).
    events: &'f Grouped<TenantId, (Micros, AdminKind)>,
    consent_tracked: BTreeSet<TenantId>,
}

impl<'f> Installs<'f> {
    /// `consent_by_design`: the mechanism asks an admin's consent before it issues (upm-oauth),
    /// so every tenant needs one, whether or not a consent was ever seen.
    fn new(f: &'f Facts<'_>, consent_by_design: bool) -> Installs<'f> {
        let consent_tracked = f
            .admin
            .iter()
            .filter(|(_, k, _)| *k == AdminKind::Consent || consent_by_design)
            .map(|(_, _, t)| *t)
            .collect();
        Installs {
            events: f.admin_by_tenant(),
            consent_tracked,
        }
    }
    /// `tenant`'s admin events, in history order.
    fn of(&self, tenant: TenantId) -> impl Iterator<Item = (Micros, AdminKind)> + '_ {
        self.events.of(tenant).iter().map(|(_, e)| *e)
    }
    /// (installed, grant live, consented) at `t`.
    fn state(&self, tenant: TenantId, t: Micros) -> (bool, bool, bool) {
        let (mut installed, mut grant, mut consented) = (false, true, false);
        for (at, k) in self.of(tenant) {
            if at > t {
                continue;
            }
            match k {
                AdminKind::Install => {
                    installed = true;
                    grant = true;
                }
                AdminKind::Uninstall => installed = false,
                AdminKind::Consent => consented = true,
                AdminKind::Revoke => {
                    // A grant exists only where consent was given (upm-oauth).
                    if self.consent_tracked.contains(&tenant) {
                        grant = false;
                    }
                }
            }
        }
        (installed, grant, consented)
    }
    fn ended_before(&self, tenant: TenantId, t: Micros) -> bool {
        let (installed, grant, _) = self.state(tenant, t);
        !installed || !grant
    }
}

/// P3 Authorized issuance, and P accepts only installations the platform issued.
/// `consent_by_design`: issuance to P also needs the admin's consent (upm-oauth).
pub fn authorized_issuance(h: &History, consent_by_design: bool) -> Verdict {
    authorized_issuance_with(&Facts::new(h), consent_by_design)
}

/// [`authorized_issuance`] over a shared index of the history.
pub fn authorized_issuance_with(f: &Facts<'_>, consent_by_design: bool) -> Verdict {
    let h = f.h;
    let installs = Installs::new(f, consent_by_design);
    let mut violations = Vec::new();
    let mut reached = 0;
    for r in &h.records {
        match &r.event {
            Event::IssueDenied { .. } => reached += 1,
            Event::Issue {
                item,
                kind,
                tenant,
                to,
                ..
            } if *kind != ItemKind::Fit => {
                let (installed, grant, consented) = installs.state(*tenant, r.t);
                // App B's own grant (`apps=2`) goes to its backend, not to P: the site's
                // consent to app A does not cover it, and it is not P3's business.
                let needs_consent = installs.consent_tracked.contains(tenant)
                    && matches!(kind, ItemKind::AccessToken | ItemKind::RefreshToken)
                    && matches!(to, Party::Partner(_));
                let ever_installed = installs
                    .of(*tenant)
                    .any(|(t, k)| k == AdminKind::Install && t <= r.t);
                if ever_installed && (!installed || !grant) {
                    reached += 1;
                }
                if !installed || !grant || (needs_consent && !consented) {
                    let mut lines: Vec<String> = installs
                        .of(*tenant)
                        .filter(|(t, _)| *t <= r.t)
                        .map(|(t, k)| format!("t={:.3}s admin {k:?} {tenant}", t as f64 / 1e6))
                        .collect();
                    lines.push(format!(
                        "t={:.3}s platform issued {} ({kind:?}) for {tenant}",
                        r.t as f64 / 1e6,
                        short(*item)
                    ));
                    lines.push(format!(
                        "violation: issued for {tenant} while installed={installed}, grant={grant}, consent={consented}"
                    ));
                    violations.push(numbered(lines));
                }
            }
            _ => {}
        }
    }
    // Consent is the site admin's: a consent form posted by anyone else (the attacker for a
    // site it does not own) that the AS answered with a code authorized the site without it.
    for (id, (t, env)) in &f.msgs {
        let Some(q) = env
            .request()
            .filter(|q| q.route == "POST /authorize/consent")
        else {
            continue;
        };
        let admin = env.from == Party::Browser
            || (env.from == Party::Attacker && q.tenant.is_some() && f.owned == q.tenant);
        let Some((_, answer)) = f.answers.get(id) else {
            continue;
        };
        if admin {
            continue;
        }
        reached += 1;
        if answer
            .response()
            .is_some_and(|r| r.body.secret("code").is_some())
        {
            let tenant = q.tenant.map_or("?".to_string(), |t| t.to_string());
            violations.push(numbered(vec![
                f.line(*id),
                format!(
                    "violation: at t={:.3}s the AS authorized {tenant} on a consent by {}, not its admin",
                    *t as f64 / 1e6,
                    env.from
                ),
            ]));
        }
    }
    // Decisions on presentations for tenants whose installation had ended.
    for (p, _, t) in f.decided() {
        if f.attacker_originated(p) && installs.ended_before(p.tenant, t) {
            reached += 1;
        }
    }
    // P accepts an installation, or its secret, only if the platform issued it: nothing the
    // attacker sent lands in another tenant's row as a long-lived item.
    for (id, (_, env)) in &f.msgs {
        if env.from == Party::Attacker
            && env.request().is_some_and(|r| r.route == "POST /lifecycle")
            && f.answers.contains_key(id)
        {
            reached += 1;
        }
    }
    for r in &h.records {
        let Event::StoreItem(stored) = &r.event else {
            continue;
        };
        let StoredItem {
            tenant,
            field,
            item,
            cause,
        } = &**stored;
        let Some(c) = cause else {
            continue;
        };
        let from_attacker = f
            .msgs
            .get(c)
            .is_some_and(|(_, e)| e.from == Party::Attacker);
        if from_attacker && !f.issued.contains_key(item) && f.owned != Some(*tenant) {
            violations.push(numbered(vec![
                f.line(*c),
                format!(
                    "t={:.3}s P committed {field} {} for {tenant}",
                    r.t as f64 / 1e6,
                    short(*item)
                ),
                format!(
                    "violation: P accepted a {field} for {tenant} that the platform never issued"
                ),
            ]));
        }
    }
    verdict("P3", violations, reached, VerdictKind::Holds)
}

/// The declared exposure bounds B(x) of `threats.md` §3 P4 for one mechanism and profile.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct ExposureBounds {
    /// B(T) = TTL.
    pub ttl: Micros,
    /// B(URL): `None` = unbounded (`url_rotation=never`). With [`Self::url_per_use`], TTL
    /// counted from the URL's next use instead of the theft.
    pub url: Option<Micros>,
    /// `url_rotation=per_use`: B(URL) is until the URL's next use (the first accepted call
    /// with it after the theft, whoever makes it), plus TTL for what that call minted.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub url_per_use: bool,
    /// B(client secret): `None` = unbounded (no rotation).
    pub secret: Option<Micros>,
    /// B(sharedSecret): `None` until reinstall.
    pub shared: Option<Micros>,
    /// `migration`: the sharedSecret's bound as an absolute time (the window's end plus
    /// `jwt_exp`), whenever it was stolen; it takes precedence over [`Self::shared`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared_until: Option<Micros>,
    /// RT: next legitimate refresh + grace + TTL; an idle victim: `rt_max_life`.
    pub grace: Micros,
    /// The RT's absolute lifetime, where the mechanism declares one (refresh, upm-oauth:
    /// every mechanism that issues RTs); `None` = unbounded.
    pub rt_max_life: Option<Micros>,
    /// An RT family unused this long (no accepted redemption by anyone) is refused
    /// (`rt_idle_expiry`); `None`: never.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rt_idle_expiry: Option<Micros>,
    /// Measure an RT's bound from the victim's second refresh after the theft: the declared
    /// bound with finding F-grace's one-cycle slip (`threats.md` §5), which P10 uses so that
    /// it judges what faults add to the fault-free verdict, not F-grace itself.
    pub grace_slip: bool,
}

/// One theft and how long its gains lasted, against the declared bound.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ExposureWindow {
    pub stolen_at: Micros,
    pub capability: AttackerCapability,
    pub kind: Option<ItemKind>,
    /// Absolute deadline (theft + B); `None`: unbounded.
    pub deadline: Option<Micros>,
    pub accepted: u64,
    pub last_accept: Option<Micros>,
    /// The request of the last Accept (for the trace).
    #[serde(skip)]
    pub last_request: Option<tokenlab_models::ids::MsgId>,
    /// For an RT: the victim's next refresh after the theft, which the bound starts from.
    pub next_refresh: Option<Micros>,
}

/// Every theft (A5, or an A2 snapshot) with the attacker's Accepts rooted in it.
pub fn exposure_windows(h: &History, b: &ExposureBounds) -> Vec<ExposureWindow> {
    exposure_windows_with(&Facts::new(h), b)
}

/// [`exposure_windows`] over a shared index of the history.
pub fn exposure_windows_with(f: &Facts<'_>, b: &ExposureBounds) -> Vec<ExposureWindow> {
    let mut out = Vec::new();
    if f.exposures.is_empty() {
        return out;
    }
    // Built once, not per stolen item (a snapshot of P's store steals every tenant's, and a
    // scan of every presentation per item made P4 quadratic): the accepted presentations
    // by item; P's RT presentations by family root; the attacker's Accepts, in time order.
    let accepted_by_item: Grouped<ItemId, Micros> = Grouped::new(
        f.decided()
            .filter(|(_, d, _)| matches!(d, Decision::Accept { .. }))
            .map(|(p, _, t)| (p.item, t))
            .collect(),
    );
    let refreshes_by_root: Grouped<ItemId, Micros> = Grouped::new(
        f.presents
            .values()
            .filter(|p| {
                matches!(p.who, Party::Partner(_))
                    && f.issued.get(&p.item).map(|i| i.kind) == Some(ItemKind::RefreshToken)
            })
            .map(|p| (f.root_of(p.item), p.t))
            .collect(),
    );
    let attacker_accepts: Vec<(ItemId, Micros, MsgId)> = f
        .decided()
        .filter(|(p, d, _)| p.who == Party::Attacker && matches!(d, Decision::Accept { .. }))
        .map(|(p, _, t)| (p.item, t, p.req))
        .collect();
    for e in &f.exposures {
        // A theft: A5, an A2 snapshot, or one item taken in transit or from a log.
        if !(e.capability == AttackerCapability::A5
            || (e.capability == AttackerCapability::A2 && e.mode == ExposureMode::Snapshot)
            || matches!(e.mode, ExposureMode::Network | ExposureMode::Log))
        {
            continue;
        }
        for x in &e.items {
            let kind = f.issued.get(x).map(|i| i.kind);
            let root = f.root_of(*x);
            // For an RT, the victim's next refresh after the theft starts the bound; an idle
            // victim never refreshes, and its bound is the RT's own lifetime.
            let mut next_refresh = None;
            let deadline = match kind {
                Some(ItemKind::AccessToken) | None => Some(e.t + b.ttl),
                Some(ItemKind::TriggerUrl) if b.url_per_use => {
                    let next_use = accepted_by_item
                        .of(*x)
                        .iter()
                        .map(|(_, t)| *t)
                        .filter(|t| *t >= e.t)
                        .min();
                    Some(next_use.unwrap_or(e.t) + b.ttl)
                }
                Some(ItemKind::TriggerUrl) => b.url.map(|u| e.t + u),
                Some(ItemKind::ClientSecret) => b.secret.map(|u| e.t + u),
                Some(ItemKind::SharedSecret) => {
                    // Stolen after the window's end: the bound is the theft itself.
                    b.shared_until
                        .map(|u| u.max(e.t))
                        .or_else(|| b.shared.map(|u| e.t + u))
                }
                Some(ItemKind::RefreshToken) => {
                    let mut refreshes: Vec<Micros> = refreshes_by_root
                        .of(root)
                        .iter()
                        .map(|(_, t)| *t)
                        .filter(|t| *t > e.t)
                        .collect();
                    refreshes.sort_unstable();
                    let slip = usize::from(b.grace_slip && b.grace > 0);
                    next_refresh = refreshes.get(slip).copied();
                    match next_refresh {
                        Some(tr) => Some(tr + b.grace + b.ttl),
                        // Its recorded `exp` (the family's absolute lifetime) can end sooner.
                        None => b.rt_max_life.map(|life| {
                            let exp = f.issued.get(x).and_then(|i| i.exp);
                            exp.map_or(e.t + life, |exp| exp.min(e.t + life))
                        }),
                    }
                }
                Some(_) => Some(e.t + b.ttl),
            };
            let accepts: Vec<(Micros, MsgId)> = attacker_accepts
                .iter()
                .filter(|(item, _, _)| {
                    f.attacker_derived(*item, *x)
                        // A request the attacker signed itself with a stolen key.
                        || (kind == Some(ItemKind::SharedSecret) && !f.issued.contains_key(item))
                })
                .map(|(_, t, req)| (*t, *req))
                .collect();
            let last = accepts.iter().copied().max();
            out.push(ExposureWindow {
                stolen_at: e.t,
                capability: e.capability,
                kind,
                deadline,
                accepted: accepts.len() as u64,
                last_accept: last.map(|(t, _)| t),
                last_request: last.map(|(_, r)| r),
                next_refresh,
            });
        }
    }
    out
}

/// P4 Bounded exposure.
pub fn bounded_exposure(h: &History, b: &ExposureBounds) -> Verdict {
    bounded_exposure_with(&Facts::new(h), b)
}

/// [`bounded_exposure`] over a shared index of the history.
pub fn bounded_exposure_with(f: &Facts<'_>, b: &ExposureBounds) -> Verdict {
    let windows = exposure_windows_with(f, b);
    let reached = f
        .decided()
        .filter(|(p, _, _)| p.who == Party::Attacker)
        .count() as u64;
    let mut violations = Vec::new();
    let mut unbounded = false;
    for w in &windows {
        match (w.deadline, w.last_accept) {
            // Unbounded by declaration: reported (by-design) once it bought the attacker
            // anything; a stolen item that buys nothing on its own (upm's client secret) is not.
            (None, _) if w.accepted > 0 => unbounded = true,
            (Some(d), Some(last)) if last > d => {
                let mut lines = vec![format!(
                    "t={:.3}s {} stole {}",
                    w.stolen_at as f64 / 1e6,
                    w.capability,
                    w.kind
                        .map(|k| format!("a {k:?}"))
                        .unwrap_or_else(|| "an item".into())
                )];
                if let Some(r) = w.next_refresh {
                    lines.push(format!(
                        "t={:.3}s the victim's next refresh (the bound is this + grace + TTL)",
                        r as f64 / 1e6
                    ));
                }
                lines.push(format!("t={:.3}s declared bound ends", d as f64 / 1e6));
                if let Some(req) = w.last_request {
                    lines.push(f.line(req));
                }
                lines.push(format!(
                    "violation: the attacker's last Accept rooted in it was at t={:.3}s ({} Accepts in all)",
                    last as f64 / 1e6,
                    w.accepted
                ));
                violations.push(numbered(lines));
            }
            _ => {}
        }
    }
    // An RT accepted when it was no longer valid at all is the more specific account.
    violations.splice(0..0, rt_validity(f, b));
    let otherwise = if unbounded {
        VerdictKind::ByDesign
    } else {
        VerdictKind::Holds
    };
    verdict("P4", violations, reached, otherwise)
}

/// P4's clauses on a refresh token itself, whatever the window of its theft: the AS never
/// accepts from the attacker an RT past its recorded `exp` (the family's absolute lifetime),
/// nor one of a family that went unused (no accepted redemption by anyone) for
/// `rt_idle_expiry`; and where the client was issued credentials it never accepts a refresh
/// grant that carries none (RFC 6749 §6: such a client MUST authenticate), so an RT stolen
/// without the client's credential buys nothing (B = 0). The attacker's presentations that
/// reach these checks are among P4's `reached` already (every attacker decision).
fn rt_validity(f: &Facts<'_>, b: &ExposureBounds) -> Vec<String> {
    let is_rt = |x: &ItemId| f.issued.get(x).map(|i| i.kind) == Some(ItemKind::RefreshToken);
    // When each family began: the issue of its first RT.
    let mut last_use: ItemMap<Micros> = ItemMap::default();
    for (x, i) in f.issued.iter().filter(|(x, _)| is_rt(x)) {
        let e = last_use.entry(f.root_of(*x)).or_insert(i.t);
        *e = (*e).min(i.t);
    }
    if last_use.is_empty() {
        return Vec::new();
    }
    // The first client credential the platform issued to P. It binds P's RTs only: a family
    // first issued to someone else (app B's, which the attacker runs under `apps=2`) is
    // another client's, and that client was issued none.
    let credentialed_from = f
        .issued
        .values()
        .filter(|i| i.kind == ItemKind::ClientSecret && matches!(i.to, Party::Partner(_)))
        .map(|i| i.t)
        .min();
    let mut presented: Vec<_> = f.decided().filter(|(p, _, _)| is_rt(&p.item)).collect();
    presented.sort_by_key(|(p, _, _)| (p.t, p.req));
    let mut violations = Vec::new();
    for (p, d, _) in presented {
        let root = f.root_of(p.item);
        let accepted = matches!(d, Decision::Accept { .. });
        if p.who == Party::Attacker && accepted {
            let since = last_use.get(&root).copied().unwrap_or(p.t);
            let exp = f.issued.get(&p.item).and_then(|i| i.exp);
            let body = f.msgs.get(&p.req).and_then(|(_, env)| env.request());
            // P's own family (see `credentialed_from`), looked up only where a credential
            // was issued by then.
            let unauthenticated = credentialed_from.is_some_and(|c| c <= p.t)
                && f.issued
                    .get(&root)
                    .is_some_and(|i| matches!(i.to, Party::Partner(_)))
                && body.is_some_and(|r| {
                    r.body.secret("client_secret").is_none()
                        && r.body.jwt("client_assertion").is_none()
                });
            let why = if let Some(exp) = exp.filter(|exp| p.t >= *exp) {
                Some(format!(
                    "past its lifetime (exp t={:.3}s)",
                    exp as f64 / 1e6
                ))
            } else if b.rt_idle_expiry.is_some_and(|idle| p.t >= since + idle) {
                Some(format!(
                    "of a family unused since t={:.3}s, past rt_idle_expiry",
                    since as f64 / 1e6
                ))
            } else if unauthenticated {
                Some("without client authentication, though the client was issued credentials (RFC 6749 §6)".into())
            } else {
                None
            };
            if let Some(why) = why {
                let mut lines = f.provenance(p.item);
                lines.push(f.line(p.req));
                lines.push(format!(
                    "violation: the AS accepted the attacker's RT {} at t={:.3}s {why}",
                    short(p.item),
                    p.t as f64 / 1e6
                ));
                violations.push(numbered(lines));
            }
        }
        if accepted {
            last_use.insert(root, p.t);
        }
    }
    violations
}

/// P5 Revocation: after `Uninstall(i)` or `Revoke(i)` at t, no new issuance for i, and no
/// API Accept for i of an outstanding T after t + `outstanding_r` (TTL with
/// `api_checks_installation=off`, 0 with `on`).
pub fn revocation(h: &History, outstanding_r: Micros) -> Verdict {
    revocation_with(&Facts::new(h), outstanding_r)
}

/// [`revocation`] over a shared index of the history.
pub fn revocation_with(f: &Facts<'_>, outstanding_r: Micros) -> Verdict {
    // Per tenant, so that a decision reads its tenant's events only (linear overall).
    let admin = f.admin_by_tenant();
    let mut violations = Vec::new();
    let mut reached = 0;
    for (p, d, t) in f.decided() {
        let events = admin.of(p.tenant);
        // The earliest end since the tenant's last (re)install before this decision.
        let reinstalled = events
            .iter()
            .filter(|(_, (at, k))| *k == AdminKind::Install && *at <= t)
            .map(|(_, (at, _))| *at)
            .max()
            .unwrap_or(Micros::MIN);
        let Some((_, (end, kind))) = events
            .iter()
            .filter(|(_, (e, k))| {
                *e >= 0
                    && matches!(k, AdminKind::Uninstall | AdminKind::Revoke)
                    && *e <= t
                    && *e > reinstalled
            })
            .min_by_key(|(_, (e, _))| *e)
        else {
            continue;
        };
        if f.attacker_originated(p) {
            reached += 1;
        }
        let Decision::Accept { .. } = d else { continue };
        let at_api = f.verifier(p.req) == Some(Party::API);
        let issued_at = f.issued.get(&p.item).map(|i| i.t);
        let outstanding = at_api && issued_at.is_some_and(|i| i < *end);
        let late = if outstanding {
            t > end + outstanding_r
        } else {
            true
        };
        if late {
            let mut lines = vec![format!(
                "t={:.3}s admin {kind:?} {}",
                *end as f64 / 1e6,
                p.tenant
            )];
            lines.extend(f.provenance(p.item));
            lines.push(f.line(p.req));
            lines.push(format!(
                "violation: {} accepted for {} {:.3}s after the {kind:?}",
                if outstanding {
                    "an outstanding T"
                } else {
                    "a new issuance"
                },
                p.tenant,
                (t - end) as f64 / 1e6
            ));
            violations.push(numbered(lines));
        }
    }
    violations.extend(issued_after_uninstall(f, admin));
    with_retention_clause(verdict("P5", violations, reached, VerdictKind::Holds), f)
}

/// P5's issuance clause on what the platform issues of its own accord (a rotated trigger URL
/// or secret, a pushed T: no presentation asks for them, so the clause above never sees
/// them): nothing is issued for i after `Uninstall(i)` unless i was installed again.
fn issued_after_uninstall(
    f: &Facts<'_>,
    admin: &Grouped<TenantId, (Micros, AdminKind)>,
) -> Vec<String> {
    // Issues in item order; only the (rare) offending ones are sorted into time order.
    let mut violations = Vec::new();
    for (x, i) in f.issued.iter() {
        let events = admin.of(i.tenant);
        // An install issues in the same instant it is recorded; an uninstall ends only what
        // comes after it.
        let last = events
            .iter()
            .filter(|(_, (at, k))| match k {
                AdminKind::Install => *at <= i.t,
                AdminKind::Uninstall => *at >= 0 && *at < i.t,
                _ => false,
            })
            .max_by_key(|(_, (at, k))| (*at, *k == AdminKind::Install));
        let Some((_, (end, AdminKind::Uninstall))) = last else {
            continue;
        };
        let mut lines = vec![format!(
            "t={:.3}s admin Uninstall {}",
            *end as f64 / 1e6,
            i.tenant
        )];
        lines.extend(f.provenance(*x));
        lines.push(format!(
            "violation: the platform issued a {:?} {} for {} at t={:.3}s, {:.3}s after its uninstall",
            i.kind,
            short(*x),
            i.tenant,
            i.t as f64 / 1e6,
            (i.t - end) as f64 / 1e6
        ));
        violations.push(((i.t, *x), numbered(lines)));
    }
    violations.sort_by_key(|(key, _)| *key);
    violations.into_iter().map(|(_, v)| v).collect()
}

/// The uninstall hooks P acknowledged (a 2xx to a `POST /lifecycle` carrying `uninstalled`):
/// (request, tenant, when the request was sent, when the 2xx was sent).
fn acknowledged_uninstalls(f: &Facts<'_>) -> Vec<(MsgId, TenantId, Micros, Micros)> {
    let mut out = Vec::new();
    for (id, (sent, env)) in &f.msgs {
        let Some(req) = env.request() else { continue };
        // Only P has a lifecycle endpoint: the route names the receiver.
        if req.route != "POST /lifecycle" || req.body.str("event") != Some("uninstalled") {
            continue;
        }
        let Some(tenant) = req.tenant.or_else(|| req.body.tenant("installationId")) else {
            continue;
        };
        let Some((acked, answer)) = f.answers.get(id) else {
            continue;
        };
        if answer.response().is_some_and(|r| r.is_success()) {
            out.push((*id, tenant, *sent, *acked));
        }
    }
    out
}

/// The long-lived items P's row for `tenant` held at `t` (records up to and including `t`),
/// from the history's `StoreItem` and `StoreDrop`: field → item. (A drop names the item its
/// field held, so the field alone says what went.)
pub fn held_items(h: &History, tenant: TenantId, t: Micros) -> BTreeMap<&'static str, ItemId> {
    let mut held = BTreeMap::new();
    for r in h.records.iter().take_while(|r| r.t <= t) {
        match &r.event {
            Event::StoreItem(s) if s.tenant == tenant => {
                held.insert(s.field, s.item);
            }
            Event::StoreDrop(s) if s.tenant == tenant => {
                held.remove(s.field);
            }
            _ => {}
        }
    }
    held
}

/// P5's retention clause (P forgets at uninstall): once P has acknowledged an `uninstalled`
/// hook for tenant i (its 2xx), its store holds no long-lived credential item of i (RT,
/// client or shared secret, trigger URL or key): the platform refuses them from then on, and
/// a later breach of P's store must not find them. Judged from P's row as the engine
/// recorded it (`StoreItem` adds, `StoreDrop` removes; the mechanism cannot write those
/// records itself), at the instant the 2xx left. `reached` adds the acknowledged uninstalls
/// for which P held an item of the tenant when the hook was sent (the clause's antecedent);
/// where P keeps nothing per tenant (push) or is never told, it adds nothing.
pub fn with_retention_clause(mut v: Verdict, f: &Facts<'_>) -> Verdict {
    let acks = acknowledged_uninstalls(f);
    if acks.is_empty() {
        return v;
    }
    let rows = f.store_rows();
    let mut first = None;
    for (req, tenant, sent, acked) in acks {
        if rows.held(f.h, tenant, sent).is_empty() {
            continue;
        }
        v.reached += 1;
        let kept = rows.held(f.h, tenant, acked);
        if first.is_some() || kept.is_empty() {
            continue;
        }
        let mut lines: Vec<String> = f
            .admin
            .iter()
            .rfind(|(t, k, x)| *x == tenant && *k == AdminKind::Uninstall && *t <= sent)
            .map(|(t, k, x)| format!("t={:.3}s admin {k:?} {x}", *t as f64 / 1e6))
            .into_iter()
            .collect();
        lines.push(f.line(req));
        let items: Vec<String> = kept
            .iter()
            .map(|(field, item)| format!("{field} {}", short(*item)))
            .collect();
        lines.push(format!(
            "violation: P acknowledged the uninstall of {tenant} at t={:.3}s and still holds its {}",
            acked as f64 / 1e6,
            items.join(", ")
        ));
        first = Some(numbered(lines));
    }
    fold_clause(v, first)
}

/// P6 Replay: one-time items (a code, a DPoP proof, a Connect JWT across requests, a client
/// assertion) are never accepted twice, and a code never past its lifetime. Bearer replay is by design where the design has no one-time item.
pub fn replay(h: &History) -> Verdict {
    replay_with(&Facts::new(h))
}

/// [`replay`] over a shared index of the history.
pub fn replay_with(f: &Facts<'_>) -> Verdict {
    let mut violations = Vec::new();
    let mut reached = 0;
    let mut one_time_seen = false;
    let mut bearer_replayed = false;
    // Accepted uses per one-time item: (route, request).
    let mut uses: ItemMap<Vec<(&'static str, tokenlab_models::ids::MsgId)>> = ItemMap::default();
    let mut first_presenter: ItemMap<Party> = ItemMap::default();
    for (p, d, decided_at) in f.decided() {
        let Some((_, env)) = f.msgs.get(&p.req) else {
            continue;
        };
        let req = env.request().expect("presentations are requests");
        let issued = f.issued.get(&p.item);
        let code = issued.is_some_and(|i| i.kind == ItemKind::AuthCode);
        // A code presented by the attacker past its lifetime (a late redemption): only the
        // AS's expiry check stops it, and accepting it is a violation.
        let expired = code && issued.and_then(|i| i.exp).is_some_and(|exp| p.t >= exp);
        // A JWT the platform never issued is signed per request by P (Connect).
        let per_request =
            issued.is_none() && matches!(req.headers.get("authorization"), Some(Value::Jwt(_)));
        let proof = req.headers.secret("dpop").map(|s| s.id());
        // private_key_jwt: the presented item is the key; its assertion is single use.
        let assertion = req.body.jwt("client_assertion").map(|j| j.id());
        if code || per_request || proof.is_some() || assertion.is_some() {
            one_time_seen = true;
        }
        let replayed = p.who == Party::Attacker
            && first_presenter
                .get(&p.item)
                .is_some_and(|w| *w != Party::Attacker);
        first_presenter.entry(p.item).or_insert(p.who);
        if replayed || (expired && p.who == Party::Attacker) {
            reached += 1;
        }
        if !matches!(d, Decision::Accept { .. }) {
            continue;
        }
        if expired {
            violations.push(numbered(vec![
                f.line(p.req),
                format!(
                    "violation: one-time code {} accepted at {:.3} s, past its lifetime",
                    short(p.item),
                    decided_at as f64 / 1e6
                ),
            ]));
        }
        if replayed && !code && !per_request && proof.is_none() && assertion.is_none() {
            bearer_replayed = true;
        }
        for (item, kind) in [
            (Some(p.item).filter(|_| code), "code"),
            (Some(p.item).filter(|_| per_request), "jwt"),
            (proof, "dpop"),
            (assertion, "assertion"),
        ] {
            let Some(item) = item else { continue };
            let list = uses.entry(item).or_default();
            let twice = match kind {
                // A Connect JWT may be reused for the same request until exp (by design).
                "jwt" => list.iter().any(|(route, _)| *route != req.route),
                _ => !list.is_empty(),
            };
            if twice {
                let first = list[0].1;
                violations.push(numbered(vec![
                    f.line(first),
                    f.line(p.req),
                    format!("violation: one-time {kind} {} accepted twice", short(item)),
                ]));
            }
            list.push((req.route, p.req));
        }
    }
    let otherwise = if !one_time_seen && bearer_replayed {
        VerdictKind::ByDesign
    } else {
        VerdictKind::Holds
    };
    verdict("P6", violations, reached, otherwise)
}

/// Routes whose answer (or whose redirect) carries T or a code to somebody.
const DELIVERING_ROUTES: [&str; 3] = ["GET /trigger", "GET /authorize", "POST /authorize/consent"];

/// P7 Delivery integrity: tokens and codes reach only registered endpoints. T returned to the
/// caller of an authenticated AS request is not a delivery.
pub fn delivery_integrity(h: &History) -> Verdict {
    delivery_integrity_with(&Facts::new(h))
}

/// [`delivery_integrity`] over a shared index of the history.
pub fn delivery_integrity_with(f: &Facts<'_>) -> Verdict {
    let h = f.h;
    let mut violations = Vec::new();
    let mut reached = 0;
    for r in &h.records {
        let Event::Receive { who, env } = &r.event else {
            continue;
        };
        if *who == Party::Attacker {
            let as_answer = env.from == Party::AS && !env.is_request();
            for (x, field) in env.items() {
                let Some(i) = f.issued.get(&x) else { continue };
                if matches!(i.kind, ItemKind::AccessToken | ItemKind::AuthCode) && !as_answer {
                    let mut lines = f.provenance(x);
                    if let Some(c) = env.cause.filter(|_| !env.is_request()) {
                        lines.push(f.line(c));
                    }
                    lines.push(format!(
                        "t={:.3}s {} (field {field})",
                        r.t as f64 / 1e6,
                        env.summary()
                    ));
                    lines.push(format!(
                        "violation: {:?} for {} delivered to the attacker, not to a registered endpoint",
                        i.kind, i.tenant
                    ));
                    violations.push(numbered(lines));
                }
            }
        }
    }
    // Reached: attacker-rooted requests answered by a route whose answer hands out T or a
    // code (a trigger URL call, the authorize page and its consent), where only the
    // verifier's delivery check (registered endpoint, `url_auth`, exact redirect) decides
    // where it goes.
    for (id, (_, env)) in &f.msgs {
        if env
            .request()
            .is_some_and(|q| DELIVERING_ROUTES.contains(&q.route))
            && is_verifier(env.to)
            && f.attacker_rooted(*id)
            && f.answers.contains_key(id)
        {
            reached += 1;
        }
    }
    // No attacker move reached a delivery check (push: the manifest `baseUrl` is the only
    // target and no request changes it; refresh: nothing is delivered) and nothing was
    // delivered to the attacker: nothing to judge.
    if reached == 0 && violations.is_empty() {
        return Verdict::not_applicable("P7", reached);
    }
    verdict("P7", violations, reached, VerdictKind::Holds)
}

/// P8 Injection resistance: P stores T or a long-lived item for i only if it came with a FIT
/// the platform issued for i, or from P's own call for a credential or grant of i.
pub fn injection_resistance(h: &History) -> Verdict {
    injection_resistance_with(&Facts::new(h))
}

/// [`injection_resistance`] over a shared index of the history.
pub fn injection_resistance_with(f: &Facts<'_>) -> Verdict {
    let h = f.h;
    let app_b = issued_to_app_b(f);
    let mut violations = Vec::new();
    let mut reached = 0;
    for (id, (_, env)) in &f.msgs {
        if env.from == Party::Attacker
            && matches!(env.to, Party::Partner(_))
            && f.answers.contains_key(id)
        {
            reached += 1;
        }
    }
    for r in &h.records {
        let (tenant, item, cause) = match &r.event {
            Event::StoreCommit {
                tenant,
                item,
                cause,
            } => (*tenant, *item, *cause),
            Event::StoreItem(s) => (s.tenant, s.item, s.cause),
            _ => continue,
        };
        // An item F handed app B (`apps=2`) is app B's, whichever tenant it names.
        let item_ok = !app_b.contains(&item)
            && (f.app_wide.contains(&item)
                || f.issued.get(&item).is_some_and(|i| i.tenant == tenant));
        let legit = match cause.and_then(|c| f.msgs.get(&c)) {
            // Write-behind of T from P's own AS call.
            None => item_ok,
            Some((_, env)) => match env.request() {
                Some(req) => {
                    let fit_ok = req
                        .headers
                        .jwt("authorization")
                        .filter(|j| !app_b.contains(&j.id()))
                        .and_then(|j| f.issued.get(&j.id()))
                        .is_some_and(|i| i.kind == ItemKind::Fit && i.tenant == tenant);
                    let via_flow = env.to == Party::Partner(PartnerEndpoint::OAuth);
                    // A genuine FIT authenticates the delivery it came with, not whatever body
                    // a replay attaches to it: an item the platform never issued is stored
                    // legitimately only in the attacker's own tenant (A4, its own business).
                    let own_row = env.from == Party::Attacker && f.owned == Some(tenant);
                    (fit_ok || via_flow) && (item_ok || own_row && !f.issued.contains_key(&item))
                }
                // An answer to P's own request.
                None => {
                    let own = env
                        .cause
                        .and_then(|c| f.msgs.get(&c))
                        .is_some_and(|(_, q)| matches!(q.from, Party::Partner(_)));
                    own && item_ok
                }
            },
        };
        if !legit {
            let mut lines = f.provenance(item);
            if let Some(c) = cause {
                lines.push(f.line(c));
            }
            lines.push(format!(
                "t={:.3}s P committed {} for {tenant}",
                r.t as f64 / 1e6,
                short(item)
            ));
            lines.push(format!(
                "violation: {} was stored for {tenant} without a FIT for {tenant} or P's own call for it",
                short(item)
            ));
            violations.push(numbered(lines));
        }
    }
    verdict("P8", violations, reached, VerdictKind::Holds)
}

/// P9 Credential binding and reuse detection: an RT or secret is accepted only for the tenant
/// it is bound to (and an app-wide one only from P); a superseded RT presented after the grace
/// window must be detected.
pub fn credential_binding(h: &History, grace: Micros) -> Verdict {
    credential_binding_with(&Facts::new(h), grace)
}

/// [`credential_binding`] over a shared index of the history.
pub fn credential_binding_with(f: &Facts<'_>, grace: Micros) -> Verdict {
    let h = f.h;
    let credentials = f.issued.values().any(|i| {
        matches!(
            i.kind,
            ItemKind::RefreshToken | ItemKind::ClientSecret | ItemKind::SharedSecret
        )
    });
    let mut violations = Vec::new();
    let mut reached = 0;
    // When each RT was superseded: the earliest answer (by time, not by message id) that
    // handed back a different RT for it.
    let mut superseded: ItemMap<Micros> = ItemMap::default();
    for (req, p) in &f.presents {
        let Some((t, ans)) = f.answers.get(req) else {
            continue;
        };
        if f.issued.get(&p.item).map(|i| i.kind) != Some(ItemKind::RefreshToken) {
            continue;
        }
        if let Some(rt) = ans.response().and_then(|r| r.body.secret("refresh_token"))
            && rt.id() != p.item
        {
            let s = superseded.entry(p.item).or_insert(*t);
            *s = (*s).min(*t);
        }
    }
    // Decided presentations of RTs, by family root, for "was the family revoked"; and the
    // detections by tenant: a reuse reads its own family's and tenant's, not every one.
    let family_accepts: Grouped<ItemId, (Micros, MsgId)> = Grouped::new(
        f.decided()
            .filter(|(p, d, _)| {
                matches!(d, Decision::Accept { .. })
                    && f.issued.get(&p.item).map(|i| i.kind) == Some(ItemKind::RefreshToken)
            })
            .map(|(p, _, t)| (f.root_of(p.item), (t, p.req)))
            .collect(),
    );
    let detects: Grouped<TenantId, Micros> = Grouped::new(
        h.records
            .iter()
            .filter_map(|r| match &r.event {
                Event::Detect { tenant, .. } => Some((*tenant, r.t)),
                _ => None,
            })
            .collect(),
    );
    for (p, d, t) in f.decided() {
        let kind = f.issued.get(&p.item).map(|i| i.kind);
        let credential = matches!(kind, Some(ItemKind::RefreshToken | ItemKind::ClientSecret))
            || (kind.is_none() && p.who == Party::Attacker);
        if !credential {
            continue;
        }
        if f.attacker_originated(p) {
            reached += 1;
        }
        if matches!(d, Decision::Accept { .. }) {
            let bound = f.bound_tenant(p.item);
            if bound.is_some_and(|i| i != p.tenant) || !f.entitled(p.who, p.tenant, p.t) {
                let mut lines = f.provenance(p.item);
                lines.push(f.line(p.req));
                lines.push(format!(
                    "violation: a credential not bound to {} was accepted for it",
                    p.tenant
                ));
                violations.push(numbered(lines));
            }
        }
        // A superseded RT presented for another installation and refused there met the
        // binding check, not reuse detection (an accept is judged above): reuse is a second
        // presentation for the RT's own installation.
        let refused_elsewhere = !matches!(d, Decision::Accept { .. })
            && f.issued.get(&p.item).is_some_and(|i| i.tenant != p.tenant);
        if let Some(s) = superseded.get(&p.item)
            && p.t > s + grace
            && !refused_elsewhere
        {
            reached += 1;
            let tenant = f.issued[&p.item].tenant;
            let detected = detects
                .of(tenant)
                .iter()
                .any(|(_, dt)| *dt >= *s && *dt <= t);
            let accepted = matches!(d, Decision::Accept { .. });
            // The family is revoked: no RT of it is accepted after the reuse was decided.
            let root = f.root_of(p.item);
            let live_after = family_accepts
                .of(root)
                .iter()
                .filter(|(_, (at, _))| *at > t)
                .min_by_key(|(_, (at, _))| *at);
            let why = if !detected {
                Some("nothing detected it")
            } else if accepted {
                Some("it was accepted")
            } else if live_after.is_some() {
                Some("its family was not revoked: a later RT of the family was accepted")
            } else {
                None
            };
            if let Some(why) = why {
                let mut lines = f.provenance(p.item);
                lines.push(format!(
                    "t={:.3}s {} superseded by rotation",
                    *s as f64 / 1e6,
                    short(p.item)
                ));
                lines.push(f.line(p.req));
                if let Some((_, (_, req))) = live_after {
                    lines.push(f.line(*req));
                }
                lines.push(format!(
                    "violation: a superseded RT outside the grace window was presented and {why}"
                ));
                violations.push(numbered(lines));
            }
        }
    }
    if !credentials {
        return Verdict::not_applicable("P9", reached);
    }
    verdict("P9", violations, reached, VerdictKind::Holds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::StoreRows;

    fn row_change(
        h: &mut History,
        t: Micros,
        drop: bool,
        tenant: u32,
        field: &'static str,
        item: u64,
    ) {
        let s = Box::new(StoredItem {
            tenant: TenantId(tenant),
            field,
            item: ItemId(item),
            cause: None,
        });
        h.push(
            t,
            if drop {
                Event::StoreDrop(s)
            } else {
                Event::StoreItem(s)
            },
        );
    }

    /// The per-tenant index answers exactly as the rescan of the history it replaces, on a
    /// history in time order and on one that is not (where the rescan stops at the first
    /// later record).
    #[test]
    fn store_rows_agree_with_held_items() {
        let mut sorted = History::default();
        row_change(&mut sorted, 10, false, 1, "rt", 100);
        row_change(&mut sorted, 10, false, 2, "rt", 200);
        row_change(&mut sorted, 20, false, 1, "secret", 101);
        row_change(&mut sorted, 30, true, 1, "rt", 100);
        row_change(&mut sorted, 30, false, 1, "rt", 102);
        row_change(&mut sorted, 40, true, 2, "rt", 200);
        let mut unsorted = History::default();
        row_change(&mut unsorted, 30, false, 1, "rt", 100);
        row_change(&mut unsorted, 10, false, 1, "secret", 101);
        row_change(&mut unsorted, 20, true, 1, "rt", 100);
        row_change(&mut unsorted, 5, false, 2, "rt", 200);
        for h in [&sorted, &unsorted] {
            let rows = StoreRows::new(h);
            for tenant in [1, 2, 3] {
                for t in [0, 5, 10, 15, 20, 30, 35, 40, 50] {
                    let tenant = TenantId(tenant);
                    assert_eq!(
                        rows.held(h, tenant, t),
                        held_items(h, tenant, t),
                        "{tenant} at {t}"
                    );
                }
            }
        }
        // Not vacuous: the index sees the rotation and the drop.
        let rows = StoreRows::new(&sorted);
        assert_eq!(
            rows.held(&sorted, TenantId(1), 30).get("rt"),
            Some(&ItemId(102))
        );
        assert!(rows.held(&sorted, TenantId(2), 40).is_empty());
        // The unsorted history's rescan stops at its first record (t = 30) before 30.
        assert!(
            StoreRows::new(&unsorted)
                .held(&unsorted, TenantId(2), 20)
                .is_empty()
        );
    }
}
