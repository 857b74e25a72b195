//! A real SMTP server for tests: aiosmtpd (PyPI) with its `Mailbox` handler, which writes each
//! message it accepts into a Maildir (`DIR/new`, with the envelope in `X-RcptTo`). The test
//! command makes a Python with aiosmtpd and names it in `ORRERY_TEST_PYTHON`.
//!
//! The server runs as a child process that exits when its standard input closes, so it never
//! outlives the test binary, even when the binary is killed. Messages are read back from the
//! Maildir and their MIME structure decoded (quoted-printable and base64 parts), so tests see
//! what a mail client would: recipient, subject, text part and HTML part.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};

use base64::Engine as _;

/// The Python that starts the server: the same `Mailbox` handler as
/// `python -m aiosmtpd -n -l 127.0.0.1:PORT -c aiosmtpd.handlers.Mailbox DIR`, but tied to
/// standard input.
const SERVER: &str = r#"
import os, sys
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
folder, port = sys.argv[1], int(sys.argv[2])
for sub in ("cur", "new", "tmp"):
    os.makedirs(os.path.join(folder, sub), exist_ok=True)
controller = Controller(Mailbox(folder), hostname="127.0.0.1", port=port)
controller.start()
print("ready", flush=True)
sys.stdin.read()
controller.stop()
"#;

/// A running aiosmtpd.
pub struct SmtpSink {
    /// The port it listens on.
    pub port: u16,
    dir: PathBuf,
    _tmp: tempfile::TempDir,
    child: Mutex<Option<(Child, ChildStdin)>>,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        if let Ok(mut child) = self.child.lock()
            && let Some((mut child, stdin)) = child.take()
        {
            drop(stdin);
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A delivered message, decoded.
#[derive(Clone, Debug)]
pub struct Received {
    /// The envelope recipients (`X-RcptTo`).
    pub rcpt_to: String,
    /// The `From` header.
    pub from: String,
    /// The `To` header.
    pub to: String,
    /// The `Subject` header.
    pub subject: String,
    /// The `X-Orrery-Template` header.
    pub template: String,
    /// The `Message-ID` header.
    pub message_id: String,
    /// The top-level `Content-Type`.
    pub content_type: String,
    /// The decoded `text/plain` part.
    pub text: String,
    /// The decoded `text/html` part.
    pub html: String,
}

/// The Python that has aiosmtpd, or `None` (with a loud message) when there is none; under CI a
/// missing one fails the test.
fn python() -> Option<String> {
    static FOUND: OnceLock<Option<String>> = OnceLock::new();
    FOUND
        .get_or_init(|| {
            let python =
                std::env::var("ORRERY_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned());
            let ok = Command::new(&python)
                .args(["-c", "import aiosmtpd"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            ok.then_some(python)
        })
        .clone()
}

/// Whether a real SMTP server can run here; under CI it must.
pub fn available() -> bool {
    if python().is_some() {
        return true;
    }
    assert!(
        std::env::var("CI").is_err(),
        "CI is set but no Python with aiosmtpd was found (set ORRERY_TEST_PYTHON, or run scripts/test-all)"
    );
    eprintln!(
        "SKIPPED: real SMTP (no Python with aiosmtpd; set ORRERY_TEST_PYTHON, or run scripts/test-all): mails are kept in memory instead"
    );
    false
}

impl SmtpSink {
    /// Starts a sink on a free port; `None` when aiosmtpd is not available (see [`available`]).
    pub async fn start() -> Option<SmtpSink> {
        SmtpSink::start_on(free_port()).await
    }

    /// Starts a sink on `port`.
    pub async fn start_on(port: u16) -> Option<SmtpSink> {
        if !available() {
            return None;
        }
        let python = python()?;
        tokio::task::spawn_blocking(move || SmtpSink::spawn(&python, port))
            .await
            .unwrap()
    }

    /// The sink shared by every test of this binary (recipients tell their mails apart).
    pub async fn shared() -> Option<Arc<SmtpSink>> {
        static SHARED: OnceLock<Option<Arc<SmtpSink>>> = OnceLock::new();
        if let Some(sink) = SHARED.get() {
            return sink.clone();
        }
        let sink = SmtpSink::start().await.map(Arc::new);
        SHARED.get_or_init(|| sink).clone()
    }

    fn spawn(python: &str, port: u16) -> Option<SmtpSink> {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("maildir");
        let mut child = Command::new(python)
            .args(["-c", SERVER])
            .arg(&dir)
            .arg(port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python starts");
        let stdin = child.stdin.take().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(
            line.trim(),
            "ready",
            "aiosmtpd did not start on port {port}"
        );
        Some(SmtpSink {
            port,
            dir,
            _tmp: tmp,
            child: Mutex::new(Some((child, stdin))),
        })
    }

    /// `smtp://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message delivered so far.
    pub fn messages(&self) -> Vec<Received> {
        let Ok(entries) = std::fs::read_dir(self.dir.join("new")) else {
            return Vec::new();
        };
        let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        paths.iter().filter_map(|p| read_message(p)).collect()
    }

    /// The messages to `to`.
    pub fn messages_to(&self, to: &str) -> Vec<Received> {
        self.messages()
            .into_iter()
            .filter(|m| m.rcpt_to.split(',').any(|r| r.trim() == to))
            .collect()
    }
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn read_message(path: &Path) -> Option<Received> {
    let raw = std::fs::read_to_string(path).ok()?;
    let (headers, body) = split_message(&raw);
    let header = |name: &str| header_value(&headers, name).unwrap_or_default();
    let content_type = header("content-type");
    let mut text = String::new();
    let mut html = String::new();
    if let Some(boundary) = boundary(&content_type) {
        for part in body.split(&format!("--{boundary}")).skip(1) {
            if part.starts_with("--") {
                break;
            }
            let (part_headers, part_body) = split_message(part.trim_start_matches(['\r', '\n']));
            let kind = header_value(&part_headers, "content-type").unwrap_or_default();
            let encoding =
                header_value(&part_headers, "content-transfer-encoding").unwrap_or_default();
            let decoded = decode_body(part_body, &encoding);
            if kind.starts_with("text/plain") {
                text = decoded;
            } else if kind.starts_with("text/html") {
                html = decoded;
            }
        }
    } else {
        text = decode_body(body, &header("content-transfer-encoding"));
    }
    Some(Received {
        rcpt_to: header("x-rcptto"),
        from: header("from"),
        to: header("to"),
        subject: decode_words(&header("subject")),
        template: header("x-orrery-template"),
        message_id: header("message-id"),
        content_type,
        text,
        html,
    })
}

/// Headers (unfolded, `(lowercase name, value)`) and the body.
fn split_message(raw: &str) -> (Vec<(String, String)>, &str) {
    let raw_headers;
    let body;
    if let Some(i) = raw.find("\r\n\r\n") {
        raw_headers = &raw[..i];
        body = &raw[i + 4..];
    } else if let Some(i) = raw.find("\n\n") {
        raw_headers = &raw[..i];
        body = &raw[i + 2..];
    } else {
        raw_headers = raw;
        body = "";
    }
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in raw_headers.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = headers.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_lowercase(), value.trim().to_owned()));
        }
    }
    (headers, body)
}

fn header_value(headers: &[(String, String)], name: &str) -> Option<String> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
}

fn boundary(content_type: &str) -> Option<String> {
    let (_, rest) = content_type.split_once("boundary=")?;
    Some(rest.split(';').next()?.trim().trim_matches('"').to_owned())
}

fn decode_body(body: &str, encoding: &str) -> String {
    match encoding.to_lowercase().as_str() {
        "quoted-printable" => quoted_printable(body),
        "base64" => {
            let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
            String::from_utf8_lossy(
                &base64::engine::general_purpose::STANDARD
                    .decode(compact)
                    .unwrap_or_default(),
            )
            .into_owned()
        }
        _ => body.trim_end_matches(['\r', '\n']).replace("\r\n", "\n"),
    }
}

fn quoted_printable(body: &str) -> String {
    let body = body.replace("\r\n", "\n");
    let mut bytes = Vec::with_capacity(body.len());
    let mut chars = body.as_bytes().iter().copied().peekable();
    while let Some(b) = chars.next() {
        if b != b'=' {
            bytes.push(b);
            continue;
        }
        match chars.peek() {
            Some(b'\n') => {
                chars.next(); // a soft line break
            }
            _ => {
                let hi = chars.next();
                let lo = chars.next();
                if let (Some(hi), Some(lo)) = (hi, lo)
                    && let Ok(v) = u8::from_str_radix(&format!("{}{}", hi as char, lo as char), 16)
                {
                    bytes.push(v);
                }
            }
        }
    }
    String::from_utf8_lossy(&bytes)
        .trim_end_matches('\n')
        .to_owned()
}

/// Decodes RFC 2047 encoded words (`=?utf-8?b?…?=`, `=?utf-8?q?…?=`) in a header.
fn decode_words(value: &str) -> String {
    let mut out = String::new();
    for word in value.split_whitespace() {
        let decoded = word
            .strip_prefix("=?")
            .and_then(|w| w.strip_suffix("?="))
            .and_then(|w| {
                let mut parts = w.splitn(3, '?');
                let _charset = parts.next()?;
                let kind = parts.next()?;
                let text = parts.next()?;
                match kind {
                    "b" | "B" => base64::engine::general_purpose::STANDARD
                        .decode(text)
                        .ok()
                        .map(|b| String::from_utf8_lossy(&b).into_owned()),
                    "q" | "Q" => Some(quoted_printable(&text.replace('_', " "))),
                    _ => None,
                }
            });
        match decoded {
            Some(text) => out.push_str(&text),
            None => {
                if !out.is_empty() {
                    out.push(' ');
                }
                out.push_str(word);
            }
        }
    }
    out
}
