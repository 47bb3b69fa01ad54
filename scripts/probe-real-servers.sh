#!/usr/bin/env bash
# Measures every real-server configuration of tests/probe.rs (django-oauth-toolkit and node
# oidc-provider at their pinned versions, and `tokenlab serve`) with `tokenlab probe --check`
# and writes src/report/real_servers.json, the data behind the report's "real servers" table
# (the report itself starts no server). Needs the runtimes `.ci/run`'s probe stage installs.
#
#   scripts/probe-real-servers.sh        # then review and commit src/report/real_servers.json
set -euo pipefail
cd "$(dirname "$0")/.."
out=src/report/real_servers.json
py=${TOKENLAB_PROBE_PYTHON:-target/probe-venv/bin/python}
rec=$(mktemp -d)
trap 'rm -rf "$rec"' EXIT
[ -f "$out" ] || echo '{"configurations": []}' >"$out"
TOKENLAB_REQUIRE_PROBE_SERVERS=1 TOKENLAB_PROBE_RECORD="$rec" \
  cargo test --test probe -- --test-threads=1 django_oauth_toolkit_configurations oidc_provider_configurations tokenlab_serve_configurations
dot=$("$py" -c 'import importlib.metadata as m; print(m.version("django-oauth-toolkit"), "(Django", m.version("django") + ")")')
oidc=$(node -p 'require("./tests/probe_servers/oidc_provider/node_modules/oidc-provider/package.json").version')
node=$(node --version)
tl=$(cargo pkgid -p tokenlab | sed 's/.*[#@]//')
python3 - "$rec" "$out" "$dot" "$oidc (node $node)" "$tl" <<'PY'
import json, pathlib, sys
rec, out, dot, oidc, tl = sys.argv[1:]
settings = {
    "dot-grace1-reuse": ("django-oauth-toolkit", "ROTATE_REFRESH_TOKEN, GRACE_PERIOD 1 s, REUSE_PROTECTION"),
    "dot-grace1-noreuse": ("django-oauth-toolkit", "ROTATE_REFRESH_TOKEN, GRACE_PERIOD 1 s"),
    "dot-nograce-reuse": ("django-oauth-toolkit", "ROTATE_REFRESH_TOKEN, REUSE_PROTECTION"),
    "dot-nograce-noreuse": ("django-oauth-toolkit", "ROTATE_REFRESH_TOKEN"),
    "dot-norotate": ("django-oauth-toolkit", "ROTATE_REFRESH_TOKEN=False"),
    "oidc-rotate": ("oidc-provider", "rotateRefreshToken: true"),
    "oidc-norotate": ("oidc-provider", "rotateRefreshToken: false"),
    "serve-grace1-current": ("tokenlab serve", "refresh grace_window=1s"),
    "serve-grace1-rotate": ("tokenlab serve", "refresh grace_window=1s grace_reply=rotate"),
    "serve-nograce": ("tokenlab serve", "refresh grace_window=0"),
    "serve-nograce-noreuse": ("tokenlab serve", "refresh grace_window=0 reuse_detection=off"),
    "serve-norotate": ("tokenlab serve", "refresh rotation=off reuse_detection=off"),
}
configs = []
for cid, (server, text) in settings.items():
    e = json.loads((pathlib.Path(rec) / f"{cid}.json").read_text())
    e.pop("server", None)
    configs.append({"id": cid, "server": server, "settings": text, **{k: v for k, v in e.items() if k != "id"}})
doc = {
    "measured_with": "scripts/probe-real-servers.sh (tokenlab probe --check on each configuration of tests/probe.rs)",
    "versions": {"django-oauth-toolkit": dot, "oidc-provider": oidc, "tokenlab serve": tl},
    "configurations": configs,
}
pathlib.Path(out).write_text(json.dumps(doc, indent=2) + "\n")
print(f"wrote {out}: {len(configs)} configurations")
PY
