#!/usr/bin/env bash
# Runs the sharded report on Kubernetes: the Indexed Job, then the merge Job once it completed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
kubectl apply -f "$here/report-shards.yaml"
kubectl wait --for=condition=complete --timeout=2h job/tokenlab-report-shards
kubectl apply -f "$here/report-merge.yaml"
kubectl wait --for=condition=complete --timeout=30m job/tokenlab-report-merge
echo "report written to the tokenlab-out volume under report/"
