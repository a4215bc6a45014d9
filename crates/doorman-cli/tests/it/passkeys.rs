//! Passkeys on the server side, through the dashboard's real endpoints with
//! a software authenticator (`soft_passkey`): registered, used, removed,
//! and every attack the brief names refused: an assertion replayed, a
//! challenge from another ceremony, another person's credential, a removed
//! credential, a wrong origin, a cloned authenticator (its counter behind),
//! a registration finished by someone else; re-invitations by the manager
//! (and refused to a manager of another building); each change in the log.

use std::collections::BTreeMap;

use doorman_api::*;
use reqwest::header::{COOKIE, ORIGIN, SET_COOKIE};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::fixture::Building;
use crate::kit::{expect_error, Kit};
use crate::soft_passkey::SoftPasskey;

/// A browser's view of the dashboard: its cookies, and this site's Origin
/// on every request.
pub struct Browsing {
    http: reqwest::Client,
    base: String,
    cookies: BTreeMap<String, String>,
}

/// An answer: status, body, and the body as JSON (or Null).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub text: String,
    pub json: Value,
}

impl Browsing {
    pub fn new(kit: &Kit) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
        Ok(Self { http, base: kit.running.url(), cookies: BTreeMap::new() })
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> anyhow::Result<Answer> {
        let response = request.header(ORIGIN, &self.base).header(COOKIE, self.cookie_header()).send().await?;
        for set in response.headers().get_all(SET_COOKIE) {
            let first = set.to_str()?.split(';').next().unwrap_or_default();
            if let Some((name, value)) = first.split_once('=') {
                if value.is_empty() {
                    self.cookies.remove(name);
                } else {
                    self.cookies.insert(name.to_string(), value.to_string());
                }
            }
        }
        let status = response.status();
        let text = response.text().await?;
        Ok(Answer { status, json: serde_json::from_str(&text).unwrap_or(Value::Null), text })
    }

    pub async fn post_json(&mut self, path: &str, body: Value) -> anyhow::Result<Answer> {
        let request = self.http.post(format!("{}{path}", self.base)).json(&body);
        self.send(request).await
    }

    pub async fn post_form(&mut self, path: &str, form: &[(&str, &str)]) -> anyhow::Result<Answer> {
        let request = self.http.post(format!("{}{path}", self.base)).form(form);
        self.send(request).await
    }

    pub async fn get(&mut self, path: &str) -> anyhow::Result<Answer> {
        let request = self.http.get(format!("{}{path}", self.base));
        self.send(request).await
    }

    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies.get(name).cloned()
    }

    pub fn set_cookie(&mut self, name: &str, value: Option<String>) {
        match value {
            Some(v) => self.cookies.insert(name.to_string(), v),
            None => self.cookies.remove(name),
        };
    }

    /// Signs in with an API token, as the sign-in form does.
    pub async fn sign_in_with_token(&mut self, token: &str) -> anyhow::Result<()> {
        let answer = self.post_form("/app/sign-in", &[("token", token)]).await?;
        anyhow::ensure!(answer.status == StatusCode::SEE_OTHER, "token sign-in: {answer:?}");
        Ok(())
    }

    /// Registers `passkey` under `name`; the answer to the last step.
    pub async fn register(&mut self, passkey: &mut SoftPasskey, name: &str) -> anyhow::Result<Answer> {
        let options = self.post_json("/app/passkeys/register/options", json!({})).await?;
        anyhow::ensure!(options.status == StatusCode::OK, "registration options: {options:?}");
        let credential = passkey.register(&options.json);
        self.post_json("/app/passkeys/register", json!({"name": name, "credential": credential})).await
    }

    /// Starts a passkey sign-in: the options (the ceremony cookie kept).
    pub async fn sign_in_options(&mut self) -> anyhow::Result<Value> {
        let options = self.post_json("/app/passkeys/sign-in/options", json!({})).await?;
        anyhow::ensure!(options.status == StatusCode::OK, "sign-in options: {options:?}");
        Ok(options.json)
    }

    pub async fn finish_sign_in(&mut self, credential: &Value) -> anyhow::Result<Answer> {
        self.post_json("/app/passkeys/sign-in", json!({ "credential": credential })).await
    }

    /// A whole passkey sign-in.
    pub async fn sign_in_with(&mut self, passkey: &mut SoftPasskey) -> anyhow::Result<Answer> {
        let options = self.sign_in_options().await?;
        let assertion = passkey.assert(&options);
        self.finish_sign_in(&assertion).await
    }

    /// Whether the session cookie signs in as a resident.
    pub async fn is_signed_in(&mut self) -> anyhow::Result<bool> {
        Ok(self.get("/app/resident").await?.status == StatusCode::OK)
    }
}

fn refused(answer: &Answer, why: &str) {
    assert_eq!(
        (answer.status, answer.json["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("passkey_refused")),
        "{why}: {answer:?}"
    );
}

/// The kinds of the log entries the client's principal sees.
async fn logged(client: &doorman_client::Client) -> anyhow::Result<Vec<EventKind>> {
    Ok(client.events(None, Some(1000)).await?.events.into_iter().map(|e| e.kind).collect())
}

async fn invite(kit: &Kit, b: &Building, unit: UnitId, name: &str, email: &str) -> anyhow::Result<ResidentCreated> {
    let invitation = b.rosa.invite_resident(unit, &CreateInvitation { name: name.into(), email: email.into() }).await?;
    Ok(kit.anon.redeem_invitation(&invitation.code).await?)
}

pub async fn passkeys_sign_in_and_refuse_replays_clones_and_strangers(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    let origin = kit.running.service.passkey_origin().expect("passkeys are on").to_string();
    assert_eq!(origin, format!("http://localhost:{}", kit.running.addr.port()));
    let lee = invite(kit, &b, b.unit_2b.id, "Lee Park", "lee@example.com").await?;
    let mia = invite(kit, &b, b.unit_3c.id, "Mia Chen", "mia@example.com").await?;

    // Lee, signed in with the token, adds a passkey.
    let mut lee_tab = Browsing::new(kit)?;
    lee_tab.sign_in_with_token(&lee.token).await?;
    let mut phone = SoftPasskey::new(&origin);
    let added = lee_tab.register(&mut phone, "Lee's phone").await?;
    assert_eq!(added.status, StatusCode::CREATED, "{added:?}");
    assert_eq!(added.json["passkey"]["name"], "Lee's phone");
    assert!(lee_tab.cookie("doorman_passkey").is_none(), "the ceremony cookie is cleared once used");
    // Without a session there is no registering.
    let mut nobody = Browsing::new(kit)?;
    let answer = nobody.post_json("/app/passkeys/register/options", json!({})).await?;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);

    // A new browser signs in with it, no name typed: a session as Lee.
    let mut tab = Browsing::new(kit)?;
    let answer = tab.sign_in_with(&mut phone).await?;
    assert_eq!((answer.status, answer.json["redirect"].as_str()), (StatusCode::OK, Some("/app/resident")));
    assert!(tab.cookie("doorman_session").is_some());
    assert!(tab.is_signed_in().await?);
    let page = tab.get("/app/account").await?;
    assert_eq!(page.status, StatusCode::OK);

    // Replayed: the same assertion with the same ceremony cookie, and with a
    // fresh ceremony (another challenge).
    let mut replay = Browsing::new(kit)?;
    let options = replay.sign_in_options().await?;
    let ceremony = replay.cookie("doorman_passkey");
    let assertion = phone.assert(&options);
    assert_eq!(replay.finish_sign_in(&assertion).await?.status, StatusCode::OK);
    replay.set_cookie("doorman_passkey", ceremony);
    refused(&replay.finish_sign_in(&assertion).await?, "the same ceremony twice");
    replay.sign_in_options().await?;
    refused(&replay.finish_sign_in(&assertion).await?, "an old assertion for a new challenge");

    // A challenge from another session: the assertion answers tab A's
    // challenge but is sent with tab B's ceremony.
    let mut a = Browsing::new(kit)?;
    let mut b_tab = Browsing::new(kit)?;
    let a_options = a.sign_in_options().await?;
    b_tab.sign_in_options().await?;
    refused(&b_tab.finish_sign_in(&phone.assert(&a_options)).await?, "another session's challenge");
    assert!(b_tab.cookie("doorman_session").is_none());

    // Wrong origin: the same key, at another site.
    let mut phished = phone.clone();
    phished.origin = origin.replace("localhost", "evil.localhost");
    let mut evil = Browsing::new(kit)?;
    let options = evil.sign_in_options().await?;
    refused(&evil.finish_sign_in(&phished.assert(&options)).await?, "an assertion made for another origin");
    let mut elsewhere = SoftPasskey::new(&origin.replace("localhost", "evil.localhost"));
    refused(&lee_tab.register(&mut elsewhere, "phished").await?, "a registration made for another origin");

    // Another person's credential: Mia has one; Lee's key cannot use it.
    let mut mia_tab = Browsing::new(kit)?;
    mia_tab.sign_in_with_token(&mia.token).await?;
    let mut mia_key = SoftPasskey::new(&origin);
    assert_eq!(mia_tab.register(&mut mia_key, "Mia's laptop").await?.status, StatusCode::CREATED);
    let mut thief = Browsing::new(kit)?;
    let options = thief.sign_in_options().await?;
    let forged = phone.assert_as(&options, &mia_key.credential_id, &mia_key.user_handle);
    refused(&thief.finish_sign_in(&forged).await?, "Lee's key naming Mia's credential");
    let options = thief.sign_in_options().await?;
    let swapped = phone.assert_as(&options, &phone.credential_id, &mia_key.user_handle);
    refused(&thief.finish_sign_in(&swapped).await?, "Lee's credential claiming Mia's account");
    assert!(!thief.is_signed_in().await?);

    // A registration ceremony Lee started cannot be finished in Mia's session.
    let options = lee_tab.post_json("/app/passkeys/register/options", json!({})).await?;
    mia_tab.set_cookie("doorman_passkey", lee_tab.cookie("doorman_passkey"));
    let mut planted = SoftPasskey::new(&origin);
    let credential = planted.register(&options.json);
    let answer =
        mia_tab.post_json("/app/passkeys/register", json!({"name": "planted", "credential": credential})).await?;
    refused(&answer, "Lee's registration ceremony in Mia's session");

    // A cloned authenticator: the copy's counter is behind the original's.
    let clone = phone.clone();
    assert_eq!(Browsing::new(kit)?.sign_in_with(&mut phone).await?.status, StatusCode::OK);
    let mut clone = clone;
    let mut cloned_tab = Browsing::new(kit)?;
    refused(&cloned_tab.sign_in_with(&mut clone).await?, "a counter that did not move forward");

    // Removed: the passkey's sessions end and it signs nobody in.
    let passkeys = kit
        .running
        .service
        .list_passkeys(&Principal::Resident { resident_id: lee.item.id, unit_id: b.unit_2b.id })
        .await?;
    assert_eq!(passkeys.len(), 1);
    let removed = lee_tab.post_form(&format!("/app/account/passkeys/{}/remove", passkeys[0].id), &[]).await?;
    assert_eq!(removed.status, StatusCode::SEE_OTHER, "{removed:?}");
    assert!(!tab.is_signed_in().await?, "the session the passkey opened ended with it");
    assert!(lee_tab.is_signed_in().await?, "the token's session goes on");
    refused(&Browsing::new(kit)?.sign_in_with(&mut phone).await?, "a removed credential");
    // Someone else's passkey is not found, and stays.
    let mia_passkeys = kit
        .running
        .service
        .list_passkeys(&Principal::Resident { resident_id: mia.item.id, unit_id: b.unit_3c.id })
        .await?;
    let answer = lee_tab.post_form(&format!("/app/account/passkeys/{}/remove", mia_passkeys[0].id), &[]).await?;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);

    // The last way in stays: with the API token revoked, Lee's only passkey
    // cannot be removed.
    let mut laptop = SoftPasskey::new(&origin);
    assert_eq!(lee_tab.register(&mut laptop, "Lee's laptop").await?.status, StatusCode::CREATED);
    let lee_client = kit.client(&lee.token);
    let log = logged(&lee_client).await?;
    let names: Vec<&str> = log.iter().map(EventKind::name).filter(|n| n.starts_with("passkey")).collect();
    assert_eq!(names, ["passkey_added", "passkey_removed", "passkey_added"]);
    assert!(log.iter().any(|k| matches!(k, EventKind::PasskeyAdded { name, .. } if name == "Lee's laptop")));
    lee_client.revoke_token(&lee.token).await?;
    let mut laptop_tab = Browsing::new(kit)?;
    assert_eq!(laptop_tab.sign_in_with(&mut laptop).await?.status, StatusCode::OK);
    let id = kit
        .running
        .service
        .list_passkeys(&Principal::Resident { resident_id: lee.item.id, unit_id: b.unit_2b.id })
        .await?[0]
        .id;
    let answer = laptop_tab.post_form(&format!("/app/account/passkeys/{id}/remove"), &[]).await?;
    assert_eq!(answer.status, StatusCode::CONFLICT);
    assert!(laptop_tab.is_signed_in().await?);
    assert_eq!(laptop_tab.sign_in_with(&mut laptop).await?.status, StatusCode::OK);

    // Malformed answers are a 4xx, never a 5xx.
    let mut junk = Browsing::new(kit)?;
    junk.sign_in_options().await?;
    let answer = junk.finish_sign_in(&json!({"id": "x"})).await?;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{answer:?}");
    let answer = junk.finish_sign_in(&json!("text")).await?;
    assert!(answer.status.is_client_error(), "{answer:?}");
    let answer = Browsing::new(kit)?.finish_sign_in(&json!({})).await?;
    assert!(answer.status.is_client_error(), "{answer:?}");
    Ok(())
}

pub async fn reinvited_resident_comes_back_as_the_same_account(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    let origin = kit.running.service.passkey_origin().expect("passkeys are on").to_string();
    let lee = invite(kit, &b, b.unit_2b.id, "Lee Park", "lee@example.com").await?;
    let lee_client = kit.client(&lee.token);
    let prefs = UnitPreferences { alternate_address: Some("Back office, 14 Orchard St".into()), ..Default::default() };
    lee_client.put_preferences(b.unit_2b.id, &prefs).await?;
    let mut tab = Browsing::new(kit)?;
    tab.sign_in_with_token(&lee.token).await?;
    let mut phone = SoftPasskey::new(&origin);
    assert_eq!(tab.register(&mut phone, "Lee's phone").await?.status, StatusCode::CREATED);
    let mut phone_tab = Browsing::new(kit)?;
    assert_eq!(phone_tab.sign_in_with(&mut phone).await?.status, StatusCode::OK);

    // Only the building's manager may re-invite, and only a current resident.
    let other = &b.otto;
    expect_error(other.reinvite_resident(b.unit_2b.id, lee.item.id).await, StatusCode::NOT_FOUND, "not_found");
    expect_error(lee_client.reinvite_resident(b.unit_2b.id, lee.item.id).await, StatusCode::FORBIDDEN, "forbidden");
    expect_error(
        b.rosa.reinvite_resident(b.unit_2b.id, ResidentId::random()).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    expect_error(b.rosa.reinvite_resident(b.unit_3c.id, lee.item.id).await, StatusCode::NOT_FOUND, "not_found");
    assert!(phone_tab.is_signed_in().await?, "refused re-invitations change nothing");

    // The manager re-invites Lee: the lost phone signs nobody in any more.
    let residents = b.rosa.list_unit_residents(b.unit_2b.id).await?.len();
    let again = b.rosa.reinvite_resident(b.unit_2b.id, lee.item.id).await?;
    assert_eq!(again.invitation.resident_id, Some(lee.item.id));
    assert!(!phone_tab.is_signed_in().await?, "the passkey's session ended");
    assert!(!tab.is_signed_in().await?, "every dashboard session of Lee ended");
    refused(&Browsing::new(kit)?.sign_in_with(&mut phone).await?, "a passkey removed by the re-invitation");
    assert_eq!(lee_client.get_preferences(b.unit_2b.id).await?, prefs, "the API token still works");

    // Redeemed: the same resident, their preferences kept, a new token.
    let back = kit.anon.redeem_invitation(&again.code).await?;
    assert_eq!(back.item, lee.item);
    let back_client = kit.client(&back.token);
    assert_eq!(back_client.get_preferences(b.unit_2b.id).await?, prefs);
    expect_error(kit.anon.redeem_invitation(&again.code).await, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(b.rosa.list_unit_residents(b.unit_2b.id).await?.len(), residents, "no second account");
    let mut new_phone = SoftPasskey::new(&origin);
    let mut new_tab = Browsing::new(kit)?;
    new_tab.sign_in_with_token(&back.token).await?;
    assert_eq!(new_tab.register(&mut new_phone, "New phone").await?.status, StatusCode::CREATED);
    assert_eq!(Browsing::new(kit)?.sign_in_with(&mut new_phone).await?.status, StatusCode::OK);

    // The log says so, to Lee and to the manager.
    let kinds = logged(&back_client).await?;
    let names: Vec<&str> =
        kinds.iter().map(EventKind::name).filter(|n| n.starts_with("passkey") || n.contains("reinvit")).collect();
    assert_eq!(
        names,
        ["passkey_added", "resident_reinvited", "passkey_removed", "reinvitation_redeemed", "passkey_added"]
    );
    assert!(kinds.iter().any(|k| matches!(
        k,
        EventKind::PasskeyRemoved { by_reinvitation: Some(id), .. } if *id == again.invitation.id
    )));
    let manager_sees = logged(&b.rosa).await?;
    assert!(manager_sees
        .iter()
        .any(|k| matches!(k, EventKind::ResidentReinvited { resident_id, .. } if *resident_id == lee.item.id)));

    // The dashboard's button on the manager's property page does the same,
    // and only for the building's manager.
    let form =
        format!("/app/manager/properties/{}/units/{}/residents/{}/reinvite", b.property.id, b.unit_2b.id, lee.item.id);
    let stranger = kit.operator.create_manager("Another Management").await?;
    let mut stranger_tab = Browsing::new(kit)?;
    stranger_tab.sign_in_with_token(&stranger.token).await?;
    assert_eq!(stranger_tab.post_form(&form, &[]).await?.status, StatusCode::NOT_FOUND);
    let mut rosa_tab = Browsing::new(kit)?;
    rosa_tab.sign_in_with_token(&b.rosa_token).await?;
    let page = rosa_tab.get(&format!("/app/manager/properties/{}", b.property.id)).await?;
    assert!(page.text.contains(&format!("{}/reinvite", lee.item.id)), "the property page offers a re-invitation");
    let page = rosa_tab.post_form(&form, &[]).await?;
    assert_eq!(page.status, StatusCode::CREATED, "{}", page.text);
    assert!(page.text.contains("Resident re-invited") && page.text.contains("inv_"), "{}", page.text);
    refused(
        &Browsing::new(kit)?.sign_in_with(&mut new_phone).await?,
        "a passkey removed by the dashboard's re-invitation",
    );

    // Moved out: no re-invitation, and an open one no longer works.
    let pending = b.rosa.reinvite_resident(b.unit_2b.id, lee.item.id).await?;
    b.rosa.move_out_resident(b.unit_2b.id, lee.item.id).await?;
    expect_error(b.rosa.reinvite_resident(b.unit_2b.id, lee.item.id).await, StatusCode::NOT_FOUND, "not_found");
    expect_error(kit.anon.redeem_invitation(&pending.code).await, StatusCode::NOT_FOUND, "not_found");
    refused(&Browsing::new(kit)?.sign_in_with(&mut new_phone).await?, "a moved-out resident's passkey");
    Ok(())
}
