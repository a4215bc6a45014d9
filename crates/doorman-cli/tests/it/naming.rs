//! The naming read model (`doorman_server::naming`) on a real delivery
//! through two fleet locks with a camera clip: each reader gets the names
//! the API would show them (carrier, driver, doors, drop spot, unit, clip),
//! and nothing of what they may not read.

use doorman_domain::{Event, EventKind, Principal};
use doorman_server::naming::{sentence, EventNames};
use doorman_store::EntryFilter;
use doorman_testkit::places::WALK_UP;

use crate::doors::{clips_in_a_folder, start_with_outsiders};
use crate::fleet::{ENTRANCE, ROOM};
use crate::kit::Kit;

/// Every event in the log, in order.
async fn whole_log(kit: &Kit) -> anyhow::Result<Vec<Event>> {
    let all = EntryFilter { everything: true, ..Default::default() };
    let entries = kit.store().log_entries(&all, 0..u64::MAX >> 2, 100_000).await?;
    Ok(entries.iter().filter_map(|e| Event::from_bytes(&e.bytes).ok()).collect())
}

pub async fn names_say_who_and_where_only_to_whom_the_api_would(kit: &Kit) -> anyhow::Result<()> {
    let Some((env, _)) = start_with_outsiders(kit, |b| b).await? else { return Ok(()) };
    let _folder = clips_in_a_folder(kit)?;
    let granted = env.parcel(kit, 0).await?;
    env.deliver(0, &granted).await?;
    env.synced(kit, ENTRANCE).await?;
    env.synced(kit, ROOM).await?;
    let recorded = env.sim(ENTRANCE).take_clips()?;
    let clip = &recorded[0];
    let uploaded = kit.anon.upload_clip(env.lock_id(ENTRANCE), clip.counter, "video/mp4", clip.bytes.clone()).await?;

    let log = whole_log(kit).await?;
    let of_delivery = |kind: &str| {
        log.iter()
            .find(|e| e.delivery_id == Some(granted.delivery_id) && e.kind.name() == kind)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("no {kind} of the delivery in the log"))
    };
    let delivered = of_delivery("delivered")?;
    let opened = of_delivery("door_opened")?;
    let grant = of_delivery("access_granted")?;
    let clip_ready = of_delivery("clip_ready")?;
    let driver_id = delivered.driver_id.expect("the delivery names its driver");

    let here = env.seeded.property(WALK_UP)?;
    let building = env.property.name.clone();
    let jun = here.resident("Jun Park")?;
    let kim = here.resident("Kim Lee")?;
    let parcelo = env.seeded.carrier("Parcelo")?.id;
    let readers = [
        ("jun", Principal::Resident { resident_id: jun.id, unit_id: jun.unit_id }, true),
        ("rosa", Principal::Manager { manager_id: env.seeded.manager("Rosa Alvarez")?.id }, true),
        ("parcelo", Principal::Carrier { carrier_id: parcelo }, false),
        ("dana", Principal::Driver { driver_id, carrier_id: parcelo }, false),
    ];
    let service = &kit.running.service;
    for (who, p, may_view_clip) in readers {
        let names = service.names_for(&p, &log).await?;
        let n = names.of(&delivered);
        assert_eq!(n.carrier.as_deref(), Some("Parcelo"), "{who}");
        assert_eq!(n.driver.as_deref(), Some("Dana"), "{who}");
        assert_eq!(n.drop_spot.as_deref(), Some("package room shelves"), "{who}");
        assert_eq!(n.unit.as_deref(), Some("2B"), "{who}");
        assert_eq!(n.building.as_deref(), Some(building.as_str()), "{who}");
        assert_eq!(sentence(&delivered, &n, "UTC"), "Left at package room shelves by Dana (Parcelo)", "{who}");
        let clip_note = n.clip.expect("the entry's clip is known to whoever sees the delivery");
        assert_eq!((clip_note.clip_id, clip_note.stored), (uploaded.clip_id, true), "{who}");
        assert_eq!(clip_note.viewable, may_view_clip, "{who}: only the unit's residents and the manager view it");
        assert_eq!(names.of(&clip_ready).clip.map(|c| c.viewable), Some(may_view_clip), "{who}");
        // The door of a door event, by its name and its building's.
        let door = names.of(&opened).door.expect("a door event names its door");
        assert!(["street door", "package room"].contains(&door.door.as_str()), "{who}: {door:?}");
        assert_eq!(door.building, building, "{who}");
        // The grant's path, street first.
        let path: Vec<String> = names.of(&grant).doors.into_iter().map(|d| d.door).collect();
        assert_eq!(path, ["street door", "package room"], "{who}");
    }

    // Readers who may not see the delivery learn no name of it.
    let outsiders = [
        ("kim", Principal::Resident { resident_id: kim.id, unit_id: kim.unit_id }),
        ("otto", Principal::Manager { manager_id: env.seeded.manager("Otto Weber")?.id }),
        ("quickship", Principal::Carrier { carrier_id: env.seeded.carrier("Quickship")?.id }),
        ("operator", Principal::Operator),
    ];
    for (who, p) in outsiders {
        let names = service.names_for(&p, &log).await?;
        for e in [&delivered, &opened, &grant, &clip_ready] {
            assert_eq!(names.of(e), EventNames::default(), "{who}: {}", e.kind.name());
        }
        assert_eq!(sentence(&delivered, &names.of(&delivered), "UTC"), "Delivered", "{who}");
    }

    // A shared door's event (no unit) concerns every resident of the
    // building: Kim reads the door's name, never a driver's or carrier's
    // (those are named only on events of the reader's own unit).
    let shared = Event { unit_id: None, delivery_id: None, ..opened.clone() };
    let kim_p = Principal::Resident { resident_id: kim.id, unit_id: kim.unit_id };
    let n = service.names_for(&kim_p, [&shared]).await?.of(&shared);
    assert!(n.door.is_some(), "{n:?}");
    assert_eq!((n.driver, n.carrier, n.unit), (None, None, None));
    // On the own unit's door events, the driver who came is named.
    let unlocked = log
        .iter()
        .find(|e| matches!(e.kind, EventKind::DoorUnlocked { .. }) && e.delivery_id == Some(granted.delivery_id))
        .expect("door unlocked");
    let jun_p = Principal::Resident { resident_id: jun.id, unit_id: jun.unit_id };
    let n = service.names_for(&jun_p, [unlocked]).await?.of(unlocked);
    assert_eq!((n.driver.as_deref(), n.unit.as_deref()), (Some("Dana"), Some("2B")));
    Ok(())
}
