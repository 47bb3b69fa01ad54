//! Parameters and switches: typed, validated, with documented defaults and the basis of each
//! default (fact, inference, unverified, mutant), so reports can say which numbers rest on
//! unverified values.

use crate::{MS, Micros, SEC};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// Where a default comes from (`spec/README.md` conventions).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    Fact,
    Inference,
    Unverified,
    /// A deliberately broken alternative exists (negative controls); the default is sound.
    Mutant,
}

/// The type of a parameter.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// `on` / `off`.
    Switch,
    /// `10s`, `200ms`, `1h`, `5m`, `1d`, `1w`.
    Duration,
    /// A duration or `none`.
    DurationOrNone,
    Int,
    /// A probability in [0, 1].
    Prob,
    Choice(&'static [&'static str]),
    /// `0`, `fixed(80ms)` or `uniform(500ms)`.
    Lag,
    /// `never` / `off`, `periodic(1d)`.
    Rotation,
    /// [`Kind::Rotation`] or `per_use` (trigger's URL: a new one after every accepted call).
    UrlRotation,
}

/// A parsed value.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ParamValue {
    Bool(bool),
    Duration(Option<Micros>),
    Int(i64),
    Float(f64),
    Choice(&'static str),
    Lag(Lag),
    Rotation(Rotation),
}

/// Replica lag: from the primary commit to the replica read's snapshot instant.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Lag {
    Fixed(Micros),
    /// U(0, max), drawn per read.
    Uniform(Micros),
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rotation {
    Never,
    Periodic(Micros),
    /// A new item after every accepted use, the old one revoked at once (trigger's URL only).
    PerUse,
}

/// A choice-valued switch as a type: its values in the syntax `--set` accepts. Declare one
/// with [`choice_enum!`] and its spec with `Kind::Choice(T::NAMES)`, so the parser and the
/// enum cannot disagree.
pub trait Choice: Copy + Sized + 'static {
    const NAMES: &'static [&'static str];
    fn from_name(name: &str) -> Option<Self>;
    fn name(self) -> &'static str;
}

/// Declares a choice-valued switch: `choice_enum!(Name { Variant = "text", ... })`.
#[macro_export]
macro_rules! choice_enum {
    ($(#[$meta:meta])* $vis:vis enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
        $vis enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }
        impl $crate::params::Choice for $name {
            const NAMES: &'static [&'static str] = &[$($text),+];
            fn from_name(name: &str) -> Option<Self> {
                match name {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
            fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }
    };
}

/// One declared parameter.
#[derive(Clone, Debug)]
pub struct ParamSpec {
    pub key: &'static str,
    pub kind: Kind,
    pub default: &'static str,
    pub basis: Basis,
    pub doc: &'static str,
}

pub const fn spec(
    key: &'static str,
    kind: Kind,
    default: &'static str,
    basis: Basis,
    doc: &'static str,
) -> ParamSpec {
    ParamSpec {
        key,
        kind,
        default,
        basis,
        doc,
    }
}

/// A bad `KEY=VALUE`.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ParamError {
    #[error("unknown switch '{key}' for {mechanism}; valid: {valid}")]
    UnknownKey {
        key: String,
        mechanism: String,
        valid: String,
    },
    #[error("bad value '{value}' for '{key}': expected {expected}")]
    BadValue {
        key: String,
        value: String,
        expected: String,
    },
    #[error("expected KEY=VALUE, got '{0}'")]
    NotKeyValue(String),
}

/// Parses `10s`, `200ms`, `1.5s`, `1h`, `5m`, `1d`, `1w`, `0`.
pub fn parse_duration(s: &str) -> Option<Micros> {
    let s = s.trim();
    if s == "0" {
        return Some(0);
    }
    let split = s.find(|c: char| c.is_ascii_alphabetic())?;
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().ok()?;
    if !n.is_finite() || n < 0.0 {
        return None;
    }
    let unit_us = match unit {
        "us" => 1.0,
        "ms" => MS as f64,
        "s" => SEC as f64,
        "m" | "min" => 60.0 * SEC as f64,
        "h" => 3600.0 * SEC as f64,
        "d" => 86_400.0 * SEC as f64,
        "w" => 7.0 * 86_400.0 * SEC as f64,
        _ => return None,
    };
    Some((n * unit_us).round() as Micros)
}

fn inner<'a>(s: &'a str, name: &str) -> Option<&'a str> {
    s.strip_prefix(name)?.strip_prefix('(')?.strip_suffix(')')
}

impl Kind {
    fn expected(&self) -> String {
        match self {
            Kind::Switch => "on or off".into(),
            Kind::Duration => "a duration such as 200ms, 10s, 1h".into(),
            Kind::DurationOrNone => "a duration such as 10s, or none".into(),
            Kind::Int => "a non-negative integer".into(),
            Kind::Prob => "a probability between 0 and 1".into(),
            Kind::Choice(c) => format!("one of {}", c.join(", ")),
            Kind::Lag => "0, fixed(DURATION) or uniform(DURATION)".into(),
            Kind::Rotation => "never, off or periodic(DURATION)".into(),
            Kind::UrlRotation => "never, off, periodic(DURATION) or per_use".into(),
        }
    }

    pub fn parse(&self, v: &str) -> Option<ParamValue> {
        let v = v.trim();
        Some(match self {
            Kind::Switch => ParamValue::Bool(match v {
                "on" | "true" => true,
                "off" | "false" => false,
                _ => return None,
            }),
            Kind::Duration => ParamValue::Duration(Some(parse_duration(v)?)),
            Kind::DurationOrNone => ParamValue::Duration(if v == "none" {
                None
            } else {
                Some(parse_duration(v)?)
            }),
            Kind::Int => ParamValue::Int(v.parse::<u32>().ok()?.into()),
            Kind::Prob => {
                let p: f64 = v.parse().ok()?;
                if !(0.0..=1.0).contains(&p) {
                    return None;
                }
                ParamValue::Float(p)
            }
            Kind::Choice(c) => ParamValue::Choice(c.iter().find(|x| **x == v)?),
            Kind::Lag => ParamValue::Lag(if v == "0" {
                Lag::Fixed(0)
            } else if let Some(d) = inner(v, "fixed") {
                Lag::Fixed(parse_duration(d)?)
            } else if let Some(d) = inner(v, "uniform") {
                Lag::Uniform(parse_duration(d)?)
            } else {
                return None;
            }),
            Kind::UrlRotation if v == "per_use" => ParamValue::Rotation(Rotation::PerUse),
            Kind::Rotation | Kind::UrlRotation => ParamValue::Rotation(match v {
                "never" | "off" => Rotation::Never,
                _ => {
                    let d = parse_duration(inner(v, "periodic")?)?;
                    if d <= 0 {
                        return None;
                    }
                    Rotation::Periodic(d)
                }
            }),
        })
    }
}

/// The resolved parameters of one run: defaults, then a profile, then `--set` overrides.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Params {
    values: BTreeMap<&'static str, ParamValue>,
    #[serde(skip)]
    specs: BTreeMap<&'static str, ParamSpec>,
}

impl Params {
    /// Defaults of every spec given.
    pub fn from_specs<'a>(specs: impl IntoIterator<Item = &'a ParamSpec>) -> Params {
        let mut p = Params::default();
        for s in specs {
            let v = s
                .kind
                .parse(s.default)
                .unwrap_or_else(|| panic!("default of '{}' does not parse", s.key));
            p.values.insert(s.key, v);
            p.specs.insert(s.key, s.clone());
        }
        p
    }

    /// Sets one value, validated against the declared kind.
    pub fn set(&mut self, key: &str, value: &str, mechanism: &str) -> Result<(), ParamError> {
        let Some(spec) = self.specs.get(key) else {
            return Err(ParamError::UnknownKey {
                key: key.into(),
                mechanism: mechanism.into(),
                valid: self.specs.keys().copied().collect::<Vec<_>>().join(", "),
            });
        };
        let v = spec.kind.parse(value).ok_or_else(|| ParamError::BadValue {
            key: key.into(),
            value: value.into(),
            expected: spec.kind.expected(),
        })?;
        self.values.insert(spec.key, v);
        Ok(())
    }

    /// Parses and applies `KEY=VALUE`.
    pub fn set_kv(&mut self, kv: &str, mechanism: &str) -> Result<(), ParamError> {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| ParamError::NotKeyValue(kv.into()))?;
        self.set(k.trim(), v.trim(), mechanism)
    }

    /// The value of `key`, or `None` where this run's mechanism does not declare it.
    pub fn get(&self, key: &str) -> Option<&ParamValue> {
        self.values.get(key)
    }
    fn must(&self, key: &str) -> &ParamValue {
        self.values
            .get(key)
            .unwrap_or_else(|| panic!("parameter '{key}' is not declared"))
    }
    pub fn bool(&self, key: &str) -> bool {
        match self.must(key) {
            ParamValue::Bool(b) => *b,
            v => panic!("'{key}' is not a switch: {v:?}"),
        }
    }
    /// A duration; `None` means `none`.
    pub fn dur(&self, key: &str) -> Option<Micros> {
        match self.must(key) {
            ParamValue::Duration(d) => *d,
            v => panic!("'{key}' is not a duration: {v:?}"),
        }
    }
    /// A duration that cannot be `none`.
    pub fn dur_req(&self, key: &str) -> Micros {
        self.dur(key)
            .unwrap_or_else(|| panic!("'{key}' may not be none"))
    }
    pub fn int(&self, key: &str) -> i64 {
        match self.must(key) {
            ParamValue::Int(i) => *i,
            v => panic!("'{key}' is not an integer: {v:?}"),
        }
    }
    pub fn prob(&self, key: &str) -> f64 {
        match self.must(key) {
            ParamValue::Float(f) => *f,
            v => panic!("'{key}' is not a probability: {v:?}"),
        }
    }
    pub fn choice(&self, key: &str) -> &'static str {
        match self.must(key) {
            ParamValue::Choice(c) => c,
            v => panic!("'{key}' is not a choice: {v:?}"),
        }
    }
    /// A choice-valued switch as its enum (the spec's allowed values are `C::NAMES`).
    pub fn pick<C: Choice>(&self, key: &str) -> C {
        let name = self.choice(key);
        C::from_name(name).unwrap_or_else(|| {
            panic!(
                "'{key}' = '{name}' is not one of {}: its spec and its enum disagree",
                C::NAMES.join(", ")
            )
        })
    }
    pub fn lag(&self, key: &str) -> Lag {
        match self.must(key) {
            ParamValue::Lag(l) => *l,
            v => panic!("'{key}' is not a lag: {v:?}"),
        }
    }
    pub fn rotation(&self, key: &str) -> Rotation {
        match self.must(key) {
            ParamValue::Rotation(r) => *r,
            v => panic!("'{key}' is not a rotation: {v:?}"),
        }
    }
    /// Every value whose spec marks its default as unverified.
    pub fn unverified(&self) -> Vec<&'static str> {
        self.specs
            .values()
            .filter(|s| s.basis == Basis::Unverified)
            .map(|s| s.key)
            .collect()
    }
    pub fn specs(&self) -> impl Iterator<Item = &ParamSpec> {
        self.specs.values()
    }
    /// `key=value` pairs that differ from their declared default.
    pub fn non_defaults(&self) -> Vec<String> {
        self.specs
            .values()
            .filter(|s| s.kind.parse(s.default).as_ref() != self.values.get(s.key))
            .map(|s| format!("{}={}", s.key, ShowValue(&self.values[s.key])))
            .collect()
    }
}

crate::choice_enum! {
    /// How many apps the platform hosts (`apps`): app A alone, or also app B, whose backend is
    /// the attacker's.
    pub enum Apps { One = "1", Two = "2" }
}
crate::choice_enum! {
    /// What P does when the JWKS is unreachable (`jwks_fail`).
    pub enum JwksFail { Closed = "closed", Open = "open" }
}
crate::choice_enum! {
    /// What P does with a FIT whose `kid` is not in its cached key set (`unknown_kid`, with
    /// `fit_key_rotation`): refetch the JWKS (no sooner than `jwks_refetch_floor` after the
    /// last fetch); `never_refetch` refuses it (an availability mutant); `accept` takes it
    /// unverified (a security mutant).
    pub enum UnknownKid { Refetch = "refetch", NeverRefetch = "never_refetch", Accept = "accept" }
}
crate::choice_enum! {
    /// Whether F and the AS honour a revocation (`revocation`; `ignored` is a mutant).
    pub enum Revocation { Enforced = "enforced", Ignored = "ignored" }
}
crate::choice_enum! {
    /// What P.lifecycle does with a tenant's row when F reports `uninstalled`
    /// (`partner_retention`): `forget` clears it (its refresh token, secrets, URL); `keep` is
    /// a mutant that leaves them in P's store, where a later breach of the store finds them.
    pub enum PartnerRetention { Forget = "forget", Keep = "keep" }
}
crate::choice_enum! {
    /// The audience T is minted for (`token_aud`; `wrong` is a mutant).
    pub enum TokenAud { Right = "right", Wrong = "wrong" }
}
crate::choice_enum! {
    /// The API's `exp` leeway (`exp_leeway`; `track_skew` and `ignore` are fail-open mutants).
    pub enum ExpLeeway { Fixed0 = "fixed(0s)", TrackSkew = "track_skew", Ignore = "ignore" }
}
crate::choice_enum! {
    /// Where T leaks to a log (`log_token`; both non-`none` values are mutants).
    pub enum LogToken { None = "none", Url = "url", RequestLog = "request_log" }
}
crate::choice_enum! {
    /// Sender-constrained credentials (`sender_constraint`, where a mechanism declares it).
    pub enum SenderConstraint {
        None = "none",
        Mtls = "mtls",
        Dpop = "dpop",
        PrivateKeyJwt = "private_key_jwt",
    }
}
crate::choice_enum! {
    /// Where P.app reads its store (`read_from`, where a mechanism declares it).
    pub enum ReadFrom { Primary = "primary", Replica = "replica" }
}
crate::choice_enum! {
    /// How P.auth / P.recv key a delivered T (`store_key`; `body` is a mutant).
    pub enum StoreKey { Fit = "fit", Body = "body" }
}

/// Prints a value in the syntax `--set` accepts.
pub struct ShowValue<'a>(pub &'a ParamValue);

fn show_dur(f: &mut fmt::Formatter<'_>, d: Micros) -> fmt::Result {
    if d == 0 {
        write!(f, "0")
    } else if d % (3600 * SEC) == 0 {
        write!(f, "{}h", d / (3600 * SEC))
    } else if d % SEC == 0 {
        write!(f, "{}s", d / SEC)
    } else if d % MS == 0 {
        write!(f, "{}ms", d / MS)
    } else {
        write!(f, "{d}us")
    }
}

impl fmt::Display for ShowValue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            ParamValue::Bool(b) => write!(f, "{}", if *b { "on" } else { "off" }),
            ParamValue::Duration(None) => write!(f, "none"),
            ParamValue::Duration(Some(d)) => show_dur(f, *d),
            ParamValue::Int(i) => write!(f, "{i}"),
            ParamValue::Float(x) => write!(f, "{x}"),
            ParamValue::Choice(c) => write!(f, "{c}"),
            ParamValue::Lag(Lag::Fixed(0)) => write!(f, "0"),
            ParamValue::Lag(Lag::Fixed(d)) => {
                write!(f, "fixed(")?;
                show_dur(f, *d)?;
                write!(f, ")")
            }
            ParamValue::Lag(Lag::Uniform(d)) => {
                write!(f, "uniform(")?;
                show_dur(f, *d)?;
                write!(f, ")")
            }
            ParamValue::Rotation(Rotation::Never) => write!(f, "never"),
            ParamValue::Rotation(Rotation::PerUse) => write!(f, "per_use"),
            ParamValue::Rotation(Rotation::Periodic(d)) => {
                write!(f, "periodic(")?;
                show_dur(f, *d)?;
                write!(f, ")")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("200ms"), Some(200 * MS));
        assert_eq!(parse_duration("1.5s"), Some(1_500 * MS));
        assert_eq!(parse_duration("1h"), Some(3600 * SEC));
        assert_eq!(parse_duration("1w"), Some(7 * 86_400 * SEC));
        assert_eq!(parse_duration("ten"), None);
        assert_eq!(parse_duration("-1s"), None);
    }

    #[test]
    fn bad_values_name_what_was_expected() {
        let specs = [spec("retries", Kind::Int, "2", Basis::Inference, "")];
        let mut p = Params::from_specs(&specs);
        let e = p.set_kv("retries=lots", "trigger").unwrap_err();
        assert!(e.to_string().contains("non-negative integer"), "{e}");
        let e = p.set_kv("retry=1", "trigger").unwrap_err();
        assert!(e.to_string().contains("valid: retries"), "{e}");
        p.set_kv("retries=5", "trigger").unwrap();
        assert_eq!(p.int("retries"), 5);
        assert_eq!(p.non_defaults(), vec!["retries=5".to_string()]);
    }
}
