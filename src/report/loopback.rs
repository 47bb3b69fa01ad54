//! The loopback part of the report: the same role code over real HTTP on 127.0.0.1 (calibration
//! against the simulator, and what a stock OAuth client can and cannot do). Wall-clock numbers
//! are not reproducible byte for byte, so this part sits between markers that
//! `scripts/check-reproducible.sh` strips before it compares two runs.
//!
//! H4 on a real database: trigger's read-back against a PostgreSQL primary and streaming hot
//! standby that the report starts itself (`tokenlab::store_pg`), at several apply delays,
//! beside S3 from the measured lag. Where the server binaries are missing the section says
//! what to install instead (the report needs no database).

use super::rules::*;
use super::section::{Block, Section, Verdict};
use serde::Serialize;
use tokenlab::net::burden::{Burden, partner_burden};
use tokenlab::net::calibrate::{Calibration, calibration};
use tokenlab::store_pg::stale_reads::Sweep;

pub const BEGIN: &str = "<!-- loopback:begin -->";
pub const END: &str = "<!-- loopback:end -->";

#[derive(Clone, Debug, Serialize)]
pub struct LoopbackData {
    pub calibration: Calibration,
    pub burden: Vec<Burden>,
    /// The read-after-write sweep on PostgreSQL, when it ran.
    pub postgres: Option<Sweep>,
    /// Why it did not run (no server binaries, `--no-postgres`, or the error).
    pub postgres_note: Option<String>,
}

/// Whether and how to run the PostgreSQL sweep.
pub enum PgPlan {
    Skip(String),
    Run { delays_ms: Vec<u64>, demands: u32 },
}

/// The apply delays of the sweep: below, around and above Δ ≈ 2 × 40 ms.
pub const PG_DELAYS_MS: [u64; 7] = [0, 40, 70, 80, 90, 120, 200];
pub const PG_DELAYS_QUICK_MS: [u64; 3] = [0, 80, 120];

/// Runs the calibration (`samples` cold acquisitions per mechanism and delay) and the
/// stock-client burden on loopback. Errors (a port that will not bind) are reported, not fatal.
pub fn compute(samples: u32, pg: PgPlan) -> Result<LoopbackData, String> {
    let calibration = calibration(samples).map_err(|e| format!("calibration: {e}"))?;
    let burden = partner_burden().map_err(|e| format!("partner burden: {e}"))?;
    let (postgres, postgres_note) = match pg {
        PgPlan::Skip(why) => (None, Some(why)),
        PgPlan::Run { delays_ms, demands } => {
            match tokenlab::store_pg::stale_reads::sweep_blocking(&delays_ms, demands) {
                Ok(s) => (Some(s), None),
                Err(e) => (None, Some(format!("the PostgreSQL run failed: {e}"))),
            }
        }
    };
    Ok(LoopbackData {
        calibration,
        burden,
        postgres,
        postgres_note,
    })
}

/// The H4-on-PostgreSQL section: the figure, the table and the verdict.
fn postgres_section(d: &LoopbackData) -> Section {
    let reproduce = vec![
        "cargo run --release -- stale-reads --store postgres --apply-delay-ms 120".into(),
        "cargo run --release -- stale-reads --store postgres --read-from primary --apply-delay-ms 120".into(),
    ];
    let claim = "Partners on the trigger's read-back: \"ensure any read mechanisms are up to date (i.e. replicas caught up, caches are flushed)\"; a replica makes the read after the 2xx stale (H4) [F: thread]. Here on a real database rather than our model of one.".to_string();
    let rule = "Supported if the standby gives stale reads (some Wilson lower bound above 0) at every apply delay measured, depends-on (the lag against Δ) if only at some, refuted if at none; the primary must give 0 stale reads at every delay (P12 holds), else refuted.".to_string();
    let Some(s) = &d.postgres else {
        return Section {
            id: "H4-PG".into(),
            title: "Read-after-write on PostgreSQL (primary and hot standby)".into(),
            claim,
            experiment: format!(
                "Not run: {}.",
                d.postgres_note.as_deref().unwrap_or("no PostgreSQL")
            ),
            blocks: vec![],
            rule,
            verdict: Verdict::NotEvaluated("no PostgreSQL run".into()),
            reproduce,
            evidence_kind: super::section::EvidenceKind::None,
            evidence_basis: "not run (no PostgreSQL on this machine)".into(),
            flips_if: None,
            flips_if_reason: Some("not run".into()),
        };
    };
    let rows: Vec<Vec<String>> = s
        .points
        .iter()
        .map(|p| {
            vec![
                p.apply_delay_ms.to_string(),
                p.read_from.to_string(),
                p.reads.to_string(),
                p.stale.to_string(),
                format!(
                    "{:.3} [{:.3}, {:.3}]",
                    p.stale_share, p.stale_share_ci[0], p.stale_share_ci[1]
                ),
                format!(
                    "{:.3}{}",
                    p.s3_prediction,
                    if p.s3_within_ci { "" } else { " (outside)" }
                ),
                format!(
                    "{:.1} / {:.1} / {:.1}",
                    p.lag_ms.p50, p.lag_ms.p90, p.lag_ms.p99
                ),
                format!("{:.1}", p.window_ms.p50),
                p.p12.to_string(),
            ]
        })
        .collect();
    let points: Vec<PgPoint> = s
        .points
        .iter()
        .map(|p| PgPoint {
            replica: p.read_from == "replica",
            stale: p.stale,
            ci_lo: p.stale_share_ci[0],
        })
        .collect();
    let version = s.server_version.split(',').next().unwrap_or("");
    Section {
        id: "H4-PG".into(),
        title: "Read-after-write on PostgreSQL (primary and hot standby)".into(),
        claim,
        experiment: format!(
            "trigger on loopback, `write_path=direct`, `retries=0`, {} demands per point, each a different tenant's cold miss (one read-back each), one-way delay {} ms per inter-party link (Δ ≈ 2 × that). The token row is written on a real {version} primary and read back from its streaming hot standby (`read_from=replica`) or the primary, at standby apply delays (`recovery_min_apply_delay`) of {} ms. Lag: each committed write watched on the standby (its commit acknowledgement to its first sighting). S3's prediction is P(lag > Δ) with each read's own Δ (commit to read-back) under the measured lag distribution. The cluster (initdb, start, pg_basebackup, standby start) took {:.1} s to come up; it is removed afterwards.",
            s.demands,
            s.one_way_ms,
            s.points
                .iter()
                .map(|p| p.apply_delay_ms)
                .collect::<std::collections::BTreeSet<_>>()
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            s.cluster_startup_s
        ),
        blocks: vec![
            Block::Figure {
                name: PG_FIGURE.into(),
                caption: "Stale read-backs on a real PostgreSQL standby against its apply delay, with Wilson 95% intervals, beside S3 from the measured lag; the primary gives none.".into(),
            },
            Block::table(
                &[
                    "apply delay ms",
                    "read_from",
                    "reads",
                    "stale",
                    "stale share [95% CI]",
                    "S3 prediction",
                    "lag ms p50 / p90 / p99",
                    "Δ ms p50",
                    "P12",
                ],
                rows,
            ),
        ],
        rule,
        verdict: pg_read_after_write_rule(&PgData { points }),
        reproduce,
        evidence_kind: super::section::EvidenceKind::Measured,
        evidence_basis: "a real PostgreSQL primary and hot standby on loopback, wall clock: the stale share could have been anything".into(),
        flips_if: None,
        flips_if_reason: Some(
            "the apply delay is the swept parameter: the table shows the delay at which stale reads begin against Δ".into(),
        ),
    }
}

/// The figure's file name (without `.svg`); `loopback-` figures are wall-clock and left out
/// of the reproducibility check.
pub const PG_FIGURE: &str = "loopback-pg-stale-reads";

/// The PostgreSQL figure, when the sweep ran.
pub fn figures(d: &LoopbackData) -> anyhow::Result<Vec<super::charts::Figure>> {
    use super::figures::{Chart, Series, line_chart, mechanism_color};
    let Some(s) = &d.postgres else {
        return Ok(vec![]);
    };
    let pick = |replica: bool, f: &dyn Fn(&tokenlab::store_pg::StaleReads) -> f64| {
        s.points
            .iter()
            .filter(|p| (p.read_from == "replica") == replica)
            .map(|p| (p.apply_delay_ms as f64, f(p)))
            .collect::<Vec<_>>()
    };
    let xmax = s
        .points
        .iter()
        .map(|p| p.apply_delay_ms)
        .max()
        .unwrap_or(100) as f64
        * 1.05;
    let trigger = mechanism_color("trigger");
    let primary = mechanism_color("refresh");
    let series = vec![
        Series {
            name: "standby: stale share".into(),
            points: pick(true, &|p| p.stale_share),
            dashed: false,
            color: trigger,
        },
        Series {
            name: "standby: 95% CI low".into(),
            points: pick(true, &|p| p.stale_share_ci[0]),
            dashed: true,
            color: super::figures::shade(trigger, 2, 3),
        },
        Series {
            name: "standby: 95% CI high".into(),
            points: pick(true, &|p| p.stale_share_ci[1]),
            dashed: true,
            color: super::figures::shade(trigger, 2, 3),
        },
        Series {
            name: "S3: P(lag > Δ), measured lag".into(),
            points: pick(true, &|p| p.s3_prediction),
            dashed: true,
            color: trigger,
        },
        Series {
            name: "primary: stale share".into(),
            points: pick(false, &|p| p.stale_share),
            dashed: false,
            color: primary,
        },
    ];
    Ok(vec![super::charts::Figure {
        name: PG_FIGURE.into(),
        svg: line_chart(
            &Chart {
                title: "trigger read-back on PostgreSQL: stale reads vs standby apply delay",
                x_label: "recovery_min_apply_delay (ms)",
                y_label: "share of read-backs that found no token",
                x: (0.0, xmax),
                y: (0.0, 1.02),
                legend: plotters::chart::SeriesLabelPosition::UpperLeft,
            },
            &series,
        )?,
    }])
}

fn f(v: f64) -> String {
    format!("{v:.2}")
}

pub fn sections(d: &LoopbackData) -> Vec<Section> {
    let c = &d.calibration;
    let cal_rows: Vec<Vec<String>> = c
        .rows
        .iter()
        .map(|r| {
            vec![
                r.mechanism.to_string(),
                r.hops.to_string(),
                format!("{} / {}", f(r.sim_median_ms[0]), f(r.sim_median_ms[1])),
                format!(
                    "{} / {}",
                    f(r.loopback_median_ms[0]),
                    f(r.loopback_median_ms[1])
                ),
                format!("{} / {}", f(r.sim_slope), f(r.loopback_slope)),
                f(r.loopback_intercept_ms),
                format!(
                    "{}{}",
                    if r.agree_at_5ms { "agrees" } else { "differs" },
                    if r.slopes_match_hops {
                        ""
                    } else {
                        "; slope ≠ hops"
                    }
                ),
            ]
        })
        .collect();
    let calib = Section {
        id: "CAL".into(),
        title: "Calibration: simulator against loopback".into(),
        claim: "The simulator's numbers persuade only if the same role logic over real HTTP agrees with it.".into(),
        experiment: format!(
            "{}. Injected one-way delay {} ms per inter-party link, no loss, {} loopback samples per point; tolerance {}.",
            c.note,
            c.delays_ms
                .iter()
                .map(|d| format!("{d}"))
                .collect::<Vec<_>>()
                .join(" and "),
            c.loopback_samples_per_point,
            c.tolerance
        ),
        blocks: vec![Block::table(&["mechanism", "hops", "sim median ms at 0 / 5 ms", "loopback median ms at 0 / 5 ms", "slope sim / loopback (ms per ms)", "loopback intercept ms (real overhead)", "at 5 ms"], cal_rows)],
        rule: "Supported if every mechanism's loopback median at 5 ms is within the tolerance of the simulator's, the slopes equal the hop counts, and the mechanisms keep their order.".into(),
        verdict: calibration_rule(&CalibrationData {
            all_agree: c.all_agree,
            same_ordering: c.same_ordering,
        }),
        reproduce: vec!["cargo run --release -- calibrate".into()],
        ..Default::default()
    };

    let burden_rows: Vec<Vec<String>> = d
        .burden
        .iter()
        .map(|b| {
            vec![
                b.mechanism.to_string(),
                if b.stock_client_usable { "yes" } else { "no" }.into(),
                b.on_demand_request
                    .clone()
                    .unwrap_or_else(|| "— (no on-demand path)".into()),
                format!(
                    "{}: {}",
                    b.counts.inbound_endpoints,
                    b.inbound_endpoints.join(", ")
                ),
                format!(
                    "{}: {}",
                    b.counts.persistent_state,
                    b.persistent_state.join(", ")
                ),
                format!("{}: {}", b.counts.message_types, b.message_types.join(", ")),
                b.counts.failure_branches.to_string(),
            ]
        })
        .collect();
    let by_stock_client = |usable: bool| -> Vec<String> {
        d.burden
            .iter()
            .filter(|b| b.stock_client_usable == usable)
            .map(|b| b.mechanism.to_string())
            .collect()
    };
    let h7_data = H7Data {
        stock_client: by_stock_client(true),
        bespoke: by_stock_client(false),
    };
    let basis = d.burden.first().map_or("", |b| b.failure_branches_basis);
    let burden_table = Block::table(
        &[
            "mechanism",
            "stock OAuth client drives the acquisition",
            "on-demand request",
            "inbound endpoints P must host",
            "state P must persist per tenant",
            "bespoke message types",
            "failure branches (indicative)",
        ],
        burden_rows,
    );
    let h7 = Section {
        id: "H7".into(),
        title: "Standard OAuth and libraries".into(),
        claim: "\"we'd prefer an actual standard OAuth flow was used too\"; \"with a standard flow we'd just plug in a library and never think about it again\" (glue-code post); \"A proprietary flow is more work to understand … amps up the maintenance cost\" (proprietary-flow post) [F: thread].".into(),
        experiment: format!("E-conf on loopback: the unmodified `oauth2` crate (closure HTTP client) against each mechanism's token endpoint (the interop tests: refresh, tenant-secret, global-secret, and upm-oauth's code + PKCE + state through a scripted consent); what each mechanism makes the partner implement beyond it, counted from the roles' declared interfaces. Failure branches: {basis}."),
        blocks: vec![burden_table],
        rule: "Depends-on (the mechanism) when some mechanisms are driven by a stock client unmodified and others are not; supported if all are; refuted if none is.".into(),
        verdict: h7_rule(&h7_data),
        reproduce: vec!["cargo test --test net_interop".into()],
        ..Default::default()
    };
    let refresh = d.burden.iter().find(|b| b.mechanism == "refresh");
    let h22 = Section {
        id: "H22".into(),
        title: "A custom grant type".into(),
        claim: "@AdamMoore (Atlassian): \"we will need to create a custom grant type … I'm not sure how well it will work with standard OAuth libraries out-of-the-box\" [F: thread].".into(),
        experiment: "E-conf on refresh, its refresh token provisioned at install: does the stock client's refresh_token grant work unmodified, and what does provisioning need?".into(),
        blocks: vec![],
        rule: "Refuted (no custom grant is needed) if the stock client's refresh_token grant works unmodified; depends-on names what provisioning the RT still needs.".into(),
        verdict: h22_rule(&H22Data {
            refresh: refresh.map(|b| RefreshGrant {
                stock_client_usable: b.stock_client_usable,
                inbound_endpoints: b.inbound_endpoints.clone(),
            }),
        }),
        reproduce: vec!["cargo test --test net_interop".into()],
        ..Default::default()
    };
    vec![calib, h7, h22, postgres_section(d)]
}
