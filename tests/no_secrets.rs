//! No secret anywhere a user looks (issue 14, item 4): every subcommand, with `--json` and
//! without, and every mechanism's `serve` (through a token flow and Ctrl-C) is scanned for the
//! models' opaque secrets (`tlsec_…`) and JWTs (`eyJ…`). The one place allowed to hold them is
//! `serve`'s labelled credential block: the `  key = value` lines between the `SECRETS` line
//! and `serving until Ctrl-C`. The report's files are scanned too.

mod common;
use common::tokenlab;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};

fn leaks(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| l.contains("tlsec_") || l.contains("eyJ"))
        .collect()
}

fn assert_clean(what: &str, text: &str) {
    let bad = leaks(text);
    assert!(bad.is_empty(), "{what} prints a secret: {bad:#?}");
}

#[test]
fn no_subcommand_prints_a_secret_with_or_without_json() {
    let runs: &[&[&str]] = &[
        &["mechanisms"],
        &[
            "simulate",
            "--mechanism",
            "refresh",
            "--duration-s",
            "600",
            "--tenants",
            "3",
        ],
        &[
            "simulate",
            "--mechanism",
            "upm-oauth",
            "--duration-s",
            "600",
            "--tenants",
            "3",
        ],
        &[
            "simulate",
            "--mechanism",
            "connect-jwt",
            "--duration-s",
            "600",
            "--tenants",
            "3",
        ],
        &[
            "simulate",
            "--mechanism",
            "trigger",
            "--duration-s",
            "600",
            "--tenants",
            "3",
        ],
        &["compare", "--duration-s", "600", "--tenants", "3"],
        &["check", "--only", "refresh", "--quick"],
        &[
            "attack",
            "--mechanism",
            "refresh",
            "--steal",
            "refresh_token",
        ],
        &[
            "attack",
            "--mechanism",
            "upm-oauth",
            "--breach",
            "store",
            "--mode",
            "continuing",
        ],
        &["attack", "--mechanism", "refresh", "--list-credentials"],
        &["calibrate", "--samples", "1"],
        &[
            "stale-reads",
            "--store",
            "memory",
            "--demands",
            "5",
            "--apply-delay-ms",
            "1000",
        ],
    ];
    for args in runs {
        for json in [false, true] {
            let mut a = args.to_vec();
            if json {
                a.push("--json");
            }
            let (code, out, err) = tokenlab(&a);
            // A run that failed early would make the scan vacuous.
            assert!(code == 0 && !out.is_empty(), "{a:?}: exit {code}: {err}");
            assert_clean(&format!("{a:?} (stdout)"), &out);
            assert_clean(&format!("{a:?} (stderr)"), &err);
        }
    }
}

/// The committed evidence report (markdown, HTML, data, figures), as `report` wrote it.
#[test]
fn the_committed_report_holds_no_secret() {
    fn walk(dir: &std::path::Path, files: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, files);
            } else {
                files.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("reports"),
        &mut files,
    );
    assert!(!files.is_empty(), "the report is committed");
    for f in files {
        if let Ok(text) = std::fs::read_to_string(&f) {
            assert_clean(&f.display().to_string(), &text);
        }
    }
}

/// One raw HTTP/1.1 POST; the body of the answer.
fn post(url: &str, path: &str, form: &str) -> String {
    let addr = url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .unwrap();
    let raw = format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: {}\r\n\r\n{form}",
        form.len()
    );
    s.write_all(raw.as_bytes()).unwrap();
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    buf
}

#[test]
fn serve_prints_secrets_only_in_its_labelled_block() {
    for m in [
        "trigger",
        "push",
        "refresh",
        "upm-oauth",
        "global-secret",
        "tenant-secret",
        "connect-jwt",
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tokenlab"))
            .args(["serve", "--mechanism", m, "--tenants", "2"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut before = String::new();
        let mut block = Vec::new();
        let mut in_block = false;
        loop {
            let mut line = String::new();
            assert!(
                out.read_line(&mut line).unwrap() > 0,
                "{m}: serve ended early"
            );
            let line = line.trim_end().to_owned();
            if line == "serving until Ctrl-C" {
                break;
            }
            if in_block {
                block.push(line);
            } else {
                in_block = line.starts_with("SECRETS");
                before.push_str(&line);
                before.push('\n');
            }
        }
        assert_clean(&format!("serve {m} (before the block)"), &before);
        for l in &block {
            let (k, v) = l
                .strip_prefix("  ")
                .and_then(|l| l.split_once(" = "))
                .unwrap_or_else(|| panic!("{m}: an unlabelled line in the block: {l:?}"));
            assert!(
                !k.is_empty() && !v.is_empty() && !k.contains(' '),
                "{m}: {l:?}"
            );
        }
        let value = |key: &str| {
            block
                .iter()
                .find_map(|l| l.strip_prefix(&format!("  {key} = ")))
                .map(str::to_owned)
        };
        // A flow through the served world: the token endpoint with the printed credentials.
        if let Some(url) = value("token_endpoint") {
            let (base, path) = url.split_at(url.find("/oauth").unwrap());
            let form = match (value("refresh_token"), value("client_secret")) {
                (Some(rt), Some(cs)) => format!(
                    "grant_type=refresh_token&refresh_token={rt}&client_id={}&client_secret={cs}",
                    value("client_id").unwrap()
                ),
                (Some(rt), None) => format!("grant_type=refresh_token&refresh_token={rt}"),
                (None, Some(cs)) => format!(
                    "grant_type=client_credentials&client_id={}&client_secret={cs}&tenant=0",
                    value("client_id").unwrap()
                ),
                (None, None) => String::new(),
            };
            let answer = post(base, path, &form);
            assert!(answer.contains("\"access_token\":\"eyJ"), "{m}: {answer}");
        }
        let ok = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
        let mut rest = String::new();
        out.read_to_string(&mut rest).unwrap();
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        assert!(child.wait().unwrap().success(), "{m}");
        assert_clean(&format!("serve {m} (after the block)"), &rest);
        assert_clean(&format!("serve {m} (stderr)"), &err);
    }
}
