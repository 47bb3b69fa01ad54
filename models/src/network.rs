//! Network locations (issue 12, H23): where each party's requests come from, so a verifier
//! with an IP allow-list (`ip_allowlist`) can refuse requests from outside the partner's
//! registered range. The model has three locations (`threats.md` §2 "location"): the
//! platform's egress (F's calls to P), the partner's network (P's own egress, and whoever
//! acts from inside it: A5 inside, A2 on P's hosts, A8 with P's egress) and the internet
//! (the admin's browser, an outside attacker). The attacker's location is a run parameter
//! (`attacker_location`); every other party's is fixed by who it is.

use crate::ids::Party;
use crate::params::{Basis, Choice, Kind, ParamSpec, spec};

crate::choice_enum! {
    /// A network location (`attacker_location` for the attacker).
    pub enum Location {
        Internet = "internet",
        PartnerNetwork = "partner_network",
        PlatformEgress = "platform_egress",
    }
}

crate::choice_enum! {
    /// An AS-side IP allow-list of P's registered range (`ip_allowlist`, where a mechanism
    /// declares it). `unchecked` is a mutant: the range is registered, the AS never looks.
    pub enum IpAllowlist { Off = "off", On = "on", Unchecked = "unchecked" }
}

impl Default for Location {
    /// Where an attacker is unless a run says otherwise.
    fn default() -> Self {
        Location::Internet
    }
}

impl IpAllowlist {
    /// Whether P registered a range (the clause of P9 applies).
    pub fn registered(self) -> bool {
        self != IpAllowlist::Off
    }
}

/// The switches of a mechanism whose AS can allow-list P's range (global-secret,
/// tenant-secret: `mechanisms.md` §5, §6): the list itself and the attacker's location.
pub fn allowlist_switches() -> [ParamSpec; 2] {
    [
        spec(
            "attacker_location",
            Kind::Choice(Location::NAMES),
            "internet",
            Basis::Inference,
            "where the attacker's requests come from (H23): internet, partner_network (A5 inside, A2 on P's hosts, A8 with P's egress) or platform_egress; the AS's ip_allowlist looks at it",
        ),
        spec(
            "ip_allowlist",
            Kind::Choice(IpAllowlist::NAMES),
            "off",
            Basis::Inference,
            "the AS refuses token requests from outside P's registered range (\"extra security (IP allow-listing etc)\" [F: thread]; AS-side placement is inference; unchecked: mutant, registered but never checked)",
        ),
    ]
}

/// Where `party`'s requests come from; `attacker` is the attacker's location in this run.
pub fn location_of(party: Party, attacker: Location) -> Location {
    match party {
        Party::Partner(_) => Location::PartnerNetwork,
        Party::Platform(_) => Location::PlatformEgress,
        Party::Browser => Location::Internet,
        Party::Attacker => attacker,
    }
}

/// The partner's registered range: its own network (its egress addresses).
pub fn in_partner_range(at: Location) -> bool {
    at == Location::PartnerNetwork
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_partner_network_is_in_range() {
        assert!(in_partner_range(location_of(
            Party::APP,
            Location::Internet
        )));
        assert!(!in_partner_range(location_of(
            Party::AS,
            Location::Internet
        )));
        assert!(!in_partner_range(location_of(
            Party::Browser,
            Location::PartnerNetwork
        )));
        assert!(!in_partner_range(location_of(
            Party::Attacker,
            Location::Internet
        )));
        assert!(in_partner_range(location_of(
            Party::Attacker,
            Location::PartnerNetwork
        )));
        assert_eq!(Location::from_name("moon"), None);
        assert!(!IpAllowlist::Off.registered() && IpAllowlist::Unchecked.registered());
    }
}
