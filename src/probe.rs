//! `tokenlab probe`: black-box measurement of a real authorization server's refresh-token
//! semantics by bounded experiments against its token endpoint (RFC 6749 §6), and the
//! `--set` switches of tokenlab's `refresh` model that describe what was measured.
//!
//! Each refresh token given is an independent family. Family 1 answers rotation, the
//! immediate replay of a superseded RT (rejected, or accepted inside a grace window, and then
//! what the retry is handed), whether the family is revoked after a rejected reuse, and
//! whether an RT two generations old is still accepted. Every further family is one step of
//! the grace window's search (doubling, then bisection): rotate it, wait, present the
//! superseded RT again. A probe that trips reuse detection spends its family; with too few
//! families the probe says what it could not determine.
//!
//! Secrets never leave this module: requests and verdicts name tokens by a short SHA-256
//! fingerprint only, and the server's `error_description` is not kept.

use anyhow::{Context, Result, bail};
use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::net::IpAddr;
use std::time::Duration;
use tokio::time::Instant;

/// Where the probe may send: one `http://` token endpoint.
#[derive(Clone, Debug)]
pub struct Target {
    pub url: String,
    pub loopback: bool,
}

/// Parses the token endpoint and refuses a non-loopback host unless `allow_remote`.
pub fn target(url: &str, allow_remote: bool) -> Result<Target> {
    let uri: hyper::Uri = url
        .parse()
        .with_context(|| format!("--token-endpoint '{url}' is not a URL"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => bail!(
            "--token-endpoint '{url}': https is not supported (tokenlab carries no TLS client); probe a plain-http endpoint, e.g. a local test instance"
        ),
        _ => bail!("--token-endpoint '{url}' must be an http:// URL"),
    }
    let Some(host) = uri.host() else {
        bail!("--token-endpoint '{url}' has no host");
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = bare == "localhost" || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if !loopback && !allow_remote {
        bail!(
            "--token-endpoint host '{host}' is not a loopback address; the probe only sends to 127.0.0.1/::1/localhost unless --allow-remote is given (and only to servers you are authorised to test)"
        );
    }
    Ok(Target {
        url: url.to_string(),
        loopback,
    })
}

/// The probe's bounds and inputs.
#[derive(Clone, Debug)]
pub struct ProbeConfig {
    pub target: Target,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// One refresh token per independent family.
    pub families: Vec<String>,
    /// Hard cap on requests sent.
    pub max_requests: u32,
    /// At most this many requests per second.
    pub max_rate: f64,
    /// The longest wait of the grace window's search (a window longer than this is reported
    /// as "at least").
    pub max_wait: Duration,
    /// The search stops once the window is bracketed this tightly.
    pub resolution: Duration,
    /// Per-request timeout.
    pub timeout: Duration,
}

/// A short, non-reversible name for a secret: `#` and 8 hex digits of its SHA-256.
pub fn fingerprint(secret: &str) -> String {
    let d = Sha256::digest(secret.as_bytes());
    format!("#{}", &hex8(&d))
}

fn hex8(d: &[u8]) -> String {
    d.iter().take(4).map(|b| format!("{b:02x}")).collect()
}

/// One request the probe sent, as printed: tokens by fingerprint only.
#[derive(Clone, Debug, Serialize)]
pub struct Sent {
    pub n: u32,
    /// Milliseconds since the probe's first request.
    pub at_ms: u64,
    pub purpose: String,
    /// Fingerprint of the RT presented (`-` for none).
    pub presented: String,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<f64>,
}

/// A reply, with the secrets it carried (kept in memory, never printed).
struct Reply {
    n: u32,
    ok: bool,
    status: u16,
    error: Option<String>,
    refresh_token: Option<String>,
    access_token: Option<String>,
    expires_in: Option<f64>,
    json: bool,
    no_store: bool,
    token_type: Option<String>,
    sent: Instant,
    received: Instant,
}

/// One verdict: its value (`None`: could not be determined), the requests that showed it and
/// a sentence saying how.
#[derive(Clone, Debug, Serialize)]
pub struct Verdict<T: Serialize> {
    pub value: Option<T>,
    pub requests: Vec<u32>,
    pub how: String,
}

impl<T: Serialize> Verdict<T> {
    fn new(value: Option<T>, requests: Vec<u32>, how: impl Into<String>) -> Verdict<T> {
        Verdict {
            value,
            requests,
            how: how.into(),
        }
    }
}

/// Everything the probe measured.
#[derive(Clone, Debug, Serialize)]
pub struct Findings {
    pub rotation: Verdict<bool>,
    pub reuse_rejected: Verdict<bool>,
    pub grace_window_s: Verdict<f64>,
    /// `[lower, upper]` bounds in seconds (upper `null`: not bracketed).
    pub grace_window_bounds_s: (f64, Option<f64>),
    pub grace_reply: Verdict<&'static str>,
    pub family_revoked_on_reuse: Verdict<bool>,
    pub old_generations_accepted: Verdict<bool>,
    pub access_token_ttl_s: Verdict<f64>,
    pub error_codes_conform: Verdict<bool>,
    /// RFC 6749 deviations seen (status, error code, content type, Cache-Control).
    pub deviations: Vec<String>,
    pub families_given: usize,
    pub families_used: usize,
    pub requests: Vec<Sent>,
    pub elapsed_s: f64,
}

/// One verdict as a printed row: name, value (`None`: undetermined), requests, how.
pub type VerdictRow<'a> = (&'static str, Option<String>, &'a [u32], &'a str);

fn row<'a, T: Serialize + std::fmt::Display>(
    name: &'static str,
    v: &'a Verdict<T>,
) -> VerdictRow<'a> {
    (
        name,
        v.value.as_ref().map(|x| x.to_string()),
        &v.requests,
        &v.how,
    )
}

impl Findings {
    /// Every verdict, in the order printed.
    pub fn rows(&self) -> Vec<VerdictRow<'_>> {
        vec![
            row("rotation", &self.rotation),
            row("reuse_rejected", &self.reuse_rejected),
            row("grace_window_s", &self.grace_window_s),
            row("grace_reply", &self.grace_reply),
            row("family_revoked_on_reuse", &self.family_revoked_on_reuse),
            row("old_generations_accepted", &self.old_generations_accepted),
            row("access_token_ttl_s", &self.access_token_ttl_s),
            row("error_codes_conform", &self.error_codes_conform),
        ]
    }
}

struct Prober {
    client: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        Full<Bytes>,
    >,
    cfg: ProbeConfig,
    uri: hyper::Uri,
    log: Vec<Sent>,
    start: Option<Instant>,
    last: Option<Instant>,
    deviations: Vec<String>,
}

/// Only `[A-Za-z0-9_.-]`, at most 40 characters: an error code, never an echoed secret.
fn error_code(v: &serde_json::Value) -> Option<String> {
    let s = v.get("error")?.as_str()?;
    Some(
        s.chars()
            .filter(|c| c.is_ascii_alphanumeric() || "_.-".contains(*c))
            .take(40)
            .collect(),
    )
}

impl Prober {
    fn new(cfg: ProbeConfig) -> Result<Prober> {
        let uri = cfg.target.url.parse().context("the token endpoint")?;
        Ok(Prober {
            client: crate::net::client::new_client(),
            cfg,
            uri,
            log: Vec::new(),
            start: None,
            last: None,
            deviations: Vec::new(),
        })
    }

    fn since_start(&self, t: Instant) -> Duration {
        self.start.map_or(Duration::ZERO, |s| t.duration_since(s))
    }

    /// One `grant_type=refresh_token` request (`rt = None`: the parameter left out), within
    /// the request cap and the rate limit.
    async fn refresh(&mut self, rt: Option<&str>, purpose: impl Into<String>) -> Result<Reply> {
        let n = self.log.len() as u32 + 1;
        if n > self.cfg.max_requests {
            bail!(RequestCap(self.cfg.max_requests));
        }
        if let Some(last) = self.last {
            let gap = Duration::from_secs_f64(1.0 / self.cfg.max_rate);
            tokio::time::sleep_until(last + gap).await;
        }
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", "refresh_token");
        if let Some(rt) = rt {
            form.append_pair("refresh_token", rt);
        }
        let mut req = hyper::Request::post(self.uri.clone())
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json");
        match (&self.cfg.client_id, &self.cfg.client_secret) {
            (Some(id), Some(secret)) => {
                // RFC 6749 §2.3.1: each part form-urlencoded, then Basic.
                let enc =
                    |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
                let basic = base64::engine::general_purpose::STANDARD.encode(format!(
                    "{}:{}",
                    enc(id),
                    enc(secret)
                ));
                req = req.header("authorization", format!("Basic {basic}"));
            }
            (Some(id), None) => {
                form.append_pair("client_id", id);
            }
            _ => {}
        }
        let body = form.finish();
        let req = req
            .body(Full::new(Bytes::from(body)))
            .context("building the request")?;
        let sent = Instant::now();
        self.start.get_or_insert(sent);
        self.last = Some(sent);
        let resp = tokio::time::timeout(self.cfg.timeout, self.client.request(req))
            .await
            .map_err(|_| anyhow::anyhow!("request #{n} to the token endpoint timed out"))?
            .with_context(|| format!("request #{n} to {}", self.cfg.target.url))?;
        let status = resp.status().as_u16();
        let header = |k: &str| {
            resp.headers()
                .get(k)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_ascii_lowercase()
        };
        let json = header("content-type").starts_with("application/json");
        let no_store = header("cache-control").contains("no-store");
        let bytes = tokio::time::timeout(self.cfg.timeout, resp.into_body().collect())
            .await
            .map_err(|_| anyhow::anyhow!("request #{n}: the reply body timed out"))?
            .with_context(|| format!("request #{n}: reading the reply"))?
            .to_bytes();
        let received = Instant::now();
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        let text = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
        let access_token = text("access_token");
        let reply = Reply {
            n,
            ok: (200..300).contains(&status) && access_token.is_some(),
            status,
            error: error_code(&v),
            refresh_token: text("refresh_token"),
            access_token,
            expires_in: v.get("expires_in").and_then(|x| {
                x.as_f64()
                    .or_else(|| x.as_str().and_then(|s| s.parse().ok()))
            }),
            json,
            no_store,
            token_type: text("token_type"),
            sent,
            received,
        };
        self.log.push(Sent {
            n,
            at_ms: self.since_start(sent).as_millis() as u64,
            purpose: purpose.into(),
            presented: rt.map_or("-".into(), fingerprint),
            status,
            error: reply.error.clone(),
            refresh_token: reply.refresh_token.as_deref().map(fingerprint),
            access_token: reply.access_token.as_deref().map(fingerprint),
            expires_in: reply.expires_in,
        });
        self.conformance(&reply);
        Ok(reply)
    }

    /// RFC 6749 §5.1/§5.2 on one reply.
    fn conformance(&mut self, r: &Reply) {
        let n = r.n;
        if !r.json {
            self.deviations
                .push(format!("#{n}: reply is not application/json (§5.1/§5.2)"));
        }
        if r.ok {
            if !r.no_store {
                self.deviations.push(format!(
                    "#{n}: token reply without Cache-Control: no-store (§5.1)"
                ));
            }
            if !r
                .token_type
                .as_deref()
                .is_some_and(|t| t.eq_ignore_ascii_case("bearer"))
            {
                self.deviations
                    .push(format!("#{n}: token_type is not Bearer (§5.1, RFC 6750)"));
            }
        } else if r.status != 400 {
            self.deviations.push(format!(
                "#{n}: rejection with HTTP {} (§5.2 says 400 for a bad grant)",
                r.status
            ));
        }
    }
}

/// The request cap was reached: the probe stops and reports what it has.
#[derive(Debug)]
struct RequestCap(u32);

impl std::fmt::Display for RequestCap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the request cap ({}) was reached", self.0)
    }
}

impl std::error::Error for RequestCap {}

/// One step of the grace window's search on a fresh family.
enum Step {
    /// The superseded RT was accepted this long after its supersession (round-trip midpoints).
    Accepted(f64),
    /// Refused this long after its supersession; whether the family's current RT was refused too.
    Rejected(f64, Option<bool>, Vec<u32>),
    /// The family could not be rotated (spent, or not a rotating family).
    Unusable(u32),
}

async fn grace_step(p: &mut Prober, rt: &str, wait: Duration, k: usize) -> Result<Step> {
    let a = p
        .refresh(Some(rt), format!("family {k}: rotate (window search)"))
        .await?;
    let Some(next) = a.refresh_token.clone().filter(|t| a.ok && t != rt) else {
        return Ok(Step::Unusable(a.n));
    };
    tokio::time::sleep_until(a.received + wait).await;
    let b = p
        .refresh(
            Some(rt),
            format!(
                "family {k}: the superseded RT again {:.3} s later",
                wait.as_secs_f64()
            ),
        )
        .await?;
    // The server acted somewhere inside each request's round trip: its midpoints estimate the
    // time between the supersession and the second presentation.
    let mid = |r: &Reply| r.sent + r.received.duration_since(r.sent) / 2;
    let elapsed = mid(&b).duration_since(mid(&a)).as_secs_f64();
    if b.ok {
        return Ok(Step::Accepted(elapsed));
    }
    let c = p
        .refresh(
            Some(&next),
            format!("family {k}: its current RT after the rejected reuse"),
        )
        .await?;
    Ok(Step::Rejected(elapsed, Some(!c.ok), vec![b.n, c.n]))
}

/// The grace-reply class of a retry's RT.
fn grace_reply(returned: Option<&str>, presented: &str, current: &str) -> &'static str {
    match returned {
        Some(t) if t == current => "current",
        Some(t) if t == presented => "same",
        None => "same",
        Some(_) => "rotate",
    }
}

/// Runs the experiments. Stops early (with what it has) at the request cap.
pub async fn probe(cfg: ProbeConfig) -> Result<Findings> {
    if cfg.families.is_empty() {
        bail!("give at least one --refresh-token");
    }
    let families = cfg.families.clone();
    let mut p = Prober::new(cfg)?;
    let res = experiments(&mut p, &families).await;
    match res {
        Ok(f) => Ok(f),
        Err(e) if e.downcast_ref::<RequestCap>().is_some() => bail!(
            "{e} before the probe finished; raise --max-requests (the probe sent {} requests)",
            p.log.len()
        ),
        Err(e) => Err(e),
    }
}

async fn experiments(p: &mut Prober, families: &[String]) -> Result<Findings> {
    let a0 = families[0].as_str();
    let r1 = p.refresh(Some(a0), "family 1: first refresh").await?;
    if !r1.ok {
        bail!(
            "the server refused the first refresh token (request #1: HTTP {}{}); nothing to classify: give valid refresh tokens of this client",
            r1.status,
            r1.error
                .as_deref()
                .map(|e| format!(" {e}"))
                .unwrap_or_default()
        );
    }
    let ttl = Verdict::new(
        r1.expires_in,
        vec![r1.n],
        match r1.expires_in {
            Some(_) => "expires_in of the first refresh",
            None => "the reply carried no expires_in",
        },
    );
    let rotation = r1.refresh_token.as_deref().is_some_and(|t| t != a0);
    let rotation_v = Verdict::new(
        Some(rotation),
        vec![r1.n],
        if rotation {
            "the first refresh returned a new RT"
        } else {
            "the first refresh returned no RT or the same RT"
        },
    );
    let mut used = 1;
    let (reuse, window, bounds, reply, revoked, old_gen);
    if !rotation {
        let r2 = p
            .refresh(Some(a0), "family 1: the same RT again (no rotation)")
            .await?;
        reuse = Verdict::new(
            Some(!r2.ok),
            vec![r2.n],
            if r2.ok {
                "no rotation: the one RT keeps working"
            } else {
                "no rotation, yet the RT was refused the second time (one-time RT)"
            },
        );
        window = Verdict::new(None, vec![], "n/a: no rotation, nothing is superseded");
        bounds = (0.0, None);
        reply = Verdict::new(None, vec![], "n/a: no rotation");
        revoked = Verdict::new(
            Some(false),
            vec![r2.n],
            "n/a: no rotation, no reuse to detect",
        );
        old_gen = Verdict::new(
            Some(false),
            vec![r1.n],
            "n/a: no rotation, a family has one RT",
        );
    } else {
        let a1 = r1.refresh_token.clone().unwrap_or_default();
        let r2 = p
            .refresh(
                Some(a0),
                "family 1: the superseded RT again at once (a retry)",
            )
            .await?;
        let at_once = r2.sent.duration_since(r1.received).as_secs_f64(); // a lower bound
        if !r2.ok {
            let r3 = p
                .refresh(
                    Some(&a1),
                    "family 1: its current RT after the rejected reuse",
                )
                .await?;
            reuse = Verdict::new(Some(true), vec![r2.n], "the superseded RT was refused");
            window = Verdict::new(
                Some(0.0),
                vec![r2.n],
                format!(
                    "refused {:.0} ms after its supersession: no grace window (or one shorter than that)",
                    r2.received.duration_since(r1.sent).as_secs_f64() * 1e3
                ),
            );
            bounds = (0.0, Some(r2.received.duration_since(r1.sent).as_secs_f64()));
            reply = Verdict::new(None, vec![], "n/a: no grace window");
            revoked = Verdict::new(
                Some(!r3.ok),
                vec![r2.n, r3.n],
                if r3.ok {
                    "the family's current RT still worked after the reuse"
                } else {
                    "the family's current RT was refused after the reuse: family revoked"
                },
            );
            old_gen = Verdict::new(
                Some(false),
                vec![r2.n],
                "even an RT one generation old is refused",
            );
        } else {
            let class = grace_reply(r2.refresh_token.as_deref(), a0, &a1);
            reply = Verdict::new(
                Some(class),
                vec![r1.n, r2.n],
                match class {
                    "current" => "the retry was handed the family's current RT",
                    "same" => "the retry was handed back the RT it presented (or none)",
                    _ => "the retry was handed a new RT",
                },
            );
            let current = match class {
                "rotate" => r2.refresh_token.clone().unwrap_or_default(),
                _ => a1.clone(),
            };
            let r3 = p
                .refresh(
                    Some(&current),
                    "family 1: its current RT (a second rotation)",
                )
                .await?;
            old_gen = if r3.ok && r3.refresh_token.as_deref().is_some_and(|t| t != current) {
                let r4 = p
                    .refresh(
                        Some(a0),
                        "family 1: the RT two generations old, inside the window",
                    )
                    .await?;
                Verdict::new(
                    Some(r4.ok),
                    vec![r3.n, r4.n],
                    if r4.ok {
                        "an RT two generations old was accepted inside the grace window"
                    } else {
                        "an RT two generations old was refused inside the grace window"
                    },
                )
            } else {
                Verdict::new(
                    None,
                    vec![r3.n],
                    "the second rotation did not succeed; cannot tell",
                )
            };
            // The window: a fresh family per step, doubling from the resolution, then bisection.
            let mut lo = at_once;
            let mut hi: Option<f64> = None;
            let mut rev: Option<(bool, Vec<u32>)> = None;
            let mut accepted_at_cap = false;
            let mut wait = p.cfg.resolution.as_secs_f64().max(0.05);
            let max_wait = p.cfg.max_wait.as_secs_f64();
            let mut notes = Vec::new();
            for (i, rt) in families.iter().enumerate().skip(1) {
                let w = match hi {
                    None if accepted_at_cap => break,
                    None => wait.min(max_wait),
                    Some(h) if h - lo <= p.cfg.resolution.as_secs_f64() => break,
                    Some(h) => (lo + h) / 2.0,
                };
                used = i + 1;
                match grace_step(p, rt, Duration::from_secs_f64(w), i + 1).await? {
                    Step::Accepted(at) => {
                        lo = lo.max(at);
                        if hi.is_none() {
                            accepted_at_cap = w >= max_wait;
                            wait *= 2.0;
                        }
                    }
                    Step::Rejected(upper, r, ns) => {
                        hi = Some(hi.map_or(upper, |h| h.min(upper)));
                        if rev.is_none()
                            && let Some(r) = r
                        {
                            rev = Some((r, ns));
                        }
                    }
                    Step::Unusable(n) => notes.push(format!(
                        "family {} could not be rotated (request #{n}); skipped",
                        i + 1
                    )),
                }
            }
            let steps: Vec<u32> = p
                .log
                .iter()
                .filter(|s| s.purpose.contains("window search") || s.purpose.contains("later"))
                .map(|s| s.n)
                .collect();
            let note = if notes.is_empty() {
                String::new()
            } else {
                format!("; {}", notes.join("; "))
            };
            bounds = (lo, hi);
            match hi {
                Some(h) => {
                    window = Verdict::new(
                        // To 0.1 s: the bracket is 0.25 s wide by default.
                        Some(((lo + h) / 2.0 * 10.0).round() / 10.0),
                        steps,
                        format!(
                            "a superseded RT was accepted {lo:.3} s and refused {h:.3} s after its supersession{note}"
                        ),
                    );
                    reuse = Verdict::new(
                        Some(true),
                        rev.as_ref().map(|r| r.1[..1].to_vec()).unwrap_or_default(),
                        "a superseded RT presented after the grace window was refused",
                    );
                }
                None if accepted_at_cap => {
                    window = Verdict::new(
                        None,
                        steps,
                        format!(
                            "a superseded RT was still accepted after {lo:.3} s (--max-wait-s): the window is at least that, or superseded RTs are never refused{note}"
                        ),
                    );
                    reuse = Verdict::new(
                        Some(false),
                        vec![],
                        format!(
                            "a superseded RT was accepted {lo:.3} s after its supersession (the longest wait allowed)"
                        ),
                    );
                }
                None => {
                    window = Verdict::new(
                        None,
                        steps,
                        format!(
                            "a superseded RT was accepted {lo:.3} s after its supersession; too few families to find where it is refused (give more --refresh-token){note}"
                        ),
                    );
                    reuse = Verdict::new(None, vec![], "not seen: too few families");
                }
            }
            revoked = match rev {
                Some((r, ns)) => Verdict::new(
                    Some(r),
                    ns,
                    if r {
                        "the family's current RT was refused after a reuse outside the window: family revoked"
                    } else {
                        "the family's current RT still worked after a reuse outside the window"
                    },
                ),
                None => Verdict::new(None, vec![], "no reuse outside the window was seen"),
            };
        }
    }
    // Error codes: an unknown RT and a missing one.
    let u = p
        .refresh(
            Some("tlprobe-unknown-refresh-token-0"),
            "an unknown RT (error-code check)",
        )
        .await?;
    let m = p
        .refresh(None, "no refresh_token parameter (error-code check)")
        .await?;
    let mut codes = Vec::new();
    if u.ok || u.error.as_deref() != Some("invalid_grant") {
        codes.push(format!(
            "#{}: an unknown RT got HTTP {} {} (§5.2: 400 invalid_grant)",
            u.n,
            u.status,
            u.error.as_deref().unwrap_or("(no error code)")
        ));
    }
    if m.ok || m.error.as_deref() != Some("invalid_request") {
        codes.push(format!(
            "#{}: a missing refresh_token got HTTP {} {} (§5.2: 400 invalid_request)",
            m.n,
            m.status,
            m.error.as_deref().unwrap_or("(no error code)")
        ));
    }
    for s in p.log.iter().filter(|s| s.status >= 400 && s.n < u.n) {
        if s.error.as_deref() != Some("invalid_grant") {
            codes.push(format!(
                "#{}: a refused RT got {} (§5.2: invalid_grant)",
                s.n,
                s.error.as_deref().unwrap_or("no error code")
            ));
        }
    }
    p.deviations.extend(codes);
    p.deviations.sort_by_key(|d| {
        d.trim_start_matches('#')
            .split(':')
            .next()
            .and_then(|n| n.parse::<u32>().ok())
            .unwrap_or(0)
    });
    let rejected: Vec<u32> = p
        .log
        .iter()
        .filter(|s| s.status >= 400)
        .map(|s| s.n)
        .collect();
    let conform = Verdict::new(
        Some(p.deviations.is_empty()),
        rejected,
        if p.deviations.is_empty() {
            "every refusal was HTTP 400 with the RFC 6749 §5.2 code, every reply JSON, every token reply no-store Bearer"
        } else {
            "see deviations"
        },
    );
    let elapsed = p.log.last().map_or(0.0, |s| s.at_ms as f64 / 1e3);
    Ok(Findings {
        rotation: rotation_v,
        reuse_rejected: reuse,
        grace_window_s: window,
        grace_window_bounds_s: bounds,
        grace_reply: reply,
        family_revoked_on_reuse: revoked,
        old_generations_accepted: old_gen,
        access_token_ttl_s: ttl,
        error_codes_conform: conform,
        deviations: p.deviations.clone(),
        families_given: families.len(),
        families_used: used,
        requests: p.log.clone(),
        elapsed_s: elapsed,
    })
}

/// Seconds as a tokenlab duration switch value (`0`, `1500ms`).
fn duration_value(s: f64) -> String {
    let ms = (s * 1e3).round() as u64;
    if ms == 0 {
        "0".into()
    } else {
        format!("{ms}ms")
    }
}

/// The `--set` switches of tokenlab's `refresh` model that describe the findings, and the
/// caveats where the model cannot say exactly what the server does.
pub fn model_switches(f: &Findings) -> (Vec<String>, Vec<String>) {
    let mut sets = Vec::new();
    let mut caveats = Vec::new();
    let rotation = f.rotation.value.unwrap_or(false);
    sets.push(format!("rotation={}", if rotation { "on" } else { "off" }));
    let revoked = f.family_revoked_on_reuse.value;
    sets.push(format!(
        "reuse_detection={}",
        if revoked == Some(true) { "on" } else { "off" }
    ));
    if revoked.is_none() && rotation {
        caveats.push("family revocation not seen: modelled as reuse_detection=off".into());
    }
    if rotation {
        match (f.grace_window_s.value, f.reuse_rejected.value) {
            (Some(w), _) => sets.push(format!("grace_window={}", duration_value(w))),
            (None, Some(false)) => {
                sets.push("grace_window=365d".into());
                caveats.push(
                    "superseded RTs were accepted up to the longest wait: modelled as a 365-day grace window".into(),
                );
            }
            (None, _) => {
                let lo = f.grace_window_bounds_s.0;
                sets.push(format!("grace_window={}", duration_value(lo)));
                caveats.push(format!(
                    "the grace window was not bracketed: modelled at its lower bound {lo:.3} s"
                ));
            }
        }
        match f.grace_reply.value {
            Some("rotate") => sets.push("grace_reply=rotate".into()),
            Some("same") => {
                sets.push("grace_reply=current".into());
                caveats.push(
                    "the server hands a grace retry the RT it presented (`same`); tokenlab has no such grace_reply, modelled as `current` (the retry keeps a valid RT, no new RT is minted)".into(),
                );
            }
            Some(_) => sets.push("grace_reply=current".into()),
            None => {}
        }
        if f.grace_window_s.value.is_some_and(|w| w > 0.0)
            && f.old_generations_accepted.value == Some(false)
        {
            caveats.push(
                "this server refuses an RT two generations old inside the window; tokenlab's model accepts any superseded RT inside the window (the model over-approximates the attacker's chances)".into(),
            );
        }
    }
    if let Some(ttl) = f.access_token_ttl_s.value
        && ttl >= 1.0
    {
        sets.push(format!("ttl={}s", ttl.round() as u64));
    }
    (sets, caveats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_only_unless_allowed() {
        assert!(target("http://127.0.0.1:8080/token", false).is_ok());
        assert!(target("http://localhost:8080/token", false).is_ok());
        assert!(target("http://[::1]:8080/token", false).is_ok());
        let e = target("http://10.0.0.1/token", false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a loopback address"), "{e}");
        assert!(target("http://10.0.0.1/token", true).is_ok_and(|t| !t.loopback));
        assert!(target("https://127.0.0.1/token", false).is_err());
        assert!(target("not a url", false).is_err());
    }

    #[test]
    fn fingerprints_are_short_and_stable() {
        let f = fingerprint("tlsec_rt_63581fcc61f7a1d115b1ffbf7ee8d7dd");
        assert_eq!(f.len(), 9);
        assert_eq!(f, fingerprint("tlsec_rt_63581fcc61f7a1d115b1ffbf7ee8d7dd"));
        assert!(!f.contains("63581fcc"));
    }

    #[test]
    fn grace_reply_classes() {
        assert_eq!(grace_reply(Some("a1"), "a0", "a1"), "current");
        assert_eq!(grace_reply(Some("a0"), "a0", "a1"), "same");
        assert_eq!(grace_reply(None, "a0", "a1"), "same");
        assert_eq!(grace_reply(Some("a2"), "a0", "a1"), "rotate");
        assert_eq!(duration_value(0.0), "0");
        assert_eq!(duration_value(1.004), "1004ms");
    }
}
