//! Checks a schedule expression the way EventBridge Scheduler reads it:
//! `rate(5 minutes)`, `cron(0 3 * * ? *)` in AWS's six-field dialect (not
//! Unix cron: a year field, `?` in one of the two day fields, `L`, `W`,
//! `#`), or a one-time `at(2026-12-01T09:00:00)`.
//!
//! Pure text checks; it never computes when a schedule fires.
// https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html

/// Why an expression would be refused, said so the fix is obvious.
pub(crate) fn problem(expression: &str) -> Option<String> {
    let text = expression.trim();
    let (kind, inner) = match text.split_once('(') {
        Some((kind, rest)) if rest.ends_with(')') => (kind.trim(), &rest[..rest.len() - 1]),
        _ => {
            return Some(format!(
                "`{text}` is not a schedule: write `rate(5 minutes)`, `cron(0 3 * * ? *)` or `at(2026-12-01T09:00:00)`"
            ));
        }
    };
    match kind {
        "rate" => rate_problem(inner.trim()),
        "cron" => cron_problem(inner.trim()),
        "at" => at_problem(inner.trim()),
        other => Some(format!(
            "`{other}(...)` is not a schedule type: use rate(...), cron(...) or at(...)"
        )),
    }
}

fn rate_problem(inner: &str) -> Option<String> {
    let parts: Vec<&str> = inner.split_whitespace().collect();
    let [value, unit] = parts.as_slice() else {
        return Some(format!(
            "`rate({inner})` needs a number and a unit, e.g. `rate(5 minutes)`"
        ));
    };
    let Ok(value) = value.parse::<u32>() else {
        return Some(format!(
            "`{value}` in `rate({inner})` is not a whole number"
        ));
    };
    if value == 0 {
        return Some("a rate of 0 never runs: use 1 or more".into());
    }
    let singular = match *unit {
        "minute" | "minutes" => "minute",
        "hour" | "hours" => "hour",
        "day" | "days" => "day",
        other => {
            return Some(format!(
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
    (*unit != expected).then(|| {
        format!("AWS needs `rate({value} {expected})`: the unit is singular for 1 and plural above")
    })
}

fn at_problem(inner: &str) -> Option<String> {
    let well_formed = inner.len() == 19
        && inner.as_bytes()[10] == b'T'
        && inner.parse::<jiff::civil::DateTime>().is_ok();
    (!well_formed).then(|| {
        format!("`at({inner})` needs a date and time as yyyy-mm-ddThh:mm:ss, e.g. `at(2026-12-01T09:00:00)`")
    })
}

/// One field of a cron expression and what it allows.
struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    /// Names standing for `min`, `min + 1`, ...
    names: &'static [&'static str],
    /// `?`, `L`, `W`, `#` allowed here.
    question: bool,
    last: bool,
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
        question: true,
        last: true,
        weekday: true,
        ..Field::plain("day-of-month", 1, 31, &[])
    },
    Field::plain("month", 1, 12, MONTHS),
    Field {
        question: true,
        last: true,
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
            question: false,
            last: false,
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

    fn item(&self, item: &str) -> Result<(), String> {
        if self.last && item == "L" {
            return Ok(());
        }
        if self.weekday && item == "LW" {
            return Ok(());
        }
        if self.weekday
            && let Some(day) = item.strip_suffix('W')
        {
            return self.value(day).map(drop);
        }
        if self.nth && self.last {
            if let Some(day) = item.strip_suffix('L') {
                return self.value(day).map(drop);
            }
        }
        if self.nth
            && let Some((day, nth)) = item.split_once('#')
        {
            self.value(day)?;
            return match nth.parse::<u32>() {
                Ok(1..=5) => Ok(()),
                _ => Err(format!(
                    "`#{nth}` must be 1 to 5 (the nth weekday of the month)"
                )),
            };
        }
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => (range, Some(step)),
            None => (item, None),
        };
        if let Some(step) = step
            && !matches!(step.parse::<u32>(), Ok(1..))
        {
            return Err(format!(
                "`/{step}` in the {} field is not a step of 1 or more",
                self.name
            ));
        }
        if range == "*" {
            return Ok(());
        }
        match range.split_once('-') {
            Some((from, to)) => {
                self.value(from)?;
                self.value(to)?;
                Ok(())
            }
            None => self.value(range).map(drop),
        }
    }

    fn check(&self, text: &str) -> Result<(), String> {
        if text == "?" {
            return if self.question {
                Ok(())
            } else {
                Err(format!(
                    "`?` is only allowed in the day-of-month and day-of-week fields, not {}",
                    self.name
                ))
            };
        }
        text.split(',').try_for_each(|item| self.item(item))
    }
}

fn cron_problem(inner: &str) -> Option<String> {
    let fields: Vec<&str> = inner.split_whitespace().collect();
    if fields.len() != 6 {
        let hint = if fields.len() == 5 {
            " (AWS's cron has a sixth field, the year: add ` *`; and `?` in the day-of-month or day-of-week field)"
        } else {
            ""
        };
        return Some(format!(
            "`cron({inner})` has {} fields; AWS's cron has 6: minutes hours day-of-month month day-of-week year{hint}",
            fields.len()
        ));
    }
    for (field, text) in FIELDS.iter().zip(&fields) {
        if let Err(problem) = field.check(text) {
            return Some(problem);
        }
    }
    // Exactly one of the two day fields is `?`.
    match (fields[2] == "?", fields[4] == "?") {
        (true, false) | (false, true) => None,
        (true, true) => Some("`?` in both day fields: give one of them a value or `*`".into()),
        (false, false) => Some(format!(
            "AWS needs `?` in the day-of-month or the day-of-week field, e.g. `cron({} {} {} {} ? {})`",
            fields[0], fields[1], fields[2], fields[3], fields[5]
        )),
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
