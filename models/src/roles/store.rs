//! P.store: the partner's internal token store. A primary that commits writes after a fixed
//! cost t_w, read replicas that see a commit only after a lag, and an optional read-through
//! cache with a TTL. Both hazards of the thread ("ensure any read mechanisms are up to date
//! (i.e. replicas caught up, caches are flushed)") are therefore real, not drawn from a formula.
//! Not a link: its costs and failure probabilities are its own (`workload.md` §8).
//!
//! Two backends hold the token rows ([`Backend`]): this model store (the default everywhere:
//! no server, deterministic) or an external store that the driver completes (the loopback
//! driver's PostgreSQL primary and hot standby). With the external backend the partner asks
//! for each token write and read as a [`StoreRequest`] effect and continues when the driver
//! hands back a [`StoreReply`]: the core never blocks on a database. The long-lived items
//! (URL, RT, secrets) stay in the model store in both cases.

use crate::Micros;
use crate::choice::{Choices, Point};
use crate::ids::TenantId;
use crate::message::Value;
use crate::params::Lag;
use crate::secret::Jwt;
use rand::RngExt;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A cached access token and its expiry.
#[derive(Clone, Debug, PartialEq)]
pub struct CachedToken {
    pub jwt: Jwt,
    pub exp: Micros,
}

/// One tenant's row: the cached token and the long-lived items (URL, RT, secrets).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Row {
    pub token: Option<CachedToken>,
    pub items: Items,
}

/// A row's long-lived items by field name, in name order (what a `BTreeMap` gives), kept
/// as one exact-size vector: a row holds a handful of items, and the store keeps up to
/// [`KEPT_VERSIONS`] versions of every tenant's row, so a map's node per version (about
/// half a kilobyte) was a large part of the memory of a run with many tenants.
#[derive(Clone, Default, PartialEq)]
pub struct Items(Vec<(&'static str, Value)>);

impl Items {
    pub fn get(&self, field: &str) -> Option<&Value> {
        self.position(field).ok().map(|i| &self.0[i].1)
    }

    /// Sets `field` to `value` (replacing the old value, as `BTreeMap::insert` does).
    pub fn insert(&mut self, field: &'static str, value: Value) {
        match self.position(field) {
            Ok(i) => self.0[i].1 = value,
            Err(i) => {
                self.0.reserve_exact(1);
                self.0.insert(i, (field, value));
            }
        }
    }

    /// The items in field-name order.
    pub fn iter(&self) -> impl Iterator<Item = (&&'static str, &Value)> + '_ {
        self.0.iter().map(|(k, v)| (k, v))
    }

    fn position(&self, field: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| (*k).cmp(field))
    }
}

impl<'a> IntoIterator for &'a Items {
    type Item = (&'a &'static str, &'a Value);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (&'static str, Value)>,
        fn(&'a (&'static str, Value)) -> (&'a &'static str, &'a Value),
    >;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

impl std::fmt::Debug for Items {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

#[derive(Clone, Debug)]
pub struct StoreConfig {
    pub write_cost: Micros,
    pub read_cost: Micros,
    pub write_fail: f64,
    pub read_fail: f64,
    pub replica_lag: Lag,
    /// A read-through cache in front of the store (none by default).
    pub cache_ttl: Option<Micros>,
}

/// A store operation failed (probability q_w or q_r).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreFailure;

/// Where the partner's token rows live.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Backend {
    /// The model store above (primary, replicas with a drawn lag, cache).
    #[default]
    Model,
    /// A store outside the core: token writes and reads are [`StoreRequest`] effects.
    External,
}

/// A token-store operation the driver performs (external backend only), answered with
/// [`StoreReply`] under the same `ticket`.
#[derive(Clone, Debug, PartialEq)]
pub enum StoreRequest {
    /// Commit the tenant's token on the primary (the new version `ticket`).
    Write {
        ticket: u64,
        tenant: TenantId,
        token: CachedToken,
    },
    /// Read the tenant's token from the primary, or from a replica (`from_replica`).
    Read {
        ticket: u64,
        tenant: TenantId,
        from_replica: bool,
    },
    /// Drop every cached token (t = 0, or a restart without persistence); not answered.
    ClearTokens,
}

/// The driver's answer to a [`StoreRequest`].
#[derive(Clone, Debug, PartialEq)]
pub enum StoreReply {
    Written(Result<(), StoreFailure>),
    Read(Result<Option<CachedToken>, StoreFailure>),
}

/// How many versions per row are kept for lagging replicas.
const KEPT_VERSIONS: usize = 16;

pub struct Store {
    pub cfg: StoreConfig,
    rows: BTreeMap<TenantId, Vec<(Micros, Arc<Row>)>>,
    cache: BTreeMap<TenantId, (Micros, Arc<Row>)>,
    lag_spikes: Vec<(Micros, Micros, Micros)>,
    empty: Arc<Row>,
    /// The run's choice source (failures and replica lag).
    pub choices: Choices,
}

impl Store {
    pub fn new(cfg: StoreConfig) -> Store {
        Store {
            cfg,
            rows: BTreeMap::new(),
            cache: BTreeMap::new(),
            lag_spikes: Vec::new(),
            empty: Arc::new(Row::default()),
            choices: Choices::random(),
        }
    }

    /// Adds `extra` lag to replica reads whose snapshot falls in [from, until).
    pub fn add_lag_spike(&mut self, from: Micros, until: Micros, extra: Micros) {
        self.lag_spikes.push((from, until, extra));
    }

    /// The primary's newest version, including writes still committing (for read-modify-write).
    pub fn latest(&self, tenant: TenantId) -> Arc<Row> {
        self.rows
            .get(&tenant)
            .and_then(|v| v.last())
            .map(|(_, r)| r.clone())
            .unwrap_or_else(|| self.empty.clone())
    }

    fn visible(&self, tenant: TenantId, cutoff: impl Fn(Micros) -> bool) -> Arc<Row> {
        self.rows
            .get(&tenant)
            .and_then(|v| v.iter().rev().find(|(commit, _)| cutoff(*commit)))
            .map(|(_, r)| r.clone())
            .unwrap_or_else(|| self.empty.clone())
    }

    /// A read with its snapshot at `snapshot` (the caller charges `read_cost` after it).
    pub fn read<R: rand::Rng + ?Sized>(
        &mut self,
        tenant: TenantId,
        snapshot: Micros,
        from_replica: bool,
        rng: &mut R,
    ) -> Result<Arc<Row>, StoreFailure> {
        if self.cfg.read_fail > 0.0 && self.fails(rng, self.cfg.read_fail) {
            return Err(StoreFailure);
        }
        if let Some(ttl) = self.cfg.cache_ttl
            && let Some((filled, row)) = self.cache.get(&tenant)
            && snapshot < filled + ttl
        {
            return Ok(row.clone());
        }
        let row = if from_replica {
            let lag = self.draw_lag(snapshot, rng);
            self.visible(tenant, |commit| commit + lag <= snapshot)
        } else {
            self.visible(tenant, |commit| commit <= snapshot)
        };
        if self.cfg.cache_ttl.is_some() {
            self.cache.insert(tenant, (snapshot, row.clone()));
        }
        Ok(row)
    }

    /// Whether an operation with failure probability `p` fails (a choice under guidance).
    fn fails<R: rand::Rng + ?Sized>(&self, rng: &mut R, p: f64) -> bool {
        match self.choices.pick(Point::StoreFailure, 2) {
            None => rng.random::<f64>() < p,
            Some(k) => k == 1,
        }
    }

    fn draw_lag<R: rand::Rng + ?Sized>(&self, snapshot: Micros, rng: &mut R) -> Micros {
        let base = match self.cfg.replica_lag {
            Lag::Fixed(l) => l,
            Lag::Uniform(0) => 0,
            Lag::Uniform(max) => match self.choices.pick(Point::ReplicaLag, 3) {
                None => rng.random_range(0..=max),
                Some(0) => 0,
                Some(1) => max / 2,
                Some(_) => max,
            },
        };
        let spike: Micros = self
            .lag_spikes
            .iter()
            .filter(|(f, u, _)| (*f..*u).contains(&snapshot))
            .map(|(_, _, e)| e)
            .sum();
        base + spike
    }

    /// A write starting at `start`: applies `update` to the newest version and commits it at
    /// `start + write_cost`. Returns the commit time.
    pub fn write<R: rand::Rng + ?Sized>(
        &mut self,
        tenant: TenantId,
        start: Micros,
        rng: &mut R,
        update: impl FnOnce(&mut Row),
    ) -> Result<Micros, StoreFailure> {
        if self.cfg.write_fail > 0.0 && self.fails(rng, self.cfg.write_fail) {
            return Err(StoreFailure);
        }
        let mut row = (*self.latest(tenant)).clone();
        update(&mut row);
        let commit = start + self.cfg.write_cost;
        let versions = self.rows.entry(tenant).or_default();
        versions.push((commit, Arc::new(row)));
        if versions.len() > KEPT_VERSIONS {
            versions.remove(0);
        }
        Ok(commit)
    }

    /// Whether a write for `tenant` committed in (`since`, `now`]: a read taken at `since` may
    /// be stale by the time its result is used.
    pub fn committed_since(&self, tenant: TenantId, since: Micros, now: Micros) -> bool {
        self.rows
            .get(&tenant)
            .is_some_and(|v| v.iter().any(|(c, _)| *c > since && *c <= now))
    }

    /// Drops every cached token (caches are empty at t=0; a crash without persistence).
    pub fn clear_tokens(&mut self, at: Micros) {
        let tenants: Vec<TenantId> = self.rows.keys().copied().collect();
        for t in tenants {
            let mut row = (*self.latest(t)).clone();
            if row.token.take().is_some() {
                self.rows.entry(t).or_default().push((at, Arc::new(row)));
            }
        }
        self.cache.clear();
    }

    /// Every tenant with a row.
    pub fn tenants(&self) -> impl Iterator<Item = TenantId> + '_ {
        self.rows.keys().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MS;
    use rand::SeedableRng;

    fn store(lag: Lag, cache_ttl: Option<Micros>) -> Store {
        Store::new(StoreConfig {
            write_cost: 5 * MS,
            read_cost: 2 * MS,
            write_fail: 0.0,
            read_fail: 0.0,
            replica_lag: lag,
            cache_ttl,
        })
    }

    #[test]
    fn items_behave_as_the_map_they_replace() {
        let mut items = Items::default();
        let mut map = BTreeMap::new();
        let writes = [
            ("rt", 1),
            ("client_secret", 2),
            ("api_site", 3),
            ("rt", 4),
            ("b", 5),
        ];
        for (k, v) in writes {
            items.insert(k, Value::Int(v));
            map.insert(k, Value::Int(v));
        }
        let ours: Vec<_> = items.iter().map(|(k, v)| (*k, v.clone())).collect();
        let theirs: Vec<_> = map.iter().map(|(k, v)| (*k, v.clone())).collect();
        assert_eq!(ours, theirs);
        assert_eq!(items.get("rt"), Some(&Value::Int(4)));
        assert_eq!(items.get("missing"), None);
        assert_eq!(format!("{items:?}"), format!("{map:?}"));
    }

    fn tok(exp: Micros) -> CachedToken {
        CachedToken {
            jwt: Jwt::new("eyJx".into()),
            exp,
        }
    }

    #[test]
    fn replica_sees_a_commit_only_after_the_lag() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let mut s = store(Lag::Fixed(100 * MS), None);
        let t = TenantId(1);
        let commit = s.write(t, 0, &mut rng, |r| r.token = Some(tok(1))).unwrap();
        assert_eq!(commit, 5 * MS);
        assert!(s.read(t, commit, false, &mut rng).unwrap().token.is_some());
        assert!(
            s.read(t, commit + 99 * MS, true, &mut rng)
                .unwrap()
                .token
                .is_none()
        );
        assert!(
            s.read(t, commit + 100 * MS, true, &mut rng)
                .unwrap()
                .token
                .is_some()
        );
    }

    #[test]
    fn a_read_through_cache_serves_a_stale_miss() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let mut s = store(Lag::Fixed(0), Some(1000 * MS));
        let t = TenantId(1);
        assert!(s.read(t, 0, false, &mut rng).unwrap().token.is_none());
        s.write(t, 10 * MS, &mut rng, |r| r.token = Some(tok(1)))
            .unwrap();
        assert!(
            s.read(t, 500 * MS, false, &mut rng)
                .unwrap()
                .token
                .is_none(),
            "cached miss"
        );
        assert!(
            s.read(t, 1000 * MS, false, &mut rng)
                .unwrap()
                .token
                .is_some()
        );
    }
}
