//! Labelled comments in the JSON Lines format of `../shared/data` (one object per line with
//! at least `text` and `label`; `id`, `lang` and `source` are used when present).

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// A label as the datasets spell it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Label {
    Ham,
    Spam,
    Clean,
    Offensive,
    Hate,
    /// Abusive, where the dataset does not separate offensive from hate.
    Toxic,
}

impl Label {
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "ham" => Label::Ham,
            "spam" => Label::Spam,
            "clean" => Label::Clean,
            "offensive" => Label::Offensive,
            "hate" => Label::Hate,
            "toxic" => Label::Toxic,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Label::Ham => "ham",
            Label::Spam => "spam",
            Label::Clean => "clean",
            Label::Offensive => "offensive",
            Label::Hate => "hate",
            Label::Toxic => "toxic",
        }
    }

    pub fn task(self) -> Task {
        match self {
            Label::Ham | Label::Spam => Task::Spam,
            _ => Task::Abuse,
        }
    }

    /// The positive class of the label's task: spam, or anything abusive.
    pub fn is_positive(self) -> bool {
        !matches!(self, Label::Ham | Label::Clean)
    }
}

/// Which question a label answers. Spam and abuse data are never mixed: an abuse
/// dataset's "clean" row can be an advertisement, a spam dataset's "ham" can be abusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    Spam,
    Abuse,
}

impl Task {
    pub fn as_str(self) -> &'static str {
        match self {
            Task::Spam => "spam",
            Task::Abuse => "abuse",
        }
    }
}

/// One labelled comment.
#[derive(Clone, Debug)]
pub struct Example {
    /// The row's id, or "file:line" when it has none; it decides the cross-fitting fold, so
    /// training does not depend on the order files are listed in.
    pub id: String,
    pub text: String,
    pub label: Label,
    /// Dataset name (`source` field, else the parent folder's name); metrics are per source.
    pub source: String,
    /// Whether the row was read from a file or made by training from another one.
    pub origin: RowOrigin,
    /// The dataset's own kind of spam (`meta.spam_type`, numbers written out), where it
    /// records one. Each dataset has its own vocabulary: ViSpamReviews numbers fake reviews
    /// (1), reviews of the shop or delivery only (2) and irrelevant content (3);
    /// vi_comment_spam names them (`shop`, `loan`, ...).
    pub spam_type: Option<String>,
    /// The words that make the comment offensive, where the dataset marks them
    /// (`meta.spans`: ViHOS marks them in ViHSD's comments).
    pub offensive_spans: Vec<String>,
}

/// Where a training row comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum RowOrigin {
    /// A line of a data file.
    Read,
    /// Another row's text without diacritics.
    UnaccentedCopy,
    /// The offensive spans a dataset marks in another row, on their own.
    OffensiveSpans,
    /// The rest of a row whose offensive spans are marked, without them.
    SpanRemainder,
}

impl RowOrigin {
    /// How the training summary in the model file names the rows of this origin.
    pub fn split_name(self) -> &'static str {
        match self {
            Self::Read => "train",
            Self::UnaccentedCopy => "train, unaccented copies",
            Self::OffensiveSpans => "train, offensive spans",
            Self::SpanRemainder => "train, remainders without the offensive spans",
        }
    }

    /// Whether the row is a part cut out of a comment rather than a comment: the text
    /// layers learn from such rows, but the combiners and thresholds judge comments.
    pub fn is_excerpt(self) -> bool {
        matches!(self, Self::OffensiveSpans | Self::SpanRemainder)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Line {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{path}: no .jsonl files found")]
    NoFiles { path: PathBuf },
}

#[derive(Deserialize)]
struct Row {
    id: Option<String>,
    text: String,
    label: String,
    source: Option<String>,
    // Datasets put other things in `meta` too (ratings, votes, titles); only `spam_type`
    // and `spans` are read, and a `meta`, `spam_type` or `spans` of another shape means
    // the row has none rather than that it is malformed.
    meta: Option<serde_json::Value>,
}

fn spam_type_of(meta: Option<&serde_json::Value>) -> Option<String> {
    match meta?.get("spam_type")? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `meta.spans` when it is a list of strings; anything else marks no spans.
fn spans_of(meta: Option<&serde_json::Value>) -> Vec<String> {
    let Some(serde_json::Value::Array(spans)) = meta.and_then(|m| m.get("spans")) else {
        return Vec::new();
    };
    spans
        .iter()
        .filter_map(|span| span.as_str())
        .map(str::trim)
        .filter(|span| !span.is_empty())
        .map(str::to_string)
        .collect()
}

/// Reads one JSONL file. Blank lines are skipped; any other line that is not a JSON object
/// with a string `text` and a known `label` is an error naming the file and line.
pub fn read_jsonl(path: &Path) -> Result<Vec<Example>, DataError> {
    let file = File::open(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let default_source = path
        .parent()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut examples = Vec::new();
    let mut reader = BufReader::new(file);
    let mut buf = Vec::new();
    let mut line_no = 0usize;
    loop {
        buf.clear();
        let read = reader.read_until(b'\n', &mut buf).map_err(|source| DataError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        if read == 0 {
            break;
        }
        line_no += 1;
        let line_error = |message: String| DataError::Line {
            path: path.to_path_buf(),
            line: line_no,
            message,
        };
        let line = std::str::from_utf8(&buf).map_err(|e| line_error(format!("not valid UTF-8 ({e})")))?;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let row: Row = serde_json::from_str(line).map_err(|e| line_error(format!("not a labelled comment: {e}")))?;
        let label = Label::parse(&row.label).ok_or_else(|| {
            line_error(format!(
                "unknown label {:?} (expected one of ham, spam, clean, offensive, hate, toxic)",
                row.label
            ))
        })?;
        examples.push(Example {
            id: row.id.unwrap_or_else(|| format!("{}:{line_no}", path.display())),
            text: row.text,
            label,
            source: row.source.unwrap_or_else(|| default_source.clone()),
            origin: RowOrigin::Read,
            spam_type: spam_type_of(row.meta.as_ref()),
            offensive_spans: spans_of(row.meta.as_ref()),
        });
    }
    Ok(examples)
}

/// JSONL files found under the paths given on the command line, split by role.
#[derive(Debug, Default)]
pub struct DataFiles {
    /// Files to learn from: every `.jsonl` file except those named `dev.jsonl` or `test.jsonl`.
    pub train: Vec<PathBuf>,
    /// `dev.jsonl` files: held out for the metrics (thresholds come from the training
    /// rows' out-of-fold scores).
    pub dev: Vec<PathBuf>,
}

/// Expands files and folders (searched recursively, in name order so runs are repeatable).
pub fn discover(paths: &[PathBuf]) -> Result<DataFiles, DataError> {
    let mut files = DataFiles::default();
    for path in paths {
        let mut found = Vec::new();
        collect_jsonl(path, &mut found)?;
        if found.is_empty() {
            return Err(DataError::NoFiles { path: path.clone() });
        }
        for file in found {
            match file.file_name().and_then(|n| n.to_str()) {
                Some("dev.jsonl") => files.dev.push(file),
                // A withheld test split that happens to be present is never trained on.
                Some("test.jsonl") => {}
                _ => files.train.push(file),
            }
        }
    }
    Ok(files)
}

fn collect_jsonl(path: &Path, out: &mut Vec<PathBuf>) -> Result<(), DataError> {
    let io = |source| DataError::Io {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.is_file() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(io)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(io)?;
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            collect_jsonl(&entry, out)?;
        } else if entry.extension().is_some_and(|e| e == "jsonl") {
            out.push(entry);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, content: &[u8]) -> PathBuf {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, content).unwrap();
        path
    }

    #[test]
    fn reads_rows_and_defaults_missing_fields() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "mine/train.jsonl",
            "{\"id\":\"a\",\"text\":\"vay tiền\",\"label\":\"spam\",\"source\":\"s\"}\n\n{\"text\":\"hi\",\"label\":\"ham\"}\n".as_bytes(),
        );
        let rows = read_jsonl(&path).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].label, Label::Spam);
        assert_eq!(rows[0].source, "s");
        assert_eq!(rows[1].source, "mine");
        assert!(rows[1].id.ends_with(":3"));
    }

    #[test]
    fn spam_type_is_read_as_text_whatever_its_shape() {
        let dir = tempfile::tempdir().unwrap();
        let lines = [
            r#"{"text":"a","label":"spam","meta":{"spam_type":2,"rating":5}}"#,
            r#"{"text":"b","label":"spam","meta":{"spam_type":"loan"}}"#,
            r#"{"text":"c","label":"ham","meta":{"spam_type":null}}"#,
            r#"{"text":"d","label":"ham","meta":"free text"}"#,
            r#"{"text":"e","label":"ham","meta":null}"#,
        ];
        let path = write(dir.path(), "m.jsonl", lines.join("\n").as_bytes());
        let types: Vec<Option<String>> = read_jsonl(&path).unwrap().into_iter().map(|e| e.spam_type).collect();
        assert_eq!(types, [Some("2".into()), Some("loan".into()), None, None, None]);
    }

    #[test]
    fn offensive_spans_are_read_where_meta_lists_them() {
        let dir = tempfile::tempdir().unwrap();
        let lines = [
            r#"{"text":"đcm thằng ngu","label":"toxic","meta":{"spans":["đcm"," ngu ",""]}}"#,
            r#"{"text":"b","label":"toxic","meta":{"spans":"ngu"}}"#,
            r#"{"text":"c","label":"toxic","meta":{"spans":[1,"dốt"]}}"#,
            r#"{"text":"d","label":"clean"}"#,
        ];
        let path = write(dir.path(), "m.jsonl", lines.join("\n").as_bytes());
        let spans: Vec<Vec<String>> = read_jsonl(&path)
            .unwrap()
            .into_iter()
            .map(|e| e.offensive_spans)
            .collect();
        assert_eq!(
            spans,
            [
                vec!["đcm".to_string(), "ngu".to_string()],
                vec![],
                vec!["dốt".to_string()],
                vec![]
            ]
        );
    }

    #[test]
    fn malformed_line_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "x.jsonl",
            b"{\"text\":\"ok\",\"label\":\"ham\"}\n{not json\n",
        );
        let err = read_jsonl(&path).unwrap_err().to_string();
        assert!(err.contains("x.jsonl:2:"), "{err}");
    }

    #[test]
    fn unknown_label_and_invalid_utf8_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "x.jsonl", b"{\"text\":\"ok\",\"label\":\"maybe\"}\n");
        let err = read_jsonl(&path).unwrap_err().to_string();
        assert!(err.contains(":1:") && err.contains("unknown label \"maybe\""), "{err}");
        let path = write(dir.path(), "y.jsonl", b"{\"text\":\"\xff\",\"label\":\"ham\"}\n");
        let err = read_jsonl(&path).unwrap_err().to_string();
        assert!(err.contains("y.jsonl:1:") && err.contains("UTF-8"), "{err}");
    }

    #[test]
    fn discover_splits_train_and_dev_and_skips_test() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "a/train.jsonl",
            "a/dev.jsonl",
            "a/test.jsonl",
            "b/train.jsonl",
            "b/notes.md",
        ] {
            write(dir.path(), name, b"");
        }
        let files = discover(&[dir.path().to_path_buf()]).unwrap();
        assert_eq!(files.train.len(), 2);
        assert_eq!(files.dev.len(), 1);
        assert!(discover(&[dir.path().join("missing")]).is_err());
    }
}
