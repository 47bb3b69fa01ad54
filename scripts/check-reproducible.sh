#!/usr/bin/env bash
# Runs the report twice with the same seed into two scratch directories and compares them:
# everything simulated (documents outside the loopback section, figures, data) must be
# byte-identical. The loopback section (between <!-- loopback:begin/end --> markers) and
# data/loopback.json and figures/loopback-*.svg hold wall-clock measurements and are left out
# of the comparison.
# Pass --quick (or --tiny) to make it fast; extra arguments go to `tokenlab report`.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
a=$(mktemp -d) b=$(mktemp -d)
trap 'rm -rf "$a" "$b"' EXIT
./target/release/tokenlab report "$@" --out "$a"
./target/release/tokenlab report "$@" --out "$b"
for d in "$a" "$b"; do
  rm -f "$d/data/loopback.json" "$d"/figures/loopback-*.svg
  for f in "$d/rfc34-evidence.md" "$d/rfc34-evidence.html"; do
    sed -i '/<!-- loopback:begin -->/,/<!-- loopback:end -->/d' "$f"
  done
done
if diff -r "$a" "$b" >/dev/null; then
  echo "reproducible: two runs of 'tokenlab report $*' are byte-identical outside the loopback section ($(find "$a" -type f | wc -l) files)"
else
  diff -r "$a" "$b" | head -20
  echo "NOT reproducible: the runs above differ" >&2
  exit 1
fi
