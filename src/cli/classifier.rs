//! `modgate check`, `modgate eval` and `modgate train`.

use std::fmt::Write as _;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anstyle::{AnsiColor, Style};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::{CliError, ModelArg, Outcome, print};
use crate::classify::data::discover;
use crate::classify::eval::{EvalReport, evaluate_file};
use crate::classify::model::{HeadKind, ModelFile, checksum_path};
use crate::classify::scorer::{Classifier, Explanation, Flag, SuggestedAction};
use crate::classify::shipped::shipped_model;
use crate::classify::train::{Progress, RejectLimit, TrainConfig, train as train_model};
use crate::text::fold::has_visible_text;

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub model: ModelArg,
    /// Print one JSON object (scores, suggested action, reasons) instead of a report.
    #[arg(long)]
    pub json: bool,
    /// How many reasons to show per score.
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub top: usize,
    /// The comment text, or "-" to read it from standard input.
    pub text: String,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    #[command(flatten)]
    pub model: ModelArg,
    /// Labelled JSONL file (the ../shared/data format: "text" and "label" per line).
    #[arg(long, value_name = "FILE.jsonl")]
    pub data: PathBuf,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Also write every row's scores to this JSONL file, one object per row in the data's
    /// order: {"id", "label", "spam", "abuse", "hate"}. For finding the comments the model
    /// gets wrong; the id is the row's own, else "file:line".
    #[arg(long, value_name = "FILE.jsonl")]
    pub scores: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// JSONL files or folders of them (searched recursively). Files named dev.jsonl are
    /// held out for the metrics printed at the end (thresholds come from the training rows'
    /// out-of-fold scores), test.jsonl files are ignored, the rest is trained on.
    #[arg(long, required = true, num_args = 1.., value_name = "PATH")]
    pub data: Vec<PathBuf>,
    /// Where to write the model; ".model" is added when the name has no extension, and a
    /// ".sha256" checksum file is written beside it.
    #[arg(long, value_name = "PATH")]
    pub out: PathBuf,
    /// Seed for fold assignment and shuffling: the same data and seed give the same model.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// log2 of the number of feature hash buckets.
    #[arg(long, default_value_t = crate::text::FeatureSpec::default().bits, value_parser = clap::value_parser!(u8).range(10..=24))]
    pub bits: u8,
    /// Version string recorded in the model (reported with every decision).
    #[arg(long, value_name = "NAME")]
    pub model_version: Option<String>,
    /// Training settings to change, as JSON; what is not named keeps its default (the
    /// fields are those of a model's `training_params`), e.g. '{"drop_opinion_spam": false}'
    /// to learn ViSpamReviews' fake, shop-only, too-short and padded reviews as spam
    #[arg(long, value_name = "JSON")]
    pub params: Option<String>,
}

/// Loads `--model`, or the model built into the binary.
pub fn load_classifier(model: &ModelArg) -> Result<Classifier, CliError> {
    let started = Instant::now();
    let classifier = match &model.model {
        Some(path) => Classifier::load(path).map_err(CliError::new)?,
        None => match shipped_model() {
            Some(file) => Classifier::from_file(file.map_err(CliError::new)?).map_err(CliError::new)?,
            None => {
                return Err(CliError::new(
                    "this modgate was built without a model (models/modgate.model was missing); pass --model PATH",
                ));
            }
        },
    };
    tracing_load_time(started);
    Ok(classifier)
}

fn tracing_load_time(started: Instant) {
    if std::env::var_os("MODGATE_DEBUG_TIMING").is_some() {
        eprintln!("model loaded in {:.1} ms", started.elapsed().as_secs_f64() * 1e3);
    }
}

fn read_text(arg: &str) -> Result<String, CliError> {
    if arg != "-" {
        return Ok(arg.to_string());
    }
    let mut bytes = Vec::new();
    std::io::stdin()
        .read_to_end(&mut bytes)
        .map_err(|e| CliError::new(format!("reading standard input: {e}")))?;
    String::from_utf8(bytes).map_err(|e| {
        CliError::new(format!(
            "standard input is not valid UTF-8 (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        ))
    })
}

pub fn check(args: CheckArgs) -> Result<Outcome, CliError> {
    let text = read_text(&args.text)?;
    if !has_visible_text(&text) {
        return Err(CliError::new(
            "nothing to check: the comment text is empty (nothing but spaces or invisible characters)",
        ));
    }
    let classifier = load_classifier(&args.model)?;
    let explanation = classifier.explain(&text, args.top);
    if args.json {
        let json = serde_json::to_string_pretty(&explanation).expect("explanations serialize");
        print(&format!("{json}\n"))?;
    } else {
        // Without colour (NO_COLOR, --color never, a pipe) highlighted words are `[word]`.
        let colour = anstream::AutoStream::choice(&std::io::stdout()) != anstream::ColorChoice::Never;
        print(&render_check(&classifier, &text, &explanation, colour))?;
    }
    Ok(match explanation.suggested {
        SuggestedAction::Approve => Outcome::Ok,
        SuggestedAction::Hold | SuggestedAction::Reject => Outcome::CheckFailed,
    })
}

fn render_check(classifier: &Classifier, text: &str, explanation: &Explanation, colour: bool) -> String {
    let bold = Style::new().bold();
    let (action_name, action_style) = match explanation.suggested {
        SuggestedAction::Approve => ("APPROVE", AnsiColor::Green.on_default().bold()),
        SuggestedAction::Hold => ("HOLD", AnsiColor::Yellow.on_default().bold()),
        SuggestedAction::Reject => ("REJECT", AnsiColor::Red.on_default().bold()),
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{action_style}{action_name}{action_style:#} by the model's default thresholds (model {})",
        explanation.model_version
    );
    let _ = writeln!(out);
    for head in &explanation.heads {
        let shown = if head.head == HeadKind::Hate {
            explanation.scores.hate
        } else {
            head.probability
        };
        let t = classifier.thresholds(head.head);
        let bar: String = "█".repeat((shown * 20.0).round() as usize);
        let verdict = match head.flag {
            Flag::Confident => format!("confident (≥ {:.2})", t.reject),
            Flag::Flagged => format!("flagged (≥ {:.2})", t.flag),
            Flag::None => String::new(),
        };
        let label = match head.head {
            HeadKind::Spam => "spam",
            HeadKind::Abuse => "abuse",
            HeadKind::Hate => "hate",
        };
        let _ = writeln!(out, "  {bold}{label:<6}{bold:#} {shown:>5.3}  {bar:<20}  {verdict}");
    }
    for head in &explanation.heads {
        let pushing: Vec<_> = head.reasons().into_iter().filter(|c| c.effect > 0.0).collect();
        if head.flag == Flag::None || pushing.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n{bold}Why {}:{bold:#}", head.head.as_str());
        for c in pushing.iter().take(head.features.len().max(3)) {
            let _ = writeln!(out, "  {:+6.2}  {}", c.effect, c.name);
        }
    }
    // The comment with the words that pushed a flagged head highlighted.
    // The hate head's words only when it flagged alone: it weighs hate against mere
    // offence, and summed with the abuse head it would dim the offensive words.
    let mut flagged: Vec<_> = explanation
        .heads
        .iter()
        .filter(|h| h.flag != Flag::None && h.head != HeadKind::Hate)
        .collect();
    if flagged.is_empty() {
        flagged.extend(explanation.heads.iter().filter(|h| h.flag != Flag::None));
    }
    if !flagged.is_empty() {
        let highlight = AnsiColor::Red.on_default().bold().underline();
        let _ = writeln!(out, "\n{bold}Comment:{bold:#}");
        let mut cursor = 0;
        let mut line = String::from("  ");
        let token_count = flagged[0].token_effects.len();
        let effect_of = |i: usize| -> f32 { flagged.iter().map(|h| h.token_effects[i].effect).sum() };
        // Highlight the words that carry the verdict: at least a fifth of the strongest push.
        let strongest = (0..token_count).map(effect_of).fold(0f32, f32::max);
        let cutoff = (strongest * 0.2).max(0.05);
        for i in 0..token_count {
            let t = &flagged[0].token_effects[i];
            let effect = effect_of(i);
            if t.start < cursor || t.end > text.len() {
                continue;
            }
            line.push_str(&text[cursor..t.start]);
            if effect >= cutoff && colour {
                let _ = write!(line, "{highlight}{}{highlight:#}", &text[t.start..t.end]);
            } else if effect >= cutoff {
                let _ = write!(line, "[{}]", &text[t.start..t.end]);
            } else {
                line.push_str(&text[t.start..t.end]);
            }
            cursor = t.end;
        }
        line.push_str(&text[cursor.min(text.len())..]);
        let _ = writeln!(out, "{}", line.replace('\n', "\n  "));
    }
    out
}

pub fn eval(args: EvalArgs) -> Result<Outcome, CliError> {
    if let Some(scores) = &args.scores
        && same_file(scores, &args.data)
    {
        return Err(CliError::new(format!(
            "--scores {} is the --data file: it would be overwritten",
            scores.display()
        )));
    }
    let classifier = load_classifier(&args.model)?;
    let cannot_write = |path: &Path, e: std::io::Error| CliError::new(format!("cannot write {}: {e}", path.display()));
    // Opened before scoring, so an unwritable path fails at once rather than after the run.
    let scores_file = match &args.scores {
        Some(path) => Some((path, std::fs::File::create(path).map_err(|e| cannot_write(path, e))?)),
        None => None,
    };
    let evaluation = match evaluate_file(&classifier, &args.data) {
        Ok(evaluation) => evaluation,
        Err(e) => {
            if let Some((path, _)) = &scores_file {
                let _ = std::fs::remove_file(path);
            }
            return Err(CliError::new(e));
        }
    };
    if let Some((path, file)) = scores_file {
        evaluation
            .write_scores(std::io::BufWriter::new(file))
            .map_err(|e| cannot_write(path, e))?;
    }
    let report = &evaluation.report;
    if args.json {
        print(&format!(
            "{}\n",
            serde_json::to_string(report).expect("reports serialize")
        ))?;
    } else {
        print(&render_eval(&args.data, classifier.version(), report))?;
    }
    Ok(Outcome::Ok)
}

/// Whether two paths name the same existing file (so a typo cannot truncate the input).
fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".to_string(), |v| format!("{v:.4}"))
}

fn render_eval(path: &Path, version: &str, r: &EvalReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} ({} rows, {} task) with model {}",
        path.display(),
        r.n,
        r.task,
        version
    );
    let rows = [
        ("AUC", fmt_opt(r.auc)),
        ("F1", format!("{:.4}", r.f1)),
        ("precision", format!("{:.4}", r.precision)),
        ("recall", format!("{:.4}", r.recall)),
        ("macro-F1 (3 classes)", fmt_opt(r.macro_f1_3class)),
        ("scoring p50", format!("{:.1} µs", r.scoring_us_p50)),
        ("scoring p99", format!("{:.1} µs", r.scoring_us_p99)),
    ];
    for (name, value) in rows {
        let _ = writeln!(out, "  {name:<22}{value:>12}");
    }
    out
}

struct Bar(ProgressBar);

impl Progress for Bar {
    fn stage(&self, name: &str, total: u64) {
        self.0.set_length(total);
        self.0.set_position(0);
        self.0.set_message(name.to_string());
    }
    fn advance(&self, n: u64) {
        self.0.inc(n);
    }
}

pub fn train(args: TrainArgs) -> Result<Outcome, CliError> {
    let files = discover(&args.data).map_err(CliError::new)?;
    if files.train.is_empty() {
        return Err(CliError::new(
            "no training files found (only dev.jsonl/test.jsonl under the given paths)",
        ));
    }
    let mut config = match &args.params {
        Some(json) => serde_json::from_str::<TrainConfig>(json).map_err(|e| CliError::new(format!("--params: {e}")))?,
        None => TrainConfig::default(),
    };
    config.seed = args.seed;
    config.spec.bits = args.bits;
    if let Some(version) = &args.model_version {
        config.version = version.clone();
    }
    let out = if args.out.extension().is_none() {
        args.out.with_extension("model")
    } else {
        args.out.clone()
    };

    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("{msg:>28} [{bar:30}] {pos}/{len} {elapsed}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let started = Instant::now();
    let outcome = train_model(&files.train, &files.dev, &config, &Bar(bar.clone())).map_err(CliError::new)?;
    bar.finish_and_clear();
    outcome.model.save(&out).map_err(CliError::new)?;
    let elapsed = started.elapsed();
    if outcome.removed_dev_duplicates > 0 {
        print(&format!(
            "left out {} training rows whose text is also in a dev split\n",
            outcome.removed_dev_duplicates
        ))?;
    }
    if outcome.removed_opinion_spam > 0 {
        print(&format!(
            "left out {} rows of opinion spam (ViSpamReviews' fake, shop-only, too-short and padded reviews)\n",
            outcome.removed_opinion_spam
        ))?;
    }
    if outcome.offensive_span_rows > 0 {
        print(&format!(
            "added {} rows of the offensive words a dataset marks in its abusive comments (meta.spans)\n",
            outcome.offensive_span_rows
        ))?;
    }
    if outcome.span_remainder_rows > 0 {
        print(&format!(
            "added {} clean rows of what is left of those comments without the marked words\n",
            outcome.span_remainder_rows
        ))?;
    }
    for (head, source, rows) in &outcome.negative_rows {
        let head = head.as_str();
        print(&if *rows > 0 {
            format!("the {head} head learned {rows} rows of {source} as negatives (negative_sources)\n")
        } else {
            format!("the {head} head's negative source {source} has no rows in the training data\n")
        })?;
    }
    let precision = config.reject_precision;
    for (head, limit) in &outcome.reject_set_by {
        let head = head.as_str();
        print(&match limit {
            RejectLimit::ReachedBy(source) => format!(
                "the {head} head's reject threshold waited for {source}: the last source whose out-of-fold rejections reached precision {precision:.2}\n"
            ),
            RejectLimit::NeverReachedBy(source) => format!(
                "the {head} head never rejects {source}'s rows with precision {precision:.2} (out of fold): it rejects only from 0.99\n"
            ),
        })?;
    }
    print(&render_training(
        &outcome.model,
        &out,
        elapsed.as_secs_f64(),
        files.dev.is_empty(),
    ))?;
    Ok(Outcome::Ok)
}

fn render_training(model: &ModelFile, out: &Path, seconds: f64, no_dev: bool) -> String {
    let mut text = String::new();
    let rows: usize = model
        .training
        .iter()
        .filter(|d| d.split == "train")
        .map(|d| d.rows)
        .sum();
    let copies: usize = model
        .training
        .iter()
        .filter(|d| d.split != "train")
        .map(|d| d.rows)
        .sum();
    let datasets = model.training.iter().filter(|d| d.split == "train").count();
    let size = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0);
    let _ = writeln!(
        text,
        "trained {} on {rows} rows from {datasets} datasets (plus {copies} unaccented copies) in {seconds:.1} s",
        model.version,
    );
    let _ = writeln!(
        text,
        "wrote {} ({:.2} MB) and {}",
        out.display(),
        size as f64 / 1e6,
        checksum_path(out).display()
    );
    for kind in HeadKind::ALL {
        let t = model.head(kind).thresholds;
        let _ = writeln!(
            text,
            "  {:<6} thresholds: flag {:.2}, reject {:.2}",
            kind.as_str(),
            t.flag,
            t.reject
        );
    }
    if no_dev {
        let _ = writeln!(
            text,
            "no dev.jsonl files given: thresholds were chosen on out-of-fold training scores"
        );
        return text;
    }
    let _ = writeln!(
        text,
        "\n{:<26}{:>6}{:>7}{:>8}{:>8}{:>8}{:>8}{:>10}",
        "dev set", "task", "n", "AUC", "F1", "prec", "recall", "macroF1-3"
    );
    for m in &model.dev_metrics {
        let _ = writeln!(
            text,
            "{:<26}{:>6}{:>7}{:>8.4}{:>8.4}{:>8.4}{:>8.4}{:>10}",
            m.source,
            m.task,
            m.n,
            m.auc,
            m.f1,
            m.precision,
            m.recall,
            m.macro_f1_3class.map_or_else(|| "-".to_string(), |v| format!("{v:.4}"))
        );
    }
    text
}
