//! The shard/merge contract as each batch scheduler drives it: N processes started at once with
//! only that scheduler's environment variables (no `--shard`), one merge, and the result
//! byte-identical to the unsharded run (`report --tiny`, like `tests/report.rs`). The recipes
//! in `scripts/` rely on exactly this.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Every variable `tokenlab` reads a shard from: cleared, so only the scheduler's are set.
const SHARD_VARS: [&str; 6] = [
    "TOKENLAB_SHARD",
    "TOKENLAB_SHARDS",
    "JOB_COMPLETION_INDEX",
    "SLURM_ARRAY_TASK_ID",
    "SLURM_ARRAY_TASK_MIN",
    "SLURM_ARRAY_TASK_COUNT",
];

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tokenlab-sched-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn command(args: &[&str], env: &[(String, String)]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tokenlab"));
    c.args(args).env_remove("TOKENLAB_SEED");
    for v in SHARD_VARS {
        c.env_remove(v);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    c
}

/// Every file of a report, relative path → bytes (shards excluded).
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for sub in ["", "figures", "data"] {
        let mut names: Vec<_> = std::fs::read_dir(dir.join(sub))
            .expect("report dir")
            .flatten()
            .filter(|e| e.path().is_file())
            .map(|e| e.file_name().to_string_lossy().to_string())
            .collect();
        names.sort();
        for n in names {
            out.push((
                format!("{sub}/{n}"),
                std::fs::read(dir.join(sub).join(&n)).expect("read"),
            ));
        }
    }
    out
}

fn kv(pairs: &[(&str, String)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// The environment a scheduler gives task `i`.
type Env = dyn Fn(usize) -> Vec<(String, String)>;

#[test]
fn kubernetes_slurm_and_github_actions_shards_merge_to_the_unsharded_report() {
    const N: usize = 3;
    let base = scratch("unsharded");
    let out = command(
        &["report", "--tiny", "--out", base.to_str().expect("utf-8")],
        &[],
    )
    .output()
    .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let want = files(&base);
    assert!(want.len() > 10);

    // How each scheduler starts task i of N (Slurm arrays need not start at 0).
    let schedulers: [(&str, Box<Env>); 3] = [
        (
            "kubernetes",
            Box::new(|i| {
                kv(&[
                    ("JOB_COMPLETION_INDEX", i.to_string()),
                    ("TOKENLAB_SHARDS", N.to_string()),
                ])
            }),
        ),
        (
            "slurm",
            Box::new(|i| {
                kv(&[
                    ("SLURM_ARRAY_TASK_ID", (5 + i).to_string()),
                    ("SLURM_ARRAY_TASK_MIN", "5".into()),
                    ("SLURM_ARRAY_TASK_COUNT", N.to_string()),
                ])
            }),
        ),
        (
            "github-actions",
            Box::new(|i| kv(&[("TOKENLAB_SHARD", format!("{i}/{N}"))])),
        ),
    ];
    for (name, env) in &schedulers {
        let shards = scratch(&format!("{name}-shards"));
        let merged = scratch(&format!("{name}-merged"));
        let sh = shards.to_str().expect("utf-8");
        // All N at once, as the scheduler would start them.
        let children: Vec<_> = (0..N)
            .map(|i| {
                command(&["report", "--tiny", "--out", sh], &env(i))
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .expect("spawns")
            })
            .collect();
        for c in children {
            let o = c.wait_with_output().expect("waits");
            assert!(
                o.status.success(),
                "{name}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        let mut written: Vec<String> = std::fs::read_dir(shards.join("shards"))
            .expect("shards/")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().to_string())
            .collect();
        written.sort();
        assert_eq!(
            written,
            (0..N)
                .map(|i| format!("shard-{i}-of-{N}.json"))
                .collect::<Vec<_>>(),
            "{name}"
        );
        let o = command(
            &[
                "report",
                "--merge",
                sh,
                "--out",
                merged.to_str().expect("utf-8"),
            ],
            &[],
        )
        .output()
        .expect("merges");
        assert!(
            o.status.success(),
            "{name} merge: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let got = files(&merged);
        assert_eq!(got.len(), want.len(), "{name}");
        for ((nw, bw), (ng, bg)) in want.iter().zip(&got) {
            assert_eq!(nw, ng);
            assert!(bw == bg, "{name}: {nw} differs from the unsharded run");
        }
        let _ = std::fs::remove_dir_all(shards);
        let _ = std::fs::remove_dir_all(merged);
    }
    let _ = std::fs::remove_dir_all(base);
}

#[test]
fn a_scheduler_variable_without_its_count_is_a_clear_error_and_the_flag_wins() {
    let d = scratch("err");
    let o = command(
        &["report", "--tiny", "--out", d.to_str().expect("utf-8")],
        &kv(&[("JOB_COMPLETION_INDEX", "1".into())]),
    )
    .output()
    .expect("runs");
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("needs TOKENLAB_SHARDS"), "{err}");
    // An explicit --shard wins over an inconsistent environment.
    let o = command(
        &[
            "report",
            "--tiny",
            "--shard",
            "0/4",
            "--out",
            d.to_str().expect("utf-8"),
        ],
        &kv(&[("TOKENLAB_SHARD", "9/2".into())]),
    )
    .output()
    .expect("runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(d.join("shards/shard-0-of-4.json").is_file());
    let _ = std::fs::remove_dir_all(d);
}

#[test]
fn a_scenario_sweep_shards_under_each_scheduler_and_merges_to_the_same_bytes() {
    const N: usize = 3;
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/sweep-grace-window.toml"
    );
    let whole = |json: bool| {
        let mut args = vec!["run", file];
        if json {
            args.push("--json");
        }
        let o = command(&args, &[]).output().expect("runs");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        o.stdout
    };
    let (text, json) = (whole(false), whole(true));
    let envs: [(&str, Box<Env>); 3] = [
        (
            "kubernetes",
            Box::new(|i| {
                kv(&[
                    ("JOB_COMPLETION_INDEX", i.to_string()),
                    ("TOKENLAB_SHARDS", N.to_string()),
                ])
            }),
        ),
        (
            "slurm",
            Box::new(|i| {
                kv(&[
                    ("SLURM_ARRAY_TASK_ID", (1 + i).to_string()),
                    ("SLURM_ARRAY_TASK_MIN", "1".into()),
                    ("SLURM_ARRAY_TASK_COUNT", N.to_string()),
                ])
            }),
        ),
        (
            "github-actions",
            Box::new(|i| kv(&[("TOKENLAB_SHARD", format!("{i}/{N}"))])),
        ),
    ];
    for (name, env) in &envs {
        let d = scratch(&format!("run-{name}"));
        let out = d.to_str().expect("utf-8");
        for i in 0..N {
            let o = command(&["run", file, "--out", out], &env(i))
                .output()
                .expect("runs");
            assert!(
                o.status.success(),
                "{name}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        for (flag, want) in [(None, &text), (Some("--json"), &json)] {
            let mut args = vec!["run", file, "--merge", out];
            args.extend(flag);
            let o = command(&args, &[]).output().expect("merges");
            assert!(
                o.status.success(),
                "{name}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            assert!(
                &o.stdout == want,
                "{name} {flag:?}: the merged sweep differs"
            );
        }
        let _ = std::fs::remove_dir_all(d);
    }
}
