//! Errors that point at the line: one line naming the file, the line and column, the key and
//! what was expected. Serde's errors carry a byte span; our own checks carry a key path, which
//! is looked up in the spanned parse of the same text.

use std::fmt;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// One segment of a key path: a table key or an array index.
#[derive(Clone, Debug, PartialEq)]
pub enum Seg {
    Key(String),
    Idx(usize),
}

/// A key path, e.g. `attacker.steps[0].credential`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Path(pub Vec<Seg>);

impl Path {
    pub fn key(&self, k: &str) -> Path {
        let mut p = self.clone();
        p.0.push(Seg::Key(k.into()));
        p
    }
    pub fn idx(&self, i: usize) -> Path {
        let mut p = self.clone();
        p.0.push(Seg::Idx(i));
        p
    }
    pub fn root(k: &str) -> Path {
        Path(vec![Seg::Key(k.into())])
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(top level)");
        }
        for (i, s) in self.0.iter().enumerate() {
            match s {
                Seg::Key(k) if i == 0 => write!(f, "{k}")?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Idx(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// A bad scenario file, as one line.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{file}:{line}:{col}: {key}: {message}")]
pub struct FileError {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub key: String,
    pub message: String,
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, at: usize) -> (usize, usize) {
    let at = at.min(text.len());
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// A serde or syntax error of the `toml` crate, located and named by the key it falls in.
pub fn from_toml(file: &str, text: &str, e: &toml::de::Error) -> FileError {
    // The crate's messages end in a newline and sometimes span lines; ours are one line.
    let message = e.message().trim().replace('\n', "; ");
    let mut at = e.span().map_or(0, |s| s.start);
    let key = match DeTable::parse(text) {
        Ok(doc) => {
            let doc = doc.get_ref();
            let mut path = Path::default();
            // A missing field is reported on its table: do not descend into its first key.
            key_at(doc, at, message.starts_with("missing field"), &mut path);
            // Internally tagged tables (nemesis, attacker steps) report an unknown field on
            // the whole table; point at the field itself.
            if let Some(name) = message
                .strip_prefix("unknown field `")
                .and_then(|r| r.split('`').next())
                && path.0.last() != Some(&Seg::Key(name.into()))
            {
                let inner = path.key(name);
                if let Some(start) = exact_span(doc, &inner.0) {
                    at = start;
                    path = inner;
                }
            }
            path.to_string()
        }
        Err(_) => "(syntax)".into(),
    };
    let (line, col) = line_col(text, at);
    FileError {
        file: file.into(),
        line,
        col,
        key,
        message,
    }
}

/// Where the key at `path` is written, only if all of it is.
fn exact_span(table: &DeTable<'_>, path: &[Seg]) -> Option<usize> {
    let (Seg::Key(k), rest) = path.split_first()? else {
        return None;
    };
    let (key, value) = table.iter().find(|(key, _)| key.get_ref() == k)?;
    let mut v = value;
    for (i, seg) in rest.iter().enumerate() {
        match (v.get_ref(), seg) {
            (DeValue::Table(t), Seg::Key(_)) => return exact_span(t, &rest[i..]),
            (DeValue::Array(a), Seg::Idx(n)) => v = a.get(*n)?,
            _ => return None,
        }
    }
    Some(if rest.is_empty() {
        key.span().start
    } else {
        v.span().start
    })
}

/// An error of our own checks at `path` (the deepest part of it that is written in the file).
pub fn at_path(file: &str, text: &str, path: &Path, message: String) -> FileError {
    let at = DeTable::parse(text)
        .ok()
        .and_then(|doc| span_of(doc.get_ref(), &path.0))
        .unwrap_or(0);
    let (line, col) = line_col(text, at);
    FileError {
        file: file.into(),
        line,
        col,
        key: path.to_string(),
        message,
    }
}

fn contains(s: &std::ops::Range<usize>, at: usize) -> bool {
    s.start <= at && at < s.end.max(s.start + 1)
}

/// The deepest key whose key or value span contains `at`. Spans of `[table]` headers do not
/// cover their keys, so every table is searched, not only the ones whose span contains `at`.
fn key_at(table: &DeTable<'_>, at: usize, table_level: bool, path: &mut Path) -> bool {
    for (k, v) in table.iter() {
        if table_level && k.span().start == at {
            continue;
        }
        path.0.push(Seg::Key(k.get_ref().to_string()));
        if value_at(v, at, table_level, path) {
            return true;
        }
        if contains(&k.span(), at) || contains(&v.span(), at) {
            return true;
        }
        path.0.pop();
    }
    false
}

/// Whether something strictly inside `v` contains `at` (pushing its path).
fn value_at(v: &Spanned<DeValue<'_>>, at: usize, table_level: bool, path: &mut Path) -> bool {
    match v.get_ref() {
        DeValue::Table(t) => key_at(t, at, table_level, path),
        DeValue::Array(a) => {
            for (i, item) in a.iter().enumerate() {
                path.0.push(Seg::Idx(i));
                if value_at(item, at, table_level, path) || contains(&item.span(), at) {
                    return true;
                }
                path.0.pop();
            }
            false
        }
        _ => false,
    }
}

/// Where the value at `path` starts, or the deepest ancestor that exists.
fn span_of(table: &DeTable<'_>, path: &[Seg]) -> Option<usize> {
    let Some((Seg::Key(k), rest)) = path.split_first() else {
        return None;
    };
    let (key, value) = table.iter().find(|(key, _)| key.get_ref() == k)?;
    Some(descend(value, rest).unwrap_or(key.span().start))
}

fn descend(v: &Spanned<DeValue<'_>>, rest: &[Seg]) -> Option<usize> {
    let Some((first, more)) = rest.split_first() else {
        return Some(v.span().start);
    };
    match (v.get_ref(), first) {
        (DeValue::Table(t), Seg::Key(_)) => span_of(t, rest).or(Some(v.span().start)),
        (DeValue::Array(a), Seg::Idx(i)) => match a.get(*i) {
            Some(item) => descend(item, more),
            None => Some(v.span().start),
        },
        _ => Some(v.span().start),
    }
}
