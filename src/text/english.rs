//! Common English words, for cutting a run of letters spelled out with spaces back into
//! words: "f u c k y o u" is "fuck you", "s l a p a h o e" is "slap a hoe". Spelled out,
//! consecutive words leave no trace of where one ends, and the Vietnamese syllable rule
//! splits English wrongly ("b i t c h a b o u t" would read "bit cha bout").
//!
//! The list is ours: the function words of English, the verbs and nouns that come up in
//! comments, and the insults people disguise. A run is cut only when every piece is on it.

use std::ops::Range;

const WORDS: &[&str] = &[
    // Function words.
    "a", "about", "after", "again", "all", "am", "an", "and", "any", "anyone", "are", "as", "at", "be", "because",
    "been", "before", "but", "by", "can", "could", "did", "do", "does", "dont", "down", "even", "every", "for", "from",
    "get", "go", "got", "had", "has", "have", "he", "her", "here", "him", "his", "how", "i", "if", "im", "in", "into",
    "is", "it", "its", "just", "like", "me", "more", "most", "my", "no", "not", "now", "of", "off", "on", "one",
    "only", "or", "our", "out", "over", "she", "so", "some", "than", "that", "the", "their", "them", "then", "there",
    "they", "this", "to", "too", "up", "us", "very", "was", "we", "were", "what", "when", "where", "which", "who",
    "why", "will", "with", "would", "you", "your", "yours", "ya", "yo", "u", "ur",
    // Verbs, nouns and adjectives of everyday comments.
    "act", "acting", "ask", "back", "bad", "best", "big", "buy", "call", "check", "come", "cool", "day", "die", "eat",
    "free", "friend", "friends", "fun", "girl", "girls", "give", "good", "great", "guy", "guys", "hate", "help",
    "home", "keep", "kill", "know", "let", "life", "look", "lol", "love", "make", "man", "mad", "money", "need", "new",
    "nice", "old", "people", "play", "please", "put", "real", "right", "say", "see", "shut", "sick", "slap", "stop",
    "stupid", "suck", "sucks", "take", "talk", "tell", "thank", "thanks", "thing", "think", "time", "try", "ugly",
    "want", "wants", "watch", "way", "win", "woman", "women", "work", "world", "year",
    // Insults and slurs, the words people disguise.
    "ass", "asshole", "bastard", "bitch", "bitches", "cunt", "damn", "dick", "dumb", "dyke", "fag", "faggot", "fags",
    "fuck", "fucked", "fucker", "fucking", "hell", "hoe", "hoes", "idiot", "kike", "loser", "moron", "nigga", "niggas",
    "nigger", "niggers", "piss", "porn", "pussy", "retard", "retarded", "sex", "shit", "slut", "sluts", "trash",
    "twat", "whore", "whores",
];

const LONGEST: usize = 8;

fn is_word(letters: &[char]) -> bool {
    letters.len() <= LONGEST
        && WORDS
            .iter()
            .any(|w| w.len() == letters.len() && w.chars().zip(letters).all(|(a, &b)| a == b))
}

/// Cuts `letters` (lowercase) into the fewest words of the list, or `None` when it cannot
/// be cut into two or more of them.
pub(crate) fn segment_words(letters: &[char]) -> Option<Vec<Range<usize>>> {
    let n = letters.len();
    if n < 2 || !letters.iter().all(char::is_ascii_lowercase) {
        return None;
    }
    // fewest[k]: the fewest words covering letters[..k], with the start of the last one.
    let mut fewest: Vec<Option<(usize, usize)>> = vec![None; n + 1];
    fewest[0] = Some((0, 0));
    for end in 1..=n {
        for start in end.saturating_sub(LONGEST)..end {
            if let Some((count, _)) = fewest[start]
                && is_word(&letters[start..end])
                && fewest[end].is_none_or(|(best, _)| count + 1 < best)
            {
                fewest[end] = Some((count + 1, start));
            }
        }
    }
    let (count, _) = fewest[n]?;
    if count < 2 {
        return None;
    }
    let mut words = Vec::with_capacity(count);
    let mut end = n;
    while end > 0 {
        let (_, start) = fewest[end].expect("every cut point on the path is reachable");
        words.push(start..end);
        end = start;
    }
    words.reverse();
    Some(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cut(text: &str) -> Option<Vec<String>> {
        let letters: Vec<char> = text.chars().collect();
        segment_words(&letters).map(|words| words.into_iter().map(|r| letters[r].iter().collect()).collect())
    }

    #[test]
    fn spelled_out_english_is_cut_into_its_words() {
        assert_eq!(cut("fuckyou").unwrap(), ["fuck", "you"]);
        assert_eq!(cut("slapahoe").unwrap(), ["slap", "a", "hoe"]);
        assert_eq!(cut("bitchabout").unwrap(), ["bitch", "about"]);
        assert_eq!(cut("anyonewhowants").unwrap(), ["anyone", "who", "wants"]);
    }

    #[test]
    fn runs_that_are_not_all_words_stay_whole() {
        assert_eq!(cut("hoe"), None, "one word is not cut");
        assert_eq!(cut("nguqua"), None);
        assert_eq!(cut("casino"), None);
        assert_eq!(cut("nhàcái"), None, "Vietnamese letters are never English");
    }

    #[test]
    fn the_list_is_lowercase_and_within_the_longest_length() {
        for word in WORDS {
            assert!(
                word.len() <= LONGEST && word.chars().all(|c| c.is_ascii_lowercase()),
                "{word}"
            );
        }
    }
}
