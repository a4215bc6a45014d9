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
                // A phone: 390 x 844 CSS pixels, touch, mobile viewport rules.
                "mobileEmulation": {"deviceMetrics": {"width": 390, "height": 844, "pixelRatio": 1.0, "touch": true}}
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

    /// Saves the viewport as `NN-<step>.png`.
    pub async fn screenshot(&mut self, step: &str) -> anyhow::Result<PathBuf> {
        let data = self.command(reqwest::Method::GET, "/screenshot", Value::Null).await?;
        let png = base64::engine::general_purpose::STANDARD.decode(data.as_str().unwrap_or_default())?;
        self.taken += 1;
        let path = self.shots.join(format!("{:02}-{step}.png", self.taken));
        std::fs::write(&path, png)?;
        Ok(path)
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
