"""Secret redaction, applied before any log text leaves the machine.

Two sources say what a secret is: the catalogue (`secrets.yml`: token formats, credentials by where they
stand, secret-named values in every syntax; each entry with the examples that are its tests), and the secret
values a run knows (the access token, LLM keys, secret pipeline variables), which go verbatim and in their
base64, URL-encoded and JSON-escaped forms. Each replacement says what went (`«redacted:github-token»`,
`«redacted:secret»`), so a reader, and the LLM, knows a value was there.

Redaction runs on the excerpt's candidate lines, so a clean line must cost little: one combined search for
every entry's keywords picks the few entries worth trying, and most lines match none.
"""
from __future__ import annotations

import base64
import functools
import itertools
import json
import re
from dataclasses import dataclass, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, Dict, FrozenSet, Iterator, List, Mapping, Optional, Pattern, Sequence, Set, Tuple
from urllib.parse import quote, quote_plus

from azura.errors import ConfigError

CATALOGUE_PATH = Path(__file__).with_name("secrets.yml")
KNOWN_SECRET_MARK = "«redacted:secret»"
MIN_SECRET_CHARS = 3  # a shorter known value would be found everywhere
MIN_ENCODED_CHARS = 8  # an encoded form shorter than this is too likely to occur by chance
_MARK_START = "«"
_FRAGMENT = re.compile(r"<<(\w+)>>")
_WORD_CHUNK = re.compile(r"[A-Za-z0-9]+")
_HUMP = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
_POSITION = re.compile(r":\d")  # file.swift:22:27 is a place in a file, not a name
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class Redaction:
    """One kind of secret: how to find it, and examples of what it must and must not catch."""

    id: str
    about: str
    regex: str  # compiled on first use: most entries never meet a line the precheck picks for them
    keywords: Tuple[str, ...] = ()
    trigger: Optional[str] = None  # a regex standing in for keywords when the secret has no fixed text
    check: Optional[str] = None  # "secret-name": the match's `name` group must name a secret
    whole_text: bool = False  # may span lines (a private key block), so it runs on the whole text
    redact: Tuple[str, ...] = ()
    keep: Tuple[str, ...] = ()

    @property
    def mark(self) -> str:
        return f"«redacted:{self.id}»"

    @functools.cached_property
    def pattern(self) -> Pattern[str]:
        return _regex(self.regex, self.id)


@dataclass(frozen=True)
class SecretNames:
    """The rules that tell a secret's name (DB_PASSWORD, apiKey) from a name about one (TOKEN_URL, CACHE_KEY)."""

    suffixes: Tuple[str, ...]
    words: FrozenSet[str]
    only_alone: FrozenSet[str]
    key: str
    key_qualifiers: FrozenSet[str]
    not_qualifying: FrozenSet[str]
    not_alone: FrozenSet[str]
    never: FrozenSet[str]
    not_last: FrozenSet[str]

    def is_secret(self, name: str) -> bool:
        """Return whether `name` names a secret."""
        words = name_words(name)
        if not words or words[-1] in self.not_last or self.never.intersection(words) or _POSITION.search(name):
            return False
        if any(word.endswith(self.suffixes) for word in words):
            return True
        last, before = words[-1], (words[-2] if len(words) > 1 else None)
        if before is None:
            return (last in self.words and last not in self.not_alone) or last in self.only_alone
        if before in self.not_qualifying:
            return False
        return last in self.words or (last == self.key and (before in self.key_qualifiers or name.isupper()))

    def may_hold_secret_name(self, text: str) -> bool:
        """Return whether `text` holds a word that a secret's name needs: `is_secret` is True only for a name
        with a word that ends with a suffix, or is one of `words`, `only_alone` or `key`."""
        return any(word.endswith(self.suffixes) or word in self.words or word in self.only_alone or word == self.key
                   for word in name_words(text))


def name_words(name: str) -> List[str]:
    """Return the lower-case words of a name, cut at punctuation and camelCase humps: apiKey -> [api, key]."""
    return [hump.lower() for chunk in _WORD_CHUNK.findall(name) for hump in _HUMP.findall(chunk)]


class Catalogue:
    """The loaded `secrets.yml`: its entries in order, and the one search that picks which to try on a line."""

    def __init__(self, entries: Sequence[Redaction], names: SecretNames, placeholders: Sequence[str]):
        self.entries = tuple(entries)
        self.names = names
        self._placeholders = tuple(placeholders)
        self._whole_text = tuple(entry for entry in self.entries if entry.whole_text)
        self.precheck = Precheck(self.entries)

    @functools.cached_property
    def placeholders(self) -> Tuple[Pattern[str], ...]:
        """Return the patterns of values that only refer to a secret, compiled on first use."""
        return tuple(_regex(pattern, "placeholders") for pattern in self._placeholders)

    def redact(self, text: str, only: Optional[Redaction] = None) -> str:
        """Return `text` with every catalogued secret (or only `only`'s) replaced by its mark."""
        return self.redact_texts([text], only)[0]

    def redact_texts(self, texts: Sequence[str], only: Optional[Redaction] = None) -> List[str]:
        """Return each text redacted as `redact` does it; the lines of all the texts are searched together."""
        texts_lines = [self._redact_whole_text(text, only).split("\n") for text in texts]
        lines = [line for text_lines in texts_lines for line in text_lines]
        ends = ["\r" if line.endswith("\r") else "" for line in lines]  # CRLF text: the patterns end at the line
        bodies = [line[:-1] if end else line for line, end in zip(lines, ends)]
        redacted = iter([body + end for body, end in zip(self.redact_lines(bodies, only), ends)])
        return ["\n".join(itertools.islice(redacted, len(text_lines))) for text_lines in texts_lines]

    def _redact_whole_text(self, text: str, only: Optional[Redaction]) -> str:
        """Return `text` with the secrets that may span lines (the `whole_text` entries) replaced."""
        for entry in self._whole_text:
            if (only is None or entry is only) and self.precheck.holds_keyword(entry, text):
                text = self._apply(entry, text)
        return text

    def redact_lines(self, lines: Sequence[str], only: Optional[Redaction] = None) -> List[str]:
        """Return the lines (none holding a line break) with every catalogued secret replaced, line by line."""
        redacted = list(lines)
        for index, found in self.precheck.hits(lines).items():
            line = redacted[index]
            for entry_index in found:
                entry = self.entries[entry_index]
                if only is None or entry is only:
                    line = self._apply(entry, line)
            redacted[index] = line
        return redacted

    def _apply(self, entry: Redaction, text: str) -> str:
        if entry.check == "secret-name" and not self.names.may_hold_secret_name(text):
            # a match's name is whole words of the text, so none would name a secret and every match would stay:
            # the pattern need not be compiled or run ("Author: Microsoft" holds the keyword "auth")
            return text
        return entry.pattern.sub(lambda match: self._replacement(entry, match), text)

    def _replacement(self, entry: Redaction, match: "re.Match[str]") -> str:
        whole = match.group(0)
        group = next((name for name, value in match.groupdict().items()
                      if value is not None and (name == "secret" or name.startswith("secret_"))), None)
        value = match.group(group) if group else whole
        if not self._is_secret_value(entry, match, value):
            return whole
        start, end = (match.start(group), match.end(group)) if group else match.span()
        offset = match.start()
        return whole[:start - offset] + entry.mark + whole[end - offset:]

    def _is_secret_value(self, entry: Redaction, match: "re.Match[str]", value: str) -> bool:
        value = value.strip()
        if len(value) < MIN_SECRET_CHARS or _MARK_START in value:
            return False
        if any(placeholder.search(value) for placeholder in self.placeholders):
            return False
        if entry.check == "secret-name":
            name = match.group("name")
            # a value that repeats its own name is a placeholder: "--token TOKEN", "password=password"
            if not self.names.is_secret(name) or value.lower() in (name.lower(), name_words(name)[-1]):
                return False
        return True


class Precheck:
    """Which lines need which entries, found by a few searches instead of one per entry and line.

    First the entries' keywords and triggers, as alternations, run over all the lines joined and find the
    lines worth a look (most lines are clean); then, on each of those, one multi-pattern match (RE2's Set)
    says which entries hold. With google-re2 both run over UTF-8 bytes in linear time; without it (no wheel
    for the platform) `re` does the same work, slower. The triggers of long fixed-width shapes ({52}, {86})
    get an alternation of their own: joined with the rest they would swell RE2's automaton past its cache
    and slow the whole search twentyfold.
    """

    def __init__(self, entries: Sequence[Redaction]):
        patterns = [_entry_search(entry) for entry in entries]
        groups = ([p for p in patterns if not _LONG_SHAPE.search(p)], [p for p in patterns if _LONG_SHAPE.search(p)])
        # a trigger that several entries share goes in once (a smaller automaton); the Set tells the entries apart
        self.patterns = tuple("(?im)" + "|".join(f"(?:{p})" for p in dict.fromkeys(group)) for group in groups if group)
        self.engine = "re2" if _re2() is not None else "re"
        if self.engine == "re2":
            re2 = _re2()
            self._searches = [re2.compile(pattern.encode("utf-8")) for pattern in self.patterns]
            self._set = re2.Set.SearchSet()
            for pattern in patterns:
                self._set.Add(("(?im)" + pattern).encode("utf-8"))
            self._set.Compile()
        else:
            self._searches = [re.compile(pattern) for pattern in self.patterns]
            self._each = [re.compile("(?im)" + pattern) for pattern in patterns]

    @staticmethod
    def holds_keyword(entry: Redaction, text: str) -> bool:
        """Return whether `text` holds one of the entry's keywords."""
        lowered = text.lower()
        return any(keyword.lower() in lowered for keyword in entry.keywords)

    def hits(self, lines: Sequence[str]) -> Dict[int, List[int]]:
        """Return {line index: indexes of the entries worth trying on that line}."""
        joined = "\n".join(lines)
        data: Any = joined.encode("utf-8", "surrogatepass") if self.engine == "re2" else joined
        newline = b"\n" if self.engine == "re2" else "\n"
        candidates = set()
        for search in self._searches:
            line, position = 0, 0
            for match in search.finditer(data):
                line += data.count(newline, position, match.start())
                position = match.start()
                # every line the match touches: a flag's trigger may start at the line break before the flag's
                # line ("\n--password x"), and the next match is searched after this one, past that line
                candidates.update(range(line, line + data.count(newline, match.start(), match.end()) + 1))
        hits = {}
        for index in candidates:
            if self.engine == "re2":
                selected = self._set.Match(lines[index].encode("utf-8", "surrogatepass"))
            else:
                selected = [n for n, each in enumerate(self._each) if each.search(lines[index])]
            if selected:
                hits[index] = sorted(selected)
        return hits


def _entry_search(entry: Redaction) -> str:
    """Return the regex that says an entry is worth trying: any of its keywords, or its trigger."""
    alternatives = [re.escape(keyword) for keyword in entry.keywords]
    if entry.trigger:
        alternatives.append(f"(?:{entry.trigger})")
    return "|".join(alternatives)


_LONG_SHAPE = re.compile(r"\{\d\d")  # a counted repeat of 10 or more: [a-z2-7]{52}


@functools.lru_cache(maxsize=1)
def _re2():
    """Return the google-re2 module, or None where it has no wheel (the precheck then uses `re`)."""
    try:
        import re2
    except ImportError:
        return None
    return re2


@functools.lru_cache(maxsize=1)
def catalogue() -> Catalogue:
    """Return the bundled catalogue, loaded once; a broken entry is a ConfigError naming it and the file.

    Patterns are compiled when first used, which most never are in one run (tests/test_redact.py runs them all).
    """
    from azura.yamlcache import load_yaml

    document = load_yaml(CATALOGUE_PATH)
    fragments: Mapping[str, str] = document.get("fragments") or {}
    entries = [_entry(raw, fragments) for raw in document["entries"]]
    ids = [entry.id for entry in entries]
    duplicated = sorted({i for i in ids if ids.count(i) > 1})
    if duplicated:
        raise ConfigError(f"{CATALOGUE_PATH}: entry id(s) used twice: {', '.join(duplicated)}")
    rules = document["names"]
    names = SecretNames(suffixes=tuple(rules["suffixes"]), words=frozenset(rules["words"]),
                        only_alone=frozenset(rules["only_alone"]), key=rules["key"],
                        key_qualifiers=frozenset(rules["key_qualifiers"]),
                        not_qualifying=frozenset(rules["not_qualifying"]), not_alone=frozenset(rules["not_alone"]),
                        never=frozenset(rules["never"]), not_last=frozenset(rules["not_last"]))
    return Catalogue(entries, names, [str(pattern) for pattern in document["placeholders"]])


def _entry(raw: Mapping[str, Any], fragments: Mapping[str, str]) -> Redaction:
    entry_id = str(raw.get("id") or "?")
    pattern = _expand(str(raw["pattern"]), fragments)
    keywords = tuple(str(k) for k in raw.get("keywords") or ())
    trigger = _expand(str(raw["trigger"]), fragments) if raw.get("trigger") else None
    if not keywords and not trigger:
        raise ConfigError(f"{CATALOGUE_PATH}: entry {entry_id!r} needs keywords or a trigger")
    return Redaction(id=entry_id, about=str(raw.get("about") or ""), regex=pattern,
                     keywords=keywords, trigger=trigger, check=raw.get("check"),
                     whole_text=bool(raw.get("whole_text")), redact=tuple(raw.get("redact") or ()),
                     keep=tuple(raw.get("keep") or ()))


def _expand(pattern: str, fragments: Mapping[str, str]) -> str:
    return _FRAGMENT.sub(lambda found: fragments[found.group(1)], pattern)


def _regex(pattern: str, where: str) -> Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ConfigError(f"{CATALOGUE_PATH}: {where}: {pattern!r} is not a valid regular expression: {exc}") from None


# ---------------------------------------------------------------------------------------------------------------
# Known secret values: verbatim and encoded.

def encoded_forms(secret: str) -> Set[str]:
    """Return the ways `secret` may appear in a log: itself, URL-encoded, JSON-escaped and base64-encoded.

    Base64 depends on where the secret starts in the encoded bytes ("user:" + secret in a Basic header), so
    for each of the three alignments the run of characters that only the secret decides is a form too,
    as the agent's own masker does.
    """
    forms = {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]}
    raw = secret.encode("utf-8")
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + raw).decode("ascii")
        core = encoded[4 if shift else 0:(shift + len(raw)) // 3 * 4]
        forms.update((core, core.replace("+", "-").replace("/", "_")))
    full = base64.b64encode(raw).decode("ascii")
    forms.update((full, full.rstrip("="), base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")))
    return {form for form in forms if len(form) >= (MIN_SECRET_CHARS if form == secret else MIN_ENCODED_CHARS)}


@functools.lru_cache(maxsize=16)
def _known_secrets(secrets: Tuple[str, ...]) -> Optional[Pattern[str]]:
    forms: Set[str] = set()
    for secret in secrets:
        if secret and len(secret) >= MIN_SECRET_CHARS:
            forms |= encoded_forms(secret)
    if not forms:
        return None
    return re.compile("|".join(re.escape(form) for form in sorted(forms, key=len, reverse=True)))


def redact(text: str, secrets: Sequence[str] = ()) -> str:
    """Return `text` with the given secret values (in any encoding) and every catalogued secret replaced."""
    return redact_texts([text], secrets)[0]


def redact_texts(texts: Sequence[str], secrets: Sequence[str] = ()) -> List[str]:
    """Return each text redacted as `redact` does it, all searched together: the fast way for many texts."""
    known = _known_secrets(tuple(secrets)) if secrets else None
    if known is not None:
        texts = [known.sub(KNOWN_SECRET_MARK, text) for text in texts]
    return catalogue().redact_texts(texts)


def redact_lines(lines: Sequence[str], secrets: Sequence[str] = ()) -> List[str]:
    """Return the log lines redacted as `redact` does each, searched together: the fast way for many lines."""
    if any("\n" in line for line in lines):  # not lines of a log: each is a text of its own
        return redact_texts(lines, secrets)
    known = _known_secrets(tuple(secrets)) if secrets else None
    if known is not None:
        lines = [known.sub(KNOWN_SECRET_MARK, line) for line in lines]
    return catalogue().redact_lines(lines)


def redact_fields(value: Any, secrets: Sequence[str] = ()) -> Any:
    """Return `value` (frozen dataclasses, tuples, lists, dicts of them) with every string in it redacted.

    Its distinct strings are redacted together (failed steps that share a cause share its diagnosis' words), and
    `value` itself comes back when no string changed, as is usual.
    """
    texts = list(dict.fromkeys(_strings_in(value)))
    redacted = redact_texts([well_formed(text) for text in texts], secrets)
    changed = {text: new for text, new in zip(texts, redacted) if new != text}
    return _with_strings_replaced(value, changed) if changed else value


def well_formed(text: str) -> str:
    """Return `text` with each lone surrogate replaced by U+FFFD.

    Python keeps an undecodable byte of a file name or environment value, and JSON's "\\ud800" escape, as a
    lone surrogate, which no file, terminal or HTTP body can encode: one in a name would stop the report.
    """
    return text if text.isascii() else _LONE_SURROGATE.sub("\ufffd", text)


def _strings_in(value: Any) -> Iterator[str]:
    """Yield every string in `value`, walked as `_with_strings_replaced` walks it."""
    if isinstance(value, str):
        yield value
    elif is_dataclass(value) and not isinstance(value, type):
        for f in fields(value):
            if f.init:
                yield from _strings_in(getattr(value, f.name))
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from _strings_in(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings_in(item)


def _with_strings_replaced(value: Any, replacements: Mapping[str, str]) -> Any:
    """Return a copy of `value` in which each string that `replacements` holds is replaced."""
    if isinstance(value, str):
        return replacements.get(value, value)
    if is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: _with_strings_replaced(getattr(value, f.name), replacements)
                   for f in fields(value) if f.init}
        return replace(value, **changes)
    if isinstance(value, (tuple, list)):
        return type(value)(_with_strings_replaced(item, replacements) for item in value)
    if isinstance(value, dict):
        return {key: _with_strings_replaced(item, replacements) for key, item in value.items()}
    return value


def redactions() -> Tuple[Redaction, ...]:
    """Return the catalogue's entries, in the order they are applied."""
    return catalogue().entries

