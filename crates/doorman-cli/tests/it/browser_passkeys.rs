//! Passkeys in headless Chromium with WebDriver's virtual authenticators
//! (one per "device"): a new resident creates a passkey right after
//! redeeming their invitation, signs out and back in with it (no name
//! typed), adds a second passkey from another device on the account page,
//! removes the first, signs in with the second; the removed one, copied
//! onto a device again, is refused by the service.

use doorman_api::*;
use serde_json::{json, Value};

use crate::fixture::Building;
use crate::kit::Kit;
use crate::webdriver::{browser_programs, Browser};

/// Waits until the page is `path` (the passkey script navigates by itself).
pub(crate) async fn arrives_at(browser: &Browser, path: &str) -> anyhow::Result<()> {
    for _ in 0..300 {
        let now = browser.execute("return document.readyState === 'complete' ? location.pathname : '';").await?;
        if now == json!(path) {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let at = browser.execute("return location.href + ' ' + document.body.innerText;").await?;
    anyhow::bail!("never reached {path}; the browser shows {at}")
}

/// The names in the account page's passkey list.
async fn listed(browser: &Browser) -> anyhow::Result<Vec<String>> {
    if let Err(e) = browser.find("#passkey-list").await {
        let shown = browser.execute("return location.href + ' ' + document.body.innerText;").await?;
        anyhow::bail!("{e}: the browser shows {shown}");
    }
    let names = browser
        .execute("return Array.from(document.querySelectorAll('#passkey-list tr[data-passkey] .name')).map(function (e) { return e.textContent.trim(); });")
        .await?;
    Ok(serde_json::from_value(names)?)
}

async fn sign_out(browser: &Browser) -> anyhow::Result<()> {
    browser.submit(".signout button").await?;
    arrives_at(browser, "/app/sign-in").await
}

pub async fn browser_passkeys_register_sign_in_add_and_remove(kit: &Kit) -> anyhow::Result<()> {
    let test = format!("browser_passkeys_register_sign_in_add_and_remove_{}", kit.backend_name());
    let Some((chromium, chromedriver)) = browser_programs(&test) else { return Ok(()) };
    let b = Building::seed(kit).await?;
    let invitation = b
        .rosa
        .invite_resident(b.unit_2b.id, &CreateInvitation { name: "Lee Park".into(), email: "lee@example.com".into() })
        .await?;
    // WebAuthn wants a host name: the service is its own http://localhost:PORT.
    let base = format!("http://localhost:{}", kit.running.addr.port());
    assert_eq!(kit.running.service.passkey_origin(), Some(base.as_str()));

    let mut browser = Browser::start(&chromium, &chromedriver, &test).await?;
    let phone = browser.add_virtual_authenticator().await?;

    // Redeemed: the welcome page offers a passkey at once.
    browser.goto(&format!("{base}/app/sign-in")).await?;
    browser.find("#passkey-sign-in").await?;
    browser.screenshot("sign-in-page").await?;
    browser.find("#code").await?.type_text(&invitation.code).await?;
    browser.submit("#redeem").await?;
    browser.find("#create-passkey").await?;
    browser.screenshot("welcome-offers-a-passkey").await?;
    let token = browser.text_of("#new-token").await?;
    browser.execute("document.getElementById('passkey-name').value = 'Lee\\u2019s phone';").await?;
    browser.find("#create-passkey").await?.click().await?;
    arrives_at(&browser, "/app/account").await?;
    assert_eq!(listed(&browser).await?, ["Lee’s phone"]);
    browser.screenshot("account-with-one-passkey").await?;
    let on_phone = browser.virtual_credentials(&phone).await?;
    assert_eq!(on_phone.len(), 1, "one credential on the phone: {on_phone:?}");
    assert_eq!(on_phone[0]["isResidentCredential"], json!(true), "discoverable");
    let first: Value = on_phone[0].clone();

    // Signed out and back in with the passkey, nothing typed.
    sign_out(&browser).await?;
    browser.find("#passkey-sign-in").await?.click().await?;
    arrives_at(&browser, "/app/resident").await?;
    browser.screenshot("signed-in-with-the-passkey").await?;
    browser.goto(&format!("{base}/app/account")).await?;
    let used = browser.text_of("#passkey-list tr[data-passkey] .last-used").await?;
    assert_ne!(used, "never", "the sign-in is recorded");

    // A second device, a minute later: its passkey is added from the account page.
    kit.advance(60);
    browser.remove_virtual_authenticator(&phone).await?;
    let laptop = browser.add_virtual_authenticator().await?;
    browser.find("#passkey-name").await?.type_text("Lee’s laptop").await?;
    browser.find("#add-passkey").await?.click().await?;
    for _ in 0..300 {
        if listed(&browser).await?.len() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(listed(&browser).await?, ["Lee’s phone", "Lee’s laptop"]);
    browser.screenshot("account-with-two-passkeys").await?;

    // Signed in with the laptop's passkey (the phone's session would end
    // with the phone's passkey), the first is removed: the page asks first,
    // the test says yes.
    sign_out(&browser).await?;
    browser.find("#passkey-sign-in").await?.click().await?;
    arrives_at(&browser, "/app/resident").await?;
    browser.goto(&format!("{base}/app/account")).await?;
    browser.execute("window.confirm = function () { return true; };").await?;
    let first_row = browser
        .execute(
            "return Array.from(document.querySelectorAll('#passkey-list tr[data-passkey]'))
               .find(function (r) { return r.querySelector('.name').textContent.trim() === 'Lee’s phone'; })
               .getAttribute('data-passkey');",
        )
        .await?;
    let first_id = first_row.as_str().unwrap_or_default().to_string();
    browser.submit(&format!("tr[data-passkey='{first_id}'] .remove-passkey")).await?;
    assert_eq!(listed(&browser).await?, ["Lee’s laptop"]);
    browser.screenshot("first-passkey-removed").await?;

    // Signed out, the second one signs in again.
    sign_out(&browser).await?;
    browser.find("#passkey-sign-in").await?.click().await?;
    arrives_at(&browser, "/app/resident").await?;
    sign_out(&browser).await?;

    // The removed one, on a device again, is refused: the page says so and
    // nobody is signed in.
    browser.remove_virtual_authenticator(&laptop).await?;
    let copy = browser.add_virtual_authenticator().await?;
    let credential = json!({
        "credentialId": first["credentialId"], "isResidentCredential": true, "rpId": first["rpId"],
        "privateKey": first["privateKey"], "userHandle": first["userHandle"], "signCount": first["signCount"]
    });
    browser.add_virtual_credential(&copy, &credential).await?;
    browser.find("#passkey-sign-in").await?.click().await?;
    let status = browser.find("#passkey-status[data-state=error]").await?.text().await?;
    assert!(status.contains("not registered"), "{status}");
    browser.screenshot("removed-passkey-refused").await?;
    browser.goto(&format!("{base}/app/resident")).await?;
    arrives_at(&browser, "/app/sign-in").await?;

    // Each change is in Lee's log; a resident's passkeys are not the
    // manager's business.
    let names = |page: EventPage| -> Vec<String> {
        page.events.iter().map(|e| e.kind.name().to_string()).filter(|n| n.starts_with("passkey")).collect()
    };
    let lee = kit.client(&token);
    assert_eq!(names(lee.events(None, Some(1000)).await?), ["passkey_added", "passkey_added", "passkey_removed"]);
    assert!(names(b.rosa.events(None, Some(1000)).await?).is_empty());
    browser.quit().await?;
    Ok(())
}
