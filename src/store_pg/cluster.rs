//! A throwaway PostgreSQL primary and streaming hot standby on 127.0.0.1, owned by one run.
//!
//! [`Cluster::start`] `initdb`s a primary in a fresh `tokenlab-pg-*` directory under the system
//! temp dir, starts it on a free loopback port, `pg_basebackup`s a standby (`-R`, WAL
//! streamed, `hot_standby=on`), starts it on a second port and waits until it accepts
//! connections in recovery. Dropping the [`Cluster`] stops both servers (`pg_ctl stop -m
//! fast`, then `immediate`) and removes the directory: at the end of a run, on an error
//! (the `?` unwinds through the drop) and on Ctrl-C / SIGTERM (the CLI turns them into an
//! ordinary return). PostgreSQL refuses to run as root, so when tokenlab is root the servers
//! and their tools run as the `postgres` account (or `nobody` where there is none).
//!
//! Injected replication lag is PostgreSQL's own `recovery_min_apply_delay`, kept in an
//! include file of the standby's configuration and changed by a reload
//! ([`Cluster::set_apply_delay_ms`]).

use std::fmt::Write as _;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// Why the cluster could not be set up. Every message names what is missing or what failed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres, pg_basebackup) were not found on PATH or in /usr/lib/postgresql/*/bin; install them with `apt-get install postgresql`"
    )]
    NoBinaries,
    #[error(
        "PostgreSQL refuses to run as root and there is no unprivileged account to run it as (looked for `postgres` and `nobody` in /etc/passwd); create one, e.g. `useradd --system postgres`"
    )]
    NoUser,
    #[error("creating the cluster directory {path}: {source}")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no free port on 127.0.0.1: {0}")]
    Port(std::io::Error),
    #[error("{step} failed: {detail}")]
    Step { step: &'static str, detail: String },
}

/// The account the servers run as (`None`: this process's own, when it is not root).
#[derive(Clone, Copy, Debug)]
struct RunAs {
    uid: u32,
    gid: u32,
}

/// The directory holding `initdb`, `pg_ctl`, `postgres` and `pg_basebackup`.
pub fn find_binaries() -> Result<PathBuf, ClusterError> {
    const TOOLS: [&str; 4] = ["initdb", "pg_ctl", "postgres", "pg_basebackup"];
    let complete = |dir: &Path| TOOLS.iter().all(|t| dir.join(t).is_file());
    // On PATH: follow `initdb`'s symlink to the directory that holds the whole set (Debian
    // links a few of them into /usr/bin or /usr/local/bin, wrappers included).
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let initdb = dir.join("initdb");
            if let Ok(real) = std::fs::canonicalize(&initdb)
                && let Some(d) = real.parent()
                && complete(d)
            {
                return Ok(d.to_path_buf());
            }
            if complete(&dir) {
                return Ok(dir);
            }
        }
    }
    // The Debian location, newest major version first.
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((v, e.path().join("bin")))
        })
        .filter(|(_, d)| complete(d))
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, d)| d)
        .ok_or(ClusterError::NoBinaries)
}

/// Whether a cluster can be started here (binaries present); the report asks before trying.
pub fn available() -> bool {
    find_binaries().is_ok()
}

fn passwd_entry(name: &str) -> Option<RunAs> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 4 && f[0] == name).then(|| {
            Some(RunAs {
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
            })
        })?
    })
}

fn run_as() -> Result<Option<RunAs>, ClusterError> {
    let euid = std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(0);
    if euid != 0 {
        return Ok(None);
    }
    passwd_entry("postgres")
        .or_else(|| passwd_entry("nobody"))
        .map(Some)
        .ok_or(ClusterError::NoUser)
}

fn free_port() -> Result<u16, ClusterError> {
    let l = std::net::TcpListener::bind(("127.0.0.1", 0)).map_err(ClusterError::Port)?;
    Ok(l.local_addr().map_err(ClusterError::Port)?.port())
}

/// The conninfo of a server of this cluster.
fn conninfo(port: u16) -> String {
    format!("host=127.0.0.1 port={port} user=tokenlab dbname=postgres")
}

/// What the cluster is started with.
#[derive(Clone, Debug, Default)]
pub struct ClusterOptions {
    /// The standby's `recovery_min_apply_delay` at start (ms).
    pub apply_delay_ms: u64,
    /// `log_statement = 'all'` with parameters: the negative control of the no-secret test
    /// (the token values then reach PostgreSQL's log). Never set otherwise.
    pub log_statements_with_parameters: bool,
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A running primary and hot standby. Dropping it stops both and removes their directory.
pub struct Cluster {
    pub dir: PathBuf,
    bin: PathBuf,
    user: Option<RunAs>,
    pub primary_port: u16,
    pub standby_port: u16,
    /// Data directories with a server started from them (stopped on drop).
    started: Vec<PathBuf>,
    /// From the call to the standby accepting connections.
    pub startup: Duration,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("dir", &self.dir)
            .field("primary_port", &self.primary_port)
            .field("standby_port", &self.standby_port)
            .finish()
    }
}

impl Cluster {
    /// Starts a primary and a streaming hot standby on 127.0.0.1 (blocking; a few seconds).
    pub fn start(opts: &ClusterOptions) -> Result<Cluster, ClusterError> {
        let t0 = super::monotonic_now();
        let bin = find_binaries()?;
        let user = run_as()?;
        remove_orphans(&bin, user);
        let dir = std::env::temp_dir().join(format!(
            "tokenlab-pg-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        let dir_err = |source| ClusterError::Dir {
            path: dir.clone(),
            source,
        };
        std::fs::create_dir(&dir).map_err(dir_err)?;
        // From here on the drop removes the directory, whatever fails next.
        let mut c = Cluster {
            dir: dir.clone(),
            bin,
            user,
            primary_port: 0,
            standby_port: 0,
            started: Vec::new(),
            startup: Duration::ZERO,
        };
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
                .map_err(dir_err)?;
            if let Some(u) = user {
                std::os::unix::fs::chown(&dir, Some(u.uid), Some(u.gid)).map_err(dir_err)?;
            }
        }
        let primary = dir.join("primary");
        let standby = dir.join("standby");
        c.tool(
            "initdb",
            &[
                "-D",
                path_str(&primary),
                "-U",
                "tokenlab",
                "--auth=trust",
                "--no-locale",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        )?;
        c.primary_port = free_port()?;
        let mut conf = String::new();
        let _ = writeln!(conf, "\n# tokenlab: loopback only, streaming replication");
        let _ = writeln!(conf, "listen_addresses = '127.0.0.1'");
        let _ = writeln!(conf, "port = {}", c.primary_port);
        let _ = writeln!(conf, "unix_socket_directories = ''");
        let _ = writeln!(conf, "wal_level = replica");
        let _ = writeln!(conf, "max_wal_senders = 4");
        let _ = writeln!(conf, "hot_standby = on");
        let _ = writeln!(conf, "max_connections = 40");
        let _ = writeln!(conf, "shared_buffers = 16MB");
        if opts.log_statements_with_parameters {
            let _ = writeln!(conf, "log_statement = 'all'");
            let _ = writeln!(conf, "log_parameter_max_length = -1");
        }
        // The standby's injected lag lives in its own file, rewritten and reloaded.
        let _ = writeln!(conf, "include_if_exists = 'tokenlab_delay.conf'");
        append(&primary.join("postgresql.conf"), &conf)?;
        c.pg_ctl_start(&primary, "primary")?;
        c.tool(
            "pg_basebackup",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &c.primary_port.to_string(),
                "-U",
                "tokenlab",
                "-D",
                path_str(&standby),
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
                "--no-sync",
            ],
        )?;
        c.standby_port = free_port()?;
        append(
            &standby.join("postgresql.auto.conf"),
            &format!("port = {}\nhot_standby = on\n", c.standby_port),
        )?;
        c.write_delay(opts.apply_delay_ms)?;
        c.pg_ctl_start(&standby, "standby")?;
        c.startup = t0.elapsed();
        Ok(c)
    }

    pub fn primary_conninfo(&self) -> String {
        conninfo(self.primary_port)
    }

    pub fn standby_conninfo(&self) -> String {
        conninfo(self.standby_port)
    }

    /// PostgreSQL's own server logs, one file per server.
    pub fn log_files(&self) -> Vec<PathBuf> {
        vec![self.dir.join("primary.log"), self.dir.join("standby.log")]
    }

    fn write_delay(&self, ms: u64) -> Result<(), ClusterError> {
        let path = self.dir.join("standby").join("tokenlab_delay.conf");
        std::fs::write(&path, format!("recovery_min_apply_delay = '{ms}ms'\n"))
            .map_err(|source| ClusterError::Dir { path, source })
    }

    /// Sets the standby's `recovery_min_apply_delay` and reloads its configuration. It applies
    /// to commit records replayed from then on; wait for catch-up before measuring.
    pub fn set_apply_delay_ms(&self, ms: u64) -> Result<(), ClusterError> {
        self.write_delay(ms)?;
        let standby = self.dir.join("standby");
        self.tool("pg_ctl", &["-D", path_str(&standby), "reload"])
            .map(|_| ())
    }

    fn command(&self, tool: &str) -> Command {
        let mut cmd = Command::new(self.bin.join(tool));
        cmd.current_dir(&self.dir)
            .env("LC_ALL", "C")
            .env_remove("PGPASSWORD");
        if let Some(u) = self.user {
            cmd.uid(u.uid).gid(u.gid);
        }
        cmd
    }

    fn tool(&self, tool: &'static str, args: &[&str]) -> Result<Output, ClusterError> {
        let out = self
            .command(tool)
            .args(args)
            .output()
            .map_err(|e| ClusterError::Step {
                step: tool,
                detail: format!("running {}: {e}", self.bin.join(tool).display()),
            })?;
        if !out.status.success() {
            return Err(ClusterError::Step {
                step: tool,
                detail: format!(
                    "{}; {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            });
        }
        Ok(out)
    }

    fn pg_ctl_start(&mut self, data: &Path, name: &'static str) -> Result<(), ClusterError> {
        let log = self.dir.join(format!("{name}.log"));
        // Stopped on drop even if the start reports a failure after all.
        self.started.push(data.to_path_buf());
        let r = self.tool(
            "pg_ctl",
            &[
                "-D",
                path_str(data),
                "-l",
                path_str(&log),
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
        r.map(|_| ()).map_err(|e| ClusterError::Step {
            step: "pg_ctl start",
            detail: format!(
                "{name}: {e}; log: {}",
                std::fs::read_to_string(&log)
                    .unwrap_or_default()
                    .lines()
                    .rev()
                    .take(5)
                    .collect::<Vec<_>>()
                    .join(" | ")
            ),
        })
    }

    fn stop(&mut self) {
        // The standby first, so it does not retry a vanished primary.
        for data in std::mem::take(&mut self.started).into_iter().rev() {
            let d = path_str(&data).to_owned();
            let fast = self
                .command("pg_ctl")
                .args(["-D", &d, "-m", "fast", "-w", "-t", "30", "stop"])
                .output();
            if !fast.is_ok_and(|o| o.status.success()) {
                let _ = self
                    .command("pg_ctl")
                    .args(["-D", &d, "-m", "immediate", "-w", "-t", "30", "stop"])
                    .output();
            }
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Clusters left by a tokenlab that was killed outright (SIGKILL, power loss): a
/// `tokenlab-pg-PID-N` directory whose PID no longer runs. Their servers are stopped and the
/// directories removed; anything else in the temp dir is left alone.
fn remove_orphans(bin: &Path, user: Option<RunAs>) {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("tokenlab-pg-"))
            .and_then(|rest| rest.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let dir = e.path();
        for data in ["standby", "primary"] {
            let data = dir.join(data);
            if data.join("postmaster.pid").exists() {
                let mut cmd = Command::new(bin.join("pg_ctl"));
                cmd.current_dir(std::env::temp_dir()).args([
                    "-D",
                    path_str(&data),
                    "-m",
                    "immediate",
                    "-w",
                    "stop",
                ]);
                if let Some(u) = user {
                    cmd.uid(u.uid).gid(u.gid);
                }
                let _ = cmd.output();
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap_or("")
}

fn append(path: &Path, text: &str) -> Result<(), ClusterError> {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|source| ClusterError::Dir {
            path: path.to_path_buf(),
            source,
        })
}

/// Running servers whose data directory lies under `dir` (from /proc), for the tests that
/// check a cluster leaves nothing behind.
pub fn processes_under(dir: &Path) -> Vec<u32> {
    let needle = path_str(dir).to_owned();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            cmd.contains(&needle).then_some(pid)
        })
        .collect()
}
