//! The partner's token store on PostgreSQL: the loopback driver hands it the world core's
//! [`StoreRequest`]s and gets [`StoreReply`]s back.
//!
//! - Writes commit on the primary, in the order the core asked for them (one connection, one
//!   task that takes them from a channel one after another), as `INSERT … ON CONFLICT DO
//!   UPDATE` of the tenant's row with a version number (the core's ticket).
//! - Reads go to the primary or to the standby, as the request says, on their own
//!   connections (pipelined).
//! - Every committed write is watched on the standby: a task polls the row until the
//!   committed version is visible there and records the lag from the commit's
//!   acknowledgement. That is the measured replication lag distribution the S3 prediction
//!   uses.
//!
//! Statements are parameterised, so token values travel as bind parameters and never as SQL
//! text; PostgreSQL's logs carry no value at the default logging settings.

use super::monotonic_now;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokenlab_models::roles::store::{CachedToken, StoreFailure, StoreReply, StoreRequest};
use tokenlab_models::secret::Jwt;
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::{Client, NoTls, Statement};

const TABLE: &str = "tokenlab_token_store";

/// Why the store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum PgStoreError {
    #[error("{which}: '{conninfo}' is not a valid connection string: {detail}")]
    BadConninfo {
        which: &'static str,
        conninfo: String,
        detail: String,
    },
    #[error(
        "{which}: tokenlab connects only to loopback (127.0.0.1, ::1, localhost or a local socket), not '{host}'"
    )]
    NotLoopback { which: &'static str, host: String },
    #[error("connecting to the {which} at '{conninfo}': {detail}")]
    Connect {
        which: &'static str,
        conninfo: String,
        detail: String,
    },
    #[error("the standby at '{0}' is not in recovery: it must be a hot standby of the primary")]
    NotStandby(String),
    #[error("the primary at '{0}' is in recovery: it must be the writable primary")]
    NotPrimary(String),
    #[error("{what}: {detail}")]
    Query { what: &'static str, detail: String },
    #[error("the standby did not replay the primary's WAL within {0:?}")]
    CatchUp(Duration),
}

fn query_err(what: &'static str) -> impl Fn(tokio_postgres::Error) -> PgStoreError {
    move |e| PgStoreError::Query {
        what,
        detail: e.to_string(),
    }
}

/// Parses a conninfo or `postgres://` URL and refuses anything but loopback.
fn loopback_config(
    which: &'static str,
    conninfo: &str,
) -> Result<tokio_postgres::Config, PgStoreError> {
    let cfg: tokio_postgres::Config =
        conninfo
            .parse()
            .map_err(|e: tokio_postgres::Error| PgStoreError::BadConninfo {
                which,
                conninfo: conninfo.into(),
                detail: e.to_string(),
            })?;
    if cfg.get_hosts().is_empty() {
        return Err(PgStoreError::BadConninfo {
            which,
            conninfo: conninfo.into(),
            detail: "no host".into(),
        });
    }
    for h in cfg.get_hosts() {
        if let tokio_postgres::config::Host::Tcp(host) = h
            && !matches!(host.as_str(), "127.0.0.1" | "::1" | "[::1]" | "localhost")
        {
            return Err(PgStoreError::NotLoopback {
                which,
                host: host.clone(),
            });
        }
    }
    Ok(cfg)
}

async fn connect(which: &'static str, conninfo: &str) -> Result<Client, PgStoreError> {
    let cfg = loopback_config(which, conninfo)?;
    let (client, conn) = cfg
        .connect(NoTls)
        .await
        .map_err(|e| PgStoreError::Connect {
            which,
            conninfo: conninfo.into(),
            detail: e.to_string(),
        })?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

/// Retries the connection until the server accepts it (a standby just started) or `limit`.
async fn connect_retrying(
    which: &'static str,
    conninfo: &str,
    limit: Duration,
) -> Result<Client, PgStoreError> {
    let deadline = monotonic_now() + limit;
    loop {
        match connect(which, conninfo).await {
            Ok(c) => return Ok(c),
            Err(e @ (PgStoreError::BadConninfo { .. } | PgStoreError::NotLoopback { .. })) => {
                return Err(e);
            }
            Err(e) if monotonic_now() > deadline => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

struct Statements {
    read: Statement,
}

/// Commits pending in order, with the channel a reply goes back on.
enum WriteJob {
    Write {
        ticket: u64,
        tenant: i64,
        token: CachedToken,
        reply: oneshot::Sender<StoreReply>,
    },
    Clear,
}

/// An open token store on a primary and its standby.
pub struct PgStore {
    primary_read: Client,
    primary_read_stmt: Statements,
    standby: Arc<Client>,
    standby_stmt: Arc<Statements>,
    writes: mpsc::UnboundedSender<WriteJob>,
    /// The primary's `version()`.
    pub server_version: String,
    /// Measured lags (µs) of the writes watched so far.
    lags: Arc<Mutex<Vec<i64>>>,
    primary_admin: Client,
    /// The standby's apply delay as last set: lag watchers start looking shortly before it.
    expected_lag_ms: Arc<AtomicU64>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("server_version", &self.server_version)
            .finish()
    }
}

impl PgStore {
    /// Connects to the primary and the standby (both on loopback), checks their roles,
    /// creates the token table if needed and empties it, and waits until the standby has
    /// replayed that. Needs a tokio runtime.
    pub async fn open(primary: &str, standby: &str) -> Result<PgStore, PgStoreError> {
        let limit = Duration::from_secs(30);
        let primary_admin = connect_retrying("primary", primary, limit).await?;
        if in_recovery(&primary_admin).await? {
            return Err(PgStoreError::NotPrimary(primary.into()));
        }
        let server_version: String = primary_admin
            .query_one("SELECT version()", &[])
            .await
            .map_err(query_err("asking version()"))?
            .get(0);
        primary_admin
            .batch_execute(&format!(
                "CREATE TABLE IF NOT EXISTS {TABLE} (tenant bigint PRIMARY KEY, jwt text NOT NULL, exp bigint NOT NULL, version bigint NOT NULL); TRUNCATE {TABLE};"
            ))
            .await
            .map_err(query_err("creating the token table"))?;
        let standby_client = connect_retrying("standby", standby, limit).await?;
        if !in_recovery(&standby_client).await? {
            return Err(PgStoreError::NotStandby(standby.into()));
        }
        let writer = connect("primary", primary).await?;
        let primary_read = connect("primary", primary).await?;
        let read_sql = format!("SELECT jwt, exp, version FROM {TABLE} WHERE tenant = $1");
        let write_sql = format!(
            "INSERT INTO {TABLE} (tenant, jwt, exp, version) VALUES ($1, $2, $3, $4) ON CONFLICT (tenant) DO UPDATE SET jwt = EXCLUDED.jwt, exp = EXCLUDED.exp, version = EXCLUDED.version"
        );
        let primary_read_stmt = Statements {
            read: prepare(&primary_read, read_sql.clone()).await?,
        };
        let write_stmt = prepare(&writer, write_sql).await?;
        let clear_stmt = prepare(&writer, format!("DELETE FROM {TABLE}")).await?;
        // The standby must have replayed the table's creation before its read is prepared.
        catch_up_between(&primary_admin, &standby_client, Duration::from_secs(120)).await?;
        let standby_stmt = Arc::new(Statements {
            read: prepare(&standby_client, read_sql).await?,
        });
        let standby = Arc::new(standby_client);
        let lags = Arc::new(Mutex::new(Vec::new()));
        let (writes, rx) = mpsc::unbounded_channel();
        let expected_lag_ms = Arc::new(AtomicU64::new(0));
        let watchers = Watchers {
            standby: standby.clone(),
            stmt: standby_stmt.clone(),
            lags: lags.clone(),
            expected_ms: expected_lag_ms.clone(),
        };
        tokio::spawn(write_loop(writer, write_stmt, clear_stmt, rx, watchers));
        Ok(PgStore {
            primary_read,
            primary_read_stmt,
            standby,
            standby_stmt,
            writes,
            server_version,
            lags,
            primary_admin,
            expected_lag_ms,
        })
    }

    /// Waits until the standby has replayed everything the primary has written so far.
    pub async fn catch_up(&self, limit: Duration) -> Result<(), PgStoreError> {
        catch_up_between(&self.primary_admin, &self.standby, limit).await
    }

    /// Empties the token table and waits until the standby has replayed that, so a run
    /// starts from no token anywhere (the core's `ClearTokens` at t = 0 travels on the
    /// write connection, and a first read on another connection could overtake it).
    pub async fn reset(&self, limit: Duration) -> Result<(), PgStoreError> {
        self.primary_admin
            .execute(&format!("DELETE FROM {TABLE}"), &[])
            .await
            .map_err(query_err("emptying the token table"))?;
        self.catch_up(limit).await
    }

    /// The standby's `recovery_min_apply_delay`, as PostgreSQL reports it (e.g. `80ms`).
    pub async fn standby_apply_delay(&self) -> Result<String, PgStoreError> {
        Ok(self
            .standby
            .query_one("SHOW recovery_min_apply_delay", &[])
            .await
            .map_err(query_err("SHOW recovery_min_apply_delay"))?
            .get(0))
    }

    /// Tells the lag watchers the standby's apply delay (they look from shortly before it).
    pub fn set_expected_lag_ms(&self, ms: u64) {
        self.expected_lag_ms.store(ms, AtomicOrdering::SeqCst);
    }

    /// The lags measured so far (µs), and forgets them.
    pub fn take_lags(&self) -> Vec<i64> {
        self.lags
            .lock()
            .map(|mut l| std::mem::take(&mut *l))
            .unwrap_or_default()
    }

    /// Performs one of the core's requests. Writes are queued in call order (call this in
    /// the order the core asked); the answer comes on the returned channel (none for
    /// `ClearTokens`).
    pub fn submit(self: &Arc<Self>, req: StoreRequest) -> Option<oneshot::Receiver<StoreReply>> {
        match req {
            StoreRequest::ClearTokens => {
                let _ = self.writes.send(WriteJob::Clear);
                None
            }
            StoreRequest::Write {
                ticket,
                tenant,
                token,
            } => {
                let (tx, rx) = oneshot::channel();
                let _ = self.writes.send(WriteJob::Write {
                    ticket,
                    tenant: i64::from(tenant.0),
                    token,
                    reply: tx,
                });
                Some(rx)
            }
            StoreRequest::Read {
                tenant,
                from_replica,
                ..
            } => {
                let (tx, rx) = oneshot::channel();
                let me = self.clone();
                tokio::spawn(async move {
                    let tenant = i64::from(tenant.0);
                    let row = if from_replica {
                        me.standby
                            .query_opt(&me.standby_stmt.read, &[&tenant])
                            .await
                    } else {
                        me.primary_read
                            .query_opt(&me.primary_read_stmt.read, &[&tenant])
                            .await
                    };
                    let token = row.map_err(|_| StoreFailure).map(|r| {
                        r.map(|r| CachedToken {
                            jwt: Jwt::new(r.get::<_, String>(0)),
                            exp: r.get(1),
                        })
                    });
                    let _ = tx.send(StoreReply::Read(token));
                });
                Some(rx)
            }
        }
    }
}

async fn in_recovery(c: &Client) -> Result<bool, PgStoreError> {
    c.query_one("SELECT pg_is_in_recovery()", &[])
        .await
        .map(|r| r.get::<_, bool>(0))
        .map_err(query_err("asking pg_is_in_recovery()"))
}

async fn prepare(c: &Client, sql: String) -> Result<Statement, PgStoreError> {
    c.prepare(&sql)
        .await
        .map_err(query_err("preparing a statement"))
}

async fn catch_up_between(
    primary: &Client,
    standby: &Client,
    limit: Duration,
) -> Result<(), PgStoreError> {
    let target: String = primary
        .query_one("SELECT pg_current_wal_lsn()::text", &[])
        .await
        .map_err(query_err("asking pg_current_wal_lsn()"))?
        .get(0);
    let deadline = monotonic_now() + limit;
    loop {
        let caught_up: Option<bool> = standby
            .query_one(
                "SELECT pg_last_wal_replay_lsn() >= $1::text::pg_lsn",
                &[&target],
            )
            .await
            .map_err(query_err("asking pg_last_wal_replay_lsn()"))?
            .get(0);
        if caught_up == Some(true) {
            return Ok(());
        }
        if monotonic_now() > deadline {
            return Err(PgStoreError::CatchUp(limit));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// What the lag watchers share: the standby, its read, where lags go, the expected lag.
#[derive(Clone)]
struct Watchers {
    standby: Arc<Client>,
    stmt: Arc<Statements>,
    lags: Arc<Mutex<Vec<i64>>>,
    expected_ms: Arc<AtomicU64>,
}

async fn write_loop(
    writer: Client,
    write_stmt: Statement,
    clear_stmt: Statement,
    mut rx: mpsc::UnboundedReceiver<WriteJob>,
    watchers: Watchers,
) {
    while let Some(job) = rx.recv().await {
        match job {
            WriteJob::Clear => {
                let _ = writer.execute(&clear_stmt, &[]).await;
            }
            WriteJob::Write {
                ticket,
                tenant,
                token,
                reply,
            } => {
                let version = ticket as i64;
                let r = writer
                    .execute(
                        &write_stmt,
                        &[&tenant, &token.jwt.expose(), &token.exp, &version],
                    )
                    .await;
                let acked = monotonic_now();
                let ok = r.is_ok();
                let _ = reply.send(StoreReply::Written(r.map(|_| ()).map_err(|_| StoreFailure)));
                if ok {
                    tokio::spawn(watch_lag(watchers.clone(), tenant, version, acked));
                }
            }
        }
    }
}

/// How long a lag watcher keeps looking.
const WATCH_LIMIT: Duration = Duration::from_secs(60);
/// How early before the expected lag a watcher starts looking.
const WATCH_LEAD: Duration = Duration::from_millis(5);

/// Watches one committed version until the standby shows it. It sleeps until shortly before
/// the expected lag (the injected apply delay), then asks back to back, so the sighting is
/// bracketed by two consecutive queries a fraction of a millisecond apart; the lag is the
/// midpoint of their start times (a query's start is when its snapshot is taken, as for the
/// experiment's reads). Past the expected lag plus twice the lead it polls once a
/// millisecond, so a lag in the tail is known to about a millisecond.
async fn watch_lag(w: Watchers, tenant: i64, version: i64, acked: Instant) {
    let expected = Duration::from_millis(w.expected_ms.load(AtomicOrdering::SeqCst));
    let lead = expected.saturating_sub(WATCH_LEAD);
    if !lead.is_zero() {
        tokio::time::sleep(lead).await;
    }
    let mut last_unseen: Option<Duration> = None;
    loop {
        let issued = acked.elapsed();
        let seen = w
            .standby
            .query_opt(&w.stmt.read, &[&tenant])
            .await
            .ok()
            .flatten()
            .is_some_and(|row| row.get::<_, i64>(2) >= version);
        if seen {
            let lag = last_unseen.map_or(issued, |u| (u + issued) / 2);
            if let Ok(mut l) = w.lags.lock() {
                l.push(lag.as_micros() as i64);
            }
            return;
        }
        if issued > WATCH_LIMIT {
            return;
        }
        last_unseen = Some(issued);
        // Back to back only around the expected lag, so the watchers do not load a shared
        // machine (and the standby) for long: later, once a millisecond.
        if issued < expected + 2 * WATCH_LEAD {
            tokio::task::yield_now().await;
        } else {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}
