//! Names where ids are expected: an id is taken as it is; otherwise the one
//! thing with that exact name, else the one whose name matches ignoring case.
//! No match, or several, is an error naming the candidates.

use anyhow::bail;
use doorman_api::{AccessPoint, Carrier, Driver, DropSpot, Lock, Property, PropertyId, Unit};
use doorman_client::Client;

/// Picks the item `text` names among `items`: by id, then exact name, then
/// name ignoring case (and surrounding spaces).
pub fn pick<T>(
    what: &str,
    text: &str,
    items: Vec<T>,
    id: impl Fn(&T) -> String,
    name: impl Fn(&T) -> String,
) -> anyhow::Result<T> {
    let wanted = text.trim();
    let candidates = |list: &[&T]| -> String {
        list.iter().map(|t| format!("{:?} ({})", name(t), id(t))).collect::<Vec<_>>().join(", ")
    };
    if let Some(i) = items.iter().position(|t| id(t) == wanted) {
        if let Some(found) = items.into_iter().nth(i) {
            return Ok(found);
        }
        bail!("no {what} {wanted:?}");
    }
    for exact in [true, false] {
        let hits: Vec<usize> = items
            .iter()
            .enumerate()
            .filter(|(_, t)| {
                let n = name(t);
                if exact {
                    n.trim() == wanted
                } else {
                    n.trim().to_lowercase() == wanted.to_lowercase()
                }
            })
            .map(|(i, _)| i)
            .collect();
        match hits.as_slice() {
            [one] => {
                let one = *one;
                if let Some(found) = items.into_iter().nth(one) {
                    return Ok(found);
                }
                bail!("no {what} {wanted:?}");
            }
            [] => continue,
            many => {
                let list: Vec<&T> = many.iter().filter_map(|i| items.get(*i)).collect();
                bail!("{what} {wanted:?} is ambiguous: it names {}; give the id", candidates(&list))
            }
        }
    }
    let all: Vec<&T> = items.iter().collect();
    if all.is_empty() {
        bail!("no {what} named {wanted:?} (there are none)")
    }
    bail!("no {what} named {wanted:?}; known: {}", candidates(&all))
}

/// A property of the caller's (a manager's), by id or name.
pub async fn property(c: &Client, text: &str) -> anyhow::Result<Property> {
    if let Ok(id) = text.trim().parse::<PropertyId>() {
        return Ok(c.get_property(id).await?);
    }
    pick("property", text, c.list_properties().await?, |p| p.id.to_string(), |p| p.name.clone())
}

pub async fn unit(c: &Client, property: PropertyId, text: &str) -> anyhow::Result<Unit> {
    pick("unit", text, c.list_units(property).await?, |u| u.id.to_string(), |u| u.label.clone())
}

pub async fn door(c: &Client, property: PropertyId, text: &str) -> anyhow::Result<AccessPoint> {
    pick("door", text, c.list_access_points(property).await?, |d| d.id.to_string(), |d| d.name.clone())
}

pub async fn drop_spot(c: &Client, property: PropertyId, text: &str) -> anyhow::Result<DropSpot> {
    pick("drop spot", text, c.list_drop_spots(property).await?, |d| d.id.to_string(), |d| d.name.clone())
}

/// A lock by its id or the name of its door (the door's one lock in service).
pub async fn lock(c: &Client, property: PropertyId, text: &str) -> anyhow::Result<Lock> {
    let locks: Vec<Lock> = c.list_locks(property).await?;
    if let Some(l) = locks.iter().find(|l| l.id.to_string() == text.trim()) {
        return Ok(l.clone());
    }
    let door = door(c, property, text).await?;
    let on_door: Vec<Lock> = locks.into_iter().filter(|l| l.access_point_id == door.id && in_service(l)).collect();
    match on_door.as_slice() {
        [one] => Ok(one.clone()),
        [] => bail!("door {:?} has no lock in service", door.name),
        many => bail!(
            "door {:?} has {} locks in service ({}); give the lock's id",
            door.name,
            many.len(),
            many.iter().map(|l| l.id.to_string()).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// Not decommissioned.
pub fn in_service(lock: &Lock) -> bool {
    lock.is_active()
}

/// A carrier by id or name (any caller that may list carriers).
pub async fn carrier(c: &Client, text: &str) -> anyhow::Result<Carrier> {
    pick("carrier", text, c.list_carriers(None).await?, |x| x.id.to_string(), |x| x.name.clone())
}

/// One of the calling carrier's drivers.
pub async fn driver(c: &Client, text: &str) -> anyhow::Result<Driver> {
    pick("driver", text, c.list_drivers().await?, |x| x.id.to_string(), |x| x.name.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<(String, String)> {
        [("1", "Lobby"), ("2", "lobby"), ("3", "Street door"), ("4", "Garage"), ("5", "garage")]
            .iter()
            .map(|(i, n)| (i.to_string(), n.to_string()))
            .collect()
    }

    fn find(text: &str) -> anyhow::Result<String> {
        pick("door", text, names(), |t| t.0.clone(), |t| t.1.clone()).map(|t| t.0)
    }

    #[test]
    fn ids_then_exact_names_then_names_ignoring_case() {
        assert_eq!(find("3").unwrap(), "3");
        assert_eq!(find("Lobby").unwrap(), "1");
        assert_eq!(find("street DOOR").unwrap(), "3");
        assert_eq!(find(" Garage ").unwrap(), "4");
    }

    #[test]
    fn ambiguity_and_absence_name_the_candidates() {
        let e = find("LOBBY").unwrap_err().to_string();
        assert!(e.contains("ambiguous") && e.contains("\"Lobby\" (1)") && e.contains("\"lobby\" (2)"), "{e}");
        let e = find("Roof").unwrap_err().to_string();
        assert!(e.contains("no door named \"Roof\"") && e.contains("Street door"), "{e}");
        let e = pick("unit", "1A", Vec::<(String, String)>::new(), |t| t.0.clone(), |t| t.1.clone()).unwrap_err();
        assert!(e.to_string().contains("there are none"));
    }
}
