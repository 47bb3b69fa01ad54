#!/usr/bin/env python3
"""Per-file mutation score over one or more cargo-mutants output directories.

    scripts/mutants-score.py mutants.out [more.out ...]

Reads each directory's `outcomes.json` (what `scripts/mutants.sh` leaves in `mutants.out/`,
one directory per shard) and prints a Markdown table: per file, caught / viable (a timeout
counts as caught, as in the README's security section; unviable mutants are not viable),
then the total with its 95% Wilson interval, and the missed mutants by name. A mutant that
appears in several directories (the same shard run twice) counts once, by its last run.
"""

import json
import math
import sys
from collections import defaultdict
from pathlib import Path

CAUGHT = {"CaughtMutant", "Timeout"}
MISSED = {"MissedMutant"}


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The 95% Wilson score interval of k successes in n trials."""
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (centre - half, centre + half)


def main(dirs: list[str]) -> int:
    if not dirs:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    outcome: dict[str, tuple[str, str]] = {}
    for d in dirs:
        path = Path(d) / "outcomes.json"
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as e:
            print(f"error: cannot read {path}: {e}", file=sys.stderr)
            return 1
        for o in data.get("outcomes", []):
            mutant = o.get("scenario")
            if not isinstance(mutant, dict) or "Mutant" not in mutant:
                continue  # the baseline
            m = mutant["Mutant"]
            outcome[m["name"]] = (m["file"], o["summary"])
    per_file: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    missed = []
    for name, (file, summary) in sorted(outcome.items()):
        if summary in CAUGHT:
            per_file[file][0] += 1
            per_file[file][1] += 1
        elif summary in MISSED:
            per_file[file][1] += 1
            missed.append(name)
    print("| file | caught / viable |")
    print("|---|---|")
    for file, (caught, viable) in sorted(per_file.items()):
        print(f"| `{file}` | {caught} / {viable} |")
    caught = sum(c for c, _ in per_file.values())
    viable = sum(v for _, v in per_file.values())
    lo, hi = wilson(caught, viable)
    share = 100 * caught / viable if viable else 0.0
    print(
        f"| all ({len(outcome)} mutants, {len(outcome) - viable} unviable) | "
        f"**{caught} / {viable}** ({share:.0f}%, 95% Wilson {100 * lo:.0f}–{100 * hi:.0f}%) |"
    )
    if missed:
        print("\nMissed:")
        for name in missed:
            print(f"- {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
