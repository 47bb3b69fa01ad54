//! Controls that make every verdict of the security matrix falsifiable:
//! - every negative-control row of expectations.md is seen FAILING (a counterexample), and its
//!   positive control (the default design, the same requests made validly) is accepted;
//! - a mutant that switches off one verifier check flips a holding verdict to violated;
//! - every `holds`/`violated` verdict was reached (the attack or fault actually hit the check);
//! - one sampled case per row misses exactly the grace-window rows, which the search finds.

use tokenlab_models::history::Event;
use tokenlab_models::ids::Party;
use tokenlab_properties::suite::{
    CheckBudget, Expectation, execute, expectations, run_row, run_row_searched, runs_for,
};
use tokenlab_properties::{Property, VerdictKind};

const SEED: u64 = 0x5eed;

/// `check`'s search with one full-size case per row: the grace-window rows need a few hundred
/// search runs, the other negative controls violate at once.
const SEARCH: CheckBudget = CheckBudget {
    explore_budget: 1000,
    ..CheckBudget::QUICK
};

fn row(mechanism: &str, sets: &[&str], property: &str) -> Expectation {
    Expectation::adhoc(mechanism, sets, property.parse().unwrap())
}

/// P's own presentations that the verifiers accepted in the row's runs: the positive control.
fn partner_accepts(mechanism: &str, property: Property) -> u64 {
    let mut n = 0;
    for mut spec in runs_for(mechanism, &[], property) {
        spec.scenario.seed = SEED;
        let (h, _) = execute(&spec).unwrap();
        let mut by_partner = std::collections::BTreeSet::new();
        for r in &h.records {
            match &r.event {
                Event::Present {
                    who: Party::Partner(_),
                    req,
                    ..
                } => {
                    by_partner.insert(*req);
                }
                Event::Accept { req, .. } if by_partner.contains(req) => n += 1,
                _ => {}
            }
        }
    }
    n
}

#[test]
fn negative_controls_fail_then_positive_controls_pass() {
    let all = expectations();
    let negatives: Vec<&Expectation> = all
        .iter()
        .filter(|e| e.variant.is_some() && e.expected == VerdictKind::Violated)
        .collect();
    assert!(
        negatives.len() >= 20,
        "{} negative controls",
        negatives.len()
    );
    for e in negatives {
        let r = run_row_searched(e, &SEARCH, SEED);
        assert_eq!(
            r.verdict,
            VerdictKind::Violated,
            "{} {}: {r:?}",
            e.row,
            e.property
        );
        assert!(r.reached > 0, "{} {} never reached", e.row, e.property);
        let c = r.counterexample.as_deref().unwrap_or("");
        assert!(
            c.contains("1. ") && c.contains("violation"),
            "{} {}: {c}",
            e.row,
            e.property
        );
        // Positive control: the default design, where the same requests made validly pass;
        // where the default itself is a finding (F-grace: the default 30 s grace window), its
        // documented positive control, no grace window.
        // A composite (`migration`) has no default row: its sound variant row is the control.
        let default = all
            .iter()
            .find(|d| d.variant.is_none() && d.mechanism == e.mechanism && d.property == e.property)
            .or_else(|| {
                all.iter().find(|d| {
                    d.mechanism == e.mechanism
                        && d.property == e.property
                        && d.expected == VerdictKind::Holds
                })
            })
            .expect("every property has a default row or, for a composite, a sound row");
        let control = if default.expected == VerdictKind::Violated {
            row(&e.mechanism, &["grace_window=0"], &e.property.to_string())
        } else {
            default.clone()
        };
        let d = run_row_searched(&control, &CheckBudget::QUICK, SEED);
        assert_ne!(
            d.verdict,
            VerdictKind::Violated,
            "{} {} positive control {}",
            e.mechanism,
            e.property,
            control.row
        );
        assert!(
            partner_accepts(&e.mechanism, e.property) > 0,
            "{} {}: P's valid requests must be accepted",
            e.mechanism,
            e.property
        );
    }
}

#[test]
fn mutants_that_switch_off_one_check_flip_the_verdict() {
    for (mechanism, mutant, property) in [
        // The AS's installation binding.
        ("refresh", "as_binding=off", "P1"),
        ("tenant-secret", "as_binding=off", "P1"),
        // FIT verification at P.auth / P.recv.
        ("trigger", "fit_check=off", "P8"),
        ("push", "fit_check=off", "P8"),
        // The exact redirect match.
        ("upm-oauth", "redirect_match=prefix", "P7"),
        // A fail-open JWKS.
        ("trigger", "jwks_fail=open", "P10"),
        // The platform's installation recheck at every mint.
        ("push", "recheck_install=off", "P3"),
    ] {
        let sound = run_row(&row(mechanism, &[], property), 1, SEED);
        assert_eq!(
            sound.verdict,
            VerdictKind::Holds,
            "{mechanism} {property}: {sound:?}"
        );
        assert!(
            sound.reached > 0,
            "{mechanism} {property} sound run not reached"
        );
        let broken = run_row(&row(mechanism, &[mutant], property), 1, SEED);
        assert_eq!(
            broken.verdict,
            VerdictKind::Violated,
            "{mechanism}[{mutant}] {property}: {broken:?}"
        );
    }
}

#[test]
fn the_matrix_reproduces_expectations_and_every_verdict_is_reached() {
    let matrix = tokenlab_properties::suite::security_matrix(1, 1);
    assert_eq!(matrix.len(), expectations().len());
    let mut mismatches = Vec::new();
    for r in &matrix {
        if matches!(r.verdict, VerdictKind::Holds | VerdictKind::Violated) {
            assert!(
                r.reached > 0,
                "{} {:?} {}: a verdict nothing reached is vacuous",
                r.mechanism,
                r.variant,
                r.property
            );
        }
        if !r.matches {
            mismatches.push((r.mechanism.clone(), r.variant.clone(), r.property.clone()));
        }
    }
    let expected: Vec<(String, Option<String>, String)> =
        tokenlab_properties::suite::MISSED_BY_ONE_SAMPLE
            .iter()
            .map(|(m, v, p)| (m.to_string(), v.map(str::to_string), p.to_string()))
            .collect();
    assert_eq!(mismatches, expected, "rows one sampled case gets wrong");
    for e in expectations().iter().filter(|e| {
        tokenlab_properties::suite::MISSED_BY_ONE_SAMPLE
            .iter()
            .any(|(m, v, p)| {
                e.mechanism == *m && e.variant.as_deref() == *v && e.property.id() == *p
            })
    }) {
        let r = run_row_searched(e, &SEARCH, 1);
        assert!(
            r.matches,
            "the search finds {} {}: {r:?}",
            e.row, e.property
        );
        assert!(r.choices.is_some_and(|c| c.contains("/small")));
    }
    // Default-profile rows come first, variant rows after.
    let first_variant = matrix.iter().position(|r| r.variant.is_some()).unwrap();
    assert_eq!(first_variant, 84);
    assert!(matrix[first_variant..].iter().all(|r| r.variant.is_some()));
}
