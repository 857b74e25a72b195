//! Work that runs in-process on a timer, safe with several server instances on one database:
//!
//! - the **outbox sender** leases due mails (a lease is one instance's for a minute; no other
//!   instance gets the mail meanwhile), renders each with its template, delivers it, and marks
//!   it sent — or reschedules it with [`email_backoff`] and gives up after `mail_max_attempts`;
//! - the **trial job** queues the reminder three days before a trial ends and the notice once it
//!   has ended. Their outbox dedupe keys (`trial_ending:<user>:<end>`) make a job that runs on
//!   two instances, or twice, queue one mail.

use std::time::Duration;

use orrery_core::Plan;
use orrery_core::plan::TrialRules;
use orrery_core::store::{OutboxEmail, Page, UserFilter, email_backoff};
use time::OffsetDateTime;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::http::AppState;
use crate::mail::{OutgoingMail, mail_date, render};

/// How many mails one lease takes at most.
const BATCH: u32 = 20;
/// How long a lease lasts: longer than sending a batch takes.
const LEASE: time::Duration = time::Duration::minutes(2);
/// How far back the trial job looks for ended trials whose notice is not sent yet.
const EXPIRED_LOOKBACK: time::Duration = time::Duration::days(30);

/// The running jobs.
#[derive(Debug)]
pub struct Jobs {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Jobs {
    /// Starts the outbox sender and the trial job.
    pub fn start(state: AppState) -> Jobs {
        let (stop, stopped) = watch::channel(false);
        let tasks = vec![
            tokio::spawn(outbox_sender(state.clone(), stopped.clone())),
            tokio::spawn(trial_job(state, stopped)),
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
    let mails = state
        .store
        .lease_emails(owner, OffsetDateTime::now_utc(), LEASE, BATCH)
        .await?;
    tracing::Span::current().record("leased", mails.len());
    for mail in &mails {
        send_one(state, owner, mail).await;
    }
    Ok(mails.len())
}

#[tracing::instrument(skip_all, fields(mail_id = %mail.id, template = %mail.template, attempt = mail.attempts))]
async fn send_one(state: &AppState, owner: &str, mail: &OutboxEmail) {
    let outcome = match state.store.template(&mail.template).await {
        Ok(template) => match render(&template, &mail.to, &mail.variables) {
            Ok(rendered) => state
                .mailer
                .send(&rendered)
                .await
                .map_err(|e| error_chain(&e)),
            Err(e) => Err(error_chain(&e)),
        },
        Err(e) => Err(error_chain(&e)),
    };
    let now = OffsetDateTime::now_utc();
    let result = match outcome {
        Ok(()) => {
            tracing::info!(transport = state.mailer.kind(), "mail sent");
            state.store.mark_email_sent(mail.id, owner, now).await
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
        // The lease ran out and another instance has the mail now: it is theirs to finish.
        tracing::warn!(error = %e, "recording the outcome of a mail failed");
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

/// An error with its causes, for the outbox's `last_error` and the log.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
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
    use super::*;

    #[test]
    fn backoff_scales_the_standard_one() {
        assert_eq!(backoff(1, 30_000), time::Duration::seconds(30));
        assert_eq!(backoff(3, 30_000), time::Duration::seconds(120));
        assert_eq!(backoff(1, 100), time::Duration::milliseconds(100));
        assert_eq!(backoff(2, 100), time::Duration::milliseconds(200));
        assert_eq!(backoff(30, 3_600_000), time::Duration::hours(6));
    }
}
