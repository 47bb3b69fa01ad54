//! The sweep's results: every point's metrics in sweep order, and the shard files a sliced run
//! writes. Experiments produce these; rules and analysis read them; nothing here renders.

use super::experiments::{Config, Metrics, PointSpec};
use serde::{Deserialize, Serialize};

/// One point's result, tagged with its place in the sweep.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PointResult {
    pub index: usize,
    pub key: String,
    pub experiment: String,
    pub metrics: Metrics,
}

/// A shard file: which slice of which sweep, and its results.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ShardFile {
    pub config: Config,
    pub points: usize,
    pub shard: (usize, usize),
    pub results: Vec<PointResult>,
}

/// Every point with its metrics, in sweep order.
pub struct Results {
    pub config: Config,
    pub points: Vec<(PointSpec, Metrics)>,
}

impl Results {
    pub fn get(&self, experiment: &str, key: &str) -> Option<&Metrics> {
        self.points
            .iter()
            .find(|(p, _)| p.experiment == experiment && p.key == key)
            .map(|(_, m)| m)
    }
    pub fn spec(&self, experiment: &str, key: &str) -> Option<&PointSpec> {
        self.points
            .iter()
            .find(|(p, _)| p.experiment == experiment && p.key == key)
            .map(|(p, _)| p)
    }
}
