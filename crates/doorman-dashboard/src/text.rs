//! Words for what the pages show: events in plain language, times in the
//! property's local time.

use doorman_domain::{EventKind, UnixSeconds};

/// `Wed 11 Mar 14:05` in `time_zone` (UTC if the zone is unknown).
pub(crate) fn local_time(at: UnixSeconds, time_zone: &str) -> String {
    let Ok(ts) = jiff::Timestamp::from_second(at) else { return at.to_string() };
    let tz = jiff::tz::TimeZone::get(time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
    ts.to_zoned(tz).strftime("%a %d %b %H:%M").to_string()
}

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

/// One line saying what happened.
pub(crate) fn describe(kind: &EventKind, time_zone: &str) -> String {
    match kind {
        EventKind::EtaUpdated { eta } => format!("On its way: expected {}", local_time(*eta, time_zone)),
        EventKind::AccessRequested { .. } => "The driver is at the door and asked to enter".into(),
        EventKind::AccessGranted { locks, expires_at, .. } => format!(
            "Access granted through {} door{}, valid until {}",
            locks.len(),
            if locks.len() == 1 { "" } else { "s" },
            local_time(*expires_at, time_zone)
        ),
        EventKind::AccessRefused { reason, .. } => format!("Access refused: {}", reason.explain()),
        EventKind::GrantRevoked { .. } => "Access revoked before use".into(),
        EventKind::DoorUnlocked { .. } => "Door unlocked".into(),
        EventKind::DoorOpened { .. } => "Door opened".into(),
        EventKind::DoorClosed { .. } => "Door closed".into(),
        EventKind::DoorAjar { .. } => "Door left ajar".into(),
        EventKind::Relocked { .. } => "Door locked again".into(),
        EventKind::LockEvent { counter, .. } => format!("Lock reported event #{counter}"),
        EventKind::Delivered { photo_ref, .. } => match photo_ref {
            Some(_) => "Delivered (with a photo)".into(),
            None => "Delivered".into(),
        },
        EventKind::ClipReady { clip_id, .. } => format!("Door camera clip ready ({clip_id})"),
        EventKind::ClipDeleted { .. } => "Door camera clip deleted".into(),
        EventKind::Blocked { until: Some(u) } => format!("Deliveries blocked until {}", local_time(*u, time_zone)),
        EventKind::Blocked { until: None } => "Deliveries blocked".into(),
        EventKind::Unblocked => "Deliveries allowed again".into(),
        EventKind::Diverted { to, .. } => format!("Diverted to {to}"),
        EventKind::ReturnScheduled { tracking_number, .. } => format!("Return {tracking_number} scheduled"),
        EventKind::ReturnCollected { .. } => "Return collected".into(),
        EventKind::TenantNoticeGiven { live_from, .. } => {
            format!("Delivery access notice: live from {}", local_time(*live_from, time_zone))
        }
        EventKind::DeliveryCancelled => "Delivery cancelled".into(),
        EventKind::ConfigurationChanged { what } => format!("Configuration changed: {what}"),
        EventKind::KeyRotated { kid } => format!("Signing key rotated ({kid})"),
        EventKind::VehicleRegistered { .. } => "Vehicle registered: its trunk can receive parcels".into(),
        EventKind::GuestPassCreated { name, valid_from, valid_until, .. } => format!(
            "Guest pass for {name}: from {} until {}",
            local_time(*valid_from, time_zone),
            local_time(*valid_until, time_zone)
        ),
        EventKind::GuestPassRevoked { .. } => "Guest pass revoked".into(),
        EventKind::PasskeyAdded { name, .. } => format!("Passkey “{name}” added"),
        EventKind::PasskeyRemoved { name, by_reinvitation: None, .. } => format!("Passkey “{name}” removed"),
        EventKind::PasskeyRemoved { name, by_reinvitation: Some(_), .. } => {
            format!("Passkey “{name}” removed by a re-invitation")
        }
        EventKind::ResidentReinvited { .. } => {
            "Resident re-invited by the manager: their passkeys no longer sign in".into()
        }
        EventKind::ReinvitationRedeemed { .. } => "Re-invitation redeemed: signed in again".into(),
    }
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
        assert_eq!(describe(&refused, "UTC"), "Access refused: the resident has blocked delivery access");
        assert_eq!(tone(&refused), "refused");
    }
}
