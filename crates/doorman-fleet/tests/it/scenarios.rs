//! Each scenario runs on the embedded broker, and on Mosquitto when
//! `DOORMAN_TEST_MQTT_URL` is set.

use std::collections::HashMap;

use doorman_fleet::*;
use doorman_protocol::*;
use rumqttc::{Packet, QoS, SubscribeReasonCode};

use crate::kit::*;

/// How strictly a broker answers a refused subscription.
#[derive(Clone, Copy)]
pub enum Strictness {
    /// SUBACK failure (0x80) for every refused filter: the embedded broker.
    FailureCode,
    /// Either a failure code, or a grant that never delivers anything: Mosquitto 2.0
    /// grants the subscription and checks the ACL on every delivery.
    NoDelivery,
}

/// Another lock's credentials can neither read nor write this lock's topics, nor take
/// over its session; bad passwords are refused.
pub async fn isolation(env: &Env, strictness: Strictness) {
    let (a, b) = (env.lock(0), env.lock(1));
    let mut devices = HashMap::new();
    devices.insert(a, EventSource::new(a, 1).device.public_key());
    let (service, mut seen) = RecordingService::new(devices);
    let bridge = FleetBridge::start(env.session(&env.service), env.scheme.clone(), service.clone());
    let handle = bridge.handle();
    tokio::time::timeout(WAIT, handle.wait_ready()).await.unwrap().unwrap();
    let mut link_a = env.link(0);
    connected(&mut link_a).await;

    // Lock B logs in with its own password, claiming lock A's client id.
    let b_creds = env.locks[1].1.clone();
    let mut attacker = RawClient::connect(env, &b_creds, &lock_name(a));
    assert!(
        matches!(attacker.next().await, Ok(Packet::ConnAck(ack)) if ack.code == rumqttc::ConnectReturnCode::Success)
    );
    let forbidden = [
        env.scheme.lock_subscription(a),
        env.scheme.downlink(a, DownlinkKind::Ack),
        format!("{}/locks/+/commands/#", env.scheme.prefix()),
        format!("{}/#", env.scheme.prefix()),
        "#".to_owned(),
        env.scheme.uplink(a, UplinkKind::Events),
    ];
    for filter in &forbidden {
        attacker.client.subscribe(filter.clone(), QoS::AtLeastOnce).await.unwrap();
        match attacker.next().await {
            Ok(Packet::SubAck(ack)) => match strictness {
                Strictness::FailureCode => {
                    assert_eq!(ack.return_codes, vec![SubscribeReasonCode::Failure], "{filter}")
                }
                Strictness::NoDelivery => {}
            },
            other => panic!("expected SUBACK for {filter}, got {other:?}"),
        }
    }
    attacker.client.subscribe(env.scheme.lock_subscription(b), QoS::AtLeastOnce).await.unwrap();
    assert!(
        matches!(attacker.next().await, Ok(Packet::SubAck(ack)) if ack.return_codes == vec![SubscribeReasonCode::Success(QoS::AtLeastOnce)])
    );

    // It forges an event from A and an acknowledgement to A (which would make A drop
    // events the service never got).
    let forged_event = EventSource::new(a, 9).next();
    attacker
        .client
        .publish(env.scheme.uplink(a, UplinkKind::Events), QoS::AtLeastOnce, false, forged_event)
        .await
        .unwrap();
    assert!(matches!(attacker.next().await, Ok(Packet::PubAck(_))), "a refused publish is still acknowledged");
    let forged_ack = Downlink::Ack { counter: 999 }.encode(&env.scheme, a);
    attacker.client.publish(forged_ack.topic, QoS::AtLeastOnce, false, forged_ack.payload).await.unwrap();
    assert!(matches!(attacker.next().await, Ok(Packet::PubAck(_))));

    // Barriers: the service commands A then B; A's real event follows the forgery.
    handle.send(a, &Downlink::Unlock { request_id: 2 }).await.unwrap();
    handle.send(b, &Downlink::Unlock { request_id: 1 }).await.unwrap();
    match attacker.next().await {
        Ok(Packet::Publish(p)) => {
            assert_eq!(p.topic, env.scheme.downlink(b, DownlinkKind::Unlock), "B read A's commands");
        }
        other => panic!("expected B's own command, got {other:?}"),
    }
    match tokio::time::timeout(WAIT, link_a.next()).await.unwrap().unwrap() {
        LinkEvent::Command(Downlink::Unlock { request_id: 2 }) => {}
        LinkEvent::Command(c) => panic!("A received a forged command: {c:?}"),
        other => panic!("A lost its connection to the impostor: {other:?}"),
    }
    let mut source = EventSource::new(a, 1);
    link_a.publish(&Uplink::Event(source.next())).unwrap();
    assert_eq!(recv(&mut seen).await, Seen::Event { lock: a, counter: 1 }, "the forged event reached the service");

    // Wrong password, no password.
    let mut wrong = env.locks[0].1.clone();
    wrong.password = Secret::new("not-the-password");
    let mut refused = RawClient::connect(env, &wrong, &lock_name(a));
    let answer = refused.next().await;
    assert!(answer.as_ref().is_err_and(|e| e.contains("refused") || e.contains("Refused")), "{answer:?}");
    let anonymous = MqttCredentials { username: String::new(), password: Secret::new("") };
    let mut refused = RawClient::connect(env, &anonymous, "anonymous");
    assert!(refused.next().await.is_err());
    drop(bridge);
}

/// Events up with acknowledgements down, gaps resent, duplicates harmless, time and
/// remote unlocks answered, retained bundles and acks for locks that connect later.
pub async fn round_trip(env: &Env) {
    let (a, c) = (env.lock(0), env.lock(2));
    let mut source = EventSource::new(a, 1);
    let mut devices = HashMap::new();
    devices.insert(a, source.device.public_key());
    let (service, mut seen) = RecordingService::new(devices);
    let bridge = FleetBridge::start(env.session(&env.service), env.scheme.clone(), service.clone());
    let handle = bridge.handle();
    tokio::time::timeout(WAIT, handle.wait_ready()).await.unwrap().unwrap();

    // A bundle for C while C is offline.
    handle.push_revocation_bundle(c, b"bundle for c").await.unwrap();

    let mut link = env.link(0);
    connected(&mut link).await;
    let health = LockHealth { lock_time: 5, bolt: "locked".into(), door: "closed".into(), ..LockHealth::default() };
    link.publish(&Uplink::Health(health.clone())).unwrap();
    assert_eq!(recv(&mut seen).await, Seen::Health { lock: a, health });

    let events: Vec<Vec<u8>> = (0..5).map(|_| source.next()).collect();
    for e in &events[..3] {
        link.publish(&Uplink::Event(e.clone())).unwrap();
    }
    for counter in 1..=3 {
        assert_eq!(recv(&mut seen).await, Seen::Event { lock: a, counter });
    }
    wait_ack(&mut link, 3).await;

    // Event 5 without 4: the service asks for a resend after 3.
    link.publish(&Uplink::Event(events[4].clone())).unwrap();
    loop {
        match next_command(&mut link).await {
            Downlink::Resend { after } => {
                assert_eq!(after, 3);
                break;
            }
            Downlink::Ack { counter } => assert_eq!(counter, 3),
            other => panic!("unexpected {other:?}"),
        }
    }
    // Everything unacknowledged again, plus a repeat of an old one.
    for e in [&events[1], &events[3], &events[4]] {
        link.publish(&Uplink::Event(e.clone())).unwrap();
    }
    assert_eq!(recv(&mut seen).await, Seen::Event { lock: a, counter: 4 });
    assert_eq!(recv(&mut seen).await, Seen::Event { lock: a, counter: 5 });
    wait_ack(&mut link, 5).await;
    assert_eq!(service.stored(a), vec![1, 2, 3, 4, 5]);

    // Time.
    link.publish(&Uplink::Request(LockRequest::Time { nonce: Nonce([4; 16]) })).unwrap();
    assert_eq!(recv(&mut seen).await, Seen::Time { lock: a, nonce: Nonce([4; 16]) });
    assert_eq!(next_non_ack(&mut link).await, Downlink::TimeStatement(vec![4; 16]));

    // Remote unlock: request, challenge, presentation.
    handle.request_remote_unlock(a, 9).await.unwrap();
    assert_eq!(next_non_ack(&mut link).await, Downlink::Unlock { request_id: 9 });
    link.publish(&Uplink::Request(LockRequest::Challenge { request_id: 9, challenge: vec![1, 2, 3] })).unwrap();
    assert_eq!(recv(&mut seen).await, Seen::Challenge { lock: a, request_id: 9 });
    assert_eq!(next_non_ack(&mut link).await, Downlink::Present { request_id: 9, presentation: vec![3, 2, 1] });

    // A restarts: the retained acknowledgement tells it what it may drop.
    drop(link);
    let mut link = env.link(0);
    let early = connected(&mut link).await;
    if !early.contains(&Downlink::Ack { counter: 5 }) {
        wait_ack(&mut link, 5).await;
    }

    // C comes online and finds its bundle waiting.
    let mut link_c = env.link(2);
    let early = connected(&mut link_c).await;
    if !early.contains(&Downlink::RevocationBundle(b"bundle for c".to_vec())) {
        assert_eq!(next_command(&mut link_c).await, Downlink::RevocationBundle(b"bundle for c".to_vec()));
    }
    drop(bridge);
}

async fn wait_ack(link: &mut LockLink, counter: u64) {
    loop {
        match next_command(link).await {
            Downlink::Ack { counter: c } if c == counter => return,
            Downlink::Ack { counter: c } => assert!(c < counter),
            other => panic!("unexpected {other:?}"),
        }
    }
}

async fn next_non_ack(link: &mut LockLink) -> Downlink {
    loop {
        match next_command(link).await {
            Downlink::Ack { .. } => {}
            other => return other,
        }
    }
}

/// Empties the retained messages a scenario left on a shared broker.
pub async fn clear_retained(env: &Env) {
    let mut raw = RawClient::connect(env, &env.service, &env.service.username);
    assert!(matches!(raw.next().await, Ok(Packet::ConnAck(_))));
    for (lock, _) in &env.locks {
        let mut topics: Vec<String> = [DownlinkKind::Revocation, DownlinkKind::Keys, DownlinkKind::Ack]
            .iter()
            .map(|k| env.scheme.downlink(*lock, *k))
            .collect();
        topics.push(env.scheme.uplink(*lock, UplinkKind::Health));
        for t in topics {
            raw.client.publish(t, QoS::AtLeastOnce, true, Vec::new()).await.unwrap();
            assert!(matches!(raw.next().await, Ok(Packet::PubAck(_))));
        }
    }
}

/// One session per account: a lock's new connection closes its older one, and
/// connections that vanish right after their CONNECT (a lock losing power while it
/// logs in) leave the broker serving the same account and every other one.
pub async fn session_takeover(env: &Env) {
    let creds = env.locks[0].1.clone();
    let mut first = RawClient::connect(env, &creds, &creds.username);
    assert!(matches!(first.next().await, Ok(Packet::ConnAck(ack)) if ack.code == rumqttc::ConnectReturnCode::Success));
    for _ in 0..20 {
        let mut connect = rumqttc::mqttbytes::v4::Connect::new(creds.username.clone());
        connect.login = Some(rumqttc::mqttbytes::v4::Login::new(creds.username.clone(), creds.password.expose()));
        let mut bytes = bytes::BytesMut::new();
        rumqttc::mqttbytes::v4::Packet::Connect(connect).write(&mut bytes, 1024).unwrap();
        let mut s = tokio::net::TcpStream::connect((env.endpoint.host.as_str(), env.endpoint.port)).await.unwrap();
        tokio::io::AsyncWriteExt::write_all(&mut s, &bytes).await.unwrap();
        drop(s);
    }
    let mut second = RawClient::connect(env, &creds, &creds.username);
    assert!(matches!(second.next().await, Ok(Packet::ConnAck(ack)) if ack.code == rumqttc::ConnectReturnCode::Success));
    // The older connection was closed by the broker.
    assert!(first.next().await.is_err(), "the first connection is still open");
    // The account and another one still log in.
    drop(second);
    let mut third = RawClient::connect(env, &creds, &creds.username);
    assert!(matches!(third.next().await, Ok(Packet::ConnAck(ack)) if ack.code == rumqttc::ConnectReturnCode::Success));
    let other = env.locks[1].1.clone();
    let mut neighbour = RawClient::connect(env, &other, &other.username);
    assert!(
        matches!(neighbour.next().await, Ok(Packet::ConnAck(ack)) if ack.code == rumqttc::ConnectReturnCode::Success)
    );
    // And the surviving session works: it can subscribe to its own topics.
    third.client.subscribe(env.scheme.lock_subscription(env.lock(0)), QoS::AtLeastOnce).await.unwrap();
    match third.next().await {
        Ok(Packet::SubAck(ack)) => assert_ne!(ack.return_codes, vec![SubscribeReasonCode::Failure]),
        other => panic!("expected SUBACK, got {other:?}"),
    }
}
