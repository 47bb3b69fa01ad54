//! `tokenlab serve`: the world comes up on loopback for every mechanism, prints its endpoints
//! and one demo tenant's credentials, answers curl-style requests, answers malformed ones
//! with a 4xx JSON error (never a panic or a hung connection), and stops on Ctrl-C.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Guards against a hang only; no test asserts on time.
const HANG_GUARD: Duration = Duration::from_secs(60);

struct Served {
    child: Child,
    lines: Vec<String>,
}

fn serve(mechanism: &str) -> Served {
    serve_with(&["--mechanism", mechanism])
}

fn serve_with(args: &[&str]) -> Served {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tokenlab"))
        .arg("serve")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawns");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    loop {
        let line = rx
            .recv_timeout(HANG_GUARD)
            .expect("serve prints its banner");
        let done = line == "serving until Ctrl-C";
        lines.push(line);
        if done {
            break;
        }
    }
    // Keep draining so the child never blocks on a full pipe.
    std::thread::spawn(move || while rx.recv().is_ok() {});
    Served { child, lines }
}

impl Served {
    fn endpoint(&self, name: &str) -> String {
        self.lines
            .iter()
            .find_map(|l| {
                let mut it = l.split_whitespace();
                (it.next() == Some(name))
                    .then(|| it.next())
                    .flatten()
                    .filter(|u| u.starts_with("http://127.0.0.1:"))
            })
            .unwrap_or_else(|| panic!("no endpoint {name} in {:#?}", self.lines))
            .trim_start_matches("http://")
            .to_owned()
    }
    fn credential(&self, name: &str) -> String {
        let prefix = format!("  {name} = ");
        self.lines
            .iter()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no credential {name}"))
            .to_owned()
    }
    /// Ctrl-C, then the process exits cleanly.
    fn interrupt(mut self) {
        let pid = self.child.id().to_string();
        let ok = Command::new("kill").args(["-INT", &pid]).status().unwrap();
        assert!(ok.success());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "{status:?}");
    }
}

/// One raw HTTP/1.1 exchange; returns (status, body).
fn http(addr: &str, raw: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(HANG_GUARD)).unwrap();
    s.write_all(raw).unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)
        .expect("the server answers or closes");
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    (status, body)
}

fn post(addr: &str, path: &str, content_type: &str, extra: &str, body: &str) -> (u16, String) {
    let raw = format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-type: {content_type}\r\n{extra}content-length: {}\r\n\r\n{body}",
        body.len()
    );
    http(addr, raw.as_bytes())
}

#[test]
fn serve_answers_a_refresh_by_curl_and_malformed_requests_with_json_4xx() {
    let s = serve("refresh");
    let banner = s.lines.join("\n");
    assert!(
        banner.contains("only place tokenlab ever prints a secret"),
        "{banner}"
    );
    // Secrets appear only after the warning line.
    let warn = s
        .lines
        .iter()
        .position(|l| l.starts_with("SECRETS"))
        .unwrap();
    assert!(s.lines[..warn].iter().all(|l| !l.contains("tlsec_")));
    let as_addr = s.endpoint("AS");
    let rt = s.credential("refresh_token");
    let form = format!("grant_type=refresh_token&refresh_token={rt}");
    let (status, body) = post(
        &as_addr,
        "/oauth/token",
        "application/x-www-form-urlencoded",
        "",
        &form,
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"access_token\":\"eyJ") && body.contains("\"token_type\":\"Bearer\""));

    let json = "application/json";
    let cases: Vec<(u16, (u16, String))> = vec![
        (400, post(&as_addr, "/oauth/token", json, "", "{not json")),
        (400, post(&as_addr, "/oauth/token", json, "", "[1, 2]")),
        (
            400,
            post(&as_addr, "/oauth/token", json, "", "{\"a\": {\"b\": 1}}"),
        ),
        (
            400,
            post(
                &as_addr,
                "/oauth/token",
                "application/x-www-form-urlencoded",
                "",
                "bad%0Aname=1",
            ),
        ),
        (
            400,
            post(
                &as_addr,
                "/oauth/token",
                "application/x-www-form-urlencoded",
                "x-tokenlab-tenant: abc\r\n",
                "",
            ),
        ),
        (
            400,
            post(
                &as_addr,
                "/oauth/token",
                "application/x-www-form-urlencoded",
                "x-tokenlab-msg: -1\r\n",
                "",
            ),
        ),
        (
            400,
            post(
                &as_addr,
                "/oauth/token",
                "application/x-www-form-urlencoded",
                "authorization: Basic !!!\r\n",
                "",
            ),
        ),
        (
            413,
            post(
                &as_addr,
                "/oauth/token",
                "application/x-www-form-urlencoded",
                "",
                &"a".repeat(70_000),
            ),
        ),
        (
            400,
            post(
                &as_addr,
                "/oauth/token",
                "application/x-www-form-urlencoded",
                "",
                "grant_type=refresh_token&refresh_token=tlsec_rt_bogus",
            ),
        ),
        (
            400,
            post(
                &as_addr,
                "/oauth/token",
                "application/x-www-form-urlencoded",
                "",
                "grant_type=password",
            ),
        ),
        (
            404,
            post(
                &as_addr,
                "/no/such/route",
                "application/x-www-form-urlencoded",
                "",
                "",
            ),
        ),
    ];
    for (want, (status, body)) in &cases {
        assert_eq!(status, want, "{body}");
        let v: serde_json::Value = serde_json::from_str(body).expect("a JSON error body");
        assert!(v["error"].is_string(), "{body}");
    }
    // Not HTTP at all: the connection is answered or closed, not left hanging.
    let (status, _) = http(&as_addr, b"HELLO THERE\r\n\r\n");
    assert!(status == 0 || (400..500).contains(&status), "{status}");
    // And the server is still up.
    let (status, _) = post(
        &as_addr,
        "/oauth/token",
        "application/x-www-form-urlencoded",
        "",
        "grant_type=password",
    );
    assert_eq!(status, 400);
    s.interrupt();
}

#[test]
fn serve_works_for_every_mechanism() {
    for m in [
        "trigger",
        "push",
        "refresh",
        "upm-oauth",
        "global-secret",
        "tenant-secret",
        "connect-jwt",
    ] {
        let s = serve(m);
        let banner = s.lines.join("\n");
        assert!(
            banner.contains("published FIT key set: http://127.0.0.1:"),
            "{banner}"
        );
        for ep in ["F", "AS", "API", "P.lifecycle"] {
            s.endpoint(ep);
        }
        // Every mechanism provisions at least one endpoint's traffic that serve lists.
        assert!(banner.contains("POST /lifecycle"), "{m}: {banner}");
        if m != "push" {
            assert!(banner.contains("Ok, token latency"), "{m}: {banner}");
        }
        // Where a client may ask for a token, curl-style requests with the printed
        // credentials get one (trigger delivers it to P.auth and answers 2xx).
        let form = match m {
            "tenant-secret" | "global-secret" => Some(format!(
                "grant_type=client_credentials&client_id={}&client_secret={}&tenant=0",
                if m == "tenant-secret" {
                    s.credential("client_id")
                } else {
                    "app-tokenlab-partner".to_string()
                },
                s.credential("client_secret")
            )),
            "upm-oauth" => Some(format!(
                "grant_type=refresh_token&client_id=app-tokenlab-partner&client_secret={}&refresh_token={}",
                s.credential("client_secret"),
                s.credential("refresh_token")
            )),
            _ => None,
        };
        if let Some(form) = form {
            let (status, body) = post(
                &s.endpoint("AS"),
                "/oauth/token",
                "application/x-www-form-urlencoded",
                "",
                &form,
            );
            assert_eq!(status, 200, "{m}: {body}");
            assert!(body.contains("\"access_token\":\"eyJ"), "{m}: {body}");
        }
        if m == "trigger" {
            let f = s.endpoint("F");
            let raw = format!(
                "GET /trigger?url={} HTTP/1.1\r\nhost: {f}\r\nconnection: close\r\n\r\n",
                s.credential("trigger_url")
            );
            let (status, body) = http(&f, raw.as_bytes());
            assert!((200..300).contains(&status), "{body}");
        }
        s.interrupt();
    }
}

#[test]
fn serve_prints_what_a_client_needs_as_key_value_lines_per_tenant() {
    let s = serve_with(&["--mechanism", "upm-oauth", "--tenants", "3"]);
    let block: Vec<(&str, &str)> = s
        .lines
        .iter()
        .skip_while(|l| !l.starts_with("SECRETS"))
        .skip(1)
        .filter_map(|l| l.strip_prefix("  ")?.split_once(" = "))
        .collect();
    let keys: Vec<&str> = block.iter().map(|(k, _)| *k).collect();
    for k in [
        "token_endpoint",
        "authorization_endpoint",
        "api_endpoint",
        "client_id",
        "client_secret",
        "redirect_uri",
    ] {
        assert_eq!(keys.iter().filter(|x| **x == k).count(), 1, "{k}: {keys:?}");
    }
    // One refresh token per demo tenant, each under its `tenant = i` line.
    let tenants: Vec<&str> = block
        .iter()
        .filter(|(k, _)| *k == "tenant")
        .map(|(_, v)| *v)
        .collect();
    assert_eq!(tenants, ["0", "1", "2"]);
    assert_eq!(keys.iter().filter(|x| **x == "refresh_token").count(), 3);
    assert!(block[0].1.starts_with("http://127.0.0.1:"), "{block:?}");
    assert_eq!(
        s.lines.last().map(String::as_str),
        Some("serving until Ctrl-C")
    );
    s.interrupt();
}

#[test]
fn serve_rejects_bad_flags_with_one_line() {
    for (args, needle) in [
        (
            vec!["serve", "--mechanism", "nope"],
            "unknown mechanism 'nope'",
        ),
        (
            vec!["serve", "--mechanism", "refresh", "--preset", "moon"],
            "unknown preset 'moon'",
        ),
        (
            vec!["serve", "--mechanism", "refresh", "--tenants", "0"],
            "--tenants must be between 1",
        ),
        (
            vec!["calibrate", "--samples", "0"],
            "--samples must be between 1",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_tokenlab"))
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}
