//! The plan: what must change for the service to hold what the file says.
//! A pure function of the file and a snapshot of the service (unit-tested
//! without a server); `exec` carries it out in the order given here.

use std::collections::{HashMap, HashSet};
use std::fmt;

use doorman_api::{
    AccessPoint, AccessPointId, CarrierEnablement, CarrierId, DropSpot, DropSpotId, Lock, LockId, Property, Unit,
    UnitId,
};

use super::file::{canonical_hours, Building, DoorSpec, DropSpotSpec};

/// What the service holds now for the file's property.
#[derive(Clone, Debug, Default)]
pub struct Current {
    pub property: Option<Property>,
    pub units: Vec<Unit>,
    pub doors: Vec<AccessPoint>,
    /// Locks in service (not decommissioned).
    pub locks: Vec<Lock>,
    pub drop_spots: Vec<DropSpot>,
    /// Each enablement with its carrier's name.
    pub enablements: Vec<(String, CarrierEnablement)>,
    /// (unit id, email in lower case) of each current resident and open invitation.
    pub people: Vec<(UnitId, String)>,
}

/// One change, in the order it is made.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    CreateProperty {
        name: String,
    },
    UpdateProperty {
        name: String,
        changes: Vec<String>,
    },
    AddUnit {
        label: String,
    },
    /// A new door, as the file describes it.
    AddDoor {
        name: String,
    },
    /// A door kept, renamed (`from`) and/or changed (`changes`: kind, parent, unit).
    UpdateDoor {
        id: AccessPointId,
        name: String,
        from: Option<String>,
        changes: Vec<String>,
    },
    AddDropSpot {
        name: String,
    },
    UpdateDropSpot {
        id: DropSpotId,
        name: String,
        from: Option<String>,
        changes: Vec<String>,
    },
    DisableCarrier {
        name: String,
        carrier_id: CarrierId,
    },
    DecommissionLock {
        id: LockId,
        door: String,
    },
    RemoveDropSpot {
        id: DropSpotId,
        name: String,
    },
    RemoveDoor {
        id: AccessPointId,
        name: String,
    },
    RemoveUnit {
        id: UnitId,
        label: String,
    },
    ProvisionLock {
        door: String,
        bundle: String,
    },
    /// Enabled, or its hours or drop spots changed.
    EnableCarrier {
        name: String,
        new: bool,
    },
    SetNotice,
    Invite {
        unit: String,
        name: String,
        email: String,
    },
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let changed =
            |changes: &[String]| if changes.is_empty() { String::new() } else { format!(" ({})", changes.join(", ")) };
        match self {
            Step::CreateProperty { name } => write!(f, "+ property {name:?}"),
            Step::UpdateProperty { name, changes } => write!(f, "~ property {name:?}{}", changed(changes)),
            Step::AddUnit { label } => write!(f, "+ unit {label:?}"),
            Step::AddDoor { name } => write!(f, "+ door {name:?}"),
            Step::UpdateDoor { name, from: Some(from), changes, .. } => {
                write!(f, "~ door {from:?} renamed to {name:?}{}", changed(changes))
            }
            Step::UpdateDoor { name, from: None, changes, .. } => write!(f, "~ door {name:?}{}", changed(changes)),
            Step::AddDropSpot { name } => write!(f, "+ drop spot {name:?}"),
            Step::UpdateDropSpot { name, from: Some(from), changes, .. } => {
                write!(f, "~ drop spot {from:?} renamed to {name:?}{}", changed(changes))
            }
            Step::UpdateDropSpot { name, from: None, changes, .. } => {
                write!(f, "~ drop spot {name:?}{}", changed(changes))
            }
            Step::DisableCarrier { name, .. } => write!(f, "- carrier {name:?} disabled"),
            Step::DecommissionLock { id, door } => write!(f, "- lock {id} on door {door:?} decommissioned"),
            Step::RemoveDropSpot { name, .. } => write!(f, "- drop spot {name:?}"),
            Step::RemoveDoor { name, .. } => write!(f, "- door {name:?}"),
            Step::RemoveUnit { label, .. } => write!(f, "- unit {label:?}"),
            Step::ProvisionLock { door, bundle } => write!(f, "+ lock on door {door:?} (bundle {bundle})"),
            Step::EnableCarrier { name, new: true } => write!(f, "+ carrier {name:?} enabled"),
            Step::EnableCarrier { name, new: false } => write!(f, "~ carrier {name:?} (hours or drop spots)"),
            Step::SetNotice => write!(f, "~ tenant notice"),
            Step::Invite { unit, email, .. } => write!(f, "+ resident {email} invited to unit {unit:?}"),
        }
    }
}

/// Which current thing each of the file's names stands for (after renames).
#[derive(Debug, Default)]
struct Matches {
    units: HashMap<String, UnitId>,
    doors: HashMap<String, AccessPointId>,
    spots: HashMap<String, DropSpotId>,
}

/// Desired (the file) against current (the service): the steps, in the order to make them.
pub fn plan(b: &Building, cur: &Current) -> Vec<Step> {
    let file = &b.file;
    let mut steps = Vec::new();
    let mut m = Matches::default();
    let Some(property) = &cur.property else {
        // Nothing exists yet: everything is added.
        steps.push(Step::CreateProperty { name: file.property.name.clone() });
        let empty = Current::default();
        additions(b, &empty, &mut m, &mut steps);
        finishing(b, &empty, &m, None, &mut steps);
        return steps;
    };
    let p = &file.property;
    let mut changes = Vec::new();
    if property.address != p.address {
        changes.push(format!("address {:?}", p.address));
    }
    if property.location.lat != p.lat || property.location.lon != p.lon {
        changes.push(format!("location {}, {}", p.lat, p.lon));
    }
    if property.time_zone != p.time_zone {
        changes.push(format!("time zone {}", p.time_zone));
    }
    if property.kind != p.kind {
        changes.push(format!("kind {}", p.kind));
    }
    if !changes.is_empty() {
        steps.push(Step::UpdateProperty { name: p.name.clone(), changes });
    }
    additions(b, cur, &mut m, &mut steps);

    // Carriers no longer wanted.
    for (name, e) in &cur.enablements {
        let wanted = file.carriers.iter().find(|c| &c.name == name).is_some_and(|c| c.enabled);
        if e.enabled && !wanted {
            steps.push(Step::DisableCarrier { name: name.clone(), carrier_id: e.carrier_id });
        }
    }
    // Locks on doors that go, or whose lock left the file.
    let kept_doors: HashSet<AccessPointId> = m.doors.values().copied().collect();
    let door_name =
        |id: AccessPointId| cur.doors.iter().find(|d| d.id == id).map(|d| d.name.clone()).unwrap_or_default();
    for lock in &cur.locks {
        let wanted = kept_doors.contains(&lock.access_point_id)
            && file.doors.iter().any(|d| m.doors.get(&d.name) == Some(&lock.access_point_id) && d.lock.is_some());
        if !wanted {
            steps.push(Step::DecommissionLock { id: lock.id, door: door_name(lock.access_point_id) });
        }
    }
    let kept_spots: HashSet<DropSpotId> = m.spots.values().copied().collect();
    for s in &cur.drop_spots {
        if !kept_spots.contains(&s.id) {
            steps.push(Step::RemoveDropSpot { id: s.id, name: s.name.clone() });
        }
    }
    // Doors that go, children before parents.
    let mut gone: Vec<&AccessPoint> = cur.doors.iter().filter(|d| !kept_doors.contains(&d.id)).collect();
    let depth = |d: &AccessPoint| {
        let mut n = 0;
        let mut at = d.parent_id;
        while let Some(p) = at {
            n += 1;
            at = cur.doors.iter().find(|x| x.id == p).and_then(|x| x.parent_id);
            if n > cur.doors.len() {
                break;
            }
        }
        n
    };
    gone.sort_by_key(|d| std::cmp::Reverse(depth(d)));
    for d in gone {
        steps.push(Step::RemoveDoor { id: d.id, name: d.name.clone() });
    }
    let kept_units: HashSet<UnitId> = m.units.values().copied().collect();
    for u in &cur.units {
        if !kept_units.contains(&u.id) {
            steps.push(Step::RemoveUnit { id: u.id, label: u.label.clone() });
        }
    }
    finishing(b, cur, &m, property.tenant_notice.as_ref().map(|n| n.text.as_str()), &mut steps);
    steps
}

/// Units, doors and drop spots added or changed, parents first.
fn additions(b: &Building, cur: &Current, m: &mut Matches, steps: &mut Vec<Step>) {
    let file = &b.file;
    for label in &file.property.units {
        match cur.units.iter().find(|u| &u.label == label) {
            Some(u) => {
                m.units.insert(label.clone(), u.id);
            }
            None => steps.push(Step::AddUnit { label: label.clone() }),
        }
    }
    let unit_label =
        |id: Option<UnitId>| id.and_then(|id| cur.units.iter().find(|u| u.id == id)).map(|u| u.label.clone());
    // Doors: by name first, then an unmatched pair with the same parent, kind
    // and unit is a rename.
    let mut taken: HashSet<AccessPointId> = HashSet::new();
    for d in &file.doors {
        if let Some(c) = cur.doors.iter().find(|c| c.name == d.name) {
            m.doors.insert(d.name.clone(), c.id);
            taken.insert(c.id);
        }
    }
    for d in &file.doors {
        let parent_id = d.parent.as_ref().and_then(|p| m.doors.get(p)).copied();
        let by_name = m.doors.get(&d.name).copied();
        let matched = by_name.or_else(|| {
            let same_parent = |c: &AccessPoint| match &d.parent {
                None => c.parent_id.is_none(),
                Some(_) => parent_id.is_some() && c.parent_id == parent_id,
            };
            let c = cur.doors.iter().find(|c| {
                !taken.contains(&c.id)
                    && !file.doors.iter().any(|other| other.name == c.name)
                    && c.kind == d.kind
                    && unit_label(c.unit_id) == d.unit
                    && same_parent(c)
            })?;
            Some(c.id)
        });
        let Some(id) = matched else {
            steps.push(Step::AddDoor { name: d.name.clone() });
            continue;
        };
        taken.insert(id);
        m.doors.insert(d.name.clone(), id);
        let Some(c) = cur.doors.iter().find(|c| c.id == id) else { continue };
        let changes = door_changes(d, c, parent_id, &unit_label(c.unit_id));
        let from = (c.name != d.name).then(|| c.name.clone());
        if from.is_some() || !changes.is_empty() {
            steps.push(Step::UpdateDoor { id, name: d.name.clone(), from, changes });
        }
    }
    // Drop spots, the same way.
    let mut taken: HashSet<DropSpotId> = HashSet::new();
    for s in &file.drop_spots {
        if let Some(c) = cur.drop_spots.iter().find(|c| c.name == s.name) {
            m.spots.insert(s.name.clone(), c.id);
            taken.insert(c.id);
        }
    }
    for s in &file.drop_spots {
        let door_id = m.doors.get(&s.door).copied();
        let matched = m.spots.get(&s.name).copied().or_else(|| {
            let c = cur.drop_spots.iter().find(|c| {
                !taken.contains(&c.id)
                    && !file.drop_spots.iter().any(|o| o.name == c.name)
                    && c.kind == s.kind
                    && unit_label(c.unit_id) == s.unit
                    && Some(c.access_point_id) == door_id
            })?;
            Some(c.id)
        });
        let current = matched.and_then(|id| cur.drop_spots.iter().find(|c| c.id == id));
        // A drop spot moved behind another door is a new one (its door is fixed).
        match current.filter(|c| Some(c.access_point_id) == door_id) {
            None => {
                if let Some(c) = current {
                    m.spots.remove(&s.name);
                    taken.remove(&c.id);
                }
                steps.push(Step::AddDropSpot { name: s.name.clone() });
            }
            Some(c) => {
                taken.insert(c.id);
                m.spots.insert(s.name.clone(), c.id);
                let changes = spot_changes(s, c, &unit_label(c.unit_id));
                let from = (c.name != s.name).then(|| c.name.clone());
                if from.is_some() || !changes.is_empty() {
                    steps.push(Step::UpdateDropSpot { id: c.id, name: s.name.clone(), from, changes });
                }
            }
        }
    }
}

fn door_changes(d: &DoorSpec, c: &AccessPoint, parent_id: Option<AccessPointId>, unit: &Option<String>) -> Vec<String> {
    let mut changes = Vec::new();
    if c.kind != d.kind {
        changes.push(format!("kind {}", d.kind));
    }
    if d.parent.is_none() && c.parent_id.is_some() {
        changes.push("no parent".into());
    } else if let Some(p) = &d.parent {
        if parent_id.is_none() || c.parent_id != parent_id {
            changes.push(format!("parent {p:?}"));
        }
    }
    if unit != &d.unit {
        changes.push(match &d.unit {
            Some(u) => format!("unit {u:?}"),
            None => "no unit".into(),
        });
    }
    changes
}

fn spot_changes(s: &DropSpotSpec, c: &DropSpot, unit: &Option<String>) -> Vec<String> {
    let mut changes = Vec::new();
    if c.kind != s.kind {
        changes.push(format!("kind {}", s.kind));
    }
    if unit != &s.unit {
        changes.push(match &s.unit {
            Some(u) => format!("unit {u:?}"),
            None => "no unit".into(),
        });
    }
    changes
}

/// Locks, carriers, the notice and invitations: after the structure exists.
fn finishing(b: &Building, cur: &Current, m: &Matches, notice: Option<&str>, steps: &mut Vec<Step>) {
    let file = &b.file;
    for d in &file.doors {
        let Some(lock) = &d.lock else { continue };
        let has_lock = m.doors.get(&d.name).is_some_and(|id| cur.locks.iter().any(|l| l.access_point_id == *id));
        if !has_lock {
            steps.push(Step::ProvisionLock { door: d.name.clone(), bundle: lock.options().bundle });
        }
    }
    for c in file.carriers.iter().filter(|c| c.enabled) {
        let now = cur.enablements.iter().find(|(n, _)| n == &c.name).map(|(_, e)| e);
        let wanted_spots: Vec<&String> = match &c.drop_spots {
            Some(list) => list.iter().collect(),
            None => file.drop_spots.iter().map(|s| &s.name).collect(),
        };
        let same = now.is_some_and(|e| {
            let hours = b.hours.get(&c.name).map(|h| canonical_hours(h)).unwrap_or_default();
            let ids: Option<HashSet<DropSpotId>> = wanted_spots.iter().map(|n| m.spots.get(*n).copied()).collect();
            let stored: HashSet<DropSpotId> = e.allowed_drop_spots.iter().copied().collect();
            e.enabled && canonical_hours(&e.hours) == hours && ids.is_some_and(|ids| ids == stored)
        });
        if !same {
            steps.push(Step::EnableCarrier { name: c.name.clone(), new: !now.is_some_and(|e| e.enabled) });
        }
    }
    if let Some(text) = &file.property.notice {
        if notice != Some(text.as_str()) {
            steps.push(Step::SetNotice);
        }
    }
    for r in &file.residents {
        let known = m
            .units
            .get(&r.unit)
            .is_some_and(|u| cur.people.iter().any(|(unit, email)| unit == u && *email == r.email.to_lowercase()));
        if !known {
            steps.push(Step::Invite { unit: r.unit.clone(), name: r.name.clone(), email: r.email.clone() });
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const EXAMPLE: &str = include_str!("../../../../examples/building.toml");

    fn id() -> String {
        uuid::Uuid::new_v4().to_string()
    }

    fn from<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
        serde_json::from_value(v).unwrap()
    }

    /// What the service would hold after applying `b` (fresh ids).
    fn applied(b: &Building) -> Current {
        let f = &b.file;
        let pid = id();
        let p = &f.property;
        let property: Property = from(json!({
            "id": pid, "manager_id": id(), "kind": p.kind, "name": p.name, "address": p.address,
            "location": {"lat": p.lat, "lon": p.lon}, "time_zone": p.time_zone, "created_at": 1,
            "tenant_notice": f.property.notice.as_ref().map(|t| json!({"text": t, "notified_at": 1, "live_from": 1})),
        }));
        let units: Vec<Unit> =
            f.property.units.iter().map(|l| from(json!({"id": id(), "property_id": pid, "label": l}))).collect();
        let unit_id = |l: &Option<String>| l.as_ref().map(|l| units.iter().find(|u| &u.label == l).unwrap().id);
        let mut doors: Vec<AccessPoint> = Vec::new();
        for d in &f.doors {
            let parent = d.parent.as_ref().map(|n| doors.iter().find(|x| &x.name == n).unwrap().id);
            doors.push(from(json!({"id": id(), "property_id": pid, "kind": d.kind, "name": d.name,
                "parent_id": parent, "unit_id": unit_id(&d.unit)})));
        }
        let door_id = |n: &str| doors.iter().find(|x| x.name == n).unwrap().id;
        let locks = f
            .doors
            .iter()
            .filter(|d| d.lock.is_some())
            .map(|d| {
                from(json!({"id": id(), "property_id": pid, "access_point_id": door_id(&d.name),
                    "device_public_key": "AAAA", "model": "m", "firmware": "f", "mobile_credential": true,
                    "keypad": false, "created_at": 1}))
            })
            .collect();
        let drop_spots: Vec<DropSpot> = f
            .drop_spots
            .iter()
            .map(|s| {
                from(json!({"id": id(), "property_id": pid, "name": s.name, "kind": s.kind,
                    "access_point_id": door_id(&s.door), "unit_id": unit_id(&s.unit)}))
            })
            .collect();
        let enablements = f
            .carriers
            .iter()
            .map(|c| {
                let spots: Vec<DropSpotId> = match &c.drop_spots {
                    Some(l) => l.iter().map(|n| drop_spots.iter().find(|s| &s.name == n).unwrap().id).collect(),
                    None => drop_spots.iter().map(|s| s.id).collect(),
                };
                let e = from(json!({"property_id": pid, "carrier_id": id(), "enabled": c.enabled,
                    "hours": b.hours[&c.name], "allowed_drop_spots": spots, "updated_at": 1}));
                (c.name.clone(), e)
            })
            .collect();
        let people =
            f.residents.iter().map(|r| (unit_id(&Some(r.unit.clone())).unwrap(), r.email.to_lowercase())).collect();
        Current { property: Some(property), units, doors, locks, drop_spots, enablements, people }
    }

    fn lines(steps: &[Step]) -> Vec<String> {
        steps.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn from_nothing_everything_is_added_in_dependency_order() {
        let b = Building::parse(EXAMPLE).unwrap();
        let steps = plan(&b, &Current::default());
        assert_eq!(
            lines(&steps),
            [
                "+ property \"Maple Court\"",
                "+ unit \"1A\"",
                "+ unit \"2B\"",
                "+ door \"Street door\"",
                "+ door \"Lobby\"",
                "+ door \"Package room\"",
                "+ door \"2B door\"",
                "+ drop spot \"Package room shelf\"",
                "+ drop spot \"2B doorstep\"",
                "+ lock on door \"Street door\" (bundle locks/street-door.json)",
                "+ lock on door \"Lobby\" (bundle locks/lobby.json)",
                "+ lock on door \"Package room\" (bundle locks/package-room.json)",
                "+ carrier \"Parcelo\" enabled",
                "+ carrier \"NightOwl Couriers\" enabled",
                "~ tenant notice",
                "+ resident jun@example.com invited to unit \"2B\"",
            ]
        );
    }

    #[test]
    fn applied_twice_nothing_changes() {
        let b = Building::parse(EXAMPLE).unwrap();
        assert_eq!(plan(&b, &applied(&b)), []);
    }

    #[test]
    fn an_edited_file_changes_exactly_the_difference() {
        let before = Building::parse(EXAMPLE).unwrap();
        let cur = applied(&before);
        let edited = EXAMPLE
            .replace("\"Package room\"", "\"Parcel room\"")
            .replace("units = [\"1A\", \"2B\"]", "units = [\"1A\", \"2B\", \"3C\"]")
            .replace("drop_spots = [\"Package room shelf\"]", "drop_spots = [\"Package room shelf\"]\nenabled = false");
        let after = Building::parse(&edited).unwrap();
        let steps = plan(&after, &cur);
        assert_eq!(
            lines(&steps),
            [
                "+ unit \"3C\"",
                "~ door \"Package room\" renamed to \"Parcel room\"",
                "- carrier \"NightOwl Couriers\" disabled"
            ]
        );
        let package_room = cur.doors.iter().find(|d| d.name == "Package room").unwrap().id;
        assert!(matches!(&steps[1], Step::UpdateDoor { id, changes, .. } if *id == package_room && changes.is_empty()));
        // A carrier left out of the file is disabled too; one already disabled stays so.
        let without = EXAMPLE.split("[[carrier]]\nname = \"NightOwl").next().unwrap().to_string()
            + "[[resident]]\nunit = \"2B\"\nname = \"Jun Park\"\nemail = \"jun@example.com\"\n";
        let steps = plan(&Building::parse(&without).unwrap(), &cur);
        assert_eq!(lines(&steps), ["- carrier \"NightOwl Couriers\" disabled"]);
        let mut disabled = cur.clone();
        disabled.enablements[1].1.enabled = false;
        assert_eq!(plan(&Building::parse(&without).unwrap(), &disabled), []);
    }

    #[test]
    fn removed_things_go_after_what_depends_on_them() {
        let before = Building::parse(EXAMPLE).unwrap();
        let cur = applied(&before);
        // The 2B door and doorstep leave the file, the lobby loses its lock,
        // unit 1A goes, the street door gets another kind.
        let edited = EXAMPLE
            .replace("[[door]]\nname = \"2B door\"\nkind = \"unit_door\"\nparent = \"Lobby\"\nunit = \"2B\"\n", "")
            .replace(
                "[[drop_spot]]\nname = \"2B doorstep\"\nkind = \"unit_door\"\ndoor = \"Lobby\"\nunit = \"2B\"\n",
                "",
            )
            .replace("parent = \"Street door\"\nlock = \"locks/lobby.json\"\n", "parent = \"Street door\"\n")
            .replace("units = [\"1A\", \"2B\"]", "units = [\"2B\"]")
            .replace("kind = \"entrance\"                 #", "kind = \"garage\" #");
        let steps = plan(&Building::parse(&edited).unwrap(), &cur);
        let lobby_lock = cur.locks.iter().find(|l| l.access_point_id == cur.doors[1].id).unwrap().id;
        assert_eq!(
            lines(&steps),
            [
                "~ door \"Street door\" (kind garage)".to_string(),
                format!("- lock {lobby_lock} on door \"Lobby\" decommissioned"),
                "- drop spot \"2B doorstep\"".into(),
                "- door \"2B door\"".into(),
                "- unit \"1A\"".into(),
                "~ carrier \"Parcelo\" (hours or drop spots)".into(),
            ]
        );
    }

    #[test]
    fn a_rename_needs_the_same_parent_kind_and_unit() {
        let before = Building::parse(EXAMPLE).unwrap();
        let cur = applied(&before);
        // Renamed and moved under the street door: not the same door.
        let edited = EXAMPLE
            .replace(
                "name = \"Package room\"\nkind = \"package_room\"\nparent = \"Lobby\"",
                "name = \"Mail room\"\nkind = \"package_room\"\nparent = \"Street door\"",
            )
            .replace("door = \"Package room\"", "door = \"Mail room\"");
        let got = lines(&plan(&Building::parse(&edited).unwrap(), &cur));
        assert!(got.contains(&"+ door \"Mail room\"".to_string()), "{got:?}");
        assert!(got.contains(&"- door \"Package room\"".to_string()), "{got:?}");
    }
}
