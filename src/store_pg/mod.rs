//! The partner's token store on a real PostgreSQL primary and streaming hot standby, for the
//! loopback driver only (the simulator and every default keep the model store).
//!
//! Map: [`cluster`] starts and removes a throwaway primary + standby on 127.0.0.1 (or none, for
//! an existing pair); [`store`] performs the world core's store requests on them and measures
//! the standby's replication lag; [`stale_reads`] is the read-after-write experiment (H4, S3,
//! P12) behind `tokenlab stale-reads` and the report's loopback section.

pub mod cluster;
pub mod stale_reads;
pub mod store;

pub use cluster::{Cluster, ClusterError, ClusterOptions};
pub use stale_reads::{StaleReads, StaleReadsConfig, StoreTarget};
pub use store::{PgStore, PgStoreError};

/// The store code owns real time like the rest of the driver: its one clock read.
#[allow(clippy::disallowed_methods)]
pub(crate) fn monotonic_now() -> std::time::Instant {
    std::time::Instant::now()
}
