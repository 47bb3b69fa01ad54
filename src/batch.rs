//! Which shard this process runs, from `--shard I/N` or from the environment a batch scheduler
//! sets: Kubernetes Indexed Jobs (`JOB_COMPLETION_INDEX`, with `TOKENLAB_SHARDS=N`), Slurm job
//! arrays (`SLURM_ARRAY_TASK_ID` − `SLURM_ARRAY_TASK_MIN` of `SLURM_ARRAY_TASK_COUNT`), or
//! `TOKENLAB_SHARD=I/N` anywhere (a GitHub Actions matrix). An explicit `--shard` wins; a
//! missing or inconsistent value is an error naming the variables, never a silent full run.
//! Recipes: `scripts/` (README.md, "Sweeps on a batch scheduler").

/// `I/N` with 0 ≤ I < N.
pub fn parse_shard(s: &str) -> Result<(usize, usize), String> {
    let err = || format!("'{s}' is not a shard: expected I/N with 0 ≤ I < N, e.g. 0/4");
    let (i, n) = s.split_once('/').ok_or_else(err)?;
    let (i, n): (usize, usize) = (
        i.trim().parse().map_err(|_| err())?,
        n.trim().parse().map_err(|_| err())?,
    );
    if n == 0 || i >= n {
        return Err(err());
    }
    Ok((i, n))
}

fn number(var: &str, v: &str) -> Result<usize, String> {
    v.trim()
        .parse()
        .map_err(|_| format!("{var}='{v}' is not a non-negative integer"))
}

/// The shard to run: `explicit` if given, else what the environment (`get`) says, else none.
pub fn shard_from(
    explicit: Option<(usize, usize)>,
    get: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<(usize, usize)>, String> {
    if explicit.is_some() {
        return Ok(explicit);
    }
    let shards = match get("TOKENLAB_SHARDS") {
        Some(v) => Some(number("TOKENLAB_SHARDS", &v)?),
        None => None,
    };
    // Every source present gives a (name, I, N); they must agree.
    let mut found: Vec<(String, usize, usize)> = Vec::new();
    if let Some(v) = get("TOKENLAB_SHARD") {
        let (i, n) = parse_shard(&v).map_err(|e| format!("TOKENLAB_SHARD: {e}"))?;
        found.push((format!("TOKENLAB_SHARD={v}"), i, n));
    }
    if let Some(v) = get("JOB_COMPLETION_INDEX") {
        let i = number("JOB_COMPLETION_INDEX", &v)?;
        let n = shards.ok_or_else(|| {
            format!(
                "JOB_COMPLETION_INDEX={v} (a Kubernetes Indexed Job) needs TOKENLAB_SHARDS=N, the Job's completions"
            )
        })?;
        found.push((format!("JOB_COMPLETION_INDEX={v}"), i, n));
    }
    if let Some(v) = get("SLURM_ARRAY_TASK_ID") {
        let id = number("SLURM_ARRAY_TASK_ID", &v)?;
        let min = match get("SLURM_ARRAY_TASK_MIN") {
            Some(m) => number("SLURM_ARRAY_TASK_MIN", &m)?,
            None => {
                return Err(format!(
                    "SLURM_ARRAY_TASK_ID={v} without SLURM_ARRAY_TASK_MIN"
                ));
            }
        };
        let count = match get("SLURM_ARRAY_TASK_COUNT") {
            Some(c) => Some(number("SLURM_ARRAY_TASK_COUNT", &c)?),
            None => None,
        };
        let n = match (count, shards) {
            (Some(c), Some(s)) if c != s => {
                return Err(format!(
                    "SLURM_ARRAY_TASK_COUNT={c} but TOKENLAB_SHARDS={s}: the array and the shard count disagree"
                ));
            }
            (Some(c), _) => c,
            (None, Some(s)) => s,
            (None, None) => {
                return Err(format!(
                    "SLURM_ARRAY_TASK_ID={v} without SLURM_ARRAY_TASK_COUNT or TOKENLAB_SHARDS"
                ));
            }
        };
        let i = id.checked_sub(min).ok_or_else(|| {
            format!("SLURM_ARRAY_TASK_ID={v} is below SLURM_ARRAY_TASK_MIN={min}")
        })?;
        found.push((format!("SLURM_ARRAY_TASK_ID={v} (min {min})"), i, n));
    }
    let Some((name, i, n)) = found.first().cloned() else {
        if let Some(n) = shards {
            return Err(format!(
                "TOKENLAB_SHARDS={n} without an index (JOB_COMPLETION_INDEX, SLURM_ARRAY_TASK_ID or TOKENLAB_SHARD)"
            ));
        }
        return Ok(None);
    };
    if n == 0 || i >= n {
        return Err(format!(
            "{name} gives shard {i} of {n}: expected an index below the count (and a count above 0)"
        ));
    }
    if let Some((other, j, m)) = found.iter().find(|(_, j, m)| (*j, *m) != (i, n)) {
        return Err(format!(
            "{name} says shard {i}/{n} but {other} says {j}/{m}: set one of them"
        ));
    }
    Ok(Some((i, n)))
}

/// [`shard_from`] over the process environment.
pub fn shard(explicit: Option<(usize, usize)>) -> anyhow::Result<Option<(usize, usize)>> {
    shard_from(explicit, &|k| std::env::var(k).ok()).map_err(|e| anyhow::anyhow!("{e}"))
}

/// The shard files named `PREFIX*.json` in each directory and its `shards/` subdirectory, in
/// name order (the merge reads them as one list, whichever scheduler wrote them).
pub fn shard_files(dirs: &[std::path::PathBuf], prefix: &str) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for d in dirs {
        for sub in [d.clone(), d.join("shards")] {
            let Ok(rd) = std::fs::read_dir(&sub) else {
                continue;
            };
            for e in rd.flatten() {
                let p = e.path();
                if p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(prefix) && n.ends_with(".json"))
                {
                    files.push(p);
                }
            }
        }
    }
    files.sort();
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(vars: &[(&str, &str)]) -> Result<Option<(usize, usize)>, String> {
        let map: std::collections::BTreeMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        shard_from(None, &|k| map.get(k).cloned())
    }

    #[test]
    fn each_scheduler_and_the_explicit_flag() {
        assert_eq!(with(&[]), Ok(None));
        assert_eq!(with(&[("TOKENLAB_SHARD", "2/5")]), Ok(Some((2, 5))));
        assert_eq!(
            with(&[("JOB_COMPLETION_INDEX", "3"), ("TOKENLAB_SHARDS", "4")]),
            Ok(Some((3, 4)))
        );
        assert_eq!(
            with(&[
                ("SLURM_ARRAY_TASK_ID", "11"),
                ("SLURM_ARRAY_TASK_MIN", "10"),
                ("SLURM_ARRAY_TASK_COUNT", "3")
            ]),
            Ok(Some((1, 3)))
        );
        let explicit = shard_from(Some((0, 2)), &|_| Some("junk".into()));
        assert_eq!(explicit, Ok(Some((0, 2))), "--shard wins over anything");
    }

    #[test]
    fn missing_or_inconsistent_values_are_errors() {
        for (vars, needle) in [
            (vec![("JOB_COMPLETION_INDEX", "1")], "needs TOKENLAB_SHARDS"),
            (vec![("TOKENLAB_SHARDS", "4")], "without an index"),
            (vec![("TOKENLAB_SHARD", "4/4")], "not a shard"),
            (
                vec![("JOB_COMPLETION_INDEX", "4"), ("TOKENLAB_SHARDS", "4")],
                "below the count",
            ),
            (
                vec![
                    ("SLURM_ARRAY_TASK_ID", "1"),
                    ("SLURM_ARRAY_TASK_COUNT", "2"),
                ],
                "without SLURM_ARRAY_TASK_MIN",
            ),
            (
                vec![
                    ("SLURM_ARRAY_TASK_ID", "1"),
                    ("SLURM_ARRAY_TASK_MIN", "0"),
                    ("SLURM_ARRAY_TASK_COUNT", "2"),
                    ("TOKENLAB_SHARDS", "3"),
                ],
                "disagree",
            ),
            (
                vec![
                    ("TOKENLAB_SHARD", "0/2"),
                    ("JOB_COMPLETION_INDEX", "1"),
                    ("TOKENLAB_SHARDS", "2"),
                ],
                "set one of them",
            ),
            (
                vec![("JOB_COMPLETION_INDEX", "x")],
                "not a non-negative integer",
            ),
        ] {
            let e = with(&vars).expect_err(needle);
            assert!(e.contains(needle), "{vars:?}: {e}");
        }
    }
}
