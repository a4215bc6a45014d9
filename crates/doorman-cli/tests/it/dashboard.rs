//! The web dashboard (`/app/`): in a real headless Chromium (a resident
//! watches a delivery happen live, blocks, sees the next request refused; a
//! manager enables a carrier for given hours), and over plain HTTP, the
//! attacks on its sessions: no session, another site's origin, a signed-out
//! or expired session, another tenant's pages.

use base64::Engine as _;
use doorman_api::*;
use reqwest::header::{COOKIE, LOCATION, ORIGIN, REFERER, SET_COOKIE};
use reqwest::StatusCode;
use serde_json::json;

use crate::fixture::Building;
use crate::kit::{Kit, HOUR};
use crate::webdriver::{browser_programs, Browser};

// --- in a browser ----------------------------------------------------------------

pub async fn dashboard_in_a_real_browser(kit: &Kit) -> anyhow::Result<()> {
    let test = format!("dashboard_in_a_real_browser_{}", kit.backend_name());
    let Some((chromium, chromedriver)) = browser_programs(&test) else { return Ok(()) };
    let b = Building::seed(kit).await?;
    let service = kit.running.service.clone();
    let base = kit.running.url();
    let mut browser = Browser::start(&chromium, &chromedriver, &test).await?;

    // Lee is invited to 2B and joins in the browser; a Parcelo parcel is on its way.
    let invitation = b
        .rosa
        .invite_resident(b.unit_2b.id, &CreateInvitation { name: "Lee Park".into(), email: "lee@example.com".into() })
        .await?;
    let parcel = b.parcel(kit, "PCL-7001", b.unit_2b.id).await?;
    b.parcelo.update_eta(parcel.id, kit.now() + 600).await?;
    service.sequence_now().await?;

    browser.goto(&format!("{base}/app/")).await?;
    browser.find("#code").await?.type_text(&invitation.code).await?;
    browser.screenshot("sign-in").await?;
    browser.find("#redeem").await?.click().await?;
    let token = browser.find("#new-token").await?.text().await?;
    assert!(token.starts_with("dm_"), "the welcome page shows the new token: {token:?}");
    browser.screenshot("welcome").await?;
    browser.find("a.button[href='/app/resident']").await?.click().await?;

    let card = format!("#delivery-{}", parcel.id);
    browser.find(&format!("{card}[data-state=out_for_delivery]")).await?;
    browser.find("#live[data-live=connected]").await?;
    browser.execute("window.__sameDocument = true;").await?;
    browser.screenshot("parcel-on-its-way").await?;

    // Dana arrives: her request and the drop go through the API while the page stays open.
    let grant = b.expect_granted(b.dana.client.request_access(&b.ask("PCL-7001")).await).await?;
    service.sequence_now().await?;
    browser.find(&format!("{card} li.step.ok")).await?.show().await?;
    browser.screenshot("access-granted-live").await?;
    b.dana
        .client
        .complete_delivery(parcel.id, &CompleteDelivery { drop_spot_id: grant.drop_spot_id, photo_ref: None })
        .await?;
    service.sequence_now().await?;
    browser.find(&format!("{card}[data-state=delivered]")).await?.show().await?;
    let timeline = browser.text_of(&card).await?;
    for expected in ["On its way", "Dana (Parcelo) is at the door", "Access granted", "Left at", "✓ verified"] {
        assert!(timeline.contains(expected), "the timeline lacks {expected:?}: {timeline}");
    }
    assert_eq!(browser.execute("return window.__sameDocument === true;").await?, json!(true), "the page reloaded");
    browser.screenshot("delivered-live").await?;

    // Lee blocks delivery access.
    browser.find("#reason").await?.type_text("away this week").await?;
    browser.find("#block").await?.click().await?;
    browser.find("#blocked-banner").await?;
    browser.find("#unblock").await?;
    assert!(kit.store().active_block(b.unit_2b.id, kit.now()).await?.is_some(), "the block is stored");
    browser.find("#live[data-live=connected]").await?;
    browser.execute("window.__sameDocument = true;").await?;
    browser.screenshot("blocked").await?;

    // Dana's next parcel for 2B is refused, and Lee sees why without reloading.
    let second = b.parcel(kit, "PCL-7002", b.unit_2b.id).await?;
    b.expect_refused(b.dana.client.request_access(&b.ask("PCL-7002")).await, RefusalReason::ResidentBlocked).await?;
    service.sequence_now().await?;
    let refused = format!("#delivery-{} li.step.refused", second.id);
    browser.find(&refused).await?.show().await?;
    let why = browser.text_of(&refused).await?;
    assert!(why.contains("the resident has blocked delivery access"), "refusal shown as {why:?}");
    assert_eq!(browser.execute("return window.__sameDocument === true;").await?, json!(true), "the page reloaded");
    browser.screenshot("next-request-refused-live").await?;

    // The unit's audit entries, each verified against the signed checkpoint.
    browser.goto(&format!("{base}/app/audit")).await?;
    browser.find("#audit tr[data-kind=access_refused] .verified").await?;
    let summary = browser.find("#log-summary").await?.text().await?;
    assert!(summary.contains("valid signature"), "{summary}");
    browser.screenshot("audit").await?;

    // Sign out: the session is gone.
    browser.find(".signout button").await?.click().await?;
    browser.find("#token").await?;
    browser.goto(&format!("{base}/app/resident")).await?;
    browser.find("#token").await?;

    // Rosa enables QuickShip at weekends, 09:00 to 17:00, into the package room.
    browser.find("#token").await?.type_text(&b.rosa_token).await?;
    browser.find("#sign-in").await?.click().await?;
    browser.find(&format!("a[href='/app/manager/properties/{}']", b.property.id)).await?.click().await?;
    browser.find("#doors-h").await?;
    browser.screenshot("manager-property").await?;
    browser.choose("#carrier_id", "QuickShip").await?;
    browser.find("#day-sat").await?.click().await?;
    browser.find("#day-sun").await?.click().await?;
    browser
        .execute("document.getElementById('start').value = '09:00'; document.getElementById('end').value = '17:00';")
        .await?;
    browser.find(&format!("#spot-{}", b.room_spot.id)).await?.click().await?;
    browser.find("#enable-carrier").await?.show().await?;
    browser.screenshot("enable-form").await?;
    browser.find("#enable-carrier").await?.click().await?;
    let row = browser.find(&format!("#enablements tr[data-carrier='{}']", b.quickship_id)).await?;
    row.show().await?;
    let hours =
        browser.find(&format!("#enablements tr[data-carrier='{}'] .hours", b.quickship_id)).await?.text().await?;
    assert_eq!(hours, "sat sun 09:00–17:00");
    browser.screenshot("carrier-enabled").await?;
    let stored = b.rosa.list_enablements(b.property.id).await?;
    let quickship = stored.iter().find(|e| e.carrier_id == b.quickship_id).expect("QuickShip is enabled");
    assert!(quickship.enabled);
    assert_eq!(quickship.allowed_drop_spots, vec![b.room_spot.id]);
    assert_eq!(quickship.hours[0].days, vec!["sat".to_string(), "sun".to_string()]);
    assert_eq!((quickship.hours[0].start.as_str(), quickship.hours[0].end.as_str()), ("09:00", "17:00"));
    // The refusals by reason include Lee's block.
    let refusal = browser.find("#refusals tr[data-reason=resident_blocked]").await?.text().await?;
    assert!(refusal.ends_with('1'), "{refusal}");

    browser.quit().await
}

/// A manager from an empty account to a live building, then a carrier from
/// nothing to a driver and an announced delivery, all in the browser with
/// names picked from lists, at `width` px; a screenshot of each step and no
/// page wider than the window.
async fn from_nothing_to_a_live_building(kit: &Kit, width: u32, height: u32) -> anyhow::Result<()> {
    let test = format!("dashboard_from_nothing_{}_{width}", kit.backend_name());
    let Some((chromium, chromedriver)) = browser_programs(&test) else { return Ok(()) };
    let base = kit.running.url();
    let maria = kit.operator.create_manager(&format!("Maria {width}")).await?;
    let swift = kit.operator.create_carrier(&format!("Swift {width}")).await?;
    let building = format!("Harbor House {width}");
    let mut browser = Browser::start_sized(&chromium, &chromedriver, &test, width, height).await?;

    // Maria signs in: no property yet.
    browser.goto(&format!("{base}/app/")).await?;
    browser.find("#token").await?.type_text(&maria.token).await?;
    browser.submit("#sign-in").await?;
    browser.find("#no-properties").await?;
    browser.assert_no_sideways_scroll("the empty manager page").await?;
    browser.screenshot("manager-empty").await?;

    // A building, with a negative longitude.
    browser.find("#property-name").await?.type_text(&building).await?;
    browser.find("#property-address").await?.type_text("12 Pier Street, Brooklyn").await?;
    browser.find("#latitude").await?.type_text("40.7003").await?;
    browser.find("#longitude").await?.type_text("-73.9967").await?;
    browser.find("#add-property-button").await?.show().await?;
    browser.screenshot("add-building").await?;
    browser.submit("#add-property-button").await?;
    browser.find("#units-h").await?;
    let properties = kit.client(&maria.token).list_properties().await?;
    anyhow::ensure!(properties.len() == 1, "one property: {properties:?}");
    let property = &properties[0];
    assert_eq!((property.name.as_str(), property.location.lon), (building.as_str(), -73.9967));
    browser.assert_no_sideways_scroll("the new property's page").await?;

    // Units, several at once.
    browser.find("#labels").await?.type_text("1A, 1B\n2A").await?;
    browser.submit("#add-units").await?;
    browser.find("#unit-list tr:nth-child(3) .label").await?;
    let labels: Vec<String> =
        kit.client(&maria.token).list_units(property.id).await?.into_iter().map(|u| u.label).collect();
    assert_eq!(labels.len(), 3, "{labels:?}");

    // Doors as a tree: each parent picked from the list by name.
    for (name, kind, parent, unit) in [
        ("Street door", "entrance", None, None),
        ("Lobby", "lobby", Some("Street door".to_string()), None),
        ("Package room", "package room", Some("— Lobby".into()), None),
        ("2A door", "unit door", Some("— Lobby".into()), Some("2A")),
    ] {
        browser.find("#door-name").await?.type_text(name).await?;
        browser.choose("#door-kind", kind).await?;
        if let Some(parent) = &parent {
            browser.choose("#door-parent", parent).await?;
        }
        if let Some(unit) = unit {
            browser.choose("#door-unit", unit).await?;
        }
        browser.submit("#add-door").await?;
        browser.find("#units-h").await?;
    }
    let tree = browser.text_of("#door-tree tbody").await?;
    for door in ["Street door", "Lobby", "Package room", "2A door"] {
        assert!(tree.contains(door), "{door} missing from the tree: {tree}");
    }
    browser.find("#door-tree tr[data-depth='2']").await?;
    let points = kit.client(&maria.token).list_access_points(property.id).await?;
    let named = |n: &str| points.iter().find(|a| a.name == n).expect("the door exists").clone();
    assert_eq!(named("Package room").parent_id, Some(named("Lobby").id));
    assert_eq!(named("Lobby").parent_id, Some(named("Street door").id));
    browser.find("#door-tree").await?.show().await?;
    browser.assert_no_sideways_scroll("the door tree").await?;
    browser.screenshot("door-tree").await?;

    // A door renamed in its row's Change form.
    let door_2a = named("2A door").id;
    browser.find(&format!("tr[data-door='{door_2a}'] summary")).await?.click().await?;
    let name_box = format!("#door-name-{door_2a}");
    browser.execute_with("document.querySelector(arguments[0]).value = '';", json!([name_box])).await?;
    browser.find(&name_box).await?.type_text("Flat 2A door").await?;
    browser.find(&format!("tr[data-door='{door_2a}'] .edit-door")).await?.show().await?;
    browser.assert_no_sideways_scroll("a door's change form").await?;
    browser.screenshot("change-door").await?;
    browser.submit(&format!("tr[data-door='{door_2a}'] .edit-door")).await?;
    assert!(browser.text_of("#door-tree").await?.contains("Flat 2A door"));

    // A drop spot in the package room.
    browser.find("#spot-name").await?.type_text("Parcel shelves").await?;
    browser.choose("#spot-kind", "package room").await?;
    browser.choose("#spot-door", "— — Package room").await?;
    browser.submit("#add-spot").await?;
    browser.find("#spot-list tr[data-spot]").await?;
    let spots = kit.client(&maria.token).list_drop_spots(property.id).await?;
    assert_eq!(spots.len(), 1);
    assert_eq!(spots[0].access_point_id, named("Package room").id);

    // A lock on the street door, its device key made by the page: the bundle
    // is on the answer page only, and loads as a lock.
    browser.choose("#lock-door", "Street door").await?;
    browser.find("#register-lock").await?.show().await?;
    browser.screenshot("register-lock").await?;
    browser.submit("#register-lock").await?;
    let href = browser.execute("return document.getElementById('bundle').getAttribute('href');").await?;
    let href = href.as_str().unwrap_or_default();
    let encoded = href.strip_prefix("data:application/json;base64,").expect("a data URL");
    let bundle: doorman_devices::LockBundle =
        serde_json::from_slice(&base64::engine::general_purpose::STANDARD.decode(encoded)?)?;
    let locks = kit.client(&maria.token).list_locks(property.id).await?;
    assert_eq!(locks.len(), 1);
    assert_eq!(bundle.lock_id, locks[0].id.to_string());
    assert_eq!(
        bundle.device_public_key()?.0.to_vec(),
        locks[0].device_public_key,
        "the page made the key it registered"
    );
    bundle.identity()?;
    bundle.trusted()?;
    assert!(bundle.mqtt.is_some(), "the bundle carries the lock's MQTT account");
    browser.assert_no_sideways_scroll("the lock's bundle page").await?;
    browser.screenshot("lock-registered").await?;
    browser.goto(&format!("{base}/app/manager/properties/{}", property.id)).await?;
    let again = browser.execute("return document.documentElement.outerHTML;").await?;
    assert!(!again.as_str().unwrap_or_default().contains(&bundle.device_secret), "the bundle is not shown again");
    assert!(browser.text_of("#door-tree").await?.contains("doorman-sim"));

    // Swift, picked from the list of carriers, every day, all day, into the shelves.
    browser.choose("#carrier_id", &format!("Swift {width}")).await?;
    for day in ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] {
        browser.find(&format!("#day-{day}")).await?.click().await?;
    }
    browser.find("#all_day").await?.click().await?;
    browser.find(&format!("#spot-{}", spots[0].id)).await?.click().await?;
    browser.find("#enable-carrier").await?.show().await?;
    browser.screenshot("enable-carrier").await?;
    browser.submit("#enable-carrier").await?;
    let hours = browser.text_of(&format!("#enablements tr[data-carrier='{}'] .hours", swift.item.id)).await?;
    assert_eq!(hours, "mon tue wed thu fri sat sun all day");
    let enabled = kit.client(&maria.token).list_enablements(property.id).await?;
    assert_eq!((enabled[0].hours[0].start.as_str(), enabled[0].hours[0].end.as_str()), ("00:00", "24:00"));
    browser.assert_no_sideways_scroll("the carriers").await?;

    // The tenant notice: delivery access is live.
    browser.find("#notice-text").await?.type_text("Couriers of enabled carriers may enter the lobby.").await?;
    browser.submit("#give-notice").await?;
    let notice = browser.text_of("#notice").await?;
    assert!(notice.contains("Couriers of enabled carriers"), "{notice}");

    // Two residents of 1A invited at once; the codes work.
    browser.choose("#invite-unit", "1A").await?;
    browser.find("#emails").await?.type_text("lee@example.com\nMia Chen <mia@example.com>").await?;
    browser.submit("#invite").await?;
    browser.find("#invited tbody tr:nth-child(2)").await?;
    let codes = browser
        .execute("return Array.from(document.querySelectorAll('#invited code')).map(function (c) { return c.textContent; });")
        .await?;
    let codes: Vec<String> = serde_json::from_value(codes)?;
    assert_eq!(codes.len(), 2);
    assert!(browser.text_of("#invited").await?.contains("Mia Chen"));
    browser.assert_no_sideways_scroll("the invitations").await?;
    browser.screenshot("residents-invited").await?;
    let lee = kit.anon.redeem_invitation(&codes[0]).await?;
    assert_eq!(lee.item.email, "lee@example.com");
    browser.goto(&format!("{base}/app/manager/properties/{}", property.id)).await?;
    browser.find("#units-h").await?;
    browser.assert_no_sideways_scroll("the live building").await?;
    browser.screenshot("live-building").await?;
    browser.submit(".signout button").await?;

    // Swift signs in: adds a driver (token shown once), suspends and resumes them.
    browser.find("#token").await?.type_text(&swift.token).await?;
    browser.submit("#sign-in").await?;
    browser.find("#driver-name").await?.type_text("Dana Diaz").await?;
    browser.choose("#vetting", "passed").await?;
    browser.submit("#add-driver").await?;
    let driver_token = browser.text_of("#driver-token").await?;
    assert!(driver_token.starts_with("dm_"), "{driver_token}");
    browser.assert_no_sideways_scroll("the new driver's token").await?;
    browser.screenshot("driver-added").await?;
    let whoami = kit.client(&driver_token).whoami().await?;
    assert!(matches!(whoami.principal, Principal::Driver { .. }), "{whoami:?}");
    browser.submit("a.button[href='/app/carrier#drivers-h']").await?;
    browser.submit("#drivers tr[data-status=active] .suspend").await?;
    browser.submit("#drivers tr[data-status=suspended] .resume").await?;
    browser.find("#drivers tr[data-status=active]").await?;

    // A delivery to 1A, picked by building and unit name; its ETA updated.
    browser.choose("#place", &format!("{building} · 1A")).await?;
    browser.find("#tracking_number").await?.type_text(&format!("SW-{width}-1")).await?;
    browser.find("#announce-button").await?.show().await?;
    browser.screenshot("announce").await?;
    browser.submit("#announce-button").await?;
    let deliveries = kit.client(&swift.token).list_deliveries().await?;
    assert_eq!(deliveries.len(), 1);
    let card = format!("#delivery-{}", deliveries[0].id);
    let place = browser.text_of(&format!("{card} .place")).await?;
    assert_eq!(place, format!("{building} · unit 1A"));
    browser.submit(&format!("{card} .eta")).await?;
    browser.find(&format!("{card}[data-state=out_for_delivery]")).await?.show().await?;
    assert!(kit.client(&swift.token).list_deliveries().await?[0].eta.is_some());
    browser.assert_no_sideways_scroll("the carrier's deliveries").await?;
    browser.screenshot("delivery-announced").await?;
    browser.quit().await
}

pub async fn dashboard_from_nothing_on_a_phone(kit: &Kit) -> anyhow::Result<()> {
    from_nothing_to_a_live_building(kit, 390, 844).await
}

pub async fn dashboard_from_nothing_on_a_desktop(kit: &Kit) -> anyhow::Result<()> {
    from_nothing_to_a_live_building(kit, 1280, 900).await
}

// --- over HTTP -----------------------------------------------------------------------

fn http() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?)
}

/// Signs in with `token` through the form; returns the `name=value` cookie.
pub(crate) async fn sign_in(kit: &Kit, token: &str) -> anyhow::Result<String> {
    let base = kit.running.url();
    let response =
        http()?.post(format!("{base}/app/sign-in")).header(ORIGIN, &base).form(&[("token", token)]).send().await?;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let cookie = response.headers().get(SET_COOKIE).expect("a session cookie").to_str()?.to_string();
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=43200"] {
        assert!(cookie.contains(attribute), "the cookie lacks {attribute}: {cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain http: no Secure attribute ({cookie})");
    Ok(cookie.split(';').next().unwrap_or_default().to_string())
}

pub async fn dashboard_refuses_forged_and_sessionless_changes(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    let base = kit.running.url();
    let client = http()?;
    let invitation = b
        .rosa
        .invite_resident(b.unit_2b.id, &CreateInvitation { name: "Lee Park".into(), email: "lee@example.com".into() })
        .await?;
    let lee = kit.anon.redeem_invitation(&invitation.code).await?;
    let block_url = format!("{base}/app/resident/block");
    let not_blocked = || async { anyhow::Ok(kit.store().active_block(b.unit_2b.id, kit.now()).await?.is_none()) };

    // No session: refused, nothing changed; pages send the browser to sign in.
    let r = client.post(&block_url).header(ORIGIN, &base).form(&[("reason", "x")]).send().await?;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = client
        .post(&block_url)
        .header(ORIGIN, &base)
        .header(COOKIE, format!("doorman_session={}", "A".repeat(43)))
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "an unknown session id");
    assert!(not_blocked().await?);
    let r = client.get(format!("{base}/app/resident")).send().await?;
    assert_eq!(
        (r.status(), r.headers().get(LOCATION).map(|v| v.as_bytes())),
        (StatusCode::SEE_OTHER, Some(&b"/app/sign-in"[..]))
    );

    // A bad token does not sign in, and says so without a server error.
    let r =
        client.post(format!("{base}/app/sign-in")).header(ORIGIN, &base).form(&[("token", "dm_nope")]).send().await?;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().get(SET_COOKIE).is_none());
    assert!(r.text().await?.contains("not valid"));

    let cookie = sign_in(kit, &lee.token).await?;

    // Another site's page posting with Lee's cookie: refused before anything runs.
    for (header, value) in [
        (ORIGIN, "http://evil.example"),
        (ORIGIN, "null"),
        (ORIGIN, &*base.replace("127.0.0.1", "localhost")),
        (REFERER, "http://evil.example/page"),
    ] {
        let r = client.post(&block_url).header(COOKIE, &cookie).header(header.clone(), value).send().await?;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{header}: {value}");
        assert!(r.text().await?.contains("cross_site_request"));
    }
    // Neither Origin nor Referer: it cannot show where it comes from.
    let r = client.post(&block_url).header(COOKIE, &cookie).send().await?;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Sign-in itself is guarded (no logging a victim into the attacker's account).
    let r = client
        .post(format!("{base}/app/sign-in"))
        .header(ORIGIN, "http://evil.example")
        .form(&[("token", lee.token.as_str())])
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.headers().get(SET_COOKIE).is_none());
    assert!(not_blocked().await?, "no refused request changed anything");

    // From the dashboard itself (Origin, or Referer alone): it works.
    let r = client
        .post(&block_url)
        .header(COOKIE, &cookie)
        .header(REFERER, format!("{base}/app/resident"))
        .form(&[("reason", "")])
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(!not_blocked().await?, "blocked");
    let r = client
        .post(format!("{base}/app/resident/unblock"))
        .header(COOKIE, &cookie)
        .header(ORIGIN, &base)
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(not_blocked().await?, "unblocked");

    // A resident's session opens no manager page (not even told the
    // building's id exists); another manager's neither.
    let r =
        client.get(format!("{base}/app/manager/properties/{}", b.property.id)).header(COOKIE, &cookie).send().await?;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let otto = sign_in(kit, &otto_token(kit).await?).await?;
    let r = client.get(format!("{base}/app/manager/properties/{}", b.property.id)).header(COOKIE, &otto).send().await?;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = client
        .post(format!("{base}/app/manager/properties/{}/carriers", b.property.id))
        .header(COOKIE, &otto)
        .header(ORIGIN, &base)
        .form(&[
            ("carrier_id", b.quickship_id.to_string()),
            ("day", "mon".into()),
            ("start", "08:00".into()),
            ("end", "09:00".into()),
            ("enabled", "yes".into()),
        ])
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(b.rosa.list_enablements(b.property.id).await?.iter().all(|e| e.carrier_id != b.quickship_id));

    // Bad form input is a 4xx page, never a 500.
    let rosa = sign_in(kit, &b.rosa_token).await?;
    let r = client
        .post(format!("{base}/app/manager/properties/{}/carriers", b.property.id))
        .header(COOKIE, &rosa)
        .header(ORIGIN, &base)
        .form(&[
            ("carrier_id", b.quickship_id.to_string()),
            ("day", "mon".into()),
            ("start", "25:00".into()),
            ("end", "09:00".into()),
            ("enabled", "yes".into()),
        ])
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = client.get(format!("{base}/app/manager/properties/not-an-id")).header(COOKIE, &rosa).send().await?;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // Signing out deletes the session: the old cookie no longer works.
    let r = client.post(format!("{base}/app/sign-out")).header(COOKIE, &cookie).header(ORIGIN, &base).send().await?;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(r.headers().get(SET_COOKIE).expect("the cookie is cleared").to_str()?.contains("Max-Age=0"));
    let r = client.post(&block_url).header(COOKIE, &cookie).header(ORIGIN, &base).send().await?;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(not_blocked().await?);
    // Signing out again (a stale tab) just clears the cookie.
    let r = client.post(format!("{base}/app/sign-out")).header(COOKIE, &cookie).header(ORIGIN, &base).send().await?;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    // A session expires after 12 hours, whatever the cookie says.
    let again = sign_in(kit, &lee.token).await?;
    let r = client.get(format!("{base}/app/resident")).header(COOKIE, &again).send().await?;
    assert_eq!(r.status(), StatusCode::OK);
    kit.advance(doorman_dashboard::SESSION_LIFETIME_S);
    let r = client.get(format!("{base}/app/resident")).header(COOKIE, &again).send().await?;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    Ok(())
}

/// A token for Otto, the other building's manager (the fixture keeps only
/// his client): a fresh manager stands in for him.
async fn otto_token(kit: &Kit) -> anyhow::Result<String> {
    Ok(kit.operator.create_manager("Otto Two").await?.token)
}

/// A resident signed in on the dashboard: their session cookie and unit.
async fn resident_session(kit: &Kit, b: &Building, unit: UnitId, name: &str) -> anyhow::Result<String> {
    let invitation = b
        .rosa
        .invite_resident(unit, &CreateInvitation { name: name.into(), email: format!("{}@example.com", name.len()) })
        .await?;
    let created = kit.anon.redeem_invitation(&invitation.code).await?;
    sign_in(kit, &created.token).await
}

/// Reads the stream until an event whose data contains `needle`; returns its id.
async fn next_event_with(response: &mut reqwest::Response, needle: &str) -> anyhow::Result<u64> {
    let mut seen = String::new();
    let wait = std::time::Duration::from_secs(15);
    loop {
        let chunk = tokio::time::timeout(wait, response.chunk())
            .await
            .map_err(|_| anyhow::anyhow!("no event with {needle:?} within {wait:?}; got:\n{seen}"))??
            .ok_or_else(|| anyhow::anyhow!("the stream ended; got:\n{seen}"))?;
        seen.push_str(&String::from_utf8_lossy(&chunk));
        // Events end with a blank line; each has `id:` and `data:` lines.
        for event in seen.split("\n\n").filter(|e| e.contains("data:")) {
            let id = event.lines().find_map(|l| l.strip_prefix("id:")).map(str::trim);
            if event.contains(needle) {
                return Ok(id.ok_or_else(|| anyhow::anyhow!("an event without id: {event}"))?.parse()?);
            }
        }
    }
}

pub async fn dashboard_live_stream_sends_only_the_principals_events(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    let base = kit.running.url();
    let service = kit.running.service.clone();
    let lee = resident_session(kit, &b, b.unit_2b.id, "Lee").await?;
    let mia = resident_session(kit, &b, b.unit_3c.id, "Mia").await?;
    let parcel = b.parcel(kit, "PCL-8001", b.unit_2b.id).await?;
    let start = service.sequence_now().await?.map(|c| c.size).unwrap_or(0);
    let live = |cookie: &str| {
        http().map(|c| c.get(format!("{base}/app/live?after={}", start.saturating_sub(1))).header(COOKIE, cookie))
    };
    let mut lee_stream = live(&lee)?.send().await?;
    let mut mia_stream = live(&mia)?.send().await?;
    assert_eq!(lee_stream.status(), StatusCode::OK);
    assert!(lee_stream.headers()["content-type"].to_str()?.starts_with("text/event-stream"));
    // Without a session, no stream.
    let r = http()?.get(format!("{base}/app/live")).send().await?;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    // Dana's request for Lee's parcel reaches Lee's stream, with its log index as id.
    let granted = b.expect_granted(b.dana.client.request_access(&b.ask("PCL-8001")).await).await?;
    service.sequence_now().await?;
    let id = next_event_with(&mut lee_stream, "Access granted").await?;
    assert_eq!(id, granted.log_index);

    // Mia's first event is her own block: Lee's were never sent to her.
    let mia_client = http()?;
    let r = mia_client
        .post(format!("{base}/app/resident/block"))
        .header(COOKIE, &mia)
        .header(ORIGIN, &base)
        .form(&[("reason", "")])
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    service.sequence_now().await?;
    let chunk = tokio::time::timeout(std::time::Duration::from_secs(15), mia_stream.chunk()).await??;
    let first = String::from_utf8_lossy(&chunk.unwrap_or_default()).to_string();
    assert!(first.contains("Deliveries blocked"), "Mia's first event: {first}");
    assert!(!first.contains("Access granted") && !first.contains(&parcel.tracking_number), "{first}");
    Ok(())
}

/// Overwrites one stored log entry, as someone with the database could.
async fn tamper_entry(kit: &Kit, idx: u64, entry: &[u8]) -> anyhow::Result<()> {
    let sql = "UPDATE log_entries SET entry = $1 WHERE idx = $2";
    let n = match kit.backend {
        crate::kit::Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&kit.database_url).await?;
            sqlx::query(sql).bind(entry).bind(idx as i64).execute(&pool).await?.rows_affected()
        }
        crate::kit::Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&kit.database_url).await?;
            sqlx::query(sql).bind(entry).bind(idx as i64).execute(&pool).await?.rows_affected()
        }
    };
    anyhow::ensure!(n == 1, "no entry {idx}");
    Ok(())
}

/// The row of log entry `idx` on the audit page.
fn audit_row(html: &str, idx: u64) -> String {
    let start =
        html.find(&format!("<td data-label=\"#\">{idx}</td>")).unwrap_or_else(|| panic!("no row {idx} in:\n{html}"));
    let end = html[start..].find("</tr>").map_or(html.len(), |e| start + e);
    html[start..end].to_string()
}

pub async fn dashboard_marks_only_proven_entries_verified(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    let base = kit.running.url();
    let lee = resident_session(kit, &b, b.unit_2b.id, "Lee").await?;
    b.parcel(kit, "PCL-9001", b.unit_2b.id).await?;
    let granted = b.expect_granted(b.dana.client.request_access(&b.ask("PCL-9001")).await).await?;
    kit.running.service.sequence_now().await?;
    let page = || async {
        let r = http()?.get(format!("{base}/app/audit")).header(COOKIE, &lee).send().await?;
        anyhow::ensure!(r.status() == StatusCode::OK, "audit page: {}", r.status());
        anyhow::Ok(r.text().await?)
    };
    let html = page().await?;
    assert!(html.contains("carries a valid signature"), "{html}");
    assert!(audit_row(&html, granted.log_index).contains("✓ verified"));
    assert!(audit_row(&html, granted.log_index - 1).contains("✓ verified"));
    assert!(!html.contains("not verified"), "every entry proves: {html}");

    // The granted entry is edited in the database: its proof no longer holds,
    // and the page says so for that entry only.
    let stored = kit
        .store()
        .log_entries(
            &doorman_store::EntryFilter { everything: true, ..Default::default() },
            granted.log_index..granted.log_index + 1,
            1,
        )
        .await?;
    let mut forged = doorman_domain::Event::from_bytes(&stored[0].bytes)?;
    forged.at += 3600;
    tamper_entry(kit, granted.log_index, &forged.to_canonical_bytes()).await?;
    let html = page().await?;
    assert!(audit_row(&html, granted.log_index).contains("not verified"), "{}", audit_row(&html, granted.log_index));
    assert!(audit_row(&html, granted.log_index - 1).contains("✓ verified"));
    Ok(())
}

/// Posts a dashboard form as the session `cookie`, from the dashboard's origin.
pub(crate) async fn post_form(
    kit: &Kit,
    cookie: &str,
    path: &str,
    form: &[(&str, &str)],
) -> anyhow::Result<reqwest::Response> {
    let base = kit.running.url();
    Ok(http()?.post(format!("{base}{path}")).header(COOKIE, cookie).header(ORIGIN, &base).form(form).send().await?)
}

pub async fn dashboard_forms_keep_what_was_typed_and_cross_no_tenant(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    let rosa = sign_in(kit, &b.rosa_token).await?;
    let property = format!("/app/manager/properties/{}", b.property.id);
    let doors_before = b.rosa.list_access_points(b.property.id).await?.len();

    // A refused form comes back with the API's status, the message, a way
    // back, and everything that was typed (selects and boxes too).
    let r = post_form(
        kit,
        &rosa,
        &format!("{property}/doors"),
        &[("name", "Side gate"), ("kind", "garage"), ("parent_id", "not-an-id"), ("unit_id", "")],
    )
    .await?;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await?;
    assert!(html.contains("id=\"door-error\""), "{html}");
    assert!(html.contains("inside: pick one from the list"), "the message is shown");
    assert!(html.contains("value=\"Side gate\""), "the name typed is kept");
    assert!(html.contains("<option value=\"garage\" selected>"), "the kind picked is kept");
    assert!(html.contains(&format!("href=\"{property}\"")), "a link leads back");
    assert_eq!(b.rosa.list_access_points(b.property.id).await?.len(), doors_before, "nothing added");

    // A door of another manager's building cannot be a parent here.
    let otto_door = b
        .otto
        .create_access_point(
            b.brownstone.id,
            &CreateAccessPoint {
                kind: AccessPointKind::Entrance,
                name: "Stoop".into(),
                parent_id: None,
                unit_id: None,
            },
        )
        .await?
        .id
        .to_string();
    let r = post_form(
        kit,
        &rosa,
        &format!("{property}/doors"),
        &[("name", "Side gate"), ("kind", "lobby"), ("parent_id", &otto_door)],
    )
    .await?;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await?.contains("parent_id: no such access point in this property"));

    // Units: all checked before any is added.
    let r = post_form(kit, &rosa, &format!("{property}/units"), &[("labels", "9Z, 2B")]).await?;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await?;
    assert!(html.contains("there is already a unit \\\"2B\\\"") || html.contains("already a unit"), "{html}");
    assert!(html.contains(">9Z, 2B</textarea>"), "the labels typed are kept");
    assert!(b.rosa.list_units(b.property.id).await?.iter().all(|u| u.label != "9Z"), "none was added");

    // A building with an unreadable latitude keeps its name and address.
    let r = post_form(
        kit,
        &rosa,
        "/app/manager/properties",
        &[
            ("name", "Pier 9"),
            ("address", "9 Pier"),
            ("kind", "building"),
            ("latitude", "north"),
            ("longitude", "-73.99"),
            ("time_zone", "America/New_York"),
        ],
    )
    .await?;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await?;
    assert!(html.contains("value=\"Pier 9\"") && html.contains("value=\"-73.99\""), "{html}");
    assert_eq!(b.rosa.list_properties().await?.len(), 1);

    // Overnight hours: an end before the start is the next morning; "Change" refills the form.
    let quickship = b.quickship_id.to_string();
    let r = post_form(
        kit,
        &rosa,
        &format!("{property}/carriers"),
        &[("carrier_id", &quickship), ("day", "fri"), ("start", "22:00"), ("end", "06:00"), ("enabled", "yes")],
    )
    .await?;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let stored = b.rosa.list_enablements(b.property.id).await?;
    let overnight = stored.iter().find(|e| e.carrier_id == b.quickship_id).expect("QuickShip enabled");
    assert_eq!((overnight.hours[0].start.as_str(), overnight.hours[0].end.as_str()), ("22:00", "06:00"));
    let base = kit.running.url();
    let page =
        http()?.get(format!("{base}{property}?carrier={quickship}")).header(COOKIE, &rosa).send().await?.text().await?;
    assert!(page.contains("fri 22:00–06:00 (next day)"), "{page}");
    assert!(page.contains("id=\"day-fri\" name=\"day\" value=\"fri\" checked"), "the form starts from what is stored");
    assert!(page.contains("value=\"22:00\""));

    // Invitations: another building's unit is not on the list; bad addresses refuse them all.
    let r = post_form(
        kit,
        &rosa,
        &format!("{property}/invitations"),
        &[("unit_id", &b.brownstone_unit.id.to_string()), ("emails", "a@example.com")],
    )
    .await?;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = post_form(
        kit,
        &rosa,
        &format!("{property}/invitations"),
        &[("unit_id", &b.unit_2b.id.to_string()), ("emails", "a@example.com, not an address")],
    )
    .await?;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await?.contains("not an address"));

    // A pasted device key that is not one: refused, the paste kept.
    let r = post_form(
        kit,
        &rosa,
        &format!("{property}/locks"),
        &[
            ("access_point_id", &b.lobby.id.to_string()),
            ("device_key_source", "paste"),
            ("device_public_key", "not-a-key"),
        ],
    )
    .await?;
    assert!(r.status().is_client_error(), "{}", r.status());
    let html = r.text().await?;
    assert!(html.contains("id=\"lock-error\"") && html.contains("value=\"not-a-key\""), "{html}");
    assert!(html.contains("id=\"key-paste\" name=\"device_key_source\" value=\"paste\" checked"));

    // The lock bundle page: 201, never cached.
    let bike_room = CreateAccessPoint {
        kind: AccessPointKind::PackageRoom,
        name: "Bike room".into(),
        parent_id: Some(b.lobby.id),
        unit_id: None,
    };
    let bike_room = b.rosa.create_access_point(b.property.id, &bike_room).await?;
    let r = post_form(
        kit,
        &rosa,
        &format!("{property}/locks"),
        &[
            ("access_point_id", &bike_room.id.to_string()),
            ("device_key_source", "generate"),
            ("mobile_credential", "yes"),
        ],
    )
    .await?;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.headers().get("cache-control").map(|v| v.as_bytes()), Some(&b"no-store"[..]));

    // A lock that shows its own key: the bundle is the service's answer, with that key.
    let shed = CreateAccessPoint {
        kind: AccessPointKind::PackageRoom,
        name: "Shed".into(),
        parent_id: Some(b.lobby.id),
        unit_id: None,
    };
    let shed = b.rosa.create_access_point(b.property.id, &shed).await?;
    let device = doorman_protocol::LockDeviceKey::from_secret(&[7u8; 32]).public_key().0;
    let pasted = doorman_domain::serde_b64::encode(&device);
    let r = post_form(
        kit,
        &rosa,
        &format!("{property}/locks"),
        &[
            ("access_point_id", &shed.id.to_string()),
            ("device_key_source", "paste"),
            ("device_public_key", &pasted),
            ("mobile_credential", "yes"),
        ],
    )
    .await?;
    assert_eq!(r.status(), StatusCode::CREATED);
    let html = r.text().await?;
    let start = html.find("data:application/json;base64,").expect("a data URL") + "data:application/json;base64,".len();
    let end = start + html[start..].find('"').expect("its end");
    let provisioned: LockProvisioned =
        serde_json::from_slice(&base64::engine::general_purpose::STANDARD.decode(&html[start..end])?)?;
    assert_eq!(provisioned.lock.device_public_key, device.to_vec());
    assert_eq!(provisioned.lock.access_point_id, shed.id);
    assert!(!html.contains("device_secret"), "no secret made for a lock that keeps its own");

    // Another manager: every form on Rosa's property is "not found", nothing written.
    let otto = sign_in(kit, &otto_token(kit).await?).await?;
    let units_before = b.rosa.list_units(b.property.id).await?.len();
    let (lobby, unit) = (b.lobby.id.to_string(), b.unit_2b.id.to_string());
    for (path, form) in [
        ("units", vec![("labels", "X1")]),
        ("doors", vec![("name", "X"), ("kind", "lobby")]),
        ("drop-spots", vec![("name", "X"), ("kind", "lobby"), ("access_point_id", &lobby)]),
        ("locks", vec![("access_point_id", &lobby), ("device_key_source", "generate")]),
        ("invitations", vec![("unit_id", &unit), ("emails", "x@example.com")]),
        ("tenant-notice", vec![("text", "hijacked")]),
        ("carriers", vec![("carrier_id", &quickship), ("day", "mon"), ("start", "08:00"), ("end", "09:00")]),
    ] {
        let r = post_form(kit, &otto, &format!("{property}/{path}"), &form).await?;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
    }
    assert_eq!(b.rosa.list_units(b.property.id).await?.len(), units_before);
    assert_eq!(b.rosa.list_locks(b.property.id).await?.len(), 6, "four seeded, two registered by Rosa above");

    // A carrier or a resident on a manager's form: the property is not
    // found for them, as for another manager.
    let alpha = kit.operator.create_carrier("Alpha Freight").await?;
    let alpha_cookie = sign_in(kit, &alpha.token).await?;
    let lee = resident_session(kit, &b, b.unit_2b.id, "Lee").await?;
    for cookie in [&alpha_cookie, &lee] {
        let r = post_form(kit, cookie, &format!("{property}/units"), &[("labels", "X2")]).await?;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        let building = [
            ("name", "X"),
            ("address", "X"),
            ("kind", "building"),
            ("latitude", "40.7"),
            ("longitude", "-73.9"),
            ("time_zone", "America/New_York"),
        ];
        let r = post_form(kit, cookie, "/app/manager/properties", &building).await?;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }

    // Carriers: a manager or a resident cannot add drivers; another
    // carrier's driver and delivery are "not found".
    for cookie in [&rosa, &lee] {
        let r = post_form(kit, cookie, "/app/carrier/drivers", &[("name", "X"), ("vetting", "passed")]).await?;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }
    let beta = kit.client(&kit.operator.create_carrier("Beta Post").await?.token);
    let bob = beta
        .create_driver(&CreateDriver {
            name: "Bob".into(),
            handheld_public_key: None,
            vetting: VettingStatus::Passed,
            vetted_at: None,
        })
        .await?;
    let r = post_form(
        kit,
        &alpha_cookie,
        &format!("/app/carrier/drivers/{}/status", bob.item.id),
        &[("status", "suspended")],
    )
    .await?;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let parcel = b.parcel(kit, "PCL-5001", b.unit_2b.id).await?;
    let r = post_form(kit, &alpha_cookie, &format!("/app/carrier/deliveries/{}/cancel", parcel.id), &[]).await?;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = post_form(
        kit,
        &alpha_cookie,
        &format!("/app/carrier/deliveries/{}/eta", parcel.id),
        &[("eta", "2026-03-11T14:00")],
    )
    .await?;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // Alpha is enabled nowhere: Rosa's units are not on its list.
    let place = format!("{}/{}", b.property.id, b.unit_2b.id);
    let r = post_form(
        kit,
        &alpha_cookie,
        "/app/carrier/deliveries",
        &[
            ("place", &place),
            ("tracking_number", "AF-1"),
            ("date", "2026-03-11"),
            ("from", "08:00"),
            ("until", "20:00"),
        ],
    )
    .await?;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await?;
    assert!(html.contains("value=\"AF-1\""), "the tracking number typed is kept");
    assert!(kit.client(&alpha.token).list_deliveries().await?.is_empty());
    let stored = b.parcelo.get_delivery(parcel.id).await?;
    assert_eq!((stored.state, stored.eta), (parcel.state, None), "Alpha changed nothing");
    assert_eq!(beta.list_drivers().await?[0].status, DriverStatus::Active, "Bob was not suspended by Alpha");
    Ok(())
}

pub async fn dashboard_edits_and_removes_the_structure(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    let rosa = sign_in(kit, &b.rosa_token).await?;
    let otto = sign_in(kit, &otto_token(kit).await?).await?;
    let lee = resident_session(kit, &b, b.unit_2b.id, "Lee").await?;
    let property = format!("/app/manager/properties/{}", b.property.id);
    let lock_of = |door: AccessPointId| {
        let rosa = &b.rosa;
        let property = b.property.id;
        async move {
            let locks = rosa.list_locks(property).await?;
            anyhow::Ok(locks.into_iter().filter(|l| l.access_point_id == door).collect::<Vec<_>>())
        }
    };

    // Every change form of Rosa's building: Otto's session finds nothing,
    // nor does a resident's; nothing changes.
    let room_lock = lock_of(b.package_room.id).await?[0].id;
    let targets = [
        (format!("{property}/units/{}", b.unit_3c.id), vec![("label", "X")]),
        (format!("{property}/units/{}/remove", b.unit_3c.id), vec![]),
        (format!("{property}/doors/{}", b.package_room.id), vec![("name", "X"), ("kind", "lobby")]),
        (format!("{property}/doors/{}/remove", b.package_room.id), vec![]),
        (format!("{property}/drop-spots/{}", b.lobby_spot.id), vec![("name", "X"), ("kind", "lobby")]),
        (format!("{property}/drop-spots/{}/remove", b.lobby_spot.id), vec![]),
        (format!("{property}/locks/{room_lock}/decommission"), vec![]),
        (format!("{property}/locks/{room_lock}/replace"), vec![("device_key_source", "generate")]),
    ];
    for (path, form) in &targets {
        let r = post_form(kit, &otto, path, form).await?;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "another manager: {path}");
        let r = post_form(kit, &lee, path, form).await?;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "a resident: {path}");
    }
    // A unit of another building, through Rosa's building: not found.
    let r = post_form(kit, &rosa, &format!("{property}/units/{}", b.brownstone_unit.id), &[("label", "X")]).await?;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(b.otto.list_units(b.brownstone.id).await?[0].label, b.brownstone_unit.label);
    assert!(lock_of(b.package_room.id).await?[0].decommissioned_at.is_none(), "nothing changed");

    // Rosa renames 3C.
    let r = post_form(kit, &rosa, &format!("{property}/units/{}", b.unit_3c.id), &[("label", "3C north")]).await?;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(b.rosa.list_units(b.property.id).await?.iter().any(|u| u.label == "3C north"));

    // A door made a child of its own child: refused in its row, typed name kept.
    let r = post_form(
        kit,
        &rosa,
        &format!("{property}/doors/{}", b.lobby.id),
        &[("name", "Main lobby"), ("kind", "lobby"), ("parent_id", &b.package_room.id.to_string())],
    )
    .await?;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await?;
    assert!(html.contains(&format!("id=\"door:{}-error\"", b.lobby.id)), "the error is in the lobby's row");
    assert!(html.contains("value=\"Main lobby\""), "the name typed is kept");
    // A plain rename works.
    let r = post_form(
        kit,
        &rosa,
        &format!("{property}/doors/{}", b.lobby.id),
        &[("name", "Main lobby"), ("kind", "lobby"), ("parent_id", &b.entrance.id.to_string())],
    )
    .await?;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let doors = b.rosa.list_access_points(b.property.id).await?;
    let lobby = doors.iter().find(|a| a.id == b.lobby.id).expect("the lobby");
    assert_eq!((lobby.name.as_str(), lobby.parent_id), ("Main lobby", Some(b.entrance.id)));

    // What is in the way is said: a door with a lock, a unit with a resident.
    let r = post_form(kit, &rosa, &format!("{property}/doors/{}/remove", b.package_room.id), &[]).await?;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await?.contains("data-error-code=\"conflict\""));
    let r = post_form(kit, &rosa, &format!("{property}/units/{}/remove", b.unit_3c.id), &[]).await?;
    assert_eq!(r.status(), StatusCode::CONFLICT);

    // A drop spot renamed, then removed.
    let spot = format!("{property}/drop-spots/{}", b.lobby_spot.id);
    let r = post_form(kit, &rosa, &spot, &[("name", "Lobby shelf"), ("kind", "lobby"), ("unit_id", "")]).await?;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(b.rosa.list_drop_spots(b.property.id).await?.iter().any(|s| s.name == "Lobby shelf"));
    let r = post_form(kit, &rosa, &format!("{spot}/remove"), &[]).await?;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(b.rosa.list_drop_spots(b.property.id).await?.iter().all(|s| s.id != b.lobby_spot.id));

    // The package room's lock decommissioned; the street door's replaced,
    // its new bundle on the answer page only.
    let r = post_form(kit, &rosa, &format!("{property}/locks/{room_lock}/decommission"), &[]).await?;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(lock_of(b.package_room.id).await?[0].decommissioned_at.is_some());
    let street_lock = lock_of(b.entrance.id).await?[0].id;
    let r = post_form(
        kit,
        &rosa,
        &format!("{property}/locks/{street_lock}/replace"),
        &[("device_key_source", "generate"), ("mobile_credential", "yes")],
    )
    .await?;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.headers().get("cache-control").map(|v| v.as_bytes()), Some(&b"no-store"[..]));
    let html = r.text().await?;
    let street = lock_of(b.entrance.id).await?;
    let old = street.iter().find(|l| l.id == street_lock).expect("the old lock");
    let new = street.iter().find(|l| l.is_active()).expect("the new lock");
    assert_eq!(old.replaced_by, Some(new.id));
    assert!(html.contains(&new.id.to_string()), "the page names the new lock");
    let page =
        http()?.get(format!("{}{property}", kit.running.url())).header(COOKIE, &rosa).send().await?.text().await?;
    assert!(
        page.contains(&format!("/locks/{}/decommission", new.id)) && !page.contains(&format!("/locks/{street_lock}/"))
    );
    assert!(page.contains("(firmware 2.4.1) replaced"), "the old lock is shown replaced: {page}");
    assert!(page.contains("(firmware 2.4.1) decommissioned"), "and the decommissioned one: {page}");
    Ok(())
}

pub async fn dashboard_changes_and_removals(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    let base = kit.running.url();
    let rosa = sign_in(kit, &b.rosa_token).await?;
    let otto = sign_in(kit, &otto_token(kit).await?).await?;
    let property = format!("/app/manager/properties/{}", b.property.id);
    let invitation = b
        .rosa
        .invite_resident(b.unit_2b.id, &CreateInvitation { name: "Lee Park".into(), email: "lee@example.com".into() })
        .await?;
    let lee = kit.anon.redeem_invitation(&invitation.code).await?;
    let lee_cookie = sign_in(kit, &lee.token).await?;

    // Lee is listed in 2B's row with a move-out button.
    let page = http()?.get(format!("{base}{property}")).header(COOKIE, &rosa).send().await?.text().await?;
    let move_out = format!("{property}/units/{}/residents/{}/move-out", b.unit_2b.id, lee.item.id);
    assert!(page.contains(&format!("action=\"{move_out}\"")), "{page}");

    // Not by another manager, not through another building's unit.
    let r = post_form(kit, &otto, &move_out, &[]).await?;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = post_form(
        kit,
        &rosa,
        &format!("{property}/units/{}/residents/{}/move-out", b.brownstone_unit.id, lee.item.id),
        &[],
    )
    .await?;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let lee_lives_in_2b =
        || async { anyhow::Ok(b.rosa.list_unit_residents(b.unit_2b.id).await?.iter().any(|r| r.id == lee.item.id)) };
    assert!(lee_lives_in_2b().await?);

    // Rosa moves Lee out: his token and his session end.
    let r = post_form(kit, &rosa, &move_out, &[]).await?;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(!lee_lives_in_2b().await?);
    let (status, _) = crate::kit::api_error(kit.client(&lee.token).whoami().await);
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let r = http()?.get(format!("{base}/app/resident")).header(COOKIE, &lee_cookie).send().await?;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "the session ended");
    let r = post_form(kit, &rosa, &move_out, &[]).await?;
    assert_eq!(r.status(), StatusCode::CONFLICT, "moved out already: said on the page");

    // Parcelo dropped: not by Otto; by Rosa, once.
    let remove = format!("{property}/carriers/{}/remove", b.parcelo_id);
    let r = post_form(kit, &otto, &remove, &[]).await?;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(b.rosa.list_enablements(b.property.id).await?.iter().any(|e| e.carrier_id == b.parcelo_id));
    let r = post_form(kit, &rosa, &remove, &[]).await?;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(b.rosa.list_enablements(b.property.id).await?.iter().all(|e| e.carrier_id != b.parcelo_id));
    let r = post_form(kit, &rosa, &remove, &[]).await?;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let html = r.text().await?;
    assert!(html.contains("id=\"carrier-error\""), "the page says why, in the carriers' section");

    // Rosa hands the building to Nia, picked from the list; Otto cannot.
    let nia = kit.operator.create_manager("Nia Okafor").await?;
    let page = http()?.get(format!("{base}{property}")).header(COOKIE, &rosa).send().await?.text().await?;
    assert!(page.contains(&format!("<option value=\"{}\" >Nia Okafor</option>", nia.item.id)), "{page}");
    let nia_id = nia.item.id.to_string();
    let r = post_form(kit, &otto, &format!("{property}/handover"), &[("manager_id", &nia_id)]).await?;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = post_form(kit, &rosa, &format!("{property}/handover"), &[("manager_id", "")]).await?;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = post_form(kit, &rosa, &format!("{property}/handover"), &[("manager_id", &nia_id)]).await?;
    assert_eq!(
        (r.status(), r.headers().get(LOCATION).map(|v| v.as_bytes())),
        (StatusCode::SEE_OTHER, Some(&b"/app/manager"[..]))
    );
    let r = http()?.get(format!("{base}{property}")).header(COOKIE, &rosa).send().await?;
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "Rosa no longer manages it");
    assert_eq!(kit.client(&nia.token).get_property(b.property.id).await?.id, b.property.id);
    Ok(())
}

pub async fn dashboard_carrier_announces_updates_and_cancels(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    let gamma = kit.operator.create_carrier("Gamma Parcels").await?;
    let all_week = WeeklyHours {
        days: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"].map(String::from).to_vec(),
        start: "00:00".into(),
        end: "24:00".into(),
    };
    let terms = PutEnablement { enabled: true, hours: vec![all_week], allowed_drop_spots: vec![] };
    b.rosa.put_enablement(b.property.id, gamma.item.id, &terms).await?;
    let cookie = sign_in(kit, &gamma.token).await?;
    let base = kit.running.url();

    // The form offers Rosa's building's units by name.
    let page = http()?.get(format!("{base}/app/carrier")).header(COOKIE, &cookie).send().await?.text().await?;
    let place = format!("{}/{}", b.property.id, b.unit_2b.id);
    assert!(page.contains(&format!("<option value=\"{place}\" >{} · 2B</option>", b.property.name)), "{page}");

    // A window on a day that does not exist: refused, all kept.
    let mut form = vec![
        ("place", place.as_str()),
        ("tracking_number", "GP-1"),
        ("kind", "drop"),
        ("date", "2026-02-30"),
        ("from", "22:00"),
        ("until", "06:00"),
    ];
    let r = post_form(kit, &cookie, "/app/carrier/deliveries", &form).await?;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await?;
    assert!(html.contains("id=\"announce-error\"") && html.contains("value=\"GP-1\""), "{html}");
    assert!(html.contains(&format!("<option value=\"{place}\" selected>")), "the unit picked is kept");

    // Overnight, 22:00 until 06:00 the next morning, building time.
    form[3] = ("date", "2026-03-11");
    let r = post_form(kit, &cookie, "/app/carrier/deliveries", &form).await?;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let gamma_client = kit.client(&gamma.token);
    let d = gamma_client.list_deliveries().await?.pop().expect("announced");
    assert_eq!((d.unit_id, d.window_end - d.window_start), (b.unit_2b.id, 8 * HOUR));
    let page = http()?.get(format!("{base}/app/carrier")).header(COOKIE, &cookie).send().await?.text().await?;
    assert!(page.contains(&format!(
        "<span class=\"building\">{}</span> · unit <span class=\"unit\">2B</span>",
        b.property.name
    )));

    // The ETA, in building time; then cancelled.
    let eta = format!("/app/carrier/deliveries/{}/eta", d.id);
    let r = post_form(kit, &cookie, &eta, &[("eta", "not a time")]).await?;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = post_form(kit, &cookie, &eta, &[("eta", "2026-03-11T23:30")]).await?;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let d = gamma_client.get_delivery(d.id).await?;
    assert_eq!((d.state, d.eta.map(|e| e - d.window_start)), (DeliveryState::OutForDelivery, Some(90 * 60)));
    let r = post_form(kit, &cookie, &format!("/app/carrier/deliveries/{}/cancel", d.id), &[]).await?;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(gamma_client.get_delivery(d.id).await?.state, DeliveryState::Cancelled);
    // Cancelled: no more forms for it; cancelling again says why.
    let page = http()?.get(format!("{base}/app/carrier")).header(COOKIE, &cookie).send().await?.text().await?;
    assert!(page.contains(&format!("id=\"delivery-{}\" data-state=\"cancelled\"", d.id)));
    assert!(!page.contains(&format!("/app/carrier/deliveries/{}/cancel", d.id)));
    let r = post_form(kit, &cookie, &format!("/app/carrier/deliveries/{}/cancel", d.id), &[]).await?;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    Ok(())
}

/// `kit.now() + offset` as the building's (New York) local date and time.
fn new_york(kit: &Kit, offset: i64) -> anyhow::Result<(String, String)> {
    let tz = jiff::tz::TimeZone::get("America/New_York")?;
    let at = jiff::Timestamp::from_second(kit.now() + offset)?.to_zoned(tz);
    Ok((at.strftime("%Y-%m-%d").to_string(), at.strftime("%H:%M").to_string()))
}

async fn get_page(kit: &Kit, cookie: &str, path: &str) -> anyhow::Result<(StatusCode, String)> {
    let r = http()?.get(format!("{}{path}", kit.running.url())).header(COOKIE, cookie).send().await?;
    Ok((r.status(), r.text().await?))
}

pub async fn dashboard_resident_controls(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    let lee = resident_session(kit, &b, b.unit_2b.id, "Lee Park").await?;

    // Every /app/ path that is not a page is an HTML 404, signed in or not.
    for cookie in [lee.as_str(), ""] {
        let r = http()?
            .get(format!("{}/app/resident/nothing-here", kit.running.url()))
            .header(COOKIE, cookie)
            .send()
            .await?;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert!(r.headers()[reqwest::header::CONTENT_TYPE].to_str()?.starts_with("text/html"));
        assert!(r.text().await?.contains("data-error-code=\"not_found\""));
    }

    // The home page shows the tenant notice, and blocking until a date (the
    // building's midnight) stores that instant.
    let (status, home) = get_page(kit, &lee, "/app/resident").await?;
    assert_eq!(status, StatusCode::OK);
    assert!(home.contains("id=\"tenant-notice\"") && home.contains("Couriers of enabled carriers"), "{home}");
    let (tomorrow, _) = new_york(kit, 24 * HOUR)?;
    let r = post_form(kit, &lee, "/app/resident/block", &[("reason", ""), ("until", &tomorrow)]).await?;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let block = kit.store().active_block(b.unit_2b.id, kit.now()).await?.expect("blocked");
    let midnight = tomorrow
        .parse::<jiff::civil::Date>()?
        .to_zoned(jiff::tz::TimeZone::get("America/New_York")?)?
        .timestamp()
        .as_second();
    assert_eq!(block.until, Some(midnight), "until 00:00 New York time on {tomorrow}");
    let (_, home) = get_page(kit, &lee, "/app/resident/deliveries").await?;
    assert!(home.contains("blocked until"), "{home}");
    let r = post_form(kit, &lee, "/app/resident/block", &[("until", "not-a-date")]).await?;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    post_form(kit, &lee, "/app/resident/unblock", &[]).await?;

    // A guest pass: created from the form in local time, its codes shown
    // once, listed, revoked.
    let (day, from) = new_york(kit, 10 * 60)?;
    let (_, until) = new_york(kit, 50 * 60)?;
    let key = crate::lock::Handheld::generate().public_key_b64();
    let form = [
        ("name", "Ana the cleaner"),
        ("date", &day),
        ("from", &from),
        ("until", &until),
        ("handheld_public_key", &key),
        ("max_uses", "2"),
    ];
    let r = post_form(kit, &lee, "/app/resident/guests", &form).await?;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await?;
    assert!(html.contains("id=\"issued\"") && html.contains("Pass for Ana the cleaner"), "{html}");
    assert!(html.contains("class=\"credential\""), "the credentials to share are shown: {html}");
    let passes = b.jun.client.list_guest_passes(b.unit_2b.id).await?;
    let pass = passes.iter().find(|g| g.name == "Ana the cleaner").expect("the pass is stored");
    assert_eq!(pass.valid_until - pass.valid_from, 40 * 60);
    let (_, list) = get_page(kit, &lee, "/app/resident/guests").await?;
    assert!(
        list.contains(&format!("data-pass=\"{}\"", pass.id)) && !list.contains("id=\"issued\""),
        "shown once: {list}"
    );
    // Without a key for the doors that read phones: the API's message, what was typed kept.
    let r = post_form(
        kit,
        &lee,
        "/app/resident/guests",
        &[("name", "Bo"), ("date", &day), ("from", &from), ("until", &until)],
    )
    .await?;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await?;
    assert!(html.contains("id=\"guest-error\"") && html.contains("value=\"Bo\""), "{html}");
    // Another unit's resident cannot revoke it; Lee can.
    let kim = resident_session(kit, &b, b.unit_3c.id, "Kim Lo").await?;
    let r = post_form(kit, &kim, &format!("/app/resident/guests/{}/revoke", pass.id), &[]).await?;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = post_form(kit, &lee, &format!("/app/resident/guests/{}/revoke", pass.id), &[]).await?;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, list) = get_page(kit, &lee, "/app/resident/guests").await?;
    assert!(list.contains("data-state=\"revoked\""), "{list}");

    // A return, carrier and spot picked by name from lists.
    let (_, page) = get_page(kit, &lee, "/app/resident/returns").await?;
    assert!(
        page.contains(&format!("<option value=\"{}\"", b.parcelo_id)) && page.contains(">Parcelo</option>"),
        "{page}"
    );
    let (day, from) = new_york(kit, HOUR)?;
    let (_, until) = new_york(kit, 3 * HOUR)?;
    let (carrier, spot) = (b.parcelo_id.to_string(), b.room_spot.id.to_string());
    let form =
        [("carrier_id", carrier.as_str()), ("drop_spot_id", &spot), ("date", &day), ("from", &from), ("until", &until)];
    let r = post_form(kit, &lee, "/app/resident/returns", &form).await?;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let deliveries = b.jun.client.unit_deliveries(b.unit_2b.id).await?;
    assert!(deliveries.iter().any(|d| d.kind == DeliveryKind::Pickup && d.drop_spot_id == Some(b.room_spot.id)));
    // A spot Parcelo may not use: refused, nothing scheduled.
    let lobby = b.lobby_spot.id.to_string();
    let form = [
        ("carrier_id", carrier.as_str()),
        ("drop_spot_id", &lobby),
        ("date", &day),
        ("from", &from),
        ("until", &until),
    ];
    let r = post_form(kit, &lee, "/app/resident/returns", &form).await?;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await?.contains("id=\"return-error\""));
    assert_eq!(b.jun.client.unit_deliveries(b.unit_2b.id).await?.len(), deliveries.len());

    // Preferences: the pickup point from the directory, carriers and drivers by name.
    let point = b
        .rosa
        .create_pickup_point(&CreatePickupPoint {
            name: "Corner Deli".into(),
            address: "200 E 9th St".into(),
            time_zone: "America/New_York".into(),
            hours: crate::fixture::all_day(),
        })
        .await?;
    b.parcel(kit, "PCL-8001", b.unit_2b.id).await?;
    b.expect_granted(b.dana.client.request_access(&b.ask("PCL-8001")).await).await?;
    let (_, page) = get_page(kit, &lee, "/app/resident/preferences").await?;
    assert!(page.contains("Corner Deli, 200 E 9th St"), "{page}");
    assert!(page.contains("data-name=\"Dana") && page.contains("data-name=\"Parcelo\""), "{page}");
    assert!(!page.contains("id=\"pickup_point\""), "no free-text pickup point");
    let (point_id, dana, parcelo) =
        (point.id.to_string(), format!("driver-{}", b.dana.id), format!("carrier-{}", b.parcelo_id));
    let form = [("pickup_point_id", point_id.as_str()), (dana.as_str(), "block"), (parcelo.as_str(), "allow")];
    let r = post_form(kit, &lee, "/app/resident/preferences", &form).await?;
    assert_eq!(r.status(), StatusCode::OK);
    let prefs = b.jun.client.get_preferences(b.unit_2b.id).await?;
    assert_eq!(prefs.pickup_point_id, Some(point.id));
    assert_eq!((prefs.blocked_drivers, prefs.allowed_carriers), (vec![b.dana.id], vec![b.parcelo_id]));
    // An id not from the list is refused, nothing changed.
    let r = post_form(kit, &lee, "/app/resident/preferences", &[("pickup_point_id", "nope")]).await?;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(b.jun.client.get_preferences(b.unit_2b.id).await?.pickup_point_id, Some(point.id));

    // The audit page is in the building's time zone.
    let (_, audit) = get_page(kit, &lee, "/app/audit").await?;
    assert!(audit.contains("Times are America/New_York time."), "{audit}");
    Ok(())
}
