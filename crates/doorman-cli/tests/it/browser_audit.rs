//! The audit page's own check, in headless Chromium: the page verifies the
//! resident's real bundle with WebCrypto (the log key's Ed25519 signature on
//! the checkpoint, each entry's RFC 6962 inclusion proof, consistency with
//! the checkpoint the browser kept), and reports the attacks as failures: a
//! log key other than the pinned one, an entry altered in the database, a
//! history rewritten and re-signed (a fork of the kept checkpoint). The
//! bundle the page offers for download is the one `doorman audit verify`
//! accepts.

use doorman_api::*;
use doorman_server::audit::LogSigner;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::fixture::Building;
use crate::kit::{Backend, Kit};
use crate::webdriver::{browser_programs, Browser};

async fn execute(kit: &Kit, sql: &str, bytes: Option<(&[u8], i64)>) -> anyhow::Result<u64> {
    Ok(match kit.backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&kit.database_url).await?;
            let q = sqlx::query(sql);
            let q = match bytes {
                Some((b, i)) => q.bind(b).bind(i),
                None => q,
            };
            q.execute(&pool).await?.rows_affected()
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&kit.database_url).await?;
            let q = sqlx::query(sql);
            let q = match bytes {
                Some((b, i)) => q.bind(b).bind(i),
                None => q,
            };
            q.execute(&pool).await?.rows_affected()
        }
    })
}

pub(crate) async fn set_entry(kit: &Kit, idx: u64, entry: &[u8]) -> anyhow::Result<()> {
    let n = execute(kit, "UPDATE log_entries SET entry = $1 WHERE idx = $2", Some((entry, idx as i64))).await?;
    anyhow::ensure!(n == 1, "no entry {idx}");
    Ok(())
}

/// Opens the audit page and waits for the browser's verdict; returns it and
/// the findings' text.
pub(crate) async fn check(browser: &Browser, base: &str, expect: &str) -> anyhow::Result<String> {
    browser.goto(&format!("{base}/app/audit")).await?;
    if let Err(e) = browser.find(&format!("#browser-check[data-result={expect}]")).await {
        let shown = browser.text_of("#browser-check").await.unwrap_or_default();
        anyhow::bail!("the browser's check is not {expect:?} ({e}); the page shows:\n{shown}");
    }
    browser.text_of("#browser-findings").await
}

pub async fn audit_page_verifies_the_log_in_the_browser(kit: &Kit) -> anyhow::Result<()> {
    let test = format!("audit_page_verifies_the_log_in_the_browser_{}", kit.backend_name());
    let Some((chromium, chromedriver)) = browser_programs(&test) else { return Ok(()) };
    let b = Building::seed(kit).await?;
    let service = kit.running.service.clone();
    let base = kit.running.url();
    let invitation = b
        .rosa
        .invite_resident(b.unit_2b.id, &CreateInvitation { name: "Lee Park".into(), email: "lee@example.com".into() })
        .await?;
    let lee = kit.anon.redeem_invitation(&invitation.code).await?;
    b.parcel(kit, "PCL-8001", b.unit_2b.id).await?;
    let granted = b.expect_granted(b.dana.client.request_access(&b.ask("PCL-8001")).await).await?;
    service.sequence_now().await?;

    let mut browser = Browser::start(&chromium, &chromedriver, &test).await?;
    browser.goto(&format!("{base}/app/sign-in")).await?;
    browser.find("#token").await?.type_text(&lee.token).await?;
    browser.find("#sign-in").await?.click().await?;
    browser.find("a[href='/app/audit']").await?;

    // First visit: the page verifies the signature and every entry itself,
    // shows the key's fingerprint, unpinned, and keeps the checkpoint.
    let findings = check(&browser, &base, "ok").await?;
    assert!(findings.contains("signed by the log's key"), "{findings}");
    assert!(findings.contains("are proven to be in the signed checkpoint"), "{findings}");
    assert!(findings.contains("First check in this browser"), "{findings}");
    let row = format!("#audit td[data-browser='{}']", granted.log_index);
    assert_eq!(browser.text_of(&row).await?, "✓ proven here");
    let vkey = service.log_key()?;
    let key = doorman_tlog::VerifierKey::parse(&vkey)?;
    // The first 16 bytes of SHA-256(public key), in groups of two bytes.
    let digest = Sha256::digest(key.public_key());
    let groups: Vec<String> = digest[..16].chunks(2).map(|g| g.iter().map(|b| format!("{b:02x}")).collect()).collect();
    let fingerprint = groups;
    assert_eq!(browser.text_of("#key-fingerprint").await?, fingerprint.join(" "));
    browser.find("#key-status[data-pin=unpinned]").await?;
    browser.screenshot("verified-first-visit").await?;
    browser.find("#pin-key").await?.click().await?;
    browser.find("#key-status[data-pin=pinned]").await?;
    let pinned = browser.execute("return localStorage.getItem('doorman.audit.pinned-key');").await?;
    assert_eq!(pinned, json!(vkey));

    // The download is the bundle the page checked, and `doorman audit
    // verify`'s library accepts it.
    let text = browser
        .execute(
            "return fetch(document.getElementById('download-bundle').href).then(function (r) { return r.text(); });",
        )
        .await?;
    let bundle = doorman_audit::Bundle::from_json(text.as_str().unwrap_or_default().as_bytes())?;
    assert!(bundle.entries.iter().any(|e| e.index == granted.log_index));
    let report = doorman_audit::verify(&bundle, std::slice::from_ref(&key), None, &[]);
    assert!(report.is_ok(), "{:?}", report.problems);

    // The log grows: the next visit checks the consistency proof from the
    // kept checkpoint to the new one.
    b.parcel(kit, "PCL-8002", b.unit_2b.id).await?;
    b.expect_granted(b.dana.client.request_access(&b.ask("PCL-8002")).await).await?;
    service.sequence_now().await?;
    let findings = check(&browser, &base, "ok").await?;
    assert!(findings.contains("The log extends the checkpoint of"), "{findings}");
    browser.find("#key-status[data-pin=pinned]").await?;

    // A key other than the pinned one is not trusted.
    let other = LogSigner::new(service.log_origin(), [7; 32]).verifier_key()?.to_vkey();
    browser.execute_with("localStorage.setItem('doorman.audit.pinned-key', arguments[0]);", json!([other])).await?;
    let findings = check(&browser, &base, "failed").await?;
    assert!(findings.contains("differs from the one you pinned"), "{findings}");
    browser.find("#key-status[data-pin=mismatch]").await?;
    browser.execute_with("localStorage.setItem('doorman.audit.pinned-key', arguments[0]);", json!([vkey])).await?;
    check(&browser, &base, "ok").await?;

    // An entry altered in the database: the browser finds it is not in the
    // signed log, names it, and marks its row.
    let stored = kit
        .store()
        .log_entries(
            &doorman_store::EntryFilter { everything: true, ..Default::default() },
            granted.log_index..granted.log_index + 1,
            1,
        )
        .await?;
    let original = stored[0].bytes.clone();
    let mut forged = doorman_domain::Event::from_bytes(&original)?;
    forged.at += 3600;
    set_entry(kit, granted.log_index, &forged.to_canonical_bytes()).await?;
    let findings = check(&browser, &base, "failed").await?;
    assert!(findings.contains(&format!("#{}", granted.log_index)), "{findings}");
    assert_eq!(browser.text_of(&row).await?, "✗ failed");
    assert_eq!(
        browser.text_of(&format!("#audit td[data-browser='{}']", granted.log_index - 1)).await?,
        "✓ proven here"
    );
    browser.find(&row).await?.show().await?;
    browser.screenshot("tampered-entry").await?;

    // History rewritten and signed again (the operator holds the log key):
    // every proof holds against the new checkpoint, but it forks from the
    // one this browser kept.
    for sql in [
        "DELETE FROM log_cosignatures",
        "DELETE FROM log_checkpoints",
        "DELETE FROM log_hashes",
        "UPDATE log_tree SET size = 0",
    ] {
        execute(kit, sql, None).await?;
    }
    // The service refuses to sign it (log_rollback_is_refused_not_forked);
    // an insider with the key does.
    assert!(service.sequence_now().await.is_err());
    crate::audit::forger(kit).await?.sequence_now().await?;
    let findings = check(&browser, &base, "failed").await?;
    assert!(findings.contains("are proven to be in the signed checkpoint"), "{findings}");
    assert!(findings.contains("(a fork)"), "{findings}");
    assert_eq!(browser.text_of(&row).await?, "✓ proven here");
    browser.screenshot("forked-log").await?;
    // A failed check keeps the old checkpoint: the fork is reported again.
    check(&browser, &base, "failed").await?;

    // A kept checkpoint that is not one is refused with the API's error.
    let answer = browser
        .execute(
            "return fetch('/app/audit/bundle?since=' + encodeURIComponent('not a note'))
               .then(function (r) { return r.json().then(function (body) { return [r.status, body]; }); });",
        )
        .await?;
    assert_eq!(answer[0], json!(422), "{answer}");
    assert_eq!(answer[1]["error"]["code"], json!("invalid_request"), "{answer}");

    proofs_agree_with_rust(&browser).await?;
    browser.quit().await?;
    Ok(())
}

/// The page's RFC 9162 algorithms against doorman-tlog's proofs: every
/// inclusion proof and every consistency proof in trees of 1 to 33 entries
/// holds, and each fails against a root with one bit changed, at another
/// index, or with a hash missing.
async fn proofs_agree_with_rust(browser: &Browser) -> anyhow::Result<()> {
    use base64::Engine as _;
    use doorman_tlog::{prove_consistency, prove_inclusion, Hash, MemoryTree};
    let b64 = |h: &Hash| base64::engine::general_purpose::STANDARD.encode(h.as_bytes());
    let flipped = |h: &Hash| {
        let mut bytes = *h.as_bytes();
        bytes[7] ^= 0x10;
        base64::engine::general_purpose::STANDARD.encode(bytes)
    };
    let mut tree = MemoryTree::new();
    let mut entries = Vec::new();
    let mut inclusion = Vec::new();
    let mut consistency = Vec::new();
    for n in 1..=33u64 {
        let entry = format!("entry {n}").into_bytes();
        tree.append(&entry)?;
        entries.push(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&entry));
        let root = tree.root_at(n)?;
        for i in 0..n {
            let path: Vec<String> = prove_inclusion(&tree, i, n)?.path.iter().map(b64).collect();
            let entry = &entries[i as usize];
            inclusion
                .push(json!({"index": i, "size": n, "entry": entry, "path": path, "root": b64(&root), "ok": true}));
            inclusion.push(
                json!({"index": i, "size": n, "entry": entry, "path": path, "root": flipped(&root), "ok": false}),
            );
            if n > 1 {
                let other = (i + 1) % n;
                inclusion.push(
                    json!({"index": other, "size": n, "entry": entry, "path": path, "root": b64(&root), "ok": false}),
                );
            }
            if let Some((_, shorter)) = path.split_last() {
                inclusion.push(
                    json!({"index": i, "size": n, "entry": entry, "path": shorter, "root": b64(&root), "ok": false}),
                );
            }
        }
        for m in 1..=n {
            let old = tree.root_at(m)?;
            let path: Vec<String> = prove_consistency(&tree, m, n)?.path.iter().map(b64).collect();
            consistency.push(
                json!({"old": m, "new": n, "old_root": b64(&old), "new_root": b64(&root), "path": path, "ok": true}),
            );
            consistency.push(json!({"old": m, "new": n, "old_root": flipped(&old), "new_root": b64(&root), "path": path, "ok": false}));
            consistency.push(json!({"old": m, "new": n, "old_root": b64(&old), "new_root": flipped(&root), "path": path, "ok": false}));
            if let Some((_, shorter)) = path.split_last() {
                consistency.push(json!({"old": m, "new": n, "old_root": b64(&old), "new_root": b64(&root), "path": shorter, "ok": false}));
            }
        }
    }
    let script = r#"
        var P = window.doormanLogProofs, inclusion = arguments[0], consistency = arguments[1];
        return (async function () {
          var wrong = [];
          for (var t of inclusion) {
            var got = await P.inclusionHolds(BigInt(t.index), BigInt(t.size), await P.leafHash(P.b64(t.entry)),
                                             t.path.map(P.b64), P.b64(t.root));
            if (got !== t.ok) wrong.push(JSON.stringify(t));
          }
          for (var c of consistency) {
            var got2 = await P.consistencyHolds(BigInt(c.old), BigInt(c.new), P.b64(c.old_root), P.b64(c.new_root),
                                                c.path.map(P.b64));
            if (got2 !== c.ok) wrong.push(JSON.stringify(c));
          }
          return { checked: inclusion.length + consistency.length, wrong: wrong.slice(0, 5) };
        })();"#;
    let total = inclusion.len() + consistency.len();
    let result = browser.execute_with(script, json!([inclusion, consistency])).await?;
    assert_eq!(result["checked"], json!(total), "{result}");
    assert_eq!(result["wrong"], json!([]), "the page disagrees with doorman-tlog: {result}");
    Ok(())
}
