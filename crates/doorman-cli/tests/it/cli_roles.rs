//! The role commands and `doorman apply`, through the real binary against a
//! served instance: a building from nothing to a granted delivery with
//! `doorman` commands only, then the same file again (no change) and an
//! edited one (exactly the difference).

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use anyhow::Context;
use doorman_api::*;
use doorman_devices::{LockBundle, LockEndpoint};
use doorman_domain::Clock;

use crate::fleet::eventually;
use crate::kit::{Kit, TempDir};

const EXAMPLE: &str = include_str!("../../../../examples/building.toml");

/// `doorman ARGS` with DOORMAN_URL and DOORMAN_TOKEN set, off the async workers.
async fn doorman(kit: &Kit, token: &str, args: &[&str]) -> anyhow::Result<Output> {
    let mut command = Command::new(env!("CARGO_BIN_EXE_doorman"));
    command.args(args).env("DOORMAN_URL", kit.running.url()).env("DOORMAN_TOKEN", token).env_remove("DOORMAN_PROPERTY");
    Ok(tokio::task::spawn_blocking(move || command.output()).await??)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs and expects success; the standard output.
async fn ok(kit: &Kit, token: &str, args: &[&str]) -> anyhow::Result<String> {
    let o = doorman(kit, token, args).await?;
    anyhow::ensure!(o.status.success(), "doorman {args:?} failed:\n{}{}", stdout(&o), stderr(&o));
    Ok(stdout(&o))
}

/// Runs with --json and parses the answer.
async fn json<T: serde::de::DeserializeOwned>(kit: &Kit, token: &str, args: &[&str]) -> anyhow::Result<T> {
    let mut all = args.to_vec();
    all.push("--json");
    let text = ok(kit, token, &all).await?;
    serde_json::from_str(&text).with_context(|| format!("doorman {args:?} --json printed: {text}"))
}

/// Runs and expects failure; the error output.
async fn fails(kit: &Kit, token: &str, args: &[&str]) -> anyhow::Result<String> {
    let o = doorman(kit, token, args).await?;
    anyhow::ensure!(!o.status.success(), "doorman {args:?} succeeded:\n{}", stdout(&o));
    Ok(stderr(&o))
}

fn token_line(text: &str) -> anyhow::Result<String> {
    text.lines()
        .find_map(|l| l.strip_prefix("token (shown once): "))
        .map(str::to_string)
        .with_context(|| format!("no token in {text}"))
}

/// The plan lines (`+ `, `~ `, `- `) a run of `doorman apply` printed.
fn plan_lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| l.starts_with("+ ") || l.starts_with("~ ") || l.starts_with("- ")).collect()
}

struct LockProcess(Child);

impl Drop for LockProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `doorman lock run` on the bundles apply wrote; waits until every lock serves with a live camera.
async fn run_locks(dir: &Path, bundles: &[&str]) -> anyhow::Result<(LockProcess, String)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_doorman"));
    command.args(["lock", "run", "--listen", &format!("127.0.0.1:{port}"), "--state-dir"]).arg(dir.join("state"));
    for b in bundles {
        command.arg("--bundle").arg(dir.join(b));
    }
    let mut process =
        LockProcess(command.env("DOORMAN_LOG", "warn").stdout(Stdio::null()).stderr(Stdio::null()).spawn()?);
    let endpoint = LockEndpoint::new(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    let locks = bundles.iter().map(|b| LockBundle::read(&dir.join(b))?.lock()).collect::<Result<Vec<_>, _>>()?;
    eventually("the locks serve with a live camera", || {
        let exited = process.0.try_wait();
        let (endpoint, locks) = (endpoint.clone(), locks.clone());
        async move {
            if let Some(status) = exited? {
                anyhow::bail!("doorman lock run exited with {status}");
            }
            for lock in locks {
                if !endpoint.status(lock).await.is_ok_and(|s| !s.camera_stale) {
                    return Ok(false);
                }
            }
            Ok(true)
        }
    })
    .await?;
    Ok((process, format!("127.0.0.1:{port}")))
}

/// From nothing to a granted delivery with `doorman` commands only: apply of
/// the example file, a resident invited, a driver added, a delivery announced
/// by unit label, `driver deliver` opening every door on simulated locks
/// running from the bundles apply wrote. Then: the same file again changes
/// nothing; an edited file (a door renamed, a unit added, a carrier disabled)
/// applies exactly that.
pub async fn cli_a_building_from_nothing_to_a_granted_delivery(kit: &Kit) -> anyhow::Result<()> {
    // The locks run on the wall clock: so does the service here.
    kit.set_time(doorman_cli::SystemClock.now());
    let op = kit.operator.token().context("operator token")?.to_string();
    let dir = TempDir::new("doorman-cli-roles")?;
    let file = dir.path().join("building.toml");
    std::fs::write(&file, EXAMPLE)?;
    let file = file.to_str().context("utf-8 path")?;

    // The operator makes the accounts.
    let rosa = token_line(&ok(kit, &op, &["manager", "create", "--name", "Rosa"]).await?)?;
    let parcelo: CarrierCreated = json(kit, &op, &["carrier", "create", "--name", "Parcelo"]).await?;
    json::<CarrierCreated>(kit, &op, &["carrier", "create", "--name", "NightOwl Couriers"]).await?;

    // The manager: a dry run changes nothing; the file builds the whole building.
    let dry = ok(kit, &rosa, &["apply", "--dry-run", file]).await?;
    assert!(dry.contains("16 change(s) planned (dry run: nothing changed)"), "{dry}");
    assert_eq!(plan_lines(&dry).len(), 16, "{dry}");
    assert!(json::<Vec<Property>>(kit, &rosa, &["property", "list"]).await?.is_empty());
    let applied = ok(kit, &rosa, &["apply", file]).await?;
    assert_eq!(plan_lines(&applied), plan_lines(&dry), "{applied}");
    assert!(applied.contains("invitation code for jun@example.com"), "{applied}");
    let again = ok(kit, &rosa, &["apply", file]).await?;
    assert_eq!(again.trim(), "Maple Court: no changes");
    let again: serde_json::Value = json(kit, &rosa, &["apply", file]).await?;
    assert_eq!(again, serde_json::json!({ "property": "Maple Court", "dry_run": false, "changes": [] }));

    let properties: Vec<Property> = json(kit, &rosa, &["property", "list"]).await?;
    let property = properties.first().context("the property")?.clone();
    assert!(property.tenant_notice.is_some());
    let doors: Vec<AccessPoint> = json(kit, &rosa, &["door", "list", "--property", "Maple Court"]).await?;
    let names: Vec<&str> = doors.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names.len(), 4, "{names:?}");
    let lobby = doors.iter().find(|d| d.name == "Lobby").context("lobby")?;
    let street = doors.iter().find(|d| d.name == "Street door").context("street door")?;
    assert_eq!(lobby.parent_id, Some(street.id));
    let locks: Vec<Lock> = json(kit, &rosa, &["lock", "list", "--property", "maple court"]).await?;
    assert_eq!(locks.len(), 3);
    let enabled: Vec<CarrierEnablement> = json(kit, &rosa, &["carrier", "enabled", "-p", "Maple Court"]).await?;
    assert!(enabled.iter().all(|e| e.enabled) && enabled.len() == 2);
    let table = ok(kit, &rosa, &["door", "list", "-p", "Maple Court"]).await?;
    assert!(
        table.lines().any(|l| l.starts_with("    Package room ") && l.contains("package_room")),
        "the tree:\n{table}"
    );

    // A resident invited by hand, beside the file's.
    let invited = ok(
        kit,
        &rosa,
        &["resident", "invite", "-p", "Maple Court", "--unit", "2b", "--name", "Ada", "--email", "ada@example.com"],
    )
    .await?;
    assert!(invited.contains("invitation code"), "{invited}");

    // The carrier: a driver with a handheld, a parcel announced by unit label.
    let key = dir.path().join("handheld.key");
    ok(kit, &parcelo.token, &["driver", "keygen", "--out", key.to_str().context("path")?]).await?;
    let driver: DriverCreated =
        json(kit, &parcelo.token, &["driver", "add", "Dee", "--handheld", key.to_str().context("path")?]).await?;
    let listed = ok(kit, &parcelo.token, &["carrier", "properties"]).await?;
    assert!(listed.contains("Maple Court") && listed.contains("1A, 2B"), "{listed}");
    let announced = ok(
        kit,
        &parcelo.token,
        &["delivery", "announce", "--property", "Maple Court", "--unit", "2B", "--tracking", "PCL-1"],
    )
    .await?;
    assert!(announced.contains("PCL-1"), "{announced}");

    // The driver at the door: every door on the path opens.
    let bundles = ["locks/street-door.json", "locks/lobby.json", "locks/package-room.json"];
    let (_locks, endpoint) = run_locks(dir.path(), &bundles).await?;
    // The service's clock is held by the test: bring it to the wall clock the
    // CLI read when it announced the window.
    kit.set_time(doorman_cli::SystemClock.now());
    let delivered = ok(
        kit,
        &driver.token,
        &[
            "driver",
            "deliver",
            "--handheld",
            key.to_str().context("path")?,
            "--tracking",
            "PCL-1",
            "--property",
            "Maple Court",
            "--lat",
            "40.6782",
            "--lon",
            "-73.9442",
            "--endpoint",
            &endpoint,
        ],
    )
    .await?;
    for door in ["Street door", "Lobby", "Package room"] {
        assert!(delivered.lines().any(|l| l.starts_with(door) && l.contains("OPENS")), "{door}:\n{delivered}");
    }
    assert!(delivered.contains("drop confirmed"), "{delivered}");
    let health = ok(kit, &rosa, &["lock", "health", "-p", "Maple Court"]).await?;
    assert!(["Street door", "Lobby", "Package room"].iter().all(|d| health.contains(d)), "{health}");
    let deliveries: Vec<Delivery> = json(kit, &parcelo.token, &["delivery", "list"]).await?;
    assert_eq!(deliveries.first().map(|d| d.state), Some(DeliveryState::Delivered));

    // An edited file: a door renamed, a unit added, a carrier disabled.
    let edited = EXAMPLE
        .replace("\"Package room\"", "\"Parcel room\"")
        .replace("units = [\"1A\", \"2B\"]", "units = [\"1A\", \"2B\", \"3C\"]")
        .replace("drop_spots = [\"Package room shelf\"]", "drop_spots = [\"Package room shelf\"]\nenabled = false");
    std::fs::write(dir.path().join("building.toml"), edited)?;
    let expected = [
        "+ unit \"3C\"",
        "~ door \"Package room\" renamed to \"Parcel room\"",
        "- carrier \"NightOwl Couriers\" disabled",
    ];
    let dry = ok(kit, &rosa, &["apply", file, "--dry-run"]).await?;
    assert_eq!(plan_lines(&dry), expected, "{dry}");
    let dry: serde_json::Value = json(kit, &rosa, &["apply", file, "--dry-run"]).await?;
    let changes: Vec<&str> =
        dry["changes"].as_array().context("changes")?.iter().filter_map(|c| c["change"].as_str()).collect();
    assert_eq!(changes, expected);
    let applied = ok(kit, &rosa, &["apply", file]).await?;
    assert_eq!(plan_lines(&applied), expected, "{applied}");
    let after: Vec<AccessPoint> = json(kit, &rosa, &["door", "list", "-p", "Maple Court"]).await?;
    let renamed = after.iter().find(|d| d.name == "Parcel room").context("renamed")?;
    assert!(doors.iter().any(|d| d.id == renamed.id), "the same door, renamed");
    assert_eq!(after.len(), 4);
    let units: Vec<Unit> = json(kit, &rosa, &["unit", "list", "-p", "Maple Court"]).await?;
    assert_eq!(units.iter().map(|u| u.label.as_str()).collect::<Vec<_>>(), ["1A", "2B", "3C"]);
    let enabled: Vec<CarrierEnablement> = json(kit, &rosa, &["carrier", "enabled", "-p", "Maple Court"]).await?;
    assert_eq!(enabled.iter().filter(|e| e.enabled).count(), 1);
    assert!(enabled.iter().any(|e| e.carrier_id == parcelo.item.id && e.enabled));
    assert_eq!(ok(kit, &rosa, &["apply", file]).await?.trim(), "Maple Court: no changes");
    assert_eq!(json::<Vec<Lock>>(kit, &rosa, &["lock", "list", "-p", "Maple Court"]).await?.len(), 3, "locks kept");
    Ok(())
}

/// Names that match nothing, or several things, are errors naming the
/// candidates, with a failing exit code; nothing is changed.
pub async fn cli_names_that_are_missing_or_ambiguous_fail_clearly(kit: &Kit) -> anyhow::Result<()> {
    let op = kit.operator.token().context("operator token")?.to_string();
    let rosa = token_line(&ok(kit, &op, &["manager", "create", "--name", "Rosa"]).await?)?;
    let e = fails(kit, &rosa, &["unit", "list", "-p", "Nowhere"]).await?;
    assert!(e.contains("no property named \"Nowhere\" (there are none)"), "{e}");
    ok(
        kit,
        &rosa,
        &[
            "property",
            "create",
            "--name",
            "Elm House",
            "--address",
            "1 Elm St",
            "--lat",
            "-33.86",
            "--lon",
            "-151.2",
            "--time-zone",
            "Australia/Sydney",
        ],
    )
    .await?;
    ok(kit, &rosa, &["door", "add", "-p", "elm house", "Side gate", "--kind", "entrance"]).await?;
    ok(kit, &rosa, &["door", "add", "-p", "Elm House", "SIDE GATE", "--kind", "garage"]).await?;
    let e = fails(kit, &rosa, &["door", "add", "-p", "Elm House", "Hall", "--kind", "lobby", "--parent", "side gate"])
        .await?;
    assert!(
        e.contains("door \"side gate\" is ambiguous") && e.contains("\"Side gate\" (") && e.contains("\"SIDE GATE\" ("),
        "{e}"
    );
    let e =
        fails(kit, &rosa, &["door", "add", "-p", "Elm House", "Hall", "--kind", "lobby", "--parent", "Roof"]).await?;
    assert!(e.contains("no door named \"Roof\"; known: ") && e.contains("Side gate"), "{e}");
    // The exact name still wins over a case-insensitive match.
    ok(kit, &rosa, &["door", "add", "-p", "Elm House", "Hall", "--kind", "lobby", "--parent", "Side gate"]).await?;
    let e = fails(kit, &rosa, &["door", "add", "-p", "Elm House", "Den", "--kind", "cellar"]).await?;
    assert!(e.contains("cellar"), "{e}");
    let doors: Vec<AccessPoint> = json(kit, &rosa, &["door", "list", "-p", "Elm House"]).await?;
    assert_eq!(doors.len(), 3, "nothing was added by the failed commands");
    let p: Vec<Property> = json(kit, &rosa, &["property", "list"]).await?;
    assert_eq!((p[0].location.lat, p[0].location.lon), (-33.86, -151.2), "negative numbers parse");
    // A file that does not say what it means is refused before anything is asked.
    let dir = TempDir::new("doorman-cli-bad-file")?;
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, EXAMPLE.replace("parent = \"Lobby\"", "parent = \"Attic\""))?;
    let e = fails(kit, &rosa, &["apply", bad.to_str().context("path")?]).await?;
    assert!(e.contains("parent \"Attic\" is not a door in the file"), "{e}");
    assert_eq!(json::<Vec<Property>>(kit, &rosa, &["property", "list"]).await?.len(), 1);
    // No token: said so.
    let o = Command::new(env!("CARGO_BIN_EXE_doorman"))
        .args(["unit", "list", "-p", "x"])
        .env_remove("DOORMAN_TOKEN")
        .output()?;
    assert!(!o.status.success() && stderr(&o).contains("no API token"), "{}", stderr(&o));
    Ok(())
}

const OAK: &str = r#"
[property]
name = "Oak Flats"
address = "1 Oak St"
lat = -37.81
lon = 144.96
time_zone = "Australia/Melbourne"
units = ["1", "2"]

[[door]]
name = "Street"
kind = "entrance"
lock = "street.json"

[[door]]
name = "Hall"
kind = "lobby"
parent = "Street"
lock = "hall.json"

[[door]]
name = "Door 2"
kind = "unit_door"
parent = "Hall"
unit = "2"

[[drop_spot]]
name = "Hall shelf"
kind = "lobby"
door = "Hall"

[[drop_spot]]
name = "2 doorstep"
kind = "unit_door"
door = "Hall"
unit = "2"
"#;

/// What leaves the file is removed (a lock decommissioned), children and
/// drop spots before their doors; the property's own fields are edited. And
/// the manager's edit/remove/decommission/replace verbs, names for ids.
pub async fn cli_apply_removes_and_the_edit_verbs_work_by_name(kit: &Kit) -> anyhow::Result<()> {
    let op = kit.operator.token().context("operator token")?.to_string();
    let rosa = token_line(&ok(kit, &op, &["manager", "create", "--name", "Rosa"]).await?)?;
    let dir = TempDir::new("doorman-cli-oak")?;
    let path = dir.path().join("oak.toml");
    let file = path.to_str().context("utf-8 path")?;
    std::fs::write(&path, OAK)?;
    ok(kit, &rosa, &["apply", file]).await?;
    let doors: Vec<AccessPoint> = json(kit, &rosa, &["door", "list", "-p", "Oak Flats"]).await?;
    let hall = doors.iter().find(|d| d.name == "Hall").context("hall")?.id;
    let locks: Vec<Lock> = json(kit, &rosa, &["lock", "list", "-p", "Oak Flats"]).await?;
    let hall_lock = locks.iter().find(|l| l.access_point_id == hall).context("hall lock")?.id;

    let edited = OAK
        .replace("address = \"1 Oak St\"", "address = \"2 Oak St\"")
        .replace("units = [\"1\", \"2\"]", "units = [\"2\"]")
        .replace("parent = \"Street\"\nlock = \"hall.json\"", "parent = \"Street\"")
        .replace("[[door]]\nname = \"Door 2\"\nkind = \"unit_door\"\nparent = \"Hall\"\nunit = \"2\"\n", "")
        .replace("[[drop_spot]]\nname = \"2 doorstep\"\nkind = \"unit_door\"\ndoor = \"Hall\"\nunit = \"2\"\n", "");
    std::fs::write(&path, &edited)?;
    let expected = [
        "~ property \"Oak Flats\" (address \"2 Oak St\")".to_string(),
        format!("- lock {hall_lock} on door \"Hall\" decommissioned"),
        "- drop spot \"2 doorstep\"".into(),
        "- door \"Door 2\"".into(),
        "- unit \"1\"".into(),
    ];
    let applied = ok(kit, &rosa, &["apply", file]).await?;
    assert_eq!(plan_lines(&applied), expected, "{applied}");
    assert_eq!(ok(kit, &rosa, &["apply", file]).await?.trim(), "Oak Flats: no changes");
    let locks: Vec<Lock> = json(kit, &rosa, &["lock", "list", "-p", "Oak Flats"]).await?;
    assert!(locks.iter().any(|l| l.id == hall_lock && l.decommissioned_at.is_some()));
    let table = ok(kit, &rosa, &["lock", "list", "-p", "Oak Flats"]).await?;
    assert!(table.lines().any(|l| l.starts_with("Hall ") && l.contains("decommissioned 20")), "{table}");
    assert_eq!(json::<Vec<AccessPoint>>(kit, &rosa, &["door", "list", "-p", "Oak Flats"]).await?.len(), 2);
    assert_eq!(json::<Vec<Unit>>(kit, &rosa, &["unit", "list", "-p", "Oak Flats"]).await?.len(), 1);
    // The lock back in the file: a new one is provisioned.
    std::fs::write(&path, edited.replace("parent = \"Street\"\n", "parent = \"Street\"\nlock = \"hall.json\"\n"))?;
    let again = ok(kit, &rosa, &["apply", file]).await?;
    assert_eq!(plan_lines(&again), ["+ lock on door \"Hall\" (bundle hall.json)"], "{again}");

    // The verbs, by name.
    ok(kit, &rosa, &["door", "edit", "-p", "oak flats", "Hall", "--name", "Lobby"]).await?;
    ok(kit, &rosa, &["unit", "edit", "-p", "oak flats", "2", "--label", "2A"]).await?;
    ok(kit, &rosa, &["drop-spot", "edit", "-p", "oak flats", "Hall shelf", "--name", "Shelf", "--unit", "2A"]).await?;
    ok(kit, &rosa, &["property", "edit", "Oak Flats", "--lat", "-37.8", "--lon", "144.9"]).await?;
    let new_bundle = dir.path().join("street-2.json");
    let replaced = ok(
        kit,
        &rosa,
        &["lock", "replace", "-p", "Oak Flats", "Street", "--out", new_bundle.to_str().context("path")?],
    )
    .await?;
    assert!(replaced.contains("replaced by") && new_bundle.exists(), "{replaced}");
    let table = ok(kit, &rosa, &["lock", "list", "-p", "Oak Flats"]).await?;
    assert!(table.lines().any(|l| l.starts_with("Street ") && l.contains("replaced 20")), "{table}");
    let e = fails(kit, &rosa, &["door", "remove", "-p", "Oak Flats", "Lobby"]).await?;
    assert!(e.contains("409") || e.contains("conflict"), "{e}");
    ok(kit, &rosa, &["lock", "decommission", "-p", "Oak Flats", "Lobby"]).await?;
    ok(kit, &rosa, &["drop-spot", "remove", "-p", "Oak Flats", "Shelf"]).await?;
    ok(kit, &rosa, &["door", "remove", "-p", "Oak Flats", "lobby"]).await?;
    let doors: Vec<AccessPoint> = json(kit, &rosa, &["door", "list", "-p", "Oak Flats"]).await?;
    assert_eq!(doors.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(), ["Street"]);
    let units: Vec<Unit> = json(kit, &rosa, &["unit", "list", "-p", "Oak Flats"]).await?;
    assert_eq!(units.iter().map(|u| u.label.as_str()).collect::<Vec<_>>(), ["2A"]);
    let props: Vec<Property> = json(kit, &rosa, &["property", "list"]).await?;
    assert_eq!((props[0].address.as_str(), props[0].location.lat), ("2 Oak St", -37.8));
    ok(kit, &rosa, &["unit", "remove", "-p", "Oak Flats", "2a"]).await?;
    Ok(())
}

/// The rest of each role's verbs, by name: a manager enables and disables a
/// carrier found by name, lists and moves out residents, shows the property
/// and hands it over; a carrier suspends and resumes a driver, sets an ETA
/// and cancels a parcel found by its tracking number.
pub async fn cli_each_role_s_other_verbs(kit: &Kit) -> anyhow::Result<()> {
    // The CLI reads the wall clock (an invitation's expiry): so does the service here.
    kit.set_time(doorman_cli::SystemClock.now());
    let op = kit.operator.token().context("operator token")?.to_string();
    let rosa = token_line(&ok(kit, &op, &["manager", "create", "--name", "Rosa"]).await?)?;
    ok(kit, &op, &["manager", "create", "--name", "Sam Okafor"]).await?;
    let parcelo: CarrierCreated = json(kit, &op, &["carrier", "create", "--name", "Parcelo"]).await?;
    ok(kit, &op, &["carrier", "create", "--name", "Parcel Express"]).await?;
    let dir = TempDir::new("doorman-cli-verbs")?;
    let path = dir.path().join("oak.toml");
    std::fs::write(&path, OAK)?;
    ok(kit, &rosa, &["apply", path.to_str().context("path")?]).await?;
    ok(kit, &rosa, &["notice", "set", "-p", "Oak Flats", "Parcels in the hall from today."]).await?;

    // Carriers by name: a part of it lists, the whole of it picks.
    let found: Vec<Carrier> = json(kit, &rosa, &["carrier", "list", "--name", "parcel"]).await?;
    assert_eq!(found.len(), 2);
    let e = fails(kit, &rosa, &["carrier", "enable", "parcel", "-p", "Oak Flats", "--hours", "daily all day"]).await?;
    assert!(e.contains("no carrier named \"parcel\"") && e.contains("Parcel Express"), "{e}");
    let enabled = ok(
        kit,
        &rosa,
        &[
            "carrier",
            "enable",
            "parcelo",
            "-p",
            "Oak Flats",
            "--hours",
            "mon-fri 22:00-06:00",
            "--hours",
            "sat,sun all day",
        ],
    )
    .await?;
    assert!(enabled.contains("mon-fri 22:00-06:00; sat,sun all day"), "{enabled}");
    let table = ok(kit, &rosa, &["carrier", "enabled", "-p", "Oak Flats"]).await?;
    assert!(
        table.lines().any(|l| l.starts_with("Parcelo ") && l.contains("yes") && l.contains("Hall shelf")),
        "{table}"
    );

    // The carrier: a driver suspended and resumed, a parcel's ETA, a cancel.
    let driver: DriverCreated = json(kit, &parcelo.token, &["driver", "add", "Dee", "--vetting", "pending"]).await?;
    assert_eq!(driver.item.vetting, VettingStatus::Pending);
    let d: Driver = json(kit, &parcelo.token, &["driver", "suspend", "dee"]).await?;
    assert_eq!(d.status, DriverStatus::Suspended);
    let d: Driver = json(kit, &parcelo.token, &["driver", "resume", "Dee"]).await?;
    assert_eq!(d.status, DriverStatus::Active);
    let list = ok(kit, &parcelo.token, &["driver", "list"]).await?;
    assert!(list.lines().any(|l| l.starts_with("Dee ") && l.contains("active") && l.contains("pending")), "{list}");
    let now = kit.now();
    let delivery: Delivery = json(
        kit,
        &parcelo.token,
        &[
            "delivery",
            "announce",
            "-p",
            "oak flats",
            "--unit",
            "2",
            "--tracking",
            "PX-9",
            "--from",
            &now.to_string(),
            "--until",
            &(now + 4 * 3600).to_string(),
        ],
    )
    .await?;
    assert_eq!((delivery.window_start, delivery.window_end), (now, now + 4 * 3600));
    let eta = (now + 3600).to_string();
    let d: Delivery = json(kit, &parcelo.token, &["delivery", "eta", "PX-9", &eta]).await?;
    assert_eq!(d.eta, Some(now + 3600));
    let listed = ok(kit, &parcelo.token, &["delivery", "list"]).await?;
    assert!(
        listed.lines().any(|l| l.starts_with("PX-9 ") && l.contains("Oak Flats") && l.contains(" AE")),
        "local times: {listed}"
    );
    let d: Delivery = json(kit, &parcelo.token, &["delivery", "cancel", "PX-9"]).await?;
    assert_eq!(d.state, DeliveryState::Cancelled);
    let e = fails(kit, &parcelo.token, &["delivery", "announce", "-p", "Elsewhere", "--unit", "2", "--tracking", "X"])
        .await?;
    assert!(e.contains("no property named \"Elsewhere\"; known: \"Oak Flats\""), "{e}");

    // Disabled: the carrier no longer sees the property.
    ok(kit, &rosa, &["carrier", "disable", "Parcelo", "-p", "Oak Flats"]).await?;
    let props: Vec<serde_json::Value> = json(kit, &parcelo.token, &["carrier", "properties"]).await?;
    assert!(props.is_empty(), "{props:?}");

    // Residents: invited, redeemed, listed, moved out (their token ends).
    let invited: InvitationCreated = json(
        kit,
        &rosa,
        &["resident", "invite", "-p", "Oak Flats", "--unit", "2", "--name", "Jun Park", "--email", "jun@example.com"],
    )
    .await?;
    let jun = kit.anon.redeem_invitation(&invited.code).await?;
    ok(
        kit,
        &rosa,
        &["resident", "invite", "-p", "Oak Flats", "--unit", "2", "--name", "Ada", "--email", "ada@example.com"],
    )
    .await?;
    let table = ok(kit, &rosa, &["resident", "list", "-p", "Oak Flats"]).await?;
    assert!(table.lines().any(|l| l.contains("Jun Park") && l.contains("resident")), "{table}");
    assert!(table.lines().any(|l| l.contains("Ada") && l.contains("invited")), "{table}");
    // Jun lost every device: re-invited, the code brings back the same account.
    let again: InvitationCreated =
        json(kit, &rosa, &["resident", "reinvite", "-p", "Oak Flats", "--unit", "2", "Jun Park"]).await?;
    assert_eq!(again.invitation.resident_id, Some(jun.item.id));
    let back = kit.anon.redeem_invitation(&again.code).await?;
    assert_eq!(back.item.id, jun.item.id);
    let said = ok(kit, &rosa, &["resident", "reinvite", "-p", "Oak Flats", "--unit", "2", "jun@example.com"]).await?;
    assert!(said.contains("re-invited") && said.contains("inv_"), "{said}");
    ok(kit, &rosa, &["resident", "move-out", "-p", "Oak Flats", "--unit", "2", "JUN@example.com"]).await?;
    assert!(kit.client(&jun.token).whoami().await.is_err(), "a moved-out resident's token ends");
    let table = ok(kit, &rosa, &["resident", "list", "-p", "Oak Flats", "--unit", "2"]).await?;
    assert!(!table.contains("Jun Park"), "{table}");

    // The whole property at a glance, then handed over.
    let shown = ok(kit, &rosa, &["property", "show", "Oak Flats"]).await?;
    for part in
        ["Oak Flats (building)", "Parcels in the hall from today.", "units: 1, 2", "  Hall ", "Hall shelf", "Parcelo"]
    {
        assert!(shown.contains(part), "{part}:\n{shown}");
    }
    let _: serde_json::Value = json(kit, &rosa, &["property", "show", "Oak Flats"]).await?;
    ok(kit, &rosa, &["property", "handover", "Oak Flats", "--to", "sam okafor"]).await?;
    assert!(json::<Vec<Property>>(kit, &rosa, &["property", "list"]).await?.is_empty());
    Ok(())
}
