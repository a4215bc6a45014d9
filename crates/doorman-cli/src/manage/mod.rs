//! The role commands, noun then verb: `doorman property create`, `doorman unit
//! add`, `doorman carrier enable`, `doorman delivery announce`... Each is a
//! thin layer over the typed client: names are resolved to ids
//! ([`resolve`]), answers printed as tables or, with `--json`, as the API's JSON.

pub mod out;
pub mod resolve;

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use doorman_api::*;
use doorman_client::Client;
use doorman_domain::Clock as _;

use crate::lock_cmd::{self, ProvisionOptions};
use out::{done, emit, local_time, or_dash, Table};

/// Where the service is and who is asking; `--json` for scripts.
#[derive(Debug, Clone, Args)]
pub struct Remote {
    /// The service's URL.
    #[arg(long, env = "DOORMAN_URL", default_value = "http://127.0.0.1:8080", global = true)]
    pub url: String,
    /// Your API token.
    #[arg(long, env = "DOORMAN_TOKEN", global = true, hide_env_values = true)]
    pub token: Option<String>,
    /// Print the API's JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

impl Remote {
    pub fn client(&self) -> anyhow::Result<Client> {
        let token = self.token.clone().context("no API token: pass --token or set DOORMAN_TOKEN")?;
        Ok(Client::new(&self.url).with_token(token))
    }
}

/// `--property NAME|ID`, for the commands about one property.
#[derive(Debug, Clone, Args)]
pub struct At {
    /// The property: its name or id.
    #[arg(long, short = 'p', env = "DOORMAN_PROPERTY")]
    pub property: String,
}

fn now() -> i64 {
    crate::SystemClock.now()
}

// --- property ------------------------------------------------------------------

#[derive(Debug, Subcommand)]
pub enum PropertyCmd {
    /// Add a property (a manager's token).
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        address: String,
        #[arg(long, allow_negative_numbers = true)]
        lat: f64,
        #[arg(long, allow_negative_numbers = true)]
        lon: f64,
        /// IANA name, e.g. America/New_York.
        #[arg(long)]
        time_zone: String,
        #[arg(long, default_value = "building", value_parser = parse_kind::<PropertyKind>)]
        kind: PropertyKind,
    },
    /// Your properties.
    List,
    /// One property: its units, doors (as a tree), drop spots, locks and carriers.
    Show { property: String },
    /// Change a property's name, address, location, time zone or kind.
    Edit {
        property: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        address: Option<String>,
        #[arg(long, allow_negative_numbers = true, requires = "lon")]
        lat: Option<f64>,
        #[arg(long, allow_negative_numbers = true, requires = "lat")]
        lon: Option<f64>,
        #[arg(long)]
        time_zone: Option<String>,
        #[arg(long, value_parser = parse_kind::<PropertyKind>)]
        kind: Option<PropertyKind>,
    },
    /// Hand the property to another manager (by name or id); you lose access.
    Handover {
        property: String,
        #[arg(long)]
        to: String,
    },
}

/// Parses one of the API's snake_case names (`package_room`; `package-room` too).
pub fn parse_kind<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::String(text.trim().replace('-', "_").to_lowercase()))
        .map_err(|_| format!("unknown kind {text:?}"))
}

pub async fn property(cmd: PropertyCmd, r: &Remote) -> anyhow::Result<()> {
    let c = r.client()?;
    match cmd {
        PropertyCmd::Create { name, address, lat, lon, time_zone, kind } => {
            let p = c
                .create_property(&CreateProperty { kind, name, address, location: GeoPoint { lat, lon }, time_zone })
                .await?;
            done(r.json, &p, || format!("property {:?} created ({})", p.name, p.id))
        }
        PropertyCmd::List => {
            let list = c.list_properties().await?;
            emit(r.json, &list, || {
                let mut t = Table::new(&["NAME", "KIND", "ADDRESS", "TIME ZONE", "NOTICE", "ID"]);
                for p in &list {
                    t.row(vec![
                        p.name.clone(),
                        p.kind.to_string(),
                        p.address.clone(),
                        p.time_zone.clone(),
                        if p.tenant_notice.is_some() { "set".into() } else { "-".into() },
                        p.id.to_string(),
                    ]);
                }
                t
            })
        }
        PropertyCmd::Show { property } => show(&c, &property, r.json).await,
        PropertyCmd::Edit { property, name, address, lat, lon, time_zone, kind } => {
            let p = resolve::property(&c, &property).await?;
            let location = lat.zip(lon).map(|(lat, lon)| GeoPoint { lat, lon });
            let req = UpdateProperty { name, address, location, time_zone, kind };
            let p = c.update_property(p.id, &req).await?;
            done(r.json, &p, || format!("property {:?} updated", p.name))
        }
        PropertyCmd::Handover { property, to } => {
            let p = resolve::property(&c, &property).await?;
            let managers = c.list_managers(None).await?;
            let m = resolve::pick("manager", &to, managers, |m| m.id.to_string(), |m| m.name.clone())?;
            let p = c.hand_over_property(p.id, m.id).await?;
            done(r.json, &p, || format!("property {:?} handed over to {}", p.name, m.name))
        }
    }
}

/// The doors as a tree: each with its children indented under it.
fn door_tree(doors: &[AccessPoint]) -> Vec<(usize, &AccessPoint)> {
    fn walk<'a>(
        doors: &'a [AccessPoint],
        parent: Option<AccessPointId>,
        depth: usize,
        out: &mut Vec<(usize, &'a AccessPoint)>,
    ) {
        for d in doors.iter().filter(|d| d.parent_id == parent) {
            if out.iter().any(|(_, x)| x.id == d.id) || depth > doors.len() {
                continue;
            }
            out.push((depth, d));
            walk(doors, Some(d.id), depth + 1, out);
        }
    }
    let mut out = Vec::new();
    walk(doors, None, 0, &mut out);
    // Doors whose parent is not listed (should not happen) still show.
    for d in doors {
        if !out.iter().any(|(_, x)| x.id == d.id) {
            out.push((0, d));
        }
    }
    out
}

fn label_of(units: &[Unit], id: Option<UnitId>) -> String {
    or_dash(id.and_then(|id| units.iter().find(|u| u.id == id)).map(|u| u.label.clone()))
}

fn door_table(doors: &[AccessPoint], units: &[Unit], locks: &[Lock]) -> Table {
    let mut t = Table::new(&["DOOR", "KIND", "UNIT", "LOCKS", "ID"]);
    for (depth, d) in door_tree(doors) {
        let n = locks.iter().filter(|l| l.access_point_id == d.id && resolve::in_service(l)).count();
        t.row(vec![
            format!("{}{}", "  ".repeat(depth), d.name),
            d.kind.to_string(),
            label_of(units, d.unit_id),
            n.to_string(),
            d.id.to_string(),
        ]);
    }
    t
}

async fn show(c: &Client, property: &str, json: bool) -> anyhow::Result<()> {
    let p = resolve::property(c, property).await?;
    let (units, doors, spots, locks, enabled) = (
        c.list_units(p.id).await?,
        c.list_access_points(p.id).await?,
        c.list_drop_spots(p.id).await?,
        c.list_locks(p.id).await?,
        c.list_enablements(p.id).await?,
    );
    if json {
        let all = serde_json::json!({
            "property": p, "units": units, "access_points": doors, "drop_spots": spots,
            "locks": locks, "carriers": enabled,
        });
        println!("{}", serde_json::to_string_pretty(&all)?);
        return Ok(());
    }
    println!("{} ({})  {}  {}  {}", p.name, p.kind, p.address, p.time_zone, p.id);
    println!("location {}, {}", p.location.lat, p.location.lon);
    match &p.tenant_notice {
        Some(n) => println!("tenant notice (live from {}): {}", local_time(n.live_from, &p.time_zone), n.text),
        None => println!("tenant notice: none yet (deliveries are refused until it is set)"),
    }
    println!(
        "\nunits: {}",
        if units.is_empty() {
            "-".into()
        } else {
            units.iter().map(|u| u.label.as_str()).collect::<Vec<_>>().join(", ")
        }
    );
    println!();
    print!("{}", door_table(&doors, &units, &locks).render());
    println!();
    print!("{}", spot_table(&spots, &doors, &units).render());
    println!();
    let carriers = c.list_carriers(None).await.unwrap_or_default();
    print!("{}", enablement_table(&enabled, &carriers, &spots).render());
    Ok(())
}

// --- units ---------------------------------------------------------------------

#[derive(Debug, Subcommand)]
pub enum UnitCmd {
    /// Add units by label.
    Add {
        #[command(flatten)]
        at: At,
        #[arg(required = true)]
        labels: Vec<String>,
    },
    List {
        #[command(flatten)]
        at: At,
    },
    /// Change a unit's label.
    Edit {
        #[command(flatten)]
        at: At,
        unit: String,
        #[arg(long)]
        label: String,
    },
    /// Remove a unit (refused while it has a resident, a door, a drop spot or an open delivery).
    Remove {
        #[command(flatten)]
        at: At,
        unit: String,
    },
}

pub async fn unit(cmd: UnitCmd, r: &Remote) -> anyhow::Result<()> {
    let c = r.client()?;
    match cmd {
        UnitCmd::Add { at, labels } => {
            let p = resolve::property(&c, &at.property).await?;
            let mut made = Vec::new();
            for label in labels {
                made.push(c.create_unit(p.id, &label).await.with_context(|| format!("adding unit {label:?}"))?);
            }
            done(r.json, &made, || {
                made.iter().map(|u| format!("unit {:?} added ({})", u.label, u.id)).collect::<Vec<_>>().join("\n")
            })
        }
        UnitCmd::List { at } => {
            let p = resolve::property(&c, &at.property).await?;
            let list = c.list_units(p.id).await?;
            emit(r.json, &list, || {
                let mut t = Table::new(&["UNIT", "ID"]);
                for u in &list {
                    t.row(vec![u.label.clone(), u.id.to_string()]);
                }
                t
            })
        }
        UnitCmd::Edit { at, unit, label } => {
            let p = resolve::property(&c, &at.property).await?;
            let u = resolve::unit(&c, p.id, &unit).await?;
            let u2 = c.update_unit(p.id, u.id, &UpdateUnit { label }).await?;
            done(r.json, &u2, || format!("unit {:?} is now {:?}", u.label, u2.label))
        }
        UnitCmd::Remove { at, unit } => {
            let p = resolve::property(&c, &at.property).await?;
            let u = resolve::unit(&c, p.id, &unit).await?;
            c.remove_unit(p.id, u.id).await?;
            done(r.json, &u, || format!("unit {:?} removed", u.label))
        }
    }
}

// --- doors -----------------------------------------------------------------------

#[derive(Debug, Subcommand)]
pub enum DoorCmd {
    /// Add a door; --parent names the door passed just before it (none: on the street).
    Add {
        #[command(flatten)]
        at: At,
        name: String,
        #[arg(long, value_parser = parse_kind::<AccessPointKind>)]
        kind: AccessPointKind,
        #[arg(long)]
        parent: Option<String>,
        /// For a unit's own door.
        #[arg(long)]
        unit: Option<String>,
    },
    /// The doors as a tree.
    List {
        #[command(flatten)]
        at: At,
    },
    /// Rename a door, or change its kind, parent or unit.
    Edit {
        #[command(flatten)]
        at: At,
        door: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long, value_parser = parse_kind::<AccessPointKind>)]
        kind: Option<AccessPointKind>,
        #[arg(long, conflicts_with = "no_parent")]
        parent: Option<String>,
        /// Make it a street door.
        #[arg(long)]
        no_parent: bool,
        #[arg(long, conflicts_with = "no_unit")]
        unit: Option<String>,
        #[arg(long)]
        no_unit: bool,
    },
    /// Remove a door (refused while it has a lock in service, child doors or drop spots).
    Remove {
        #[command(flatten)]
        at: At,
        door: String,
    },
}

pub async fn door(cmd: DoorCmd, r: &Remote) -> anyhow::Result<()> {
    let c = r.client()?;
    match cmd {
        DoorCmd::Add { at, name, kind, parent, unit } => {
            let p = resolve::property(&c, &at.property).await?;
            let parent_id = match parent {
                Some(n) => Some(resolve::door(&c, p.id, &n).await?.id),
                None => None,
            };
            let unit_id = match unit {
                Some(u) => Some(resolve::unit(&c, p.id, &u).await?.id),
                None => None,
            };
            let d = c.create_access_point(p.id, &CreateAccessPoint { kind, name, parent_id, unit_id }).await?;
            done(r.json, &d, || format!("door {:?} added ({})", d.name, d.id))
        }
        DoorCmd::List { at } => {
            let p = resolve::property(&c, &at.property).await?;
            let (doors, units, locks) =
                (c.list_access_points(p.id).await?, c.list_units(p.id).await?, c.list_locks(p.id).await?);
            emit(r.json, &doors, || door_table(&doors, &units, &locks))
        }
        DoorCmd::Edit { at, door, name, kind, parent, no_parent, unit, no_unit } => {
            let p = resolve::property(&c, &at.property).await?;
            let d = resolve::door(&c, p.id, &door).await?;
            let parent_id = match (parent, no_parent) {
                (Some(n), _) => Some(Some(resolve::door(&c, p.id, &n).await?.id)),
                (None, true) => Some(None),
                (None, false) => None,
            };
            let unit_id = match (unit, no_unit) {
                (Some(u), _) => Some(Some(resolve::unit(&c, p.id, &u).await?.id)),
                (None, true) => Some(None),
                (None, false) => None,
            };
            let req = UpdateAccessPoint { name, kind, parent_id, unit_id };
            let d2 = c.update_access_point(p.id, d.id, &req).await?;
            done(r.json, &d2, || format!("door {:?} updated", d2.name))
        }
        DoorCmd::Remove { at, door } => {
            let p = resolve::property(&c, &at.property).await?;
            let d = resolve::door(&c, p.id, &door).await?;
            c.remove_access_point(p.id, d.id).await?;
            done(r.json, &d, || format!("door {:?} removed", d.name))
        }
    }
}

// --- drop spots ------------------------------------------------------------------

#[derive(Debug, Subcommand)]
pub enum DropSpotCmd {
    /// Add a drop spot behind a door.
    Add {
        #[command(flatten)]
        at: At,
        name: String,
        #[arg(long, value_parser = parse_kind::<DropSpotKind>)]
        kind: DropSpotKind,
        /// The door it lies behind.
        #[arg(long)]
        door: String,
        #[arg(long)]
        unit: Option<String>,
    },
    List {
        #[command(flatten)]
        at: At,
    },
    Edit {
        #[command(flatten)]
        at: At,
        spot: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long, value_parser = parse_kind::<DropSpotKind>)]
        kind: Option<DropSpotKind>,
        #[arg(long, conflicts_with = "no_unit")]
        unit: Option<String>,
        #[arg(long)]
        no_unit: bool,
    },
    Remove {
        #[command(flatten)]
        at: At,
        spot: String,
    },
}

fn spot_table(spots: &[DropSpot], doors: &[AccessPoint], units: &[Unit]) -> Table {
    let mut t = Table::new(&["DROP SPOT", "KIND", "DOOR", "UNIT", "ID"]);
    for s in spots {
        let door = doors.iter().find(|d| d.id == s.access_point_id).map(|d| d.name.clone());
        t.row(vec![s.name.clone(), s.kind.to_string(), or_dash(door), label_of(units, s.unit_id), s.id.to_string()]);
    }
    t
}

pub async fn drop_spot(cmd: DropSpotCmd, r: &Remote) -> anyhow::Result<()> {
    let c = r.client()?;
    match cmd {
        DropSpotCmd::Add { at, name, kind, door, unit } => {
            let p = resolve::property(&c, &at.property).await?;
            let access_point_id = resolve::door(&c, p.id, &door).await?.id;
            let unit_id = match unit {
                Some(u) => Some(resolve::unit(&c, p.id, &u).await?.id),
                None => None,
            };
            let s = c.create_drop_spot(p.id, &CreateDropSpot { name, kind, access_point_id, unit_id }).await?;
            done(r.json, &s, || format!("drop spot {:?} added ({})", s.name, s.id))
        }
        DropSpotCmd::List { at } => {
            let p = resolve::property(&c, &at.property).await?;
            let (spots, doors, units) =
                (c.list_drop_spots(p.id).await?, c.list_access_points(p.id).await?, c.list_units(p.id).await?);
            emit(r.json, &spots, || spot_table(&spots, &doors, &units))
        }
        DropSpotCmd::Edit { at, spot, name, kind, unit, no_unit } => {
            let p = resolve::property(&c, &at.property).await?;
            let s = resolve::drop_spot(&c, p.id, &spot).await?;
            let unit_id = match (unit, no_unit) {
                (Some(u), _) => Some(Some(resolve::unit(&c, p.id, &u).await?.id)),
                (None, true) => Some(None),
                (None, false) => None,
            };
            let s2 = c.update_drop_spot(p.id, s.id, &UpdateDropSpot { name, kind, unit_id }).await?;
            done(r.json, &s2, || format!("drop spot {:?} updated", s2.name))
        }
        DropSpotCmd::Remove { at, spot } => {
            let p = resolve::property(&c, &at.property).await?;
            let s = resolve::drop_spot(&c, p.id, &spot).await?;
            c.remove_drop_spot(p.id, s.id).await?;
            done(r.json, &s, || format!("drop spot {:?} removed", s.name))
        }
    }
}

// --- locks (beside `lock run|provision|mosquitto|health`) -------------------------

#[derive(Debug, Subcommand)]
pub enum LockCmd {
    #[command(flatten)]
    Device(lock_cmd::LockCommand),
    /// The property's locks, decommissioned ones too.
    List {
        #[command(flatten)]
        at: At,
        #[command(flatten)]
        remote: Remote,
    },
    /// Take a lock out of service (by its id or its door's name): its MQTT account
    /// is refused and nothing it signs is accepted afterwards.
    Decommission {
        #[command(flatten)]
        at: At,
        lock: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Replace a lock by a new device (a new key, made here) and write the new bundle.
    Replace {
        #[command(flatten)]
        at: At,
        lock: String,
        /// Where to write the new lock's bundle.
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        keypad: bool,
        #[arg(long, default_value = "doorman-sim")]
        model: String,
        #[arg(long, default_value = env!("CARGO_PKG_VERSION"))]
        firmware: String,
        #[command(flatten)]
        remote: Remote,
    },
}

/// `doorman lock`.
#[derive(Debug, Args)]
pub struct LockArgs {
    #[command(subcommand)]
    pub command: LockCmd,
}

pub async fn lock(args: LockArgs) -> anyhow::Result<()> {
    match args.command {
        LockCmd::Device(command) => lock_cmd::run_lock(lock_cmd::LockArgs { command }).await,
        LockCmd::List { at, remote: r } => {
            let c = r.client()?;
            let p = resolve::property(&c, &at.property).await?;
            let (locks, doors) = (c.list_locks(p.id).await?, c.list_access_points(p.id).await?);
            emit(r.json, &locks, || {
                let mut t = Table::new(&["DOOR", "LOCK", "MODEL", "KEYPAD", "REGISTERED", "STATUS"]);
                for l in &locks {
                    let door = doors.iter().find(|d| d.id == l.access_point_id).map(|d| d.name.clone());
                    t.row(vec![
                        or_dash(door),
                        l.id.to_string(),
                        format!("{} {}", l.model, l.firmware),
                        if l.keypad { "yes".into() } else { "no".into() },
                        local_time(l.created_at, &p.time_zone),
                        lock_status(l, &p.time_zone),
                    ]);
                }
                t
            })
        }
        LockCmd::Decommission { at, lock, remote: r } => {
            let c = r.client()?;
            let p = resolve::property(&c, &at.property).await?;
            let l = resolve::lock(&c, p.id, &lock).await?;
            let l = c.decommission_lock(p.id, l.id).await?;
            done(r.json, &l, || format!("lock {} decommissioned", l.id))
        }
        LockCmd::Replace { at, lock, out, keypad, model, firmware, remote: r } => {
            let c = r.client()?;
            let p = resolve::property(&c, &at.property).await?;
            let old = resolve::lock(&c, p.id, &lock).await?;
            let options = ProvisionOptions { keypad, model, firmware, ..ProvisionOptions::default() };
            let bundle = lock_cmd::replace_bundle(&c, p.id, old.id, &options, &out).await?;
            done(r.json, &serde_json::json!({ "replaced": old.id, "lock_id": bundle.lock_id }), || {
                format!(
                    "lock {} replaced by {}; bundle written to {} (keep it secret)",
                    old.id,
                    bundle.lock_id,
                    out.display()
                )
            })
        }
    }
}

fn lock_status(l: &Lock, tz: &str) -> String {
    match (l.decommissioned_at, l.replaced_by) {
        (None, _) => "in service".into(),
        (Some(at), None) => format!("decommissioned {}", local_time(at, tz)),
        (Some(at), Some(by)) => format!("replaced {} by {by}", local_time(at, tz)),
    }
}

// --- carriers --------------------------------------------------------------------

#[derive(Debug, Subcommand)]
pub enum CarrierCmd {
    /// Create a carrier's account; prints its API token once (operator).
    Create {
        #[arg(long)]
        name: String,
    },
    /// Carriers (operator, or a manager looking for one; --name filters).
    List {
        #[arg(long)]
        name: Option<String>,
    },
    /// Let a carrier in at your property, at these hours and drop spots (a manager).
    Enable {
        carrier: String,
        #[command(flatten)]
        at: At,
        /// "mon-fri 08:00-20:00", "sat,sun all day", "daily 22:00-06:00" (repeat).
        #[arg(long = "hours", required = true)]
        hours: Vec<String>,
        /// A drop spot it may use (repeat; default: all of them).
        #[arg(long = "drop-spot")]
        drop_spots: Vec<String>,
    },
    /// Stop letting a carrier in: its outstanding credentials here are revoked.
    Disable {
        carrier: String,
        #[command(flatten)]
        at: At,
    },
    /// The carriers enabled at a property, with their hours.
    Enabled {
        #[command(flatten)]
        at: At,
    },
    /// The properties that enabled you, with their units (a carrier's token).
    Properties,
}

/// Hours as `apply` reads them: "mon-fri 08:00-20:00; sat,sun all day".
pub fn hours_text(h: &[WeeklyHours]) -> String {
    h.iter()
        .map(|s| {
            let span = if s.is_all_day() { "all day".to_string() } else { format!("{}-{}", s.start, s.end) };
            format!("{} {span}", days_text(&s.days))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// "mon,tue,wed,thu,fri" as "mon-fri", all seven as "daily".
fn days_text(days: &[String]) -> String {
    const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let mut index: Vec<usize> = days.iter().filter_map(|d| DAYS.iter().position(|x| x == d)).collect();
    index.sort_unstable();
    index.dedup();
    if index.len() == 7 {
        return "daily".into();
    }
    let name = |i: usize| DAYS.get(i).copied().unwrap_or("?");
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while let Some(&start) = index.get(i) {
        let mut end = start;
        while index.get(i + 1) == Some(&(end + 1)) {
            end += 1;
            i += 1;
        }
        parts.push(match end - start {
            0 => name(start).to_string(),
            1 => format!("{},{}", name(start), name(end)),
            _ => format!("{}-{}", name(start), name(end)),
        });
        i += 1;
    }
    parts.join(",")
}

fn enablement_table(list: &[CarrierEnablement], carriers: &[Carrier], spots: &[DropSpot]) -> Table {
    let mut t = Table::new(&["CARRIER", "ENABLED", "HOURS", "DROP SPOTS"]);
    for e in list {
        let name =
            carriers.iter().find(|c| c.id == e.carrier_id).map(|c| c.name.clone()).unwrap_or(e.carrier_id.to_string());
        let spot_names: Vec<String> = e
            .allowed_drop_spots
            .iter()
            .map(|id| spots.iter().find(|s| s.id == *id).map(|s| s.name.clone()).unwrap_or(id.to_string()))
            .collect();
        t.row(vec![
            name,
            if e.enabled { "yes".into() } else { "no".into() },
            hours_text(&e.hours),
            spot_names.join(", "),
        ]);
    }
    t
}

pub async fn carrier(cmd: CarrierCmd, r: &Remote) -> anyhow::Result<()> {
    let c = r.client()?;
    match cmd {
        CarrierCmd::Create { name } => {
            let m = c.create_carrier(&name).await?;
            done(r.json, &m, || format!("carrier {} ({})\ntoken (shown once): {}", m.item.name, m.item.id, m.token))
        }
        CarrierCmd::List { name } => {
            let list = c.list_carriers(name.as_deref()).await?;
            emit(r.json, &list, || {
                let mut t = Table::new(&["CARRIER", "ID"]);
                for x in &list {
                    t.row(vec![x.name.clone(), x.id.to_string()]);
                }
                t
            })
        }
        CarrierCmd::Enable { carrier, at, hours, drop_spots } => {
            let p = resolve::property(&c, &at.property).await?;
            let carrier = resolve::carrier(&c, &carrier).await?;
            let hours = hours.iter().map(|h| crate::apply::file::parse_hours(h)).collect::<anyhow::Result<Vec<_>>>()?;
            let all = c.list_drop_spots(p.id).await?;
            let allowed_drop_spots = if drop_spots.is_empty() {
                all.iter().map(|s| s.id).collect()
            } else {
                let mut ids = Vec::new();
                for s in &drop_spots {
                    ids.push(resolve::pick("drop spot", s, all.clone(), |x| x.id.to_string(), |x| x.name.clone())?.id);
                }
                ids
            };
            let e =
                c.put_enablement(p.id, carrier.id, &PutEnablement { enabled: true, hours, allowed_drop_spots }).await?;
            done(r.json, &e, || format!("carrier {} enabled at {} ({})", carrier.name, p.name, hours_text(&e.hours)))
        }
        CarrierCmd::Disable { carrier, at } => {
            let p = resolve::property(&c, &at.property).await?;
            let carrier = resolve::carrier(&c, &carrier).await?;
            let e = disable_carrier(&c, p.id, carrier.id).await?;
            done(r.json, &e, || {
                format!(
                    "carrier {} disabled at {}; its outstanding credentials there are revoked",
                    carrier.name, p.name
                )
            })
        }
        CarrierCmd::Enabled { at } => {
            let p = resolve::property(&c, &at.property).await?;
            let (list, spots) = (c.list_enablements(p.id).await?, c.list_drop_spots(p.id).await?);
            let carriers = c.list_carriers(None).await?;
            emit(r.json, &list, || enablement_table(&list, &carriers, &spots))
        }
        CarrierCmd::Properties => {
            let list = c.carrier_properties().await?;
            emit(r.json, &list, || {
                let mut t = Table::new(&["PROPERTY", "ADDRESS", "TIME ZONE", "HOURS", "UNITS", "ID"]);
                for p in &list {
                    t.row(vec![
                        p.name.clone(),
                        p.address.clone(),
                        p.time_zone.clone(),
                        hours_text(&p.hours),
                        p.units.iter().map(|u| u.label.as_str()).collect::<Vec<_>>().join(", "),
                        p.property_id.to_string(),
                    ]);
                }
                t
            })
        }
    }
}

/// Disables an enablement, keeping its hours and drop spots for a later enable.
pub async fn disable_carrier(
    c: &Client,
    property: PropertyId,
    carrier: CarrierId,
) -> anyhow::Result<CarrierEnablement> {
    let now = c.list_enablements(property).await?.into_iter().find(|e| e.carrier_id == carrier);
    let Some(now) = now else { bail!("that carrier is not enabled at this property") };
    let req = PutEnablement { enabled: false, hours: now.hours, allowed_drop_spots: now.allowed_drop_spots };
    Ok(c.put_enablement(property, carrier, &req).await?)
}

// --- tenant notice ------------------------------------------------------------------

#[derive(Debug, Subcommand)]
pub enum NoticeCmd {
    /// Set the tenant notice (delivery access goes live from --live-from, default now).
    Set {
        #[command(flatten)]
        at: At,
        text: String,
        /// now, +2d, 2026-04-01T08:00 (property time) or RFC 3339.
        #[arg(long, allow_hyphen_values = true)]
        live_from: Option<String>,
    },
}

pub async fn notice(cmd: NoticeCmd, r: &Remote) -> anyhow::Result<()> {
    let c = r.client()?;
    let NoticeCmd::Set { at, text, live_from } = cmd;
    let p = resolve::property(&c, &at.property).await?;
    let live_from = live_from.map(|t| out::parse_time(&t, now(), &p.time_zone)).transpose()?;
    let p = c.set_tenant_notice(p.id, &SetTenantNotice { text, live_from }).await?;
    done(r.json, &p, || {
        let from = p.tenant_notice.as_ref().map(|n| local_time(n.live_from, &p.time_zone)).unwrap_or_default();
        format!("tenant notice of {} set; residents notified; live from {from}", p.name)
    })
}

// --- residents ----------------------------------------------------------------------

#[derive(Debug, Subcommand)]
pub enum ResidentCmd {
    /// Invite a resident to a unit: prints the one-time code to hand them.
    Invite {
        #[command(flatten)]
        at: At,
        #[arg(long)]
        unit: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        email: String,
    },
    /// The residents (and open invitations) of a unit, or of every unit.
    List {
        #[command(flatten)]
        at: At,
        #[arg(long)]
        unit: Option<String>,
    },
    /// A resident moves out: their tokens and sessions end.
    MoveOut {
        #[command(flatten)]
        at: At,
        #[arg(long)]
        unit: String,
        /// Their name, email or id.
        resident: String,
    },
    /// A resident lost every device: prints a new one-time code for the same
    /// account (history and preferences kept); their passkeys stop working now.
    Reinvite {
        #[command(flatten)]
        at: At,
        #[arg(long)]
        unit: String,
        /// Their name, email or id.
        resident: String,
    },
}

/// A current resident of the unit, by email, name or id.
async fn unit_resident(c: &Client, unit: UnitId, resident: &str) -> anyhow::Result<Resident> {
    let list = c.list_unit_residents(unit).await?;
    Ok(match list.iter().find(|x| x.email.eq_ignore_ascii_case(resident.trim())) {
        Some(x) => x.clone(),
        None => resolve::pick("resident", resident, list, |x| x.id.to_string(), |x| x.name.clone())?,
    })
}

pub async fn resident(cmd: ResidentCmd, r: &Remote) -> anyhow::Result<()> {
    let c = r.client()?;
    match cmd {
        ResidentCmd::Invite { at, unit, name, email } => {
            let p = resolve::property(&c, &at.property).await?;
            let u = resolve::unit(&c, p.id, &unit).await?;
            let inv = c.invite_resident(u.id, &CreateInvitation { name, email }).await?;
            done(r.json, &inv, || {
                format!(
                    "{} <{}> invited to unit {}; invitation code (give it to them): {}",
                    inv.invitation.name, inv.invitation.email, u.label, inv.code
                )
            })
        }
        ResidentCmd::List { at, unit } => {
            let p = resolve::property(&c, &at.property).await?;
            let units = match unit {
                Some(u) => vec![resolve::unit(&c, p.id, &u).await?],
                None => c.list_units(p.id).await?,
            };
            let mut rows = Vec::new();
            let mut all = Vec::new();
            for u in &units {
                for res in c.list_unit_residents(u.id).await? {
                    rows.push(vec![
                        u.label.clone(),
                        res.name.clone(),
                        res.email.clone(),
                        "resident".into(),
                        local_time(res.created_at, &p.time_zone),
                        res.id.to_string(),
                    ]);
                    all.push(serde_json::to_value(&res)?);
                }
                for inv in c.list_unit_invitations(u.id).await? {
                    if inv.redeemed_at.is_some() {
                        continue;
                    }
                    let state = if inv.expires_at < now() { "invitation expired" } else { "invited" };
                    rows.push(vec![
                        u.label.clone(),
                        inv.name.clone(),
                        inv.email.clone(),
                        state.into(),
                        local_time(inv.created_at, &p.time_zone),
                        inv.id.to_string(),
                    ]);
                    all.push(serde_json::to_value(&inv)?);
                }
            }
            emit(r.json, &all, || {
                let mut t = Table::new(&["UNIT", "NAME", "EMAIL", "STATUS", "SINCE", "ID"]);
                for row in rows {
                    t.row(row);
                }
                t
            })
        }
        ResidentCmd::MoveOut { at, unit, resident } => {
            let p = resolve::property(&c, &at.property).await?;
            let u = resolve::unit(&c, p.id, &unit).await?;
            let who = unit_resident(&c, u.id, &resident).await?;
            let gone = c.move_out_resident(u.id, who.id).await?;
            done(r.json, &gone, || {
                format!("{} moved out of unit {}; their tokens and sessions are ended", gone.name, u.label)
            })
        }
        ResidentCmd::Reinvite { at, unit, resident } => {
            let p = resolve::property(&c, &at.property).await?;
            let u = resolve::unit(&c, p.id, &unit).await?;
            let who = unit_resident(&c, u.id, &resident).await?;
            let inv = c.reinvite_resident(u.id, who.id).await?;
            done(r.json, &inv, || {
                format!(
                    "{} <{}> re-invited to unit {}; their passkeys no longer sign in; \
                     invitation code (give it to them): {}",
                    inv.invitation.name, inv.invitation.email, u.label, inv.code
                )
            })
        }
    }
}

// --- drivers (beside the handheld's `driver keygen|deliver|...`) ---------------------

#[derive(Debug, Subcommand)]
pub enum DriverCmd {
    #[command(flatten)]
    Handheld(lock_cmd::DriverCommand),
    /// Add a driver (a carrier's token); prints the driver's API token once.
    Add {
        name: String,
        /// The handheld key file (`doorman driver keygen`).
        #[arg(long, conflicts_with = "handheld_key")]
        handheld: Option<PathBuf>,
        /// Or its public key (base64url).
        #[arg(long)]
        handheld_key: Option<String>,
        /// The background check's outcome.
        #[arg(long, default_value = "passed", value_parser = parse_kind::<VettingStatus>)]
        vetting: VettingStatus,
        #[command(flatten)]
        remote: Remote,
    },
    /// Your drivers.
    List {
        #[command(flatten)]
        remote: Remote,
    },
    /// Suspend a driver: no new access from now on.
    Suspend {
        driver: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Let a suspended driver work again.
    Resume {
        driver: String,
        #[command(flatten)]
        remote: Remote,
    },
}

/// `doorman driver`.
#[derive(Debug, Args)]
pub struct DriverArgs {
    #[command(subcommand)]
    pub command: DriverCmd,
}

pub async fn driver(args: DriverArgs) -> anyhow::Result<()> {
    match args.command {
        DriverCmd::Handheld(command) => lock_cmd::run_driver(lock_cmd::DriverArgs { command }).await,
        DriverCmd::Add { name, handheld, handheld_key, vetting, remote: r } => {
            let c = r.client()?;
            let handheld_public_key = match (handheld, handheld_key) {
                (Some(path), _) => Some(lock_cmd::handheld_public_key(&path)?),
                (None, key) => key,
            };
            let vetted_at = (vetting == VettingStatus::Passed).then(now);
            let d = c.create_driver(&CreateDriver { name, handheld_public_key, vetting, vetted_at }).await?;
            done(r.json, &d, || format!("driver {} ({})\ntoken (shown once): {}", d.item.name, d.item.id, d.token))
        }
        DriverCmd::List { remote: r } => {
            let c = r.client()?;
            let list = c.list_drivers().await?;
            emit(r.json, &list, || {
                let mut t = Table::new(&["DRIVER", "STATUS", "VETTING", "HANDHELD", "ID"]);
                for d in &list {
                    t.row(vec![
                        d.name.clone(),
                        d.status.to_string(),
                        d.vetting.to_string(),
                        if d.handheld_public_key.is_some() { "registered".into() } else { "-".into() },
                        d.id.to_string(),
                    ]);
                }
                t
            })
        }
        DriverCmd::Suspend { driver, remote: r } => set_driver_status(driver, r, DriverStatus::Suspended).await,
        DriverCmd::Resume { driver, remote: r } => set_driver_status(driver, r, DriverStatus::Active).await,
    }
}

async fn set_driver_status(driver: String, r: Remote, status: DriverStatus) -> anyhow::Result<()> {
    let c = r.client()?;
    let d = resolve::driver(&c, &driver).await?;
    let d = c.update_driver(d.id, &UpdateDriver { status: Some(status), ..UpdateDriver::default() }).await?;
    done(r.json, &d, || format!("driver {} is {}", d.name, d.status))
}

// --- deliveries (a carrier's) ---------------------------------------------------------

#[derive(Debug, Subcommand)]
pub enum DeliveryCmd {
    /// Announce a parcel for a unit, by the unit's label (as printed on the parcel).
    Announce {
        /// The property: its name (among those that enabled you) or id.
        #[arg(long, short = 'p')]
        property: String,
        #[arg(long)]
        unit: String,
        #[arg(long)]
        tracking: String,
        /// Start of the delivery window: now, +1h, 2026-03-11T09:00 (property time), RFC 3339.
        #[arg(long, default_value = "now", allow_hyphen_values = true)]
        from: String,
        /// End of the window.
        #[arg(long, default_value = "+8h", allow_hyphen_values = true)]
        until: String,
        /// drop or pickup.
        #[arg(long, default_value = "drop", value_parser = parse_kind::<DeliveryKind>)]
        kind: DeliveryKind,
    },
    /// Tell the resident when the parcel will arrive.
    Eta {
        /// The delivery's id or tracking number.
        delivery: String,
        /// +30m, 2026-03-11T15:30 (property time), RFC 3339.
        #[arg(allow_hyphen_values = true)]
        eta: String,
    },
    /// Cancel a delivery (its credentials stop opening doors).
    Cancel { delivery: String },
    /// Your deliveries.
    List,
}

/// The property a carrier names: id, or name among the properties that enabled it.
pub(crate) async fn carrier_property(c: &Client, text: &str) -> anyhow::Result<EnabledProperty> {
    let list = c.carrier_properties().await?;
    resolve::pick("property", text, list, |p| p.property_id.to_string(), |p| p.name.clone())
}

async fn find_delivery(c: &Client, text: &str) -> anyhow::Result<Delivery> {
    if let Ok(id) = text.trim().parse::<DeliveryId>() {
        return Ok(c.get_delivery(id).await?);
    }
    let list = c.list_deliveries().await?;
    let hits: Vec<Delivery> = list.into_iter().filter(|d| d.tracking_number == text.trim()).collect();
    if hits.len() == 1 {
        if let Some(d) = hits.into_iter().next() {
            return Ok(d);
        }
        bail!("no delivery {text:?}");
    }
    match hits.len() {
        0 => bail!("no delivery with id or tracking number {text:?}"),
        n => bail!(
            "{n} deliveries have tracking number {text:?}; give the id ({})",
            hits.iter().map(|d| d.id.to_string()).collect::<Vec<_>>().join(", ")
        ),
    }
}

pub async fn delivery(cmd: DeliveryCmd, r: &Remote) -> anyhow::Result<()> {
    let c = r.client()?;
    match cmd {
        DeliveryCmd::Announce { property, unit, tracking, from, until, kind } => {
            let p = carrier_property(&c, &property).await?;
            let (start, end) =
                (out::parse_time(&from, now(), &p.time_zone)?, out::parse_time(&until, now(), &p.time_zone)?);
            let (unit_id, unit_label) = match unit.trim().parse::<UnitId>() {
                Ok(id) => (Some(id), None),
                Err(_) => (None, Some(unit.clone())),
            };
            let req = CreateDelivery {
                tracking_number: tracking,
                property_id: p.property_id,
                unit_id,
                unit_label,
                kind,
                window_start: start,
                window_end: end,
            };
            let d = c.create_delivery(&req).await?;
            done(r.json, &d, || {
                format!(
                    "delivery {} announced for unit {unit} at {}, {} to {} ({})",
                    d.tracking_number,
                    p.name,
                    local_time(d.window_start, &p.time_zone),
                    local_time(d.window_end, &p.time_zone),
                    d.id
                )
            })
        }
        DeliveryCmd::Eta { delivery, eta } => {
            let d = find_delivery(&c, &delivery).await?;
            let tz = c
                .carrier_properties()
                .await
                .ok()
                .and_then(|l| l.into_iter().find(|p| p.property_id == d.property_id))
                .map(|p| p.time_zone)
                .unwrap_or_else(|| "UTC".into());
            let at = out::parse_time(&eta, now(), &tz)?;
            let d = c.update_eta(d.id, at).await?;
            done(r.json, &d, || format!("delivery {}: ETA {}", d.tracking_number, local_time(at, &tz)))
        }
        DeliveryCmd::Cancel { delivery } => {
            let d = find_delivery(&c, &delivery).await?;
            let d = c.cancel_delivery(d.id).await?;
            done(r.json, &d, || format!("delivery {} cancelled", d.tracking_number))
        }
        DeliveryCmd::List => {
            let list = c.list_deliveries().await?;
            let props = c.carrier_properties().await.unwrap_or_default();
            emit(r.json, &list, || {
                let mut t = Table::new(&["TRACKING", "STATE", "PROPERTY", "UNIT", "WINDOW", "ETA", "ID"]);
                for d in &list {
                    let p = props.iter().find(|p| p.property_id == d.property_id);
                    let tz = p.map(|p| p.time_zone.as_str()).unwrap_or("UTC");
                    let unit = p.and_then(|p| p.units.iter().find(|u| u.id == d.unit_id)).map(|u| u.label.clone());
                    t.row(vec![
                        d.tracking_number.clone(),
                        d.state.as_str().to_string(),
                        or_dash(p.map(|p| p.name.clone())),
                        or_dash(unit),
                        format!("{} - {}", local_time(d.window_start, tz), local_time(d.window_end, tz)),
                        or_dash(d.eta.map(|e| local_time(e, tz))),
                        d.id.to_string(),
                    ]);
                }
                t
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_print_as_apply_reads_them() {
        let read = |t: &[&str]| t.iter().map(|h| crate::apply::file::parse_hours(h).unwrap()).collect::<Vec<_>>();
        for text in
            ["mon-fri 08:00-20:00; sat,sun all day", "daily 22:00-06:00", "mon,wed-fri 09:00-17:00", "sun all day"]
        {
            let slots = read(&text.split("; ").collect::<Vec<_>>());
            assert_eq!(hours_text(&slots), text);
        }
    }
}
