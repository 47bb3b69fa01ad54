//! An index over one history: messages and their answers, presentations and decisions,
//! issued items and their roots, attacker exposures. Everything here is derived from the
//! recorded events alone, so the checkers built on it judge any driver's history.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, OnceLock};
use tokenlab_models::Micros;
use tokenlab_models::history::{
    AdminKind, AttackerCapability, Event, ExposureMode, History, ItemKind,
};
use tokenlab_models::ids::{MsgId, Party, TenantId};
use tokenlab_models::message::{Envelope, Request, Response, Value};
use tokenlab_models::secret::ItemId;
pub use tokenlab_models::sorted_map::SortedMap;

/// Hashes an [`ItemId`] (or any key that writes one integer) with a fixed 64-bit mix
/// (MurmurHash3's finaliser): no per-process seed, so iteration is the same in every run,
/// and every input bit reaches the bits the table uses (a JWT's id packs its first
/// characters into the low bits; small hand-picked ids in tests).
#[derive(Default, Clone, Copy)]
pub struct ItemHasher(u64);

impl Hasher for ItemHasher {
    fn finish(&self) -> u64 {
        let mut x = self.0;
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^= x >> 33;
        x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        x ^ (x >> 33)
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn write_u64(&mut self, x: u64) {
        self.0 = self.0.rotate_left(29) ^ x;
    }
}

/// A map keyed by item. Items are fingerprints of secret values, so the checkers, which ask
/// about them in history order, ask in random key order: an ordered index (a `BTreeMap`, a
/// sorted vector) then costs a cache miss per level once it outgrows the cache (most of the
/// checkers' fall with the run's size), a hash table one or two per lookup. Nothing iterates
/// these maps where the order could reach an output.
pub type ItemMap<V> = HashMap<ItemId, V, BuildHasherDefault<ItemHasher>>;
/// A set of items ([`ItemMap`]).
pub type ItemSet = HashSet<ItemId, BuildHasherDefault<ItemHasher>>;

/// `Present(q, x, i′, req)`.
#[derive(Clone, Debug)]
pub struct Presentation {
    pub t: Micros,
    pub who: Party,
    pub item: ItemId,
    pub tenant: TenantId,
    pub req: MsgId,
}

/// The verifier's decision on a presentation.
#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    Accept { tenant: TenantId },
    Reject { reason: &'static str },
}

/// `Issue(x, kind, i, to, exp)` and when.
#[derive(Clone, Debug)]
pub struct Issued {
    pub t: Micros,
    pub kind: ItemKind,
    pub tenant: TenantId,
    pub to: Party,
    pub exp: Option<Micros>,
}

/// `Attack(Ak, target, mode)` with what it exposed.
#[derive(Clone, Debug)]
pub struct Exposure {
    pub t: Micros,
    pub capability: AttackerCapability,
    pub mode: ExposureMode,
    pub target: Option<TenantId>,
    pub items: Vec<ItemId>,
}

pub struct Facts<'h> {
    pub h: &'h History,
    pub msgs: SortedMap<MsgId, (Micros, Arc<Envelope>)>,
    /// Request id → the first answer sent to it.
    pub answers: SortedMap<MsgId, (Micros, Arc<Envelope>)>,
    pub presents: BTreeMap<MsgId, Presentation>,
    pub decisions: SortedMap<MsgId, (Micros, Decision)>,
    pub issued: ItemMap<Issued>,
    /// Items delivered to P for more than one tenant: bound to the app, not to a tenant.
    pub app_wide: ItemSet,
    /// Item → the item presented to obtain it (a rotated RT, a T minted for a URL call).
    pub root: ItemMap<ItemId>,
    /// Who presented the item another one was obtained with.
    pub obtained_by: ItemMap<Party>,
    pub exposures: Vec<Exposure>,
    /// Items carried by messages the attacker sent (what it supplied: forged or stolen).
    pub attacker_supplied: ItemSet,
    /// Items the attacker learned (receipts and exposures), with when it first held them and
    /// whether only as its own tenant's material (A4), which entitles it to that tenant alone.
    pub attacker_knows: BTreeMap<ItemId, (Micros, bool)>,
    /// The tenant the attacker administers (A4), if any.
    pub owned: Option<TenantId>,
    pub admin: Vec<(Micros, AdminKind, TenantId)>,
    pub faulted: bool,
    /// Items the platform never issued → the tenant P first presented each for (in request
    /// id order), built on first use: `bound_tenant` looks one up per decision, and a scan
    /// of every presentation per lookup made P1 quadratic for Connect's per-request JWTs.
    presented_for: OnceLock<ItemMap<TenantId>>,
    /// [`Facts::admin_by_tenant`], built on first use (P3, P5 and P10 ask it).
    admin_by_tenant: OnceLock<Grouped<TenantId, (Micros, AdminKind)>>,
    /// [`Facts::store_rows`], built on first use (P5 and P10 ask it).
    store_rows: OnceLock<StoreRows>,
}

/// A key of a [`Grouped`]: a small integer (a tenant) can index a directory directly.
pub trait GroupKey: Ord + Copy {
    /// The key's slot in a directory indexed by key, increasing with the key's order; `None`
    /// for keys that are not small integers (items, messages): found by binary search.
    fn slot(self) -> Option<usize> {
        None
    }
}

impl GroupKey for TenantId {
    fn slot(self) -> Option<usize> {
        Some(self.0 as usize)
    }
}
impl GroupKey for ItemId {}
impl GroupKey for MsgId {}
impl GroupKey for u8 {
    fn slot(self) -> Option<usize> {
        Some(usize::from(self))
    }
}
impl GroupKey for u64 {}

/// Entries grouped by key, each group in the order given (a stable sort): one key's entries
/// as a slice, where a checker would otherwise scan every tenant's (or every family's)
/// entries per question and grow quadratic in the run's size. Tenants (dense small
/// integers) find their group through a directory of group starts, one memory access: the
/// checkers ask in history order, which is random in tenants, and a binary search there cost
/// a cache miss per level once the index outgrew the cache. Other keys: binary search.
pub struct Grouped<K, V> {
    pairs: Vec<(K, V)>,
    /// `starts[s]..starts[s + 1]`: the entries of the key in slot `s`; empty where the keys
    /// have no slots or are too sparse for a directory.
    starts: Vec<u32>,
}

impl<K: GroupKey, V> Grouped<K, V> {
    pub fn new(mut pairs: Vec<(K, V)>) -> Self {
        pairs.sort_by_key(|(k, _)| *k);
        let slots = pairs
            .last()
            .and_then(|(k, _)| k.slot())
            .map_or(0, |s| s + 1);
        // A directory at most about twice the entries (and u32 offsets).
        let dense = pairs.first().is_some_and(|(k, _)| k.slot().is_some())
            && slots <= 2 * pairs.len() + 1024
            && pairs.len() < u32::MAX as usize;
        let mut starts = Vec::new();
        if dense {
            starts.reserve_exact(slots + 1);
            let mut i = 0;
            for s in 0..=slots {
                while i < pairs.len() && pairs[i].0.slot().is_some_and(|x| x < s) {
                    i += 1;
                }
                starts.push(i as u32);
            }
        }
        Grouped { pairs, starts }
    }
    /// `k`'s entries, in the order given.
    pub fn of(&self, k: K) -> &[(K, V)] {
        if !self.starts.is_empty() {
            return match k.slot() {
                Some(s) if s + 1 < self.starts.len() => {
                    &self.pairs[self.starts[s] as usize..self.starts[s + 1] as usize]
                }
                _ => &[],
            };
        }
        let lo = self.pairs.partition_point(|(x, _)| *x < k);
        let n = self.pairs[lo..].partition_point(|(x, _)| *x <= k);
        &self.pairs[lo..lo + n]
    }
}

impl<'h> Facts<'h> {
    pub fn new(h: &'h History) -> Facts<'h> {
        // Every message first: a message's causes are sent before it, so the root derivation
        // below, which follows causes while the other indexes are built, finds the same ones
        // in the whole map as in the messages so far.
        let sends = h
            .records
            .iter()
            .filter(|r| matches!(r.event, Event::Send { .. }))
            .count();
        let mut msgs = Vec::with_capacity(sends);
        let mut answers = Vec::new();
        for r in &h.records {
            if let Event::Send { env } = &r.event {
                msgs.push((env.id, (r.t, env.clone())));
                if let (Some(c), false) = (env.cause, env.is_request()) {
                    answers.push((c, (r.t, env.clone())));
                }
            }
        }
        let mut f = Facts {
            h,
            msgs: SortedMap::from_pairs(msgs, false),
            answers: SortedMap::from_pairs(answers, true),
            presents: BTreeMap::new(),
            decisions: SortedMap::from_pairs(Vec::new(), true),
            issued: ItemMap::default(),
            app_wide: ItemSet::default(),
            root: ItemMap::default(),
            obtained_by: ItemMap::default(),
            exposures: Vec::new(),
            attacker_supplied: ItemSet::default(),
            attacker_knows: BTreeMap::new(),
            owned: None,
            admin: Vec::new(),
            faulted: false,
            presented_for: OnceLock::new(),
            admin_by_tenant: OnceLock::new(),
            store_rows: OnceLock::new(),
        };
        // Item → the first tenant it was delivered for, and whether it was delivered for
        // another one too (all `app_wide` needs: no set of tenants per item).
        let mut delivered_for: ItemMap<(TenantId, bool)> = ItemMap::default();
        let mut decisions = Vec::new();
        for r in &h.records {
            match &r.event {
                Event::Send { env } => {
                    if env.from == Party::Attacker {
                        f.attacker_supplied.extend(env.items().map(|(i, _)| i));
                    }
                    if let (Party::Platform(_), Some(req)) = (env.from, env.request())
                        && matches!(env.to, Party::Partner(_))
                        && let Some(t) = req.tenant
                    {
                        for (item, _) in env.items() {
                            let e = delivered_for.entry(item).or_insert((t, false));
                            e.1 |= e.0 != t;
                        }
                    }
                    f.derive_roots(env);
                }
                Event::Receive { who, env } if *who == Party::Attacker => {
                    for (i, _) in env.items() {
                        f.attacker_knows.entry(i).or_insert((r.t, false));
                    }
                }
                Event::Present {
                    who,
                    item,
                    tenant,
                    req,
                } => {
                    f.presents.insert(
                        *req,
                        Presentation {
                            t: r.t,
                            who: *who,
                            item: *item,
                            tenant: *tenant,
                            req: *req,
                        },
                    );
                }
                Event::Accept { req, tenant, .. } => {
                    decisions.push((*req, (r.t, Decision::Accept { tenant: *tenant })));
                }
                Event::Reject { req, reason } => {
                    decisions.push((*req, (r.t, Decision::Reject { reason })));
                }
                Event::Issue {
                    item,
                    kind,
                    tenant,
                    to,
                    exp,
                } => {
                    f.issued.entry(*item).or_insert(Issued {
                        t: r.t,
                        kind: *kind,
                        tenant: *tenant,
                        to: *to,
                        exp: *exp,
                    });
                }
                Event::Attack {
                    capability,
                    mode,
                    target,
                    items,
                } => {
                    if *capability == AttackerCapability::A4 {
                        f.owned = *target;
                    }
                    for i in items {
                        f.attacker_knows
                            .entry(*i)
                            .or_insert((r.t, *capability == AttackerCapability::A4));
                    }
                    f.exposures.push(Exposure {
                        t: r.t,
                        capability: *capability,
                        mode: *mode,
                        target: *target,
                        items: items.to_vec(),
                    });
                }
                Event::Admin { kind, tenant } => f.admin.push((r.t, *kind, *tenant)),
                Event::Fault { .. } => f.faulted = true,
                _ => {}
            }
        }
        f.decisions = SortedMap::from_pairs(decisions, true);
        f.app_wide = delivered_for
            .into_iter()
            .filter(|(i, (_, several))| {
                *several && f.issued.get(i).is_some_and(|x| x.kind != ItemKind::Fit)
            })
            .map(|(i, _)| i)
            .collect();
        f
    }

    /// Items a platform message carries that were obtained with a presented item inherit
    /// that item's root (a T minted for an RT, a rotated RT, a T delivered for a URL call).
    fn derive_roots(&mut self, env: &Arc<Envelope>) {
        if !matches!(env.from, Party::Platform(_)) {
            return;
        }
        let mut cur = env.cause;
        let mut presented = None;
        while let Some(c) = cur {
            if let Some(p) = self.presents.get(&c) {
                presented = Some((p.item, p.who));
                break;
            }
            cur = self.msgs.get(&c).and_then(|(_, e)| e.cause);
        }
        let Some((x, who)) = presented else { return };
        for (y, _) in env.items() {
            if y != x && self.issued.get(&y).is_some_and(|i| i.kind != ItemKind::Fit) {
                self.root.entry(y).or_insert(x);
                self.obtained_by.entry(y).or_insert(who);
            }
        }
    }

    /// Whether the attacker obtained `y` from `x` itself (through its own presentations
    /// only): the gains a theft of `x` bought.
    pub fn attacker_derived(&self, y: ItemId, x: ItemId) -> bool {
        let mut cur = y;
        for _ in 0..10_000 {
            if cur == x {
                return true;
            }
            if self.obtained_by.get(&cur) != Some(&Party::Attacker) {
                return false;
            }
            match self.root.get(&cur) {
                Some(p) if *p != cur => cur = *p,
                _ => return false,
            }
        }
        false
    }

    /// The long-lived item at the start of `x`'s derivation chain (`threats.md` `root(x)`).
    pub fn root_of(&self, x: ItemId) -> ItemId {
        let mut cur = x;
        for _ in 0..10_000 {
            match self.root.get(&cur) {
                Some(p) if *p != cur => cur = *p,
                _ => break,
            }
        }
        cur
    }

    /// The tenant an item is bound to, if exactly one. An item the platform never issued (a
    /// request P signed itself, e.g. a Connect JWT) is bound to the tenant P first presented
    /// it for.
    pub fn bound_tenant(&self, x: ItemId) -> Option<TenantId> {
        if self.app_wide.contains(&x) || self.app_wide.contains(&self.root_of(x)) {
            return None;
        }
        match self.issued.get(&x) {
            Some(i) => Some(i.tenant),
            None => self
                .presented_for
                .get_or_init(|| {
                    let mut first = ItemMap::default();
                    for p in self.presents.values() {
                        if matches!(p.who, Party::Partner(_)) && !self.issued.contains_key(&p.item)
                        {
                            first.entry(p.item).or_insert(p.tenant);
                        }
                    }
                    first
                })
                .get(&x)
                .copied(),
        }
    }

    /// The admin events by tenant, each tenant's in history order: a question about one
    /// tenant reads its own few events, not every tenant's. Built once per history.
    pub fn admin_by_tenant(&self) -> &Grouped<TenantId, (Micros, AdminKind)> {
        self.admin_by_tenant.get_or_init(|| {
            Grouped::new(self.admin.iter().map(|(t, k, x)| (*x, (*t, *k))).collect())
        })
    }

    /// P's store rows per tenant ([`StoreRows`]), built once per history.
    pub fn store_rows(&self) -> &StoreRows {
        self.store_rows.get_or_init(|| StoreRows::new(self.h))
    }

    /// `threats.md` §1 entitlement: P always acts for its tenants; an attacker for the tenant
    /// it owns, and for a tenant it held an item for, issued for or bound to exactly that
    /// tenant, before `t`. A stolen item counts ("theft is judged by P4 and B, not by P1"),
    /// so a stolen app-wide item reaches every tenant (blast radius B1); an app-wide item
    /// known only as the attacker's own tenant's material (A4) entitles to nothing more.
    pub fn entitled(&self, who: Party, tenant: TenantId, t: Micros) -> bool {
        match who {
            Party::Partner(_) | Party::Platform(_) | Party::Browser => true,
            Party::Attacker => {
                self.owned == Some(tenant)
                    || self.attacker_knows.iter().any(|(x, (known, own))| {
                        *known < t
                            && self.issued.get(x).is_none_or(|i| i.kind != ItemKind::Fit)
                            && (self.bound_tenant(*x) == Some(tenant)
                                || (!own && self.app_wide.contains(x)))
                    })
            }
        }
    }

    /// Whether a presentation was made by the attacker or with an item it supplied.
    pub fn attacker_originated(&self, p: &Presentation) -> bool {
        p.who == Party::Attacker || self.attacker_supplied.contains(&p.item)
    }

    /// Whether the first message of `req`'s causal chain was sent by the attacker.
    pub fn attacker_rooted(&self, req: MsgId) -> bool {
        let mut cur = Some(req);
        let mut last = None;
        while let Some(c) = cur {
            let Some((_, e)) = self.msgs.get(&c) else {
                break;
            };
            last = Some(e.from);
            cur = e.cause;
        }
        last == Some(Party::Attacker)
    }

    /// The destination of a request.
    pub fn verifier(&self, req: MsgId) -> Option<Party> {
        self.msgs.get(&req).map(|(_, e)| e.to)
    }

    /// Decided presentations, in request id order (as `presents` iterates). Both indexes are
    /// in request id order, so one merge pass joins them: a binary search of every decision
    /// per presentation (a cache miss per step once the index outgrows the cache) was most
    /// of several checkers' cost at 100 k tenants.
    pub fn decided(&self) -> impl Iterator<Item = (&Presentation, &Decision, Micros)> {
        let mut decisions = self.decisions.iter().peekable();
        self.presents.values().filter_map(move |p| {
            while decisions.next_if(|(req, _)| **req < p.req).is_some() {}
            decisions
                .next_if(|(req, _)| **req == p.req)
                .map(|(_, (t, d))| (p, d, *t))
        })
    }

    /// Every request `from` sent, in history order, with the instant it was sent and the first
    /// answer to it, if one came: what the verifiers said to each of one party's tries.
    pub fn requests_from(
        &self,
        from: Party,
    ) -> impl Iterator<Item = (Micros, &Request, Option<&Response>)> {
        self.h.records.iter().filter_map(move |r| {
            let Event::Send { env } = &r.event else {
                return None;
            };
            let req = env.request().filter(|_| env.from == from)?;
            let answer = self.answers.get(&env.id).and_then(|(_, a)| a.response());
            Some((r.t, req, answer))
        })
    }

    /// One numbered-trace line for a request: time, from → to, route, presented item, outcome.
    pub fn line(&self, req: MsgId) -> String {
        let Some((t, env)) = self.msgs.get(&req) else {
            return format!("{req} (not in history)");
        };
        let mut s = format!("t={:.3}s {}", *t as f64 / 1e6, env.summary());
        if let Some(p) = self.presents.get(&req) {
            s.push_str(&format!(" presenting {} for {}", short(p.item), p.tenant));
        }
        if let Some(r) = env.request() {
            let items: Vec<String> = r
                .headers
                .0
                .iter()
                .chain(r.body.0.iter())
                .filter(|(_, v)| matches!(v, Value::Secret(_) | Value::Jwt(_)))
                .map(|(k, v)| format!("{k}={v:?}"))
                .collect();
            if !items.is_empty() && !self.presents.contains_key(&req) {
                s.push_str(&format!(" [{}]", items.join(", ")));
            }
        }
        if !env.is_request() {
            return s;
        }
        match (self.answers.get(&req), self.decisions.get(&req)) {
            (_, Some((_, Decision::Accept { tenant }))) => {
                s.push_str(&format!(" → ACCEPT for {tenant}"))
            }
            (_, Some((_, Decision::Reject { reason }))) => {
                s.push_str(&format!(" → reject ({reason})"))
            }
            (Some((_, a)), None) => {
                if let Some(resp) = a.response() {
                    s.push_str(&format!(" → {}", resp.status));
                }
            }
            (None, None) => s.push_str(" → no answer"),
        }
        s
    }

    /// How an item came to be: its issue and the exposures that handed it to the attacker,
    /// in time order.
    pub fn provenance(&self, x: ItemId) -> Vec<String> {
        let mut timed = self.provenance_timed(x);
        timed.sort_by_key(|(t, _)| *t);
        timed.into_iter().map(|(_, l)| l).collect()
    }

    fn provenance_timed(&self, x: ItemId) -> Vec<(Micros, String)> {
        let mut out = Vec::new();
        let root = self.root_of(x);
        for y in [root, x] {
            if let Some(i) = self.issued.get(&y) {
                let line = format!(
                    "t={:.3}s platform issued {} ({:?}) for {} to {}",
                    i.t as f64 / 1e6,
                    short(y),
                    i.kind,
                    i.tenant,
                    i.to
                );
                if !out.iter().any(|(_, l)| *l == line) {
                    out.push((i.t, line));
                }
            }
        }
        for e in &self.exposures {
            if e.items.contains(&x) || e.items.contains(&root) {
                out.push((
                    e.t,
                    format!(
                        "t={:.3}s attack {} ({}) exposed {}{}",
                        e.t as f64 / 1e6,
                        e.capability,
                        e.mode,
                        short(if e.items.contains(&x) { x } else { root }),
                        e.target.map(|t| format!(" of {t}")).unwrap_or_default()
                    ),
                ));
                break;
            }
        }
        out
    }
}

/// What P's row for each tenant held over time, for many questions about one history: the
/// `StoreItem` and `StoreDrop` records grouped by tenant, so that each question reads its
/// tenant's row changes, not the history from its start (which made P5's retention clause
/// quadratic in uninstalls).
/// It holds no reference to the history (a `Facts` stays covariant in its history's
/// lifetime): each question names the history it was built from.
pub struct StoreRows {
    /// Tenant → the indexes of the records that changed its row, in history order.
    changes: Grouped<TenantId, usize>,
    /// The records are in time order (as the drivers leave them): the cut-off at `t` is
    /// then found by binary search. A hand-built history need not be.
    sorted: bool,
}

impl StoreRows {
    pub fn new(h: &History) -> StoreRows {
        let changes = h
            .records
            .iter()
            .enumerate()
            .filter_map(|(i, r)| match &r.event {
                Event::StoreItem(s) => Some((s.tenant, i)),
                Event::StoreDrop(s) => Some((s.tenant, i)),
                _ => None,
            })
            .collect();
        StoreRows {
            changes: Grouped::new(changes),
            sorted: h.records.windows(2).all(|w| w[0].t <= w[1].t),
        }
    }

    /// The long-lived items P's row for `tenant` held at `t`, field → item: exactly
    /// `checkers::held_items(h, tenant, t)`, which reads the records before the first one
    /// later than `t` (`h`: the history this index was built from).
    pub fn held(&self, h: &History, tenant: TenantId, t: Micros) -> BTreeMap<&'static str, ItemId> {
        let records = &h.records;
        let cut = if self.sorted {
            records.partition_point(|r| r.t <= t)
        } else {
            records.iter().take_while(|r| r.t <= t).count()
        };
        let mut held = BTreeMap::new();
        for (_, i) in self.changes.of(tenant) {
            if *i >= cut {
                break;
            }
            match &records[*i].event {
                Event::StoreItem(s) => {
                    held.insert(s.field, s.item);
                }
                Event::StoreDrop(s) => {
                    held.remove(s.field);
                }
                _ => {}
            }
        }
        held
    }
}

/// An item's fingerprint.
pub fn short(x: ItemId) -> String {
    format!("{x}")
}

/// Numbers trace lines.
pub fn numbered(lines: Vec<String>) -> String {
    lines
        .into_iter()
        .enumerate()
        .map(|(i, l)| format!("{}. {l}", i + 1))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::Grouped;

    /// Both lookups (the directory of small keys, binary search of others) give each key's
    /// entries in the order given.
    #[test]
    fn grouped_keeps_each_key_in_the_order_given() {
        let pairs = [(3u8, 'a'), (1, 'b'), (3, 'c'), (2, 'd'), (1, 'e'), (6, 'f')];
        let by_slot = Grouped::new(pairs.to_vec());
        assert!(!by_slot.starts.is_empty(), "u8 keys are indexed directly");
        let searched = Grouped::new(pairs.iter().map(|(k, v)| (u64::from(*k), *v)).collect());
        assert!(searched.starts.is_empty());
        for k in 0..10u8 {
            let want: Vec<char> = pairs.iter().filter(|p| p.0 == k).map(|p| p.1).collect();
            let got: Vec<char> = by_slot.of(k).iter().map(|p| p.1).collect();
            assert_eq!(got, want, "slot {k}");
            let got: Vec<char> = searched.of(u64::from(k)).iter().map(|p| p.1).collect();
            assert_eq!(got, want, "searched {k}");
        }
        assert_eq!(by_slot.of(1), &[(1, 'b'), (1, 'e')]);
        assert!(Grouped::<u8, u8>::new(Vec::new()).of(1).is_empty());
    }
}
