//! Work that runs in-process on a timer, safe with several server instances on one database:
//!
//! - the **outbox sender** leases due mails (a lease is one instance's for two minutes; no
//!   other instance gets the mail meanwhile), renders each with its template, delivers it, and
//!   marks it sent — or reschedules it with [`email_backoff`] and gives up after
//!   `mail_max_attempts`. A mark that fails after the SMTP server took the mail is retried for
//!   up to [`MARK_SENT_PATIENCE`] (a database restart), within the lease: given up, the mail
//!   would be sent again when the lease ran out. Each mail's `Message-ID` comes from its outbox
//!   row, so a duplicate that gets through anyway is one receivers can recognise;
//! - the **trial job** queues the reminder three days before a trial ends and the notice once it
//!   has ended. Their outbox dedupe keys (`trial_ending:<user>:<end>`) make a job that runs on
//!   two instances, or twice, queue one mail;
//! - the **retention job** prunes what has been kept long enough
//!   ([`crate::services::retention`]), in bounded batches, a minute after start and then every
//!   `retention_interval_secs`; every instance runs it, and runs at once are safe (the store
//!   moves each record once).

use std::time::Duration;

use orrery_core::Plan;
use orrery_core::plan::TrialRules;
use orrery_core::store::{
    EmailOutbox, OutboxEmail, Page, StoreError, StoreResult, UserFilter, email_backoff,
};
use time::OffsetDateTime;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use uuid::Uuid;

use crate::http::AppState;
use crate::mail::{OutgoingMail, mail_date, render};
use crate::services::retention::Retention;

/// How many mails one lease takes at most.
const BATCH: u32 = 20;
/// How long a lease lasts: longer than sending a batch takes.
const LEASE: time::Duration = time::Duration::minutes(2);
/// How long the sender keeps trying to record that a mail the SMTP server accepted was sent:
/// longer than a database restart, well within the sender's lease.
pub const MARK_SENT_PATIENCE: Duration = Duration::from_secs(30);
/// The first pause between those tries; it doubles up to [`MARK_SENT_MAX_PAUSE`].
const MARK_SENT_FIRST_PAUSE: Duration = Duration::from_millis(100);
const MARK_SENT_MAX_PAUSE: Duration = Duration::from_secs(2);
/// Time left in a lease that recording a mail's outcome leaves alone, so that no other
/// instance takes the mail while this one still might record it.
const LEASE_MARGIN: Duration = Duration::from_secs(15);
/// How far back the trial job looks for ended trials whose notice is not sent yet.
const EXPIRED_LOOKBACK: time::Duration = time::Duration::days(30);

/// The running jobs.
#[derive(Debug)]
pub struct Jobs {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Jobs {
    /// Starts the outbox sender, the trial job and the retention job.
    pub fn start(state: AppState) -> Jobs {
        let (stop, stopped) = watch::channel(false);
        let tasks = vec![
            tokio::spawn(outbox_sender(state.clone(), stopped.clone())),
            tokio::spawn(trial_job(state.clone(), stopped.clone())),
            tokio::spawn(retention_job(state, stopped)),
        ];
        Jobs { stop, tasks }
    }

    /// Stops the jobs after the work in hand (a mail being sent is finished).
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
    }
}

async fn outbox_sender(state: AppState, mut stopped: watch::Receiver<bool>) {
    let poll = Duration::from_millis(state.settings.mail_poll_interval_ms);
    loop {
        // Whole batches mean more may be due: go again without waiting.
        let full = match send_due_mail(&state).await {
            Ok(n) => n == BATCH as usize,
            Err(e) => {
                tracing::error!(error = %e, "the outbox sender failed; trying again later");
                false
            }
        };
        if *stopped.borrow() {
            return;
        }
        if full {
            continue;
        }
        tokio::select! {
            () = state.outbox.wakeup().notified() => {}
            () = tokio::time::sleep(poll) => {}
            _ = stopped.changed() => return,
        }
    }
}

/// Leases the due mails and sends them; returns how many it leased.
#[tracing::instrument(skip_all, fields(instance = %state.instance, leased))]
pub async fn send_due_mail(state: &AppState) -> anyhow::Result<usize> {
    let owner = state.instance.as_str();
    let leased_at = Instant::now();
    let mails = state
        .store
        .lease_emails(owner, OffsetDateTime::now_utc(), LEASE, BATCH)
        .await?;
    tracing::Span::current().record("leased", mails.len());
    // The lease ends LEASE after it was taken: past this, another instance may have the mail.
    let lease_safe_until = leased_at + Duration::try_from(LEASE).unwrap_or_default() - LEASE_MARGIN;
    for mail in &mails {
        send_one(state, owner, mail, lease_safe_until).await;
    }
    Ok(mails.len())
}

#[tracing::instrument(skip_all, fields(mail_id = %mail.id, template = %mail.template, attempt = mail.attempts))]
async fn send_one(state: &AppState, owner: &str, mail: &OutboxEmail, lease_safe_until: Instant) {
    let outcome = match state.store.template(&mail.template).await {
        Ok(template) if !template.is_active => {
            // Switched off: given up at once, saying why (it is not an error to retry).
            tracing::info!("mail not sent: its template is switched off");
            if let Err(e) = state
                .store
                .fail_email(mail.id, owner, "not sent: the template is switched off")
                .await
            {
                tracing::warn!(error = %e, "recording a skipped mail failed");
            }
            return;
        }
        Ok(template) => match render(&template, &mail.to, &mail.variables) {
            Ok(mut rendered) => {
                rendered.id = Some(mail.id);
                state
                    .mailer
                    .send(&rendered)
                    .await
                    .map_err(|e| error_chain(&e))
            }
            Err(e) => Err(error_chain(&e)),
        },
        Err(e) => Err(error_chain(&e)),
    };
    let now = OffsetDateTime::now_utc();
    let result = match outcome {
        Ok(()) => {
            tracing::info!(transport = state.mailer.kind(), "mail sent");
            let retry = Patience {
                until: lease_safe_until.min(Instant::now() + MARK_SENT_PATIENCE),
                first_pause: MARK_SENT_FIRST_PAUSE,
                max_pause: MARK_SENT_MAX_PAUSE,
            };
            record_sent(&*state.store, mail.id, owner, now, &retry).await
        }
        Err(error) if mail.attempts >= state.settings.mail_max_attempts => {
            tracing::error!(%error, "giving up on a mail");
            state.store.fail_email(mail.id, owner, &error).await
        }
        Err(error) => {
            let retry_at = now + backoff(mail.attempts, state.settings.mail_retry_base_ms);
            tracing::warn!(%error, %retry_at, "sending a mail failed; it will be retried");
            state
                .store
                .reschedule_email(mail.id, owner, &error, retry_at)
                .await
        }
    };
    if let Err(e) = result {
        // The lease ran out and another instance has the mail now (it is theirs to finish), or
        // the database is still away: then the mail is sent again once the lease runs out.
        tracing::warn!(error = %e, "recording the outcome of a mail failed");
    }
}

/// How long, and how often, to retry.
#[derive(Debug)]
struct Patience {
    until: Instant,
    first_pause: Duration,
    max_pause: Duration,
}

/// Marks the mail `id` sent at `at`, retrying failures with a doubling pause until
/// `retry.until`; a lost lease (`NotFound`) is final at once.
async fn record_sent<S>(
    outbox: &S,
    id: Uuid,
    owner: &str,
    at: OffsetDateTime,
    retry: &Patience,
) -> StoreResult<()>
where
    S: EmailOutbox + ?Sized,
{
    let mut pause = retry.first_pause;
    loop {
        match outbox.mark_email_sent(id, owner, at).await {
            Ok(()) => return Ok(()),
            Err(e @ StoreError::NotFound(_)) => return Err(e),
            Err(e) if Instant::now() + pause > retry.until => return Err(e),
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?pause, "recording a sent mail failed; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(retry.max_pause);
            }
        }
    }
}

async fn trial_job(state: AppState, mut stopped: watch::Receiver<bool>) {
    let interval = Duration::from_millis(state.settings.trial_check_interval_ms);
    loop {
        if let Err(e) = queue_trial_mail(&state, OffsetDateTime::now_utc()).await {
            tracing::error!(error = %e, "the trial job failed; trying again later");
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            _ = stopped.changed() => return,
        }
    }
}

/// How long after start the retention job first runs: not at once, so that a restart loop does
/// not prune in a loop, and soon enough that instances restarted often still prune.
const RETENTION_FIRST_RUN: Duration = Duration::from_secs(60);

async fn retention_job(state: AppState, mut stopped: watch::Receiver<bool>) {
    let retention = Retention::new(state.store.clone(), &state.settings);
    let interval = Duration::from_secs(state.settings.retention_interval_secs);
    let mut wait = RETENTION_FIRST_RUN.min(interval);
    loop {
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = stopped.changed() => return,
        }
        wait = interval;
        let stop = {
            let stopped = stopped.clone();
            move || *stopped.borrow()
        };
        match retention
            .run(OffsetDateTime::now_utc(), &stop, &mut |_, _| {})
            .await
        {
            Ok(pruned) if pruned.total() > 0 => {
                let counts: Vec<String> = pruned
                    .removed
                    .iter()
                    .map(|(what, n)| format!("{}={n}", what.as_str()))
                    .collect();
                tracing::info!(removed = pruned.total(), counts = %counts.join(" "), "retention pruned old records");
            }
            Ok(_) => tracing::debug!("retention found nothing to prune"),
            Err(e) => tracing::error!(error = %e, "the retention job failed; trying again later"),
        }
    }
}

/// Queues the trial reminders and end notices due at `now`; returns how many mails it queued
/// or found queued already.
#[tracing::instrument(skip_all, fields(instance = %state.instance))]
pub async fn queue_trial_mail(state: &AppState, now: OffsetDateTime) -> anyhow::Result<usize> {
    let rules = TrialRules::default();
    let upgrade_url = format!("{}/billing", public_url(state));
    let mut queued = 0;
    // Reminders: trials that end within `remind_before`, of accounts that have not paid.
    for user in users_with_trial_ending(state, now, now + rules.remind_before).await? {
        let Some(ends_at) = user.trial_ends_at else {
            continue;
        };
        let days_left = orrery_core::plan::trial_days_remaining(ends_at, now);
        state
            .outbox
            .send(
                user.id,
                &user.email,
                OutgoingMail::TrialEnding {
                    name: user.name.clone(),
                    days_left,
                    trial_ends_at: mail_date(ends_at),
                    upgrade_url: upgrade_url.clone(),
                },
                Some(format!(
                    "trial_ending:{}:{}",
                    user.id,
                    ends_at.unix_timestamp()
                )),
            )
            .await;
        queued += 1;
    }
    // Notices: trials that have ended (recently), of accounts that have not paid.
    for user in users_with_trial_ending(state, now - EXPIRED_LOOKBACK, now).await? {
        let Some(ends_at) = user.trial_ends_at else {
            continue;
        };
        state
            .outbox
            .send(
                user.id,
                &user.email,
                OutgoingMail::TrialExpired {
                    name: user.name.clone(),
                    upgrade_url: upgrade_url.clone(),
                },
                Some(format!(
                    "trial_expired:{}:{}",
                    user.id,
                    ends_at.unix_timestamp()
                )),
            )
            .await;
        queued += 1;
    }
    Ok(queued)
}

/// Accounts on the free plan whose trial ends in `[from, to)`, every page.
async fn users_with_trial_ending(
    state: &AppState,
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> anyhow::Result<Vec<orrery_core::store::User>> {
    let mut users = Vec::new();
    for page in 1.. {
        let found = state
            .store
            .list_users(&UserFilter {
                plan: Some(Plan::Free),
                trial_ends_between: Some((from, to)),
                page: Page { page, limit: 100 },
                ..UserFilter::default()
            })
            .await?;
        let last = found.items.len() < 100;
        users.extend(found.items);
        if last {
            break;
        }
    }
    Ok(users)
}

/// The outbox's standard backoff ([`email_backoff`]: 30 s doubling, at most 6 hours) scaled
/// so that the first retry waits `base_ms`.
fn backoff(attempts: u32, base_ms: u64) -> time::Duration {
    let standard = email_backoff(attempts);
    let scaled = standard.whole_milliseconds() * i128::from(base_ms) / 30_000;
    let cap = time::Duration::hours(6).whole_milliseconds();
    time::Duration::milliseconds(scaled.min(cap) as i64)
}

/// `public_url` without a trailing slash.
pub fn public_url(state: &AppState) -> String {
    state.settings.public_url.trim_end_matches('/').to_owned()
}

/// An error with its causes (`outer: cause: root`), for the outbox's `last_error`, the log and
/// the admin health checks. No secrets reach these messages: URLs with credentials are never
/// formatted into errors.
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use orrery_core::store::{EmailStatus, NewEmail, Paged};
    use orrery_store::MemoryStore;

    use super::*;

    /// The memory outbox, with `mark_email_sent` failing its first `failures` calls as a
    /// database that has gone away does.
    struct FlakyOutbox {
        inner: MemoryStore,
        failures: u32,
        marks: AtomicU32,
    }

    #[async_trait::async_trait]
    impl EmailOutbox for FlakyOutbox {
        async fn enqueue_email(
            &self,
            email: NewEmail,
            now: OffsetDateTime,
        ) -> StoreResult<Option<Uuid>> {
            self.inner.enqueue_email(email, now).await
        }
        async fn lease_emails(
            &self,
            owner: &str,
            now: OffsetDateTime,
            lease_for: time::Duration,
            limit: u32,
        ) -> StoreResult<Vec<OutboxEmail>> {
            self.inner.lease_emails(owner, now, lease_for, limit).await
        }
        async fn mark_email_sent(
            &self,
            id: Uuid,
            owner: &str,
            at: OffsetDateTime,
        ) -> StoreResult<()> {
            if self.marks.fetch_add(1, Ordering::SeqCst) < self.failures {
                return Err(StoreError::Backend("connection closed".into()));
            }
            self.inner.mark_email_sent(id, owner, at).await
        }
        async fn reschedule_email(
            &self,
            id: Uuid,
            owner: &str,
            error: &str,
            retry_at: OffsetDateTime,
        ) -> StoreResult<()> {
            self.inner
                .reschedule_email(id, owner, error, retry_at)
                .await
        }
        async fn fail_email(&self, id: Uuid, owner: &str, error: &str) -> StoreResult<()> {
            self.inner.fail_email(id, owner, error).await
        }
        async fn list_emails(
            &self,
            status: Option<EmailStatus>,
            page: Page,
        ) -> StoreResult<Paged<OutboxEmail>> {
            self.inner.list_emails(status, page).await
        }
    }

    /// An outbox with one mail, leased by `me`; its id.
    async fn leased_mail(failures: u32) -> (FlakyOutbox, Uuid) {
        let outbox = FlakyOutbox {
            inner: MemoryStore::default(),
            failures,
            marks: AtomicU32::new(0),
        };
        let now = OffsetDateTime::now_utc();
        let mail = NewEmail {
            user_id: None,
            to: "ada@example.com".into(),
            template: "welcome".into(),
            variables: serde_json::json!({}),
            dedupe_key: None,
        };
        let id = outbox.enqueue_email(mail, now).await.unwrap().unwrap();
        let leased = outbox.lease_emails("me", now, LEASE, 10).await.unwrap();
        assert_eq!(leased.len(), 1);
        (outbox, id)
    }

    fn patience(for_ms: u64) -> Patience {
        Patience {
            until: Instant::now() + Duration::from_millis(for_ms),
            first_pause: Duration::from_millis(5),
            max_pause: Duration::from_millis(20),
        }
    }

    #[tokio::test]
    async fn a_sent_mail_is_marked_sent_once_the_database_is_back() {
        let (outbox, id) = leased_mail(4).await;
        let now = OffsetDateTime::now_utc();
        record_sent(&outbox, id, "me", now, &patience(5_000))
            .await
            .unwrap();
        assert_eq!(outbox.marks.load(Ordering::SeqCst), 5);
        let sent = outbox
            .list_emails(Some(EmailStatus::Sent), Page::default())
            .await
            .unwrap();
        assert_eq!(sent.items.len(), 1);
        // Marked, it is never leased (and sent) again.
        let later = now + LEASE + time::Duration::minutes(1);
        assert!(
            outbox
                .lease_emails("other", later, LEASE, 10)
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn recording_a_sent_mail_gives_up_when_its_time_is_up() {
        let (outbox, id) = leased_mail(u32::MAX).await;
        let started = Instant::now();
        let outcome =
            record_sent(&outbox, id, "me", OffsetDateTime::now_utc(), &patience(100)).await;
        assert!(matches!(outcome, Err(StoreError::Backend(_))));
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(outbox.marks.load(Ordering::SeqCst) > 1);
    }

    #[tokio::test]
    async fn a_lost_lease_is_not_retried() {
        let (outbox, id) = leased_mail(0).await;
        let outcome = record_sent(
            &outbox,
            id,
            "someone else",
            OffsetDateTime::now_utc(),
            &patience(5_000),
        )
        .await;
        assert!(matches!(outcome, Err(StoreError::NotFound(_))));
        assert_eq!(outbox.marks.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn backoff_scales_the_standard_one() {
        assert_eq!(backoff(1, 30_000), time::Duration::seconds(30));
        assert_eq!(backoff(3, 30_000), time::Duration::seconds(120));
        assert_eq!(backoff(1, 100), time::Duration::milliseconds(100));
        assert_eq!(backoff(2, 100), time::Duration::milliseconds(200));
        assert_eq!(backoff(30, 3_600_000), time::Duration::hours(6));
    }
}
