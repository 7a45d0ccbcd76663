//! Report times on a line: parsing the report's ISO 8601 strings, and the axis's ticks and
//! their labels.

/// Microseconds in a second.
pub const SECOND: i64 = 1_000_000;
/// Microseconds in a day.
const DAY: i64 = 86_400 * SECOND;
/// Most intervals an axis is divided into.
const MAX_TICKS: i64 = 10;

/// Microseconds since the Unix epoch of a report time, `YYYY-MM-DDTHH:MM:SS[.fraction]Z`
/// (what `pushtrace_core::report::format_time` writes); `None` for anything else.
pub fn parse_micros(s: &str) -> Option<i64> {
    let (date, clock) = s.strip_suffix('Z')?.split_once('T')?;
    let [year, month, day] = fields(date, '-')?;
    let (hms, fraction) = clock.split_once('.').unwrap_or((clock, ""));
    let [hour, minute, second] = fields(hms, ':')?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    if fraction.len() > 9 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // The first six digits are the microseconds (right-padded: ".5" is 500,000 µs).
    let micros = format!("{fraction:0<6}")[..6].parse::<i64>().ok()?;
    let secs = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
    Some(secs * SECOND + micros)
}

/// The three unsigned decimal numbers of `a<sep>b<sep>c`.
fn fields(s: &str, sep: char) -> Option<[i64; 3]> {
    let mut parts = s.split(sep).map(|p| {
        (!p.is_empty() && p.len() <= 4 && p.bytes().all(|b| b.is_ascii_digit()))
            .then(|| p.parse().ok())
            .flatten()
    });
    let out = [parts.next()??, parts.next()??, parts.next()??];
    parts.next().is_none().then_some(out)
}

/// Days since 1970-01-01 of a Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A report time as people read it: `2025-11-03 09:00:21.977854 UTC`.
pub fn readable(iso: &str) -> String {
    match iso.strip_suffix('Z') {
        Some(t) => format!("{} UTC", t.replacen('T', " ", 1)),
        None => iso.to_string(),
    }
}

/// The spacing of an axis's ticks over `span_us` microseconds: the smallest round step
/// (1, 2, 5 × a power of ten below a second; whole seconds, minutes, hours and days above)
/// that divides the span into at most [`MAX_TICKS`] intervals.
pub fn tick_step(span_us: i64) -> i64 {
    const ABOVE_SECOND: [i64; 19] = [
        1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10_800, 21_600, 43_200,
        86_400, 172_800,
    ];
    let below_second = (0..6).flat_map(|e| [1, 2, 5].map(|m| m * 10i64.pow(e)));
    below_second
        .chain(ABOVE_SECOND.iter().map(|s| s * SECOND))
        .find(|&step| span_us / step <= MAX_TICKS)
        .unwrap_or_else(|| (span_us / MAX_TICKS / DAY + 1) * DAY)
}

/// The label of the tick `offset_us` after the axis's start, for ticks `step_us` apart:
/// `+0.25 s` below a second, else `+1 min 30 s`, `+2 h`, `+3 d 4 h`.
pub fn offset_label(offset_us: i64, step_us: i64) -> String {
    if step_us < SECOND {
        // As many decimals as the step needs: 500 ms → 1, 20 ms → 2, 5 µs → 6.
        let mut decimals = 6;
        let mut step = step_us;
        while step % 10 == 0 && decimals > 0 {
            step /= 10;
            decimals -= 1;
        }
        return format!("+{:.*} s", decimals, offset_us as f64 / SECOND as f64);
    }
    let mut rest = offset_us / SECOND;
    let mut parts = Vec::new();
    for (unit, name) in [(86_400, "d"), (3600, "h"), (60, "min"), (1, "s")] {
        if rest >= unit {
            parts.push(format!("{} {name}", rest / unit));
            rest %= unit;
        }
    }
    if parts.is_empty() {
        "+0 s".into()
    } else {
        format!("+{}", parts.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pushtrace_core::report::format_time;

    #[test]
    fn parses_what_the_report_writes() {
        for ns in [
            0,
            1_764_190_800_123_456_789,
            -1_000,
            951_782_400_000_000_000,
            4_102_444_799_999_999_000,
        ] {
            assert_eq!(
                parse_micros(&format_time(ns)),
                Some(ns.div_euclid(1000)),
                "{ns}"
            );
        }
        assert_eq!(
            parse_micros("2025-11-03T09:00:00Z"),
            Some(1_762_160_400 * SECOND)
        );
        assert_eq!(
            parse_micros("2025-11-03T09:00:00.5Z"),
            Some(1_762_160_400 * SECOND + 500_000)
        );
    }

    #[test]
    fn rejects_other_text() {
        for bad in [
            "",
            "2025-11-03",
            "2025-11-03T09:00:00.000000",
            "2025-13-03T09:00:00Z",
            "2025-11-03T24:00:00Z",
            "2025-11-03T09:00:00.12345678901Z",
            "2025-11-03T09:00:+1Z",
            "2025-11-03-01T09:00:00Z",
            "2025-11-03T09:00:00.1e3Z",
            "99999-11-03T09:00:00Z",
        ] {
            assert_eq!(parse_micros(bad), None, "{bad}");
        }
    }

    #[test]
    fn ticks_are_round_and_few() {
        assert_eq!(tick_step(1), 1);
        assert_eq!(tick_step(SECOND), 100_000);
        assert_eq!(tick_step(22 * SECOND), 5 * SECOND);
        assert_eq!(tick_step(211 * SECOND), 30 * SECOND);
        assert_eq!(tick_step(365 * DAY), 37 * DAY);
        for span in [1, 7, 999, 61 * SECOND, 3 * DAY, 10_000 * DAY, i64::MAX / 2] {
            let step = tick_step(span);
            assert!(step > 0 && span / step <= MAX_TICKS, "{span}: {step}");
        }
    }

    #[test]
    fn labels_read_as_durations() {
        assert_eq!(offset_label(250_000, 50_000), "+0.25 s");
        assert_eq!(offset_label(SECOND, 500_000), "+1.0 s");
        assert_eq!(offset_label(5, 5), "+0.000005 s");
        assert_eq!(offset_label(0, 30 * SECOND), "+0 s");
        assert_eq!(offset_label(90 * SECOND, 30 * SECOND), "+1 min 30 s");
        assert_eq!(offset_label(DAY + 7200 * SECOND, DAY), "+1 d 2 h");
        assert_eq!(
            readable("2025-11-03T09:00:21.977854Z"),
            "2025-11-03 09:00:21.977854 UTC"
        );
    }
}
