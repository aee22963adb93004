//! modgate's own labelled comments (`models/seed/`), which the shipped model trains on:
//! readable by `modgate train`, each set labelled for one task (`modgate_seed` spam,
//! `modgate_abuse_seed` abuse), and with dev splits that share no text with the train
//! splits, so the metrics reported on them are held out.

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
    let files = discover(&[seed_dir().join("modgate_seed")]).expect("models/seed is readable");
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

const TARGETS: [&str; 9] = [
    "religion",
    "ethnicity",
    "region",
    "nationality",
    "gender",
    "sexual_orientation",
    "disability",
    "person",
    "none",
];
const STYLES: [&str; 5] = ["accented", "unaccented", "teencode", "disguised", "english"];

#[test]
fn the_abuse_seed_names_hate_offence_and_the_same_groups_spoken_of_cleanly() {
    let dir = seed_dir().join("modgate_abuse_seed");
    let files = discover(std::slice::from_ref(&dir)).expect("models/seed/modgate_abuse_seed is readable");
    assert_eq!((files.train.len(), files.dev.len()), (1, 1), "{files:?}");
    let mut ids = HashSet::new();
    let mut splits = Vec::new();
    for (split, path) in [("train", &files.train[0]), ("dev", &files.dev[0])] {
        let rows = read_jsonl(path).expect("the split parses");
        let raw = std::fs::read_to_string(path).unwrap();
        let mut hate_targets = HashSet::new();
        let mut clean_targets = HashSet::new();
        for (row, line) in rows.iter().zip(raw.lines()) {
            assert_eq!(row.label.task(), Task::Abuse, "{}", row.id);
            assert_ne!(
                row.label,
                Label::Toxic,
                "{}: this set separates offensive from hate",
                row.id
            );
            assert_eq!(row.source, "modgate_abuse_seed", "{}", row.id);
            assert!(
                row.id.starts_with(&format!("modgate_abuse_seed-{split}-")),
                "{}",
                row.id
            );
            assert!(ids.insert(row.id.clone()), "duplicate id {}", row.id);
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            let target = value["meta"]["target"].as_str().unwrap_or_default().to_string();
            let style = value["meta"]["style"].as_str().unwrap_or_default();
            assert!(TARGETS.contains(&target.as_str()), "{}: target {target:?}", row.id);
            assert!(STYLES.contains(&style), "{}: style {style:?}", row.id);
            match row.label {
                Label::Hate => hate_targets.insert(target),
                Label::Clean => clean_targets.insert(target),
                _ => false,
            };
        }
        // A group's name alone must not be evidence: every group attacked in the hate
        // rows is also spoken of in clean ones.
        for group in TARGETS[..7].iter().map(|g| g.to_string()) {
            assert!(hate_targets.contains(&group), "{split}: no hate row about {group}");
            assert!(clean_targets.contains(&group), "{split}: no clean row about {group}");
        }
        for label in [Label::Hate, Label::Offensive, Label::Clean] {
            let n = rows.iter().filter(|r| r.label == label).count();
            assert!(
                n * 8 >= rows.len(),
                "{split}: only {n} {label:?} rows of {}",
                rows.len()
            );
        }
        splits.push(rows);
    }
    let trained: HashSet<String> = splits[0].iter().map(|r| duplicate_key(&r.text)).collect();
    let shared: Vec<&str> = splits[1]
        .iter()
        .filter(|r| trained.contains(&duplicate_key(&r.text)))
        .map(|r| r.id.as_str())
        .collect();
    assert!(shared.is_empty(), "dev rows also in train: {shared:?}");
}
