//! The partner burden, derived from loopback runs: which mechanisms a stock OAuth client can
//! use, and what the others make the partner implement.

use tokenlab::net::partner_burden;

#[test]
fn partner_burden_separates_stock_client_mechanisms_from_the_rest() {
    let all = partner_burden().expect("loopback worlds start");
    assert_eq!(all.len(), 7);
    for b in &all {
        println!("{}", serde_json::to_string(b).unwrap());
        assert_eq!(b.counts.inbound_endpoints, b.inbound_endpoints.len());
        assert_eq!(b.counts.persistent_state, b.persistent_state.len());
        assert_eq!(b.counts.message_types, b.message_types.len());
        assert_eq!(b.counts.failure_branches, b.failure_branches.len());
        // Every mechanism hands the partner something at install time.
        assert!(b.counts.inbound_endpoints >= 1, "{b:?}");
        assert!(b.counts.failure_branches >= 1, "{b:?}");
    }
    let by = |id: &str| all.iter().find(|b| b.mechanism == id).unwrap();
    for id in ["refresh", "upm-oauth", "tenant-secret", "global-secret"] {
        assert!(by(id).stock_client_usable, "{:?}", by(id));
    }
    for id in ["trigger", "push", "connect-jwt"] {
        assert!(!by(id).stock_client_usable, "{:?}", by(id));
    }
    assert!(
        by("trigger")
            .inbound_endpoints
            .iter()
            .any(|e| e == "P.auth POST /auth")
    );
    assert!(
        by("trigger")
            .message_types
            .iter()
            .any(|r| r == "GET /trigger")
    );
    assert!(
        by("push")
            .inbound_endpoints
            .iter()
            .any(|e| e == "P.recv POST /push")
    );
    assert_eq!(by("push").on_demand_request, None);
    assert!(by("upm-oauth").inbound_endpoints.len() > by("refresh").inbound_endpoints.len());
}
