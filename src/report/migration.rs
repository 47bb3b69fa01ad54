//! Issue 13 item 4: the Connect → Forge migration. One installation runs connect-jwt and a
//! Forge mechanism side by side during a migration window (the composite `migration`): what a
//! leak of either credential buys before, during and after the window, with the Connect
//! sharedSecret retired at the window's end or never. Each row is one `tokenlab attack` run
//! with its counterfactual ([`tokenlab_properties::attack::attack`]); the verdict is a pure
//! rule over the rows, tested below by flipping it.

use super::section::{Block, EvidenceKind, Flip, Section, SweepPoint, Verdict};
use rayon::prelude::*;
use tokenlab_properties::attack::{AttackRequest, AttackResult, From, Mode, attack};

/// The credentials of a migrating installation: (store field, label).
pub const CREDENTIALS: [(&str, &str); 2] = [
    ("shared_secret", "Connect sharedSecret"),
    ("trigger_url", "Forge trigger URL"),
];
/// When the theft happens, s, against the default window (1 h to 3 h).
pub const WHEN: [(&str, f64); 3] = [
    ("before the window", 600.0),
    ("during the window", 7200.0),
    ("after the window", 14_400.0),
];
pub const REVOKE: [&str; 2] = ["at_window_end", "never"];
/// The window's end and the Connect JWT lifetime at the defaults, s (`migration_start` +
/// `migration_window`, `jwt_exp`).
const WINDOW_END_S: f64 = 3.0 * 3600.0;
const JWT_EXP_S: f64 = 180.0;

/// One row: what was stolen, when, under which `connect_revoke`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Case {
    pub credential: &'static str,
    pub label: &'static str,
    pub when: &'static str,
    pub at_s: f64,
    pub revoke: &'static str,
}

pub fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    for (credential, label) in CREDENTIALS {
        for (when, at_s) in WHEN {
            for revoke in REVOKE {
                out.push(Case {
                    credential,
                    label,
                    when,
                    at_s,
                    revoke,
                });
            }
        }
    }
    out
}

fn request(c: &Case, seed: u64) -> AttackRequest {
    AttackRequest {
        mechanism: "migration".into(),
        sets: vec![format!("connect_revoke={}", c.revoke)],
        credential: Some(c.credential.into()),
        from: From::Store,
        mode: Mode::Snapshot,
        at_s: c.at_s,
        revoke_at_s: None,
        seed,
        preset: "same-region".into(),
        without_key: false,
        reads_end_at_s: None,
        victim: tokenlab_properties::attack::DEFAULT_VICTIM,
    }
}

/// The command that reproduces one row.
pub fn command(c: &Case, seed: u64) -> String {
    format!(
        "cargo run --release -- attack --mechanism migration --set connect_revoke={} --steal {} --at-s {} --seed {seed} --json",
        c.revoke, c.credential, c.at_s
    )
}

/// The time of the last Accept the theft bought, s; `None`: it bought nothing.
fn last_accept_s(c: &Case, r: &AttackResult) -> Option<f64> {
    r.exposure_window_s.map(|w| c.at_s + w)
}

/// Whether the theft bought an Accept after the window's end plus `jwt_exp`.
fn past_bound(c: &Case, r: &AttackResult) -> bool {
    r.accepted > 0 && last_accept_s(c, r).is_some_and(|t| t > WINDOW_END_S + JWT_EXP_S)
}

/// The rule: a stolen sharedSecret buys nothing past the window's end + `jwt_exp` when it is
/// retired there (every `at_window_end` row), and the negative control (`never`) shows the
/// rule can fail (some `never` row buys more). Otherwise refuted, or open where the control
/// bought nothing.
pub fn migration_rule(rows: &[(Case, AttackResult)]) -> Verdict {
    let secret = |revoke: &str| {
        rows.iter()
            .filter(|(c, _)| c.credential == "shared_secret" && c.revoke == revoke)
            .collect::<Vec<_>>()
    };
    let retired = secret("at_window_end");
    let never = secret("never");
    if retired.iter().any(|(c, r)| past_bound(c, r)) {
        return Verdict::Refuted;
    }
    let control = never.iter().filter(|(c, r)| past_bound(c, r)).count();
    if retired.is_empty() || control == 0 {
        return Verdict::NotEvaluated(
            "the negative control (connect_revoke=never) bought nothing past the window: the runs cannot tell".into(),
        );
    }
    Verdict::Supported
}

/// The rule applied as if the platform retired the sharedSecret as `revoke` says: the rows
/// measured with `revoke` stand for the retired secret (the control rows stay as measured).
/// `at_window_end` is the measured verdict; `never` is where it flips.
pub fn rule_as_if(rows: &[(Case, AttackResult)], revoke: &'static str) -> Verdict {
    let mut alt: Vec<(Case, AttackResult)> = rows
        .iter()
        .filter(|(c, _)| c.revoke == "never")
        .cloned()
        .collect();
    alt.extend(
        rows.iter()
            .filter(|(c, _)| c.revoke == revoke)
            .map(|(c, r)| {
                (
                    Case {
                        revoke: "at_window_end",
                        ..*c
                    },
                    r.clone(),
                )
            }),
    );
    migration_rule(&alt)
}

/// The migration section.
pub fn section(seed: u64) -> Section {
    let title = "Connect → Forge migration: what a leak buys during and after the window";
    let claim = "Issue 13 item 4: during a migration window an installation holds both a Connect sharedSecret and a Forge credential. Retiring the sharedSecret at the window's end bounds a leak of it by the window's end plus the Connect JWT lifetime; never retiring it leaves it unbounded (threats.md §3 P4).";
    let experiment = format!(
        "The composite `migration` (connect-jwt + trigger on one installation; migration_start=1h, migration_window=2h, migration_use=forge, jwt_exp=180s): 4 tenants, 6 demands per tenant-hour. The attacker steals one credential of tenant 1 from P's store at the given time and uses it as threats.md §2 says (it signs Connect JWTs with the secret, calls the URL), probing every 60 s while it is accepted; the run ends 12 h after the theft. Seed {seed}."
    );
    let runs: Vec<_> = cases()
        .par_iter()
        .map(|c| attack(&request(c, seed)).map(|r| (*c, r)))
        .collect();
    let mut rows = Vec::new();
    for run in runs {
        match run {
            Ok(row) => rows.push(row),
            Err(e) => {
                return Section::runs_failed("MIG", title, claim, &experiment, &e.to_string());
            }
        }
    }
    let verdict = migration_rule(&rows);
    let sweep = REVOKE
        .iter()
        .map(|r| SweepPoint {
            value: format!("connect_revoke={r}"),
            verdict: rule_as_if(&rows, r).kind().to_string(),
        })
        .collect();
    let table = rows
        .iter()
        .map(|(c, r)| {
            vec![
                c.label.to_string(),
                format!("{} ({:.0} s)", c.when, c.at_s),
                c.revoke.to_string(),
                format!("{}", r.accepted),
                format!("{}", r.tenants_compromised),
                last_accept_s(c, r).map_or("-".into(), |t| format!("{:.2} h", t / 3600.0)),
                format!(
                    "{:.2}",
                    r.tenants_compromised as f64 * r.exposure_window_s.unwrap_or(0.0) / 3600.0
                ),
                if past_bound(c, r) { "yes" } else { "no" }.to_string(),
            ]
        })
        .collect();
    Section {
        id: "MIG".into(),
        title: title.into(),
        claim: claim.into(),
        experiment,
        blocks: vec![
            Block::table(
                &[
                    "stolen",
                    "when",
                    "connect_revoke",
                    "accepted calls",
                    "tenants",
                    "last accepted",
                    "tenant-hours",
                    "past window end + jwt_exp",
                ],
                table,
            ),
            Block::Text {
                text: "Before the window the Forge credential does not exist yet (F provisions it at migration_start), so stealing it then buys nothing. A stolen trigger URL is the trigger's own exposure (B(URL) = none with url_rotation=never: it makes F mint for P.auth, the quota and DoS of A9), unchanged by connect_revoke. The sharedSecret signs Connect JWTs for its own installation only (P1): a leak reaches one tenant.".into(),
            },
        ],
        rule: "Supported when no connect_revoke=at_window_end theft of the sharedSecret bought an accepted call after the window's end + jwt_exp (3 h 3 min) and the negative control (connect_revoke=never) did; refuted when a retired secret still bought one; open when the control bought nothing past the window.".into(),
        verdict,
        reproduce: cases().iter().map(|c| command(c, seed)).collect(),
        evidence_kind: EvidenceKind::Measured,
        evidence_basis: "Measured: accepted calls counted from seeded attack runs; the window and the revocation rule are inputs, what the thief gets comes from the runs.".into(),
        flips_if: Some(Flip {
            assumption: "the platform retires the Connect sharedSecret at the window's end (`connect_revoke`)".into(),
            value: Some("never".into()),
            basis: "sweep",
            sweep,
        }),
        flips_if_reason: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(accepted: u64, window_s: Option<f64>) -> AttackResult {
        let r = attack(&request(&cases()[0], 1)).unwrap();
        AttackResult {
            accepted,
            exposure_window_s: window_s,
            ..r
        }
    }

    #[test]
    fn the_rule_flips_when_a_retired_secret_outlives_the_window() {
        let cs = cases();
        let revoked = cs
            .iter()
            .find(|c| c.credential == "shared_secret" && c.revoke == "at_window_end")
            .copied()
            .unwrap();
        let never = cs
            .iter()
            .find(|c| c.credential == "shared_secret" && c.revoke == "never")
            .copied()
            .unwrap();
        // Retired at the window's end (last accept at 2 h) and the control past it: supported.
        let ok = vec![
            (revoked, result(100, Some(7200.0 - revoked.at_s))),
            (never, result(700, Some(40_000.0))),
        ];
        assert_eq!(migration_rule(&ok), Verdict::Supported);
        // The flip: the retired secret is accepted after 3 h 3 min.
        let leak = vec![
            (revoked, result(100, Some(20_000.0))),
            (never, result(700, Some(40_000.0))),
        ];
        assert_eq!(migration_rule(&leak), Verdict::Refuted);
        // A control that bought nothing past the window leaves it open.
        let vacuous = vec![
            (revoked, result(100, Some(600.0))),
            (never, result(100, Some(600.0))),
        ];
        assert!(matches!(migration_rule(&vacuous), Verdict::NotEvaluated(_)));
        // The sweep: as measured at at_window_end, refuted as if the secret were never retired.
        assert_eq!(rule_as_if(&ok, "at_window_end"), Verdict::Supported);
        assert_eq!(rule_as_if(&ok, "never"), Verdict::Refuted);
    }

    #[test]
    fn the_reproduce_command_names_the_switch_and_the_theft() {
        let c = command(&cases()[1], 7);
        assert!(
            c.contains(
                "--mechanism migration --set connect_revoke=never --steal shared_secret --at-s 600"
            ),
            "{c}"
        );
        assert!(c.contains("--seed 7"));
    }
}
