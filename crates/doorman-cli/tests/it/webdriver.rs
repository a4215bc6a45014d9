//! A minimal W3C WebDriver client for the dashboard's browser tests, over
//! the reqwest already in the tree: Debian's `chromedriver` drives headless
//! `chromium` at a phone-sized window. Only the handful of commands the
//! tests use. Element lookups wait (the session's implicit wait) until the
//! element exists, so a test names the state it waits for in its selector.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use base64::Engine;
use serde_json::{json, Value};

/// Set (by `.ci/run`) to make a missing browser a failure instead of a skip.
pub const BROWSER_ENV: &str = "DOORMAN_TEST_BROWSER";
/// The W3C web element identifier: the key of an element reference.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";
/// How long a lookup waits for its element.
const IMPLICIT_WAIT_MS: u64 = 15_000;

fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).flat_map(|dir| names.iter().map(move |n| dir.join(n))).find(|p| p.is_file())
}

/// chromium and chromedriver, or None (after saying so) when they are not
/// installed and the environment does not insist.
pub fn browser_programs(test: &str) -> Option<(PathBuf, PathBuf)> {
    let found = find_program(&["chromium", "chromium-browser"]).zip(find_program(&["chromedriver"]));
    if found.is_none() {
        let insist = std::env::var(BROWSER_ENV).is_ok_and(|v| v == "1");
        assert!(
            !insist,
            "{BROWSER_ENV}=1 but chromium or chromedriver is not installed (apt-get install chromium chromium-driver)"
        );
        println!(
            "skipped {test}: chromium and chromedriver are not installed (apt-get install chromium chromium-driver)"
        );
    }
    found
}

/// One browser session, with the chromedriver it talks to.
pub struct Browser {
    http: reqwest::Client,
    session: String,
    driver: Child,
    shots: PathBuf,
    taken: usize,
}

impl std::fmt::Debug for Browser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Browser").field("session", &self.session).finish_non_exhaustive()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

pub struct Element<'a> {
    browser: &'a Browser,
    id: String,
    selector: String,
}

impl Browser {
    /// Starts chromedriver on a port of its choosing (it says which once it
    /// listens), opens a headless session emulating a 390×844 px phone, and saves screenshots
    /// under `target/screenshots/<test>/`.
    pub async fn start(chromium: &Path, chromedriver: &Path, test: &str) -> anyhow::Result<Browser> {
        Self::start_sized(chromium, chromedriver, test, 390, 844).await
    }

    /// As [`Browser::start`], with a viewport of `width`×`height` CSS
    /// pixels: a touch phone below 800 px, a desktop window from there.
    pub async fn start_sized(
        chromium: &Path,
        chromedriver: &Path,
        test: &str,
        width: u32,
        height: u32,
    ) -> anyhow::Result<Browser> {
        let mut driver = Command::new(chromedriver)
            .arg("--port=0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", chromedriver.display()))?;
        let stdout = driver.stdout.take().context("chromedriver's stdout")?;
        // Blocks until chromedriver reports it listens (or exits).
        let port = tokio::task::spawn_blocking(move || -> anyhow::Result<u16> {
            for line in BufReader::new(stdout).lines() {
                let line = line?;
                if let Some(rest) = line.split("started successfully on port ").nth(1) {
                    return Ok(rest.trim_end_matches('.').trim().parse()?);
                }
            }
            bail!("chromedriver exited before it listened")
        })
        .await??;
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build()?;
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium.to_string_lossy(),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--hide-scrollbars"],
                // A phone (390 x 844 CSS pixels: touch, mobile viewport rules) or a desktop.
                "mobileEmulation": {"deviceMetrics": {"width": width, "height": height, "pixelRatio": 1.0,
                                                      "touch": width < 800, "mobile": width < 800}}
            }
        }}});
        let started: Value = http.post(format!("{base}/session")).json(&caps).send().await?.json().await?;
        let id = started["value"]["sessionId"]
            .as_str()
            .ok_or_else(|| anyhow!("chromedriver did not open a session: {started}"))?;
        let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots").join(test);
        let _ = std::fs::remove_dir_all(&shots);
        std::fs::create_dir_all(&shots)?;
        let browser = Browser { http, session: format!("{base}/session/{id}"), driver, shots, taken: 0 };
        browser.command(reqwest::Method::POST, "/timeouts", json!({"implicit": IMPLICIT_WAIT_MS})).await?;
        Ok(browser)
    }

    async fn command(&self, method: reqwest::Method, path: &str, body: Value) -> anyhow::Result<Value> {
        let mut request = self.http.request(method.clone(), format!("{}{path}", self.session));
        if method == reqwest::Method::POST {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status();
        let value: Value = response.json().await?;
        if !status.is_success() {
            bail!("WebDriver {method} {path} failed ({status}): {}", value["value"]["message"]);
        }
        Ok(value["value"].clone())
    }

    pub async fn goto(&self, url: &str) -> anyhow::Result<()> {
        self.command(reqwest::Method::POST, "/url", json!({"url": url})).await.map(|_| ())
    }

    /// The element `css` selects, waiting for it to appear; an error naming
    /// the selector if it does not.
    pub async fn find(&self, css: &str) -> anyhow::Result<Element<'_>> {
        let found = self
            .command(reqwest::Method::POST, "/element", json!({"using": "css selector", "value": css}))
            .await
            .with_context(|| format!("expected element {css:?} is missing"))?;
        let id = found[ELEMENT_KEY].as_str().ok_or_else(|| anyhow!("no element id for {css:?}: {found}"))?;
        Ok(Element { browser: self, id: id.to_string(), selector: css.to_string() })
    }

    /// The text of the element `css` selects. The live page swaps its
    /// fragment when events arrive, so an element found a moment ago may be
    /// gone: it is looked up again then.
    pub async fn text_of(&self, css: &str) -> anyhow::Result<String> {
        let mut last = None;
        for _ in 0..5 {
            match self.find(css).await?.text().await {
                Ok(text) => return Ok(text),
                Err(e) if e.to_string().contains("stale element") => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| anyhow!("no text for {css:?}")))
    }

    pub async fn execute(&self, script: &str) -> anyhow::Result<Value> {
        self.command(reqwest::Method::POST, "/execute/sync", json!({"script": script, "args": []})).await
    }

    /// Runs `script` with `arguments` (JSON values).
    pub async fn execute_with(&self, script: &str, args: Value) -> anyhow::Result<Value> {
        self.command(reqwest::Method::POST, "/execute/sync", json!({"script": script, "args": args})).await
    }

    /// Picks the option of the select `css` whose text is `text` (as a
    /// person reads the list: no id typed); an error naming the choices if
    /// there is none.
    pub async fn choose(&self, css: &str, text: &str) -> anyhow::Result<()> {
        self.find(css).await?;
        let script = "var s = document.querySelector(arguments[0]), want = arguments[1];
            var o = Array.from(s.options).find(function (o) { return o.text.trim() === want; });
            if (!o) return Array.from(s.options).map(function (o) { return o.text.trim(); });
            s.value = o.value; s.dispatchEvent(new Event('change', {bubbles: true})); return true;";
        let picked = self.execute_with(script, json!([css, text])).await?;
        if picked != json!(true) {
            bail!("{css} has no option {text:?}; it offers {picked}");
        }
        Ok(())
    }

    /// Clicks `css` (a form's button, a link) and waits until the browser
    /// shows the next page: the old document gone, the new one loaded.
    pub async fn submit(&self, css: &str) -> anyhow::Result<()> {
        let element = self.find(css).await?;
        self.execute("window.__before_submit = true;").await?;
        element.click().await?;
        // The browser's state is polled, as the implicit wait polls for elements.
        for _ in 0..IMPLICIT_WAIT_MS / 50 {
            let state = self
                .execute("return window.__before_submit === true ? 'old' : document.readyState;")
                .await
                .unwrap_or(Value::Null);
            if state == json!("complete") {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("clicking {css:?} led to no new page")
    }

    /// Fails if the page scrolls sideways: its content is wider than the
    /// viewport.
    pub async fn assert_no_sideways_scroll(&self, page: &str) -> anyhow::Result<()> {
        let sizes = self.execute("return [document.documentElement.scrollWidth, window.innerWidth];").await?;
        let (scroll, inner) = (sizes[0].as_i64().unwrap_or(i64::MAX), sizes[1].as_i64().unwrap_or(0));
        if scroll > inner {
            let widest = self
                .execute(
                    "var w = window.innerWidth, out = [];
                     document.querySelectorAll('body *').forEach(function (e) {
                       var r = e.getBoundingClientRect();
                       if (r.right > w + 1) out.push(e.tagName + (e.id ? '#' + e.id : '') + '.' + e.className + ' ' + Math.round(r.right));
                     });
                     return out.slice(0, 8);",
                )
                .await?;
            bail!("{page} scrolls sideways: {scroll} px of content in {inner} px; too wide: {widest}");
        }
        Ok(())
    }

    /// Saves the viewport as `NN-<step>.png`.
    pub async fn screenshot(&mut self, step: &str) -> anyhow::Result<PathBuf> {
        let data = self.command(reqwest::Method::GET, "/screenshot", Value::Null).await?;
        let png = base64::engine::general_purpose::STANDARD.decode(data.as_str().unwrap_or_default())?;
        self.taken += 1;
        let path = self.shots.join(format!("{:02}-{step}.png", self.taken));
        std::fs::write(&path, png)?;
        Ok(path)
    }

    /// Adds a virtual authenticator (WebAuthn §11.3): a platform passkey
    /// provider with user verification that always passes, as a phone's
    /// screen lock would. Returns its id.
    pub async fn add_virtual_authenticator(&self) -> anyhow::Result<String> {
        let options = json!({
            "protocol": "ctap2", "transport": "internal", "hasResidentKey": true,
            "hasUserVerification": true, "isUserVerified": true, "automaticPresenceSimulation": true
        });
        let id = self.command(reqwest::Method::POST, "/webauthn/authenticator", options).await?;
        id.as_str().map(str::to_string).ok_or_else(|| anyhow!("no authenticator id: {id}"))
    }

    /// Removes the virtual authenticator and the credentials it holds.
    pub async fn remove_virtual_authenticator(&self, authenticator: &str) -> anyhow::Result<()> {
        let path = format!("/webauthn/authenticator/{authenticator}");
        self.command(reqwest::Method::DELETE, &path, Value::Null).await.map(|_| ())
    }

    /// The credentials the virtual authenticator holds (each with its
    /// `credentialId`, `rpId`, `userHandle`, `privateKey`, `signCount`).
    pub async fn virtual_credentials(&self, authenticator: &str) -> anyhow::Result<Vec<Value>> {
        let path = format!("/webauthn/authenticator/{authenticator}/credentials");
        let list = self.command(reqwest::Method::GET, &path, Value::Null).await?;
        Ok(list.as_array().cloned().unwrap_or_default())
    }

    /// Puts a credential (as [`Browser::virtual_credentials`] lists them)
    /// into the virtual authenticator: a key copied from another device.
    pub async fn add_virtual_credential(&self, authenticator: &str, credential: &Value) -> anyhow::Result<()> {
        let path = format!("/webauthn/authenticator/{authenticator}/credential");
        self.command(reqwest::Method::POST, &path, credential.clone()).await.map(|_| ())
    }

    pub async fn quit(self) -> anyhow::Result<()> {
        self.command(reqwest::Method::DELETE, "", Value::Null).await.map(|_| ())
    }
}

impl Element<'_> {
    fn path(&self, what: &str) -> String {
        format!("/element/{}{what}", self.id)
    }

    pub async fn text(&self) -> anyhow::Result<String> {
        let v = self.browser.command(reqwest::Method::GET, &self.path("/text"), Value::Null).await?;
        Ok(v.as_str().unwrap_or_default().to_string())
    }

    pub async fn type_text(&self, text: &str) -> anyhow::Result<()> {
        self.browser
            .command(reqwest::Method::POST, &self.path("/value"), json!({"text": text}))
            .await
            .with_context(|| format!("typing into {:?}", self.selector))
            .map(|_| ())
    }

    pub async fn click(&self) -> anyhow::Result<()> {
        self.browser
            .command(reqwest::Method::POST, &self.path("/click"), json!({}))
            .await
            .with_context(|| format!("clicking {:?}", self.selector))
            .map(|_| ())
    }

    /// Scrolls the element into the middle of the viewport (for screenshots).
    /// By selector: the live page may have swapped the element meanwhile.
    pub async fn show(&self) -> anyhow::Result<()> {
        let script = "var e = document.querySelector(arguments[0]); if (e) e.scrollIntoView({block: 'center'});";
        self.browser
            .command(reqwest::Method::POST, "/execute/sync", json!({"script": script, "args": [self.selector]}))
            .await
            .map(|_| ())
    }
}
