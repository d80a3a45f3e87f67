//! Dates as scanners and spreadsheets write them. A date that cannot be read is reported by
//! the caller (a warning or a bad row), never replaced silently by today.

use chrono::{DateTime, NaiveDate, NaiveDateTime};

/// Date-time layouts seen in scanner exports, tried in order:
/// Nessus host times (`Mon Mar  2 10:00:00 2026`), ISO 8601 without an offset (Tenable web
/// application scans also write it with one, handled by RFC 3339 parsing first), and the
/// space- or slash-separated forms other exports use.
const DATE_TIMES: &[&str] = &[
    "%a %b %e %H:%M:%S %Y",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y/%m/%d %H:%M:%S",
    "%Y-%m-%dT%H:%M",
];

/// Date layouts, year first (day-first and month-first forms are ambiguous and refused).
const DATES: &[&str] = &["%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y%m%d"];

/// Reads a date or date-time in any of the layouts scanners write, or a Unix time in
/// seconds (Nessus `HOST_START_TIMESTAMP`, Nmap `starttime`); `None` when it is none of them.
/// A date-time with an offset is taken in UTC.
pub fn parse(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if s.bytes().all(|b| b.is_ascii_digit()) && s.len() >= 9 {
        return s
            .parse::<i64>()
            .ok()
            .and_then(|t| DateTime::from_timestamp(t, 0))
            .map(|d| d.date_naive());
    }
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.naive_utc().date());
    }
    // ISO 8601 with a `+0000` offset (no colon), as some exports write it.
    if let Ok(d) = DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z") {
        return Some(d.naive_utc().date());
    }
    for f in DATE_TIMES {
        if let Ok(d) = NaiveDateTime::parse_from_str(s, f) {
            return Some(d.date());
        }
    }
    DATES
        .iter()
        .find_map(|f| NaiveDate::parse_from_str(s, f).ok())
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn reads_what_scanners_write() {
        let d = |s| parse(s).map(|d| d.to_string());
        let want = Some("2021-03-12".to_owned());
        for s in [
            "Fri Mar 12 12:34:30 2021",
            "2021-03-12T12:34:30.12031+00:00",
            "2021-03-12T12:34:30Z",
            "2021-03-12T12:34:30+0000",
            "2021-03-12T12:34:30",
            "2021-03-12 12:34:30",
            "2021/03/12 12:34:30",
            "2021-03-12",
            "2021/3/12",
            "1615552470",
        ] {
            assert_eq!(d(s), want, "{s}");
        }
        for s in ["", "yesterday", "12/03/2021", "03/12/2021", "42"] {
            assert_eq!(d(s), None, "{s}");
        }
    }
}
