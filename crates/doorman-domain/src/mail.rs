//! Notifications to people by email: the kinds a person chooses among, and
//! which log events each kind covers.
//!
//! A kind is chosen per person (a resident), not per unit: two people of one
//! household may want different mail. Which events a kind covers is decided
//! here, from the event alone, except "guest entered", which also needs to
//! know that a guest pass of the unit was valid at that door then (the
//! service checks that).

use serde::{Deserialize, Serialize};

use crate::{Event, EventKind, UnitId};

/// What a person may be emailed about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    /// The carrier said when the parcel will arrive.
    Eta,
    /// A driver at the building scanned the parcel and asked to enter.
    DriverAtDoor,
    /// The driver was let in, or refused (and why).
    Access,
    /// A door opened for a delivery to the unit.
    DoorOpened,
    /// The parcel was left, at a named drop spot.
    Delivered,
    /// A door of the unit, or a shared door of the building, was left open.
    DoorAjar,
    /// A guest with a pass of the unit came in.
    GuestEntered,
}

impl NotificationKind {
    /// Every kind, in the order pages list them.
    pub const ALL: [NotificationKind; 7] = [
        NotificationKind::Eta,
        NotificationKind::DriverAtDoor,
        NotificationKind::Access,
        NotificationKind::DoorOpened,
        NotificationKind::Delivered,
        NotificationKind::DoorAjar,
        NotificationKind::GuestEntered,
    ];

    /// What a person gets before they choose: the parcel left, and a door
    /// left open.
    pub const DEFAULT: [NotificationKind; 2] = [NotificationKind::Delivered, NotificationKind::DoorAjar];

    pub fn as_str(self) -> &'static str {
        match self {
            NotificationKind::Eta => "eta",
            NotificationKind::DriverAtDoor => "driver_at_door",
            NotificationKind::Access => "access",
            NotificationKind::DoorOpened => "door_opened",
            NotificationKind::Delivered => "delivered",
            NotificationKind::DoorAjar => "door_ajar",
            NotificationKind::GuestEntered => "guest_entered",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// One short line for people (settings pages, the unsubscribe page).
    pub fn label(self) -> &'static str {
        match self {
            NotificationKind::Eta => "Arrival time (ETA) updates",
            NotificationKind::DriverAtDoor => "A driver at the door",
            NotificationKind::Access => "Access granted or refused",
            NotificationKind::DoorOpened => "A door opened for a delivery",
            NotificationKind::Delivered => "Delivered (where the parcel was left)",
            NotificationKind::DoorAjar => "A door left ajar",
            NotificationKind::GuestEntered => "A guest entered",
        }
    }

    /// The kind a log event is, for a resident of `unit`, if it is one at
    /// all. A door event is a delivery's when it names a delivery; one
    /// without a delivery but naming the unit is a guest's entry only if the
    /// service finds a pass of the unit valid there then (`guest_entered`
    /// is returned as a candidate for that check).
    pub fn of_event(event: &Event, unit: UnitId) -> Option<NotificationKind> {
        let mine = event.unit_id == Some(unit);
        match &event.kind {
            EventKind::EtaUpdated { .. } if mine => Some(NotificationKind::Eta),
            EventKind::AccessRequested { .. } if mine => Some(NotificationKind::DriverAtDoor),
            EventKind::AccessGranted { .. } | EventKind::AccessRefused { .. } if mine => Some(NotificationKind::Access),
            EventKind::DoorOpened { .. } if mine && event.delivery_id.is_some() => Some(NotificationKind::DoorOpened),
            EventKind::DoorOpened { .. } if mine && event.actor.is_none() => Some(NotificationKind::GuestEntered),
            EventKind::Delivered { .. } if mine => Some(NotificationKind::Delivered),
            // A shared door left open concerns the whole building.
            EventKind::DoorAjar { .. } if mine || event.unit_id.is_none() => Some(NotificationKind::DoorAjar),
            _ => None,
        }
    }
}

/// A person's email and the kinds that reach them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NotificationSettings {
    /// Where notifications go (the address the invitation named, unless
    /// changed).
    pub email: String,
    /// The kinds emailed, in [`NotificationKind::ALL`]'s order.
    pub kinds: Vec<NotificationKind>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AccessPointId, DeliveryId, DropSpotId, LockId, PropertyId, EVENT_FORMAT_VERSION};

    fn event(kind: EventKind, unit: Option<UnitId>, delivery: Option<DeliveryId>) -> Event {
        Event {
            v: EVENT_FORMAT_VERSION,
            at: 0,
            kind,
            property_id: Some(PropertyId::random()),
            unit_id: unit,
            carrier_id: None,
            driver_id: None,
            delivery_id: delivery,
            actor: None,
            salt: String::new(),
        }
    }

    #[test]
    fn kinds_round_trip_and_events_map_to_them() {
        for k in NotificationKind::ALL {
            assert_eq!(NotificationKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(NotificationKind::parse("spam"), None);
        let (mine, theirs) = (UnitId::random(), UnitId::random());
        let d = Some(DeliveryId::random());
        let door = EventKind::DoorOpened { lock_id: LockId::random(), access_point_id: AccessPointId::random() };
        let ajar = EventKind::DoorAjar { lock_id: LockId::random(), access_point_id: AccessPointId::random() };
        let delivered = EventKind::Delivered { drop_spot_id: DropSpotId::random(), photo_ref: None };
        let of = |e: &Event| NotificationKind::of_event(e, mine);
        assert_eq!(of(&event(EventKind::EtaUpdated { eta: 1 }, Some(mine), d)), Some(NotificationKind::Eta));
        assert_eq!(of(&event(EventKind::EtaUpdated { eta: 1 }, Some(theirs), d)), None);
        assert_eq!(of(&event(door.clone(), Some(mine), d)), Some(NotificationKind::DoorOpened));
        assert_eq!(of(&event(door.clone(), Some(mine), None)), Some(NotificationKind::GuestEntered));
        assert_eq!(of(&event(door, None, None)), None, "a shared door's opening is not mailed");
        assert_eq!(of(&event(ajar.clone(), None, None)), Some(NotificationKind::DoorAjar));
        assert_eq!(of(&event(ajar, Some(theirs), None)), None);
        assert_eq!(of(&event(delivered, Some(mine), d)), Some(NotificationKind::Delivered));
        assert_eq!(of(&event(EventKind::Unblocked, Some(mine), None)), None);
    }
}
