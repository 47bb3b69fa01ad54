//! Client authentication at the AS's `client_credentials` grant, shared by `global-secret` and
//! `tenant-secret` (`mechanisms.md` §5–§6, `sender_constraint`):
//! - `none` / `mtls`: P sends its client secret in every token request (with `mtls` the
//!   platform also requires P's own connection; `roles/platform.rs`);
//! - `private_key_jwt` (RFC 7523 §2.2, OpenID Connect Core §9): P holds a private key and sends
//!   a short-lived assertion it signs per request; the AS keeps only the public key, so the
//!   credential itself never crosses the token hop, and a captured assertion is single use
//!   (`jti`) and dies at its `exp`.
//!
//! The key is delivered the way the secret is (the install hook): an AS that generates a key
//! pair and hands out the private half once (as cloud service-account keys do) is the
//! inference modelled; a partner-generated key registered by its public half would keep the
//! key off that one hop too.

use crate::Micros;
use crate::SEC;
use crate::message::{Fields, Request, Value};
use crate::params::{Basis, Kind, ParamSpec, Params, SenderConstraint, spec};
use crate::secret::{ItemId, Secret};
use crate::token::{AssertionClaims, Epoch, TOKEN_ENDPOINT, sign_client_assertion};
use std::collections::BTreeMap;

/// RFC 7523 §2.2's `client_assertion_type`.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The switches of the client authentication (beside `sender_constraint` itself).
pub fn switches() -> Vec<ParamSpec> {
    vec![
        spec(
            "assertion_lifetime",
            Kind::Duration,
            "60s",
            Basis::Inference,
            "with sender_constraint=private_key_jwt: the lifetime P gives an assertion, and the longest the AS accepts",
        ),
        spec(
            "assertion_replay_check",
            Kind::Switch,
            "on",
            Basis::Mutant,
            "with sender_constraint=private_key_jwt: the AS refuses an assertion jti it has seen (off: mutant)",
        ),
    ]
}

/// The `sender_constraint` switch of the client_credentials mechanisms.
pub fn sender_constraint_spec() -> ParamSpec {
    spec(
        "sender_constraint",
        Kind::Choice(&["none", "private_key_jwt", "mtls"]),
        "none",
        Basis::Fact,
        "private_key_jwt: P signs a short-lived assertion and the AS holds only the public key (RFC 7523); mtls: the secret and T work only over P's client certificate (RFC 8705)",
    )
}

/// The store and hook field that holds P's client credential: a secret, or a private key.
pub fn credential_field(sc: SenderConstraint) -> &'static str {
    if sc == SenderConstraint::PrivateKeyJwt {
        "client_key"
    } else {
        "client_secret"
    }
}

/// The fields P.lifecycle keeps from an `installed` or `secret_rotated` hook.
pub fn hook_fields(sc: SenderConstraint) -> &'static [&'static str] {
    if sc == SenderConstraint::PrivateKeyJwt {
        &["client_key", "client_id"]
    } else {
        &["client_secret", "client_id"]
    }
}

/// The credentials the AS accepts: the current one, and a replaced one inside its overlap.
pub fn live<'a>(
    current: Option<&'a Secret>,
    previous: &'a Option<(Secret, Micros)>,
    now: Micros,
) -> Vec<&'a Secret> {
    current
        .into_iter()
        .chain(
            previous
                .as_ref()
                .filter(|(_, until)| now < *until)
                .map(|(p, _)| p),
        )
        .collect()
}

/// P's side: how it authenticates (`sender_constraint`) and for how long its assertions live.
#[derive(Clone, Copy, Debug)]
pub struct ClientAuthConfig {
    pub sender_constraint: SenderConstraint,
    pub assertion_lifetime: Micros,
}

impl ClientAuthConfig {
    pub fn from_params(params: &Params) -> ClientAuthConfig {
        ClientAuthConfig {
            sender_constraint: params.pick("sender_constraint"),
            assertion_lifetime: params.dur_req("assertion_lifetime"),
        }
    }
}

/// The fields that authenticate a token request made with `credential`: the secret itself,
/// or an assertion signed with the key (a fresh `jti` from `rng`). P and a thief holding the
/// key make the same request.
pub fn credential_fields<R: rand::Rng + ?Sized>(
    cfg: ClientAuthConfig,
    credential: &Secret,
    client_id: &str,
    now: Micros,
    epoch: Epoch,
    rng: &mut R,
) -> Fields {
    if cfg.sender_constraint != SenderConstraint::PrivateKeyJwt {
        return Fields::new().with("client_secret", Value::Secret(credential.clone()));
    }
    let claims = AssertionClaims {
        iss: client_id.to_string(),
        sub: client_id.to_string(),
        aud: TOKEN_ENDPOINT.to_string(),
        iat: epoch.numeric_date(now),
        exp: epoch.numeric_date(now + cfg.assertion_lifetime),
        jti: Secret::generate(rng, "jti").expose().to_string(),
    };
    Fields::new()
        .with("client_assertion_type", Value::Str(JWT_BEARER.into()))
        .with(
            "client_assertion",
            Value::Jwt(sign_client_assertion(credential, &claims)),
        )
}

/// The AS's side: the registered public keys and the assertion `jti`s seen until their `exp`.
pub struct ClientAuthenticator {
    cfg: ClientAuthConfig,
    replay_check: bool,
    /// Key item → its public key (private_key_jwt only: all the AS keeps of a key).
    public: BTreeMap<ItemId, [u8; 32]>,
    /// `jti` → until when it must be remembered (its assertion's `exp`).
    seen: BTreeMap<String, Micros>,
}

impl ClientAuthenticator {
    pub fn from_params(params: &Params) -> ClientAuthenticator {
        ClientAuthenticator {
            cfg: ClientAuthConfig::from_params(params),
            replay_check: params.bool("assertion_replay_check"),
            public: BTreeMap::new(),
            seen: BTreeMap::new(),
        }
    }

    /// The hook field the issued credential travels in.
    pub fn field(&self) -> &'static str {
        credential_field(self.cfg.sender_constraint)
    }

    /// A credential was issued: with private_key_jwt, register its public half.
    pub fn register(&mut self, credential: &Secret) {
        if self.cfg.sender_constraint == SenderConstraint::PrivateKeyJwt {
            self.public
                .insert(credential.id(), crate::token::client_public_key(credential));
        }
    }

    /// Whether `req` authenticates as `client_id` with one of `valid` (the current credential,
    /// and a replaced one inside its overlap). Errors are the OAuth reason the AS answers.
    pub fn authenticate(
        &mut self,
        req: &Request,
        client_id: &str,
        valid: &[&Secret],
        now: Micros,
        epoch: Epoch,
    ) -> Result<(), &'static str> {
        if self.cfg.sender_constraint != SenderConstraint::PrivateKeyJwt {
            let presented = req.body.secret("client_secret");
            return match presented {
                Some(p) if valid.contains(&p) => Ok(()),
                _ => Err("invalid_client"),
            };
        }
        let Some(jwt) = req.body.jwt("client_assertion") else {
            return Err("invalid_client");
        };
        if req.body.str("client_assertion_type") != Some(JWT_BEARER) {
            return Err("invalid_client");
        }
        let kid = crate::token::assertion_kid(jwt).ok_or("invalid_client")?;
        if !valid.iter().any(|s| s.id() == kid) {
            return Err("invalid_client");
        }
        let public = self.public.get(&kid).ok_or("invalid_client")?;
        let c = crate::token::verify_client_assertion(jwt, public).map_err(|_| "invalid_client")?;
        if c.iss != client_id || c.sub != client_id {
            return Err("invalid_client");
        }
        let exp = epoch.model_time(c.exp);
        // Expired, or living longer than the AS accepts (RFC 7523 §3 item 4: the AS may
        // reject an `exp` unreasonably far in the future).
        if now >= exp || exp - now > self.cfg.assertion_lifetime + SEC {
            return Err("assertion_expired");
        }
        self.seen.retain(|_, until| *until > now);
        if self.seen.insert(c.jti, exp).is_some() && self.replay_check {
            return Err("assertion_replayed");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn params(sets: &[&str]) -> Params {
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        crate::mechanisms::resolve("global-secret", &sets)
            .unwrap()
            .2
    }

    fn request(fields: Fields) -> Request {
        Request {
            method: crate::message::Method::Post,
            route: "POST /oauth/token",
            tenant: None,
            headers: Fields::new(),
            body: fields,
        }
    }

    /// Every check of the AS, each stopping a request that only it stops.
    #[test]
    fn each_assertion_check_refuses_what_only_it_refuses() {
        let p = params(&["sender_constraint=private_key_jwt"]);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let key = Secret::generate(&mut rng, "client");
        let other = Secret::generate(&mut rng, "client");
        let mut auth = ClientAuthenticator::from_params(&p);
        auth.register(&key);
        let cfg = ClientAuthConfig::from_params(&p);
        let epoch = Epoch::default();
        let now = 100 * SEC;
        let fields = credential_fields(cfg, &key, "app", now, epoch, &mut rng);
        assert!(
            fields.secret("client_secret").is_none(),
            "the key stays at P"
        );
        let req = request(fields);
        assert_eq!(auth.authenticate(&req, "app", &[&key], now, epoch), Ok(()));
        // The same assertion again: its jti was seen.
        assert_eq!(
            auth.authenticate(&req, "app", &[&key], now + SEC, epoch),
            Err("assertion_replayed")
        );
        // After its exp, even with a fresh jti table.
        let mut fresh = ClientAuthenticator::from_params(&p);
        fresh.register(&key);
        assert_eq!(
            fresh.authenticate(&req, "app", &[&key], now + 61 * SEC, epoch),
            Err("assertion_expired")
        );
        // Another client's name, a key that is not (or no longer) valid, an unregistered key.
        let req = request(credential_fields(cfg, &key, "app", now, epoch, &mut rng));
        assert_eq!(
            fresh.authenticate(&req, "other", &[&key], now, epoch),
            Err("invalid_client")
        );
        assert_eq!(
            fresh.authenticate(&req, "app", &[&other], now, epoch),
            Err("invalid_client")
        );
        let forged = request(credential_fields(cfg, &other, "app", now, epoch, &mut rng));
        assert_eq!(
            fresh.authenticate(&forged, "app", &[&other], now, epoch),
            Err("invalid_client")
        );
        // An assertion living longer than the AS accepts.
        let long = ClientAuthConfig {
            assertion_lifetime: 3600 * SEC,
            ..cfg
        };
        let req = request(credential_fields(long, &key, "app", now, epoch, &mut rng));
        assert_eq!(
            fresh.authenticate(&req, "app", &[&key], now, epoch),
            Err("assertion_expired")
        );
        // The mutant: a replay passes.
        let p = params(&[
            "sender_constraint=private_key_jwt",
            "assertion_replay_check=off",
        ]);
        let mut mutant = ClientAuthenticator::from_params(&p);
        mutant.register(&key);
        let req = request(credential_fields(cfg, &key, "app", now, epoch, &mut rng));
        assert_eq!(
            mutant.authenticate(&req, "app", &[&key], now, epoch),
            Ok(())
        );
        assert_eq!(
            mutant.authenticate(&req, "app", &[&key], now, epoch),
            Ok(())
        );
    }
}
