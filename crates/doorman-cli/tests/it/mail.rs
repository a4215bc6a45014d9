//! Email through a real SMTP server: aiosmtpd (`scripts/smtp_sink.py`),
//! which writes each message it accepts to a folder, numbered in the order
//! received, before it answers. The service is the real `doorman serve`
//! process (so it can be killed), with email on; locks are simulated in
//! this process, offline, and the driver carries their events to the
//! service, as a handheld does.
//!
//! Skipped (with a note) when python3 or aiosmtpd is missing, unless
//! `DOORMAN_TEST_SMTP=1` (then it fails).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use doorman_api::*;
use doorman_client::Client;
use doorman_devices::{Handheld, LockBundle, LockEndpoint, RunOptions, RunningLocks};
use doorman_domain::{serde_b64, Clock, NotificationKind, NotificationSettings};
use doorman_testkit::places::WALK_UP;
use doorman_testkit::Seeded;
use reqwest::header::{COOKIE, LOCATION, ORIGIN, SET_COOKIE};

use crate::fixture::{delivery, AT_THE_DOOR};
use crate::kit::{Backend, TempDir, HOUR};

const PATIENCE: Duration = Duration::from_secs(30);

// --- the SMTP server ------------------------------------------------------------

/// aiosmtpd on a port of its choosing, writing messages to a folder.
struct SmtpSink {
    child: Child,
    dir: TempDir,
    port: u16,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One received message: its headers (unfolded, names in lower case) and body.
#[derive(Debug, Clone)]
struct Mail {
    headers: BTreeMap<String, String>,
    body: String,
}

impl Mail {
    fn header(&self, name: &str) -> &str {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str).unwrap_or_default()
    }

    fn to(&self) -> &str {
        self.header("x-envelope-to")
    }

    fn subject(&self) -> &str {
        self.header("subject")
    }

    /// What the message says, subject and body, on one line.
    fn text(&self) -> String {
        format!("{} {}", self.subject(), self.body.replace("\r\n", " ").replace('\n', " "))
    }

    fn parse(raw: &str) -> Mail {
        let raw = raw.replace("\r\n", "\n");
        let (head, body) = raw.split_once("\n\n").unwrap_or((&raw, ""));
        let mut headers = BTreeMap::new();
        let mut last: Option<String> = None;
        for line in head.lines() {
            if line.starts_with([' ', '\t']) {
                if let Some(name) = &last {
                    headers.entry(name.clone()).and_modify(|v: &mut String| v.push_str(line));
                }
                continue;
            }
            if let Some((name, value)) = line.split_once(':') {
                let name = name.trim().to_ascii_lowercase();
                headers.insert(name.clone(), value.trim().to_string());
                last = Some(name);
            }
        }
        let body = match headers.get("content-transfer-encoding").map(String::as_str) {
            Some("quoted-printable") => quoted_printable(body),
            _ => body.to_string(),
        };
        Mail { headers, body }
    }
}

/// Decodes a quoted-printable body (RFC 2045): soft line breaks go, `=XX`
/// is the byte XX.
fn quoted_printable(text: &str) -> String {
    let joined = text.replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&joined[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/smtp_sink.py")
}

impl SmtpSink {
    /// None (after saying so) when python3 or aiosmtpd is missing, unless
    /// DOORMAN_TEST_SMTP=1.
    fn start() -> anyhow::Result<Option<SmtpSink>> {
        use std::io::BufRead;
        let required = std::env::var("DOORMAN_TEST_SMTP").is_ok_and(|v| v == "1");
        let usable = Command::new("python3")
            .args(["-c", "import aiosmtpd"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !usable {
            anyhow::ensure!(!required, "DOORMAN_TEST_SMTP=1 but python3 with aiosmtpd is not available");
            println!("skipped: python3 with aiosmtpd is not available (pip install aiosmtpd; DOORMAN_TEST_SMTP=1 fails instead)");
            return Ok(None);
        }
        let dir = TempDir::new("doorman-smtp")?;
        let mut child = Command::new("python3")
            .arg(script())
            .arg(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting the SMTP sink")?;
        let stdout = child.stdout.take().context("stdout")?;
        let mut lines = std::io::BufReader::new(stdout).lines();
        let line = lines.next().context("the SMTP sink exited before listening")??;
        let port = line.trim().strip_prefix("listening on ").context("the sink's first line")?.parse()?;
        std::thread::spawn(move || for _ in lines {});
        Ok(Some(SmtpSink { child, dir, port }))
    }

    /// Every message received so far, in the order received.
    fn messages(&self) -> anyhow::Result<Vec<Mail>> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(self.dir.path())?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        names.sort();
        names.iter().map(|p| Ok(Mail::parse(&std::fs::read_to_string(p)?))).collect()
    }

    /// The messages to `to`, once there are at least `n` (or fails after PATIENCE).
    async fn wait_for(&self, to: &str, n: usize) -> anyhow::Result<Vec<Mail>> {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let got: Vec<Mail> = self.messages()?.into_iter().filter(|m| m.to() == to).collect();
            if got.len() >= n {
                return Ok(got);
            }
            let subjects: Vec<&str> = got.iter().map(Mail::subject).collect();
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "{to} got {} of {n} messages within {PATIENCE:?}: {subjects:?}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

// --- the service process --------------------------------------------------------

/// `doorman serve` with email on, as a child process.
struct Served {
    child: Child,
    operator_token: Option<String>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Served {
    fn start(database: &str, data_dir: &Path, port: u16, smtp: u16) -> anyhow::Result<Served> {
        let env = [
            ("DOORMAN_MQTT", "false".into()),
            ("DOORMAN_PUBLIC_URL", format!("http://127.0.0.1:{port}")),
            ("DOORMAN_SMTP_HOST", "127.0.0.1".into()),
            ("DOORMAN_SMTP_PORT", smtp.to_string()),
            ("DOORMAN_SMTP_TLS", "none".into()),
            ("DOORMAN_MAIL_FROM", "doorman <doors@example.org>".into()),
        ];
        let crate::kit::ServeChild { child, operator_token, .. } =
            crate::kit::serve_child(database, data_dir, &format!("127.0.0.1:{port}"), &env)?;
        Ok(Served { child, operator_token })
    }

    /// SIGKILL: no shutdown, nothing flushed, the dispatcher cut wherever it is.
    fn kill(mut self) -> anyhow::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Everything one test runs: the sink, the database, the service.
struct MailEnv {
    sink: SmtpSink,
    database: String,
    data: TempDir,
    port: u16,
    served: Option<Served>,
    _pg: Option<TempDir>,
}

impl MailEnv {
    async fn start(backend: Backend) -> anyhow::Result<Option<MailEnv>> {
        let Some(sink) = SmtpSink::start()? else { return Ok(None) };
        let Some((database, pg)) = crate::kit::fresh_database(backend).await? else {
            println!("skipped: set {} to run the PostgreSQL variant", crate::kit::POSTGRES_ENV);
            return Ok(None);
        };
        let data = TempDir::new("doorman-mail")?;
        let port = free_port()?;
        let served = Served::start(&database, data.path(), port, sink.port)?;
        Ok(Some(MailEnv { sink, database, data, port, served: Some(served), _pg: pg }))
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn operator(&self) -> anyhow::Result<Client> {
        let token = self.served.as_ref().and_then(|s| s.operator_token.clone()).context("a first start's token")?;
        Ok(Client::new(self.url()).with_token(token))
    }

    /// Kills the service and starts it again on the same database, key file and address.
    fn kill_and_restart(&mut self) -> anyhow::Result<()> {
        self.served.take().context("running")?.kill()?;
        let again = Served::start(&self.database, self.data.path(), self.port, self.sink.port)?;
        anyhow::ensure!(again.operator_token.is_none(), "a restart bootstraps nothing");
        self.served = Some(again);
        Ok(())
    }
}

fn now() -> i64 {
    doorman_cli::SystemClock.now()
}

/// The fleet building (street door, package room, their locks; Parcelo
/// enabled all day for the package room shelves; Dana) with Jun and Kim in 2B.
async fn seed(operator: &Client) -> anyhow::Result<Seeded> {
    let building = crate::fleet::building().resident("Kim Lee", "kim@example.org", "2B");
    Ok(doorman_testkit::seed(operator, &crate::fleet::site(building), now()).await?)
}

/// The street door and package room locks, run offline in this process on
/// the wall clock.
async fn run_locks(seeded: &mut Seeded, dir: &Path) -> anyhow::Result<(RunningLocks, Vec<LockBundle>)> {
    let building = seeded.property_mut(WALK_UP)?;
    let mut bundles = Vec::new();
    for door in ["street door", "package room"] {
        let lock = building.take_lock(door)?;
        let p = lock.provisioned;
        bundles.push(LockBundle {
            lock_id: doorman_fleet::lock_name(doorman_testkit::wire(p.lock.id)),
            device_secret: serde_b64::encode(&lock.device_secret),
            trust_anchors: doorman_cli::lock_cmd::anchors_of(&p.trust_anchors),
            door_code_secret: p.door_code_secret,
            mqtt: None,
        });
    }
    let mut options = RunOptions::new(dir.to_path_buf());
    options.online = false;
    options.tick_every = Duration::from_millis(20);
    let clock: Arc<dyn Clock> = Arc::new(doorman_cli::SystemClock);
    Ok((RunningLocks::start(&bundles, options, clock).await?, bundles))
}

/// The driver walks through each door of the grant, then carries each
/// lock's events to the service.
async fn walk_in(
    driver: &Client,
    handheld: &Handheld,
    endpoint: &LockEndpoint,
    bundles: &[LockBundle],
    granted: &AccessGranted,
) -> anyhow::Result<()> {
    for bundle in bundles {
        let wire = bundle.lock()?;
        let id = LockId::from(uuid::Uuid::from_bytes(wire.0));
        let door = granted.doors.iter().find(|d| d.lock_id == id).context("a door of the grant")?;
        let credential = serde_b64::decode(door.credential.as_deref().context("a credential")?)?;
        let decision = handheld.walk_through(endpoint, wire, &bundle.device_public_key()?, &credential).await?;
        anyhow::ensure!(decision.unlocked, "the lock refused: {:?}", decision.reason);
    }
    for bundle in bundles {
        let wire = bundle.lock()?;
        let events = endpoint.collect_events(wire, 0).await?;
        let carried = CarriedEvents { events: events.iter().map(|e| serde_b64::encode(e)).collect() };
        driver.upload_lock_events(LockId::from(uuid::Uuid::from_bytes(wire.0)), &carried).await?;
    }
    Ok(())
}

/// The kinds of `mails`, read from their unsubscribe links' pages'
/// wording is not needed: each subject names what happened.
fn subjects(mails: &[Mail]) -> Vec<String> {
    mails.iter().map(|m| m.subject().to_string()).collect()
}

/// For one delivery (announced, its ETA, the driver at the door, access
/// granted, two doors opened, delivered at the package room shelves), Jun
/// receives exactly the emails he chose, in order, once each, although the
/// service is killed right after the driver was let in and restarted on the
/// same database; Kim, in the same unit, receives only what she chose. Each
/// names the carrier, the driver, the door and the drop spot, at the
/// building's time. Jun's one-click unsubscribe (a mail client's POST, from
/// no origin) stops that kind, and only for him.
async fn mail_delivery_emails_once_each_across_a_restart(backend: Backend) -> anyhow::Result<()> {
    let Some(mut env) = MailEnv::start(backend).await? else { return Ok(()) };
    let mut seeded = seed(&env.operator()?).await?;
    let lock_dir = TempDir::new("doorman-mail-locks")?;
    let (locks, bundles) = run_locks(&mut seeded, lock_dir.path()).await?;
    let here = seeded.property(WALK_UP)?;
    let (property, unit) = (here.property.id, here.unit("2B")?.id);
    let jun = here.resident("Jun Park")?.client.clone();
    let kim = here.resident("Kim Lee")?.client.clone();
    let parcelo = seeded.carrier("Parcelo")?.client.clone();
    let dana = seeded.driver("Dana")?;
    let handheld = Handheld::from_secret(dana.handheld.secret())?;
    let dana_client = dana.client.clone();

    // Jun chooses everything about deliveries; Kim keeps the default
    // (delivered, door ajar). Other roles have no such settings.
    let defaults = kim.notification_settings().await?;
    assert_eq!(defaults.email, "kim@example.org");
    assert_eq!(defaults.kinds, NotificationKind::DEFAULT.to_vec());
    let chosen = vec![
        NotificationKind::Eta,
        NotificationKind::DriverAtDoor,
        NotificationKind::Access,
        NotificationKind::DoorOpened,
        NotificationKind::Delivered,
    ];
    let set = NotificationSettings { email: "jun.park@example.org".into(), kinds: chosen.clone() };
    assert_eq!(jun.set_notification_settings(&set).await?, set);
    let bad = NotificationSettings { email: "jun at home".into(), kinds: vec![] };
    crate::kit::expect_error(
        jun.set_notification_settings(&bad).await,
        reqwest::StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    );
    crate::kit::expect_error(parcelo.notification_settings().await, reqwest::StatusCode::FORBIDDEN, "forbidden");

    // Announced, then an ETA: Jun's first email arrives while the service runs.
    let t = now();
    let created = parcelo.create_delivery(&delivery("1Z-MAIL-1", property, unit, t - HOUR, t + 3 * HOUR)).await?;
    parcelo.update_eta(created.id, t + 600).await?;
    env.sink.wait_for("jun.park@example.org", 1).await?;

    // The driver scans the parcel and is let in; the service is killed at
    // once, before or while it mails about it, and started again.
    let granted = dana_client
        .request_access(&AccessRequest {
            tracking_number: "1Z-MAIL-1".into(),
            property_id: property,
            handheld_public_key: handheld.public_key_b64(),
            position: AT_THE_DOOR,
            drop_spot_id: None,
        })
        .await?;
    let before = env.sink.messages()?.len();
    env.kill_and_restart()?;
    println!("killed with {before} message(s) received; the rest come from the restarted process");

    // Through both doors, the locks' events carried to the new process, and
    // the drop confirmed.
    walk_in(&dana_client, &handheld, &locks.endpoint(), &bundles, &granted).await?;
    dana_client
        .complete_delivery(
            granted.delivery_id,
            &CompleteDelivery { drop_spot_id: granted.drop_spot_id, photo_ref: None },
        )
        .await?;

    let to_jun = env.sink.wait_for("jun.park@example.org", 6).await?;
    let to_kim = env.sink.wait_for("kim@example.org", 1).await?;
    let expected_jun = [
        "Parcelo: your parcel 1Z-MAIL-1 arrives around",
        "Dana of Parcelo is at 214 East 9th Street",
        "Dana of Parcelo was let in at 214 East 9th Street",
        "street door opened for Dana of Parcelo",
        "package room opened for Dana of Parcelo",
        "Delivered: your parcel 1Z-MAIL-1 is at package room shelves",
    ];
    let building_name = &here.property.name;
    let got = subjects(&to_jun);
    assert_eq!(got.len(), expected_jun.len(), "Jun: {got:#?}");
    for (subject, expected) in got.iter().zip(expected_jun) {
        let expected = expected.replace("214 East 9th Street", building_name);
        assert!(subject.starts_with(&expected), "Jun, in order: {got:#?}");
    }
    assert_eq!(
        subjects(&to_kim),
        vec!["Delivered: your parcel 1Z-MAIL-1 is at package room shelves".to_string()],
        "Kim gets what she chose"
    );
    // Once each: one Message-ID per message, each the outbox row's.
    let mut ids: Vec<&str> = to_jun.iter().chain(&to_kim).map(|m| m.header("message-id")).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), to_jun.len() + to_kim.len(), "no message twice");
    // Names and the building's time.
    let zone = if now() > 0 { ["EDT", "EST"] } else { ["", ""] };
    for (mail, names) in to_jun.iter().zip([
        &["Parcelo", "1Z-MAIL-1"][..],
        &["Dana", "Parcelo", "1Z-MAIL-1"],
        &["Dana", "Parcelo", "street door", "package room", "package room shelves"],
        &["street door", "Dana", "Parcelo"],
        &["package room", "Dana", "Parcelo"],
        &["Dana", "Parcelo", "package room shelves", "1Z-MAIL-1"],
    ]) {
        let text = mail.text();
        for name in names {
            assert!(text.contains(name), "{name:?} in {text}");
        }
        assert!(zone.iter().any(|z| text.contains(z)), "New York time in {text}");
        assert!(mail.body.contains("Hello Jun Park"), "{text}");
        assert_eq!(mail.header("from"), "doorman <doors@example.org>");
        assert_eq!(mail.header("list-unsubscribe-post"), "List-Unsubscribe=One-Click");
        assert!(mail.header("list-unsubscribe").starts_with(&format!("<{}/app/unsubscribe/", env.url())));
    }

    // One click on the ETA email's unsubscribe link: a mail client POSTs
    // from no origin. The GET page only asks.
    let link = to_jun[0].header("list-unsubscribe").trim_matches(['<', '>']).to_string();
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let page = http.get(&link).send().await?;
    assert_eq!(page.status(), 200);
    assert!(page.text().await?.contains("Arrival time (ETA) updates"));
    assert_eq!(jun.notification_settings().await?.kinds, chosen, "a GET changes nothing");
    let clicked = http
        .post(&link)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await?;
    assert_eq!(clicked.status(), 200);
    let left: Vec<NotificationKind> = chosen.iter().copied().filter(|k| *k != NotificationKind::Eta).collect();
    assert_eq!(jun.notification_settings().await?.kinds, left);
    assert_eq!(kim.notification_settings().await?.kinds, NotificationKind::DEFAULT.to_vec(), "Kim's stay");
    // A forged or altered token turns nothing off.
    let forged = format!("{}A", &link[..link.len() - 1]);
    assert_eq!(http.post(&forged).body("List-Unsubscribe=One-Click").send().await?.status(), 404);

    // A second parcel: its ETA no longer reaches Jun; the driver at the door
    // does, and arrives after anything queued before it.
    let t = now();
    let second = parcelo.create_delivery(&delivery("1Z-MAIL-2", property, unit, t - HOUR, t + 3 * HOUR)).await?;
    parcelo.update_eta(second.id, t + 900).await?;
    dana_client
        .request_access(&AccessRequest {
            tracking_number: "1Z-MAIL-2".into(),
            property_id: property,
            handheld_public_key: handheld.public_key_b64(),
            position: AT_THE_DOOR,
            drop_spot_id: None,
        })
        .await?;
    let to_jun = env.sink.wait_for("jun.park@example.org", 8).await?;
    let later = subjects(&to_jun[6..]);
    assert!(later[0].contains("is at") && later[1].contains("was let in"), "{later:#?}");
    assert!(!to_jun.iter().any(|m| m.subject().contains("1Z-MAIL-2 arrives")), "unsubscribed from ETAs");
    drop(locks);
    Ok(())
}

/// An email sign-in link: asked for on the sign-in page (the same answer
/// for a known and an unknown address), received, opened (a GET only shows
/// a button), signs in once; the second use is refused with a clear page.
async fn mail_sign_in_link_works_once(backend: Backend) -> anyhow::Result<()> {
    let Some(env) = MailEnv::start(backend).await? else { return Ok(()) };
    let seeded = seed(&env.operator()?).await?;
    let jun = seeded.property(WALK_UP)?.resident("Jun Park")?.client.clone();
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let base = env.url();
    let ask = |email: &str| {
        http.post(format!("{base}/app/sign-in/email")).header(ORIGIN, base.clone()).form(&[("email", email)]).send()
    };
    let known = ask("Jun@Example.org").await?;
    assert_eq!(known.status(), 200);
    let known = known.text().await?;
    let unknown = ask("nobody@example.org").await?;
    assert_eq!(unknown.status(), 200);
    let unknown = unknown.text().await?;
    assert_eq!(
        known.replace("Jun@Example.org", "X"),
        unknown.replace("nobody@example.org", "X"),
        "the page does not tell whether the address is known"
    );
    assert_eq!(ask("not an address").await?.status(), 422);

    let mail = env.sink.wait_for("jun@example.org", 1).await?.remove(0);
    assert_eq!(mail.subject(), "Your doorman sign-in link");
    assert_eq!(mail.header("list-unsubscribe"), "", "not a notification");
    let link = mail
        .body
        .split_whitespace()
        .find(|w| w.starts_with(&format!("{base}/app/sign-in/link/")))
        .context("a link in the email")?
        .to_string();

    // Mail scanners fetch links: a GET signs nobody in and spends nothing.
    let page = http.get(&link).send().await?;
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers().get("referrer-policy").map(|v| v.to_str().unwrap_or("")), Some("no-referrer"));
    assert!(page.headers().get(SET_COOKIE).is_none());
    assert!(page.text().await?.contains("sign-in-with-link"));

    let signed = http.post(&link).header(ORIGIN, base.clone()).send().await?;
    assert_eq!(signed.status(), 303);
    assert_eq!(signed.headers().get(LOCATION).map(|v| v.to_str().unwrap_or("")), Some("/app/resident"));
    let cookie = signed.headers().get(SET_COOKIE).context("a session cookie")?.to_str()?.to_string();
    let session = cookie.split(';').next().context("name=value")?.to_string();
    let home = http.get(format!("{base}/app/resident")).header(COOKIE, &session).send().await?;
    assert_eq!(home.status(), 200, "signed in as Jun");
    let body = home.text().await?;
    assert!(body.contains("Jun") || body.contains("2B"), "Jun's page");
    // Signed in, Jun picks his emails on the preferences page.
    let prefs = http.get(format!("{base}/app/resident/preferences")).header(COOKIE, &session).send().await?;
    let prefs = prefs.text().await?;
    assert!(prefs.contains(r#"id="notify-email""#) && prefs.contains("jun@example.org"), "{prefs}");
    assert!(prefs.contains(r#"id="kind-delivered" name="kind" value="delivered" checked"#), "the default: {prefs}");
    let saved = http
        .post(format!("{base}/app/resident/notifications"))
        .header(ORIGIN, base.clone())
        .header(COOKIE, &session)
        .form(&[("email", "jun@example.org"), ("kind", "eta"), ("kind", "guest_entered")])
        .send()
        .await?;
    assert_eq!(saved.status(), 303);
    let settings = jun.notification_settings().await?;
    assert_eq!(settings.kinds, vec![NotificationKind::Eta, NotificationKind::GuestEntered]);
    let junk = http
        .post(format!("{base}/app/resident/notifications"))
        .header(ORIGIN, base.clone())
        .header(COOKIE, &session)
        .form(&[("email", "jun@example.org"), ("kind", "spam")])
        .send()
        .await?;
    assert_eq!(junk.status(), 422);
    assert_eq!(jun.notification_settings().await?, settings, "nothing half-written");

    let again = http.post(&link).header(ORIGIN, base.clone()).send().await?;
    assert_eq!(again.status(), 410);
    assert!(again.headers().get(SET_COOKIE).is_none());
    assert!(again.text().await?.contains("already used"));
    // Another secret, of the right shape, is unknown.
    let other = format!("{base}/app/sign-in/link/{}", "A".repeat(43));
    assert_eq!(http.post(&other).header(ORIGIN, base.clone()).send().await?.status(), 404);
    // A forged POST (another site) is refused before anything happens.
    let forged = http.post(&link).header(ORIGIN, "https://evil.example").send().await?;
    assert_eq!(forged.status(), 403);

    // At most three links per person per quarter hour: more asks answer the
    // same, and send nothing.
    for _ in 0..4 {
        assert_eq!(ask("jun@example.org").await?.status(), 200);
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while env.sink.messages()?.iter().filter(|m| m.to() == "jun@example.org").count() < 3 {
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "the allowed links arrive");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The links sent are the ones allowed (the first, then two more); the
    // other asks sent nothing.
    let n = env.sink.messages()?.iter().filter(|m| m.to() == "jun@example.org").count();
    assert_eq!(n, 3, "three links within the window, no more");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_delivery_emails_once_each_across_a_restart_on_sqlite() -> anyhow::Result<()> {
    mail_delivery_emails_once_each_across_a_restart(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_delivery_emails_once_each_across_a_restart_on_postgres() -> anyhow::Result<()> {
    mail_delivery_emails_once_each_across_a_restart(Backend::Postgres).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_sign_in_link_works_once_on_sqlite() -> anyhow::Result<()> {
    mail_sign_in_link_works_once(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_sign_in_link_works_once_on_postgres() -> anyhow::Result<()> {
    mail_sign_in_link_works_once(Backend::Postgres).await
}
