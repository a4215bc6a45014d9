//! `doorman apply FILE [--dry-run]`: one TOML file describes a whole building;
//! the service is brought to it. The plan ([`plan::plan`]) is computed first
//! from the file and a snapshot of the service, then carried out step by
//! step in dependency order; a failing step stops the run and is named.
//! Applying the same file twice changes nothing.

pub mod file;
pub mod plan;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use doorman_api::*;
use doorman_client::Client;

use crate::lock_cmd::{provision_bundle, ProvisionOptions};
use file::Building;
use plan::{Current, Step};

/// Reads the file, plans, and (unless `dry_run`) applies; prints the plan,
/// one line per change, or with `json` one object: the property's name,
/// whether it was a dry run, and each change with its notes.
pub async fn run(c: &Client, path: &Path, dry_run: bool, json: bool) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let building = Building::parse(&text).with_context(|| format!("in {}", path.display()))?;
    let current = snapshot(c, &building).await?;
    let steps = plan::plan(&building, &current);
    let name = &building.file.property.name;
    let say = |line: String| {
        if !json {
            println!("{line}");
        }
    };
    let mut report = Vec::new();
    if steps.is_empty() {
        say(format!("{name}: no changes"));
    } else if dry_run {
        say(format!("{name}: {} change(s) planned (dry run: nothing changed)", steps.len()));
        for s in &steps {
            say(s.to_string());
            report.push(serde_json::json!({ "change": s.to_string(), "notes": [] }));
        }
    } else {
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut exec = Exec::new(c, &building, &current, dir);
        say(format!("{name}: applying {} change(s)", steps.len()));
        for (i, s) in steps.iter().enumerate() {
            exec.step(s).await.with_context(|| {
                format!("step {} of {} failed: {s} (the steps before it were applied)", i + 1, steps.len())
            })?;
            say(s.to_string());
            let notes: Vec<String> = exec.notes.drain(..).collect();
            for note in &notes {
                say(format!("    {note}"));
            }
            report.push(serde_json::json!({ "change": s.to_string(), "notes": notes }));
        }
        say(format!("{name}: done"));
    }
    if json {
        let all = serde_json::json!({ "property": name, "dry_run": dry_run, "changes": report });
        println!("{}", serde_json::to_string_pretty(&all)?);
    }
    Ok(())
}

/// What the service holds now for the file's property (nothing if it does not exist).
pub async fn snapshot(c: &Client, b: &Building) -> anyhow::Result<Current> {
    let name = &b.file.property.name;
    let mine: Vec<Property> = c.list_properties().await?.into_iter().filter(|p| &p.name == name).collect();
    if mine.len() > 1 {
        bail!("you manage {} properties named {name:?}: rename one (`doorman property edit`) first", mine.len());
    }
    let Some(property) = mine.into_iter().next() else { return Ok(Current::default()) };
    let id = property.id;
    let units = c.list_units(id).await?;
    let doors = c.list_access_points(id).await?;
    for d in &doors {
        if doors.iter().filter(|x| x.name == d.name).count() > 1 {
            bail!("{name} has several doors named {:?}: rename them (`doorman door edit`) first", d.name);
        }
    }
    let locks = c.list_locks(id).await?.into_iter().filter(crate::manage::resolve::in_service).collect();
    let drop_spots = c.list_drop_spots(id).await?;
    let enabled = c.list_enablements(id).await?;
    let carriers = if enabled.is_empty() { Vec::new() } else { c.list_carriers(None).await? };
    let enablements = enabled
        .into_iter()
        .map(|e| {
            let name = carriers.iter().find(|x| x.id == e.carrier_id).map(|x| x.name.clone());
            (name.unwrap_or_else(|| e.carrier_id.to_string()), e)
        })
        .collect();
    let mut people = Vec::new();
    if !b.file.residents.is_empty() {
        for u in units.iter().filter(|u| b.file.residents.iter().any(|r| r.unit == u.label)) {
            for r in c.list_unit_residents(u.id).await? {
                people.push((u.id, r.email.to_lowercase()));
            }
            // An invitation still open counts; a used one counts only through
            // its resident (who may have moved out), an expired one not at all.
            let now = doorman_domain::Clock::now(&crate::SystemClock);
            for i in c.list_unit_invitations(u.id).await? {
                if i.redeemed_at.is_none() && i.expires_at > now {
                    people.push((u.id, i.email.to_lowercase()));
                }
            }
        }
    }
    Ok(Current { property: Some(property), units, doors, locks, drop_spots, enablements, people })
}

/// Carries out steps, keeping the ids of what exists by the file's names.
struct Exec<'a> {
    c: &'a Client,
    b: &'a Building,
    dir: PathBuf,
    property: Option<Property>,
    units: HashMap<String, UnitId>,
    doors: HashMap<String, AccessPointId>,
    spots: HashMap<String, DropSpotId>,
    carriers: Option<Vec<Carrier>>,
    /// Lines to print under the step just made (invitation codes, bundles).
    notes: Vec<String>,
}

impl<'a> Exec<'a> {
    fn new(c: &'a Client, b: &'a Building, cur: &Current, dir: PathBuf) -> Self {
        Self {
            c,
            b,
            dir,
            property: cur.property.clone(),
            units: cur.units.iter().map(|u| (u.label.clone(), u.id)).collect(),
            doors: cur.doors.iter().map(|d| (d.name.clone(), d.id)).collect(),
            spots: cur.drop_spots.iter().map(|s| (s.name.clone(), s.id)).collect(),
            carriers: None,
            notes: Vec::new(),
        }
    }

    fn property(&self) -> anyhow::Result<&Property> {
        self.property.as_ref().context("the property does not exist yet")
    }

    fn unit(&self, label: &Option<String>) -> anyhow::Result<Option<UnitId>> {
        label
            .as_ref()
            .map(|l| self.units.get(l).copied().with_context(|| format!("unit {l:?} does not exist")))
            .transpose()
    }

    fn door(&self, name: &str) -> anyhow::Result<AccessPointId> {
        self.doors.get(name).copied().with_context(|| format!("door {name:?} does not exist"))
    }

    async fn carrier(&mut self, name: &str) -> anyhow::Result<CarrierId> {
        if self.carriers.is_none() {
            self.carriers = Some(self.c.list_carriers(None).await.context("listing carriers to find them by name")?);
        }
        let list = self.carriers.clone().unwrap_or_default();
        Ok(crate::manage::resolve::pick("carrier", name, list, |x| x.id.to_string(), |x| x.name.clone())?.id)
    }

    async fn step(&mut self, step: &Step) -> anyhow::Result<()> {
        let c = self.c;
        let f = &self.b.file;
        match step {
            Step::CreateProperty { .. } => {
                let p = &f.property;
                let made = c
                    .create_property(&CreateProperty {
                        kind: p.kind,
                        name: p.name.clone(),
                        address: p.address.clone(),
                        location: GeoPoint { lat: p.lat, lon: p.lon },
                        time_zone: p.time_zone.clone(),
                    })
                    .await?;
                self.property = Some(made);
            }
            Step::UpdateProperty { .. } => {
                let p = &f.property;
                let req = UpdateProperty {
                    name: None,
                    address: Some(p.address.clone()),
                    location: Some(GeoPoint { lat: p.lat, lon: p.lon }),
                    time_zone: Some(p.time_zone.clone()),
                    kind: Some(p.kind),
                };
                let id = self.property()?.id;
                self.property = Some(c.update_property(id, &req).await?);
            }
            Step::AddUnit { label } => {
                let u = c.create_unit(self.property()?.id, label).await?;
                self.units.insert(u.label.clone(), u.id);
            }
            Step::RemoveUnit { id, .. } => c.remove_unit(self.property()?.id, *id).await?,
            Step::AddDoor { name } => {
                let d = f.doors.iter().find(|d| &d.name == name).context("door not in the file")?;
                let parent_id = d.parent.as_ref().map(|p| self.door(p)).transpose()?;
                let req =
                    CreateAccessPoint { kind: d.kind, name: d.name.clone(), parent_id, unit_id: self.unit(&d.unit)? };
                let made = c.create_access_point(self.property()?.id, &req).await?;
                self.doors.insert(made.name.clone(), made.id);
            }
            Step::UpdateDoor { id, name, from, changes } => {
                let d = f.doors.iter().find(|d| &d.name == name).context("door not in the file")?;
                let mut req = UpdateAccessPoint { name: from.as_ref().map(|_| name.clone()), ..Default::default() };
                for change in changes {
                    if change.starts_with("kind") {
                        req.kind = Some(d.kind);
                    } else if change.starts_with("parent") || change.ends_with("parent") {
                        req.parent_id = Some(d.parent.as_ref().map(|p| self.door(p)).transpose()?);
                    } else {
                        req.unit_id = Some(self.unit(&d.unit)?);
                    }
                }
                c.update_access_point(self.property()?.id, *id, &req).await?;
                self.doors.insert(name.clone(), *id);
            }
            Step::RemoveDoor { id, .. } => c.remove_access_point(self.property()?.id, *id).await?,
            Step::AddDropSpot { name } => {
                let s = f.drop_spots.iter().find(|s| &s.name == name).context("drop spot not in the file")?;
                let req = CreateDropSpot {
                    name: s.name.clone(),
                    kind: s.kind,
                    access_point_id: self.door(&s.door)?,
                    unit_id: self.unit(&s.unit)?,
                };
                let made = c.create_drop_spot(self.property()?.id, &req).await?;
                self.spots.insert(made.name.clone(), made.id);
            }
            Step::UpdateDropSpot { id, name, from, changes } => {
                let s = f.drop_spots.iter().find(|s| &s.name == name).context("drop spot not in the file")?;
                let mut req = UpdateDropSpot { name: from.as_ref().map(|_| name.clone()), ..Default::default() };
                for change in changes {
                    if change.starts_with("kind") {
                        req.kind = Some(s.kind);
                    } else {
                        req.unit_id = Some(self.unit(&s.unit)?);
                    }
                }
                c.update_drop_spot(self.property()?.id, *id, &req).await?;
                self.spots.insert(name.clone(), *id);
            }
            Step::RemoveDropSpot { id, .. } => c.remove_drop_spot(self.property()?.id, *id).await?,
            Step::DisableCarrier { carrier_id, .. } => {
                crate::manage::disable_carrier(c, self.property()?.id, *carrier_id).await?;
            }
            Step::DecommissionLock { id, .. } => {
                c.decommission_lock(self.property()?.id, *id).await?;
            }
            Step::ProvisionLock { door, .. } => {
                let d = f.doors.iter().find(|d| &d.name == door).context("door not in the file")?;
                let spec = d.lock.as_ref().context("no lock in the file")?.options();
                let out = self.dir.join(&spec.bundle);
                let defaults = ProvisionOptions::default();
                let options = ProvisionOptions {
                    mobile_credential: spec.mobile_credential,
                    keypad: spec.keypad,
                    model: spec.model.unwrap_or(defaults.model),
                    firmware: spec.firmware.unwrap_or(defaults.firmware),
                    mqtt_url: None,
                    mqtt_password: None,
                };
                let bundle = provision_bundle(c, self.property()?.id, self.door(door)?, &options, &out).await?;
                self.notes.push(format!(
                    "lock {} bundle written to {} (keep it secret)",
                    bundle.lock_id,
                    out.display()
                ));
            }
            Step::EnableCarrier { name, .. } => {
                let spec = f.carriers.iter().find(|x| &x.name == name).context("carrier not in the file")?;
                let names: Vec<&String> = match &spec.drop_spots {
                    Some(list) => list.iter().collect(),
                    None => f.drop_spots.iter().map(|s| &s.name).collect(),
                };
                let allowed_drop_spots = names
                    .iter()
                    .map(|n| self.spots.get(*n).copied().with_context(|| format!("drop spot {n:?} does not exist")))
                    .collect::<anyhow::Result<Vec<_>>>()?;
                let hours = self.b.hours.get(name).cloned().unwrap_or_default();
                let id = self.carrier(name).await?;
                c.put_enablement(self.property()?.id, id, &PutEnablement { enabled: true, hours, allowed_drop_spots })
                    .await?;
            }
            Step::SetNotice => {
                let text = f.property.notice.clone().context("no notice in the file")?;
                let id = self.property()?.id;
                self.property = Some(c.set_tenant_notice(id, &SetTenantNotice { text, live_from: None }).await?);
            }
            Step::Invite { unit, name, email } => {
                let u = self.unit(&Some(unit.clone()))?.context("no unit")?;
                let inv = c.invite_resident(u, &CreateInvitation { name: name.clone(), email: email.clone() }).await?;
                self.notes.push(format!("invitation code for {email} (give it to them): {}", inv.code));
            }
        }
        Ok(())
    }
}
