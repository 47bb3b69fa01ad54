#!/usr/bin/env bash
# Mutation score of the security checks (issue 11 item 4): cargo-mutants mutates the
# verifiers (the product API's token checks, the AS's grant handling, FIT / Connect-JWT
# verification, the UPM authorize and token endpoints, the platform's sender-constraint and
# install checks, the partner's inbound FIT checks) and the checkers, and every mutant must
# make the security matrix's fast mode fail (`properties/tests/audit_controls.rs`: the audit
# controls and one sampled case of every row of expectations.md) or the migration controls
# (`properties/tests/migration_controls.rs`: the composite's phases, revoke and trigger calls)
# or P1's reach controls (`properties/tests/p1_reached.rs`: what counts as reaching the tenant
# check; under a second, with no simulation of its own worth the name),
# or the checker details the matrix does not pin down (`properties/tests/checker_edges.rs`:
# F's retry bounds, P5 across a reinstall, P10's windows, P3's reach, P4's bounds; seconds),
# or the verifiers' boundaries (`properties/tests/verifier_edges.rs`: credential overlap,
# assertion exp, lifetime cap, iss/sub, the migration window's end; under a second),
# or the authorization code's expiry (`properties/tests/code_expiry.rs`: a code redeemed
# after its lifetime, the one check no row's world isolates; seconds),
# or a refresh token's own validity (`properties/tests/rt_validity.rs`: an RT past its
# lifetime or idle expiry, and one redeemed without the client secret; under a second),
# or the exploration's planted race (`properties/tests/planted_race.rs`: the search finds a
# 1 ms window random runs miss, and nothing without it; under a second),
# or the doors (`properties/tests/doors.rs`: every refusal a verifier gives an attacker in
# the rows' worlds is still reached, so a world that stops making a move fails; 6 s).
#
# Not part of CI: a full run is hours on two cores. Split it:
#   scripts/mutants.sh --shard 0/8            # one eighth of every file's mutants
#   scripts/mutants.sh --file models/src/roles/resource.rs
#   scripts/mutants.sh --list                 # the mutants, without running them
# The unmutated baseline is skipped: cargo-mutants 27 runs it with the mutated package's
# tests only (not `--test-package`), where `audit_controls` does not exist; the tree is
# known to pass (CI), and a mutant's test is cut off after 300 s: a whole mutant, build
# included, took 18 to 40 s on an idle machine (2026-12-03, shards 19-23: 9-13 min for 30),
# and a mutant that makes a world loop (a timer re-armed in the past) otherwise holds a shard
# for ten minutes.
# Results: mutants.out/ (caught.txt, missed.txt, timeout.txt, unviable.txt, outcomes.json).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo-mutants >/dev/null 2>&1; then
    cargo install --locked cargo-mutants
fi

# The files that hold security checks, and the functions in them that are checks (the
# rest of those files is plumbing that a security test is not meant to pin down).
FILES=(
    models/src/roles/resource.rs
    models/src/roles/platform.rs
    models/src/mechanisms/refresh.rs
    models/src/mechanisms/upm_oauth.rs
    models/src/mechanisms/tenant_secret.rs
    models/src/mechanisms/global_secret.rs
    models/src/mechanisms/connect_jwt.rs
    models/src/mechanisms/client_auth.rs
    models/src/mechanisms/migration.rs
    models/src/mechanisms/trigger.rs
    models/src/mechanisms/common.rs
    models/src/roles/partner/api.rs
    models/src/token.rs
    properties/src/checkers.rs
    properties/src/suite.rs
    properties/src/property.rs
)
# Functions of those files that are checks; checkers.rs and property.rs are wholly checks.
CHECKS='verify|check|authenticate|connect_accepted|may_issue|installed|live|grace|sender|redeem|client_ok|redirect_ok|bind_fit_body|accept_token_delivery|lifecycle|on_api|on_presentation|on_request|on_timer|on_call_response|revoke|judge|bounds|declared|aggregate|runs_of|properties/src/(checkers|property)\.rs'

files=()
args=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --file)
            files+=("$2")
            shift 2
            ;;
        --shard)
            args+=(--shard "$2")
            shift 2
            ;;
        *)
            args+=("$1")
            shift
            ;;
    esac
done
if [[ ${#files[@]} -eq 0 ]]; then
    files=("${FILES[@]}")
fi
file_args=()
for f in "${files[@]}"; do
    file_args+=(--file "$f")
done

exec cargo mutants --workspace \
    "${file_args[@]}" \
    --re "$CHECKS" \
    --test-package tokenlab-properties \
    --baseline=skip \
    --timeout 300 \
    "${args[@]}" \
    -- --test audit_controls --test migration_controls --test p1_reached --test checker_edges --test verifier_edges --test code_expiry --test rt_validity --test planted_race --test doors
