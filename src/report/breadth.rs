//! Issue 12's sections (the thread's open questions, part 1): H23 IP allow-listing by the
//! attacker's location and H3 the asynchronous trigger. Each section runs its own small,
//! seeded experiment through the same entry points as the CLI (`tokenlab attack`,
//! `tokenlab simulate`), so every number has a one-line reproduce command; its verdict is a
//! pure rule over a small data struct, tested below by flipping it. Kept out of
//! `analysis.rs` (which only calls [`h23`] and [`h3`]) so issue 19's edits there do not meet
//! these.

use super::section::{Block, EvidenceKind, Flip, Section, SweepPoint, Verdict};
use tokenlab_properties::attack::{AttackRequest, From, Mode, attack};

/// The mechanisms with an `ip_allowlist` switch (`mechanisms.md` §5, §6).
pub const ALLOWLIST_MECHANISMS: [&str; 2] = ["global-secret", "tenant-secret"];

/// One attack scenario of H23: a capability used from a location.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scenario {
    pub label: &'static str,
    /// `None`: the whole store; else the stolen credential.
    pub credential: Option<&'static str>,
    pub mode: Mode,
    pub location: &'static str,
    /// One of the scenarios `hypotheses.md` H23 names (the others are its sensitivity).
    pub named: bool,
}

/// `hypotheses.md` H23's scenarios at their locations (`threats.md` §6: A2 and A8 act from
/// P's network: inference), then the same store thefts used from the internet.
pub const SCENARIOS: [Scenario; 6] = [
    Scenario {
        label: "A5 stolen secret, from the internet",
        credential: Some("client_secret"),
        mode: Mode::Snapshot,
        location: "internet",
        named: true,
    },
    Scenario {
        label: "A5 stolen secret, from inside P's network",
        credential: Some("client_secret"),
        mode: Mode::Snapshot,
        location: "partner_network",
        named: true,
    },
    Scenario {
        label: "A2 store snapshot (with key), on P's hosts",
        credential: None,
        mode: Mode::Snapshot,
        location: "partner_network",
        named: true,
    },
    Scenario {
        label: "A8 insider (continuing read, with key), P's egress",
        credential: None,
        mode: Mode::Continuing,
        location: "partner_network",
        named: true,
    },
    Scenario {
        label: "A2 store snapshot (with key), exfiltrated and used from the internet",
        credential: None,
        mode: Mode::Snapshot,
        location: "internet",
        named: false,
    },
    Scenario {
        label: "A8 insider's material used from the internet",
        credential: None,
        mode: Mode::Continuing,
        location: "internet",
        named: false,
    },
];

/// What one scenario bought on one mechanism, without and with the allow-list.
#[derive(Clone, Debug, PartialEq)]
pub struct H23Row {
    pub mechanism: String,
    pub scenario: Scenario,
    pub accepts_off: u64,
    pub accepts_on: u64,
    pub tenants_off: u64,
    pub tenants_on: u64,
    /// Attacker requests the AS refused for their location.
    pub refused_for_location: u64,
}

impl H23Row {
    /// Blocked: it bought something without the list and nothing with it.
    pub fn blocked(&self) -> bool {
        self.accepts_off > 0 && self.accepts_on == 0
    }
}

pub struct H23Data {
    pub rows: Vec<H23Row>,
}

/// Supported when, on every mechanism, the off-network A5 is blocked and no on-network
/// scenario is; refuted when any of those differs. Only the named scenarios decide
/// (`hypotheses.md` H23); a named scenario that bought nothing even without the list makes
/// the comparison vacuous: not evaluated.
pub fn h23_rule(d: &H23Data) -> Verdict {
    let named: Vec<&H23Row> = d.rows.iter().filter(|r| r.scenario.named).collect();
    if named.is_empty() {
        return Verdict::NotEvaluated("no allow-list runs".into());
    }
    if let Some(r) = named.iter().find(|r| r.accepts_off == 0) {
        return Verdict::NotEvaluated(format!(
            "{} on {} bought nothing even without the allow-list",
            r.scenario.label, r.mechanism
        ));
    }
    let expected =
        |r: &H23Row| r.scenario.credential.is_some() && r.scenario.location == "internet";
    if named.iter().all(|r| r.blocked() == expected(r)) {
        Verdict::Supported
    } else {
        Verdict::Refuted
    }
}

fn request(mechanism: &str, s: &Scenario, allowlist: &str, seed: u64) -> AttackRequest {
    AttackRequest {
        mechanism: mechanism.into(),
        sets: vec![
            format!("ip_allowlist={allowlist}"),
            format!("attacker_location={}", s.location),
        ],
        credential: s.credential.map(str::to_string),
        from: From::Store,
        mode: s.mode,
        at_s: 600.0,
        revoke_at_s: None,
        seed,
        preset: "same-region".into(),
        without_key: false,
    }
}

/// The command that reproduces one run of the table.
pub fn h23_command(mechanism: &str, s: &Scenario, seed: u64) -> String {
    let what = match s.credential {
        Some(c) => format!("--steal {c}"),
        None => format!(
            "--breach store --mode {}",
            if s.mode == Mode::Continuing {
                "continuing"
            } else {
                "snapshot"
            }
        ),
    };
    format!(
        "cargo run --release -- attack --mechanism {mechanism} {what} --set ip_allowlist=on --set attacker_location={} --seed {seed} --json",
        s.location
    )
}

/// Runs every scenario on every allow-list mechanism, off and on (24 attack runs, each with
/// its counterfactual; about a second in a release build).
pub fn h23_data(seed: u64) -> Result<H23Data, String> {
    let mut rows = Vec::new();
    for m in ALLOWLIST_MECHANISMS {
        for s in &SCENARIOS {
            let off = attack(&request(m, s, "off", seed)).map_err(|e| e.to_string())?;
            let on = attack(&request(m, s, "on", seed)).map_err(|e| e.to_string())?;
            rows.push(H23Row {
                mechanism: m.into(),
                scenario: *s,
                accepts_off: off.accepted,
                accepts_on: on.accepted,
                tenants_off: off.tenants_compromised,
                tenants_on: on.tenants_compromised,
                refused_for_location: on.rejected_by.get("ip_not_allowed").copied().unwrap_or(0),
            });
        }
    }
    Ok(H23Data { rows })
}

fn share(rows: &[&H23Row]) -> String {
    let blocked = rows.iter().filter(|r| r.blocked()).count();
    format!(
        "{blocked}/{} ({:.0}%)",
        rows.len(),
        100.0 * blocked as f64 / rows.len().max(1) as f64
    )
}

/// The H23 section: the per-scenario table, the share blocked per location, the rule.
pub fn h23(seed: u64) -> Section {
    let title = "IP allow-listing";
    let claim = "@AdamMoore: \"options to layer on some extra security (IP allow-listing etc)\", and \"controls on traffic coming out of Forge is much simpler that [sic] controlling traffic coming in\" [F: thread].";
    let experiment = "`ip_allowlist=on|off` on global-secret and tenant-secret (the AS refuses token requests from outside P's registered range), against A5 (a stolen client secret) from the internet and from inside P's network, an A2 store snapshot on P's hosts and an A8 insider with P's egress (both with the decryption key), and the two store thefts used from the internet; one `tokenlab attack` run per cell with its counterfactual, 4 tenants, theft at 600 s.";
    let data = match h23_data(seed) {
        Ok(d) => d,
        Err(e) => {
            return Section {
                id: "H23".into(),
                title: title.into(),
                claim: claim.into(),
                experiment: experiment.into(),
                verdict: Verdict::NotEvaluated(format!("the attack runs failed: {e}")),
                ..Default::default()
            };
        }
    };
    let verdict = h23_rule(&data);
    let rows = data
        .rows
        .iter()
        .map(|r| {
            vec![
                r.mechanism.clone(),
                format!(
                    "{}{}",
                    r.scenario.label,
                    if r.scenario.named {
                        ""
                    } else {
                        " (sensitivity)"
                    }
                ),
                r.scenario.location.to_string(),
                format!("{} / {}", r.accepts_off, r.tenants_off),
                format!("{} / {}", r.accepts_on, r.tenants_on),
                r.refused_for_location.to_string(),
                if r.blocked() {
                    "yes".into()
                } else if r.accepts_on < r.accepts_off {
                    "partly".into()
                } else {
                    "no".into()
                },
            ]
        })
        .collect();
    let per_location = ["internet", "partner_network"]
        .iter()
        .map(|loc| {
            let named: Vec<&H23Row> = data
                .rows
                .iter()
                .filter(|r| r.scenario.named && r.scenario.location == *loc)
                .collect();
            let all: Vec<&H23Row> = data
                .rows
                .iter()
                .filter(|r| r.scenario.location == *loc)
                .collect();
            vec![loc.to_string(), share(&named), share(&all)]
        })
        .collect();
    // The flip: the same rule with A2 and A8 using their loot from the internet.
    let moved = H23Data {
        rows: data
            .rows
            .iter()
            .filter(|r| r.scenario.credential.is_some() || !r.scenario.named)
            .map(|r| H23Row {
                scenario: Scenario {
                    named: true,
                    ..r.scenario
                },
                ..r.clone()
            })
            .collect(),
    };
    let moved_verdict = h23_rule(&moved);
    let sweep = vec![
        SweepPoint {
            value: "partner_network".into(),
            verdict: verdict.kind().into(),
        },
        SweepPoint {
            value: "internet".into(),
            verdict: moved_verdict.kind().into(),
        },
    ];
    let flip_value = (moved_verdict.kind() != verdict.kind()).then(|| "internet".to_string());
    Section {
        id: "H23".into(),
        title: title.into(),
        claim: claim.into(),
        experiment: experiment.into(),
        blocks: vec![
            Block::table(
                &[
                    "mechanism",
                    "scenario",
                    "attacker location",
                    "attacker accepts / tenants reached, list off",
                    "list on",
                    "refused for location",
                    "blocked",
                ],
                rows,
            ),
            Block::table(
                &[
                    "attacker location",
                    "share of named scenarios blocked",
                    "with the internet-used store thefts",
                ],
                per_location,
            ),
            Block::Text {
                text: "Blocked means the scenario bought the attacker at least one Accept without the allow-list and none with it. The list guards the AS only: a store theft also yields the cached access tokens, which the product API accepts from anywhere until they expire, so a store breach used from the internet is at most partly blocked.".into(),
            },
        ],
        rule: "Supported when, on every allow-list mechanism, the off-network A5 is blocked and none of the on-network scenarios (A5 inside, A2 on P's hosts, A8 with P's egress) is; refuted otherwise; not evaluated when a named scenario bought nothing even without the list.".into(),
        verdict,
        reproduce: ALLOWLIST_MECHANISMS
            .iter()
            .flat_map(|m| {
                [&SCENARIOS[0], &SCENARIOS[1]]
                    .into_iter()
                    .map(|s| h23_command(m, s, seed))
            })
            .collect(),
        evidence_kind: EvidenceKind::Measured,
        evidence_basis: "Measured: attacker Accepts and Rejects counted from the runs' histories; the allow-list check and the attacker's location are model inputs, but what each theft buys (secret, cached T, continuing reads) comes from the runs.".into(),
        flips_if: Some(Flip {
            assumption: "where A2 and A8 use what they took (`attacker_location`; inference: on P's hosts)".into(),
            value: flip_value,
            basis: "sweep",
            sweep,
        }),
        flips_if_reason: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(s: usize, off: u64, on: u64) -> H23Row {
        H23Row {
            mechanism: "tenant-secret".into(),
            scenario: SCENARIOS[s],
            accepts_off: off,
            accepts_on: on,
            tenants_off: 1,
            tenants_on: u64::from(on > 0),
            refused_for_location: 0,
        }
    }

    #[test]
    fn only_the_outside_a5_blocked_is_supported_and_anything_else_flips_it() {
        let expected = H23Data {
            rows: vec![
                row(0, 10, 0),
                row(1, 10, 10),
                row(2, 10, 10),
                row(3, 10, 10),
            ],
        };
        assert_eq!(h23_rule(&expected), Verdict::Supported);
        // The outside A5 gets through: refuted.
        let leaky = H23Data {
            rows: vec![
                row(0, 10, 3),
                row(1, 10, 10),
                row(2, 10, 10),
                row(3, 10, 10),
            ],
        };
        assert_eq!(h23_rule(&leaky), Verdict::Refuted);
        // An inside scenario blocked too: refuted (the list would do more than expected).
        let more = H23Data {
            rows: vec![row(0, 10, 0), row(1, 10, 0), row(2, 10, 10), row(3, 10, 10)],
        };
        assert_eq!(h23_rule(&more), Verdict::Refuted);
        // A sensitivity row never decides.
        let mut with_extra = expected.rows.clone();
        with_extra.push(row(4, 10, 0));
        assert_eq!(h23_rule(&H23Data { rows: with_extra }), Verdict::Supported);
        // A vacuous named scenario: not evaluated.
        let vacuous = H23Data {
            rows: vec![row(0, 0, 0), row(1, 10, 10)],
        };
        assert!(matches!(h23_rule(&vacuous), Verdict::NotEvaluated(_)));
    }

    #[test]
    fn the_reproduce_command_names_the_switches() {
        let c = h23_command("global-secret", &SCENARIOS[3], 7);
        assert!(c.contains("--breach store --mode continuing"), "{c}");
        assert!(c.contains("--set attacker_location=partner_network"), "{c}");
    }
}
