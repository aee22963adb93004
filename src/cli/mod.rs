//! The `modgate` command line: argument parsing and the commands' output.
//!
//! Exit codes (documented in the README and `--help`):
//! - 0: success (for `check`: the comment would be approved);
//! - 1: the command ran and the check failed (for `check`: the comment would be held
//!   or rejected);
//! - 2: the command could not run: bad arguments, unreadable or malformed input, a
//!   model that does not load, a server that cannot be reached.

mod classifier;
mod health;
mod labels;
mod queue;
mod review;
mod serve;
mod webhooks;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub use classifier::{CheckArgs, EvalArgs, TrainArgs};
pub use serve::ServeArgs;

/// Comment moderation for CMS backends: spam and abuse scoring for Vietnamese and
/// English, rate limits, captcha checks and a review queue.
#[derive(Debug, Parser)]
#[command(name = "modgate", version, propagate_version = true)]
#[command(
    after_help = "Exit codes: 0 ok; 1 the answer was no (check: the comment would be held or rejected; queue approve/reject/undo and review: some comments were not resolved or undone; webhooks retry: some ids were not dead letters; health: the server is not serving); 2 usage, input, configuration or connection error."
)]
pub struct Cli {
    /// When to colour output: auto colours terminals unless NO_COLOR is set.
    #[arg(long, global = true, value_enum, default_value_t = ColorWhen::Auto)]
    pub color: ColorWhen,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorWhen {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gRPC moderation service.
    Serve(ServeArgs),
    /// Score one comment with the classifier and show why.
    Check(CheckArgs),
    /// Measure a model on a labelled JSONL file (AUC, F1, latency).
    Eval(EvalArgs),
    /// Train a model from labelled JSONL files or folders of them.
    Train(TrainArgs),
    /// Review held comments on a running server: list, show, approve, reject, undo.
    Queue(queue::QueueArgs),
    /// Work through held comments interactively, one key per comment (needs a terminal).
    ///
    /// Keys: a approve, r reject, s skip, u undo (the last decision is sent when you press the
    /// next key, so the first u just forgets it; further u's ask the server to undo, within
    /// the site's undo window), q quit (sends the last decision). Exit 0, or 1 if the server
    /// refused a decision.
    Review(review::ReviewArgs),
    /// What moderators did on a site, newest first (from a running server).
    Audit(queue::AuditArgs),
    /// How the review queue stands per site (from a running server).
    Stats(queue::StatsArgs),
    /// Decision webhooks that failed every retry: list them, send them again.
    Webhooks(webhooks::WebhooksArgs),
    /// Moderators' decisions as training data: `labels export` writes JSONL for `train`.
    Labels(labels::LabelsArgs),
    /// Ask a running server whether it is serving (grpc.health.v1); for container health
    /// checks. Prints the status; exit 0 SERVING, 1 anything else, 2 no answer.
    Health(health::HealthArgs),
}

/// Where a model comes from: a file, or the one built into this binary.
#[derive(Debug, Clone, Args)]
pub struct ModelArg {
    /// Model file to use instead of the built-in one.
    #[arg(long, env = "MODGATE_MODEL", value_name = "PATH")]
    pub model: Option<PathBuf>,
}

/// How a command ended, mapped to the documented exit codes.
#[derive(Debug)]
pub enum Outcome {
    Ok,
    CheckFailed,
}

/// An error that stops a command; printed once, exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Message(String),
    /// The reader of our output went away (`modgate eval ... | head`): not an error.
    #[error("output closed")]
    BrokenPipe,
}

impl CliError {
    pub fn new(message: impl std::fmt::Display) -> Self {
        Self::Message(message.to_string())
    }
}

/// Parses arguments, runs the command and returns the process exit code.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    match cli.color {
        ColorWhen::Always => anstream::ColorChoice::Always.write_global(),
        ColorWhen::Never => anstream::ColorChoice::Never.write_global(),
        ColorWhen::Auto => {}
    }
    let result = match cli.command {
        Command::Serve(args) => serve::serve(args),
        Command::Check(args) => classifier::check(args),
        Command::Eval(args) => classifier::eval(args),
        Command::Train(args) => classifier::train(args),
        Command::Queue(args) => queue::queue(args),
        Command::Review(args) => review::review(args),
        Command::Audit(args) => queue::audit(args),
        Command::Stats(args) => queue::stats(args),
        Command::Webhooks(args) => webhooks::webhooks(args),
        Command::Labels(args) => labels::labels(args),
        Command::Health(args) => health::health(args),
    };
    match result {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::CheckFailed) => ExitCode::from(1),
        Err(CliError::BrokenPipe) => ExitCode::SUCCESS,
        Err(error) => {
            let mut stderr = anstream::stderr();
            let red = anstyle::AnsiColor::Red.on_default().bold();
            let _ = writeln!(stderr, "{red}error:{red:#} {error}");
            ExitCode::from(2)
        }
    }
}

/// Writes to stdout, turning I/O errors into a [`CliError`] (a closed pipe included).
pub(crate) fn print(text: &str) -> Result<(), CliError> {
    let mut out = anstream::stdout();
    out.write_all(text.as_bytes())
        .and_then(|_| out.flush())
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::BrokenPipe => CliError::BrokenPipe,
            _ => CliError::new(format!("writing output: {e}")),
        })
}
