#!/usr/bin/env bash
# Runs the report twice with the same seed into two scratch directories and diffs them: the
# simulated sections, figures and data must be byte-identical. Pass --quick (or --tiny) to
# make it fast; extra arguments go to `tokenlab report`.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
a=$(mktemp -d) b=$(mktemp -d)
trap 'rm -rf "$a" "$b"' EXIT
./target/release/tokenlab report "$@" --out "$a"
./target/release/tokenlab report "$@" --out "$b"
if diff -r "$a" "$b" >/dev/null; then
  echo "reproducible: two runs of 'tokenlab report $*' are byte-identical ($(find "$a" -type f | wc -l) files)"
else
  diff -r "$a" "$b" | head -20
  echo "NOT reproducible: the runs above differ" >&2
  exit 1
fi
