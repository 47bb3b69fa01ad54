#!/usr/bin/env bash
# Submits N array tasks and a merge that runs only after all of them succeeded.
# usage: scripts/slurm/submit.sh [N]   (default 8)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
n=${1:-8}
export TOKENLAB_OUT=${TOKENLAB_OUT:-$PWD/tokenlab-out}
array=$(sbatch --parsable --export=ALL --array=0-$((n - 1)) "$here/report-array.sbatch")
sbatch --parsable --export=ALL --dependency=afterok:"$array" "$here/report-merge.sbatch"
echo "array job $array ($n tasks); merge queued after it"
