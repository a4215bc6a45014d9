//! The topic scheme of a lock fleet and the access rules that keep each lock to its own
//! topics.
//!
//! ```text
//! {prefix}/locks/{lock}/events              lock -> service   one signed event per message, verbatim
//! {prefix}/locks/{lock}/health              lock -> service   JSON health, retained
//! {prefix}/locks/{lock}/requests            lock -> service   JSON: time request, remote-unlock challenge
//! {prefix}/locks/{lock}/commands/{kind}     service -> lock   revocation | keys | ack | time | unlock | present | resend
//! ```
//!
//! `{lock}` is the lock's id as a hyphenated lowercase UUID, which is also its MQTT
//! username and client id. A lock may publish only on its own `events`, `health` and
//! `requests` and subscribe only below its own `commands/`; the service may subscribe
//! to every lock's uplink topics and publish on every lock's commands. Everything
//! else is refused. The same rules feed the embedded broker's authorizing layer and
//! the Mosquitto ACL file ([`crate::mosquitto`]), so the two brokers enforce the same
//! thing.

use doorman_protocol::LockId;

use crate::FleetError;

/// The default topic prefix.
pub const DEFAULT_PREFIX: &str = "doorman";

/// What a lock publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UplinkKind {
    /// Signed events.
    Events,
    /// Health reports.
    Health,
    /// Requests to the service.
    Requests,
}

impl UplinkKind {
    /// Every kind.
    pub const ALL: [UplinkKind; 3] = [UplinkKind::Events, UplinkKind::Health, UplinkKind::Requests];

    /// The last topic level.
    pub fn as_str(self) -> &'static str {
        match self {
            UplinkKind::Events => "events",
            UplinkKind::Health => "health",
            UplinkKind::Requests => "requests",
        }
    }
}

/// What the service sends a lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DownlinkKind {
    /// A revocation bundle (retained: the latest one is what matters).
    Revocation,
    /// A key update (retained).
    Keys,
    /// The service stored every event up to a counter (retained).
    Ack,
    /// A signed time statement.
    Time,
    /// A resident asks for a remote unlock: the lock answers with a challenge.
    Unlock,
    /// The presentation answering a remote-unlock challenge.
    Present,
    /// The service saw a gap: send the events after a counter again.
    Resend,
}

impl DownlinkKind {
    /// Every kind.
    pub const ALL: [DownlinkKind; 7] = [
        DownlinkKind::Revocation,
        DownlinkKind::Keys,
        DownlinkKind::Ack,
        DownlinkKind::Time,
        DownlinkKind::Unlock,
        DownlinkKind::Present,
        DownlinkKind::Resend,
    ];

    /// The last topic level.
    pub fn as_str(self) -> &'static str {
        match self {
            DownlinkKind::Revocation => "revocation",
            DownlinkKind::Keys => "keys",
            DownlinkKind::Ack => "ack",
            DownlinkKind::Time => "time",
            DownlinkKind::Unlock => "unlock",
            DownlinkKind::Present => "present",
            DownlinkKind::Resend => "resend",
        }
    }

    /// Retained by the broker, so a lock that connects later still gets the latest.
    pub fn retained(self) -> bool {
        matches!(self, DownlinkKind::Revocation | DownlinkKind::Keys | DownlinkKind::Ack)
    }
}

/// Which way a topic goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// Lock to service.
    Up(UplinkKind),
    /// Service to lock.
    Down(DownlinkKind),
}

/// A lock id as it appears in topics and usernames: the hyphenated lowercase UUID.
pub fn lock_name(id: LockId) -> String {
    uuid::Uuid::from_bytes(id.0).hyphenated().to_string()
}

/// Back from [`lock_name`]; only the canonical form is accepted, so one lock has one name.
pub fn parse_lock_name(name: &str) -> Option<LockId> {
    let id = uuid::Uuid::try_parse(name).ok()?;
    let id = LockId(*id.as_bytes());
    (lock_name(id) == name).then_some(id)
}

/// The topic scheme under one prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicScheme {
    prefix: String,
}

impl Default for TopicScheme {
    fn default() -> Self {
        Self { prefix: DEFAULT_PREFIX.to_owned() }
    }
}

impl TopicScheme {
    /// A scheme under `prefix` (one or more topic levels, no wildcards, not `$`-led).
    pub fn new(prefix: &str) -> Result<Self, FleetError> {
        let ok = !prefix.is_empty()
            && valid_topic(prefix)
            && !prefix.starts_with('$')
            && !prefix.ends_with('/')
            && prefix.split('/').all(|l| !l.is_empty());
        if ok {
            Ok(Self { prefix: prefix.to_owned() })
        } else {
            Err(FleetError::Config(format!("invalid topic prefix {prefix:?}")))
        }
    }

    /// The prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn lock_root(&self, lock: &str) -> String {
        format!("{}/locks/{lock}", self.prefix)
    }

    /// The topic a lock publishes `kind` on.
    pub fn uplink(&self, lock: LockId, kind: UplinkKind) -> String {
        format!("{}/{}", self.lock_root(&lock_name(lock)), kind.as_str())
    }

    /// The topic the service sends `kind` to `lock` on.
    pub fn downlink(&self, lock: LockId, kind: DownlinkKind) -> String {
        format!("{}/commands/{}", self.lock_root(&lock_name(lock)), kind.as_str())
    }

    /// What a lock subscribes to.
    pub fn lock_subscription(&self, lock: LockId) -> String {
        format!("{}/commands/#", self.lock_root(&lock_name(lock)))
    }

    /// What the service subscribes to.
    pub fn service_subscriptions(&self) -> Vec<String> {
        UplinkKind::ALL.iter().map(|k| format!("{}/{}", self.lock_root("+"), k.as_str())).collect()
    }

    /// What each of several service processes subscribes to, as members of
    /// the shared subscription `group` (`$share/{group}/...`, MQTT 5 and
    /// Mosquitto's 3.1.1): the broker hands each message of a lock to one
    /// member only. The broker checks its ACL against the filter after the
    /// group, so the service rules are the same.
    pub fn shared_service_subscriptions(&self, group: &str) -> Vec<String> {
        self.service_subscriptions().into_iter().map(|filter| format!("$share/{group}/{filter}")).collect()
    }

    /// Which lock and which channel a topic is, if it is one of this scheme's.
    pub fn parse(&self, topic: &str) -> Option<(LockId, Channel)> {
        let rest = topic.strip_prefix(self.prefix.as_str())?.strip_prefix("/locks/")?;
        let mut levels = rest.split('/');
        let lock = parse_lock_name(levels.next()?)?;
        let channel = match (levels.next()?, levels.next(), levels.next()) {
            ("commands", Some(kind), None) => Channel::Down(*DownlinkKind::ALL.iter().find(|k| k.as_str() == kind)?),
            (kind, None, None) => Channel::Up(*UplinkKind::ALL.iter().find(|k| k.as_str() == kind)?),
            _ => return None,
        };
        Some((lock, channel))
    }

    /// The rules for the lock `lock`.
    pub fn lock_acl(&self, lock: LockId) -> Acl {
        let root = self.lock_root(&lock_name(lock));
        Acl {
            read: vec![format!("{root}/commands/#")],
            write: UplinkKind::ALL.iter().map(|k| format!("{root}/{}", k.as_str())).collect(),
        }
    }

    /// The rules for a service account.
    pub fn service_acl(&self) -> Acl {
        Acl { read: self.service_subscriptions(), write: vec![format!("{}/commands/#", self.lock_root("+"))] }
    }
}

/// What one account may read (subscribe to) and write (publish on), as topic filters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acl {
    read: Vec<String>,
    write: Vec<String>,
}

impl Acl {
    /// Filters the account may subscribe within.
    pub fn read(&self) -> &[String] {
        &self.read
    }

    /// Filters of the topics the account may publish on.
    pub fn write(&self) -> &[String] {
        &self.write
    }

    /// May publish on `topic` (a topic name, no wildcards).
    pub fn may_publish(&self, topic: &str) -> bool {
        valid_topic(topic) && self.write.iter().any(|f| topic_matches(f, topic))
    }

    /// May subscribe to `filter`: every topic it could match is readable.
    pub fn may_subscribe(&self, filter: &str) -> bool {
        valid_filter(filter) && self.read.iter().any(|allowed| filter_covers(allowed, filter))
    }
}

/// A topic name: not empty, no wildcards, no NUL.
pub fn valid_topic(topic: &str) -> bool {
    !topic.is_empty() && !topic.contains(['+', '#', '\0'])
}

/// A topic filter: `+` only as a whole level, `#` only as the whole last level.
pub fn valid_filter(filter: &str) -> bool {
    if filter.is_empty() || filter.contains('\0') {
        return false;
    }
    let levels: Vec<&str> = filter.split('/').collect();
    let last = levels.len() - 1;
    levels.iter().enumerate().all(|(i, l)| match *l {
        "#" => i == last,
        "+" => true,
        l => !l.contains(['+', '#']),
    })
}

/// Does `filter` match the topic name `topic` (MQTT 3.1.1 §4.7)?
pub fn topic_matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// Does every topic `requested` can match also match `allowed`?
pub fn filter_covers(allowed: &str, requested: &str) -> bool {
    if requested.starts_with('$') && (allowed.starts_with('+') || allowed.starts_with('#')) {
        return false;
    }
    let mut a = allowed.split('/');
    let mut r = requested.split('/');
    loop {
        match (a.next(), r.next()) {
            // Also when `requested` has ended: "a/#" matches "a" itself.
            (Some("#"), _) => return true,
            (_, Some("#")) => return false,
            (Some("+"), Some(_)) => {}
            (Some(x), Some(y)) if x == y => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: LockId = LockId([0xaa; 16]);
    const B: LockId = LockId([0xbb; 16]);

    #[test]
    fn names_and_topics_round_trip() {
        assert_eq!(lock_name(A), "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa");
        assert_eq!(parse_lock_name(&lock_name(A)), Some(A));
        assert_eq!(parse_lock_name("AAAAAAAA-AAAA-AAAA-AAAA-AAAAAAAAAAAA"), None);
        assert_eq!(parse_lock_name("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"), None);
        let s = TopicScheme::default();
        for k in UplinkKind::ALL {
            assert_eq!(s.parse(&s.uplink(A, k)), Some((A, Channel::Up(k))));
        }
        for k in DownlinkKind::ALL {
            assert_eq!(s.parse(&s.downlink(B, k)), Some((B, Channel::Down(k))));
        }
        assert_eq!(s.parse("doorman/locks/x/events"), None);
        assert_eq!(s.parse(&format!("{}/extra", s.uplink(A, UplinkKind::Events))), None);
        assert_eq!(s.parse(&s.uplink(A, UplinkKind::Events).replace("doorman", "other")), None);
        assert!(TopicScheme::new("site-1/doorman").is_ok());
        for bad in ["", "a/+", "a/#", "$SYS", "a/", "a//b"] {
            assert!(TopicScheme::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn matching_follows_mqtt() {
        assert!(topic_matches("a/+/c", "a/b/c"));
        assert!(!topic_matches("a/+/c", "a/b/d"));
        assert!(topic_matches("a/#", "a"));
        assert!(topic_matches("a/#", "a/b/c"));
        assert!(!topic_matches("a/b", "a/b/c"));
        assert!(!topic_matches("#", "$SYS/x"));
        assert!(valid_filter("a/+/#"));
        assert!(!valid_filter("a/#/b"));
        assert!(!valid_filter("a/b+"));
    }

    #[test]
    fn a_lock_reaches_only_its_own_topics() {
        let s = TopicScheme::default();
        let a = s.lock_acl(A);
        for k in UplinkKind::ALL {
            assert!(a.may_publish(&s.uplink(A, k)));
            assert!(!a.may_publish(&s.uplink(B, k)));
        }
        for k in DownlinkKind::ALL {
            assert!(!a.may_publish(&s.downlink(A, k)), "a lock cannot command itself");
        }
        assert!(a.may_subscribe(&s.lock_subscription(A)));
        assert!(a.may_subscribe(&s.downlink(A, DownlinkKind::Ack)));
        for f in [
            s.lock_subscription(B),
            "doorman/locks/+/commands/#".to_owned(),
            "doorman/#".to_owned(),
            "#".to_owned(),
            s.uplink(A, UplinkKind::Events),
            s.uplink(B, UplinkKind::Events),
            "$SYS/#".to_owned(),
        ] {
            assert!(!a.may_subscribe(&f), "{f}");
        }
        let svc = s.service_acl();
        assert!(svc.may_subscribe("doorman/locks/+/events"));
        assert!(svc.may_subscribe(&s.uplink(A, UplinkKind::Health)));
        assert!(!svc.may_subscribe("doorman/locks/+/commands/#"));
        assert!(!svc.may_subscribe("doorman/#"));
        assert!(svc.may_publish(&s.downlink(B, DownlinkKind::Revocation)));
        assert!(!svc.may_publish(&s.uplink(B, UplinkKind::Events)), "the service cannot forge a lock's events");
    }
}
