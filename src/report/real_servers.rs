//! The "real servers" table of E-sec: what `tokenlab probe` measured on real authorization
//! servers (django-oauth-toolkit, node oidc-provider, `tokenlab serve`) at the named versions.
//! The report starts no server: the data is `real_servers.json`, written by
//! `scripts/probe-real-servers.sh` and checked against the probe by `tests/probe.rs`.

use super::section::Block;
use serde_json::Value;

/// The committed measurement.
pub const REAL_SERVERS_JSON: &str = include_str!("real_servers.json");

fn cell(v: &Value) -> String {
    match v {
        Value::Null => "—".into(),
        Value::Bool(true) => "yes".into(),
        Value::Bool(false) => "no".into(),
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

/// The E-sec blocks: one sentence naming the versions and the table (nothing when the data
/// does not parse, which `tests/probe.rs` rules out).
pub fn blocks() -> Vec<Block> {
    let Ok(doc) = serde_json::from_str::<Value>(REAL_SERVERS_JSON) else {
        return Vec::new();
    };
    let Some(configs) = doc["configurations"].as_array() else {
        return Vec::new();
    };
    let versions: Vec<String> = doc["versions"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| format!("{k} {}", cell(v))).collect())
        .unwrap_or_default();
    let rows = configs
        .iter()
        .map(|c| {
            let grace = match (&c["rotation"], &c["grace_window_s"]) {
                (Value::Bool(false), _) => "n/a".to_string(),
                (_, Value::Number(n)) if n.as_f64() == Some(0.0) => "none".to_string(),
                (_, Value::Number(n)) => format!("{n} s"),
                _ => "—".to_string(),
            };
            let switches = c["model_switches"]
                .as_array()
                .map(|a| a.iter().map(cell).collect::<Vec<_>>().join(" "))
                .unwrap_or_default();
            vec![
                cell(&c["server"]),
                cell(&c["settings"]),
                cell(&c["rotation"]),
                cell(&c["reuse_rejected"]),
                grace,
                cell(&c["grace_reply"]),
                cell(&c["family_revoked_on_reuse"]),
                cell(&c["old_generations_accepted"]),
                format!(
                    "{} / {:.1} s",
                    cell(&c["requests"]),
                    c["elapsed_s"].as_f64().unwrap_or(0.0)
                ),
                format!("`{switches}`"),
                format!("{} / {}", cell(&c["p4"]), cell(&c["p9"])),
                cell(&c["f_grace_applies"]),
            ]
        })
        .collect();
    vec![
        Block::Text {
            text: format!(
                "Real servers, measured on {} by `tokenlab probe --check` (black-box, on loopback; `scripts/probe-real-servers.sh` wrote `src/report/real_servers.json`, which `tests/probe.rs` checks against each configuration's ground truth; this report does not re-measure). Grace periods are set to 1 s so the probe's bisection stays quick; the window column is the probe's estimate (0.25 s bracket). P4/P9 are tokenlab's `refresh` rows run with the measured switches; F-grace applies where P4 is violated with the measured grace window and holds without it. django-oauth-toolkit at this version refuses an RT two generations old inside its grace period (its fix of issue 1617); tokenlab's own model accepts it, which over-approximates the attacker.",
                versions.join(", ")
            ),
        },
        Block::table(
            &[
                "server",
                "configuration",
                "rotation",
                "superseded RT refused",
                "grace window",
                "grace reply",
                "family revoked on reuse",
                "RT 2 generations old accepted",
                "requests / time",
                "model switches",
                "P4 / P9",
                "F-grace applies",
            ],
            rows,
        ),
    ]
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_table_has_one_row_per_configuration() {
        let b = super::blocks();
        assert_eq!(b.len(), 2, "the committed real_servers.json parses");
        let super::Block::Table { rows, headers } = &b[1] else {
            panic!("a table")
        };
        assert!(rows.len() >= 12);
        assert!(rows.iter().all(|r| r.len() == headers.len()));
        assert!(
            rows.iter()
                .any(|r| r[0] == "django-oauth-toolkit" && r[11] == "yes")
        );
    }
}
