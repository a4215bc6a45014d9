//! The building file `doorman apply` reads: one TOML file describing a whole
//! property. See the README ("Describe a building in one file") and
//! examples/building.toml.

use std::collections::{HashMap, HashSet};

use anyhow::{bail, Context};
use doorman_api::{AccessPointKind, DropSpotKind, PropertyKind, WeeklyHours};
use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildingFile {
    pub property: PropertySpec,
    /// Doors, in any order; `parent` names the door passed just before.
    #[serde(default, rename = "door")]
    pub doors: Vec<DoorSpec>,
    #[serde(default, rename = "drop_spot")]
    pub drop_spots: Vec<DropSpotSpec>,
    #[serde(default, rename = "carrier")]
    pub carriers: Vec<CarrierSpec>,
    #[serde(default, rename = "resident")]
    pub residents: Vec<ResidentSpec>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PropertySpec {
    pub name: String,
    #[serde(default = "building")]
    pub kind: PropertyKind,
    pub address: String,
    pub lat: f64,
    pub lon: f64,
    /// IANA name, e.g. America/New_York.
    pub time_zone: String,
    /// The tenant notice (delivery access goes live once it is set).
    #[serde(default)]
    pub notice: Option<String>,
    /// Unit labels, as printed on parcels.
    #[serde(default)]
    pub units: Vec<String>,
}

fn building() -> PropertyKind {
    PropertyKind::Building
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DoorSpec {
    pub name: String,
    pub kind: AccessPointKind,
    #[serde(default)]
    pub parent: Option<String>,
    /// For a unit's own door: its label.
    #[serde(default)]
    pub unit: Option<String>,
    #[serde(default)]
    pub lock: Option<LockSpec>,
}

/// A lock on a door: where to write its provisioning bundle (relative to the
/// file), or that and its options.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum LockSpec {
    Bundle(String),
    Full(LockOptions),
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockOptions {
    pub bundle: String,
    #[serde(default)]
    pub keypad: bool,
    #[serde(default = "yes")]
    pub mobile_credential: bool,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub firmware: Option<String>,
}

fn yes() -> bool {
    true
}

impl LockSpec {
    pub fn options(&self) -> LockOptions {
        match self {
            LockSpec::Bundle(b) => {
                LockOptions { bundle: b.clone(), keypad: false, mobile_credential: true, model: None, firmware: None }
            }
            LockSpec::Full(o) => o.clone(),
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DropSpotSpec {
    pub name: String,
    pub kind: DropSpotKind,
    /// The door it lies behind.
    pub door: String,
    #[serde(default)]
    pub unit: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CarrierSpec {
    /// The carrier's name, as the operator created it.
    pub name: String,
    /// "mon-fri 08:00-20:00", "sat,sun all day", "daily 22:00-06:00".
    pub hours: Vec<String>,
    /// Drop spots it may use (default: every drop spot in the file).
    #[serde(default)]
    pub drop_spots: Option<Vec<String>>,
    #[serde(default = "yes")]
    pub enabled: bool,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResidentSpec {
    pub unit: String,
    pub name: String,
    pub email: String,
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Reads one line of hours: DAYS then `HH:MM-HH:MM` or `all day`. DAYS is
/// `daily`, a day, a range (`mon-fri`, `fri-mon`) or a comma list of those.
/// `all day` alone is every day, all day.
pub fn parse_hours(text: &str) -> anyhow::Result<WeeklyHours> {
    let t = text.trim().to_lowercase();
    let explain =
        || format!("hours {text:?}: write e.g. \"mon-fri 08:00-20:00\", \"sat,sun all day\" or \"daily 22:00-06:00\"");
    let (days_text, rest) = match t.as_str() {
        "all day" | "always" => ("daily", "all day"),
        _ => t.split_once(' ').with_context(explain)?,
    };
    let mut days = Vec::new();
    for part in days_text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let index =
            |d: &str| DAYS.iter().position(|x| *x == d).with_context(|| format!("{}: unknown day {d:?}", explain()));
        match part {
            "daily" | "everyday" => days.extend(0..7),
            _ => match part.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (index(a)?, index(b)?);
                    let mut d = a;
                    loop {
                        days.push(d);
                        if d == b {
                            break;
                        }
                        d = (d + 1) % 7;
                    }
                }
                None => days.push(index(part)?),
            },
        }
    }
    let mut seen = HashSet::new();
    days.retain(|d| seen.insert(*d));
    days.sort_unstable();
    let (start, end) = match rest.trim() {
        "all day" => ("00:00".to_string(), "24:00".to_string()),
        span => {
            let (s, e) = span.split_once('-').with_context(explain)?;
            (s.trim().to_string(), e.trim().to_string())
        }
    };
    let slot =
        WeeklyHours { days: days.iter().filter_map(|d| DAYS.get(*d)).map(|d| d.to_string()).collect(), start, end };
    slot.validate().with_context(explain)?;
    Ok(slot)
}

/// Hours in one order, to compare what the file says with what is stored.
pub fn canonical_hours(slots: &[WeeklyHours]) -> Vec<WeeklyHours> {
    let mut out: Vec<WeeklyHours> = slots
        .iter()
        .map(|s| {
            let mut days = s.days.clone();
            days.sort_by_key(|d| DAYS.iter().position(|x| x == d).unwrap_or(7));
            days.dedup();
            WeeklyHours { days, start: s.start.clone(), end: s.end.clone() }
        })
        .collect();
    out.sort_by(|a, b| (&a.days, &a.start, &a.end).cmp(&(&b.days, &b.start, &b.end)));
    out
}

/// A checked building: names unique, references resolved, doors parents first.
#[derive(Clone, Debug)]
pub struct Building {
    pub file: BuildingFile,
    /// Each carrier's hours, parsed.
    pub hours: HashMap<String, Vec<WeeklyHours>>,
}

impl Building {
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let mut file: BuildingFile = toml::from_str(text).context("reading the building file")?;
        let unique = |what: &str, names: Vec<&String>| -> anyhow::Result<()> {
            let mut seen = HashSet::new();
            for n in names {
                if n.trim().is_empty() {
                    bail!("a {what} has an empty name");
                }
                if !seen.insert(n.as_str()) {
                    bail!("two {what}s are named {n:?}");
                }
            }
            Ok(())
        };
        unique("unit", file.property.units.iter().collect())?;
        unique("door", file.doors.iter().map(|d| &d.name).collect())?;
        unique("drop spot", file.drop_spots.iter().map(|d| &d.name).collect())?;
        unique("carrier", file.carriers.iter().map(|d| &d.name).collect())?;
        let unit_known = |u: &Option<String>, whose: &str| -> anyhow::Result<()> {
            match u {
                Some(u) if !file.property.units.contains(u) => bail!("{whose}: unit {u:?} is not in `units`"),
                _ => Ok(()),
            }
        };
        let door_names: HashSet<&str> = file.doors.iter().map(|d| d.name.as_str()).collect();
        for d in &file.doors {
            unit_known(&d.unit, &format!("door {:?}", d.name))?;
            if let Some(p) = &d.parent {
                if !door_names.contains(p.as_str()) {
                    bail!("door {:?}: parent {p:?} is not a door in the file", d.name);
                }
            }
        }
        for s in &file.drop_spots {
            unit_known(&s.unit, &format!("drop spot {:?}", s.name))?;
            if !door_names.contains(s.door.as_str()) {
                bail!("drop spot {:?}: door {:?} is not a door in the file", s.name, s.door);
            }
        }
        for r in &file.residents {
            unit_known(&Some(r.unit.clone()), &format!("resident {:?}", r.email))?;
            if !r.email.contains('@') {
                bail!("resident {:?}: {:?} is not an email address", r.name, r.email);
            }
        }
        let spot_names: HashSet<&str> = file.drop_spots.iter().map(|d| d.name.as_str()).collect();
        let mut hours = HashMap::new();
        for c in &file.carriers {
            for s in c.drop_spots.iter().flatten() {
                if !spot_names.contains(s.as_str()) {
                    bail!("carrier {:?}: drop spot {s:?} is not in the file", c.name);
                }
            }
            let slots = c.hours.iter().map(|h| parse_hours(h)).collect::<anyhow::Result<Vec<_>>>()?;
            if c.enabled && slots.is_empty() {
                bail!("carrier {:?}: give its hours, e.g. hours = [\"daily all day\"]", c.name);
            }
            hours.insert(c.name.clone(), slots);
        }
        file.doors = parents_first(&file.doors)?;
        Ok(Self { file, hours })
    }
}

/// The doors ordered so each comes after its parent; a loop is an error.
fn parents_first(doors: &[DoorSpec]) -> anyhow::Result<Vec<DoorSpec>> {
    let mut placed: HashSet<String> = HashSet::new();
    let mut out = Vec::new();
    while out.len() < doors.len() {
        let before = out.len();
        for d in doors {
            if !placed.contains(&d.name) && d.parent.as_ref().is_none_or(|p| placed.contains(p)) {
                placed.insert(d.name.clone());
                out.push(d.clone());
            }
        }
        if out.len() == before {
            let stuck: Vec<&str> =
                doors.iter().filter(|d| !placed.contains(&d.name)).map(|d| d.name.as_str()).collect();
            bail!("the doors {stuck:?} are their own ancestors (a loop of `parent`)");
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(days: &[&str], start: &str, end: &str) -> WeeklyHours {
        WeeklyHours { days: days.iter().map(|d| d.to_string()).collect(), start: start.into(), end: end.into() }
    }

    #[test]
    fn hours_read_naturally() {
        assert_eq!(
            parse_hours("mon-fri 08:00-20:00").unwrap(),
            slot(&["mon", "tue", "wed", "thu", "fri"], "08:00", "20:00")
        );
        assert_eq!(parse_hours("Sat,Sun all day").unwrap(), slot(&["sat", "sun"], "00:00", "24:00"));
        assert_eq!(parse_hours("fri 22:00-06:00").unwrap(), slot(&["fri"], "22:00", "06:00"));
        assert_eq!(parse_hours("fri-mon 10:00-12:00").unwrap(), slot(&["mon", "fri", "sat", "sun"], "10:00", "12:00"));
        assert_eq!(parse_hours("all day").unwrap().days.len(), 7);
        assert_eq!(parse_hours("daily 22:00 - 06:00").unwrap().days.len(), 7);
        for bad in ["weekdays 08:00-20:00", "mon 8-20", "mon 08:00-08:00", "mon", "mon 25:00-26:00"] {
            assert!(parse_hours(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_file_is_checked_before_anything_is_asked() {
        let base = r#"
            [property]
            name = "P"
            address = "1 Main St"
            lat = 40.0
            lon = -73.98
            time_zone = "America/New_York"
            units = ["1A"]
        "#;
        let ok = format!("{base}\n[[door]]\nname = \"B\"\nkind = \"lobby\"\nparent = \"A\"\n[[door]]\nname = \"A\"\nkind = \"entrance\"\n");
        let b = Building::parse(&ok).unwrap();
        assert_eq!(b.file.doors.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(), ["A", "B"], "parents first");
        assert_eq!(b.file.property.kind, PropertyKind::Building);
        let cases = [
            ("[[door]]\nname = \"A\"\nkind = \"lobby\"\nparent = \"Z\"", "parent \"Z\""),
            ("[[door]]\nname = \"A\"\nkind = \"lobby\"\nparent = \"B\"\n[[door]]\nname = \"B\"\nkind = \"lobby\"\nparent = \"A\"", "loop"),
            ("[[door]]\nname = \"A\"\nkind = \"lobby\"\n[[door]]\nname = \"A\"\nkind = \"lobby\"", "two doors"),
            ("[[door]]\nname = \"A\"\nkind = \"window\"", "window"),
            ("[[door]]\nname = \"A\"\nkind = \"unit_door\"\nunit = \"9Z\"", "unit \"9Z\""),
            ("[[carrier]]\nname = \"C\"\nhours = [\"someday\"]", "someday"),
            ("colour = \"red\"", "colour"),
        ];
        for (extra, says) in cases {
            let e = format!("{:#}", Building::parse(&format!("{base}\n{extra}")).unwrap_err());
            assert!(e.contains(says), "{extra}: {e}");
        }
    }
}
