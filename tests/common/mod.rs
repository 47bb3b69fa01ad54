//! Shared by the CLI test files: run the built binary with a clean environment.

use std::process::Command;

/// Runs `tokenlab ARGS` (without `TOKENLAB_SEED`) and returns (exit code, stdout, stderr).
pub fn tokenlab(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tokenlab"))
        .args(args)
        .env_remove("TOKENLAB_SEED")
        .output()
        .expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}
