//! The loopback part of the report: the same role code over real HTTP on 127.0.0.1 (calibration
//! against the simulator, and what a stock OAuth client can and cannot do). Wall-clock numbers
//! are not reproducible byte for byte, so this part sits between markers that
//! `scripts/check-reproducible.sh` strips before it compares two runs.

use super::rules::*;
use super::section::{Block, Section};
use serde::Serialize;
use tokenlab::net::burden::{Burden, partner_burden};
use tokenlab::net::calibrate::{Calibration, calibration};

pub const BEGIN: &str = "<!-- loopback:begin -->";
pub const END: &str = "<!-- loopback:end -->";

#[derive(Clone, Debug, Serialize)]
pub struct LoopbackData {
    pub calibration: Calibration,
    pub burden: Vec<Burden>,
}

/// Runs the calibration (`samples` cold acquisitions per mechanism and delay) and the
/// stock-client burden on loopback. Errors (a port that will not bind) are reported, not fatal.
pub fn compute(samples: u32) -> Result<LoopbackData, String> {
    let calibration = calibration(samples).map_err(|e| format!("calibration: {e}"))?;
    let burden = partner_burden().map_err(|e| format!("partner burden: {e}"))?;
    Ok(LoopbackData {
        calibration,
        burden,
    })
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
    vec![calib, h7, h22]
}
