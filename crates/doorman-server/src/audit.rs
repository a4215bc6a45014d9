//! The transparency log, service side: the events the service appends, the
//! sequencer that integrates them into the Merkle tree and signs
//! checkpoints, the proofs and tiles it serves, and the witnesses it asks to
//! cosign.
//!
//! - **Events**: every state change the service makes is written with its
//!   [`Event`] in one transaction (the store's write methods take the
//!   events), so no grant exists without its entry. [`new_event`] gives each
//!   one 16 fresh random bytes of salt, so that the public leaf hash of a
//!   low-entropy event cannot be confirmed by guessing.
//! - **Sequencer** ([`AuditLog::sequence_now`]): in one store transaction,
//!   reads the committed entries after the tree, appends them to the tree's
//!   right edge ([`Frontier`]), stores the new complete-subtree hashes and a
//!   C2SP checkpoint signed with the log's Ed25519 key (a signed note whose
//!   key name is the log's origin). Time comes from the caller. A restart
//!   resumes from the stored tree size. Of several processes on one
//!   PostgreSQL, the one holding the sequencer seat
//!   ([`Service::sequencer_seat`](crate::Service::sequencer_seat)) runs it;
//!   should two ever run at once they take turns (the store locks the tree's
//!   row), so the tree never forks.
//! - **Reading**: the latest checkpoint with its cosignatures, C2SP
//!   tlog-tiles hash tiles (public: hashes only), and inclusion and
//!   consistency proofs assembled from stored hashes (one query per page of
//!   proofs).
//! - **Witnesses** ([`AuditLog::publish`]): each new checkpoint is sent to
//!   the configured witnesses (`POST /add-checkpoint` with a consistency
//!   proof from the size the witness last cosigned); a cosignature is
//!   checked against the witness's key before it is stored. The HTTP itself
//!   is the caller's ([`WitnessTransport`]).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use doorman_api::{
    AuditConsistency, AuditConsistencyQuery, AuditEntries, AuditEntriesQuery, AuditEntry, LockDeviceKey,
};
use doorman_domain::{
    serde_b64, Actor, CarrierId, DeliveryId, DriverId, Event, EventKind, Principal, PropertyId, UnitId, Viewer,
    EVENT_FORMAT_VERSION,
};
use doorman_protocol::PublicKey;
use doorman_store::{AuditStore, EntryFilter, Integration, Integrator, StoredCheckpoint, StoredEntry};
use doorman_tlog::{
    consistency_plan, encode_tile, frontier_nodes, inclusion_plan, parse_tile_path, AddCheckpointRequest, Checkpoint,
    Frontier, Hash, KeyKind, Note, NoteSignature, ProofPlan, TilePath, VerifierKey,
};

use crate::keys::Signer;
use crate::{auth, ServiceError, ServiceResult};

/// The log's origin unless configured: the first line of its checkpoints
/// and the name of its key.
pub const DEFAULT_LOG_ORIGIN: &str = "doorman.example/log";
/// Most entries one sequencing transaction integrates.
pub const SEQUENCE_BATCH: u32 = 4096;
/// Most batches one [`AuditLog::sequence_now`] runs before it returns.
pub(crate) const MAX_BATCHES_PER_RUN: usize = 256;
/// Most entries one page of `GET /v1/audit/entries` holds.
pub const MAX_ENTRIES_PAGE: u32 = 1000;

/// The kinds of the door events a resident sees at their building's shared
/// doors (those of [`EventKind::is_door_event`]).
pub const DOOR_EVENT_KINDS: [&str; 6] =
    ["door_unlocked", "door_opened", "door_closed", "door_ajar", "relocked", "lock_event"];
/// What the operator sees.
pub const OPERATOR_EVENT_KINDS: [&str; 2] = ["configuration_changed", "key_rotated"];

/// Whom an event concerns (its scope fields).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Scope {
    pub property: Option<PropertyId>,
    pub unit: Option<UnitId>,
    pub carrier: Option<CarrierId>,
    pub driver: Option<DriverId>,
    pub delivery: Option<DeliveryId>,
}

/// A new event at `at`, with fresh random salt.
/// The log entries of a grant revoked at `at` by `actor` (a block, a
/// cancelled delivery, a carrier dropped): one `GrantRevoked`, scoped to
/// the grant's property, unit, carrier, driver and delivery. The store calls
/// it for each grant it revokes, inside the revoking transaction.
pub(crate) fn grant_revocation(
    at: i64,
    actor: Principal,
) -> impl Fn(&doorman_domain::Grant) -> Result<Vec<Event>, String> + Send + Sync {
    move |grant| {
        let scope = Scope {
            property: Some(grant.property_id),
            unit: Some(grant.unit_id),
            carrier: Some(grant.carrier_id),
            driver: Some(grant.driver_id),
            delivery: Some(grant.delivery_id),
        };
        new_event(EventKind::GrantRevoked { grant_id: grant.id }, at, scope, Some(actor))
            .map(|e| vec![e])
            .map_err(|e| e.to_string())
    }
}

/// A new event. Its actor is written as [`Actor::for_readers`] says: by
/// role alone if the event is in a carrier's or a driver's scope, so that
/// no channel (feed, stream, webhooks, audit entries: all the same bytes)
/// gives them a resident's or a manager's id.
pub fn new_event(kind: EventKind, at: i64, scope: Scope, actor: Option<Principal>) -> ServiceResult<Event> {
    let carrier_or_driver_reads = scope.carrier.is_some() || scope.driver.is_some();
    let actor = actor.map(|who| Actor::for_readers(who, carrier_or_driver_reads));
    Ok(Event {
        v: EVENT_FORMAT_VERSION,
        at,
        kind,
        property_id: scope.property,
        unit_id: scope.unit,
        carrier_id: scope.carrier,
        driver_id: scope.driver,
        delivery_id: scope.delivery,
        actor,
        salt: serde_b64::encode(&auth::random_bytes::<16>()?),
    })
}

/// The entries a viewer may see, as a store filter on the scope columns.
/// [`Viewer::may_see`] stays the rule: callers check each decoded event.
pub fn entry_filter(viewer: &Viewer) -> EntryFilter {
    match viewer.principal {
        Principal::Resident { unit_id, .. } => EntryFilter {
            unit: Some(unit_id),
            shared: viewer.resident_property.map(|p| (p, DOOR_EVENT_KINDS.to_vec())),
            ..Default::default()
        },
        Principal::Manager { .. } => {
            EntryFilter { properties: viewer.managed_properties.clone(), ..Default::default() }
        }
        Principal::Carrier { carrier_id } => EntryFilter { carrier: Some(carrier_id), ..Default::default() },
        Principal::Driver { driver_id, carrier_id } => {
            EntryFilter { driver: Some((carrier_id, driver_id)), ..Default::default() }
        }
        Principal::Operator => EntryFilter { kinds: OPERATOR_EVENT_KINDS.to_vec(), ..Default::default() },
    }
}

/// A witness the log asks to cosign its checkpoints.
#[derive(Clone, Debug)]
pub struct WitnessConfig {
    /// Where its `add-checkpoint` lives: `<url>/add-checkpoint`.
    pub url: String,
    /// Its cosignature verifier key (type 0x04).
    pub key: VerifierKey,
}

/// A witness's HTTP answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WitnessReply {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: String,
}

/// Sends add-checkpoint requests (HTTP lives outside this crate).
#[async_trait]
pub trait WitnessTransport: Send + Sync {
    /// POSTs `body` to `<url>/add-checkpoint`.
    async fn add_checkpoint(&self, url: &str, body: Vec<u8>) -> Result<WitnessReply, String>;
}

/// The log's signing key under its origin: whatever [`Signer`] holds it
/// (the key file's, or an HSM's), and the verifier key it answers to.
pub struct LogSigner {
    origin: String,
    signer: Result<(std::sync::Arc<dyn Signer>, VerifierKey), String>,
}

impl std::fmt::Debug for LogSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogSigner").field("origin", &self.origin).finish_non_exhaustive()
    }
}

impl LogSigner {
    /// The key with this seed, named `origin`. An origin that is not a valid
    /// key name (spaces, `+`) makes every signing fail with that reason.
    pub fn new(origin: &str, seed: [u8; 32]) -> Self {
        Self::with_signer(origin, std::sync::Arc::new(crate::keys::FileSigner::ed25519(&seed)))
    }

    /// The key `signer` holds (Ed25519), named `origin`.
    pub fn with_signer(origin: &str, signer: std::sync::Arc<dyn Signer>) -> Self {
        let verifier = match signer.public_key() {
            PublicKey::Ed25519(public) => {
                VerifierKey::new(origin, KeyKind::Ed25519, public).map_err(|e| format!("log origin {origin:?}: {e}"))
            }
            PublicKey::P256(_) => Err("the log's key must be Ed25519".to_string()),
        };
        Self { origin: origin.to_string(), signer: verifier.map(|v| (signer, v)) }
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    fn signer(&self) -> ServiceResult<&(std::sync::Arc<dyn Signer>, VerifierKey)> {
        self.signer.as_ref().map_err(|e| ServiceError::Internal(e.clone()))
    }

    /// The log's verifier key, as verifiers and witnesses take it.
    pub fn verifier_key(&self) -> ServiceResult<VerifierKey> {
        Ok(self.signer()?.1.clone())
    }
}

/// Signs `checkpoint` as a note by the log's key.
fn sign_checkpoint(
    (signer, verifier): &(std::sync::Arc<dyn Signer>, VerifierKey),
    checkpoint: &Checkpoint,
) -> Result<Note, String> {
    let mut note = checkpoint.to_note();
    let signature = signer.sign(note.text().as_bytes()).map_err(|_| "the log's signer failed".to_string())?;
    note.add_signature(NoteSignature {
        name: verifier.name().to_string(),
        key_id: verifier.key_id(),
        signature: signature.to_vec(),
    })
    .map_err(|e| e.to_string())?;
    Ok(note)
}

/// Grows the tree inside the store's sequencing transaction, only from the
/// tree of the checkpoint it `extends` (size and root; None: the empty
/// tree, nothing signed yet).
struct Sequencer<'a> {
    signer: &'a (std::sync::Arc<dyn Signer>, VerifierKey),
    origin: &'a str,
    now: i64,
    extends: Option<(u64, [u8; 32])>,
    /// Why the stored tree was not the one to extend, if it was not.
    verdict: Mutex<Option<BatchError>>,
}

/// Why a sequencing batch signed nothing.
#[derive(Debug)]
pub(crate) enum BatchError {
    /// The tree grew since the checkpoint to extend was read (another
    /// process sequenced): read it again.
    Moved,
    /// The stored tree is not the signed one: signing would fork the log.
    Refused(String),
    Service(ServiceError),
}

impl Sequencer<'_> {
    fn refuse(&self, verdict: BatchError) -> String {
        let text = match &verdict {
            BatchError::Moved => "the tree moved".to_string(),
            BatchError::Refused(why) => why.clone(),
            BatchError::Service(e) => e.to_string(),
        };
        *self.verdict.lock().unwrap_or_else(PoisonError::into_inner) = Some(verdict);
        text
    }
}

impl Integrator for Sequencer<'_> {
    fn frontier(&self, size: u64) -> Vec<u64> {
        frontier_nodes(size).iter().map(|node| node.stored_index()).collect()
    }

    fn integrate(&self, size: u64, frontier: &[[u8; 32]], entries: &[StoredEntry]) -> Result<Integration, String> {
        let hashes: Vec<Hash> = frontier.iter().map(|h| Hash::from_bytes(*h)).collect();
        let mut tree = Frontier::from_hashes(size, &hashes).map_err(|e| e.to_string())?;
        let (signed, signed_root) = self.extends.unwrap_or((0, doorman_tlog::empty_tree_hash().0));
        if size > signed {
            return Err(self.refuse(BatchError::Moved));
        }
        if size < signed {
            return Err(self.refuse(BatchError::Refused(format!(
                "the stored tree has {size} entries, fewer than the {signed} of the last signed checkpoint: the \
                 log was rolled back, and a new tree would fork from it"
            ))));
        }
        if tree.root().0 != signed_root {
            return Err(self.refuse(BatchError::Refused(format!(
                "the stored tree of size {size} is not the one its signed checkpoint names (another root): its \
                 stored hashes were changed"
            ))));
        }
        let mut written = Vec::with_capacity(entries.len() * 2 + 1);
        for entry in entries {
            let index = tree.append(&entry.bytes, &mut written).map_err(|e| e.to_string())?;
            if index != entry.index {
                return Err(format!("entry {} arrived at position {index}", entry.index));
            }
        }
        let root = tree.root();
        let checkpoint = Checkpoint::new(self.origin, tree.size(), root).map_err(|e| e.to_string())?;
        let note = sign_checkpoint(self.signer, &checkpoint)?;
        Ok(Integration {
            hashes: written.iter().map(|stored| (stored.stored_index(), stored.hash.0)).collect(),
            root: root.0,
            note: note.to_text(),
            signed_at: self.now,
        })
    }
}

/// Per witness URL, the size the log believes it last cosigned (learned
/// from its answers; a witness that knows better says so with a 409).
#[derive(Debug, Default)]
pub struct WitnessProgress(Mutex<HashMap<String, u64>>);

impl WitnessProgress {
    fn get(&self, url: &str) -> u64 {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).get(url).copied().unwrap_or(0)
    }

    fn set(&self, url: &str, size: u64) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).insert(url.to_string(), size);
    }
}

/// The checkpoint as served: the signed note with the witnesses'
/// cosignature lines added.
pub fn checkpoint_text(checkpoint: &StoredCheckpoint) -> String {
    let Ok(mut note) = Note::parse(checkpoint.note.as_bytes()) else { return checkpoint.note.clone() };
    for cosignature in &checkpoint.cosignatures {
        if let Ok(signature) = NoteSignature::parse_line(cosignature.line.trim_end_matches('\n')) {
            let _ = note.add_signature(signature);
        }
    }
    note.to_text()
}

fn internal(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Internal(e.to_string())
}

/// The log over a store, at one moment (`now`).
pub struct AuditLog<'a, S: ?Sized> {
    pub store: &'a S,
    pub signer: &'a LogSigner,
    pub now: i64,
}

impl<S: AuditStore + ?Sized> AuditLog<'_, S> {
    /// Integrates every committed entry (in batches) and signs their
    /// checkpoint; signs the empty tree's on a fresh log. Returns the latest
    /// checkpoint.
    /// Only extends the newest stored checkpoint, which must be signed by
    /// the log (see [`AuditLog::sequence_guarded`], with nothing remembered
    /// before this call).
    pub async fn sequence_now(&self) -> ServiceResult<Option<StoredCheckpoint>> {
        self.sequence_guarded(&crate::log_guard::LogGuard::in_memory()).await
    }

    /// One sequencing batch extending the checkpoint of `extends`.
    pub(crate) async fn sequence_batch(
        &self,
        extends: Option<(u64, [u8; 32])>,
    ) -> Result<Option<doorman_store::Sequenced>, BatchError> {
        let signer = self.signer.signer().map_err(BatchError::Service)?;
        let sequencer =
            Sequencer { signer, origin: self.signer.origin(), now: self.now, extends, verdict: Mutex::new(None) };
        match self.store.sequence(SEQUENCE_BATCH, &sequencer).await {
            Ok(done) => Ok(done),
            Err(e) => match sequencer.verdict.into_inner().unwrap_or_else(PoisonError::into_inner) {
                Some(verdict) => Err(verdict),
                None => Err(BatchError::Service(e.into())),
            },
        }
    }

    /// The checkpoint of `size`, or the latest (signing the first one if
    /// there is none yet).
    pub async fn checkpoint(&self, size: Option<u64>) -> ServiceResult<StoredCheckpoint> {
        let found = match size {
            Some(size) => self.store.checkpoint(size).await?,
            None => match self.store.latest_checkpoint().await? {
                Some(latest) => Some(latest),
                None => self.sequence_now().await?,
            },
        };
        found.ok_or(ServiceError::NotFound("checkpoint"))
    }

    /// A C2SP tlog-tiles hash tile, by its path (`tile/<L>/<N>[.p/<W>]`),
    /// from the tree of the latest checkpoint. Entry bundles are not served
    /// here: entries are readable only by those entitled.
    pub async fn tile(&self, path: &str) -> ServiceResult<Vec<u8>> {
        let tile = match parse_tile_path(path) {
            Ok(TilePath::Hashes(tile)) => tile,
            Ok(TilePath::Entries(_)) | Err(_) => return Err(ServiceError::NotFound("tile")),
        };
        let size = self.checkpoint(None).await?.size;
        if !tile.is_within(size) {
            return Err(ServiceError::NotFound("tile"));
        }
        let keys: Vec<u64> = tile.nodes().map(|node| node.stored_index()).collect();
        let hashes = self.read_keys(&keys).await?;
        Ok(encode_tile(&hashes))
    }

    async fn read_keys(&self, keys: &[u64]) -> ServiceResult<Vec<Hash>> {
        match self.store.log_hashes(keys).await {
            Ok(hashes) => Ok(hashes.into_iter().map(Hash::from_bytes).collect()),
            Err(doorman_store::StoreError::NotFound) => {
                Err(ServiceError::Internal("the stored tree is missing a hash".into()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Reads the hashes of several proof plans in one query and assembles
    /// each.
    async fn assemble(&self, plans: &[ProofPlan]) -> ServiceResult<Vec<Vec<Hash>>> {
        let keys: Vec<u64> = plans.iter().flat_map(|p| p.nodes().iter().map(|node| node.stored_index())).collect();
        let hashes = self.read_keys(&keys).await?;
        let mut rest = hashes.as_slice();
        let mut proofs = Vec::with_capacity(plans.len());
        for plan in plans {
            let (mine, tail) =
                rest.split_at_checked(plan.nodes().len()).ok_or_else(|| internal("short read of stored hashes"))?;
            rest = tail;
            proofs.push(plan.assemble(mine).map_err(internal)?);
        }
        Ok(proofs)
    }

    /// The inclusion proofs of `indexes` in the tree of `size` entries.
    pub async fn inclusion_proofs(&self, indexes: &[u64], size: u64) -> ServiceResult<Vec<Vec<Hash>>> {
        let plans = indexes
            .iter()
            .map(|index| inclusion_plan(*index, size))
            .collect::<Result<Vec<_>, _>>()
            .map_err(internal)?;
        self.assemble(&plans).await
    }

    /// The consistency proof from the tree of `old` entries to that of
    /// `size` entries.
    pub async fn consistency_proof(&self, old: u64, size: u64) -> ServiceResult<Vec<Hash>> {
        if old > size {
            return Err(ServiceError::invalid(format!("old size {old} is larger than the checkpoint's {size}")));
        }
        let plan = consistency_plan(old, size).map_err(|e| ServiceError::invalid(e.to_string()))?;
        Ok(self.assemble(std::slice::from_ref(&plan)).await?.into_iter().next().unwrap_or_default())
    }

    /// Asks each witness that has not cosigned the latest checkpoint to do
    /// so, and stores the cosignatures that verify. Returns, per witness
    /// URL, whether it cosigned now (false: it already had) or why not.
    pub async fn publish(
        &self,
        witnesses: &[WitnessConfig],
        progress: &WitnessProgress,
        transport: &dyn WitnessTransport,
    ) -> ServiceResult<Vec<(String, Result<bool, String>)>> {
        let Some(latest) = self.store.latest_checkpoint().await? else { return Ok(Vec::new()) };
        let mut outcomes = Vec::with_capacity(witnesses.len());
        for witness in witnesses {
            let outcome = self.ask(witness, &latest, progress, transport).await;
            if let Err(why) = &outcome {
                tracing::warn!(witness = %witness.url, size = latest.size, %why, "no cosignature");
            }
            outcomes.push((witness.url.clone(), outcome));
        }
        Ok(outcomes)
    }

    async fn ask(
        &self,
        witness: &WitnessConfig,
        checkpoint: &StoredCheckpoint,
        progress: &WitnessProgress,
        transport: &dyn WitnessTransport,
    ) -> Result<bool, String> {
        if checkpoint.cosignatures.iter().any(|c| c.witness == witness.key.name()) {
            return Ok(false);
        }
        // A witness that knows a newer size than ours says so (409); try
        // again from there, a few times at most.
        for _ in 0..3 {
            let old = progress.get(&witness.url);
            if old > checkpoint.size {
                return Err(format!("the witness cosigned size {old}, beyond the log's {}", checkpoint.size));
            }
            let proof = self.consistency_proof(old, checkpoint.size).await.map_err(|e| e.to_string())?;
            let request =
                AddCheckpointRequest { old_size: old, proof, checkpoint: checkpoint.note.clone().into_bytes() };
            let reply = transport.add_checkpoint(&witness.url, request.to_bytes()).await?;
            match reply.status {
                200 => {
                    let line = verified_cosignature(witness, checkpoint, &reply.body)?;
                    self.store
                        .add_cosignature(checkpoint.size, witness.key.name(), &line, self.now)
                        .await
                        .map_err(|e| e.to_string())?;
                    progress.set(&witness.url, checkpoint.size);
                    return Ok(true);
                }
                409 if reply.content_type.as_deref().is_some_and(|t| t.starts_with("text/x.tlog.size")) => {
                    let size = reply.body.trim().parse::<u64>().map_err(|_| "the witness sent a bad size")?;
                    progress.set(&witness.url, size);
                }
                status => return Err(format!("the witness answered {status}: {}", reply.body.trim())),
            }
        }
        Err("the witness keeps naming another size".into())
    }
}

/// The service's side of the log: the store's log behind the service's key
/// and clock, and what each principal may read of it.
impl crate::Service {
    fn audit_log(&self) -> AuditLog<'_, dyn doorman_store::Store> {
        AuditLog { store: self.store.as_ref(), signer: &self.log_signer, now: self.now() }
    }

    /// An event caused by `actor` now.
    pub(crate) fn event(&self, kind: EventKind, scope: Scope, actor: &Principal) -> ServiceResult<Event> {
        new_event(kind, self.now(), scope, Some(*actor))
    }

    /// A configuration change `actor` made at `property`, in words.
    pub(crate) fn configuration_event(
        &self,
        actor: &Principal,
        property: PropertyId,
        what: String,
    ) -> ServiceResult<Event> {
        let scope = Scope { property: Some(property), ..Scope::default() };
        self.event(EventKind::ConfigurationChanged { what }, scope, actor)
    }

    /// This process's seat in the choice of the one log sequencer among the
    /// processes on this database (`doorman_store::cluster`); the session
    /// that holds it is named `doorman sequencer pid <process id>`.
    pub fn sequencer_seat(&self) -> doorman_store::SequencerSeat {
        self.store.sequencer_seat(&format!("doorman sequencer pid {}", std::process::id()))
    }

    /// A configuration change at `property` that `carrier` reads too (how
    /// it is let in): its actor is written by role alone, as every event in
    /// a carrier's scope ([`new_event`]).
    pub(crate) fn carrier_configuration_event(
        &self,
        actor: &Principal,
        property: PropertyId,
        carrier: CarrierId,
        what: String,
    ) -> ServiceResult<Event> {
        let scope = Scope { property: Some(property), carrier: Some(carrier), ..Scope::default() };
        self.event(EventKind::ConfigurationChanged { what }, scope, actor)
    }

    /// Integrates the committed entries and signs their checkpoint, now (the
    /// background sequencer calls this on a short period, in the process
    /// that holds the [`Service::sequencer_seat`]). Returns the latest
    /// checkpoint.
    pub async fn sequence_now(&self) -> ServiceResult<Option<StoredCheckpoint>> {
        let latest = self.audit_log().sequence_guarded(&self.log_guard).await?;
        // New entries, maybe from another process: wake the feed's waiters.
        if let Some(size) = latest.as_ref().map(|c| c.size) {
            if self.sequenced.swap(size, std::sync::atomic::Ordering::Relaxed) != size {
                self.events_appended();
            }
        }
        Ok(latest)
    }

    /// Keeps the last signed checkpoint in `file` too (`doorman serve`: in
    /// its data folder), and reads the one it holds: the sequencer then
    /// refuses a tree that does not extend it, across restarts.
    pub fn attach_log_memory(&self, file: std::path::PathBuf) -> ServiceResult<()> {
        self.log_guard.attach_file(file).map_err(ServiceError::Internal)
    }

    /// Why the log is halted (the sequencer refuses to sign), if it is.
    pub fn log_halted(&self) -> Option<String> {
        self.log_guard.halted()
    }

    /// The full integrity check of the stored log, against the checkpoint
    /// this service remembers; a problem halts the log.
    pub async fn check_log(&self) -> Result<crate::log_guard::IntegritySummary, crate::log_guard::CheckFailure> {
        let remembered = self.log_guard.last();
        let outcome = self.audit_log().check_integrity(remembered.as_ref()).await;
        if let Err(crate::log_guard::CheckFailure::Problem(problem)) = &outcome {
            self.log_guard.halt(&problem.message);
        }
        outcome
    }

    /// Asks the configured witnesses to cosign the latest checkpoint.
    pub async fn publish_checkpoint(
        &self,
        transport: &dyn WitnessTransport,
    ) -> ServiceResult<Vec<(String, Result<bool, String>)>> {
        if self.config.witnesses.is_empty() {
            return Ok(Vec::new());
        }
        self.audit_log().publish(&self.config.witnesses, &self.witness_progress, transport).await
    }

    /// `GET /log/checkpoint`: the latest checkpoint with its cosignatures.
    pub async fn log_checkpoint(&self) -> ServiceResult<String> {
        Ok(checkpoint_text(&self.audit_log().checkpoint(None).await?))
    }

    /// `GET /log/tile/...`: a hash tile of the latest checkpoint's tree.
    pub async fn log_tile(&self, path: &str) -> ServiceResult<Vec<u8>> {
        self.audit_log().tile(path).await
    }

    /// What `p` may see of the log, with the facts the principal alone does
    /// not carry (a manager's properties, a resident's building).
    pub async fn viewer(&self, p: &Principal) -> ServiceResult<Viewer> {
        let since = self.history_since(p).await?;
        let mut viewer = Viewer { principal: *p, managed_properties: Vec::new(), resident_property: None, since };
        match p {
            Principal::Manager { manager_id } => {
                viewer.managed_properties =
                    self.store.list_properties(*manager_id).await?.into_iter().map(|prop| prop.id).collect();
            }
            Principal::Resident { unit_id, .. } => {
                viewer.resident_property = self.store.get_unit(*unit_id).await?.map(|unit| unit.property_id);
            }
            _ => {}
        }
        Ok(viewer)
    }

    /// `GET /v1/audit/entries`: the entries `p` may see, each with its
    /// inclusion proof against one checkpoint (the latest, or the one of
    /// `query.size` when paging).
    pub async fn audit_entries(&self, p: &Principal, query: AuditEntriesQuery) -> ServiceResult<AuditEntries> {
        let viewer = self.viewer(p).await?;
        let log = self.audit_log();
        let checkpoint = log.checkpoint(query.size).await?;
        let limit = query.limit.unwrap_or(MAX_ENTRIES_PAGE).clamp(1, MAX_ENTRIES_PAGE);
        let start = query.after.map_or(0, |after| after.saturating_add(1));
        let rows = self.store.log_entries(&entry_filter(&viewer), start..checkpoint.size, limit).await?;
        let next_after = if rows.len() == limit as usize { rows.last().map(|row| row.index) } else { None };
        let mut visible = Vec::with_capacity(rows.len());
        let mut locks = std::collections::BTreeSet::new();
        for row in rows {
            match Event::from_bytes(&row.bytes) {
                Ok(event) if viewer.may_see(&event) => {
                    if let EventKind::LockEvent { lock_id, .. } = event.kind {
                        locks.insert(lock_id);
                    }
                    visible.push(row);
                }
                Ok(_) => {}
                // Its scope columns say it is the viewer's, but it does not
                // decode: show it, so that the viewer's verifier can say so.
                Err(_) => visible.push(row),
            }
        }
        let indexes: Vec<u64> = visible.iter().map(|row| row.index).collect();
        let proofs = log.inclusion_proofs(&indexes, checkpoint.size).await?;
        let entries = visible
            .into_iter()
            .zip(proofs)
            .map(|(row, proof)| AuditEntry {
                index: row.index,
                entry: serde_b64::encode(&row.bytes),
                inclusion: proof.iter().map(|h| serde_b64::encode(h.as_bytes())).collect(),
            })
            .collect();
        let mut lock_keys = Vec::with_capacity(locks.len());
        for lock_id in locks {
            if let Some(lock) = self.store.get_lock(lock_id).await? {
                lock_keys
                    .push(LockDeviceKey { lock_id, device_public_key: serde_b64::encode(&lock.device_public_key) });
            }
        }
        Ok(AuditEntries {
            checkpoint: checkpoint_text(&checkpoint),
            size: checkpoint.size,
            entries,
            locks: lock_keys,
            next_after,
        })
    }

    /// `GET /v1/audit/consistency`: the proof that the checkpoint of
    /// `query.size` (default: the latest) extends the tree of `query.old`
    /// entries. Any signed-in principal may ask: proofs are hashes only.
    pub async fn audit_consistency(
        &self,
        _p: &Principal,
        query: AuditConsistencyQuery,
    ) -> ServiceResult<AuditConsistency> {
        let log = self.audit_log();
        let checkpoint = log.checkpoint(query.size).await?;
        let proof = log.consistency_proof(query.old, checkpoint.size).await?;
        Ok(AuditConsistency {
            old_size: query.old,
            new_size: checkpoint.size,
            checkpoint: checkpoint_text(&checkpoint),
            proof: proof.iter().map(|h| serde_b64::encode(h.as_bytes())).collect(),
        })
    }

    /// The inclusion proof of entry `index` in the tree of `size` entries.
    pub async fn inclusion_proof(&self, index: u64, size: u64) -> ServiceResult<Vec<Hash>> {
        Ok(self.audit_log().inclusion_proofs(&[index], size).await?.into_iter().next().unwrap_or_default())
    }

    /// The transparency log's verifier key, as a vkey string
    /// (`origin+id+key`): what verifiers and witnesses are configured with.
    pub fn log_key(&self) -> ServiceResult<String> {
        Ok(self.log_signer.verifier_key()?.to_vkey())
    }

    /// The transparency log's origin.
    pub fn log_origin(&self) -> &str {
        self.log_signer.origin()
    }

    /// What the witnesses last cosigned, as far as this process knows.
    pub fn witness_progress(&self) -> &WitnessProgress {
        &self.witness_progress
    }
}

/// Rotates the issuer key in the key file at `path` (the new key signs from
/// the service's next start; the old one stays published until retired) and
/// logs the rotation (`KeyRotated`, by the operator). The key file is saved
/// first: a rotation that is logged has happened. Returns the new key id
/// and the log index of its entry.
pub async fn rotate_issuer_key(
    store: &dyn doorman_store::Store,
    path: &std::path::Path,
    now: i64,
) -> ServiceResult<(String, u64)> {
    let mut file = crate::KeyFile::load_or_create(path, now)?;
    let kid = file.rotate(now)?;
    file.save(path)?;
    let event =
        new_event(EventKind::KeyRotated { kid: kid.clone() }, now, Scope::default(), Some(Principal::Operator))?;
    let index = store.append_events(&[event]).await.map_err(|e| {
        ServiceError::Internal(format!("key {kid} is the active key now, but its rotation could not be logged: {e}"))
    })?;
    Ok((kid, index.first().copied().unwrap_or_default()))
}

/// The line of `body` that is the witness's valid cosignature of
/// `checkpoint`.
fn verified_cosignature(witness: &WitnessConfig, checkpoint: &StoredCheckpoint, body: &str) -> Result<String, String> {
    for line in body.lines() {
        let Ok(signature) = NoteSignature::parse_line(line) else { continue };
        if !witness.key.matches(&signature) {
            continue;
        }
        let mut note = Note::parse(checkpoint.note.as_bytes()).map_err(|e| e.to_string())?;
        note.add_signature(signature.clone()).map_err(|e| e.to_string())?;
        if note.verify(std::slice::from_ref(&witness.key)).is_ok() {
            return Ok(signature.to_line());
        }
    }
    Err("the witness returned no valid cosignature".into())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

    use std::collections::BTreeMap;
    use std::ops::Range;
    use std::sync::Arc;

    use doorman_domain::{AccessPointId, LockId, ManagerId, ManualClock, ResidentId};
    use doorman_store::{LogIndex, LogState, Sequenced, StoreError, StoreResult, StoredCosignature};
    use doorman_tlog::{
        leaf_hash, read_tile, verify_consistency, verify_inclusion, Cosigner, MemoryTree, SignedCheckpoint,
        TileHashReader, TileId,
    };

    use super::*;
    use crate::witness::WitnessHost;

    /// An in-memory AuditStore with the store's semantics, to test the
    /// service side without a database (the store's own suite covers SQL).
    #[derive(Default)]
    struct MemoryLog {
        inner: Mutex<Inner>,
    }

    #[derive(Default)]
    struct Inner {
        entries: Vec<Vec<u8>>,
        tree: u64,
        hashes: BTreeMap<u64, [u8; 32]>,
        checkpoints: BTreeMap<u64, StoredCheckpoint>,
    }

    #[async_trait]
    impl AuditStore for MemoryLog {
        async fn append_events(&self, events: &[Event]) -> StoreResult<Vec<LogIndex>> {
            let mut inner = self.inner.lock().unwrap();
            let first = inner.entries.len() as u64;
            inner.entries.extend(events.iter().map(Event::to_canonical_bytes));
            Ok((first..inner.entries.len() as u64).collect())
        }

        async fn sequence(&self, max_batch: u32, integrator: &dyn Integrator) -> StoreResult<Option<Sequenced>> {
            let mut inner = self.inner.lock().unwrap();
            let size = inner.tree;
            let end = (size + u64::from(max_batch)).min(inner.entries.len() as u64);
            let entries: Vec<StoredEntry> =
                (size..end).map(|index| StoredEntry { index, bytes: inner.entries[index as usize].clone() }).collect();
            if entries.is_empty() && inner.checkpoints.contains_key(&size) {
                return Ok(None);
            }
            let frontier: Vec<[u8; 32]> = integrator.frontier(size).iter().map(|k| inner.hashes[k]).collect();
            let done = integrator.integrate(size, &frontier, &entries).map_err(StoreError::Backend)?;
            inner.hashes.extend(done.hashes.iter().copied());
            inner.checkpoints.insert(
                end,
                StoredCheckpoint {
                    size: end,
                    root: done.root,
                    note: done.note.clone(),
                    signed_at: done.signed_at,
                    cosignatures: vec![],
                },
            );
            inner.tree = end;
            Ok(Some(Sequenced { previous: size, size: end, root: done.root, note: done.note }))
        }

        async fn log_state(&self) -> StoreResult<LogState> {
            let inner = self.inner.lock().unwrap();
            Ok(LogState { appended: inner.entries.len() as u64, integrated: inner.tree })
        }

        async fn latest_checkpoint(&self) -> StoreResult<Option<StoredCheckpoint>> {
            Ok(self.inner.lock().unwrap().checkpoints.values().last().cloned())
        }

        async fn checkpoint(&self, size: u64) -> StoreResult<Option<StoredCheckpoint>> {
            Ok(self.inner.lock().unwrap().checkpoints.get(&size).cloned())
        }

        async fn checkpoints_from(&self, from: u64, limit: u32) -> StoreResult<Vec<StoredCheckpoint>> {
            let inner = self.inner.lock().unwrap();
            Ok(inner.checkpoints.range(from..).take(limit as usize).map(|(_, c)| c.clone()).collect())
        }

        async fn log_hashes(&self, keys: &[u64]) -> StoreResult<Vec<[u8; 32]>> {
            let inner = self.inner.lock().unwrap();
            keys.iter().map(|k| inner.hashes.get(k).copied().ok_or(StoreError::NotFound)).collect()
        }

        async fn log_entries(&self, _: &EntryFilter, range: Range<u64>, limit: u32) -> StoreResult<Vec<StoredEntry>> {
            let inner = self.inner.lock().unwrap();
            Ok(range
                .filter(|i| (*i as usize) < inner.entries.len())
                .take(limit as usize)
                .map(|index| StoredEntry { index, bytes: inner.entries[index as usize].clone() })
                .collect())
        }

        async fn add_cosignature(&self, size: u64, witness: &str, line: &str, at: i64) -> StoreResult<()> {
            let mut inner = self.inner.lock().unwrap();
            let checkpoint = inner.checkpoints.get_mut(&size).ok_or(StoreError::NotFound)?;
            checkpoint.cosignatures.retain(|c| c.witness != witness);
            checkpoint.cosignatures.push(StoredCosignature {
                witness: witness.into(),
                line: line.into(),
                received_at: at,
            });
            Ok(())
        }
    }

    const ORIGIN: &str = "doorman.example/log";

    fn event(i: u64) -> Event {
        new_event(
            EventKind::ConfigurationChanged { what: format!("change {i}") },
            1_800_000_000,
            Scope::default(),
            None,
        )
        .unwrap()
    }

    #[tokio::test]
    async fn sequencer_checkpoints_proofs_and_tiles_agree_with_a_memory_tree() {
        let store = MemoryLog::default();
        let signer = LogSigner::new(ORIGIN, [3; 32]);
        let log = AuditLog { store: &store, signer: &signer, now: 1_800_000_000 };
        let empty = log.checkpoint(None).await.unwrap();
        assert_eq!(empty.size, 0);

        let events: Vec<Event> = (0..300).map(event).collect();
        store.append_events(&events).await.unwrap();
        let mut reference = MemoryTree::new();
        for e in &events {
            reference.append(&e.to_canonical_bytes()).unwrap();
        }
        let latest = log.sequence_now().await.unwrap().unwrap();
        assert_eq!(latest.size, 300);
        let key = signer.verifier_key().unwrap();
        let opened = SignedCheckpoint::open(latest.note.as_bytes(), &[key], &[]).unwrap();
        assert_eq!(opened.checkpoint().root(), reference.root());
        assert_eq!(opened.checkpoint().origin(), ORIGIN);

        let indexes = [0, 1, 150, 299];
        let proofs = log.inclusion_proofs(&indexes, 300).await.unwrap();
        for (index, proof) in indexes.iter().zip(&proofs) {
            assert_eq!(proof, &reference.inclusion_proof(*index, 300).unwrap().path);
            let leaf = leaf_hash(&events[*index as usize].to_canonical_bytes());
            verify_inclusion(&leaf, *index, 300, proof, &reference.root()).unwrap();
        }
        let old_root = reference.root_at(37).unwrap();
        let proof = log.consistency_proof(37, 300).await.unwrap();
        verify_consistency(37, 300, &old_root, &reference.root(), &proof).unwrap();
        assert!(log.consistency_proof(301, 300).await.is_err());

        // Tiles rebuild the same proofs on the client side.
        let mut tiles = BTreeMap::new();
        for tile in doorman_tlog::new_tiles(0, 300) {
            tiles.insert(tile, log.tile(&tile.path()).await.unwrap());
            assert_eq!(tiles[&tile], read_tile(&reference, tile).unwrap());
        }
        let reader = TileHashReader::new(300, &tiles);
        assert_eq!(doorman_tlog::prove_inclusion(&reader, 150, 300).unwrap().path, proofs[2]);
        let beyond = TileId::new(0, 1, 45).unwrap();
        assert!(matches!(log.tile(&beyond.path()).await, Err(ServiceError::NotFound(_))));
        assert!(matches!(log.tile("tile/entries/000").await, Err(ServiceError::NotFound(_))));
        assert!(matches!(log.tile("tile/../../etc").await, Err(ServiceError::NotFound(_))));
    }

    #[tokio::test]
    async fn the_integrity_check_names_the_first_rewritten_or_missing_entry() {
        use crate::log_guard::{CheckFailure, LogGuard};
        let store = MemoryLog::default();
        let signer = LogSigner::new(ORIGIN, [3; 32]);
        let log = AuditLog { store: &store, signer: &signer, now: 1_800_000_000 };
        let guard = LogGuard::in_memory();
        store.append_events(&(0..40).map(event).collect::<Vec<_>>()).await.unwrap();
        log.sequence_guarded(&guard).await.unwrap();
        store.append_events(&(40..300).map(event).collect::<Vec<_>>()).await.unwrap();
        log.sequence_guarded(&guard).await.unwrap();
        let summary = log.check_integrity(guard.last().as_ref()).await.unwrap();
        assert_eq!((summary.size, summary.checkpoints, summary.remembered), (300, 2, Some(300)));
        let first_bad = |outcome: Result<_, CheckFailure>| match outcome {
            Err(CheckFailure::Problem(p)) => (p.index, p.message),
            other => panic!("{other:?}"),
        };

        // An entry rewritten: its leaf no longer hashes to the stored one.
        let original = store.inner.lock().unwrap().entries[17].clone();
        store.inner.lock().unwrap().entries[17] = event(999).to_canonical_bytes();
        let (index, message) = first_bad(log.check_integrity(None).await);
        assert_eq!(index, Some(17), "{message}");
        store.inner.lock().unwrap().entries[17] = original;
        log.check_integrity(None).await.unwrap();

        // A stored hash rewritten: the entry whose subtree it is, named.
        let key = doorman_tlog::NodeId::new(1, 60).unwrap().stored_index();
        let hash = store.inner.lock().unwrap().hashes[&key];
        store.inner.lock().unwrap().hashes.insert(key, [9; 32]);
        let (index, message) = first_bad(log.check_integrity(None).await);
        assert_eq!(index, Some(121), "{message}");
        store.inner.lock().unwrap().hashes.insert(key, hash);

        // The newest checkpoint rolled back: the remembered one names it.
        let remembered = guard.last().unwrap();
        store.inner.lock().unwrap().checkpoints.remove(&300);
        let (index, message) = first_bad(log.check_integrity(Some(&remembered)).await);
        assert_eq!(index, Some(40), "{message}");
        assert!(message.contains("rolled back"), "{message}");
        let refused = log.sequence_guarded(&guard).await.unwrap_err().to_string();
        assert!(refused.contains("rolled back"), "{refused}");
        assert!(guard.halted().is_some());
    }

    /// Talks to a WitnessHost in process, as HTTP would.
    struct InProcess(Arc<WitnessHost>);

    #[async_trait]
    impl WitnessTransport for InProcess {
        async fn add_checkpoint(&self, _url: &str, body: Vec<u8>) -> Result<WitnessReply, String> {
            Ok(match self.0.add_checkpoint(&body) {
                Ok(line) => WitnessReply { status: 200, content_type: Some("text/plain".into()), body: line },
                Err(crate::witness::WitnessRefusal::Witness(doorman_tlog::WitnessError::OldSizeMismatch {
                    latest_size,
                    ..
                })) => WitnessReply {
                    status: 409,
                    content_type: Some("text/x.tlog.size".into()),
                    body: format!("{latest_size}\n"),
                },
                Err(e) => WitnessReply { status: 400, content_type: None, body: e.to_string() },
            })
        }
    }

    #[tokio::test]
    async fn witnesses_cosign_new_checkpoints_and_resync_after_a_restart() {
        let dir = std::env::temp_dir().join(format!("doorman-audit-w-{}", uuid::Uuid::new_v4().simple()));
        let store = MemoryLog::default();
        let signer = LogSigner::new(ORIGIN, [3; 32]);
        let log = AuditLog { store: &store, signer: &signer, now: 1_800_000_000 };
        let cosigner = Cosigner::from_seed("witness.example/w1", [4; 32]).unwrap();
        let clock = Arc::new(ManualClock::new(1_800_000_000));
        let host = Arc::new(
            WitnessHost::open(cosigner.clone(), &[signer.verifier_key().unwrap()], &dir.join("state"), clock).unwrap(),
        );
        let witnesses = [WitnessConfig { url: "http://w1".into(), key: cosigner.verifier_key().unwrap() }];
        let transport = InProcess(host.clone());

        store.append_events(&(0..5).map(event).collect::<Vec<_>>()).await.unwrap();
        log.sequence_now().await.unwrap();
        let progress = WitnessProgress::default();
        let outcomes = log.publish(&witnesses, &progress, &transport).await.unwrap();
        assert_eq!(outcomes[0].1, Ok(true));
        assert_eq!(log.publish(&witnesses, &progress, &transport).await.unwrap()[0].1, Ok(false));

        // The served checkpoint verifies with the witness's key too.
        let served = checkpoint_text(&log.checkpoint(None).await.unwrap());
        let opened = SignedCheckpoint::open(
            served.as_bytes(),
            &[signer.verifier_key().unwrap()],
            &[cosigner.verifier_key().unwrap()],
        )
        .unwrap();
        assert_eq!(opened.cosignatures().count(), 1);

        // A log process that forgot what the witness saw learns it (409).
        store.append_events(&(5..9).map(event).collect::<Vec<_>>()).await.unwrap();
        log.sequence_now().await.unwrap();
        let fresh = WitnessProgress::default();
        assert_eq!(log.publish(&witnesses, &fresh, &transport).await.unwrap()[0].1, Ok(true));
        assert_eq!(host.latest(ORIGIN).unwrap().size, 9);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn door_kinds_are_exactly_the_door_events() {
        let (lock_id, access_point_id) = (LockId::random(), AccessPointId::random());
        let door = [
            EventKind::DoorUnlocked { lock_id, access_point_id },
            EventKind::DoorOpened { lock_id, access_point_id },
            EventKind::DoorClosed { lock_id, access_point_id },
            EventKind::DoorAjar { lock_id, access_point_id },
            EventKind::Relocked { lock_id, access_point_id },
            EventKind::LockEvent { lock_id, counter: 1, signed: String::new() },
        ];
        assert_eq!(door.iter().map(EventKind::name).collect::<Vec<_>>(), DOOR_EVENT_KINDS);
        assert!(door.iter().all(EventKind::is_door_event));
        assert!(!EventKind::Unblocked.is_door_event());
    }

    #[test]
    fn filters_follow_the_viewer() {
        let unit = UnitId::random();
        let home = PropertyId::random();
        let resident = Viewer {
            principal: Principal::Resident { resident_id: ResidentId::random(), unit_id: unit },
            managed_properties: vec![],
            resident_property: Some(home),
            since: None,
        };
        let filter = entry_filter(&resident);
        assert_eq!(filter.unit, Some(unit));
        assert_eq!(filter.shared, Some((home, DOOR_EVENT_KINDS.to_vec())));
        let manager = Viewer {
            principal: Principal::Manager { manager_id: ManagerId::random() },
            managed_properties: vec![home],
            resident_property: None,
            since: None,
        };
        assert_eq!(entry_filter(&manager).properties, vec![home]);
        let operator =
            Viewer { principal: Principal::Operator, managed_properties: vec![], resident_property: None, since: None };
        assert_eq!(entry_filter(&operator).kinds, OPERATOR_EVENT_KINDS.to_vec());
    }
}
