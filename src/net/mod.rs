//! Real-network mode: the sans-IO roles of `tokenlab-models` hosted as axum services on
//! loopback (127.0.0.1 only), talking real HTTP with real JWTs, under the same fault profiles
//! as the simulator, recording the same history.
//!
//! Map: [`wire`] is the one Envelope ⇄ HTTP mapping; [`world`] runs a mechanism's world
//! (servers, client, clock, scheduler, fault enactment, history); [`client`] is the HTTP client;
//! [`calibrate`] compares it with the simulator; [`burden`] counts what each mechanism makes the partner implement beyond a stock client.

pub mod burden;
pub mod calibrate;
pub mod client;
pub mod wire;
pub mod world;

pub use burden::{Burden, BurdenCounts, partner_burden, partner_burden_async};
pub use calibrate::{Calibration, CalibrationRow, calibrate, calibration};
pub use world::{DemandResult, LoopbackWorld, NetConfig, StartError};
