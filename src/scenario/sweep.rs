//! Sweeps: one or two parameters, each a dotted path into the file itself
//! (`switches.grace_window`, `workload.tenants`, `links.0.loss`, …) with the list of values it
//! takes. A point is the file with those values written in, parsed and checked like any file,
//! so a sweep can vary anything a file can say and nothing it cannot.

use super::locate::{FileError, Path, Seg};
use super::{Experiment, build, file::ScenarioFile};
use serde::Deserialize;

/// One swept parameter.
#[derive(Clone, Debug)]
pub struct Param {
    /// `switches.grace_window`.
    pub name: String,
    /// Where it is written: `sweep.switches.grace_window`.
    pub at: Path,
    /// The path inside the file it sets.
    pub target: Vec<String>,
    pub values: Vec<toml::Value>,
}

/// One point: the values of the parameters, in order, and the checked experiment.
#[derive(Clone, Debug)]
pub struct Point {
    pub values: Vec<(String, String)>,
    pub experiment: Experiment,
}

/// A value as the table and `--json` print it.
pub fn show(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        other => format!("{other:?}"),
    }
}

/// The swept parameters of `sweep` (nested tables are dotted paths; leaves are arrays).
pub fn params(
    sweep: &toml::Table,
    err: &dyn Fn(&Path, String) -> FileError,
) -> Result<Vec<Param>, FileError> {
    let mut out = Vec::new();
    flatten(sweep, &Path::root("sweep"), &mut Vec::new(), &mut out, err)?;
    if out.is_empty() || out.len() > 2 {
        return Err(err(
            &Path::root("sweep"),
            format!(
                "expected one or two parameters (e.g. switches.grace_window = [\"0s\", \"10s\"]), got {}",
                out.len()
            ),
        ));
    }
    Ok(out)
}

fn flatten(
    t: &toml::Table,
    at: &Path,
    prefix: &mut Vec<String>,
    out: &mut Vec<Param>,
    err: &dyn Fn(&Path, String) -> FileError,
) -> Result<(), FileError> {
    for (k, v) in t {
        // `"links.0.loss"` (one quoted key) and `links.0.loss` (dotted keys) mean the same.
        let parts: Vec<String> = k.split('.').map(|s| s.trim().to_string()).collect();
        let depth = parts.len();
        prefix.extend(parts);
        let here = at.key(k);
        match v {
            toml::Value::Table(inner) => flatten(inner, &here, prefix, out, err)?,
            toml::Value::Array(values) => {
                if prefix
                    .first()
                    .is_some_and(|f| f == "sweep" || f == "version")
                {
                    return Err(err(
                        &here,
                        "expected a parameter of the scenario, not version or sweep".into(),
                    ));
                }
                if values.is_empty() || values.len() > 1000 {
                    return Err(err(
                        &here,
                        format!("expected 1 to 1000 values, got {}", values.len()),
                    ));
                }
                if let Some(bad) = values.iter().find(|v| {
                    matches!(
                        v,
                        toml::Value::Array(_) | toml::Value::Table(_) | toml::Value::Datetime(_)
                    )
                }) {
                    return Err(err(
                        &here,
                        format!(
                            "expected strings, numbers or booleans, got a {}",
                            bad.type_str()
                        ),
                    ));
                }
                out.push(Param {
                    name: prefix.join("."),
                    at: here,
                    target: prefix.clone(),
                    values: values.clone(),
                });
            }
            other => {
                return Err(err(
                    &here,
                    format!(
                        "expected an array of the values to sweep, got a {}",
                        other.type_str()
                    ),
                ));
            }
        }
        prefix.truncate(prefix.len() - depth);
    }
    Ok(())
}

/// Every point of the sweep, checked (the first parameter varies slowest).
pub fn points(
    raw: &toml::Table,
    params: &[Param],
    err: &dyn Fn(&Path, String) -> FileError,
) -> Result<Vec<Point>, FileError> {
    let mut combos: Vec<Vec<usize>> = vec![Vec::new()];
    for p in params {
        combos = combos
            .into_iter()
            .flat_map(|c| {
                (0..p.values.len()).map(move |i| {
                    let mut c = c.clone();
                    c.push(i);
                    c
                })
            })
            .collect();
    }
    let mut out = Vec::new();
    for combo in combos {
        let mut doc = raw.clone();
        doc.remove("sweep");
        let mut values = Vec::new();
        for (p, &i) in params.iter().zip(&combo) {
            let v = p.values[i].clone();
            values.push((p.name.clone(), show(&v)));
            set_in(&mut doc, &p.target, v).map_err(|m| err(&p.at, m))?;
        }
        let label = values
            .iter()
            .map(|(k, v)| format!("{k} = {v}"))
            .collect::<Vec<_>>()
            .join(", ");
        let parsed = ScenarioFile::deserialize(toml::Value::Table(doc)).map_err(|x| {
            err(
                &params[0].at,
                format!(
                    "at the sweep point {label}: {}",
                    x.message().trim().replace('\n', "; ")
                ),
            )
        })?;
        // An error inside a swept value points at the sweep entry that wrote it.
        let located = |path: &Path, m: String| {
            let keys: Vec<String> = path
                .0
                .iter()
                .map(|s| match s {
                    Seg::Key(k) => k.clone(),
                    Seg::Idx(i) => i.to_string(),
                })
                .collect();
            match params.iter().find(|p| keys.starts_with(&p.target)) {
                Some(p) => err(&p.at, format!("at the sweep point {label}: {m}")),
                None => err(path, format!("at the sweep point {label}: {m}")),
            }
        };
        let experiment = build(&parsed, &located)?;
        out.push(Point { values, experiment });
    }
    Ok(out)
}

/// Writes `v` at `path` (tables are created; a numeric segment indexes an existing array).
fn set_in(doc: &mut toml::Table, path: &[String], v: toml::Value) -> Result<(), String> {
    let mut root = toml::Value::Table(std::mem::take(doc));
    let r = set_value(&mut root, path, v);
    if let toml::Value::Table(t) = root {
        *doc = t;
    }
    r
}

fn set_value(node: &mut toml::Value, path: &[String], v: toml::Value) -> Result<(), String> {
    let Some((k, rest)) = path.split_first() else {
        *node = v;
        return Ok(());
    };
    let child = match node {
        toml::Value::Table(t) => t
            .entry(k.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new())),
        toml::Value::Array(a) => {
            let i: usize = k
                .parse()
                .map_err(|_| format!("expected an index into the array, got '{k}'"))?;
            let n = a.len();
            a.get_mut(i)
                .ok_or_else(|| format!("expected an index below {n}, got {i}"))?
        }
        _ => return Err(format!("expected a table or an array at '{k}'")),
    };
    set_value(child, rest, v)
}
