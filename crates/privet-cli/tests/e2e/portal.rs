//! The privacy portal in a real browser: Debian's headless Chromium, driven through
//! chromedriver (WebDriver) by fantoccini, against the real `privet serve`. A customer opens
//! the link the application asked for, sees their data, withdraws a consent, reads the access
//! log and downloads their export; the API then shows the consent withdrawn and the download
//! equal to what is stored. Screenshots of every page are saved (the path is printed).
//!
//! Without /usr/bin/chromium or /usr/bin/chromedriver the test fails when `CI` is set and
//! is skipped with a notice otherwise.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use super::{Api, init, serve};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// chromedriver on a free loopback port; killed on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_driver(log: &Path) -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .arg(format!("--log-path={}", log.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until it listens (it starts in well under a second; give a slow machine 30 s).
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "chromedriver did not start listening"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    }
}

/// Whether the browser is installed; outside CI its absence skips the test.
fn browser_available() -> bool {
    let present = Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists();
    if !present {
        assert!(
            std::env::var_os("CI").is_none(),
            "{CHROMIUM} or {CHROMEDRIVER} is missing: install `chromium chromium-driver` \
             (.ci/run does); the portal's browser test cannot run without them"
        );
        eprintln!(
            "NOTICE: skipping the portal browser test: {CHROMIUM} or {CHROMEDRIVER} is missing \
             (apt-get install -y chromium chromium-driver)"
        );
    }
    present
}

/// Where screenshots go: `$PRIVET_SCREENSHOT_DIR`, else the test target's tmp dir.
fn screenshot_dir() -> PathBuf {
    let dir = std::env::var_os("PRIVET_SCREENSHOT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_TARGET_TMPDIR")).join("portal-screenshots"));
    std::fs::create_dir_all(&dir).unwrap();
    // Only this run's pictures.
    for e in std::fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        if path.extension().is_some_and(|x| x == "png") {
            std::fs::remove_file(path).unwrap();
        }
    }
    dir
}

async fn browser(driver: &Driver, profile: &Path, downloads: &Path) -> Client {
    let caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update",
                "--no-first-run", "--disable-sync", "--window-size=1100,1400",
                format!("--user-data-dir={}", profile.display()),
            ],
            "prefs": {
                "download.default_directory": downloads.display().to_string(),
                "download.prompt_for_download": false,
            },
        },
    });
    let Value::Object(caps) = caps else {
        unreachable!()
    };
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("cannot start a Chromium session through chromedriver")
}

struct Shots {
    dir: PathBuf,
    n: u32,
}

impl Shots {
    async fn take(&mut self, c: &Client, name: &str) {
        self.n += 1;
        let png = c.screenshot().await.unwrap();
        let path = self.dir.join(format!("{:02}-{name}.png", self.n));
        std::fs::write(&path, png).unwrap();
    }
}

/// The text of the element at `css` once it satisfies `want`, or the last text read after 10 s.
/// A click's navigation is asynchronous: until the next page has loaded, the element may be
/// missing, may still be the previous page's, or may go stale while its text is read; each of
/// those is read again.
async fn text_until(c: &Client, css: &str, want: impl Fn(&str) -> bool) -> String {
    let mut last = String::new();
    for _ in 0..100 {
        match c.find(Locator::Css(css)).await {
            Ok(element) => match element.text().await {
                Ok(t) if want(&t) => return t,
                Ok(t) => last = t,
                Err(e) if e.is_stale_element_reference() => {}
                Err(e) => panic!("reading {css}: {e}"),
            },
            Err(e) if e.is_no_such_element() => {}
            Err(e) => panic!("finding {css}: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    last
}

/// The text of the element at `css` (waiting for it to be there).
async fn text(c: &Client, css: &str) -> String {
    text_until(c, css, |_| true).await
}

/// Waits for the page whose heading is `want`.
async fn heading(c: &Client, want: &str) {
    assert_eq!(text_until(c, "h1", |t| t == want).await, want);
}

/// Waits for a finished download named `name` in `dir`.
fn downloaded(dir: &Path, name: &str) -> Vec<u8> {
    let path = dir.join(name);
    let started = Instant::now();
    loop {
        let partial = std::fs::read_dir(dir).unwrap().any(|e| {
            e.unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".crdownload")
        });
        if path.exists() && !partial {
            return std::fs::read(&path).unwrap();
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the browser did not finish downloading {name}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Every stored value of an export, as `collection.field = value` lines, sorted.
fn values_of(export: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for c in export["collections"].as_array().unwrap() {
        for r in c["records"].as_array().unwrap() {
            for v in r["values"].as_array().unwrap() {
                out.push(format!("{}.{} = {}", c["name"], v["field"], v["value"]));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_customer_uses_the_portal_in_a_real_browser() {
    if !browser_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let key = init(dir.path());
    let server = serve(dir.path());
    let api = Api::new(&server.base, &key);

    // A customer with data in every collection and two consents.
    let (status, created) = api.post(
        "/v1/subjects",
        json!({
            "data": {"email": "Ada.Browser@Example.com", "name": "Ada Browser",
                     "phone": "+1 650 253 0000", "address": "1 Loop Road, Springfield",
                     "birth_date": "1985-02-03", "gender": "female", "religion": "none"},
            "consents": {"marketing.communications.email": "granted",
                         "essential.service": "granted"},
            "notice_version": "2026-11",
        }),
    );
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let (status, _) = api.post(
        &format!("/v1/subjects/{id}/records/orders"),
        json!({"data": {"items": [{"sku": "BK-1", "qty": 1}], "total_cents": 2599,
                        "card_last4": "4242"}}),
    );
    assert_eq!(status, 201);
    let (status, _) = api.post(
        &format!("/v1/subjects/{id}/records/support_tickets"),
        json!({"data": {"message": "Where is my <b>parcel</b>?"}}),
    );
    assert_eq!(status, 201);

    // The application asks for a link for this customer.
    let (status, link) = api.post(&format!("/v1/subjects/{id}/portal-links"), json!({}));
    assert_eq!(status, 201, "{link}");
    let url = link["url"].as_str().unwrap().to_owned();
    assert!(url.starts_with(&server.base) && !url.contains("Ada") && !url.contains(&id));

    let shots_dir = screenshot_dir();
    let downloads = tempfile::tempdir().unwrap();
    let profile = tempfile::tempdir().unwrap();
    let driver = start_driver(&dir.path().join("chromedriver.log"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let export_api = api.get(&format!("/v1/subjects/{id}/export?format=json"));
    let (c, mut shots, json_bytes, zip_bytes) = rt.block_on(async {
        let c = browser(&driver, profile.path(), downloads.path()).await;
        let mut shots = Shots {
            dir: shots_dir.clone(),
            n: 0,
        };

        // Opening the link signs in and lands on the data page.
        c.goto(&url).await.unwrap();
        assert_eq!(c.current_url().await.unwrap().path(), "/portal");
        heading(&c, "Your data").await;
        let email = text(&c, "[data-collection=customers] [data-field=email] .value").await;
        assert_eq!(email, "Ada.Browser@example.com");
        let card = text(
            &c,
            "[data-collection=orders] [data-field=card_last4] .value",
        )
        .await;
        assert_eq!(card, "4242");
        let ticket = text(
            &c,
            "[data-collection=support_tickets] [data-field=message] .value",
        )
        .await;
        assert_eq!(
            ticket, "Where is my <b>parcel</b>?",
            "escaped, shown as text"
        );
        let why = text(
            &c,
            "[data-collection=customers] [data-field=email] td:last-child",
        )
        .await;
        assert!(
            why.contains("Send newsletters and offers by email"),
            "{why}"
        );
        // The session cookie was stored with its flags, over http://127.0.0.1 (a secure
        // context for Chromium), and scripts cannot read it.
        let cookie = c.get_named_cookie("privet_portal").await.unwrap();
        assert_eq!(cookie.http_only(), Some(true));
        assert_eq!(cookie.secure(), Some(true));
        assert_eq!(
            cookie.same_site().map(|s| s.to_string()).as_deref(),
            Some("Strict")
        );
        assert_eq!(cookie.path(), Some("/portal"));
        shots.take(&c, "data").await;

        // Withdraw the newsletter consent.
        c.find(Locator::LinkText("Consents"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        heading(&c, "Your consents").await;
        shots.take(&c, "consents").await;
        let newsletter = "li[data-purpose='marketing.communications.email']";
        let state = format!("{newsletter} .state");
        assert!(
            text_until(&c, &state, |t| t.contains("given"))
                .await
                .contains("given")
        );
        c.find(Locator::Css(&format!("{newsletter} button")))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        assert_eq!(c.current_url().await.unwrap().path(), "/portal/consents");
        let withdrawn = |t: &str| t.contains("withdrawn");
        assert!(withdrawn(&text_until(&c, &state, withdrawn).await));
        assert!(withdrawn(&text_until(&c, "[role=status]", withdrawn).await));
        shots.take(&c, "consent-withdrawn").await;

        // Who used the data: the application's writes, and the customer's own visit.
        c.find(Locator::LinkText("Who used your data"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let complete =
            |t: &str| t.contains("Created your record") && t.contains("You, on this page");
        let log = text_until(&c, "table.activity", complete).await;
        assert!(complete(&log), "{log}");
        shots.take(&c, "activity").await;

        // Download the export.
        c.find(Locator::LinkText("Download"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        heading(&c, "Download your data").await;
        shots.take(&c, "download").await;
        c.find(Locator::Id("download-json"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let json_bytes = downloaded(downloads.path(), "my-data.json");
        c.find(Locator::Id("download-csv"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let zip_bytes = downloaded(downloads.path(), "my-data.zip");
        (c, shots, json_bytes, zip_bytes)
    });

    // The downloads hold what the vault stores.
    let downloaded: Value = serde_json::from_slice(&json_bytes).unwrap();
    assert_eq!(downloaded["subject"], json!(id));
    let (status, stored) = export_api.clone();
    assert_eq!(status, 200);
    assert_eq!(values_of(&downloaded), values_of(&stored));
    let values = values_of(&downloaded).join("\n");
    for expected in [
        r#""customers"."email" = "Ada.Browser@example.com""#,
        r#""customers"."phone" = "+16502530000""#,
        r#""orders"."card_last4" = "4242""#,
        r#""orders"."total_cents" = 2599"#,
        r#""support_tickets"."message" = "Where is my <b>parcel</b>?""#,
    ] {
        assert!(values.contains(expected), "{expected} not in\n{values}");
    }
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(zip_bytes)).unwrap();
    let mut orders = String::new();
    std::io::Read::read_to_string(&mut zip.by_name("orders.csv").unwrap(), &mut orders).unwrap();
    assert!(orders.contains("4242"), "{orders}");

    // Through the API: the withdrawal holds, recorded as the customer through the portal.
    let (status, consents) = api.get(&format!("/v1/subjects/{id}/consents"));
    assert_eq!(status, 200);
    let newsletter = consents["consents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["purpose"] == "marketing.communications.email")
        .unwrap();
    assert_eq!(newsletter["effective"], "withdrawn");
    assert_eq!(newsletter["source"], "portal");
    let (status, read) = api.get(&format!(
        "/v1/subjects/{id}?purpose=marketing.communications.email"
    ));
    assert_eq!(status, 200);
    assert!(read["data"].as_object().unwrap().is_empty(), "{read}");
    let (_, log) = api.get(&format!("/v1/subjects/{id}/access-log"));
    let portal_actor = format!("portal:{id}");
    assert!(
        log["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["actor"] == json!(portal_actor) && e["action"] == "subject_export"),
        "the downloads are on the record as the customer's"
    );

    rt.block_on(async {
        // Ask for erasure: the confirmation says what is kept and why, then erasure.
        c.find(Locator::LinkText("Requests"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        heading(&c, "Your requests").await;
        shots.take(&c, "requests").await;
        c.find(Locator::Id("erase-link"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        heading(&c, "Erase your data").await;
        let kept = text(&c, "ul.kept").await;
        assert!(
            kept.contains("Orders")
                && kept.contains("7 years")
                && kept.contains("the law requires"),
            "{kept}"
        );
        shots.take(&c, "erase-confirm").await;
        c.find(Locator::Id("confirm-erase"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        heading(&c, "Your data is erased").await;
        let orders = |t: &str| t.contains("Orders");
        assert!(orders(&text_until(&c, "ul.kept", orders).await));
        shots.take(&c, "erased").await;

        // The link, opened again after the erasure, shows a page that says so, no data.
        c.goto(&url).await.unwrap();
        heading(&c, "This link is no longer valid").await;
        assert!(!c.source().await.unwrap().contains("Ada"));
        shots.take(&c, "link-reused").await;

        // The erasure ended the session: the portal shows nothing afterwards.
        c.goto(&format!("{}/portal", server.base)).await.unwrap();
        heading(&c, "You are not signed in").await;
        assert!(!c.source().await.unwrap().contains("Ada"));
        shots.take(&c, "after-erasure").await;
        c.close().await.unwrap();
    });

    // Through the API: the subject is erased except the orders the law obliges keeping,
    // which read only for a legal-obligation purpose.
    let (status, _) = api.get(&format!("/v1/subjects/{id}?purpose=essential.service"));
    assert_eq!(status, 404);
    let (status, kept) = api.get(&format!(
        "/v1/subjects/{id}/records/orders?purpose=essential.legal_obligation"
    ));
    assert_eq!(status, 200, "{kept}");
    let records = kept["records"].as_array().unwrap();
    assert_eq!(records.len(), 1, "{kept}");
    assert_eq!(records[0]["data"]["total_cents"], 2599);
    assert_eq!(records[0]["data"]["card_last4"], "4242");
    let (status, other) = api.get(&format!(
        "/v1/subjects/{id}/records/orders?purpose=essential.service"
    ));
    assert!(
        status != 200
            || other["records"][0]["data"]
                .as_object()
                .is_none_or(|d| d.is_empty()),
        "kept orders must not read for a contract purpose: {other}"
    );
    let (status, _) = api.get(&format!(
        "/v1/subjects/{id}/records/support_tickets?purpose=essential.service"
    ));
    assert_eq!(status, 404);
    let (status, requests) = api.get(&format!("/v1/requests?subject_id={id}"));
    assert_eq!(status, 200, "{requests}");
    let erasure = requests["requests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "erasure")
        .unwrap_or_else(|| panic!("no erasure request: {requests}"));
    assert_eq!(erasure["status"], "completed");
    assert_eq!(erasure["origin"], "portal");

    // Nothing personal in the server's log.
    let server_log = std::fs::read_to_string(dir.path().join("server.log")).unwrap();
    for value in ["Ada", "Browser", "parcel", "Springfield"] {
        assert!(!server_log.contains(value), "{value} in the server log");
    }
    println!("portal screenshots: {}", shots_dir.display());
}
