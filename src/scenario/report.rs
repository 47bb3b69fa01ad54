//! `tokenlab run FILE --out DIR`: a small report of one scenario, through the evidence
//! report's own section model and renderers (`report::section`, `report::render`), so it reads
//! like a section of the RFC report: `DIR/scenario.md`, `DIR/scenario.html` and
//! `DIR/data/scenario.json` (what `--json` prints).

use super::run::PointOut;
use crate::report::charts::Drawn;
use crate::report::render::{html, markdown, write_file};
use crate::report::section::{Block, Document, Item};
use anyhow::Result;
use std::collections::BTreeMap;
use std::path::Path;
use tokenlab_models::sim::Scenario;

fn cell(v: Option<f64>) -> String {
    crate::fmt_opt(v)
}

/// What the file set up, in words and numbers.
fn setup(file: &str, s: &Scenario, plan_steps: usize) -> Block {
    Block::table(
        &["setting", "value"],
        vec![
            vec!["file".into(), format!("`{file}`")],
            vec!["mechanism".into(), format!("`{}`", s.mechanism)],
            vec![
                "switches".into(),
                if s.sets.is_empty() {
                    "defaults".into()
                } else {
                    s.sets.join(", ")
                },
            ],
            vec!["network".into(), s.preset.clone()],
            vec![
                "workload".into(),
                format!(
                    "{} tenants, {} s, {} demands/tenant-hour, seed {:#x}",
                    s.tenants, s.duration_s, s.demands_per_tenant_hour, s.seed
                ),
            ],
            vec!["nemesis actions".into(), s.nemesis.len().to_string()],
            vec!["attacker steps".into(), plan_steps.to_string()],
        ],
    )
}

/// Writes the report of `points` (one without a sweep) to `dir`.
pub fn write(
    dir: &Path,
    file: &str,
    scenario: &Scenario,
    plan_steps: usize,
    params: &[String],
    points: &[PointOut],
    json: &str,
) -> Result<()> {
    let mut items = vec![
        Item::Block(Block::Text {
            text: format!(
                "Reproduce: `cargo run --release -- run {file}` (add `--json` for the data). \
                 Simulated virtual time; latencies in ms. Bounded, seeded model testing: \
                 evidence, not a proof."
            ),
        }),
        Item::Heading(if params.is_empty() {
            "Setup".into()
        } else {
            "Setup (the first point of the sweep)".into()
        }),
        Item::Block(setup(file, scenario, plan_steps)),
        Item::Heading(if params.is_empty() {
            "Result".into()
        } else {
            format!("Sweep over {}", params.join(" × "))
        }),
    ];
    let mut headers: Vec<&str> = params.iter().map(String::as_str).collect();
    headers.extend(["demands", "success", "lat_p50 ms", "lat_p99 ms"]);
    let props: Vec<String> = points
        .first()
        .map(|p| p.verdicts.iter().map(|v| v.0.clone()).collect())
        .unwrap_or_default();
    headers.extend(props.iter().map(String::as_str));
    let rows = points
        .iter()
        .map(|p| {
            let mut r: Vec<String> = p.values.iter().map(|(_, v)| v.clone()).collect();
            r.extend([
                p.demands.to_string(),
                format!("{:.4}", p.success_rate),
                cell(p.lat_p50),
                cell(p.lat_p99),
            ]);
            r.extend(p.verdicts.iter().map(|(_, v, ok)| {
                if *ok {
                    v.clone()
                } else {
                    format!("{v} (not as expected)")
                }
            }));
            r
        })
        .collect();
    items.push(Item::Block(Block::table(&headers, rows)));
    let ok = points.iter().all(|p| p.verdicts.iter().all(|v| v.2));
    items.push(Item::Block(Block::Text {
        text: if props.is_empty() {
            "No properties named; nothing judged.".into()
        } else if ok {
            "Every verdict is the one the file expects.".into()
        } else {
            "At least one verdict differs from the file's expectation (marked).".into()
        },
    }));
    let doc = Document {
        title: format!("Scenario {file}"),
        items,
    };
    let drawn = Drawn {
        figures: Vec::new(),
        sequences: BTreeMap::new(),
    };
    write_file(
        &dir.join("scenario.md"),
        markdown(&doc, &BTreeMap::new()).as_bytes(),
    )?;
    write_file(&dir.join("scenario.html"), html(&doc, &drawn).as_bytes())?;
    write_file(
        &dir.join("data/scenario.json"),
        format!("{json}\n").as_bytes(),
    )?;
    Ok(())
}
