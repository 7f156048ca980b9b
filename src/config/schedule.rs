//! A schedule expression as EventBridge Scheduler reads it: `rate(5
//! minutes)`, `cron(0 3 * * ? *)` in AWS's six-field dialect (not Unix
//! cron: a year field, `?` in one of the two day fields, `L`, `W`, `#`),
//! or a one-time `at(2026-12-01T09:00:00)`. Parsing says why AWS would
//! refuse an expression; a parsed schedule says when it next runs (for
//! `slx dev`, which runs schedules on a laptop).
//!
//! Pure: the time zone and the instants are given.
// https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html

use jiff::civil::{Date, DateTime, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

/// A parsed schedule expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Schedule {
    /// Every `minutes`, counted from when the schedule was created.
    Rate {
        minutes: u32,
    },
    Cron(Box<Cron>),
    /// Once, at this wall-clock time of the schedule's time zone.
    At(DateTime),
}

/// Why an expression would be refused, said so the fix is obvious.
pub(crate) fn problem(expression: &str) -> Option<String> {
    parse(expression).err()
}

/// Parses `expression`, or says why AWS would refuse it.
pub(crate) fn parse(expression: &str) -> Result<Schedule, String> {
    let text = expression.trim();
    let (kind, inner) = match text.split_once('(') {
        Some((kind, rest)) if rest.ends_with(')') => (kind.trim(), &rest[..rest.len() - 1]),
        _ => {
            return Err(format!(
                "`{text}` is not a schedule: write `rate(5 minutes)`, `cron(0 3 * * ? *)` or `at(2026-12-01T09:00:00)`"
            ));
        }
    };
    match kind {
        "rate" => rate(inner.trim()),
        "cron" => cron(inner.trim()).map(|cron| Schedule::Cron(Box::new(cron))),
        "at" => at(inner.trim()),
        other => Err(format!(
            "`{other}(...)` is not a schedule type: use rate(...), cron(...) or at(...)"
        )),
    }
}

impl Schedule {
    /// The first run strictly after `after`: a rate's runs are `created`
    /// plus whole periods; cron and at are read in `zone`. `None`: never
    /// again (a past `at`, a cron whose years are over).
    pub(crate) fn next_after(
        &self,
        zone: &TimeZone,
        created: Timestamp,
        after: Timestamp,
    ) -> Option<Timestamp> {
        match self {
            Schedule::Rate { minutes } => {
                let period = i64::from(*minutes) * 60;
                let elapsed = after.as_second() - created.as_second();
                let periods = if elapsed < 0 { 0 } else { elapsed / period + 1 };
                Timestamp::from_second(created.as_second() + periods * period).ok()
            }
            Schedule::At(when) => {
                let at = when.to_zoned_datetime(zone.clone()).ok()?.timestamp();
                (at > after).then_some(at)
            }
            Schedule::Cron(cron) => cron.next_after(zone, after),
        }
    }
}

fn rate(inner: &str) -> Result<Schedule, String> {
    let parts: Vec<&str> = inner.split_whitespace().collect();
    let [value, unit] = parts.as_slice() else {
        return Err(format!(
            "`rate({inner})` needs a number and a unit, e.g. `rate(5 minutes)`"
        ));
    };
    let Ok(value) = value.parse::<u32>() else {
        return Err(format!(
            "`{value}` in `rate({inner})` is not a whole number"
        ));
    };
    if value == 0 {
        return Err("a rate of 0 never runs: use 1 or more".into());
    }
    let (singular, minutes) = match *unit {
        "minute" | "minutes" => ("minute", 1),
        "hour" | "hours" => ("hour", 60),
        "day" | "days" => ("day", 24 * 60),
        other => {
            return Err(format!(
                "`{other}` is not a rate unit: use minutes, hours or days"
            ));
        }
    };
    // AWS refuses `rate(1 minutes)` and `rate(5 minute)`.
    let expected = if value == 1 {
        singular.to_string()
    } else {
        format!("{singular}s")
    };
    if *unit != expected {
        return Err(format!(
            "AWS needs `rate({value} {expected})`: the unit is singular for 1 and plural above"
        ));
    }
    Ok(Schedule::Rate {
        minutes: value.saturating_mul(minutes),
    })
}

fn at(inner: &str) -> Result<Schedule, String> {
    match inner.parse::<DateTime>() {
        Ok(when) if inner.len() == 19 && inner.as_bytes()[10] == b'T' => Ok(Schedule::At(when)),
        _ => Err(format!(
            "`at({inner})` needs a date and time as yyyy-mm-ddThh:mm:ss, e.g. `at(2026-12-01T09:00:00)`"
        )),
    }
}

/// A cron expression's fields, each as the values it matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cron {
    minutes: Vec<bool>,
    hours: Vec<bool>,
    months: Vec<bool>,
    /// Indexed by year - 1970.
    years: Vec<bool>,
    /// `None`: `?`, the other day field decides.
    day_of_month: Option<Vec<DayItem>>,
    day_of_week: Option<Vec<DayItem>>,
}

/// One item of a day field.
#[derive(Debug, Clone, PartialEq, Eq)]
enum DayItem {
    /// Plain values (`5`, `1-15`, `*/2`, `MON-FRI`), as a set.
    Values(Vec<bool>),
    /// `L`: the last day of the month (day-of-month) or Saturday (day-of-week).
    Last,
    /// `LW`: the last weekday of the month.
    LastWeekday,
    /// `15W`: the weekday nearest the 15th, within the month.
    NearestWeekday(i8),
    /// `6L`: the last Friday of the month (day-of-week 1 = Sunday).
    LastOf(i8),
    /// `2#1`: the first Monday of the month.
    Nth(i8, i8),
}

/// One field of a cron expression and what it allows.
struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    /// Names standing for `min`, `min + 1`, ...
    names: &'static [&'static str],
    /// `W` (day-of-month) and `L`/`#` after a day (day-of-week) allowed
    /// here; `?` and `L` belong to both day fields.
    weekday: bool,
    nth: bool,
}

const MONTHS: &[&str] = &[
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: &[&str] = &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

const FIELDS: [Field; 6] = [
    Field::plain("minutes", 0, 59, &[]),
    Field::plain("hours", 0, 23, &[]),
    Field {
        weekday: true,
        ..Field::plain("day-of-month", 1, 31, &[])
    },
    Field::plain("month", 1, 12, MONTHS),
    Field {
        nth: true,
        ..Field::plain("day-of-week", 1, 7, DAYS)
    },
    Field::plain("year", 1970, 2199, &[]),
];

impl Field {
    const fn plain(
        name: &'static str,
        min: u32,
        max: u32,
        names: &'static [&'static str],
    ) -> Field {
        Field {
            name,
            min,
            max,
            names,
            weekday: false,
            nth: false,
        }
    }

    fn value(&self, text: &str) -> Result<u32, String> {
        let upper = text.to_ascii_uppercase();
        if let Some(index) = self.names.iter().position(|n| *n == upper) {
            return Ok(self.min + index as u32);
        }
        match text.parse::<u32>() {
            Ok(value) if (self.min..=self.max).contains(&value) => Ok(value),
            _ => {
                let names = if self.names.is_empty() {
                    String::new()
                } else {
                    format!(" or {}-{}", self.names[0], self.names[self.names.len() - 1])
                };
                Err(format!(
                    "`{text}` is not a {} value ({}-{}{names})",
                    self.name, self.min, self.max
                ))
            }
        }
    }

    /// The values a plain item (`*`, `5`, `1-5`, `*/15`, `10/5`,
    /// `FRI-MON`) matches, marked in `set` (indexed by value - min).
    fn mark(&self, item: &str, set: &mut [bool]) -> Result<(), String> {
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => match step.parse::<u32>() {
                Ok(step @ 1..) => (range, step),
                _ => {
                    return Err(format!(
                        "`/{step}` in the {} field is not a step of 1 or more",
                        self.name
                    ));
                }
            },
            None => (item, 1),
        };
        let (from, to) = match range {
            "*" => (self.min, self.max),
            _ => match range.split_once('-') {
                Some((from, to)) => (self.value(from)?, self.value(to)?),
                // `10/5`: from 10 on, every 5.
                None if step > 1 => (self.value(range)?, self.max),
                None => {
                    let value = self.value(range)?;
                    (value, value)
                }
            },
        };
        // A range may wrap (`FRI-MON`, `22-2`).
        let span = if to >= from {
            to - from
        } else {
            self.max - from + 1 + to - self.min
        };
        let width = self.max - self.min + 1;
        for offset in (0..=span).step_by(step as usize) {
            let value = self.min + (from - self.min + offset) % width;
            set[(value - self.min) as usize] = true;
        }
        Ok(())
    }

    fn set(&self, text: &str) -> Result<Vec<bool>, String> {
        if text == "?" {
            return Err(format!(
                "`?` is only allowed in the day-of-month and day-of-week fields, not {}",
                self.name
            ));
        }
        let mut set = vec![false; (self.max - self.min + 1) as usize];
        for item in text.split(',') {
            self.mark(item, &mut set)?;
        }
        Ok(set)
    }

    /// A day field: `None` for `?`.
    fn days(&self, text: &str) -> Result<Option<Vec<DayItem>>, String> {
        if text == "?" {
            return Ok(None);
        }
        let mut items = Vec::new();
        let day = |text: &str| self.value(text).map(|v| v as i8);
        for item in text.split(',') {
            let parsed = if item == "L" {
                DayItem::Last
            } else if self.weekday && item == "LW" {
                DayItem::LastWeekday
            } else if let Some(value) = item.strip_suffix('W').filter(|_| self.weekday) {
                DayItem::NearestWeekday(day(value)?)
            } else if let Some(value) = item.strip_suffix('L').filter(|_| self.nth) {
                DayItem::LastOf(day(value)?)
            } else if let Some((value, nth)) = item.split_once('#').filter(|_| self.nth) {
                match nth.parse::<i8>() {
                    Ok(nth @ 1..=5) => DayItem::Nth(day(value)?, nth),
                    _ => {
                        return Err(format!(
                            "`#{nth}` must be 1 to 5 (the nth weekday of the month)"
                        ));
                    }
                }
            } else {
                let mut set = vec![false; (self.max - self.min + 1) as usize];
                self.mark(item, &mut set)?;
                DayItem::Values(set)
            };
            items.push(parsed);
        }
        Ok(Some(items))
    }
}

fn cron(inner: &str) -> Result<Cron, String> {
    let fields: Vec<&str> = inner.split_whitespace().collect();
    if fields.len() != 6 {
        let hint = if fields.len() == 5 {
            " (AWS's cron has a sixth field, the year: add ` *`; and `?` in the day-of-month or day-of-week field)"
        } else {
            ""
        };
        return Err(format!(
            "`cron({inner})` has {} fields; AWS's cron has 6: minutes hours day-of-month month day-of-week year{hint}",
            fields.len()
        ));
    }
    let cron = Cron {
        minutes: FIELDS[0].set(fields[0])?,
        hours: FIELDS[1].set(fields[1])?,
        day_of_month: FIELDS[2].days(fields[2])?,
        months: FIELDS[3].set(fields[3])?,
        day_of_week: FIELDS[4].days(fields[4])?,
        years: FIELDS[5].set(fields[5])?,
    };
    // Exactly one of the two day fields is `?`.
    match (cron.day_of_month.is_none(), cron.day_of_week.is_none()) {
        (true, false) | (false, true) => Ok(cron),
        (true, true) => Err("`?` in both day fields: give one of them a value or `*`".into()),
        (false, false) => Err(format!(
            "AWS needs `?` in the day-of-month or the day-of-week field, e.g. `cron({} {} {} {} ? {})`",
            fields[0], fields[1], fields[2], fields[3], fields[5]
        )),
    }
}

/// Day-of-week as cron numbers it: 1 = Sunday.
fn cron_weekday(date: Date) -> i8 {
    date.weekday().to_sunday_one_offset()
}

fn is_weekday(date: Date) -> bool {
    !matches!(date.weekday(), Weekday::Saturday | Weekday::Sunday)
}

impl DayItem {
    fn day_of_month_matches(&self, date: Date) -> bool {
        let last = date.last_of_month();
        match self {
            DayItem::Values(set) => set[(date.day() - 1) as usize],
            DayItem::Last => date == last,
            DayItem::LastWeekday => {
                let mut day = last;
                while !is_weekday(day) {
                    day = day.yesterday().unwrap_or(day);
                }
                date == day
            }
            DayItem::NearestWeekday(target) => {
                // The weekday nearest the target day, never leaving the month.
                let Ok(target) = Date::new(date.year(), date.month(), (*target).min(last.day()))
                else {
                    return false;
                };
                let nearest = match target.weekday() {
                    Weekday::Saturday if target.day() == 1 => target.checked_add(2.days()),
                    Weekday::Saturday => target.checked_sub(1.day()),
                    Weekday::Sunday if target == last => target.checked_sub(2.days()),
                    Weekday::Sunday => target.checked_add(1.day()),
                    _ => Ok(target),
                };
                nearest.is_ok_and(|day| day == date)
            }
            DayItem::LastOf(_) | DayItem::Nth(..) => false,
        }
    }

    fn day_of_week_matches(&self, date: Date) -> bool {
        let weekday = cron_weekday(date);
        match self {
            DayItem::Values(set) => set[(weekday - 1) as usize],
            DayItem::Last => weekday == 7,
            DayItem::LastOf(day) => {
                *day == weekday
                    && date
                        .checked_add(7.days())
                        .is_ok_and(|d| d.month() != date.month())
            }
            DayItem::Nth(day, nth) => *day == weekday && (date.day() - 1) / 7 + 1 == *nth,
            DayItem::LastWeekday | DayItem::NearestWeekday(_) => false,
        }
    }
}

impl Cron {
    fn day_matches(&self, date: Date) -> bool {
        match (&self.day_of_month, &self.day_of_week) {
            (Some(items), _) => items.iter().any(|item| item.day_of_month_matches(date)),
            (None, Some(items)) => items.iter().any(|item| item.day_of_week_matches(date)),
            (None, None) => false,
        }
    }

    /// The first matching minute after `after`, read in `zone`; a time a
    /// DST change skips runs at the moment it would have been (jiff's
    /// compatible disambiguation).
    fn next_after(&self, zone: &TimeZone, after: Timestamp) -> Option<Timestamp> {
        let start = after.to_zoned_datetime(zone.clone()).date();
        // Five years hold every pattern a six-field cron can express
        // except a sparse year list, which is searched year by year.
        let mut date = start;
        for _ in 0..(366 * 5) {
            let year_index = i64::from(date.year()) - 1970;
            let year_ok = (0..self.years.len() as i64).contains(&year_index)
                && self.years[year_index as usize];
            if year_ok && self.months[(date.month() - 1) as usize] && self.day_matches(date) {
                for hour in (0..24).filter(|h| self.hours[*h as usize]) {
                    for minute in (0..60).filter(|m| self.minutes[*m as usize]) {
                        let civil = date.at(hour, minute, 0, 0);
                        if let Ok(zoned) = civil.to_zoned_datetime(zone.clone())
                            && zoned.timestamp() > after
                        {
                            return Some(zoned.timestamp());
                        }
                    }
                }
            }
            date = date.tomorrow().ok()?;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::problem;

    #[test]
    fn accepts_what_scheduler_documents() {
        for good in [
            "rate(1 minute)",
            "rate(5 minutes)",
            "rate(1 hour)",
            "rate(12 hours)",
            "rate(7 days)",
            "cron(0 3 * * ? *)",
            "cron(15 10 ? * 6L 2026-2030)",
            "cron(0/15 * * * ? *)",
            "cron(0 8 1 * ? *)",
            "cron(0 18 ? * MON-FRI *)",
            "cron(0 9 ? * 2#1 *)",
            "cron(0 12 L * ? *)",
            "cron(0 12 15W * ? *)",
            "cron(5,35 14 * JAN,MAR ? *)",
            "at(2026-12-01T09:00:00)",
        ] {
            assert_eq!(problem(good), None, "{good}");
        }
    }

    #[test]
    fn refuses_unix_cron_and_says_what_aws_wants() {
        let five = problem("cron(0 3 * * *)").unwrap();
        assert!(
            five.contains("has 5 fields") && five.contains("year"),
            "{five}"
        );
        let no_question = problem("cron(0 3 * * * *)").unwrap();
        assert!(no_question.contains("cron(0 3 * * ? *)"), "{no_question}");
        let both = problem("cron(0 3 ? * ? *)").unwrap();
        assert!(both.contains("both day fields"), "{both}");
    }

    #[test]
    fn refuses_out_of_range_and_misplaced_parts() {
        for (bad, says) in [
            ("cron(60 3 * * ? *)", "not a minutes value (0-59)"),
            ("cron(0 24 * * ? *)", "not a hours value"),
            ("cron(0 3 * 13 ? *)", "JAN-DEC"),
            ("cron(0 3 ? * FUNDAY *)", "SUN-SAT"),
            ("cron(0 3 ? * 2#6 *)", "1 to 5"),
            ("cron(0 3 * * ? 1969)", "1970-2199"),
            ("cron(? 3 * * ? *)", "only allowed in the day"),
            ("cron(0/0 3 * * ? *)", "step of 1 or more"),
        ] {
            let found = problem(bad).unwrap_or_else(|| panic!("{bad} accepted"));
            assert!(found.contains(says), "{bad}: {found}");
        }
    }

    fn at(text: &str) -> jiff::Timestamp {
        text.parse().unwrap()
    }

    /// The next `count` runs after `after`, in `zone`, as RFC 3339 UTC.
    fn runs(expression: &str, zone: &str, after: &str, count: usize) -> Vec<String> {
        let schedule = super::parse(expression).unwrap();
        let zone = jiff::tz::TimeZone::get(zone).unwrap();
        let created = at("2026-01-01T00:00:00Z");
        let mut from = at(after);
        let mut out = Vec::new();
        for _ in 0..count {
            match schedule.next_after(&zone, created, from) {
                Some(next) => {
                    out.push(next.to_string());
                    from = next;
                }
                None => break,
            }
        }
        out
    }

    #[test]
    fn a_rate_counts_whole_periods_from_its_creation() {
        assert_eq!(
            runs("rate(1 hour)", "UTC", "2026-01-01T02:30:00Z", 2),
            ["2026-01-01T03:00:00Z", "2026-01-01T04:00:00Z"]
        );
        assert_eq!(
            runs("rate(5 minutes)", "UTC", "2025-12-31T00:00:00Z", 1),
            ["2026-01-01T00:00:00Z"]
        );
    }

    #[test]
    fn cron_runs_in_its_time_zone_across_daylight_saving() {
        // 03:00 in Paris is 02:00 UTC in winter, 01:00 UTC in summer.
        assert_eq!(
            runs(
                "cron(0 3 * * ? *)",
                "Europe/Paris",
                "2026-03-28T12:00:00Z",
                2
            ),
            ["2026-03-29T01:00:00Z", "2026-03-30T01:00:00Z"]
        );
        assert_eq!(
            runs(
                "cron(0 3 * * ? *)",
                "Europe/Paris",
                "2026-01-10T12:00:00Z",
                1
            ),
            ["2026-01-11T02:00:00Z"]
        );
        // 02:30 does not exist on 29 March 2026 in Paris: it runs at the
        // instant it would have been (03:30 summer time).
        assert_eq!(
            runs(
                "cron(30 2 * * ? *)",
                "Europe/Paris",
                "2026-03-29T00:00:00Z",
                1
            ),
            ["2026-03-29T01:30:00Z"]
        );
    }

    #[test]
    fn cron_day_fields_mean_what_aws_documents() {
        // Weekdays at 18:00.
        assert_eq!(
            runs("cron(0 18 ? * MON-FRI *)", "UTC", "2026-11-27T19:00:00Z", 2),
            ["2026-11-30T18:00:00Z", "2026-12-01T18:00:00Z"]
        );
        // The last Friday of each month.
        assert_eq!(
            runs("cron(15 10 ? * 6L *)", "UTC", "2026-11-01T00:00:00Z", 2),
            ["2026-11-27T10:15:00Z", "2026-12-25T10:15:00Z"]
        );
        // The first Monday.
        assert_eq!(
            runs("cron(0 9 ? * 2#1 *)", "UTC", "2026-11-27T00:00:00Z", 1),
            ["2026-12-07T09:00:00Z"]
        );
        // The last day, and the weekday nearest the 1st (a Saturday in
        // August 2026: Monday the 3rd, never July).
        assert_eq!(
            runs("cron(0 12 L * ? *)", "UTC", "2026-02-01T00:00:00Z", 1),
            ["2026-02-28T12:00:00Z"]
        );
        assert_eq!(
            runs("cron(0 12 1W * ? *)", "UTC", "2026-07-15T00:00:00Z", 1),
            ["2026-08-03T12:00:00Z"]
        );
        // Every 15 minutes, and a wrapping hour range.
        assert_eq!(
            runs("cron(0/15 22-1 * * ? *)", "UTC", "2026-11-27T23:50:00Z", 3),
            [
                "2026-11-28T00:00:00Z",
                "2026-11-28T00:15:00Z",
                "2026-11-28T00:30:00Z"
            ]
        );
    }

    #[test]
    fn one_time_and_finished_schedules_stop() {
        assert_eq!(
            runs(
                "at(2026-12-01T09:00:00)",
                "Europe/Paris",
                "2026-11-27T00:00:00Z",
                3
            ),
            ["2026-12-01T08:00:00Z"]
        );
        assert!(runs("cron(0 0 1 1 ? 2025)", "UTC", "2026-01-01T00:00:00Z", 1).is_empty());
    }

    #[test]
    fn rate_units_agree_with_the_number() {
        assert!(problem("rate(1 hours)").unwrap().contains("rate(1 hour)"));
        assert!(
            problem("rate(5 minute)")
                .unwrap()
                .contains("rate(5 minutes)")
        );
        assert!(problem("rate(0 minutes)").unwrap().contains("never runs"));
        assert!(
            problem("rate(5 seconds)")
                .unwrap()
                .contains("not a rate unit")
        );
        assert!(
            problem("rate(five minutes)")
                .unwrap()
                .contains("not a whole number")
        );
        assert!(
            problem("every 5 minutes")
                .unwrap()
                .contains("not a schedule")
        );
        assert!(
            problem("at(2026-12-01 09:00)")
                .unwrap()
                .contains("yyyy-mm-dd")
        );
    }
}
