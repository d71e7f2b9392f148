//! Notifications by mail through a real SMTP conversation: a minimal SMTP server on
//! 127.0.0.1 (just enough of RFC 5321 for one client: greeting, EHLO/HELO, MAIL, RCPT,
//! DATA, QUIT), answering 250, 451 or 550 to RCPT as told, in front of a vault on SQLite.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use privet_core::{Origin, RequestKind, SubjectId};
use privet_server::{SmtpConfig, SmtpSender};
use privet_store::Store;
use privet_store_sqlite::{SqliteOptions, SqliteStore};
use privet_vault::{Actor, Keyring, RequestInput, Schema, SystemClock, Vault, VaultError};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

const SCHEMA: &str = include_str!("../../privet-core/examples/shop.schema.toml");
const ADDRESS: &str = "kim.canary.51e2@example.org";
const FROM: &str = "Privacy team <privacy@shop.example>";

/// One mail as the server received it.
#[derive(Debug, Clone)]
struct Mail {
    mail_from: String,
    rcpt_to: Vec<String>,
    data: String,
}

impl Mail {
    /// A header's value, unfolded.
    fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next()?;
        let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
        unfolded.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }

    /// The body, decoded from quoted-printable when so declared (a long line is).
    fn body(&self) -> String {
        let raw = self
            .data
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        if self.header("Content-Transfer-Encoding").as_deref() != Some("quoted-printable") {
            return raw;
        }
        let joined = raw.replace("=\r\n", "");
        let mut out = Vec::new();
        let bytes = joined.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'=' && i + 2 < bytes.len() {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    }
}

/// A test SMTP server: answers RCPT with `rcpt_code`, records the mails it accepted.
struct SmtpServer {
    port: u16,
    mails: Arc<Mutex<Vec<Mail>>>,
    rcpt_code: Arc<Mutex<u16>>,
}

impl SmtpServer {
    async fn start() -> SmtpServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mails = Arc::new(Mutex::new(Vec::new()));
        let rcpt_code = Arc::new(Mutex::new(250));
        let (m, code) = (mails.clone(), rcpt_code.clone());
        tokio::spawn(async move {
            loop {
                let (socket, _) = listener.accept().await.unwrap();
                let (m, code) = (m.clone(), code.clone());
                tokio::spawn(async move { session(socket, m, code).await });
            }
        });
        SmtpServer {
            port,
            mails,
            rcpt_code,
        }
    }

    fn answer_rcpt(&self, code: u16) {
        *self.rcpt_code.lock().unwrap() = code;
    }

    fn mails(&self) -> Vec<Mail> {
        self.mails.lock().unwrap().clone()
    }

    fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }
}

async fn session(
    socket: tokio::net::TcpStream,
    mails: Arc<Mutex<Vec<Mail>>>,
    rcpt_code: Arc<Mutex<u16>>,
) {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 test.local ESMTP\r\n").await.unwrap();
    let mut mail = Mail {
        mail_from: String::new(),
        rcpt_to: Vec::new(),
        data: String::new(),
    };
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let command = line.trim_end().to_owned();
        let upper = command.to_ascii_uppercase();
        let reply = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            "250 test.local\r\n".to_owned()
        } else if let Some(from) = upper.strip_prefix("MAIL FROM:") {
            mail.mail_from = command[10..10 + from.len()].trim().to_owned();
            "250 OK\r\n".to_owned()
        } else if upper.starts_with("RCPT TO:") {
            let code = *rcpt_code.lock().unwrap();
            if code == 250 {
                mail.rcpt_to.push(command[8..].trim().to_owned());
            }
            match code {
                250 => "250 OK\r\n".to_owned(),
                // The text quotes the address, as real servers do: it must not be logged.
                c => format!("{c} 5.1.1 {} is not accepted here\r\n", &command[8..]),
            }
        } else if upper == "DATA" {
            write.write_all(b"354 go ahead\r\n").await.unwrap();
            let mut data = String::new();
            loop {
                let mut l = String::new();
                if lines.read_line(&mut l).await.unwrap_or(0) == 0 {
                    return;
                }
                if l == ".\r\n" {
                    break;
                }
                data.push_str(l.strip_prefix('.').unwrap_or(&l));
            }
            mail.data = data;
            mails.lock().unwrap().push(mail.clone());
            "250 queued\r\n".to_owned()
        } else if upper == "QUIT" {
            write.write_all(b"221 bye\r\n").await.unwrap();
            return;
        } else {
            // RSET, NOOP and anything else.
            "250 OK\r\n".to_owned()
        };
        if write.write_all(reply.as_bytes()).await.is_err() {
            return;
        }
    }
}

struct Fixture {
    dir: tempfile::TempDir,
    vault: Vault,
    store: Arc<dyn Store>,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(dir.path().join("privet.db"), SqliteOptions::default()).unwrap(),
    );
    let (vault, _) = Vault::initialize(
        Schema::from_toml_str(SCHEMA).unwrap(),
        store.clone(),
        Keyring::generate(),
        Arc::new(SystemClock),
    )
    .await
    .unwrap();
    let vault = vault.with_notify_recipient("email").unwrap();
    Fixture { dir, vault, store }
}

fn actor() -> Actor {
    Actor::cli()
}

fn sender(server: &SmtpServer) -> SmtpSender {
    SmtpSender::new(&SmtpConfig {
        url: server.url(),
        from: SmtpConfig::parse_from(FROM).unwrap(),
        timeout: Duration::from_secs(30),
        interval: Duration::from_secs(5),
    })
    .unwrap()
}

async fn customer(vault: &Vault) -> SubjectId {
    let data = serde_json::json!({"email": ADDRESS, "name": "Kim"});
    let serde_json::Value::Object(data) = data else {
        unreachable!()
    };
    vault.create_subject(&actor(), &data).await.unwrap()
}

fn input(subject: SubjectId, kind: RequestKind) -> RequestInput {
    RequestInput {
        subject,
        kind,
        regime: None,
        purpose: None,
        origin: Origin::Staff,
    }
}

/// Every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_containing(&path, needle));
        } else if std::fs::read(&path)
            .unwrap()
            .windows(needle.len())
            .any(|w| w == needle)
        {
            out.push(path);
        }
    }
    out
}

async fn queued(store: &Arc<dyn Store>) -> Vec<privet_store::OutboxRow> {
    store
        .outbox_due(
            time::OffsetDateTime::now_utc() + time::Duration::days(1),
            100,
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn a_status_change_is_mailed_to_the_subject_and_leaves_the_outbox() {
    let f = fixture().await;
    let server = SmtpServer::start().await;
    let id = customer(&f.vault).await;
    let r = f
        .vault
        .create_request(&actor(), input(id, RequestKind::Access))
        .await
        .unwrap();
    let rows = queued(&f.store).await;
    assert_eq!(rows.len(), 1);
    // While it waits, no file of the database holds the address in plaintext.
    assert!(files_containing(f.dir.path(), ADDRESS.as_bytes()).is_empty());

    assert_eq!(f.vault.deliver_outbox(&sender(&server)).await.unwrap(), 1);
    let mails = server.mails();
    assert_eq!(mails.len(), 1);
    let m = &mails[0];
    assert_eq!(m.mail_from, "<privacy@shop.example>");
    assert_eq!(m.rcpt_to, [format!("<{ADDRESS}>")]);
    assert_eq!(
        m.header("From").as_deref(),
        Some("\"Privacy team\" <privacy@shop.example>")
    );
    assert_eq!(m.header("To").as_deref(), Some(ADDRESS));
    assert_eq!(
        m.header("Subject"),
        Some(format!("Your privacy request {} was received", r.id))
    );
    assert_eq!(
        m.header("Message-ID"),
        Some(format!("<{}@shop.example>", rows[0].id))
    );
    assert!(
        m.header("Content-Type").unwrap().starts_with("text/plain"),
        "{m:?}"
    );
    assert_eq!(m.body().trim_end(), rows[0].body);
    assert!(queued(&f.store).await.is_empty(), "delivered: deleted");
    assert_eq!(f.vault.deliver_outbox(&sender(&server)).await.unwrap(), 0);
}

#[tokio::test]
async fn a_451_keeps_the_message_for_a_retry() {
    let f = fixture().await;
    let server = SmtpServer::start().await;
    server.answer_rcpt(451);
    let id = customer(&f.vault).await;
    f.vault
        .create_request(&actor(), input(id, RequestKind::Access))
        .await
        .unwrap();
    assert_eq!(f.vault.deliver_outbox(&sender(&server)).await.unwrap(), 0);
    assert!(server.mails().is_empty());
    let rows = queued(&f.store).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].attempts, 1);
    assert_eq!(rows[0].last_error.as_deref(), Some("smtp_451"));
    assert!(rows[0].next_attempt_at > time::OffsetDateTime::now_utc());
    assert!(rows[0].recipient.is_some());
}

#[tokio::test]
async fn a_550_drops_the_message() {
    let f = fixture().await;
    let server = SmtpServer::start().await;
    server.answer_rcpt(550);
    let id = customer(&f.vault).await;
    f.vault
        .create_request(&actor(), input(id, RequestKind::Access))
        .await
        .unwrap();
    assert_eq!(queued(&f.store).await.len(), 1);
    assert_eq!(f.vault.deliver_outbox(&sender(&server)).await.unwrap(), 0);
    assert!(server.mails().is_empty());
    assert!(
        queued(&f.store).await.is_empty(),
        "rejected for good: dropped"
    );
}

#[tokio::test]
async fn a_refused_connection_keeps_the_message_for_a_retry() {
    let f = fixture().await;
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let id = customer(&f.vault).await;
    f.vault
        .create_request(&actor(), input(id, RequestKind::Access))
        .await
        .unwrap();
    let sender = SmtpSender::new(&SmtpConfig {
        url: format!("smtp://127.0.0.1:{port}"),
        from: SmtpConfig::parse_from(FROM).unwrap(),
        timeout: Duration::from_secs(30),
        interval: Duration::from_secs(5),
    })
    .unwrap();
    assert_eq!(f.vault.deliver_outbox(&sender).await.unwrap(), 0);
    let rows = queued(&f.store).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].attempts, 1);
    assert_eq!(rows[0].last_error.as_deref(), Some("connection_failed"));
}

/// A relay that does not speak TLS where the URL asks for it: the mail is not sent in the
/// clear, and the message waits for a retry (a configuration problem, not the message's).
#[tokio::test]
async fn a_tls_failure_keeps_the_message_for_a_retry_and_sends_nothing_in_the_clear() {
    let f = fixture().await;
    let server = SmtpServer::start().await;
    let id = customer(&f.vault).await;
    f.vault
        .create_request(&actor(), input(id, RequestKind::Access))
        .await
        .unwrap();
    for (n, url) in [
        format!("smtps://127.0.0.1:{}", server.port),
        format!("smtp://127.0.0.1:{}?tls=required", server.port),
    ]
    .into_iter()
    .enumerate()
    {
        let sender = SmtpSender::new(&SmtpConfig {
            url,
            from: SmtpConfig::parse_from(FROM).unwrap(),
            timeout: Duration::from_secs(30),
            interval: Duration::from_secs(5),
        })
        .unwrap();
        let mut row = queued(&f.store).await.remove(0);
        row.next_attempt_at = time::OffsetDateTime::now_utc() - time::Duration::seconds(1);
        f.store
            .apply(
                privet_store::WriteSet::new()
                    .op(privet_store::Op::DeleteMessage(row.id))
                    .op(privet_store::Op::QueueMessage(row)),
            )
            .await
            .unwrap();
        assert_eq!(f.vault.deliver_outbox(&sender).await.unwrap(), 0);
        let rows = queued(&f.store).await;
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].attempts, n as i64 + 1);
        assert_eq!(rows[0].last_error.as_deref(), Some("connection_failed"));
    }
    assert!(server.mails().is_empty());
}

#[tokio::test]
async fn the_erasure_confirmation_reaches_the_erased_address() {
    let f = fixture().await;
    let server = SmtpServer::start().await;
    let id = customer(&f.vault).await;
    let r = f
        .vault
        .create_request(&actor(), input(id, RequestKind::Erasure))
        .await
        .unwrap();
    f.vault
        .verify_request(&actor(), r.id, "id_document")
        .await
        .unwrap();
    f.vault
        .complete_request(&actor(), r.id, None)
        .await
        .unwrap();
    assert!(matches!(
        f.vault
            .read_subject(&actor(), id, Some("essential.service"))
            .await,
        Err(VaultError::SubjectNotFound(_))
    ));
    assert!(files_containing(f.dir.path(), ADDRESS.as_bytes()).is_empty());

    assert_eq!(f.vault.deliver_outbox(&sender(&server)).await.unwrap(), 3);
    let mails = server.mails();
    assert_eq!(mails.len(), 3);
    assert!(mails.iter().all(|m| m.rcpt_to == [format!("<{ADDRESS}>")]));
    let last = mails
        .iter()
        .find(|m| m.header("Subject").unwrap().ends_with("is completed"))
        .expect("the completion mail");
    assert_eq!(
        last.header("Subject"),
        Some(format!("Your privacy request {} is completed", r.id))
    );
    assert!(last.body().contains("has been completed"));
    assert!(queued(&f.store).await.is_empty());
}

#[test]
fn bad_smtp_urls_and_senders_are_refused_without_echoing_them() {
    for url in [
        "http://mail.example.com",
        "smtp://",
        "smtp://host?tls=sometimes",
        "mail.example.com:587",
    ] {
        let err = SmtpConfig::check_url(url).unwrap_err().to_string();
        assert!(err.starts_with("not a valid SMTP URL"), "{url}: {err}");
    }
    let err = SmtpConfig::check_url("smtq://user:hunter2@mail.example.com")
        .unwrap_err()
        .to_string();
    assert!(!err.contains("hunter2"), "{err}");
    for url in [
        "smtp://localhost:25",
        "smtp://user:pass@mail.example.com:587?tls=required",
        "smtps://user:pass@mail.example.com",
    ] {
        SmtpConfig::check_url(url).unwrap();
    }
    assert!(SmtpConfig::parse_from("not an address").is_err());
    assert!(SmtpConfig::parse_from("privacy@shop.example").is_ok());
    let config = SmtpConfig {
        url: "smtps://user:hunter2@mail.example.com".into(),
        from: SmtpConfig::parse_from(FROM).unwrap(),
        timeout: Duration::from_secs(1),
        interval: Duration::from_secs(1),
    };
    assert!(!format!("{config:?}").contains("hunter2"));
}
