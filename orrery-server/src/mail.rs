//! Outgoing mail: templates from the `email_templates` table rendered with minijinja (HTML
//! auto-escaped, subject and text not), and the transports that deliver the result — SMTP
//! through lettre, the log when no SMTP server is configured, memory for tests.
//!
//! Requests never send mail themselves: they queue it in the outbox ([`Outbox::send`]), and the
//! sender job in `jobs.rs` renders and delivers it with retries, so a slow or down SMTP server
//! neither blocks a request nor loses a mail.

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use orrery_core::store::{EmailOutbox, EmailTemplate, NewEmail, StoreError};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};
use time::OffsetDateTime;

/// A rendered mail, ready to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mail {
    /// Recipient address.
    pub to: String,
    /// The template it was made from (`welcome`, `password_reset`…).
    pub template: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// HTML body.
    pub html: String,
    /// The outbox row it was sent from, when it was: its `Message-ID` is `<id@sender's
    /// domain>`, the same on every attempt, so that receivers can drop a mail sent twice.
    pub id: Option<uuid::Uuid>,
}

/// Why a mail could not be rendered or sent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MailError {
    /// The template is broken or asks for a variable it does not declare.
    #[error("template `{template}` is invalid: {message}")]
    Template {
        /// The template's name.
        template: String,
        /// The part at fault: `subject`, `html`, `text` or `variables`.
        part: &'static str,
        /// Which part and what is wrong (the variable's name, for undeclared ones).
        message: String,
        /// The undeclared variable, when that is the problem.
        variable: Option<String>,
    },
    /// The recipient or sender is not an address.
    #[error("invalid address `{0}`")]
    Address(String),
    /// The SMTP server refused or could not be reached.
    #[error("sending mail failed")]
    Transport(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Delivers rendered mail.
#[async_trait]
pub trait Mailer: Send + Sync + std::fmt::Debug {
    /// Delivers one mail.
    async fn send(&self, mail: &Mail) -> Result<(), MailError>;

    /// Checks that the transport can deliver (the SMTP server answers), for health checks.
    async fn check(&self) -> Result<(), MailError> {
        Ok(())
    }

    /// What delivers the mail: `smtp`, `log` or `memory`.
    fn kind(&self) -> &'static str;
}

/// SMTP through lettre: `smtp://host:port` (plain, for a local relay), `smtp://…?tls=required`
/// (STARTTLS), `smtps://…` (TLS from the start), with `user:password@` when the server wants
/// credentials.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The transport's Debug output would show the credentials.
        f.debug_struct("SmtpMailer")
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

impl SmtpMailer {
    /// A pooled transport to `url`, sending as `from`.
    pub fn new(url: &SecretString, from: &str) -> anyhow::Result<SmtpMailer> {
        let from: Mailbox = from
            .parse()
            .map_err(|e| anyhow::anyhow!("mail_from `{from}` is not a mailbox: {e}"))?;
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret())
            .map_err(|e| anyhow::anyhow!("smtp_url is not usable: {e}"))?
            .timeout(Some(std::time::Duration::from_secs(20)))
            .build();
        Ok(SmtpMailer { transport, from })
    }
}

/// The header that names the template a mail came from, for operators and tests.
pub const TEMPLATE_HEADER: &str = "X-Orrery-Template";

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, mail: &Mail) -> Result<(), MailError> {
        let to: Mailbox = mail
            .to
            .parse()
            .map_err(|_| MailError::Address(mail.to.clone()))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject.clone())
            .message_id(
                mail.id
                    .map(|id| format!("<{id}@{}>", self.from.email.domain())),
            )
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str(TEMPLATE_HEADER),
                mail.template.clone(),
            ))
            .multipart(MultiPart::alternative_plain_html(
                mail.text.clone(),
                mail.html.clone(),
            ))
            .map_err(|e| MailError::Transport(Box::new(e)))?;
        self.transport
            .send(message)
            .await
            .map_err(|e| MailError::Transport(Box::new(e)))?;
        Ok(())
    }

    async fn check(&self) -> Result<(), MailError> {
        match self.transport.test_connection().await {
            Ok(true) => Ok(()),
            Ok(false) => Err(MailError::Transport(
                "the SMTP server did not answer NOOP".into(),
            )),
            Err(e) => Err(MailError::Transport(Box::new(e))),
        }
    }

    fn kind(&self) -> &'static str {
        "smtp"
    }
}

/// Writes mails to the log instead of sending them (no SMTP server configured).
#[derive(Debug, Default)]
pub struct LogMailer;

#[async_trait]
impl Mailer for LogMailer {
    async fn send(&self, mail: &Mail) -> Result<(), MailError> {
        tracing::info!(to = %mail.to, template = %mail.template, subject = %mail.subject, body = %mail.text, "mail (not sent: no SMTP server configured)");
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "log"
    }
}

/// Keeps mails in memory, for tests that read what was sent without an SMTP server.
#[derive(Debug, Default)]
pub struct MemoryMailer {
    sent: std::sync::Mutex<Vec<Mail>>,
}

impl MemoryMailer {
    /// Every mail sent so far.
    pub fn sent(&self) -> Vec<Mail> {
        self.sent.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl Mailer for MemoryMailer {
    async fn send(&self, mail: &Mail) -> Result<(), MailError> {
        if let Ok(mut sent) = self.sent.lock() {
            sent.push(mail.clone());
        }
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "memory"
    }
}

/// Checks a template before it is saved: each part parses, uses only declared variables, and
/// renders with every declared variable set.
pub fn check_template(template: &EmailTemplate) -> Result<(), MailError> {
    let invalid =
        |part: &'static str, message: String, variable: Option<String>| MailError::Template {
            template: template.name.clone(),
            part,
            message,
            variable,
        };
    let declared: BTreeSet<&str> = template.variables.iter().map(String::as_str).collect();
    for variable in &declared {
        let ok = variable
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && variable
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            return Err(invalid(
                "variables",
                format!("`{variable}` is not a variable name"),
                None,
            ));
        }
    }
    let env = environment();
    for (file, source) in parts(template) {
        let part = part_name(file);
        let compiled = env
            .template_from_named_str(file, source)
            .map_err(|e| invalid(part, format!("{part}: {e}"), None))?;
        let mut used: Vec<String> = compiled.undeclared_variables(false).into_iter().collect();
        used.sort();
        if let Some(unknown) = used.iter().find(|v| !declared.contains(v.as_str())) {
            return Err(invalid(
                part,
                format!("{part} uses `{unknown}`, which is not a declared variable"),
                Some(unknown.clone()),
            ));
        }
    }
    let sample: Map<String, Value> = declared
        .iter()
        .map(|v| ((*v).to_owned(), Value::String(format!("<{v}>"))))
        .collect();
    render(template, "check@example.com", &Value::Object(sample)).map(|_| ())
}

/// Renders `template` for `to` with `variables`; declared variables that are missing render as
/// empty text.
pub fn render(template: &EmailTemplate, to: &str, variables: &Value) -> Result<Mail, MailError> {
    let mut context = match variables {
        Value::Object(map) => map.clone(),
        _ => Map::new(),
    };
    for declared in &template.variables {
        context
            .entry(declared.clone())
            .or_insert_with(|| Value::String(String::new()));
    }
    let context = minijinja::Value::from_serialize(&context);
    let env = environment();
    let mut rendered = Vec::with_capacity(3);
    for (file, source) in parts(template) {
        let part = part_name(file);
        let text = env
            .template_from_named_str(file, source)
            .and_then(|t| t.render(&context))
            .map_err(|e| MailError::Template {
                template: template.name.clone(),
                part,
                message: format!("{part}: {e}"),
                variable: None,
            })?;
        rendered.push(text);
    }
    let mut rendered = rendered.into_iter();
    let subject = rendered.next().unwrap_or_default();
    let html = rendered.next().unwrap_or_default();
    let text = rendered.next().unwrap_or_default();
    Ok(Mail {
        to: to.to_owned(),
        template: template.name.clone(),
        // A subject is one line, whatever the template or its values hold.
        subject: subject.lines().map(str::trim).collect::<Vec<_>>().join(" "),
        text,
        html,
        id: None,
    })
}

/// Every mail the server sends: the template (the variant's snake_case name, a row of
/// `email_templates`) and its variables as a typed struct. A test checks each variant against
/// the seeded template's declared variables, so a missing or misspelt variable fails there and
/// not in someone's inbox.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(tag = "template", content = "variables", rename_all = "snake_case")]
pub enum OutgoingMail {
    /// After sign-up.
    Welcome {
        /// Display name.
        name: String,
        /// The trial's end as [`mail_date`], or empty.
        trial_ends_at: String,
        /// The console's address.
        app_url: String,
    },
    /// A few days before the trial ends.
    TrialEnding {
        /// Display name.
        name: String,
        /// Whole days left.
        days_left: u32,
        /// The trial's end as [`mail_date`].
        trial_ends_at: String,
        /// Where to choose a plan.
        upgrade_url: String,
    },
    /// When the trial has ended.
    TrialExpired {
        /// Display name.
        name: String,
        /// Where to choose a plan.
        upgrade_url: String,
    },
    /// The account moved to a better plan.
    PlanUpgraded {
        /// Display name.
        name: String,
        /// The new plan.
        plan: orrery_core::Plan,
        /// The plan before.
        previous_plan: orrery_core::Plan,
        /// The billing page.
        billing_url: String,
    },
    /// The account moved to a lesser plan.
    PlanDowngraded {
        /// Display name.
        name: String,
        /// The new plan.
        plan: orrery_core::Plan,
        /// The plan before.
        previous_plan: orrery_core::Plan,
        /// The billing page.
        billing_url: String,
    },
    /// A payment failed.
    PaymentFailed {
        /// Display name.
        name: String,
        /// The plan paid for.
        plan: orrery_core::Plan,
        /// The billing page.
        billing_url: String,
    },
    /// The subscription will end at the end of its period.
    SubscriptionCanceled {
        /// Display name.
        name: String,
        /// The plan.
        plan: orrery_core::Plan,
        /// When it ends, as [`mail_date`] (or empty).
        ends_at: String,
        /// The billing page.
        billing_url: String,
    },
    /// A password-reset link.
    PasswordReset {
        /// Display name.
        name: String,
        /// The link with its token.
        reset_url: String,
        /// How long the link works.
        expires_in_minutes: i64,
    },
    /// Repeated wrong passwords slowed down sign-ins to the account.
    SigninThrottled {
        /// Display name.
        name: String,
        /// Failed attempts so far.
        failures: u64,
        /// Where to reset the password.
        reset_url: String,
    },
    /// To the new address of an email change: the link that makes the change.
    EmailChangeConfirm {
        /// Display name.
        name: String,
        /// The address asked for (this mail's recipient).
        new_email: String,
        /// The link with its token.
        confirm_url: String,
        /// How long the link works.
        expires_in_minutes: i64,
    },
    /// To the current address of an email change: what was asked, and what to do if it was
    /// not the owner.
    EmailChangeNotice {
        /// Display name.
        name: String,
        /// The address asked for.
        new_email: String,
        /// Where to choose a new password.
        reset_url: String,
    },
    /// After the account was deleted (to the address it had).
    AccountDeleted {
        /// Display name.
        name: String,
    },
}

impl OutgoingMail {
    /// The template's name and the variables.
    pub fn into_parts(self) -> (String, Value) {
        match serde_json::to_value(self) {
            Ok(Value::Object(mut map)) => {
                let template = match map.remove("template") {
                    Some(Value::String(name)) => name,
                    _ => String::new(),
                };
                (template, map.remove("variables").unwrap_or(Value::Null))
            }
            _ => unreachable!("every mail serializes to an object"),
        }
    }
}

/// The outbox as services use it: queue a typed mail, wake this instance's sender.
#[derive(Clone)]
pub struct Outbox {
    store: Arc<dyn EmailOutbox>,
    wakeup: Arc<tokio::sync::Notify>,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox").finish_non_exhaustive()
    }
}

impl Outbox {
    /// Queues into `store` and wakes the sender waiting on `wakeup`.
    pub fn new(store: Arc<dyn EmailOutbox>, wakeup: Arc<tokio::sync::Notify>) -> Outbox {
        Outbox { store, wakeup }
    }

    /// What the sender waits on.
    pub fn wakeup(&self) -> &Arc<tokio::sync::Notify> {
        &self.wakeup
    }

    /// Queues `mail` to `to` (and the account `user_id`, `None` once it is deleted), once per `dedupe_key` when given,
    /// and wakes the sender. A failure is logged, never returned: the change that caused the
    /// mail has happened, and a lost notification must not undo it. Where the mail is the
    /// point of the request (a password reset), [`Outbox::queue`] says whether it is queued.
    pub async fn send(
        &self,
        user_id: impl Into<Option<uuid::Uuid>>,
        to: &str,
        mail: OutgoingMail,
        dedupe_key: Option<String>,
    ) {
        // `queue` has logged the failure.
        let _ = self.queue(user_id, to, mail, dedupe_key).await;
    }

    /// Like [`Outbox::send`], but returns the failure: `Ok(Some(id))` when the mail is queued
    /// (written to the outbox, so it survives this process), `Ok(None)` when one is queued
    /// under `dedupe_key` already.
    pub async fn queue(
        &self,
        user_id: impl Into<Option<uuid::Uuid>>,
        to: &str,
        mail: OutgoingMail,
        dedupe_key: Option<String>,
    ) -> Result<Option<uuid::Uuid>, StoreError> {
        let (template, variables) = mail.into_parts();
        let email = NewEmail {
            user_id: user_id.into(),
            to: to.to_owned(),
            template: template.clone(),
            variables,
            dedupe_key,
        };
        let queued = self
            .store
            .enqueue_email(email, OffsetDateTime::now_utc())
            .await;
        match &queued {
            Ok(Some(id)) => {
                tracing::debug!(%id, %template, "mail queued");
                self.wakeup.notify_one();
            }
            Ok(None) => tracing::debug!(%template, "mail already queued under its key"),
            Err(e) => tracing::error!(error = %e, %template, "queueing a mail failed"),
        }
        queued
    }
}

/// A date as mails show it: `2026-11-15`.
pub fn mail_date(at: OffsetDateTime) -> String {
    let date = at.date();
    format!(
        "{}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

fn parts(template: &EmailTemplate) -> [(&'static str, &str); 3] {
    [
        ("subject.txt", template.subject.as_str()),
        ("body.html", template.html.as_str()),
        ("body.txt", template.text.as_str()),
    ]
}

fn part_name(file: &str) -> &'static str {
    match file {
        "subject.txt" => "subject",
        "body.html" => "html",
        _ => "text",
    }
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html") {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    env
}

#[cfg(test)]
mod tests {
    use orrery_core::Plan;
    use orrery_core::store::EmailTemplateStore;
    use serde_json::json;

    use super::*;

    /// One of each mail (the match makes a new variant a compile error here until listed).
    fn every_mail() -> Vec<OutgoingMail> {
        let name = String::from("Ada");
        let url = String::from("http://x");
        let all = vec![
            OutgoingMail::Welcome {
                name: name.clone(),
                trial_ends_at: "2026-01-01".into(),
                app_url: url.clone(),
            },
            OutgoingMail::TrialEnding {
                name: name.clone(),
                days_left: 3,
                trial_ends_at: "2026-01-01".into(),
                upgrade_url: url.clone(),
            },
            OutgoingMail::TrialExpired {
                name: name.clone(),
                upgrade_url: url.clone(),
            },
            OutgoingMail::PlanUpgraded {
                name: name.clone(),
                plan: Plan::Pro,
                previous_plan: Plan::Free,
                billing_url: url.clone(),
            },
            OutgoingMail::PlanDowngraded {
                name: name.clone(),
                plan: Plan::Free,
                previous_plan: Plan::Pro,
                billing_url: url.clone(),
            },
            OutgoingMail::PaymentFailed {
                name: name.clone(),
                plan: Plan::Pro,
                billing_url: url.clone(),
            },
            OutgoingMail::SubscriptionCanceled {
                name: name.clone(),
                plan: Plan::Pro,
                ends_at: "2026-01-01".into(),
                billing_url: url.clone(),
            },
            OutgoingMail::PasswordReset {
                name: name.clone(),
                reset_url: url.clone(),
                expires_in_minutes: 30,
            },
            OutgoingMail::SigninThrottled {
                name: name.clone(),
                failures: 5,
                reset_url: url.clone(),
            },
            OutgoingMail::EmailChangeConfirm {
                name: name.clone(),
                new_email: "new@example.com".into(),
                confirm_url: url.clone(),
                expires_in_minutes: 60,
            },
            OutgoingMail::EmailChangeNotice {
                name: name.clone(),
                new_email: "new@example.com".into(),
                reset_url: url,
            },
            OutgoingMail::AccountDeleted { name },
        ];
        for mail in &all {
            match mail {
                OutgoingMail::Welcome { .. }
                | OutgoingMail::TrialEnding { .. }
                | OutgoingMail::TrialExpired { .. }
                | OutgoingMail::PlanUpgraded { .. }
                | OutgoingMail::PlanDowngraded { .. }
                | OutgoingMail::PaymentFailed { .. }
                | OutgoingMail::SubscriptionCanceled { .. }
                | OutgoingMail::PasswordReset { .. }
                | OutgoingMail::SigninThrottled { .. }
                | OutgoingMail::EmailChangeConfirm { .. }
                | OutgoingMail::EmailChangeNotice { .. }
                | OutgoingMail::AccountDeleted { .. } => {}
            }
        }
        all
    }

    /// Every typed mail has a seeded template that declares exactly its variables, every seeded
    /// template has a typed mail, and each renders.
    #[tokio::test]
    async fn typed_mails_match_the_seeded_templates() {
        let store =
            orrery_store::Store::connect("sqlite::memory:", orrery_store::StoreOptions::default())
                .await
                .unwrap();
        let templates = store.list_templates().await.unwrap();
        let mails = every_mail();
        let mut typed = BTreeSet::new();
        for mail in mails {
            let (name, variables) = mail.into_parts();
            let template = templates
                .iter()
                .find(|t| t.name == name)
                .unwrap_or_else(|| panic!("no seeded template `{name}`"));
            let keys: BTreeSet<String> = variables.as_object().unwrap().keys().cloned().collect();
            let declared: BTreeSet<String> = template.variables.iter().cloned().collect();
            assert_eq!(keys, declared, "variables of `{name}`");
            render(template, "a@example.com", &variables).unwrap();
            typed.insert(name);
        }
        let seeded: BTreeSet<String> = templates.into_iter().map(|t| t.name).collect();
        assert_eq!(typed, seeded);
    }

    fn template(subject: &str, html: &str, text: &str, variables: &[&str]) -> EmailTemplate {
        EmailTemplate {
            name: "t".into(),
            subject: subject.into(),
            html: html.into(),
            text: text.into(),
            variables: variables.iter().map(|v| (*v).to_owned()).collect(),
            is_active: true,
        }
    }

    #[test]
    fn html_is_escaped_and_text_is_not() {
        let t = template(
            "Hi {{ name }}",
            "<p>{{ name }}</p>",
            "{{ name }}",
            &["name"],
        );
        let mail = render(&t, "a@example.com", &json!({"name": "<Ada & Co>"})).unwrap();
        assert_eq!(mail.subject, "Hi <Ada & Co>");
        assert_eq!(mail.html, "<p>&lt;Ada &amp; Co&gt;</p>");
        assert_eq!(mail.text, "<Ada & Co>");
    }

    #[test]
    fn undeclared_variables_are_refused_by_name() {
        let t = template(
            "Hi",
            "<p>{{ name }} {{ secret }}</p>",
            "{{ name }}",
            &["name"],
        );
        match check_template(&t) {
            Err(MailError::Template { variable, .. }) => {
                assert_eq!(variable.as_deref(), Some("secret"))
            }
            other => panic!("{other:?}"),
        }
        assert!(check_template(&template("{{", "", "", &[])).is_err());
        assert!(check_template(&template("x", "", "", &["not a name"])).is_err());
        assert!(
            check_template(&template(
                "{% if ends_at %}{{ ends_at }}{% endif %}",
                "",
                "",
                &["ends_at"]
            ))
            .is_ok()
        );
    }

    #[test]
    fn missing_declared_variables_render_empty_and_subjects_are_one_line() {
        let t = template("A\nB {{ x }}", "", "[{{ x }}]", &["x"]);
        let mail = render(&t, "a@example.com", &json!({})).unwrap();
        assert_eq!(mail.subject, "A B");
        assert_eq!(mail.text, "[]");
    }
}
