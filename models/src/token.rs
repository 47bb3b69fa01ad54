//! Real JWTs, made and checked with `jsonwebtoken`, with `exp` checked against the model's
//! `now` (the library's wall-clock check is switched off).
//!
//! - Access tokens T: HS256, minted by the platform; the verifier (the product API) is part of
//!   the platform and legitimately holds the key.
//! - The Forge Invocation Token (FIT): EdDSA; the partner holds only the public key, so a
//!   breach of the partner cannot forge FITs (`crates.md`).
//! - Connect JWTs: HS256 with the per-installation `sharedSecret`, with `qsh`.

use crate::ids::{APP_ID, TenantId};
use crate::secret::{Jwt, Secret};
use crate::{Micros, SEC};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// Model time 0 as a Unix time, so `iat`/`exp` are ordinary NumericDates.
pub const EPOCH_S: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z
pub const PLATFORM_ISSUER: &str = "tokenlab-platform";
pub const API_AUDIENCE: &str = "product-api";
pub const FIT_ISSUER: &str = "forge";
/// The scope every access token T carries (and a token response names, RFC 6749 §5.1).
pub const ACCESS_SCOPE: &str = "app-system";

/// Model time 0 as a Unix time (s): a parameter of a world. Every simulated run keeps the
/// default, [`EPOCH_S`], so its tokens are byte-identical run after run; the loopback driver's
/// `serve` sets it to the wall clock at start, so stock clients see real `iat`/`exp`.
/// Minting and checking must use one world's epoch (they do: it is set once per world).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Epoch(pub i64);

impl Default for Epoch {
    fn default() -> Epoch {
        Epoch(EPOCH_S)
    }
}

impl Epoch {
    /// Model time to NumericDate (seconds, floored).
    pub fn numeric_date(self, t: Micros) -> i64 {
        self.0 + t.div_euclid(SEC)
    }
    /// NumericDate to model time.
    pub fn model_time(self, s: i64) -> Micros {
        (s - self.0) * SEC
    }
    /// `exp` against `now`: the token is valid while now < exp (+ leeway).
    pub fn check_exp(self, exp_s: i64, now: Micros, leeway: Micros) -> Result<(), JwtError> {
        if now >= self.model_time(exp_s) + leeway {
            Err(JwtError::Expired)
        } else {
            Ok(())
        }
    }
}

/// Model time to NumericDate at the default epoch.
pub fn to_numeric_date(t: Micros) -> i64 {
    Epoch::default().numeric_date(t)
}
/// NumericDate to model time at the default epoch.
pub fn from_numeric_date(s: i64) -> Micros {
    Epoch::default().model_time(s)
}

/// Claims of an access token T.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    /// The installation (tenant) this token is bound to.
    pub inst: u32,
    pub app: String,
    pub scope: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    /// The user this token acts as (H12); absent: the app. Absent from every app token, so
    /// app tokens encode exactly as before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
}

impl AccessClaims {
    /// The claims of an app token T the platform mints for `app` and `tenant` (no user): the
    /// platform signs these, a principal's exchange and a forger copy them.
    pub fn app_token(
        app: &str,
        aud: &str,
        tenant: TenantId,
        iat: i64,
        exp: i64,
        jti: String,
    ) -> AccessClaims {
        AccessClaims {
            iss: PLATFORM_ISSUER.into(),
            aud: aud.into(),
            inst: tenant.0,
            app: app.into(),
            scope: ACCESS_SCOPE.into(),
            iat,
            exp,
            jti,
            sub: None,
        }
    }
}

/// [`AccessClaims`] as the verifier reads them, strings borrowed from the decoded payload
/// where they need no unescaping. The same fields and types: a payload decodes as one exactly
/// when it decodes as the other.
#[derive(Debug, Deserialize, PartialEq)]
pub struct AccessView<'a> {
    #[serde(borrow)]
    pub iss: Cow<'a, str>,
    #[serde(borrow)]
    pub aud: Cow<'a, str>,
    pub inst: u32,
    #[serde(borrow)]
    pub app: Cow<'a, str>,
    #[serde(borrow)]
    pub scope: Cow<'a, str>,
    pub iat: i64,
    pub exp: i64,
    #[serde(borrow)]
    pub jti: Cow<'a, str>,
    #[serde(default)]
    pub sub: Option<Cow<'a, str>>,
}

impl<'a> AccessView<'a> {
    /// The claims as the platform writes them (`serde_json` of [`AccessClaims`]: its fields
    /// in order, no whitespace, unsigned numbers, strings without escapes), read without a
    /// general JSON parser. `None` for any other spelling, which `serde_json` then reads:
    /// where this reads a payload, `serde_json` reads the same values from it (a test checks
    /// it over mutated payloads).
    pub fn read_as_written(payload: &'a [u8]) -> Option<AccessView<'a>> {
        let mut r = Written(payload);
        r.key(b"{\"iss\":")?;
        let iss = r.string()?;
        r.key(b",\"aud\":")?;
        let aud = r.string()?;
        r.key(b",\"inst\":")?;
        let inst = u32::try_from(r.number()?).ok()?;
        r.key(b",\"app\":")?;
        let app = r.string()?;
        r.key(b",\"scope\":")?;
        let scope = r.string()?;
        r.key(b",\"iat\":")?;
        let iat = r.number()?;
        r.key(b",\"exp\":")?;
        let exp = r.number()?;
        r.key(b",\"jti\":")?;
        let jti = r.string()?;
        let sub = match r.key(b",\"sub\":") {
            Some(()) => Some(r.string()?),
            None => None,
        };
        r.key(b"}")?;
        r.0.is_empty().then_some(AccessView {
            iss,
            aud,
            inst,
            app,
            scope,
            iat,
            exp,
            jti,
            sub,
        })
    }

    fn of(c: &AccessClaims) -> AccessView<'_> {
        AccessView {
            iss: Cow::Borrowed(&c.iss),
            aud: Cow::Borrowed(&c.aud),
            inst: c.inst,
            app: Cow::Borrowed(&c.app),
            scope: Cow::Borrowed(&c.scope),
            iat: c.iat,
            exp: c.exp,
            jti: Cow::Borrowed(&c.jti),
            sub: c.sub.as_deref().map(Cow::Borrowed),
        }
    }
    pub fn to_claims(&self) -> AccessClaims {
        AccessClaims {
            iss: self.iss.to_string(),
            aud: self.aud.to_string(),
            inst: self.inst,
            app: self.app.to_string(),
            scope: self.scope.to_string(),
            iat: self.iat,
            exp: self.exp,
            jti: self.jti.to_string(),
            sub: self.sub.as_deref().map(str::to_string),
        }
    }
}

/// What is left of a payload [`AccessView::read_as_written`] reads.
struct Written<'a>(&'a [u8]);

impl<'a> Written<'a> {
    /// `literal` next (consumed), or `None` with nothing consumed.
    fn key(&mut self, literal: &[u8]) -> Option<()> {
        self.0 = self.0.strip_prefix(literal)?;
        Some(())
    }
    /// A string with no escape and no control character (JSON forbids those unescaped), so
    /// its value is its bytes: borrowed, as `serde_json` borrows it.
    fn string(&mut self) -> Option<Cow<'a, str>> {
        let rest = self.0.strip_prefix(b"\"")?;
        let end = rest
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
        if rest[end] != b'"' {
            return None;
        }
        let value = std::str::from_utf8(&rest[..end]).ok()?;
        self.0 = &rest[end + 1..];
        Some(Cow::Borrowed(value))
    }
    /// A non-negative integer without a leading zero, of at most 18 digits (no overflow).
    fn number(&mut self) -> Option<i64> {
        let digits = self.0.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 || digits > 18 || (digits > 1 && self.0[0] == b'0') {
            return None;
        }
        let value = self.0[..digits]
            .iter()
            .fold(0i64, |v, d| v * 10 + i64::from(d - b'0'));
        self.0 = &self.0[digits..];
        Some(value)
    }
}

/// Claims of a Forge Invocation Token.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct FitClaims {
    pub iss: String,
    pub aud: String,
    #[serde(rename = "installationId")]
    pub installation_id: u32,
    #[serde(rename = "apiBaseUrl")]
    pub api_base_url: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
}

impl FitClaims {
    /// The claims F writes into a FIT for a call to `app`'s backend about `tenant`: the
    /// platform signs these, and a forger copies them (the layout is public).
    pub fn for_tenant(app: &str, tenant: TenantId, iat: i64, exp: i64, jti: String) -> FitClaims {
        FitClaims {
            iss: FIT_ISSUER.into(),
            aud: app.into(),
            installation_id: tenant.0,
            api_base_url: format!("https://site-{}.example/api", tenant.0),
            iat,
            exp,
            jti,
        }
    }
}

/// Claims of a Connect JWT.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ConnectClaims {
    pub iss: String,
    pub iat: i64,
    pub exp: i64,
    pub qsh: String,
    /// The user the assertion names (Connect's 2LO impersonation grant, `act_as_user`, H12);
    /// absent: the app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
}

/// Why a JWT was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum JwtError {
    #[error("malformed token")]
    Malformed,
    #[error("bad signature")]
    BadSignature,
    #[error("expired")]
    Expired,
    #[error("wrong audience")]
    WrongAudience,
    #[error("wrong issuer")]
    WrongIssuer,
    /// A FIT whose `kid` is not in the key set the partner holds (with a key schedule).
    #[error("unknown key id")]
    UnknownKey,
}

fn validation(alg: Algorithm) -> Validation {
    let mut v = Validation::new(alg);
    v.validate_exp = false; // checked against the model's `now`, never the wall clock
    v.validate_nbf = false;
    v.validate_aud = false; // checked by hand, with a reason of its own
    v.required_spec_claims.clear();
    v.leeway = 0;
    v
}

fn map_err(e: jsonwebtoken::errors::Error) -> JwtError {
    use jsonwebtoken::errors::ErrorKind as K;
    match e.kind() {
        K::InvalidSignature | K::InvalidAlgorithm | K::InvalidKeyFormat | K::InvalidEddsaKey => {
            JwtError::BadSignature
        }
        _ => JwtError::Malformed,
    }
}

/// The platform's keys. F, the AS and the product API are one platform and share them.
pub struct PlatformKeys {
    /// The library's key, kept for the test that checks [`PlatformKeys::mint_access`] against it.
    #[cfg(test)]
    access_enc: EncodingKey,
    access_dec: DecodingKey,
    /// The library's key, kept for the test that checks [`PlatformKeys::sign_fit`] against it.
    #[cfg(test)]
    fit_enc: EncodingKey,
    /// The FIT key expanded once (what `jsonwebtoken` would parse from `fit_enc` per
    /// signature): Ed25519 signing is deterministic, so signing with it gives the same bytes.
    fit_signing: FitSigner,
    fit_public: [u8; 32],
    /// The seed of key generation 0, from which later generations are derived (no RNG draw:
    /// a run without a rollover draws exactly what it always drew).
    fit_seed: [u8; 32],
    /// The encoded JOSE header F writes: without `kid` unless a key schedule is set.
    fit_header: String,
    /// The key generation F signs with (0 until the first rollover).
    fit_generation: u32,
    hs256: Validation,
    /// The HMAC key's inner and outer SHA-256 states, keyed once, for the fast path of
    /// [`PlatformKeys::verify_access`].
    access_mac: Hs256Mac,
    epoch: Epoch,
}

/// HMAC-SHA256 (RFC 2104, RustCrypto's `hmac`, the one `jsonwebtoken` uses) keyed once: a
/// verification clones the keyed state instead of re-keying per token (what `jsonwebtoken`
/// does).
#[derive(Clone)]
struct Hs256Mac(hmac::Hmac<sha2_011::Sha256>);

impl Hs256Mac {
    fn new(key: &[u8; 32]) -> Hs256Mac {
        use hmac::KeyInit;
        Hs256Mac(hmac::Hmac::new_from_slice(key).expect("HMAC takes a key of any length"))
    }
    /// The MAC of `message`.
    fn tag(&self, message: &[u8]) -> [u8; 32] {
        use hmac::Mac;
        let mut mac = self.0.clone();
        mac.update(message);
        mac.finalize().into_bytes().into()
    }
    /// Whether `tag` is the MAC of `message` (compared in constant time by `verify_slice`).
    fn verify(&self, message: &[u8], tag: &[u8]) -> bool {
        use hmac::Mac;
        let mut mac = self.0.clone();
        mac.update(message);
        mac.verify_slice(tag).is_ok()
    }
}

/// The encoded JOSE header `jsonwebtoken` writes for `Header::new(Algorithm::HS256)`:
/// base64url of `{"typ":"JWT","alg":"HS256"}` (a test checks it against the library).
const HS256_HEADER: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9";

impl PlatformKeys {
    pub fn generate<R: rand::Rng + ?Sized>(rng: &mut R) -> PlatformKeys {
        let mut hmac = [0u8; 32];
        rng.fill_bytes(&mut hmac);
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        let signing = FitSigner::from_seed(&seed);
        let fit_public = signing.public;
        PlatformKeys {
            #[cfg(test)]
            access_enc: EncodingKey::from_secret(&hmac).expect("32-byte HMAC key"),
            access_dec: DecodingKey::from_secret(&hmac).expect("32-byte HMAC key"),
            #[cfg(test)]
            fit_enc: EncodingKey::from_ed_der(&ed25519_pkcs8_der(&seed)),
            fit_signing: signing,
            fit_public,
            fit_seed: seed,
            fit_header: FIT_HEADER.to_string(),
            fit_generation: 0,
            hs256: validation(Algorithm::HS256),
            access_mac: Hs256Mac::new(&hmac),
            epoch: Epoch::default(),
        }
    }

    /// With a key schedule (`fit_key_rotation`), FITs name their key: from now on F writes a
    /// `kid` in every FIT header, starting with generation 0's.
    pub fn enable_kid(&mut self) {
        self.fit_header = kid_header(&fit_kid(self.fit_generation));
    }

    /// The rollover to key `generation`: F signs every later FIT with it (`kid` included).
    pub fn roll_to(&mut self, generation: u32) {
        self.fit_generation = generation;
        self.fit_signing = FitSigner::from_seed(&generation_seed(&self.fit_seed, generation));
        self.fit_public = self.fit_signing.public;
        self.fit_header = kid_header(&fit_kid(generation));
    }

    /// The key generation F signs with.
    pub fn fit_generation(&self) -> u32 {
        self.fit_generation
    }

    /// The published key set (JWKS) of FIT verification: the public key only.
    pub fn fit_public_key(&self) -> FitVerifier {
        FitVerifier {
            key: DecodingKey::from_ed_der(&self.fit_public),
            fast: FitKey::new(&self.fit_public),
            header: FIT_HEADER.to_string(),
            v: validation(Algorithm::EdDSA),
            epoch: self.epoch,
        }
    }

    /// The world's time origin, which the platform mints and checks with.
    pub fn epoch(&self) -> Epoch {
        self.epoch
    }
    pub fn set_epoch(&mut self, epoch: Epoch) {
        self.epoch = epoch;
    }

    /// The raw Ed25519 public key of FIT verification, for publishing it as a JWK set.
    pub fn fit_public_bytes(&self) -> [u8; 32] {
        self.fit_public
    }

    /// The compact JWS `jsonwebtoken::encode` makes (header, claims and HMAC byte for byte),
    /// with the HMAC keyed once instead of per token.
    pub fn mint_access(&self, claims: &AccessClaims) -> Jwt {
        let token = signing_input(HS256_HEADER, claims, 32);
        let tag = self.access_mac.tag(token.as_bytes());
        with_signature(token, &tag)
    }

    /// [`PlatformKeys::mint_access`] through `jsonwebtoken` (the reference it must equal).
    #[cfg(test)]
    fn mint_access_reference(&self, claims: &AccessClaims) -> Jwt {
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.access_enc)
            .expect("HS256 encoding of plain claims cannot fail");
        Jwt::new(token)
    }

    /// Signature only; `exp`, audience and tenant are the caller's checks.
    pub fn verify_access(&self, token: &Jwt) -> Result<AccessClaims, JwtError> {
        self.verify_access_with(token, |v| v.to_claims())
    }

    /// [`PlatformKeys::verify_access`], handing the claims to `f` as they were decoded (their
    /// strings borrowed from the payload): the product API reads them once per demand and
    /// keeps none of them.
    pub fn verify_access_with<R>(
        &self,
        token: &Jwt,
        f: impl FnOnce(&AccessView<'_>) -> R,
    ) -> Result<R, JwtError> {
        if let Some(payload) = self.verify_access_fast(token.expose()) {
            if let Some(view) = AccessView::read_as_written(&payload) {
                return Ok(f(&view));
            }
            if let Ok(view) = serde_json::from_slice::<AccessView<'_>>(&payload) {
                return Ok(f(&view));
            }
        }
        let c = self.verify_access_library(token)?;
        Ok(f(&AccessView::of(&c)))
    }

    /// [`PlatformKeys::verify_access`] through `jsonwebtoken` alone (the reference the fast
    /// path must agree with; every token the fast path declines takes it).
    fn verify_access_library(&self, token: &Jwt) -> Result<AccessClaims, JwtError> {
        jsonwebtoken::decode::<AccessClaims>(token.expose(), &self.access_dec, &self.hs256)
            .map(|d| d.claims)
            .map_err(map_err)
    }

    /// The common case without re-keying the HMAC and parsing the header per token: the
    /// exact header the platform writes and a valid HMAC-SHA256 under the platform's key give
    /// the decoded payload, and [`PlatformKeys::verify_access_with`] takes it if its claims
    /// decode. Anything else (`None`) goes through `jsonwebtoken::decode`, which
    /// then gives the verdict and error it always gave. The token is split as the library
    /// splits it (signature after the last dot, header before the one before), and with exp,
    /// nbf and aud validation off and no required claims, `decode` checks nothing more than
    /// this for a token that passes here (as [`FitVerifier::verify`]'s fast path).
    fn verify_access_fast(&self, token: &str) -> Option<Vec<u8>> {
        use base64::Engine;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let (message, signature) = token.rsplit_once('.')?;
        let (header, payload) = message.rsplit_once('.')?;
        if header != HS256_HEADER {
            return None;
        }
        let mut tag = [0u8; 32];
        if URL_SAFE_NO_PAD.decode_slice(signature, &mut tag).ok()? != tag.len() {
            return None;
        }
        if !self.access_mac.verify(message.as_bytes(), &tag) {
            return None;
        }
        URL_SAFE_NO_PAD.decode(payload).ok()
    }

    /// The same compact JWS `jsonwebtoken::encode` makes with `fit_enc` (header, claims and
    /// signature byte for byte), without re-parsing the PKCS#8 key and re-deriving the public
    /// key on every signature.
    pub fn sign_fit(&self, claims: &FitClaims) -> Jwt {
        let token = signing_input(&self.fit_header, claims, 64);
        let signature = self.fit_signing.sign(token.as_bytes());
        with_signature(token, &signature)
    }

    /// [`PlatformKeys::sign_fit`] through `jsonwebtoken` (the reference it must equal).
    #[cfg(test)]
    fn sign_fit_reference(&self, claims: &FitClaims) -> Jwt {
        let token = jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), claims, &self.fit_enc)
            .expect("EdDSA signing with a valid key cannot fail");
        Jwt::new(token)
    }
}

/// A compact JWS with `header` and `claims` and a signature its key's holder did not make.
/// The platform's header and claim layout are public, so an A10 attacker writes FITs and Ts
/// that decode like the platform's and that only the signature (or HMAC) check refuses.
fn forged_jws(header: &str, claims: &impl Serialize, signature: &[u8]) -> Jwt {
    with_signature(signing_input(header, claims, signature.len()), signature)
}

/// The compact JWS of a signing input and its signature: `input.base64url(signature)`.
fn with_signature(mut input: String, signature: &[u8]) -> Jwt {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    input.push('.');
    URL_SAFE_NO_PAD.encode_string(signature, &mut input);
    Jwt::new(input)
}

/// A compact JWS's signing input, `header.base64url(claims)` (RFC 7515 §5.1), with room for the
/// `.signature` of `signature_len` bytes that follows: what the platform's HMAC and Ed25519
/// keys sign and what a forger writes, in the one layout `jsonwebtoken::encode` uses.
fn signing_input(header: &str, claims: &impl Serialize, signature_len: usize) -> String {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let json = serde_json::to_vec(claims).expect("plain claims serialize");
    let encoded = |n: usize| n.div_ceil(3) * 4;
    let mut token =
        String::with_capacity(header.len() + 2 + encoded(json.len()) + encoded(signature_len));
    token.push_str(header);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(&json, &mut token);
    token
}

/// A FIT with the platform's exact header and `claims`, signed with `signature` (not F's).
pub fn forge_fit(claims: &FitClaims, signature: &[u8; 64]) -> Jwt {
    forged_jws(FIT_HEADER, claims, signature)
}

/// A T with the platform's exact header and `claims`, tagged with `tag` (not the platform's
/// HMAC).
pub fn forge_access(claims: &AccessClaims, tag: &[u8; 32]) -> Jwt {
    forged_jws(HS256_HEADER, claims, tag)
}

/// The encoded JOSE header `jsonwebtoken` writes for `Header::new(Algorithm::EdDSA)`:
/// base64url of `{"typ":"JWT","alg":"EdDSA"}` (a test checks it against the library).
const FIT_HEADER: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJFZERTQSJ9";

/// The `kid` of FIT key generation `generation` (`fit-1` is generation 0, the name the
/// loopback JWKS has always published).
pub fn fit_kid(generation: u32) -> String {
    format!("fit-{}", u64::from(generation) + 1)
}

/// The encoded JOSE header of a FIT signed with key `kid`.
fn kid_header(kid: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(format!(r#"{{"typ":"JWT","alg":"EdDSA","kid":"{kid}"}}"#))
}

/// Generation 0 is the seed itself; generation n ≥ 1 is SHA-256 over a label, the seed and n.
fn generation_seed(seed: &[u8; 32], generation: u32) -> [u8; 32] {
    if generation == 0 {
        return *seed;
    }
    let mut h = Sha256::new();
    h.update(b"tokenlab fit key generation");
    h.update(seed);
    h.update(generation.to_le_bytes());
    h.finalize().into()
}

/// The `kid` in a JWT's header, read without verifying anything (it only selects the key
/// the signature is then checked with). `None` for no `kid` or an unreadable header.
pub fn header_kid(jwt: &Jwt) -> Option<String> {
    jsonwebtoken::decode_header(jwt.expose()).ok()?.kid
}

/// The platform's FIT key schedule (`fit_key_rotation=periodic(period)`, `fit_key_overlap`):
/// generation n signs from n·period; it is published from n·period − overlap until
/// (n+1)·period + overlap (old and new both published around each rollover).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeySchedule {
    pub period: Micros,
    pub overlap: Micros,
}

impl KeySchedule {
    /// The generation F signs with at `t` (0 before the first rollover, setup included).
    pub fn generation(&self, t: Micros) -> u32 {
        u32::try_from(t.max(0) / self.period).unwrap_or(u32::MAX)
    }
    /// The generations the JWKS publishes at `t`.
    pub fn published(&self, t: Micros) -> std::ops::RangeInclusive<u32> {
        self.generation(t - self.overlap)..=self.generation(t + self.overlap)
    }
}

/// The platform's JWKS endpoint over a run: what a fetch at `t` returns. It derives the
/// public keys of the generations published at `t` when asked (a fetch is rare: floored);
/// the generation-0 seed it derives them from is private to it, and the partner sees only
/// the public keys [`KeyDirectory::fetch`] hands out.
pub struct KeyDirectory {
    pub schedule: KeySchedule,
    fit_seed: [u8; 32],
}

impl KeyDirectory {
    pub fn new(keys: &PlatformKeys, schedule: KeySchedule) -> KeyDirectory {
        KeyDirectory {
            schedule,
            fit_seed: keys.fit_seed,
        }
    }
    /// The key set as fetched at `t`: `kid` → verifier (checking `exp` against `epoch`).
    pub fn fetch(&self, t: Micros, epoch: Epoch) -> Vec<(String, FitVerifier)> {
        self.schedule
            .published(t)
            .map(|g| {
                let public =
                    ed25519_dalek::SigningKey::from_bytes(&generation_seed(&self.fit_seed, g))
                        .verifying_key()
                        .to_bytes();
                (
                    fit_kid(g),
                    FitVerifier::for_kid(&public, &fit_kid(g), epoch),
                )
            })
            .collect()
    }
}

/// A PKCS#8 v1 wrapper around a raw Ed25519 seed (RFC 8410), which is what
/// `EncodingKey::from_ed_der` expects.
fn ed25519_pkcs8_der(seed: &[u8; 32]) -> Vec<u8> {
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend_from_slice(seed);
    der
}

/// The audience of a client assertion: the AS's token endpoint (RFC 7523 §3 item 3).
pub const TOKEN_ENDPOINT: &str = "tokenlab-as/oauth/token";

/// The claims of a client assertion (`sender_constraint=private_key_jwt`, RFC 7523 §2.2 and
/// §3; OpenID Connect Core §9): P signs one per token request with its private key.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct AssertionClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    /// Single use: the AS remembers it until `exp` (OIDC Core §9: "MUST only be used once").
    pub jti: String,
}

/// The Ed25519 key pair behind a client key item: the item's value is the private seed's
/// source, so P (and a thief of P's store) can sign; the AS keeps only the public half.
fn client_signing_key(key: &Secret) -> ed25519_dalek::SigningKey {
    let seed: [u8; 32] = Sha256::digest(key.expose().as_bytes()).into();
    ed25519_dalek::SigningKey::from_bytes(&seed)
}

/// What the AS registers for a client key: the public key only.
pub fn client_public_key(key: &Secret) -> [u8; 32] {
    client_signing_key(key).verifying_key().to_bytes()
}

/// A client assertion signed with `key`; its header's `kid` names the key item (hex of its
/// id), which is how the AS finds the key and the history names the credential presented.
pub fn sign_client_assertion(key: &Secret, claims: &AssertionClaims) -> Jwt {
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(format!("{:016x}", key.id().0));
    let seed = client_signing_key(key).to_bytes();
    let enc = EncodingKey::from_ed_der(&ed25519_pkcs8_der(&seed));
    Jwt::new(jsonwebtoken::encode(&header, claims, &enc).expect("EdDSA signing cannot fail"))
}

/// The key item a client assertion names in its `kid` (unverified: the AS then checks the
/// signature with the public key it registered for that item).
pub fn assertion_kid(jwt: &Jwt) -> Option<crate::secret::ItemId> {
    let kid = jsonwebtoken::decode_header(jwt.expose()).ok()?.kid?;
    u64::from_str_radix(&kid, 16)
        .ok()
        .map(crate::secret::ItemId)
}

/// Signature (against the registered public key) and audience; `exp`, `iss`/`sub` and `jti`
/// are the AS's checks, each with a reason of its own.
pub fn verify_client_assertion(jwt: &Jwt, public: &[u8; 32]) -> Result<AssertionClaims, JwtError> {
    let c = jsonwebtoken::decode::<AssertionClaims>(
        jwt.expose(),
        &DecodingKey::from_ed_der(public),
        &validation(Algorithm::EdDSA),
    )
    .map(|d| d.claims)
    .map_err(map_err)?;
    if c.aud != TOKEN_ENDPOINT {
        return Err(JwtError::WrongAudience);
    }
    Ok(c)
}

/// What the partner holds to check FITs: the platform's public key.
pub struct FitVerifier {
    key: DecodingKey,
    /// The platform's key parsed once, for the fast path of [`FitVerifier::verify`] (none for
    /// a key obtained elsewhere: those always take the library's path).
    fast: Option<FitKey>,
    /// The encoded header the fast path expects (the platform's exact header for this key).
    header: String,
    v: Validation,
    epoch: Epoch,
}

impl FitVerifier {
    /// A verifier over a key obtained elsewhere (the real-network driver fetches the
    /// platform's published JWK set and builds the key from it).
    pub fn from_decoding_key(key: DecodingKey) -> FitVerifier {
        FitVerifier {
            key,
            fast: None,
            header: FIT_HEADER.to_string(),
            v: validation(Algorithm::EdDSA),
            epoch: Epoch::default(),
        }
    }
    /// The verifier of one published key, `kid`, of the platform's key schedule.
    fn for_kid(public: &[u8; 32], kid: &str, epoch: Epoch) -> FitVerifier {
        FitVerifier {
            key: DecodingKey::from_ed_der(public),
            fast: FitKey::new(public),
            header: kid_header(kid),
            v: validation(Algorithm::EdDSA),
            epoch,
        }
    }
    pub fn set_epoch(&mut self, epoch: Epoch) {
        self.epoch = epoch;
    }
    /// The world's time origin (the partner's clock reads NumericDates against it too).
    pub fn epoch(&self) -> Epoch {
        self.epoch
    }
    /// Signature, issuer, audience (= the app) and `exp` against `now`.
    pub fn verify(&self, fit: &Jwt, now: Micros) -> Result<FitClaims, JwtError> {
        self.verify_audience(fit, now, true)
    }
    /// [`FitVerifier::verify`]; with `check_aud` false (the mutant `fit_audience_check=off`)
    /// a FIT for another app passes.
    pub fn verify_audience(
        &self,
        fit: &Jwt,
        now: Micros,
        check_aud: bool,
    ) -> Result<FitClaims, JwtError> {
        let c = match self.verify_fast(fit.expose()) {
            Some(c) => c,
            None => {
                jsonwebtoken::decode::<FitClaims>(fit.expose(), &self.key, &self.v)
                    .map_err(map_err)?
                    .claims
            }
        };
        if c.iss != FIT_ISSUER {
            return Err(JwtError::WrongIssuer);
        }
        if check_aud && c.aud != APP_ID {
            return Err(JwtError::WrongAudience);
        }
        self.epoch.check_exp(c.exp, now, 0)?;
        Ok(c)
    }
}

impl FitVerifier {
    /// The common case without re-parsing the key per token: the exact header the platform
    /// writes, a valid signature under the parsed key, and claims that decode. Anything else
    /// (`None`) goes through `jsonwebtoken::decode`, which then gives the same verdict and
    /// error it always gave. With exp, nbf and aud validation off and no required claims,
    /// `decode` checks nothing more than this for a token that passes here.
    fn verify_fast(&self, token: &str) -> Option<FitClaims> {
        use base64::Engine;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let key = self.fast.as_ref()?;
        let (message, signature) = token.rsplit_once('.')?;
        let (header, _) = message.split_once('.')?;
        if header != self.header {
            return None;
        }
        let mut raw = [0u8; 64];
        if URL_SAFE_NO_PAD.decode_slice(signature, &mut raw).ok()? != raw.len() {
            return None;
        }
        if !key.verify(message.as_bytes(), &raw) {
            return None;
        }
        jsonwebtoken::dangerous::insecure_decode_claims::<FitClaims>(token).ok()
    }
}

/// Ed25519 verification (RFC 8032 §5.1.7, cofactorless, as `ed25519_dalek::Verifier::verify`
/// makes it: `s` canonical, then the encoding of [s]B − [k]A with k = SHA-512(R ‖ A ‖ M) mod ℓ
/// must be R's bytes) under one fixed key, the platform's. Every FIT is fresh, so nothing can
/// be cached per token; what is fixed is A. Once the key has checked [`COMB_AFTER`]
/// signatures, [s]B and [k]A come from fixed-base tables of B and −A (a signed radix-256
/// comb: about 32 point additions each and no doublings, against about 253 doublings in the
/// library's double-base multiplication). The same group element, so the same encoding and
/// the same verdict for every input (a test checks it against the library).
struct FitKey {
    key: ed25519_dalek::VerifyingKey,
    /// −A's table, built on the [`COMB_AFTER`]th check: a world that checks a handful of
    /// FITs never pays for it (~4,400 point additions, about 20 library checks' worth).
    minus_a: OnceLock<Comb>,
    checks: AtomicU32,
}

/// How many FITs a key checks through the library before it builds its own table.
const COMB_AFTER: u32 = 32;
/// Bits per digit of the comb; each row holds the multiples 1..=2^(W−1) of 2^(W·row)·P.
const COMB_W: usize = 8;
const COMB_HALF: usize = 1 << (COMB_W - 1);
/// Rows: enough digits of W bits for 256 bits and the last digit's carry.
const COMB_ROWS: usize = 256 / COMB_W + 2;

impl FitKey {
    fn new(public: &[u8; 32]) -> Option<FitKey> {
        Some(FitKey {
            key: ed25519_dalek::VerifyingKey::from_bytes(public).ok()?,
            minus_a: OnceLock::new(),
            checks: AtomicU32::new(0),
        })
    }

    /// Whether `signature` (R ‖ s) is this key's signature of `message`.
    fn verify(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        if self.checks.fetch_add(1, Ordering::Relaxed) < COMB_AFTER {
            let signature = ed25519_dalek::Signature::from_bytes(signature);
            return ed25519_dalek::Verifier::verify(&self.key, message, &signature).is_ok();
        }
        self.verify_comb(message, signature)
    }

    fn verify_comb(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        use curve25519_dalek::scalar::Scalar;
        let (r, s) = signature.split_at(32);
        let s: [u8; 32] = s.try_into().expect("32 bytes");
        // The library refuses a non-canonical s (s ≥ ℓ) before any arithmetic.
        let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(s)) else {
            return false;
        };
        let k = challenge(r, self.key.as_bytes(), message);
        let minus_a = self
            .minus_a
            .get_or_init(|| Comb::new(&-self.key.to_edwards()));
        // Both scalars' table entries are copied out first, then summed: the copies are
        // independent loads the processor overlaps, where loading each entry just before its
        // addition waited on a cache miss per entry (a FIT arrives every few dozen demands,
        // when the tables have left the cache).
        let mut terms = Vec::with_capacity(2 * COMB_ROWS);
        basepoint_comb().pick(&s, &mut terms);
        minus_a.pick(&k, &mut terms);
        sum_terms(&terms).compress().as_bytes() == r
    }
}

/// Σ ±entry over the terms a [`Comb`] picked.
fn sum_terms(
    terms: &[(bool, curve25519_dalek::edwards::EdwardsPoint)],
) -> curve25519_dalek::edwards::EdwardsPoint {
    let mut sum = curve25519_dalek::edwards::EdwardsPoint::default();
    for (negative, entry) in terms {
        if *negative {
            sum -= entry;
        } else {
            sum += entry;
        }
    }
    sum
}

/// F's Ed25519 FIT key, expanded once (RFC 8032 §5.1.5): the secret scalar a, the nonce
/// prefix and the public key A. Signing (§5.1.6) computes R = [r]B from the base point's comb
/// (variable time, where the library's `mul_base` is constant time: a model key on a
/// simulated or loopback-only platform has no timing channel to protect); the signature is
/// the same bytes, since R, k and S are the same numbers (a test checks it against the
/// library).
struct FitSigner {
    a: curve25519_dalek::scalar::Scalar,
    prefix: [u8; 32],
    public: [u8; 32],
}

impl FitSigner {
    fn from_seed(seed: &[u8; 32]) -> FitSigner {
        use curve25519_dalek::scalar::{Scalar, clamp_integer};
        use sha2_011::{Digest, Sha512};
        let h: [u8; 64] = Sha512::digest(seed).into();
        let (lower, upper) = h.split_at(32);
        let a = Scalar::from_bytes_mod_order(clamp_integer(lower.try_into().expect("32 bytes")));
        FitSigner {
            a,
            prefix: upper.try_into().expect("32 bytes"),
            public: curve25519_dalek::edwards::EdwardsPoint::mul_base(&a)
                .compress()
                .to_bytes(),
        }
    }

    /// R ‖ S, the Ed25519 signature of `message`.
    fn sign(&self, message: &[u8]) -> [u8; 64] {
        use curve25519_dalek::scalar::Scalar;
        use sha2_011::{Digest, Sha512};
        let r = Scalar::from_bytes_mod_order_wide(
            &Sha512::new()
                .chain_update(self.prefix)
                .chain_update(message)
                .finalize()
                .into(),
        );
        let big_r = basepoint_comb().mul(&r).compress();
        let k = challenge(big_r.as_bytes(), &self.public, message);
        let s = k * self.a + r;
        let mut signature = [0u8; 64];
        signature[..32].copy_from_slice(big_r.as_bytes());
        signature[32..].copy_from_slice(s.as_bytes());
        signature
    }
}

/// Ed25519's challenge k = SHA-512(R ‖ A ‖ message) mod ℓ (RFC 8032 §5.1.6 step 4, §5.1.7
/// step 2), the same number for the signer and the verifier.
fn challenge(r: &[u8], public: &[u8; 32], message: &[u8]) -> curve25519_dalek::scalar::Scalar {
    use sha2_011::{Digest, Sha512};
    curve25519_dalek::scalar::Scalar::from_bytes_mod_order_wide(
        &Sha512::new()
            .chain_update(r)
            .chain_update(public)
            .chain_update(message)
            .finalize()
            .into(),
    )
}

/// The Ed25519 base point's comb, built once per process.
fn basepoint_comb() -> &'static Comb {
    static B: OnceLock<Comb> = OnceLock::new();
    B.get_or_init(|| Comb::new(&curve25519_dalek::constants::ED25519_BASEPOINT_POINT))
}

/// Fixed-base table of P: `rows[i · HALF + j − 1]` = j · 2^(W·i) · P (variable time: only
/// public values, a public key and a signature, are multiplied with it).
struct Comb {
    rows: Vec<curve25519_dalek::edwards::EdwardsPoint>,
}

impl Comb {
    fn new(p: &curve25519_dalek::edwards::EdwardsPoint) -> Comb {
        let mut rows = Vec::with_capacity(COMB_ROWS * COMB_HALF);
        let mut base = *p;
        for _ in 0..COMB_ROWS {
            let mut multiple = base;
            for _ in 0..COMB_HALF {
                rows.push(multiple);
                multiple += &base;
            }
            for _ in 0..COMB_W {
                base = base + base;
            }
        }
        Comb { rows }
    }

    /// x · P.
    fn mul(&self, x: &curve25519_dalek::scalar::Scalar) -> curve25519_dalek::edwards::EdwardsPoint {
        let mut terms = Vec::with_capacity(COMB_ROWS);
        self.pick(x, &mut terms);
        sum_terms(&terms)
    }

    /// The terms of x · P, from x's signed digits Σ dᵢ 2^(W·i), dᵢ in [−2^(W−1), 2^(W−1)):
    /// (negate, |dᵢ| · 2^(W·i) · P) for each nonzero digit, pushed onto `terms`.
    fn pick(
        &self,
        x: &curve25519_dalek::scalar::Scalar,
        terms: &mut Vec<(bool, curve25519_dalek::edwards::EdwardsPoint)>,
    ) {
        let bytes = x.as_bytes();
        let mut limbs = [0u64; 6];
        for (limb, chunk) in limbs.iter_mut().zip(bytes.chunks_exact(8)) {
            *limb = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        }
        let mut carry = 0i64;
        for (row, table) in self.rows.chunks_exact(COMB_HALF).enumerate() {
            let (limb, offset) = ((row * COMB_W) / 64, (row * COMB_W) % 64);
            let mut bits = limbs[limb] >> offset;
            if offset + COMB_W > 64 {
                bits |= limbs[limb + 1] << (64 - offset);
            }
            let v = (bits & ((1 << COMB_W) - 1)) as i64 + carry;
            carry = i64::from(v >= COMB_HALF as i64); // v ≤ 2^W: 2^W itself is digit 0, carry 1
            let digit = v - (carry << COMB_W);
            if digit != 0 {
                terms.push((digit < 0, table[digit.unsigned_abs() as usize - 1]));
            }
        }
        debug_assert_eq!(carry, 0, "the last row takes the last carry");
    }
}

/// `qsh` of a Connect request: SHA-256 of `METHOD&path&sorted-query`.
pub fn connect_qsh(method: &str, path: &str, query: &[(&str, &str)]) -> String {
    let mut q: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    q.sort();
    let canonical = format!("{}&{}&{}", method.to_ascii_uppercase(), path, q.join("&"));
    let digest = Sha256::digest(canonical.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn sign_connect(shared_secret: &Secret, claims: &ConnectClaims) -> Jwt {
    let key = EncodingKey::from_secret(shared_secret.expose().as_bytes()).expect("HMAC key");
    Jwt::new(
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &key)
            .expect("HS256 encoding cannot fail"),
    )
}

/// The unverified `iss` of a Connect JWT (the clientKey that selects the secret to verify with).
pub fn connect_issuer(jwt: &Jwt) -> Result<String, JwtError> {
    // Only to pick the key; the signature is verified right after with that key.
    jsonwebtoken::dangerous::insecure_decode_claims::<ConnectClaims>(jwt.expose())
        .map(|c| c.iss)
        .map_err(map_err)
}

pub fn verify_connect(shared_secret: &Secret, jwt: &Jwt) -> Result<ConnectClaims, JwtError> {
    let key = DecodingKey::from_secret(shared_secret.expose().as_bytes()).expect("HMAC key");
    jsonwebtoken::decode::<ConnectClaims>(jwt.expose(), &key, &validation(Algorithm::HS256))
        .map(|d| d.claims)
        .map_err(map_err)
}

/// Connect's clientKey of a tenant (public).
pub fn client_key(tenant: TenantId) -> String {
    format!("clientkey-{}", tenant.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn keys() -> PlatformKeys {
        PlatformKeys::generate(&mut rand_chacha::ChaCha8Rng::seed_from_u64(1))
    }

    fn claims(exp_s: i64) -> AccessClaims {
        AccessClaims {
            iss: PLATFORM_ISSUER.into(),
            aud: API_AUDIENCE.into(),
            inst: 3,
            app: APP_ID.into(),
            scope: "app-system".into(),
            iat: EPOCH_S,
            exp: exp_s,
            jti: "j1".into(),
            sub: None,
        }
    }

    #[test]
    fn access_tokens_round_trip_and_expire_on_model_time() {
        let k = keys();
        let t = k.mint_access(&claims(EPOCH_S + 10));
        assert!(t.expose().starts_with("eyJ"));
        let c = k.verify_access(&t).unwrap();
        assert_eq!(c.inst, 3);
        let epoch = Epoch::default();
        assert!(epoch.check_exp(c.exp, 9 * SEC, 0).is_ok());
        assert_eq!(epoch.check_exp(c.exp, 10 * SEC, 0), Err(JwtError::Expired));
        let other = PlatformKeys::generate(&mut rand_chacha::ChaCha8Rng::seed_from_u64(2));
        assert_eq!(other.verify_access(&t), Err(JwtError::BadSignature));
    }

    #[test]
    fn fit_is_eddsa_and_verifies_with_the_public_key_only() {
        let k = keys();
        let fit = k.sign_fit(&FitClaims {
            iss: FIT_ISSUER.into(),
            aud: APP_ID.into(),
            installation_id: 4,
            api_base_url: "https://api".into(),
            iat: EPOCH_S,
            exp: EPOCH_S + 60,
            jti: "f".into(),
        });
        let header = jsonwebtoken::decode_header(fit.expose()).unwrap();
        assert_eq!(header.alg, Algorithm::EdDSA);
        assert_eq!(
            k.fit_public_key().verify(&fit, 0).unwrap().installation_id,
            4
        );
        let other = PlatformKeys::generate(&mut rand_chacha::ChaCha8Rng::seed_from_u64(9));
        assert_eq!(
            other.fit_public_key().verify(&fit, 0),
            Err(JwtError::BadSignature)
        );
        assert_eq!(
            k.fit_public_key().verify(&fit, 61 * SEC),
            Err(JwtError::Expired)
        );
    }

    /// F's signer gives ed25519-dalek's signature byte for byte (the nonce, R through the
    /// comb and S), and the same public key, under 24 keys and messages of every length to
    /// 300 bytes; a FIT's own signing input is one of them.
    #[test]
    fn fit_signer_equals_the_library() {
        use ed25519_dalek::Signer;
        use rand::Rng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(25519);
        for _ in 0..24 {
            let mut seed = [0u8; 32];
            rng.fill_bytes(&mut seed);
            let ours = FitSigner::from_seed(&seed);
            let library = ed25519_dalek::SigningKey::from_bytes(&seed);
            assert_eq!(ours.public, library.verifying_key().to_bytes());
            for len in (0..300).step_by(23) {
                let mut message = vec![0u8; len];
                rng.fill_bytes(&mut message);
                assert_eq!(
                    ours.sign(&message),
                    library.sign(&message).to_bytes(),
                    "seed {seed:?}, {len} bytes"
                );
            }
        }
    }

    #[test]
    fn fit_signing_and_fast_verification_equal_the_library() {
        let k = keys();
        let c = FitClaims {
            iss: FIT_ISSUER.into(),
            aud: APP_ID.into(),
            installation_id: 7,
            api_base_url: "https://api/x?y=\"z\"".into(),
            iat: EPOCH_S,
            exp: EPOCH_S + 60,
            jti: "f7".into(),
        };
        let fit = k.sign_fit(&c);
        assert_eq!(
            fit,
            k.sign_fit_reference(&c),
            "byte-identical to jsonwebtoken"
        );
        assert!(fit.expose().starts_with(&format!("{FIT_HEADER}.")));
        let v = k.fit_public_key();
        assert_eq!(
            v.verify_fast(fit.expose()).map(|c| c.installation_id),
            Some(7)
        );
        // A tampered payload fails the fast path and the library then refuses it too.
        let (h, rest) = fit.expose().split_once('.').unwrap();
        let (_, sig) = rest.rsplit_once('.').unwrap();
        let mut other = c.clone();
        other.installation_id = 8;
        let forged_body = k.sign_fit(&other);
        let forged_body = forged_body.expose().split('.').nth(1).unwrap();
        let forged = Jwt::new(format!("{h}.{forged_body}.{sig}"));
        assert!(v.verify_fast(forged.expose()).is_none());
        assert_eq!(v.verify(&forged, 0), Err(JwtError::BadSignature));
        // Another header (alg none) is never taken by the fast path.
        let none = Jwt::new(format!("eyJhbGciOiJub25lIn0.{forged_body}.{sig}"));
        assert!(v.verify_fast(none.expose()).is_none());
        assert!(v.verify(&none, 0).is_err());
    }

    #[test]
    fn forgeries_are_laid_out_as_the_platforms_and_fail_only_their_signature() {
        use base64::Engine;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let k = keys();
        let signature = |jwt: &Jwt| {
            URL_SAFE_NO_PAD
                .decode(jwt.expose().rsplit('.').next().unwrap())
                .unwrap()
        };
        let c = FitClaims {
            iss: FIT_ISSUER.into(),
            aud: APP_ID.into(),
            installation_id: 3,
            api_base_url: "https://site-3.example/api".into(),
            iat: EPOCH_S,
            exp: EPOCH_S + 60,
            jti: "f3".into(),
        };
        let fit = k.sign_fit(&c);
        let genuine: [u8; 64] = signature(&fit).try_into().unwrap();
        assert_eq!(forge_fit(&c, &genuine), fit, "the platform's exact layout");
        let v = k.fit_public_key();
        // Past the comb's threshold too: both verification paths refuse it.
        for _ in 0..2 * COMB_AFTER {
            assert_eq!(
                v.verify(&forge_fit(&c, &[7; 64]), 0),
                Err(JwtError::BadSignature)
            );
            assert!(v.verify(&fit, 0).is_ok());
        }
        let t = claims(EPOCH_S + 10);
        let minted = k.mint_access(&t);
        let tag: [u8; 32] = signature(&minted).try_into().unwrap();
        assert_eq!(
            forge_access(&t, &tag),
            minted,
            "the platform's exact layout"
        );
        assert_eq!(
            k.verify_access(&forge_access(&t, &[7; 32])),
            Err(JwtError::BadSignature)
        );
    }

    #[test]
    fn fit_comb_verification_equals_the_library() {
        use ed25519_dalek::Signer;
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        // ℓ, the group order, little-endian: s + ℓ is the non-canonical twin of s.
        let ell: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let mut checked = [0u32; 2];
        for round in 0..24 {
            let mut seed = [0u8; 32];
            rng.fill_bytes(&mut seed);
            let signer = ed25519_dalek::SigningKey::from_bytes(&seed);
            let key = FitKey::new(&signer.verifying_key().to_bytes()).unwrap();
            let mut message = vec![0u8; round * 17];
            rng.fill_bytes(&mut message);
            let good = signer.sign(&message).to_bytes();
            let mut cases = vec![good];
            for bit in [0, 7, 100, 255, 256, 300, 500, 511] {
                let mut bad = good;
                bad[bit / 8] ^= 1 << (bit % 8);
                cases.push(bad);
            }
            // s + ℓ (no carry out of 256 bits for these s): the same point, refused for form.
            let mut plus_ell = good;
            let mut carry = 0u16;
            for (b, e) in plus_ell[32..].iter_mut().zip(ell) {
                let v = u16::from(*b) + u16::from(e) + carry;
                *b = v as u8;
                carry = v >> 8;
            }
            cases.push(plus_ell);
            let mut random = [0u8; 64];
            rng.fill_bytes(&mut random);
            random[63] &= 0x0f;
            cases.push(random);
            for (i, sig) in cases.iter().enumerate() {
                let library = ed25519_dalek::Verifier::verify(
                    &key.key,
                    &message,
                    &ed25519_dalek::Signature::from_bytes(sig),
                )
                .is_ok();
                assert_eq!(
                    key.verify_comb(&message, sig),
                    library,
                    "round {round} case {i}"
                );
                assert_eq!(key.verify(&message, sig), library, "round {round} case {i}");
                checked[usize::from(library)] += 1;
            }
            let mut other = message.clone();
            other.push(1);
            assert!(!key.verify_comb(&other, &good));
        }
        assert!(checked[0] > 100 && checked[1] >= 24, "{checked:?}");
        // Past the threshold the key checks with its own table, and gives the same verdicts.
        let k = keys();
        let v = k.fit_public_key();
        let fit = |i: u32| {
            k.sign_fit(&FitClaims {
                iss: FIT_ISSUER.into(),
                aud: APP_ID.into(),
                installation_id: i,
                api_base_url: "https://api".into(),
                iat: EPOCH_S,
                exp: EPOCH_S + 60,
                jti: format!("f{i}"),
            })
        };
        for i in 0..2 * COMB_AFTER {
            assert_eq!(v.verify(&fit(i), 0).unwrap().installation_id, i);
        }
        assert!(
            v.fast.as_ref().unwrap().minus_a.get().is_some(),
            "the table is built"
        );
        let other = PlatformKeys::generate(&mut rand_chacha::ChaCha8Rng::seed_from_u64(9));
        let foreign = other.fit_public_key();
        for i in 0..2 * COMB_AFTER {
            assert_eq!(foreign.verify(&fit(i), 0), Err(JwtError::BadSignature));
        }
    }

    #[test]
    fn access_fast_verification_equals_the_library() {
        use base64::Engine;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let k = keys();
        let t = k.mint_access(&claims(EPOCH_S + 10));
        assert_eq!(
            t,
            k.mint_access_reference(&claims(EPOCH_S + 10)),
            "as the library mints"
        );
        assert!(t.expose().starts_with(&format!("{HS256_HEADER}.")));
        let payload = k
            .verify_access_fast(t.expose())
            .expect("the fast path is taken");
        let view: AccessView<'_> = serde_json::from_slice(&payload).unwrap();
        assert!(matches!(view.iss, Cow::Borrowed(_)), "strings are borrowed");
        assert_eq!(Ok(view.to_claims()), k.verify_access_library(&t));
        assert_eq!(AccessView::of(&view.to_claims()), view);
        // A user token (with `sub`, escaped) reads back whole too.
        let mut user = claims(EPOCH_S + 10);
        user.sub = Some("u\"1".into());
        let u = k.mint_access(&user);
        assert_eq!(u, k.mint_access_reference(&user));
        assert!(k.verify_access_fast(u.expose()).is_some());
        assert_eq!(k.verify_access(&u), Ok(user.clone()));
        assert_eq!(k.verify_access_library(&u), Ok(user));
        let (h, rest) = t.expose().split_once('.').unwrap();
        let (body, sig) = rest.rsplit_once('.').unwrap();
        let other_body = k.mint_access(&claims(EPOCH_S + 99));
        let other_body = other_body.expose().split('.').nth(1).unwrap();
        let other_key = PlatformKeys::generate(&mut rand_chacha::ChaCha8Rng::seed_from_u64(2))
            .mint_access(&claims(EPOCH_S + 10));
        // The same claims under a header of another spelling, signed with the right key: the
        // library accepts it, the fast path declines and defers to it.
        let mut header = Header::new(Algorithm::HS256);
        header.typ = None;
        let respelled =
            Jwt::new(jsonwebtoken::encode(&header, &claims(EPOCH_S + 10), &k.access_enc).unwrap());
        let flipped = {
            let mut s = URL_SAFE_NO_PAD.decode(sig).unwrap();
            s[0] ^= 1;
            URL_SAFE_NO_PAD.encode(s)
        };
        let cases = [
            t.clone(),
            other_key,
            respelled.clone(),
            Jwt::new(format!("{h}.{other_body}.{sig}")),
            Jwt::new(format!("{h}.{body}.{flipped}")),
            Jwt::new(format!("{h}.{body}.{sig}A")),
            Jwt::new(format!("{h}.{body}.{}", &sig[..sig.len() - 1])),
            Jwt::new(format!("{h}.{body}")),
            Jwt::new(format!("{h}.x.{body}.{sig}")),
            Jwt::new(format!("eyJhbGciOiJub25lIn0.{body}.{sig}")),
            Jwt::new(format!("eyJhbGciOiJub25lIn0.{body}.")),
            Jwt::new(String::new()),
            Jwt::new("...".into()),
            t.fingerprint_only(),
        ];
        for (i, c) in cases.iter().enumerate() {
            assert_eq!(k.verify_access(c), k.verify_access_library(c), "case {i}");
            if i > 0 {
                assert!(k.verify_access_fast(c.expose()).is_none(), "case {i}");
            }
        }
        assert!(k.verify_access(&respelled).is_ok());
        assert_eq!(
            k.verify_access(&cases[3]),
            Err(JwtError::BadSignature),
            "a swapped body"
        );
        // The constant is the library's header.
        let lib = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims(EPOCH_S),
            &k.access_enc,
        )
        .unwrap();
        assert_eq!(lib.split('.').next(), Some(HS256_HEADER));
    }

    #[test]
    fn access_claims_read_as_written_equal_serde() {
        use rand::{RngExt, SeedableRng};
        let mut user = claims(EPOCH_S + 10);
        user.sub = Some("user-7".into());
        let mut escaped = claims(EPOCH_S);
        escaped.jti = "a\"b".into();
        let mut unicode = claims(0);
        unicode.app = "äpp\u{7f}".into();
        unicode.inst = u32::MAX;
        let mut control = claims(EPOCH_S);
        control.scope = "a\tb".into();
        let mut read = 0;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        for c in [claims(EPOCH_S + 10), user, escaped, unicode, control] {
            let payload = serde_json::to_vec(&c).unwrap();
            let serde = serde_json::from_slice::<AccessView<'_>>(&payload).unwrap();
            match AccessView::read_as_written(&payload) {
                Some(v) => {
                    assert_eq!(v, serde);
                    assert!(matches!(v.jti, Cow::Borrowed(_)));
                    read += 1;
                }
                None => assert!(payload.contains(&b'\\'), "only escapes are left to serde"),
            }
            // Mutated payloads: wherever this reads one, serde reads the same values.
            for _ in 0..2000 {
                let mut m = payload.clone();
                for _ in 0..1 + rng.random_range(0..3) {
                    let i = rng.random_range(0..m.len());
                    match rng.random_range(0..4) {
                        0 => m[i] = b"0123456789-.e\"\\ ,:{}az\x01\xc3"[rng.random_range(0..22)],
                        1 => {
                            m.remove(i);
                        }
                        2 => m.insert(i, m[i]),
                        _ => m[i] ^= 1 << rng.random_range(0..8),
                    }
                }
                if let Some(v) = AccessView::read_as_written(&m) {
                    assert_eq!(
                        Ok(&v),
                        serde_json::from_slice::<AccessView<'_>>(&m)
                            .as_ref()
                            .map_err(|_| ())
                    );
                }
            }
        }
        assert_eq!(
            read, 3,
            "plain claims, a user token and non-ASCII text are read here"
        );
        for bad in [
            &br#"{"iss":"a","aud":"b","inst":01,"app":"c","scope":"d","iat":1,"exp":2,"jti":"e"}"#[..],
            br#"{"iss":"a","aud":"b","inst":1,"app":"c","scope":"d","iat":-1,"exp":2,"jti":"e"}"#,
            br#"{"iss":"a","aud":"b","inst":4294967296,"app":"c","scope":"d","iat":1,"exp":2,"jti":"e"}"#,
            br#"{"iss":"a","aud":"b","inst":1,"app":"c","scope":"d","iat":1,"exp":2,"jti":"e"} "#,
            br#"{"iss":"a","aud":"b","inst":1,"app":"c","scope":"d","iat":1.0,"exp":2,"jti":"e"}"#,
            br#"{"iss":"a","aud":"b","inst":1,"app":"c","scope":"d","iat":1,"exp":2,"jti":"e","sub":null}"#,
            br#"{"aud":"b","iss":"a","inst":1,"app":"c","scope":"d","iat":1,"exp":2,"jti":"e"}"#,
        ] {
            assert!(AccessView::read_as_written(bad).is_none(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn connect_jwt_binds_the_request() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let s = Secret::generate(&mut rng, "shared");
        let qsh = connect_qsh("get", "/rest/api/resource", &[("b", "2"), ("a", "1")]);
        assert_eq!(
            qsh,
            connect_qsh("GET", "/rest/api/resource", &[("a", "1"), ("b", "2")])
        );
        let j = sign_connect(
            &s,
            &ConnectClaims {
                iss: "ck".into(),
                iat: 0,
                exp: 1,
                qsh,
                sub: None,
            },
        );
        assert_eq!(connect_issuer(&j).unwrap(), "ck");
        assert!(verify_connect(&s, &j).is_ok());
        let s2 = Secret::generate(&mut rng, "shared");
        assert_eq!(verify_connect(&s2, &j), Err(JwtError::BadSignature));
    }
}
