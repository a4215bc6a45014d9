//! Opening hours: when a carrier may enter a property, in the property's own
//! time zone (so "08:00-20:00" stays right across daylight-saving changes).

use serde::{Deserialize, Serialize};

use crate::UnixSeconds;

/// One weekly slot: on each of `days`, from `start` (inclusive) to `end`
/// (exclusive), both "HH:MM" local time. `end` may be "24:00", so
/// "00:00"-"24:00" is all day. An `end` before `start` spans midnight: the
/// slot starts on each of `days` and ends on the next day ("22:00"-"06:00"
/// on fri is Friday 22:00 to Saturday 06:00).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WeeklyHours {
    /// ISO weekday names, lower case: "mon" .. "sun".
    pub days: Vec<String>,
    pub start: String,
    pub end: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HoursError {
    #[error("unknown weekday {0:?}: use mon, tue, wed, thu, fri, sat or sun")]
    UnknownDay(String),
    #[error("bad time {0:?}: use HH:MM between 00:00 and 24:00")]
    BadTime(String),
    #[error("empty slot: start {start} equals end {end} (all day is 00:00-24:00)")]
    EmptySlot { start: String, end: String },
    #[error("a slot needs at least one day")]
    NoDays,
    #[error("unknown time zone {0:?}: use an IANA name such as America/New_York")]
    UnknownTimeZone(String),
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn parse_minute(text: &str) -> Result<u16, HoursError> {
    let bad = || HoursError::BadTime(text.to_string());
    let (h, m) = text.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let h: u16 = h.parse().map_err(|_| bad())?;
    let m: u16 = m.parse().map_err(|_| bad())?;
    if m > 59 || h > 24 || (h == 24 && m != 0) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

impl WeeklyHours {
    /// Checks the slot; the only way outside input becomes hours.
    pub fn validate(&self) -> Result<(), HoursError> {
        if self.days.is_empty() {
            return Err(HoursError::NoDays);
        }
        for d in &self.days {
            if !DAYS.contains(&d.as_str()) {
                return Err(HoursError::UnknownDay(d.clone()));
            }
        }
        let (s, e) = (parse_minute(&self.start)?, parse_minute(&self.end)?);
        if s == e {
            return Err(HoursError::EmptySlot { start: self.start.clone(), end: self.end.clone() });
        }
        Ok(())
    }

    /// Does the slot cover `minute` of `weekday` (an index into DAYS)?
    fn covers(&self, weekday: usize, minute: u16) -> bool {
        let (Ok(s), Ok(e)) = (parse_minute(&self.start), parse_minute(&self.end)) else {
            return false;
        };
        let on = |day: usize| DAYS.get(day).is_some_and(|name| self.days.iter().any(|d| d == name));
        if s < e {
            return on(weekday) && s <= minute && minute < e;
        }
        // Spans midnight: the evening of a listed day, or the morning after one.
        (on(weekday) && minute >= s) || (on((weekday + 6) % 7) && minute < e)
    }

    /// "00:00"-"24:00": the whole of each listed day.
    pub fn is_all_day(&self) -> bool {
        self.start == "00:00" && self.end == "24:00"
    }
}

/// Checks that `tz` names a time zone this build knows.
pub fn validate_time_zone(tz: &str) -> Result<(), HoursError> {
    jiff::tz::TimeZone::get(tz).map(|_| ()).map_err(|_| HoursError::UnknownTimeZone(tz.to_string()))
}

/// Is `at` inside any of `slots`, read in time zone `tz`? An unknown zone or
/// an out-of-range instant is never inside (fail closed).
pub fn within_hours(slots: &[WeeklyHours], tz: &str, at: UnixSeconds) -> bool {
    let Ok(zone) = jiff::tz::TimeZone::get(tz) else {
        return false;
    };
    let Ok(ts) = jiff::Timestamp::from_second(at) else {
        return false;
    };
    let local = ts.to_zoned(zone);
    // 0 for Monday .. 6 for Sunday, as in DAYS.
    let weekday = local.weekday().to_monday_zero_offset() as usize;
    let minute = (local.hour() as u16) * 60 + local.minute() as u16;
    slots.iter().any(|s| s.covers(weekday, minute))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(days: &[&str], start: &str, end: &str) -> WeeklyHours {
        WeeklyHours { days: days.iter().map(|d| d.to_string()).collect(), start: start.into(), end: end.into() }
    }

    #[test]
    fn new_york_hours_follow_local_time_across_dst() {
        let weekdays = [slot(&["mon", "tue", "wed", "thu", "fri"], "08:00", "20:00")];
        // 2026-03-09 (Mon, after DST start) 12:30 UTC = 08:30 EDT: inside.
        assert!(within_hours(&weekdays, "America/New_York", 1_773_059_400));
        // 2026-03-06 (Fri, before DST) 12:30 UTC = 07:30 EST: outside.
        assert!(!within_hours(&weekdays, "America/New_York", 1_772_800_200));
        // Saturday noon: outside.
        assert!(!within_hours(&weekdays, "America/New_York", 1_773_000_000 + 6 * 3600));
    }

    #[test]
    fn validation_names_the_problem() {
        assert_eq!(slot(&["mon"], "8:00", "20:00").validate(), Err(HoursError::BadTime("8:00".into())));
        assert_eq!(slot(&["monday"], "08:00", "20:00").validate(), Err(HoursError::UnknownDay("monday".into())));
        assert!(matches!(slot(&["mon"], "08:00", "08:00").validate(), Err(HoursError::EmptySlot { .. })));
        assert!(slot(&["mon"], "20:00", "08:00").validate().is_ok());
        assert_eq!(slot(&[], "08:00", "20:00").validate(), Err(HoursError::NoDays));
        assert!(slot(&["sun"], "00:00", "24:00").validate().is_ok());
        assert!(validate_time_zone("Mars/Olympus").is_err());
        assert!(validate_time_zone("America/New_York").is_ok());
    }

    #[test]
    fn a_slot_past_midnight_ends_the_next_morning() {
        let nights = [slot(&["fri"], "22:00", "06:00")];
        // 2026-03-06 is a Friday; New York is UTC-5 then.
        let fri = |h: i64, m: i64| 1_772_773_200 + h * 3600 + m * 60; // Fri 00:00 EST
        assert!(!within_hours(&nights, "America/New_York", fri(21, 59)));
        assert!(within_hours(&nights, "America/New_York", fri(22, 0)));
        assert!(within_hours(&nights, "America/New_York", fri(23, 59)));
        assert!(within_hours(&nights, "America/New_York", fri(24 + 5, 59)), "Saturday morning");
        assert!(!within_hours(&nights, "America/New_York", fri(24 + 6, 0)));
        // Friday early morning belongs to Thursday night, which is not listed.
        assert!(!within_hours(&nights, "America/New_York", fri(2, 0)));
        // Sunday night runs into Monday morning (DST began that Sunday: an hour less).
        let sun = [slot(&["sun"], "23:00", "01:00")];
        assert!(within_hours(&sun, "America/New_York", fri(3 * 24 - 1, 30)), "Monday 00:30 EDT");
        assert!(!within_hours(&sun, "America/New_York", fri(3 * 24, 30)), "Monday 01:30 EDT");
    }

    #[test]
    fn all_day_is_the_whole_day() {
        let all = slot(&["sat"], "00:00", "24:00");
        assert!(all.is_all_day());
        let sat = 1_772_773_200 + 24 * 3600; // Sat 00:00 EST
        assert!(within_hours(std::slice::from_ref(&all), "America/New_York", sat));
        assert!(within_hours(std::slice::from_ref(&all), "America/New_York", sat + 24 * 3600 - 1));
        assert!(!within_hours(std::slice::from_ref(&all), "America/New_York", sat + 24 * 3600));
    }

    #[test]
    fn unknown_zone_fails_closed() {
        assert!(!within_hours(&[slot(&["mon"], "00:00", "24:00")], "Nowhere/Void", 0));
    }
}
