//! The committed examples of `scenarios/`, built in so `tokenlab scenario --example NAME`
//! prints them and a test proves each one loads.

/// (name, file text); the name is the file's stem.
pub const EXAMPLES: &[(&str, &str)] = &[
    ("trigger", include_str!("../../scenarios/trigger.toml")),
    ("push", include_str!("../../scenarios/push.toml")),
    ("refresh", include_str!("../../scenarios/refresh.toml")),
    ("upm-oauth", include_str!("../../scenarios/upm-oauth.toml")),
    (
        "global-secret",
        include_str!("../../scenarios/global-secret.toml"),
    ),
    (
        "tenant-secret",
        include_str!("../../scenarios/tenant-secret.toml"),
    ),
    (
        "connect-jwt",
        include_str!("../../scenarios/connect-jwt.toml"),
    ),
    (
        "whatif-grace-thief",
        include_str!("../../scenarios/whatif-grace-thief.toml"),
    ),
    (
        "sweep-grace-window",
        include_str!("../../scenarios/sweep-grace-window.toml"),
    ),
    (
        "trigger-replica-lag",
        include_str!("../../scenarios/trigger-replica-lag.toml"),
    ),
    (
        "jwks-outage-forge",
        include_str!("../../scenarios/jwks-outage-forge.toml"),
    ),
    (
        "key-rollover-outage",
        include_str!("../../scenarios/key-rollover-outage.toml"),
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_example_loads_and_every_file_is_listed() {
        for (name, text) in EXAMPLES {
            if let Err(e) = crate::scenario::run::load_text(name, text) {
                panic!("{e}");
            }
        }
        let mut files: Vec<String> =
            std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios"))
                .expect("scenarios/")
                .flatten()
                .filter_map(|e| {
                    e.file_name()
                        .to_str()?
                        .strip_suffix(".toml")
                        .map(String::from)
                })
                .collect();
        files.sort();
        let mut names: Vec<String> = EXAMPLES.iter().map(|(n, _)| n.to_string()).collect();
        names.sort();
        assert_eq!(files, names);
    }
}
