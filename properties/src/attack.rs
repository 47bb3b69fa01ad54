//! What a leak costs (`threats.md` §5): one stolen credential (A5, or a continuing read of it)
//! or the whole store (A2/A8), run under the attacker policy of `threats.md` §2, measured
//! from the history, with the counterfactual run (same seed, no theft) beside it.
//!
//! Every number carries the history counts it was computed from (`counts`), and the probe
//! resolution (60 s) that bounds the precision of the windows.

use crate::checkers::{ExposureBounds, exposure_windows};
use crate::facts::{Decision, Facts};
use crate::suite::bounds;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use tokenlab_models::history::{AdminKind, Event, History, ItemKind};
use tokenlab_models::ids::{Party, TenantId};
use tokenlab_models::mechanisms::{registry, resolve};
use tokenlab_models::params::Params;
use tokenlab_models::roles::AdminAction;
use tokenlab_models::roles::attacker::{AttackPlan, AttackStep, Capability};
use tokenlab_models::sim::{Scenario, run_with};
use tokenlab_models::{Micros, SEC};

/// A credential P holds that an attacker could steal.
#[derive(Clone, Debug, Serialize)]
pub struct Credential {
    /// The store field (`token` = the cached access token T).
    pub id: String,
    pub kind: String,
    /// `<= ttl` or `> 1 day`.
    pub lifetime_class: String,
    /// `1 tenant` or `all tenants` (app-wide).
    pub tenant_scope: String,
}

/// Where a single credential is taken from.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum From {
    Store,
    Log,
    Network,
}

pub fn parse_from(s: &str) -> anyhow::Result<From> {
    match s {
        "store" => Ok(From::Store),
        "log" => Ok(From::Log),
        "network" => Ok(From::Network),
        _ => anyhow::bail!("--from must be store, log or network, got '{s}'"),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Snapshot,
    Continuing,
}

pub fn parse_mode(s: &str) -> anyhow::Result<Mode> {
    match s {
        "snapshot" => Ok(Mode::Snapshot),
        "continuing" => Ok(Mode::Continuing),
        _ => anyhow::bail!("--mode must be snapshot or continuing, got '{s}'"),
    }
}

/// One attack to measure.
#[derive(Clone, Debug, Serialize)]
pub struct AttackRequest {
    pub mechanism: String,
    pub sets: Vec<String>,
    /// `None`: the whole store (A2/A8).
    pub credential: Option<String>,
    pub from: From,
    pub mode: Mode,
    pub at_s: f64,
    pub revoke_at_s: Option<f64>,
    pub seed: u64,
    /// Network preset of both runs (faults make false detections, e.g. K1, possible).
    pub preset: String,
    /// The store thief lacks the decryption key (matters with `encrypt_at_rest=on`).
    pub without_key: bool,
    /// A continuing read closed at this time (the breach found and shut); the attacker keeps
    /// what it read. `None`: the read lasts to the horizon.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reads_end_at_s: Option<f64>,
    /// The victim tenant (0..[`ATTACK_TENANTS`]); the whole-store breach reaches every tenant
    /// and R is measured for this one.
    pub victim: u32,
}

impl AttackRequest {
    /// One snapshot theft of `credential` (`None`: the whole store) from `from` at 600 s,
    /// victim [`DEFAULT_VICTIM`], on the `same-region` preset, with the key, nothing revoked
    /// or closed: the request the tests and the attack table vary a field or two of.
    pub fn snapshot<S: AsRef<str>>(
        mechanism: &str,
        sets: &[S],
        credential: Option<&str>,
        from: From,
        seed: u64,
    ) -> AttackRequest {
        AttackRequest {
            mechanism: mechanism.into(),
            sets: sets.iter().map(|s| s.as_ref().to_string()).collect(),
            credential: credential.map(str::to_string),
            from,
            mode: Mode::Snapshot,
            at_s: 600.0,
            revoke_at_s: None,
            seed,
            preset: "same-region".into(),
            without_key: false,
            reads_end_at_s: None,
            victim: DEFAULT_VICTIM,
        }
    }
}

/// Installations in an attack run: the victim and bystanders.
pub const ATTACK_TENANTS: u32 = 4;
/// The victim of `tokenlab attack` and of the attack table unless one is given.
pub const DEFAULT_VICTIM: u32 = 1;

/// Standing secrets at rest at P at the end of the run (the counterfactual run: no attacker).
#[derive(Clone, Debug, Default, Serialize)]
pub struct StandingSecrets {
    /// Live items by `kind/lifetime class`, over every installation.
    pub by_kind: BTreeMap<String, u64>,
    pub installations: u64,
    /// Installations with no demand in the last TTL, and the live items they still hold.
    pub idle_installations: u64,
    pub idle_items: u64,
    /// Live items held by more than one installation (one app-wide item stored in every
    /// row), by `kind/lifetime class`: each item counted once, with the rows holding it.
    pub shared: BTreeMap<String, SharedItems>,
}

/// Distinct items of one `kind/lifetime class` that several installations hold.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SharedItems {
    /// Distinct items.
    pub items: u64,
    /// Installation rows holding one of them (each also counted in `by_kind`).
    pub rows: u64,
}

/// Where the numbers come from.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Counts {
    pub attacker_presentations: u64,
    pub attacker_accepts: u64,
    pub exposures: u64,
    pub detects: u64,
    pub counterfactual_detects: u64,
    pub mints: u64,
    pub counterfactual_mints: u64,
    pub history_records: u64,
}

/// What one theft bought (`tokenlab attack --json`).
#[derive(Clone, Debug, Serialize)]
pub struct AttackResult {
    pub mechanism: String,
    pub sets: Vec<String>,
    pub credential: String,
    pub from: From,
    pub mode: Mode,
    pub victim: TenantId,
    pub stolen_at_s: f64,
    /// Tenants whose product API accepted the attacker (blast radius B), and the privilege.
    pub tenants_compromised: u64,
    pub privilege: &'static str,
    /// Blast radius in users (H12), only with `users=N`: over the tenants compromised, the
    /// users the stolen item lets its holder act as offline, from the principal layer's
    /// enumeration (the simulated workload itself is app-only). Absent with `users=0`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub users_compromised: Option<u64>,
    /// Distinct access tokens the attacker used successfully at the product API.
    pub tokens_obtained: u64,
    pub attempts: u64,
    pub accepted: u64,
    pub rejected_by: BTreeMap<String, u64>,
    /// Theft to the last Accept the theft bought (W), in s; `None`: it bought nothing.
    pub exposure_window_s: Option<f64>,
    /// A continuing read closed at `reads_end_at_s`: from the close to the last accepted use
    /// at the API (0 when nothing was accepted after it): what the breach left behind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exposure_after_close_s: Option<f64>,
    /// The same to the attacker's last accepted request of any kind (a stolen trigger URL
    /// still accepted burns quota even when it yields no token).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accepted_after_close_s: Option<f64>,
    /// The declared bound B(x) of `threats.md` §3 P4; `None` when unbounded.
    pub exposure_bound_s: Option<f64>,
    pub exposure_unbounded: bool,
    pub horizon_s: f64,
    /// Probe resolution of W and R (the attacker probes every 60 s).
    pub resolution_s: f64,
    pub detected: bool,
    pub detected_after_s: Option<f64>,
    /// `Detect` events in the same run without the attacker.
    pub false_detections: u64,
    /// Revoke (or uninstall) to the last Accept for the victim, anyone's, in s, with
    /// `api_checks_installation` off (as set) and on.
    pub revocation_latency_s: Option<f64>,
    pub revocation_latency_api_checks_on_s: Option<f64>,
    /// Accepts and mints the theft bought: this run minus the counterfactual (same seed).
    pub extra_accepts: i64,
    pub extra_mints: i64,
    pub standing_secrets: StandingSecrets,
    pub counts: Counts,
}

fn kind_name(k: ItemKind) -> &'static str {
    match k {
        ItemKind::AccessToken => "access_token",
        ItemKind::RefreshToken => "refresh_token",
        ItemKind::ClientSecret => "client_secret",
        ItemKind::SharedSecret => "shared_secret",
        ItemKind::TriggerUrl => "trigger_url",
        ItemKind::AuthCode => "auth_code",
        ItemKind::Fit => "fit",
    }
}

fn lifetime_class(issued_exp: Option<Micros>, issued_t: Micros, ttl: Micros) -> &'static str {
    match issued_exp {
        Some(e) if e - issued_t <= ttl => "<= ttl",
        Some(e) if e - issued_t <= 86_400 * SEC => "<= 1 day",
        _ => "> 1 day",
    }
}

fn scenario(
    mechanism: &str,
    sets: &[String],
    horizon_s: f64,
    seed: u64,
    preset: &str,
) -> anyhow::Result<Scenario> {
    let Some(mut s) = Scenario::new(mechanism, preset) else {
        anyhow::bail!(
            "unknown preset '{preset}'; known: {}",
            tokenlab_models::faults::PRESET_NAMES.join(", ")
        );
    };
    s.sets = sets.to_vec();
    s.tenants = ATTACK_TENANTS;
    s.duration_s = horizon_s;
    s.demands_per_tenant_hour = 6.0;
    s.seed = seed;
    Ok(s)
}

fn run(s: &Scenario, plan: Option<&AttackPlan>) -> anyhow::Result<(History, Params)> {
    let (m, profile, params) = resolve(&s.mechanism, &s.sets)?;
    let r = run_with(s, m, profile, params, plan);
    Ok((r.history, r.params))
}

/// The credentials a mechanism leaves at P, the long-lived root first, derived from a
/// fault-free run's history (what P committed, as issued by the platform).
pub fn credentials(mechanism: &str, sets: &[String]) -> anyhow::Result<Vec<Credential>> {
    let s = scenario(mechanism, sets, 5000.0, 1, "same-region")?;
    let (h, params) = run(&s, None)?;
    let f = Facts::new(&h);
    let ttl = params.dur_req("ttl");
    let mut out: Vec<(bool, Credential)> = Vec::new();
    let mut seen = BTreeSet::new();
    for r in &h.records {
        let (field, item) = match &r.event {
            Event::StoreItem(s) => (s.field, s.item),
            Event::StoreCommit { item, .. } => ("token", *item),
            _ => continue,
        };
        let Some(i) = f.issued.get(&item) else {
            continue;
        };
        if !seen.insert(field) {
            continue;
        }
        let class = lifetime_class(i.exp, i.t, ttl);
        out.push((
            class == "<= ttl",
            Credential {
                id: field.to_string(),
                kind: kind_name(i.kind).into(),
                lifetime_class: class.into(),
                tenant_scope: if f.app_wide.contains(&item) {
                    "all tenants".into()
                } else {
                    "1 tenant".into()
                },
            },
        ));
    }
    out.sort_by_key(|(short, _)| *short);
    Ok(out.into_iter().map(|(_, c)| c).collect())
}

fn horizon(b: &ExposureBounds, at: Micros, credential: Option<&str>) -> f64 {
    let finite = match credential {
        Some("token") | None => Some(b.ttl),
        Some("trigger_url") => b.url,
        Some("client_secret") => b.secret,
        Some("shared_secret") => b.shared,
        Some("refresh_token") => Some(2 * b.ttl + b.grace),
        _ => Some(b.ttl),
    };
    let span = finite.map(|x| 3 * x).unwrap_or(12 * 3600 * SEC);
    ((at + span.clamp(2 * 3600 * SEC, 4 * 86_400 * SEC)) / SEC) as f64
}

fn last_accept_for(h: &History, tenant: TenantId, after: Micros) -> Option<Micros> {
    let f = Facts::new(h);
    f.decided()
        .filter(|(p, d, t)| {
            p.tenant == tenant && *t >= after && matches!(d, Decision::Accept { .. })
        })
        .map(|(_, _, t)| t)
        .max()
}

/// Runs one attack and its counterfactual, and measures it.
pub fn attack(req: &AttackRequest) -> anyhow::Result<AttackResult> {
    if req.victim >= ATTACK_TENANTS {
        anyhow::bail!(
            "--victim must be a tenant id in 0..{ATTACK_TENANTS} (the attack run installs {ATTACK_TENANTS} tenants), got {}",
            req.victim
        );
    }
    let victim = TenantId(req.victim);
    let (m, _, params) = resolve(&req.mechanism, &req.sets)?;
    let b = bounds(&params);
    let at = (req.at_s * SEC as f64) as Micros;
    let horizon_s = horizon(&b, at, req.credential.as_deref());
    let mut s = scenario(&req.mechanism, &req.sets, horizon_s, req.seed, &req.preset)?;
    // Where nothing can be revoked short of it, revocation means uninstall.
    let revoke_action = if m.revocable() {
        AdminAction::Revoke(victim.0)
    } else {
        AdminAction::Uninstall(victim.0)
    };
    if let Some(r) = req.revoke_at_s {
        if !(r > req.at_s && r < horizon_s) {
            anyhow::bail!(
                "--revoke-at-s must be after --at-s ({}) and before the horizon ({horizon_s} s), got {r}",
                req.at_s
            );
        }
        s.admin.push((r, revoke_action));
    }
    let capability = match (&req.credential, req.mode) {
        (None, Mode::Snapshot) => Capability::Breach { continuing: false },
        (None, Mode::Continuing) => Capability::Breach { continuing: true },
        (Some(c), Mode::Snapshot) => match req.from {
            From::Store => Capability::Steal {
                field: static_field(c),
                tenant: victim,
                from: tokenlab_models::history::ExposureMode::Store,
            },
            // The first instance that crosses a hop, or lands in a log, after --at-s.
            From::Network | From::Log => Capability::StealInTransit {
                field: static_field(c),
                tenant: victim,
                from_log: req.from == From::Log,
            },
        },
        (Some(c), Mode::Continuing) => Capability::StealContinuing {
            field: static_field(c),
            tenant: victim,
        },
    };
    let mut steps = vec![AttackStep { at, capability }];
    if let Some(e) = req.reads_end_at_s {
        if req.mode != Mode::Continuing {
            anyhow::bail!("--reads-end-at-s closes a continuing read: give --mode continuing");
        }
        if !(e > req.at_s && e < horizon_s) {
            anyhow::bail!(
                "--reads-end-at-s must be after --at-s ({}) and before the horizon ({horizon_s} s), got {e}",
                req.at_s
            );
        }
        steps.push(AttackStep {
            at: (e * SEC as f64) as Micros,
            capability: Capability::EndReads,
        });
    }
    let mut plan = AttackPlan::new(steps, (horizon_s * 1e6) as Micros);
    plan.store_key = !req.without_key;
    let (h, params) = run(&s, Some(&plan))?;
    let (cf, _) = run(&s, None)?;
    let f = Facts::new(&h);
    let fc = Facts::new(&cf);

    let mut rejected_by: BTreeMap<String, u64> = BTreeMap::new();
    let (mut attempts, mut accepted) = (0u64, 0u64);
    let mut tenants = BTreeSet::new();
    let mut tokens = BTreeSet::new();
    let mut last_api_accept: Option<Micros> = None;
    let mut last_any_accept: Option<Micros> = None;
    for (p, d, t) in f.decided() {
        if p.who != Party::Attacker {
            continue;
        }
        attempts += 1;
        match d {
            Decision::Accept { tenant } => {
                accepted += 1;
                last_any_accept = last_any_accept.max(Some(t));
                if f.verifier(p.req) == Some(Party::API) {
                    tenants.insert(*tenant);
                    tokens.insert(p.item);
                    last_api_accept = last_api_accept.max(Some(t));
                }
            }
            Decision::Reject { reason } => *rejected_by.entry((*reason).into()).or_default() += 1,
        }
    }
    // From a closed read's close to a last accepted request, s (0 when none came after it).
    let after_close = |last: Option<Micros>| {
        req.reads_end_at_s
            .map(|e| last.map_or(0.0, |l| ((l as f64 / 1e6) - e).max(0.0)))
    };
    let windows = exposure_windows(&h, &b);
    // A closed continuing read is measured to the last accepted use at the API (data access);
    // requests that are accepted but yield nothing (quota burn) are reported beside it.
    let last = if req.reads_end_at_s.is_some() {
        last_api_accept
    } else {
        windows.iter().filter_map(|w| w.last_accept).max()
    };
    let unbounded = windows.iter().any(|w| w.deadline.is_none());
    let bound_s = if unbounded {
        None
    } else {
        windows
            .iter()
            .filter_map(|w| w.deadline.map(|d| (d - w.stolen_at) as f64 / 1e6))
            .reduce(f64::max)
    };
    let detects = |h: &History| -> Vec<(Micros, TenantId)> {
        h.records
            .iter()
            .filter_map(|r| match &r.event {
                Event::Detect { tenant, .. } => Some((r.t, *tenant)),
                _ => None,
            })
            .collect()
    };
    let d_run = detects(&h);
    let d_cf = detects(&cf);
    let first_detect = d_run
        .iter()
        .filter(|(t, _)| *t >= at)
        .map(|(t, _)| *t)
        .min();
    let mints = |h: &History| {
        h.records
            .iter()
            .filter(|r| {
                matches!(
                    r.event,
                    Event::Issue {
                        kind: ItemKind::AccessToken,
                        ..
                    }
                ) && r.t >= 0
            })
            .count() as i64
    };
    let accepts = |f: &Facts<'_>| {
        f.decided()
            .filter(|(_, d, _)| matches!(d, Decision::Accept { .. }))
            .count() as i64
    };
    // Revocation latency, off as set and with the API checking installations.
    let revoke_t = f
        .admin
        .iter()
        .filter(|(t, k, x)| {
            *t >= 0 && *x == victim && matches!(k, AdminKind::Revoke | AdminKind::Uninstall)
        })
        .map(|(t, _, _)| *t)
        .min();
    let latency = |h: &History| {
        revoke_t.map(|r| {
            last_accept_for(h, victim, r)
                .map(|l| (l - r) as f64 / 1e6)
                .unwrap_or(0.0)
        })
    };
    let revocation_latency_s = latency(&h);
    let revocation_latency_api_checks_on_s = if revoke_t.is_some() {
        let mut on = s.clone();
        on.sets.push("api_checks_installation=on".into());
        let (h_on, _) = run(&on, Some(&plan))?;
        latency(&h_on)
    } else {
        None
    };
    Ok(AttackResult {
        mechanism: req.mechanism.clone(),
        sets: req.sets.clone(),
        credential: req.credential.clone().unwrap_or_else(|| "store".into()),
        from: req.from,
        mode: req.mode,
        victim,
        stolen_at_s: req.at_s,
        tenants_compromised: tenants.len() as u64,
        privilege: "app",
        users_compromised: {
            let cfg = crate::principals::config(&params);
            cfg.active().then(|| {
                tenants.len() as u64
                    * crate::principals::users_bought(cfg, req.credential.as_deref())
            })
        },
        tokens_obtained: tokens.len() as u64,
        attempts,
        accepted,
        rejected_by,
        exposure_window_s: last.map(|l| (l - at) as f64 / 1e6),
        exposure_after_close_s: after_close(last_api_accept),
        accepted_after_close_s: after_close(last_any_accept),
        exposure_bound_s: bound_s,
        exposure_unbounded: unbounded,
        horizon_s,
        resolution_s: 60.0,
        detected: first_detect.is_some(),
        detected_after_s: first_detect.map(|t| (t - at) as f64 / 1e6),
        false_detections: d_cf.len() as u64,
        revocation_latency_s,
        revocation_latency_api_checks_on_s,
        extra_accepts: accepts(&f) - accepts(&fc),
        extra_mints: mints(&h) - mints(&cf),
        standing_secrets: standing_secrets(&cf, &params),
        counts: Counts {
            attacker_presentations: attempts,
            attacker_accepts: accepted,
            exposures: f.exposures.len() as u64,
            detects: d_run.len() as u64,
            counterfactual_detects: d_cf.len() as u64,
            mints: mints(&h) as u64,
            counterfactual_mints: mints(&cf) as u64,
            history_records: h.records.len() as u64,
        },
    })
}

fn static_field(c: &str) -> &'static str {
    [
        "token",
        "trigger_url",
        "trigger_key",
        "refresh_token",
        "client_secret",
        "client_key",
        "shared_secret",
    ]
    .into_iter()
    .find(|f| *f == c)
    .unwrap_or("token")
}

/// Live items at P at the end of a run: per installation, the last item committed per field,
/// still unexpired, by kind and lifetime class.
pub fn standing_secrets(h: &History, params: &Params) -> StandingSecrets {
    let f = Facts::new(h);
    let ttl = params.dur_req("ttl");
    let end = h.records.last().map(|r| r.t).unwrap_or(0);
    let mut rows: BTreeMap<TenantId, BTreeMap<&'static str, tokenlab_models::secret::ItemId>> =
        BTreeMap::new();
    let mut last_demand: BTreeMap<TenantId, Micros> = BTreeMap::new();
    let mut uninstalled = BTreeSet::new();
    for r in &h.records {
        match &r.event {
            Event::StoreItem(s) => {
                rows.entry(s.tenant).or_default().insert(s.field, s.item);
            }
            Event::StoreCommit { tenant, item, .. } => {
                rows.entry(*tenant).or_default().insert("token", *item);
            }
            Event::Invoke { tenant, .. } => {
                last_demand.insert(*tenant, r.t);
            }
            Event::Admin {
                kind: AdminKind::Uninstall,
                tenant,
            } => {
                uninstalled.insert(*tenant);
            }
            _ => {}
        }
    }
    let mut s = StandingSecrets::default();
    let mut holders: BTreeMap<tokenlab_models::secret::ItemId, (String, u64)> = BTreeMap::new();
    for (tenant, fields) in &rows {
        if uninstalled.contains(tenant) {
            continue;
        }
        s.installations += 1;
        let idle = last_demand.get(tenant).is_none_or(|t| end - t > ttl);
        if idle {
            s.idle_installations += 1;
        }
        for item in fields.values() {
            let Some(i) = f.issued.get(item) else {
                continue;
            };
            if i.exp.is_some_and(|e| e <= end) {
                continue;
            }
            let key = format!("{}/{}", kind_name(i.kind), lifetime_class(i.exp, i.t, ttl));
            holders.entry(*item).or_insert_with(|| (key.clone(), 0)).1 += 1;
            *s.by_kind.entry(key).or_default() += 1;
            if idle {
                s.idle_items += 1;
            }
        }
    }
    for (key, n) in holders.into_values().filter(|(_, n)| *n > 1) {
        let e = s.shared.entry(key).or_default();
        e.items += 1;
        e.rows += n;
    }
    s
}

/// Every credential of every mechanism's default profile stolen from the store at 600 s
/// (push: 3900 s, after its first delivery),
/// plus the whole-store breach, with a revocation 30 min later: the attack table.
pub fn attack_table(seed: u64) -> Vec<AttackResult> {
    let mut out = Vec::new();
    for m in registry() {
        let Ok(creds) = credentials(m.id(), &[]) else {
            continue;
        };
        let mut targets: Vec<Option<String>> = creds.into_iter().map(|c| Some(c.id)).collect();
        targets.push(None);
        // A pushed-only partner holds T only after its first delivery: 5 min after it.
        let at_s = if m.warm_up_s() > 0.0 {
            m.warm_up_s() + 300.0
        } else {
            600.0
        };
        for credential in targets {
            let req = AttackRequest {
                at_s,
                revoke_at_s: Some(at_s + 1800.0),
                ..AttackRequest::snapshot::<&str>(
                    m.id(),
                    &[],
                    credential.as_deref(),
                    From::Store,
                    seed,
                )
            };
            if let Ok(r) = attack(&req) {
                out.push(r);
            }
        }
    }
    out
}
