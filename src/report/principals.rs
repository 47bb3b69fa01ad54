//! Issue 12's H12 section: user tokens. Users as principals beside the app
//! (`tokenlab_models::principals`): per mechanism, which principals its root credential can
//! act as offline (the capability matrix, from the principal layer's exhaustive enumeration
//! against the AS's claim check and the product API's principal check), and what a stolen
//! root credential buys in users (`tokenlab attack`'s `users_compromised`: the tenants the
//! theft reached in the run, times the users the item acts as). The verdict is a pure rule
//! over the matrix, tested below by flipping it. Kept out of `analysis.rs`, which only calls
//! [`h12`].

use super::section::{Block, EvidenceKind, Flip, Section, SweepPoint, Verdict};
use tokenlab_models::mechanisms::{find, resolve};
use tokenlab_models::principals::{
    Principal, PrincipalConfig, REPORT_USERS, UserClaim, offline_reach,
};
use tokenlab_properties::attack::{AttackRequest, From, attack};
use tokenlab_properties::principals::principal_run;

/// The section's configurations: each mechanism with the user capability the spec gives it
/// switched on, and connect-jwt without `act_as_user` as well (3 users per tenant).
pub const H12_ROWS: [(&str, &[&str]); 8] = [
    ("push", &[]),
    ("trigger", &[]),
    ("global-secret", &[]),
    ("tenant-secret", &[]),
    ("refresh", &["user_grant=on"]),
    ("upm-oauth", &["user_grant=on"]),
    ("connect-jwt", &[]),
    ("connect-jwt", &["act_as_user=on"]),
];

/// What the spec expects a mechanism's root credential to act as (`hypotheses.md` H12).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// The app only: a request for a user T is refused.
    AppOnly,
    /// The app and every user of its tenant (connect-jwt with `act_as_user`, 2LOi).
    AnyUser,
    /// Per RT, the user who consented (refresh, upm-oauth with a user grant); the app's RT,
    /// the app.
    OwnUser,
}

/// One row of the capability matrix.
#[derive(Clone, Debug, PartialEq)]
pub struct H12Row {
    pub mechanism: String,
    pub sets: Vec<String>,
    pub expect: Expect,
    /// Users of its own tenant the root credential acted as (of [`REPORT_USERS`]).
    pub root_users: u64,
    /// The root credential acted as the app.
    pub root_app: bool,
    /// Per user RT (user grants only): the most users one RT acted as.
    pub users_per_user_rt: Option<u64>,
    /// Principal-clause violations (P1) and requests that reached a principal check.
    pub violations: u64,
    pub reached: u64,
    /// The stolen root credential in `tokenlab attack` (store breach where the root is not a
    /// single stealable item of the principal layer): tenants reached and users bought.
    pub stolen: String,
    pub tenants_reached: u64,
    pub users_bought: Option<u64>,
}

fn expect_of(mechanism: &str, sets: &[&str]) -> Expect {
    match (
        mechanism,
        sets.contains(&"act_as_user=on"),
        sets.contains(&"user_grant=on"),
    ) {
        ("connect-jwt", true, _) => Expect::AnyUser,
        ("refresh" | "upm-oauth", _, true) => Expect::OwnUser,
        _ => Expect::AppOnly,
    }
}

fn row_sets(sets: &[&str], claim: UserClaim) -> Vec<String> {
    let mut v = vec![format!("users={REPORT_USERS}")];
    v.extend(sets.iter().map(|s| s.to_string()));
    if claim == UserClaim::Honoured {
        v.push("as_user_claim=honoured".into());
    }
    v
}

/// The matrix from the principal layer alone (no simulator run): cheap, so the flip sweep
/// recomputes it with the AS honouring claimed users.
pub fn h12_matrix(claim: UserClaim) -> Result<Vec<H12Row>, String> {
    let mut rows = Vec::new();
    for (m, sets) in H12_ROWS {
        let all = row_sets(sets, claim);
        let (_, _, params) = resolve(m, &all).map_err(|e| e.to_string())?;
        let cfg = PrincipalConfig::from_params(&params);
        let run = principal_run(cfg);
        let reach = offline_reach(&run);
        let root_kind = if cfg.shared_secret {
            "shared_secret"
        } else {
            "app grant"
        };
        let root = reach.get(root_kind).cloned().unwrap_or_default();
        let users = |s: &std::collections::BTreeSet<Principal>| {
            s.iter().filter(|p| matches!(p, Principal::User(_))).count() as u64
        };
        let per_user_rt = reach
            .iter()
            .filter(|(k, _)| k.starts_with("user-"))
            .map(|(_, s)| users(s))
            .max();
        let stolen = match find(m).map(|x| x.root_credential()) {
            Some("shared_secret") => "shared_secret".to_string(),
            _ => "store".to_string(),
        };
        rows.push(H12Row {
            mechanism: m.into(),
            sets: all,
            expect: expect_of(m, sets),
            root_users: users(&root),
            root_app: root.contains(&Principal::App),
            users_per_user_rt: per_user_rt,
            violations: run.violations.len() as u64,
            reached: run.reached,
            stolen,
            tenants_reached: 0,
            users_bought: None,
        });
    }
    Ok(rows)
}

fn attack_request(r: &H12Row, seed: u64) -> AttackRequest {
    let credential = (r.stolen != "store").then_some(r.stolen.as_str());
    AttackRequest::snapshot(&r.mechanism, &r.sets, credential, From::Store, seed)
}

/// The reproduce command of a row's attack run.
pub fn h12_command(r: &H12Row, seed: u64) -> String {
    let what = if r.stolen == "store" {
        "--breach store --mode snapshot".to_string()
    } else {
        format!("--steal {}", r.stolen)
    };
    let sets: String = r.sets.iter().map(|s| format!(" --set {s}")).collect();
    format!(
        "cargo run --release -- attack --mechanism {}{sets} {what} --seed {seed} --json",
        r.mechanism
    )
}

/// The matrix plus one `tokenlab attack` run per row (8 runs of 4 tenants, each with its
/// counterfactual).
pub fn h12_data(seed: u64) -> Result<Vec<H12Row>, String> {
    let mut rows = h12_matrix(UserClaim::Verified)?;
    for r in &mut rows {
        let a = attack(&attack_request(r, seed)).map_err(|e| e.to_string())?;
        r.tenants_reached = a.tenants_compromised;
        r.users_bought = a.users_compromised;
    }
    Ok(rows)
}

/// A row as the spec expects it: the root credential's principals, each user RT's, and no
/// principal escapes.
fn as_expected(r: &H12Row) -> bool {
    let users = u64::from(REPORT_USERS);
    let shape = match r.expect {
        Expect::AppOnly => r.root_app && r.root_users == 0 && r.users_per_user_rt.is_none(),
        Expect::AnyUser => r.root_app && r.root_users == users,
        Expect::OwnUser => r.root_app && r.root_users == 0 && r.users_per_user_rt == Some(1),
    };
    shape && r.violations == 0
}

/// Supported when every mechanism acts as exactly the principals the spec gives it (push,
/// trigger and the client-secret mechanisms the app only, connect-jwt with `act_as_user`
/// every user, a user RT its own user) with no principal escape and the checks reached;
/// refuted otherwise.
pub fn h12_rule(rows: &[H12Row]) -> Verdict {
    if rows.is_empty() {
        return Verdict::NotEvaluated("no principal runs".into());
    }
    if let Some(r) = rows.iter().find(|r| r.reached == 0) {
        return Verdict::NotEvaluated(format!("{} never reached a principal check", r.mechanism));
    }
    if rows.iter().all(as_expected) {
        Verdict::Supported
    } else {
        Verdict::Refuted
    }
}

fn principals_cell(r: &H12Row) -> String {
    let mut parts = Vec::new();
    if r.root_app {
        parts.push("app".to_string());
    }
    if r.root_users > 0 {
        parts.push(format!("{} of {REPORT_USERS} users", r.root_users));
    }
    if let Some(u) = r.users_per_user_rt {
        parts.push(format!("each user's RT: {u} user (its own)"));
    }
    if parts.is_empty() {
        "nothing".into()
    } else {
        parts.join("; ")
    }
}

pub fn h12(seed: u64) -> Section {
    let title = "User tokens";
    let claim = "\"Do you have any plans to get a user token too? We will need it too\" [F: thread]; user impersonation is unsolved [F: preview].";
    let experiment = format!(
        "Users as principals beside the app ({REPORT_USERS} per tenant, `users={REPORT_USERS}`): a token carries the principal it acts as, the AS checks a claimed user against the credential's grant, the product API lets a user token reach its own user's data only and refuses an app token that claims a user. Per mechanism, every credential P holds is presented claiming every principal, for every tenant, and every token it gets is presented for every principal's data (the principal layer's exhaustive enumeration, P1's principal clause); then one `tokenlab attack` run per row steals the root credential (a store snapshot where the root is not Connect's shared secret), 4 tenants, theft at 600 s."
    );
    let data = match h12_data(seed) {
        Ok(d) => d,
        Err(e) => {
            return Section::runs_failed("H12", title, claim, &experiment, &e.to_string());
        }
    };
    let verdict = h12_rule(&data);
    let honoured = h12_matrix(UserClaim::Honoured).unwrap_or_default();
    let honoured_verdict = h12_rule(&honoured);
    let rows = data
        .iter()
        .map(|r| {
            vec![
                format!(
                    "{}{}",
                    r.mechanism,
                    r.sets
                        .iter()
                        .filter(|s| !s.starts_with("users="))
                        .map(|s| format!(" {s}"))
                        .collect::<String>()
                ),
                principals_cell(r),
                r.violations.to_string(),
                r.reached.to_string(),
                r.stolen.clone(),
                r.tenants_reached.to_string(),
                r.users_bought
                    .map(|u| u.to_string())
                    .unwrap_or_else(|| "—".into()),
                if as_expected(r) { "yes" } else { "no" }.into(),
            ]
        })
        .collect();
    let flip_value = (honoured_verdict.kind() != verdict.kind()).then(|| "honoured".to_string());
    let sweep = vec![
        SweepPoint {
            value: "verified".into(),
            verdict: verdict.kind().into(),
        },
        SweepPoint {
            value: "honoured".into(),
            verdict: honoured_verdict.kind().into(),
        },
    ];
    Section {
        id: "H12".into(),
        title: title.into(),
        claim: claim.into(),
        experiment,
        blocks: vec![
            Block::table(
                &[
                    "mechanism",
                    "the root credential acts as, offline",
                    "principal escapes (P1)",
                    "principal checks reached",
                    "stolen in the attack run",
                    "tenants reached",
                    "users bought",
                    "as the spec expects",
                ],
                rows,
            ),
            Block::Text {
                text: format!(
                    "Offline means without the user present: what P (or whoever holds its credential) can mint on its own. \"Users bought\" is the tenants the theft reached in the attack run times the users the stolen item acts as ({REPORT_USERS} per tenant here; it scales with the tenant's users). A store snapshot of refresh or upm-oauth with user grants takes every consenting user's RT; a single stolen RT buys its one user. With the AS honouring a claimed user (`as_user_claim=honoured`, a mutant) every app-only credential becomes a user credential and the verdict is {}.",
                    honoured_verdict.kind()
                ),
            },
        ],
        rule: "Supported when every mechanism's credentials act as exactly the principals the spec gives them (push, trigger, global-secret and tenant-secret the app only, a user-token request refused; connect-jwt the app, plus every user of its tenant with `act_as_user`; refresh and upm-oauth with a user grant: each RT its own consenting user) and no request escapes its grant, with every row's principal checks reached; refuted otherwise.".into(),
        verdict,
        reproduce: std::iter::once(
            "cargo test -p tokenlab-properties --test principals".to_string(),
        )
        .chain(data.iter().map(|r| h12_command(r, seed)))
        .collect(),
        evidence_kind: EvidenceKind::ModelConsistency,
        evidence_basis: "Model consistency: each mechanism's grant is a model input taken from mechanisms.md (ACT_AS_USER, the user grant, app-only push and trigger); the runs show the AS and the product API enforce exactly that grant (no principal escape in the exhaustive enumeration, and the mutants that skip either check are caught), and the tenants a theft reaches come from the attack runs. The simulated workload is app-only.".into(),
        flips_if: Some(Flip {
            assumption: "whether the AS checks a claimed user against the credential's grant (`as_user_claim`)".into(),
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

    #[test]
    fn the_matrix_is_the_spec_and_the_rule_flips() {
        let rows = h12_matrix(UserClaim::Verified).unwrap();
        assert_eq!(h12_rule(&rows), Verdict::Supported);
        // An app-only mechanism that acted as a user refutes it.
        let mut bad = rows.clone();
        let t = bad.iter_mut().find(|r| r.mechanism == "trigger").unwrap();
        t.root_users = 1;
        assert_eq!(h12_rule(&bad), Verdict::Refuted);
        // So does a principal escape anywhere.
        let mut bad = rows.clone();
        bad[4].violations = 1;
        assert_eq!(h12_rule(&bad), Verdict::Refuted);
        // And the AS that honours claimed users.
        assert_eq!(
            h12_rule(&h12_matrix(UserClaim::Honoured).unwrap()),
            Verdict::Refuted
        );
        // Nothing reached: open.
        let mut open = rows;
        open[0].reached = 0;
        assert!(matches!(h12_rule(&open), Verdict::NotEvaluated(_)));
    }
}
