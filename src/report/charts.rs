//! The report's figures, drawn from the results and the security data (never from a run of
//! their own): latency CDFs, success and p99 against loss, stale reads against lag, the push
//! grid, lockouts, idle mints, blast radius, exposure windows, and the cold-path sequence
//! diagrams from the traces `traces.rs` recorded.

use super::analytic::{DELIVERY_S, expiry_margin_s, hops, s1, seconds, u3};
use super::experiments::{
    LAG_GRID_MS, LOSS_GRID, OUTAGE_H, PUSH_GRID, RESPONSE_LOSS_GRID, all_refs, on_demand,
};
use super::figures::{
    Arrow, Bar, Chart, Series, bar_chart, line_chart, mechanism_color, sequence, shade,
};
use super::results::Results;
use super::security::SecurityData;
use super::stats::wilson;
use anyhow::Result;
use plotters::chart::SeriesLabelPosition;
use std::collections::BTreeMap;

/// One drawn figure: its file name (without `.svg`) and its SVG text.
pub struct Figure {
    pub name: String,
    pub svg: String,
}

/// Every figure the sections refer to, and one sequence diagram per traced mechanism
/// (`sequence-ID`), keyed by mechanism id.
pub struct Drawn {
    pub figures: Vec<Figure>,
    pub sequences: BTreeMap<String, String>,
}

pub fn draw(
    r: &Results,
    sec: &SecurityData,
    traces: &BTreeMap<String, Vec<Arrow>>,
) -> Result<Drawn> {
    let mut figures = result_figures(r)?;
    figures.extend(security_figures(sec)?);
    let mut sequences = BTreeMap::new();
    for (m, arrows) in traces {
        sequences.insert(
            m.clone(),
            sequence(
                &format!("{m}: cold path from a simulated trace (same-region)"),
                arrows,
                mechanism_color(m),
            )?,
        );
    }
    Ok(Drawn { figures, sequences })
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

fn result_figures(r: &Results) -> Result<Vec<Figure>> {
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
                color: mechanism_color(&rf),
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
                color: mechanism_color(m),
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
                color: mechanism_color(m),
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
                color: mechanism_color(m),
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
                        color: mechanism_color("trigger"),
                    },
                    Series {
                        name: "S3: (L − 80 ms)/L".into(),
                        points: pred,
                        dashed: true,
                        color: mechanism_color("trigger"),
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
                color: shade(mechanism_color("push"), k, labels.len()),
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
                    color: shade(mechanism_color("push"), k, labels.len()),
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
                color: shade(mechanism_color("refresh"), k, 2),
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
                color: shade(mechanism_color("refresh"), k, 2),
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
        let bars: Vec<Bar> = all_refs()
            .iter()
            .filter(|x| !x.contains(':'))
            .filter_map(|m| {
                let x = r.get("load", &format!("{m}/rate=0"))?;
                Some(Bar {
                    label: m.clone(),
                    value: x.platform_mints_per_tenant_hour,
                    color: mechanism_color(m),
                    unbounded: false,
                })
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

fn security_figures(d: &SecurityData) -> Result<Vec<Figure>> {
    let label = |a: &super::security::AttackRow| {
        format!(
            "{}: {}{}",
            a.mechanism,
            a.credential,
            if a.mode == tokenlab_properties::attack::Mode::Continuing {
                " (continuing)"
            } else {
                ""
            }
        )
    };
    let bars: Vec<Bar> = d
        .attacks
        .iter()
        .filter(|a| a.sets.is_empty())
        .map(|a| Bar {
            label: label(a),
            value: a.tenants_compromised as f64,
            color: mechanism_color(&a.mechanism),
            unbounded: false,
        })
        .collect();
    // An exposure that reached the horizon is drawn to it and marked: it would last longer in
    // a longer run, so its bar must never look shorter than a bound.
    let w: Vec<Bar> = d
        .attacks
        .iter()
        .filter(|a| a.sets.is_empty())
        .map(|a| Bar {
            label: label(a),
            value: a.w_hours.unwrap_or(0.0),
            color: mechanism_color(&a.mechanism),
            unbounded: a.w_at_least_horizon,
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
                "hours from theft to the last accepted use (mean over thefts); marked: ≥, reached the run's end",
                &w,
            )?,
        },
    ])
}
