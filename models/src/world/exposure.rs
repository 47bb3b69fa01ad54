//! The attacker's view of the world (`threats.md` §1–§2): what each capability exposes and
//! when. The world core calls in here after a role handled an input (continuing store reads),
//! when a message departs (taps, owned tenants, thefts in transit) and when a role logs; what
//! is exposed is recorded as an `Attack` event and handed to the attacker role. The event loop
//! lives in the drivers; nothing here knows about time passing.

use super::World;
use crate::history::AttackerCapability::{A1, A2, A3, A4, A5};
use crate::history::{AttackerCapability, Event, ExposureMode};
use crate::ids::{Group, MsgId, RoleKind, TenantId};
use crate::message::{Body, Envelope, Value};
use crate::roles::Effects;
use crate::roles::attacker::{Capability, Loot};
use crate::roles::store::Row;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// What the driver exposes to the attacker: the capabilities that read other parties' state.
#[derive(Default)]
pub(super) struct Watch {
    taps: Vec<(Group, Group)>,
    continuing: bool,
    logs: bool,
    owned: Option<TenantId>,
    owned_msgs: BTreeSet<MsgId>,
    /// Continuing reads of one row's field.
    stealing: Vec<(&'static str, TenantId)>,
    /// Thefts of one item in transit (A1) or from a log (A3): field, tenant, from_log.
    transit: Vec<(&'static str, TenantId, bool)>,
    transit_msgs: BTreeSet<MsgId>,
    /// Items continuing reads already exposed.
    seen_items: BTreeSet<crate::secret::ItemId>,
    seen_rows: BTreeMap<TenantId, Arc<Row>>,
    observed: std::collections::VecDeque<Arc<Envelope>>,
}

/// Every usable value in a row of P's store, as the attacker sees it after a read.
fn row_loot(tenant: TenantId, row: &Row) -> Vec<Loot> {
    let mut out = Vec::new();
    if let Some(t) = &row.token {
        out.push(Loot {
            field: "token",
            tenant: Some(tenant),
            value: Value::Jwt(t.jwt.clone()),
        });
    }
    for (field, v) in &row.items {
        if matches!(v, Value::Secret(_) | Value::Jwt(_))
            || (*field == "client_id" && matches!(v, Value::Str(_)))
        {
            out.push(Loot {
                field,
                tenant: Some(tenant),
                value: v.clone(),
            });
        }
    }
    out
}

fn loot_items(loot: &[Loot]) -> Vec<crate::secret::ItemId> {
    loot.iter()
        .filter_map(|l| match &l.value {
            Value::Secret(s) => Some(s.id()),
            Value::Jwt(j) => Some(j.id()),
            _ => None,
        })
        .collect()
}

impl World {
    /// What the attacker sees after a role handled an input: continuing store reads after
    /// the partner's, then everything it observed meanwhile.
    pub(super) fn after_role(&mut self, role: RoleKind) {
        if role == RoleKind::Partner && self.watch.continuing {
            self.breach_continuing();
        }
        if role == RoleKind::Partner && !self.watch.stealing.is_empty() {
            self.steal_continuing();
        }
        self.feed_observations();
    }

    /// Log entries a role just wrote: thefts from a log (A3 targeted) and log reads.
    pub(super) fn read_logs(&mut self, out: &Effects) {
        let targeted = self.watch.transit.iter().any(|(_, _, from_log)| *from_log);
        if !targeted && !self.watch.logs {
            return;
        }
        let logged: Vec<Arc<Envelope>> = out
            .history
            .iter()
            .filter_map(|r| match &r.event {
                Event::Log { env, .. } => Some(env.clone()),
                _ => None,
            })
            .collect();
        if targeted {
            for env in &logged {
                self.steal_in_transit(env, true);
            }
        }
        if self.watch.logs {
            for env in &logged {
                self.log_exposed(env);
            }
        }
    }

    /// Hands what the attacker observed to it, until nothing new is observed.
    pub(super) fn feed_observations(&mut self) {
        while let Some(env) = self.watch.observed.pop_front() {
            let mut out = Effects::default();
            if let Some(a) = self.attacker.as_mut() {
                a.observe(self.now, &env, &mut out);
            }
            self.apply(RoleKind::Attacker, &mut out);
        }
    }

    /// Continuing A2: every row P wrote since the last look.
    pub(super) fn breach_continuing(&mut self) {
        let tenants: Vec<TenantId> = self.partner.store.tenants().collect();
        let mut loot = Vec::new();
        for t in tenants {
            let row = self.partner.store.latest(t);
            if self
                .watch
                .seen_rows
                .get(&t)
                .is_some_and(|seen| Arc::ptr_eq(seen, &row))
            {
                continue;
            }
            loot.extend(row_loot(t, &row));
            self.watch.seen_rows.insert(t, row);
        }
        loot.retain(|l| {
            loot_items(std::slice::from_ref(l))
                .into_iter()
                .all(|i| self.watch.seen_items.insert(i))
        });
        self.expose(A2, ExposureMode::Continuing, None, loot);
    }

    /// Continuing A2 on one row's field: whatever P wrote there since the last look.
    pub(super) fn steal_continuing(&mut self) {
        for (field, tenant) in self.watch.stealing.clone() {
            let row = self.partner.store.latest(tenant);
            let mut loot: Vec<Loot> = row_loot(tenant, &row)
                .into_iter()
                .filter(|l| l.field == field || l.field == "client_id")
                .collect();
            loot.retain(|l| {
                loot_items(std::slice::from_ref(l))
                    .into_iter()
                    .all(|i| self.watch.seen_items.insert(i))
            });
            self.expose(A2, ExposureMode::Continuing, Some(tenant), loot);
        }
    }

    /// Records what a capability exposed and gives it to the attacker.
    fn expose(
        &mut self,
        capability: AttackerCapability,
        mode: ExposureMode,
        target: Option<TenantId>,
        loot: Vec<Loot>,
    ) {
        let items = loot_items(&loot);
        if items.is_empty() {
            return;
        }
        // A store read without the key (A2 with `encrypt_at_rest=on`): ciphertext only.
        let store_read = capability == A2 || (capability == A5 && mode == ExposureMode::Store);
        if store_read && self.ciphertext_only {
            self.history.push(
                self.now,
                Event::Attack {
                    capability,
                    mode: ExposureMode::Ciphertext,
                    target,
                    items: Box::default(),
                },
            );
            return;
        }
        self.history.push(
            self.now,
            Event::Attack {
                capability,
                mode,
                target,
                items: items.into(),
            },
        );
        let mut out = Effects::default();
        if let Some(a) = self.attacker.as_mut() {
            a.acquire(self.now, loot, &mut out);
        }
        self.apply(RoleKind::Attacker, &mut out);
    }

    /// A targeted theft in transit or from a log: the first matching item for the tenant.
    pub(super) fn steal_in_transit(&mut self, env: &Envelope, logged: bool) {
        if self.watch.transit.is_empty() {
            return;
        }
        let pending: Vec<(usize, &'static str, TenantId)> = self
            .watch
            .transit
            .iter()
            .enumerate()
            .filter(|(_, (_, _, from_log))| *from_log == logged)
            .map(|(i, (f, t, _))| (i, *f, *t))
            .collect();
        for (i, field, tenant) in pending {
            let about = env.request().is_some_and(|r| {
                r.tenant == Some(tenant)
                    || r.headers.tenant("x-acting-for") == Some(tenant)
                    || r.body.tenant("tenant") == Some(tenant)
                    || r.body.tenant("installationId") == Some(tenant)
            }) || env
                .cause
                .is_some_and(|c| self.watch.transit_msgs.contains(&c));
            if !about {
                continue;
            }
            self.watch.transit_msgs.insert(env.id);
            let names: &[&str] = match field {
                "token" => &["x-forge-oauth-system", "access_token", "authorization"],
                "trigger_url" => &["url", "trigger_url"],
                other => std::slice::from_ref(match other {
                    "refresh_token" => &"refresh_token",
                    "client_secret" => &"client_secret",
                    "client_key" => &"client_key",
                    "shared_secret" => &"shared_secret",
                    _ => &"trigger_key",
                }),
            };
            let fields: Vec<&crate::message::Fields> = match &env.body {
                Body::Request(r) => vec![&r.headers, &r.body],
                Body::Response(r) => vec![&r.body],
            };
            let found = fields.iter().flat_map(|f| f.0.iter()).find(|(k, v)| {
                names.contains(k)
                    && match v {
                        // An access token, not a FIT or a Connect JWT.
                        Value::Jwt(j) => {
                            field == "token" && self.platform.keys.verify_access(j).is_ok()
                        }
                        Value::Secret(_) => field != "token",
                        _ => false,
                    }
            });
            if let Some((_, v)) = found {
                let mut loot = vec![Loot {
                    field,
                    tenant: Some(tenant),
                    value: v.clone(),
                }];
                // A client credential travels beside its public client id (tenant-secret's is
                // per tenant): the tap takes both, as a theft from the store does.
                if matches!(field, "client_secret" | "client_key") {
                    let id = fields.iter().flat_map(|f| f.0.iter()).find_map(|(k, v)| {
                        (*k == "client_id" && matches!(v, Value::Str(_))).then(|| v.clone())
                    });
                    loot.extend(id.map(|value| Loot {
                        field: "client_id",
                        tenant: Some(tenant),
                        value,
                    }));
                }
                self.watch.transit.remove(i);
                let (capability, mode) = if logged {
                    (A3, ExposureMode::Log)
                } else {
                    (A1, ExposureMode::Network)
                };
                self.expose(capability, mode, Some(tenant), loot);
                return;
            }
        }
    }

    /// A1 and A4: does the attacker see this message? (The message itself, with its values:
    /// the history's copy has no JWT values.)
    pub(super) fn watch_message(&mut self, env: &Envelope) {
        if env.from == crate::ids::Party::Attacker || env.to == crate::ids::Party::Attacker {
            return;
        }
        self.steal_in_transit(env, false);
        let (from, to) = (env.from.group(), env.to.group());
        let tapped = self
            .watch
            .taps
            .iter()
            .any(|(a, b)| (*a, *b) == (from, to) || (*a, *b) == (to, from));
        let owned = self.watch.owned.is_some_and(|a| {
            let about_a = env.request().is_some_and(|r| {
                r.tenant == Some(a)
                    || r.headers.tenant("x-acting-for") == Some(a)
                    || r.body.tenant("tenant") == Some(a)
                    || r.body.tenant("installationId") == Some(a)
            }) || env
                .cause
                .is_some_and(|c| self.watch.owned_msgs.contains(&c));
            let touches_p = matches!(env.from, crate::ids::Party::Partner(_))
                || matches!(env.to, crate::ids::Party::Partner(_))
                || env.from == crate::ids::Party::Browser
                || env.to == crate::ids::Party::Browser;
            about_a && touches_p
        });
        if owned {
            self.watch.owned_msgs.insert(env.id);
        }
        if !(tapped || owned) {
            return;
        }
        let items: Vec<crate::secret::ItemId> = env.items().map(|(i, _)| i).collect();
        if !items.is_empty() {
            self.history.push(
                self.now,
                Event::Attack {
                    capability: if tapped { A1 } else { A4 },
                    mode: if tapped {
                        ExposureMode::Tap
                    } else {
                        ExposureMode::Own
                    },
                    target: if tapped { None } else { self.watch.owned },
                    items: items.into(),
                },
            );
        }
        self.watch.observed.push_back(Arc::new(env.clone()));
    }

    /// Switches step `i` of the attacker's plan on.
    pub(super) fn attack_step(&mut self, i: usize) {
        let Some(step) = self
            .attacker
            .as_ref()
            .and_then(|a| a.plan().steps.get(i))
            .map(|s| s.capability.clone())
        else {
            return;
        };
        match &step {
            Capability::Tap { a, b } => self.watch.taps.push((*a, *b)),
            Capability::Breach { continuing } => {
                let tenants: Vec<TenantId> = self.partner.store.tenants().collect();
                let mut loot = Vec::new();
                for t in tenants {
                    let row = self.partner.store.latest(t);
                    loot.extend(row_loot(t, &row));
                    self.watch.seen_rows.insert(t, row);
                }
                self.watch.continuing = *continuing;
                let mode = if *continuing {
                    ExposureMode::Continuing
                } else {
                    ExposureMode::Snapshot
                };
                self.expose(A2, mode, None, loot);
            }
            Capability::ReadLogs => {
                self.watch.logs = true;
                let past: Vec<Arc<Envelope>> = self
                    .history
                    .records
                    .iter()
                    .filter_map(|r| match &r.event {
                        Event::Log { env, .. } => Some(env.clone()),
                        _ => None,
                    })
                    .collect();
                for env in past {
                    self.log_exposed(&env);
                }
            }
            Capability::Own { tenant } => {
                self.watch.owned = Some(*tenant);
                self.platform.registry.attacker_owned = Some(*tenant);
                let row = self.partner.store.latest(*tenant);
                self.expose(
                    A4,
                    ExposureMode::Own,
                    Some(*tenant),
                    row_loot(*tenant, &row),
                );
            }
            Capability::StealInTransit {
                field,
                tenant,
                from_log,
            } => self.watch.transit.push((field, *tenant, *from_log)),
            Capability::EndReads => {
                self.watch.continuing = false;
                self.watch.stealing.clear();
            }
            Capability::StealContinuing { field, tenant } => {
                self.watch.stealing.push((field, *tenant));
                self.steal_continuing();
            }
            Capability::Steal {
                field,
                tenant,
                from,
            } => {
                let row = self.partner.store.latest(*tenant);
                // The row's public companions (its client id) come with the stolen item.
                let loot: Vec<Loot> = row_loot(*tenant, &row)
                    .into_iter()
                    .filter(|l| l.field == *field || l.field == "client_id")
                    .collect();
                self.expose(A5, *from, Some(*tenant), loot);
            }
            _ => {}
        }
        let mut out = Effects::default();
        if let Some(a) = self.attacker.as_mut() {
            a.start_step(self.now, &step, &mut out);
        }
        self.apply(RoleKind::Attacker, &mut out);
        self.feed_observations();
    }

    /// A3: a log entry the attacker reads.
    pub(super) fn log_exposed(&mut self, env: &Arc<Envelope>) {
        let items: Vec<crate::secret::ItemId> = env.items().map(|(i, _)| i).collect();
        if items.is_empty() {
            return;
        }
        self.history.push(
            self.now,
            Event::Attack {
                capability: A3,
                mode: ExposureMode::Log,
                target: None,
                items: items.into(),
            },
        );
        self.watch.observed.push_back(env.clone());
    }
}
