//! `doorman demo`: boots a throwaway service on a free port (SQLite in a
//! temporary folder), seeds a New York walk-up, and tells what happens to a
//! few deliveries, every step a real HTTP request through the typed client.

use std::io::Write;
use std::sync::Arc;

use anyhow::Context;
use doorman_api::*;
use doorman_client::{Client, ClientError};
use doorman_domain::Clock;
use doorman_protocol::Verdict;
use doorman_server::{KeyFile, ServiceConfig};
use doorman_testkit::places::{self, BROWNSTONE, HOME, WALK_UP as BUILDING};
use doorman_testkit::{all_day, CarrierSpec, Handheld, ManagerSpec, ParcelSpec, SiteSpec};

use crate::{app, SystemClock};

const HOUR: i64 = 3600;

/// The demo's New York walk-up, Rosa's brownstone, and the two carriers with
/// their drivers and parcels, as data for the test kit's seeder.
fn site() -> SiteSpec {
    let walk_up = places::walk_up()
        .tenant_notice(Some("Couriers of enabled carriers may enter the lobby and the package room to drop parcels."))
        .resident("Jun Park", "jun@example.org", "2B");
    let today = |tracking: &str, property: &str, unit: &str| ParcelSpec::new(tracking, property, unit, -HOUR, 3 * HOUR);
    let parcelo = CarrierSpec::new("Parcelo")
        .enabled_at(BUILDING, all_day(), ["package room shelves"])
        .driver("Dana", 30)
        .parcel(today("PCL-1001", BUILDING, "2B"))
        .parcel(today("PCL-2002", BROWNSTONE, "house"))
        .parcel(today("PCL-1003", BUILDING, "2B"))
        .parcel(ParcelSpec::new("PCL-1004", BUILDING, "3C", 20 * HOUR, 26 * HOUR));
    let quickship = CarrierSpec::new("QuickShip").driver("Sam", 90).parcel(today("QS-77", BUILDING, "3C"));
    SiteSpec::new("demo-lock", "1.0.0")
        .manager(ManagerSpec::new("Rosa Alvarez").property(walk_up).property(places::brownstone()))
        .carrier(parcelo)
        .carrier(quickship)
}

/// What a lock decided, as the story tells it.
fn describe(v: &Verdict) -> String {
    match v {
        Verdict::Granted(g) => {
            format!("OPENS (lock sequence {}, use {} of {})", g.lock_sequence, g.use_number, g.max_uses)
        }
        Verdict::Refused(r) => format!("STAYS SHUT ({})", r.as_str()),
    }
}

pub async fn run(out: &mut impl Write) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("doorman-demo-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir)?;
    let result = story(out, &dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn story(out: &mut impl Write, dir: &std::path::Path) -> anyhow::Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let now = clock.now();
    let store = doorman_store::open(&format!("sqlite://{}", dir.join("demo.db").display())).await?;
    let keys = KeyFile::generate(now).map_err(|e| anyhow::anyhow!("{e}"))?;
    let service = app::service_with(store, clock.clone(), &keys, ServiceConfig::default())?;
    let running = app::start(service, "127.0.0.1:0".parse()?).await?;
    let operator_token = running.operator_token.clone().context("a fresh database bootstraps an operator")?;
    let operator = Client::new(running.url()).with_token(operator_token);

    writeln!(out, "doorman demo: a service on {} (SQLite, fresh keys), real HTTP for every step.\n", running.url())?;

    let mut seeded = doorman_testkit::seed(&operator, &site(), now).await?;
    let rosa = seeded.manager("Rosa Alvarez")?.client.clone();
    writeln!(out, "The operator creates a building manager (Rosa) and two carriers (Parcelo, QuickShip).")?;
    let building = seeded.property_mut(BUILDING)?;
    let (property, unit_2b) = (building.property.clone(), building.unit("2B")?.id);
    let room_spot = building.drop_spot("package room shelves")?.id;
    let jun = building.resident("Jun Park")?.client.clone();
    let mut entrance_lock = building.take_lock("street door")?.lock;
    let mut lobby_lock = building.take_lock("lobby door")?.lock;
    writeln!(
        out,
        "Rosa registers {} (units 2B and 3C): street door -> lobby door -> package room,\n  \
         three locks (street: mobile credential; lobby: mobile + keypad; package room: keypad only),\n  \
         one drop spot (package room shelves), enables Parcelo at any hour for that spot only,\n  \
         and gives the tenant notice, which makes delivery access live. QuickShip is not enabled.",
        property.name
    )?;

    // --- residents
    jun.put_preferences(
        unit_2b,
        &UnitPreferences {
            preferred_drop_spot: Some(room_spot),
            allow_in_unit: false,
            alternate_address: None,
            pickup_point: Some("Corner Deli, 200 E 9th St".into()),
            ..Default::default()
        },
    )
    .await?;
    writeln!(out, "Rosa invites Jun (2B); Jun redeems the code and asks for parcels in the package room.\n")?;

    // --- carriers and drivers
    let dana = seeded.take_driver("Dana")?;
    let sam = seeded.take_driver("Sam")?;
    let (dana_c, dana_handheld, sam_c, sam_handheld) = (&dana.client, &dana.handheld, &sam.client, &sam.handheld);
    let parcelo_c = &seeded.carrier("Parcelo")?.client;
    parcelo_c.update_eta(seeded.delivery("PCL-1001")?.id, now + 600).await?;
    writeln!(
        out,
        "Parcelo vouches for Dana, QuickShip for Sam (each handheld holds a P-256 key).\n\
         Parcels: PCL-1001 and PCL-1003 for 2B, PCL-1004 for 3C tomorrow, PCL-2002 for the brownstone\n\
         (all Parcelo); QS-77 for 3C (QuickShip). PCL-1001 is out for delivery, ETA in 10 minutes.\n"
    )?;

    // --- the granted delivery
    let ask = |tracking: &str, handheld: &Handheld| AccessRequest {
        tracking_number: tracking.into(),
        property_id: property.id,
        handheld_public_key: handheld.public_key_b64(),
        position: GeoPoint { lat: HOME.lat + 0.0002, lon: HOME.lon },
        drop_spot_id: None,
    };
    writeln!(out, "1. Dana, at the street door, scans PCL-1001.")?;
    let grant = dana_c.request_access(&ask("PCL-1001", dana_handheld)).await?;
    writeln!(
        out,
        "   GRANTED: drop at \"{}\", valid for {} s, doors in order:",
        grant.drop_spot_name,
        grant.expires_at - now
    )?;
    for door in &grant.doors {
        match (&door.credential, &door.door_code) {
            (Some(c), _) => {
                let bytes = doorman_domain::serde_b64::decode(c)?;
                writeln!(
                    out,
                    "   - {}: credential, {} bytes (COSE_Sign1/CWT, bound to Dana's handheld)",
                    door.access_point_name,
                    bytes.len()
                )?
            }
            (None, Some(code)) => writeln!(out, "   - {}: one-time door code {code}", door.access_point_name)?,
            (None, None) => {}
        }
    }
    let keyset = operator.keys().await?;
    let street =
        grant.doors.iter().find(|d| d.lock_id == entrance_lock.id).context("the street door is on the path")?;
    let mallory = Handheld::generate();
    let copied = describe(&entrance_lock.present_verdict(&keyset, street, &mallory, now)?);
    writeln!(out, "   A copy of the street-door credential on another phone, without Dana's key: {copied}")?;
    let verdict = describe(&entrance_lock.present_verdict(&keyset, street, dana_handheld, now)?);
    writeln!(out, "   The street door's lock, offline, checks it against its own challenge: {verdict}")?;
    // The same credential again, to a fresh challenge.
    let replay = describe(&entrance_lock.present_verdict(&keyset, street, dana_handheld, now)?);
    writeln!(out, "   Dana's handheld presents the same credential again: {replay}")?;
    if let Some(lobby_door) = grant.doors.iter().find(|d| d.lock_id == lobby_lock.id) {
        let v = describe(&lobby_lock.present_verdict(&keyset, lobby_door, dana_handheld, now)?);
        writeln!(out, "   The lobby door's lock: {v}")?;
        let wrong = describe(&entrance_lock.present_verdict(&keyset, lobby_door, dana_handheld, now)?);
        writeln!(out, "   The lobby credential shown to the street door instead: {wrong}")?;
    }
    let done = dana_c
        .complete_delivery(
            grant.delivery_id,
            &CompleteDelivery { drop_spot_id: grant.drop_spot_id, photo_ref: Some("photo://pcl-1001".into()) },
        )
        .await?;
    writeln!(out, "   Dana leaves the parcel and confirms: delivery is now {}.\n", done.state)?;

    // --- refusals
    let refusal = |e: ClientError| -> String {
        match e {
            ClientError::Api { body, .. } => format!("REFUSED [{}] {}", body.error.code, body.error.message),
            other => format!("error: {other}"),
        }
    };
    let outcome = |r: Result<AccessGranted, ClientError>| match r {
        Ok(g) => format!("GRANTED (grant {})", g.grant_id),
        Err(e) => refusal(e),
    };
    writeln!(out, "2. Sam (QuickShip) scans QS-77 at the same door.")?;
    writeln!(out, "   {}", outcome(sam_c.request_access(&ask("QS-77", sam_handheld)).await))?;
    writeln!(out, "3. Dana scans PCL-2002, which is addressed to the Brooklyn brownstone.")?;
    writeln!(out, "   {}", outcome(dana_c.request_access(&ask("PCL-2002", dana_handheld)).await))?;
    writeln!(out, "4. Jun blocks delivery access to 2B; Dana scans PCL-1003 for 2B.")?;
    jun.block(unit_2b, &CreateBlock { until: None, reason: Some("away, hold my parcels".into()) }).await?;
    writeln!(out, "   {}", outcome(dana_c.request_access(&ask("PCL-1003", dana_handheld)).await))?;
    writeln!(out, "5. Dana scans PCL-1004, due tomorrow.")?;
    writeln!(out, "   {}", outcome(dana_c.request_access(&ask("PCL-1004", dana_handheld)).await))?;
    writeln!(out, "6. Dana scans PCL-1001 again, already delivered.")?;
    writeln!(out, "   {}", outcome(dana_c.request_access(&ask("PCL-1001", dana_handheld)).await))?;

    let log = rosa.property_access_requests(property.id).await?;
    writeln!(out, "\nRosa's record of every request at {} (newest first):", property.name)?;
    for r in log {
        let what = match (&r.grant_id, &r.refusal) {
            (Some(g), _) => format!("granted {g}"),
            (_, Some(reason)) => format!("refused: {reason}"),
            _ => "?".into(),
        };
        let who = if r.driver_id == dana.id { "Dana (Parcelo)" } else { "Sam (QuickShip)" };
        writeln!(out, "   {who:<16} {what}")?;
    }
    running.stop().await?;
    writeln!(out, "\nDone. The service stopped and its temporary database was removed.")?;
    Ok(())
}
