//! What the management commands print: aligned tables for people, the API's
//! own JSON (`--json`) for scripts, and times in a property's time zone.

use serde::Serialize;

/// Rows under headers, printed with aligned columns.
#[derive(Debug, Default)]
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&str]) -> Self {
        Self { headers: headers.iter().map(|h| h.to_string()).collect(), rows: Vec::new() }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let columns = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate().take(columns) {
                if let Some(w) = widths.get_mut(i) {
                    *w = (*w).max(cell.chars().count());
                }
            }
        }
        let line = |cells: &[String]| {
            let mut text = String::new();
            for (i, cell) in cells.iter().enumerate().take(columns) {
                let last = i + 1 == columns;
                text.push_str(cell);
                if !last {
                    let pad = widths.get(i).copied().unwrap_or(0).saturating_sub(cell.chars().count());
                    text.push_str(&" ".repeat(pad + 2));
                }
            }
            text.trim_end().to_string()
        };
        let mut out = line(&self.headers);
        out.push('\n');
        for row in &self.rows {
            out.push_str(&line(row));
            out.push('\n');
        }
        out
    }
}

/// Prints `value` as the API's JSON with `--json`, otherwise the table `table` makes.
pub fn emit<T: Serialize>(json: bool, value: &T, table: impl FnOnce() -> Table) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(value)?);
    } else {
        print!("{}", table().render());
    }
    Ok(())
}

/// Prints one changed or created thing: its JSON with `--json`, else `line`.
pub fn done<T: Serialize>(json: bool, value: &T, line: impl FnOnce() -> String) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(value)?);
    } else {
        println!("{}", line());
    }
    Ok(())
}

/// Unix seconds as local time in `tz` ("2026-03-11 14:00 EDT"); UTC when the
/// zone is unknown.
pub fn local_time(at: i64, tz: &str) -> String {
    let Ok(ts) = jiff::Timestamp::from_second(at) else {
        return at.to_string();
    };
    let zone = jiff::tz::TimeZone::get(tz).unwrap_or(jiff::tz::TimeZone::UTC);
    ts.to_zoned(zone).strftime("%Y-%m-%d %H:%M %Z").to_string()
}

pub fn or_dash(v: Option<String>) -> String {
    v.unwrap_or_else(|| "-".into())
}

/// Parses a time given on the command line: `now`, `now+2h`/`+90m`/`-1d`,
/// unix seconds, RFC 3339, or `YYYY-MM-DD HH:MM` (or with a `T`) read in `tz`.
pub fn parse_time(text: &str, now: i64, tz: &str) -> anyhow::Result<i64> {
    let t = text.trim();
    let bad = || {
        anyhow::anyhow!("cannot read the time {t:?}: use now, +2h, -30m, unix seconds, 2026-03-11T14:00 or RFC 3339")
    };
    if t == "now" {
        return Ok(now);
    }
    let relative = t.strip_prefix("now").unwrap_or(t);
    if let Some(sign) = relative.chars().next().filter(|c| *c == '+' || *c == '-') {
        let body = relative.get(1..).ok_or_else(bad)?;
        let (digits, unit) = body.split_at(body.find(|c: char| !c.is_ascii_digit()).unwrap_or(body.len()));
        let n: i64 = digits.parse().map_err(|_| bad())?;
        let scale = match unit {
            "s" | "" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => return Err(bad()),
        };
        let delta = n.checked_mul(scale).ok_or_else(bad)?;
        return Ok(if sign == '+' { now + delta } else { now - delta });
    }
    if let Ok(n) = t.parse::<i64>() {
        return Ok(n);
    }
    if let Ok(ts) = t.parse::<jiff::Timestamp>() {
        return Ok(ts.as_second());
    }
    let civil: jiff::civil::DateTime = t.replacen(' ', "T", 1).parse().map_err(|_| bad())?;
    let zone = jiff::tz::TimeZone::get(tz).map_err(|_| anyhow::anyhow!("unknown time zone {tz:?}"))?;
    Ok(civil.to_zoned(zone).map_err(|_| bad())?.timestamp().as_second())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_their_columns() {
        let mut t = Table::new(&["NAME", "KIND"]);
        t.row(vec!["Street door".into(), "entrance".into()]);
        t.row(vec!["Lobby".into(), "lobby".into()]);
        assert_eq!(t.render(), "NAME         KIND\nStreet door  entrance\nLobby        lobby\n");
    }

    #[test]
    fn times_read_and_print_in_the_property_zone() {
        let now = 1_773_252_000; // 2026-03-11 18:00 UTC
        assert_eq!(local_time(now, "America/New_York"), "2026-03-11 14:00 EDT");
        assert_eq!(parse_time("now", now, "UTC").unwrap(), now);
        assert_eq!(parse_time("+2h", now, "UTC").unwrap(), now + 7200);
        assert_eq!(parse_time("now-30m", now, "UTC").unwrap(), now - 1800);
        assert_eq!(parse_time("2026-03-11 14:00", now, "America/New_York").unwrap(), now);
        assert_eq!(parse_time("2026-03-11T18:00:00Z", now, "America/New_York").unwrap(), now);
        assert_eq!(parse_time("1773252000", now, "UTC").unwrap(), now);
        assert!(parse_time("tomorrow", now, "UTC").is_err());
        assert!(parse_time("+2w", now, "UTC").is_err());
    }
}
