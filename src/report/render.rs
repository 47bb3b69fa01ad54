//! Renders the report: one [`Document`] walked by a markdown renderer (`rfc34-evidence.md`,
//! renders on GitHub, Mermaid sequence diagrams) and an HTML one (`rfc34-evidence.html`,
//! self-contained: figures inline, no external URL), plus the figures and `data/*.json` as
//! they were handed over. Nothing here runs, measures or judges: every input was computed in
//! the results and analysis phases, so the same inputs give the same bytes.

use super::charts::Drawn;
use super::experiments::{Metrics, PointSpec};
use super::figures::Arrow;
use super::loopback::LoopbackData;
use super::results::Results;
use super::scorecard::ScoreRow;
use super::section::{Block, Document, Item, Section, Verdict};
use super::security::SecurityData;
use anyhow::{Context, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// What `data/` holds besides the document: every input a figure or a verdict came from.
pub struct DataFiles<'a> {
    pub results: &'a Results,
    pub hypotheses: &'a [Section],
    pub security: &'a SecurityData,
    pub scorecard: &'a [ScoreRow],
    pub summary: &'a [super::summary::DesignSummary],
    pub loopback: Option<&'a LoopbackData>,
}

/// The document as markdown; sequence diagrams as Mermaid from the traces.
pub fn markdown(doc: &Document, traces: &BTreeMap<String, Vec<Arrow>>) -> String {
    let mut md = format!("# {}\n\n", doc.title);
    for item in &doc.items {
        match item {
            Item::Heading(h) => {
                let _ = writeln!(md, "## {h}\n");
            }
            Item::Block(b) => md_block(b, &mut md, traces),
            Item::Section { section, level, .. } => md_section(section, &mut md, traces, *level),
            Item::Marker(m) => {
                let _ = writeln!(md, "{m}\n");
            }
        }
    }
    // A text file ends with exactly one newline.
    md.truncate(md.trim_end().len());
    md.push('\n');
    md
}

const STYLE: &str = "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;line-height:1.45;color:#222}table{border-collapse:collapse;margin:1em 0;font-size:0.88em}th,td{border:1px solid #ccc;padding:3px 7px;text-align:left;vertical-align:top}th{background:#f3f3f3}figure{margin:1em 0}figcaption{font-style:italic;font-size:0.9em}svg{max-width:100%;height:auto}.v{font-weight:bold;padding:2px 6px;border-radius:4px}.supported{background:#d4f4dd}.refuted{background:#f8d7da}.depends{background:#fff3cd}.open{background:#e2e3e5}code{background:#f5f5f5;padding:1px 3px}";

/// The document as one self-contained HTML page; figures and sequence diagrams inline.
pub fn html(doc: &Document, drawn: &Drawn) -> String {
    let figs: BTreeMap<String, String> = drawn
        .figures
        .iter()
        .map(|f| (f.name.clone(), f.svg.clone()))
        .collect();
    let title = esc(&doc.title);
    let mut html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\n<style>{STYLE}</style></head><body>\n<h1>{title}</h1>\n"
    );
    for item in &doc.items {
        match item {
            Item::Heading(h) => {
                let _ = writeln!(html, "<h2>{}</h2>", esc(h));
            }
            Item::Block(b) => html_block(b, &mut html, &figs, &drawn.sequences),
            Item::Section {
                section,
                level,
                anchor_prefix,
            } => html_section(
                section,
                &mut html,
                &figs,
                &drawn.sequences,
                *level,
                anchor_prefix,
            ),
            Item::Marker(m) => {
                let _ = writeln!(html, "{m}");
            }
        }
    }
    html.push_str("</body></html>\n");
    html
}

/// Writes both documents, every figure and the data files under `dir`.
pub fn write_report(
    dir: &Path,
    doc: &Document,
    traces: &BTreeMap<String, Vec<Arrow>>,
    drawn: &Drawn,
    data: &DataFiles,
) -> Result<()> {
    let write = |rel: &str, bytes: &[u8]| write_file(&dir.join(rel), bytes);
    write("rfc34-evidence.md", markdown(doc, traces).as_bytes())?;
    write("rfc34-evidence.html", html(doc, drawn).as_bytes())?;
    for f in &drawn.figures {
        write(&format!("figures/{}.svg", f.name), f.svg.as_bytes())?;
    }
    for (m, svg) in &drawn.sequences {
        write(&format!("figures/sequence-{m}.svg"), svg.as_bytes())?;
    }
    #[derive(Serialize)]
    struct PointOut<'a> {
        spec: &'a PointSpec,
        reproduce: String,
        metrics: &'a Metrics,
    }
    let r = data.results;
    let points: Vec<PointOut> = r
        .points
        .iter()
        .map(|(s, m)| PointOut {
            spec: s,
            reproduce: s.reproduce(r.config.seed),
            metrics: m,
        })
        .collect();
    write(
        "data/points.json",
        serde_json::to_string_pretty(&serde_json::json!({"config": r.config, "points": points}))?
            .as_bytes(),
    )?;
    write(
        "data/hypotheses.json",
        serde_json::to_string_pretty(data.hypotheses)?.as_bytes(),
    )?;
    match data.loopback {
        Some(d) => write(
            "data/loopback.json",
            serde_json::to_string_pretty(d)?.as_bytes(),
        )?,
        None => {
            let _ = std::fs::remove_file(dir.join("data/loopback.json"));
        }
    }
    write(
        "data/security.json",
        serde_json::to_string_pretty(data.security)?.as_bytes(),
    )?;
    write(
        "data/scorecard.json",
        serde_json::to_string_pretty(data.scorecard)?.as_bytes(),
    )?;
    write(
        "data/summary.json",
        serde_json::to_string_pretty(data.summary)?.as_bytes(),
    )?;
    Ok(())
}

fn mermaid(arrows: &[Arrow]) -> String {
    let mut lanes: Vec<&str> = Vec::new();
    for a in arrows {
        for p in [a.from.as_str(), a.to.as_str()] {
            if !lanes.contains(&p) {
                lanes.push(p);
            }
        }
    }
    let id = |p: &str| format!("p{}", lanes.iter().position(|l| *l == p).unwrap_or(0));
    let mut s = String::from("```mermaid\nsequenceDiagram\n");
    for (i, l) in lanes.iter().enumerate() {
        let _ = writeln!(s, "    participant p{i} as {l}");
    }
    for a in arrows {
        let _ = writeln!(
            s,
            "    {}->>{}: {} ({:.0}→{:.0} ms)",
            id(&a.from),
            id(&a.to),
            a.label.replace([':', ';', '#'], " "),
            a.sent_ms,
            a.received_ms
        );
    }
    s.push_str("```\n");
    s
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Escapes text for HTML and turns markdown `code` spans into <code>.
fn esc_text(s: &str) -> String {
    let mut out = String::new();
    for (i, part) in esc(s).split('`').enumerate() {
        if i % 2 == 1 {
            out.push_str("<code>");
            out.push_str(part);
            out.push_str("</code>");
        } else {
            out.push_str(part);
        }
    }
    out
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|")
}

fn md_block(b: &Block, out: &mut String, traces: &BTreeMap<String, Vec<Arrow>>) {
    match b {
        Block::Text { text } => {
            let _ = writeln!(out, "{text}\n");
        }
        Block::Table { headers, rows } => {
            let _ = writeln!(
                out,
                "| {} |",
                headers
                    .iter()
                    .map(|h| md_cell(h))
                    .collect::<Vec<_>>()
                    .join(" | ")
            );
            let _ = writeln!(out, "|{}", "---|".repeat(headers.len()));
            for r in rows {
                let _ = writeln!(
                    out,
                    "| {} |",
                    r.iter().map(|c| md_cell(c)).collect::<Vec<_>>().join(" | ")
                );
            }
            out.push('\n');
        }
        Block::Figure { name, caption } => {
            let _ = writeln!(out, "![{caption}](figures/{name}.svg)\n\n*{caption}*\n");
        }
        Block::Sequence { mechanism } => {
            if let Some(a) = traces.get(mechanism) {
                out.push_str(&mermaid(a));
                out.push('\n');
            }
        }
    }
}

fn html_block(
    b: &Block,
    out: &mut String,
    figs: &BTreeMap<String, String>,
    traces_svg: &BTreeMap<String, String>,
) {
    match b {
        Block::Text { text } => {
            let _ = writeln!(out, "<p>{}</p>", esc_text(text));
        }
        Block::Table { headers, rows } => {
            out.push_str("<table><thead><tr>");
            for h in headers {
                let _ = write!(out, "<th>{}</th>", esc(h));
            }
            out.push_str("</tr></thead><tbody>\n");
            for r in rows {
                out.push_str("<tr>");
                for c in r {
                    let _ = write!(out, "<td>{}</td>", esc_text(c));
                }
                out.push_str("</tr>\n");
            }
            out.push_str("</tbody></table>\n");
        }
        Block::Figure { name, caption } => {
            let svg = figs.get(name).map(String::as_str).unwrap_or("");
            let _ = writeln!(
                out,
                "<figure>{}<figcaption>{}</figcaption></figure>",
                strip_xml(svg),
                esc(caption)
            );
        }
        Block::Sequence { mechanism } => {
            if let Some(svg) = traces_svg.get(mechanism) {
                let _ = writeln!(out, "<figure>{}</figure>", strip_xml(svg));
            }
        }
    }
}

fn strip_xml(svg: &str) -> &str {
    match svg.find("<svg") {
        Some(i) => &svg[i..],
        None => svg,
    }
}

fn md_section(s: &Section, md: &mut String, traces: &BTreeMap<String, Vec<Arrow>>, level: u8) {
    let h = "#".repeat(usize::from(level));
    let _ = writeln!(md, "{h} {} {}\n", s.id, s.title);
    let _ = writeln!(md, "**Claim.** {}\n", s.claim);
    let _ = writeln!(md, "**Experiment.** {}\n", s.experiment);
    for b in &s.blocks {
        md_block(b, md, traces);
    }
    let _ = writeln!(md, "**Rule.** {}\n", s.rule);
    let _ = writeln!(md, "**Verdict: {}.**\n", s.verdict.label());
    let _ = writeln!(
        md,
        "**Evidence: {}.** {}\n",
        s.evidence_kind.label(),
        s.evidence_basis
    );
    let _ = writeln!(md, "**Flips if:** {}\n", flip_text(s));
    for c in &s.reproduce {
        let _ = writeln!(md, "Reproduce: `{c}`\n");
    }
}

fn html_section(
    s: &Section,
    html: &mut String,
    figs: &BTreeMap<String, String>,
    traces_svg: &BTreeMap<String, String>,
    level: u8,
    anchor_prefix: &str,
) {
    let h = format!("h{level}");
    let anchor = format!("{anchor_prefix}{}", s.id);
    let _ = writeln!(
        html,
        "<{h} id=\"{}\">{} {}</{h}>",
        esc(&anchor),
        esc(&s.id),
        esc(&s.title)
    );
    let _ = writeln!(html, "<p><b>Claim.</b> {}</p>", esc_text(&s.claim));
    let _ = writeln!(
        html,
        "<p><b>Experiment.</b> {}</p>",
        esc_text(&s.experiment)
    );
    for b in &s.blocks {
        html_block(b, html, figs, traces_svg);
    }
    let _ = writeln!(html, "<p><b>Rule.</b> {}</p>", esc_text(&s.rule));
    let _ = writeln!(
        html,
        "<p><b>Verdict:</b> <span class=\"v {}\">{}</span></p>",
        verdict_badge(&s.verdict),
        esc_text(&s.verdict.label())
    );
    let _ = writeln!(
        html,
        "<p><b>Evidence: {}.</b> {}</p>",
        esc(s.evidence_kind.label()),
        esc_text(&s.evidence_basis)
    );
    let _ = writeln!(html, "<p><b>Flips if:</b> {}</p>", esc_text(&flip_text(s)));
    for c in &s.reproduce {
        let _ = writeln!(html, "<p>Reproduce: <code>{}</code></p>", esc(c));
    }
}

/// The flip condition in one line: the assumption, the value, and the sweep behind it.
pub fn flip_text(s: &Section) -> String {
    match &s.flips_if {
        Some(f) => {
            let mut t = match &f.value {
                Some(v) => format!("{}: flips at {} ({})", f.assumption, v, f.basis),
                None => format!(
                    "{}: no flip within the values run ({})",
                    f.assumption, f.basis
                ),
            };
            if !f.sweep.is_empty() {
                let pts: Vec<String> = f
                    .sweep
                    .iter()
                    .map(|p| format!("{} → {}", p.value, p.verdict))
                    .collect();
                t.push_str(&format!("; sweep: {}", pts.join("; ")));
            }
            t
        }
        None => format!(
            "none stated: {}",
            s.flips_if_reason.as_deref().unwrap_or("no reason given")
        ),
    }
}

fn verdict_badge(v: &Verdict) -> &'static str {
    match v {
        Verdict::Supported => "supported",
        Verdict::Refuted => "refuted",
        Verdict::DependsOn(_) => "depends",
        Verdict::NotEvaluated(_) | Verdict::OnLoopback => "open",
    }
}

/// Writes one file of the report, creating its directory.
pub fn write_file(path: &Path, contents: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(path, contents).with_context(|| format!("writing {}", path.display()))
}
