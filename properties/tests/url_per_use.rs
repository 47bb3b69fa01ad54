//! Issue 12: `url_rotation=per_use`. F issues a new trigger URL after every accepted call and
//! revokes the old one at once; P learns the successor from F's `url_rotated` lifecycle
//! event. P4's declared bound: B(URL) is until the URL's next use (plus TTL for what that
//! call minted).
//! - positive: a stolen URL is bounded (P4 holds, reached), where `never` is unbounded
//!   (by-design);
//! - P's own trigger calls keep working (P11);
//! - bad values are rejected, and `per_use` only where the spec lists it (trigger's URL).

use tokenlab_models::mechanisms::resolve;
use tokenlab_properties::suite::{Expectation, run_row};
use tokenlab_properties::{Property, VerdictKind};

const SEED: u64 = 0x12b;

#[test]
fn a_stolen_url_lasts_until_its_next_use() {
    let e = Expectation::adhoc("trigger", &["url_rotation=per_use"], Property::P4);
    let r = run_row(&e, 1, SEED);
    assert_eq!(r.verdict, VerdictKind::Holds, "{:?}", r.counterexample);
    assert!(r.reached > 0);
    let never = Expectation::adhoc("trigger", &[], Property::P4);
    assert_eq!(run_row(&never, 1, SEED).verdict, VerdictKind::ByDesign);
}

#[test]
fn p_keeps_working_with_per_use_urls() {
    let e = Expectation::adhoc("trigger", &["url_rotation=per_use"], Property::P11);
    let r = run_row(&e, 1, SEED);
    assert_eq!(r.verdict, VerdictKind::Holds, "{:?}", r.counterexample);
}

#[test]
fn bad_values_are_rejected() {
    for (m, kv) in [
        ("trigger", "url_rotation=per_call"),
        ("trigger", "url_rotation=periodic(0s)"),
        ("tenant-secret", "rotation=per_use"),
    ] {
        let err = resolve(m, &[kv.to_string()])
            .err()
            .unwrap_or_else(|| panic!("{m} {kv} accepted"))
            .to_string();
        let key = kv.split('=').next().unwrap();
        assert!(err.contains(key) && err.contains("bad value"), "{err}");
    }
    assert!(resolve("trigger", &["url_rotation=per_use".to_string()]).is_ok());
}
