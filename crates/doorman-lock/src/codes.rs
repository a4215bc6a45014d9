//! The numbers a lock writes into its signed events beyond those the protocol defines.
//!
//! The protocol's [`EventKind`] has a kind for every trust decision; what only the lock
//! knows (relocking, a door left ajar, a camera gone quiet, refusals by lock policy)
//! travels as [`EventKind::Other`] with a code from `0x0100` up, and as values from
//! `0x0100` up in `AccessRefused` / `DoorCodeRefused` events, so the protocol's own
//! codes (1..=19 for refusals) never collide with them. The service maps them back with
//! [`LockEventKind::from_event_kind`] and [`LockRefusal::from_code`].

use doorman_protocol::{DoorCodeRefusal, EventKind, Refusal};

/// Event kinds recorded by the lock itself (carried as [`EventKind::Other`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LockEventKind {
    /// The bolt was thrown again (value: 0 after the door closed, 1 on the timeout
    /// because nobody opened the door).
    Relocked,
    /// The door stayed open longer than allowed (value: seconds open).
    DoorAjar,
    /// A door that raised [`LockEventKind::DoorAjar`] closed.
    DoorAjarCleared,
    /// The camera's heartbeat became stale (value: seconds since the last one, 0 if none
    /// since start).
    CameraStale,
    /// The camera's heartbeat is back.
    CameraRestored,
    /// Low-priority events (refusals) were not recorded one by one because the event
    /// ring was more than half full (value: how many).
    EventsSuppressed,
    /// The lock corrected its clock from a signed time statement without a resync
    /// (value: the statement's time).
    ClockAdjusted,
}

const KINDS: [(LockEventKind, u16); 7] = [
    (LockEventKind::Relocked, 0x0100),
    (LockEventKind::DoorAjar, 0x0101),
    (LockEventKind::DoorAjarCleared, 0x0102),
    (LockEventKind::CameraStale, 0x0103),
    (LockEventKind::CameraRestored, 0x0104),
    (LockEventKind::EventsSuppressed, 0x0105),
    (LockEventKind::ClockAdjusted, 0x0106),
];

impl LockEventKind {
    /// The code carried in [`EventKind::Other`].
    pub fn code(self) -> u16 {
        KINDS.iter().find(|(k, _)| *k == self).map_or(0, |(_, c)| *c)
    }

    /// As the protocol's event kind.
    pub fn event_kind(self) -> EventKind {
        EventKind::Other(self.code())
    }

    /// Back from an event's kind.
    pub fn from_event_kind(kind: EventKind) -> Option<Self> {
        match kind {
            EventKind::Other(code) => KINDS.iter().find(|(_, c)| *c == code).map(|(k, _)| *k),
            _ => None,
        }
    }

    /// Stable machine-readable name.
    pub fn as_str(self) -> &'static str {
        match self {
            LockEventKind::Relocked => "relocked",
            LockEventKind::DoorAjar => "door_ajar",
            LockEventKind::DoorAjarCleared => "door_ajar_cleared",
            LockEventKind::CameraStale => "camera_stale",
            LockEventKind::CameraRestored => "camera_restored",
            LockEventKind::EventsSuppressed => "events_suppressed",
            LockEventKind::ClockAdjusted => "clock_adjusted",
        }
    }
}

/// How an entry was let in; the value of an `Unlocked` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntrySource {
    /// A credential presented by a driver's (or guest's) handheld.
    Handheld,
    /// A one-time door code typed on the keypad.
    Keypad,
    /// A resident's remote unlock, answered by the service over the fleet channel.
    Remote,
    /// The inside release (exit button, resident's own key): not a non-resident entry.
    Inside,
}

impl EntrySource {
    /// The `Unlocked` event value.
    pub fn code(self) -> u64 {
        match self {
            EntrySource::Handheld => 1,
            EntrySource::Keypad => 2,
            EntrySource::Remote => 3,
            EntrySource::Inside => 4,
        }
    }

    /// Back from an `Unlocked` event value.
    pub fn from_code(code: u64) -> Option<Self> {
        match code {
            1 => Some(EntrySource::Handheld),
            2 => Some(EntrySource::Keypad),
            3 => Some(EntrySource::Remote),
            4 => Some(EntrySource::Inside),
            _ => None,
        }
    }

    /// Someone who does not live here comes in: the camera records it.
    pub fn is_non_resident(self) -> bool {
        !matches!(self, EntrySource::Inside)
    }

    /// Stable machine-readable name.
    pub fn as_str(self) -> &'static str {
        match self {
            EntrySource::Handheld => "handheld",
            EntrySource::Keypad => "keypad",
            EntrySource::Remote => "remote",
            EntrySource::Inside => "inside",
        }
    }
}

/// Why the lock stayed shut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockRefusal {
    /// The protocol's verifier refused the presentation.
    Credential(Refusal),
    /// The keypad refused the code.
    DoorCode(DoorCodeRefusal),
    /// The camera's heartbeat is stale and the policy refuses non-resident entries
    /// without a camera (the credential or code was not even looked at).
    CameraStale,
    /// The event ring has no room for the events an entry records; the lock refuses
    /// entries until the service acknowledges what it holds.
    EventLogFull,
    /// A presentation arrived with no challenge outstanding for it.
    NoChallenge,
    /// A door code was typed on a lock provisioned without a door-code secret.
    NoKeypad,
}

const REFUSAL_CAMERA_STALE: u64 = 0x0100;
const REFUSAL_EVENT_LOG_FULL: u64 = 0x0101;
const REFUSAL_NO_CHALLENGE: u64 = 0x0102;
const REFUSAL_NO_KEYPAD: u64 = 0x0103;

/// The value of a `DoorCodeRefused` event for a keypad refusal.
pub fn door_code_refusal_code(r: DoorCodeRefusal) -> u64 {
    match r {
        DoorCodeRefusal::NoTrustedTime => 1,
        DoorCodeRefusal::LockedOut => 2,
        DoorCodeRefusal::Malformed => 3,
        DoorCodeRefusal::WrongCode => 4,
        DoorCodeRefusal::Reused => 5,
    }
}

fn door_code_refusal_from(code: u64) -> Option<DoorCodeRefusal> {
    match code {
        1 => Some(DoorCodeRefusal::NoTrustedTime),
        2 => Some(DoorCodeRefusal::LockedOut),
        3 => Some(DoorCodeRefusal::Malformed),
        4 => Some(DoorCodeRefusal::WrongCode),
        5 => Some(DoorCodeRefusal::Reused),
        _ => None,
    }
}

impl LockRefusal {
    /// The value recorded in the refusal event (`AccessRefused` for presentations,
    /// `DoorCodeRefused` for codes).
    pub fn code(self) -> u64 {
        match self {
            LockRefusal::Credential(r) => u64::from(r.code()),
            LockRefusal::DoorCode(r) => door_code_refusal_code(r),
            LockRefusal::CameraStale => REFUSAL_CAMERA_STALE,
            LockRefusal::EventLogFull => REFUSAL_EVENT_LOG_FULL,
            LockRefusal::NoChallenge => REFUSAL_NO_CHALLENGE,
            LockRefusal::NoKeypad => REFUSAL_NO_KEYPAD,
        }
    }

    /// Back from the value of a refusal event of `kind`.
    pub fn from_code(kind: EventKind, code: u64) -> Option<Self> {
        match code {
            REFUSAL_CAMERA_STALE => return Some(LockRefusal::CameraStale),
            REFUSAL_EVENT_LOG_FULL => return Some(LockRefusal::EventLogFull),
            REFUSAL_NO_CHALLENGE => return Some(LockRefusal::NoChallenge),
            REFUSAL_NO_KEYPAD => return Some(LockRefusal::NoKeypad),
            _ => {}
        }
        match kind {
            EventKind::AccessRefused => Refusal::from_code(u16::try_from(code).ok()?).map(LockRefusal::Credential),
            EventKind::DoorCodeRefused => door_code_refusal_from(code).map(LockRefusal::DoorCode),
            _ => None,
        }
    }

    /// Stable machine-readable name.
    pub fn as_str(self) -> &'static str {
        match self {
            LockRefusal::Credential(r) => r.as_str(),
            LockRefusal::DoorCode(r) => match r {
                DoorCodeRefusal::NoTrustedTime => "no_trusted_time",
                DoorCodeRefusal::LockedOut => "keypad_locked_out",
                DoorCodeRefusal::Malformed => "code_malformed",
                DoorCodeRefusal::WrongCode => "wrong_code",
                DoorCodeRefusal::Reused => "code_reused",
            },
            LockRefusal::CameraStale => "camera_stale",
            LockRefusal::EventLogFull => "event_log_full",
            LockRefusal::NoChallenge => "no_challenge",
            LockRefusal::NoKeypad => "no_keypad",
        }
    }
}

impl core::fmt::Display for LockRefusal {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_never_collide_with_the_protocol() {
        for (kind, code) in KINDS {
            assert!(code >= 0x0100);
            assert_eq!(LockEventKind::from_event_kind(kind.event_kind()), Some(kind));
            assert_eq!(kind.code(), code);
        }
        for r in Refusal::ALL {
            let l = LockRefusal::Credential(r);
            assert!(l.code() < 0x0100);
            assert_eq!(LockRefusal::from_code(EventKind::AccessRefused, l.code()), Some(l));
        }
        for l in [LockRefusal::CameraStale, LockRefusal::EventLogFull, LockRefusal::NoChallenge, LockRefusal::NoKeypad]
        {
            assert_eq!(LockRefusal::from_code(EventKind::AccessRefused, l.code()), Some(l));
            assert_eq!(LockRefusal::from_code(EventKind::DoorCodeRefused, l.code()), Some(l));
        }
        for s in [EntrySource::Handheld, EntrySource::Keypad, EntrySource::Remote, EntrySource::Inside] {
            assert_eq!(EntrySource::from_code(s.code()), Some(s));
        }
    }
}
