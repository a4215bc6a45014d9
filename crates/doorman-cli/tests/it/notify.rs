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
    let otto_home = b
        .otto
        .create_property(&CreateProperty {
            kind: PropertyKind::Building,
            name: "12 Pacific St".into(),
            address: "12 Pacific St, Brooklyn, NY".into(),
            location: crate::fixture::ELSEWHERE,
            time_zone: "America/New_York".into(),
        })
        .await?;
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
            vec!["access_requested", "access_refused", "blocked", "eta_updated", "access_requested", "access_refused"],
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
        ("quickship", vec!["access_requested", "access_refused", "eta_updated"]),
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
    assert!(matches!(kim_events[5].kind, EventKind::AccessRefused { reason: RefusalReason::ResidentBlocked, .. }));
    assert_eq!(kim_events[5].delivery_id, Some(eli_parcel.id));
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
    assert_eq!(got[0].actor, Some(Principal::Resident { resident_id: b.jun.id, unit_id: b.unit_2b.id }));

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
