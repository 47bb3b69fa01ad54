//! Principals (issue 12, H12): users beside the app. Each tenant has `users` users
//! (`users=0`, the default, is the app-only world every other output is measured in); an
//! access token carries the principal it acts as (`AccessClaims::sub`, absent for the app);
//! the product API's principal check ([`check_principal`]) lets a user token reach its own
//! user's data only and refuses an app token that claims a user.
//!
//! What a mechanism's root credential may act as is its [`Capability`] (`mechanisms.md`):
//! - `connect-jwt` with `act_as_user=on`: the 2LO impersonation grant. The `sharedSecret`
//!   signs an assertion naming the user (`ConnectClaims::sub`), the AS answers with a user T.
//! - `refresh` / `upm-oauth` with `user_grant=on`: each user who consented has an RT bound
//!   to that user; P keeps the app's RT as well.
//! - `push`, `trigger` (and the client-secret mechanisms, and the two above with their
//!   switch off): app only; a request for a user token is refused.
//!
//! This is a sans-IO model of the principal layer alone, run as an exhaustive enumeration
//! ([`enumerate`]): the simulated workload stays app-only (it never addresses a user), so
//! with `users=0` nothing here runs and no simulator output changes. The AS's claim check
//! is [`Authority::exchange`]; the API is the real [`verify_bearer`]. Two mutants make
//! the clause fail: `api_principal_check=off` (the API skips the principal check) and
//! `as_user_claim=honoured` (the AS mints a token for whichever user the request claims).

use crate::ids::{APP_ID, TenantId};
use crate::message::{Fields, Request, Value};
use crate::params::{Choice, ParamValue, Params};
use crate::roles::resource::{ACT_AS_HEADER, InstallView, check_principal, verify_bearer};
use crate::secret::{Jwt, Secret};
use crate::token::{
    API_AUDIENCE, AccessClaims, ConnectClaims, EPOCH_S, PlatformKeys, client_key, sign_connect,
    verify_connect,
};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Users per tenant the report's H12 experiment and its expectation rows use (`users=3`).
pub const REPORT_USERS: u32 = 3;

/// `users`: users per tenant beside the app; `0` (the default) keeps the app the only
/// principal.
pub const USERS_VALUES: &[&str] = &["0", "1", "2", "3", "4", "5", "6", "7", "8"];

/// The API's reasons that come from the principal check (a refusal with one of these, or an
/// Accept, means the request reached the check).
pub const PRINCIPAL_REASONS: [&str; 3] = [
    "wrong_user",
    "app_token_claims_user",
    "user_token_for_app_data",
];

crate::choice_enum! {
    /// How the AS treats the user a token request claims (`as_user_claim`): `verified`
    /// against the credential's grant, or `honoured` as claimed (mutant).
    pub enum UserClaim { Verified = "verified", Honoured = "honoured" }
}

/// A principal of one tenant: the app, or user `u` (0-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Principal {
    App,
    User(u32),
}

impl Principal {
    /// The name the token's `sub` and the request's `x-act-as` carry (`None`: the app).
    pub fn sub(self) -> Option<String> {
        match self {
            Principal::App => None,
            Principal::User(u) => Some(user_name(u)),
        }
    }
    pub fn label(self) -> String {
        match self {
            Principal::App => "app".into(),
            Principal::User(u) => user_name(u),
        }
    }
}

/// User `u`'s name (`user-0`, …).
pub fn user_name(u: u32) -> String {
    format!("user-{u}")
}

fn parse_user(s: &str) -> Option<u32> {
    s.strip_prefix("user-")?.parse().ok()
}

/// Which principals a mechanism's root credential may act as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    /// The app only; a user-token request is refused.
    AppOnly,
    /// `connect-jwt` `act_as_user=on`: the shared secret signs an assertion naming any user.
    Impersonation,
    /// `refresh`/`upm-oauth` `user_grant=on`: an RT per consenting user, bound to that user.
    UserGrant,
}

/// The principal layer's switches, read once from a run's parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PrincipalConfig {
    pub users: u32,
    pub capability: Capability,
    /// The API's principal check (`api_principal_check`; off: mutant).
    pub api_check: bool,
    pub claim: UserClaim,
    /// The mechanism's root is Connect's shared secret (assertions) rather than a grant.
    pub shared_secret: bool,
}

impl PrincipalConfig {
    /// Keys a mechanism does not declare take their app-only value; a mechanism that declares
    /// `act_as_user` (connect-jwt) has a shared secret as its root.
    pub fn from_params(p: &Params) -> PrincipalConfig {
        let on = |key| matches!(p.get(key), Some(ParamValue::Bool(true)));
        let choice = |key| match p.get(key) {
            Some(ParamValue::Choice(c)) => Some(*c),
            _ => None,
        };
        let capability = if on("act_as_user") {
            Capability::Impersonation
        } else if on("user_grant") {
            Capability::UserGrant
        } else {
            Capability::AppOnly
        };
        PrincipalConfig {
            users: choice("users").and_then(|u| u.parse().ok()).unwrap_or(0),
            capability,
            api_check: !matches!(p.get("api_principal_check"), Some(ParamValue::Bool(false))),
            claim: choice("as_user_claim")
                .and_then(UserClaim::from_name)
                .unwrap_or(UserClaim::Verified),
            shared_secret: p.get("act_as_user").is_some(),
        }
    }

    /// Users exist: the principal clause runs (and only then).
    pub fn active(&self) -> bool {
        self.users > 0
    }
}

/// A root credential of one tenant as the principal layer sees it.
#[derive(Clone, Debug)]
pub enum Credential {
    /// Connect's `sharedSecret`: signs assertions.
    SharedSecret { tenant: TenantId, secret: Secret },
    /// A grant handle (a client secret, trigger URL, pushed grant or RT) bound to the app or
    /// to one user.
    Grant {
        tenant: TenantId,
        handle: Secret,
        bound: Principal,
    },
}

impl Credential {
    pub fn tenant(&self) -> TenantId {
        match self {
            Credential::SharedSecret { tenant, .. } | Credential::Grant { tenant, .. } => *tenant,
        }
    }
    /// What its holder is entitled to act as in its own tenant (its grant; a stolen one too:
    /// theft is judged by P4 and B, not by P1).
    pub fn entitled(&self, cfg: &PrincipalConfig, p: Principal) -> bool {
        match self {
            Credential::SharedSecret { .. } => {
                p == Principal::App || cfg.capability == Capability::Impersonation
            }
            Credential::Grant { bound, .. } => *bound == p,
        }
    }
    /// The credential's kind: `shared_secret`, `app grant` or `user-N grant`.
    pub fn kind(&self) -> String {
        match self {
            Credential::SharedSecret { .. } => "shared_secret".into(),
            Credential::Grant { bound, .. } => format!("{} grant", bound.label()),
        }
    }
    pub fn label(&self) -> String {
        format!("{} of tenant {}", self.kind(), self.tenant().0)
    }
}

/// The AS's side of the principal layer: the registered secrets and grants, and the keys it
/// mints with.
pub struct Authority {
    cfg: PrincipalConfig,
    keys: PlatformKeys,
    secrets: BTreeMap<String, (TenantId, Secret)>,
    grants: BTreeMap<String, (TenantId, Principal)>,
    jti: u64,
}

/// What the AS decided, and whether the request reached its claim check.
pub struct Exchange {
    pub token: Result<Jwt, &'static str>,
    pub reached_claim_check: bool,
}

impl Authority {
    /// Provisions `tenants` installations and returns the credentials P holds: per tenant
    /// the root (shared secret or app grant) and, with `user_grant`, one RT per user.
    pub fn provision<R: rand::Rng + ?Sized>(
        rng: &mut R,
        cfg: PrincipalConfig,
        tenants: u32,
    ) -> (Authority, Vec<Credential>) {
        let mut a = Authority {
            cfg,
            keys: PlatformKeys::generate(rng),
            secrets: BTreeMap::new(),
            grants: BTreeMap::new(),
            jti: 0,
        };
        let mut creds = Vec::new();
        for t in 0..tenants {
            let tenant = TenantId(t);
            if cfg.shared_secret {
                let secret = Secret::generate(rng, "shared");
                a.secrets
                    .insert(client_key(tenant), (tenant, secret.clone()));
                creds.push(Credential::SharedSecret { tenant, secret });
                continue;
            }
            let mut bound = vec![Principal::App];
            if cfg.capability == Capability::UserGrant {
                bound.extend((0..cfg.users).map(Principal::User));
            }
            for b in bound {
                let handle = Secret::generate(rng, "grant");
                a.grants.insert(handle.expose().to_string(), (tenant, b));
                creds.push(Credential::Grant {
                    tenant,
                    handle,
                    bound: b,
                });
            }
        }
        (a, creds)
    }

    pub fn keys(&self) -> &PlatformKeys {
        &self.keys
    }

    /// A token request: `cred` presented for `tenant`, claiming `claim`. For a shared secret
    /// the request is an assertion signed with it naming `claim` (2LOi).
    pub fn exchange(&mut self, cred: &Credential, tenant: TenantId, claim: Principal) -> Exchange {
        let refuse = |why, reached| Exchange {
            token: Err(why),
            reached_claim_check: reached,
        };
        let (bound_tenant, may_claim) = match cred {
            Credential::SharedSecret { secret, .. } => {
                let assertion = sign_connect(
                    secret,
                    &ConnectClaims {
                        iss: client_key(tenant),
                        iat: EPOCH_S,
                        exp: EPOCH_S + 180,
                        qsh: String::new(),
                        sub: claim.sub(),
                    },
                );
                let Some((t, registered)) = self.secrets.get(&client_key(tenant)) else {
                    return refuse("unknown_issuer", false);
                };
                let Ok(claims) = verify_connect(registered, &assertion) else {
                    return refuse("bad_signature", false);
                };
                let named = match claims.sub.as_deref() {
                    None => Principal::App,
                    Some(s) => match parse_user(s) {
                        Some(u) => Principal::User(u),
                        None => return refuse("unknown_user", false),
                    },
                };
                (
                    *t,
                    named == Principal::App || self.cfg.capability == Capability::Impersonation,
                )
            }
            Credential::Grant { handle, .. } => {
                let Some((t, bound)) = self.grants.get(handle.expose()) else {
                    return refuse("unknown_grant", false);
                };
                (*t, *bound == claim)
            }
        };
        if let Principal::User(u) = claim
            && u >= self.cfg.users
        {
            return refuse("unknown_user", false);
        }
        if !may_claim && self.cfg.claim == UserClaim::Verified {
            return refuse(
                if claim == Principal::App {
                    "grant_bound_to_user"
                } else {
                    "user_not_granted"
                },
                true,
            );
        }
        self.jti += 1;
        let token = self.keys.mint_access(&AccessClaims {
            sub: claim.sub(),
            ..AccessClaims::app_token(
                APP_ID,
                API_AUDIENCE,
                bound_tenant,
                EPOCH_S,
                EPOCH_S + 900,
                format!("p{}", self.jti),
            )
        });
        Exchange {
            token: Ok(token),
            reached_claim_check: true,
        }
    }
}

struct AllLive;
impl InstallView for AllLive {
    fn live(&self, _tenant: TenantId) -> bool {
        true
    }
}

/// One accepted request the credential's grant did not entitle (a P1 principal violation).
#[derive(Clone, Debug, Serialize)]
pub struct Breach {
    pub credential: String,
    pub claimed: String,
    pub tenant: u32,
    pub addressed: String,
}

/// The enumeration's tally.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PrincipalRun {
    /// Token requests plus API requests made.
    pub requests: u64,
    /// Requests that reached a principal check: the AS's claim check or the API's.
    pub reached: u64,
    pub api_accepts: u64,
    pub violations: Vec<Breach>,
    /// Per (tenant, credential kind): the principals of its own tenant the API served it as.
    #[serde(skip)]
    pub reach: BTreeMap<(u32, String), BTreeSet<Principal>>,
}

/// Every attacker move of the principal layer, exhaustively: each credential P holds, for
/// each tenant, claiming each principal (the app and every user, plus one user beyond the
/// tenant's count), then presenting what it got for each principal's data of that tenant.
pub fn enumerate<R: rand::Rng + ?Sized>(
    rng: &mut R,
    cfg: PrincipalConfig,
    tenants: u32,
) -> PrincipalRun {
    let (mut authority, creds) = Authority::provision(rng, cfg, tenants);
    let principals: Vec<Principal> = std::iter::once(Principal::App)
        .chain((0..=cfg.users).map(Principal::User))
        .collect();
    let mut run = PrincipalRun::default();
    for cred in &creds {
        let reach = run.reach.entry((cred.tenant().0, cred.kind())).or_default();
        for t in 0..tenants {
            let tenant = TenantId(t);
            for &claim in &principals {
                run.requests += 1;
                let ex = authority.exchange(cred, tenant, claim);
                run.reached += u64::from(ex.reached_claim_check);
                let Ok(token) = ex.token else { continue };
                for &addressed in &principals {
                    run.requests += 1;
                    let mut headers =
                        Fields::new().with("authorization", Value::Jwt(token.clone()));
                    if let Some(u) = addressed.sub() {
                        headers = headers.with(ACT_AS_HEADER, Value::Str(u));
                    }
                    let req = Request {
                        method: crate::message::Method::Get,
                        route: "GET /rest/api/resource",
                        tenant: Some(tenant),
                        headers,
                        body: Fields::new(),
                    };
                    let d = verify_bearer(
                        authority.keys(),
                        &AllLive,
                        true,
                        true,
                        0,
                        &req,
                        0,
                        cfg.api_check,
                    );
                    match d {
                        Ok((served, _)) => {
                            run.reached += 1;
                            run.api_accepts += 1;
                            let own = served == cred.tenant();
                            if own {
                                reach.insert(addressed);
                            }
                            if !own || !cred.entitled(&cfg, addressed) {
                                run.violations.push(Breach {
                                    credential: cred.label(),
                                    claimed: claim.label(),
                                    tenant: served.0,
                                    addressed: addressed.label(),
                                });
                            }
                        }
                        Err(why) => run.reached += u64::from(PRINCIPAL_REASONS.contains(&why)),
                    }
                }
            }
        }
    }
    run
}

/// What each credential kind of tenant 0 buys, in principals of its own tenant, with the AS
/// and API as configured (the same for every tenant: the enumeration is symmetric).
pub fn offline_reach(run: &PrincipalRun) -> BTreeMap<String, BTreeSet<Principal>> {
    run.reach
        .iter()
        .filter(|((t, _), _)| *t == 0)
        .map(|((_, k), s)| (k.clone(), s.clone()))
        .collect()
}

/// The API's principal check on a (sub, addressed) pair, for callers that hold no token.
pub fn api_allows(token: Principal, addressed: Principal, enforce: bool) -> bool {
    check_principal(token.sub().as_deref(), addressed.sub().as_deref(), enforce).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn cfg(capability: Capability, shared_secret: bool) -> PrincipalConfig {
        PrincipalConfig {
            users: 3,
            capability,
            api_check: true,
            claim: UserClaim::Verified,
            shared_secret,
        }
    }
    fn run(c: PrincipalConfig) -> PrincipalRun {
        enumerate(&mut rand_chacha::ChaCha8Rng::seed_from_u64(1), c, 2)
    }

    #[test]
    fn capabilities_reach_what_the_spec_gives() {
        let users: BTreeSet<Principal> = (0..3).map(Principal::User).collect();
        let app: BTreeSet<Principal> = [Principal::App].into();
        // connect-jwt with act_as_user: the app and every user, offline.
        let r = run(cfg(Capability::Impersonation, true));
        assert!(r.violations.is_empty(), "{:?}", r.violations);
        let all: BTreeSet<Principal> = app.union(&users).copied().collect();
        assert_eq!(offline_reach(&r)["shared_secret"], all);
        // Without it: the app only.
        let r = run(cfg(Capability::AppOnly, true));
        assert!(r.violations.is_empty());
        assert_eq!(offline_reach(&r)["shared_secret"], app);
        // A user grant: each RT reaches its own user only.
        let r = run(cfg(Capability::UserGrant, false));
        assert!(r.violations.is_empty());
        assert_eq!(
            offline_reach(&r)["user-1 grant"],
            [Principal::User(1)].into()
        );
        assert_eq!(offline_reach(&r)["app grant"], app);
        // App only (push, trigger): a user-token request is refused.
        let r = run(cfg(Capability::AppOnly, false));
        assert!(r.violations.is_empty() && r.reached > 0);
        assert_eq!(offline_reach(&r)["app grant"], app);
    }

    #[test]
    fn mutants_break_the_clause() {
        let skip = PrincipalConfig {
            api_check: false,
            ..cfg(Capability::UserGrant, false)
        };
        assert!(!run(skip).violations.is_empty());
        let honour = PrincipalConfig {
            claim: UserClaim::Honoured,
            ..cfg(Capability::AppOnly, false)
        };
        assert!(!run(honour).violations.is_empty());
        let honour_connect = PrincipalConfig {
            claim: UserClaim::Honoured,
            ..cfg(Capability::AppOnly, true)
        };
        assert!(!run(honour_connect).violations.is_empty());
    }

    #[test]
    fn the_api_check_is_the_spec() {
        use Principal::*;
        assert!(api_allows(App, App, true));
        assert!(api_allows(User(1), User(1), true));
        assert!(!api_allows(User(1), User(2), true));
        assert!(!api_allows(App, User(0), true));
        assert!(!api_allows(User(0), App, true));
        assert!(api_allows(App, User(0), false));
    }
}
