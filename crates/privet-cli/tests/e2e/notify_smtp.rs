//! Rights-request notifications by mail through the real `privet serve`: a minimal SMTP
//! server on 127.0.0.1 receives the mails; an erasure's confirmation reaches the erased
//! customer; configuration mistakes stop the server with a message naming the key.

use std::io::Write as _;
use std::net::TcpListener;
use std::sync::mpsc;

use super::monitoring::configure;
use super::*;

const ADDRESS: &str = "ada.canary.90c1@example.net";

/// One accepted mail: envelope recipients and the message text.
struct Mail {
    rcpt_to: Vec<String>,
    data: String,
}

impl Mail {
    fn subject(&self) -> String {
        let head = self.data.split("\r\n\r\n").next().unwrap_or_default();
        let unfolded = head.replace("\r\n ", " ");
        unfolded
            .lines()
            .find_map(|l| l.strip_prefix("Subject: "))
            .unwrap_or_default()
            .to_owned()
    }
}

/// An SMTP server accepting every mail, each sent on the channel.
fn smtp_server() -> (u16, mpsc::Receiver<Mail>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut out) = stream else { continue };
            let mut lines = BufReader::new(out.try_clone().unwrap());
            let _ = out.write_all(b"220 test.local ESMTP\r\n");
            let mut mail = Mail {
                rcpt_to: Vec::new(),
                data: String::new(),
            };
            let mut line = String::new();
            loop {
                line.clear();
                if lines.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let upper = line.trim_end().to_ascii_uppercase();
                let reply: &[u8] = if upper.starts_with("RCPT TO:") {
                    mail.rcpt_to.push(line.trim_end()[8..].to_owned());
                    b"250 OK\r\n"
                } else if upper == "DATA" {
                    let _ = out.write_all(b"354 go ahead\r\n");
                    loop {
                        let mut l = String::new();
                        if lines.read_line(&mut l).unwrap_or(0) == 0 || l == ".\r\n" {
                            break;
                        }
                        mail.data.push_str(&l);
                    }
                    let _ = tx.send(std::mem::replace(
                        &mut mail,
                        Mail {
                            rcpt_to: Vec::new(),
                            data: String::new(),
                        },
                    ));
                    b"250 queued\r\n"
                } else if upper == "QUIT" {
                    let _ = out.write_all(b"221 bye\r\n");
                    break;
                } else {
                    b"250 OK\r\n"
                };
                if out.write_all(reply).is_err() {
                    break;
                }
            }
        }
    });
    (port, rx)
}

fn smtp_config(dir: &Path, url: &str, extra: &str) {
    configure(
        dir,
        &[
            (
                "# notify_smtp_url = \"smtps://privet:secret@mail.example.com\"",
                &format!("notify_smtp_url = \"{url}\"\n{extra}"),
            ),
            ("notify_interval = \"5s\"", "notify_interval = \"200ms\""),
        ],
    );
}

const FROM_LINE: &str = "notify_from = \"Privacy <privacy@shop.example>\"";

#[test]
fn request_notifications_are_mailed_and_the_erasure_confirmation_reaches_the_erased_address() {
    let dir = tempfile::tempdir().unwrap();
    let key = init(dir.path());
    let (port, mails) = smtp_server();
    smtp_config(dir.path(), &format!("smtp://127.0.0.1:{port}"), FROM_LINE);
    let server = serve(dir.path());
    let api = Api::new(&server.base, &key);
    let (s, v) = api.post(
        "/v1/subjects",
        json!({"data": {"email": ADDRESS, "name": "Ada"}}),
    );
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let sub = v["id"].as_str().unwrap().to_owned();
    let (s, v) = api.post(
        "/v1/requests",
        json!({"subject_id": sub, "kind": "erasure"}),
    );
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let id = v["id"].as_str().unwrap().to_owned();
    let wait = || mails.recv_timeout(Duration::from_secs(60)).unwrap();
    let first = wait();
    assert_eq!(first.rcpt_to, [format!("<{ADDRESS}>")]);
    assert_eq!(
        first.subject(),
        format!("Your privacy request {id} was received")
    );

    let (s, v) = api.post(
        &format!("/v1/requests/{id}/verify"),
        json!({"method": "account_login"}),
    );
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        wait().subject(),
        format!("Your privacy request {id} is in progress")
    );
    let (s, v) = api.post(&format!("/v1/requests/{id}/complete"), json!({}));
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, _) = api.get(&format!("/v1/subjects/{sub}?purpose=essential.service"));
    assert_eq!(s, StatusCode::NOT_FOUND, "the customer is erased");
    let last = wait();
    assert_eq!(last.rcpt_to, [format!("<{ADDRESS}>")]);
    assert_eq!(
        last.subject(),
        format!("Your privacy request {id} is completed")
    );
    drop(server);
    // Delivered: nothing of the address is left in the data directory.
    assert_eq!(
        holding(dir.path(), ADDRESS.as_bytes()),
        Vec::<String>::new()
    );
}

/// The files under `dir` (database, WAL, the server's debug log) whose bytes contain `needle`.
fn holding(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(holding(&path, needle));
        } else if std::fs::read(&path)
            .unwrap()
            .windows(needle.len())
            .any(|w| w == needle)
        {
            out.push(path.display().to_string());
        }
    }
    out
}

/// `privet serve` with the config as edited: it must not start, and say `expected`.
fn refused(edits: &[(&str, &str)], expected: &str, secret: &str) {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path());
    configure(dir.path(), edits);
    let out = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains(expected), "{stderr}");
    assert!(!stderr.contains(secret), "{stderr}");
}

#[test]
fn mail_configuration_mistakes_stop_the_server_with_the_key_named() {
    let smtp = "# notify_smtp_url = \"smtps://privet:secret@mail.example.com\"";
    let url = "notify_smtp_url = \"smtp://user:hunter2@127.0.0.1:2525\"";
    refused(
        &[(
            smtp,
            "notify_smtp_url = \"smtpx://user:hunter2@mail.example.com\"",
        )],
        "requests.notify_smtp_url: not a valid SMTP URL",
        "hunter2",
    );
    refused(
        &[(smtp, url)],
        "requests.notify_smtp_url needs requests.notify_from",
        "hunter2",
    );
    refused(
        &[(smtp, &format!("{url}\nnotify_from = \"nobody\""))],
        "requests.notify_from: not a valid mailbox",
        "hunter2",
    );
    refused(
        &[
            (smtp, &format!("{url}\n{FROM_LINE}")),
            (
                "# notify_webhook_url = \"https://mailer.internal/privet\"",
                "notify_webhook_url = \"https://mailer.internal/privet\"",
            ),
        ],
        "requests.notify_webhook_url and requests.notify_smtp_url are both set",
        "hunter2",
    );
    refused(
        &[(
            smtp,
            &format!("{url}\n{FROM_LINE}\nnotify_email_field = \"phone\""),
        )],
        "requests.notify_email_field: field `phone` of the profile collection `customers` is not of type email",
        "hunter2",
    );
    refused(
        &[(
            smtp,
            &format!("{url}\n{FROM_LINE}\nnotify_email_field = \"mail\""),
        )],
        "requests.notify_email_field: the profile collection `customers` has no field `mail`",
        "hunter2",
    );
}
