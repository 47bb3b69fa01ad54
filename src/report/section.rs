//! The report's one section model: what every renderer walks and what `data/hypotheses.json`
//! holds. A section states a claim, an experiment, its blocks (text, tables, figures,
//! sequence diagrams), the rule and the verdict that rule computed. This module depends on
//! nothing else in `report/`: rules produce [`Verdict`]s, analysis builds [`Section`]s, the
//! renderers in `render.rs` only read them.

use serde::Serialize;

/// A computed verdict.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "verdict", content = "condition")]
pub enum Verdict {
    Supported,
    Refuted,
    /// Holds under the stated condition only.
    DependsOn(String),
    /// The experiment needs a part of tokenlab that has not landed, or a switch not modelled.
    NotEvaluated(String),
    /// Judged from real-network runs, in the report's loopback section.
    OnLoopback,
}

/// A section that no rule judged stays open (every constructor sets its own verdict).
impl Default for Verdict {
    fn default() -> Self {
        Verdict::NotEvaluated("no rule ran".into())
    }
}

impl Verdict {
    /// The verdict without its condition: what a sweep compares.
    pub fn kind(&self) -> &'static str {
        match self {
            Verdict::Supported => "supported",
            Verdict::Refuted => "refuted",
            Verdict::DependsOn(_) => "depends on",
            Verdict::NotEvaluated(_) => "not evaluated",
            Verdict::OnLoopback => "on loopback",
        }
    }
    pub fn label(&self) -> String {
        match self {
            Verdict::Supported => "supported".into(),
            Verdict::Refuted => "refuted".into(),
            Verdict::DependsOn(c) => format!("depends on: {c}"),
            Verdict::NotEvaluated(why) => format!("not evaluated: {why}"),
            Verdict::OnLoopback => "measured on loopback: see the loopback section".into(),
        }
    }
}

/// Content of a section, rendered to markdown and HTML alike.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Block {
    Text {
        text: String,
    },
    Table {
        headers: Vec<String>,
        rows: Vec<Vec<String>>,
    },
    Figure {
        name: String,
        caption: String,
    },
    Sequence {
        mechanism: String,
    },
}

impl Block {
    pub fn table(headers: &[&str], rows: Vec<Vec<String>>) -> Block {
        Block::Table {
            headers: headers.iter().map(|h| h.to_string()).collect(),
            rows,
        }
    }
}

/// What kind of evidence a verdict is (`rules::evidence_kind_rule` decides it from the data).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceKind {
    /// The outcome was open before the run: the data could have gone the other way.
    #[default]
    Measured,
    /// True by construction: an analytic identity of the model's own settings decides it, so
    /// agreement shows the model is right, not that one design is better.
    ModelConsistency,
    /// Not evaluated (or waiting on a part of tokenlab): no evidence either way.
    None,
}

impl EvidenceKind {
    pub fn label(&self) -> &'static str {
        match self {
            EvidenceKind::Measured => "measured",
            EvidenceKind::ModelConsistency => "model-consistency check",
            EvidenceKind::None => "none (not evaluated)",
        }
    }
}

/// One point of a one-parameter sweep: the parameter's value and the verdict the section's
/// rule gives there.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SweepPoint {
    pub value: String,
    pub verdict: String,
}

/// The assumption that would flip a verdict and the value at which it flips.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Flip {
    pub assumption: String,
    /// The value at which the verdict flips (`None`: not reached in the sweep shown).
    pub value: Option<String>,
    /// Where the value comes from: "sweep" (the section's own runs) or "analytic" (its formula).
    pub basis: &'static str,
    pub sweep: Vec<SweepPoint>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Section {
    pub id: String,
    pub title: String,
    pub claim: String,
    pub experiment: String,
    pub blocks: Vec<Block>,
    pub rule: String,
    pub verdict: Verdict,
    pub reproduce: Vec<String>,
    pub evidence_kind: EvidenceKind,
    /// Why the section carries that evidence kind.
    pub evidence_basis: String,
    /// `None` (null in JSON) with `flips_if_reason` saying why.
    pub flips_if: Option<Flip>,
    pub flips_if_reason: Option<String>,
}

impl Section {
    /// A section whose runs failed: left open, naming the error.
    pub fn runs_failed(id: &str, title: &str, claim: &str, experiment: &str, why: &str) -> Section {
        Section {
            id: id.into(),
            title: title.into(),
            claim: claim.into(),
            experiment: experiment.into(),
            verdict: Verdict::NotEvaluated(format!("the runs failed: {why}")),
            ..Default::default()
        }
    }
}

/// One entry of the document, in reading order.
#[derive(Clone, Debug)]
pub enum Item {
    /// A top-level heading (below the title).
    Heading(String),
    Block(Block),
    /// A section at `level` (2: a hypothesis; 3: a subsection, whose anchor gets `anchor_prefix`).
    Section {
        section: Box<Section>,
        level: u8,
        anchor_prefix: &'static str,
    },
    /// A comment line that tools find (the loopback markers), copied verbatim.
    Marker(&'static str),
}

/// The whole report as the renderers see it: a title and one list of items.
#[derive(Clone, Debug)]
pub struct Document {
    pub title: String,
    pub items: Vec<Item>,
}
