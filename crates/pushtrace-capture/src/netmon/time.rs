//! Clock conversions for Network Monitor files (formats.md §3.2 and §3.4).
//!
//! * The file header holds a Windows `SYSTEMTIME`: eight little-endian u16 fields (year,
//!   month, day of week, day, hour, minute, second, millisecond) in the capturing host's
//!   local time, with no zone. It is converted here with a proleptic Gregorian
//!   days-from-civil computation, so the result does not depend on this host's zone.
//! * Version 2.3 frame trailers hold a `FILETIME`: 100 ns units since 1601-01-01 UTC.
//!
//! All results are nanoseconds since the Unix epoch in an `i64`, which covers the years
//! 1677 to 2262; anything outside that range is reported as `None`.

/// Milliseconds per day.
const MS_PER_DAY: i64 = 86_400_000;
/// FILETIME value of 1970-01-01 00:00:00 UTC (100 ns units since 1601-01-01).
const FILETIME_UNIX_EPOCH: i128 = 116_444_736_000_000_000;

/// A Windows `SYSTEMTIME`, field for field as stored in the file header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SystemTime {
    /// Year, 1601..=30827 when valid.
    pub year: u16,
    /// Month, 1 = January.
    pub month: u16,
    /// Day of week, 0 = Sunday (ignored when reading, as Wireshark does).
    pub day_of_week: u16,
    /// Day of the month, from 1.
    pub day: u16,
    /// Hour, 0..=23.
    pub hour: u16,
    /// Minute, 0..=59.
    pub minute: u16,
    /// Second, 0..=59.
    pub second: u16,
    /// Millisecond, 0..=999.
    pub millisecond: u16,
}

impl SystemTime {
    /// Size of the structure in the file.
    pub const LEN: usize = 16;

    /// Decodes the 16 little-endian bytes of a `SYSTEMTIME`.
    pub fn from_le_bytes(bytes: [u8; Self::LEN]) -> Self {
        let field = |i: usize| u16::from_le_bytes([bytes[2 * i], bytes[2 * i + 1]]);
        SystemTime {
            year: field(0),
            month: field(1),
            day_of_week: field(2),
            day: field(3),
            hour: field(4),
            minute: field(5),
            second: field(6),
            millisecond: field(7),
        }
    }

    /// Encodes the structure as stored in the file.
    pub fn to_le_bytes(self) -> [u8; Self::LEN] {
        let fields = [
            self.year,
            self.month,
            self.day_of_week,
            self.day,
            self.hour,
            self.minute,
            self.second,
            self.millisecond,
        ];
        let mut out = [0u8; Self::LEN];
        for (chunk, value) in out.chunks_exact_mut(2).zip(fields) {
            chunk.copy_from_slice(&value.to_le_bytes());
        }
        out
    }

    /// Milliseconds since the Unix epoch, reading the fields as UTC; `None` when a field is
    /// out of its range (month 13, 31 February, hour 24, ...). The day of week is not checked.
    pub fn to_unix_ms(self) -> Option<i64> {
        let valid = (1601..=30827).contains(&self.year)
            && (1..=12).contains(&self.month)
            && self.day >= 1
            && self.day <= days_in_month(i64::from(self.year), self.month)
            && self.hour < 24
            && self.minute < 60
            && self.second < 60
            && self.millisecond < 1000;
        if !valid {
            return None;
        }
        let days = days_from_civil(
            i64::from(self.year),
            i64::from(self.month),
            i64::from(self.day),
        );
        let ms_of_day = ((i64::from(self.hour) * 60 + i64::from(self.minute)) * 60
            + i64::from(self.second))
            * 1000
            + i64::from(self.millisecond);
        Some(days * MS_PER_DAY + ms_of_day)
    }

    /// The UTC calendar time of `unix_ms` milliseconds since the Unix epoch. Every `i64`
    /// nanosecond timestamp divided by 10^6 lies within SYSTEMTIME's year range.
    pub fn from_unix_ms(unix_ms: i64) -> Self {
        let days = unix_ms.div_euclid(MS_PER_DAY);
        let ms_of_day = unix_ms.rem_euclid(MS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        // 1970-01-01 was a Thursday (4).
        let day_of_week = (days + 4).rem_euclid(7);
        let narrow = |v: i64| u16::try_from(v).unwrap_or(u16::MAX);
        SystemTime {
            year: narrow(year),
            month: narrow(month),
            day_of_week: narrow(day_of_week),
            day: narrow(day),
            hour: narrow(ms_of_day / 3_600_000),
            minute: narrow(ms_of_day / 60_000 % 60),
            second: narrow(ms_of_day / 1000 % 60),
            millisecond: narrow(ms_of_day % 1000),
        }
    }
}

/// Nanoseconds since the Unix epoch of a FILETIME, or `None` outside the `i64` range.
pub(crate) fn filetime_to_unix_ns(filetime: u64) -> Option<i64> {
    let ns = (i128::from(filetime) - FILETIME_UNIX_EPOCH) * 100;
    i64::try_from(ns).ok()
}

/// The FILETIME of a Unix nanosecond timestamp, truncated to 100 ns (toward the past).
/// Every `i64` timestamp is after 1601, so the result is never negative.
pub(crate) fn unix_ns_to_filetime(unix_ns: i64) -> u64 {
    let ticks = i128::from(unix_ns.div_euclid(100)) + FILETIME_UNIX_EPOCH;
    u64::try_from(ticks).unwrap_or(0)
}

fn is_leap_year(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: u16) -> u16 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (month 1..=12, day 1..=31).
///
/// Counts in 400-year eras of 146 097 days, with years starting on 1 March so that the
/// leap day is the last day of its year.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let march_year = if month <= 2 { year - 1 } else { year };
    let era = march_year.div_euclid(400);
    let year_of_era = march_year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    // 719 468 days separate 0000-03-01 from 1970-01-01.
    era * 146_097 + day_of_era - 719_468
}

/// `(year, month, day)` of a day count since 1970-01-01; the inverse of `days_from_civil`.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn st(
        year: u16,
        month: u16,
        day: u16,
        hour: u16,
        minute: u16,
        second: u16,
        ms: u16,
    ) -> SystemTime {
        SystemTime {
            year,
            month,
            day_of_week: 0,
            day,
            hour,
            minute,
            second,
            millisecond: ms,
        }
    }

    #[test]
    fn known_dates_convert_to_unix_time() {
        assert_eq!(st(1970, 1, 1, 0, 0, 0, 0).to_unix_ms(), Some(0));
        // 2023-11-14 22:13:20.123 UTC = 1 700 000 000.123 s
        assert_eq!(
            st(2023, 11, 14, 22, 13, 20, 123).to_unix_ms(),
            Some(1_700_000_000_123)
        );
        // Leap day of a year divisible by 400, and the day after.
        assert_eq!(
            st(2000, 2, 29, 0, 0, 0, 0).to_unix_ms(),
            Some(951_782_400_000)
        );
        assert_eq!(
            st(2000, 3, 1, 0, 0, 0, 0).to_unix_ms(),
            Some(951_868_800_000)
        );
        // Before the epoch: 1601-01-01 is 11 644 473 600 s earlier.
        assert_eq!(
            st(1601, 1, 1, 0, 0, 0, 0).to_unix_ms(),
            Some(-11_644_473_600_000)
        );
    }

    #[test]
    fn out_of_range_fields_are_rejected() {
        assert_eq!(
            st(0, 0, 0, 0, 0, 0, 0).to_unix_ms(),
            None,
            "all-zero SYSTEMTIME"
        );
        assert_eq!(st(2023, 13, 1, 0, 0, 0, 0).to_unix_ms(), None, "month 13");
        assert_eq!(
            st(2023, 2, 29, 0, 0, 0, 0).to_unix_ms(),
            None,
            "29 Feb in a common year"
        );
        assert_eq!(
            st(1900, 2, 29, 0, 0, 0, 0).to_unix_ms(),
            None,
            "1900 is not a leap year"
        );
        assert_eq!(st(2023, 4, 31, 0, 0, 0, 0).to_unix_ms(), None, "31 April");
        assert_eq!(st(2023, 1, 1, 24, 0, 0, 0).to_unix_ms(), None, "hour 24");
        assert_eq!(st(2023, 1, 1, 0, 60, 0, 0).to_unix_ms(), None, "minute 60");
        assert_eq!(
            st(2023, 1, 1, 0, 0, 60, 0).to_unix_ms(),
            None,
            "leap second"
        );
        assert_eq!(st(2023, 1, 1, 0, 0, 0, 1000).to_unix_ms(), None, "ms 1000");
        assert_eq!(
            st(1600, 12, 31, 0, 0, 0, 0).to_unix_ms(),
            None,
            "before 1601"
        );
    }

    #[test]
    fn bytes_are_eight_little_endian_fields() {
        // year 2023 (E7 07), month 11, dow 2 (Tuesday), day 14, 22:13:20.123
        let bytes = [
            0xE7, 0x07, 0x0B, 0x00, 0x02, 0x00, 0x0E, 0x00, 0x16, 0x00, 0x0D, 0x00, 0x14, 0x00,
            0x7B, 0x00,
        ];
        let time = SystemTime::from_le_bytes(bytes);
        assert_eq!(
            time,
            SystemTime {
                day_of_week: 2,
                ..st(2023, 11, 14, 22, 13, 20, 123)
            }
        );
        assert_eq!(time.to_le_bytes(), bytes);
        assert_eq!(
            SystemTime::from_unix_ms(1_700_000_000_123),
            time,
            "weekday computed too"
        );
    }

    #[test]
    fn filetime_conversions() {
        assert_eq!(filetime_to_unix_ns(116_444_736_000_000_000), Some(0));
        assert_eq!(filetime_to_unix_ns(116_444_736_000_000_001), Some(100));
        assert_eq!(
            filetime_to_unix_ns(0),
            None,
            "1601 is before i64 nanoseconds reach"
        );
        assert_eq!(filetime_to_unix_ns(u64::MAX), None);
        assert_eq!(unix_ns_to_filetime(0), 116_444_736_000_000_000);
        assert_eq!(
            unix_ns_to_filetime(-1),
            116_444_735_999_999_999,
            "floors toward the past"
        );
        assert_eq!(unix_ns_to_filetime(i64::MIN), 24_211_015_631_452_241);
    }

    proptest! {
        #[test]
        fn systemtime_round_trips_every_millisecond(ms in (i64::MIN / 1_000_000)..=(i64::MAX / 1_000_000)) {
            prop_assert_eq!(SystemTime::from_unix_ms(ms).to_unix_ms(), Some(ms));
        }

        #[test]
        fn filetime_round_trips_at_100ns(ns in (i64::MIN + 100)..=i64::MAX) {
            let floored = ns.div_euclid(100) * 100;
            prop_assert_eq!(filetime_to_unix_ns(unix_ns_to_filetime(ns)), Some(floored));
        }
    }
}
