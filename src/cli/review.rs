//! `modgate review`: work through the held queue one comment at a time, one key each.
//!
//! The screen shows one held comment with the words that drove its scores highlighted,
//! its reasons, the strongest features and the author's history, and a progress line.
//! Keys: `a` approve, `r` reject, `s` skip, `u` undo the last decision, `q` quit.
//!
//! Why it never makes the moderator wait: the next comments' details are fetched while the
//! current one is on screen, and a decision is sent in the background. A decision is held
//! back until the moderator's next key, which is what makes the first `u` free: undoing a
//! decision not yet sent is just forgetting it. Further `u`s take back decisions already
//! sent, newest first, with the server's `Undo` (within the site's undo window). Quitting
//! (or Ctrl-C, read as a key in raw mode) sends the last decision before leaving.

use std::collections::HashMap;
use std::io::{IsTerminal, Read, Write};
use std::time::{Duration, Instant};

use clap::Args;
use tokio::task::JoinHandle;
use tonic::transport::Channel;

use super::queue::{HeldFilter, ServerArgs, action_name, age, connect, fatal, reason_name, request, runtime, token};
use super::{CliError, Outcome};
use crate::api::proto::review_client::ReviewClient;
use crate::api::proto::{self, HeldCommentDetail, ResolveRequest};

/// Details fetched ahead of the one on screen.
const PREFETCH: usize = 3;
/// At most this many held comments per session (the oldest).
const SESSION_LIMIT: usize = 5_000;

#[derive(Debug, Args)]
pub struct ReviewArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    #[command(flatten)]
    pub filter: HeldFilter,
}

/// One moderator key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Key {
    Approve,
    Reject,
    Skip,
    Undo,
    Quit,
}

fn key_of(byte: u8) -> Option<Key> {
    Some(match byte {
        b'a' | b'A' => Key::Approve,
        b'r' | b'R' => Key::Reject,
        b's' | b'S' | b' ' => Key::Skip,
        b'u' | b'U' => Key::Undo,
        // Ctrl-C and Ctrl-D arrive as bytes in raw mode.
        b'q' | b'Q' | 0x03 | 0x04 => Key::Quit,
        _ => return None,
    })
}

/// The terminal in raw mode (keys arrive one at a time, unechoed) on the alternate
/// screen, restored when dropped, on errors too.
struct RawTerminal {
    saved: rustix::termios::Termios,
}

impl RawTerminal {
    fn enter() -> Result<Self, CliError> {
        let stdin = std::io::stdin();
        let saved = rustix::termios::tcgetattr(&stdin)
            .map_err(|e| CliError::new(format!("reading the terminal's settings: {e}")))?;
        let mut raw = saved.clone();
        raw.make_raw();
        rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, &raw)
            .map_err(|e| CliError::new(format!("setting the terminal to raw mode: {e}")))?;
        // Alternate screen, cursor hidden.
        let _ = std::io::stdout().write_all(b"\x1b[?1049h\x1b[?25l");
        let _ = std::io::stdout().flush();
        Ok(Self { saved })
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        let _ = std::io::stdout().write_all(b"\x1b[?25h\x1b[?1049l");
        let _ = std::io::stdout().flush();
        let _ = rustix::termios::tcsetattr(std::io::stdin(), rustix::termios::OptionalActions::Now, &self.saved);
    }
}

/// What happened to one comment of the session.
#[derive(Clone, Debug, PartialEq)]
enum CommentOutcome {
    Approved,
    Rejected,
    Skipped,
    /// The comment left the queue before we got to it, or the decision was refused.
    Failed(String),
}

/// A decision taken on screen, not yet sent.
struct Pending {
    index: usize,
    action: proto::Action,
}

pub fn review(args: ReviewArgs) -> Result<Outcome, CliError> {
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        return Err(CliError::new(
            "modgate review is interactive and needs a terminal; scripts use `modgate queue list|approve|reject`",
        ));
    }
    let token = token(args.server.token_file.as_deref())?;
    let colour = colour_enabled();
    runtime()?.block_on(async move {
        let mut client = connect(&args.server.server).await?;
        let queue = held_ids(&mut client, token.as_deref(), &args.filter).await?;
        if queue.is_empty() {
            super::print("no held comments\n")?;
            return Ok(Outcome::Ok);
        }
        let terminal = RawTerminal::enter()?;
        let summary = Session::new(client, token, queue, colour).run().await;
        drop(terminal);
        let summary = summary?;
        super::print(&summary.text)?;
        Ok(if summary.all_resolved {
            Outcome::Ok
        } else {
            Outcome::CheckFailed
        })
    })
}

/// The held comments to go through: (moderation id, held at in Unix seconds), oldest first.
async fn held_ids(
    client: &mut ReviewClient<Channel>,
    token: Option<&str>,
    filter: &HeldFilter,
) -> Result<Vec<(String, u64)>, CliError> {
    let mut ids = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_held(request(filter.request(500, page_token.clone()), token)?)
            .await
            .map_err(fatal)?
            .into_inner();
        ids.extend(
            page.comments
                .into_iter()
                .map(|c| (c.moderation_id, c.held_at.map_or(0, |t| t.seconds as u64))),
        );
        if page.next_page_token.is_empty() || ids.len() >= SESSION_LIMIT {
            ids.truncate(SESSION_LIMIT);
            return Ok(ids);
        }
        page_token = page.next_page_token;
    }
}

struct Summary {
    text: String,
    all_resolved: bool,
}

type Fetch = JoinHandle<Result<HeldCommentDetail, tonic::Status>>;

struct Session {
    client: ReviewClient<Channel>,
    token: Option<String>,
    queue: Vec<(String, u64)>,
    colour: bool,
    fetches: HashMap<usize, Fetch>,
    outcomes: Vec<Option<CommentOutcome>>,
    /// Decisions sent, awaiting the server's answer: (index, answer).
    sent: Vec<(usize, JoinHandle<Result<(), String>>)>,
    /// The longest the screen waited for a comment's details.
    longest_wait: Duration,
}

impl Session {
    fn new(client: ReviewClient<Channel>, token: Option<String>, queue: Vec<(String, u64)>, colour: bool) -> Self {
        let outcomes = vec![None; queue.len()];
        Self {
            client,
            token,
            queue,
            colour,
            fetches: HashMap::new(),
            outcomes,
            sent: Vec::new(),
            longest_wait: Duration::ZERO,
        }
    }

    fn prefetch(&mut self, from: usize) {
        for index in from..(from + PREFETCH).min(self.queue.len()) {
            if self.fetches.contains_key(&index) || self.outcomes[index].is_some() {
                continue;
            }
            let mut client = self.client.clone();
            let message = proto::GetHeldRequest {
                moderation_id: self.queue[index].0.clone(),
            };
            let request = request(message, self.token.as_deref());
            self.fetches.insert(
                index,
                tokio::spawn(async move {
                    let request = request.map_err(|e| tonic::Status::invalid_argument(e.to_string()))?;
                    client.get_held(request).await.map(tonic::Response::into_inner)
                }),
            );
        }
    }

    async fn detail(&mut self, index: usize) -> Result<HeldCommentDetail, tonic::Status> {
        self.prefetch(index);
        let started = Instant::now();
        let fetch = self.fetches.remove(&index).expect("prefetch started it");
        let result = fetch
            .await
            .unwrap_or_else(|e| Err(tonic::Status::internal(format!("fetch task: {e}"))));
        self.longest_wait = self.longest_wait.max(started.elapsed());
        result
    }

    fn send(&mut self, pending: Pending) {
        let mut client = self.client.clone();
        let message = ResolveRequest {
            moderation_id: self.queue[pending.index].0.clone(),
            action: pending.action as i32,
            note: String::new(),
        };
        let request = request(message, self.token.as_deref());
        self.outcomes[pending.index] = Some(if pending.action == proto::Action::Approve {
            CommentOutcome::Approved
        } else {
            CommentOutcome::Rejected
        });
        self.sent.push((
            pending.index,
            tokio::spawn(async move {
                let request = request.map_err(|e| e.to_string())?;
                client
                    .resolve(request)
                    .await
                    .map(|_| ())
                    .map_err(|s| s.message().to_string())
            }),
        ));
    }

    async fn run(mut self) -> Result<Summary, CliError> {
        let mut index = 0;
        let mut pending: Option<Pending> = None;
        let mut notice = String::new();
        let mut stdout = std::io::stdout();
        while index < self.queue.len() {
            let detail = match self.detail(index).await {
                Ok(detail) => detail,
                Err(status) => {
                    // Resolved by someone else meanwhile, or gone: note it and move on.
                    if status.code() != tonic::Code::NotFound {
                        return Err(fatal(status));
                    }
                    self.outcomes[index] = Some(CommentOutcome::Failed(status.message().to_string()));
                    index += 1;
                    continue;
                }
            };
            self.prefetch(index + 1);
            let screen = self.screen(index, &detail, &notice, pending.is_some());
            stdout
                .write_all(screen.as_bytes())
                .and_then(|_| stdout.flush())
                .map_err(|e| CliError::new(format!("writing to the terminal: {e}")))?;
            notice.clear();
            let key = read_key().await?;
            match key {
                Key::Approve | Key::Reject => {
                    if let Some(previous) = pending.take() {
                        self.send(previous);
                    }
                    let action = if key == Key::Approve {
                        proto::Action::Approve
                    } else {
                        proto::Action::Reject
                    };
                    pending = Some(Pending { index, action });
                    index += 1;
                }
                Key::Skip => {
                    if let Some(previous) = pending.take() {
                        self.send(previous);
                    }
                    self.outcomes[index] = Some(CommentOutcome::Skipped);
                    index += 1;
                }
                Key::Undo => match pending.take() {
                    Some(previous) => {
                        notice = format!("undone: {}", action_name(previous.action as i32));
                        // The detail is fetched again when shown.
                        index = previous.index;
                        self.outcomes[index] = None;
                    }
                    None => match self.undo_sent().await? {
                        Some((previous, message)) => {
                            index = previous;
                            notice = message;
                        }
                        None => notice = "nothing to undo".into(),
                    },
                },
                Key::Quit => break,
            }
        }
        if let Some(previous) = pending.take() {
            self.send(previous);
        }
        Ok(self.finish().await)
    }

    /// Takes back the last decision already sent, with the server's `Undo` (the server
    /// allows it within the site's undo window). Returns the comment to show again and
    /// what to tell the moderator; `None` when nothing was sent.
    async fn undo_sent(&mut self) -> Result<Option<(usize, String)>, CliError> {
        let Some((previous, answer)) = self.sent.pop() else {
            return Ok(None);
        };
        let was = match &self.outcomes[previous] {
            Some(CommentOutcome::Approved) => "APPROVE",
            _ => "REJECT",
        };
        match answer.await {
            Ok(Ok(())) => {}
            Ok(Err(refused)) => {
                self.outcomes[previous] = Some(CommentOutcome::Failed(refused.clone()));
                return Ok(Some((
                    previous + 1,
                    format!("nothing to undo: the server refused it ({refused})"),
                )));
            }
            Err(e) => return Err(CliError::new(format!("send task: {e}"))),
        }
        let message = proto::UndoRequest {
            moderation_id: self.queue[previous].0.clone(),
            note: String::new(),
        };
        match self.client.undo(request(message, self.token.as_deref())?).await {
            Ok(_) => {
                self.outcomes[previous] = None;
                Ok(Some((previous, format!("undone on the server: {was}"))))
            }
            // Too late (past the site's window), or another moderator acted since: the
            // decision stands and the moderator is told why.
            Err(status) if matches!(status.code(), tonic::Code::FailedPrecondition | tonic::Code::Aborted) => {
                Ok(Some((previous + 1, format!("cannot undo: {}", status.message()))))
            }
            Err(status) => Err(fatal(status)),
        }
    }

    async fn finish(mut self) -> Summary {
        for (index, answer) in std::mem::take(&mut self.sent) {
            let failure = match answer.await {
                Ok(Ok(())) => continue,
                Ok(Err(message)) => message,
                Err(e) => format!("send task: {e}"),
            };
            self.outcomes[index] = Some(CommentOutcome::Failed(failure));
        }
        let count = |f: &dyn Fn(&CommentOutcome) -> bool| self.outcomes.iter().flatten().filter(|o| f(o)).count();
        let approved = count(&|o| *o == CommentOutcome::Approved);
        let rejected = count(&|o| *o == CommentOutcome::Rejected);
        let skipped = count(&|o| *o == CommentOutcome::Skipped);
        let untouched = self.outcomes.iter().filter(|o| o.is_none()).count();
        let mut text = format!(
            "reviewed {} of {}: {approved} approved, {rejected} rejected, {skipped} skipped; longest wait for a comment {} ms\n",
            approved + rejected + skipped,
            self.queue.len(),
            self.longest_wait.as_millis()
        );
        let mut all_resolved = true;
        for (index, outcome) in self.outcomes.iter().enumerate() {
            if let Some(CommentOutcome::Failed(why)) = outcome {
                all_resolved = false;
                text.push_str(&format!("{}  not resolved: {why}\n", self.queue[index].0));
            }
        }
        if untouched > 0 {
            text.push_str(&format!("{untouched} left in the queue\n"));
        }
        Summary { text, all_resolved }
    }

    fn screen(&self, index: usize, detail: &HeldCommentDetail, notice: &str, can_undo: bool) -> String {
        let now = crate::pipeline::now_ms() / 1000;
        let oldest = self.queue.iter().map(|(_, at)| *at).min().unwrap_or(now);
        let mut out = String::from("\x1b[2J\x1b[H");
        let (bold, dim, reset) = if self.colour {
            ("\x1b[1m", "\x1b[2m", "\x1b[0m")
        } else {
            ("", "", "")
        };
        out.push_str(&format!(
            "{bold}modgate review{reset}  {} of {}  {dim}oldest held {} ago{reset}\r\n\r\n",
            index + 1,
            self.queue.len(),
            age(now.saturating_sub(oldest)),
        ));
        out.push_str(&render_detail(detail, self.colour).replace('\n', "\r\n"));
        if !notice.is_empty() {
            out.push_str(&format!("\r\n{bold}{notice}{reset}\r\n"));
        }
        out.push_str(&format!(
            "\r\n{bold}[a]{reset}pprove  {bold}[r]{reset}eject  {bold}[s]{reset}kip  {}{bold}[q]{reset}uit\r\n",
            if can_undo || !self.sent.is_empty() {
                format!("{bold}[u]{reset}ndo  ")
            } else {
                String::new()
            }
        ));
        out
    }
}

async fn read_key() -> Result<Key, CliError> {
    tokio::task::spawn_blocking(|| {
        let mut stdin = std::io::stdin().lock();
        let mut byte = [0u8; 1];
        loop {
            match stdin.read(&mut byte) {
                // The terminal went away: leave as if asked to.
                Ok(0) => return Ok(Key::Quit),
                Ok(_) => {
                    if let Some(key) = key_of(byte[0]) {
                        return Ok(key);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(CliError::new(format!("reading keys: {e}"))),
            }
        }
    })
    .await
    .map_err(|e| CliError::new(format!("reading keys: {e}")))?
}

/// Colour unless NO_COLOR is set or `--color never` was given (`anstream`'s global choice).
pub(super) fn colour_enabled() -> bool {
    match anstream::ColorChoice::global() {
        anstream::ColorChoice::Always | anstream::ColorChoice::AlwaysAnsi => true,
        anstream::ColorChoice::Never => false,
        anstream::ColorChoice::Auto => std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
    }
}

/// Words highlighted per comment at most: the ones that pushed hardest towards flagging.
const HIGHLIGHTED_WORDS: usize = 8;
/// A head is explained (features listed, words highlighted) only when its probability
/// reaches this: the features of a head that did not flag say nothing about the hold.
const EXPLAINED_HEAD_PROBABILITY: f32 = 0.25;
/// A word is highlighted when it moved an explained head's logit by at least this.
const HIGHLIGHTED_EFFECT: f32 = 0.15;

/// One held comment for a person: the text with its strongest words highlighted (bold
/// red, or `[word]` without colour), reasons, scores, features and author history.
pub(super) fn render_detail(detail: &HeldCommentDetail, colour: bool) -> String {
    let Some(comment) = detail.comment.as_ref() else {
        return String::from("(no comment)\n");
    };
    let (bold, red, dim, reset) = if colour {
        ("\x1b[1m", "\x1b[1;31m", "\x1b[2m", "\x1b[0m")
    } else {
        ("", "", "", "")
    };
    let mut out = format!(
        "{bold}{}/{}{reset}  {dim}{}{reset}\n\n",
        comment.site_id, comment.comment_id, comment.moderation_id
    );
    let spans = highlighted_spans(detail, &comment.text);
    let mut cursor = 0;
    for (start, end) in spans {
        out.push_str(&comment.text[cursor..start]);
        if colour {
            out.push_str(&format!("{red}{}{reset}", &comment.text[start..end]));
        } else {
            out.push_str(&format!("[{}]", &comment.text[start..end]));
        }
        cursor = end;
    }
    out.push_str(&comment.text[cursor..]);
    out.push_str("\n\n");
    let reasons: Vec<String> = comment
        .reasons
        .iter()
        .map(|r| {
            if r.detail.is_empty() {
                reason_name(r.code).to_string()
            } else {
                format!("{} ({})", reason_name(r.code), r.detail)
            }
        })
        .collect();
    out.push_str(&format!("{bold}held for{reset}  {}\n", reasons.join(", ")));
    if let Some(s) = &comment.scores {
        out.push_str(&format!(
            "{bold}scores{reset}    spam {:.2}  abuse {:.2}  hate {:.2}\n",
            s.spam, s.abuse, s.hate
        ));
    }
    for head in detail
        .heads
        .iter()
        .filter(|h| h.probability >= EXPLAINED_HEAD_PROBABILITY)
    {
        let pushing: Vec<String> = head
            .top_features
            .iter()
            .filter(|f| f.effect > 0.0)
            .take(5)
            .map(|f| format!("{} {:+.2}", f.name, f.effect))
            .collect();
        if !pushing.is_empty() {
            out.push_str(&format!("{dim}{:<9}{reset} {}\n", head.head, pushing.join(", ")));
        }
    }
    if let Some(author) = &detail.author {
        let who = if author.identified {
            format!("{} approved before, {} held now", author.approved, author.held_now)
        } else {
            "anonymous (no e-mail or user id)".to_string()
        };
        out.push_str(&format!(
            "{bold}author{reset}    {who}; {} held now from the same network\n",
            author.held_now_same_network
        ));
    }
    out
}

/// Byte ranges of the words to highlight, in text order, never overlapping, each on
/// character boundaries of `text` (ranges that are not are dropped, never sliced).
fn highlighted_spans(detail: &HeldCommentDetail, text: &str) -> Vec<(usize, usize)> {
    let mut strongest: HashMap<(usize, usize), f32> = HashMap::new();
    for head in detail
        .heads
        .iter()
        .filter(|h| h.probability >= EXPLAINED_HEAD_PROBABILITY)
    {
        for word in &head.words {
            let span = (word.start as usize, word.end as usize);
            let entry = strongest.entry(span).or_insert(f32::MIN);
            *entry = entry.max(word.effect);
        }
    }
    let mut words: Vec<((usize, usize), f32)> = strongest
        .into_iter()
        .filter(|&((start, end), effect)| {
            effect >= HIGHLIGHTED_EFFECT
                && start < end
                && end <= text.len()
                && text.is_char_boundary(start)
                && text.is_char_boundary(end)
        })
        .collect();
    words.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    words.truncate(HIGHLIGHTED_WORDS);
    let mut spans: Vec<(usize, usize)> = words.into_iter().map(|(span, _)| span).collect();
    spans.sort();
    let mut kept: Vec<(usize, usize)> = Vec::with_capacity(spans.len());
    for span in spans {
        if kept.last().is_none_or(|last| span.0 >= last.1) {
            kept.push(span);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detail(text: &str, words: &[(u32, u32, f32)]) -> HeldCommentDetail {
        HeldCommentDetail {
            comment: Some(proto::HeldComment {
                moderation_id: "m1".into(),
                site_id: "default".into(),
                comment_id: "c1".into(),
                text: text.into(),
                ..Default::default()
            }),
            heads: vec![proto::HeadExplanation {
                head: "spam".into(),
                probability: 0.9,
                top_features: vec![],
                words: words
                    .iter()
                    .map(|&(start, end, effect)| proto::WordEffect { start, end, effect })
                    .collect(),
            }],
            author: None,
        }
    }

    #[test]
    fn the_strongest_words_are_marked_and_bad_ranges_never_slice() {
        let text = "Nhà cái uy tín, liên hệ zalo";
        // "Nhà" is bytes 0..4, "cái" 5..9, "zalo" 30..34; 1..2 cuts inside "à".
        let mut d = detail(
            text,
            &[
                (0, 4, 1.0),
                (5, 9, 0.8),
                (30, 34, 0.5),
                (1, 2, 3.0),
                (40, 45, 9.0),
                (10, 12, -1.0),
                (13, 17, 0.1),
            ],
        );
        let plain = render_detail(&d, false);
        assert!(plain.contains("[Nhà] [cái] uy tín, liên hệ [zalo]"), "{plain}");
        let coloured = render_detail(&d, true);
        assert!(coloured.contains("\x1b[1;31mNhà\x1b[0m"), "{coloured}");
        // A head that did not flag the comment explains nothing.
        d.heads[0].probability = 0.1;
        assert!(
            render_detail(&d, false).contains("\nNhà cái uy tín"),
            "{}",
            render_detail(&d, false)
        );
    }

    #[test]
    fn keys_map_to_actions() {
        assert_eq!(key_of(b'a'), Some(Key::Approve));
        assert_eq!(key_of(b'R'), Some(Key::Reject));
        assert_eq!(key_of(0x03), Some(Key::Quit));
        assert_eq!(key_of(b'x'), None);
    }
}
