//! API tokens after they are issued: revoked by whoever holds them (the
//! token then gets 401 and its dashboard sessions end, logged), and an
//! operator token minted offline with the database (`doorman operator token`).

use std::process::{Command, Stdio};

use doorman_api::*;
use doorman_domain::{Event, EventKind};
use doorman_store::EntryFilter;
use reqwest::header::{COOKIE, LOCATION, ORIGIN, SET_COOKIE};
use reqwest::StatusCode;

use crate::fixture::Building;
use crate::kit::{expect_error, Kit, TempDir};

/// Every `configuration_changed` entry of the log, in words, with its event.
async fn changes(kit: &Kit) -> anyhow::Result<Vec<(String, Event)>> {
    let all = EntryFilter { everything: true, ..Default::default() };
    let entries = kit.store().log_entries(&all, 0..u64::MAX >> 2, 100_000).await?;
    Ok(entries
        .iter()
        .filter_map(|e| Event::from_bytes(&e.bytes).ok())
        .filter_map(|e| match &e.kind {
            EventKind::ConfigurationChanged { what } => Some((what.clone(), e)),
            _ => None,
        })
        .collect())
}

fn http() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?)
}

/// Signs in on the dashboard with `token`; the `name=value` session cookie.
async fn dashboard_session(kit: &Kit, token: &str) -> anyhow::Result<String> {
    let base = kit.running.url();
    let r = http()?.post(format!("{base}/app/sign-in")).header(ORIGIN, &base).form(&[("token", token)]).send().await?;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let cookie = r.headers().get(SET_COOKIE).ok_or_else(|| anyhow::anyhow!("no session cookie"))?.to_str()?;
    Ok(cookie.split(';').next().unwrap_or_default().to_string())
}

/// Whether the dashboard session still opens `page` (a signed-out browser is
/// sent to sign in).
async fn session_opens(kit: &Kit, cookie: &str, page: &str) -> anyhow::Result<bool> {
    let r = http()?.get(format!("{}{page}", kit.running.url())).header(COOKIE, cookie).send().await?;
    match r.status() {
        StatusCode::OK => Ok(true),
        StatusCode::SEE_OTHER if r.headers().get(LOCATION).is_some_and(|l| l.as_bytes() == b"/app/sign-in") => {
            Ok(false)
        }
        other => anyhow::bail!("{page}: {other}"),
    }
}

pub async fn revoked_token_gets_401_and_its_sessions_end(kit: &Kit) -> anyhow::Result<()> {
    let b = Building::seed(kit).await?;
    // A second manager, a resident of 2B and a driver of Parcelo, each with a token of their own.
    let vera = kit.operator.create_manager("Vera Ortiz").await?;
    let invitation = b
        .rosa
        .invite_resident(b.unit_2b.id, &CreateInvitation { name: "Lee Park".into(), email: "lee@example.com".into() })
        .await?;
    let lee = kit.anon.redeem_invitation(&invitation.code).await?;
    let fay = b
        .parcelo
        .create_driver(&CreateDriver {
            name: "Fay".into(),
            handheld_public_key: None,
            vetting: VettingStatus::Passed,
            vetted_at: None,
        })
        .await?;
    let (vera_c, lee_c, fay_c) = (kit.client(&vera.token), kit.client(&lee.token), kit.client(&fay.token));
    let before = changes(kit).await?.len();

    // Guessing is not possessing: a made-up token, or one shaped like Vera's
    // but not hers, revokes nothing (the same 204: no oracle for which exist).
    for guess in [
        format!("dm_{}", "A".repeat(43)),
        format!("{}x", vera.token),
        format!("dm_{}", vera.token.trim_start_matches("dm_").to_uppercase()),
    ] {
        b.parcelo.revoke_token(&guess).await?;
        b.dana.client.revoke_token(&guess).await?;
    }
    assert_eq!(vera_c.whoami().await?.principal, doorman_domain::Principal::Manager { manager_id: vera.item.id });
    assert_eq!(changes(kit).await?.len(), before, "nothing was revoked, nothing logged");
    // Not a token at all: 422 naming the field; no bearer: 401.
    for bad in ["", "   ", "not-a-token"] {
        expect_error(b.rosa.revoke_token(bad).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request");
    }
    expect_error(kit.anon.revoke_token(&vera.token).await, StatusCode::UNAUTHORIZED, "unauthenticated");
    expect_error(kit.client("dm_nope").revoke_token(&vera.token).await, StatusCode::UNAUTHORIZED, "unauthenticated");
    assert!(vera_c.whoami().await.is_ok());

    // Vera is signed in on the dashboard twice; she revokes her own token
    // with itself: the token gets 401 and both sessions end.
    let (first, second) = (dashboard_session(kit, &vera.token).await?, dashboard_session(kit, &vera.token).await?);
    let rosa_session = dashboard_session(kit, &b.rosa_token).await?;
    assert!(session_opens(kit, &first, "/app/manager").await? && session_opens(kit, &second, "/app/manager").await?);
    vera_c.revoke_token(&vera.token).await?;
    expect_error(vera_c.whoami().await, StatusCode::UNAUTHORIZED, "unauthenticated");
    expect_error(vera_c.list_properties().await, StatusCode::UNAUTHORIZED, "unauthenticated");
    assert!(!session_opens(kit, &first, "/app/manager").await?, "the session ended with its token");
    assert!(!session_opens(kit, &second, "/app/manager").await?);
    assert!(session_opens(kit, &rosa_session, "/app/manager").await?, "someone else's session goes on");
    let r = http()?
        .post(format!("{}/app/sign-in", kit.running.url()))
        .header(ORIGIN, kit.running.url())
        .form(&[("token", vera.token.as_str())])
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "a revoked token signs in no more");
    // Again: still 204 (it is gone, as asked), and logged once only.
    b.rosa.revoke_token(&vera.token).await?;

    // Whoever holds a token may revoke it, whatever their role: Rosa found
    // the driver's token, the driver Dana the resident's.
    b.rosa.revoke_token(&format!("  {}\n", fay.token)).await?;
    expect_error(fay_c.whoami().await, StatusCode::UNAUTHORIZED, "unauthenticated");
    let lee_session = dashboard_session(kit, &lee.token).await?;
    assert!(session_opens(kit, &lee_session, "/app/resident").await?);
    b.dana.client.revoke_token(&lee.token).await?;
    expect_error(lee_c.whoami().await, StatusCode::UNAUTHORIZED, "unauthenticated");
    assert!(!session_opens(kit, &lee_session, "/app/resident").await?);
    // Everyone else's token still works.
    for c in [&b.rosa, &b.otto, &b.parcelo, &b.dana.client, &b.jun.client, &kit.operator] {
        c.whoami().await?;
    }

    // Each revocation is in the log once, by whom, naming the holder and
    // scoped so the holder's side sees it; the token itself is not in it.
    let logged: Vec<(String, Event)> = changes(kit).await?.into_iter().skip(before).collect();
    let words: Vec<&str> = logged.iter().map(|(w, _)| w.as_str()).collect();
    assert_eq!(logged.len(), 3, "{words:?}");
    let (vera_w, vera_e) = &logged[0];
    assert!(vera_w.contains(&format!("manager {}", vera.item.id)) && vera_w.contains("revoked"), "{vera_w}");
    assert_eq!(vera_e.actor, Some(doorman_domain::Principal::Manager { manager_id: vera.item.id }.into()));
    let (fay_w, fay_e) = &logged[1];
    assert!(fay_w.contains(&format!("driver {}", fay.item.id)), "{fay_w}");
    assert_eq!((fay_e.carrier_id, fay_e.driver_id), (Some(b.parcelo_id), Some(fay.item.id)));
    // The carrier and the driver read it: the manager by role alone.
    assert_eq!(fay_e.actor, Some(doorman_domain::Actor::hidden(doorman_domain::HiddenRole::Manager)));
    let (lee_w, lee_e) = &logged[2];
    assert!(lee_w.contains(&format!("resident {}", lee.item.id)), "{lee_w}");
    assert_eq!(lee_e.unit_id, Some(b.unit_2b.id));
    for (what, _) in &logged {
        for token in [&vera.token, &fay.token, &lee.token] {
            assert!(!what.contains(token.as_str()));
        }
    }
    Ok(())
}

/// The doorman binary with the kit's service and database.
fn doorman(
    kit: &Kit,
    args: &[&str],
    stdin: Option<&str>,
    bearer: Option<&str>,
) -> anyhow::Result<std::process::Output> {
    let mut command = Command::new(env!("CARGO_BIN_EXE_doorman"));
    command.args(args).env("DOORMAN_URL", kit.running.url()).env_remove("DOORMAN_TOKEN");
    command.env_remove("DOORMAN_DATABASE");
    if let Some(t) = bearer {
        command.env("DOORMAN_TOKEN", t);
    }
    command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn()?;
    if let Some(mut pipe) = child.stdin.take() {
        use std::io::Write as _;
        pipe.write_all(stdin.unwrap_or_default().as_bytes())?;
    }
    Ok(child.wait_with_output()?)
}

pub async fn operator_token_is_minted_offline_and_any_token_revoked_from_the_cli(kit: &Kit) -> anyhow::Result<()> {
    let before = changes(kit).await?.len();
    // `doorman operator token --database URL`: straight into the database.
    let out = doorman(kit, &["operator", "token", "--database", &kit.database_url], None, None)?;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout)?;
    let minted = text.lines().last().unwrap_or_default().trim().to_string();
    assert!(minted.starts_with("dm_") && minted.len() > 40, "{text}");
    assert_eq!(text.matches(minted.as_str()).count(), 1, "printed once");
    let operator = kit.client(&minted);
    assert_eq!(operator.whoami().await?.principal, doorman_domain::Principal::Operator);
    operator.list_managers(None).await?;
    let logged: Vec<(String, Event)> = changes(kit).await?.into_iter().skip(before).collect();
    assert_eq!(logged.len(), 1);
    assert!(logged[0].0.contains("operator token") && logged[0].0.contains("minted offline"), "{}", logged[0].0);
    assert_eq!(logged[0].1.actor, Some(doorman_domain::Principal::Operator.into()));
    assert!(!logged[0].0.contains(&minted));
    // A database that is not there: an error naming it, no panic.
    let missing = doorman(kit, &["operator", "token", "--database", "postgres://nobody@127.0.0.1:1/none"], None, None)?;
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("opening the database"));

    // `doorman token revoke`: the token to revoke comes from stdin, never argv
    // (a positional token is refused before anything is sent).
    let argv = doorman(kit, &["token", "revoke", &minted], None, Some(&minted))?;
    assert!(!argv.status.success());
    operator.whoami().await?;
    // The bootstrap token revokes itself (stdin, no DOORMAN_TOKEN); the minted one works on.
    let bootstrap = kit.running.operator_token.clone().ok_or_else(|| anyhow::anyhow!("bootstrap token"))?;
    let out = doorman(kit, &["token", "revoke"], Some(&format!("{bootstrap}\n")), None)?;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("revoked"));
    expect_error(kit.operator.whoami().await, StatusCode::UNAUTHORIZED, "unauthenticated");
    operator.whoami().await?;
    // Another holder revokes with --token-file, authenticated by its own token.
    let manager = operator.create_manager("Ana Lima").await?;
    let dir = TempDir::new("doorman-token-file")?;
    let file = dir.path().join("leaked.txt");
    std::fs::write(&file, format!("{}\n", manager.token))?;
    let path = file.to_str().ok_or_else(|| anyhow::anyhow!("utf-8 path"))?;
    let out = doorman(kit, &["token", "revoke", "--token-file", path], None, Some(&minted))?;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    expect_error(kit.client(&manager.token).whoami().await, StatusCode::UNAUTHORIZED, "unauthenticated");
    operator.whoami().await?;
    // Nothing on stdin: a message, nothing sent.
    let empty = doorman(kit, &["token", "revoke"], Some(""), Some(&minted))?;
    assert!(!empty.status.success());
    assert!(String::from_utf8_lossy(&empty.stderr).contains("no token to revoke"));
    operator.whoami().await?;
    Ok(())
}
