//! The transparency-log entries a principal may see, each checked with
//! doorman-audit (the verifier `doorman audit verify` uses) before the page
//! calls it verified: the checkpoint must carry the log's signature (its key
//! from the service's key ring) and the entry's bytes must hash, through its
//! inclusion proof, to that checkpoint's root.

use std::collections::BTreeMap;

use doorman_api::{AuditConsistencyQuery, AuditEntriesQuery, LockDeviceKey};
use doorman_audit::{checkpoint_size, open_checkpoint, Bundle, EntryProof, VerifierKey};
use doorman_domain::{serde_b64, Event, LockId, Principal};
use doorman_server::{Service, ServiceError, ServiceResult};

/// At most this many entries are read for one page (newest kept).
const MAX_ENTRIES: usize = 2000;

#[derive(Clone, Debug)]
pub(crate) struct CheckedEntry {
    pub index: u64,
    /// None if the bytes are not an event (shown, never verified).
    pub event: Option<Event>,
    /// The inclusion proof leads to the signed checkpoint.
    pub verified: bool,
}

#[derive(Clone, Debug)]
pub(crate) struct CheckedLog {
    /// The size of the checkpoint the entries were proven against.
    pub size: u64,
    /// The checkpoint carries a valid signature of the log's key.
    pub checkpoint_signed: bool,
    pub entries: Vec<CheckedEntry>,
}

impl CheckedLog {
    /// The index a live stream resumes after: the last one this view covers.
    pub fn last_index(&self) -> Option<u64> {
        self.size.checked_sub(1)
    }
}

/// Every entry after `after` that `p` may see, checked.
pub(crate) async fn checked_entries(service: &Service, p: &Principal, after: Option<u64>) -> ServiceResult<CheckedLog> {
    let mut query = AuditEntriesQuery { after, size: None, limit: None };
    let first = service.audit_entries(p, query.clone()).await?;
    let size = first.size;
    let checkpoint = first.checkpoint.clone();
    let mut raw = first.entries;
    let mut next = first.next_after;
    while let Some(after) = next {
        if raw.len() >= MAX_ENTRIES {
            break;
        }
        query = AuditEntriesQuery { after: Some(after), size: Some(size), limit: None };
        let page = service.audit_entries(p, query.clone()).await?;
        raw.extend(page.entries);
        next = page.next_after;
    }
    let key = service.log_key().ok().and_then(|k| VerifierKey::parse(&k).ok());
    let opened = key.and_then(|key| open_checkpoint(&checkpoint, &[key], &[]).ok());
    let checkpoint_signed = opened.is_some();
    let entries = raw
        .into_iter()
        .map(|entry| {
            let verified = opened.as_ref().is_some_and(|opened| {
                EntryProof::decode(&entry).and_then(|proof| proof.check_inclusion(opened.checkpoint())).is_ok()
            });
            // Shown even when its proof is garbled: the mark says whether to trust it.
            let event = serde_b64::decode(&entry.entry).ok().and_then(|b| Event::from_bytes(&b).ok());
            CheckedEntry { index: entry.index, event, verified }
        })
        .collect();
    Ok(CheckedLog { size, checkpoint_signed, entries })
}

/// What `doorman audit export` writes for `p`: every entry `p` may see with
/// its inclusion proof, the checkpoint they lead to, the lock keys and,
/// given a checkpoint kept from before, the consistency proof from it. The
/// audit page checks it in the browser and offers it for download.
pub(crate) async fn bundle_of(service: &Service, p: &Principal, since: Option<String>) -> ServiceResult<Bundle> {
    let first = service.audit_entries(p, AuditEntriesQuery::default()).await?;
    let size = first.size;
    let mut entries = first.entries;
    let mut locks: BTreeMap<LockId, LockDeviceKey> = first.locks.into_iter().map(|l| (l.lock_id, l)).collect();
    let mut next = first.next_after;
    while let Some(after) = next {
        let page =
            service.audit_entries(p, AuditEntriesQuery { after: Some(after), size: Some(size), limit: None }).await?;
        entries.extend(page.entries);
        locks.extend(page.locks.into_iter().map(|l| (l.lock_id, l)));
        next = page.next_after;
    }
    let consistency = match &since {
        Some(old) => {
            let old = checkpoint_size(old).map_err(|e| ServiceError::Invalid(format!("since: {e}")))?;
            if old > size {
                // The browser reports the rollback itself; no proof can exist.
                None
            } else {
                Some(service.audit_consistency(p, AuditConsistencyQuery { old, size: Some(size) }).await?)
            }
        }
        None => None,
    };
    Ok(Bundle::new(first.checkpoint, entries, locks.into_values().collect(), since, consistency))
}
