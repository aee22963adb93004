//! modgate's own labelled comments (`models/seed/`), which the shipped model trains on:
//! readable by `modgate train`, labelled for the spam task only, and with a dev split that
//! shares no text with the train split, so the metrics reported on it are held out.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use modgate::classify::data::{Label, Task, discover, read_jsonl};

const SPAM_KINDS: [&str; 7] = ["gambling", "loan", "scam", "channel", "job", "service", "other"];

fn seed_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models/seed")
}

fn duplicate_key(text: &str) -> String {
    text.to_lowercase().split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn the_seed_comments_are_a_spam_set_with_a_held_out_dev_split() {
    let files = discover(&[seed_dir()]).expect("models/seed is readable");
    assert_eq!(files.train.len(), 1, "{files:?}");
    assert_eq!(files.dev.len(), 1, "{files:?}");
    let train = read_jsonl(&files.train[0]).expect("train split parses");
    let dev = read_jsonl(&files.dev[0]).expect("dev split parses");

    let mut ids = HashSet::new();
    for (split, rows) in [("train", &train), ("dev", &dev)] {
        assert!(rows.len() >= 200, "{split}: {} rows", rows.len());
        let spam = rows.iter().filter(|r| r.label == Label::Spam).count();
        // Both sides of the task, neither swamping the other: the ham rows are there to
        // show that the topics (betting, loans) alone are not spam.
        assert!(
            spam * 3 >= rows.len() && spam * 3 <= 2 * rows.len(),
            "{split}: {spam} spam of {}",
            rows.len()
        );
        for row in rows.iter() {
            assert_eq!(row.label.task(), Task::Spam, "{}", row.id);
            assert_eq!(row.source, "modgate_seed", "{}", row.id);
            assert!(row.id.starts_with(&format!("modgate_seed-{split}-")), "{}", row.id);
            assert!(ids.insert(row.id.clone()), "duplicate id {}", row.id);
            assert_eq!(
                row.spam_type.is_some(),
                row.label == Label::Spam,
                "{}: spam rows, and only they, name their kind",
                row.id
            );
            // The kinds models/seed/README.md counts; a typo would hide a row from its table.
            if let Some(kind) = &row.spam_type {
                assert!(
                    SPAM_KINDS.contains(&kind.as_str()),
                    "{}: unknown spam_type {kind:?}",
                    row.id
                );
            }
            assert!(!row.text.trim().is_empty(), "{}", row.id);
        }
    }
    // The dev split measures what training did not see.
    let trained: HashSet<String> = train.iter().map(|r| duplicate_key(&r.text)).collect();
    let shared: Vec<&str> = dev
        .iter()
        .filter(|r| trained.contains(&duplicate_key(&r.text)))
        .map(|r| r.id.as_str())
        .collect();
    assert!(shared.is_empty(), "dev rows also in train: {shared:?}");
}
