//! Every `--json` output of tokenlab is one object whose first key is `schema_version`, so a
//! consumer can tell a format change from a data change. The body keeps its own field order
//! (flattened after the version); a list is wrapped under a key that names it.

use serde::Serialize;

/// Bumped when a `--json` output changes shape (a renamed, removed or retyped field).
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Serialize)]
struct Versioned<'a, T: Serialize + ?Sized> {
    schema_version: u32,
    #[serde(flatten)]
    body: &'a T,
}

/// `body` (a struct or a map) with `schema_version` first, pretty-printed.
pub fn to_string<T: Serialize + ?Sized>(body: &T) -> serde_json::Result<String> {
    serde_json::to_string_pretty(&Versioned {
        schema_version: SCHEMA_VERSION,
        body,
    })
}

/// A list, as `{"schema_version": 1, "<key>": [...]}`.
pub fn list_to_string<T: Serialize>(key: &str, items: &[T]) -> serde_json::Result<String> {
    to_string(&std::collections::BTreeMap::from([(key, items)]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_first_and_the_body_in_its_own_order() {
        #[derive(Serialize)]
        struct B {
            z: u32,
            a: f64,
        }
        let s = to_string(&B { z: 1, a: 0.1 }).unwrap();
        assert_eq!(
            s,
            "{\n  \"schema_version\": 1,\n  \"z\": 1,\n  \"a\": 0.1\n}"
        );
        let l = list_to_string("items", &[1, 2]).unwrap();
        let v: serde_json::Value = serde_json::from_str(&l).unwrap();
        assert_eq!(v["schema_version"], 1);
        assert_eq!(v["items"][1], 2);
    }
}
