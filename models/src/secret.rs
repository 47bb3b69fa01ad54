//! Secret newtypes. Values never reach a log, a history dump or a report: `Debug`,
//! `Display` and `Serialize` print a fingerprint only. Every opaque secret starts with
//! `tlsec_` and every JWT with `eyJ`, so a scanner over any output finds a leak.

use rand::RngExt;
use serde::{Serialize, Serializer};
use std::fmt;
use std::sync::Arc;

/// The prefix of every opaque secret the models generate.
pub const SECRET_PREFIX: &str = "tlsec_";

/// A 64-bit FNV-1a hash: stable across runs, platforms and Rust releases.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The identity of a secret item in the history: a fingerprint of its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ItemId(pub u64);

impl fmt::Display for ItemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{:08x}", self.0 >> 32)
    }
}

/// An opaque secret (URL capability, refresh token, client secret, `sharedSecret`, code,
/// PKCE verifier, state).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Secret(Arc<str>);

impl Secret {
    /// A fresh 128-bit secret from the role's RNG, with a kind tag for readability.
    pub fn generate<R: rand::Rng + ?Sized>(rng: &mut R, kind: &str) -> Secret {
        let a: u64 = rng.random();
        let b: u64 = rng.random();
        Secret(format!("{SECRET_PREFIX}{kind}_{a:016x}{b:016x}").into())
    }
    /// Wraps a value received on the wire. It must carry the prefix.
    pub fn from_wire(v: &str) -> Option<Secret> {
        v.starts_with(SECRET_PREFIX).then(|| Secret(v.into()))
    }
    /// Wraps a secret chosen by a party outside the models (a stock OAuth client's PKCE
    /// verifier), which need not carry the prefix. Only the real-network driver uses it.
    pub fn from_foreign(v: &str) -> Secret {
        Secret(v.into())
    }
    /// The value itself: only for putting it on the wire or comparing it.
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn id(&self) -> ItemId {
        ItemId(fnv1a(self.0.as_bytes()))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = self.0.split('_').nth(1).unwrap_or("?");
        write!(f, "secret:{kind}{}", self.id())
    }
}
impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}
impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A compact JWT (access token, FIT, Connect JWT). Printed as a fingerprint only.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Jwt(JwtRepr);

/// A JWT's value, or only its identity once the value is no longer needed (the history's
/// copy of a message: [`Jwt::fingerprint_only`]). Both fit in 16 bytes.
///
/// The value form carries its id, computed once when the JWT is made: every message that
/// carries a JWT names it by id (the history's copy, the API's presentation record), and
/// hashing a 330-byte token per look was a tenth of a simulated demand's cost.
#[derive(Clone)]
enum JwtRepr {
    Compact(CompactJwt),
    Id(ItemId),
}

/// The compact serialization behind [`ID_CHARS`] characters that encode its id: one
/// allocation, as the bare `Arc<str>` was, and 16 bytes in a [`Jwt`]. It compares, orders
/// and hashes as the compact serialization alone (the prefix is a function of it).
#[derive(Clone)]
struct CompactJwt(Arc<str>);

/// 64 bits in 7-bit ASCII characters (always valid UTF-8, and a char boundary after them).
const ID_CHARS: usize = 10;

impl CompactJwt {
    fn new(compact: &str) -> CompactJwt {
        let id = fnv1a(compact.as_bytes());
        let mut s = String::with_capacity(ID_CHARS + compact.len());
        for i in 0..ID_CHARS {
            s.push(char::from(((id >> (7 * i)) & 0x7f) as u8));
        }
        s.push_str(compact);
        CompactJwt(s.into())
    }
    fn value(&self) -> &str {
        &self.0[ID_CHARS..]
    }
    fn id(&self) -> ItemId {
        let p = &self.0.as_bytes()[..ID_CHARS];
        ItemId(
            p.iter()
                .enumerate()
                .fold(0u64, |h, (i, b)| h | (u64::from(*b) << (7 * i))),
        )
    }
}

impl PartialEq for JwtRepr {
    fn eq(&self, other: &JwtRepr) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}
impl Eq for JwtRepr {}
impl PartialOrd for JwtRepr {
    fn partial_cmp(&self, other: &JwtRepr) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
/// As the derived order of `Compact(Arc<str>) | Id(ItemId)` was: values before ids, values
/// by their compact serialization.
impl Ord for JwtRepr {
    fn cmp(&self, other: &JwtRepr) -> std::cmp::Ordering {
        use std::cmp::Ordering::*;
        match (self, other) {
            (JwtRepr::Compact(a), JwtRepr::Compact(b)) => a.value().cmp(b.value()),
            (JwtRepr::Compact(_), JwtRepr::Id(_)) => Less,
            (JwtRepr::Id(_), JwtRepr::Compact(_)) => Greater,
            (JwtRepr::Id(a), JwtRepr::Id(b)) => a.cmp(b),
        }
    }
}
impl std::hash::Hash for JwtRepr {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        match self {
            JwtRepr::Compact(c) => {
                0u8.hash(state);
                c.value().hash(state);
            }
            JwtRepr::Id(id) => {
                1u8.hash(state);
                id.hash(state);
            }
        }
    }
}

impl Jwt {
    pub fn new(compact: String) -> Jwt {
        Jwt(JwtRepr::Compact(CompactJwt::new(&compact)))
    }
    /// The compact serialization: only for putting it on the wire or verifying it. Empty for
    /// a [`Jwt::fingerprint_only`] copy, which no verifier accepts.
    pub fn expose(&self) -> &str {
        match &self.0 {
            JwtRepr::Compact(c) => c.value(),
            JwtRepr::Id(_) => "",
        }
    }
    /// The fingerprint of the value (FNV-1a of the compact serialization), computed once
    /// when the JWT was made.
    pub fn id(&self) -> ItemId {
        match &self.0 {
            JwtRepr::Compact(c) => c.id(),
            JwtRepr::Id(id) => *id,
        }
    }
    /// This JWT's identity without its value: what the history keeps of a message, where
    /// only the item's id is read ([`crate::message::Envelope::items`]) or printed. It prints,
    /// serializes and identifies as the JWT did; the value (a FIT is about 370 bytes) is freed
    /// once no role holds it.
    pub fn fingerprint_only(&self) -> Jwt {
        Jwt(JwtRepr::Id(self.id()))
    }
}

impl fmt::Debug for Jwt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "jwt{}", self.id())
    }
}
impl fmt::Display for Jwt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}
impl Serialize for Jwt {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn secrets_print_only_fingerprints() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let s = Secret::generate(&mut rng, "rt");
        assert!(s.expose().starts_with("tlsec_rt_"));
        for shown in [
            format!("{s}"),
            format!("{s:?}"),
            serde_json::to_string(&s).unwrap(),
        ] {
            assert!(!shown.contains(SECRET_PREFIX), "{shown}");
            assert!(shown.contains("rt#"), "{shown}");
        }
        let j = Jwt::new("eyJhbGciOiJIUzI1NiJ9.e30.sig".into());
        assert!(!format!("{j:?}").contains("eyJ"));
    }

    #[test]
    fn a_fingerprint_only_jwt_prints_and_identifies_as_the_jwt() {
        let j = Jwt::new("eyJhbGciOiJIUzI1NiJ9.e30.sig".into());
        let f = j.fingerprint_only();
        assert_eq!(f.id(), j.id());
        assert_eq!(format!("{f:?}"), format!("{j:?}"));
        assert_eq!(format!("{f}"), format!("{j}"));
        assert_eq!(
            serde_json::to_string(&f).unwrap(),
            serde_json::to_string(&j).unwrap()
        );
        // The value is gone: nothing to verify, and it is not the JWT it came from.
        assert_eq!(f.expose(), "");
        assert_ne!(f, j);
        assert_eq!(f.fingerprint_only(), f);
        // As small as the value form: a `Value` does not grow.
        assert_eq!(std::mem::size_of::<Jwt>(), 16);
    }

    #[test]
    fn a_jwt_keeps_its_value_and_the_id_of_it() {
        // Ids with every bit pattern in the prefix's last character, and the empty value.
        for v in ["", "e", "eyJhbGciOiJIUzI1NiJ9.e30.sig", "eyJ\u{7f}x.y.z"] {
            let j = Jwt::new(v.to_string());
            assert_eq!(j.expose(), v);
            assert_eq!(j.id(), ItemId(fnv1a(v.as_bytes())));
        }
        for id in [
            0u64,
            1,
            u64::MAX,
            1 << 63,
            0x7f << 56,
            0x0123_4567_89ab_cdef,
        ] {
            let mut s = String::new();
            for i in 0..ID_CHARS {
                s.push(char::from(((id >> (7 * i)) & 0x7f) as u8));
            }
            assert_eq!(CompactJwt(s.into()).id(), ItemId(id));
        }
        // Equality and order are the values' (as with the bare string before).
        let (a, b) = (Jwt::new("eyJa".into()), Jwt::new("eyJb".into()));
        assert!(a < b);
        assert!(b > a);
        assert_eq!(a, Jwt::new("eyJa".into()));
        assert!(a < a.fingerprint_only(), "values order before ids");
        let mut set = std::collections::BTreeSet::new();
        set.extend([b.clone(), a.clone(), a.clone()]);
        assert_eq!(set.into_iter().collect::<Vec<_>>(), vec![a, b]);
    }
}
