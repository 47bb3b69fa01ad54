//! Exploration (`threats.md` §7): a row's runs searched through the one choice source
//! ([`tokenlab_models::choice`]) instead of sampled.
//!
//! - [`small_world`] scales a row's run down: 2 tenants and the attacker (more only where the
//!   row names them), TTL 120 s, expiry margin 20 s, grace window 5 s, probe interval 10 s,
//!   the other protocol periods by 1/30, and a horizon of at least 3·max finite B.
//! - Candidate times ([`candidate_times`]) come from the row's baseline run (every choice at
//!   its default): the protocol events of the tenants the row is about (acquisition requests,
//!   deliveries to the partner), shifted before, inside and after the grace window and the
//!   in-flight window of a request. Movable steps (attack steps, admin actions) and the
//!   attacker's first use of a stolen credential choose among them, so the search places the
//!   attacker relative to the protocol instead of on a time grid.
//! - [`explore`] runs a strategy: `exhaustive` (every assignment of at most K non-default
//!   choices, fewest first, so the first counterexample is already minimal), `pct` (random
//!   runs with K non-default choices at random positions), `random` (seeded random-mode runs).
//!
//! A counterexample carries its [`ChoiceString`]; [`replay`] reproduces it exactly.

use crate::suite::{Expectation, RunSpec, bounds, judge_with, runs_for, twin_of};
use crate::{Property, Verdict, VerdictKind};
use rand::{RngExt, SeedableRng};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use tokenlab_models::choice::{ChoiceString, Choices, Made, WorldSize};
use tokenlab_models::history::{Event, History};
use tokenlab_models::ids::{Group, Party, TenantId};
use tokenlab_models::mechanisms::resolve;
use tokenlab_models::params::{Params, parse_duration};
use tokenlab_models::roles::attacker::Capability;
use tokenlab_models::sim::run_guided;
use tokenlab_models::{MS, Micros, SEC};

/// The small world's token lifetime and the windows scaled with it (`threats.md` §7).
pub const SMALL_TTL_S: f64 = 120.0;
const SMALL_MARGIN: &str = "20s";
const SMALL_GRACE: &str = "5s";
const SMALL_PROBE: Micros = 10 * SEC;
/// Protocol periods (push interval, rotation periods and overlaps, clock skew) scale with the
/// token lifetime (4 h → 120 s), so their order against it is kept.
const PERIOD_SCALE: f64 = 1.0 / 120.0;
/// Scripted times (attack steps, admin actions, nemesis) and the horizon.
const SCALE: f64 = 1.0 / 30.0;
/// Demands per tenant-hour in a small world: about two per token lifetime.
const SMALL_RATE: f64 = 60.0;
/// The horizon's floor: six token lifetimes.
const SMALL_MIN_HORIZON_S: f64 = 6.0 * SMALL_TTL_S;
/// Durations that are physical (network, processing, timeouts), not protocol periods: kept.
const PHYSICAL: [&str; 9] = [
    "timeout",
    "deadline",
    "backoff_base",
    "backoff_cap",
    "mint_time",
    "queue_delay",
    "replica_lag",
    "consent_delay",
    "fit_ttl",
];
/// Protocol events used as anchors per run, earliest first.
const MAX_ANCHORS: usize = 24;

/// How a row is searched.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    Exhaustive,
    Pct,
    Random,
}

impl std::str::FromStr for Strategy {
    type Err = String;
    fn from_str(s: &str) -> Result<Strategy, String> {
        match s {
            "exhaustive" => Ok(Strategy::Exhaustive),
            "pct" => Ok(Strategy::Pct),
            "random" => Ok(Strategy::Random),
            _ => Err(format!(
                "unknown strategy '{s}'; known: exhaustive, pct, random"
            )),
        }
    }
}

/// What to search and how hard.
#[derive(Clone, Debug)]
pub struct Search {
    pub strategy: Strategy,
    /// Seeds the random and PCT strategies and every draw the guide does not replace.
    pub seed: u64,
    /// K: at most this many non-default choices per run (PCT: exactly this many).
    pub max_unusual: u32,
    /// At most this many runs (over all of the row's runs).
    pub budget: u64,
}

/// A counterexample found by exploration.
#[derive(Clone, Debug, Serialize)]
pub struct Counterexample {
    /// Replays the run exactly (`tokenlab replay --choices`).
    pub choices: String,
    /// Non-default choices in it (the search finds the fewest first).
    pub unusual: usize,
    /// The checker's readable account of the violation.
    pub trace: Vec<String>,
}

/// The outcome of exploring one row.
#[derive(Clone, Debug, Serialize)]
pub struct Exploration {
    pub row: String,
    pub property: String,
    pub strategy: Strategy,
    pub seed: u64,
    pub runs: u64,
    pub distinct_histories: u64,
    /// Exhaustive only: every assignment within the bound was run before the budget ran out.
    pub exhausted: bool,
    pub max_unusual: u32,
    pub verdict: VerdictKind,
    /// How often the property's antecedent fired, over all runs.
    pub reached: u64,
    pub counterexample: Option<Counterexample>,
    /// Choice points the baseline run offered, by kind (`q` link request, `r` link response,
    /// `j` jitter, `f` store failure, `l` replica lag, `d` push duplicate, `p` push phase, `s`
    /// movable step, `u` first use).
    pub choice_points: String,
}

/// Periods measured against the token lifetime: they scale with it wherever they come from.
const TTL_RELATIVE: [&str; 4] = ["clock_skew", "rotation", "url_rotation", "rotation_overlap"];

/// A duration switch in the small world: protocol periods left at their defaults and those
/// measured against the TTL scale with the TTL; values a row sets scale with its scripted
/// times (a row's `interval=5m` is about its crash and uninstalls).
fn scale_value(key: &str, value: &str, row_given: bool) -> Option<String> {
    if PHYSICAL.contains(&key) {
        return None;
    }
    let factor = if row_given && !TTL_RELATIVE.contains(&key) {
        SCALE
    } else {
        PERIOD_SCALE
    };
    let scaled = |d: Micros| {
        format!(
            "{}ms",
            ((d as f64 * factor) / MS as f64).round().max(1.0) as i64
        )
    };
    if let Some(inner) = value
        .strip_prefix("periodic(")
        .and_then(|v| v.strip_suffix(')'))
    {
        // A rotation period: five token lifetimes at most, so the horizon stays short.
        let d = parse_duration(inner)?;
        let small = ((d as f64 * PERIOD_SCALE) as Micros).min((5.0 * SMALL_TTL_S) as Micros * SEC);
        return Some(format!("periodic({}ms)", small / MS));
    }
    let d = parse_duration(value)?;
    (d > 0).then(|| scaled(d))
}

/// The row's run scaled down to its small world (`threats.md` §7).
pub fn small_world(full: &RunSpec) -> Result<RunSpec, String> {
    let mut spec = full.clone();
    let s = &mut spec.scenario;
    let given: BTreeSet<String> = s
        .sets
        .iter()
        .filter_map(|kv| kv.split_once('=').map(|(k, _)| k.trim().to_string()))
        .collect();
    let mut sets: Vec<String> = s
        .sets
        .iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => match scale_value(k.trim(), v.trim(), true) {
                Some(v) => format!("{}={v}", k.trim()),
                None => kv.clone(),
            },
            None => kv.clone(),
        })
        .collect();
    let (_, _, defaults) = resolve(&s.mechanism, &[]).map_err(|e| e.to_string())?;
    for (key, value) in [
        ("ttl", format!("{SMALL_TTL_S}s")),
        ("expiry_margin", SMALL_MARGIN.to_string()),
        ("grace_window", SMALL_GRACE.to_string()),
    ] {
        if !given.contains(key) && defaults.get(key).is_some() {
            sets.push(format!("{key}={value}"));
        }
    }
    // Protocol periods the row leaves at their defaults scale too.
    for key in ["interval", "url_rotation", "rotation", "rotation_overlap"] {
        if given.contains(key) {
            continue;
        }
        if let Some(spec) = defaults.specs().find(|p| p.key == key)
            && let Some(v) = scale_value(key, spec.default, false)
        {
            sets.push(format!("{key}={v}"));
        }
    }
    s.sets = sets;
    let (_, _, params) = resolve(&s.mechanism, &s.sets).map_err(|e| e.to_string())?;
    let mut referenced: BTreeSet<u32> = s.admin.iter().map(|(_, a)| a.tenant().0).collect();
    if let Some(p) = &spec.plan {
        referenced.extend(p.steps.iter().filter_map(|st| step_tenant(&st.capability)));
    }
    s.tenants = referenced.iter().max().map_or(2, |m| (m + 1).max(2));
    s.demands_per_tenant_hour = if s.demands_per_tenant_hour > 0.0 {
        SMALL_RATE
    } else {
        0.0
    };
    for d in &mut s.demands {
        d.0 *= SCALE;
    }
    for (t, _) in &mut s.admin {
        *t *= SCALE;
    }
    for n in &mut s.nemesis {
        use tokenlab_models::faults::Nemesis::*;
        match n {
            Partition {
                from_s, until_s, ..
            }
            | Crash {
                from_s, until_s, ..
            }
            | ReplicaLagSpike {
                from_s, until_s, ..
            } => {
                *from_s *= SCALE;
                *until_s *= SCALE;
            }
            DeployReset { at_s } => *at_s *= SCALE,
        }
    }
    let b = bounds(&params);
    let max_b = [b.url, b.secret]
        .into_iter()
        .flatten()
        .chain([2 * b.ttl + b.grace])
        .max()
        .unwrap_or(0);
    let horizon = (s.duration_s * SCALE)
        .max(SMALL_MIN_HORIZON_S)
        .max(3.0 * max_b as f64 / SEC as f64);
    s.duration_s = horizon.ceil();
    if let Some(p) = spec.plan.as_mut() {
        for st in &mut p.steps {
            if st.at >= 0 {
                st.at = (st.at as f64 * SCALE) as Micros;
            }
        }
        p.jwks_outages = p
            .jwks_outages
            .iter()
            .map(|(f, u)| ((*f as f64 * SCALE) as Micros, (*u as f64 * SCALE) as Micros))
            .collect();
        p.probe_every = SMALL_PROBE;
        p.until = (horizon * SEC as f64) as Micros;
    }
    Ok(spec)
}

fn step_tenant(c: &Capability) -> Option<u32> {
    match c {
        Capability::Own { tenant }
        | Capability::Steal { tenant, .. }
        | Capability::StealInTransit { tenant, .. }
        | Capability::StealContinuing { tenant, .. } => Some(tenant.0),
        Capability::Redirect { victim }
        | Capability::InjectCode { victim }
        | Capability::ForgeConsent { victim } => Some(victim.0),
        _ => None,
    }
}

/// Whether a row's search explores link faults: the properties about faults (P9's lost
/// responses and concurrent refreshes, P10's faulted runs). Elsewhere links deliver on time.
pub fn explores_faults(property: Property) -> bool {
    matches!(property, Property::P9 | Property::P10)
}

/// Candidate times from a baseline history: protocol events of the tenants the run is about,
/// shifted before, inside and after the grace window and a request's in-flight window, in
/// search order (window by window, each in time order).
pub fn candidate_times(spec: &RunSpec, params: &Params, h: &History) -> Vec<Micros> {
    let mut focus: BTreeSet<TenantId> = spec
        .scenario
        .admin
        .iter()
        .map(|(_, a)| a.tenant())
        .collect();
    if let Some(p) = &spec.plan {
        focus.extend(
            p.steps
                .iter()
                .filter(|st| !matches!(st.capability, Capability::Own { .. }))
                .filter_map(|st| step_tenant(&st.capability).map(TenantId)),
        );
    }
    let about = |t: Option<TenantId>| focus.is_empty() || t.is_some_and(|t| focus.contains(&t));
    let mut anchors: Vec<Micros> = Vec::new();
    let mut api: Vec<Micros> = Vec::new();
    for r in &h.records {
        let Event::Send { env } = &r.event else {
            continue;
        };
        let Some(req) = env.request() else { continue };
        if r.t < 0 || !about(req.tenant) {
            continue;
        }
        let (from, to) = (env.from.group(), env.to.group());
        let acquisition = from == Group::Partner && matches!(to, Group::AuthServer | Group::Forge);
        let delivery = to == Group::Partner && env.from != Party::Attacker;
        if acquisition || delivery {
            anchors.push(r.t);
        } else if from == Group::Partner && to == Group::ProductApi {
            api.push(r.t);
        }
    }
    if anchors.is_empty() {
        anchors = api;
    }
    anchors.truncate(MAX_ANCHORS);
    let grace = bounds(params).grace;
    // Offsets by window: inside and just after the grace window first, then the in-flight
    // window of a request. The order is the search's order (cheap searches meet the grace
    // window first); every candidate is tried either way.
    let mut offsets: Vec<Micros> = Vec::new();
    if grace > 0 {
        offsets.extend([-grace / 2, grace / 2, grace + MS]);
    }
    offsets.extend([-3 * MS / 2, -MS / 2, MS / 2]);
    let horizon = (spec.scenario.duration_s * SEC as f64) as Micros;
    let mut seen = BTreeSet::new();
    offsets
        .iter()
        .flat_map(|o| anchors.iter().map(move |a| a + o))
        .filter(|t| (0..horizon).contains(t) && seen.insert(*t))
        .collect()
}

/// The candidate times a row's search uses. P10 asks whether faults open a door, so its
/// search varies the faults only; where the attacker acts is searched by P1, P4 and P8's own
/// rows (moving it in P10 would report their findings as fail-open behaviour).
fn search_times(property: Property, spec: &RunSpec, params: &Params, h: &History) -> Vec<Micros> {
    if property == Property::P10 {
        return Vec::new();
    }
    candidate_times(spec, params, h)
}

/// A cheap signature of a history: every record's time and kind, and the ids of the messages
/// sent (two runs with the same signature took the same path).
fn fingerprint(h: &History) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for r in &h.records {
        r.t.hash(&mut hasher);
        std::mem::discriminant(&r.event).hash(&mut hasher);
        if let Event::Send { env } = &r.event {
            env.id.hash(&mut hasher);
            env.to.hash(&mut hasher);
        }
    }
    hasher.finish()
}

/// One run's result.
struct Outcome {
    verdict: Verdict,
    made: Vec<Made>,
    fingerprint: u64,
    misfit: Option<u32>,
    history: History,
    params: Params,
}

/// One run through a guide, judged against `twin` (P10's fault-free verdicts, [`twin_of`]:
/// the twin takes no choices, so one serves every guided run of a spec).
fn run_once(
    spec: &RunSpec,
    property: Property,
    choices: Choices,
    twin: &Option<Vec<VerdictKind>>,
) -> Result<Outcome, String> {
    let (m, profile, params) =
        resolve(&spec.scenario.mechanism, &spec.scenario.sets).map_err(|e| e.to_string())?;
    let r = run_guided(
        &spec.scenario,
        m,
        profile,
        params,
        spec.plan.as_ref(),
        choices.clone(),
    );
    let verdict = judge_with(
        property,
        &r.history,
        &r.params,
        spec.scenario.tenants,
        twin.clone(),
    );
    let fingerprint = fingerprint(&r.history);
    Ok(Outcome {
        verdict,
        made: choices.made(),
        fingerprint,
        misfit: choices.misfit(),
        history: r.history,
        params: r.params,
    })
}

/// The runs a row searches: its full-size runs, or their small worlds.
pub fn row_runs(e: &Expectation, size: WorldSize, seed: u64) -> Result<Vec<RunSpec>, String> {
    runs_for(&e.mechanism, &e.sets, e.property)
        .into_iter()
        .map(|mut spec| {
            spec.scenario.seed = seed;
            match size {
                WorldSize::Full => Ok(spec),
                WorldSize::Small => small_world(&spec),
            }
        })
        .collect()
}

struct Tally {
    runs: u64,
    reached: u64,
    fingerprints: BTreeSet<u64>,
    kinds: Vec<VerdictKind>,
}

impl Tally {
    fn add(&mut self, o: &Outcome) {
        self.runs += 1;
        self.reached += o.verdict.reached;
        self.fingerprints.insert(o.fingerprint);
        self.kinds.push(o.verdict.kind);
    }
}

fn counterexample(
    e: &Expectation,
    world: WorldSize,
    run: usize,
    seed: u64,
    decisions: Option<BTreeMap<u32, u16>>,
    v: &Verdict,
) -> Counterexample {
    let unusual = decisions.as_ref().map_or(0, BTreeMap::len);
    let choices = ChoiceString {
        mechanism: e.row.clone(),
        property: e.property.id().to_string(),
        world,
        run: run as u32,
        seed,
        decisions,
    };
    Counterexample {
        choices: choices.to_string(),
        unusual,
        trace: v
            .counterexample
            .as_deref()
            .unwrap_or("")
            .lines()
            .map(str::to_string)
            .collect(),
    }
}

/// Explores one row on its small world.
pub fn explore(e: &Expectation, search: &Search) -> Result<Exploration, String> {
    let specs = row_runs(e, WorldSize::Small, search.seed)?;
    let faults = explores_faults(e.property);
    let mut tally = Tally {
        runs: 0,
        reached: 0,
        fingerprints: BTreeSet::new(),
        kinds: Vec::new(),
    };
    let mut exhausted = true;
    let mut found: Option<Counterexample> = None;
    let mut points = String::new();
    'runs: for (run, spec) in specs.iter().enumerate() {
        // The baseline: every choice at its default; its protocol events give the times.
        let (_, _, params) =
            resolve(&spec.scenario.mechanism, &spec.scenario.sets).map_err(|e| e.to_string())?;
        let twin = twin_of(e.property, spec);
        let probe = run_once(
            spec,
            e.property,
            Choices::guided(BTreeMap::new(), Vec::new(), faults),
            &twin,
        )?;
        let times = search_times(e.property, spec, &params, &probe.history);
        let guided = |d: &BTreeMap<u32, u16>| Choices::guided(d.clone(), times.clone(), faults);
        // A violating run's counterexample, replayable from its seed and decisions.
        let violation = |seed: u64, d: Option<&BTreeMap<u32, u16>>, o: &Outcome| {
            (o.verdict.kind == VerdictKind::Violated)
                .then(|| counterexample(e, WorldSize::Small, run, seed, d.cloned(), &o.verdict))
        };
        match search.strategy {
            Strategy::Exhaustive => {
                let base = run_once(spec, e.property, guided(&BTreeMap::new()), &twin)?;
                if run == 0 {
                    points = tokenlab_models::choice::point_summary(&base.made);
                }
                tally.add(&base);
                if let Some(c) = violation(search.seed, Some(&BTreeMap::new()), &base) {
                    found = Some(c);
                    break 'runs;
                }
                // Breadth-first by the number of non-default choices: the first
                // counterexample found has the fewest.
                let mut frontier: Vec<(BTreeMap<u32, u16>, Vec<Made>, usize)> =
                    vec![(BTreeMap::new(), base.made, 0)];
                for level in 1..=search.max_unusual {
                    let mut next = Vec::new();
                    for (assigned, made, from) in &frontier {
                        for (pos, point) in made.iter().enumerate().skip(*from) {
                            for alt in 1..point.arity {
                                if tally.runs >= search.budget {
                                    exhausted = false;
                                    break 'runs;
                                }
                                let mut d = assigned.clone();
                                d.insert(pos as u32, alt);
                                let o = run_once(spec, e.property, guided(&d), &twin)?;
                                tally.add(&o);
                                if let Some(c) = violation(search.seed, Some(&d), &o) {
                                    found = Some(c);
                                    break 'runs;
                                }
                                if level < search.max_unusual {
                                    next.push((d, o.made, pos + 1));
                                }
                            }
                        }
                    }
                    frontier = next;
                }
            }
            Strategy::Pct => {
                exhausted = false;
                let base = run_once(spec, e.property, guided(&BTreeMap::new()), &twin)?;
                if run == 0 {
                    points = tokenlab_models::choice::point_summary(&base.made);
                }
                let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(search.seed ^ run as u64);
                let per_run = (search.budget / specs.len() as u64).max(1);
                for _ in 0..per_run {
                    let mut d = BTreeMap::new();
                    if !base.made.is_empty() {
                        for _ in 0..search.max_unusual {
                            let pos = rng.random_range(0..base.made.len());
                            let arity = base.made[pos].arity;
                            d.insert(pos as u32, rng.random_range(1..arity));
                        }
                    }
                    let o = run_once(spec, e.property, guided(&d), &twin)?;
                    tally.add(&o);
                    if let Some(c) = violation(search.seed, Some(&d), &o) {
                        found = Some(c);
                        break 'runs;
                    }
                }
            }
            Strategy::Random => {
                exhausted = false;
                let per_run = (search.budget / specs.len() as u64).max(1);
                for k in 0..per_run {
                    let mut s = spec.clone();
                    s.scenario.seed = search.seed.wrapping_add(k);
                    let o = run_once(&s, e.property, Choices::random(), &twin_of(e.property, &s))?;
                    tally.add(&o);
                    if let Some(c) = violation(s.scenario.seed, None, &o) {
                        found = Some(c);
                        break 'runs;
                    }
                }
            }
        }
    }
    let verdict = if found.is_some() {
        VerdictKind::Violated
    } else {
        crate::suite::aggregate(&tally.kinds)
    };
    Ok(Exploration {
        row: e.row.clone(),
        property: e.property.id().to_string(),
        strategy: search.strategy,
        seed: search.seed,
        runs: tally.runs,
        distinct_histories: tally.fingerprints.len() as u64,
        exhausted: search.strategy == Strategy::Exhaustive && exhausted && found.is_none(),
        max_unusual: search.max_unusual,
        verdict,
        reached: tally.reached,
        counterexample: found,
        choice_points: points,
    })
}

/// A replayed run.
#[derive(Clone, Debug, Serialize)]
pub struct Replayed {
    pub choices: String,
    pub verdict: Verdict,
    pub events: usize,
}

/// Replays a choice string on its row: the same world, seed and choices give the same run.
pub fn replay(cs: &ChoiceString) -> Result<Replayed, String> {
    let property: Property = cs.property.parse().map_err(|e| format!("{e}"))?;
    let reference =
        tokenlab_models::mechanisms::Reference::parse(&cs.mechanism).map_err(|e| e.to_string())?;
    let e = Expectation::unlisted(&cs.mechanism, reference, property);
    let specs = row_runs(&e, cs.world, cs.seed)?;
    let spec = specs.get(cs.run as usize).ok_or_else(|| {
        format!(
            "choice string names run {} of {} {}, which has {} run(s)",
            cs.run,
            cs.mechanism,
            cs.property,
            specs.len()
        )
    })?;
    let faults = explores_faults(property);
    let twin = twin_of(property, spec);
    let outcome = match &cs.decisions {
        None => run_once(spec, property, Choices::random(), &twin)?,
        Some(d) => {
            let (_, _, params) = resolve(&spec.scenario.mechanism, &spec.scenario.sets)
                .map_err(|e| e.to_string())?;
            let probe = run_once(
                spec,
                property,
                Choices::guided(BTreeMap::new(), Vec::new(), faults),
                &twin,
            )?;
            let times = search_times(property, spec, &params, &probe.history);
            run_once(
                spec,
                property,
                Choices::guided(d.clone(), times, faults),
                &twin,
            )?
        }
    };
    if let Some(pos) = outcome.misfit {
        return Err(format!(
            "choice string does not fit this world: position {pos} names an alternative the run does not offer (was it made by another version of the model?)"
        ));
    }
    let _ = &outcome.params;
    Ok(Replayed {
        choices: cs.to_string(),
        events: outcome.history.records.len(),
        verdict: outcome.verdict,
    })
}
