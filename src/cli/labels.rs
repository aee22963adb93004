//! `modgate labels export`: moderators' decisions as training data, in the JSON Lines
//! format of `../shared/data` that `modgate train --data` reads.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use super::queue::{ServerArgs, connect, fatal, request, runtime, token};
use super::{CliError, Outcome};
use crate::api::proto;
use crate::pipeline::{now_ms, rfc3339_millis};

#[derive(Debug, Args)]
pub struct LabelsArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    #[command(subcommand)]
    pub command: LabelsCommand,
}

#[derive(Debug, Subcommand)]
pub enum LabelsCommand {
    /// Write moderators' final decisions as labelled JSONL for `modgate train --data`.
    ///
    /// One line per decision: {"id", "text", "label", "source", "orig_label", "meta"}.
    /// The label answers the question the comment was held for: held for SPAM (or
    /// LINK_LIMIT, BLOCKED_LINK, DUPLICATE) → the spam task, APPROVE = "ham", REJECT =
    /// "spam"; held for ABUSE or HATE → the abuse task, APPROVE = "clean", REJECT =
    /// "toxic" (a rejection does not say offensive or hate); held for both, or for
    /// neither (a term, a new author) → the task whose score was higher. Undone
    /// decisions are left out (only each comment's final decision), and so are decisions
    /// whose text is past the site's retention; the counts go to stderr.
    Export(ExportArgs),
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Only this site (default: every site you may review).
    #[arg(long)]
    pub site: Option<String>,
    /// Only decisions made since then: an RFC 3339 time (2026-11-01T00:00:00Z) or a
    /// duration back from now (90s, 30m, 24h, 7d).
    #[arg(long, value_name = "RFC3339|DURATION", value_parser = parse_since)]
    pub since: Option<u64>,
    /// Write to this file (replaced whole once the export succeeded) instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// `--since` as milliseconds since the Unix epoch.
fn parse_since(text: &str) -> Result<u64, String> {
    parse_since_at(text, now_ms())
}

fn parse_since_at(text: &str, now_ms: u64) -> Result<u64, String> {
    let text = text.trim();
    let unit_ms = match text.chars().last() {
        Some('s') => Some(1_000),
        Some('m') => Some(60_000),
        Some('h') => Some(3_600_000),
        Some('d') => Some(86_400_000),
        _ => None,
    };
    if let Some(unit_ms) = unit_ms
        && let Ok(n) = text[..text.len() - 1].parse::<u64>()
    {
        return Ok(now_ms.saturating_sub(n.saturating_mul(unit_ms)));
    }
    parse_rfc3339(text).ok_or_else(|| {
        format!("expected an RFC 3339 time (2026-11-01T00:00:00Z) or a duration (90s, 30m, 24h, 7d), got {text:?}")
    })
}

/// "YYYY-MM-DDTHH:MM:SS[.fff](Z|±HH:MM)" as milliseconds since the Unix epoch.
fn parse_rfc3339(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        part.bytes().all(|c| c.is_ascii_digit()).then(|| part.parse().ok())?
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = &text[19..];
    let mut millis = 0i64;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let padded = format!("{:0<3}", &fraction[..digits.min(3)]);
        millis = padded.parse().ok()?;
        rest = &fraction[digits..];
    }
    let offset_s = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && matches!(&rest[..1], "+" | "-") && &rest[3..4] == ":" => {
            let h = num(text.len() - 5..text.len() - 3)?;
            let m = num(text.len() - 2..text.len())?;
            let sign = if rest.starts_with('-') { -1 } else { 1 };
            sign * (h * 3600 + m * 60)
        }
        _ => return None,
    };
    // Days from the civil date (proleptic Gregorian), by 400-year eras.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let m = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * m + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_s;
    u64::try_from(seconds * 1000 + millis).ok()
}

pub fn labels(args: LabelsArgs) -> Result<Outcome, CliError> {
    let LabelsCommand::Export(export) = args.command;
    let token = token(args.server.token_file.as_deref())?;
    runtime()?.block_on(async move {
        let mut client = connect(&args.server.server).await?;
        let sites = match export.site.clone() {
            Some(site) => vec![site],
            None => client
                .stats(request(proto::StatsRequest::default(), token.as_deref())?)
                .await
                .map_err(fatal)?
                .into_inner()
                .sites
                .into_iter()
                .map(|s| s.site_id)
                .collect(),
        };
        let since = export.since.map(|ms| prost_types::Timestamp {
            seconds: (ms / 1000) as i64,
            nanos: ((ms % 1000) * 1_000_000) as i32,
        });
        let mut lines = Vec::new();
        let (mut written, mut text_gone, mut superseded) = (0u64, 0u64, 0u64);
        for site in &sites {
            let mut page_token = String::new();
            loop {
                let page = client
                    .export_labels(request(
                        proto::ExportLabelsRequest {
                            site_id: site.clone(),
                            since,
                            page_size: 0,
                            page_token: page_token.clone(),
                        },
                        token.as_deref(),
                    )?)
                    .await
                    .map_err(fatal)?
                    .into_inner();
                text_gone += u64::from(page.skipped_text_gone);
                superseded += u64::from(page.skipped_superseded);
                for comment in &page.comments {
                    serde_json::to_writer(&mut lines, &example_json(comment)).expect("JSON values serialize");
                    lines.push(b'\n');
                    written += 1;
                }
                if page.next_page_token.is_empty() {
                    break;
                }
                page_token = page.next_page_token;
            }
        }
        match &export.out {
            Some(path) => write_replacing(path, &lines)?,
            None => super::print(&String::from_utf8(lines).expect("JSON is UTF-8"))?,
        }
        let to = export
            .out
            .as_ref()
            .map_or_else(|| "stdout".to_string(), |p| p.display().to_string());
        let mut stderr = anstream::stderr();
        let _ = writeln!(
            stderr,
            "wrote {written} labelled comments to {to}; skipped {} ({text_gone} with their text past retention, {superseded} undone or decided again)",
            text_gone + superseded
        );
        Ok(Outcome::Ok)
    })
}

/// One line of the `../shared/data` format. `lang` is left out: modgate does not record
/// a comment's language, and `train` does not need it.
fn example_json(c: &proto::LabelledComment) -> serde_json::Value {
    let action = proto::Action::try_from(c.action).map_or("UNKNOWN", |a| a.as_str_name());
    let reasons: Vec<&str> = c
        .reasons
        .iter()
        .map(|r| proto::ReasonCode::try_from(r.code).map_or("UNKNOWN", |c| c.as_str_name()))
        .collect();
    let decided_at = c
        .decided_at
        .as_ref()
        .map(|t| rfc3339_millis(t.seconds as u64 * 1000 + t.nanos as u64 / 1_000_000));
    serde_json::json!({
        "id": format!("modgate-{}-{}", c.site_id, c.moderation_id),
        "text": c.text,
        "label": c.label,
        "source": format!("modgate-{}", c.site_id),
        "orig_label": action,
        "meta": {
            "site_id": c.site_id,
            "comment_id": c.comment_id,
            "moderation_id": c.moderation_id,
            "moderator": c.moderator,
            "decided_at": decided_at,
            "held_for": reasons,
            "scores": c.scores.as_ref().map(|s| serde_json::json!({"spam": s.spam, "abuse": s.abuse, "hate": s.hate})),
        },
    })
}

/// Writes through a temporary file beside `path` and a rename: a failed export leaves
/// the previous file, never half of a new one.
fn write_replacing(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    let tmp = path.with_extension("jsonl.tmp");
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| CliError::new(format!("writing {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_rfc3339_times_and_durations_back_from_now() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2026-11-26T01:37:05.120Z"), Some(1_795_657_025_120));
        assert_eq!(parse_rfc3339("2026-11-26T08:37:05.12+07:00"), Some(1_795_657_025_120));
        assert_eq!(parse_rfc3339("2000-02-29T00:00:00Z"), Some(951_782_400_000), "leap day");
        for bad in [
            "2026-11-26",
            "2026-13-01T00:00:00Z",
            "2026-11-26T01:37:05",
            "soon",
            "2026-11-26T01:37:05.Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
        let now = 1_000_000_000_000;
        assert_eq!(parse_since_at("90s", now), Ok(now - 90_000));
        assert_eq!(parse_since_at("24h", now), Ok(now - 86_400_000));
        assert_eq!(parse_since_at("7d", now), Ok(now - 7 * 86_400_000));
        assert_eq!(parse_since_at("1970-01-01T00:00:01Z", now), Ok(1000));
        assert!(parse_since_at("7w", now).unwrap_err().contains("RFC 3339"));
    }
}
