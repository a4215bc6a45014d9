//! Life over time: a carrier removed or disabled (its credentials revoked,
//! an online lock refusing them within 2 s), a resident moving out (their
//! token refused; the next resident reads the unit from their own move-in),
//! a property handed over, the carrier's directory of properties, deliveries
//! announced by unit label, and carriers and managers found by name. Each
//! route's audit entry, bad input and authorization crossings.

use std::time::Duration;

use anyhow::Context;
use doorman_api::*;
use doorman_client::{Client, StreamStart};
use doorman_domain::serde_b64;
use reqwest::StatusCode;

use crate::fixture::{delivery, Building};
use crate::fleet::{Broker, FleetEnv, ENTRANCE, ROOM};
use crate::kit::{expect_error, Kit, HOUR};

/// The configuration changes `client` reads in the audit log, in words.
async fn logged_changes(kit: &Kit, client: &Client) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    for e in audit_events(kit, client).await? {
        if let EventKind::ConfigurationChanged { what } = e.kind {
            out.push(what);
        }
    }
    Ok(out)
}

/// Every event `client` reads in the audit log.
async fn audit_events(kit: &Kit, client: &Client) -> anyhow::Result<Vec<Event>> {
    kit.running.service.sequence_now().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let entries = client.audit_entries(&AuditEntriesQuery::default()).await?.entries;
    entries.iter().map(|e| Ok(Event::from_bytes(&serde_b64::decode(&e.entry)?)?)).collect()
}

async fn manager_id(client: &Client) -> anyhow::Result<ManagerId> {
    match client.whoami().await?.principal {
        Principal::Manager { manager_id } => Ok(manager_id),
        other => anyhow::bail!("not a manager: {other:?}"),
    }
}

/// Removing a carrier (DELETE) and disabling it (PUT enabled=false) each
/// revoke its outstanding credential at the property, tell its open
/// deliveries, are logged, and keep its drivers out; the crossings.
pub async fn carrier_removed_or_disabled_loses_its_credentials(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    let (p, parcelo) = (b.property.id, b.parcelo_id);
    let parcel = b.parcel(kit, "PCL-7001", b.unit_2b.id).await?;
    let grant = b.expect_granted(b.dana.client.request_access(&b.ask("PCL-7001")).await).await?;

    // Crossings: another manager, the carrier itself, a driver, a resident;
    // a carrier not enabled here; another manager's property.
    expect_error(b.otto.remove_enablement(p, parcelo).await, StatusCode::NOT_FOUND, "not_found");
    // Whoever does not manage the property is not told it exists.
    for who in [&b.parcelo, &b.dana.client, &b.jun.client] {
        expect_error(who.remove_enablement(p, parcelo).await, StatusCode::NOT_FOUND, "not_found");
    }
    expect_error(b.rosa.remove_enablement(p, b.quickship_id).await, StatusCode::NOT_FOUND, "not_found");
    expect_error(b.rosa.remove_enablement(b.brownstone.id, parcelo).await, StatusCode::NOT_FOUND, "not_found");
    expect_error(b.rosa.remove_enablement(p, CarrierId::random()).await, StatusCode::NOT_FOUND, "not_found");
    let (status, _) =
        crate::kit::raw_error(&b.rosa, reqwest::Method::DELETE, &format!("/v1/properties/{p}/carriers/x"), None, None)
            .await?;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(kit.store().get_grant(grant.grant_id).await?.context("grant")?.revoked_at, None, "nothing changed");

    kit.advance(30);
    b.rosa.remove_enablement(p, parcelo).await?;
    assert_eq!(kit.store().get_grant(grant.grant_id).await?.context("grant")?.revoked_at, Some(kit.now()));
    assert!(b.rosa.list_enablements(p).await?.iter().all(|e| e.carrier_id != parcelo));
    assert!(logged_changes(kit, &b.rosa).await?.contains(&format!("carrier {parcelo} removed from the property")));
    // The carrier reads it: the removal, its open delivery told, the credential revoked.
    let seen = audit_events(kit, &b.parcelo).await?;
    let told = seen.iter().any(|e| {
        e.delivery_id == Some(parcel.id)
            && matches!(&e.kind, EventKind::ConfigurationChanged { what } if what.contains("will not be let in"))
    });
    assert!(told, "the open delivery is told");
    assert!(seen.iter().any(|e| e.kind == EventKind::GrantRevoked { grant_id: grant.grant_id }));
    b.expect_refused(b.dana.client.request_access(&b.ask("PCL-7001")).await, RefusalReason::CarrierNotEnabled).await?;
    expect_error(b.rosa.remove_enablement(p, parcelo).await, StatusCode::NOT_FOUND, "not_found");
    assert!(b.parcelo.carrier_properties().await?.is_empty(), "the property no longer lists the carrier");

    // Enabled again, a new credential; disabled by PUT, it is revoked too.
    let enable = |enabled: bool| PutEnablement {
        enabled,
        hours: crate::fixture::all_day(),
        allowed_drop_spots: vec![b.room_spot.id],
    };
    b.rosa.put_enablement(p, parcelo, &enable(true)).await?;
    let again = b.expect_granted(b.dana.client.request_access(&b.ask("PCL-7001")).await).await?;
    kit.advance(30);
    let disabled = b.rosa.put_enablement(p, parcelo, &enable(false)).await?;
    assert!(!disabled.enabled);
    assert_eq!(kit.store().get_grant(again.grant_id).await?.context("grant")?.revoked_at, Some(kit.now()));
    assert!(logged_changes(kit, &b.rosa).await?.iter().any(|w| w.starts_with(&format!("carrier {parcelo} disabled"))));
    b.expect_refused(b.dana.client.request_access(&b.ask("PCL-7001")).await, RefusalReason::CarrierNotEnabled).await?;
    Ok(())
}

/// The manager removes the carrier: the online locks of the property get
/// the revocation bundle and refuse the carrier's issued credential within
/// 2 seconds of the DELETE.
pub async fn fleet_removed_carrier_is_refused_by_an_online_lock_within_two_seconds(kit: &Kit) -> anyhow::Result<()> {
    let Some(env) = FleetEnv::start(kit, Broker::Embedded).await? else { return Ok(()) };
    let granted = env.parcel(kit, 0).await?;
    let Principal::Carrier { carrier_id } = env.parcelo.whoami().await?.principal else {
        anyhow::bail!("parcelo is a carrier")
    };
    let started = tokio::time::Instant::now();
    env.rosa.remove_enablement(env.property.id, carrier_id).await?;
    for i in [ENTRANCE, ROOM] {
        let left = Duration::from_secs(2).saturating_sub(started.elapsed());
        env.sim(i)
            .wait_until(left, |h| h.revocation_sequence == 1)
            .await
            .with_context(|| format!("lock {i} did not get the revocation within 2 s"))?;
    }
    assert!(started.elapsed() < Duration::from_secs(2));
    let refused = env.present(0, &granted, ENTRANCE).await?;
    assert!(!refused.unlocked);
    assert_eq!(refused.reason.as_deref(), Some("revoked"), "{refused:?}");
    Ok(())
}

/// A resident moves out: their token gets 401 at once, the unit keeps its
/// history, and the next resident reads deliveries, access requests, the
/// feed, the live stream and the audit log only from their own move-in.
pub async fn moved_out_resident_is_refused_and_the_next_reads_from_move_in(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    let unit = b.unit_2b.id;
    let old = b.parcel(kit, "PCL-7101", unit).await?;
    b.expect_granted(b.dana.client.request_access(&b.ask("PCL-7101")).await).await?;
    b.jun.client.block(unit, &CreateBlock::default()).await?;
    b.jun.client.unblock(unit).await?;

    // Listing: the manager only; another manager's, a unit elsewhere.
    let residents = b.rosa.list_unit_residents(unit).await?;
    assert_eq!(residents.iter().map(|r| r.id).collect::<Vec<_>>(), vec![b.jun.id]);
    assert!(b.rosa.list_unit_invitations(unit).await?.iter().any(|i| i.email == "jun@example.org"));
    expect_error(b.otto.list_unit_residents(unit).await, StatusCode::NOT_FOUND, "not_found");
    expect_error(b.otto.list_unit_invitations(unit).await, StatusCode::NOT_FOUND, "not_found");
    expect_error(b.rosa.list_unit_residents(b.brownstone_unit.id).await, StatusCode::NOT_FOUND, "not_found");
    expect_error(b.rosa.list_unit_residents(UnitId::random()).await, StatusCode::NOT_FOUND, "not_found");
    // Jun sees his own unit but may not do this; the others are not told it exists.
    for (who, status, code) in [
        (&b.jun.client, StatusCode::FORBIDDEN, "forbidden"),
        (&b.parcelo, StatusCode::NOT_FOUND, "not_found"),
        (&b.dana.client, StatusCode::NOT_FOUND, "not_found"),
    ] {
        expect_error(who.list_unit_residents(unit).await, status, code);
        expect_error(who.list_unit_invitations(unit).await, status, code);
        expect_error(who.move_out_resident(unit, b.jun.id).await, status, code);
    }
    expect_error(b.otto.move_out_resident(unit, b.jun.id).await, StatusCode::NOT_FOUND, "not_found");
    // Jun lives in 2B, not 3C; an unknown resident.
    expect_error(b.rosa.move_out_resident(b.unit_3c.id, b.jun.id).await, StatusCode::NOT_FOUND, "not_found");
    expect_error(b.rosa.move_out_resident(unit, ResidentId::random()).await, StatusCode::NOT_FOUND, "not_found");
    b.jun.client.whoami().await?;

    kit.advance(60);
    let moved = b.rosa.move_out_resident(unit, b.jun.id).await?;
    assert_eq!((moved.id, moved.moved_out_at), (b.jun.id, Some(kit.now())));
    expect_error(b.jun.client.whoami().await, StatusCode::UNAUTHORIZED, "unauthenticated");
    expect_error(b.jun.client.unit_deliveries(unit).await, StatusCode::UNAUTHORIZED, "unauthenticated");
    expect_error(b.rosa.move_out_resident(unit, b.jun.id).await, StatusCode::CONFLICT, "conflict");
    assert!(b.rosa.list_unit_residents(unit).await?.is_empty());
    b.kim.client.whoami().await?;
    let logged = logged_changes(kit, &b.rosa).await?;
    assert!(logged.iter().any(|w| w.starts_with(&format!("resident {} (Jun Park) moved out", b.jun.id))), "{logged:?}");
    // The unit's history stays with the unit: the manager still reads it.
    assert!(b.rosa.property_deliveries(b.property.id).await?.iter().any(|d| d.id == old.id));

    // The next resident, invited again to the unit.
    kit.advance(60);
    let invited = b
        .rosa
        .invite_resident(unit, &CreateInvitation { name: "Lee Moreau".into(), email: "lee@example.org".into() })
        .await?;
    let lee = kit.anon.redeem_invitation(&invited.code).await?;
    let moved_in = lee.item.created_at;
    assert_eq!(moved_in, kit.now());
    let lee = kit.client(&lee.token);
    assert!(lee.unit_deliveries(unit).await?.is_empty(), "the parcel before her move-in");
    assert!(lee.unit_access_requests(unit).await?.is_empty());
    expect_error(lee.get_delivery(old.id).await, StatusCode::NOT_FOUND, "not_found");
    assert!(audit_events(kit, &lee).await?.is_empty(), "nothing of the unit before her");
    assert!(lee.events(None, None).await?.events.is_empty());

    // What happens after her move-in is hers.
    kit.advance(60);
    let new = b.parcel(kit, "PCL-7102", unit).await?;
    b.expect_granted(b.dana.client.request_access(&b.ask("PCL-7102")).await).await?;
    assert_eq!(lee.unit_deliveries(unit).await?.iter().map(|d| d.id).collect::<Vec<_>>(), vec![new.id]);
    assert_eq!(lee.unit_access_requests(unit).await?.len(), 1);
    assert_eq!(lee.get_delivery(new.id).await?.id, new.id);
    let events = audit_events(kit, &lee).await?;
    assert!(!events.is_empty() && events.iter().all(|e| e.at >= moved_in), "{events:?}");
    let feed = lee.events(None, None).await?.events;
    assert!(!feed.is_empty() && feed.iter().all(|e| e.at >= moved_in), "{feed:?}");
    // The live stream from the start begins at her move-in too.
    let mut stream = lee.event_stream(StreamStart::Beginning).await?;
    let first = tokio::time::timeout(Duration::from_secs(10), stream.next()).await??.context("an event")?;
    assert_eq!(first.id, feed[0].id);
    assert!(first.at >= moved_in);
    // The manager reads the whole story.
    assert!(b.rosa.unit_deliveries(unit).await?.len() == 2);
    Ok(())
}

/// A manager hands a property to another manager: logged; the old manager
/// loses it; bad input and crossings write nothing.
pub async fn handed_over_property_is_forbidden_to_the_old_manager(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    let p = b.property.id;
    let (rosa_id, otto_id) = (manager_id(&b.rosa).await?, manager_id(&b.otto).await?);

    expect_error(b.otto.hand_over_property(p, otto_id).await, StatusCode::NOT_FOUND, "not_found");
    expect_error(b.rosa.hand_over_property(b.brownstone.id, rosa_id).await, StatusCode::NOT_FOUND, "not_found");
    for who in [&b.parcelo, &b.dana.client, &b.jun.client] {
        expect_error(who.hand_over_property(p, otto_id).await, StatusCode::NOT_FOUND, "not_found");
    }
    let body = expect_error(
        b.rosa.hand_over_property(p, ManagerId::random()).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    );
    assert_eq!(body.error.message, "manager_id: no such manager");
    expect_error(b.rosa.hand_over_property(p, rosa_id).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request");
    let (status, _) = crate::kit::raw_json_error(
        &b.rosa,
        reqwest::Method::POST,
        &format!("/v1/properties/{p}/handover"),
        r#"{"manager_id":"nope"}"#,
    )
    .await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(b.rosa.get_property(p).await?.manager_id, rosa_id, "nothing changed");

    let handed = b.rosa.hand_over_property(p, otto_id).await?;
    assert_eq!(handed.manager_id, otto_id);
    expect_error(b.rosa.get_property(p).await, StatusCode::NOT_FOUND, "not_found");
    expect_error(b.rosa.list_units(p).await, StatusCode::NOT_FOUND, "not_found");
    expect_error(b.rosa.list_unit_residents(b.unit_2b.id).await, StatusCode::NOT_FOUND, "not_found");
    expect_error(b.rosa.hand_over_property(p, rosa_id).await, StatusCode::NOT_FOUND, "not_found");
    assert!(b.rosa.list_properties().await?.iter().all(|x| x.id != p));
    assert_eq!(b.otto.get_property(p).await?.manager_id, otto_id);
    assert!(b.otto.list_properties().await?.iter().any(|x| x.id == p));
    assert_eq!(b.otto.list_unit_residents(b.unit_2b.id).await?.len(), 1);
    let what = format!("property {p} handed over from manager {rosa_id} to manager {otto_id}");
    assert!(logged_changes(kit, &b.otto).await?.contains(&what));
    assert!(!logged_changes(kit, &b.rosa).await?.contains(&what), "the old manager no longer reads the property's log");
    Ok(())
}

/// A carrier lists the properties that enabled it, with their units'
/// labels, and announces a parcel by label; elsewhere the label is refused
/// as an unknown unit is. Managers and the operator find carriers and
/// managers by name.
pub async fn carrier_directory_and_delivery_by_unit_label(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    let p = b.property.id;
    let listed = b.parcelo.carrier_properties().await?;
    assert_eq!(listed.len(), 1);
    let here = &listed[0];
    assert_eq!((here.property_id, &here.name, &here.address), (p, &b.property.name, &b.property.address));
    assert_eq!(here.time_zone, b.property.time_zone);
    let labels: Vec<&str> = here.units.iter().map(|u| u.label.as_str()).collect();
    assert_eq!(labels, vec!["2B", "3C"]);
    assert_eq!(here.units[0].id, b.unit_2b.id);
    assert_eq!(here.hours, crate::fixture::weekdays_8_to_8());
    assert_eq!(here.allowed_drop_spots.len(), 2);
    assert!(b.quickship.carrier_properties().await?.is_empty(), "not enabled anywhere");
    // The carrier's driver reads the same directory (to name the building it is at).
    assert_eq!(b.dana.client.carrier_properties().await?, listed);
    for who in [&b.rosa, &b.jun.client, &kit.operator] {
        expect_error(who.carrier_properties().await, StatusCode::FORBIDDEN, "forbidden");
    }

    let now = kit.now();
    let by_label = |tracking: &str, property: PropertyId, label: &str| CreateDelivery {
        unit_id: None,
        unit_label: Some(label.into()),
        ..delivery(tracking, property, b.unit_2b.id, now - HOUR, now + 3 * HOUR)
    };
    assert_eq!(b.parcelo.create_delivery(&by_label("PCL-7201", p, "2B")).await?.unit_id, b.unit_2b.id);
    assert_eq!(b.parcelo.create_delivery(&by_label("PCL-7202", p, " 3C ")).await?.unit_id, b.unit_3c.id);
    assert_eq!(b.parcelo.create_delivery(&by_label("PCL-7203", p, "2b")).await?.unit_id, b.unit_2b.id);
    b.expect_granted(b.dana.client.request_access(&b.ask("PCL-7203")).await).await?;
    let unknown = expect_error(
        b.parcelo.create_delivery(&by_label("PCL-7204", p, "9Z")).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    );
    // Not enabled there (another manager's house; QuickShip here): the same answer.
    let house = b.brownstone_unit.label.clone();
    for (who, property, label) in [(&b.parcelo, b.brownstone.id, house.as_str()), (&b.quickship, p, "2B")] {
        let body = expect_error(
            who.create_delivery(&by_label("PCL-7205", property, label)).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        );
        assert_eq!(body.error.message, unknown.error.message, "no word on whether the unit exists");
    }
    let both = CreateDelivery { unit_id: Some(b.unit_2b.id), ..by_label("PCL-7206", p, "2B") };
    let neither = CreateDelivery { unit_label: None, ..by_label("PCL-7207", p, "2B") };
    for req in [both, neither, by_label("PCL-7208", p, "  ")] {
        expect_error(b.parcelo.create_delivery(&req).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request");
    }
    assert_eq!(b.parcelo.list_deliveries().await?.len(), 3, "refused ones wrote nothing");

    // Carriers and managers by name: the operator and managers.
    for who in [&kit.operator, &b.rosa] {
        let found = who.list_carriers(Some("PARC")).await?;
        assert_eq!(found.iter().map(|c| c.id).collect::<Vec<_>>(), vec![b.parcelo_id]);
        assert_eq!(who.list_carriers(None).await?.len(), 2);
        assert!(who.list_carriers(Some("nobody")).await?.is_empty());
        let found = who.list_managers(Some("otto")).await?;
        assert_eq!(found.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(), vec!["Otto Brandt"]);
        assert_eq!(who.list_managers(Some("")).await?.len(), 2);
    }
    for who in [&b.parcelo, &b.dana.client, &b.jun.client] {
        expect_error(who.list_carriers(Some("parc")).await, StatusCode::FORBIDDEN, "forbidden");
        expect_error(who.list_managers(None).await, StatusCode::FORBIDDEN, "forbidden");
    }
    let long = "x".repeat(201);
    expect_error(b.rosa.list_carriers(Some(&long)).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request");
    Ok(())
}
