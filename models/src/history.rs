//! The Jepsen-style history of `threats.md` §1: every demand's invoke and completion, every
//! message sent, received, dropped or logged, every item issued, every presentation with the
//! verifier's decision, every admin action and fault. Who learned what is *derived* from
//! message contents ([`History::learned`]), never annotated by a role.

use crate::Micros;
use crate::ids::{DemandId, MsgId, Party, TenantId};
use crate::message::Envelope;
use crate::secret::ItemId;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// The closed failure taxonomy of `workload.md` §9: every failed demand has exactly one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    Timeout,
    HttpError,
    StaleRead,
    ExpiredToken,
    LockedOut,
    NoToken,
    Rejected,
}

impl Cause {
    pub const ALL: [Cause; 7] = [
        Cause::Timeout,
        Cause::HttpError,
        Cause::StaleRead,
        Cause::ExpiredToken,
        Cause::LockedOut,
        Cause::NoToken,
        Cause::Rejected,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Cause::Timeout => "timeout",
            Cause::HttpError => "http_error",
            Cause::StaleRead => "stale_read",
            Cause::ExpiredToken => "expired_token",
            Cause::LockedOut => "locked_out",
            Cause::NoToken => "no_token",
            Cause::Rejected => "rejected",
        }
    }
}

/// How a demand ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    Fail(Cause),
    /// Still open at the hard stop, or its process crashed: indeterminate.
    Unknown,
}

/// Kinds of items the platform issues.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    AccessToken,
    RefreshToken,
    ClientSecret,
    SharedSecret,
    TriggerUrl,
    AuthCode,
    Fit,
}

/// A partner-internal or platform-internal step with a fixed cost (not a hop).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LocalStep {
    Mint,
    StoreWrite,
    StoreRead,
}

/// Why a message never arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    /// Injected loss of a request on its link.
    LostRequest,
    /// Injected loss of a response on its link.
    LostResponse,
    /// The requester had already given up (HTTP connection closed).
    RequesterGone,
    /// A partition between the two groups.
    Partition,
    /// The receiving role was down.
    Crashed,
}

/// Admin and lifecycle actions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AdminKind {
    Install,
    Uninstall,
    Consent,
    Revoke,
}

/// What kind of fault a `Fault` event records: injected by the nemesis or a link, or
/// observed by the loopback driver on its sockets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// The nemesis schedule in force (recorded at t = 0, one per entry).
    Nemesis,
    /// A role crashed.
    Crash,
    /// A crashed role came back.
    Restart,
    /// The receiver's HTTP edge answered a request with 5xx or 429.
    HttpError,
    /// The platform's key set became unreachable for the partner.
    JwksUnreachable,
    /// The key set became reachable again.
    JwksRestored,
    /// Loopback only: a message to a party with no listener.
    NoListener,
    /// Loopback only: an HTTP exchange failed on the socket.
    HttpExchangeFailed,
    /// F rolled its FIT signing key over (`fit_key_rotation`; the detail is the new `kid`).
    KeyRollover,
}

impl FaultKind {
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Nemesis => "nemesis",
            FaultKind::Crash => "crash",
            FaultKind::Restart => "restart",
            FaultKind::HttpError => "http_error",
            FaultKind::JwksUnreachable => "jwks_unreachable",
            FaultKind::JwksRestored => "jwks_restored",
            FaultKind::NoListener => "no_listener",
            FaultKind::HttpExchangeFailed => "http_exchange_failed",
            FaultKind::KeyRollover => "key_rollover",
        }
    }
}

impl std::fmt::Display for FaultKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The attacker capabilities of `threats.md` §2.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum AttackerCapability {
    /// Taps a hop (or steals one item in transit).
    A1,
    /// Reads P's store (a breach, snapshot or continuing).
    A2,
    /// Reads logs.
    A3,
    /// Owns a tenant of its own.
    A4,
    /// Steals one credential.
    A5,
    /// Lures or injects into an authorization.
    A6,
    /// Replays captured requests.
    A7,
    /// Misuses the platform's own keys or databases (out of scope: every design falls).
    A8,
    /// Spams a stolen trigger URL.
    A9,
    /// Forges deliveries and install hooks.
    A10,
}

impl std::fmt::Display for AttackerCapability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

/// How a capability exposed what it exposed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExposureMode {
    /// A tapped hop (A1).
    Tap,
    /// The attacker's own tenant's material (A4).
    Own,
    /// A one-time read of the store (A2, A5).
    Snapshot,
    /// Reads of the store that go on after the breach (A2).
    Continuing,
    /// A store read without the key: ciphertext only, nothing usable.
    Ciphertext,
    /// One item taken as it crosses a hop (A1 aimed at one item).
    Network,
    /// From a log (A3).
    Log,
    /// One item read from P's store (A5).
    Store,
}

impl ExposureMode {
    pub fn name(self) -> &'static str {
        match self {
            ExposureMode::Tap => "tap",
            ExposureMode::Own => "own",
            ExposureMode::Snapshot => "snapshot",
            ExposureMode::Continuing => "continuing",
            ExposureMode::Ciphertext => "ciphertext",
            ExposureMode::Network => "network",
            ExposureMode::Log => "log",
            ExposureMode::Store => "store",
        }
    }
}

impl std::fmt::Display for ExposureMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One history event.
#[derive(Clone, Debug, Serialize)]
pub enum Event {
    /// A demand begins: P.app needs a token for `tenant`.
    Invoke {
        demand: DemandId,
        tenant: TenantId,
    },
    /// A demand ends. `cold`: no valid T at invoke. `token_latency`: from the cache miss to T
    /// in hand (0 on a hit); `None` if no T was obtained.
    Complete {
        demand: DemandId,
        tenant: TenantId,
        outcome: Outcome,
        cold: bool,
        token_latency: Option<Micros>,
    },
    /// P starts attempt `attempt` of an acquisition whose first message is `request`.
    AttemptStart {
        tenant: TenantId,
        acquisition: u64,
        attempt: u32,
        request: Cause8,
    },
    /// The attempt ended: `ok` or the cause it failed with.
    AttemptEnd {
        acquisition: u64,
        attempt: u32,
        ok: bool,
        cause: Option<Cause>,
    },
    Send {
        env: Arc<Envelope>,
    },
    Receive {
        who: Party,
        env: Arc<Envelope>,
    },
    Drop {
        msg: MsgId,
        reason: DropReason,
    },
    /// A role wrote a message (or its secret-bearing fields) to a log.
    Log {
        who: Party,
        env: Arc<Envelope>,
    },
    /// The platform issued an item for a tenant, to a principal.
    Issue {
        item: ItemId,
        kind: ItemKind,
        tenant: TenantId,
        to: Party,
        exp: Option<Micros>,
    },
    /// A fixed-cost local step on the causal chain of `cause`.
    Local {
        who: Party,
        step: LocalStep,
        start: Micros,
        end: Micros,
        cause: Cause8,
    },
    /// P committed a token for a tenant to its store.
    StoreCommit {
        tenant: TenantId,
        item: ItemId,
        cause: Option<MsgId>,
    },
    /// What P's read after a trigger 2xx returned: the T it found (`None`: no valid token).
    /// `cause` is the 2xx. P12 compares it with what step 4 committed.
    ReadResult {
        tenant: TenantId,
        item: Option<ItemId>,
        cause: Cause8,
    },
    /// P's read after a trigger 2xx found no valid token: a read-your-writes violation.
    StaleRead {
        tenant: TenantId,
        cause: Option<MsgId>,
    },
    /// Someone presented an item to a verifier, acting for `tenant`.
    Present {
        who: Party,
        item: ItemId,
        tenant: TenantId,
        req: MsgId,
    },
    Accept {
        req: MsgId,
        tenant: TenantId,
        acting_as: &'static str,
    },
    Reject {
        req: MsgId,
        reason: &'static str,
    },
    Admin {
        kind: AdminKind,
        tenant: TenantId,
    },
    Fault {
        kind: FaultKind,
        detail: String,
    },
    Detect {
        kind: &'static str,
        tenant: TenantId,
    },
    /// An attacker capability exposed `items` (threats.md §1 `Attack(Ak, target, mode)`):
    /// a tapped hop (A1), a store read (A2), a log read (A3), its own tenant's material (A4),
    /// a theft (A5). Knowledge that follows from it is still derived by the checkers.
    Attack {
        capability: AttackerCapability,
        mode: ExposureMode,
        target: Option<TenantId>,
        items: Box<[ItemId]>,
    },
    /// P committed a long-lived item (URL, RT, secret) to a tenant's row. Boxed: its fields
    /// take 36 bytes, and inline they would make every record 48 bytes, not 40 (a few of
    /// these per tenant against about 31 records).
    StoreItem(Box<StoredItem>),
    /// P removed a long-lived item from a tenant's row (P.lifecycle forgetting an uninstalled
    /// tenant): `item` is the one the row held in `field`. Only a removal is recorded; an
    /// item replaced by another is the new one's [`Event::StoreItem`].
    StoreDrop(Box<StoredItem>),
    /// The platform declined to mint for a tenant that is not (or no longer) installed.
    IssueDenied {
        tenant: TenantId,
    },
}

/// What [`Event::StoreItem`] (and [`Event::StoreDrop`]) records. It serializes as the variant's fields did.
#[derive(Clone, Debug, Serialize)]
pub struct StoredItem {
    pub tenant: TenantId,
    pub field: &'static str,
    pub item: ItemId,
    pub cause: Option<MsgId>,
}

/// An optional message id in 8 bytes (the causes in [`Event`]: no variant takes more than 32
/// bytes, so a record takes 40). No role allocates id `u64::MAX`
/// (its high 16 bits would name role 0xffff), so that value stands for none. It prints and
/// serializes as the `Option<MsgId>` it holds.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Cause8(u64);

impl Cause8 {
    const NONE: u64 = u64::MAX;

    pub fn get(self) -> Option<MsgId> {
        (self.0 != Self::NONE).then_some(MsgId(self.0))
    }
}

impl From<Option<MsgId>> for Cause8 {
    fn from(cause: Option<MsgId>) -> Self {
        Cause8(cause.map_or(Self::NONE, |m| m.0))
    }
}

impl std::fmt::Debug for Cause8 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.get().fmt(f)
    }
}

impl Serialize for Cause8 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.get().serialize(s)
    }
}

/// An event at a time.
#[derive(Clone, Debug, Serialize)]
pub struct Record {
    pub t: Micros,
    pub event: Event,
}

/// The history of one run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct History {
    pub records: Vec<Record>,
}

impl History {
    pub fn push(&mut self, t: Micros, event: Event) {
        self.records.push(Record { t, event });
    }

    /// Orders the records by time, stably (records at one time keep their recording order):
    /// the same order as `records.sort_by_key(|r| r.t)`, without its buffer of half the
    /// records (0.9 GB at a million tenants). A run records almost in time order: a record
    /// out of place (a `Send` at its departure after a local step, say) is moved back into
    /// the ordered prefix, behind the records of its own time. The moves grow with the
    /// number of tenants (0.12 per record at 10 k, 1.44 at 100 k, about 16 at a million,
    /// where a record out of place jumps over about 16 others): up to 32 per record (a memmove
    /// of 1.3 KB per record, seconds at a million tenants) this path finishes; past that,
    /// [`sort_by_permutation`] does, with 4 bytes per record (118 MiB at a million tenants,
    /// on top of the run's peak: the roles' freed state is scattered among the history's
    /// allocations, so it does not make room for one large vector).
    pub fn sort_by_time(&mut self) {
        let records = &mut self.records;
        let budget = records.len().saturating_mul(32);
        let mut moved = 0usize;
        for i in 1..records.len() {
            let t = records[i].t;
            if t >= records[i - 1].t {
                continue;
            }
            // The prefix `..i` is ordered: insert after its last record at or before `t`.
            let at = records[..i].partition_point(|r| r.t <= t);
            moved += i - at;
            if moved > budget {
                sort_by_permutation(records);
                return;
            }
            records[at..=i].rotate_right(1);
        }
    }

    /// `Learn(q, x)`: every (principal, item) pair derived from receipts and logs.
    pub fn learned(&self) -> BTreeSet<(Party, ItemId)> {
        let mut out = BTreeSet::new();
        for r in &self.records {
            match &r.event {
                Event::Receive { who, env } | Event::Log { who, env } => {
                    for (item, _) in env.items() {
                        out.insert((*who, item));
                    }
                }
                // An A2 read receives the store's contents; a tap or a theft, what it exposed.
                Event::Attack { items, .. } => {
                    for item in items {
                        out.insert((Party::Attacker, *item));
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// Every message sent, by id.
    pub fn messages(&self) -> BTreeMap<crate::ids::MsgId, (Micros, Arc<Envelope>)> {
        let mut out = BTreeMap::new();
        for r in &self.records {
            if let Event::Send { env } = &r.event {
                out.insert(env.id, (r.t, env.clone()));
            }
        }
        out
    }

    /// The causal chain rooted at `root`: every message whose `cause` chain leads to `root`,
    /// with its send and receive times, and the local steps caused by any of them.
    pub fn causal_chain(&self, root: MsgId) -> CausalChain {
        let mut members: BTreeSet<MsgId> = BTreeSet::from([root]);
        let mut hops = Vec::new();
        let mut sent: BTreeMap<MsgId, Micros> = BTreeMap::new();
        // Messages are sent after their cause, so one forward pass finds the whole tree.
        for r in &self.records {
            match &r.event {
                Event::Send { env }
                    if env.id == root || env.cause.is_some_and(|c| members.contains(&c)) =>
                {
                    members.insert(env.id);
                    sent.insert(env.id, r.t);
                }
                Event::Receive { env, .. } => {
                    if let Some(s) = sent.get(&env.id) {
                        hops.push(ChainHop {
                            msg: env.id,
                            summary: env.summary(),
                            sent: *s,
                            received: r.t,
                        });
                    }
                }
                _ => {}
            }
        }
        let mut local = Vec::new();
        for r in &self.records {
            if let Event::Local {
                who,
                step,
                start,
                end,
                cause,
            } = &r.event
                && let Some(c) = cause.get()
                && members.contains(&c)
            {
                local.push((*who, *step, *start, *end));
            }
        }
        CausalChain { hops, local }
    }
}

/// Orders `records` by time, stably, in place: sorts their indices by (time, index), 4 bytes
/// per record, then moves each record to its place along the permutation's cycles (a record
/// is moved once). The insertion path of [`History::sort_by_time`] keeps the recording order
/// of records at one time, so sorting from where it stopped gives the stable sort's order.
fn sort_by_permutation(records: &mut [Record]) {
    let Ok(n) = u32::try_from(records.len()) else {
        records.sort_by_key(|r| r.t);
        return;
    };
    // `order[k]`: the index of the record that belongs at position `k`.
    let mut order: Vec<u32> = (0..n).collect();
    order.sort_unstable_by_key(|&i| (records[i as usize].t, i));
    for start in 0..records.len() {
        // A fixed point, or a position already filled on an earlier cycle.
        if order[start] as usize == start {
            continue;
        }
        // Each swap puts the right record at `k`; the record that started the cycle travels
        // along it to the last position, which is where it belongs.
        let mut k = start;
        loop {
            let from = order[k] as usize;
            order[k] = k as u32;
            if from == start {
                break;
            }
            records.swap(k, from);
            k = from;
        }
    }
}

/// One delivered message on a causal chain.
#[derive(Clone, Debug, Serialize)]
pub struct ChainHop {
    pub msg: MsgId,
    pub summary: String,
    pub sent: Micros,
    pub received: Micros,
}

/// A demand's causal chain: delivered messages and local steps.
#[derive(Clone, Debug, Serialize)]
pub struct CausalChain {
    pub hops: Vec<ChainHop>,
    pub local: Vec<(Party, LocalStep, Micros, Micros)>,
}

impl CausalChain {
    /// Σ (receive − send) over the delivered messages plus Σ local step durations.
    pub fn total(&self) -> Micros {
        self.hops
            .iter()
            .map(|h| h.received - h.sent)
            .sum::<Micros>()
            + self.local.iter().map(|(_, _, s, e)| e - s).sum::<Micros>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records at the given times, each tagged with its recording index.
    fn history(times: &[Micros]) -> History {
        let mut h = History::default();
        for (i, t) in times.iter().enumerate() {
            h.push(
                *t,
                Event::Drop {
                    msg: MsgId(i as u64),
                    reason: DropReason::Crashed,
                },
            );
        }
        h
    }

    fn order(h: &History) -> Vec<(Micros, u64)> {
        h.records
            .iter()
            .map(|r| match r.event {
                Event::Drop { msg, .. } => (r.t, msg.0),
                _ => unreachable!(),
            })
            .collect()
    }

    #[test]
    fn the_history_copy_of_a_message_fits_128_bytes() {
        // `Arc<Envelope>`: two counts and the envelope. 7 per tenant; at 136 bytes (a 16-byte
        // method string) mimalloc rounds each up to 160.
        assert_eq!(std::mem::size_of::<Envelope>(), 112);
        let m = crate::message::Method::Post;
        assert_eq!(format!("{m} {m:?}"), "POST \"POST\"");
        assert_eq!(serde_json::to_string(&m).unwrap(), "\"POST\"");
    }

    #[test]
    fn a_record_takes_40_bytes_and_cause8_is_the_option() {
        // 31 records per tenant at a million tenants: 8 bytes more each is 250 MB.
        assert_eq!(std::mem::size_of::<Record>(), 40);
        for c in [None, Some(MsgId(0)), Some(MsgId((3 << 48) | 17))] {
            let c8 = Cause8::from(c);
            assert_eq!(c8.get(), c);
            assert_eq!(format!("{c8:?}"), format!("{c:?}"));
            assert_eq!(
                serde_json::to_string(&c8).unwrap(),
                serde_json::to_string(&c).unwrap()
            );
        }
    }

    #[test]
    fn sort_by_time_is_the_stable_sort() {
        // Nearly ordered (the insertion path), with ties; then far out of order (the
        // fallback); then empty and single.
        let near: Vec<Micros> = (0..500)
            .map(|i| i / 3 + [0, 5, -4, 0, 2][i as usize % 5])
            .collect();
        let far: Vec<Micros> = (0..500).map(|i| (i * 7919) % 97).collect();
        for times in [near, far, vec![], vec![3]] {
            let mut ours = history(&times);
            ours.sort_by_time();
            let mut std = history(&times);
            std.records.sort_by_key(|r| r.t);
            assert_eq!(order(&ours), order(&std));
            let mut permuted = history(&times);
            sort_by_permutation(&mut permuted.records);
            assert_eq!(order(&permuted), order(&std));
        }
    }
}
