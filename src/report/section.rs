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

impl Verdict {
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

#[derive(Clone, Debug, Serialize)]
pub struct Section {
    pub id: String,
    pub title: String,
    pub claim: String,
    pub experiment: String,
    pub blocks: Vec<Block>,
    pub rule: String,
    pub verdict: Verdict,
    pub reproduce: Vec<String>,
}

/// One entry of the document, in reading order.
#[derive(Clone, Debug)]
pub enum Item {
    /// A top-level heading (below the title).
    Heading(String),
    Block(Block),
    /// A section at `level` (2: a hypothesis; 3: a subsection, whose anchor gets `anchor_prefix`).
    Section {
        section: Section,
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
