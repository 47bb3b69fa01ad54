//! Writes the report: figures (SVG), `data/*.json`, `rfc34-evidence.md` (renders on GitHub,
//! Mermaid sequence diagrams) and `rfc34-evidence.html` (self-contained: figures inline, no
//! external URL). Everything here is a function of the results, so the same seed gives the same
//! bytes.

use super::analysis::sections;
use super::analytic::{DELIVERY_S, expiry_margin_s, hops, s1, seconds, u3};
use super::experiments::{
    LAG_GRID_MS, LOSS_GRID, OUTAGE_H, PUSH_GRID, RESPONSE_LOSS_GRID, all_refs, on_demand,
};
use super::figures::{Arrow, Chart, Series, bar_chart, line_chart, sequence};
use super::results::Results;
use super::section::{Block, Section, Verdict};
use super::stats::wilson;
use anyhow::{Context, Result};
use plotters::chart::SeriesLabelPosition;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use tokenlab_models::history::Event;
use tokenlab_models::mechanisms::registry;
use tokenlab_models::sim::{Scenario, run};

fn ref_color(r: &str) -> usize {
    all_refs()
        .iter()
        .filter(|x| !x.contains(':'))
        .position(|x| x == r.split(':').next().unwrap_or(r))
        .unwrap_or(7)
}

struct Figure {
    name: String,
    svg: String,
}

fn cdf(values: &[f64]) -> Vec<(f64, f64)> {
    let n = values.len();
    if n == 0 {
        return Vec::new();
    }
    let step = (n / 200).max(1);
    let mut v: Vec<(f64, f64)> = values
        .iter()
        .enumerate()
        .step_by(step)
        .map(|(i, x)| (*x, (i + 1) as f64 / n as f64))
        .collect();
    v.push((values[n - 1], 1.0));
    v
}

fn figures(r: &Results) -> Result<Vec<Figure>> {
    let mut out = Vec::new();
    // Latency CDFs.
    for (preset, name) in [
        ("same-region", "latency-cdf"),
        ("cross-region", "latency-cdf-cross"),
    ] {
        let mut series = Vec::new();
        let mut xmax: f64 = 10.0;
        for rf in all_refs() {
            let Some(m) = r.get("latency", &format!("{rf}@{preset}")) else {
                continue;
            };
            if m.cold_latencies_ms.is_empty() {
                continue;
            }
            xmax = xmax.max(*m.cold_latencies_ms.last().unwrap_or(&0.0));
            let mut pts = vec![(0.0, 0.0)];
            pts.extend(cdf(&m.cold_latencies_ms));
            series.push(Series {
                name: rf.clone(),
                points: pts,
                dashed: false,
                color: ref_color(&rf),
            });
        }
        out.push(Figure {
            name: name.into(),
            svg: line_chart(
                &Chart {
                    title: &format!("Cold-miss token latency, {preset}"),
                    x_label: "latency (ms, simulated)",
                    y_label: "fraction of cold demands",
                    x: (0.0, xmax * 1.05),
                    y: (0.0, 1.02),
                    legend: SeriesLabelPosition::LowerRight,
                },
                &series,
            )?,
        });
    }
    // Success against loss, without and with retries.
    for (rk, name, title) in [
        (
            "0",
            "success-vs-loss",
            "Cold token success vs loss, no retries",
        ),
        (
            "default",
            "success-vs-loss-retries",
            "Cold token success vs loss, default retries",
        ),
    ] {
        let mut series = Vec::new();
        for m in on_demand() {
            let pts: Vec<(f64, f64)> = LOSS_GRID
                .iter()
                .filter_map(|p| {
                    let x = r.get("loss", &format!("{m}/p={p}/retries={rk}"))?;
                    Some((p * 100.0, wilson(x.cold_ok, x.cold_n).est))
                })
                .collect();
            series.push(Series {
                name: m.into(),
                points: pts,
                dashed: false,
                color: ref_color(m),
            });
        }
        for (m, label) in [
            ("trigger", "analytic, 4 hops"),
            ("refresh", "analytic, 2 hops"),
        ] {
            let pts = (0..=40)
                .map(|i| {
                    let p = i as f64 * 0.005;
                    let s = s1(m, "loss", p);
                    let s = if rk == "0" {
                        s
                    } else {
                        1.0 - (1.0 - s).powi(3)
                    };
                    (p * 100.0, s)
                })
                .collect();
            series.push(Series {
                name: if rk == "0" {
                    format!("{label}: (1−p)^{}", hops(m))
                } else {
                    format!("{label}: S2 lower bound")
                },
                points: pts,
                dashed: true,
                color: ref_color(m),
            });
        }
        out.push(Figure {
            name: name.into(),
            svg: line_chart(
                &Chart {
                    title,
                    x_label: "loss per inter-party message (%)",
                    y_label: "cold token success rate",
                    x: (0.0, 20.5),
                    y: (0.3, 1.01),
                    legend: SeriesLabelPosition::LowerLeft,
                },
                &series,
            )?,
        });
    }
    // p99 against loss.
    {
        let mut series = Vec::new();
        let mut ymax: f64 = 100.0;
        for m in on_demand() {
            let pts: Vec<(f64, f64)> = LOSS_GRID
                .iter()
                .filter_map(|p| {
                    let x = r.get("loss", &format!("{m}/p={p}/retries=default"))?;
                    Some((p * 100.0, x.cold_latency_ms.as_ref()?.p99.est))
                })
                .collect();
            ymax = pts.iter().map(|p| p.1).fold(ymax, f64::max);
            series.push(Series {
                name: m.into(),
                points: pts,
                dashed: false,
                color: ref_color(m),
            });
        }
        out.push(Figure {
            name: "p99-vs-loss".into(),
            svg: line_chart(
                &Chart {
                    title: "Cold token p99 latency vs loss, default retries",
                    x_label: "loss per inter-party message (%)",
                    y_label: "p99 latency (ms, simulated)",
                    x: (0.0, 20.5),
                    y: (0.0, ymax * 1.1),
                    legend: SeriesLabelPosition::UpperLeft,
                },
                &series,
            )?,
        });
    }
    // Stale reads against replica lag.
    {
        let pts: Vec<(f64, f64)> = LAG_GRID_MS
            .iter()
            .filter_map(|l| {
                let m = r.get("lag", &format!("uniform({l}ms)"))?;
                Some((*l, wilson(m.cold_stale, m.cold_n).est))
            })
            .collect();
        let pred: Vec<(f64, f64)> = (0..=100)
            .map(|i| {
                let l = i as f64 * 10.0;
                (l, if l <= 80.0 { 0.0 } else { (l - 80.0) / l })
            })
            .collect();
        out.push(Figure {
            name: "stale-vs-lag".into(),
            svg: line_chart(
                &Chart {
                    title: "trigger read-back from a replica: stale reads vs lag",
                    x_label: "replica lag L (ms), lag ~ U(0, L)",
                    y_label: "share of cold demands with a stale read",
                    x: (0.0, 1020.0),
                    y: (0.0, 1.0),
                    legend: SeriesLabelPosition::LowerRight,
                },
                &[
                    Series {
                        name: "trigger, read_from=replica".into(),
                        points: pts,
                        dashed: false,
                        color: 0,
                    },
                    Series {
                        name: "S3: (L − 80 ms)/L".into(),
                        points: pred,
                        dashed: true,
                        color: 0,
                    },
                ],
            )?,
        });
    }
    // Push grid.
    {
        let mut series = Vec::new();
        let mut ymax: f64 = 10.0;
        let labels: Vec<(String, f64, f64)> = PUSH_GRID
            .iter()
            .map(|(i, l)| (format!("push interval={i} ttl={l}"), seconds(i), seconds(l)))
            .collect();
        for (k, (label, t, l)) in labels.iter().enumerate() {
            let pts: Vec<(f64, f64)> = OUTAGE_H
                .iter()
                .filter_map(|d| {
                    let m = r.get("push", &format!("{label}/outage={d}h"))?;
                    Some((*d, m.gap_s?.est / 60.0))
                })
                .collect();
            ymax = pts.iter().map(|p| p.1).fold(ymax, f64::max);
            series.push(Series {
                name: label.trim_start_matches("push ").into(),
                points: pts,
                dashed: false,
                color: k,
            });
            let lp = l - expiry_margin_s() - DELIVERY_S;
            if lp >= *t {
                let pred = (0..=25)
                    .map(|i| {
                        let d = i as f64 * 0.2;
                        (d, u3(*t, lp, d * 3600.0).1 / 60.0)
                    })
                    .collect();
                series.push(Series {
                    name: format!("U3, {}", label.trim_start_matches("push ")),
                    points: pred,
                    dashed: true,
                    color: k,
                });
            }
        }
        out.push(Figure {
            name: "push-grid".into(),
            svg: line_chart(
                &Chart {
                    title: "push: time without a valid token vs partner outage",
                    x_label: "outage length D (h)",
                    y_label: "minutes without a valid token per tenant",
                    x: (0.0, 5.2),
                    y: (0.0, ymax * 1.15),
                    legend: SeriesLabelPosition::UpperLeft,
                },
                &series,
            )?,
        });
    }
    // Lockouts.
    {
        let mut series = Vec::new();
        for (k, grace) in ["0", "30s"].iter().enumerate() {
            let pts: Vec<(f64, f64)> = RESPONSE_LOSS_GRID
                .iter()
                .filter_map(|p| {
                    let m = r.get("lockout", &format!("grace={grace}/p={p}"))?;
                    Some((
                        p * 100.0,
                        wilson(m.lockout_tenants, m.refreshes_before_lockout).est,
                    ))
                })
                .collect();
            series.push(Series {
                name: format!("grace_window={grace}"),
                points: pts,
                dashed: false,
                color: k + 1,
            });
            series.push(Series {
                name: if *grace == "0" {
                    "K1: q = p".into()
                } else {
                    "K2: q = p³".into()
                },
                points: (0..=40)
                    .map(|i| {
                        let p = i as f64 * 0.005;
                        (p * 100.0, if *grace == "0" { p } else { p.powi(3) })
                    })
                    .collect(),
                dashed: true,
                color: k + 1,
            });
        }
        out.push(Figure {
            name: "lockouts-vs-loss".into(),
            svg: line_chart(
                &Chart {
                    title: "refresh rotation: lockouts per refresh vs response loss",
                    x_label: "loss of AS→P responses (%)",
                    y_label: "lockouts per refresh",
                    x: (0.0, 20.5),
                    y: (0.0, 0.25),
                    legend: SeriesLabelPosition::UpperLeft,
                },
                &series,
            )?,
        });
    }
    // Platform mints per idle tenant-hour.
    {
        let bars: Vec<(String, f64)> = all_refs()
            .iter()
            .filter(|x| !x.contains(':'))
            .filter_map(|m| {
                let x = r.get("load", &format!("{m}/rate=0"))?;
                Some((m.clone(), x.platform_mints_per_tenant_hour))
            })
            .collect();
        out.push(Figure {
            name: "idle-mints".into(),
            svg: bar_chart(
                "Access-token mints per idle tenant-hour",
                "mints per tenant-hour with no demand",
                &bars,
            )?,
        });
    }
    Ok(out)
}

/// The cold path of one mechanism from a real simulated trace: the causal chain of the first
/// acquisition after t = 0 (push: the first delivery; connect-jwt: the signed API call).
fn trace(mech: &str, seed: u64) -> Result<Vec<Arrow>> {
    let mut s = Scenario::new(mech, "same-region").context("same-region preset")?;
    s.tenants = 1;
    s.seed = seed;
    s.duration_s = if mech == "push" { 7200.0 } else { 30.0 };
    s.demands_per_tenant_hour = 600.0;
    let res = run(&s).map_err(|e| anyhow::anyhow!("{mech}: {e}"))?;
    let h = &res.history;
    let root = h
        .records
        .iter()
        .filter(|r| r.t >= 0)
        .find_map(|r| match &r.event {
            Event::AttemptStart {
                request: Some(req), ..
            } => Some(*req),
            _ => None,
        })
        .or_else(|| {
            h.records
                .iter()
                .filter(|r| r.t >= 0)
                .find_map(|r| match &r.event {
                    Event::Send { env } if env.cause.is_none() => Some(env.id),
                    _ => None,
                })
        });
    let Some(root) = root else {
        return Ok(Vec::new());
    };
    let msgs = h.messages();
    let chain = h.causal_chain(root);
    let t0 = chain.hops.first().map_or(0, |x| x.sent);
    Ok(chain
        .hops
        .iter()
        .filter_map(|hop| {
            let (_, env) = msgs.get(&hop.msg)?;
            let prefix = format!("{} → {} ", env.from, env.to);
            Some(Arrow {
                from: env.from.to_string(),
                to: env.to.to_string(),
                label: hop.summary.trim_start_matches(&prefix).to_string(),
                sent_ms: (hop.sent - t0) as f64 / 1000.0,
                received_ms: (hop.received - t0) as f64 / 1000.0,
            })
        })
        .collect())
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

#[derive(Serialize)]
struct ScoreRow {
    mechanism: String,
    cold_p50_ms: Option<f64>,
    cold_p99_ms: Option<f64>,
    cold_p50_cross_region_ms: Option<f64>,
    success_at_1pct_loss: Option<f64>,
    success_at_5pct_loss: Option<f64>,
    messages_per_demand: Option<f64>,
    platform_requests_per_tenant_hour: Option<f64>,
    mints_per_idle_tenant_hour: Option<f64>,
    root_credential: Option<String>,
    blast_radius: Option<u64>,
    exposure_window_h: Option<f64>,
    exposure_unbounded: Option<bool>,
    revocation_latency_h: Option<f64>,
    revocation_latency_api_check_h: Option<f64>,
    long_lived_secrets_per_installation: Option<f64>,
    invariants_held: (usize, usize),
}

fn security_figures(d: &super::security::SecurityData) -> Result<Vec<Figure>> {
    let label = |a: &tokenlab_properties::attack::AttackResult| {
        format!("{}: {}", a.mechanism, a.credential)
    };
    let bars: Vec<(String, f64)> = d
        .attacks
        .iter()
        .filter(|a| a.sets.is_empty())
        .map(|a| (label(a), a.tenants_compromised as f64))
        .collect();
    let w: Vec<(String, f64)> = d
        .attacks
        .iter()
        .filter(|a| a.sets.is_empty())
        .map(|a| {
            let mark = if a.exposure_unbounded {
                " (unbounded)"
            } else {
                ""
            };
            (
                format!("{}{mark}", label(a)),
                a.exposure_window_s.unwrap_or(0.0) / 3600.0,
            )
        })
        .collect();
    Ok(vec![
        Figure {
            name: "blast-radius".into(),
            svg: bar_chart(
                "Blast radius: tenants reached per stolen credential",
                "tenants whose product API accepted the attacker",
                &bars,
            )?,
        },
        Figure {
            name: "exposure-window".into(),
            svg: bar_chart(
                "Exposure window per stolen credential",
                "hours from theft to the last accepted use (run horizon bounds it)",
                &w,
            )?,
        },
    ])
}

fn scorecard(r: &Results, sec: &super::security::SecurityData) -> Vec<ScoreRow> {
    all_refs()
        .iter()
        .map(|m| {
            // push has no on-demand path: no cold latency to report.
            let on_demand = !m.starts_with("push");
            let lat = r
                .get("latency", &format!("{m}@same-region"))
                .filter(|_| on_demand);
            let cross = r
                .get("latency", &format!("{m}@cross-region"))
                .filter(|_| on_demand);
            let succ = |p: f64| {
                r.get("loss", &format!("{m}/p={p}/retries=default"))
                    .map(|x| wilson(x.cold_ok, x.cold_n).est)
            };
            let load = r.get("load", &format!("{m}/rate=60"));
            let idle = r.get("load", &format!("{m}/rate=0"));
            let base = m.split(':').next().unwrap_or(m);
            let root = if m.contains(':') {
                None
            } else {
                sec.root(base)
            };
            ScoreRow {
                mechanism: m.clone(),
                cold_p50_ms: lat
                    .and_then(|x| x.cold_latency_ms.as_ref())
                    .map(|q| q.p50.est),
                cold_p99_ms: lat
                    .and_then(|x| x.cold_latency_ms.as_ref())
                    .map(|q| q.p99.est),
                cold_p50_cross_region_ms: cross
                    .and_then(|x| x.cold_latency_ms.as_ref())
                    .map(|q| q.p50.est),
                success_at_1pct_loss: succ(0.01),
                success_at_5pct_loss: succ(0.05),
                messages_per_demand: load.map(|x| x.messages_per_demand),
                platform_requests_per_tenant_hour: load
                    .map(|x| x.platform_requests_per_tenant_hour),
                mints_per_idle_tenant_hour: idle.map(|x| x.platform_mints_per_tenant_hour),
                root_credential: root.map(|a| a.credential.clone()),
                blast_radius: root.map(|a| a.tenants_compromised),
                exposure_window_h: root.and_then(|a| a.exposure_window_s).map(|s| s / 3600.0),
                exposure_unbounded: root.map(|a| a.exposure_unbounded),
                revocation_latency_h: root
                    .and_then(|a| a.revocation_latency_s)
                    .map(|s| s / 3600.0),
                revocation_latency_api_check_h: root
                    .and_then(|a| a.revocation_latency_api_checks_on_s)
                    .map(|s| s / 3600.0),
                long_lived_secrets_per_installation: root
                    .and(sec.long_lived_per_installation(base)),
                invariants_held: if root.is_some() {
                    sec.invariants_held(base)
                } else {
                    (0, 0)
                },
            }
        })
        .collect()
}

fn opt(v: Option<f64>, d: usize) -> String {
    v.map_or("—".into(), |x| format!("{x:.d$}"))
}

fn scorecard_table(rows: &[ScoreRow]) -> Block {
    Block::table(
        &[
            "mechanism",
            "cold p50 / p99 ms (80 ms RTT)",
            "cold p50 ms (200 ms RTT)",
            "cold success at 1% / 5% loss (retries)",
            "acq. messages per demand",
            "platform requests / tenant-h",
            "mints per idle tenant-h",
            "root credential: B / W h / R h (api check off, on)",
            "items > 1 day at P per installation",
            "invariants held (default profile)",
        ],
        rows.iter()
            .map(|s| {
                vec![
                    s.mechanism.clone(),
                    if s.mechanism.starts_with("push") {
                        "miss fails fast".into()
                    } else {
                        format!("{} / {}", opt(s.cold_p50_ms, 1), opt(s.cold_p99_ms, 1))
                    },
                    opt(s.cold_p50_cross_region_ms, 1),
                    format!(
                        "{} / {}",
                        opt(s.success_at_1pct_loss, 4),
                        opt(s.success_at_5pct_loss, 4)
                    ),
                    opt(s.messages_per_demand, 2),
                    opt(s.platform_requests_per_tenant_hour, 2),
                    opt(s.mints_per_idle_tenant_hour, 2),
                    match &s.root_credential {
                        Some(c) => format!(
                            "{c}: {} / {}{} / {}, {}",
                            s.blast_radius.map_or("—".into(), |b| b.to_string()),
                            opt(s.exposure_window_h, 1),
                            if s.exposure_unbounded == Some(true) {
                                " (unbounded)"
                            } else {
                                ""
                            },
                            opt(s.revocation_latency_h, 1),
                            opt(s.revocation_latency_api_check_h, 1)
                        ),
                        None => "—".into(),
                    },
                    opt(s.long_lived_secrets_per_installation, 0),
                    if s.invariants_held.1 == 0 {
                        "—".into()
                    } else {
                        format!("{} of {}", s.invariants_held.0, s.invariants_held.1)
                    },
                ]
            })
            .collect(),
    )
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

fn md_section(s: &Section, md: &mut String, traces: &BTreeMap<String, Vec<Arrow>>, h: &str) {
    let _ = writeln!(md, "{h} {} {}\n", s.id, s.title);
    let _ = writeln!(md, "**Claim.** {}\n", s.claim);
    let _ = writeln!(md, "**Experiment.** {}\n", s.experiment);
    for b in &s.blocks {
        md_block(b, md, traces);
    }
    let _ = writeln!(md, "**Rule.** {}\n", s.rule);
    let _ = writeln!(md, "**Verdict: {}.**\n", s.verdict.label());
    for c in &s.reproduce {
        let _ = writeln!(md, "Reproduce: `{c}`\n");
    }
}

fn html_section(
    s: &Section,
    html: &mut String,
    figs: &BTreeMap<String, String>,
    traces_svg: &BTreeMap<String, String>,
    h: &str,
) {
    // Loopback copies of a hypothesis get their own anchor.
    let anchor = if h == "h2" {
        s.id.clone()
    } else {
        format!("loopback-{}", s.id)
    };
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
    for c in &s.reproduce {
        let _ = writeln!(html, "<p>Reproduce: <code>{}</code></p>", esc(c));
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

pub fn write_report(
    dir: &Path,
    r: &Results,
    loopback: Result<super::loopback::LoopbackData, String>,
) -> Result<()> {
    // The matrix and the attack table are seeded and deterministic: a merged run recomputes
    // them from the same seed and gets the same bytes.
    let cases = if r.config.quick || r.config.tiny {
        1
    } else {
        3
    };
    let sec = super::security::compute(
        r.config.seed,
        cases,
        r.config.tiny.then_some(&["trigger", "tenant-secret"][..]),
    );
    let mut figs = figures(r)?;
    figs.extend(security_figures(&sec)?);
    let secs = sections(r, Some(&sec));
    let score = scorecard(r, &sec);
    let mut traces = BTreeMap::new();
    let mut traces_svg = BTreeMap::new();
    for m in registry() {
        let a = trace(m.id(), r.config.seed)?;
        traces_svg.insert(
            m.id().to_string(),
            sequence(
                &format!("{}: cold path from a simulated trace (same-region)", m.id()),
                &a,
            )?,
        );
        traces.insert(m.id().to_string(), a);
    }
    let fig_map: BTreeMap<String, String> = figs
        .iter()
        .map(|f| (f.name.clone(), f.svg.clone()))
        .collect();

    let q = r.config.scale_flag();
    let cmd = format!("cargo run --release -- report --seed {}{q}", r.config.seed);
    let mut unverified: Vec<String> = r
        .points
        .iter()
        .flat_map(|(_, m)| m.unverified_parameters.iter().cloned())
        .collect();
    unverified.sort();
    unverified.dedup();

    // Header, scorecard, verdict list.
    let mut intro: Vec<Block> = vec![Block::Text {
        text: format!(
            "Generated by `{cmd}` from {} seeded simulator runs (seed {:#x}{}). Every number below is measured in the deterministic simulator unless its section says otherwise; the same seed gives the same bytes. Latencies are virtual time: the protocol's critical path under the stated link delays, mint and store costs, not wall-clock time on this machine.",
            r.points.len(),
            r.config.seed,
            if r.config.quick {
                ", quick mode: smaller samples and wider intervals"
            } else {
                ""
            }
        ),
    }];
    intro.push(Block::Text {
        text: "Scorecard (defaults at the top, the \"as published\" profiles after; same-region unless stated; success is each tenant's first demand with the partner's default retries):".into(),
    });
    intro.push(scorecard_table(&score));
    intro.push(Block::Figure {
        name: "idle-mints".into(),
        caption: "Mints per idle tenant-hour: push pays for tenants that never ask.".into(),
    });
    intro.push(Block::table(
        &["hypothesis", "verdict"],
        secs.iter()
            .map(|s| vec![format!("{} {}", s.id, s.title), s.verdict.label()])
            .collect(),
    ));

    let method = vec![
        Block::Text { text: "Method. Each mechanism is an executable sans-IO model (the same role state machines would run on loopback); the simulator applies per-link delays, loss, 5xx, partitions and crashes from one seeded ChaCha stream forked per role, link and tenant, and records a history from which every number here is computed. Rates carry Wilson 95% intervals, percentiles exact order-statistic 95% intervals, means CLT 95% intervals. A prediction outside its interval is flagged: \"simulator bug?\" where the formula's independence assumptions hold, \"correlation effect\" where they do not; predicted rates below 10/n are \"not measurable at this n\". About 5% of correct predictions fall outside a 95% interval by chance.".into() },
        Block::Text { text: "Limits. This is bounded, seeded model testing, not a proof. A compromise of the platform itself is out of scope. The simulator's latencies are the protocol's critical path; they exclude CPU time for signing and verification (the loopback calibration, issue 4, measures those). Values the thread does not fix are parameters with documented defaults; the unverified ones in force in these runs are listed below, and every conclusion that rests on them says so.".into() },
        Block::Text { text: format!("Unverified parameters in force: {}.", unverified.join(", ")) },
        Block::Text { text: "Not yet modelled (their sections say so): trigger `mode=async` and per-use URL rotation; `ip_allowlist` and sender-constrained secrets; RT idle expiry and introspection; Connect's `act_as_user`; clock skew. The attacker, the property matrix and the security metrics (issue 3), and loopback measurements with standard-client conformance (issue 4) fill the sections marked pending when they land.".into() },
        Block::Text { text: format!("Reproduce: `{cmd}` (about the wall time stated in the README on 2 cores); a slice for a batch scheduler: `cargo run --release -- report --shard I/N --out DIR{q}`, then `cargo run --release -- report --merge DIR... --out reports`.") },
    ];
    let mut seq_blocks = vec![Block::Text {
        text: "Each diagram is drawn from a real simulated trace: the causal chain of the first acquisition after t = 0 (push: the first scheduled delivery; connect-jwt: there is no acquisition, the partner signs locally, so the diagram shows the signed API call).".into(),
    }];
    for m in registry() {
        seq_blocks.push(Block::Sequence {
            mechanism: m.id().into(),
        });
    }
    let loop_intro = Block::Text {
        text: "Everything in this section runs the same role state machines as axum services on 127.0.0.1 with a hyper client, real EdDSA invocation tokens and HS256 access tokens, in wall-clock time. These numbers vary from run to run and machine to machine; `scripts/check-reproducible.sh` compares everything outside this section.".into(),
    };
    let (loop_sections, loop_note) = match &loopback {
        Ok(d) => (super::loopback::sections(d), None),
        Err(why) => (Vec::new(), Some(why.clone())),
    };

    // Markdown.
    let mut md = String::from("# RFC-34 evidence report\n\n");
    for b in &intro {
        md_block(b, &mut md, &traces);
    }
    for s in &secs {
        md_section(s, &mut md, &traces, "##");
    }
    md.push_str("## Cold paths as sequence diagrams\n\n");
    for b in &seq_blocks {
        md_block(b, &mut md, &traces);
    }
    md.push_str("## Method and limits\n\n");
    for b in &method {
        md_block(b, &mut md, &traces);
    }
    md.push_str("## Loopback measurements\n\n");
    md.push_str(super::loopback::BEGIN);
    md.push_str("\n\n");
    md_block(&loop_intro, &mut md, &traces);
    if let Some(why) = &loop_note {
        let _ = writeln!(md, "Not run: {why}.\n");
    }
    for s in &loop_sections {
        md_section(s, &mut md, &traces, "###");
    }
    md.push_str(super::loopback::END);
    md.push('\n');

    // HTML.
    let mut html = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>RFC-34 evidence report</title>\n<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;line-height:1.45;color:#222}table{border-collapse:collapse;margin:1em 0;font-size:0.88em}th,td{border:1px solid #ccc;padding:3px 7px;text-align:left;vertical-align:top}th{background:#f3f3f3}figure{margin:1em 0}figcaption{font-style:italic;font-size:0.9em}svg{max-width:100%;height:auto}.v{font-weight:bold;padding:2px 6px;border-radius:4px}.supported{background:#d4f4dd}.refuted{background:#f8d7da}.depends{background:#fff3cd}.open{background:#e2e3e5}code{background:#f5f5f5;padding:1px 3px}</style></head><body>\n<h1>RFC-34 evidence report</h1>\n",
    );
    for b in &intro {
        html_block(b, &mut html, &fig_map, &traces_svg);
    }
    for s in &secs {
        let _ = writeln!(
            html,
            "<h2 id=\"{}\">{} {}</h2>",
            esc(&s.id),
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
            html_block(b, &mut html, &fig_map, &traces_svg);
        }
        let _ = writeln!(html, "<p><b>Rule.</b> {}</p>", esc_text(&s.rule));
        let _ = writeln!(
            html,
            "<p><b>Verdict:</b> <span class=\"v {}\">{}</span></p>",
            verdict_badge(&s.verdict),
            esc_text(&s.verdict.label())
        );
        for c in &s.reproduce {
            let _ = writeln!(html, "<p>Reproduce: <code>{}</code></p>", esc(c));
        }
    }
    html.push_str("<h2>Cold paths as sequence diagrams</h2>\n");
    for b in &seq_blocks {
        html_block(b, &mut html, &fig_map, &traces_svg);
    }
    html.push_str("<h2>Method and limits</h2>\n");
    for b in &method {
        html_block(b, &mut html, &fig_map, &traces_svg);
    }
    html.push_str("<h2>Loopback measurements</h2>\n");
    html.push_str(super::loopback::BEGIN);
    html.push('\n');
    html_block(&loop_intro, &mut html, &fig_map, &traces_svg);
    if let Some(why) = &loop_note {
        let _ = writeln!(html, "<p>Not run: {}.</p>", esc_text(why));
    }
    for s in &loop_sections {
        html_section(s, &mut html, &fig_map, &traces_svg, "h3");
    }
    html.push_str(super::loopback::END);
    html.push('\n');
    html.push_str("</body></html>\n");

    // Files.
    let write = |rel: &str, bytes: &[u8]| write_file(&dir.join(rel), bytes);
    write("rfc34-evidence.md", md.as_bytes())?;
    write("rfc34-evidence.html", html.as_bytes())?;
    for f in &figs {
        write(&format!("figures/{}.svg", f.name), f.svg.as_bytes())?;
    }
    for (m, svg) in &traces_svg {
        write(&format!("figures/sequence-{m}.svg"), svg.as_bytes())?;
    }
    #[derive(Serialize)]
    struct PointOut<'a> {
        spec: &'a super::experiments::PointSpec,
        reproduce: String,
        metrics: &'a super::experiments::Metrics,
    }
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
        serde_json::to_string_pretty(&secs)?.as_bytes(),
    )?;
    match &loopback {
        Ok(d) => write(
            "data/loopback.json",
            serde_json::to_string_pretty(d)?.as_bytes(),
        )?,
        Err(_) => {
            let _ = std::fs::remove_file(dir.join("data/loopback.json"));
        }
    }
    write(
        "data/security.json",
        serde_json::to_string_pretty(&sec)?.as_bytes(),
    )?;
    write(
        "data/scorecard.json",
        serde_json::to_string_pretty(&score)?.as_bytes(),
    )?;
    Ok(())
}
