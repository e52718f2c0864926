//! A moment as a file gives it: Unix milliseconds plus the UTC offset of the clock that
//! wrote it, if the file named one. The civil-calendar conversions are Howard Hinnant's
//! `days_from_civil` / `civil_from_days`, which is all a photo's date needs; pulling in
//! `chrono` or `time` would cost the browser engine far more wasm than these few lines.

const MS_PER_DAY: i64 = 86_400_000;
/// The largest offset accepted: RFC 3339 has two digits of hours (real ones are
/// -12:00 to +14:00). Anything else is a broken field, and the time is taken as UTC.
const MAX_OFFSET_MINUTES: i16 = 23 * 60 + 59;

/// A valid moment within the years 0000 to 9999 (in UTC and in its own offset), so that
/// [`Timestamp::to_rfc3339`] always gives a four-digit year any RFC 3339 parser accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timestamp {
    unix_ms: i64,
    offset_minutes: Option<i16>,
}

impl Timestamp {
    /// A UTC moment, or `None` outside the years 0000 to 9999.
    pub fn from_unix_ms(unix_ms: i64) -> Option<Self> {
        Self::new(unix_ms, None)
    }

    /// A wall-clock time, at `offset_minutes` east of UTC (taken as UTC when `None`, or
    /// when the offset is out of range). `None` if no calendar has that date and time.
    #[allow(clippy::too_many_arguments)]
    pub fn from_civil(
        year: i64,
        month: u8,
        day: u8,
        hour: u8,
        minute: u8,
        second: u8,
        millisecond: u16,
        offset_minutes: Option<i16>,
    ) -> Option<Self> {
        let days_in_month = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
            2 => 28,
            _ => return None,
        };
        if day == 0 || day > days_in_month || hour > 23 || minute > 59 || second > 59 {
            return None;
        }
        if millisecond > 999 || !(0..=9999).contains(&year) {
            return None;
        }
        let offset = offset_minutes.filter(|o| o.abs() <= MAX_OFFSET_MINUTES);
        let local = days_from_civil(year, month, day) * MS_PER_DAY
            + (i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second)) * 1000
            + i64::from(millisecond);
        Self::new(local - i64::from(offset.unwrap_or(0)) * 60_000, offset)
    }

    fn new(unix_ms: i64, offset_minutes: Option<i16>) -> Option<Self> {
        let min = days_from_civil(0, 1, 1) * MS_PER_DAY;
        let max = days_from_civil(10_000, 1, 1) * MS_PER_DAY;
        let local = unix_ms.checked_add(i64::from(offset_minutes.unwrap_or(0)) * 60_000)?;
        ((min..max).contains(&unix_ms) && (min..max).contains(&local)).then_some(Self {
            unix_ms,
            offset_minutes,
        })
    }

    /// Milliseconds since 1970-01-01T00:00:00Z.
    pub fn unix_ms(self) -> i64 {
        self.unix_ms
    }

    /// The offset the file named, in minutes east of UTC.
    pub fn offset_minutes(self) -> Option<i16> {
        self.offset_minutes
    }

    /// RFC 3339 in the file's own offset, so the wall-clock time the photo was taken at is
    /// kept: `2024-05-01T14:00:00.000+02:00`, or `...Z` when the file named no offset.
    pub fn to_rfc3339(self) -> String {
        let offset = self.offset_minutes.unwrap_or(0);
        let local = self.unix_ms + i64::from(offset) * 60_000;
        let (days, ms) = (local.div_euclid(MS_PER_DAY), local.rem_euclid(MS_PER_DAY));
        let (year, month, day) = civil_from_days(days);
        let zone = match self.offset_minutes {
            None => "Z".to_string(),
            Some(o) => format!(
                "{}{:02}:{:02}",
                if o < 0 { '-' } else { '+' },
                o.abs() / 60,
                o.abs() % 60
            ),
        };
        format!(
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}{zone}",
            ms / 3_600_000,
            ms / 60_000 % 60,
            ms / 1000 % 60,
            ms % 1000
        )
    }
}

/// Days from 1970-01-01 to the given date of the proleptic Gregorian calendar.
fn days_from_civil(year: i64, month: u8, day: u8) -> i64 {
    let (m, d) = (i64::from(month), i64::from(day));
    let y = if m <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date `days` after 1970-01-01: (year, month, day).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_files_offset_and_knows_utc() {
        let t = Timestamp::from_civil(2024, 5, 1, 14, 0, 0, 250, Some(120)).unwrap();
        assert_eq!(t.unix_ms(), 1_714_564_800_250);
        assert_eq!(t.to_rfc3339(), "2024-05-01T14:00:00.250+02:00");
        let t = Timestamp::from_civil(2024, 1, 1, 0, 30, 0, 0, Some(-(5 * 60 + 30))).unwrap();
        assert_eq!(t.to_rfc3339(), "2024-01-01T00:30:00.000-05:30");
        assert_eq!(
            Timestamp::from_unix_ms(t.unix_ms()).unwrap().to_rfc3339(),
            "2024-01-01T06:00:00.000Z"
        );
        assert_eq!(
            Timestamp::from_unix_ms(0).unwrap().to_rfc3339(),
            "1970-01-01T00:00:00.000Z"
        );
        assert_eq!(
            Timestamp::from_unix_ms(-1).unwrap().to_rfc3339(),
            "1969-12-31T23:59:59.999Z"
        );
    }

    #[test]
    fn refuses_dates_no_calendar_has() {
        let civil = |y, mo, d, h, mi, s| Timestamp::from_civil(y, mo, d, h, mi, s, 0, None);
        assert!(civil(2024, 2, 29, 0, 0, 0).is_some());
        assert!(civil(2023, 2, 29, 0, 0, 0).is_none());
        assert!(civil(1900, 2, 29, 0, 0, 0).is_none());
        assert!(civil(2000, 2, 29, 0, 0, 0).is_some());
        assert!(civil(2024, 0, 1, 0, 0, 0).is_none());
        assert!(civil(2024, 13, 1, 0, 0, 0).is_none());
        assert!(civil(2024, 4, 31, 0, 0, 0).is_none());
        assert!(civil(2024, 4, 30, 24, 0, 0).is_none());
        assert!(civil(2024, 4, 30, 23, 59, 60).is_none());
        assert!(civil(0, 0, 0, 0, 0, 0).is_none(), "EXIF's 'unset' date");
        // In range locally, out of range in UTC (and the other way round).
        assert!(Timestamp::from_civil(0, 1, 1, 0, 0, 0, 0, Some(60)).is_none());
        assert!(Timestamp::from_civil(9999, 12, 31, 23, 0, 0, 0, Some(-60)).is_none());
        assert!(Timestamp::from_unix_ms(i64::MAX).is_none());
        assert!(Timestamp::from_unix_ms(253_402_300_800_000).is_none());
        assert!(Timestamp::from_unix_ms(253_402_300_799_999).is_some());
    }

    #[test]
    fn an_offset_no_clock_has_is_dropped_not_the_date() {
        let t = Timestamp::from_civil(2024, 5, 1, 12, 0, 0, 0, Some(99 * 60 + 99)).unwrap();
        assert_eq!(t.to_rfc3339(), "2024-05-01T12:00:00.000Z");
        assert_eq!(t.offset_minutes(), None);
    }

    #[test]
    fn the_calendar_round_trips_every_day_of_four_centuries() {
        for days in days_from_civil(1800, 1, 1)..days_from_civil(2200, 1, 1) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m as u8, d as u8), days);
        }
    }
}
