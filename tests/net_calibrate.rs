//! Calibration: simulator and loopback agree. The check is the tolerance, not a
//! wall-clock bound: medians at 5 ms within max(15%, 0.5 ms), the same ordering, slopes equal
//! to the hop counts (within that tolerance over the 5 ms span). The tolerance absorbs the
//! real overhead (HTTP, JWT signing/verification, store code), which is what the loopback
//! intercept reports; a machine slow enough to spend more than 0.5 ms of overhead per
//! acquisition beyond the simulator would fail it, and that would be a real finding.

use tokenlab::net::calibrate;

#[test]
fn simulator_and_loopback_agree_at_0_and_5_ms() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let c = rt.block_on(calibrate(15)).expect("calibration runs");
    print!("{}", tokenlab::net::calibrate::table(&c));
    assert_eq!(c.rows.len(), 7);
    for r in &c.rows {
        // Enough samples behind every median on both sides.
        assert!(r.sim_samples.iter().all(|n| *n >= 15), "{r:?}");
        assert!(r.loopback_samples.iter().all(|n| *n >= 10), "{r:?}");
        // The simulator is exact: no local cost, so latency = hops × delay.
        assert_eq!(r.sim_slope, f64::from(r.hops), "{r:?}");
        assert_eq!(r.sim_intercept_ms, 0.0, "{r:?}");
        assert!(r.agree_at_5ms, "{r:?}");
        assert!(r.slopes_match_hops, "{r:?}");
        // Real work costs real time: the loopback never beats the simulator's floor.
        assert!(r.loopback_median_ms[1] >= r.sim_median_ms[1], "{r:?}");
    }
    assert!(c.same_ordering && c.all_agree);
    let trigger = c.rows.iter().find(|r| r.mechanism == "trigger").unwrap();
    let refresh = c.rows.iter().find(|r| r.mechanism == "refresh").unwrap();
    assert!(trigger.loopback_median_ms[1] > refresh.loopback_median_ms[1]);
}
