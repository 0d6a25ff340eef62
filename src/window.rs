//! Maintenance windows: when a rollout may start a batch, and when it must stop scheduling.
//!
//! Owns the spec syntax, the open/closed decision at an instant, and the [`Clock`] the engine
//! injects so that tests never sleep. Pure apart from the time-zone lookup at parse time
//! (jiff reads the system tzdb once, falling back to the copy bundled into the binary).
//!
//! # Syntax
//!
//! `DAYS HH:MM-HH:MM [ZONE]`, several windows separated by `;`, or `*` / `always`:
//!
//! - `DAYS`: `Mon`..`Sun` (or full names, any case), ranges `Mon-Fri` (may wrap: `Fri-Mon`),
//!   lists `Sat,Sun`, `weekdays`, `weekends`, `daily`; omitted means every day.
//! - `HH:MM-HH:MM`: local wall-clock start and end; `24:00` is allowed as an end. An end at or
//!   before the start crosses midnight: `Mon-Fri 22:00-02:00` opens Friday 22:00 and closes
//!   Saturday 02:00. The days name the day a window *opens*.
//! - `ZONE`: an IANA name (`Europe/Berlin`); omitted means UTC.
//!
//! # Daylight saving
//!
//! Times are wall-clock times in the window's zone, resolved with jiff's "compatible"
//! disambiguation: a time inside a spring-forward gap moves forward by the gap (02:30 on
//! Berlin's 2026-03-29 is 03:30 CEST), and a time in an autumn overlap takes its first
//! occurrence (02:30 on 2026-10-25 is 02:30 CEST). So `02:00-06:00 Europe/Berlin` lasts 3
//! real hours on the spring day and 5 on the autumn day. An occurrence whose resolved end is
//! not after its start (`02:30-03:00` on the spring day) does not happen that day.
//!
//! # Several windows
//!
//! [`Windows`] is their union: open when any is open; an open stretch made of windows that
//! overlap or touch closes when the last of them closes. Searches reach at most
//! [`SEARCH_DAYS`] ahead.

use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;

use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, ToSpan};
use thiserror::Error;

use crate::suggest::did_you_mean;

/// How far ahead [`Windows::next_open`] and [`Windows::closes_at`] look: a weekly window
/// always recurs within this, so finding none means none will ever open.
pub const SEARCH_DAYS: i64 = 8;

const EXAMPLE: &str = "e.g. \"Sat,Sun 02:00-06:00 Europe/Berlin\"";

/// A window spec that cannot be read; each names the offending token and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WindowError {
    #[error("empty maintenance window; hint: write {EXAMPLE}, or \"*\" for always")]
    Empty,
    #[error("window `{spec}`: no time range; hint: add HH:MM-HH:MM, {EXAMPLE}")]
    MissingTime { spec: String },
    #[error("window `{spec}`: `{token}` is not a day{}", hint_or(.suggestion, "; hint: use Mon..Sun, a range Mon-Fri, a list Sat,Sun, weekdays, weekends or daily"))]
    BadDays {
        spec: String,
        token: String,
        suggestion: Option<String>,
    },
    #[error("window `{spec}`: `{token}` is not a time range; hint: {hint}")]
    BadTime {
        spec: String,
        token: String,
        hint: &'static str,
    },
    #[error("window `{spec}`: unknown time zone `{token}`{}", hint_or(.suggestion, "; hint: use an IANA name such as Europe/Berlin, America/New_York or UTC"))]
    UnknownTimeZone {
        spec: String,
        token: String,
        suggestion: Option<String>,
    },
    #[error(
        "window `{spec}`: unexpected `{token}` after the time zone; hint: separate several windows with `;`"
    )]
    Unexpected { spec: String, token: String },
}

fn hint_or(suggestion: &Option<String>, fallback: &str) -> String {
    match suggestion {
        Some(s) => format!("; did you mean `{s}`?"),
        None => fallback.to_string(),
    }
}

/// One window as written.
#[derive(Debug, Clone)]
pub struct Window {
    spec: String,
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    Always,
    Weekly(Weekly),
}

#[derive(Debug, Clone)]
struct Weekly {
    /// Indexed Monday = 0: the days on which the window opens.
    days: [bool; 7],
    start: Time,
    end: Time,
    /// The end falls on the next day (crossing midnight, or `24:00`).
    overnight: bool,
    tz: TimeZone,
}

const DAY_NAMES: [[&str; 2]; 7] = [
    ["mon", "monday"],
    ["tue", "tuesday"],
    ["wed", "wednesday"],
    ["thu", "thursday"],
    ["fri", "friday"],
    ["sat", "saturday"],
    ["sun", "sunday"],
];

impl Window {
    /// Reads one window (no `;`); see the module docs for the syntax.
    pub fn parse(spec: &str) -> Result<Window, WindowError> {
        let spec = spec.trim();
        if spec.is_empty() {
            return Err(WindowError::Empty);
        }
        if spec == "*" || spec.eq_ignore_ascii_case("always") {
            return Ok(Window {
                spec: spec.to_string(),
                kind: Kind::Always,
            });
        }
        let tokens: Vec<&str> = spec.split_whitespace().collect();
        // Zone names never contain `:`, day lists never do: the first `:` marks the times.
        let Some(at) = tokens.iter().position(|t| t.contains(':')) else {
            return Err(WindowError::MissingTime {
                spec: spec.to_string(),
            });
        };
        // Joined so that "Sat, Sun" reads like "Sat,Sun".
        let days = parse_days(spec, &tokens[..at].concat())?;
        let (start, end, overnight) = parse_times(spec, tokens[at])?;
        let tz = match &tokens[at + 1..] {
            [] => TimeZone::UTC,
            [zone] => parse_zone(spec, zone)?,
            [_, extra, ..] => {
                return Err(WindowError::Unexpected {
                    spec: spec.to_string(),
                    token: (*extra).to_string(),
                });
            }
        };
        Ok(Window {
            spec: spec.to_string(),
            kind: Kind::Weekly(Weekly {
                days,
                start,
                end,
                overnight,
                tz,
            }),
        })
    }

    /// The spec as written, for plans and messages.
    pub fn spec(&self) -> &str {
        &self.spec
    }

    /// Occurrences `[open, close)` opening on local days from the day before `around` to
    /// `days_after` days after it, in order.
    fn occurrences(&self, around: Timestamp, days_after: i64) -> Vec<(Timestamp, Timestamp)> {
        let Kind::Weekly(w) = &self.kind else {
            return Vec::new();
        };
        let today = around.to_zoned(w.tz.clone()).date();
        (-1..=days_after)
            .filter_map(|offset| today.checked_add(offset.days()).ok())
            .filter(|day| w.days[weekday_index(day.weekday())])
            .filter_map(|day| {
                let end_day = if w.overnight {
                    day.tomorrow().ok()?
                } else {
                    day
                };
                let open = resolve(&w.tz, day, w.start)?;
                let close = resolve(&w.tz, end_day, w.end)?;
                (open < close).then_some((open, close))
            })
            .collect()
    }
}

fn weekday_index(day: Weekday) -> usize {
    usize::try_from(day.to_monday_zero_offset()).unwrap_or(0)
}

/// A local wall-clock time on a day, as an instant; see the module docs on DST.
fn resolve(tz: &TimeZone, day: Date, time: Time) -> Option<Timestamp> {
    tz.to_ambiguous_timestamp(day.to_datetime(time))
        .compatible()
        .ok()
}

fn parse_days(spec: &str, text: &str) -> Result<[bool; 7], WindowError> {
    if text.is_empty() {
        return Ok([true; 7]);
    }
    let bad = |token: &str| {
        let all = DAY_NAMES
            .iter()
            .flatten()
            .copied()
            .chain(["daily", "weekdays", "weekends"]);
        WindowError::BadDays {
            spec: spec.to_string(),
            token: token.to_string(),
            suggestion: if token.is_empty() {
                None
            } else {
                did_you_mean(token, all).map(str::to_string)
            },
        }
    };
    let day = |name: &str| {
        let lower = name.to_ascii_lowercase();
        DAY_NAMES
            .iter()
            .position(|names| names.contains(&lower.as_str()))
            .ok_or_else(|| bad(name))
    };
    let mut days = [false; 7];
    for item in text.split(',') {
        match item.to_ascii_lowercase().as_str() {
            "" => return Err(bad(text)),
            "daily" | "everyday" | "*" => days = [true; 7],
            "weekdays" => days[..5].fill(true),
            "weekends" | "weekend" => days[5..].fill(true),
            _ => match item.split_once('-') {
                Some((from, to)) => {
                    let (from, to) = (day(from)?, day(to)?);
                    // Ranges may wrap around the week end: Fri-Mon.
                    let len = (to + 7 - from) % 7;
                    for i in 0..=len {
                        days[(from + i) % 7] = true;
                    }
                }
                None => days[day(item)?] = true,
            },
        }
    }
    Ok(days)
}

/// `HH:MM-HH:MM` into (start, end, whether the end is on the next day).
fn parse_times(spec: &str, token: &str) -> Result<(Time, Time, bool), WindowError> {
    let bad = |hint| WindowError::BadTime {
        spec: spec.to_string(),
        token: token.to_string(),
        hint,
    };
    let Some((from, to)) = token.split_once('-') else {
        return Err(bad("write a range HH:MM-HH:MM, e.g. 02:00-06:00"));
    };
    let minutes = |text: &str| -> Option<u16> {
        let (h, m) = text.split_once(':')?;
        let digits = |s: &str, max_len| {
            (!s.is_empty() && s.len() <= max_len && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse::<u16>().ok())
                .flatten()
        };
        let (h, m) = (digits(h, 2)?, digits(m, 2).filter(|_| m.len() == 2)?);
        (h <= 24 && m < 60 && (h < 24 || m == 0)).then_some(h * 60 + m)
    };
    let hint = "times are HH:MM from 00:00 to 23:59 (24:00 only as an end)";
    let (start, end) = (
        minutes(from).ok_or_else(|| bad(hint))?,
        minutes(to).ok_or_else(|| bad(hint))?,
    );
    if start == 24 * 60 {
        return Err(bad("24:00 can only end a window; start at 00:00"));
    }
    if start == end {
        return Err(bad(
            "start and end are equal; for the whole day write 00:00-24:00",
        ));
    }
    let time = |m: u16| {
        let (h, m) = (i8::try_from(m / 60 % 24), i8::try_from(m % 60));
        match (h, m) {
            (Ok(h), Ok(m)) => Time::new(h, m, 0, 0).map_err(|_| bad(hint)),
            _ => Err(bad(hint)),
        }
    };
    Ok((time(start)?, time(end)?, end <= start || end == 24 * 60))
}

fn parse_zone(spec: &str, zone: &str) -> Result<TimeZone, WindowError> {
    if zone.eq_ignore_ascii_case("utc") || zone == "Z" {
        return Ok(TimeZone::UTC);
    }
    TimeZone::get(zone).map_err(|_| {
        let names: Vec<String> = jiff::tz::db()
            .available()
            .map(|n| n.as_str().to_string())
            .collect();
        let lower: Vec<String> = names.iter().map(|n| n.to_ascii_lowercase()).collect();
        let suggestion = did_you_mean(zone, lower.iter().map(String::as_str))
            .and_then(|hit| lower.iter().position(|l| l == hit))
            .and_then(|i| names.get(i).cloned());
        WindowError::UnknownTimeZone {
            spec: spec.to_string(),
            token: zone.to_string(),
            suggestion,
        }
    })
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.spec)
    }
}

impl FromStr for Window {
    type Err = WindowError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Window::parse(s)
    }
}

/// The union of a play's windows. Empty means never open (the engine should not build one
/// when the play has no `window:`).
#[derive(Debug, Clone)]
pub struct Windows(pub Vec<Window>);

/// Where the open stretch containing an instant ends.
enum Closing {
    NotOpen,
    Never,
    At(Timestamp),
    /// Still open at this instant, the end of the search.
    NotWithin(Timestamp),
}

impl Windows {
    /// Reads `;`-separated windows, e.g. `"Sat,Sun 02:00-06:00 Europe/Berlin; Wed 22:00-23:00"`.
    pub fn parse(spec: &str) -> Result<Windows, WindowError> {
        spec.split(';')
            .map(Window::parse)
            .collect::<Result<_, _>>()
            .map(Windows)
    }

    /// Always open.
    pub fn always() -> Windows {
        Windows(vec![Window {
            spec: "*".to_string(),
            kind: Kind::Always,
        }])
    }

    fn is_always(&self) -> bool {
        self.0.iter().any(|w| matches!(w.kind, Kind::Always))
    }

    /// Whether a batch may start at `at`.
    pub fn is_open(&self, at: Timestamp) -> bool {
        self.is_always() || self.containing(at).is_some()
    }

    /// The latest close among the occurrences open at `at`.
    fn containing(&self, at: Timestamp) -> Option<Timestamp> {
        self.0
            .iter()
            .flat_map(|w| w.occurrences(at, 0))
            .filter(|(open, close)| *open <= at && at < *close)
            .map(|(_, close)| close)
            .max()
    }

    fn closing(&self, at: Timestamp) -> Closing {
        if self.is_always() {
            return Closing::Never;
        }
        let Some(mut end) = self.containing(at) else {
            return Closing::NotOpen;
        };
        let horizon = after(at, SignedDuration::from_hours(SEARCH_DAYS * 24));
        // Windows that overlap or touch (Mon 22:00-24:00 and Tue 00:00-02:00) form one stretch.
        // `end` grows strictly each round and occurrences are finite, so this ends.
        while let Some(later) = self.containing(end) {
            if end >= horizon {
                return Closing::NotWithin(end);
            }
            end = later;
        }
        Closing::At(end)
    }

    /// When the open stretch containing `at` closes. `None` when the windows are closed at
    /// `at` (see [`Windows::is_open`]) or do not close within [`SEARCH_DAYS`] (`*`).
    pub fn closes_at(&self, at: Timestamp) -> Option<Timestamp> {
        match self.closing(at) {
            Closing::At(end) => Some(end),
            Closing::NotOpen | Closing::Never | Closing::NotWithin(_) => None,
        }
    }

    /// When a batch may next start: `at` itself when open, else the next opening within
    /// [`SEARCH_DAYS`]; `None` if there is none.
    pub fn next_open(&self, at: Timestamp) -> Option<Timestamp> {
        if self.is_open(at) {
            return Some(at);
        }
        let horizon = after(at, SignedDuration::from_hours(SEARCH_DAYS * 24));
        self.0
            .iter()
            .flat_map(|w| w.occurrences(at, SEARCH_DAYS + 1))
            .map(|(open, _)| open)
            .filter(|open| at <= *open && *open <= horizon)
            .min()
    }

    /// Whether a batch started at `at` and taking `expected` would finish by the close: a
    /// batch that would likely not finish in the window is not started. Finishing exactly at
    /// the close fits.
    pub fn fits(&self, at: Timestamp, expected: std::time::Duration) -> bool {
        let Ok(expected) = SignedDuration::try_from(expected) else {
            return matches!(self.closing(at), Closing::Never);
        };
        match self.closing(at) {
            Closing::NotOpen => false,
            Closing::Never => true,
            Closing::At(end) | Closing::NotWithin(end) => after(at, expected) <= end,
        }
    }
}

/// May a host start at an instant? What [`Windows::gate`] answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    Open,
    /// Outside every window; `next_open` is when one opens (`None`: none within
    /// [`SEARCH_DAYS`]).
    Closed {
        next_open: Option<Timestamp>,
    },
    /// Open, but a batch taking the expected time would still be running at `closes`.
    WontFit {
        closes: Timestamp,
        next_open: Option<Timestamp>,
    },
}

impl Windows {
    /// Whether a host may start at `at`; `batch` is the expected duration when it would be
    /// the first of a batch whose length can be estimated.
    pub fn gate(&self, at: Timestamp, batch: Option<std::time::Duration>) -> Gate {
        if !self.is_open(at) {
            return Gate::Closed {
                next_open: self.next_open(at),
            };
        }
        match (batch, self.closes_at(at)) {
            (Some(expected), Some(closes)) if !self.fits(at, expected) => Gate::WontFit {
                closes,
                next_open: self.next_open(closes),
            },
            _ => Gate::Open,
        }
    }
}

/// `at + d`, saturating: an instant past jiff's range is later than any window.
fn after(at: Timestamp, d: SignedDuration) -> Timestamp {
    at.checked_add(d).unwrap_or(Timestamp::MAX)
}

impl fmt::Display for Windows {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, w) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            f.write_str(&w.spec)?;
        }
        Ok(())
    }
}

impl FromStr for Windows {
    type Err = WindowError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Windows::parse(s)
    }
}

/// The engine's source of "now", injected so that window tests never sleep.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;

    /// Makes it `at` (or later): the real clock returns how long to sleep for; a simulated
    /// clock moves itself there and returns zero.
    fn wait_until(&self, at: Timestamp) -> std::time::Duration;
}

/// The real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }

    fn wait_until(&self, at: Timestamp) -> std::time::Duration {
        let left = at.duration_since(Timestamp::now());
        std::time::Duration::try_from(left).unwrap_or_default()
    }
}

/// A simulated clock kept in a file as an RFC 3339 instant (`2026-11-28T02:00:00Z`), read on
/// every call so that something else (a test, a task on a lab node) can move time; a wait
/// writes the instant waited for. `DROVER_CLOCK_FILE` selects it, to rehearse a rollout's
/// windows without waiting for them.
#[derive(Debug)]
pub struct FileClock {
    path: std::path::PathBuf,
    /// The last instant read, used when the file is briefly unreadable (being rewritten).
    last: Mutex<Timestamp>,
}

impl FileClock {
    /// Opens the clock; the file must hold an instant now.
    pub fn open(path: &std::path::Path) -> Result<FileClock, String> {
        let at = read_instant(path)?;
        Ok(FileClock {
            path: path.to_path_buf(),
            last: Mutex::new(at),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Timestamp> {
        self.last.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn read_instant(path: &std::path::Path) -> Result<Timestamp, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("clock file {}: {e}", path.display()))?;
    text.trim().parse::<Timestamp>().map_err(|e| {
        format!(
            "clock file {}: `{}` is not an instant ({e}); hint: write e.g. 2026-11-28T02:00:00Z",
            path.display(),
            text.trim()
        )
    })
}

impl Clock for FileClock {
    fn now(&self) -> Timestamp {
        let mut last = self.lock();
        if let Ok(at) = read_instant(&self.path) {
            *last = at;
        }
        *last
    }

    fn wait_until(&self, at: Timestamp) -> std::time::Duration {
        if at > self.now() {
            // If the file cannot be written the next read restores the old instant; the
            // engine notices that the wait did not get it there and stops.
            let _ = std::fs::write(&self.path, format!("{at}\n"));
            *self.lock() = at;
        }
        std::time::Duration::ZERO
    }
}

/// A clock that moves only when told to, for tests.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<Timestamp>,
}

impl ManualClock {
    pub fn new(at: Timestamp) -> ManualClock {
        ManualClock {
            now: Mutex::new(at),
        }
    }

    pub fn set(&self, at: Timestamp) {
        *self.lock() = at;
    }

    /// Moves the clock forward, as a sleep of `by` would.
    pub fn advance(&self, by: std::time::Duration) {
        let mut now = self.lock();
        let by = SignedDuration::try_from(by).unwrap_or(SignedDuration::MAX);
        *now = after(*now, by);
    }

    // A panic while holding the lock leaves a valid Timestamp behind, so poisoning is moot.
    fn lock(&self) -> std::sync::MutexGuard<'_, Timestamp> {
        self.now.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.lock()
    }

    fn wait_until(&self, at: Timestamp) -> std::time::Duration {
        let mut now = self.lock();
        if at > *now {
            *now = at;
        }
        std::time::Duration::ZERO
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn w(spec: &str) -> Windows {
        Windows::parse(spec).unwrap()
    }

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn parses_the_documented_forms() {
        for spec in [
            "Sat,Sun 02:00-06:00 Europe/Berlin",
            "Sat, Sun 02:00-06:00 Europe/Berlin",
            "Mon-Fri 22:00-02:00 UTC",
            "daily 01:00-03:00 America/New_York",
            "weekdays 00:00-24:00",
            "fri-mon 9:30-10:00 utc",
            "Saturday 02:00-06:00",
            "*",
            "always",
            "Sat 02:00-04:00 UTC; Wed 22:00-23:00 Europe/Berlin",
        ] {
            assert!(Windows::parse(spec).is_ok(), "{spec}");
        }
        assert_eq!(
            w("Sat, Sun 02:00-06:00").to_string(),
            "Sat, Sun 02:00-06:00"
        );
    }

    #[test]
    fn bad_specs_name_the_token_and_a_fix() {
        let err = |spec| Windows::parse(spec).unwrap_err();
        assert_eq!(err(""), WindowError::Empty);
        assert!(matches!(err("Sat"), WindowError::MissingTime { .. }));
        assert_eq!(
            err("Satu 02:00-06:00"),
            WindowError::BadDays {
                spec: "Satu 02:00-06:00".into(),
                token: "Satu".into(),
                suggestion: Some("sat".into())
            }
        );
        assert_eq!(
            err("Sat,Sun 02:00-06:00 Europe/Berln").to_string(),
            "window `Sat,Sun 02:00-06:00 Europe/Berln`: unknown time zone `Europe/Berln`; \
             did you mean `Europe/Berlin`?"
        );
        assert!(
            err("Sat 02:00-06:00 Mars/Olympus")
                .to_string()
                .contains("hint: use an IANA name")
        );
        assert!(
            matches!(err("Sat 25:00-06:00"), WindowError::BadTime { token, .. } if token == "25:00-06:00")
        );
        assert!(matches!(err("Sat 02:00"), WindowError::BadTime { .. }));
        assert!(matches!(err("Sat 2:0-06:00"), WindowError::BadTime { .. }));
        assert!(err("Sat 02:00-02:00").to_string().contains("00:00-24:00"));
        assert!(matches!(
            err("Sat 24:00-02:00"),
            WindowError::BadTime { .. }
        ));
        assert!(matches!(
            err("Sat,,Sun 02:00-06:00"),
            WindowError::BadDays { .. }
        ));
        assert_eq!(
            err("Sat 02:00-06:00 UTC now"),
            WindowError::Unexpected {
                spec: "Sat 02:00-06:00 UTC now".into(),
                token: "now".into()
            }
        );
        assert!(matches!(err("Sat 02:00-06:00;"), WindowError::Empty));
    }

    #[test]
    fn weekend_window_in_berlin() {
        // May: CEST, UTC+2. 2026-05-02 is a Saturday.
        let win = w("Sat,Sun 02:00-06:00 Europe/Berlin");
        assert!(!win.is_open(ts("2026-05-01T23:59:59Z")));
        assert!(win.is_open(ts("2026-05-02T00:00:00Z")));
        assert!(win.is_open(ts("2026-05-03T03:59:59Z")));
        assert!(!win.is_open(ts("2026-05-03T04:00:00Z")));
        assert!(!win.is_open(ts("2026-05-04T01:00:00Z")));
        assert_eq!(
            win.closes_at(ts("2026-05-02T01:00:00Z")),
            Some(ts("2026-05-02T04:00:00Z"))
        );
        assert_eq!(win.closes_at(ts("2026-05-02T05:00:00Z")), None);
    }

    #[test]
    fn midnight_crossing_window_belongs_to_its_opening_day() {
        // 2026-05-01 is a Friday.
        let win = w("Mon-Fri 22:00-02:00 UTC");
        assert!(win.is_open(ts("2026-05-01T23:00:00Z")));
        assert!(win.is_open(ts("2026-05-02T01:59:59Z")));
        assert!(!win.is_open(ts("2026-05-02T02:00:00Z")));
        assert_eq!(
            win.closes_at(ts("2026-05-01T23:00:00Z")),
            Some(ts("2026-05-02T02:00:00Z"))
        );
        // Saturday and Sunday nights do not open; Monday night does.
        assert!(!win.is_open(ts("2026-05-02T23:00:00Z")));
        assert!(!win.is_open(ts("2026-05-04T01:00:00Z")));
        assert!(win.is_open(ts("2026-05-04T22:00:00Z")));
        // Monday's early hours belong to Sunday night, which is closed; Tuesday's to Monday.
        assert!(win.is_open(ts("2026-05-05T01:00:00Z")));
    }

    #[test]
    fn next_open_skips_the_weekend() {
        let win = w("Mon-Fri 22:00-02:00 UTC");
        assert_eq!(
            win.next_open(ts("2026-05-02T03:00:00Z")),
            Some(ts("2026-05-04T22:00:00Z"))
        );
        let open = ts("2026-05-01T23:00:00Z");
        assert_eq!(win.next_open(open), Some(open));
        let weekend = w("Sat,Sun 02:00-06:00 Europe/Berlin");
        assert_eq!(
            weekend.next_open(ts("2026-05-04T12:00:00Z")),
            Some(ts("2026-05-09T00:00:00Z"))
        );
        assert_eq!(Windows(Vec::new()).next_open(open), None);
    }

    #[test]
    fn several_windows_are_a_union_and_touching_ones_merge() {
        let win = w("Sat 02:00-04:00 UTC; Sat 04:00-06:00 UTC; Wed 12:00-13:00 America/New_York");
        assert_eq!(
            win.closes_at(ts("2026-05-02T03:00:00Z")),
            Some(ts("2026-05-02T06:00:00Z"))
        );
        // 2026-05-06 is a Wednesday; New York is UTC-4 in May.
        assert!(win.is_open(ts("2026-05-06T16:30:00Z")));
        assert!(!win.is_open(ts("2026-05-06T12:30:00Z")));
        assert_eq!(
            win.next_open(ts("2026-05-02T07:00:00Z")),
            Some(ts("2026-05-06T16:00:00Z"))
        );
        let overnight = w("Mon 22:00-24:00; Tue 00:00-02:00");
        assert_eq!(
            overnight.closes_at(ts("2026-05-04T23:00:00Z")),
            Some(ts("2026-05-05T02:00:00Z"))
        );
    }

    #[test]
    fn always_and_whole_days() {
        let always = w("*");
        let at = ts("2026-05-02T03:00:00Z");
        assert!(always.is_open(at));
        assert_eq!(always.closes_at(at), None);
        assert_eq!(always.next_open(at), Some(at));
        assert!(always.fits(at, 1000 * HOUR));
        let every_day = w("daily 00:00-24:00");
        assert!(every_day.is_open(at));
        assert_eq!(every_day.closes_at(at), None);
        assert!(every_day.fits(at, 24 * HOUR));
    }

    #[test]
    fn spring_forward_shortens_the_window() {
        // 2026-03-29, Berlin: 02:00 CET jumps to 03:00 CEST. 02:00 resolves to 03:00 CEST.
        let win = w("Sun 02:00-06:00 Europe/Berlin");
        assert!(!win.is_open(ts("2026-03-29T00:59:59Z")));
        assert!(win.is_open(ts("2026-03-29T01:00:00Z")));
        assert_eq!(
            win.closes_at(ts("2026-03-29T01:00:00Z")),
            Some(ts("2026-03-29T04:00:00Z"))
        );
        assert_eq!(
            win.next_open(ts("2026-03-28T12:00:00Z")),
            Some(ts("2026-03-29T01:00:00Z"))
        );
        // Both ends inside the gap move forward by the hour: 03:15-03:45 CEST.
        let inside = w("Sun 02:15-02:45 Europe/Berlin");
        assert_eq!(
            inside.next_open(ts("2026-03-28T12:00:00Z")),
            Some(ts("2026-03-29T01:15:00Z"))
        );
        // Opening in the gap (03:30 CEST) after it closes (03:00 CEST): it does not happen
        // that day; next week's does.
        let gap = w("Sun 02:30-03:00 Europe/Berlin");
        assert_eq!(
            gap.next_open(ts("2026-03-28T12:00:00Z")),
            Some(ts("2026-04-05T00:30:00Z"))
        );
    }

    #[test]
    fn fall_back_lengthens_the_window() {
        // 2026-10-25, Berlin: 03:00 CEST falls back to 02:00 CET. 02:00 takes CEST (00:00Z),
        // 06:00 is CET (05:00Z): five real hours.
        let win = w("Sun 02:00-06:00 Europe/Berlin");
        assert!(!win.is_open(ts("2026-10-24T23:59:59Z")));
        assert!(win.is_open(ts("2026-10-25T00:00:00Z")));
        assert_eq!(
            win.closes_at(ts("2026-10-25T00:00:00Z")),
            Some(ts("2026-10-25T05:00:00Z"))
        );
        assert!(win.fits(ts("2026-10-25T00:00:00Z"), 5 * HOUR));
    }

    #[test]
    fn fits_only_batches_that_finish_before_the_close() {
        let win = w("Sat 02:00-06:00 UTC");
        let at = ts("2026-05-02T03:00:00Z");
        assert!(win.fits(at, 2 * HOUR));
        assert!(win.fits(at, 3 * HOUR));
        assert!(!win.fits(at, 3 * HOUR + Duration::from_secs(1)));
        assert!(!win.fits(ts("2026-05-02T07:00:00Z"), Duration::from_secs(1)));
        assert!(!win.fits(at, Duration::MAX));
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(ts("2026-05-02T03:00:00Z"));
        assert_eq!(clock.now(), ts("2026-05-02T03:00:00Z"));
        clock.advance(HOUR);
        assert_eq!(clock.now(), ts("2026-05-02T04:00:00Z"));
        clock.set(ts("2030-01-01T00:00:00Z"));
        assert_eq!(clock.now(), ts("2030-01-01T00:00:00Z"));
        let system: &dyn Clock = &SystemClock;
        assert!(system.now() > ts("2026-01-01T00:00:00Z"));
    }

    #[test]
    fn gate_closed_open_and_a_batch_that_would_overrun() {
        let sat = w("Sat 02:00-06:00 UTC");
        // 2026-11-28 is a Saturday.
        assert_eq!(
            sat.gate(ts("2026-11-27T12:00:00Z"), None),
            Gate::Closed {
                next_open: Some(ts("2026-11-28T02:00:00Z"))
            }
        );
        assert_eq!(sat.gate(ts("2026-11-28T05:00:00Z"), None), Gate::Open);
        assert_eq!(sat.gate(ts("2026-11-28T05:00:00Z"), Some(HOUR)), Gate::Open);
        assert_eq!(
            sat.gate(ts("2026-11-28T05:00:01Z"), Some(HOUR)),
            Gate::WontFit {
                closes: ts("2026-11-28T06:00:00Z"),
                next_open: Some(ts("2026-12-05T02:00:00Z"))
            }
        );
        assert_eq!(
            Windows::always().gate(ts("2026-11-28T05:00:01Z"), Some(HOUR * 1000)),
            Gate::Open
        );
    }

    #[test]
    fn file_clock_reads_every_time_and_a_wait_moves_it() {
        let dir = std::env::temp_dir().join(format!("drover-clock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("now");
        assert!(FileClock::open(&path).is_err());
        std::fs::write(&path, "tomorrow\n").unwrap();
        assert!(
            FileClock::open(&path)
                .unwrap_err()
                .contains("hint: write e.g.")
        );
        std::fs::write(&path, "2026-11-28T01:00:00Z\n").unwrap();
        let clock = FileClock::open(&path).unwrap();
        assert_eq!(clock.now(), ts("2026-11-28T01:00:00Z"));
        std::fs::write(&path, "2026-11-28T03:00:00Z").unwrap();
        assert_eq!(clock.now(), ts("2026-11-28T03:00:00Z"));
        assert_eq!(clock.wait_until(ts("2026-11-28T04:00:00Z")), Duration::ZERO);
        assert_eq!(clock.now(), ts("2026-11-28T04:00:00Z"));
        // Waiting for the past does not move it back.
        clock.wait_until(ts("2026-11-28T02:00:00Z"));
        assert_eq!(clock.now(), ts("2026-11-28T04:00:00Z"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
