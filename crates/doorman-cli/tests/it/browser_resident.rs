//! A new resident's walk through the dashboard in headless Chromium, at a
//! 390 px phone and a 1280 px desktop: joining with an invitation and a
//! passkey (WebDriver's virtual authenticator; signed out and back in with it), the
//! tenant notice, a real delivery through two fleet locks whose timeline
//! names the carrier, the driver, the doors and the drop spot, the entry's
//! camera clip watched, a block until tomorrow, a guest pass whose
//! credential the running lock accepts, a remote unlock the lock carries
//! out, a return scheduled, and the audit log verified by the browser
//! itself; then one stored log entry is altered in the database and the
//! browser's own check reports it.
//!
//! Every page on the way is checked for what a phone needs: no sideways
//! scrolling, every control labelled, every tap target at least 24 px
//! high; and photographed under `target/screenshots/<test>/`.

use anyhow::Context;
use doorman_api::*;
use doorman_domain::{serde_b64, Event, EventKind};
use doorman_store::EntryFilter;
use serde_json::json;

use crate::browser_audit::{check, set_entry};
use crate::browser_passkeys::arrives_at;
use crate::doors::clips_in_a_folder;
use crate::fleet::{self, Broker, FleetEnv, ENTRANCE, ROOM, WAIT};
use crate::kit::Kit;
use crate::webdriver::{browser_programs, Browser};

/// The inputs, selects, text areas, buttons and videos with no accessible
/// name: no `aria-label`, `aria-labelledby`, `<label for>` or wrapping
/// label, and (a button) no text.
const UNLABELLED: &str = r#"
    var bad = [];
    document.querySelectorAll('input, select, textarea, button, video').forEach(function (e) {
      if (e.type === 'hidden') return;
      var named = (e.getAttribute('aria-label') || '').trim() || e.getAttribute('aria-labelledby')
        || (e.id && document.querySelector('label[for="' + e.id + '"]')) || e.closest('label')
        || (e.tagName === 'BUTTON' && e.textContent.trim());
      if (!named) bad.push(e.outerHTML.slice(0, 160));
    });
    return bad;"#;

/// The rendered buttons, links, inputs and selects less than 24 px high.
const SMALL_TARGETS: &str = r#"
    var small = [];
    document.querySelectorAll('button, a, input, select').forEach(function (e) {
      if (e.type === 'hidden') return;
      var r = e.getBoundingClientRect();
      if (r.width === 0 && r.height === 0) return;
      if (r.height < 24) small.push(Math.round(r.height * 10) / 10 + ' px: ' + e.outerHTML.slice(0, 120));
    });
    return small;"#;

/// What every page must be on a phone and a desktop; then its screenshot.
async fn looks_right(browser: &mut Browser, step: &str) -> anyhow::Result<()> {
    browser.assert_no_sideways_scroll(step).await?;
    let unlabelled = browser.execute(UNLABELLED).await?;
    anyhow::ensure!(unlabelled == json!([]), "{step}: controls without a label: {unlabelled}");
    let small = browser.execute(SMALL_TARGETS).await?;
    anyhow::ensure!(small == json!([]), "{step}: tap targets under 24 px high: {small}");
    browser.screenshot(step).await?;
    Ok(())
}

/// Sets a date or time input as a person picking it would (typing into
/// them depends on the browser's locale).
async fn set_value(browser: &Browser, id: &str, value: &str) -> anyhow::Result<()> {
    browser.find(&format!("#{id}")).await?;
    let script = "var e = document.getElementById(arguments[0]); e.value = arguments[1];
                  e.dispatchEvent(new Event('change', {bubbles: true})); return e.value;";
    let set = browser.execute_with(script, json!([id, value])).await?;
    anyhow::ensure!(set == json!(value), "#{id} did not take {value:?}: {set}");
    Ok(())
}

/// `YYYY-MM-DD` and `HH:MM` in `tz`, `offset` seconds from now.
fn local(kit: &Kit, tz: &str, offset: i64) -> anyhow::Result<(String, String)> {
    let at = jiff::Timestamp::from_second(kit.now() + offset)?.to_zoned(jiff::tz::TimeZone::get(tz)?);
    Ok((at.strftime("%Y-%m-%d").to_string(), at.strftime("%H:%M").to_string()))
}

fn wire(id: LockId) -> doorman_protocol::LockId {
    doorman_protocol::LockId(*id.as_uuid().as_bytes())
}

/// Every event of the log with its index.
async fn whole_log(kit: &Kit) -> anyhow::Result<Vec<(u64, Vec<u8>, Event)>> {
    let all = EntryFilter { everything: true, ..Default::default() };
    let entries = kit.store().log_entries(&all, 0..u64::MAX >> 2, 100_000).await?;
    Ok(entries.into_iter().filter_map(|e| Event::from_bytes(&e.bytes).ok().map(|ev| (e.index, e.bytes, ev))).collect())
}

pub async fn browser_resident_walkthrough_on_a_phone(kit: &Kit) -> anyhow::Result<()> {
    walkthrough(kit, 390, 844).await
}

pub async fn browser_resident_walkthrough_on_a_desktop(kit: &Kit) -> anyhow::Result<()> {
    walkthrough(kit, 1280, 900).await
}

async fn walkthrough(kit: &Kit, width: u32, height: u32) -> anyhow::Result<()> {
    let test = format!("browser_resident_walkthrough_{width}_{}", kit.backend_name());
    let Some((chromium, chromedriver)) = browser_programs(&test) else { return Ok(()) };
    // The fleet building, with 2B's own door (a guest's way in), its street
    // door and package room locks running; camera clips kept in a folder.
    let spec = fleet::site(fleet::with_unit_2b_door(fleet::building()));
    let Some(env) = FleetEnv::start_with(kit, Broker::Embedded, &spec).await? else { return Ok(()) };
    let _clips = clips_in_a_folder(kit)?;
    let service = kit.running.service.clone();
    // WebAuthn wants a host name: the service is its own http://localhost:PORT.
    let base = format!("http://localhost:{}", kit.running.addr.port());
    let tz = env.property.time_zone.clone();
    let mut browser = Browser::start_sized(&chromium, &chromedriver, &test, width, height).await?;
    // Lee's phone: WebDriver's virtual authenticator, user verification on.
    browser.add_virtual_authenticator().await?;

    // 1. Rosa invites Lee to 2B; Lee joins with the code in the browser.
    let invitation = env
        .rosa
        .invite_resident(env.unit_2b.id, &CreateInvitation { name: "Lee Park".into(), email: "lee@example.com".into() })
        .await?;
    browser.goto(&format!("{base}/app/")).await?;
    browser.find("#code").await?.type_text(&invitation.code).await?;
    looks_right(&mut browser, "sign-in").await?;
    browser.submit("#redeem").await?;
    let token = browser.text_of("#new-token").await?;
    assert!(token.starts_with("dm_"), "the welcome page shows the new token: {token:?}");
    looks_right(&mut browser, "welcome").await?;
    // Lee creates a passkey on the welcome page, signs out, and signs back
    // in with it: nothing typed.
    browser.execute("document.getElementById('passkey-name').value = 'Lee\\u2019s phone';").await?;
    browser.find("#create-passkey").await?.click().await?;
    arrives_at(&browser, "/app/account").await?;
    looks_right(&mut browser, "passkey-created").await?;
    browser.submit(".signout button").await?;
    arrives_at(&browser, "/app/sign-in").await?;
    browser.find("#passkey-sign-in").await?.click().await?;
    arrives_at(&browser, "/app/resident").await?;
    looks_right(&mut browser, "signed-in-with-the-passkey").await?;

    // 2. The home page shows the manager's tenant notice, and names the
    // building's time zone once.
    let notice = browser.text_of("#tenant-notice").await?;
    assert!(notice.contains("Couriers may enter the package room."), "{notice}");
    assert_eq!(browser.text_of("#time-zone").await?, format!("times are {tz} time"));
    looks_right(&mut browser, "home-with-tenant-notice").await?;

    // 3. A real delivery: Parcelo announces it, Dana asks for access at the
    // street door, walks through both locks and confirms the drop; the
    // locks upload their signed events, and the camera's clip.
    let granted = env.parcel(kit, 0).await?;
    env.deliver(0, &granted).await?;
    env.synced(kit, ENTRANCE).await?;
    env.synced(kit, ROOM).await?;
    let recorded = env.sim(ENTRANCE).take_clips()?;
    let clip = recorded.first().context("the street door's camera recorded the entry")?;
    let uploaded = kit.anon.upload_clip(env.lock_id(ENTRANCE), clip.counter, "video/mp4", clip.bytes.clone()).await?;
    service.sequence_now().await?;
    browser.goto(&format!("{base}/app/resident")).await?;
    let card = format!("#delivery-{}", granted.delivery_id);
    browser.find(&format!("{card}[data-state=delivered]")).await?.show().await?;
    let timeline = browser.text_of(&card).await?;
    for expected in [
        "Dana (Parcelo) is at the door and asked to enter",
        "Access granted to Dana (Parcelo) through the street door and package room to package room shelves",
        "The street door unlocked for Dana (Parcelo)",
        "The package room opened for Dana (Parcelo)",
        "The street door locked again",
        "Left at package room shelves by Dana (Parcelo)",
        "Camera clip of the entry at the street door",
        "✓ verified",
    ] {
        assert!(timeline.contains(expected), "the timeline lacks {expected:?}:\n{timeline}");
    }
    assert!(!timeline.contains("Lock reported event"), "raw lock events are folded away:\n{timeline}");
    browser.find("#show-raw").await?;
    looks_right(&mut browser, "delivery-timeline").await?;
    // Asked for, the raw events are there (the building's, among the other
    // activity), named by their door.
    browser.goto(&format!("{base}/app/resident?raw=1")).await?;
    let raw = browser.text_of("#activity").await?;
    assert!(raw.contains("Lock reported event #") && raw.contains("at the street door"), "{raw}");
    browser.find("#fold-raw").await?;
    browser.goto(&format!("{base}/app/resident")).await?;

    // 4. The clip, inline: the browser fetches it and finds the hash the
    // lock signed and the log holds.
    let clip_step = format!("{card} li[data-kind=clip_ready]");
    let player = format!("{clip_step} .clip video");
    browser.find(&player).await?.show().await?;
    let fetched = browser
        .execute_with(
            "var a = document.querySelector(arguments[0]);
             return fetch(a.href, {credentials: 'same-origin'}).then(function (r) {
               return r.arrayBuffer().then(function (b) { return crypto.subtle.digest('SHA-256', b); })
                 .then(function (d) {
                   var hex = Array.from(new Uint8Array(d)).map(function (x) { return x.toString(16).padStart(2, '0'); });
                   return [r.status, r.headers.get('content-type'), hex.join('')];
                 });
             });",
            json!([format!("{clip_step} a.clip-link")]),
        )
        .await?;
    assert_eq!(fetched, json!([200, "video/mp4", uploaded.sha256]), "the clip the page links is the one logged");
    let src = browser.execute_with("return document.querySelector(arguments[0]).src;", json!([player])).await?;
    assert_eq!(src, json!(format!("{base}/app/clips/{}", uploaded.clip_id)));
    looks_right(&mut browser, "clip").await?;

    // 5. Block until tomorrow: from 00:00 tomorrow, the building's time.
    let (tomorrow, _) = local(kit, &tz, 24 * 3600)?;
    set_value(&browser, "until", &tomorrow).await?;
    browser.find("#reason").await?.type_text("away tonight").await?;
    browser.submit("#block").await?;
    let banner = browser.text_of("#blocked-banner").await?;
    let midnight = tomorrow.parse::<jiff::civil::Date>()?.to_zoned(jiff::tz::TimeZone::get(&tz)?)?.timestamp();
    let block = kit.store().active_block(env.unit_2b.id, kit.now()).await?.context("the block is stored")?;
    assert_eq!(block.until, Some(midnight.as_second()), "until 00:00 {tz} on {tomorrow}");
    let shown = midnight.to_zoned(jiff::tz::TimeZone::get(&tz)?).strftime("%a %d %b %H:%M").to_string();
    assert_eq!(banner, format!("Deliveries are blocked until {shown}."));
    browser.find("#unblock").await?;
    looks_right(&mut browser, "blocked-until-tomorrow").await?;

    // 6. A guest pass: made in the form, its credential shown once; the
    // street door's running lock lets the guest's phone in with it.
    browser.goto(&format!("{base}/app/resident/guests")).await?;
    let guest_phone = doorman_devices::Handheld::from_secret(&[0x42; 32])?;
    let (day, from) = local(kit, &tz, 0)?;
    let (_, until) = local(kit, &tz, 40 * 60)?;
    browser.find("#name").await?.type_text("Ana the cleaner").await?;
    set_value(&browser, "date", &day).await?;
    set_value(&browser, "from", &from).await?;
    set_value(&browser, "until", &until).await?;
    browser.find("#handheld_public_key").await?.type_text(&guest_phone.public_key_b64()).await?;
    looks_right(&mut browser, "guest-pass-form").await?;
    browser.submit("#create-pass").await?;
    let issued = browser.text_of("#issued").await?;
    assert!(issued.contains("Pass for Ana the cleaner") && issued.contains("street door"), "{issued}");
    let credential = browser.execute("return document.querySelector('#issued textarea.credential').value;").await?;
    let credential = serde_b64::decode(credential.as_str().context("a credential is shown")?)?;
    looks_right(&mut browser, "guest-pass-issued").await?;
    let entrance = env.lock_id(ENTRANCE);
    let decision =
        guest_phone.walk_through(&env.endpoint(), wire(entrance), &env.device(ENTRANCE), &credential).await?;
    assert!(decision.unlocked, "the street door lets the guest in: {:?}", decision.reason);

    // 7. A remote unlock of the street door: the lock opens.
    browser.goto(&format!("{base}/app/resident")).await?;
    let counter = env.sim(ENTRANCE).health()?.event_counter;
    browser.submit(&format!("#unlock-{entrance}")).await?;
    let opening = browser.text_of("#opening").await?;
    assert!(opening.contains("street door"), "{opening}");
    env.sim(ENTRANCE)
        .wait_until(WAIT, |h| h.event_counter > counter && matches!(h.bolt, doorman_lock::BoltState::Released { .. }))
        .await
        .context("the street door did not open for the dashboard's remote unlock")?;
    looks_right(&mut browser, "remote-unlock").await?;

    // 8. A return, collected by Parcelo from the package room shelves.
    browser.goto(&format!("{base}/app/resident/returns")).await?;
    browser.choose("#carrier_id", "Parcelo").await?;
    browser.choose("#drop_spot_id", "package room shelves (package room)").await?;
    let (day, from) = local(kit, &tz, 3600)?;
    let (_, until) = local(kit, &tz, 3 * 3600)?;
    set_value(&browser, "date", &day).await?;
    set_value(&browser, "from", &from).await?;
    set_value(&browser, "until", &until).await?;
    browser.find("#tracking_number").await?.type_text("RET-2B-1").await?;
    looks_right(&mut browser, "return-form").await?;
    browser.submit("#schedule-return").await?;
    let deliveries = env.jun.unit_deliveries(env.unit_2b.id).await?;
    assert!(
        deliveries.iter().any(|d| d.kind == DeliveryKind::Pickup && d.tracking_number == "RET-2B-1"),
        "the return is scheduled: {deliveries:?}"
    );
    service.sequence_now().await?;
    browser.goto(&format!("{base}/app/resident")).await?;
    let page = browser.text_of("main").await?;
    assert!(page.contains("Return RET-2B-1 scheduled: to be collected from package room shelves"), "{page}");
    looks_right(&mut browser, "return-scheduled").await?;

    // 9. The audit page: the browser checks the log with its own
    // cryptography.
    service.sequence_now().await?;
    let findings = check(&browser, &base, "ok").await?;
    assert!(findings.contains("signed by the log's key"), "{findings}");
    let rows = browser.text_of("#audit").await?;
    assert!(rows.contains("Left at package room shelves by Dana (Parcelo)"), "the audit rows are named: {rows}");
    looks_right(&mut browser, "audit-verified").await?;

    // 10. One stored entry altered in the database (Lee's block): the same
    // page, reloaded, reports it from the browser's own check.
    let log = whole_log(kit).await?;
    let (index, bytes, _) = log
        .iter()
        .rev()
        .find(|(_, _, e)| matches!(e.kind, EventKind::Blocked { .. }) && e.unit_id == Some(env.unit_2b.id))
        .context("the block's entry")?;
    let mut forged = Event::from_bytes(bytes)?;
    forged.kind = EventKind::Blocked { until: None };
    set_entry(kit, *index, &forged.to_canonical_bytes()).await?;
    let findings = check(&browser, &base, "failed").await?;
    assert!(findings.contains(&format!("#{index}")), "the altered entry is named: {findings}");
    let cell = format!("#audit td[data-browser='{index}']");
    assert_eq!(browser.text_of(&cell).await?, "✗ failed");
    browser.find(&cell).await?.show().await?;
    looks_right(&mut browser, "audit-tampered").await?;
    browser.quit().await?;
    Ok(())
}
