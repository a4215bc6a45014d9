//! The naming read model: who and where behind the ids of log events, for
//! the principal who reads them. Timelines, the audit page and messages to
//! people say "Left at Parcel room by Ann Lee (Hudson Parcel)" instead of
//! "Delivered".
//!
//! Use: gather the events a page or a message shows, call
//! [`Service::names_for`] once with the reader's principal (one store query
//! per kind of thing, whatever the number of events), then ask
//! [`Names::of`] for each event's [`EventNames`], and [`sentence`] for a
//! line of plain language made of them.
//!
//! Authorization (the invariant): a name is given only for an event the
//! principal may see ([`doorman_domain::Viewer::may_see`], the rule of the
//! log, move-in included), and only a name the principal could read
//! through the API:
//! - a door, drop spot or unit only of the event's own building;
//! - a resident: their own unit's label and guest passes; a driver's name
//!   only on an event of their unit (a shared door's events name none);
//!   the carrier's name on their unit's events;
//! - a manager: everything at the buildings they manage;
//! - a carrier: its own name and its own drivers' names; the doors, drop
//!   spot and unit of its deliveries (its drivers are told them when
//!   access is granted); never a guest pass;
//! - a driver: their own name and carrier, and the doors, drop spot and
//!   unit of their own deliveries;
//! - the operator: no names (configuration and key events only).
//!
//! A clip is described by a [`ClipNote`]: that it exists, and whether this
//! principal may view it (the rule of [`Service::clip`]: the unit's
//! residents since move-in and the building's managers, while it is
//! stored and not deleted). Carriers and drivers learn that a clip of their
//! entry exists (its `clip_ready` entry is theirs to read), never its bytes.

use std::collections::BTreeMap;

use doorman_domain::{
    AccessPointId, CarrierId, ClipId, DeliveryId, DriverId, DropSpotId, Event, EventKind, GuestPassId, LockId,
    Principal, PropertyId, UnitId, UnixSeconds, Viewer,
};
use doorman_store::{ClipRecord, NameQuery};

use crate::{Service, ServiceResult};

/// A door by its name and its building's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DoorName {
    pub access_point_id: AccessPointId,
    pub door: String,
    pub building: String,
}

/// A camera clip of an entry, as one principal may know it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClipNote {
    pub clip_id: ClipId,
    /// The bytes were uploaded (else only the lock's announcement exists).
    pub stored: bool,
    /// Retention deleted the bytes.
    pub deleted: bool,
    /// This principal may fetch it (`GET /v1/clips/{clip_id}`): stored, not
    /// deleted, and theirs to see.
    pub viewable: bool,
    /// As uploaded, when stored.
    pub content_type: Option<String>,
}

/// The names one event carries for one principal; `None` (or empty) where
/// the event has no such thing or the principal may not read its name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventNames {
    /// The building (its name) the event happened at.
    pub building: Option<String>,
    pub carrier: Option<String>,
    pub driver: Option<String>,
    /// The door of a door event, a lock event or a clip.
    pub door: Option<DoorName>,
    /// The doors a grant or a guest pass opens, street first.
    pub doors: Vec<DoorName>,
    /// Where the parcel is to be left (a grant), was left (a delivery), or
    /// where a return waits.
    pub drop_spot: Option<String>,
    pub unit: Option<String>,
    /// The guest's name on a guest pass event.
    pub guest_pass: Option<String>,
    /// A clip's own event: that clip; a delivery's `delivered` event: the
    /// clip of its entry, if one was recorded.
    pub clip: Option<ClipNote>,
}

/// What the store knew of the ids in a page of events, and for whom.
#[derive(Clone, Debug)]
pub struct Names {
    viewer: Viewer,
    carriers: BTreeMap<CarrierId, String>,
    /// Name and carrier.
    drivers: BTreeMap<DriverId, (String, CarrierId)>,
    buildings: BTreeMap<PropertyId, String>,
    /// Label and building.
    units: BTreeMap<UnitId, (String, PropertyId)>,
    /// Name and building.
    doors: BTreeMap<AccessPointId, (String, PropertyId)>,
    lock_doors: BTreeMap<LockId, AccessPointId>,
    /// Name and building.
    spots: BTreeMap<DropSpotId, (String, PropertyId)>,
    /// Guest's name and unit.
    passes: BTreeMap<GuestPassId, (String, UnitId)>,
    clips: BTreeMap<ClipId, ClipRecord>,
}

/// The ids an event mentions, for the bulk lookup.
fn wanted(q: &mut NameQuery, e: &Event) {
    q.carriers.extend(e.carrier_id);
    q.drivers.extend(e.driver_id);
    q.properties.extend(e.property_id);
    q.units.extend(e.unit_id);
    match &e.kind {
        EventKind::AccessGranted { drop_spot_id, locks, .. } => {
            q.drop_spots.insert(*drop_spot_id);
            q.locks.extend(locks.iter().copied());
        }
        EventKind::DoorUnlocked { access_point_id, .. }
        | EventKind::DoorOpened { access_point_id, .. }
        | EventKind::DoorClosed { access_point_id, .. }
        | EventKind::DoorAjar { access_point_id, .. }
        | EventKind::Relocked { access_point_id, .. } => {
            q.access_points.insert(*access_point_id);
        }
        EventKind::LockEvent { lock_id, .. } => {
            q.locks.insert(*lock_id);
        }
        EventKind::Delivered { drop_spot_id, .. } => {
            q.drop_spots.insert(*drop_spot_id);
            q.delivery_clips.extend(e.delivery_id);
        }
        EventKind::ClipReady { clip_id, lock_id, .. } => {
            q.clips.insert(*clip_id);
            q.locks.insert(*lock_id);
        }
        EventKind::ClipDeleted { clip_id } => {
            q.clips.insert(*clip_id);
        }
        EventKind::ReturnScheduled { drop_spot_id, .. }
        | EventKind::ReturnCollected { drop_spot_id, .. }
        | EventKind::VehicleRegistered { drop_spot_id, .. } => {
            q.drop_spots.insert(*drop_spot_id);
        }
        EventKind::GuestPassCreated { locks, .. } => {
            q.locks.extend(locks.iter().copied());
        }
        EventKind::GuestPassRevoked { guest_pass_id } => {
            q.guest_passes.insert(*guest_pass_id);
        }
        _ => {}
    }
}

impl Service {
    /// The names behind `events` for `p`, looked up once for all of them
    /// (see the module's rules). Events `p` may not see add nothing, and
    /// [`Names::of`] names nothing of them.
    pub async fn names_for<'e>(
        &self,
        p: &Principal,
        events: impl IntoIterator<Item = &'e Event>,
    ) -> ServiceResult<Names> {
        let viewer = self.viewer(p).await?;
        let mut q = NameQuery::default();
        if !matches!(p, Principal::Operator) {
            for e in events.into_iter().filter(|e| viewer.may_see(e)) {
                wanted(&mut q, e);
            }
        }
        let rows = self.store.names(&q).await?;
        Ok(Names {
            viewer,
            carriers: rows.carriers.into_iter().map(|c| (c.id, c.name)).collect(),
            drivers: rows.drivers.into_iter().map(|d| (d.id, (d.name, d.carrier_id))).collect(),
            buildings: rows.properties.into_iter().map(|p| (p.id, p.name)).collect(),
            units: rows.units.into_iter().map(|u| (u.id, (u.label, u.property_id))).collect(),
            doors: rows.access_points.into_iter().map(|a| (a.id, (a.name, a.property_id))).collect(),
            lock_doors: rows.locks.into_iter().map(|l| (l.id, l.access_point_id)).collect(),
            spots: rows.drop_spots.into_iter().map(|s| (s.id, (s.name, s.property_id))).collect(),
            passes: rows.guest_passes.into_iter().map(|g| (g.id, (g.name, g.unit_id))).collect(),
            clips: rows.clips.into_iter().map(|c| (c.clip.id, c)).collect(),
        })
    }
}

impl Names {
    /// Whether `p`'s role may read the names of things at `property` on an
    /// event it sees (the event's own building only).
    fn at_event_building(&self, e: &Event, property: PropertyId) -> bool {
        e.property_id == Some(property)
    }

    fn carrier_name(&self, e: &Event) -> Option<String> {
        let id = e.carrier_id?;
        let readable = match self.viewer.principal {
            Principal::Resident { unit_id, .. } => e.unit_id == Some(unit_id),
            Principal::Manager { .. } => true,
            Principal::Carrier { carrier_id } | Principal::Driver { carrier_id, .. } => carrier_id == id,
            Principal::Operator => false,
        };
        readable.then(|| self.carriers.get(&id).cloned()).flatten()
    }

    fn driver_name(&self, e: &Event) -> Option<String> {
        let id = e.driver_id?;
        let (name, carrier) = self.drivers.get(&id)?;
        let readable = match self.viewer.principal {
            Principal::Resident { unit_id, .. } => e.unit_id == Some(unit_id),
            Principal::Manager { .. } => true,
            Principal::Carrier { carrier_id } => *carrier == carrier_id,
            Principal::Driver { driver_id, .. } => driver_id == id,
            Principal::Operator => false,
        };
        readable.then(|| name.clone())
    }

    fn door(&self, e: &Event, id: AccessPointId) -> Option<DoorName> {
        let (door, property) = self.doors.get(&id)?;
        if matches!(self.viewer.principal, Principal::Operator) || !self.at_event_building(e, *property) {
            return None;
        }
        Some(DoorName {
            access_point_id: id,
            door: door.clone(),
            building: self.buildings.get(property).cloned().unwrap_or_default(),
        })
    }

    fn lock_door(&self, e: &Event, lock: LockId) -> Option<DoorName> {
        self.door(e, *self.lock_doors.get(&lock)?)
    }

    fn spot(&self, e: &Event, id: DropSpotId) -> Option<String> {
        let (name, property) = self.spots.get(&id)?;
        let readable = !matches!(self.viewer.principal, Principal::Operator) && self.at_event_building(e, *property);
        readable.then(|| name.clone())
    }

    fn unit(&self, e: &Event) -> Option<String> {
        let id = e.unit_id?;
        let (label, property) = self.units.get(&id)?;
        let readable = match self.viewer.principal {
            Principal::Resident { unit_id, .. } => unit_id == id,
            Principal::Operator => false,
            // A manager's building; the unit a carrier's parcel (a driver's
            // delivery) is addressed to.
            _ => self.at_event_building(e, *property),
        };
        readable.then(|| label.clone())
    }

    fn guest_pass(&self, id: GuestPassId) -> Option<String> {
        let (name, unit) = self.passes.get(&id)?;
        let readable = match self.viewer.principal {
            Principal::Resident { unit_id, .. } => unit_id == *unit,
            Principal::Manager { .. } => self.units.get(unit).is_some_and(|(_, p)| self.viewer_manages(*p)),
            _ => false,
        };
        readable.then(|| name.clone())
    }

    fn viewer_manages(&self, property: PropertyId) -> bool {
        self.viewer.managed_properties.contains(&property)
    }

    /// Whether this principal may fetch the clip (the rule of `Service::clip`).
    fn may_view(&self, r: &ClipRecord) -> bool {
        let entitled = match self.viewer.principal {
            Principal::Resident { unit_id, .. } => {
                r.clip.entry.unit_id == Some(unit_id)
                    && self.viewer.since.is_none_or(|since| r.clip.recorded_at >= since)
            }
            Principal::Manager { .. } => self.viewer_manages(r.clip.property_id),
            _ => false,
        };
        entitled && r.stored_at.is_some() && r.deleted_at.is_none()
    }

    fn note(&self, r: &ClipRecord) -> ClipNote {
        ClipNote {
            clip_id: r.clip.id,
            stored: r.stored_at.is_some(),
            deleted: r.deleted_at.is_some(),
            viewable: self.may_view(r),
            content_type: r.content_type.clone(),
        }
    }

    /// The clip of a delivery's entry: the first one stored, else the first
    /// announced.
    fn delivery_clip(&self, delivery: DeliveryId, property: Option<PropertyId>) -> Option<ClipNote> {
        let mut of_delivery: Vec<&ClipRecord> = self
            .clips
            .values()
            .filter(|r| r.clip.entry.delivery_id == Some(delivery) && Some(r.clip.property_id) == property)
            .collect();
        of_delivery.sort_by_key(|r| (r.stored_at.is_none(), r.clip.recorded_at));
        of_delivery.first().map(|r| self.note(r))
    }

    /// The names of `e` for this principal: all empty for an event the
    /// principal may not see.
    pub fn of(&self, e: &Event) -> EventNames {
        if !self.viewer.may_see(e) || matches!(self.viewer.principal, Principal::Operator) {
            return EventNames::default();
        }
        let mut n = EventNames {
            building: e.property_id.and_then(|p| self.buildings.get(&p).cloned()),
            carrier: self.carrier_name(e),
            driver: self.driver_name(e),
            unit: self.unit(e),
            ..EventNames::default()
        };
        match &e.kind {
            EventKind::AccessGranted { drop_spot_id, locks, .. } => {
                n.drop_spot = self.spot(e, *drop_spot_id);
                n.doors = locks.iter().filter_map(|l| self.lock_door(e, *l)).collect();
            }
            EventKind::DoorUnlocked { access_point_id, .. }
            | EventKind::DoorOpened { access_point_id, .. }
            | EventKind::DoorClosed { access_point_id, .. }
            | EventKind::DoorAjar { access_point_id, .. }
            | EventKind::Relocked { access_point_id, .. } => n.door = self.door(e, *access_point_id),
            EventKind::LockEvent { lock_id, .. } => n.door = self.lock_door(e, *lock_id),
            EventKind::Delivered { drop_spot_id, .. } => {
                n.drop_spot = self.spot(e, *drop_spot_id);
                n.clip = e.delivery_id.and_then(|d| self.delivery_clip(d, e.property_id));
            }
            EventKind::ClipReady { clip_id, lock_id, .. } => {
                n.door = self.lock_door(e, *lock_id);
                n.clip = self.clips.get(clip_id).map(|r| self.note(r));
            }
            EventKind::ClipDeleted { clip_id } => {
                n.clip = self.clips.get(clip_id).map(|r| self.note(r));
                n.door = self.clips.get(clip_id).and_then(|r| self.door(e, r.clip.access_point_id));
            }
            EventKind::ReturnScheduled { drop_spot_id, .. }
            | EventKind::ReturnCollected { drop_spot_id, .. }
            | EventKind::VehicleRegistered { drop_spot_id, .. } => n.drop_spot = self.spot(e, *drop_spot_id),
            EventKind::GuestPassCreated { locks, name, .. } => {
                n.doors = locks.iter().filter_map(|l| self.lock_door(e, *l)).collect();
                // The event carries the name: whoever may see it reads it.
                n.guest_pass = Some(name.clone());
            }
            EventKind::GuestPassRevoked { guest_pass_id } => n.guest_pass = self.guest_pass(*guest_pass_id),
            _ => {}
        }
        n
    }
}

/// `Wed 11 Mar 14:05` in `time_zone` (an IANA name; UTC if unknown).
pub fn local_time(at: UnixSeconds, time_zone: &str) -> String {
    let Ok(ts) = jiff::Timestamp::from_second(at) else { return at.to_string() };
    let tz = jiff::tz::TimeZone::get(time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
    ts.to_zoned(tz).strftime("%a %d %b %H:%M").to_string()
}

/// "Ann Lee (Hudson Parcel)", "Ann Lee", "a Hudson Parcel driver", or
/// `fallback`.
fn who(n: &EventNames, fallback: &str) -> String {
    match (&n.driver, &n.carrier) {
        (Some(d), Some(c)) => format!("{d} ({c})"),
        (Some(d), None) => d.clone(),
        (None, Some(c)) => format!("a {c} driver"),
        (None, None) => fallback.to_string(),
    }
}

/// "the Lobby door", or "a door".
fn door_phrase(n: &EventNames) -> String {
    n.door.as_ref().map_or_else(|| "a door".to_string(), |d| format!("the {}", d.door))
}

fn list(names: &[DoorName]) -> String {
    let names: Vec<&str> = names.iter().map(|d| d.door.as_str()).collect();
    match names.as_slice() {
        [] => String::new(),
        [one] => (*one).to_string(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// Capitalises the first letter ("the Lobby door opened" → "The Lobby ...").
fn capitalised(s: String) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => s,
    }
}

/// One line of plain language saying what `e` was, with the names `n` the
/// reader may see (from [`Names::of`]) and times in `time_zone` (the
/// building's). Without names it still reads well ("A door opened").
pub fn sentence(e: &Event, n: &EventNames, time_zone: &str) -> String {
    let by = |s: String| match (&n.driver, &n.carrier) {
        (None, None) => s,
        _ => format!("{s} for {}", who(n, "")),
    };
    match &e.kind {
        EventKind::EtaUpdated { eta } => match &n.carrier {
            Some(c) => format!("On its way with {c}: expected {}", local_time(*eta, time_zone)),
            None => format!("On its way: expected {}", local_time(*eta, time_zone)),
        },
        EventKind::AccessRequested { .. } => {
            capitalised(format!("{} is at the door and asked to enter", who(n, "the driver")))
        }
        EventKind::AccessGranted { locks, expires_at, .. } => {
            let through = if n.doors.is_empty() {
                format!("{} door{}", locks.len(), if locks.len() == 1 { "" } else { "s" })
            } else {
                format!("the {}", list(&n.doors))
            };
            let to = n.drop_spot.as_ref().map(|s| format!(" to {s}")).unwrap_or_default();
            format!(
                "Access granted to {} through {through}{to}, valid until {}",
                who(n, "the driver"),
                local_time(*expires_at, time_zone)
            )
        }
        EventKind::AccessRefused { reason, .. } => {
            format!("Access refused to {}: {}", who(n, "the driver"), reason.explain())
        }
        EventKind::GrantRevoked { .. } => format!("Access revoked before use by {}", who(n, "the driver")),
        EventKind::DoorUnlocked { .. } => by(capitalised(format!("{} unlocked", door_phrase(n)))),
        EventKind::DoorOpened { .. } => by(capitalised(format!("{} opened", door_phrase(n)))),
        EventKind::DoorClosed { .. } => capitalised(format!("{} closed", door_phrase(n))),
        EventKind::DoorAjar { .. } => capitalised(format!("{} was left ajar", door_phrase(n))),
        EventKind::Relocked { .. } => capitalised(format!("{} locked again", door_phrase(n))),
        EventKind::LockEvent { counter, .. } => match &n.door {
            Some(d) => format!("Lock reported event #{counter} at the {}", d.door),
            None => format!("Lock reported event #{counter}"),
        },
        EventKind::Delivered { photo_ref, .. } => {
            let at = n.drop_spot.as_ref().map_or_else(|| "Delivered".to_string(), |s| format!("Left at {s}"));
            let by = match (&n.driver, &n.carrier) {
                (None, None) => String::new(),
                _ => format!(" by {}", who(n, "")),
            };
            let photo = if photo_ref.is_some() { " (with a photo)" } else { "" };
            format!("{at}{by}{photo}")
        }
        EventKind::ClipReady { .. } => match &n.door {
            Some(d) => format!("Camera clip of the entry at the {}", d.door),
            None => "Camera clip of the entry".into(),
        },
        EventKind::ClipDeleted { .. } => "Camera clip deleted at the end of its retention".into(),
        EventKind::Blocked { until: Some(u) } => format!("Deliveries blocked until {}", local_time(*u, time_zone)),
        EventKind::Blocked { until: None } => "Deliveries blocked".into(),
        EventKind::Unblocked => "Deliveries allowed again".into(),
        EventKind::Diverted { to, .. } => format!("Diverted to {to}"),
        EventKind::ReturnScheduled { tracking_number, .. } => match &n.drop_spot {
            Some(s) => format!("Return {tracking_number} scheduled: to be collected from {s}"),
            None => format!("Return {tracking_number} scheduled"),
        },
        EventKind::ReturnCollected { .. } => match (&n.drop_spot, &n.driver, &n.carrier) {
            (Some(s), None, None) => format!("Return collected from {s}"),
            (Some(s), _, _) => format!("Return collected from {s} by {}", who(n, "")),
            (None, _, _) => "Return collected".into(),
        },
        EventKind::TenantNoticeGiven { live_from, .. } => {
            format!("Delivery access notice: live from {}", local_time(*live_from, time_zone))
        }
        EventKind::DeliveryCancelled => "Delivery cancelled".into(),
        EventKind::ConfigurationChanged { what } => format!("Configuration changed: {what}"),
        EventKind::KeyRotated { kid } => format!("Signing key rotated ({kid})"),
        EventKind::VehicleRegistered { .. } => "Vehicle registered: its trunk can receive parcels".into(),
        EventKind::GuestPassCreated { name, valid_from, valid_until, .. } => {
            let doors = if n.doors.is_empty() { String::new() } else { format!(" ({})", list(&n.doors)) };
            format!(
                "Guest pass for {name}: from {} until {}{doors}",
                local_time(*valid_from, time_zone),
                local_time(*valid_until, time_zone)
            )
        }
        EventKind::GuestPassRevoked { .. } => match &n.guest_pass {
            Some(name) => format!("Guest pass for {name} revoked"),
            None => "Guest pass revoked".into(),
        },
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

/// Whether the event is a lock's raw report (`lock_event`): pages fold
/// these away unless asked for, as the door events say the same in words.
pub fn is_raw_lock_event(e: &Event) -> bool {
    matches!(e.kind, EventKind::LockEvent { .. })
}

#[cfg(test)]
mod tests {
    use doorman_domain::{AccessRequestId, RefusalReason, EVENT_FORMAT_VERSION};

    use super::*;

    fn event(kind: EventKind) -> Event {
        Event {
            v: EVENT_FORMAT_VERSION,
            at: 1_773_252_000,
            kind,
            property_id: Some(PropertyId::random()),
            unit_id: None,
            carrier_id: None,
            driver_id: None,
            delivery_id: None,
            actor: None,
            salt: String::new(),
        }
    }

    fn door(name: &str) -> DoorName {
        DoorName { access_point_id: AccessPointId::random(), door: name.into(), building: "12 Orchard St".into() }
    }

    #[test]
    fn sentences_name_who_and_where_and_read_well_without() {
        let named = EventNames {
            carrier: Some("Hudson Parcel".into()),
            driver: Some("Ann Lee".into()),
            door: Some(door("Lobby door")),
            drop_spot: Some("Parcel room".into()),
            ..EventNames::default()
        };
        let none = EventNames::default();
        let delivered = event(EventKind::Delivered { drop_spot_id: DropSpotId::random(), photo_ref: None });
        assert_eq!(sentence(&delivered, &named, "UTC"), "Left at Parcel room by Ann Lee (Hudson Parcel)");
        assert_eq!(sentence(&delivered, &none, "UTC"), "Delivered");
        let opened =
            event(EventKind::DoorOpened { lock_id: LockId::random(), access_point_id: AccessPointId::random() });
        assert_eq!(sentence(&opened, &named, "UTC"), "The Lobby door opened for Ann Lee (Hudson Parcel)");
        assert_eq!(sentence(&opened, &none, "UTC"), "A door opened");
        let refused = event(EventKind::AccessRefused {
            request_id: AccessRequestId::random(),
            reason: RefusalReason::ResidentBlocked,
        });
        assert_eq!(
            sentence(&refused, &named, "UTC"),
            "Access refused to Ann Lee (Hudson Parcel): the resident has blocked delivery access"
        );
        let granted = event(EventKind::AccessGranted {
            request_id: AccessRequestId::random(),
            grant_id: doorman_domain::GrantId::random(),
            drop_spot_id: DropSpotId::random(),
            locks: vec![LockId::random(), LockId::random()],
            expires_at: 1_773_252_300,
        });
        let path = EventNames { doors: vec![door("Street door"), door("Lobby door")], ..named.clone() };
        assert_eq!(
            sentence(&granted, &path, "America/New_York"),
            "Access granted to Ann Lee (Hudson Parcel) through the Street door and Lobby door to Parcel room, \
             valid until Wed 11 Mar 14:05"
        );
        assert_eq!(
            sentence(&granted, &none, "UTC"),
            "Access granted to the driver through 2 doors, valid until Wed 11 Mar 18:05"
        );
    }

    #[test]
    fn times_are_the_zones_local_time() {
        // 2026-03-11 18:00 UTC is 14:00 in New York (daylight time).
        assert_eq!(local_time(1_773_252_000, "America/New_York"), "Wed 11 Mar 14:00");
        assert_eq!(local_time(1_773_252_000, "Nowhere/Else"), "Wed 11 Mar 18:00");
    }
}
