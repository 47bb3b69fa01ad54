//! The scenario file as written (TOML, `version = 1`): plain serde types that refuse unknown
//! keys. Nothing here runs anything; [`super::build`] checks the values and maps them onto the
//! typed structures the simulator already has (`Scenario`, `NetworkProfile`, `Nemesis`,
//! `AttackPlan`, `Property`).

use serde::Deserialize;
use std::collections::BTreeMap;
use tokenlab_models::faults::{CrashRole, LatencyDist};
use tokenlab_models::ids::Group;

/// The whole file. Field order is the documented order of the top-level keys.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// The format version; only 1 exists.
    pub version: u32,
    /// `ID[:PROFILE][switch=value,...]`, as `--mechanism` takes it.
    pub mechanism: String,
    /// Switches on top of the reference (they win, like `--set`).
    #[serde(default)]
    pub switches: BTreeMap<String, SwitchValue>,
    #[serde(default)]
    pub workload: Workload,
    /// The network to start from (default `same-region`); `links` edit it.
    pub preset: Option<String>,
    #[serde(default)]
    pub links: Vec<LinkEdit>,
    #[serde(default)]
    pub nemesis: Vec<NemesisEntry>,
    pub attacker: Option<AttackerFile>,
    /// Property id → expected verdict (`holds`, `violated`, `n/a`, `by-design` or `any`).
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
    /// One or two parameters (dotted paths into this file) and the values each takes.
    pub sweep: Option<toml::Table>,
}

/// A switch value: TOML strings, numbers and booleans all mean what `--set KEY=VALUE` means
/// (a boolean is `on`/`off`).
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged, expecting = "a string, a number or a boolean")]
pub enum SwitchValue {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

impl SwitchValue {
    pub fn as_set_value(&self) -> String {
        match self {
            SwitchValue::Bool(true) => "on".into(),
            SwitchValue::Bool(false) => "off".into(),
            SwitchValue::Int(i) => i.to_string(),
            SwitchValue::Float(f) => f.to_string(),
            SwitchValue::Str(s) => s.clone(),
        }
    }
}

/// A seed: an integer, or a string in decimal or 0x-hex (TOML integers stop at 2^63).
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged, expecting = "an integer or a string such as \"0x2a\"")]
pub enum SeedValue {
    Int(i64),
    Str(String),
}

/// The workload of `workload.md` §9; the defaults are the CLI's.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Workload {
    pub tenants: u32,
    pub duration_s: f64,
    pub demands_per_tenant_hour: f64,
    pub seed: SeedValue,
    /// Install the tenants from this time on, under the run's faults.
    pub provision_at_s: Option<f64>,
    pub admin: Vec<AdminEntry>,
    /// Scripted demands besides the Poisson workload.
    pub demands: Vec<DemandEntry>,
}

impl Default for Workload {
    fn default() -> Workload {
        Workload {
            tenants: 100,
            duration_s: 7200.0,
            demands_per_tenant_hour: 60.0,
            seed: SeedValue::Int(1),
            provision_at_s: None,
            admin: Vec::new(),
            demands: Vec::new(),
        }
    }
}

#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdminKind {
    Install,
    Uninstall,
    Revoke,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminEntry {
    pub at_s: f64,
    pub action: AdminKind,
    pub tenant: u32,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemandEntry {
    pub at_s: f64,
    pub tenant: u32,
}

/// An edit of the links that match `from`/`to` (absent = any group); only the fields given
/// change.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkEdit {
    pub from: Option<Group>,
    pub to: Option<Group>,
    /// Apply to the reverse direction as well.
    #[serde(default)]
    pub both_directions: bool,
    pub latency: Option<LatencyDist>,
    /// Shorthand for `latency = { kind = "fixed", ms = … }`.
    pub latency_ms: Option<f64>,
    /// Shorthand for the same `loss_request` and `loss_response`.
    pub loss: Option<f64>,
    pub loss_request: Option<f64>,
    pub loss_response: Option<f64>,
    pub http_5xx: Option<f64>,
    pub http_429: Option<f64>,
}

/// One nemesis entry. Windowed entries may repeat `every_s` until the run ends.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum NemesisEntry {
    Partition {
        a: Group,
        b: Group,
        from_s: f64,
        until_s: f64,
        every_s: Option<f64>,
    },
    Crash {
        role: CrashRole,
        from_s: f64,
        until_s: f64,
        #[serde(default)]
        lose_volatile: bool,
        every_s: Option<f64>,
    },
    ReplicaLagSpike {
        extra_ms: f64,
        from_s: f64,
        until_s: f64,
        every_s: Option<f64>,
    },
    DeployReset {
        at_s: f64,
        every_s: Option<f64>,
    },
    /// The platform's key set is unreachable from P (P10's fault).
    JwksOutage {
        from_s: f64,
        until_s: f64,
        every_s: Option<f64>,
    },
    /// P's clock runs behind by `skew_ms` for the whole run (the `clock_skew` switch).
    ClockSkew {
        skew_ms: f64,
    },
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum StealFrom {
    Store,
    Log,
    Network,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum ReadMode {
    Snapshot,
    Continuing,
}

/// The attacker of `threats.md` §2: its policy and its steps.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttackerFile {
    #[serde(default = "yes")]
    pub use_loot: bool,
    #[serde(default = "sixty")]
    pub probe_every_s: f64,
    /// Whether store reads come with the decryption key.
    #[serde(default = "yes")]
    pub store_key: bool,
    #[serde(default)]
    pub steps: Vec<AttackEntry>,
}

fn yes() -> bool {
    true
}
fn sixty() -> f64 {
    60.0
}

fn victim() -> u32 {
    1
}

/// One attacker step, by action.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum AttackEntry {
    /// A5 (or A1/A3 aimed at one item): one credential of one tenant.
    Steal {
        at_s: f64,
        credential: String,
        #[serde(default = "victim")]
        tenant: u32,
        #[serde(default = "store")]
        from: StealFrom,
        #[serde(default = "snapshot")]
        mode: ReadMode,
    },
    /// A2: the whole store.
    Breach {
        at_s: f64,
        #[serde(default = "snapshot")]
        mode: ReadMode,
    },
    /// A1: every message between two groups.
    Tap { at_s: f64, a: Group, b: Group },
    /// A3.
    ReadLogs { at_s: f64 },
    /// A4: the attacker administers this tenant from before provisioning.
    Own { tenant: u32 },
    /// A6.
    Redirect { at_s: f64, victim: u32 },
    /// A6 with A4.
    InjectCode { at_s: f64, victim: u32 },
    /// A7.
    Replay { at_s: f64 },
    /// A9.
    Spam { at_s: f64, count: u32 },
    /// A10.
    Forge { at_s: f64 },
}

fn store() -> StealFrom {
    StealFrom::Store
}
fn snapshot() -> ReadMode {
    ReadMode::Snapshot
}
