//! `doorman lock health`: the service's view of a property's locks as a
//! table a manager reads (door names, times in the property's time zone,
//! and why a flag is up), or the API's JSON with `--json`.

use doorman_api::{AccessPoint, LockHealthView, Property};

/// Why the lock's clock counts as stale, in words; None while it is fine.
/// A fresh lock has not been heard from, or has not yet been sent a signed
/// time statement (it cannot know its drift before one), which are not
/// the same as a lost clock or one that drifts.
pub fn clock_reason(h: &LockHealthView) -> Option<String> {
    if !h.clock_stale {
        return None;
    }
    Some(if h.clock_lost {
        "the lock says its clock is lost (no trustworthy time since a power loss or reset)".into()
    } else if let Some(d) = h.clock_drift_secs {
        format!("it drifts {d} s from the service's clock (more than allowed)")
    } else if h.reported_at.is_none() {
        "never reported: no health report from the lock yet, so its clock is unknown".into()
    } else {
        "never reported a time statement: the lock has not yet had a signed time from the service, so its drift is unknown"
            .into()
    })
}

/// `Mon 07 Dec 09:04 EST` in `time_zone` (UTC if the zone is unknown).
pub fn local_time(at: i64, time_zone: &str) -> String {
    let Ok(ts) = jiff::Timestamp::from_second(at) else { return at.to_string() };
    let tz = jiff::tz::TimeZone::get(time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
    ts.to_zoned(tz).strftime("%a %d %b %H:%M %Z").to_string()
}

/// The table: one row per lock, then what a flag means, indented under it.
pub fn render(property: &Property, doors: &[AccessPoint], rows: &[LockHealthView]) -> String {
    let mut out = format!("locks of {} (times in {})\n", property.name, property.time_zone);
    if rows.is_empty() {
        out.push_str("no locks at this property\n");
        return out;
    }
    let dash = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    let header = ["DOOR", "LOCK", "LAST CONTACT", "BATTERY", "CLOCK", "REVOCATION", "CAMERA", "EVENTS", "STATUS"];
    let mut table: Vec<[String; 9]> = vec![header.map(String::from)];
    let mut notes: Vec<Vec<String>> = vec![Vec::new()];
    for h in rows {
        let door = doors
            .iter()
            .find(|d| d.id == h.access_point_id)
            .map_or_else(|| "(unknown door)".into(), |d| d.name.clone());
        let mut flags = Vec::new();
        let mut lines = Vec::new();
        if h.revocation_stale {
            flags.push("REVOCATION STALE");
        }
        if let Some(why) = clock_reason(h) {
            flags.push("CLOCK STALE");
            lines.push(format!("clock: {why}"));
        }
        if h.camera_stale {
            flags.push("CAMERA STALE");
        }
        if let Some(g) = h.gap {
            flags.push("EVENTS MISSING");
            lines.push(format!("gap: expected event {} but got {}", g.expected, g.found));
        }
        if let Some(p) = &h.problem {
            flags.push("BAD EVENT");
            lines.push(format!("problem: {p}"));
        }
        let clock = match (h.clock_lost, h.clock_drift_secs) {
            (true, _) => "lost".to_string(),
            (false, Some(d)) => format!("drift {d} s"),
            (false, None) => "unknown".to_string(),
        };
        table.push([
            door,
            h.lock_id.to_string(),
            dash(h.last_contact.map(|t| local_time(t, &property.time_zone))),
            dash(h.battery_percent.map(|b| format!("{b}%"))),
            clock,
            format!("{}/{}", dash(h.revocation_sequence.map(|s| s.to_string())), h.revocation_sequence_issued),
            dash(h.camera_heartbeat_age_secs.map(|s| format!("{s} s ago"))),
            h.events_stored.to_string(),
            if flags.is_empty() { "ok".to_string() } else { flags.join(", ") },
        ]);
        notes.push(lines);
    }
    let mut widths = [0usize; 9];
    for row in &table {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for (row, lines) in table.iter().zip(&notes) {
        let cells: Vec<String> = row.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
        for line in lines {
            out.push_str(&format!("    {line}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use doorman_api::{AccessPointId, AccessPointKind, LockId, ManagerId, PropertyId, PropertyKind};

    use super::*;

    fn view(door: AccessPointId) -> LockHealthView {
        LockHealthView {
            lock_id: LockId::random(),
            access_point_id: door,
            last_contact: None,
            reported_at: None,
            battery_percent: None,
            clock_drift_secs: None,
            clock_lost: false,
            revocation_sequence: None,
            revocation_sequence_issued: 0,
            camera_heartbeat_age_secs: None,
            camera_stale: false,
            events_stored: 0,
            event_counter: None,
            gap: None,
            problem: None,
            revocation_stale: false,
            clock_stale: true,
            decommissioned_at: None,
            replaced_by: None,
        }
    }

    #[test]
    fn the_table_names_doors_local_times_and_why_a_clock_is_stale() {
        let property: Property = serde_json::from_value(serde_json::json!({
            "id": PropertyId::random(), "manager_id": ManagerId::random(), "kind": PropertyKind::Building,
            "name": "148 Ave B", "address": "148 Avenue B, New York", "location": {"lat": 40.7, "lon": -73.9},
            "time_zone": "America/New_York", "created_at": 0
        }))
        .unwrap();
        let door = |name: &str| AccessPoint {
            id: AccessPointId::random(),
            property_id: property.id,
            kind: AccessPointKind::Entrance,
            name: name.into(),
            parent_id: None,
            unit_id: None,
        };
        let (street, lobby, room, back) = (door("street door"), door("lobby"), door("package room"), door("back"));
        // Fresh, unheard: no report at all.
        let unheard = view(street.id);
        // Heard, but no time statement yet.
        let fresh = LockHealthView {
            last_contact: Some(1_800_000_000),
            reported_at: Some(1_800_000_000),
            battery_percent: Some(100),
            ..view(lobby.id)
        };
        let lost = LockHealthView { clock_lost: true, reported_at: Some(1_800_000_000), ..view(room.id) };
        let drifting = LockHealthView { clock_drift_secs: Some(-420), reported_at: Some(1), ..view(back.id) };
        let fine = LockHealthView { clock_drift_secs: Some(0), clock_stale: false, ..view(back.id) };
        let text = render(&property, &[street, lobby, room, back], &[unheard, fresh.clone(), lost, drifting, fine]);
        assert!(text.starts_with("locks of 148 Ave B (times in America/New_York)\nDOOR"), "{text}");
        for name in ["street door", "lobby", "package room", "back"] {
            assert!(text.lines().any(|l| l.starts_with(name)), "{name}: {text}");
        }
        // 1_800_000_000 is 2027-01-15 08:00 UTC: 03:00 in New York.
        let lobby_row = text.lines().find(|l| l.starts_with("lobby")).unwrap();
        assert!(lobby_row.contains("Fri 15 Jan 03:00 EST") && lobby_row.contains("100%"), "{lobby_row}");
        assert!(lobby_row.contains(&fresh.lock_id.to_string()));
        for why in
            ["never reported: no health report", "never reported a time statement", "clock is lost", "drifts -420 s"]
        {
            assert_eq!(text.matches(why).count(), 1, "{why}: {text}");
        }
        assert_eq!(clock_reason(&LockHealthView { clock_stale: false, ..view(AccessPointId::random()) }), None);
        assert!(text.lines().last().unwrap().ends_with("ok"), "{text}");
        assert_eq!(
            render(&property, &[], &[]),
            "locks of 148 Ave B (times in America/New_York)\nno locks at this property\n"
        );
    }
}
