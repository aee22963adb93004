//! Comments for the scoring benchmarks: the dev splits of ../shared/data, joined and cut
//! to a fixed length.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use modgate::classify::data::read_jsonl;

/// Every dev-split text of ../shared/data, datasets in name order (empty when the data
/// is not there).
pub fn dev_texts() -> Vec<String> {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&data) {
        let mut dirs: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        dirs.sort();
        for dir in dirs {
            if let Ok(rows) = read_jsonl(&dir.join("dev.jsonl")) {
                out.extend(rows.into_iter().map(|r| r.text));
            }
        }
    }
    out
}

/// Comments of about `chars` characters: texts joined until long enough, then cut.
pub fn comments_of_length(texts: &[String], chars: usize, count: usize) -> Vec<String> {
    let mut out = Vec::with_capacity(count);
    let mut i = 0;
    while out.len() < count {
        let mut comment = String::new();
        while comment.chars().count() < chars {
            comment.push_str(&texts[i % texts.len()]);
            comment.push(' ');
            i += 7;
        }
        out.push(comment.chars().take(chars).collect());
    }
    out
}
