//! `simulate --check` and `--stats`: the run in its phases (provisioning, the rest of the run,
//! the summary), the named property checkers over its history, and what it cost (history
//! events, peak memory, µs per demand). The wall clock and `/proc` are read here, never in
//! the models.

use anyhow::{Result, bail};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Instant;
use tokenlab_models::sim::{Scenario, Sim, Summary};
use tokenlab_properties::Property;
use tokenlab_properties::suite::judge_all;

/// One property's verdict over the run's history.
#[derive(Serialize)]
pub struct PropertyOut {
    pub verdict: &'static str,
    pub reached: u64,
}

/// What a run cost. Times are wall clock on this machine (not part of any JSON output).
pub struct Stats {
    pub tenants: u32,
    pub demands: u64,
    pub events: usize,
    pub provision_s: f64,
    pub run_s: f64,
    pub summary_s: f64,
    pub check_s: f64,
    /// Peak resident memory of the process (VmHWM), if the system reports it.
    pub peak_bytes: Option<u64>,
    /// The peak when the run had ended (before the summary and the checkers).
    pub run_peak_bytes: Option<u64>,
    /// CPU time of the process so far (user + system), if the system reports it.
    pub cpu_s: Option<f64>,
}

impl Stats {
    /// One line for stderr.
    pub fn line(&self) -> String {
        let per_demand = |s: f64| {
            if self.demands == 0 {
                0.0
            } else {
                s * 1e6 / self.demands as f64
            }
        };
        let total = self.provision_s + self.run_s + self.summary_s;
        let mem = match self.peak_bytes {
            Some(b) => format!(
                "peak memory {:.1} MiB ({:.0} B per tenant, {:.0} B per history event)",
                b as f64 / (1024.0 * 1024.0),
                b as f64 / f64::from(self.tenants.max(1)),
                b as f64 / self.events.max(1) as f64
            ),
            None => "peak memory unknown (no /proc/self/status)".into(),
        };
        let mem = match self.run_peak_bytes {
            Some(b) => format!(
                "{mem} ({:.1} MiB when the run ended)",
                b as f64 / (1024.0 * 1024.0)
            ),
            None => mem,
        };
        let cpu = match self.cpu_s {
            Some(c) => format!(
                "; CPU {c:.2} s ({:.2} µs per demand, checkers included)",
                per_demand(c)
            ),
            None => String::new(),
        };
        format!(
            "stats: {} tenants, {} demands, {} history events; {mem}; wall {:.2} µs per demand \
             overall, {:.2} µs per demand after provisioning; provisioning {:.3} s, run {:.3} s, \
             summary {:.3} s, checkers {:.3} s{cpu}",
            self.tenants,
            self.demands,
            self.events,
            per_demand(total),
            per_demand(self.run_s),
            self.provision_s,
            self.run_s,
            self.summary_s,
            self.check_s,
        )
    }
}

/// The `simulate --json` object with the checked properties after the summary.
#[derive(Serialize)]
pub struct SimOut {
    #[serde(flatten)]
    pub summary: Summary,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub properties: BTreeMap<Property, PropertyOut>,
    #[serde(skip)]
    pub stats: Stats,
}

/// `--check P1,P12`: known property ids, each once.
pub fn parse_checks(ids: &[String]) -> Result<Vec<Property>> {
    let mut out = Vec::new();
    for id in ids {
        let p: Property = match id.parse() {
            Ok(p) => p,
            Err(e) => bail!("--check: {e}"),
        };
        if !out.contains(&p) {
            out.push(p);
        }
    }
    Ok(out)
}

/// Peak resident set size of this process, from `/proc/self/status` (Linux).
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// User + system CPU time of this process, from `/proc/self/stat` (Linux; clock ticks at
/// the usual 100 Hz).
fn cpu_time() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

/// Runs the scenario in phases, then the checkers over its history. The wall clock times the
/// phases for `--stats` only (the driver's side, outside the models).
#[allow(clippy::disallowed_methods)]
pub fn run(s: &Scenario, properties: &[Property]) -> Result<SimOut> {
    let t0 = Instant::now();
    let mut sim = Sim::new(s)?;
    sim.provision();
    let provision_s = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    sim.run();
    let finished = sim.finish();
    let run_s = t1.elapsed().as_secs_f64();
    let run_peak_bytes = peak_rss();
    let t2 = Instant::now();
    let summary = finished.summarize();
    let summary_s = t2.elapsed().as_secs_f64();
    let t3 = Instant::now();
    let result = finished.into_result_with(summary);
    let props = properties
        .iter()
        .zip(judge_all(
            properties,
            &result.history,
            &result.params,
            s.tenants,
        ))
        .map(|(p, v)| {
            (
                *p,
                PropertyOut {
                    verdict: v.kind.name(),
                    reached: v.reached,
                },
            )
        })
        .collect();
    let check_s = t3.elapsed().as_secs_f64();
    let stats = Stats {
        tenants: s.tenants,
        demands: result.summary.demands,
        events: result.history.records.len(),
        provision_s,
        run_s,
        summary_s,
        check_s,
        peak_bytes: peak_rss(),
        run_peak_bytes,
        cpu_s: cpu_time(),
    };
    Ok(SimOut {
        summary: result.summary,
        properties: props,
        stats,
    })
}

/// The checked properties, one line each (text mode).
pub fn print_properties(out: &SimOut) {
    for (p, v) in &out.properties {
        println!("{p} {}: {} (reached {})", p.name(), v.verdict, v.reached);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_parse_and_an_unknown_one_is_named() {
        let ok = parse_checks(&["P1".into(), "P12".into(), "P1".into()]).unwrap();
        assert_eq!(ok, vec![Property::P1, Property::P12]);
        let e = parse_checks(&["P13".into()]).unwrap_err().to_string();
        assert!(e.contains("--check") && e.contains("P13"), "{e}");
    }
}
