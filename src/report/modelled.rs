//! What the models cover, asked of the registries (`mechanisms::registry()`, each mechanism's
//! `switches()`, `shared_specs()`) every time the report is written, so the report's account
//! of what is and is not modelled cannot drift from the code. The only list kept here is the
//! settings `mechanisms.md` and `hypotheses.md` ask for; whether each exists is the registry's
//! answer.

use super::section::Block;
use tokenlab_models::mechanisms::{Acquisition, Mechanism, registry, resolve, shared_specs};
use tokenlab_models::params::{Basis, ParamSpec};

/// A setting a hypothesis or `mechanisms.md` asks of a mechanism.
pub struct Wanted {
    pub mechanism: &'static str,
    pub key: &'static str,
    /// A value the switch must accept (None: the key existing is enough).
    pub value: Option<&'static str>,
    /// How the report names it.
    pub label: &'static str,
}

/// The settings the specification names that a model may lack, in the order the report lists
/// them.
pub const WANTED: [Wanted; 9] = [
    Wanted {
        mechanism: "trigger",
        key: "mode",
        value: Some("async"),
        label: "trigger `mode=async`",
    },
    Wanted {
        mechanism: "trigger",
        key: "url_rotation",
        value: Some("per_use"),
        label: "trigger's per-use URL rotation (`url_rotation=per_use`)",
    },
    Wanted {
        mechanism: "global-secret",
        key: "ip_allowlist",
        value: None,
        label: "`ip_allowlist`",
    },
    Wanted {
        mechanism: "refresh",
        key: "sender_constraint",
        value: None,
        label: "sender-constrained secrets (`sender_constraint`)",
    },
    Wanted {
        mechanism: "refresh",
        key: "rt_idle_expiry",
        value: None,
        label: "RT idle expiry (`rt_idle_expiry`)",
    },
    Wanted {
        mechanism: "refresh",
        key: "rt_max_life",
        value: None,
        label: "RT maximum life (`rt_max_life`)",
    },
    Wanted {
        mechanism: "upm-oauth",
        key: "introspection",
        value: None,
        label: "token introspection (`introspection`)",
    },
    Wanted {
        mechanism: "connect-jwt",
        key: "act_as_user",
        value: None,
        label: "Connect's `act_as_user`",
    },
    Wanted {
        mechanism: "trigger",
        key: "clock_skew",
        value: None,
        label: "clock skew (`clock_skew`)",
    },
];

/// Whether the registry has the setting: the key is declared for the mechanism and, where a
/// value is named, resolving it succeeds.
pub fn is_modelled(w: &Wanted) -> bool {
    let Some(m) = registry().into_iter().find(|m| m.id() == w.mechanism) else {
        return false;
    };
    let declared = shared_specs()
        .iter()
        .chain(m.switches().iter())
        .any(|s| s.key == w.key);
    declared
        && w.value
            .is_none_or(|v| resolve(w.mechanism, &[format!("{}={v}", w.key)]).is_ok())
}

/// The wanted settings no model has yet.
pub fn not_modelled() -> Vec<&'static Wanted> {
    WANTED.iter().filter(|w| !is_modelled(w)).collect()
}

/// The wanted setting `key` of `mechanism` (the last section that waited on one, H12, has
/// landed; kept for the tests of [`is_modelled`]).
#[cfg(test)]
pub fn wanted(mechanism: &str, key: &str) -> Option<&'static Wanted> {
    WANTED
        .iter()
        .find(|w| w.mechanism == mechanism && w.key == key)
}

fn basis_name(b: Basis) -> &'static str {
    match b {
        Basis::Fact => "fact",
        Basis::Inference => "inference",
        Basis::Unverified => "unverified",
        Basis::Mutant => "mutant",
    }
}

fn acquisition_text(m: &dyn Mechanism) -> &'static str {
    match m.acquisition() {
        Acquisition::OnDemand => "asks and waits",
        Acquisition::PushedOnly => "waits for the schedule",
        Acquisition::SelfSigned => "signs locally",
    }
}

fn by_basis(specs: &[ParamSpec]) -> String {
    [
        Basis::Fact,
        Basis::Inference,
        Basis::Unverified,
        Basis::Mutant,
    ]
    .iter()
    .filter_map(|b| {
        let keys: Vec<String> = specs
            .iter()
            .filter(|s| s.basis == *b)
            .map(|s| format!("`{}={}`", s.key, s.default))
            .collect();
        (!keys.is_empty()).then(|| format!("{}: {}", basis_name(*b), keys.join(", ")))
    })
    .collect::<Vec<_>>()
    .join("; ")
}

/// The Method paragraph's account of the models, then one row per mechanism and the shared
/// parameters, all read from the registries.
pub fn blocks() -> Vec<Block> {
    let shared = shared_specs();
    let mechs = registry();
    let own: usize = mechs.iter().map(|m| m.switches().len()).sum();
    let mut v = vec![Block::Text {
        text: format!(
            "What is modelled (read from the mechanism and parameter registries when this report was written): {} mechanisms ({}), each an executable sans-IO model; {} parameters shared by every mechanism and {} mechanism switches, each with its default and the basis of that default (fact, inference, unverified, or a sound default with a deliberately broken mutant value).",
            mechs.len(),
            mechs.iter().map(|m| m.id()).collect::<Vec<_>>().join(", "),
            shared.len(),
            own
        ),
    }];
    v.push(Block::table(
        &[
            "mechanism",
            "what it is",
            "on a miss",
            "hops on a miss",
            "root credential at P",
            "revocable without uninstall",
            "its switches by basis (default)",
        ],
        mechs
            .iter()
            .map(|m| {
                vec![
                    m.id().to_string(),
                    m.description().to_string(),
                    acquisition_text(*m).to_string(),
                    m.hops_on_miss().to_string(),
                    format!("`{}`", m.root_credential()),
                    if m.revocable() { "yes" } else { "no" }.to_string(),
                    by_basis(&m.switches()),
                ]
            })
            .collect(),
    ));
    v.push(Block::Text {
        text: format!("Shared by every mechanism: {}.", by_basis(&shared)),
    });
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registered_switch_counts_as_modelled_and_a_missing_one_does_not() {
        // Both exist in the registry today; the report must not call them unmodelled.
        assert!(is_modelled(wanted("trigger", "clock_skew").unwrap()));
        assert!(is_modelled(wanted("refresh", "sender_constraint").unwrap()));
        let made_up = Wanted {
            mechanism: "trigger",
            key: "no_such_switch",
            value: None,
            label: "",
        };
        assert!(!is_modelled(&made_up));
        // A declared key whose value the parser rejects is not modelled either.
        let bad_value = Wanted {
            mechanism: "trigger",
            key: "read_from",
            value: Some("no_such_value"),
            label: "",
        };
        assert!(!is_modelled(&bad_value));
    }

    #[test]
    fn the_table_has_a_row_per_registered_mechanism() {
        let b = blocks();
        let Block::Table { rows, .. } = &b[1] else {
            panic!("second block is the table");
        };
        assert_eq!(rows.len(), registry().len());
    }
}
