//! `modgate webhooks`: the decision events a site's webhook gave up on, and sending them
//! again, over the Review API (same server, token and exit-code conventions as
//! `modgate queue`).

use clap::{Args, Subcommand};

use super::queue::{ServerArgs, action_name, age, connect, fatal, request, runtime, token};
use super::{CliError, Outcome, print};
use crate::api::proto::{self, ListDeadLettersRequest, RetryDeadLetterRequest};
use crate::pipeline::rfc3339;

#[derive(Debug, Args)]
pub struct WebhooksArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    #[command(subcommand)]
    pub command: WebhooksCommand,
}

#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// Decision events the webhook gave up on after its last retry, oldest failure first.
    DeadLetters {
        /// Only this site (default: every site you may review).
        #[arg(long)]
        site: Option<String>,
        /// One JSON array, for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Send dead letters again (before newer events); one that fails every attempt
    /// again comes back to the list with its new error.
    Retry {
        /// Event ids, as `webhooks dead-letters` shows them.
        #[arg(required = true, value_name = "EVENT_ID")]
        ids: Vec<String>,
        /// The site of the events (default: looked up among your sites).
        #[arg(long)]
        site: Option<String>,
        /// One JSON object per id, in an array, for scripts.
        #[arg(long)]
        json: bool,
    },
}

pub fn webhooks(args: WebhooksArgs) -> Result<Outcome, CliError> {
    let token = token(args.server.token_file.as_deref())?;
    runtime()?.block_on(async move {
        let mut client = connect(&args.server.server).await?;
        match args.command {
            WebhooksCommand::DeadLetters { site, json } => {
                let response = client
                    .list_dead_letters(request(
                        ListDeadLettersRequest {
                            site_id: site.unwrap_or_default(),
                        },
                        token.as_deref(),
                    )?)
                    .await
                    .map_err(fatal)?
                    .into_inner();
                if json {
                    let items: Vec<serde_json::Value> = response.letters.iter().map(letter_json).collect();
                    print(&format!("{}\n", serde_json::Value::Array(items)))?;
                } else {
                    print(&letters_text(&response.letters, crate::pipeline::now_ms() / 1000))?;
                }
                Ok(Outcome::Ok)
            }
            WebhooksCommand::Retry { ids, site, json } => {
                let mut all_requeued = true;
                let mut results = Vec::new();
                for id in &ids {
                    let outcome = client
                        .retry_dead_letter(request(
                            RetryDeadLetterRequest {
                                event_id: id.clone(),
                                site_id: site.clone().unwrap_or_default(),
                            },
                            token.as_deref(),
                        )?)
                        .await;
                    match outcome {
                        Ok(response) => {
                            let letter = response.into_inner().letter.unwrap_or_default();
                            let event = letter.event.unwrap_or_default();
                            results.push((
                                serde_json::json!({"event_id": id, "site_id": event.site_id, "ok": true}),
                                format!("{id}  {}/{}  requeued", event.site_id, event.comment_id),
                            ));
                        }
                        // One id that is not (or no longer) a dead letter does not stop
                        // the others; the exit code says some were not requeued.
                        Err(status) if status.code() == tonic::Code::NotFound => {
                            all_requeued = false;
                            results.push((
                                serde_json::json!({"event_id": id, "ok": false, "error": status.message()}),
                                format!("{id}  not requeued: {}", status.message()),
                            ));
                        }
                        Err(status) => return Err(fatal(status)),
                    }
                }
                if json {
                    let items: Vec<serde_json::Value> = results.into_iter().map(|(j, _)| j).collect();
                    print(&format!("{}\n", serde_json::Value::Array(items)))?;
                } else {
                    let lines: Vec<String> = results.into_iter().map(|(_, line)| line).collect();
                    print(&format!("{}\n", lines.join("\n")))?;
                }
                Ok(if all_requeued {
                    Outcome::Ok
                } else {
                    Outcome::CheckFailed
                })
            }
        }
    })
}

fn letter_json(letter: &proto::DeadLetter) -> serde_json::Value {
    let event = letter.event.clone().unwrap_or_default();
    serde_json::json!({
        "event_id": event.event_id,
        "cursor": event.cursor,
        "site_id": event.site_id,
        "comment_id": event.comment_id,
        "moderation_id": event.moderation_id,
        "action": action_name(event.action),
        "moderator": event.moderator,
        "note": event.note,
        "decided_at": event.decided_at.map(|t| rfc3339(t.seconds)),
        "attempts": letter.attempts,
        "last_error": letter.last_error,
        "failed_at": letter.failed_at.map(|t| rfc3339(t.seconds)),
        "requeued": letter.requeued,
    })
}

fn letters_text(letters: &[proto::DeadLetter], now: u64) -> String {
    if letters.is_empty() {
        return "no dead letters\n".to_string();
    }
    let mut out = String::new();
    for letter in letters {
        let event = letter.event.clone().unwrap_or_default();
        let failed = letter.failed_at.map_or(0, |t| t.seconds as u64);
        out.push_str(&format!(
            "{}  {}/{}  {}  failed {} ago after {} attempts: {}{}\n",
            event.event_id,
            event.site_id,
            event.comment_id,
            action_name(event.action),
            age(now.saturating_sub(failed)),
            letter.attempts,
            letter.last_error,
            if letter.requeued { "  (retry pending)" } else { "" },
        ));
    }
    out.push_str(&format!(
        "{} dead letter{}; send again with: modgate webhooks retry EVENT_ID\n",
        letters.len(),
        if letters.len() == 1 { "" } else { "s" }
    ));
    out
}
