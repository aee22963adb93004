//! From raw comment text to tokens in two views, plus the meta signals.
//!
//! One left-to-right pass folds characters (see [`super::fold`]); a second finds phone
//! numbers (they span spaces: "0912 345 678"); a third cuts whitespace-separated chunks
//! into links, e-mail addresses and words, undoing the usual obfuscations on the way:
//! leet digits inside words ("c4sino"), letters split by dots ("n.h.à c.á.i") or by
//! spaces ("c a s i n o"), stretched letters ("nguuuuu"). Every pass is linear in the
//! input length and the buffers are reused between comments.

use std::ops::Range;

use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfc_quick};

use super::fold::{
    fold_char, is_combining_mark, is_letter, is_letter_or_digit, is_upper, is_vietnamese_letter, strip_diacritics,
    unified_spelling,
};
use super::{english, masked, teencode};

/// Bumped whenever a change here would change the features of some text, so a model
/// trained with an older normalizer is refused instead of silently mis-scoring.
pub const NORMALIZER_VERSION: u32 = 10;

/// What a token stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// A word (letters and digits), after folding, joining and squashing.
    Word,
    /// An emoji or other pictographic symbol; each one is its own token.
    Symbol,
    /// A URL or bare domain ("zalo.me/abc"); its host is in [`TextAnalysis::link_hosts`].
    Link,
    /// An e-mail address.
    Email,
    /// A phone number in Vietnamese or international form.
    Phone,
}

/// One token of the comment.
#[derive(Clone, Debug)]
pub struct Token {
    pub kind: TokenKind,
    /// Byte range in [`TextAnalysis::text`], so explanations can highlight the reader's own
    /// characters rather than our folded ones.
    pub source: Range<usize>,
    toned: Range<u32>,
    plain: Range<u32>,
    /// Range in [`TextAnalysis::folded`] the token was read from.
    folded: Range<u32>,
    /// Range in [`TextAnalysis::compact`] (empty for non-words), so character n-gram
    /// evidence can be traced back to the words it came from.
    pub compact: Range<u32>,
    /// The word had letters stretched ("nguuuu", "kkkkkkk") before squashing. Not a
    /// feature (since normalizer version 4): stretching is emphasis, used as much by happy
    /// readers as by spammers, and a model that weighs it either way can be fooled by it.
    pub stretched: bool,
}

/// Counts taken while reading the comment; they become the dense meta signals.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TextCounts {
    /// Characters in the (NFC) text.
    pub chars: u32,
    /// Alphabetic characters, and how many of them were upper case (shouting, ads).
    pub letters: u32,
    pub upper: u32,
    /// ASCII digits after folding (keycap and fullwidth digits count too).
    pub digits: u32,
    /// Emoji and other pictographs.
    pub emoji: u32,
    pub links: u32,
    pub emails: u32,
    pub phones: u32,
    /// Runs of three or more '!' or '?' ("!!!", "???!").
    pub shouted_punctuation: u32,
    /// Words with a letter repeated three or more times.
    pub stretched_words: u32,
    pub words: u32,
    /// Words that look Vietnamese: a Vietnamese-only letter, or a frequent unaccented syllable.
    pub vietnamese_words: u32,
}

/// The analysis of one comment. Create once per thread with [`TextAnalysis::default`] and
/// reuse it: [`TextAnalysis::analyze`] clears and refills the buffers.
#[derive(Default, Debug)]
pub struct TextAnalysis {
    text: String,
    folded: Vec<char>,
    /// Byte offset in `text` of the character each folded character came from.
    folded_source: Vec<u32>,
    phone_spans: Vec<Range<usize>>,
    scratch: Vec<char>,
    pieces: Vec<Range<usize>>,
    word_toned: Vec<char>,
    word_plain: Vec<char>,
    surface: Vec<char>,
    surface_owner: Vec<Option<u32>>,
    toned: String,
    plain: String,
    tokens: Vec<Token>,
    compact: Vec<char>,
    hosts: String,
    host_ends: Vec<u32>,
    counts: TextCounts,
}

impl TextAnalysis {
    /// Analyses `text` in a fresh buffer set; convenient for one-off calls.
    pub fn of(text: &str) -> Self {
        let mut analysis = Self::default();
        analysis.analyze(text);
        analysis
    }

    /// Analyses `text`, replacing whatever this buffer held.
    pub fn analyze(&mut self, text: &str) {
        self.text.clear();
        // Most form input is already NFC, and most comments are made only of characters
        // NFC never touches, which a pass over the bytes can tell.
        if is_plainly_nfc(text) {
            self.text.push_str(text);
        } else {
            push_nfc(text, &mut self.text);
        }
        self.fold();
        self.find_phone_numbers();
        self.tokenize();
        self.join_spaced_letters();
        self.build_compact_view();
        self.build_surface_view();
    }

    /// The NFC form of the analysed text; token source ranges index into it.
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn tokens(&self) -> &[Token] {
        &self.tokens
    }

    /// The token as typed, folded to lowercase Latin with tone marks kept.
    pub fn toned(&self, token: &Token) -> &str {
        &self.toned[token.toned.start as usize..token.toned.end as usize]
    }

    /// The token without diacritics and with teencode expanded ("ko" -> "khong").
    pub fn plain(&self, token: &Token) -> &str {
        &self.plain[token.plain.start as usize..token.plain.end as usize]
    }

    /// Plain letters and digits of all words with no separators: spacing and punctuation
    /// tricks ("n.h.à c.á.i", "nha cai", "nhacai") all give the same compact text.
    pub fn compact(&self) -> &[char] {
        &self.compact
    }

    /// The whole text folded character by character (lowercase, look-alikes and
    /// invisibles folded, everything else kept), before tokenization.
    pub fn folded(&self) -> &[char] {
        &self.folded
    }

    /// The folded text with each token replaced by its reading (leet undone, spelled-out
    /// words joined, stretched letters squashed) and everything between tokens (spaces,
    /// punctuation) kept: the surface that character n-grams are taken from.
    pub fn surface(&self) -> &[char] {
        &self.surface
    }

    /// Which token each surface character belongs to (`None` between tokens).
    pub fn surface_owner(&self, i: usize) -> Option<usize> {
        self.surface_owner.get(i).copied().flatten().map(|t| t as usize)
    }

    /// Byte offset in [`Self::text`] of the character folded character `i` came from.
    pub fn folded_source(&self, i: usize) -> usize {
        self.folded_source.get(i).map_or(self.text.len(), |&o| o as usize)
    }

    /// Hosts of the links found, lowercased ("zalo.me", "bit.ly").
    pub fn link_hosts(&self) -> impl Iterator<Item = &str> {
        let mut start = 0usize;
        self.host_ends.iter().map(move |&end| {
            let host = &self.hosts[start..end as usize];
            start = end as usize;
            host
        })
    }

    pub fn counts(&self) -> &TextCounts {
        &self.counts
    }

    fn fold(&mut self) {
        self.folded.clear();
        self.folded_source.clear();
        self.counts = TextCounts::default();
        let counts = &mut self.counts;
        let mut punct_run = 0u32;
        self.folded.reserve(self.text.len());
        self.folded_source.reserve(self.text.len());
        for (offset, c) in self.text.char_indices() {
            counts.chars += 1;
            if c.is_ascii() {
                // Most characters of most comments: what the general path below does for
                // them (no pictographs, lowercase is the fold), without its calls.
                let b = c as u8;
                if b.is_ascii_alphabetic() {
                    counts.letters += 1;
                    counts.upper += u32::from(b.is_ascii_uppercase());
                }
                if b == b'!' || b == b'?' {
                    punct_run += 1;
                    if punct_run == 3 {
                        counts.shouted_punctuation += 1;
                    }
                } else {
                    punct_run = 0;
                }
                self.folded.push(b.to_ascii_lowercase() as char);
                self.folded_source.push(offset as u32);
                continue;
            }
            // A mark left over after NFC composed none with its letter is decoration, not
            // Vietnamese: strike-through ("f̶u̶c̶k̶"), slashes, Zalgo stacks (every tone
            // mark of Vietnamese has composed by now). The plain view dropped them; the
            // toned view and the surface now do too.
            if is_combining_mark(c) {
                continue;
            }
            if is_letter(c) {
                counts.letters += 1;
                if is_upper(c) {
                    counts.upper += 1;
                }
            } else if is_pictograph(c) {
                counts.emoji += 1;
            }
            if c == '!' || c == '?' {
                punct_run += 1;
                if punct_run == 3 {
                    counts.shouted_punctuation += 1;
                }
            } else {
                punct_run = 0;
            }
            let folded = &mut self.folded;
            let sources = &mut self.folded_source;
            fold_char(c, |f| {
                folded.push(f);
                sources.push(offset as u32);
            });
        }
        counts.digits = self.folded.iter().filter(|c| c.is_ascii_digit()).count() as u32;
    }

    /// Phone numbers: digit groups joined by single spaces, dots, dashes, parentheses,
    /// asterisks or underscores, or by a parenthesis and a space ("(+84) 912 345 678").
    /// Vietnamese numbers have 10 digits (mobile, leading 0) or 11 (landline 02x), or start
    /// with the country code 84; 1800/1900 are hotline prefixes; "+" starts an
    /// international number of 8 to 15 digits (ITU-T E.164 allows at most 15). Up to two
    /// letters may stand for digits beside a real digit, as advertisers write them to slip
    /// past phone filters: "O912 345 678", "09l2345678".
    fn find_phone_numbers(&mut self) {
        self.phone_spans.clear();
        let chars = &self.folded;
        let n = chars.len();
        let real_digit_at = |k: usize| k < n && chars[k].is_ascii_digit();
        let mut i = 0;
        while i < n {
            let c = chars[i];
            let plus = c == '+' && real_digit_at(i + 1);
            let starts_number = (c.is_ascii_digit() || (stands_for_digit(c).is_some() && real_digit_at(i + 1)))
                && (i == 0 || !is_letter_or_digit(chars[i - 1]));
            if !(plus || starts_number) {
                i += 1;
                continue;
            }
            let mut j = if plus { i + 1 } else { i };
            let mut digits = 0usize;
            let mut letters = 0usize;
            let mut prefix = [0u8; 4];
            let mut end = j;
            // The longest run of whole groups that reads as a number: a hotline followed by
            // "(0d)" is still the hotline.
            let mut longest_phone = None;
            let mut first_group_end = None;
            loop {
                let digit = if real_digit_at(j) {
                    Some(chars[j] as u8)
                } else if j < n && (real_digit_at(j + 1) || (j > 0 && real_digit_at(j - 1))) {
                    stands_for_digit(chars[j])
                } else {
                    None
                };
                if let Some(digit) = digit {
                    if digits < 4 {
                        prefix[digits] = digit;
                    }
                    digits += 1;
                    letters += usize::from(!chars[j].is_ascii_digit());
                    j += 1;
                    end = j;
                    continue;
                }
                first_group_end.get_or_insert(end);
                let glued_to_letter = end < n && is_letter(chars[end]);
                if !glued_to_letter && letters <= 2 && is_phone_length(plus, prefix, digits) {
                    longest_phone = Some(end);
                }
                let width = phone_separator(&chars[j..]);
                // Two numbers in a row ("0912345678 0987654321") stay two numbers.
                if width > 0 && real_digit_at(j + width) && digits < 10 {
                    j += width;
                } else {
                    break;
                }
            }
            match longest_phone {
                Some(phone_end) => {
                    self.phone_spans.push(i..phone_end);
                    i = phone_end;
                }
                // Not a number as a whole; one may start at its next group ("năm 2024
                // 0912345678"). A scan stops after ten digits, so rescanning is cheap.
                None => i = first_group_end.unwrap_or(end).max(i + 1),
            }
        }
    }

    fn tokenize(&mut self) {
        self.toned.clear();
        self.plain.clear();
        self.tokens.clear();
        self.hosts.clear();
        self.host_ends.clear();
        let n = self.folded.len();
        let mut phones = 0;
        let mut i = 0;
        while i < n {
            if phones < self.phone_spans.len() && self.phone_spans[phones].start == i {
                let span = self.phone_spans[phones].clone();
                phones += 1;
                self.counts.phones += 1;
                self.push_placeholder(TokenKind::Phone, "_phone_", span.clone());
                i = span.end;
                continue;
            }
            if self.folded[i].is_whitespace() {
                i += 1;
                continue;
            }
            let next_phone = self.phone_spans.get(phones).map_or(n, |s| s.start);
            let mut end = i;
            while end < n && end < next_phone && !self.folded[end].is_whitespace() {
                end += 1;
            }
            self.chunk(i..end);
            i = end;
        }
    }

    fn chunk(&mut self, chunk: Range<usize>) {
        let chars = &self.folded[chunk.clone()];
        if chars.iter().any(|&c| matches!(c, '.' | '@' | ':' | '<' | '/')) {
            // Trim what surrounds an address in prose: "(xem zalo.me/abc)." -> "zalo.me/abc".
            let mut start = 0;
            let mut end = chars.len();
            while start < end && matches!(chars[start], '(' | '[' | '{' | '"' | '\'' | '“' | '‘') {
                start += 1;
            }
            while end > start
                && matches!(
                    chars[end - 1],
                    '.' | ',' | ';' | ':' | '!' | '?' | ')' | ']' | '}' | '"' | '\'' | '”' | '’'
                )
            {
                end -= 1;
            }
            // A sentence's last word ("nay.") gets here for its period; what is left of it
            // without one of these cannot be an address (see `address_kind`).
            let trimmed = &chars[start..end];
            let kind = if trimmed.iter().any(|&c| matches!(c, '.' | '@' | ':' | '<')) {
                address_kind(&trimmed.iter().collect::<String>())
            } else {
                None
            };
            let span = chunk.start + start..chunk.start + end;
            if let Some(kind) = kind {
                match kind {
                    AddressKind::Email => {
                        self.counts.emails += 1;
                        self.push_placeholder(TokenKind::Email, "_email_", span);
                    }
                    AddressKind::Link(host) => {
                        self.counts.links += 1;
                        if !host.is_empty() {
                            self.hosts.push_str(&host);
                            self.host_ends.push(self.hosts.len() as u32);
                        }
                        self.push_placeholder(TokenKind::Link, "_url_", span);
                    }
                }
                return;
            }
        }
        self.words_in_chunk(chunk);
    }

    fn words_in_chunk(&mut self, chunk: Range<usize>) {
        // Most chunks are one word of letters: no leet to read, nothing held apart, one
        // piece that is the chunk itself. The general path below would copy it and cut
        // it to find just that.
        if self.folded[chunk.clone()]
            .iter()
            .all(|&c| is_letter(c) || is_combining_mark(c))
        {
            // The word is read from `folded`, which storing it does not touch.
            let folded = std::mem::take(&mut self.folded);
            self.push_word(&folded[chunk.clone()], chunk);
            self.folded = folded;
            return;
        }
        let base = chunk.start;
        let chars = &self.folded[chunk];
        // Leet: digits and a few symbols standing for letters between letters ("c4sino",
        // "v!agra", "fr33dom"). A digit run touching a letter on one side only ("100k",
        // "mp3") is a number with a unit and stays as it is.
        self.scratch.clear();
        let mut k = 0;
        while k < chars.len() {
            let c = chars[k];
            if leet_letter(c).is_some() && k > 0 && is_word_char(chars[k - 1]) && !chars[k - 1].is_ascii_digit() {
                let mut r = k;
                while r < chars.len() && leet_letter(chars[r]).is_some() {
                    r += 1;
                }
                if r - k <= 3 && r < chars.len() && is_letter(chars[r]) {
                    self.scratch
                        .extend(chars[k..r].iter().map(|&c| leet_letter(c).unwrap_or(c)));
                    k = r;
                    continue;
                }
                self.scratch.extend_from_slice(&chars[k..r]);
                k = r;
                continue;
            }
            self.scratch.push(c);
            k += 1;
        }

        if self.scratch.iter().any(|&c| masked::is_mask(c) || is_pictograph(c)) {
            read_masked_words(&mut self.scratch);
        }

        // Pieces: runs of word characters; pictographs are pieces of their own.
        self.pieces.clear();
        let mut only_joiners_between = true;
        let mut k = 0;
        let buf = &self.scratch;
        while k < buf.len() {
            let c = buf[k];
            if is_word_char(c) {
                let start = k;
                while k < buf.len() && is_word_char(buf[k]) {
                    k += 1;
                }
                self.pieces.push(start..k);
            } else if is_pictograph(c) {
                self.pieces.push(k..k + 1);
                only_joiners_between = false;
                k += 1;
            } else {
                if !is_joiner(c) {
                    only_joiners_between = false;
                }
                k += 1;
            }
        }
        // "n.h.à", "đ.m", "c-a-s-i-n-o": single letters held apart by punctuation are one word.
        // Leet digits count as letters here ("n.g.0"), as long as real letters are the majority.
        let single = |p: &Range<usize>| p.len() == 1 && (is_letter(buf[p.start]) || is_leet_digit(buf[p.start]));
        let real_letters = self
            .pieces
            .iter()
            .filter(|p| p.len() == 1 && is_letter(buf[p.start]))
            .count();
        let held_apart = self.pieces.len() >= 2 && only_joiners_between && self.pieces.iter().all(single);
        if held_apart {
            let first = self.pieces[0].start;
            let last = self.pieces[self.pieces.len() - 1].end;
            if mostly_letters(real_letters, self.pieces.len()) {
                let letters: Vec<char> = self
                    .pieces
                    .iter()
                    .map(|p| leet_letter(buf[p.start]).unwrap_or(buf[p.start]))
                    .collect();
                self.push_word(&letters, base + first..base + last);
                return;
            }
            // Too few real letters for a spelled-out word, yet written together they would
            // read as one in leet: "h.0.3.5" is "h035", "hoes".
            let together: Vec<char> = self.pieces.iter().map(|p| buf[p.start]).collect();
            let mut unleet = Vec::new();
            if fold_leet_at_edges(&together, &mut unleet) {
                self.push_word(&unleet, base + first..base + last);
                return;
            }
        }
        let pieces = std::mem::take(&mut self.pieces);
        let scratch = std::mem::take(&mut self.scratch);
        let mut unleet: Vec<char> = Vec::new();
        for piece in &pieces {
            let word = &scratch[piece.clone()];
            if word.len() == 1 && is_pictograph(word[0]) {
                self.push_token(TokenKind::Symbol, word, word, base + piece.start..base + piece.end);
            } else if fold_leet_at_edges(word, &mut unleet) {
                self.push_word(&unleet, base + piece.start..base + piece.end);
            } else {
                self.push_word(word, base + piece.start..base + piece.end);
            }
        }
        self.pieces = pieces;
        self.scratch = scratch;
    }

    /// Stores a word: stretched letters squashed in the toned form, then the plain form
    /// with diacritics removed and teencode expanded.
    fn push_word(&mut self, word: &[char], folded_span: Range<usize>) {
        // Most words have no stretched letters, so squashing would copy them unchanged;
        // an ASCII one is its own plain form as well (nothing to strip).
        if !has_stretched_letters(word) {
            if word.iter().all(char::is_ascii) {
                self.push_token(TokenKind::Word, word, word, folded_span);
            } else {
                let mut plain = std::mem::take(&mut self.word_plain);
                plain.clear();
                squash_into(word.iter().copied().filter_map(strip_diacritics), &mut plain);
                self.push_token(TokenKind::Word, word, &plain, folded_span);
                self.word_plain = plain;
            }
            return;
        }
        // Reused buffers: a comment has hundreds of words.
        let mut toned = std::mem::take(&mut self.word_toned);
        let mut plain = std::mem::take(&mut self.word_plain);
        toned.clear();
        plain.clear();
        squash_into(word.iter().copied(), &mut toned);
        squash_into(toned.iter().copied().filter_map(strip_diacritics), &mut plain);
        self.push_token(TokenKind::Word, &toned, &plain, folded_span);
        let stretched = toned.len() < word.len();
        self.word_toned = toned;
        self.word_plain = plain;
        if stretched {
            self.counts.stretched_words += 1;
            if let Some(token) = self.tokens.last_mut() {
                token.stretched = true;
            }
        }
    }

    fn push_token(&mut self, kind: TokenKind, toned: &[char], plain: &[char], folded_span: Range<usize>) {
        let toned_start = self.toned.len() as u32;
        match (kind == TokenKind::Word).then(|| unified_spelling(toned)).flatten() {
            Some(end) => {
                self.toned.extend(toned[..toned.len() - 2].iter());
                self.toned.extend(end);
            }
            None => self.toned.extend(toned.iter()),
        }
        let toned_range = toned_start..self.toned.len() as u32;
        let plain_start = self.plain.len() as u32;
        let plain_word_start = self.plain.len();
        self.plain.extend(plain.iter());
        if kind == TokenKind::Word
            && let Some(expansion) = teencode::expand(&self.plain[plain_word_start..])
        {
            self.plain.truncate(plain_word_start);
            self.plain.push_str(expansion);
        }
        let plain_range = plain_start..self.plain.len() as u32;
        let source = self.source_range(folded_span.clone());
        self.tokens.push(Token {
            kind,
            source,
            toned: toned_range,
            plain: plain_range,
            folded: folded_span.start as u32..folded_span.end as u32,
            compact: 0..0,
            stretched: false,
        });
    }

    fn push_placeholder(&mut self, kind: TokenKind, name: &str, folded_span: Range<usize>) {
        let toned_start = self.toned.len() as u32;
        self.toned.push_str(name);
        let plain_start = self.plain.len() as u32;
        self.plain.push_str(name);
        let source = self.source_range(folded_span.clone());
        self.tokens.push(Token {
            kind,
            source,
            toned: toned_start..self.toned.len() as u32,
            plain: plain_start..self.plain.len() as u32,
            folded: folded_span.start as u32..folded_span.end as u32,
            compact: 0..0,
            stretched: false,
        });
    }

    fn source_range(&self, folded_span: Range<usize>) -> Range<usize> {
        if folded_span.is_empty() {
            return 0..0;
        }
        let start = self.folded_source[folded_span.start] as usize;
        let last = self.folded_source[folded_span.end - 1] as usize;
        let end = last + self.text[last..].chars().next().map_or(0, char::len_utf8);
        start..end
    }

    /// "c a s i n o", "n h à c á i": three or more one-letter words in a row, each its own
    /// chunk, are one word spelled out. Two in a row are left alone: Vietnamese chat has
    /// real one-letter words ("e k biết").
    fn join_spaced_letters(&mut self) {
        let is_single_letter = |analysis: &Self, t: &Token| {
            t.kind == TokenKind::Word && {
                let mut chars = analysis.toned(t).chars();
                matches!((chars.next(), chars.next()), (Some(c), None) if is_letter(c) || is_leet_digit(c))
            }
        };
        let tokens = &self.tokens;
        let mut has_run = false;
        let mut run = 0;
        for t in tokens {
            if is_single_letter(self, t) {
                run += 1;
                if run >= 3 {
                    has_run = true;
                    break;
                }
            } else {
                run = 0;
            }
        }
        if !has_run {
            return;
        }
        let old = std::mem::take(&mut self.tokens);
        let mut i = 0;
        while i < old.len() {
            let mut j = i;
            while j < old.len() && is_single_letter(self, &old[j]) && whitespace_between(&self.text, &old, i, j) {
                j += 1;
            }
            let (run_start, run_end, before, after) = self.without_standalone_capitals(&old, i, j);
            self.tokens.extend(before.iter().cloned());
            let real_letters = old[run_start..run_end]
                .iter()
                .filter(|t| self.toned(t).chars().all(is_letter))
                .count();
            let typed: Vec<char> = old[run_start..run_end]
                .iter()
                .flat_map(|t| self.toned(t).chars())
                .collect();
            let mut unleet = Vec::new();
            let spelled_out = run_end - run_start >= 3 && mostly_letters(real_letters, run_end - run_start);
            // Too few real letters for a spelled-out word, yet written together they would
            // read as one in leet: "7 h 3 5 3" is "7h353", "these".
            if spelled_out || (run_end - run_start >= 3 && fold_leet_at_edges(&typed, &mut unleet)) {
                // Leet digits among spaced letters ("7 h 4 n g") read as letters.
                let letters: Vec<char> = if spelled_out {
                    typed.iter().map(|&c| leet_letter(c).unwrap_or(c)).collect()
                } else {
                    unleet
                };
                // "n g u q u á" is usually several words spelled out with one space between
                // every letter: cut it into English words where every piece is one ("f u c
                // k y o u"), else split it where Vietnamese syllables end, or keep it whole.
                let syllables = english::segment_words(&letters)
                    .or_else(|| segment_syllables(&letters))
                    .unwrap_or_else(|| std::iter::once(0..letters.len()).collect());
                for syllable in syllables {
                    let (first, last) = (&old[run_start + syllable.start], &old[run_start + syllable.end - 1]);
                    let source = first.source.start..last.source.end;
                    let folded = first.folded.start..last.folded.end;
                    let mut toned: Vec<char> = Vec::new();
                    squash_into(letters[syllable].iter().copied(), &mut toned);
                    let mut plain: Vec<char> = Vec::new();
                    squash_into(toned.iter().copied().filter_map(strip_diacritics), &mut plain);
                    if let Some(end) = unified_spelling(&toned) {
                        let n = toned.len();
                        toned[n - 2..].copy_from_slice(&end);
                    }
                    let toned_start = self.toned.len() as u32;
                    self.toned.extend(toned.iter());
                    let plain_start = self.plain.len() as u32;
                    self.plain.extend(plain.iter());
                    self.tokens.push(Token {
                        kind: TokenKind::Word,
                        source,
                        toned: toned_start..self.toned.len() as u32,
                        plain: plain_start..self.plain.len() as u32,
                        folded,
                        compact: 0..0,
                        stretched: false,
                    });
                }
                self.tokens.extend(after.iter().cloned());
                i = run_end + after.len();
            } else {
                // Not a spelled-out word: keep the tokens, and do not rescan this run (a long
                // run of single digits would otherwise cost quadratic time).
                let end = (run_end + after.len()).max(run_start + 1);
                self.tokens.extend(old[run_start..end].iter().cloned());
                i = end;
            }
        }
    }

    /// The run `old[i..j]` of spaced single letters without an English "I" typed as a
    /// capital at either end of an otherwise lower-case run: "I h a t e" is "I hate",
    /// "b i t c h I" is "bitch I". Returns the shorter run and the tokens left out before
    /// and after it.
    fn without_standalone_capitals<'t>(
        &self,
        old: &'t [Token],
        mut i: usize,
        mut j: usize,
    ) -> (usize, usize, &'t [Token], &'t [Token]) {
        let start = i;
        let end = j;
        let typed = |t: &Token| self.text[t.source.clone()].chars().next();
        let standalone_i = |t: &Token| typed(t) == Some('I');
        let lower = |t: &Token| typed(t).is_some_and(|c| !is_upper(c));
        if j - i >= 4 {
            if standalone_i(&old[i]) && old[i + 1..j].iter().all(lower) {
                i += 1;
            } else if standalone_i(&old[j - 1]) && old[i..j - 1].iter().all(lower) {
                j -= 1;
            }
        }
        (i, j, &old[start..i], &old[j..end])
    }

    fn build_surface_view(&mut self) {
        self.surface.clear();
        self.surface_owner.clear();
        let mut cursor = 0usize;
        for (i, t) in self.tokens.iter().enumerate() {
            let start = t.folded.start as usize;
            if start > cursor {
                self.surface.extend_from_slice(&self.folded[cursor..start]);
                self.surface_owner.extend(std::iter::repeat_n(None, start - cursor));
            }
            let before = self.surface.len();
            if t.kind == TokenKind::Word {
                self.surface
                    .extend(self.toned[t.toned.start as usize..t.toned.end as usize].chars());
            } else {
                self.surface
                    .extend_from_slice(&self.folded[t.folded.start as usize..t.folded.end as usize]);
            }
            let added = self.surface.len() - before;
            self.surface_owner.extend(std::iter::repeat_n(Some(i as u32), added));
            cursor = cursor.max(t.folded.end as usize);
        }
        if cursor < self.folded.len() {
            self.surface.extend_from_slice(&self.folded[cursor..]);
            self.surface_owner
                .extend(std::iter::repeat_n(None, self.folded.len() - cursor));
        }
    }

    /// Also counts the words, after spelled-out runs were joined.
    fn build_compact_view(&mut self) {
        self.compact.clear();
        for t in &mut self.tokens {
            if t.kind != TokenKind::Word {
                continue;
            }
            let plain = &self.plain[t.plain.start as usize..t.plain.end as usize];
            let toned = &self.toned[t.toned.start as usize..t.toned.end as usize];
            let start = self.compact.len() as u32;
            if plain.is_ascii() {
                // No decoding needed; teencode expansions ("nguoi yeu") hold the spaces.
                self.compact
                    .extend(plain.bytes().map(char::from).filter(|c| !c.is_whitespace()));
            } else {
                self.compact.extend(plain.chars().filter(|c| !c.is_whitespace()));
            }
            t.compact = start..self.compact.len() as u32;
            self.counts.words += 1;
            // Vietnamese's own letters are all outside ASCII.
            let has_vietnamese_letter = !toned.is_ascii() && toned.chars().any(is_vietnamese_letter);
            if has_vietnamese_letter || is_common_unaccented_syllable(plain) {
                self.counts.vietnamese_words += 1;
            }
        }
    }
}

/// Splits letters into Vietnamese syllables (onset, vowels, optional final consonant),
/// or `None` when they do not read as a sequence of syllables ("bitch", "fuck"). A
/// consonant before a vowel starts the next syllable ("bana" -> "ba na"), so a few real
/// words split differently ("anhem" -> "a nhem"); the compact view is the same either way.
/// True when every character of `text` is one that NFC leaves as it is wherever it
/// stands: Latin with Vietnamese's precomposed letters, common punctuation, symbols and
/// emoji (the ranges `PLAINLY_NFC` lists, each held to the Unicode tables by a test).
/// Vietnamese and English comments typed on phones are almost always only these. Reads
/// bytes: each range is a set of UTF-8 prefixes, so nothing needs decoding.
fn is_plainly_nfc(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        // Every lead byte matched below starts a sequence of the length given, so the
        // continuation bytes read are there (`text` is valid UTF-8).
        i += match bytes[i] {
            0x00..=0x7F => 1,
            // U+0080-U+02FF.
            0xC2..=0xCB => 2,
            // U+1E00-U+1EFF: E1 B8 80 to E1 BB BF.
            0xE1 if matches!(bytes[i + 1], 0xB8..=0xBB) => 3,
            0xE2 => match (bytes[i + 1], bytes[i + 2]) {
                // U+200B-U+200F.
                (0x80, 0x8B..=0x8F) => 3,
                // U+2010-U+203F.
                (0x80, 0x90..=0xBF) => 3,
                // U+20E3, the keycap of "1️⃣".
                (0x83, 0xA3) => 3,
                // The angle brackets U+2329 and U+232A and U+2ADC (forking), which NFC
                // replaces, are the exceptions in U+2180-U+2BFF.
                (0x8C, 0xA9 | 0xAA) | (0xAB, 0x9C) => return false,
                // U+2180-U+2BFF: E2 86 80 to E2 AF BF.
                (0x86..=0xAF, _) => 3,
                _ => return false,
            },
            // U+FE00-U+FE0F: EF B8 80 to EF B8 8F.
            0xEF if bytes[i + 1] == 0xB8 && bytes[i + 2] <= 0x8F => 3,
            // U+1F000-U+1FAFF: F0 9F 80 80 to F0 9F AB BF.
            0xF0 if bytes[i + 1] == 0x9F && matches!(bytes[i + 2], 0x80..=0xAB) => 4,
            _ => return false,
        };
    }
    true
}

/// Appends the NFC form of `text` to `out`, running the composing iterator only over the
/// stretches that can change: from the last composition boundary before a character that
/// may compose, reorder or decompose to the first boundary after it. Everything else is
/// copied. One stray combining mark or slashed sign ("≠" typed as "=" and U+0338) used to
/// send a whole comment through the iterator, which cost as much as the rest of its
/// analysis (callgrind, 2,000-character comments).
fn push_nfc(text: &str, out: &mut String) {
    out.reserve(text.len());
    let mut copied = 0;
    let mut boundary = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        if is_composition_boundary(c) {
            boundary = at;
            continue;
        }
        let mut end = text.len();
        while let Some(&(next_at, next)) = chars.peek() {
            if is_composition_boundary(next) {
                end = next_at;
                break;
            }
            chars.next();
        }
        out.push_str(&text[copied..boundary]);
        out.extend(text[boundary..end].nfc());
        copied = end;
        boundary = end;
    }
    out.push_str(&text[copied..]);
}

/// True when NFC never joins `c` to what comes before it, nor moves anything across it,
/// and leaves `c` as it is: a starter (combining class 0) whose quick-check value is Yes
/// (characters that can compose with a preceding one are "Maybe" by definition). The text
/// on either side of such a character normalizes independently.
fn is_composition_boundary(c: char) -> bool {
    c.is_ascii()
        || (unicode_normalization::char::canonical_combining_class(c) == 0
            && is_nfc_quick(std::iter::once(c)) == IsNormalized::Yes)
}

/// The code points [`is_plainly_nfc`] accepts.
#[cfg(test)]
const PLAINLY_NFC: [std::ops::RangeInclusive<u32>; 10] = [
    0x0000..=0x02FF,
    0x1E00..=0x1EFF,
    0x200B..=0x200F,
    0x2010..=0x203F,
    0x20E3..=0x20E3,
    0x2180..=0x2328,
    0x232B..=0x2ADB,
    0x2ADD..=0x2BFF,
    0xFE00..=0xFE0F,
    0x1F000..=0x1FAFF,
];

fn segment_syllables(letters: &[char]) -> Option<Vec<Range<usize>>> {
    const ONSETS: &[&str] = &[
        "ngh", "ng", "gh", "gi", "kh", "nh", "ph", "th", "tr", "ch", "qu", "b", "c", "d", "g", "h", "k", "l", "m", "n",
        "p", "r", "s", "t", "v", "x",
    ];
    const CODAS: &[&str] = &["ng", "nh", "ch", "c", "m", "n", "p", "t"];
    let plain: Vec<char> = letters.iter().map(|&c| strip_diacritics(c).unwrap_or(c)).collect();
    let is_vowel = |k: usize| {
        plain
            .get(k)
            .is_some_and(|c| matches!(c, 'a' | 'e' | 'i' | 'o' | 'u' | 'y'))
    };
    let matches_at = |k: usize, part: &str| {
        let mut chars = part.chars();
        (0..part.len()).all(|d| plain.get(k + d).copied() == chars.next())
    };
    let mut syllables = Vec::new();
    let mut k = 0;
    while k < plain.len() {
        let start = k;
        if let Some(onset) = ONSETS.iter().find(|o| matches_at(k, o) && is_vowel(k + o.len())) {
            k += onset.len();
        }
        if !is_vowel(k) {
            return None;
        }
        while is_vowel(k) {
            k += 1;
        }
        if let Some(coda) = CODAS.iter().find(|c| matches_at(k, c) && !is_vowel(k + c.len())) {
            k += coda.len();
        }
        if k - start > 7 {
            return None;
        }
        syllables.push(start..k);
    }
    (syllables.len() > 1).then_some(syllables)
}

/// Tokens `from..=to` of a spelled-out run must be separated by whitespace only.
/// The digit a letter stands for inside a phone number ("O" for 0, "l" or "I" for 1;
/// both are lowercase once folded).
fn stands_for_digit(c: char) -> Option<u8> {
    match c {
        'o' => Some(b'0'),
        'l' | 'i' => Some(b'1'),
        _ => None,
    }
}

/// Whether `digits` digits starting with `prefix` make a whole phone number.
fn is_phone_length(plus: bool, prefix: [u8; 4], digits: usize) -> bool {
    if plus {
        return (8..=15).contains(&digits);
    }
    match prefix {
        [b'0', ..] => (10..=11).contains(&digits),
        [b'8', b'4', ..] => (11..=12).contains(&digits),
        [b'1', b'8' | b'9', b'0', b'0'] => digits == 8 || digits == 10,
        _ => false,
    }
}

/// How many characters at the start of `rest` separate two digit groups of a phone
/// number: one space, dot, dash, parenthesis, asterisk or underscore, or a parenthesis
/// beside a space ("(+84) 912", "028 (3822)"). Slashes and commas are not: they write
/// dates and amounts ("20/11/2026", "10,000,000").
fn phone_separator(rest: &[char]) -> usize {
    match rest {
        [')', ' ', ..] | [' ', '(', ..] => 2,
        [' ' | '.' | '-' | '(' | ')' | '*' | '_', ..] => 1,
        _ => 0,
    }
}

fn whitespace_between(text: &str, tokens: &[Token], from: usize, to: usize) -> bool {
    if to == from {
        return true;
    }
    let gap = &text[tokens[to - 1].source.end..tokens[to].source.start];
    // Spaces, or spaces around joiners: "b i t c h", "b . i . t . c . h", "b - i - t".
    gap.chars().any(char::is_whitespace) && gap.chars().all(|c| c.is_whitespace() || is_joiner(c))
}

/// Whether a run of single characters spelled out ("n.g.0", "7 0 n 1 g h 7") reads as a
/// word: at least two real letters, and at least 40% of the run (a word in heavy leet
/// has as many digits as letters; "1 2 3" or "a 1 1 1 1 1 b" is not a word).
fn mostly_letters(real_letters: usize, run: usize) -> bool {
    real_letters >= 2 && real_letters * 5 >= run * 2
}

/// Copies `chars` squashing runs of three or more equal letters to one ("nguuuu" -> "ngu",
/// "đẹppppp" -> "đẹp"). Doubled letters stay ("good", "xoong"); digits are never squashed
/// (phone numbers and prices repeat digits).
/// Whether [`squash_into`] would shorten `word`: a letter typed three times in a row.
fn has_stretched_letters(word: &[char]) -> bool {
    word.windows(3).any(|w| w[0] == w[1] && w[1] == w[2] && is_letter(w[0]))
}

fn squash_into(chars: impl Iterator<Item = char>, out: &mut Vec<char>) {
    let start = out.len();
    let mut run = 0usize;
    for c in chars {
        if out.len() > start && out[out.len() - 1] == c && is_letter(c) {
            run += 1;
            if run == 2 {
                // Third in a row: collapse the run to its first letter.
                out.pop();
            }
            if run >= 2 {
                continue;
            }
        } else {
            run = 0;
        }
        out.push(c);
    }
}

/// Writes each masked word of `chars` ("f*ck", "l*n") as the word it stands for, in place:
/// a reading has the pattern's length, so every character keeps its place. An emoji
/// between two letters masks one too ("f🤬ck").
fn read_masked_words(chars: &mut [char]) {
    let is_letter_at = |chars: &[char], k: usize| chars.get(k).is_some_and(|&c| is_letter(c));
    let mut pattern: Vec<char> = Vec::new();
    let mut k = 0;
    while k < chars.len() {
        let part_of_word = |chars: &[char], k: usize| {
            let c = chars[k];
            is_word_char(c)
                || masked::is_mask(c)
                || (is_pictograph(c) && k > 0 && is_letter_at(chars, k - 1) && is_letter_at(chars, k + 1))
        };
        if !part_of_word(chars, k) {
            k += 1;
            continue;
        }
        let start = k;
        while k < chars.len() && part_of_word(chars, k) {
            k += 1;
        }
        pattern.clear();
        pattern.extend(chars[start..k].iter().map(|&c| if is_pictograph(c) { '*' } else { c }));
        // A hashtag keeps its '#', which the pieces below drop as they drop any mark.
        let (from, word) = match masked::unmask(&pattern) {
            Some(word) => (start, Some(word)),
            None => (start + 1, masked::unmask_hashtag(&pattern)),
        };
        if let Some(word) = word {
            for (slot, letter) in chars[from..k].iter_mut().zip(word.chars()) {
                *slot = letter;
            }
        }
    }
}

fn is_word_char(c: char) -> bool {
    is_letter_or_digit(c) || is_combining_mark(c)
}

/// Punctuation that spammers put between the letters of one word.
fn is_joiner(c: char) -> bool {
    matches!(
        c,
        '.' | '-' | '_' | '*' | '\'' | '`' | '~' | '^' | '+' | '|' | '/' | '\\' | ',' | '’' | '•' | '·'
    )
}

/// Leet at a word's edges, where digits have letters on one side only: "ch0" -> "cho",
/// "4nh" -> "anh", "7h4ng" -> "thang", "5h1t" -> "shit" (the middle was folded before).
/// Numbers with units stay numbers ("5tr", "100k", "3kg", "5sao"), as do codes whose
/// digits are not letter look-alikes or that are too short to tell ("u23", "u17", "covid19").
/// Returns false (and leaves `out` alone) when nothing changes.
fn fold_leet_at_edges(word: &[char], out: &mut Vec<char>) -> bool {
    let n = word.len();
    // Most words have no digit at either edge: nothing to read.
    if !word.first().is_some_and(|&c| is_leet_digit(c)) && !word.last().is_some_and(|&c| is_leet_digit(c)) {
        return false;
    }
    let lead = word.iter().take_while(|&&c| is_leet_digit(c)).count().min(3);
    // Long trailing runs are stretched leet ("h0333333", "ch3777"), squashed afterwards.
    let trail = word.iter().rev().take_while(|&&c| is_leet_digit(c)).count().min(8);
    // "top10", "win10", "x100": a count after a word, not "io".
    let trail = if trail > 0 && word[n - trail] == '1' && word[n - trail..].iter().all(|&c| matches!(c, '0' | '1')) {
        0
    } else {
        trail
    };
    if lead == n || lead + trail >= n {
        return false;
    }
    let middle = &word[lead..n - trail];
    let letters = middle.iter().filter(|&&c| is_letter(c)).count();
    // "u17" and "h15" could be codes; one letter between four characters ("541d") is not,
    // nor one letter before a vowel look-alike ("h03", "d30": 0 and 3 read as o and e).
    let vowel_lookalike = word[n - trail..].iter().any(|&c| matches!(c, '0' | '3'));
    // A zero before one letter reads as "o" ("0c ch0" is "óc chó") unless the letter is a
    // unit ("0h", "0đ"), which the unit check below keeps a number.
    let zero_before_letter = n == 2 && word[0] == '0';
    let enough_letters = letters >= 2 || (letters == 1 && (n >= 4 || vowel_lookalike || zero_before_letter));
    if !enough_letters || !middle.iter().all(|&c| is_letter(c) || is_combining_mark(c)) {
        return false;
    }
    // A number followed by a unit ("100k", "5tr") is a number, whatever the digits.
    let lead = if lead > 0 && is_unit(&word[lead..]) { 0 } else { lead };
    if lead == 0 && trail == 0 {
        return false;
    }
    out.clear();
    out.extend(word.iter().enumerate().map(|(k, &c)| {
        if k < lead || k >= n - trail {
            leet_letter(c).unwrap_or(c)
        } else {
            c
        }
    }));
    true
}

/// Units and counters written right after a number ("5tr", "3kg", "5sao", "2tuổi").
fn is_unit(letters: &[char]) -> bool {
    if letters.len() > 5 {
        return false;
    }
    let mut buf = [0u8; 5];
    for (i, &c) in letters.iter().enumerate() {
        match strip_diacritics(c) {
            Some(b) if b.is_ascii() => buf[i] = b.to_ascii_lowercase() as u8,
            _ => return false,
        }
    }
    matches!(
        &buf[..letters.len()],
        b"k" | b"tr"
            | b"ty"
            | b"cu"
            | b"m"
            | b"cm"
            | b"mm"
            | b"km"
            | b"kg"
            | b"g"
            | b"gb"
            | b"mb"
            | b"tb"
            | b"h"
            | b"p"
            | b"s"
            | b"d"
            | b"vnd"
            | b"usd"
            | b"th"
            | b"x"
            | b"l"
            | b"ml"
            | b"lit"
            | b"ngan"
            | b"nghin"
            | b"trieu"
            | b"ti"
            | b"sao"
            | b"tuoi"
            | b"nam"
            | b"thang"
            | b"ngay"
            | b"phut"
            | b"gio"
            | b"lan"
            | b"cai"
            | b"con"
            | b"ve"
            | b"tang"
            | b"st"
            | b"nd"
            | b"rd"
            | b"am"
            | b"pm"
            | b"kw"
            | b"hz"
            | b"mp"
    )
}

fn is_leet_digit(c: char) -> bool {
    matches!(c, '0' | '1' | '3' | '4' | '5' | '7')
}

fn leet_letter(c: char) -> Option<char> {
    Some(match c {
        '0' => 'o',
        '1' | '!' => 'i',
        '3' => 'e',
        '4' | '@' => 'a',
        '5' | '$' => 's',
        '7' => 't',
        '8' => 'b',
        '9' => 'g',
        '|' => 'l',
        _ => return None,
    })
}

/// Emoji and other pictographic symbols (the ranges that Unicode's emoji data uses most).
pub(crate) fn is_pictograph(c: char) -> bool {
    matches!(c as u32,
        0x2190..=0x21FF | 0x2300..=0x23FF | 0x2460..=0x24FF | 0x25A0..=0x27BF | 0x2900..=0x297F
        | 0x2B00..=0x2BFF | 0x3030 | 0x303D | 0x3297 | 0x3299 | 0x1F000..=0x1FAFF)
}

enum AddressKind {
    Email,
    /// A link and its host (empty when the dataset replaced the URL by "<url>").
    Link(String),
}

/// Top-level domains common in spam seen in Vietnamese and English comments, plus the
/// generic ones; a bare "word.tld" with one of these is treated as a link.
const LINK_TLDS: &[&str] = &[
    "com", "net", "org", "vn", "info", "biz", "xyz", "top", "me", "io", "co", "ly", "gl", "tk", "ml", "ga", "cf",
    "online", "site", "club", "shop", "store", "link", "live", "tv", "cc", "asia", "app", "dev", "pro", "vip", "bet",
    "win", "fun", "life", "world", "today", "click", "us", "uk", "ru", "cn", "in", "edu", "gov", "be", "to", "gg",
    "so",
];

/// What `core` (a chunk with the prose around it trimmed) is, if an address. Every address
/// it recognises holds a '.', '@', ':' or '<' ("<url>", "://", "www.", e-mail, "word.tld"),
/// which lets `chunk` skip the rest.
fn address_kind(core: &str) -> Option<AddressKind> {
    if core == "<url>" {
        return Some(AddressKind::Link(String::new()));
    }
    if let Some(rest) = core.split_once("://").map(|(_, r)| r) {
        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
        return Some(AddressKind::Link(strip_www(host).to_string()));
    }
    if let Some(rest) = core.strip_prefix("www.") {
        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
        return Some(AddressKind::Link(host.to_string()));
    }
    if let Some((user, domain)) = core.split_once('@') {
        let valid_user = !user.is_empty() && user.chars().all(|c| c.is_alphanumeric() || "._%+-".contains(c));
        if valid_user && is_domain(domain, false) {
            return Some(AddressKind::Email);
        }
        return None;
    }
    let host = core.split(['/', '?', '#']).next().unwrap_or("");
    if is_domain(host, true) {
        return Some(AddressKind::Link(host.to_string()));
    }
    None
}

fn strip_www(host: &str) -> &str {
    host.strip_prefix("www.").unwrap_or(host)
}

/// "zalo.me", "abc.com.vn": dot-separated labels of letters, digits and dashes ending in a
/// top-level domain. For e-mail any alphabetic TLD of two or more letters is accepted; for
/// bare links only the known list, so "tp.hcm" or "v.v" stay words.
fn is_domain(host: &str, known_tld_only: bool) -> bool {
    let mut labels = host.split('.');
    let Some(tld) = host.rsplit('.').next() else {
        return false;
    };
    let label_count = host.split('.').count();
    if label_count < 2 || !labels.all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')) {
        return false;
    }
    if known_tld_only {
        LINK_TLDS.contains(&tld)
    } else {
        tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic())
    }
}

/// Frequent Vietnamese syllables that are not English words, as typed without accents;
/// they let the language signal see unaccented Vietnamese.
fn is_common_unaccented_syllable(plain: &str) -> bool {
    matches!(
        plain,
        "khong"
            | "nguoi"
            | "duoc"
            | "cua"
            | "nhung"
            | "mot"
            | "cho"
            | "voi"
            | "cac"
            | "trong"
            | "nhieu"
            | "lam"
            | "thi"
            | "roi"
            | "con"
            | "chi"
            | "anh"
            | "em"
            | "minh"
            | "ban"
            | "nay"
            | "cung"
            | "nhu"
            | "nhe"
            | "nha"
            | "qua"
            | "vay"
            | "gi"
            | "di"
            | "ve"
            | "ra"
            | "vao"
            | "biet"
            | "thay"
            | "noi"
            | "lai"
            | "tien"
            | "viec"
            | "hay"
            | "dep"
            | "mua"
            | "gia"
            | "ngay"
            | "nam"
            | "thang"
            | "tot"
            | "xau"
            | "ngu"
            | "oc"
            | "dm"
            | "vl"
            | "vcl"
            | "dit"
            | "may"
            | "tao"
            | "moi"
            | "luon"
            | "chua"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        let a = TextAnalysis::of(text);
        a.tokens().iter().map(|t| a.toned(t).to_string()).collect()
    }

    fn plain_words(text: &str) -> Vec<String> {
        let a = TextAnalysis::of(text);
        a.tokens().iter().map(|t| a.plain(t).to_string()).collect()
    }

    fn compact(text: &str) -> String {
        TextAnalysis::of(text).compact().iter().collect()
    }

    #[test]
    fn the_plainly_nfc_characters_are_stable_under_nfc() {
        use unicode_normalization::char::canonical_combining_class;
        for code in PLAINLY_NFC.into_iter().flatten() {
            let Some(c) = char::from_u32(code) else { continue };
            let one = c.to_string();
            assert!(is_plainly_nfc(&one), "U+{code:04X} should take the fast path");
            // Quick-check Yes and no combining class: NFC never changes the character,
            // nor composes it with or reorders it against its neighbours.
            assert_eq!(is_nfc_quick(one.chars()), IsNormalized::Yes, "U+{code:04X}");
            assert_eq!(canonical_combining_class(c), 0, "U+{code:04X}");
        }
        // Just outside each range, and the characters NFC does change, take the slow path.
        let outside = [
            '\u{0300}',
            '\u{0301}',
            '\u{1DFF}',
            '\u{1F00}',
            '\u{2000}',
            '\u{2001}',
            '\u{2040}',
            '\u{20E2}',
            '\u{20E4}',
            '\u{212B}',
            '\u{2329}',
            '\u{232A}',
            '\u{2ADC}',
            '\u{2C00}',
            '\u{FE10}',
            '\u{1FB00}',
            'Ω',
            '中',
        ];
        // Every code point outside the list, up to U+2FFFF, takes the slow path.
        let listed = |code: u32| PLAINLY_NFC.iter().any(|r| r.contains(&code));
        for code in (0..=0x2FFFFu32).filter(|&code| !listed(code)) {
            if let Some(c) = char::from_u32(code) {
                assert!(!is_plainly_nfc(&c.to_string()), "U+{code:04X} is not listed");
            }
        }
        for c in outside {
            assert!(!is_plainly_nfc(&format!("abc{c}")), "U+{:04X}", c as u32);
        }
        assert!(is_plainly_nfc("Tiếng Việt có dấu — “được” chứ… Đúng!"));
        assert!(is_plainly_nfc(""));
    }

    /// `push_nfc` appended to a buffer that already holds something, as `analyze` uses it.
    fn pushed_nfc(text: &str) -> String {
        let mut out = String::from("x");
        push_nfc(text, &mut out);
        out.split_off(1)
    }

    #[test]
    fn composing_only_the_stretches_that_can_change_gives_nfc() {
        // Neighbours that compose with, reorder against or block what they touch: Latin
        // with tone marks, Hangul jamo and syllables, Oriya and Arabic letters that take
        // a following vowel sign or mark, the slash overlay of "≠".
        let before = [
            "", "a", "e\u{301}", "\u{1100}", "\u{AC00}", "\u{0B47}", "\u{0627}", "\u{3099}",
        ];
        let after = [
            "",
            "b",
            "\u{301}",
            "\u{323}\u{302}",
            "\u{1161}",
            "\u{11A8}",
            "\u{0B3E}",
            "\u{338}",
            "\u{0654}",
        ];
        let mut checked = 0;
        for code in 0..=0x2FFFFu32 {
            let Some(c) = char::from_u32(code) else { continue };
            // Characters that are not boundaries, and every sixteenth boundary, meet every
            // neighbour. The other boundaries meet a letter and a leading jamo before them,
            // which a character wrongly taken for a boundary would compose with.
            let pairs: Vec<(&str, &str)> = if is_composition_boundary(c) && code % 16 != 0 {
                vec![("a", "\u{301}"), ("\u{1100}", "\u{1161}")]
            } else {
                before
                    .iter()
                    .flat_map(|b| after.iter().map(move |a| (*b, *a)))
                    .collect()
            };
            for (b, a) in pairs {
                let text = format!("{b}{c}{a}");
                assert_eq!(pushed_nfc(&text), text.nfc().collect::<String>(), "{text:?}");
                checked += 1;
            }
        }
        assert!(checked > 400_000, "{checked}");

        // Random strings over an alphabet of troublemakers, and Vietnamese in NFD.
        let alphabet: Vec<char> = "aeoAEOuy dđĐ.,1ễộươ\u{300}\u{301}\u{303}\u{309}\u{323}\u{302}\u{306}\u{31B}\u{338}=\u{1100}\u{1161}\u{11A8}\u{AC00}\u{212B}\u{2126}\u{0344}\u{0F73}\u{0B47}\u{0B3E}\u{20E3}\u{FE0F}😀"
            .chars()
            .collect();
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = (state % 12) as usize;
            let text: String = (0..len)
                .map(|i| alphabet[((state >> (8 + 4 * i)) as usize ^ (i * 31)) % alphabet.len()])
                .collect();
            assert_eq!(pushed_nfc(&text), text.nfc().collect::<String>(), "{text:?}");
        }
        let vietnamese = "Nhà cái uy tín, nạp lần đầu tặng 100%! Đừng để bị lừa nhé các bạn ơi.";
        let nfd: String = vietnamese.nfd().collect();
        assert_eq!(pushed_nfc(&nfd), vietnamese);
        assert_eq!(pushed_nfc(""), "");
    }

    #[test]
    fn nfd_input_gives_the_same_tokens_as_nfc() {
        let nfc = "Nhà cái uy tín";
        let nfd: String = nfc.nfd().collect();
        assert_ne!(nfc, nfd);
        assert_eq!(words(&nfd), words(nfc));
        assert_eq!(words(nfc), ["nhà", "cái", "uy", "tín"]);
    }

    #[test]
    fn profanity_abbreviation_variants_share_a_plain_form() {
        for variant in ["đm", "dm", "đ.m", "d.m", "Đ.M", "ĐM", "đ-m", "d*m"] {
            assert_eq!(plain_words(variant), ["dm"], "{variant}");
        }
    }

    #[test]
    fn spelled_out_and_unaccented_forms_share_a_compact_form() {
        for variant in [
            "nhà cái",
            "nha cai",
            "n.h.à c.á.i",
            "NHÀ CÁI",
            "n h à c á i",
            "nhà cáiiiii",
            "nhacai",
        ] {
            assert_eq!(compact(variant), "nhacai", "{variant}");
        }
        // Letters spaced out across several words are split back into syllables.
        assert_eq!(words("thằng n g u q u á"), ["thằng", "ngu", "quá"]);
        assert_eq!(words("n h à c á i uy tín"), ["nhà", "cái", "uy", "tín"]);
        assert_eq!(words("b i t c h"), ["bitch"]);
        // English words spelled out one after another are cut where every piece is a word;
        // the Vietnamese syllable rule would read "bit cha bout".
        assert_eq!(words("f u c k y o u"), ["fuck", "you"]);
        assert_eq!(words("s l a p a h o e"), ["slap", "a", "hoe"]);
        assert_eq!(words("b i t c h a b o u t it"), ["bitch", "about", "it"]);
        assert_eq!(words("c a s i n o"), ["ca", "si", "no"]);
        assert_eq!(words("7 h 4 n g n.g.u"), ["thang", "ngu"]);
        assert_eq!(words("1 2 3 4"), ["1", "2", "3", "4"]);
        assert_eq!(words("a b 1 1 1 1 1 c"), ["a", "b", "1", "1", "1", "1", "1", "c"]);
        // Spaced with joiners around, and leet among spaced or dotted letters.
        assert_eq!(words("b . i . t . c . h"), ["bitch"]);
        assert_eq!(words("7 0 n 1 g h 7"), ["tonight"]);
        assert_eq!(words("b.1.7.c.h.3.5"), ["bitches"]);
        assert_eq!(words("1 . 2 . 3"), ["1", "2", "3"]);
        assert_eq!(plain_words("n.h.à c.á.i"), ["nha", "cai"]);
        assert_eq!(words("n.h.à c.á.i"), ["nhà", "cái"]);
    }

    #[test]
    fn leet_words_held_apart_read_as_the_word_written_together() {
        // One real letter among look-alike digits: too few for a spelled-out word, but
        // "h035" and "7h353" read as words, so their dotted and spaced forms do too.
        assert_eq!(words("0 h.0.3.5."), ["0", "hoes"]);
        assert_eq!(words("h.0.3.5 swear"), ["hoes", "swear"]);
        // Spaced runs are then split where Vietnamese syllables end, as spelled-out ones are.
        assert_eq!(compact("7 h 3 5 3 h.0.3.5"), "thesehoes");
        assert_eq!(words("5 h 1 7"), ["shit"]);
        assert_eq!(words("h.0.3"), ["hoe"]);
        // Codes, versions and numbers stay as typed.
        assert_eq!(words("u.1.7"), ["u", "1", "7"]);
        assert_eq!(words("v 1 0"), ["v", "1", "0"]);
        assert_eq!(words("1 2 3 4 5"), ["1", "2", "3", "4", "5"]);
    }

    #[test]
    fn a_capital_i_beside_spaced_letters_stays_a_word_of_its_own() {
        assert_eq!(words("sober b i t c h I party"), ["sober", "bitch", "i", "party"]);
        assert_eq!(words("I s u c k at this"), ["i", "suck", "at", "this"]);
        // Capitals throughout are one spelled-out word, capital I included.
        assert_eq!(words("B I T C H"), ["bitch"]);
    }

    #[test]
    fn cyrillic_a_in_latin_words_is_folded() {
        // The first "а" is U+0430 CYRILLIC SMALL LETTER A.
        assert_eq!(words("cаsino bоnus"), ["casino", "bonus"]);
    }

    #[test]
    fn leet_digits_inside_words_are_letters_but_numbers_stay_numbers() {
        assert_eq!(words("c4sino fr33dom v!agra"), ["casino", "freedom", "viagra"]);
        assert_eq!(
            words("100k u23 2024 5tr 3kg 5sao"),
            ["100k", "u23", "2024", "5tr", "3kg", "5sao"]
        );
        assert_eq!(
            words("ch0 4nh 7h4ng ng0 4ss h15 u17 541d"),
            ["cho", "anh", "thang", "ngo", "ass", "h15", "u17", "541d"]
        );
        // A zero before one letter: "o", unless the letter is a unit.
        assert_eq!(words("0c ch0 0h 0đ 0k 3c"), ["oc", "cho", "0h", "0đ", "0k", "3c"]);
        // Trailing runs of look-alikes: "h03", "h035", "l1k3333" (then squashed), "đ30".
        assert_eq!(
            words("h03 h035 l1k3333 đ30 u19 top10 g14444 ch3777777"),
            ["hoe", "hoes", "like", "đeo", "u19", "top10", "gia", "chet"]
        );
    }

    #[test]
    fn masked_words_read_as_the_word_and_keep_their_place() {
        assert_eq!(words("f*ck you"), ["fuck", "you"]);
        assert_eq!(words("what the f**k!"), ["what", "the", "fuck"]);
        assert_eq!(words("thằng l*n này"), ["thằng", "lồn", "này"]);
        assert_eq!(plain_words("Đ*t mẹ"), ["dit", "me"]);
        assert_eq!(compact("a**hole"), "asshole");
        // Emphasis, ratings and hashtags are not masks.
        assert_eq!(words("*grins* 5* #tiktok"), ["grins", "5", "tiktok"]);
        assert_eq!(words("#p*ssy đ* m*"), ["pussy", "đm", "mẹ"]);
        // An emoji between letters masks one; elsewhere it is an emoji.
        assert_eq!(words("f🤬ck you 🤬"), ["fuck", "you", "🤬"]);
        assert_eq!(words("hay😍quá"), ["hay", "😍", "quá"]);
        let a = TextAnalysis::of("ok f*ck");
        assert_eq!(&a.text()[a.tokens()[1].source.clone()], "f*ck");
    }

    #[test]
    fn marks_that_compose_with_nothing_are_dropped() {
        // Strike-through (U+0336) and slash (U+0337) overlays, and a Zalgo stack.
        assert_eq!(words("f\u{336}u\u{336}c\u{336}k\u{336} you"), ["fuck", "you"]);
        assert_eq!(words("đ\u{337}m\u{337} m\u{337}à\u{337}y\u{337}"), ["đm", "mày"]);
        assert_eq!(words("n\u{30d}\u{34e}g\u{31a}u\u{35b}\u{346}"), ["ngu"]);
        // Tone marks typed as combining marks still compose into the letter.
        assert_eq!(words("ma\u{300}y"), ["mày"]);
    }

    #[test]
    fn stretched_letters_are_squashed_but_doubles_kept() {
        assert_eq!(words("nguuuuuu quáááá good"), ["ngu", "quá", "good"]);
    }

    /// `push_word` skips squashing the words `has_stretched_letters` clears: it must clear
    /// exactly the words squashing leaves as they are.
    #[test]
    fn the_stretch_check_agrees_with_squashing() {
        for word in [
            "",
            "a",
            "aa",
            "aaa",
            "good",
            "goood",
            "100",
            "1000",
            "x1000",
            "ưư",
            "ưưư",
            "quááá",
            "kkk",
            "kk",
            "abccc",
            "aaab",
            "ab",
            "đđđ",
            "a\u{301}\u{301}\u{301}",
        ] {
            let chars: Vec<char> = word.chars().collect();
            let mut squashed = Vec::new();
            squash_into(chars.iter().copied(), &mut squashed);
            assert_eq!(has_stretched_letters(&chars), squashed != chars, "{word:?}");
        }
    }

    #[test]
    fn teencode_expands_in_the_plain_view_only() {
        assert_eq!(plain_words("ko dc j"), ["khong", "duoc", "gi"]);
        assert_eq!(words("ko dc j"), ["ko", "dc", "j"]);
    }

    #[test]
    fn both_spellings_of_a_word_read_as_one() {
        // Old and new tone placement, and "y" or "i": one word in every view.
        assert_eq!(words("Hoà bình, khoẻ không"), words("Hòa bình, khỏe không"));
        assert_eq!(words("lý do kỹ thuật Thuỷ"), ["lí", "do", "kĩ", "thuật", "thủy"]);
        assert_eq!(words("l ý d o"), words("lí do"));
        assert_eq!(plain_words("lý ly lí li"), ["li", "li", "li", "li"]);
        assert_eq!(plain_words("hoà hòa hoa"), ["hoa", "hoa", "hoa"]);
        assert_eq!(compact("kỹ sư"), compact("ki su"));
        // "mỹ" keeps its "y" in the plain view, where it meets the English "my".
        assert_eq!(plain_words("mỹ my"), ["my", "my"]);
        let surface = |text: &str| TextAnalysis::of(text).surface().iter().collect::<String>();
        assert_eq!(surface("Hoà bình!"), "hòa bình!");
    }

    #[test]
    fn finds_vietnamese_and_international_phone_numbers() {
        for text in [
            "lh 0912345678 nhé",
            "lh 0912 345 678 nhé",
            "lh 0912.345.678 nhé",
            "lh +84 912 345 678 nhé",
            "lh 84912345678",
            "hotline 1900 1234",
            "call +1 415 555 2671",
            "sdt:0912345678",
            "0️⃣9️⃣1️⃣2️⃣3️⃣4️⃣5️⃣6️⃣7️⃣8️⃣",
            "liên hệ (+84) 912 345 678",
            "liên hệ (84) 912 345 678",
            "liên hệ +84 (0) 912 345 678",
            "bàn 028 (3822) 1234",
            "zalo O912.345.678",
            "zalo 09l2345678",
            "zalo 0912 345 67I",
            "lh 0912*345*678",
            "lh 0912_345_678",
            "năm 2024 0912345678",
            "LH 18001091 (0d)",
        ] {
            let a = TextAnalysis::of(text);
            assert_eq!(a.counts().phones, 1, "{text}");
            assert!(a.tokens().iter().any(|t| t.kind == TokenKind::Phone), "{text}");
        }
        for text in [
            "giá 150.000 đồng",
            "năm 2024",
            "ngày 20/11/2026",
            "mã 12345",
            "giá 10,000,000 đồng",
            "lo 100 cái, i5 8250u",
            // Three letters standing for digits are too many to be a disguise.
            "zalo O9l2345l78",
            // Letters stand for digits only beside a real one.
            "o 912 345 678",
        ] {
            assert_eq!(TextAnalysis::of(text).counts().phones, 0, "{text}");
        }
        assert_eq!(TextAnalysis::of("0912345678 0987654321").counts().phones, 2);
    }

    #[test]
    fn finds_links_and_emails() {
        let a = TextAnalysis::of(
            "Xem https://www.Example.com/abc?x=1, zalo.me/123 (bit.ly/xyz). <URL> mail ab.c@gmail.com",
        );
        assert_eq!(a.counts().links, 4);
        assert_eq!(a.counts().emails, 1);
        assert_eq!(a.link_hosts().collect::<Vec<_>>(), ["example.com", "zalo.me", "bit.ly"]);
        let b = TextAnalysis::of("tp.hcm v.v và 3.5 điểm");
        assert_eq!(b.counts().links, 0);
        assert_eq!(b.counts().emails, 0);
    }

    #[test]
    fn token_sources_point_at_the_readers_characters() {
        let text = "Mua n.h.à  c.á.i 👉 0912 345 678!";
        let a = TextAnalysis::of(text);
        let sources: Vec<&str> = a.tokens().iter().map(|t| &a.text()[t.source.clone()]).collect();
        assert_eq!(sources, ["Mua", "n.h.à", "c.á.i", "👉", "0912 345 678"]);
        // The surface keeps punctuation and spacing but reads the disguised words.
        assert_eq!(a.surface().iter().collect::<String>(), "mua nhà  cái 👉 0912 345 678!");
        assert_eq!(a.surface_owner(0), Some(0));
        assert_eq!(a.surface_owner(3), None);
    }

    #[test]
    fn random_text_of_tricky_characters_gives_tokens_that_point_into_it() {
        // Masks, emoji, stray and overlay marks, leet digits, joiners and Vietnamese letters,
        // mixed at random: no panic, and every token names a non-empty slice of the text.
        const ALPHABET: &[char] = &[
            'a', 'f', 'c', 'k', 'l', 'n', 'đ', 'à', 'ộ', 'A', '0', '1', '3', '9', '*', '#', '.', '-', ' ', ' ', '@',
            '!', '🤬', '😍', '\u{301}', '\u{336}', '\u{20e3}', '\u{200b}', '/', ':', '+',
        ];
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut reused = TextAnalysis::default();
        for _ in 0..20_000 {
            let len = (next() % 24) as usize;
            let text: String = (0..len)
                .map(|_| ALPHABET[(next() % ALPHABET.len() as u64) as usize])
                .collect();
            reused.analyze(&text);
            let fresh = TextAnalysis::of(&text);
            let read = |a: &TextAnalysis| -> Vec<(String, String, Range<usize>)> {
                a.tokens()
                    .iter()
                    .map(|t| (a.toned(t).to_string(), a.plain(t).to_string(), t.source.clone()))
                    .collect()
            };
            assert_eq!(read(&reused), read(&fresh), "{text:?}");
            for token in fresh.tokens() {
                let source = fresh.text().get(token.source.clone());
                assert!(source.is_some_and(|s| !s.is_empty()), "{text:?}: {token:?}");
            }
        }
    }

    #[test]
    fn counts_meta_signals() {
        let a = TextAnalysis::of("MUA NGAY!!! 🔥🔥 giảm 50%");
        let c = a.counts();
        assert_eq!(c.shouted_punctuation, 1);
        assert_eq!(c.emoji, 2);
        assert_eq!(c.upper, 7);
        assert_eq!(c.digits, 2);
        assert!(c.vietnamese_words >= 2);
    }

    #[test]
    fn empty_and_whitespace_only_text_has_no_tokens() {
        assert!(TextAnalysis::of("").tokens().is_empty());
        assert!(TextAnalysis::of(" \n\t\u{200B} ").tokens().is_empty());
    }

    #[test]
    fn reusing_the_buffer_gives_the_same_result_as_a_fresh_one() {
        let mut reused = TextAnalysis::default();
        reused.analyze("một chuỗi dài hơn với nhiều từ và 0912345678");
        reused.analyze("ngắn");
        let fresh = TextAnalysis::of("ngắn");
        assert_eq!(reused.tokens().len(), fresh.tokens().len());
        assert_eq!(reused.counts(), fresh.counts());
        assert_eq!(reused.compact(), fresh.compact());
    }
}
