//! `doorman demo`: boots a throwaway service on a free port (SQLite in a
//! temporary folder), seeds a New York walk-up, and tells what happens to a
//! few deliveries, every step a real HTTP request through the typed client.

use std::io::Write;
use std::sync::Arc;

use anyhow::Context;
use doorman_api::*;
use doorman_client::{Client, ClientError};
use doorman_domain::Clock;
use doorman_server::{KeyFile, ServiceConfig};

use crate::{app, SystemClock};

#[path = "demo/lock_sim.rs"]
mod lock_sim;

/// 214 East 9th Street, Manhattan.
const HOME: GeoPoint = GeoPoint { lat: 40.72946, lon: -73.98862 };
/// A brownstone in Brooklyn.
const ELSEWHERE: GeoPoint = GeoPoint { lat: 40.68434, lon: -73.97658 };

fn all_day() -> Vec<WeeklyHours> {
    vec![WeeklyHours {
        days: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"].map(String::from).to_vec(),
        start: "00:00".into(),
        end: "24:00".into(),
    }]
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
    let base = Client::new(running.url());
    let operator = base.with_token(operator_token);

    writeln!(out, "doorman demo: a service on {} (SQLite, fresh keys), real HTTP for every step.\n", running.url())?;

    // --- accounts
    let manager = operator.create_manager("Rosa Alvarez").await?;
    let parcelo = operator.create_carrier("Parcelo").await?;
    let quickship = operator.create_carrier("QuickShip").await?;
    let rosa = base.with_token(&manager.token);
    writeln!(out, "The operator creates a building manager (Rosa) and two carriers (Parcelo, QuickShip).")?;

    // --- the building
    let building = rosa
        .create_property(&CreateProperty {
            kind: PropertyKind::Building,
            name: "214 East 9th Street".into(),
            address: "214 E 9th St, New York, NY 10003".into(),
            location: HOME,
            time_zone: "America/New_York".into(),
        })
        .await?;
    let unit_2b = rosa.create_unit(building.id, "2B").await?;
    let unit_3c = rosa.create_unit(building.id, "3C").await?;
    let ap = |kind, name: &str, parent: Option<AccessPointId>| CreateAccessPoint {
        kind,
        name: name.into(),
        parent_id: parent,
        unit_id: None,
    };
    let entrance = rosa.create_access_point(building.id, &ap(AccessPointKind::Entrance, "street door", None)).await?;
    let lobby =
        rosa.create_access_point(building.id, &ap(AccessPointKind::Lobby, "lobby door", Some(entrance.id))).await?;
    let package_room = rosa
        .create_access_point(building.id, &ap(AccessPointKind::PackageRoom, "package room", Some(lobby.id)))
        .await?;
    let mut locks = lock_sim::LockBench::default();
    let entrance_lock = locks.register(&rosa, building.id, entrance.id, true, false).await?;
    let lobby_lock = locks.register(&rosa, building.id, lobby.id, true, true).await?;
    let _room_lock = locks.register(&rosa, building.id, package_room.id, false, true).await?;
    let room_spot = rosa
        .create_drop_spot(
            building.id,
            &CreateDropSpot {
                name: "package room shelves".into(),
                kind: DropSpotKind::PackageRoom,
                access_point_id: package_room.id,
                unit_id: None,
            },
        )
        .await?;
    rosa.put_enablement(
        building.id,
        parcelo.item.id,
        &PutEnablement { enabled: true, hours: all_day(), allowed_drop_spots: vec![room_spot.id] },
    )
    .await?;
    rosa.set_tenant_notice(
        building.id,
        &SetTenantNotice {
            text: "Couriers of enabled carriers may enter the lobby and the package room to drop parcels.".into(),
            live_from: None,
        },
    )
    .await?;
    writeln!(
        out,
        "Rosa registers {} (units 2B and 3C): street door -> lobby door -> package room,\n  \
         three locks (street: mobile credential; lobby: mobile + keypad; package room: keypad only),\n  \
         one drop spot (package room shelves), enables Parcelo at any hour for that spot only,\n  \
         and gives the tenant notice, which makes delivery access live. QuickShip is not enabled.",
        building.name
    )?;

    let brownstone = rosa
        .create_property(&CreateProperty {
            kind: PropertyKind::House,
            name: "Brooklyn brownstone".into(),
            address: "70 Lafayette Ave, Brooklyn, NY".into(),
            location: ELSEWHERE,
            time_zone: "America/New_York".into(),
        })
        .await?;
    let brownstone_unit = rosa.create_unit(brownstone.id, "house").await?;

    // --- residents
    let invitation = rosa
        .invite_resident(unit_2b.id, &CreateInvitation { name: "Jun Park".into(), email: "jun@example.org".into() })
        .await?;
    let jun_account = base.redeem_invitation(&invitation.code).await?;
    let jun = base.with_token(&jun_account.token);
    jun.put_preferences(
        unit_2b.id,
        &UnitPreferences {
            preferred_drop_spot: Some(room_spot.id),
            allow_in_unit: false,
            alternate_address: None,
            pickup_point: Some("Corner Deli, 200 E 9th St".into()),
            ..Default::default()
        },
    )
    .await?;
    writeln!(out, "Rosa invites Jun (2B); Jun redeems the code and asks for parcels in the package room.\n")?;

    // --- carriers and drivers
    let parcelo_c = base.with_token(&parcelo.token);
    let quickship_c = base.with_token(&quickship.token);
    let dana_handheld = lock_sim::Handheld::generate();
    let dana = parcelo_c
        .create_driver(&CreateDriver {
            name: "Dana".into(),
            handheld_public_key: Some(dana_handheld.public_key_b64()),
            vetting: VettingStatus::Passed,
            vetted_at: Some(now - 86_400 * 30),
        })
        .await?;
    let sam_handheld = lock_sim::Handheld::generate();
    let sam = quickship_c
        .create_driver(&CreateDriver {
            name: "Sam".into(),
            handheld_public_key: Some(sam_handheld.public_key_b64()),
            vetting: VettingStatus::Passed,
            vetted_at: Some(now - 86_400 * 90),
        })
        .await?;
    let dana_c = base.with_token(&dana.token);
    let sam_c = base.with_token(&sam.token);
    let window = |start: i64, end: i64| (now + start, now + end);
    let parcel = |tracking: &str, property: PropertyId, unit: UnitId, (s, e): (i64, i64)| CreateDelivery {
        tracking_number: tracking.into(),
        property_id: property,
        unit_id: unit,
        kind: DeliveryKind::Drop,
        window_start: s,
        window_end: e,
    };
    let p1 = parcelo_c.create_delivery(&parcel("PCL-1001", building.id, unit_2b.id, window(-3600, 3 * 3600))).await?;
    parcelo_c.create_delivery(&parcel("PCL-2002", brownstone.id, brownstone_unit.id, window(-3600, 3 * 3600))).await?;
    parcelo_c.create_delivery(&parcel("PCL-1003", building.id, unit_2b.id, window(-3600, 3 * 3600))).await?;
    parcelo_c.create_delivery(&parcel("PCL-1004", building.id, unit_3c.id, window(20 * 3600, 26 * 3600))).await?;
    quickship_c.create_delivery(&parcel("QS-77", building.id, unit_3c.id, window(-3600, 3 * 3600))).await?;
    parcelo_c.update_eta(p1.id, now + 600).await?;
    writeln!(
        out,
        "Parcelo vouches for Dana, QuickShip for Sam (each handheld holds a P-256 key).\n\
         Parcels: PCL-1001 and PCL-1003 for 2B, PCL-1004 for 3C tomorrow, PCL-2002 for the brownstone\n\
         (all Parcelo); QS-77 for 3C (QuickShip). PCL-1001 is out for delivery, ETA in 10 minutes.\n"
    )?;

    // --- the granted delivery
    let ask = |tracking: &str, handheld: &lock_sim::Handheld| AccessRequest {
        tracking_number: tracking.into(),
        property_id: building.id,
        handheld_public_key: handheld.public_key_b64(),
        position: GeoPoint { lat: HOME.lat + 0.0002, lon: HOME.lon },
        drop_spot_id: None,
    };
    writeln!(out, "1. Dana, at the street door, scans PCL-1001.")?;
    let grant = dana_c.request_access(&ask("PCL-1001", &dana_handheld)).await?;
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
    let keyset = base.keys().await?;
    let street = grant.doors.iter().find(|d| d.lock_id == entrance_lock).context("the street door is on the path")?;
    let mallory = lock_sim::Handheld::generate();
    let copied = locks.present(entrance_lock, &keyset, street, &mallory, now)?;
    writeln!(out, "   A copy of the street-door credential on another phone, without Dana's key: {copied}")?;
    let verdict = locks.present(entrance_lock, &keyset, street, &dana_handheld, now)?;
    writeln!(out, "   The street door's lock, offline, checks it against its own challenge: {verdict}")?;
    let replay = locks.replay_last(entrance_lock, &keyset, street, &dana_handheld, now)?;
    writeln!(out, "   Dana's handheld presents the same credential again: {replay}")?;
    if let Some(lobby_door) = grant.doors.iter().find(|d| d.lock_id == lobby_lock) {
        let v = locks.present(lobby_lock, &keyset, lobby_door, &dana_handheld, now)?;
        writeln!(out, "   The lobby door's lock: {v}")?;
        let wrong = locks.present(entrance_lock, &keyset, lobby_door, &dana_handheld, now)?;
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
    writeln!(out, "   {}", outcome(sam_c.request_access(&ask("QS-77", &sam_handheld)).await))?;
    writeln!(out, "3. Dana scans PCL-2002, which is addressed to the Brooklyn brownstone.")?;
    writeln!(out, "   {}", outcome(dana_c.request_access(&ask("PCL-2002", &dana_handheld)).await))?;
    writeln!(out, "4. Jun blocks delivery access to 2B; Dana scans PCL-1003 for 2B.")?;
    jun.block(unit_2b.id, &CreateBlock { until: None, reason: Some("away, hold my parcels".into()) }).await?;
    writeln!(out, "   {}", outcome(dana_c.request_access(&ask("PCL-1003", &dana_handheld)).await))?;
    writeln!(out, "5. Dana scans PCL-1004, due tomorrow.")?;
    writeln!(out, "   {}", outcome(dana_c.request_access(&ask("PCL-1004", &dana_handheld)).await))?;
    writeln!(out, "6. Dana scans PCL-1001 again, already delivered.")?;
    writeln!(out, "   {}", outcome(dana_c.request_access(&ask("PCL-1001", &dana_handheld)).await))?;

    let log = rosa.property_access_requests(building.id).await?;
    writeln!(out, "\nRosa's record of every request at {} (newest first):", building.name)?;
    for r in log {
        let what = match (&r.grant_id, &r.refusal) {
            (Some(g), _) => format!("granted {g}"),
            (_, Some(reason)) => format!("refused: {reason}"),
            _ => "?".into(),
        };
        let who = if r.driver_id == dana.item.id { "Dana (Parcelo)" } else { "Sam (QuickShip)" };
        writeln!(out, "   {who:<16} {what}")?;
    }
    running.stop().await?;
    writeln!(out, "\nDone. The service stopped and its temporary database was removed.")?;
    Ok(())
}
