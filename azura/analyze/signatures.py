"""The failure knowledge base: the bundled YAML signatures and the user's entries from azura.yml.

`SignatureSet` matches all of them against a line in one pass and says which match, so a line is read once
whatever the size of the knowledge base.
"""
from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Pattern, Sequence, Set, Tuple

from azura.analyze.patterns import LazyPattern, PatternSet, pattern_problem, possible_patterns
from azura.errors import ConfigError
from azura.models import CATEGORIES, Signature

BUNDLED_PATH = Path(__file__).resolve().parent.parent / "kb" / "signatures.yml"
REQUIRED_KEYS = ("id", "category", "pattern", "summary", "hint")
OPTIONAL_KEYS = ("examples", "confidence", "role")
DEFAULT_CONFIDENCE = 0.8
ROLES = ("cause", "wrapper", "incidental")


def load_signatures(user_entries: Sequence[Mapping[str, Any]] = (),
                    user_source: str = "azura.yml") -> Tuple[Signature, ...]:
    """Return the signatures to try in order: new user entries first, then the bundled ones (overridden by id)."""
    bundled = bundled_signatures()
    users = tuple(_signature(entry, index, user_source) for index, entry in enumerate(user_entries))
    _refuse_duplicate_ids(users, user_source)
    overrides = {signature.id: signature for signature in users}
    bundled_ids = {signature.id for signature in bundled}
    added = tuple(signature for signature in users if signature.id not in bundled_ids)
    return added + tuple(overrides.get(signature.id, signature) for signature in bundled)


@functools.lru_cache(maxsize=1)
def bundled_signatures() -> Tuple[Signature, ...]:
    """Return the bundled signatures, validated; read once per process."""
    from azura.yamlcache import load_yaml

    source = str(BUNDLED_PATH)
    try:
        entries = load_yaml(BUNDLED_PATH)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{source}: cannot read the bundled signatures ({exc})") from None
    if not isinstance(entries, list):
        raise ConfigError(f"{source}: expected a list of signature entries")
    # Their patterns are compiled when first used, not here: tests/test_signatures.py and test_patterns.py check
    # each against its examples and the bounded shapes,
    # examples, and a run compiles only the few a log's lines call for.
    signatures = tuple(_signature(entry, index, source, tested=True) for index, entry in enumerate(entries))
    _refuse_duplicate_ids(signatures, source)
    for signature in signatures:
        if not signature.examples:
            # the examples are the bundled signatures' tests; an entry without one is unchecked
            raise ConfigError(f"{source}: signature {signature.id!r} has no examples")
    return signatures


def match_signature(text: str, signatures: Sequence[Signature]) -> Optional[Signature]:
    """Return the first signature (in knowledge-base order) whose pattern is found in `text`, or None."""
    found = signature_set(tuple(signatures)).matching(text)
    return found[0] if found else None


class SignatureSet:
    """Signatures compiled into one matcher that says which of them match a line.

    With google-re2, one RE2 set reads the line once and names the patterns that match. On an ASCII line that
    is `re`'s answer too (`PatternSet.add`); on another line each is confirmed with Python's `re`, whose semantics
    (Unicode \\w) stay the reference. Patterns RE2 refuses or reads otherwise (look-arounds in users' patterns)
    are tried with `re`, one alternation of them turning away the usual line before any single pattern runs.
    Without google-re2 that alternation holds every pattern.
    """

    def __init__(self, signatures: Sequence[Signature]):
        self.signatures = tuple(signatures)
        shared = PatternSet.compiled_for([signature.pattern for signature in self.signatures]) \
            if self.signatures else None  # none: any set would do, and read each line for nothing
        if shared is not None:  # the excerpt's classifier holds them first: its set says the same of them
            self._set, slots = shared
        else:
            patterns = PatternSet()
            slots = tuple(patterns.add(signature.pattern) for signature in self.signatures)
            self._set = patterns if patterns.compile() else None
        self._in_set = {slot: index for index, slot in enumerate(slots) if slot is not None} if self._set else {}
        taken = set(self._in_set.values())
        self._outside = [index for index in range(len(self.signatures)) if index not in taken]
        self._any = _alternation([self.signatures[i].pattern for i in self._outside]) if self._outside else None

    def matching(self, text: str) -> Tuple[Signature, ...]:
        """Return the signatures whose pattern is found in `text`, in knowledge-base order."""
        # RE2 numbers a set's patterns in the order they were added
        in_set = {self._in_set[slot] for slot in self._set.matching(text) if slot in self._in_set} \
            if self._set is not None else set()
        found = in_set if text.isascii() else set()
        tried = (in_set - found) | (set(self._outside) if self._any is not None and self._any.search(text) else set())
        found |= {i for i in tried if compiled(self.signatures[i].pattern).search(text)}
        return tuple(self.signatures[i] for i in sorted(found))


@functools.lru_cache(maxsize=8)
def signature_set(signatures: Tuple[Signature, ...]) -> SignatureSet:
    """Return the matcher for `signatures`; built once per knowledge base."""
    return SignatureSet(signatures)


def signature_set_for(signatures: Sequence[Signature], texts: Iterable[str]) -> SignatureSet:
    """Return a matcher that answers for `texts` (and any part of one) as the matcher of all `signatures` does.

    It holds only the signatures that may match somewhere in them (`possible_patterns`): RE2 builds the automaton of
    a few patterns, not of the whole knowledge base, for the lines of one diagnosis. Where the excerpt's classifier
    built the set of them all (a log of many segments), that set serves, as `signature_set` does.
    """
    every = tuple(signatures)
    patterns = tuple(signature.pattern for signature in every)
    if PatternSet.compiled_for(patterns) is not None:
        return signature_set(every)
    possible = set(possible_patterns(patterns, "\n".join(texts)))
    return signature_set(tuple(signature for signature in every if signature.pattern in possible))


_GLOBAL_FLAGS = LazyPattern(r"^\(\?([aiLmsux]+)\)")


def _alternation(patterns: Sequence[str]) -> Pattern[str]:
    """Return one pattern matching where any of `patterns` matches; a leading "(?i)" becomes a scoped group."""
    def scoped(pattern: str) -> str:
        flags = _GLOBAL_FLAGS.match(pattern)
        return f"(?{flags.group(1)}:{pattern[flags.end():]})" if flags else f"(?:{pattern})"

    return re.compile("|".join(scoped(pattern) for pattern in patterns))


@functools.lru_cache(maxsize=1024)
def compiled(pattern: str) -> Pattern[str]:
    """Return the compiled pattern; cached, because every pattern is tried on every line of every step."""
    return re.compile(pattern)


def _signature(entry: Any, index: int, source: str, tested: bool = False) -> Signature:
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{source}: signature #{index + 1} must be a mapping with keys {', '.join(REQUIRED_KEYS)}")
    name = str(entry.get("id") or f"#{index + 1}")
    where = f"{source}: signature {name!r}"
    missing = [key for key in REQUIRED_KEYS if not entry.get(key)]
    if missing:
        raise ConfigError(f"{where} is missing {', '.join(missing)}")
    unknown = sorted(set(entry) - set(REQUIRED_KEYS) - set(OPTIONAL_KEYS))
    if unknown:
        raise ConfigError(f"{where} has unknown keys {', '.join(map(str, unknown))}")
    if entry["category"] not in CATEGORIES:
        raise ConfigError(f"{where} has category {entry['category']!r}; expected one of {', '.join(CATEGORIES)}")
    pattern = str(entry["pattern"])
    role = str(entry.get("role", "cause"))
    if role not in ROLES:
        raise ConfigError(f"{where} has role {role!r}; expected one of {', '.join(ROLES)}")
    examples = _examples(entry.get("examples", ()), where)
    if not tested:
        try:
            regex = compiled(pattern)
        except re.error as exc:
            raise ConfigError(f"{where} has an invalid pattern: {exc}") from None
        problem = pattern_problem(pattern)
        if problem:
            raise ConfigError(f"{where} has a pattern that could stall on a hostile line: {problem}")
        for example in examples:
            if not regex.search(example):
                raise ConfigError(f"{where}: pattern does not match its example {example[:80]!r}")
    return Signature(id=name, category=entry["category"], pattern=pattern, summary=str(entry["summary"]).strip(),
                     hint=str(entry["hint"]).strip(), examples=examples,
                     confidence=_confidence(entry.get("confidence", DEFAULT_CONFIDENCE), where),
                     source="bundled" if source == str(BUNDLED_PATH) else source, role=role)


def _examples(value: Any, where: str) -> Tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, (list, tuple)) or not all(isinstance(example, str) for example in value):
        raise ConfigError(f"{where}: examples must be a list of log lines")
    return tuple(value)


def _confidence(value: Any, where: str) -> float:
    try:
        confidence = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: confidence must be a number between 0 and 1") from None
    if not 0.0 <= confidence <= 1.0:
        raise ConfigError(f"{where}: confidence must be between 0 and 1, got {confidence}")
    return confidence


def _refuse_duplicate_ids(signatures: Sequence[Signature], source: str) -> None:
    seen: Set[str] = set()
    for signature in signatures:
        if signature.id in seen:
            raise ConfigError(f"{source}: signature id {signature.id!r} appears twice")
        seen.add(signature.id)
