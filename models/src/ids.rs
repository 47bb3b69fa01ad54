//! Identifiers shared by every role: tenants (installations), parties and their endpoints,
//! messages, timers, demands.

use serde::Serialize;
use std::fmt;

/// A tenant, i.e. one installation of the partner's app on one site. Tenant ids are public.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct TenantId(pub u32);

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t{}", self.0)
    }
}

/// The partner's app id (app A: the app every model run is about).
pub const APP_ID: &str = "app-tokenlab-partner";
/// A second app on the same platform (`apps=2`), installed wherever app A is; its backend is
/// the attacker's (A4 across apps).
pub const APP_B_ID: &str = "app-tokenlab-other";

/// A message id. The high 16 bits name the role that allocated it, so ids never collide and
/// never depend on scheduling order across roles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct MsgId(pub u64);

impl fmt::Display for MsgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "m{:x}.{}", self.0 >> 48, self.0 & 0xffff_ffff_ffff)
    }
}

/// A timer id, local to the role that set it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct TimerId(pub u64);

/// One demand: P.app needs a token for a tenant and then makes one product-API call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct DemandId(pub u64);

/// Endpoints hosted by the partner (all co-located with P.app; `workload.md` §8).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum PartnerEndpoint {
    /// P.app, the backend that needs tokens.
    App,
    /// P.auth, trigger's `authTriggerRemoteEndpoint`.
    Auth,
    /// P.recv, push's receiver.
    Recv,
    /// Lifecycle hooks (install / uninstall events, Connect's `installed`).
    Lifecycle,
    /// The OAuth start and redirect endpoints of upm-oauth.
    OAuth,
}

/// Endpoints hosted by the platform (F, the AS and the product API are one platform).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum PlatformEndpoint {
    /// Forge: trigger URLs, scheduled pushes, lifecycle events.
    Forge,
    /// The identity service: authorization server and token endpoint.
    AuthServer,
    /// The product API, where tenant isolation is enforced.
    ProductApi,
    /// The UPM console the admin uses.
    Upm,
}

/// Every party a message can come from or go to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Party {
    Partner(PartnerEndpoint),
    Platform(PlatformEndpoint),
    /// The admin's browser.
    Browser,
    /// An attacker (issue 3); has its own link so it never shifts the others' randomness.
    Attacker,
}

impl Party {
    pub const APP: Party = Party::Partner(PartnerEndpoint::App);
    pub const FORGE: Party = Party::Platform(PlatformEndpoint::Forge);
    pub const AS: Party = Party::Platform(PlatformEndpoint::AuthServer);
    pub const API: Party = Party::Platform(PlatformEndpoint::ProductApi);

    /// The role that hosts this endpoint.
    pub fn role(self) -> RoleKind {
        match self {
            Party::Partner(_) => RoleKind::Partner,
            Party::Platform(_) => RoleKind::Platform,
            Party::Browser => RoleKind::Admin,
            Party::Attacker => RoleKind::Attacker,
        }
    }

    /// The coarse group used to key link profiles and partitions.
    pub fn group(self) -> Group {
        match self {
            Party::Partner(_) => Group::Partner,
            Party::Platform(PlatformEndpoint::Forge | PlatformEndpoint::Upm) => Group::Forge,
            Party::Platform(PlatformEndpoint::AuthServer) => Group::AuthServer,
            Party::Platform(PlatformEndpoint::ProductApi) => Group::ProductApi,
            Party::Browser => Group::Browser,
            Party::Attacker => Group::Attacker,
        }
    }
}

impl fmt::Display for Party {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Party::Partner(PartnerEndpoint::App) => "P.app",
            Party::Partner(PartnerEndpoint::Auth) => "P.auth",
            Party::Partner(PartnerEndpoint::Recv) => "P.recv",
            Party::Partner(PartnerEndpoint::Lifecycle) => "P.lifecycle",
            Party::Partner(PartnerEndpoint::OAuth) => "P.oauth",
            Party::Platform(PlatformEndpoint::Forge) => "F",
            Party::Platform(PlatformEndpoint::AuthServer) => "AS",
            Party::Platform(PlatformEndpoint::ProductApi) => "API",
            Party::Platform(PlatformEndpoint::Upm) => "UPM",
            Party::Browser => "browser",
            Party::Attacker => "attacker",
        };
        f.write_str(s)
    }
}

/// The state machines of a world.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum RoleKind {
    Partner,
    Platform,
    Admin,
    Attacker,
}

impl RoleKind {
    /// The namespace byte of ids this role allocates.
    pub fn namespace(self) -> u64 {
        match self {
            RoleKind::Partner => 1,
            RoleKind::Platform => 2,
            RoleKind::Admin => 3,
            RoleKind::Attacker => 4,
        }
    }
}

/// Coarse party groups: link profiles and partitions are keyed by ordered pairs of these.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Group {
    Partner,
    Forge,
    AuthServer,
    ProductApi,
    Browser,
    Attacker,
}

impl Group {
    pub const ALL: [Group; 6] = [
        Group::Partner,
        Group::Forge,
        Group::AuthServer,
        Group::ProductApi,
        Group::Browser,
        Group::Attacker,
    ];
}

/// Allocates ids in one role's namespace.
#[derive(Clone, Debug)]
pub struct IdGen {
    namespace: u64,
    next: u64,
}

impl IdGen {
    pub fn new(role: RoleKind) -> Self {
        IdGen {
            namespace: role.namespace() << 48,
            next: 0,
        }
    }
    /// Ids of messages the simulated network itself creates (edge error responses).
    pub fn new_sim() -> Self {
        IdGen {
            namespace: 0,
            next: 0,
        }
    }
    pub fn msg(&mut self) -> MsgId {
        self.next += 1;
        MsgId(self.namespace | self.next)
    }
    pub fn timer(&mut self) -> TimerId {
        self.next += 1;
        TimerId(self.next)
    }
}
