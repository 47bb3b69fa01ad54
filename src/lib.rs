//! tokenlab library: the real-network driver and the PostgreSQL token store behind it.
pub mod net;
pub mod probe;
pub mod store_pg;
