//! Faults are data: link profiles (latency distribution, loss of requests and of responses,
//! HTTP 5xx and 429 rates), a nemesis schedule (partitions, crashes, replica-lag spikes,
//! push-schedule resets) and named presets. The simulator applies them in virtual time.
//!
//! Link faults apply to inter-party links only (`workload.md` §8); the partner's store is
//! internal and has its own fixed costs and failure probabilities.

use crate::ids::{Group, RoleKind};
use crate::{MS, Micros, SEC};
use rand::RngExt;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One-way delay of a message on a link.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum LatencyDist {
    Fixed {
        ms: f64,
    },
    Uniform {
        min_ms: f64,
        max_ms: f64,
    },
    /// `base_ms` + U(0, `jitter_ms`), and with probability `tail_prob` an extra Pareto
    /// delay with scale `tail_ms` and shape `tail_alpha` (a heavy tail).
    HeavyTail {
        base_ms: f64,
        jitter_ms: f64,
        tail_prob: f64,
        tail_ms: f64,
        tail_alpha: f64,
    },
}

impl LatencyDist {
    pub fn sample<R: rand::Rng + ?Sized>(&self, rng: &mut R) -> Micros {
        let ms = match *self {
            LatencyDist::Fixed { ms } => ms,
            LatencyDist::Uniform { min_ms, max_ms } => {
                min_ms + (max_ms - min_ms) * rng.random::<f64>()
            }
            LatencyDist::HeavyTail {
                base_ms,
                jitter_ms,
                tail_prob,
                tail_ms,
                tail_alpha,
            } => {
                let mut d = base_ms + jitter_ms * rng.random::<f64>();
                if rng.random::<f64>() < tail_prob {
                    // Pareto(x_m = tail_ms, alpha) by inversion; u in (0, 1].
                    let u = 1.0 - rng.random::<f64>();
                    d += tail_ms * u.powf(-1.0 / tail_alpha);
                }
                d
            }
        };
        (ms * MS as f64).round() as Micros
    }
}

/// Faults of one directed link (requests and responses travelling in that direction).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinkProfile {
    pub latency: LatencyDist,
    /// Probability that a request on this link is lost.
    pub loss_request: f64,
    /// Probability that a response on this link is lost.
    pub loss_response: f64,
    /// Probability that a request is answered 5xx at the receiver's edge.
    pub http_5xx: f64,
    /// Probability that a request is answered 429 at the receiver's edge.
    pub http_429: f64,
}

impl LinkProfile {
    pub fn fixed_rtt_ms(rtt_ms: f64) -> LinkProfile {
        LinkProfile {
            latency: LatencyDist::Fixed { ms: rtt_ms / 2.0 },
            loss_request: 0.0,
            loss_response: 0.0,
            http_5xx: 0.0,
            http_429: 0.0,
        }
    }
    /// The same link with no loss and no errors: provisioning runs on these.
    pub fn fault_free(&self) -> LinkProfile {
        LinkProfile {
            loss_request: 0.0,
            loss_response: 0.0,
            http_5xx: 0.0,
            http_429: 0.0,
            ..*self
        }
    }
}

/// What a link does to one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    Lost,
    /// A request answered at the receiver's edge with this status; the role never sees it.
    Edge(u16),
    Delivered,
}

/// A message delivered late under guidance: past every partner and platform timeout of a
/// small world, so that "the answer came after the caller gave up" is one choice.
pub const LATE: Micros = 3 * SEC;

impl LatencyDist {
    /// The delay a guided run uses by default: the distribution's middle, without the tail.
    pub fn nominal(&self) -> Micros {
        let ms = match *self {
            LatencyDist::Fixed { ms } => ms,
            LatencyDist::Uniform { min_ms, max_ms } => (min_ms + max_ms) / 2.0,
            LatencyDist::HeavyTail {
                base_ms, jitter_ms, ..
            } => base_ms + jitter_ms / 2.0,
        };
        (ms * MS as f64).round() as Micros
    }
}

impl LinkProfile {
    /// A message's delay and fate through the run's choice source: in random mode the draw
    /// below; guided, the nominal delay and the fate the guide prescribes (delivered, late,
    /// lost, and for a request an edge 503), where the guide explores link faults.
    pub fn decide<R: rand::Rng + ?Sized>(
        &self,
        rng: &mut R,
        is_request: bool,
        choices: &crate::choice::Choices,
    ) -> (Micros, Fate) {
        use crate::choice::Point;
        let (point, arity) = if is_request {
            (Point::LinkRequest, 4)
        } else {
            (Point::LinkResponse, 3)
        };
        let arity = if choices.explores_faults() { arity } else { 1 };
        match choices.pick(point, arity) {
            None => self.draw(rng, is_request),
            Some(k) => {
                let nominal = self.latency.nominal();
                match k {
                    0 => (nominal, Fate::Delivered),
                    1 => (nominal + LATE, Fate::Delivered),
                    2 => (nominal, Fate::Lost),
                    _ => (nominal, Fate::Edge(503)),
                }
            }
        }
    }

    /// The one place link faults are drawn, in a fixed order (delay, loss, then the edge
    /// status for requests), so the simulator and the loopback driver give the same seed the
    /// same fates.
    pub fn draw<R: rand::Rng + ?Sized>(&self, rng: &mut R, is_request: bool) -> (Micros, Fate) {
        let delay = self.latency.sample(rng);
        let fate = if is_request {
            if rng.random::<f64>() < self.loss_request {
                Fate::Lost
            } else {
                let edge = rng.random::<f64>();
                if edge < self.http_5xx {
                    Fate::Edge(503)
                } else if edge < self.http_5xx + self.http_429 {
                    Fate::Edge(429)
                } else {
                    Fate::Delivered
                }
            }
        } else if rng.random::<f64>() < self.loss_response {
            Fate::Lost
        } else {
            Fate::Delivered
        };
        (delay, fate)
    }
}

/// The network: a default link profile and overrides per directed group pair.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NetworkProfile {
    pub default: LinkProfile,
    /// Keyed by (from, to).
    pub links: BTreeMap<(Group, Group), LinkProfile>,
}

impl NetworkProfile {
    pub fn uniform(link: LinkProfile) -> NetworkProfile {
        NetworkProfile {
            default: link,
            links: BTreeMap::new(),
        }
    }
    pub fn link(&self, from: Group, to: Group) -> &LinkProfile {
        self.links.get(&(from, to)).unwrap_or(&self.default)
    }
    /// Sets both directions between `a` and `b`.
    pub fn set_pair(&mut self, a: Group, b: Group, link: LinkProfile) {
        self.links.insert((a, b), link);
        self.links.insert((b, a), link);
    }
    /// Applies `f` to every link, the default included.
    pub fn map_all(&mut self, f: impl Fn(&mut LinkProfile)) {
        f(&mut self.default);
        for l in self.links.values_mut() {
            f(l);
        }
    }
}

/// One nemesis action over a window of virtual time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Nemesis {
    /// Every message between the two groups is dropped during [from, until).
    Partition {
        a: Group,
        b: Group,
        from_s: f64,
        until_s: f64,
    },
    /// The role is down during [from, until); with `lose_volatile` its in-memory state is lost.
    Crash {
        role: CrashRole,
        from_s: f64,
        until_s: f64,
        lose_volatile: bool,
    },
    /// Replica lag is raised by `extra_ms` during [from, until).
    ReplicaLagSpike {
        extra_ms: f64,
        from_s: f64,
        until_s: f64,
    },
    /// A deploy resets every push schedule at `at_s`; the first push follows ~5 min later.
    DeployReset { at_s: f64 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CrashRole {
    Partner,
    Platform,
}

impl CrashRole {
    pub fn role(self) -> RoleKind {
        match self {
            CrashRole::Partner => RoleKind::Partner,
            CrashRole::Platform => RoleKind::Platform,
        }
    }
}

pub fn secs(s: f64) -> Micros {
    (s * SEC as f64).round() as Micros
}

/// A named preset: the network, and nemesis actions if any.
#[derive(Clone, Debug, Serialize)]
pub struct Preset {
    pub name: &'static str,
    pub description: &'static str,
    pub network: NetworkProfile,
    pub nemesis: Vec<Nemesis>,
}

pub const PRESET_NAMES: [&str; 6] = [
    "lan",
    "same-region",
    "cross-region",
    "lossy",
    "flaky-partner",
    "platform-brownout",
];

/// The presets of `workload.md` §8 (their values are our inference).
pub fn preset(name: &str) -> Option<Preset> {
    let same = LinkProfile::fixed_rtt_ms(80.0);
    let tail = LatencyDist::HeavyTail {
        base_ms: 35.0,
        jitter_ms: 10.0,
        tail_prob: 0.01,
        tail_ms: 100.0,
        tail_alpha: 1.5,
    };
    let (description, network) = match name {
        "lan" => (
            "every inter-party RTT 1 ms, fixed; no faults",
            NetworkProfile::uniform(LinkProfile::fixed_rtt_ms(1.0)),
        ),
        "same-region" => (
            "every inter-party RTT 80 ms, fixed; no faults",
            NetworkProfile::uniform(same),
        ),
        "cross-region" => {
            // EU partner, US platform: every partner↔platform link 200 ms RTT (analytic.md L1,
            // "AS also remote"); the browser legs stay at 80 ms.
            let mut n = NetworkProfile::uniform(LinkProfile::fixed_rtt_ms(200.0));
            n.set_pair(Group::Browser, Group::Forge, same);
            n.set_pair(Group::Browser, Group::AuthServer, same);
            n.set_pair(Group::Browser, Group::Partner, same);
            ("partner↔platform RTT 200 ms (EU↔US); no faults", n)
        }
        "lossy" => (
            "80 ms RTT with jitter and a heavy tail; 1% loss of requests and of responses",
            NetworkProfile::uniform(LinkProfile {
                latency: tail,
                loss_request: 0.01,
                loss_response: 0.01,
                http_5xx: 0.0,
                http_429: 0.0,
            }),
        ),
        "flaky-partner" => {
            // Requests to the partner's endpoints (P.auth, P.recv) fail: 5% 5xx, 2% lost, slow tail.
            let mut n = NetworkProfile::uniform(same);
            let flaky = LinkProfile {
                latency: LatencyDist::HeavyTail {
                    base_ms: 35.0,
                    jitter_ms: 10.0,
                    tail_prob: 0.05,
                    tail_ms: 500.0,
                    tail_alpha: 1.5,
                },
                loss_request: 0.02,
                loss_response: 0.02,
                http_5xx: 0.05,
                http_429: 0.0,
            };
            n.links.insert((Group::Forge, Group::Partner), flaky);
            (
                "partner endpoints flaky: 5% 5xx, 2% loss, 5% slow tail on F→P",
                n,
            )
        }
        "platform-brownout" => {
            // Requests to F and the AS: 10% 5xx, 5% 429, heavy tail.
            let mut n = NetworkProfile::uniform(same);
            let brown = LinkProfile {
                latency: LatencyDist::HeavyTail {
                    base_ms: 35.0,
                    jitter_ms: 10.0,
                    tail_prob: 0.05,
                    tail_ms: 1000.0,
                    tail_alpha: 1.5,
                },
                loss_request: 0.0,
                loss_response: 0.0,
                http_5xx: 0.10,
                http_429: 0.05,
            };
            n.links.insert((Group::Partner, Group::Forge), brown);
            n.links.insert((Group::Partner, Group::AuthServer), brown);
            (
                "platform brownout: 10% 5xx, 5% 429, slow tail on P→F and P→AS",
                n,
            )
        }
        _ => return None,
    };
    Some(Preset {
        name: PRESET_NAMES.iter().find(|n| **n == name)?,
        description,
        network,
        nemesis: Vec::new(),
    })
}
