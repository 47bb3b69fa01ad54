//! The partner backend: P.app (demand-driven, token cache, the one retry policy shared by all
//! mechanisms, single-flight) and the partner endpoints a mechanism needs (P.auth, P.recv,
//! lifecycle hooks, the OAuth redirect), all hosting one [`PartnerSide`] of a mechanism and
//! one store.
//!
//! Map: [`api`] is what a mechanism author implements and uses ([`PartnerSide`],
//! [`PartnerCx`], [`Inbound`], [`AttemptResult`]); [`engine`] is the role itself (demands,
//! single flight, timers, restart); [`acquire`] the attempt loop and its retry policy;
//! [`inbound`] the endpoints' request handling.
//!
//! Retry policy (`mechanisms.md` §0): per-attempt timeout, exponential backoff with full
//! jitter U(0, min(cap, base·2ⁿ)), an attempt cap, a deadline per demand, and a re-read of
//! the cache before each retry.

mod acquire;
pub mod api;
mod awaiting;
mod engine;
mod inbound;
pub mod keys;

pub use api::{
    AttemptResult, Credential, FitRefusal, Inbound, OutRequest, PartnerCx, PartnerSide, RowUpdate,
};
pub use engine::Partner;

use crate::Micros;
use crate::params::{JwksFail, LogToken};

/// The partner's shared hygiene (`mechanisms.md` §0), resolved once per run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Per attempt, on every partner-initiated call (`timeout`).
    pub attempt_timeout: Option<Micros>,
    pub retries: u32,
    pub backoff_base: Micros,
    pub backoff_cap: Micros,
    /// Per demand; `None` where nothing bounds it.
    pub deadline: Option<Micros>,
    /// Re-read the cache before each retry (`reread_before_retry`).
    pub reread: bool,
    pub single_flight: bool,
    pub check_exp: bool,
    pub expiry_margin: Micros,
}

/// The partner's shared switches, typed (built by `mechanisms::SharedConfig::from_params`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartnerConfig {
    pub retry: RetryPolicy,
    /// P.auth / P.recv verify the FIT (`fit_check`; off is a mutant).
    pub fit_check: bool,
    /// P.auth / P.recv bind a FIT's `jti` to the first body it came with
    /// (`fit_replay_check`; off is a mutant).
    pub fit_replay_check: bool,
    /// P.lifecycle binds a hook FIT's `jti` to the first event body it came with
    /// (`lifecycle_fit_replay_check`; off is a mutant).
    pub lifecycle_fit_replay_check: bool,
    /// What P.lifecycle does with the row at `uninstalled` (`partner_retention`; `keep` is a
    /// mutant).
    pub partner_retention: crate::params::PartnerRetention,
    /// P checks a FIT's `aud` (`fit_audience_check`; off is a mutant).
    pub fit_audience_check: bool,
    /// P.app records a stale read after a trigger 2xx (`stale_read_report`; off: mutant).
    pub stale_read_report: bool,
    pub jwks_fail: JwksFail,
    /// How far P's clock runs behind the platform's.
    pub clock_skew: Micros,
    pub log_token: LogToken,
    /// How P keeps the platform's key set when F rotates its FIT key (`fit_key_rotation`).
    pub keys: KeyPolicy,
}

/// P's JWKS cache policy (`jwks_refetch_floor`, `jwks_max_age`, `unknown_kid`); it matters
/// only when the platform has a key schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyPolicy {
    pub refetch_floor: Micros,
    pub max_age: Option<Micros>,
    pub unknown_kid: crate::params::UnknownKid,
    /// P remembers the `jti` of a FIT it refused for a key it had not learnt, with its body
    /// (`refused_fit_binding`; off: mutant, the refused FIT is replayable once P learns it).
    pub refused_fit_binding: bool,
}
