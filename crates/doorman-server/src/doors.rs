//! Door events from lock events: what a verified lock event means at the
//! door (door_unlocked, door_opened, door_closed, door_ajar, relocked), and
//! whom it concerns.
//!
//! Attribution: the lock's `access_granted` event carries the credential id
//! (`cti`), which names the grant (its delivery, carrier, driver and unit)
//! or the guest pass (its unit: a guest's entry concerns the host's unit as
//! a delivery's does); a `door_code_accepted` event names its (time slot,
//! index), which the grant's issue time (or the pass's code slot) and the
//! lock's sequence number give back ([`issuing::door_code_slot_index`]).
//! The door events that follow on the
//! same lock belong to that entry until it relocks. The entry is kept in the
//! lock's door row (`DoorStore`), written with the lock event under the chain
//! head's compare-and-set, so it survives a restart and follows the chain
//! exactly, whichever process stores the events. Door events with no known
//! entry (a forced door, an inside release) concern the building, or the
//! unit whose door it is.
//!
//! Ajar: the lock raises its own `door_ajar`; the service also logs one when
//! it learnt of an opening `door_ajar_after_s` ago and has heard no close
//! ([`Service::door_ajar_tick`], run by the same periodic loop as the
//! webhooks). Either logs it once per opening: the door row's `ajar_logged`.

use doorman_domain::{Event, EventKind, Grant, GuestPass, Lock, UnitId, UnixSeconds};
use doorman_lock::{EntrySource, LockEventKind};
use doorman_protocol::{EventKind as LockKind, LockEvent};
use doorman_store::{DoorEntry, DoorWrite, LockDoor, LockEventWrites, NewClip};

use crate::audit::{new_event, Scope};
use crate::guests::door_code_window;
use crate::{issuing, Service, ServiceResult};

/// How far before a lock event's time attribution looks for its grant
/// (credentials live minutes; this covers drift and late uploads).
const GRANT_LOOKBACK_S: i64 = 6 * 3600;
/// And after it (a lock clock running behind).
const GRANT_LOOKAHEAD_S: i64 = 3600;
/// Most doors one ajar tick handles.
const AJAR_BATCH: u32 = 256;

/// What a lock event adds to the log and the store besides itself.
#[derive(Debug, Default)]
pub(crate) struct DoorEffects {
    pub events: Vec<Event>,
    pub writes: LockEventWrites,
}

fn entry_of(grant: &Grant) -> DoorEntry {
    DoorEntry {
        grant_id: Some(grant.id),
        delivery_id: Some(grant.delivery_id),
        carrier_id: Some(grant.carrier_id),
        driver_id: Some(grant.driver_id),
        unit_id: Some(grant.unit_id),
    }
}

/// A guest's entry: the pass's unit (the host's), no delivery.
fn guest_entry(pass: &GuestPass) -> DoorEntry {
    DoorEntry { unit_id: Some(pass.unit_id), ..DoorEntry::default() }
}

/// Whom an event of this entry at this door concerns.
pub(crate) fn door_scope(lock: &Lock, door_unit: Option<UnitId>, entry: &DoorEntry) -> Scope {
    Scope {
        property: Some(lock.property_id),
        unit: entry.unit_id.or(door_unit),
        carrier: entry.carrier_id,
        driver: entry.driver_id,
        delivery: entry.delivery_id,
    }
}

impl Service {
    /// The door events and door/clip rows that the verified lock event `e`
    /// of `lock` makes, given the lock's door row as stored now.
    pub(crate) async fn door_effects(
        &self,
        lock: &Lock,
        e: &LockEvent,
        now: UnixSeconds,
    ) -> ServiceResult<DoorEffects> {
        let kind = e.record.kind;
        let door_related = matches!(
            kind,
            LockKind::AccessGranted
                | LockKind::DoorCodeAccepted
                | LockKind::Unlocked
                | LockKind::DoorOpened
                | LockKind::DoorClosed
                | LockKind::CameraClip
                | LockKind::Other(_)
        );
        let lock_kind = LockEventKind::from_event_kind(kind);
        if !door_related
            || (matches!(kind, LockKind::Other(_))
                && !matches!(lock_kind, Some(LockEventKind::DoorAjar | LockEventKind::Relocked)))
        {
            return Ok(DoorEffects::default());
        }
        let door_unit = self.store.get_access_point(lock.access_point_id).await?.and_then(|ap| ap.unit_id);
        let stored = self.store.lock_door(lock.id).await?;
        let read = stored.map(|d| d.version);
        let mut door = stored.unwrap_or_else(|| LockDoor::new(lock.id));
        // The lock's time, unless it lost its clock.
        let at = if e.clock_lost { now } else { i64::try_from(e.time).unwrap_or(now) };
        let cti = e.record.credential_id.map(|c| c.0);
        let mut emitted: Vec<EventKind> = Vec::new();
        let mut clip = None;
        let (lock_id, access_point_id) = (lock.id, lock.access_point_id);
        match kind {
            LockKind::AccessGranted => {
                door.entry = self.entry_for_credential(lock, cti, at).await?;
            }
            LockKind::DoorCodeAccepted => {
                let index = e.record.data.and_then(|d| d.first().copied()).unwrap_or(0);
                door.entry = self.entry_for_door_code(lock, e.record.value, index).await?;
            }
            LockKind::Unlocked => {
                match EntrySource::from_code(e.record.value) {
                    Some(EntrySource::Handheld) if door.entry == DoorEntry::default() => {
                        door.entry = self.entry_for_credential(lock, cti, at).await?;
                    }
                    Some(EntrySource::Handheld | EntrySource::Keypad) => {}
                    // A resident's remote unlock or the inside release: no
                    // delivery's entry.
                    _ => door.entry = DoorEntry::default(),
                }
                // The service logged a remote unlock when it answered it.
                if EntrySource::from_code(e.record.value) != Some(EntrySource::Remote) {
                    emitted.push(EventKind::DoorUnlocked { lock_id, access_point_id });
                }
            }
            LockKind::DoorOpened => {
                if e.record.value == 1 {
                    // Forced: the bolt was thrown, so no entry.
                    door.entry = DoorEntry::default();
                }
                door.opened_at = Some(now);
                door.ajar_logged = false;
                emitted.push(EventKind::DoorOpened { lock_id, access_point_id });
            }
            LockKind::DoorClosed => {
                door.opened_at = None;
                door.ajar_logged = false;
                emitted.push(EventKind::DoorClosed { lock_id, access_point_id });
            }
            LockKind::CameraClip => {
                if cti.is_some() && door.entry == DoorEntry::default() {
                    door.entry = self.entry_for_credential(lock, cti, at).await?;
                }
                if let Some(sha256) = e.record.data {
                    clip = Some(NewClip {
                        id: doorman_domain::ClipId::random(),
                        lock_id,
                        counter: e.counter,
                        sha256,
                        recorded_at: at,
                        property_id: lock.property_id,
                        access_point_id,
                        entry: DoorEntry { unit_id: door.entry.unit_id.or(door_unit), ..door.entry },
                    });
                }
            }
            _ => match lock_kind {
                Some(LockEventKind::DoorAjar) => {
                    if !door.ajar_logged {
                        emitted.push(EventKind::DoorAjar { lock_id, access_point_id });
                    }
                    door.ajar_logged = true;
                }
                Some(LockEventKind::Relocked) => {
                    emitted.push(EventKind::Relocked { lock_id, access_point_id });
                }
                _ => {}
            },
        }
        let scope = door_scope(lock, door_unit, &door.entry);
        let events = emitted.into_iter().map(|k| new_event(k, at, scope, None)).collect::<ServiceResult<Vec<_>>>()?;
        if matches!(lock_kind, Some(LockEventKind::Relocked)) {
            // The entry ends with the relock.
            door.entry = DoorEntry::default();
        }
        let changed = stored.as_ref() != Some(&door);
        let writes = LockEventWrites { door: changed.then_some(DoorWrite { read, door }), clip };
        Ok(DoorEffects { events, writes })
    }

    /// The entry of the grant, or else of the guest pass, whose credential
    /// for this lock has id `cti`.
    async fn entry_for_credential(
        &self,
        lock: &Lock,
        cti: Option<[u8; 16]>,
        at: UnixSeconds,
    ) -> ServiceResult<DoorEntry> {
        let Some(cti) = cti else { return Ok(DoorEntry::default()) };
        let (from, to) = (at - GRANT_LOOKBACK_S, at + GRANT_LOOKAHEAD_S);
        let grants = self.store.grants_issued_between(lock.property_id, from, to).await?;
        let found = grants
            .iter()
            .rev()
            .find(|g| g.doors.iter().any(|d| d.lock_id == lock.id && d.credential_id.as_deref() == Some(&cti[..])));
        if let Some(grant) = found {
            return Ok(entry_of(grant));
        }
        let passes = self.store.guest_passes_valid_between(lock.property_id, from, to).await?;
        let found = passes
            .iter()
            .rev()
            .find(|p| p.doors.iter().any(|d| d.lock_id == lock.id && d.credential_id.as_deref() == Some(&cti[..])));
        Ok(found.map(guest_entry).unwrap_or_default())
    }

    /// The entry of the grant, or else of the guest pass, whose door code
    /// for this lock is (slot, index).
    async fn entry_for_door_code(&self, lock: &Lock, slot: u64, index: u8) -> ServiceResult<DoorEntry> {
        let (from, to) = issuing::door_code_slot_times(slot);
        let grants = self.store.grants_issued_between(lock.property_id, from, to).await?;
        let found = grants.iter().rev().find(|g| {
            g.doors.iter().any(|d| {
                d.lock_id == lock.id
                    && d.door_code
                    && d.sequence.map(|s| issuing::door_code_slot_index(g.issued_at, s)) == Some((slot, index))
            })
        });
        if let Some(grant) = found {
            return Ok(entry_of(grant));
        }
        // A pass's code belongs to the slot starting inside its window.
        let passes = self.store.guest_passes_valid_between(lock.property_id, from, to).await?;
        let found = passes.iter().rev().find(|p| {
            let Some((slot_start, _, _)) = door_code_window(p.valid_from, p.valid_until) else { return false };
            p.doors.iter().any(|d| {
                d.lock_id == lock.id
                    && d.door_code
                    && issuing::door_code_slot_index(slot_start, d.sequence) == (slot, index)
            })
        });
        Ok(found.map(guest_entry).unwrap_or_default())
    }

    /// Logs `door_ajar` for every door the service learnt opened at least
    /// `door_ajar_after_s` ago with no close since and no door_ajar yet for
    /// that opening. Returns how many it logged.
    pub async fn door_ajar_tick(&self) -> ServiceResult<usize> {
        let now = self.now();
        let due = self.store.doors_open_since(now - self.config.door_ajar_after_s, AJAR_BATCH).await?;
        let mut logged = 0;
        for door in due {
            let Some(lock) = self.store.get_lock(door.lock_id).await? else { continue };
            let door_unit = self.store.get_access_point(lock.access_point_id).await?.and_then(|ap| ap.unit_id);
            let event = new_event(
                EventKind::DoorAjar { lock_id: lock.id, access_point_id: lock.access_point_id },
                now,
                door_scope(&lock, door_unit, &door.entry),
                None,
            )?;
            if self.store.mark_door_ajar(lock.id, door.version, &[event]).await? {
                logged += 1;
            }
        }
        if logged > 0 {
            self.events_appended();
        }
        Ok(logged)
    }
}
