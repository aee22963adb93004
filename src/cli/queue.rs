//! `modgate queue` and `modgate audit`: a moderator's view of held comments and of what
//! moderators did, over the Review API.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use tonic::transport::Channel;

use super::{CliError, Outcome, print};
use crate::api::proto::review_client::ReviewClient;
use crate::api::proto::{self, HeldComment, ListHeldRequest};
use crate::pipeline::rfc3339;

/// Where the server is and who is asking.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// The modgate server's gRPC address.
    #[arg(
        long,
        global = true,
        env = "MODGATE_SERVER",
        default_value = "127.0.0.1:50051",
        value_name = "ADDR"
    )]
    pub server: String,
    /// A file holding your moderator token (else the MODGATE_TOKEN environment variable;
    /// neither: no token, which a server on loopback without moderators accepts).
    #[arg(long, global = true, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct QueueArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    #[command(subcommand)]
    pub command: QueueCommand,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// The site whose log to show.
    #[arg(long)]
    pub site: String,
    /// At most this many entries (the newest).
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
    /// One JSON array, for scripts.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// Only this site (default: every site you may review).
    #[arg(long)]
    pub site: Option<String>,
    /// One JSON array, for scripts.
    #[arg(long)]
    pub json: bool,
}

/// Which held comments: the filters `queue list` and `review` share.
#[derive(Clone, Debug, Default, Args)]
pub struct HeldFilter {
    /// Only this site (default: every site you may review).
    #[arg(long)]
    pub site: Option<String>,
    /// Only comments held with this reason (SPAM, ABUSE, HATE, SUSPECT_TERM, NEW_AUTHOR,
    /// DUPLICATE, LINK_LIMIT, ...).
    #[arg(long, value_name = "REASON", value_parser = parse_reason)]
    pub reason: Option<i32>,
    /// Only comments held at least this long: 90s, 30m, 24h, 7d.
    #[arg(long, value_name = "DURATION", value_parser = parse_age)]
    pub older_than: Option<u64>,
    /// Only comments held at most this long: 90s, 30m, 24h, 7d.
    #[arg(long, value_name = "DURATION", value_parser = parse_age)]
    pub newer_than: Option<u64>,
    /// Only this author's comments: the e-mail address or CMS user id they commented with.
    #[arg(long, value_name = "EMAIL|USER_ID")]
    pub author: Option<String>,
}

impl HeldFilter {
    pub(super) fn request(&self, page_size: u32, page_token: String) -> ListHeldRequest {
        ListHeldRequest {
            site_id: self.site.clone().unwrap_or_default(),
            page_size,
            page_token,
            reason: self.reason.unwrap_or_default(),
            min_age_seconds: self.older_than.unwrap_or_default(),
            max_age_seconds: self.newer_than.unwrap_or_default(),
            author: self.author.clone().unwrap_or_default(),
        }
    }
}

/// A reason code by its name, in any case ("spam", "SUSPECT_TERM").
fn parse_reason(text: &str) -> Result<i32, String> {
    let name = text.trim().to_ascii_uppercase();
    match proto::ReasonCode::from_str_name(&name) {
        Some(code) if code != proto::ReasonCode::Unspecified => Ok(code as i32),
        _ => {
            let known: Vec<&str> = (1..64)
                .filter_map(|n| proto::ReasonCode::try_from(n).ok())
                .map(|c| c.as_str_name())
                .collect();
            Err(format!("unknown reason {text:?}; one of {}", known.join(", ")))
        }
    }
}

/// An age as seconds: a number with a unit, s, m, h or d ("90s", "30m", "24h", "7d").
pub(super) fn parse_age(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let unit = match text.chars().last() {
        Some('s') => 1,
        Some('m') => 60,
        Some('h') => 3_600,
        Some('d') => 86_400,
        _ => 0,
    };
    match text[..text.len().saturating_sub(1)].parse::<u64>() {
        Ok(n) if unit > 0 && n > 0 => Ok(n.saturating_mul(unit)),
        _ => Err(format!("expected a duration such as 90s, 30m, 24h or 7d, got {text:?}")),
    }
}

#[derive(Debug, Subcommand)]
pub enum QueueCommand {
    /// Held comments, oldest first.
    List {
        #[command(flatten)]
        filter: HeldFilter,
        /// At most this many (the oldest).
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// One JSON array, for scripts.
        #[arg(long)]
        json: bool,
    },
    /// One held comment in full: the words that drove its scores, the strongest
    /// features, the author's history.
    Show {
        /// The comment's moderation id, as `queue list` shows it.
        #[arg(value_name = "MODERATION_ID")]
        id: String,
        /// One JSON object, for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Approve held comments (publish them) by moderation id.
    Approve(ResolveArgs),
    /// Reject held comments (do not publish them) by moderation id.
    Reject(ResolveArgs),
    /// Take back your own approvals or rejections: the comments go back in the held queue
    /// and the CMS is told (a HOLD decision event: unpublish if you published). Only
    /// within the site's undo window (`undo_window_seconds`, default 120 s). Exit 1 when
    /// some could not be undone (another moderator's decision, too old, or someone was
    /// first).
    Undo(UndoArgs),
}

#[derive(Debug, Args)]
pub struct UndoArgs {
    /// Moderation ids of comments you approved or rejected.
    #[arg(required = true, value_name = "MODERATION_ID")]
    pub ids: Vec<String>,
    /// Why, kept in the audit log.
    #[arg(long, default_value = "")]
    pub note: String,
    /// One JSON object per id, in an array, for scripts.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ResolveArgs {
    /// Moderation ids, as `queue list` shows them.
    #[arg(required = true, value_name = "MODERATION_ID")]
    pub ids: Vec<String>,
    /// Why, kept with the decision.
    #[arg(long, default_value = "")]
    pub note: String,
    /// One JSON object per id, in an array, for scripts.
    #[arg(long)]
    pub json: bool,
}

pub(super) fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::new(format!("starting the runtime: {e}")))
}

pub fn queue(args: QueueArgs) -> Result<Outcome, CliError> {
    let token = token(args.server.token_file.as_deref())?;
    runtime()?.block_on(async move {
        let mut client = connect(&args.server.server).await?;
        match args.command {
            QueueCommand::List { filter, limit, json } => {
                list(&mut client, token.as_deref(), &filter, limit, json).await
            }
            QueueCommand::Show { id, json } => show(&mut client, token.as_deref(), id, json).await,
            QueueCommand::Approve(r) => resolve(&mut client, token.as_deref(), proto::Action::Approve, r).await,
            QueueCommand::Reject(r) => resolve(&mut client, token.as_deref(), proto::Action::Reject, r).await,
            QueueCommand::Undo(u) => undo(&mut client, token.as_deref(), u).await,
        }
    })
}

pub fn audit(args: AuditArgs) -> Result<Outcome, CliError> {
    let token = token(args.server.token_file.as_deref())?;
    runtime()?.block_on(async move {
        let mut client = connect(&args.server.server).await?;
        let response = client
            .audit_log(request(
                proto::AuditLogRequest {
                    site_id: args.site.clone(),
                    limit: args.limit,
                },
                token.as_deref(),
            )?)
            .await
            .map_err(fatal)?
            .into_inner();
        let at = |e: &proto::AuditEntry| e.at.as_ref().map(|t| rfc3339(t.seconds)).unwrap_or_default();
        if args.json {
            let items: Vec<serde_json::Value> = response
                .entries
                .iter()
                .map(|e| {
                    serde_json::json!({
                        "at": at(e), "moderator": e.moderator, "site_id": e.site_id,
                        "comment_id": e.comment_id, "moderation_id": e.moderation_id,
                        "requested": action_name(e.requested), "before": action_name(e.before),
                        "after": action_name(e.after), "refused": e.refused, "note": e.note,
                    })
                })
                .collect();
            print(&format!("{}\n", serde_json::Value::Array(items)))?;
            return Ok(Outcome::Ok);
        }
        let mut out = String::new();
        for e in &response.entries {
            out.push_str(&format!(
                "{}  {}  {}/{}  {} -> {}{}{}\n",
                at(e),
                e.moderator,
                e.site_id,
                e.comment_id,
                action_name(e.before),
                action_name(e.after),
                if e.refused.is_empty() {
                    String::new()
                } else {
                    format!("  (asked {}: {})", action_name(e.requested), e.refused)
                },
                if e.note.is_empty() {
                    String::new()
                } else {
                    format!("  \"{}\"", e.note)
                },
            ));
        }
        if out.is_empty() {
            out.push_str("no moderator actions yet\n");
        }
        print(&out)?;
        Ok(Outcome::Ok)
    })
}

pub fn stats(args: StatsArgs) -> Result<Outcome, CliError> {
    let token = token(args.server.token_file.as_deref())?;
    runtime()?.block_on(async move {
        let mut client = connect(&args.server.server).await?;
        let response = client
            .stats(request(
                proto::StatsRequest {
                    site_id: args.site.unwrap_or_default(),
                },
                token.as_deref(),
            )?)
            .await
            .map_err(fatal)?
            .into_inner();
        let now = crate::pipeline::now_ms() / 1000;
        if args.json {
            let items: Vec<serde_json::Value> = response
                .sites
                .iter()
                .map(|s| {
                    serde_json::json!({
                        "site_id": s.site_id, "held": s.held,
                        "oldest_held_at": s.oldest_held_at.as_ref().map(|t| rfc3339(t.seconds)),
                        "approved_last_day": s.approved_last_day, "rejected_last_day": s.rejected_last_day,
                    })
                })
                .collect();
            print(&format!("{}\n", serde_json::Value::Array(items)))?;
            return Ok(Outcome::Ok);
        }
        let mut out = String::new();
        for s in &response.sites {
            let oldest = s
                .oldest_held_at
                .as_ref()
                .map_or_else(|| "-".to_string(), |t| age(now.saturating_sub(t.seconds as u64)));
            out.push_str(&format!(
                "{}: {} held (oldest {}), last 24 h: {} approved, {} rejected\n",
                s.site_id, s.held, oldest, s.approved_last_day, s.rejected_last_day
            ));
        }
        print(&out)?;
        Ok(Outcome::Ok)
    })
}

pub(super) fn token(file: Option<&std::path::Path>) -> Result<Option<String>, CliError> {
    let token = match file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .map_err(|e| CliError::new(format!("cannot read the token file {}: {e}", path.display())))?,
        ),
        None => std::env::var("MODGATE_TOKEN").ok(),
    };
    Ok(token.map(|t| t.trim().to_string()).filter(|t| !t.is_empty()))
}

pub(super) async fn connect(server: &str) -> Result<ReviewClient<Channel>, CliError> {
    let uri = if server.contains("://") {
        server.to_string()
    } else {
        format!("http://{server}")
    };
    let channel = Channel::from_shared(uri)
        .map_err(|e| CliError::new(format!("--server {server:?}: {e}")))?
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30))
        .connect()
        .await
        .map_err(|e| CliError::new(format!("cannot reach modgate at {server}: {e}")))?;
    Ok(ReviewClient::new(channel))
}

pub(super) fn request<T>(message: T, token: Option<&str>) -> Result<tonic::Request<T>, CliError> {
    let mut request = tonic::Request::new(message);
    if let Some(token) = token {
        let value = format!("Bearer {token}")
            .parse()
            .map_err(|_| CliError::new("the moderator token has characters a header cannot carry"))?;
        request.metadata_mut().insert("authorization", value);
    }
    Ok(request)
}

/// A failure that means the command could not run at all (exit 2).
pub(super) fn fatal(status: tonic::Status) -> CliError {
    CliError::new(format!("{:?}: {}", status.code(), status.message()))
}

async fn list(
    client: &mut ReviewClient<Channel>,
    token: Option<&str>,
    filter: &HeldFilter,
    limit: u32,
    json: bool,
) -> Result<Outcome, CliError> {
    let response = client
        .list_held(request(filter.request(limit, String::new()), token)?)
        .await
        .map_err(fatal)?
        .into_inner();
    if json {
        let items: Vec<serde_json::Value> = response.comments.iter().map(held_json).collect();
        print(&format!("{}\n", serde_json::Value::Array(items)))?;
        return Ok(Outcome::Ok);
    }
    if response.comments.is_empty() {
        print("no held comments\n")?;
        return Ok(Outcome::Ok);
    }
    let now = crate::pipeline::now_ms() / 1000;
    let mut out = String::new();
    for c in &response.comments {
        let held_at = c.held_at.as_ref().map_or(0, |t| t.seconds as u64);
        let reasons: Vec<&str> = c.reasons.iter().map(|r| reason_name(r.code)).collect();
        // Styled for people; anstream drops the styles for pipes and NO_COLOR.
        let (id, why) = (anstyle::Style::new().bold(), anstyle::AnsiColor::Yellow.on_default());
        out.push_str(&format!(
            "{id}{}{id:#}  {}/{}  {} ago  {why}{}{why:#}\n    {}\n",
            c.moderation_id,
            c.site_id,
            c.comment_id,
            age(now.saturating_sub(held_at)),
            reasons.join(", "),
            excerpt(&c.text, 100)
        ));
    }
    out.push_str(&format!(
        "{} of {} held comments\n",
        response.comments.len(),
        response.total
    ));
    print(&out)?;
    Ok(Outcome::Ok)
}

async fn show(
    client: &mut ReviewClient<Channel>,
    token: Option<&str>,
    id: String,
    json: bool,
) -> Result<Outcome, CliError> {
    let detail = client
        .get_held(request(proto::GetHeldRequest { moderation_id: id }, token)?)
        .await
        .map_err(fatal)?
        .into_inner();
    if !json {
        print(&super::review::render_detail(&detail, super::review::colour_enabled()))?;
        return Ok(Outcome::Ok);
    }
    let mut value = detail.comment.as_ref().map(held_json).unwrap_or_default();
    value["heads"] = detail
        .heads
        .iter()
        .map(|h| {
            serde_json::json!({
                "head": h.head, "probability": h.probability,
                "top_features": h.top_features.iter().map(|f| serde_json::json!({"name": f.name, "effect": f.effect})).collect::<Vec<_>>(),
                "words": h.words.iter().map(|w| serde_json::json!({"start": w.start, "end": w.end, "effect": w.effect})).collect::<Vec<_>>(),
            })
        })
        .collect();
    value["author"] = detail.author.as_ref().map_or(serde_json::Value::Null, |a| {
        serde_json::json!({
            "identified": a.identified, "approved": a.approved,
            "held_now": a.held_now, "held_now_same_network": a.held_now_same_network,
        })
    });
    print(&format!("{value}\n"))?;
    Ok(Outcome::Ok)
}

async fn resolve(
    client: &mut ReviewClient<Channel>,
    token: Option<&str>,
    action: proto::Action,
    args: ResolveArgs,
) -> Result<Outcome, CliError> {
    let mut all_done = true;
    let mut results = Vec::new();
    // One call per 500 ids (the server's limit), each resolved and audited on its own.
    for ids in args.ids.chunks(500) {
        let response = client
            .resolve_many(request(
                proto::ResolveManyRequest {
                    moderation_ids: ids.to_vec(),
                    action: action as i32,
                    note: args.note.clone(),
                },
                token,
            )?)
            .await
            .map_err(fatal)?
            .into_inner();
        for outcome in response.outcomes {
            match outcome.resolved {
                Some(r) => {
                    let done = format!(
                        "{}  {}/{}  {}",
                        r.moderation_id,
                        r.site_id,
                        r.comment_id,
                        action_name(r.final_action)
                    );
                    results.push((
                        serde_json::json!({
                            "moderation_id": r.moderation_id, "site_id": r.site_id, "comment_id": r.comment_id,
                            "final_action": action_name(r.final_action), "ok": true,
                        }),
                        done,
                    ));
                }
                // One comment that cannot be resolved (someone else did, or it is gone)
                // does not stop the others; the exit code says some failed.
                None => {
                    all_done = false;
                    let id = outcome.moderation_id;
                    results.push((
                        serde_json::json!({"moderation_id": id, "ok": false, "error": outcome.error, "error_code": outcome.error_code}),
                        format!("{id}  not resolved: {}", outcome.error),
                    ));
                }
            }
        }
    }
    if args.json {
        let items: Vec<serde_json::Value> = results.into_iter().map(|(j, _)| j).collect();
        print(&format!("{}\n", serde_json::Value::Array(items)))?;
    } else {
        let lines: Vec<String> = results.into_iter().map(|(_, line)| line).collect();
        print(&format!("{}\n", lines.join("\n")))?;
    }
    Ok(if all_done { Outcome::Ok } else { Outcome::CheckFailed })
}

async fn undo(client: &mut ReviewClient<Channel>, token: Option<&str>, args: UndoArgs) -> Result<Outcome, CliError> {
    let mut all_done = true;
    let mut results = Vec::new();
    for id in &args.ids {
        let outcome = client
            .undo(request(
                proto::UndoRequest {
                    moderation_id: id.clone(),
                    note: args.note.clone(),
                },
                token,
            )?)
            .await;
        match outcome {
            Ok(response) => {
                let r = response.into_inner();
                let line = format!(
                    "{}  {}/{}  {} undone, back in the queue",
                    r.moderation_id,
                    r.site_id,
                    r.comment_id,
                    action_name(r.undone_action)
                );
                results.push((
                    serde_json::json!({
                        "moderation_id": r.moderation_id, "site_id": r.site_id, "comment_id": r.comment_id,
                        "undone_action": action_name(r.undone_action),
                        "final_action": action_name(r.final_action), "ok": true,
                    }),
                    line,
                ));
            }
            // Refused for this comment only (not yours, too old, someone was first, or
            // unknown): the others are still tried; the exit code says some failed.
            Err(status)
                if matches!(
                    status.code(),
                    tonic::Code::Aborted | tonic::Code::NotFound | tonic::Code::FailedPrecondition
                ) =>
            {
                all_done = false;
                results.push((
                    serde_json::json!({"moderation_id": id, "ok": false, "error": status.message()}),
                    format!("{id}  not undone: {}", status.message()),
                ));
            }
            Err(status) => return Err(fatal(status)),
        }
    }
    if args.json {
        let items: Vec<serde_json::Value> = results.into_iter().map(|(j, _)| j).collect();
        print(&format!("{}\n", serde_json::Value::Array(items)))?;
    } else {
        let lines: Vec<String> = results.into_iter().map(|(_, line)| line).collect();
        print(&format!("{}\n", lines.join("\n")))?;
    }
    Ok(if all_done { Outcome::Ok } else { Outcome::CheckFailed })
}

fn held_json(c: &HeldComment) -> serde_json::Value {
    serde_json::json!({
        "moderation_id": c.moderation_id,
        "site_id": c.site_id,
        "comment_id": c.comment_id,
        "thread_id": c.thread_id,
        "thread_url": c.thread_url,
        "text": c.text,
        "reasons": c.reasons.iter().map(|r| serde_json::json!({"code": reason_name(r.code), "detail": r.detail})).collect::<Vec<_>>(),
        "scores": c.scores.as_ref().map(|s| serde_json::json!({"spam": s.spam, "abuse": s.abuse, "hate": s.hate})),
        "held_at": c.held_at.as_ref().map(|t| rfc3339(t.seconds)),
    })
}

pub(super) fn reason_name(code: i32) -> &'static str {
    proto::ReasonCode::try_from(code).map_or("UNKNOWN", |c| c.as_str_name())
}

pub(super) fn action_name(action: i32) -> &'static str {
    proto::Action::try_from(action).map_or("UNKNOWN", |a| a.as_str_name())
}

fn excerpt(text: &str, max_chars: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(max_chars) {
        Some((i, _)) => format!("{}…", &flat[..i]),
        None => flat,
    }
}

pub(super) fn age(seconds: u64) -> String {
    match seconds {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_reasons_and_ages() {
        assert_eq!(parse_reason("spam"), Ok(proto::ReasonCode::Spam as i32));
        assert_eq!(parse_reason("SUSPECT_TERM"), Ok(proto::ReasonCode::SuspectTerm as i32));
        assert!(parse_reason("nope").unwrap_err().contains("NEW_AUTHOR"));
        assert!(parse_reason("REASON_CODE_UNSPECIFIED").is_err());
        assert_eq!(parse_age("90s"), Ok(90));
        assert_eq!(parse_age("2h"), Ok(7_200));
        assert_eq!(parse_age("7d"), Ok(604_800));
        for bad in ["", "h", "10", "-5m", "0m", "5w"] {
            assert!(parse_age(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn excerpts_flatten_and_cut_on_characters() {
        assert_eq!(excerpt("Bài  viết\n hay", 100), "Bài viết hay");
        assert_eq!(excerpt("đường đi", 3), "đườ…");
    }
}
