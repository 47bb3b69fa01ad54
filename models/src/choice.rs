//! The run's one choice source (`threats.md` §7).
//!
//! Every nondeterministic decision of a run is a choice point: a link's fate and delay, backoff
//! jitter, a store failure or replica lag, a push duplicate or phase, when a movable scheduled
//! step (an attack step, an admin action) happens, and when the attacker first uses an item.
//! Each point has a finite domain whose alternative 0 is the default (the fault-free, on-time
//! outcome).
//!
//! [`Choices`] is that one interface. In random mode ([`Choices::random`], every simulated
//! output of the reports) a point answers `None` and the caller draws from its seeded stream
//! exactly as it always has, so random runs are unchanged. In guided mode a point answers the
//! alternative a [`Guide`] prescribes for its position in the run (0 unless told otherwise)
//! and records what it offered; the explorer enumerates alternatives from those records, and a
//! [`ChoiceString`] replays a run exactly.

use crate::Micros;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

/// The kinds of choice point.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Point {
    /// A request's fate: delivered, delivered late, lost, answered 503 at the edge.
    LinkRequest,
    /// A response's fate: delivered, delivered late, lost.
    LinkResponse,
    /// Backoff before a partner retry: half the ceiling, none, the whole ceiling.
    Jitter,
    /// A store read or write fails.
    StoreFailure,
    /// A replica read's lag: none, half the maximum, the maximum.
    ReplicaLag,
    /// A push delivered twice.
    PushDuplicate,
    /// A push schedule's phase: at once, half an interval, just under an interval.
    PushPhase,
    /// A movable scheduled step: at its time, or at one of the guide's candidate times.
    Schedule,
    /// The attacker's first use of an item: at once, or at a later candidate time.
    FirstUse,
}

impl Point {
    fn code(self) -> char {
        match self {
            Point::LinkRequest => 'q',
            Point::LinkResponse => 'r',
            Point::Jitter => 'j',
            Point::StoreFailure => 'f',
            Point::ReplicaLag => 'l',
            Point::PushDuplicate => 'd',
            Point::PushPhase => 'p',
            Point::Schedule => 's',
            Point::FirstUse => 'u',
        }
    }
}

/// One choice a guided run made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Made {
    pub point: Point,
    /// The size of the domain offered (alternative 0 is the default).
    pub arity: u16,
    pub taken: u16,
}

/// What a guided run follows and what it records.
#[derive(Debug, Default)]
pub struct Guide {
    /// Position in the run's sequence of choices → the alternative to take there.
    decisions: BTreeMap<u32, u16>,
    /// Candidate times for [`Point::Schedule`] and [`Point::FirstUse`], ascending: protocol
    /// events of the row's baseline run shifted into and around the windows that matter.
    times: Vec<Micros>,
    made: Vec<Made>,
    /// Whether link faults are choices (rows about faults) or links always deliver on time.
    faults: bool,
    /// A prescribed alternative that was outside its point's domain (a string that does not
    /// fit this world).
    misfit: Option<u32>,
}

/// The one choice source of a run; cheap to clone (every role holds one).
#[derive(Clone, Debug, Default)]
pub struct Choices(Option<Arc<Mutex<Guide>>>);

impl Choices {
    /// Random mode: every point defers to the caller's seeded stream.
    pub fn random() -> Choices {
        Choices(None)
    }

    /// Guided mode: `decisions` by position, defaults elsewhere.
    /// `faults`: whether link faults are alternatives at every message.
    pub fn guided(decisions: BTreeMap<u32, u16>, times: Vec<Micros>, faults: bool) -> Choices {
        Choices(Some(Arc::new(Mutex::new(Guide {
            decisions,
            times,
            made: Vec::new(),
            faults,
            misfit: None,
        }))))
    }

    /// Guided, and link faults are among the alternatives.
    pub fn explores_faults(&self) -> bool {
        self.with(|g| g.faults).unwrap_or(false)
    }

    pub fn is_guided(&self) -> bool {
        self.0.is_some()
    }

    fn with<T>(&self, f: impl FnOnce(&mut Guide) -> T) -> Option<T> {
        let g = self.0.as_ref()?;
        // A poisoned lock only means another thread panicked mid-run; the guide is still whole.
        let mut g = g.lock().unwrap_or_else(|e| e.into_inner());
        Some(f(&mut g))
    }

    /// The alternative taken at `point` among `arity` (0 = the default), or `None` in random
    /// mode. A point with one alternative is not a choice and is not recorded.
    pub fn pick(&self, point: Point, arity: u16) -> Option<u16> {
        self.with(|g| {
            if arity <= 1 {
                return 0;
            }
            let pos = g.made.len() as u32;
            let mut taken = g.decisions.get(&pos).copied().unwrap_or(0);
            if taken >= arity {
                g.misfit.get_or_insert(pos);
                taken = 0;
            }
            g.made.push(Made {
                point,
                arity,
                taken,
            });
            taken
        })
    }

    /// A time for a movable event whose default is `default`: `None` in random mode; in guided
    /// mode the default or one of the guide's candidate times after `not_before`.
    pub fn time(&self, point: Point, default: Micros, not_before: Micros) -> Option<Micros> {
        let later: Vec<Micros> = self.with(|g| {
            g.times
                .iter()
                .copied()
                .filter(|t| *t >= not_before && *t != default)
                .collect()
        })?;
        let arity = u16::try_from(later.len() + 1).unwrap_or(u16::MAX);
        let k = self.pick(point, arity)?;
        Some(match k {
            0 => default,
            k => later[usize::from(k) - 1],
        })
    }

    /// The choices a guided run made, in order (empty in random mode).
    pub fn made(&self) -> Vec<Made> {
        self.with(|g| g.made.clone()).unwrap_or_default()
    }

    /// The first position whose prescribed alternative did not exist in this run.
    pub fn misfit(&self) -> Option<u32> {
        self.with(|g| g.misfit).flatten()
    }
}

/// The version every choice string starts with. A string of another version is refused.
pub const CHOICE_STRING_VERSION: &str = "tl1";

/// Which world a choice string applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WorldSize {
    /// The row's scaled small world (`threats.md` §7).
    Small,
    /// The row's full-size world.
    Full,
}

/// A compact, versioned description of one run: the row it belongs to, the world, the seed
/// of the streams the guide does not replace, and the non-default choices by position.
/// Rendered as `tl1/MECHANISM/PROPERTY/small|full/SEED/POS=ALT,...` (`-` for none).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChoiceString {
    pub mechanism: String,
    pub property: String,
    pub world: WorldSize,
    /// Which of the row's runs (most rows have one; `0` is written as the bare world).
    pub run: u32,
    pub seed: u64,
    /// `None`: a random-mode run (the seed alone reproduces it).
    pub decisions: Option<BTreeMap<u32, u16>>,
}

impl fmt::Display for ChoiceString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let world = match (self.world, self.run) {
            (WorldSize::Small, 0) => "small".to_string(),
            (WorldSize::Full, 0) => "full".to_string(),
            (WorldSize::Small, r) => format!("small.{r}"),
            (WorldSize::Full, r) => format!("full.{r}"),
        };
        let choices = match &self.decisions {
            None => "random".to_string(),
            Some(d) if d.is_empty() => "-".to_string(),
            Some(d) => d
                .iter()
                .map(|(p, a)| format!("{p}={a}"))
                .collect::<Vec<_>>()
                .join(","),
        };
        write!(
            f,
            "{CHOICE_STRING_VERSION}/{}/{}/{world}/{}/{choices}",
            self.mechanism, self.property, self.seed
        )
    }
}

/// Why a choice string was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChoiceStringError {
    #[error(
        "choice string version '{0}' is not supported (this build reads '{CHOICE_STRING_VERSION}'); rerun `tokenlab explore` to get a current string"
    )]
    Version(String),
    #[error(
        "choice string: expected 6 parts 'tl1/MECHANISM/PROPERTY/small|full/SEED/CHOICES', got {0}"
    )]
    Parts(usize),
    #[error("choice string: world must be 'small' or 'full' (optionally '.RUN'), got '{0}'")]
    World(String),
    #[error("choice string: seed must be an unsigned integer, got '{0}'")]
    Seed(String),
    #[error("choice string: choice '{0}' is not POSITION=ALTERNATIVE")]
    Choice(String),
}

impl std::str::FromStr for ChoiceString {
    type Err = ChoiceStringError;

    fn from_str(s: &str) -> Result<ChoiceString, ChoiceStringError> {
        let s = s.trim();
        let version = s.split('/').next().unwrap_or("");
        if version != CHOICE_STRING_VERSION {
            return Err(ChoiceStringError::Version(version.to_string()));
        }
        let parts: Vec<&str> = s.split('/').collect();
        if parts.len() != 6 {
            return Err(ChoiceStringError::Parts(parts.len()));
        }
        let (size, run) = match parts[3].split_once('.') {
            Some((w, r)) => (
                w,
                r.parse::<u32>()
                    .map_err(|_| ChoiceStringError::World(parts[3].to_string()))?,
            ),
            None => (parts[3], 0),
        };
        let world = match size {
            "small" => WorldSize::Small,
            "full" => WorldSize::Full,
            _ => return Err(ChoiceStringError::World(parts[3].to_string())),
        };
        let seed = parts[4]
            .parse::<u64>()
            .map_err(|_| ChoiceStringError::Seed(parts[4].to_string()))?;
        let decisions = match parts[5] {
            "random" => None,
            "-" | "" => Some(BTreeMap::new()),
            list => {
                let mut d = BTreeMap::new();
                for item in list.split(',') {
                    let bad = || ChoiceStringError::Choice(item.to_string());
                    let (p, a) = item.split_once('=').ok_or_else(bad)?;
                    let p = p.trim().parse::<u32>().map_err(|_| bad())?;
                    let a = a.trim().parse::<u16>().map_err(|_| bad())?;
                    if a == 0 {
                        return Err(bad());
                    }
                    d.insert(p, a);
                }
                Some(d)
            }
        };
        Ok(ChoiceString {
            mechanism: parts[1].to_string(),
            property: parts[2].to_string(),
            world,
            run,
            seed,
            decisions,
        })
    }
}

/// A compact signature of the choice kinds a run offered (for `explore --json`).
pub fn point_summary(made: &[Made]) -> String {
    let mut counts: BTreeMap<char, usize> = BTreeMap::new();
    for m in made {
        *counts.entry(m.point.code()).or_default() += 1;
    }
    counts
        .iter()
        .map(|(c, n)| format!("{c}{n}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_mode_defers_to_the_stream() {
        let c = Choices::random();
        assert_eq!(c.pick(Point::LinkRequest, 4), None);
        assert_eq!(c.time(Point::Schedule, 5, 0), None);
        assert!(c.made().is_empty());
    }

    #[test]
    fn guided_mode_follows_the_decisions_by_position_and_records_domains() {
        let c = Choices::guided(BTreeMap::from([(1, 2), (3, 1)]), vec![10, 20, 30], true);
        assert_eq!(c.pick(Point::LinkRequest, 4), Some(0));
        assert_eq!(c.pick(Point::LinkResponse, 3), Some(2));
        // One alternative: not a choice, not a position.
        assert_eq!(c.pick(Point::Jitter, 1), Some(0));
        assert_eq!(c.time(Point::Schedule, 15, 12), Some(15));
        // Position 3: the first candidate at or after 12 other than the default.
        assert_eq!(c.time(Point::FirstUse, 15, 12), Some(20));
        let made = c.made();
        assert_eq!(made.len(), 4);
        assert_eq!(made[1].taken, 2);
        assert_eq!(made[3].arity, 3);
        assert_eq!(c.misfit(), None);
    }

    #[test]
    fn an_alternative_outside_the_domain_is_a_misfit() {
        let c = Choices::guided(BTreeMap::from([(0, 9)]), Vec::new(), true);
        assert_eq!(c.pick(Point::LinkRequest, 4), Some(0));
        assert_eq!(c.misfit(), Some(0));
    }

    #[test]
    fn choice_strings_round_trip_and_refuse_other_versions() {
        let s = ChoiceString {
            mechanism: "refresh[grace_reply=rotate]".into(),
            property: "P4".into(),
            world: WorldSize::Small,
            run: 0,
            seed: 7,
            decisions: Some(BTreeMap::from([(3, 2), (40, 1)])),
        };
        let text = s.to_string();
        assert_eq!(text, "tl1/refresh[grace_reply=rotate]/P4/small/7/3=2,40=1");
        assert_eq!(text.parse::<ChoiceString>(), Ok(s));
        let none: ChoiceString = "tl1/push/P3/full/1/-".parse().unwrap();
        assert_eq!(none.decisions, Some(BTreeMap::new()));
        let random: ChoiceString = "tl1/push/P3/full.1/1/random".parse().unwrap();
        assert_eq!(random.decisions, None);
        assert_eq!((random.world, random.run), (WorldSize::Full, 1));
        assert_eq!(random.to_string(), "tl1/push/P3/full.1/1/random");
        for (bad, why) in [
            ("tl0/refresh/P4/small/7/-", "version 'tl0'"),
            ("refresh/P4", "version 'refresh'"),
            ("tl1/refresh/P4/small/7", "6 parts"),
            ("tl1/refresh/P4/medium/7/-", "'medium'"),
            ("tl1/refresh/P4/small/x/-", "'x'"),
            ("tl1/refresh/P4/small/7/3", "'3'"),
            ("tl1/refresh/P4/small/7/3=0", "'3=0'"),
        ] {
            let e = bad.parse::<ChoiceString>().unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
