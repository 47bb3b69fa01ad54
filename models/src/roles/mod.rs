//! Roles as sans-IO state machines. A driver feeds [`Input`]s with `now` into
//! [`Role::handle`] and applies the [`Effects`]: sends messages (at a departure time, so
//! fixed-cost local steps such as a mint delay the reply), sets timers, closes requests it
//! gave up on, and appends history events. The simulator is one such driver; the real-network
//! driver can host the same roles.
//!
//! The generic roles here (partner backend, platform, admin) host the mechanism-specific
//! parts defined in [`crate::mechanisms`] through [`partner::PartnerSide`] and
//! [`platform::PlatformSide`].

pub mod admin;
pub mod attacker;
pub mod partner;
pub mod platform;
pub mod quota;
pub mod resource;
pub mod store;

use crate::Micros;
use crate::history::{Event, Record};
use crate::ids::{DemandId, MsgId, RoleKind, TenantId, TimerId};
use crate::message::Envelope;

/// An admin action, performed through the browser and the UPM.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdminAction {
    Install(u32),
    Uninstall(u32),
    /// Revoke the tenant's grant (upm-oauth's revocation button) or its credential.
    Revoke(u32),
}

impl AdminAction {
    pub fn tenant(self) -> TenantId {
        match self {
            AdminAction::Install(t) | AdminAction::Uninstall(t) | AdminAction::Revoke(t) => {
                TenantId(t)
            }
        }
    }
}

/// What a driver feeds into a role.
#[derive(Clone, Debug)]
pub enum Input {
    Message(Envelope),
    Timer(TimerId),
    /// P.app needs a token for `tenant` (partner only).
    Demand {
        demand: DemandId,
        tenant: TenantId,
    },
    /// An admin action (admin only).
    Admin(AdminAction),
    /// The role restarts after a crash; `lost_volatile`: its in-memory state is gone.
    Restart {
        lost_volatile: bool,
    },
    /// Provisioning is over: t=0 (caches are emptied, schedules start).
    Start,
    /// The driver completed store request `ticket` (partner only, external store backend).
    StoreDone {
        ticket: u64,
        reply: store::StoreReply,
    },
}

/// A message leaving a role at `depart`.
#[derive(Clone, Debug)]
pub struct Outgoing {
    pub depart: Micros,
    pub env: Envelope,
}

impl Outgoing {
    /// The answer `id` to `inbound`, leaving at `depart`.
    pub fn reply(
        id: crate::ids::MsgId,
        inbound: &Envelope,
        response: crate::message::Response,
        depart: Micros,
    ) -> Outgoing {
        Outgoing {
            depart,
            env: Envelope {
                id,
                from: inbound.to,
                to: inbound.from,
                cause: Some(inbound.id),
                body: crate::message::Body::Response(response),
            },
        }
    }
}

/// What a role asks its driver to do.
#[derive(Debug, Default)]
pub struct Effects {
    pub send: Vec<Outgoing>,
    pub timers: Vec<(Micros, TimerId)>,
    /// Requests whose answer the role no longer waits for (the HTTP connection is closed).
    pub cancel: Vec<MsgId>,
    pub history: Vec<Record>,
    /// Token-store operations for the driver (external store backend only; always empty
    /// with the model store).
    pub store: Vec<store::StoreRequest>,
}

impl Effects {
    pub fn record(&mut self, t: Micros, event: Event) {
        self.history.push(Record { t, event });
    }
    pub fn clear(&mut self) {
        self.send.clear();
        self.timers.clear();
        self.cancel.clear();
        self.history.clear();
        self.store.clear();
    }
}

/// A sans-IO state machine.
pub trait Role {
    fn kind(&self) -> RoleKind;
    fn handle(&mut self, now: Micros, input: Input, out: &mut Effects);
}
