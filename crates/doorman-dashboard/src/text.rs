//! Words for what the pages show: events in plain language (named by
//! `doorman_server::naming`), times in the property's local time.

use doorman_domain::{Event, EventKind, UnixSeconds};
use doorman_server::naming::EventNames;

/// `Wed 11 Mar 14:05` in `time_zone`: the one way the server's read
/// models, messages and these pages write a time.
pub(crate) use doorman_server::naming::local_time;

/// `2026-03-11T14:05` in `time_zone`: a `datetime-local` input's value.
pub(crate) fn local_input(at: UnixSeconds, time_zone: &str) -> String {
    let Ok(ts) = jiff::Timestamp::from_second(at) else { return String::new() };
    let tz = jiff::tz::TimeZone::get(time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
    ts.to_zoned(tz).strftime("%Y-%m-%dT%H:%M").to_string()
}

/// A date (`YYYY-MM-DD`) and time (`HH:MM`) typed as local time in
/// `time_zone`, as Unix seconds; a message naming what is wrong otherwise.
pub(crate) fn parse_local(date: &str, time: &str, time_zone: &str) -> Result<UnixSeconds, String> {
    let date: jiff::civil::Date =
        date.trim().parse().map_err(|_| format!("date: {date:?} is not a date like 2026-03-11"))?;
    let time: jiff::civil::Time =
        time.trim().parse().map_err(|_| format!("time: {time:?} is not a time like 14:30"))?;
    let tz = jiff::tz::TimeZone::get(time_zone).map_err(|_| format!("unknown time zone {time_zone:?}"))?;
    let zoned = date.to_datetime(time).to_zoned(tz).map_err(|e| format!("{date} {time}: {e}"))?;
    Ok(zoned.timestamp().as_second())
}

/// The kind of step, for styling and for tests: `ok`, `refused`, `door`, `info`.
pub(crate) fn tone(kind: &EventKind) -> &'static str {
    match kind {
        EventKind::AccessGranted { .. } | EventKind::Delivered { .. } | EventKind::Unblocked => "ok",
        EventKind::AccessRefused { .. }
        | EventKind::GrantRevoked { .. }
        | EventKind::Blocked { .. }
        | EventKind::DoorAjar { .. }
        | EventKind::DeliveryCancelled => "refused",
        k if k.is_door_event() => "door",
        _ => "info",
    }
}

/// One line saying what happened, with the names the reader may see
/// (the naming read model's sentence, shared with messages to people).
pub(crate) fn describe(event: &Event, names: &EventNames, time_zone: &str) -> String {
    doorman_server::naming::sentence(event, names, time_zone)
}

#[cfg(test)]
mod tests {
    use doorman_domain::{AccessRequestId, RefusalReason};

    use super::*;

    #[test]
    fn times_are_local_and_refusals_say_why() {
        // 2026-03-11 18:00 UTC is 14:00 in New York (daylight time).
        assert_eq!(local_time(1_773_252_000, "America/New_York"), "Wed 11 Mar 14:00");
        assert_eq!(local_time(1_773_252_000, "Nowhere/Else"), "Wed 11 Mar 18:00");
        let refused =
            EventKind::AccessRefused { request_id: AccessRequestId::random(), reason: RefusalReason::ResidentBlocked };
        assert_eq!(tone(&refused), "refused");
    }
}
