//! tokenlab-models: pure, sans-IO models of the RFC-34 token-delivery mechanisms and the
//! deterministic discrete-event simulator they run in.
//!
//! Contract: nothing here performs I/O, reads the wall clock or touches global randomness
//! (enforced by `clippy.toml`). Every role is a state machine: inputs arrive with `now`
//! through [`roles::Role::handle`], effects (messages, timers, history events) come out in
//! [`roles::Effects`]. The simulator in [`sim`] owns time, the event queue and the network;
//! a real-network driver can host the very same roles.
//!
//! Map: shared vocabulary in [`ids`], [`secret`], [`token`], [`message`], [`history`],
//! [`params`]; roles in [`roles`]; the seven mechanisms in [`mechanisms`] (one module each,
//! one registry line); faults and presets in [`faults`]; the simulator, workload and summary
//! metrics in [`sim`].

pub mod choice;
pub mod faults;
pub mod history;
pub mod ids;
pub mod mechanisms;
pub mod message;
pub mod network;
pub mod params;
pub mod principals;
pub mod roles;
pub mod secret;
pub mod sim;
pub mod sorted_map;
pub mod token;
pub mod world;

/// Virtual time in microseconds. Negative times are the fault-free provisioning phase.
pub type Micros = i64;
/// One millisecond in [`Micros`].
pub const MS: Micros = 1_000;
/// One second in [`Micros`].
pub const SEC: Micros = 1_000_000;

/// Milliseconds as a float, for reports.
pub fn as_ms(t: Micros) -> f64 {
    t as f64 / MS as f64
}
