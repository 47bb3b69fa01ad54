//! The security half of the report: the property matrix of `tokenlab check` and the attack
//! table of `tokenlab attack --table`, both run here from the report's seed (they are seeded
//! and deterministic), and the hypotheses that rest on them (H5, H6, H9, H14, H15, H16, H21,
//! H24, H26), each with a rule over those numbers.

use super::analytic::ttl_s;
use super::rules::*;
use super::section::{Block, Section, Verdict};
use serde::Serialize;
use std::collections::BTreeMap;
use tokenlab_models::mechanisms::registry;
use tokenlab_properties::VerdictKind;
use tokenlab_properties::attack::{AttackResult, attack_table};
use tokenlab_properties::suite::{MatrixRow, expectations, run_row, security_matrix};

#[derive(Clone, Debug, Serialize)]
pub struct SecurityData {
    pub cases: u32,
    pub matrix: Vec<MatrixRow>,
    pub attacks: Vec<AttackResult>,
}

/// `only_mechanisms`: restrict the matrix (the pipeline's own tests use two mechanisms).
pub fn compute(seed: u64, cases: u32, only_mechanisms: Option<&[&str]>) -> SecurityData {
    let matrix = match only_mechanisms {
        None => security_matrix(cases, seed),
        Some(ms) => expectations()
            .iter()
            .filter(|e| ms.contains(&e.mechanism.as_str()))
            .map(|e| run_row(e, cases, seed))
            .collect(),
    };
    SecurityData {
        cases,
        matrix,
        attacks: attack_table(seed),
    }
}

pub const PROPERTIES: [&str; 12] = [
    "P1", "P2", "P3", "P4", "P5", "P6", "P7", "P8", "P9", "P10", "P11", "P12",
];

impl SecurityData {
    pub fn attack(&self, mechanism: &str, credential: &str) -> Option<&AttackResult> {
        self.attacks
            .iter()
            .find(|a| a.mechanism == mechanism && a.credential == credential && a.sets.is_empty())
    }
    /// The long-lived root credential of a mechanism: the first row of its attack table.
    /// (Not `Mechanism::root_credential`: for upm-oauth that names the per-tenant refresh
    /// token, while the table, and so the published scorecard, leads with the app's client
    /// secret.)
    pub fn root(&self, mechanism: &str) -> Option<&AttackResult> {
        self.attacks
            .iter()
            .find(|a| a.mechanism == mechanism && a.sets.is_empty() && a.credential != "store")
    }
    pub fn verdict(&self, mechanism: &str, variant: Option<&str>, p: &str) -> Option<VerdictKind> {
        self.matrix
            .iter()
            .find(|r| {
                r.mechanism == mechanism && r.variant.as_deref() == variant && r.property == p
            })
            .map(|r| r.verdict)
    }
    /// Live items with lifetime > 1 day at P per installation, from the attack runs'
    /// counterfactual (no attacker).
    pub fn long_lived_per_installation(&self, mechanism: &str) -> Option<f64> {
        let a = self.root(mechanism)?;
        let n: u64 = a
            .standing_secrets
            .by_kind
            .iter()
            .filter(|(k, _)| k.ends_with("> 1 day"))
            .map(|(_, v)| *v)
            .sum();
        Some(n as f64 / a.standing_secrets.installations.max(1) as f64)
    }
    /// Default-profile properties that hold (or are n/a, by design) out of those checked.
    pub fn invariants_held(&self, mechanism: &str) -> (usize, usize) {
        let rows: Vec<&MatrixRow> = self
            .matrix
            .iter()
            .filter(|r| r.mechanism == mechanism && r.variant.is_none())
            .collect();
        let held = rows
            .iter()
            .filter(|r| r.verdict != VerdictKind::Violated)
            .count();
        (held, rows.len())
    }
}

fn hours(s: Option<f64>) -> String {
    s.map_or("—".into(), |v| format!("{:.2}", v / 3600.0))
}

fn w_cell(a: &AttackResult) -> String {
    let w = hours(a.exposure_window_s);
    if a.exposure_unbounded {
        format!("{w} (unbounded: no declared bound)")
    } else {
        format!("{w} (bound {})", hours(a.exposure_bound_s))
    }
}

fn matrix_blocks(d: &SecurityData) -> (Vec<Block>, Vec<String>) {
    let mut mechs: Vec<String> = Vec::new();
    for r in d.matrix.iter().filter(|r| r.variant.is_none()) {
        if !mechs.contains(&r.mechanism) {
            mechs.push(r.mechanism.clone());
        }
    }
    let mut mismatches = Vec::new();
    let mut rows = Vec::new();
    for m in &mechs {
        let mut row = vec![m.clone()];
        for p in PROPERTIES {
            let cell = d
                .matrix
                .iter()
                .find(|r| &r.mechanism == m && r.variant.is_none() && r.property == p)
                .map_or("—".to_string(), |r| {
                    if r.verdict == r.expected {
                        r.verdict.name().to_string()
                    } else {
                        format!("{} (expected {})", r.verdict.name(), r.expected.name())
                    }
                });
            row.push(cell);
        }
        rows.push(row);
    }
    let mut variants = Vec::new();
    for r in d.matrix.iter().filter(|r| r.variant.is_some()) {
        variants.push(vec![
            r.mechanism.clone(),
            r.variant.clone().unwrap_or_default(),
            format!("{} {}", r.property, r.name),
            r.verdict.name().into(),
            r.expected.name().into(),
            r.reached.to_string(),
            r.counterexample
                .as_deref()
                .and_then(|c| c.lines().find(|l| !l.trim().is_empty()))
                .unwrap_or("—")
                .chars()
                .take(140)
                .collect(),
        ]);
    }
    for r in &d.matrix {
        if r.verdict != r.expected {
            mismatches.push(format!(
                "{}{} {}: {} (expected {})",
                r.mechanism,
                r.variant
                    .as_deref()
                    .map_or(String::new(), |v| format!("[{v}]")),
                r.property,
                r.verdict.name(),
                r.expected.name()
            ));
        }
    }
    let mut headers = vec!["mechanism".to_string()];
    headers.extend(PROPERTIES.iter().map(|p| p.to_string()));
    (
        vec![
            Block::Text {
                text: format!("Default profiles, {} seeded case(s) per row; every verdict is computed by a checker over the recorded history, with `reached` counting the attacker presentations the property's verifier decided on (a pass is never vacuous).", d.cases),
            },
            Block::Table { headers, rows },
            Block::Text {
                text: "Variant and mutant rows (expectations.md): a switch turned to its unsafe value must flip the verdict, and the safe value must restore it.".into(),
            },
            Block::table(&["mechanism", "variant", "property", "verdict", "expected", "reached", "counterexample (first line)"], variants),
        ],
        mismatches,
    )
}

fn attack_rows(d: &SecurityData) -> Vec<Vec<String>> {
    d.attacks
        .iter()
        .map(|a| {
            let long: u64 = a
                .standing_secrets
                .by_kind
                .iter()
                .filter(|(k, _)| k.ends_with("> 1 day"))
                .map(|(_, v)| *v)
                .sum();
            vec![
                format!(
                    "{}{}",
                    a.mechanism,
                    if a.sets.is_empty() {
                        String::new()
                    } else {
                        format!(" [{}]", a.sets.join(","))
                    }
                ),
                if a.credential == "store" {
                    "whole store (A2/A8)".into()
                } else {
                    a.credential.clone()
                },
                format!("{} ({})", a.tenants_compromised, a.privilege),
                a.tokens_obtained.to_string(),
                format!("{}/{}", a.accepted, a.attempts),
                w_cell(a),
                if a.detected {
                    format!("yes, after {:.0} s", a.detected_after_s.unwrap_or(0.0))
                } else {
                    "no".into()
                },
                a.false_detections.to_string(),
                format!(
                    "{} / {}",
                    hours(a.revocation_latency_s),
                    hours(a.revocation_latency_api_checks_on_s)
                ),
                format!(
                    "{long} of {} installations",
                    a.standing_secrets.installations
                ),
            ]
        })
        .collect()
}

fn section(
    id: &str,
    title: &str,
    claim: &str,
    experiment: &str,
    blocks: Vec<Block>,
    rule: &str,
    verdict: Verdict,
) -> Section {
    Section {
        id: id.into(),
        title: title.into(),
        claim: claim.into(),
        experiment: experiment.into(),
        blocks,
        rule: rule.into(),
        verdict,
        reproduce: vec![],
        ..Default::default()
    }
}

fn v(x: Option<VerdictKind>) -> &'static str {
    x.map_or("—", |k| k.name())
}

/// The security sections; `id`s match `hypotheses.md`, plus the matrix and the attack table.
pub fn sections(d: &SecurityData, seed: u64) -> Vec<Section> {
    let check_cmd = format!(
        "cargo run --release -- check --cases {} --seed {seed} --json",
        d.cases
    );
    let attack_cmd = format!("cargo run --release -- attack --table --seed {seed} --json");
    let mut out = Vec::new();

    let (blocks, mismatches) = matrix_blocks(d);
    let mut s = section(
        "E-sec",
        "The property matrix (P1–P12)",
        "expectations.md states, for every mechanism and property of threats.md, whether the design keeps it, and which switch breaks it.",
        "`tokenlab check`: the seeded suites with the attacker of threats.md acting through protocol messages, faults included; checkers judge the recorded histories.",
        blocks,
        "Supported if every row's computed verdict equals expectations.md; refuted naming the rows that differ.",
        matrix_rule(&MatrixData { mismatches }),
    );
    s.reproduce.push(check_cmd.clone());
    out.push(s);

    let mut s = section(
        "E-leak",
        "What one stolen credential buys",
        "threats.md §4 metrics: blast radius B, tokens obtained, exposure window W against its declared bound, detection, revocation latency R, and the secrets standing at rest at P.",
        "`tokenlab attack --table`: for each credential P holds (and the whole store), one theft from the store at t = 600 s for one victim tenant, the attacker then using it through the protocol; gains are this run minus the same seed without the theft.",
        vec![
            Block::table(&["mechanism", "stolen", "tenants reached B (privilege)", "tokens obtained", "accepted/attempts", "W h (declared bound h)", "detected", "false detections", "R h, api check off / on", "items > 1 day at P"], attack_rows(d)),
            Block::Figure {
                name: "blast-radius".into(),
                caption: "Tenants reached per stolen credential.".into(),
            },
            Block::Figure {
                name: "exposure-window".into(),
                caption: "Exposure window W per stolen credential, in hours; a credential with no declared bound is drawn hatched to the end of the run and marked unbounded (a longer run would only lengthen it).".into(),
            },
        ],
        "A measurement table; its verdicts are drawn in the hypotheses that use it.",
        Verdict::DependsOn("the credential and the mechanism: see the rows".into()),
    );
    s.reproduce.push(attack_cmd.clone());
    out.push(s);

    // H5: isolation against single-secret leaks, not against a store breach.
    let b = |m: &str, c: &str| d.attack(m, c).map(|a| a.tenants_compromised);
    let (gs, ts, gb, tb) = (
        b("global-secret", "client_secret"),
        b("tenant-secret", "client_secret"),
        b("global-secret", "store"),
        b("tenant-secret", "store"),
    );
    let verdict = h5_rule(&H5Data {
        global_secret: gs,
        tenant_secret: ts,
        global_store: gb,
        tenant_store: tb,
    });
    let mut s = section(
        "H5",
        "Isolation \"not an industry best practice\"",
        "The tenant-isolation post, to @Pat: \"Why has Atlassian chosen to apply this control when this is not an industry best practice? It is very common for OAuth apps to have access to all accounts using the same client_id and client_secret\" [F: thread].",
        "E-sec: the client secret stolen from P's store (A2 snapshot, one credential) and the whole store, global-secret vs tenant-secret; P1 from the matrix.",
        vec![Block::table(
            &["", "global-secret", "tenant-secret"],
            vec![
                vec!["B, one client secret stolen".into(), opt(gs), opt(ts)],
                vec!["B, the whole store".into(), opt(gb), opt(tb)],
                vec![
                    "P1 tenant isolation (default)".into(),
                    v(d.verdict("global-secret", None, "P1")).into(),
                    v(d.verdict("tenant-secret", None, "P1")).into(),
                ],
            ],
        )],
        "Depends-on (the kind of leak) if the app-wide secret reaches more tenants than a per-tenant one while a store breach reaches as many either way; supported if isolation shrinks B in both; refuted if it never does.",
        verdict,
    );
    s.reproduce.push(attack_cmd.clone());
    out.push(s);

    // H9: the URL as a standing credential.
    let url = d.attack("trigger", "trigger_url");
    let inband = d.verdict("trigger", Some("token_return=in_band"), "P7");
    let inband_auth = d.verdict(
        "trigger",
        Some("token_return=in_band,url_auth=required"),
        "P7",
    );
    let verdict = h9_rule(&H9Data {
        url: url.map(|u| UrlTheft {
            exposure_unbounded: u.exposure_unbounded,
            tokens_obtained: u.tokens_obtained,
            accepted: u.accepted,
        }),
        in_band_p7: inband,
        in_band_url_auth_p7: inband_auth,
    });
    let mut s = section(
        "H9",
        "Unrotated URL as a backdoor",
        "The proprietary-flow post: \"I'm uncomfortable with the unrotated, persistent authTriggerURL … This avoids a persistent 'backdoor' if anyone does manage to get hold of it and decrypt it\" [F: thread].",
        "E-sec: the trigger URL stolen from P's store (A2 snapshot), the whole store, and the in-band variants from the matrix.",
        vec![Block::table(
            &[
                "case",
                "tenants reached",
                "tokens obtained",
                "accepted/attempts",
                "W h",
            ],
            ["trigger_url", "token", "store"]
                .iter()
                .filter_map(|c| d.attack("trigger", c))
                .map(|a| {
                    vec![
                        a.credential.clone(),
                        a.tenants_compromised.to_string(),
                        a.tokens_obtained.to_string(),
                        format!("{}/{}", a.accepted, a.attempts),
                        w_cell(a),
                    ]
                })
                .collect(),
        )],
        "Depends-on if the URL alone buys no token but has no exposure bound while the in-band variant turns it into a token source; supported if the URL alone yields tokens; refuted otherwise.",
        verdict,
    );
    s.reproduce.push(attack_cmd.clone());
    out.push(s);

    // H14: long-lived credentials at P.
    let ll: BTreeMap<&str, Option<f64>> = registry()
        .iter()
        .map(|m| (m.id(), d.long_lived_per_installation(m.id())))
        .collect();
    let verdict = h14_rule(&H14Data {
        trigger: ll.get("trigger").copied().flatten(),
        push: ll.get("push").copied().flatten(),
    });
    out.push(section(
        "H14",
        "No long-lived partner credentials",
        "The RFC's goal [F: rfc34]; the 2-cents post concedes it does \"remove the need to store any long-term credentials\", but \"keys are still generated and exchanged\" [F: thread].",
        "E-inv: items at rest at P with a lifetime over one day, per installation, counted in a fault-free run with idle installations included.",
        vec![Block::table(&["mechanism", "items > 1 day per installation"], ll
                .iter()
                .map(|(m, x)| vec![m.to_string(), x.map_or("—".into(), |x| format!("{x:.0}"))])
                .collect())],
        "Depends-on (the mechanism) if push holds none and trigger holds some; supported if trigger holds none; refuted if push holds some too.",
        verdict,
    ));

    // H15: Connect.
    let c = d.root("connect-jwt");
    let verdict = h15_rule(&H15Data {
        shared_secret_unbounded: c.map(|a| a.exposure_unbounded),
    });
    out.push(section(
        "H15",
        "Connect as the known alternative",
        "A partner: \"existing connect capabilities will be missed and replaced by an inferior solution from a vendors perspective\" [F: thread].",
        "connect-jwt against the rest: hops and availability from E-lat/E-rel, B and W of its shared secret from E-sec.",
        vec![Block::table(&["stolen", "B", "W h", "R h (off/on)"], d
                .attacks
                .iter()
                .filter(|a| a.mechanism == "connect-jwt")
                .map(|a| {
                    vec![
                        a.credential.clone(),
                        a.tenants_compromised.to_string(),
                        w_cell(a),
                        format!(
                            "{} / {}",
                            hours(a.revocation_latency_s),
                            hours(a.revocation_latency_api_checks_on_s)
                        ),
                    ]
                })
                .collect())],
        "Depends-on if connect-jwt's secret is unbounded in exposure (its latency and availability are shown in H1 and H2); supported if it is bounded as well.",
        verdict,
    ));

    // H16: UPM OAuth revocation.
    let u = d.root("upm-oauth");
    let p5 = d.verdict("upm-oauth", None, "P5");
    let p7 = d.verdict("upm-oauth", None, "P7");
    let verdict = h16_rule(&H16Data {
        upm_oauth: u.map(|a| Revocation {
            api_check_off_s: a.revocation_latency_s,
            api_check_on_s: a.revocation_latency_api_checks_on_s,
        }),
        ttl_s: ttl_s(),
    });
    out.push(section(
        "H16",
        "UPM-authorized OAuth",
        "remie: \"adjusting the UPM to implement the normal OAuth authorization flow\", with authorization and revocation buttons, \"an allow list of callback URLs\", and offline access revocable \"at any time without having to uninstall the app\" [F: thread].",
        "E-sec on upm-oauth: revocation latency with `api_checks_installation` off and on, P5 (revocation) and P7 (no issuance without authorization) from the matrix.",
        vec![Block::table(&["metric", "value"], vec![
                vec![
                    "R h, api check off / on".into(),
                    u.map_or("—".into(), |a| {
                        format!(
                            "{} / {}",
                            hours(a.revocation_latency_s),
                            hours(a.revocation_latency_api_checks_on_s)
                        )
                    }),
                ],
                vec!["P5 revocation".into(), v(p5).into()],
                vec!["P7 authorized issuance".into(), v(p7).into()],
            ])],
        "Supported if revocation takes effect at once with the API's installation check (R = 0) and within one TTL (4 h) without it (V1).",
        verdict,
    ));

    // H21: push vs trigger security.
    let (tb, pb) = (d.attack("trigger", "store"), d.attack("push", "store"));
    let both = |p: &str| (d.verdict("trigger", None, p), d.verdict("push", None, p));
    let verdict = h21_rule(&H21Data {
        p1: both("P1"),
        p7: both("P7"),
        trigger_store_unbounded: tb.map(|a| a.exposure_unbounded),
        push_store_unbounded: pb.map(|a| a.exposure_unbounded),
    });
    out.push(section(
        "H21",
        "Push has \"the exact same effect from the point of view of security\"",
        "The 2-cents post [F: thread].",
        "E-sec and E-inv, trigger vs push: the matrix on P1 and P7, and the whole-store theft.",
        vec![Block::table(&["", "trigger", "push"], vec![
                vec!["P1".into(), v(d.verdict("trigger", None, "P1")).into(), v(d.verdict("push", None, "P1")).into()],
                vec!["P4 bounded exposure".into(), v(d.verdict("trigger", None, "P4")).into(), v(d.verdict("push", None, "P4")).into()],
                vec!["P7".into(), v(d.verdict("trigger", None, "P7")).into(), v(d.verdict("push", None, "P7")).into()],
                vec!["whole store: B".into(), tb.map_or("—".into(), |a| a.tenants_compromised.to_string()), pb.map_or("—".into(), |a| a.tenants_compromised.to_string())],
                vec!["whole store: W h".into(), tb.map_or("—".into(), w_cell), pb.map_or("—".into(), w_cell)],
            ])],
        "Depends-on if P1 and P7 agree but the store breach is bounded for push and unbounded for trigger; supported if they agree everywhere; refuted if P1 or P7 differ.",
        verdict,
    ));

    // H6 and H24: what the variants and mutants break, per mechanism.
    let mut per: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for r in d.matrix.iter().filter(|r| r.variant.is_some()) {
        let e = per.entry(r.mechanism.as_str()).or_insert((0, 0));
        e.1 += 1;
        if r.verdict == VerdictKind::Violated {
            e.0 += 1;
        }
    }
    let rows: Vec<Vec<String>> = per
        .iter()
        .map(|(m, (b, n))| vec![m.to_string(), format!("{b} of {n}")])
        .collect();
    let variants: Vec<(VerdictKind, VerdictKind)> = d
        .matrix
        .iter()
        .filter(|r| r.variant.is_some())
        .map(|r| (r.expected, r.verdict))
        .collect();
    out.push(section(
        "H6",
        "Error-prone",
        "The tenant-isolation post: it is \"overcomplicating engineering efforts (making it error prone)\"; the glue-code post: \"every vendor's implementation can have bugs\" [F: thread].",
        "E-mut: each variant or mutant row switches one partner- or platform-side check off; the suite must catch it (the property flips to violated).",
        vec![Block::table(&["mechanism", "variant rows that break a property"], rows.clone())],
        "Supported (as attack surface, not bug likelihood) if every mutant expected to break a property is caught by the suite; refuted if some mutant goes unnoticed.",
        h6_rule(&MutantData { variants }),
    ));
    let count = |m: &str| per.get(m).map_or(0, |x| x.0);
    out.push(section(
        "H24",
        "\"Not at all confident … more secure system overall\"",
        "The 2-cents post [F: thread].",
        "E-mut × attacker matrix: trigger vs refresh and tenant-secret, counted from the variant rows, with B×W from the attack table.",
        vec![Block::table(&["mechanism", "variant rows that break a property"], rows
                .into_iter()
                .filter(|r| ["trigger", "refresh", "tenant-secret"].contains(&r[0].as_str()))
                .collect())],
        "Reported as measured (hypotheses.md expects no closed form): depends-on names which design leaves more switches that break a property to the partner.",
        h24_rule(&H24Data {
            breaking: (!per.is_empty()).then(|| {
                [count("trigger"), count("refresh"), count("tenant-secret")]
            }),
        }),
    ));

    // H26: per-installation client credentials.
    let t = d.attack("tenant-secret", "client_secret");
    let p1 = d.verdict("tenant-secret", None, "P1");
    let verdict = h26_rule(&H26Data {
        blast_radius: t.map(|a| a.tenants_compromised),
        p1,
        long_lived_per_installation: d.long_lived_per_installation("tenant-secret"),
    });
    out.push(section(
        "H26",
        "Credentials per (app, clientKey)",
        "marc, relayed in the thread: \"Why not require separate OAuth client credentials for each combination of app and clientKey? This would allow the usage standard OAuth\" [F: thread].",
        "tenant-secret on P1 (matrix), B of one stolen secret, and the secrets standing at P (stock-client use is H7).",
        vec![],
        "Depends-on (standing secrets) if P1 holds and B = 1 while P stores a long-lived secret per installation; refuted if P1 fails or B > 1.",
        verdict,
    ));
    for s in &mut out {
        if s.reproduce.is_empty() {
            s.reproduce.push(check_cmd.clone());
            s.reproduce.push(attack_cmd.clone());
        }
    }
    out
}

fn opt(x: Option<u64>) -> String {
    x.map_or("—".into(), |v| v.to_string())
}
