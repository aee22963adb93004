//! Words written with letters masked by '*' or '#' ("f*ck", "sh*t", "a**hole", "l*n",
//! "đ*t", "c#c"). Readers mask a word precisely when it is one a moderator would object
//! to, and the few such words are what a mask stands for: read as the word, the comment
//! carries the evidence the word would, where split at the mask it read as harmless
//! fragments ("f", "ck").
//!
//! The list is ours and short on purpose: only words people mask, so that an asterisk
//! used for emphasis or a footnote ("*grins*", "5*", "voice*") never matches. Each mask
//! character stands for exactly one letter, so a reading keeps the word's length and its
//! characters' places in the comment.

use super::fold::{is_letter, strip_diacritics};

/// The words a mask may stand for, in the order ties are settled: where a pattern fits
/// two ("s**t": shit, slut; "c**": cặc, cứt), the earlier one is read. Vietnamese words
/// keep their tone marks (the toned view shows them); letters are compared without.
#[rustfmt::skip] // a word list, not code: rustfmt would give each word a line of its own
const MASKED_WORDS: &[&str] = &[
    // English.
    "fuck", "fucking", "fucked", "fucker", "fuckers", "motherfucker", "shit", "shitty", "bullshit", "bitch", "bitches", "asshole",
    "assholes", "cunt", "dick", "cock", "pussy", "bastard", "whore", "slut", "nigger", "niggers", "nigga", "niggas",
    "faggot", "fag", "retard", "retarded", "idiot", "moron", "stupid", "dumb", "twat", "hoe", "hoes", "piss", "crap",
    "damn", "hell", "ass",
    // Vietnamese, "đm" first: "đ*" is most often "địt mẹ" abbreviated. No abbreviation of
    // three consonants ("dcm"): "d*m" is "dm" with its letters held apart, which the
    // analysis reads already, not "dcm".
    "đm", "dm", "địt", "đụ", "lồn", "cặc", "buồi", "đéo", "đĩ", "cứt", "điếm", "khốn", "chó", "ngu", "đần", "mẹ", "vcl",
    "vkl",
];

/// The characters that stand for a masked letter.
pub(crate) fn is_mask(c: char) -> bool {
    matches!(c, '*' | '#')
}

/// The word that `pattern` (lowercase letters and masks) is masked from, or `None`.
///
/// A pattern is read only when it starts with a letter (a leading mask is a hashtag or
/// emphasis; [`unmask_hashtag`] reads past a hashtag's own '#'), holds at least one mask,
/// and is two characters or longer.
pub(crate) fn unmask(pattern: &[char]) -> Option<&'static str> {
    let first = *pattern.first()?;
    if pattern.len() < 2 || !is_letter(first) || !pattern.iter().any(|&c| is_mask(c)) {
        return None;
    }
    if !pattern.iter().all(|&c| is_mask(c) || is_letter(c)) {
        return None;
    }
    MASKED_WORDS.iter().copied().find(|word| {
        word.chars().count() == pattern.len()
            && word
                .chars()
                .zip(pattern)
                .all(|(letter, &c)| is_mask(c) || strip_diacritics(letter) == strip_diacritics(c))
    })
}

/// [`unmask`] for a hashtag whose word is masked ("#p*ssy"): the word after the '#'.
pub(crate) fn unmask_hashtag(pattern: &[char]) -> Option<&'static str> {
    match pattern {
        ['#', rest @ ..] => unmask(rest),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pattern: &str) -> Option<&'static str> {
        unmask(&pattern.chars().collect::<Vec<_>>())
    }

    fn assert_reads(cases: &[(&str, &str)]) {
        for &(pattern, word) in cases {
            assert_eq!(read(pattern), Some(word), "{pattern}");
        }
    }

    #[test]
    fn masked_insults_are_read_as_the_word() {
        assert_reads(&[
            ("f*ck", "fuck"),
            ("f**k", "fuck"),
            ("f***", "fuck"),
            ("f*cking", "fucking"),
            ("sh*t", "shit"),
            ("s**t", "shit"), // the earlier of shit and slut
            ("h*e", "hoe"),
            ("h***", "hoes"),
            ("st*pid", "stupid"),
            ("b*tch", "bitch"),
            ("a**hole", "asshole"),
            ("bullsh*t", "bullshit"),
            ("p***y", "pussy"),
            ("n#gger", "nigger"),
        ]);
    }

    #[test]
    fn masked_vietnamese_is_read_with_its_tone_marks() {
        assert_reads(&[
            ("l*n", "lồn"),
            ("l**", "lồn"),
            ("đ*t", "địt"),
            ("d*t", "địt"), // typed without the stroke
            ("đ*o", "đéo"),
            ("c#c", "cặc"),
            ("c**", "cặc"),
            ("b***", "buồi"),
            ("đ*", "đm"),
            ("d*", "đm"), // the same word in the plain view
            ("v**", "vcl"),
            ("kh*n", "khốn"),
        ]);
    }

    #[test]
    fn a_masked_hashtag_is_read_past_its_mark() {
        let chars = |s: &str| s.chars().collect::<Vec<_>>();
        assert_eq!(unmask_hashtag(&chars("#p*ssy")), Some("pussy"));
        assert_eq!(unmask_hashtag(&chars("#tiktok")), None);
        assert_eq!(unmask_hashtag(&chars("f*ck")), None, "not a hashtag");
    }

    #[test]
    fn emphasis_hashtags_and_short_or_unknown_patterns_are_left_alone() {
        for pattern in [
            "*grins*", "grins*", "voice*", "kiss*", "#tiktok", "#f*ck", "5*", "bitch*", "r*reveal", "it*", "fuck",
            "f*ck1", "x*", "a*",
        ] {
            assert_eq!(read(pattern), None, "{pattern}");
        }
    }

    #[test]
    fn the_list_is_lowercase_and_has_no_word_twice() {
        for (i, word) in MASKED_WORDS.iter().enumerate() {
            assert!(word.chars().all(|c| is_letter(c) && !c.is_uppercase()), "{word}");
            assert!(!MASKED_WORDS[..i].contains(word), "{word} twice");
        }
    }
}
