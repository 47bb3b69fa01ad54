//! Scenario files: one experiment per TOML file, run with `tokenlab run FILE`.
//!
//! A file names a mechanism (the reference syntax `ID[:PROFILE][switch=value,...]`), its
//! switches, the workload, the network (a preset and edits of its links), a nemesis schedule,
//! an attacker plan, the properties to judge with their expected verdicts and, optionally, a
//! sweep over one or two parameters. It maps onto the typed structures the simulator already
//! has (`Scenario`, `NetworkProfile`, `Nemesis`, `AttackPlan`, `Property`); there is no second
//! model of a run here. Unknown keys are errors, and every error is one line that names the
//! file, the line and column, the key and what was expected ([`locate`]).
//!
//! Look next: [`file`] for the keys and their defaults, `scenarios/` for commented examples,
//! README.md ("Scenario files") for the format, [`run`] for the command.
//!
//! ```toml
//! version = 1
//! mechanism = "refresh:3lo"
//! [switches]
//! grace_window = "10s"
//! [workload]
//! tenants = 10
//! duration_s = 3600
//! [[attacker.steps]]
//! action = "steal"
//! credential = "refresh_token"
//! at_s = 600
//! [properties]
//! P1 = "holds"
//! ```

pub mod examples;
pub mod file;
pub mod locate;
pub mod report;
pub mod run;
pub mod sweep;

use file::{
    AdminKind, AttackEntry, NemesisEntry, ReadMode, ScenarioFile, SeedValue, StealFrom, SwitchValue,
};
use locate::{FileError, Path};
use tokenlab_models::faults::{LatencyDist, Nemesis, PRESET_NAMES, preset, secs};
use tokenlab_models::history::ExposureMode;
use tokenlab_models::ids::{Group, TenantId};
use tokenlab_models::mechanisms::{Mechanism, resolve};
use tokenlab_models::roles::AdminAction;
use tokenlab_models::roles::attacker::{AttackPlan, AttackStep, Capability};
use tokenlab_models::sim::Scenario;
use tokenlab_properties::{Property, UnknownProperty, VerdictKind};

/// The only format version.
pub const FORMAT_VERSION: u32 = 1;

/// What a property is expected to give.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Expect {
    /// Not violated (holds, n/a or by-design).
    Holds,
    /// Exactly this verdict.
    Kind(VerdictKind),
    /// Judged and shown, never a failure.
    Any,
}

impl Expect {
    fn parse(s: &str) -> Option<Expect> {
        match s {
            "holds" => Some(Expect::Holds),
            "any" => Some(Expect::Any),
            _ => VerdictKind::parse(s).map(Expect::Kind),
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Expect::Holds => "holds",
            Expect::Kind(k) => k.name(),
            Expect::Any => "any",
        }
    }
    pub fn matches(self, kind: VerdictKind) -> bool {
        match self {
            Expect::Holds => kind != VerdictKind::Violated,
            Expect::Kind(k) => k == kind,
            Expect::Any => true,
        }
    }
}

/// A checked scenario, ready to run.
#[derive(Clone, Debug)]
pub struct Experiment {
    pub scenario: Scenario,
    pub plan: Option<AttackPlan>,
    pub properties: Vec<(Property, Expect)>,
}

/// The attacker's own tenant acts from before provisioning (as in the suites).
const BEFORE_SETUP_S: f64 = -301.0;

/// Checks a parsed file and maps it onto the simulator's types; errors name a key path and
/// are located by `err`.
pub fn build(
    f: &ScenarioFile,
    err: &dyn Fn(&Path, String) -> FileError,
) -> Result<Experiment, FileError> {
    let e = |p: Path, m: String| err(&p, m);
    if f.version != FORMAT_VERSION {
        return Err(e(
            Path::root("version"),
            format!(
                "expected {FORMAT_VERSION} (the only format version), got {}",
                f.version
            ),
        ));
    }
    let (m, _, _) =
        resolve(&f.mechanism, &[]).map_err(|x| e(Path::root("mechanism"), x.to_string()))?;

    // Switches one by one first, so an unknown one is pointed at; then all together.
    let mut sets = Vec::new();
    for (k, v) in &f.switches {
        let kv = format!("{k}={}", v.as_set_value());
        let p = Path::root("switches").key(k);
        if let SwitchValue::Str(s) = v
            && s.contains(',')
        {
            return Err(e(p, format!("expected one value, got '{s}'")));
        }
        resolve(&f.mechanism, std::slice::from_ref(&kv)).map_err(|x| e(p, x.to_string()))?;
        sets.push(kv);
    }
    for (i, n) in f.nemesis.iter().enumerate() {
        if let NemesisEntry::ClockSkew { skew_ms } = n {
            let p = Path::root("nemesis").idx(i).key("skew_ms");
            if !(0.0..=86_400_000.0).contains(skew_ms) {
                return Err(e(
                    p,
                    format!("expected milliseconds in [0, 86400000], got {skew_ms}"),
                ));
            }
            let kv = format!("clock_skew={skew_ms}ms");
            resolve(&f.mechanism, std::slice::from_ref(&kv)).map_err(|x| e(p, x.to_string()))?;
            sets.push(kv);
        }
    }
    resolve(&f.mechanism, &sets).map_err(|x| e(Path::root("switches"), x.to_string()))?;

    let preset_name = f.preset.clone().unwrap_or_else(|| "same-region".into());
    let Some(p) = preset(&preset_name) else {
        return Err(e(
            Path::root("preset"),
            format!(
                "unknown preset '{preset_name}'; expected one of {}",
                PRESET_NAMES.join(", ")
            ),
        ));
    };

    let w = &f.workload;
    let wp = Path::root("workload");
    if w.tenants == 0 || w.tenants > 100_000 {
        return Err(e(
            wp.key("tenants"),
            format!("expected 1 to 100000, got {}", w.tenants),
        ));
    }
    if !(w.duration_s > 0.0 && w.duration_s <= 30.0 * 86_400.0) {
        return Err(e(
            wp.key("duration_s"),
            format!("expected seconds in (0, 2592000], got {}", w.duration_s),
        ));
    }
    if !(w.demands_per_tenant_hour >= 0.0 && w.demands_per_tenant_hour <= 36_000.0) {
        return Err(e(
            wp.key("demands_per_tenant_hour"),
            format!("expected [0, 36000], got {}", w.demands_per_tenant_hour),
        ));
    }
    let seed = match &w.seed {
        SeedValue::Int(i) if *i >= 0 => *i as u64,
        SeedValue::Int(i) => {
            return Err(e(
                wp.key("seed"),
                format!("expected a non-negative seed, got {i}"),
            ));
        }
        SeedValue::Str(s) => crate::parse_seed(s).map_err(|x| e(wp.key("seed"), x))?,
    };
    let duration = w.duration_s;
    // Every time in the file is inside the run: [0, duration_s].
    let time = |p: Path, t: f64| -> Result<f64, FileError> {
        if (0.0..=duration).contains(&t) {
            Ok(t)
        } else {
            Err(e(
                p,
                format!("expected a time in [0, {duration}] s (the run), got {t}"),
            ))
        }
    };
    let tenant = |p: Path, t: u32| -> Result<u32, FileError> {
        if t < w.tenants {
            Ok(t)
        } else {
            Err(e(
                p,
                format!(
                    "expected a tenant in 0..{} (workload.tenants), got {t}",
                    w.tenants
                ),
            ))
        }
    };
    let window = |p: &Path, from: f64, until: f64| -> Result<(), FileError> {
        time(p.key("from_s"), from)?;
        time(p.key("until_s"), until)?;
        if until <= from {
            return Err(e(
                p.key("until_s"),
                format!("expected a time after from_s ({from}), got {until}"),
            ));
        }
        Ok(())
    };
    let provision_at_s = match w.provision_at_s {
        Some(t) => Some(time(wp.key("provision_at_s"), t)?),
        None => None,
    };
    let mut admin = Vec::new();
    for (i, a) in w.admin.iter().enumerate() {
        let p = wp.key("admin").idx(i);
        let at = time(p.key("at_s"), a.at_s)?;
        let t = tenant(p.key("tenant"), a.tenant)?;
        admin.push((
            at,
            match a.action {
                AdminKind::Install => AdminAction::Install(t),
                AdminKind::Uninstall => AdminAction::Uninstall(t),
                AdminKind::Revoke => AdminAction::Revoke(t),
            },
        ));
    }
    let mut demands = Vec::new();
    for (i, d) in w.demands.iter().enumerate() {
        let p = wp.key("demands").idx(i);
        demands.push((
            time(p.key("at_s"), d.at_s)?,
            tenant(p.key("tenant"), d.tenant)?,
        ));
    }

    // The network: the preset, then each edit in order.
    let mut network = p.network;
    for (i, l) in f.links.iter().enumerate() {
        let lp = Path::root("links").idx(i);
        for (k, v) in [
            ("loss", l.loss),
            ("loss_request", l.loss_request),
            ("loss_response", l.loss_response),
            ("http_5xx", l.http_5xx),
            ("http_429", l.http_429),
        ] {
            if let Some(v) = v
                && !(0.0..=1.0).contains(&v)
            {
                return Err(e(
                    lp.key(k),
                    format!("expected a probability in [0, 1], got {v}"),
                ));
            }
        }
        if let Some(ms) = l.latency_ms
            && !(0.0..=600_000.0).contains(&ms)
        {
            return Err(e(
                lp.key("latency_ms"),
                format!("expected milliseconds in [0, 600000], got {ms}"),
            ));
        }
        if let Some(d) = &l.latency {
            check_latency(d).map_err(|m| e(lp.key("latency"), m))?;
        }
        if l.latency.is_some() && l.latency_ms.is_some() {
            return Err(e(
                lp.key("latency_ms"),
                "expected either latency or latency_ms, not both".into(),
            ));
        }
        let edit = |x: &mut tokenlab_models::faults::LinkProfile| {
            if let Some(d) = l.latency {
                x.latency = d;
            }
            if let Some(ms) = l.latency_ms {
                x.latency = LatencyDist::Fixed { ms };
            }
            if let Some(p) = l.loss {
                x.loss_request = p;
                x.loss_response = p;
            }
            if let Some(p) = l.loss_request {
                x.loss_request = p;
            }
            if let Some(p) = l.loss_response {
                x.loss_response = p;
            }
            if let Some(p) = l.http_5xx {
                x.http_5xx = p;
            }
            if let Some(p) = l.http_429 {
                x.http_429 = p;
            }
        };
        if l.from.is_none() && l.to.is_none() {
            network.map_all(edit);
            continue;
        }
        let mut pairs = Vec::new();
        for a in Group::ALL {
            for b in Group::ALL {
                if a != b && l.from.is_none_or(|f| f == a) && l.to.is_none_or(|t| t == b) {
                    pairs.push((a, b));
                    if l.both_directions {
                        pairs.push((b, a));
                    }
                }
            }
        }
        pairs.sort();
        pairs.dedup();
        for (a, b) in pairs {
            let mut link = *network.link(a, b);
            edit(&mut link);
            network.links.insert((a, b), link);
        }
    }

    // The nemesis schedule; `every_s` repeats a window until the run ends.
    let mut nemesis = p.nemesis;
    let mut jwks_outages = Vec::new();
    for (i, n) in f.nemesis.iter().enumerate() {
        let np = Path::root("nemesis").idx(i);
        let repeat = |from: f64, every: Option<f64>, len: f64| -> Result<Vec<f64>, FileError> {
            let Some(every) = every else {
                return Ok(vec![from]);
            };
            if !(every > len && every.is_finite()) {
                return Err(e(
                    np.key("every_s"),
                    format!("expected a period longer than one window ({len} s), got {every}"),
                ));
            }
            let mut starts = Vec::new();
            let mut t = from;
            while t + len <= duration {
                starts.push(t);
                t += every;
            }
            Ok(starts)
        };
        match *n {
            NemesisEntry::Partition {
                a,
                b,
                from_s,
                until_s,
                every_s,
            } => {
                window(&np, from_s, until_s)?;
                for s in repeat(from_s, every_s, until_s - from_s)? {
                    nemesis.push(Nemesis::Partition {
                        a,
                        b,
                        from_s: s,
                        until_s: s + (until_s - from_s),
                    });
                }
            }
            NemesisEntry::Crash {
                role,
                from_s,
                until_s,
                lose_volatile,
                every_s,
            } => {
                window(&np, from_s, until_s)?;
                for s in repeat(from_s, every_s, until_s - from_s)? {
                    nemesis.push(Nemesis::Crash {
                        role,
                        from_s: s,
                        until_s: s + (until_s - from_s),
                        lose_volatile,
                    });
                }
            }
            NemesisEntry::ReplicaLagSpike {
                extra_ms,
                from_s,
                until_s,
                every_s,
            } => {
                window(&np, from_s, until_s)?;
                if !(0.0..=600_000.0).contains(&extra_ms) {
                    return Err(e(
                        np.key("extra_ms"),
                        format!("expected milliseconds in [0, 600000], got {extra_ms}"),
                    ));
                }
                for s in repeat(from_s, every_s, until_s - from_s)? {
                    nemesis.push(Nemesis::ReplicaLagSpike {
                        extra_ms,
                        from_s: s,
                        until_s: s + (until_s - from_s),
                    });
                }
            }
            NemesisEntry::DeployReset { at_s, every_s } => {
                time(np.key("at_s"), at_s)?;
                for s in repeat(at_s, every_s, 0.0)? {
                    nemesis.push(Nemesis::DeployReset { at_s: s });
                }
            }
            NemesisEntry::JwksOutage {
                from_s,
                until_s,
                every_s,
            } => {
                window(&np, from_s, until_s)?;
                for s in repeat(from_s, every_s, until_s - from_s)? {
                    jwks_outages.push((secs(s), secs(s + (until_s - from_s))));
                }
            }
            NemesisEntry::ClockSkew { .. } => {}
        }
    }

    // The attacker.
    let plan = match &f.attacker {
        None if jwks_outages.is_empty() => None,
        None => {
            let mut plan = AttackPlan::new(Vec::new(), secs(duration));
            plan.jwks_outages = jwks_outages;
            Some(plan)
        }
        Some(a) => {
            let ap = Path::root("attacker");
            if !(a.probe_every_s > 0.0 && a.probe_every_s <= duration) {
                return Err(e(
                    ap.key("probe_every_s"),
                    format!(
                        "expected seconds in (0, {duration}], got {}",
                        a.probe_every_s
                    ),
                ));
            }
            let mut steps = Vec::new();
            let mut known: Option<Vec<String>> = None;
            for (i, s) in a.steps.iter().enumerate() {
                let sp = ap.key("steps").idx(i);
                let step = |at: f64, capability| -> Result<AttackStep, FileError> {
                    Ok(AttackStep {
                        at: secs(time(sp.key("at_s"), at)?),
                        capability,
                    })
                };
                let c = match s {
                    AttackEntry::Steal {
                        at_s,
                        credential,
                        tenant: t,
                        from,
                        mode,
                    } => {
                        let known = match &known {
                            Some(k) => k,
                            None => known.insert(credential_ids(m, &f.mechanism, &sets)),
                        };
                        let Some(field) = static_field(m, credential, known) else {
                            return Err(e(
                                sp.key("credential"),
                                format!(
                                    "{} has no credential '{credential}'; expected one of {}",
                                    m.id(),
                                    known.join(", ")
                                ),
                            ));
                        };
                        let tenant = TenantId(tenant(sp.key("tenant"), *t)?);
                        let capability = match (from, mode) {
                            (StealFrom::Store, ReadMode::Snapshot) => Capability::Steal {
                                field,
                                tenant,
                                from: ExposureMode::Store,
                            },
                            (StealFrom::Store, ReadMode::Continuing) => {
                                Capability::StealContinuing { field, tenant }
                            }
                            (from, ReadMode::Snapshot) => Capability::StealInTransit {
                                field,
                                tenant,
                                from_log: *from == StealFrom::Log,
                            },
                            (_, ReadMode::Continuing) => {
                                return Err(e(
                                    sp.key("mode"),
                                    "expected snapshot: a continuing read is of the store only"
                                        .into(),
                                ));
                            }
                        };
                        step(*at_s, capability)?
                    }
                    AttackEntry::Breach { at_s, mode } => step(
                        *at_s,
                        Capability::Breach {
                            continuing: *mode == ReadMode::Continuing,
                        },
                    )?,
                    AttackEntry::Tap { at_s, a, b } => {
                        if a == b {
                            return Err(e(
                                sp.key("b"),
                                "expected a group other than a (a tap is on a link)".into(),
                            ));
                        }
                        step(*at_s, Capability::Tap { a: *a, b: *b })?
                    }
                    AttackEntry::ReadLogs { at_s } => step(*at_s, Capability::ReadLogs)?,
                    AttackEntry::Own { tenant: t } => AttackStep {
                        at: secs(BEFORE_SETUP_S),
                        capability: Capability::Own {
                            tenant: TenantId(tenant(sp.key("tenant"), *t)?),
                        },
                    },
                    AttackEntry::Redirect { at_s, victim } => step(
                        *at_s,
                        Capability::Redirect {
                            victim: TenantId(tenant(sp.key("victim"), *victim)?),
                        },
                    )?,
                    AttackEntry::InjectCode { at_s, victim } => step(
                        *at_s,
                        Capability::InjectCode {
                            victim: TenantId(tenant(sp.key("victim"), *victim)?),
                        },
                    )?,
                    AttackEntry::Replay { at_s } => step(*at_s, Capability::Replay)?,
                    AttackEntry::Spam { at_s, count } => {
                        if *count == 0 || *count > 1_000_000 {
                            return Err(e(
                                sp.key("count"),
                                format!("expected 1 to 1000000, got {count}"),
                            ));
                        }
                        step(*at_s, Capability::Spam { count: *count })?
                    }
                    AttackEntry::Forge { at_s } => step(*at_s, Capability::Forge)?,
                };
                steps.push(c);
            }
            let mut plan = AttackPlan::new(steps, secs(duration));
            plan.use_loot = a.use_loot;
            plan.store_key = a.store_key;
            plan.probe_every = secs(a.probe_every_s);
            plan.jwks_outages = jwks_outages;
            Some(plan)
        }
    };

    let mut properties = Vec::new();
    for (k, v) in &f.properties {
        let p = Path::root("properties").key(k);
        let id: Property = k
            .parse()
            .map_err(|x: UnknownProperty| e(p.clone(), x.to_string()))?;
        let expect = Expect::parse(v).ok_or_else(|| {
            e(
                p.clone(),
                format!("expected holds, violated, n/a, by-design or any, got '{v}'"),
            )
        })?;
        properties.push((id, expect));
    }
    properties.sort_by_key(|(p, _)| *p);

    let scenario = Scenario {
        mechanism: f.mechanism.clone(),
        sets,
        preset: if f.links.is_empty() {
            preset_name
        } else {
            format!("{preset_name}+links")
        },
        tenants: w.tenants,
        duration_s: duration,
        demands_per_tenant_hour: w.demands_per_tenant_hour,
        seed,
        network,
        nemesis,
        admin,
        provision_at_s,
        demands,
    };
    Ok(Experiment {
        scenario,
        plan,
        properties,
    })
}

/// A delay distribution the simulator can sample: finite, non-negative, ordered.
fn check_latency(d: &LatencyDist) -> Result<(), String> {
    let ms_ok = |v: f64| v.is_finite() && (0.0..=600_000.0).contains(&v);
    match *d {
        LatencyDist::Fixed { ms } if ms_ok(ms) => Ok(()),
        LatencyDist::Uniform { min_ms, max_ms }
            if ms_ok(min_ms) && ms_ok(max_ms) && min_ms <= max_ms =>
        {
            Ok(())
        }
        LatencyDist::HeavyTail {
            base_ms,
            jitter_ms,
            tail_prob,
            tail_ms,
            tail_alpha,
        } if ms_ok(base_ms)
            && ms_ok(jitter_ms)
            && ms_ok(tail_ms)
            && (0.0..=1.0).contains(&tail_prob)
            && tail_alpha.is_finite()
            && tail_alpha > 0.0 =>
        {
            Ok(())
        }
        _ => Err(format!(
            "expected milliseconds in [0, 600000] (uniform: min_ms <= max_ms; heavy_tail: tail_prob in [0, 1], tail_alpha > 0), got {d:?}"
        )),
    }
}

/// The credentials the mechanism leaves at P (from a short fault-free run), its root first.
fn credential_ids(m: &dyn Mechanism, reference: &str, sets: &[String]) -> Vec<String> {
    let mut ids = vec![m.root_credential().to_string()];
    if let Ok(list) = tokenlab_properties::attack::credentials(reference, sets) {
        for c in list {
            if !ids.contains(&c.id) {
                ids.push(c.id);
            }
        }
    }
    ids
}

/// A credential named in the file as the store field the attacker reads (`&'static`, as
/// `Capability` keeps it), if the mechanism has it.
fn static_field(m: &dyn Mechanism, name: &str, known: &[String]) -> Option<&'static str> {
    if !known.iter().any(|k| k == name) {
        return None;
    }
    [
        m.root_credential(),
        "token",
        "trigger_url",
        "trigger_key",
        "refresh_token",
        "client_secret",
        "client_key",
        "shared_secret",
    ]
    .into_iter()
    .find(|f| *f == name)
}
