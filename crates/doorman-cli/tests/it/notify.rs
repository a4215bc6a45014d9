//! Notifications: the event feed and its live stream (server-sent events),
//! per principal, in order, resumable.

use std::time::Duration;

use doorman_api::*;
use doorman_client::{Client, EventStream, StreamStart};
use reqwest::{Method, StatusCode};

use crate::fixture::{delivery, Building};
use crate::kit::{expect_error, Kit, HOUR};

/// A guard against a stream that never delivers (a failing test, not a wait).
const PATIENCE: Duration = Duration::from_secs(20);

/// The next `n` events of a stream.
pub async fn take(stream: &mut EventStream, n: usize) -> anyhow::Result<Vec<FeedEvent>> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        match tokio::time::timeout(PATIENCE, stream.next()).await {
            Ok(Ok(Some(event))) => out.push(event),
            Ok(Ok(None)) => anyhow::bail!("the stream closed after {} events", out.len()),
            Ok(Err(e)) => anyhow::bail!("the stream failed after {} events: {e}", out.len()),
            Err(_) => anyhow::bail!("no event {} within {PATIENCE:?}; got {:?}", out.len() + 1, kinds(&out)),
        }
    }
    Ok(out)
}

pub fn kinds(events: &[FeedEvent]) -> Vec<&'static str> {
    events.iter().map(FeedEvent::kind_name).collect()
}

/// Everything `client` may read in the feed after `after`, through the JSON pages.
pub async fn all_after(client: &Client, after: Option<u64>) -> anyhow::Result<Vec<FeedEvent>> {
    let mut out = Vec::new();
    let mut cursor = after;
    loop {
        let page = client.events(cursor, Some(3)).await?;
        if page.events.is_empty() {
            return Ok(out);
        }
        cursor = page.next_after;
        out.extend(page.events);
    }
}

pub async fn every_notification_of_a_delivery_in_order_to_the_right_principals(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    let operator = &kit.operator;
    // Everyone watches from now on.
    let who: [(&str, &Client); 10] = [
        ("jun", &b.jun.client),
        ("kim", &b.kim.client),
        ("rosa", &b.rosa),
        ("otto", &b.otto),
        ("parcelo", &b.parcelo),
        ("quickship", &b.quickship),
        ("dana", &b.dana.client),
        ("eli", &b.eli.client),
        ("sam", &b.sam.client),
        ("operator", operator),
    ];
    let mut streams = Vec::new();
    for (name, client) in who {
        streams.push((name, client.event_stream(StreamStart::Now).await?));
    }
    let start = all_after(&b.rosa, None).await?.last().map(|e| e.id);
    let otto_start = all_after(&b.otto, None).await?.last().map(|e| e.id);

    // Jun's parcel: the ETA, Dana at the door, the grant, the drop.
    let parcel = b.parcel(kit, "PCL-7001", b.unit_2b.id).await?;
    b.parcelo.update_eta(parcel.id, kit.now() + HOUR / 2).await?;
    let grant = b.dana.client.request_access(&b.ask("PCL-7001")).await?;
    b.dana
        .client
        .complete_delivery(
            parcel.id,
            &CompleteDelivery { drop_spot_id: grant.drop_spot_id, photo_ref: Some("photos/7001.jpg".into()) },
        )
        .await?;
    // Kim's QuickShip parcel: Sam is refused (QuickShip is not enabled here).
    let kims = b
        .quickship
        .create_delivery(&delivery("QS-55", b.property.id, b.unit_3c.id, kit.now() - HOUR, kit.now() + HOUR))
        .await?;
    expect_error(
        b.sam.client.request_access(&b.ask_as(&b.sam, "QS-55")).await,
        StatusCode::FORBIDDEN,
        "carrier_not_enabled",
    );
    // Then each does something only they (and the building's manager) see:
    // the first event each reads after the flow must be their own.
    b.jun.client.block(b.unit_2b.id, &CreateBlock { until: None, reason: None }).await?;
    b.kim.client.block(b.unit_3c.id, &CreateBlock { until: None, reason: None }).await?;
    b.quickship.update_eta(kims.id, kit.now() + HOUR).await?;
    let otto_home = b.otto.create_property(&crate::fixture::pacific_st()).await?;
    let eli_parcel = b.parcel(kit, "PCL-7002", b.unit_3c.id).await?;
    expect_error(
        b.eli.client.request_access(&b.ask_as(&b.eli, "PCL-7002")).await,
        StatusCode::FORBIDDEN,
        "resident_blocked",
    );

    let expected: [(&str, Vec<&str>); 10] = [
        ("jun", vec!["eta_updated", "access_requested", "access_granted", "delivered", "blocked"]),
        (
            "kim",
            vec![
                "access_requested",
                "access_refused",
                "blocked",
                "diverted",
                "eta_updated",
                "access_requested",
                "access_refused",
            ],
        ),
        (
            "rosa",
            vec![
                "eta_updated",
                "access_requested",
                "access_granted",
                "delivered",
                "access_requested",
                "access_refused",
                "blocked",
                "blocked",
                "diverted",
                "eta_updated",
                "access_requested",
                "access_refused",
            ],
        ),
        ("otto", vec!["configuration_changed"]),
        (
            "parcelo",
            vec![
                "eta_updated",
                "access_requested",
                "access_granted",
                "delivered",
                "access_requested",
                "access_refused",
            ],
        ),
        // Kim named no pickup point or alternate address: QuickShip is told to hold her parcel.
        ("quickship", vec!["access_requested", "access_refused", "diverted", "eta_updated"]),
        ("dana", vec!["access_requested", "access_granted", "delivered"]),
        ("eli", vec!["access_requested", "access_refused"]),
        ("sam", vec!["access_requested", "access_refused"]),
        ("operator", vec!["configuration_changed"]),
    ];
    for ((name, stream), (expected_name, expected_kinds)) in streams.iter_mut().zip(expected) {
        assert_eq!(*name, expected_name);
        let got = take(stream, expected_kinds.len()).await?;
        assert_eq!(kinds(&got), expected_kinds, "{name}'s stream");
        // In log order, each once.
        assert!(got.windows(2).all(|w| w[0].id < w[1].id), "{name}: ids increase");
        // The stream and the JSON feed agree: the same events, nothing more.
        let client = who.iter().find(|(n, _)| n == name).map(|(_, c)| *c).unwrap();
        let paged: Vec<FeedEvent> = all_after(client, start).await?.into_iter().filter(|e| e.id >= got[0].id).collect();
        assert_eq!(paged, got, "{name}: the feed and the stream differ");
    }

    // What the events say: the grant names the drop spot and the doors; the
    // refusal its reason; the drop the spot and the photo.
    let jun_events = all_after(&b.jun.client, start).await?;
    assert!(jun_events.iter().all(|e| e.unit_id == Some(b.unit_2b.id)));
    match &jun_events[2].kind {
        EventKind::AccessGranted { grant_id, drop_spot_id, locks, .. } => {
            assert_eq!((*grant_id, *drop_spot_id), (grant.grant_id, grant.drop_spot_id));
            assert_eq!(locks, &grant.doors.iter().map(|d| d.lock_id).collect::<Vec<_>>());
        }
        other => panic!("expected the grant, got {other:?}"),
    }
    match &jun_events[3].kind {
        EventKind::Delivered { drop_spot_id, photo_ref } => {
            assert_eq!((*drop_spot_id, photo_ref.as_deref()), (grant.drop_spot_id, Some("photos/7001.jpg")));
        }
        other => panic!("expected the drop, got {other:?}"),
    }
    assert_eq!(jun_events[3].delivery_id, Some(parcel.id));
    let kim_events = all_after(&b.kim.client, start).await?;
    assert!(matches!(kim_events[1].kind, EventKind::AccessRefused { reason: RefusalReason::CarrierNotEnabled, .. }));
    assert!(matches!(
        &kim_events[3].kind,
        EventKind::Diverted { to, pickup_point_id: None } if to == doorman_server::HOLD_AT_CARRIER
    ));
    assert_eq!(kim_events[3].delivery_id, Some(kims.id));
    assert!(matches!(kim_events[6].kind, EventKind::AccessRefused { reason: RefusalReason::ResidentBlocked, .. }));
    assert_eq!(kim_events[6].delivery_id, Some(eli_parcel.id));
    let otto_events = all_after(&b.otto, otto_start).await?;
    assert_eq!(otto_events.len(), 1);
    assert_eq!(otto_events[0].property_id, Some(otto_home.id));
    Ok(())
}

pub async fn resuming_with_last_event_id_loses_and_repeats_nothing(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    let history = all_after(&b.rosa, None).await?;
    assert!(history.len() > 10, "the seeding is in Rosa's feed");
    assert!(history.windows(2).all(|w| w[0].id < w[1].id));

    // From the beginning, three at a time, reconnecting with Last-Event-ID.
    let mut seen: Vec<FeedEvent> = Vec::new();
    let mut start = StreamStart::Beginning;
    while seen.len() < history.len() {
        let mut stream = b.rosa.event_stream(start).await?;
        let n = (history.len() - seen.len()).min(3);
        seen.extend(take(&mut stream, n).await?);
        start = StreamStart::LastEventId(stream.last_event_id().unwrap());
        drop(stream);
        // Something happens while Rosa is away.
        if seen.len() == 6 {
            b.rosa.create_unit(b.property.id, "4D").await?;
            let more = all_after(&b.rosa, Some(history.last().unwrap().id)).await?;
            assert_eq!(kinds(&more), ["configuration_changed"]);
            assert_eq!(more[0].property_id, Some(b.property.id));
        }
    }
    let mut everything = history.clone();
    everything.extend(all_after(&b.rosa, Some(history.last().unwrap().id)).await?);
    let mut stream = b.rosa.event_stream(start).await?;
    seen.extend(take(&mut stream, everything.len() - seen.len()).await?);
    assert_eq!(seen, everything);

    // `?after=` resumes the same way; a live event arrives on an open stream.
    let mut after = b.rosa.event_stream(StreamStart::After(everything[4].id)).await?;
    assert_eq!(take(&mut after, 2).await?, everything[5..7].to_vec());
    let mut live = b.jun.client.event_stream(StreamStart::Now).await?;
    b.jun.client.block(b.unit_2b.id, &CreateBlock { until: Some(kit.now() + HOUR), reason: None }).await?;
    let got = take(&mut live, 1).await?;
    assert!(matches!(got[0].kind, EventKind::Blocked { until: Some(_) }));
    assert_eq!(got[0].actor, Some(Principal::Resident { resident_id: b.jun.id, unit_id: b.unit_2b.id }.into()));

    // The wire format, as any SSE client reads it.
    let mut raw = b.jun.client.event_stream(StreamStart::Beginning).await?;
    let message = tokio::time::timeout(PATIENCE, raw.next_message()).await??.unwrap();
    let data: serde_json::Value = serde_json::from_str(&message.data)?;
    assert_eq!(message.id.as_deref(), Some(data["id"].to_string().as_str()));
    assert_eq!(message.event.as_deref(), data["type"].as_str());
    assert!(data.get("salt").is_none() && data.get("v").is_none());

    // Bad input: a Last-Event-ID that is no id, a bad `after`, no token.
    let (status, text) = b.rosa.send_raw(Method::GET, "/v1/events?after=minus-one", None, None).await?;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    let bad = reqwest::Client::new()
        .get(format!("{}/v1/events/stream", kit.running.url()))
        .bearer_auth(b.rosa_token.clone())
        .header("Last-Event-ID", "yesterday")
        .send()
        .await?;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let body: ErrorBody = bad.json().await?;
    assert_eq!(body.error.code, "invalid_request");
    expect_error(kit.anon.event_stream(StreamStart::Beginning).await, StatusCode::UNAUTHORIZED, "unauthenticated");
    expect_error(kit.anon.events(None, None).await, StatusCode::UNAUTHORIZED, "unauthenticated");

    // By default a webhook may not point into the service's own network.
    for url in ["http://127.0.0.1:8080/hook", "http://localhost/hook", "http://169.254.169.254/latest", "http://[::1]/"]
    {
        let req = CreateWebhook { url: url.into(), events: vec![] };
        expect_error(b.rosa.create_webhook(&req).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request");
    }
    assert!(b.rosa.list_webhooks().await?.is_empty());
    Ok(())
}

/// A stream on a second service process over the same database sees what
/// the first one writes (no in-process wake-up there: the periodic re-check).
pub async fn a_second_process_streams_what_the_first_writes(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    let store = doorman_store::open(&kit.database_url).await?;
    let config = doorman_server::ServiceConfig { feed_recheck_ms: 50, ..Default::default() };
    let clock: std::sync::Arc<dyn doorman_domain::Clock> = kit.clock.clone();
    let service = doorman_cli::app::service_with(store, clock, &kit.keys, config)?;
    let other = doorman_cli::app::start_with(service, "127.0.0.1:0".parse()?, None).await?;
    let jun_there = Client::new(other.url()).with_token(b.jun.client.token().unwrap_or_default());
    let mut stream = jun_there.event_stream(StreamStart::Now).await?;
    b.jun.client.block(b.unit_2b.id, &CreateBlock { until: None, reason: Some("away".into()) }).await?;
    let got = take(&mut stream, 1).await?;
    assert_eq!(kinds(&got), ["blocked"]);
    drop(stream);
    other.stop().await
}

fn corner_deli() -> CreatePickupPoint {
    CreatePickupPoint {
        name: "Corner Deli".into(),
        address: "200 E 9th St, New York, NY".into(),
        time_zone: "America/New_York".into(),
        hours: crate::fixture::all_day(),
    }
}

/// Jun chooses a pickup point, then blocks while Dana holds a credential:
/// the credential is revoked, Parcelo is told (stream and webhook) to divert
/// to the deli, Dana's next request is refused for the block, and after the
/// unblock access works again.
pub async fn block_then_divert_end_to_end(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    let deli = kit.operator.create_pickup_point(&corner_deli()).await?;
    let lockers =
        b.rosa.create_pickup_point(&CreatePickupPoint { name: "Lockers on 10th".into(), ..corner_deli() }).await?;
    let directory = b.jun.client.list_pickup_points().await?;
    assert_eq!(directory.iter().map(|p| p.id).collect::<Vec<_>>(), vec![deli.id, lockers.id]);
    let mut prefs = b.jun.client.get_preferences(b.unit_2b.id).await?;
    prefs.pickup_point_id = Some(deli.id);
    b.jun.client.put_preferences(b.unit_2b.id, &prefs).await?;

    // Parcelo listens for diversions by webhook and watches its stream.
    let rx = crate::webhooks::Receiver::start().await?;
    let hook =
        b.parcelo.create_webhook(&CreateWebhook { url: rx.url.clone(), events: vec!["diverted".into()] }).await?;
    rx.set_secret(&hook.secret);
    let mut parcelo = b.parcelo.event_stream(StreamStart::Now).await?;
    let mut quickship = b.quickship.event_stream(StreamStart::Now).await?;

    let parcel = b.parcel(kit, "PCL-9001", b.unit_2b.id).await?;
    let kims = b.parcel(kit, "PCL-9002", b.unit_3c.id).await?;
    let grant = b.dana.client.request_access(&b.ask("PCL-9001")).await?;
    let blocked = b
        .jun
        .client
        .block(b.unit_2b.id, &CreateBlock { until: Some(kit.now() + 2 * HOUR), reason: Some("away".into()) })
        .await?;
    assert_eq!(blocked.revoked_grants, vec![grant.grant_id]);
    assert_eq!(blocked.diverted_deliveries, vec![parcel.id], "Kim's parcel is not diverted");

    let got = take(&mut parcelo, 4).await?;
    assert_eq!(kinds(&got), ["access_requested", "access_granted", "diverted", "grant_revoked"]);
    match &got[2].kind {
        EventKind::Diverted { to, pickup_point_id } => {
            assert_eq!(*pickup_point_id, Some(deli.id));
            assert!(to.contains("Corner Deli") && to.contains("200 E 9th St"), "{to}");
        }
        other => panic!("expected a diversion, got {other:?}"),
    }
    assert_eq!((got[2].delivery_id, got[2].carrier_id), (Some(parcel.id), Some(b.parcelo_id)));
    kit.running.service.dispatch_webhooks(&doorman_cli::webhook_cmd::HttpWebhooks::new()?).await?;
    let hooked = rx.got();
    assert_eq!(hooked.len(), 1);
    assert!(hooked[0].signature_ok);
    assert_eq!(hooked[0].body, got[2]);

    // The driver's later request is refused, for the block.
    let refused = b.dana.client.request_access(&b.ask("PCL-9001")).await;
    expect_error(refused, StatusCode::FORBIDDEN, "resident_blocked");
    let got = take(&mut parcelo, 2).await?;
    assert!(matches!(got[1].kind, EventKind::AccessRefused { reason: RefusalReason::ResidentBlocked, .. }));
    // Kim's parcel still goes through.
    b.eli.client.request_access(&b.ask_as(&b.eli, "PCL-9002")).await?;
    assert_eq!(kims.unit_id, b.unit_3c.id);

    // Unblocked, access works again for later requests.
    assert_eq!(b.jun.client.unblock(b.unit_2b.id).await?.ended_blocks, 1);
    b.dana.client.request_access(&b.ask("PCL-9001")).await?;

    // A block with only an alternate address names it; one with neither an
    // alternate address nor a pickup point tells the carrier to hold it.
    prefs.pickup_point_id = None;
    prefs.alternate_address = Some("Jun's office, 5 Times Sq".into());
    b.jun.client.put_preferences(b.unit_2b.id, &prefs).await?;
    let again = b.jun.client.block(b.unit_2b.id, &CreateBlock { until: None, reason: None }).await?;
    assert_eq!(again.diverted_deliveries, vec![parcel.id]);
    let events = all_after(&b.parcelo, None).await?;
    let last = events.iter().rev().find(|e| e.kind_name() == "diverted").unwrap();
    assert!(
        matches!(&last.kind, EventKind::Diverted { to, pickup_point_id: None } if to == "Jun's office, 5 Times Sq")
    );
    assert_eq!(b.jun.client.unblock(b.unit_2b.id).await?.ended_blocks, 1);
    prefs.alternate_address = None;
    b.jun.client.put_preferences(b.unit_2b.id, &prefs).await?;
    let held = b.jun.client.block(b.unit_2b.id, &CreateBlock { until: None, reason: None }).await?;
    assert_eq!(held.diverted_deliveries, vec![parcel.id]);
    let events = all_after(&b.parcelo, Some(last.id)).await?;
    let diverted: Vec<&FeedEvent> = events.iter().filter(|e| e.kind_name() == "diverted").collect();
    assert_eq!(diverted.len(), 1, "the carrier hears of the block, once: {:?}", kinds(&events));
    assert!(matches!(
        &diverted[0].kind,
        EventKind::Diverted { to, pickup_point_id: None } if to == doorman_server::HOLD_AT_CARRIER
    ));
    assert_eq!(diverted[0].delivery_id, Some(parcel.id));

    // QuickShip, with no parcel here, heard none of it: its first event is its own.
    let qs = b
        .quickship
        .create_delivery(&delivery("QS-1", b.property.id, b.unit_3c.id, kit.now() - HOUR, kit.now() + HOUR))
        .await?;
    b.quickship.update_eta(qs.id, kit.now() + HOUR).await?;
    assert_eq!(kinds(&take(&mut quickship, 1).await?), ["eta_updated"]);

    // Bad input and the wrong people.
    prefs.pickup_point_id = Some(PickupPointId::random());
    let unknown = b.jun.client.put_preferences(b.unit_2b.id, &prefs).await;
    expect_error(unknown, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request");
    expect_error(b.jun.client.create_pickup_point(&corner_deli()).await, StatusCode::FORBIDDEN, "forbidden");
    expect_error(b.parcelo.create_pickup_point(&corner_deli()).await, StatusCode::FORBIDDEN, "forbidden");
    let bad_tz = CreatePickupPoint { time_zone: "Mars/Olympus".into(), ..corner_deli() };
    expect_error(kit.operator.create_pickup_point(&bad_tz).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request");
    let no_hours = CreatePickupPoint { hours: vec![], ..corner_deli() };
    expect_error(
        kit.operator.create_pickup_point(&no_hours).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    );
    expect_error(kit.anon.list_pickup_points().await, StatusCode::UNAUTHORIZED, "unauthenticated");
    assert_eq!(b.jun.client.list_pickup_points().await?.len(), 2, "nothing was written");
    Ok(())
}

/// The manager turns delivery access on: every unit is told, before it goes
/// live; then each unit's allow and block lists of carriers and drivers
/// decide, with their own refusal codes.
pub async fn tenant_notice_and_resident_choices(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed_with(kit, crate::fixture::Options { tenant_notice: false, enable_parcelo: true }).await?;
    let mut jun = b.jun.client.event_stream(StreamStart::Now).await?;
    let mut kim = b.kim.client.event_stream(StreamStart::Now).await?;
    b.parcel(kit, "PCL-5001", b.unit_2b.id).await?;
    let live_from = kit.now() + HOUR;
    let notice = SetTenantNotice { text: "Couriers may enter from tomorrow.".into(), live_from: Some(live_from) };
    b.rosa.set_tenant_notice(b.property.id, &notice).await?;
    for (stream, unit) in [(&mut jun, b.unit_2b.id), (&mut kim, b.unit_3c.id)] {
        let got = take(stream, 1).await?;
        assert_eq!(got[0].unit_id, Some(unit));
        assert_eq!(got[0].at, kit.now(), "told now, an hour before it is live");
        match &got[0].kind {
            EventKind::TenantNoticeGiven { live_from: when, text } => {
                assert_eq!((*when, text.as_str()), (live_from, "Couriers may enter from tomorrow."));
            }
            other => panic!("expected the tenant notice, got {other:?}"),
        }
    }
    expect_error(
        b.dana.client.request_access(&b.ask("PCL-5001")).await,
        StatusCode::FORBIDDEN,
        "tenant_notice_missing",
    );
    kit.advance(HOUR);

    // QuickShip enabled too; Jun accepts no QuickShip and not Dana.
    let spots = vec![b.room_spot.id];
    let enable = PutEnablement { enabled: true, hours: crate::fixture::all_day(), allowed_drop_spots: spots };
    b.rosa.put_enablement(b.property.id, b.quickship_id, &enable).await?;
    let qs = b
        .quickship
        .create_delivery(&delivery("QS-77", b.property.id, b.unit_2b.id, kit.now() - HOUR, kit.now() + HOUR))
        .await?;
    let mut prefs = b.jun.client.get_preferences(b.unit_2b.id).await?;
    prefs.blocked_carriers = vec![b.quickship_id];
    prefs.blocked_drivers = vec![b.dana.id];
    assert_eq!(b.jun.client.put_preferences(b.unit_2b.id, &prefs).await?, prefs);
    assert_eq!(b.jun.client.get_preferences(b.unit_2b.id).await?, prefs);
    let sam_request = b.ask_as(&b.sam, "QS-77");
    let sam_asks = || b.sam.client.request_access(&sam_request);
    expect_error(sam_asks().await, StatusCode::FORBIDDEN, "carrier_refused_by_resident");
    expect_error(
        b.dana.client.request_access(&b.ask("PCL-5001")).await,
        StatusCode::FORBIDDEN,
        "driver_refused_by_resident",
    );
    let eli = b.eli.client.request_access(&b.ask_as(&b.eli, "PCL-5001")).await?;
    assert_eq!(
        eli.delivery_id,
        b.parcelo.list_deliveries().await?.iter().find(|d| d.tracking_number == "PCL-5001").unwrap().id
    );

    // Allow lists: only Parcelo, only Dana (now that Eli is done).
    let second = b.parcel(kit, "PCL-5002", b.unit_2b.id).await?;
    prefs.blocked_carriers = vec![];
    prefs.blocked_drivers = vec![];
    prefs.allowed_carriers = vec![b.parcelo_id];
    prefs.allowed_drivers = vec![b.dana.id];
    b.jun.client.put_preferences(b.unit_2b.id, &prefs).await?;
    expect_error(sam_asks().await, StatusCode::FORBIDDEN, "carrier_refused_by_resident");
    expect_error(
        b.eli.client.request_access(&b.ask_as(&b.eli, "PCL-5002")).await,
        StatusCode::FORBIDDEN,
        "driver_refused_by_resident",
    );
    let dana = b.dana.client.request_access(&b.ask("PCL-5002")).await?;
    assert_eq!(dana.delivery_id, second.id);
    // Kim's unit has no lists: QuickShip may deliver there.
    b.quickship
        .create_delivery(&delivery("QS-78", b.property.id, b.unit_3c.id, kit.now() - HOUR, kit.now() + HOUR))
        .await?;
    b.sam.client.request_access(&b.ask_as(&b.sam, "QS-78")).await?;

    // Jun's feed says why, with the codes.
    let reasons: Vec<RefusalReason> = all_after(&b.jun.client, None)
        .await?
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::AccessRefused { reason, .. } => Some(reason),
            _ => None,
        })
        .collect();
    assert_eq!(
        reasons,
        [
            RefusalReason::TenantNoticeMissing,
            RefusalReason::CarrierRefusedByResident,
            RefusalReason::DriverRefusedByResident,
            RefusalReason::CarrierRefusedByResident,
            RefusalReason::DriverRefusedByResident,
        ]
    );
    assert_eq!(qs.unit_id, b.unit_2b.id);

    // Lists too long are refused, and nothing is written.
    let before = b.jun.client.get_preferences(b.unit_2b.id).await?;
    let long = UnitPreferences { blocked_drivers: (0..101).map(|_| DriverId::random()).collect(), ..before.clone() };
    let err = b.jun.client.put_preferences(b.unit_2b.id, &long).await;
    expect_error(err, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request");
    assert_eq!(b.jun.client.get_preferences(b.unit_2b.id).await?, before);
    Ok(())
}

/// Jun schedules a return; Parcelo is told; Dana's scan of its label gets a
/// pickup grant to the package room where it waits (not Jun's preferred
/// spot); collecting it tells Jun.
pub async fn a_return_is_picked_up_with_a_pickup_grant(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    let mut jun = b.jun.client.event_stream(StreamStart::Now).await?;
    let mut parcelo = b.parcelo.event_stream(StreamStart::Now).await?;
    // Jun would have parcels brought into the flat; the return waits downstairs.
    let mut prefs = b.jun.client.get_preferences(b.unit_2b.id).await?;
    prefs.allow_in_unit = true;
    prefs.preferred_drop_spot = Some(b.in_2b_spot.id);
    b.jun.client.put_preferences(b.unit_2b.id, &prefs).await?;
    let req = ScheduleReturn {
        carrier_id: b.parcelo_id,
        drop_spot_id: b.room_spot.id,
        window_start: kit.now(),
        window_end: kit.now() + 3 * HOUR,
        tracking_number: Some("RMA-4242".into()),
    };
    let ret = b.jun.client.schedule_return(b.unit_2b.id, &req).await?;
    assert_eq!(
        (ret.kind, ret.state, ret.drop_spot_id),
        (DeliveryKind::Pickup, DeliveryState::Registered, Some(b.room_spot.id))
    );
    for stream in [&mut jun, &mut parcelo] {
        let got = take(stream, 1).await?;
        assert!(matches!(&got[0].kind, EventKind::ReturnScheduled { drop_spot_id, tracking_number }
            if *drop_spot_id == b.room_spot.id && tracking_number == "RMA-4242"));
        assert_eq!(got[0].delivery_id, Some(ret.id));
    }
    assert!(b.parcelo.list_deliveries().await?.iter().any(|d| d.id == ret.id), "the carrier has it");

    let grant = b.dana.client.request_access(&b.ask("RMA-4242")).await?;
    assert_eq!((grant.delivery_id, grant.drop_spot_id), (ret.id, b.room_spot.id));
    let path: Vec<_> = grant.doors.iter().map(|d| d.access_point_id).collect();
    assert_eq!(path, vec![b.entrance.id, b.lobby.id, b.package_room.id], "the way to the package room only");
    let done = CompleteDelivery { drop_spot_id: b.room_spot.id, photo_ref: Some("photos/rma-4242.jpg".into()) };
    let collected = b.dana.client.complete_delivery(ret.id, &done).await?;
    assert_eq!(collected.state, DeliveryState::Delivered);
    let got = take(&mut jun, 3).await?;
    assert_eq!(kinds(&got), ["access_requested", "access_granted", "return_collected"]);
    assert!(matches!(&got[2].kind, EventKind::ReturnCollected { drop_spot_id, photo_ref: Some(photo) }
        if *drop_spot_id == b.room_spot.id && photo == "photos/rma-4242.jpg"));
    expect_error(
        b.dana.client.request_access(&b.ask("RMA-4242")).await,
        StatusCode::FORBIDDEN,
        "parcel_already_delivered",
    );

    // Without a label, one is made; the wrong people and bad input are refused.
    let made =
        b.jun.client.schedule_return(b.unit_2b.id, &ScheduleReturn { tracking_number: None, ..req.clone() }).await?;
    assert!(made.tracking_number.starts_with("RET-"), "{}", made.tracking_number);
    let again = b.jun.client.schedule_return(b.unit_2b.id, &req).await;
    expect_error(again, StatusCode::CONFLICT, "conflict");
    expect_error(b.kim.client.schedule_return(b.unit_2b.id, &req).await, StatusCode::NOT_FOUND, "not_found");
    // A carrier is not told whether the unit exists; its manager may see it but not do this.
    expect_error(b.parcelo.schedule_return(b.unit_2b.id, &req).await, StatusCode::NOT_FOUND, "not_found");
    expect_error(b.rosa.schedule_return(b.unit_2b.id, &req).await, StatusCode::FORBIDDEN, "forbidden");
    let cases = [
        ScheduleReturn { carrier_id: b.quickship_id, tracking_number: None, ..req.clone() },
        ScheduleReturn { drop_spot_id: b.lobby_spot.id, tracking_number: None, ..req.clone() },
        ScheduleReturn {
            window_end: kit.now() - 1,
            window_start: kit.now() - HOUR,
            tracking_number: None,
            ..req.clone()
        },
        ScheduleReturn { window_end: kit.now() + 30 * 24 * HOUR, tracking_number: None, ..req.clone() },
        ScheduleReturn { tracking_number: Some(" ".into()), ..req.clone() },
    ];
    let before = b.jun.client.unit_deliveries(b.unit_2b.id).await?.len();
    for bad in cases {
        expect_error(
            b.jun.client.schedule_return(b.unit_2b.id, &bad).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        );
    }
    assert_eq!(b.jun.client.unit_deliveries(b.unit_2b.id).await?.len(), before, "nothing was written");
    Ok(())
}
