//! `doorman audit export` and `doorman audit verify`: a resident's or a
//! landlord's own check of the transparency log.
//!
//! `export` asks the service (as the caller, so only for the entries the
//! caller may see) for its entries with their inclusion proofs, the
//! checkpoint they lead to, the device keys of the locks whose events are
//! among them and, given a checkpoint the caller kept from before, a
//! consistency proof from it, and writes all of it to one JSON bundle.
//!
//! `verify` reads a bundle file, the log's and the witnesses' keys and the
//! checkpoint kept from before, and prints what `doorman_audit::verify`
//! reports: the bundle format and every check are in the doorman-audit
//! crate, which the dashboard and anyone's program use as well.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use doorman_api::{AuditEntriesQuery, LockDeviceKey};
use doorman_audit::{checkpoint_size, Bundle};
use doorman_client::Client;
use doorman_domain::LockId;
use doorman_tlog::VerifierKey;

/// Fetches the caller's bundle from the service `client` talks to.
pub async fn export(client: &Client, since_checkpoint: Option<String>) -> anyhow::Result<Bundle> {
    let first = client.audit_entries(&AuditEntriesQuery::default()).await.context("listing the log's entries")?;
    let size = first.size;
    let checkpoint = first.checkpoint.clone();
    let mut entries = first.entries;
    let mut locks: BTreeMap<LockId, LockDeviceKey> = first.locks.into_iter().map(|l| (l.lock_id, l)).collect();
    let mut next = first.next_after;
    while let Some(after) = next {
        let page = client
            .audit_entries(&AuditEntriesQuery { after: Some(after), size: Some(size), limit: None })
            .await
            .context("listing the log's entries")?;
        entries.extend(page.entries);
        locks.extend(page.locks.into_iter().map(|l| (l.lock_id, l)));
        next = page.next_after;
    }
    let consistency = match &since_checkpoint {
        Some(old) => {
            let old_size = checkpoint_size(old).context("reading the older checkpoint")?;
            Some(client.audit_consistency(old_size, Some(size)).await.context("asking for a consistency proof")?)
        }
        None => None,
    };
    Ok(Bundle::new(checkpoint, entries, locks.into_values().collect(), since_checkpoint, consistency))
}

/// `doorman audit export`.
pub async fn run_export(url: &str, token: &str, out: &Path, since: Option<&Path>) -> anyhow::Result<()> {
    let since = match since {
        Some(path) => Some(std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?),
        None => None,
    };
    let bundle = export(&Client::new(url).with_token(token), since).await?;
    let json = bundle.to_json_pretty()?;
    std::fs::write(out, json).with_context(|| format!("writing {}", out.display()))?;
    let size = checkpoint_size(&bundle.checkpoint).unwrap_or_default();
    println!("wrote {} entries against the checkpoint of size {size} to {}", bundle.entries.len(), out.display());
    println!("keep the checkpoint for next time: it is the \"checkpoint\" field of the bundle");
    Ok(())
}

/// `doorman audit verify`: prints the report; Err (non-zero exit) if any
/// problem was found.
pub fn run_verify(
    bundle_path: &Path,
    log_keys: &[String],
    previous: Option<&Path>,
    witness_keys: &[String],
) -> anyhow::Result<()> {
    let text = std::fs::read(bundle_path).with_context(|| format!("reading {}", bundle_path.display()))?;
    let bundle =
        Bundle::from_json(&text).with_context(|| format!("{} is not an audit bundle", bundle_path.display()))?;
    let parse = |keys: &[String], what: &str| -> anyhow::Result<Vec<VerifierKey>> {
        keys.iter().map(|k| VerifierKey::parse(k.trim()).with_context(|| format!("{what} {k:?}"))).collect()
    };
    let log_keys = parse(log_keys, "log key")?;
    let witness_keys = parse(witness_keys, "witness key")?;
    let previous = match previous {
        Some(path) => Some(std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?),
        None => None,
    };
    let report = doorman_audit::verify(&bundle, &log_keys, previous.as_deref(), &witness_keys);
    print!("{}", report.render());
    anyhow::ensure!(report.is_ok(), "the audit found {} problem(s)", report.problems.len());
    Ok(())
}

/// `doorman audit check`: the operator's full integrity check of the stored
/// log, offline on the service's database and data folder (the service may
/// be running): every entry from 0 with no hole, hashed again into the tree
/// and compared with the stored hashes, every stored checkpoint signed by
/// the log's key and equal to the rebuilt tree at its size, and the last
/// checkpoint the service remembers (`DATA_DIR/log-checkpoint.txt`)
/// extended. Prints what was checked, or the problem and the first bad
/// entry index; fails on a problem.
pub async fn run_check(config: &crate::config::Config, out: &mut impl std::io::Write) -> anyhow::Result<()> {
    use doorman_server::log_guard::{CheckFailure, Remembered, LOG_CHECKPOINT_FILE};
    let store = doorman_store::open(&config.database).await.context("opening the database")?;
    let custody = doorman_server::KeyCustody::new(config.key_file.clone(), config.key_encryption.clone());
    let (keys, _) = custody.load().map_err(|e| anyhow::anyhow!("{e}")).context("reading the key file")?;
    let ring = keys.ring().map_err(|e| anyhow::anyhow!("{e}"))?;
    let signer = doorman_server::audit::LogSigner::with_signer(&config.service.log_origin, ring.log);
    let remembered_file = config.data_dir.join(LOG_CHECKPOINT_FILE);
    let remembered = Remembered::load(&remembered_file).map_err(|e| anyhow::anyhow!("{e}"))?;
    let now = doorman_domain::Clock::now(&crate::SystemClock);
    let log = doorman_server::audit::AuditLog { store: store.as_ref(), signer: &signer, now };
    match log.check_integrity(remembered.as_ref()).await {
        Ok(summary) => {
            writeln!(
                out,
                "log intact: {} entries rebuilt into the signed tree, {} checkpoints checked, {} entries appended \
                 with no hole",
                summary.size, summary.checkpoints, summary.appended
            )?;
            match summary.remembered {
                Some(size) => writeln!(out, "it extends the last checkpoint the service signed (size {size})")?,
                None => writeln!(out, "no remembered checkpoint in {}", remembered_file.display())?,
            }
            Ok(())
        }
        Err(CheckFailure::Problem(problem)) => {
            match problem.index {
                Some(index) => writeln!(out, "PROBLEM at entry {index}: {}", problem.message)?,
                None => writeln!(out, "PROBLEM: {}", problem.message)?,
            }
            anyhow::bail!("the transparency log failed its integrity check")
        }
        Err(CheckFailure::Service(e)) => Err(anyhow::anyhow!("{e}")).context("reading the log"),
    }
}
