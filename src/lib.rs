//! tokenlab library: the real-network driver.
pub mod net;
