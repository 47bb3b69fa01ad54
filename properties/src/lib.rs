//! tokenlab-properties: the invariants of `threats.md` §3 as checkers over histories. A
//! checker reads only the history, so it judges simulated and real-network runs alike. Each
//! returns a verdict with `reached`: how often the property's antecedent actually fired, so
//! a pass is never vacuous.
//!
//! Map: [`facts`] indexes a history; [`checkers`] holds P1–P9; P11 and P12 are below; the
//! suites that run every row of `expectations.md` (with P10 over faulted runs) are in [`suite`].

pub mod allowlist;
pub mod attack;
pub mod checkers;
pub mod explore;
pub mod facts;
pub mod generated;
pub mod principals;
pub mod property;
pub mod quota;
pub mod suite;

pub use checkers::*;
pub use property::{CheckInput, Faults, Property, UnknownProperty};

use serde::Serialize;
use std::collections::BTreeSet;
use tokenlab_models::Micros;
use tokenlab_models::history::{Event, History};
use tokenlab_models::ids::{MsgId, Party, TenantId};

/// A checker's verdict, in the vocabulary of `expectations.md`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum VerdictKind {
    #[serde(rename = "holds")]
    Holds,
    #[serde(rename = "violated")]
    Violated,
    /// The antecedent cannot arise in this design.
    #[serde(rename = "n/a")]
    NotApplicable,
    /// The design accepts the behaviour; reported, not failed.
    #[serde(rename = "by-design")]
    ByDesign,
}

impl VerdictKind {
    pub fn name(self) -> &'static str {
        match self {
            VerdictKind::Holds => "holds",
            VerdictKind::Violated => "violated",
            VerdictKind::NotApplicable => "n/a",
            VerdictKind::ByDesign => "by-design",
        }
    }
    pub fn parse(s: &str) -> Option<VerdictKind> {
        [
            VerdictKind::Holds,
            VerdictKind::Violated,
            VerdictKind::NotApplicable,
            VerdictKind::ByDesign,
        ]
        .into_iter()
        .find(|k| k.name() == s)
    }
}

/// The outcome of one checker over one history.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Verdict {
    pub property: &'static str,
    /// `kind != Violated`.
    pub holds: bool,
    pub kind: VerdictKind,
    /// How many times the antecedent fired (0 means the result says nothing).
    pub reached: u64,
    /// The first violation, as a readable line.
    pub counterexample: Option<String>,
}

/// P12 Read-your-writes: a 2xx from the trigger implies that P.app's subsequent read finds
/// the token committed before it. Judged against what step 4 committed (the T that F's
/// delivery in this trigger's chain wrote, or with `token_return=in_band` the T in the 2xx),
/// not from P's own report of a stale read: what P's read after the 2xx returned (the
/// history's `ReadResult`) must be that T. Where P did not read (an in-band T), P's next act
/// for the tenant must be a presentation of that T, not a stale-read report, another trigger
/// call, or a presentation of something else. Reached by every trigger 2xx P.app receives.
pub fn read_your_writes(h: &History) -> Verdict {
    read_your_writes_with(&facts::Facts::new(h))
}

/// [`read_your_writes`] over a shared index of the history.
pub fn read_your_writes_with(f: &facts::Facts<'_>) -> Verdict {
    use tokenlab_models::message::Value;
    let h = f.h;
    // P's trigger calls: request → (tenant of its URL).
    let mut trigger_requests: std::collections::BTreeMap<MsgId, TenantId> = Default::default();
    for (id, (_, env)) in &f.msgs {
        if env.from == Party::APP
            && let Some(q) = env.request().filter(|q| q.route == "GET /trigger")
            && let Some(url) = q.body.secret("url")
            && let Some(i) = f.issued.get(&url.id())
        {
            trigger_requests.insert(*id, i.tenant);
        }
    }
    // What step 4 committed for each trigger call: the commit caused by a delivery whose
    // cause is the call, with its time.
    let mut committed: std::collections::BTreeMap<
        MsgId,
        (Micros, tokenlab_models::secret::ItemId),
    > = Default::default();
    for r in &h.records {
        if let Event::StoreCommit {
            item,
            cause: Some(d),
            ..
        } = &r.event
            && let Some(q) = f.msgs.get(d).and_then(|(_, e)| e.cause)
            && trigger_requests.contains_key(&q)
        {
            committed.entry(q).or_insert((r.t, *item));
        }
    }
    if trigger_requests.is_empty() {
        return Verdict::not_applicable("P12", 0);
    }
    // What follows a 2xx, indexed once: P's reads by the response they follow up, and each
    // tenant's acts (the candidates for "P's next act for the tenant"), both by record
    // index. A scan forward from every 2xx instead crossed all the events in flight, which
    // grow with the number of tenants: quadratic overall.
    let mut reads = Vec::new();
    let mut acts = Vec::new();
    for (i, n) in h.records.iter().enumerate() {
        match &n.event {
            Event::ReadResult { item, cause, .. } => {
                if let Some(c) = cause.get() {
                    reads.push((c, (i, *item)));
                }
            }
            Event::StaleRead { tenant: t, .. } => acts.push((*t, (i, None))),
            Event::Send { env: e } if e.from == Party::APP && e.to == Party::API => {
                if let Some(q) = e.request()
                    && let Some(t) = q.tenant
                    && let Some(Value::Jwt(j)) = q.headers.get("authorization")
                {
                    acts.push((t, (i, Some(j.id()))));
                }
            }
            Event::Send { env: e } if e.from == Party::APP => {
                if let Some(t) = trigger_requests.get(&e.id) {
                    acts.push((*t, (i, None)));
                }
            }
            Event::Present {
                who: Party::Partner(_),
                item,
                tenant: t,
                ..
            } => acts.push((*t, (i, Some(*item)))),
            _ => {}
        }
    }
    let reads = facts::Grouped::new(reads);
    let acts = facts::Grouped::new(acts);
    // The first of a group after record `i` (a group's record indexes increase).
    fn after<K, V: Copy>(group: &[(K, (usize, V))], i: usize) -> Option<V> {
        let k = group.partition_point(|(_, (j, _))| *j <= i);
        group.get(k).map(|(_, (_, v))| *v)
    }
    let mut reached = 0;
    let mut counterexample = None;
    let mut violations = 0u64;
    for (i, r) in h.records.iter().enumerate() {
        let Event::Receive { who, env } = &r.event else {
            continue;
        };
        let (Some(resp), Some(q)) = (env.response(), env.cause) else {
            continue;
        };
        let Some(tenant) = trigger_requests.get(&q).copied() else {
            continue;
        };
        if *who != Party::APP || !resp.is_success() {
            continue;
        }
        // A 202 (trigger `mode=async`) promises a delivery, not readiness: P.app must use the
        // T this trigger's delivery commits whenever it commits; a delivery that never
        // committed (lost) leaves no obligation (issue 12, H3).
        let accepted_only = resp.status == 202;
        if accepted_only && !committed.contains_key(&q) {
            continue;
        }
        reached += 1;
        // The T the read must find: in the 2xx itself, else what step 4 committed before it.
        let expected = match resp.body.get("access_token") {
            Some(Value::Jwt(j)) => Some(j.id()),
            _ => committed
                .get(&q)
                .filter(|(t, _)| *t <= r.t || accepted_only)
                .map(|(_, x)| *x),
        };
        // What P's read after this 2xx returned, where it read (not with an in-band T).
        let read = after(reads.of(env.id), i);
        // Else P's next act for the tenant, in the order P acted: its API request when it
        // sends it (the verifier's `Present` comes a hop later, after, say, another demand's
        // trigger call for the same tenant that P sent in between).
        let next = after(acts.of(tenant), i);
        let stale = match (read, next) {
            (Some(found), _) => expected.is_none() || found != expected,
            (None, None) => false,
            (None, Some(None)) => true,
            (None, Some(Some(item))) => expected != Some(item),
        };
        if stale {
            violations += 1;
            if counterexample.is_none() {
                counterexample = Some(describe(r.t, tenant, env.id, h));
            }
        }
    }
    Verdict {
        property: "P12",
        holds: violations == 0,
        kind: if violations == 0 {
            VerdictKind::Holds
        } else {
            VerdictKind::Violated
        },
        reached,
        counterexample,
    }
}

impl Verdict {
    pub fn not_applicable(property: &'static str, reached: u64) -> Verdict {
        Verdict {
            property,
            holds: true,
            kind: VerdictKind::NotApplicable,
            reached,
            counterexample: None,
        }
    }
}

fn describe(t: Micros, tenant: TenantId, response: MsgId, h: &History) -> String {
    let msgs = h.messages();
    let request = msgs.get(&response).and_then(|(_, e)| e.cause);
    let mut lines: Vec<(Micros, String)> = Vec::new();
    if let Some(root) = request {
        for hop in h.causal_chain(root).hops {
            lines.push((
                hop.sent,
                format!(
                    "t={:.3}s → t={:.3}s {}",
                    hop.sent as f64 / 1e6,
                    hop.received as f64 / 1e6,
                    hop.summary
                ),
            ));
        }
    }
    let commit = h
        .records
        .iter()
        .filter(|r| r.t <= t)
        .filter_map(|r| match &r.event {
            Event::StoreCommit { tenant: x, .. } if *x == tenant => Some(r.t),
            _ => None,
        })
        .next_back();
    if let Some(c) = commit {
        lines.push((
            c,
            format!(
                "t={:.3}s P.auth's write of T for {tenant} commits at the primary",
                c as f64 / 1e6
            ),
        ));
    }
    lines.sort_by_key(|(at, _)| *at);
    let mut out: Vec<String> = lines.into_iter().map(|(_, l)| l).collect();
    out.push(format!(
        "t={:.3}s P.app reads T for {tenant} back: no valid token (stale read)",
        t as f64 / 1e6
    ));
    out.push(format!(
        "violation: the trigger answered 2xx ({response}) but P.app's subsequent read did not see the committed T"
    ));
    facts::numbered(out)
}

/// P11 Executability: with no faults and no attacker, every installed tenant reaches an
/// Accept at the product API. Reached once per tenant that made a demand.
pub fn executability(h: &History, tenants: u32) -> Verdict {
    executability_in(h, tenants, &[], None)
}

/// [`executability`] with a shared index of the history (used only for a counterexample),
/// and the run's phase boundaries (`phases`: the `migration`'s window start and end; empty
/// elsewhere): a tenant that made a demand in a phase must reach an Accept in that phase too,
/// so a migration that strands P on either side of the window (Connect refused before the
/// window's end, no Forge credential after it) is not executable although an earlier phase
/// was.
pub fn executability_with(f: &facts::Facts<'_>, tenants: u32, phases: &[Micros]) -> Verdict {
    executability_in(f.h, tenants, phases, Some(f))
}

/// A set of tenants as one flag per tenant id.
#[derive(Default)]
struct TenantSet {
    flags: Vec<bool>,
    len: u64,
}

impl TenantSet {
    fn insert(&mut self, t: TenantId) {
        let i = t.0 as usize;
        if i >= self.flags.len() {
            self.flags.resize(i + 1, false);
        }
        if !self.flags[i] {
            self.flags[i] = true;
            self.len += 1;
        }
    }
    fn contains(&self, t: &TenantId) -> bool {
        self.flags.get(t.0 as usize).copied().unwrap_or(false)
    }
}

fn executability_in(
    h: &History,
    tenants: u32,
    phases: &[Micros],
    shared: Option<&facts::Facts<'_>>,
) -> Verdict {
    let phase = |t: Micros| phases.iter().filter(|b| **b <= t).count();
    // Tenants are small dense integers: one flag each, not an ordered set that the history's
    // random tenant order walks with a cache miss per level.
    let mut accepted = TenantSet::default();
    let mut demanded = TenantSet::default();
    let mut api_requests = BTreeSet::new();
    // (tenant, phase) pairs: a demand, and an Accept at the product API (with phases only).
    let mut demanded_in = BTreeSet::new();
    let mut accepted_in = BTreeSet::new();
    for r in &h.records {
        match &r.event {
            Event::Send { env } if env.to == Party::API => {
                api_requests.insert(env.id);
            }
            Event::Accept { tenant, req, .. } if api_requests.contains(req) => {
                accepted.insert(*tenant);
                if !phases.is_empty() {
                    accepted_in.insert((*tenant, phase(r.t)));
                }
            }
            Event::Invoke { tenant, .. } => {
                demanded.insert(*tenant);
                if !phases.is_empty() {
                    demanded_in.insert((*tenant, phase(r.t)));
                }
            }
            _ => {}
        }
    }
    let mut missing: Vec<u32> = (0..tenants)
        .filter(|t| !accepted.contains(&TenantId(*t)))
        .collect();
    // The phase clause: only where the run has phases, so other runs judge as before.
    let stranded: Vec<(TenantId, usize)> = if phases.is_empty() {
        Vec::new()
    } else {
        demanded_in
            .iter()
            .filter(|x| !accepted_in.contains(*x))
            .copied()
            .collect()
    };
    if missing.is_empty()
        && let Some((t, _)) = stranded.first()
    {
        missing.push(t.0);
    }
    Verdict {
        property: "P11",
        holds: missing.is_empty(),
        kind: if missing.is_empty() {
            VerdictKind::Holds
        } else {
            VerdictKind::Violated
        },
        reached: demanded.len,
        counterexample: (!missing.is_empty()).then(|| {
            // The first product-API request of the first tenant that never got through.
            let built;
            let f = match shared {
                Some(f) => f,
                None => {
                    built = facts::Facts::new(h);
                    &built
                }
            };
            let first = TenantId(missing[0]);
            // A stranded tenant: its requests in the phase where it got nothing.
            let in_phase = |t: Micros| {
                !accepted.contains(&first) || stranded.first().is_some_and(|(_, p)| phase(t) == *p)
            };
            let mut lines: Vec<String> = f
                .msgs
                .iter()
                .filter(|(_, (t, e))| {
                    e.to == Party::API
                        && e.request().is_some_and(|r| r.tenant == Some(first))
                        && in_phase(*t)
                })
                .take(3)
                .map(|(id, _)| f.line(*id))
                .collect();
            if accepted.contains(&first) {
                let (_, p) = stranded[0];
                let from = if p == 0 { 0 } else { phases[p - 1] };
                lines.push(format!(
                    "violation: tenants {:?} made demands from {:.3} s (phase {p}) and reached no Accept at the product API in that phase",
                    stranded.iter().map(|(t, _)| t.0).collect::<Vec<_>>(),
                    from as f64 / 1e6
                ));
            } else {
                lines.push(format!(
                    "violation: tenants {missing:?} never reached an Accept at the product API"
                ));
            }
            facts::numbered(lines)
        }),
    }
}
