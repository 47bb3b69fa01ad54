//! "How hard we looked": the strength of every security verdict (`threats.md` §7), per
//! mechanism, computed from the matrix rows' evidence.

use super::section::Block;
use tokenlab_properties::VerdictKind;
use tokenlab_properties::suite::{MatrixRow, miss_bound_1pct};

/// One mechanism's line of the table.
#[derive(Clone, Debug, PartialEq)]
pub struct Strength {
    pub mechanism: String,
    pub rows: usize,
    /// Violations whose counterexample came from the small world's search.
    pub violated_by_search: usize,
    /// Violations found only by the full-size random cases.
    pub violated_by_sampling: usize,
    /// `holds` rows whose small world was exhausted within K.
    pub holds_exhausted: usize,
    pub holds_not_exhausted: usize,
    /// The fewest full-size cases behind any `holds` row.
    pub min_cases: Option<u32>,
    pub search_runs: u64,
}

/// Groups the matrix by mechanism, in the matrix's order.
pub fn strengths(matrix: &[MatrixRow]) -> Vec<Strength> {
    let mut out: Vec<Strength> = Vec::new();
    for r in matrix {
        let i = match out.iter().position(|s| s.mechanism == r.mechanism) {
            Some(i) => i,
            None => {
                out.push(Strength {
                    mechanism: r.mechanism.clone(),
                    rows: 0,
                    violated_by_search: 0,
                    violated_by_sampling: 0,
                    holds_exhausted: 0,
                    holds_not_exhausted: 0,
                    min_cases: None,
                    search_runs: 0,
                });
                out.len() - 1
            }
        };
        let s = &mut out[i];
        s.rows += 1;
        let exhausted = r.evidence.as_ref().is_some_and(|e| e.exhaustive.exhausted);
        s.search_runs += r.evidence.as_ref().map_or(0, |e| e.exhaustive.runs);
        match r.verdict {
            VerdictKind::Violated => {
                let small = r.choices.as_deref().is_some_and(|c| c.contains("/small"));
                if small {
                    s.violated_by_search += 1;
                } else {
                    s.violated_by_sampling += 1;
                }
            }
            VerdictKind::Holds => {
                if exhausted {
                    s.holds_exhausted += 1;
                } else {
                    s.holds_not_exhausted += 1;
                }
                s.min_cases = Some(s.min_cases.map_or(r.cases, |m| m.min(r.cases)));
            }
            _ => {}
        }
    }
    out
}

/// A row's evidence in a few characters: `exh 412/K1 + 30` (exhausted), `412/K1 + 300`.
pub fn cell(r: &MatrixRow) -> String {
    match &r.evidence {
        None => format!("{} case(s)", r.cases),
        Some(e) => format!(
            "{}{}/K{} + {}",
            if e.exhaustive.exhausted { "exh " } else { "" },
            e.exhaustive.runs,
            e.exhaustive.max_unusual,
            e.sampled.cases
        ),
    }
}

/// The table and its reading.
pub fn blocks(matrix: &[MatrixRow]) -> Vec<Block> {
    let rows: Vec<Vec<String>> = strengths(matrix)
        .iter()
        .map(|s| {
            vec![
                s.mechanism.clone(),
                s.rows.to_string(),
                s.violated_by_search.to_string(),
                s.violated_by_sampling.to_string(),
                s.holds_exhausted.to_string(),
                s.holds_not_exhausted.to_string(),
                s.min_cases.map_or("—".into(), |n| n.to_string()),
                s.min_cases.map_or("—".into(), |n| {
                    format!("{:.1}%", 100.0 * miss_bound_1pct(n))
                }),
                s.search_runs.to_string(),
            ]
        })
        .collect();
    let k = matrix
        .iter()
        .find_map(|r| r.evidence.as_ref().map(|e| e.exhaustive.max_unusual))
        .unwrap_or(0);
    vec![
        Block::Text {
            text: format!(
                "How hard we looked. Every row's small world (threats.md §7: 2 tenants and the attacker, TTL 120 s, grace 5 s, probe 10 s) was searched exhaustively within {k} non-default choice(s), then its full-size world ran random cases. A `holds` is bounded: no counterexample within the bound in the scaled world, none in the sampled runs; the miss bound is the probability that an event of per-case probability 1% was missed by the fewest cases behind any `holds` row of the mechanism (0.99^n). A violation found by search carries a replayable choice string."
            ),
        },
        Block::table(
            &[
                "mechanism",
                "rows",
                "violated (search)",
                "violated (sampling)",
                "holds, exhausted",
                "holds, not exhausted",
                "min cases (holds)",
                "1% event missed ≤",
                "search runs",
            ],
            rows,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokenlab_properties::suite::{Evidence, ExhaustiveEvidence, SampledEvidence};

    fn row(
        m: &str,
        verdict: VerdictKind,
        exhausted: bool,
        cases: u32,
        choices: Option<&str>,
    ) -> MatrixRow {
        MatrixRow {
            mechanism: m.into(),
            variant: None,
            property: "P4".into(),
            name: "bounded exposure",
            verdict,
            expected: verdict,
            cases,
            reached: 1,
            counterexample: None,
            matches: true,
            seeds: Vec::new(),
            evidence: Some(Evidence {
                exhaustive: ExhaustiveEvidence {
                    runs: 10,
                    exhausted,
                    max_unusual: 1,
                    distinct_histories: 10,
                },
                sampled: SampledEvidence {
                    cases,
                    miss_bound_1pct: miss_bound_1pct(cases),
                },
            }),
            choices: choices.map(str::to_string),
        }
    }

    #[test]
    fn rows_are_counted_by_how_their_verdict_was_reached() {
        let m = [
            row(
                "refresh",
                VerdictKind::Violated,
                false,
                0,
                Some("tl1/refresh/P4/small/1/0=3"),
            ),
            row(
                "refresh",
                VerdictKind::Violated,
                false,
                2,
                Some("tl1/refresh/P4/full/9/random"),
            ),
            row("refresh", VerdictKind::Holds, true, 30, None),
            row("refresh", VerdictKind::Holds, false, 300, None),
            row("push", VerdictKind::Holds, false, 300, None),
        ];
        let s = strengths(&m);
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].violated_by_search, s[0].violated_by_sampling), (1, 1));
        assert_eq!((s[0].holds_exhausted, s[0].holds_not_exhausted), (1, 1));
        assert_eq!(s[0].min_cases, Some(30));
        assert_eq!(s[0].search_runs, 40);
        // One fewer case behind a holds row moves the bound: the table is computed.
        let mut fewer = m.clone();
        fewer[2].cases = 29;
        assert_eq!(strengths(&fewer)[0].min_cases, Some(29));
    }
}
