"""Tweet text handling: hashtag labels, cleaning, tokenizing, and label-safe input text.

Every function here works on one string and knows nothing of datasets or models, so the same
rules apply when building a dataset and when a user asks for tags of a new tweet.
"""

from __future__ import annotations

import html
import re

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

__all__ = [
    "LEAKAGE_MODES",
    "STOP_WORDS",
    "analyze",
    "clean_text",
    "duplicate_key",
    "extract_hashtags",
    "hashtag_tokens",
    "prepare_text",
    "tokenize",
]

#: scikit-learn's English stop-word list (318 words), as SPEC section 2 allows.
STOP_WORDS: frozenset[str] = frozenset(ENGLISH_STOP_WORDS)

#: ``strict`` removes every tag from the input text; ``tagfinder`` copies the TagFinder study.
LEAKAGE_MODES = ("strict", "tagfinder")

# A tag needs at least one letter and must not follow a word character, `&` (HTML entities such
# as `&#39;`) or `/` (URL fragments); data/SOURCES.md counted with the same rule. Patterns start
# with their literal character and look behind afterwards, which lets `re` scan 3-4x faster.
_TAG_BODY = r"#(?<![\w&/]#)(\w*[^\W\d_]\w*)"
_TAG = re.compile(_TAG_BODY)
# The last tag of a text, with only punctuation or spaces after it (TagFinder's trailing block).
_TRAILING_TAG = re.compile(_TAG_BODY + r"[^\w#]*\Z")
# URLs stop at quotes and ellipses: one Apple tweet glues `'#roc` right after its t.co link.
_URL = re.compile(r"(?:https?://|www\.)[^\s'\"<>\u2026]*", re.IGNORECASE)
# @mentions and the retweet marker (upper case only: `rt` may be a word).
_MENTION_OR_RT = re.compile(r"@(?<!\w@)\w+|RT\b(?<!\wRT)")
# R's escapes for characters it could not print, e.g. `<U+0001F4E2>` in the Avengers file (mostly emoji).
_R_ESCAPE = re.compile(r"<U\+([0-9A-Fa-f]{4,8})>")
_EMOJI = re.compile(
    "["
    "\U0001f000-\U0001faff"  # pictographs, emoticons, transport, flags, symbols & pictographs ext.
    "\u2190-\u21ff\u2300-\u23ff\u2460-\u24ff\u25a0-\u27bf\u2900-\u297f\u2b00-\u2bff"
    "\u3030\u303d\u3297\u3299\u00a9\u00ae\u2122"
    "\ufe0e\ufe0f\u200d\u20e3"  # variation selectors, zero-width joiner, keycap
    "\U000e0020-\U000e007f"  # tag characters of subdivision flags
    "]+"
)
_APOSTROPHE = re.compile("['\u2019\u02bc]")
# A token is a run of 2+ word characters with at least one letter (drops `2014`, `x`, `__`).
_WORD = re.compile(r"\w\w+")
_LETTER = re.compile(r"[^\W\d_]")
_SPACES = re.compile(r"\s+")
_WORD_RUN = re.compile(r"\w+")


def _decode_r_escape(match: re.Match[str]) -> str:
    # Spaces around the character keep word and tag boundaries where the escape's `<`, `>` were.
    code = int(match.group(1), 16)
    return f" {chr(code)} " if code <= 0x10FFFF else " "


def _normalize(text: str) -> str:
    """Decode entities and R escapes and drop URLs: the steps tags and clean text both need."""
    if "&" in text:
        text = html.unescape(html.unescape(text))  # twice: `&amp;amp;` occurs in scraped tweets
    if "<U+" in text:
        text = _R_ESCAPE.sub(_decode_r_escape, text)
    if "://" in text or "www." in text.lower():
        text = _URL.sub(" ", text)
    return text


def hashtag_tokens(text: str) -> list[str]:
    """All tags of a text, lowercased, repeats kept (what data/SOURCES.md counts as tokens)."""
    if "#" not in text:
        return []
    return [tag.lower() for tag in _TAG.findall(_normalize(text))]


def extract_hashtags(text: str) -> list[str]:
    """Hashtag labels of a tweet: lowercased, in order of appearance, each once.

    URLs are removed first, so `http://x.co/#frag` gives no tag; `#1` and `&#39;` are no tags.
    """
    return list(dict.fromkeys(hashtag_tokens(text)))


def _clean(text: str) -> str:
    text = _normalize(text)
    if "@" in text or "RT" in text:
        text = _MENTION_OR_RT.sub(" ", text)
    if not text.isascii():
        text = _EMOJI.sub(" ", text)
    return text.lower()


def clean_text(text: str) -> str:
    """Lowercased text without entities, URLs, @mentions, the RT marker, emoji or R escapes.

    Hashtags are left in place (with their `#`); `prepare_text` decides what happens to them.
    """
    return _SPACES.sub(" ", _clean(text)).strip()


def _strip_trailing_tags(text: str) -> str:
    while (match := _TRAILING_TAG.search(text)) is not None:
        text = text[: match.start()]
    return text


def prepare_text(text: str, leakage: str = "strict") -> str:
    """The model's input text: cleaned, with hashtags handled so labels do not leak.

    ``strict`` removes every `#tag`. ``tagfinder`` strips only the trailing block of tags and keeps
    mid-text tags as plain words, as the TagFinder study did; labels then leak into the input.
    """
    return _SPACES.sub(" ", _prepare(text, leakage)).strip()


def _prepare(text: str, leakage: str) -> str:
    if leakage not in LEAKAGE_MODES:
        raise ValueError(f"leakage must be one of {LEAKAGE_MODES}, got {leakage!r}")
    text = _clean(text)
    if "#" not in text:
        return text
    if leakage == "tagfinder":
        text = _strip_trailing_tags(text)
    replacement = " " if leakage == "strict" else r"\1"
    text, count = _TAG.subn(replacement, text)
    # Repeat: removing `#thor` from `#thor#loki` (or `#` from `##best`) can expose a new tag.
    while count and "#" in text:
        text, count = _TAG.subn(replacement, text)
    return text


def duplicate_key(text: str) -> str:
    """The text two tweets share when one is a copy of the other: for de-duplicating before a split.

    Strict-mode `prepare_text` (lowercase; no URLs, @mentions, RT marker, emoji or hashtags), then
    only its word-character runs, one space apart: a retweet keeps the `:` of `RT @user:`, and copies
    differ in quotes, dots or brackets around removed links and tags; none of that makes a new text.
    Hashtags are not part of the key: in strict mode two tweets differing only by tags are the same
    input to every model. A text with no word character keys on its prepared text.
    """
    prepared = prepare_text(text, "strict")
    return " ".join(_WORD_RUN.findall(prepared)) or prepared


def tokenize(text: str, stop_words: bool = True) -> list[str]:
    """Word tokens of an already cleaned text; apostrophes are dropped so `it's` stays one word."""
    if "'" in text or not text.isascii():
        text = _APOSTROPHE.sub("", text)
    stop = STOP_WORDS if stop_words else frozenset()
    return [
        word
        for word in _WORD.findall(text)
        if word not in stop and (word.isalpha() or _LETTER.search(word) is not None)
    ]


def analyze(text: str, leakage: str = "strict") -> list[str]:
    """Raw tweet to the words the keyword set is built from (clean, handle tags, tokenize)."""
    return tokenize(_prepare(text, leakage))
