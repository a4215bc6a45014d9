//! The transparency log end to end: every change the service makes lands in
//! the log with it; each reader exports the entries they may see and checks
//! them offline with `doorman audit verify`'s library (doorman-audit); tampering
//! with the stored log (edits, deletions, reordering, insertions, a forked
//! history) is detected and named; witnesses cosign over HTTP; and a
//! service killed during a burst of appends restarts with a checkpoint that
//! covers everything it acknowledged.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context;
use doorman_api::*;
use doorman_audit::{Bundle, Report};
use doorman_cli::audit_cmd;
use doorman_domain::{serde_b64, Event, EventKind};
use doorman_server::audit::{new_event, LogSigner, Scope, WitnessConfig};
use doorman_server::{KeyFile, ServiceConfig};
use doorman_tlog::{
    inclusion_plan, prove_inclusion, tiles_for_nodes, Checkpoint, Hash, Note, SignedCheckpoint, TileHashReader,
    VerifierKey,
};
use reqwest::{Method, StatusCode};

use crate::fixture::Building;
use crate::kit::{expect_error, Backend, Kit, HOUR};

/// The log's verifier key, as the operator would publish it.
pub fn log_key(kit: &Kit) -> VerifierKey {
    let ring = kit.keys.ring().unwrap();
    LogSigner::with_signer(kit.running.service.log_origin(), ring.log).verifier_key().unwrap()
}

/// What the background sequencer does, now.
pub async fn sequence(kit: &Kit) -> anyhow::Result<u64> {
    let latest = kit.running.service.sequence_now().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(latest.context("a checkpoint")?.size)
}

/// An insider who holds the log's key and signs whatever the database
/// holds: a service process over the same database that remembers nothing
/// of what was signed before (the service itself refuses, see
/// `log_rollback_is_refused_not_forked`); what readers then catch.
pub async fn forger(kit: &Kit) -> anyhow::Result<std::sync::Arc<doorman_server::Service>> {
    let store = doorman_store::open(&kit.database_url).await?;
    doorman_cli::app::service_with(store, kit.clock.clone(), &kit.keys, kit.running.service.config().clone())
}

pub async fn export(client: &doorman_client::Client, since: Option<&str>) -> anyhow::Result<Bundle> {
    audit_cmd::export(client, since.map(String::from)).await
}

pub fn verify(kit: &Kit, bundle: &Bundle, previous: Option<&str>) -> Report {
    doorman_audit::verify(bundle, &[log_key(kit)], previous, &[])
}

/// The bundle's entries, decoded, by index.
pub fn events(bundle: &Bundle) -> BTreeMap<u64, Event> {
    bundle
        .entries
        .iter()
        .map(|e| (e.index, Event::from_bytes(&serde_b64::decode(&e.entry).unwrap()).unwrap()))
        .collect()
}

fn kinds(bundle: &Bundle) -> BTreeSet<&'static str> {
    events(bundle).values().map(|e| e.kind.name()).collect()
}

fn assert_ok(report: &Report) {
    assert!(report.is_ok(), "{}", report.render());
}

/// A building where Jun's parcel was announced, scheduled, granted and
/// delivered, a second one granted then revoked by a block, a third
/// cancelled, and a stranger's parcel refused.
struct Story {
    b: Building,
    granted: AccessGranted,
    revoked: AccessGranted,
}

async fn story(kit: &Kit) -> anyhow::Result<Story> {
    let b = Building::seed(kit).await?;
    let first = b.parcel(kit, "PCL-1", b.unit_2b.id).await?;
    b.parcelo.update_eta(first.id, kit.now() + 600).await?;
    let granted = b.expect_granted(b.dana.client.request_access(&b.ask("PCL-1")).await).await?;
    b.expect_refused(b.dana.client.request_access(&b.ask("NO-SUCH-PARCEL")).await, RefusalReason::ParcelUnknown)
        .await?;
    b.dana
        .client
        .complete_delivery(first.id, &CompleteDelivery { drop_spot_id: granted.drop_spot_id, photo_ref: None })
        .await?;
    let second = b.parcel(kit, "PCL-2", b.unit_2b.id).await?;
    let revoked = b.expect_granted(b.eli.client.request_access(&b.ask_as(&b.eli, "PCL-2")).await).await?;
    let blocked = b.jun.client.block(b.unit_2b.id, &CreateBlock { until: None, reason: None }).await?;
    assert_eq!(blocked.revoked_grants, vec![revoked.grant_id]);
    b.jun.client.unblock(b.unit_2b.id).await?;
    let third = b.parcel(kit, "PCL-3", b.unit_2b.id).await?;
    b.parcelo.cancel_delivery(third.id).await?;
    let _ = second;
    Ok(Story { b, granted, revoked })
}

pub async fn every_change_is_logged_and_verifies(kit: &Kit) -> anyhow::Result<()> {
    let Story { b, granted, revoked } = story(kit).await?;
    let size = sequence(kit).await?;

    // Jun: what happened to 2B, nothing else.
    let jun = export(&b.jun.client, None).await?;
    assert_ok(&verify(kit, &jun, None));
    let seen = events(&jun);
    assert!(seen.values().all(|e| e.unit_id == Some(b.unit_2b.id)), "{seen:?}");
    for kind in [
        "eta_updated",
        "access_requested",
        "access_granted",
        "delivered",
        "blocked",
        "grant_revoked",
        "unblocked",
        "delivery_cancelled",
    ] {
        assert!(kinds(&jun).contains(kind), "Jun's log lacks {kind}: {:?}", kinds(&jun));
    }
    // The grant response names its entry.
    match &seen.get(&granted.log_index).context("the grant's entry")?.kind {
        EventKind::AccessGranted { grant_id, request_id, .. } => {
            assert_eq!((*grant_id, *request_id), (granted.grant_id, granted.request_id));
        }
        other => anyhow::bail!("entry {} is {other:?}", granted.log_index),
    }
    assert!(seen.values().any(|e| e.kind == EventKind::GrantRevoked { grant_id: revoked.grant_id }));
    assert!(jun.entries.iter().all(|e| e.index < size));

    // Kim lives upstairs: none of 2B's entries.
    let kim = export(&b.kim.client, None).await?;
    assert_ok(&verify(kit, &kim, None));
    assert!(events(&kim).values().all(|e| e.unit_id != Some(b.unit_2b.id)));

    // Rosa: her properties, configuration included, and the refusal that
    // named no unit.
    let rosa = export(&b.rosa, None).await?;
    assert_ok(&verify(kit, &rosa, None));
    let rosa_events = events(&rosa);
    assert!(rosa_events.values().all(|e| e.property_id == Some(b.property.id)));
    let configuration: Vec<String> = rosa_events
        .values()
        .filter_map(|e| match &e.kind {
            EventKind::ConfigurationChanged { what } => Some(what.clone()),
            _ => None,
        })
        .collect();
    for what in ["property", "unit", "access point", "lock", "drop spot", "carrier", "tenant notice"] {
        assert!(configuration.iter().any(|c| c.contains(what)), "no {what} change in {configuration:?}");
    }
    assert!(rosa_events
        .values()
        .any(|e| matches!(e.kind, EventKind::AccessRefused { reason: RefusalReason::ParcelUnknown, .. })));
    assert!(rosa_events.len() > events(&jun).len());

    // Otto sees his brownstone only; QuickShip nothing of Parcelo's; Dana
    // what she did; the operator configuration and keys only.
    let otto = events(&export(&b.otto, None).await?);
    assert!(!otto.is_empty() && otto.values().all(|e| e.property_id == Some(b.brownstone.id)));
    let quickship = events(&export(&b.quickship, None).await?);
    assert!(quickship.values().all(|e| e.carrier_id == Some(b.quickship_id)));
    let parcelo = events(&export(&b.parcelo, None).await?);
    assert!(parcelo.values().any(|e| e.kind.name() == "access_granted"));
    assert!(parcelo.values().all(|e| e.carrier_id == Some(b.parcelo_id)));
    let dana = events(&export(&b.dana.client, None).await?);
    assert!(!dana.is_empty() && dana.values().all(|e| e.driver_id == Some(b.dana.id)));
    let operator = events(&export(&kit.operator, None).await?);
    assert!(!operator.is_empty());
    assert!(operator.values().all(|e| e.kind.name() == "configuration_changed" || e.kind.name() == "key_rotated"));
    // The accounts the operator created are in the log.
    for created in ["manager", "carrier"] {
        assert!(
            operator.values().any(|e| matches!(&e.kind, EventKind::ConfigurationChanged { what }
                if what.starts_with(created) && what.ends_with("created"))),
            "no {created} creation in the operator's log"
        );
    }

    // Entries are for those entitled only.
    expect_error(
        kit.anon.audit_entries(&AuditEntriesQuery::default()).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    );
    Ok(())
}

pub async fn checkpoints_tiles_and_proofs_follow_c2sp(kit: &Kit) -> anyhow::Result<()> {
    let Story { b, granted, .. } = story(kit).await?;
    let size = sequence(kit).await?;
    let key = log_key(kit);
    assert_eq!(key.name(), "doorman.example/log");
    assert_eq!(kit.anon.log_key().await?.trim(), key.to_vkey());

    // The public checkpoint is a C2SP signed note holding a tlog-checkpoint.
    let text = kit.anon.log_checkpoint().await?;
    let opened = SignedCheckpoint::open(text.as_bytes(), std::slice::from_ref(&key), &[])?;
    let checkpoint = opened.checkpoint().clone();
    assert_eq!((checkpoint.origin(), checkpoint.size()), ("doorman.example/log", size));
    let note = Note::parse(text.as_bytes())?;
    assert_eq!(Checkpoint::parse_text(note.text())?, checkpoint);
    assert!(note.text().starts_with("doorman.example/log\n"));

    // A verifier rebuilds Jun's inclusion proof from public tiles alone.
    let jun = export(&b.jun.client, None).await?;
    let entry = jun.entries.iter().find(|e| e.index == granted.log_index).context("the grant's entry")?;
    let plan = inclusion_plan(entry.index, size)?;
    let mut tiles = BTreeMap::new();
    for tile in tiles_for_nodes(plan.nodes(), size)? {
        tiles.insert(tile, kit.anon.log_tile(&tile.path()).await?);
    }
    let from_tiles = prove_inclusion(&TileHashReader::new(size, &tiles), entry.index, size)?;
    let from_api: Vec<Hash> =
        entry.inclusion.iter().map(|h| Hash::from_slice(&serde_b64::decode(h).unwrap()).unwrap()).collect();
    assert_eq!(from_tiles.path, from_api);
    from_tiles.verify(&doorman_tlog::leaf_hash(&serde_b64::decode(&entry.entry)?), &checkpoint.root())?;

    // Hashes are public, entries are not; unknown tiles are 404.
    for path in ["tile/entries/000", "tile/0/x999/000", "tile/9/000", "tile/0/000.p/0", "tile/../keys"] {
        let (status, body) = kit.anon.send_raw(Method::GET, &format!("/log/{path}"), None, None).await?;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
    }

    // Consistency from a kept checkpoint, across more activity.
    b.rosa.create_unit(b.property.id, "5E").await?;
    let newer = sequence(kit).await?;
    assert!(newer > size);
    let bundle = export(&b.jun.client, Some(&jun.checkpoint)).await?;
    let report = verify(kit, &bundle, Some(&jun.checkpoint));
    assert_ok(&report);
    assert!(report.render().contains(&format!("extends the checkpoint you kept (size {size})")));
    let proof = b.jun.client.audit_consistency(size, None).await?;
    assert_eq!((proof.old_size, proof.new_size), (size, newer));
    expect_error(
        b.jun.client.audit_consistency(newer + 1, None).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    );
    // Pages against one checkpoint.
    let page = b.rosa.audit_entries(&AuditEntriesQuery { after: None, size: Some(size), limit: Some(3) }).await?;
    assert_eq!((page.entries.len(), page.size), (3, size));
    let next = page.next_after.context("more than one page")?;
    let rest = b.rosa.audit_entries(&AuditEntriesQuery { after: Some(next), size: Some(size), limit: None }).await?;
    assert!(rest.entries.iter().all(|e| e.index > next && e.index < size));
    expect_error(
        b.rosa.audit_entries(&AuditEntriesQuery { after: None, size: Some(newer + 5), limit: None }).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    Ok(())
}

/// Direct access to the service's database, as an operator with a shell
/// would have.
enum Db {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

/// One row of `log_entries`.
#[derive(Clone, Debug)]
struct Row {
    idx: i64,
    entry: Vec<u8>,
    kind: String,
    at: i64,
    scope: [Option<String>; 5],
}

const COLUMNS: &str = "idx, entry, kind, at, property_id, unit_id, carrier_id, driver_id, delivery_id";

impl Db {
    async fn open(kit: &Kit) -> anyhow::Result<Db> {
        Ok(match kit.backend {
            Backend::Sqlite => Db::Sqlite(sqlx::SqlitePool::connect(&kit.database_url).await?),
            Backend::Postgres => Db::Postgres(sqlx::PgPool::connect(&kit.database_url).await?),
        })
    }

    async fn execute(&self, sql: &str) -> anyhow::Result<u64> {
        Ok(match self {
            Db::Sqlite(pool) => sqlx::query(sql).execute(pool).await?.rows_affected(),
            Db::Postgres(pool) => sqlx::query(sql).execute(pool).await?.rows_affected(),
        })
    }

    async fn row(&self, idx: u64) -> anyhow::Result<Row> {
        type Tuple =
            (i64, Vec<u8>, String, i64, Option<String>, Option<String>, Option<String>, Option<String>, Option<String>);
        let sql = format!("SELECT {COLUMNS} FROM log_entries WHERE idx = {idx}");
        let t: Tuple = match self {
            Db::Sqlite(pool) => sqlx::query_as(&sql).fetch_one(pool).await?,
            Db::Postgres(pool) => sqlx::query_as(&sql).fetch_one(pool).await?,
        };
        Ok(Row { idx: t.0, entry: t.1, kind: t.2, at: t.3, scope: [t.4, t.5, t.6, t.7, t.8] })
    }

    async fn set_entry(&self, idx: i64, entry: &[u8]) -> anyhow::Result<()> {
        let sql = "UPDATE log_entries SET entry = $1 WHERE idx = $2";
        let n = match self {
            Db::Sqlite(pool) => sqlx::query(sql).bind(entry).bind(idx).execute(pool).await?.rows_affected(),
            Db::Postgres(pool) => sqlx::query(sql).bind(entry).bind(idx).execute(pool).await?.rows_affected(),
        };
        anyhow::ensure!(n == 1, "no entry {idx}");
        Ok(())
    }

    async fn insert(&self, row: &Row) -> anyhow::Result<()> {
        let sql = format!("INSERT INTO log_entries ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)");
        macro_rules! bind_all {
            ($pool:expr) => {{
                let mut q = sqlx::query(&sql).bind(row.idx).bind(&row.entry).bind(&row.kind).bind(row.at);
                for value in &row.scope {
                    q = q.bind(value.as_deref());
                }
                q.execute($pool).await?;
            }};
        }
        match self {
            Db::Sqlite(pool) => bind_all!(pool),
            Db::Postgres(pool) => bind_all!(pool),
        }
        Ok(())
    }

    /// Moves the entries from `from` on by `+1` (make room) or back.
    async fn shift(&self, from: i64, up: bool) -> anyhow::Result<()> {
        // Through negative keys, so no step collides with a row not yet moved.
        if up {
            self.execute(&format!("UPDATE log_entries SET idx = -idx - 1 WHERE idx >= {from}")).await?;
            self.execute("UPDATE log_entries SET idx = -idx WHERE idx < 0").await?;
        } else {
            self.execute(&format!("UPDATE log_entries SET idx = -idx WHERE idx >= {from}")).await?;
            self.execute("UPDATE log_entries SET idx = -idx - 1 WHERE idx < 0").await?;
        }
        Ok(())
    }

    /// What an operator rewriting history does after changing entries:
    /// throws the tree and its checkpoints away so the sequencer signs new
    /// ones (the operator holds the log key).
    async fn drop_tree(&self) -> anyhow::Result<()> {
        for sql in [
            "DELETE FROM log_cosignatures",
            "DELETE FROM log_checkpoints",
            "DELETE FROM log_hashes",
            "UPDATE log_tree SET size = 0",
        ] {
            self.execute(sql).await?;
        }
        Ok(())
    }
}

pub async fn tampering_is_detected(kit: &Kit) -> anyhow::Result<()> {
    let Story { b, granted, .. } = story(kit).await?;
    sequence(kit).await?;
    let jun = &b.jun.client;
    let kept = export(jun, None).await?;
    assert_ok(&verify(kit, &kept, None));
    let kept_checkpoint = kept.checkpoint.clone();
    let (grant_idx, request_idx) = (granted.log_index, granted.log_index - 1);
    let db = Db::open(kit).await?;
    let grant_row = db.row(grant_idx).await?;
    let request_row = db.row(request_idx).await?;
    assert_eq!((grant_row.kind.as_str(), request_row.kind.as_str()), ("access_granted", "access_requested"));
    let check = |report: Report, code: &str, index: u64| {
        assert!(report.has(code), "expected {code}:\n{}", report.render());
        assert!(
            report.problems.iter().any(|p| p.message.contains(&format!("entry {index}"))),
            "the report names entry {index}:\n{}",
            report.render()
        );
    };

    // 1. An entry edited in place: its bytes no longer match the tree.
    let mut forged: Event = Event::from_bytes(&grant_row.entry)?;
    if let EventKind::AccessGranted { expires_at, .. } = &mut forged.kind {
        *expires_at += 24 * HOUR;
    }
    db.set_entry(grant_row.idx, &forged.to_canonical_bytes()).await?;
    let edited = export(jun, None).await?;
    check(verify(kit, &edited, Some(&kept_checkpoint)), "not_included", grant_idx);
    // The command line says so too, and fails.
    let (ok, printed) = verify_command(kit, &kept, None)?;
    assert!(ok && printed.contains("verified: no problem found"), "{printed}");
    let (ok, printed) = verify_command(kit, &edited, Some(&kept_checkpoint))?;
    assert!(!ok && printed.contains("PROBLEM [not_included]: entry"), "{printed}");
    db.set_entry(grant_row.idx, &grant_row.entry).await?;
    assert_ok(&verify(kit, &export(jun, None).await?, Some(&kept_checkpoint)));

    // 2. An entry deleted: the grant no longer follows a request.
    db.execute(&format!("DELETE FROM log_entries WHERE idx = {request_idx}")).await?;
    check(verify(kit, &export(jun, None).await?, Some(&kept_checkpoint)), "grant_without_request", grant_idx);
    db.insert(&request_row).await?;
    assert_ok(&verify(kit, &export(jun, None).await?, Some(&kept_checkpoint)));

    // 3. Two entries swapped.
    db.set_entry(request_row.idx, &grant_row.entry).await?;
    db.set_entry(grant_row.idx, &request_row.entry).await?;
    let report = verify(kit, &export(jun, None).await?, Some(&kept_checkpoint));
    check(report.clone(), "not_included", request_idx);
    check(report, "not_included", grant_idx);
    db.set_entry(request_row.idx, &request_row.entry).await?;
    db.set_entry(grant_row.idx, &grant_row.entry).await?;

    // 4. An entry inserted before the request (the rest moved up one).
    let fake = new_event(
        EventKind::AccessRequested { request_id: AccessRequestId::random() },
        kit.now(),
        Scope {
            property: Some(b.property.id),
            unit: Some(b.unit_2b.id),
            carrier: Some(b.parcelo_id),
            driver: Some(b.dana.id),
            delivery: None,
        },
        None,
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    db.shift(request_row.idx, true).await?;
    db.insert(&Row { idx: request_row.idx, entry: fake.to_canonical_bytes(), ..request_row.clone() }).await?;
    let report = verify(kit, &export(jun, None).await?, Some(&kept_checkpoint));
    check(report.clone(), "not_included", request_idx);
    check(report, "not_included", grant_idx);
    db.execute(&format!("DELETE FROM log_entries WHERE idx = {request_idx}")).await?;
    db.shift(request_row.idx + 1, false).await?;
    assert_ok(&verify(kit, &export(jun, None).await?, Some(&kept_checkpoint)));

    // 5. History rewritten and re-signed with the log's own key: the edited
    // entries now verify against the new tree, but the new checkpoint has
    // the size of the one Jun kept and another root: a fork.
    db.set_entry(grant_row.idx, &forged.to_canonical_bytes()).await?;
    db.drop_tree().await?;
    // The service refuses to sign the rewritten tree; an insider with the
    // key signs it anyway.
    let refused = sequence(kit).await.unwrap_err().to_string();
    assert!(refused.contains("rolled back or emptied"), "{refused}");
    let forger = forger(kit).await?;
    forger.sequence_now().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let alone = verify(kit, &export(jun, None).await?, None);
    assert!(alone.is_ok(), "alone, a rewritten log looks fine:\n{}", alone.render());
    let rewritten = export(jun, Some(&kept_checkpoint)).await?;
    let report = verify(kit, &rewritten, Some(&kept_checkpoint));
    assert!(report.has("fork"), "{}", report.render());
    let old = SignedCheckpoint::open(kept_checkpoint.as_bytes(), &[log_key(kit)], &[])?;
    let new = SignedCheckpoint::open(rewritten.checkpoint.as_bytes(), &[log_key(kit)], &[])?;
    assert!(doorman_tlog::check_fork(old.checkpoint(), new.checkpoint()).is_err());

    // 6. ... and once the rewritten log has grown, it is not an extension of
    // what Jun kept.
    b.rosa.create_unit(b.property.id, "7G").await?;
    forger.sequence_now().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let grown = export(jun, Some(&kept_checkpoint)).await?;
    let report = verify(kit, &grown, Some(&kept_checkpoint));
    assert!(report.has("inconsistent"), "{}", report.render());
    Ok(())
}

pub async fn lock_event_chains_are_checked(kit: &Kit) -> anyhow::Result<()> {
    use doorman_protocol::{EventKind as LockEventKind, EventRecord, LockState};
    let b = Building::seed(kit).await?;
    let lock = &b.entrance_lock;
    let trust = crate::lock::trust_from(&kit.anon.keys().await?)?;
    let mut state = LockState::new(crate::lock::wire(lock.id), &trust, 0).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let t = u64::try_from(kit.now())?;
    let mut signed = Vec::new();
    for kind in [LockEventKind::Unlocked, LockEventKind::DoorOpened, LockEventKind::DoorClosed, LockEventKind::Unlocked]
    {
        let event =
            state.record_event(&lock.device, &EventRecord::new(kind), t).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        signed.push(event.as_bytes().to_vec());
    }
    // The events as the fleet intake logs them, verbatim: the shared
    // street door, so the whole building sees them.
    let entry = |counter: u64, bytes: &[u8]| {
        new_event(
            EventKind::LockEvent { lock_id: lock.id, counter, signed: serde_b64::encode(bytes) },
            kit.now(),
            Scope { property: Some(b.property.id), ..Scope::default() },
            None,
        )
        .map_err(|e| anyhow::anyhow!("{e}"))
    };
    let first: Vec<Event> =
        signed.iter().take(3).enumerate().map(|(i, s)| entry(i as u64 + 1, s)).collect::<anyhow::Result<_>>()?;
    kit.store().append_events(&first).await?;
    sequence(kit).await?;
    let bundle = export(&b.kim.client, None).await?;
    assert_eq!(bundle.locks.len(), 1);
    let report = verify(kit, &bundle, None);
    assert_ok(&report);
    assert!(report.render().contains("3 signed events, chain intact"), "{}", report.render());

    // The fourth event is lost and a fifth arrives: the gap is named.
    let fifth = state.record_event(&lock.device, &EventRecord::new(LockEventKind::DoorOpened), t).unwrap();
    kit.store().append_events(&[entry(5, fifth.as_bytes())?]).await?;
    sequence(kit).await?;
    let report = verify(kit, &export(&b.kim.client, None).await?, None);
    assert!(report.has("lock_chain"), "{}", report.render());
    assert!(report.render().contains("Gap"), "{}", report.render());
    Ok(())
}

/// Runs `doorman audit verify` on `bundle`: whether it succeeded, and what
/// it printed.
fn verify_command(kit: &Kit, bundle: &Bundle, previous: Option<&str>) -> anyhow::Result<(bool, String)> {
    let dir = crate::kit::TempDir::new("doorman-verify")?;
    let path = dir.path().join("bundle.json");
    std::fs::write(&path, serde_json::to_vec(bundle)?)?;
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_doorman"));
    command.args(["audit", "verify"]).arg(&path).args(["--log-key", &log_key(kit).to_vkey()]);
    if let Some(previous) = previous {
        let kept = dir.path().join("kept-checkpoint.txt");
        std::fs::write(&kept, previous)?;
        command.arg("--previous").arg(kept);
    }
    let output = command.output()?;
    Ok((output.status.success(), String::from_utf8_lossy(&output.stdout).into_owned()))
}

/// The README's recipe as a resident types it: `jq -r .checkpoint` keeps
/// the checkpoint with a newline of its own, and both the next export
/// (`--since-checkpoint`) and `verify --previous` read it as the log signed
/// it; so they do a kept checkpoint without its final newline.
pub async fn a_checkpoint_kept_with_jq_verifies(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    let size = sequence(kit).await?;
    let first = export(&b.jun.client, None).await?;
    let kept = format!("{}\n", first.checkpoint);
    b.rosa.create_unit(b.property.id, "8H").await?;
    sequence(kit).await?;
    let later = export(&b.jun.client, Some(&kept)).await?;
    let report = verify(kit, &later, Some(&kept));
    assert_ok(&report);
    assert!(report.render().contains(&format!("extends the checkpoint you kept (size {size})")));
    // Kept with jq's newline, as the log signed it, or with none at all
    // (an editor stripped it): the same verification.
    for kept in [kept.as_str(), first.checkpoint.as_str(), first.checkpoint.trim_end()] {
        let (ok, printed) = verify_command(kit, &later, Some(kept))?;
        assert!(ok && printed.contains("verified: no problem found"), "{kept:?}: {printed}");
        assert_ok(&verify(kit, &export(&b.jun.client, Some(kept)).await?, Some(kept)));
    }
    Ok(())
}

pub async fn key_rotation_is_logged(kit: &Kit) -> anyhow::Result<()> {
    let dir = crate::kit::TempDir::new("doorman-keys")?;
    let path = dir.path().join("keys.json");
    kit.keys.save(&path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (kid, index) = doorman_server::audit::rotate_issuer_key(kit.store().as_ref(), &path, kit.now())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let rotated = KeyFile::load_or_create(&path, kit.now()).map_err(|e| anyhow::anyhow!("{e}"))?;
    assert_eq!(rotated.active_kid, kid);
    assert_ne!(kid, kit.keys.active_kid);
    sequence(kit).await?;
    let bundle = export(&kit.operator, None).await?;
    assert_ok(&verify(kit, &bundle, None));
    assert_eq!(events(&bundle).get(&index).map(|e| e.kind.clone()), Some(EventKind::KeyRotated { kid }));
    Ok(())
}

// --- witnesses, over HTTP ---------------------------------------------------------

async fn witness_cosigns(backend: Backend) -> anyhow::Result<()> {
    use doorman_cli::witness_cmd::{self, HttpWitnesses, WitnessArgs};
    let dir = crate::kit::TempDir::new("doorman-witness")?;
    let keys = KeyFile::generate(crate::kit::WEDNESDAY_2PM).map_err(|e| anyhow::anyhow!("{e}"))?;
    let log_vkey = LogSigner::with_signer("doorman.example/log", keys.ring().map_err(|e| anyhow::anyhow!("{e}"))?.log)
        .verifier_key()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let args = WitnessArgs {
        listen: "127.0.0.1:0".parse()?,
        key_file: dir.path().join("witness.key"),
        log_vkeys: vec![log_vkey.to_vkey()],
        name: "witness.example/w1".into(),
        state: None,
    };
    let witness = witness_cmd::start(&args).await?;
    let witness_key = witness.host.verifier_key().map_err(|e| anyhow::anyhow!("{e}"))?;
    let config = ServiceConfig {
        witnesses: vec![WitnessConfig { url: witness.url(), key: witness_key.clone() }],
        ..crate::kit::default_config()
    };
    let Some(kit) = Kit::start_with_keys(backend, config, keys).await? else { return witness.stop().await };
    let service = &kit.running.service;
    let http = HttpWitnesses::new()?;
    let b = Building::seed(&kit).await?;
    let size = sequence(&kit).await?;
    let outcomes = service.publish_checkpoint(&http).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    assert_eq!(outcomes, vec![(witness.url(), Ok(true))]);
    assert_eq!(witness.host.latest("doorman.example/log").map(|h| h.size), Some(size));

    // The served checkpoint carries the cosignature; a verifier who trusts
    // the witness requires it.
    let text = kit.anon.log_checkpoint().await?;
    let opened =
        SignedCheckpoint::open(text.as_bytes(), std::slice::from_ref(&log_vkey), std::slice::from_ref(&witness_key))?;
    assert_eq!(opened.cosignatures().count(), 1);
    let bundle = export(&b.rosa, None).await?;
    let report =
        doorman_audit::verify(&bundle, std::slice::from_ref(&log_vkey), None, std::slice::from_ref(&witness_key));
    assert_ok(&report);
    assert!(report.render().contains("cosigned by witness witness.example/w1"));

    // More entries: the witness checks consistency and cosigns again.
    b.rosa.create_unit(b.property.id, "4D").await?;
    let grown = sequence(&kit).await?;
    assert!(grown > size);
    assert_eq!(service.publish_checkpoint(&http).await.map_err(|e| anyhow::anyhow!("{e}"))?[0].1, Ok(true));
    assert_eq!(witness.host.latest("doorman.example/log").map(|h| h.size), Some(grown));

    // A rewritten history of the same size: the witness refuses the fork,
    // so the new checkpoint goes without its cosignature.
    let db = Db::open(&kit).await?;
    let row = db.row(0).await?;
    let mut changed = Event::from_bytes(&row.entry)?;
    changed.at -= 1;
    db.set_entry(0, &changed.to_canonical_bytes()).await?;
    db.drop_tree().await?;
    let forged = forger(&kit).await?.sequence_now().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    assert_eq!(forged.map(|c| c.size), Some(grown));
    let outcomes = service.publish_checkpoint(&http).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let refusal = outcomes[0].1.clone().unwrap_err();
    assert!(refusal.contains("409") && refusal.contains("fork"), "{refusal}");
    let report =
        doorman_audit::verify(&export(&b.rosa, None).await?, &[log_vkey], None, std::slice::from_ref(&witness_key));
    assert!(report.has("missing_cosignature"), "{}", report.render());
    kit.stop().await?;
    witness.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_witness_cosigns_over_http() -> anyhow::Result<()> {
    witness_cosigns(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_witness_cosigns_over_http() -> anyhow::Result<()> {
    witness_cosigns(Backend::Postgres).await
}

// --- a service killed during a burst ------------------------------------------

/// `doorman serve` as a child process.
struct Served {
    child: std::process::Child,
    url: String,
    operator_token: Option<String>,
}

impl Served {
    fn start(database: &str, data_dir: &std::path::Path) -> anyhow::Result<Served> {
        // No lock fleet here: its broker's default port would be shared. One
        // driver's burst of thousands of requests is the load under test.
        let env = [("DOORMAN_MQTT", "false".into()), ("DOORMAN_ACCESS_REQUESTS_PER_DRIVER", "0".into())];
        let crate::kit::ServeChild { child, url, operator_token } =
            crate::kit::serve_child(database, data_dir, "127.0.0.1:0", &env)?;
        Ok(Served { child, url, operator_token })
    }

    /// SIGKILL: no shutdown, no flush, nothing.
    fn kill(mut self) -> anyhow::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn killed_mid_burst(backend: Backend) -> anyhow::Result<()> {
    let Some((database, dir)) = crate::kit::fresh_database(backend).await? else { return Ok(()) };
    let data = crate::kit::TempDir::new("doorman-crash")?;
    let served = Served::start(&database, data.path())?;
    let anon = doorman_client::Client::new(&served.url);
    let operator = anon.with_token(served.operator_token.clone().context("the first start prints a token")?);
    let rosa_token = operator.create_manager("Rosa").await?.token;
    let rosa = anon.with_token(rosa_token.clone());
    let carrier = anon.with_token(operator.create_carrier("Parcelo").await?.token);
    let property = rosa
        .create_property(&CreateProperty {
            kind: PropertyKind::Building,
            name: "crash test".into(),
            address: "1 Test St".into(),
            location: crate::fixture::HOME,
            time_zone: "America/New_York".into(),
        })
        .await?;
    let handheld = crate::lock::Handheld::generate();
    let driver = carrier
        .create_driver(&CreateDriver {
            name: "Dana".into(),
            handheld_public_key: Some(handheld.public_key_b64()),
            vetting: VettingStatus::Passed,
            vetted_at: None,
        })
        .await?;
    let dana = anon.with_token(driver.token);

    // The burst: units added (the ordinary writer) and access requests for
    // parcels that do not exist (refused and recorded on the access path's
    // group-committing writer), all at once.
    let (acked, mut acks) = tokio::sync::mpsc::unbounded_channel::<Acked>();
    let mut tasks = Vec::new();
    for worker in 0..8 {
        let (rosa, dana, acked) = (rosa.clone(), dana.clone(), acked.clone());
        let key = handheld.public_key_b64();
        tasks.push(tokio::spawn(async move {
            for i in 0..10_000 {
                let ack = if worker % 2 == 0 {
                    match rosa.create_unit(property.id, &format!("{worker}-{i}")).await {
                        Ok(unit) => Acked::Unit(unit.id),
                        Err(_) => return,
                    }
                } else {
                    let request = AccessRequest {
                        tracking_number: format!("NONE-{worker}-{i}"),
                        property_id: property.id,
                        handheld_public_key: key.clone(),
                        position: crate::fixture::AT_THE_DOOR,
                        drop_spot_id: None,
                    };
                    match dana.request_access(&request).await {
                        Err(doorman_client::ClientError::Api { body, .. }) => match body.error.request_id {
                            Some(id) => Acked::Request(id),
                            None => return,
                        },
                        _ => return,
                    }
                };
                if acked.send(ack).is_err() {
                    return;
                }
            }
        }));
    }
    drop(acked);
    let mut before = Vec::new();
    while before.len() < 1000 {
        before.push(acks.recv().await.context("the burst ended early")?);
    }
    served.kill()?;
    // Whatever was acknowledged before the kill is in; requests in flight
    // fail (and are not counted).
    for task in tasks {
        let _ = task.await;
    }
    while let Ok(ack) = acks.try_recv() {
        before.push(ack);
    }

    // Restarted on the same database and key file, the log resumes before
    // the service answers: its checkpoint covers every acknowledged entry.
    let again = Served::start(&database, data.path())?;
    let rosa = doorman_client::Client::new(&again.url).with_token(rosa_token);
    let key = VerifierKey::parse(doorman_client::Client::new(&again.url).log_key().await?.trim())?;
    let bundle = export(&rosa, None).await?;
    let report = doorman_audit::verify(&bundle, &[key], None, &[]);
    assert!(report.is_ok(), "{}", report.render());
    let logged = events(&bundle);
    let units: BTreeSet<String> = logged
        .values()
        .filter_map(|e| match &e.kind {
            EventKind::ConfigurationChanged { what } => Some(what.clone()),
            _ => None,
        })
        .collect();
    let requests: BTreeSet<AccessRequestId> = logged
        .values()
        .filter_map(|e| match e.kind {
            EventKind::AccessRequested { request_id } => Some(request_id),
            _ => None,
        })
        .collect();
    let (mut unit_acks, mut request_acks) = (0, 0);
    for ack in &before {
        match ack {
            Acked::Unit(id) => {
                unit_acks += 1;
                assert!(units.iter().any(|what| what.contains(&id.to_string())), "unit {id} was acknowledged");
            }
            Acked::Request(id) => {
                request_acks += 1;
                assert!(requests.contains(id), "access request {id} was acknowledged");
            }
        }
    }
    assert!(unit_acks > 0 && request_acks > 0, "{unit_acks} units, {request_acks} requests");
    println!(
        "acknowledged before the kill: {unit_acks} units and {request_acks} access requests, all in the \
         restarted log's checkpoint of size {}",
        Checkpoint::parse_text(Note::parse(bundle.checkpoint.as_bytes())?.text())?.size()
    );
    drop(again);
    drop(dir);
    Ok(())
}

#[derive(Debug)]
enum Acked {
    Unit(UnitId),
    Request(AccessRequestId),
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_killed_service_keeps_every_acknowledged_entry() -> anyhow::Result<()> {
    killed_mid_burst(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_killed_service_keeps_every_acknowledged_entry() -> anyhow::Result<()> {
    killed_mid_burst(Backend::Postgres).await
}

// --- the log defends itself (issue 17, item 4) ----------------------------------

/// Runs `doorman audit check` on the kit's database with its key file and
/// `data_dir`: whether it succeeded, and what it printed.
fn check_command(kit: &Kit, data_dir: &std::path::Path) -> anyhow::Result<(bool, String)> {
    let key_file = data_dir.join("keys.json");
    kit.keys.save(&key_file).map_err(|e| anyhow::anyhow!("{e}"))?;
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_doorman"))
        .args(["audit", "check", "--database", &kit.database_url])
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--key-file")
        .arg(&key_file)
        .env_remove("DOORMAN_CONFIG")
        .env_remove("DOORMAN_KEY_ENCRYPTION_KEY")
        .output()?;
    let printed = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    Ok((output.status.success(), printed))
}

/// The service started again on the same database and keys, as `doorman
/// serve` starts (the integrity check first), remembering the last signed
/// checkpoint in `memory` if given.
async fn restarted(kit: &Kit, memory: Option<&std::path::Path>) -> anyhow::Result<doorman_cli::app::Running> {
    let service = forger(kit).await?;
    if let Some(file) = memory {
        service.attach_log_memory(file.to_path_buf()).map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    doorman_cli::app::start_with(service, "127.0.0.1:0".parse()?, None).await
}

/// `/readyz` of a running service: ready (reads go on), and why its log is
/// halted, if it is.
async fn halted(running: &doorman_cli::app::Running) -> anyhow::Result<Option<String>> {
    let health = doorman_client::Client::new(running.url()).health().await?;
    assert_eq!(health.status, "ready");
    Ok(health.log_halted)
}

pub async fn log_rows_deleted_in_the_database_are_found(kit: &Kit) -> anyhow::Result<()> {
    let Story { b, granted, .. } = story(kit).await?;
    sequence(kit).await?;
    let data = crate::kit::TempDir::new("doorman-check")?;
    let jun = &b.jun.client;
    let kept = export(jun, None).await?.checkpoint;
    let (ok, printed) = check_command(kit, data.path())?;
    assert!(ok && printed.contains("log intact"), "{printed}");

    // The grant's row deleted behind the service's back.
    let (grant_idx, request_idx) = (granted.log_index, granted.log_index - 1);
    let db = Db::open(kit).await?;
    assert_eq!(db.execute(&format!("DELETE FROM log_entries WHERE idx = {grant_idx}")).await?, 1);
    b.rosa.create_unit(b.property.id, "9Z").await?;

    // The operator's check names it, and fails.
    let (ok, printed) = check_command(kit, data.path())?;
    assert!(!ok, "{printed}");
    assert!(printed.contains(&format!("PROBLEM at entry {grant_idx}: entry {grant_idx} is missing")), "{printed}");

    // The service started again finds it before it signs anything, says
    // so on /readyz, keeps serving reads and signs nothing.
    let before = kit.store().latest_checkpoint().await?.context("a checkpoint")?.size;
    let again = restarted(kit, None).await?;
    let why = halted(&again).await?.context("the log is halted")?;
    assert!(why.contains(&format!("entry {grant_idx} is missing")), "{why}");
    let refused = again.service.sequence_now().await.unwrap_err().to_string();
    assert!(refused.contains("halted"), "{refused}");
    assert_eq!(kit.store().latest_checkpoint().await?.map(|c| c.size), Some(before));
    let served = doorman_client::Client::new(again.url()).log_checkpoint().await?;
    assert_eq!(Checkpoint::parse_text(Note::parse(served.as_bytes())?.text())?.size(), before);
    again.stop().await?;

    // A reader's fresh export: the access request has no outcome.
    let bundle = export(jun, Some(&kept)).await?;
    let report = verify(kit, &bundle, Some(&kept));
    assert!(report.has("request_without_outcome"), "{}", report.render());
    assert!(
        report.problems.iter().any(|p| p.message.starts_with(&format!("entry {request_idx}: access request"))),
        "{}",
        report.render()
    );
    let (ok, printed) = verify_command(kit, &bundle, Some(&kept))?;
    assert!(!ok && printed.contains("PROBLEM [request_without_outcome]"), "{printed}");
    Ok(())
}

pub async fn log_rollback_is_refused_not_forked(kit: &Kit) -> anyhow::Result<()> {
    let data = crate::kit::TempDir::new("doorman-rollback")?;
    let memory = data.path().join(doorman_server::log_guard::LOG_CHECKPOINT_FILE);
    kit.running.service.attach_log_memory(memory.clone()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let b = Building::seed(kit).await?;
    let kept_size = sequence(kit).await?;
    for name in ["1A", "1B", "1C"] {
        b.rosa.create_unit(b.property.id, name).await?;
    }
    let signed = sequence(kit).await?;
    assert!(signed > kept_size);
    // The last signed checkpoint is kept outside the database.
    let remembered = doorman_server::log_guard::Remembered::load(&memory).map_err(|e| anyhow::anyhow!("{e}"))?;
    assert_eq!(remembered.map(|r| r.size), Some(signed));

    // The newest entries rolled back in the database, completely: entries,
    // counter, tree, hashes, checkpoints; then new changes appended.
    let db = Db::open(kit).await?;
    let hashes = doorman_tlog::stored_hash_count(kept_size);
    for sql in [
        format!("DELETE FROM log_cosignatures WHERE size > {kept_size}"),
        format!("DELETE FROM log_checkpoints WHERE size > {kept_size}"),
        format!("DELETE FROM log_entries WHERE idx >= {kept_size}"),
        format!("DELETE FROM log_hashes WHERE idx >= {hashes}"),
        format!("UPDATE log_tree SET size = {kept_size}"),
        format!("UPDATE log_counter SET next_index = {kept_size}"),
    ] {
        db.execute(&sql).await?;
    }
    for name in ["2A", "2B", "2C", "2D"] {
        b.rosa.create_unit(b.property.id, name).await?;
    }

    // The sequencer refuses to sign the new tree, and stays halted.
    let refused = sequence(kit).await.unwrap_err().to_string();
    assert!(refused.contains("rolled back") && refused.contains(&format!("size {signed}")), "{refused}");
    assert!(halted(&kit.running).await?.is_some_and(|why| why.contains("rolled back")));
    assert!(sequence(kit).await.is_err());
    assert_eq!(kit.store().latest_checkpoint().await?.map(|c| c.size), Some(kept_size));
    // Reads go on: the checkpoint it can still stand behind.
    let served = kit.anon.log_checkpoint().await?;
    assert_eq!(Checkpoint::parse_text(Note::parse(served.as_bytes())?.text())?.size(), kept_size);

    // Started again, it remembers what it signed.
    let again = restarted(kit, Some(&memory)).await?;
    let why = halted(&again).await?.context("the log is halted after a restart")?;
    assert!(why.contains(&format!("signed a checkpoint of size {signed}")), "{why}");
    assert!(again.service.sequence_now().await.is_err());
    again.stop().await?;
    assert_eq!(kit.store().latest_checkpoint().await?.map(|c| c.size), Some(kept_size));

    // The operator's check says so, naming the first entry rolled back.
    let (ok, printed) = check_command(kit, data.path())?;
    assert!(!ok && printed.contains(&format!("PROBLEM at entry {kept_size}: the log was rolled back")), "{printed}");
    Ok(())
}

pub async fn tiles_and_checkpoint_carry_cache_headers(kit: &Kit) -> anyhow::Result<()> {
    let events: Vec<Event> = (0..300)
        .map(|i| {
            new_event(
                EventKind::ConfigurationChanged { what: format!("change {i}") },
                kit.now(),
                Scope::default(),
                None,
            )
            .map_err(|e| anyhow::anyhow!("{e}"))
        })
        .collect::<anyhow::Result<_>>()?;
    kit.store().append_events(&events).await?;
    let size = sequence(kit).await?;
    assert!(size >= 300);
    let http = reqwest::Client::new();
    let base = kit.running.url();
    let cache_control = |response: &reqwest::Response| {
        response.headers().get(reqwest::header::CACHE_CONTROL).and_then(|v| v.to_str().ok()).map(String::from)
    };
    let checkpoint = http.get(format!("{base}/log/checkpoint")).send().await?;
    assert_eq!(checkpoint.status(), StatusCode::OK);
    assert_eq!(cache_control(&checkpoint).as_deref(), Some("no-cache"));
    // The first 256 leaves make a full tile: it never changes.
    let full = http.get(format!("{base}/log/tile/0/000")).send().await?;
    assert_eq!(full.status(), StatusCode::OK);
    assert_eq!(cache_control(&full).as_deref(), Some("public, max-age=31536000, immutable"));
    assert_eq!(full.bytes().await?.len(), 256 * 32);
    // The rest, a partial tile, is replaced as the tree grows.
    let width = size - 256;
    let partial = http.get(format!("{base}/log/tile/0/001.p/{width}")).send().await?;
    assert_eq!(partial.status(), StatusCode::OK);
    assert_eq!(cache_control(&partial).as_deref(), Some("public, max-age=10"));
    let level_one = http.get(format!("{base}/log/tile/1/000.p/1")).send().await?;
    assert_eq!(level_one.status(), StatusCode::OK);
    assert_eq!(cache_control(&level_one).as_deref(), Some("public, max-age=10"));
    // A tile that does not exist is not cached as one.
    let missing = http.get(format!("{base}/log/tile/0/999")).send().await?;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(cache_control(&missing), None);
    Ok(())
}
