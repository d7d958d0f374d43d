"""Which regular expressions a signature may use: those whose matching time stays bounded on any line.

Signature patterns are searched in every line of every failed step's log, and logs are hostile input.
RE2 (the optional ``re2`` extra) matches in time linear in the text whatever the pattern, but Python's
``re``, used where RE2 has no wheel, backtracks: ``(a+)+$`` takes exponential time on a line of a's.
So every pattern, bundled or the user's, keeps to a subset on which backtracking stays polynomial with
a small degree, and the excerpt's fallback scanner cuts the lines it hands ``re`` (``FALLBACK_LINE_CAP``
in ``azura.excerpt.scan``), which bounds the work per line. The subset is also RE2's, so the fast path
takes every pattern.
"""
from __future__ import annotations

import functools
import itertools
import json
import re
import sys
from collections import deque
from pathlib import Path
from typing import Any, Deque, Dict, FrozenSet, Iterable, Iterator, List, Optional, Sequence, Set, Tuple, Union

if sys.version_info >= (3, 11):
    from re import _constants as sre
    from re import _parser as sre_parse
else:  # the same modules under their old names
    import sre_constants as sre
    import sre_parse

MAX_COUNT = 1000  # RE2 refuses counted repetition above this, and `re` unrolls it
MAX_WIDE_REPEATS = 2  # in a row; each repeat of almost any character multiplies the backtracking by the line's length
_REPEATS = {sre.MAX_REPEAT, sre.MIN_REPEAT}
_FORBIDDEN = {
    sre.GROUPREF: "a back-reference",
    sre.GROUPREF_EXISTS: "a conditional group (?(...))",
    sre.ASSERT: "a look-ahead or look-behind",
    sre.ASSERT_NOT: "a look-ahead or look-behind",
}
for _name, _what in (("ATOMIC_GROUP", "an atomic group"), ("POSSESSIVE_REPEAT", "a possessive quantifier")):
    if hasattr(sre, _name):  # Python 3.11+
        _FORBIDDEN[getattr(sre, _name)] = _what
# Character classes that match almost anything, so that two unbounded repeats of them can split a line
# in quadratically many ways.
_NARROW_CATEGORIES = {sre.CATEGORY_DIGIT, sre.CATEGORY_SPACE, sre.CATEGORY_WORD}

Node = Tuple[object, object]


def pattern_problem(pattern: str) -> Optional[str]:
    """Return why the pattern could take more than bounded time per line, or None when it is fine.

    The pattern must already compile with ``re``.
    """
    parsed = sre_parse.parse(pattern)
    ignore_case = bool(parsed.state.flags & sre.SRE_FLAG_IGNORECASE)
    for op, value in _walk(parsed):
        if op in _FORBIDDEN:
            return f"{_FORBIDDEN[op]} (RE2 cannot run it and Python's re may backtrack without end)"
        if op in _REPEATS:
            low, high, body = value
            if low > MAX_COUNT or (high != sre.MAXREPEAT and high > MAX_COUNT):
                return f"a counted repetition above {{{MAX_COUNT}}}"
            if high > 1 and _has_repeat(body, unbounded_only=high != sre.MAXREPEAT) \
                    and not _starts_with_a_separator(body, ignore_case):
                return "nested quantifiers, such as (a+)+ or (?:\\w+-?)*: quantify one level only"
            if high == sre.MAXREPEAT and _has_overlapping_branches(body):
                return "alternatives that can start alike under a quantifier, such as (a|ab)*"
    wide = _wide_repeats_in_a_row(parsed)
    if wide > MAX_WIDE_REPEATS:
        return (f"{wide} repeats of almost any character (.* [^x]+ \\S*) in a row: at most {MAX_WIDE_REPEATS}, "
                "as each multiplies the work on a long line")
    return None


def _walk(items) -> Iterator[Node]:
    """Yield every (op, value) of a parsed pattern, depth first."""
    for op, value in items:
        yield op, value
        for child in _children(op, value):
            yield from _walk(child)


def _children(op, value) -> List[object]:
    if op in _REPEATS or (hasattr(sre, "POSSESSIVE_REPEAT") and op == sre.POSSESSIVE_REPEAT):
        return [value[2]]
    if op == sre.SUBPATTERN:
        return [value[-1]]
    if op == sre.BRANCH:
        return list(value[1])
    if op in (sre.ASSERT, sre.ASSERT_NOT):
        return [value[1]]
    if hasattr(sre, "ATOMIC_GROUP") and op == sre.ATOMIC_GROUP:
        return [value]
    if op == sre.GROUPREF_EXISTS:
        return [branch for branch in value[1:] if branch is not None]
    return []


def _has_repeat(body, unbounded_only: bool) -> bool:
    """Return whether body holds a repeat of more than one item (only unbounded ones when asked)."""
    for op, value in _walk(body):
        if op in _REPEATS and value[1] > 1 and (value[1] == sre.MAXREPEAT or not unbounded_only):
            return True
    return False


def _has_overlapping_branches(body) -> bool:
    """Return whether an alternation in body has two branches that may begin with the same character."""
    for op, value in _walk(body):
        if op != sre.BRANCH:
            continue
        starts = [_first_literal(branch) for branch in value[1]]
        if None in starts or len(set(starts)) < len(starts):
            return True
    return False


def _starts_with_a_separator(body, ignore_case: bool) -> bool:
    """Return whether body starts with a literal that none of its repeats can match, as \\. in (?:\\.\\d+)+.

    Each round of the outer repeat then begins at a separator, so the text splits into rounds one way only.
    """
    first = _first_literal(body)
    if first is None:
        return False
    candidates = {chr(first).lower(), chr(first).upper()} if ignore_case else {chr(first)}
    repeated = [value[2] for op, value in _walk(body) if op in _REPEATS and value[1] > 1]
    return not any(_may_match(item, char) for inner in repeated for item in inner for char in candidates)


def _may_match(node: Node, char: str) -> bool:
    """Return whether a one-character item may match char; True when unsure."""
    op, value = node
    if op == sre.LITERAL:
        return chr(value) == char
    if op == sre.NOT_LITERAL:
        return chr(value) != char
    if op == sre.IN:
        negated = bool(value) and value[0][0] == sre.NEGATE
        found = any(_in_item_matches(item, char) for item in value if item[0] != sre.NEGATE)
        return found != negated
    return True


def _in_item_matches(item, char: str) -> bool:
    op, value = item
    if op == sre.LITERAL:
        return chr(value) == char
    if op == sre.RANGE:
        return value[0] <= ord(char) <= value[1]
    if op == sre.CATEGORY:
        tests = {sre.CATEGORY_DIGIT: str.isdigit, sre.CATEGORY_SPACE: str.isspace,
                 sre.CATEGORY_WORD: lambda c: c.isalnum() or c == "_"}
        for category, test in tests.items():
            if value == category:
                return test(char)
    return True


def _wide_repeats_in_a_row(items) -> int:
    """Return the most unbounded repeats of almost any character that one match may pass through."""
    total = 0
    for op, value in items:
        if _is_wide_unbounded((op, value)):
            total += 1
        elif op == sre.BRANCH:
            total += max(_wide_repeats_in_a_row(branch) for branch in value[1])
        elif op in _REPEATS or op == sre.SUBPATTERN:  # a repeated group holds no repeat: nesting is refused
            total += _wide_repeats_in_a_row(value[-1])
    return total


def _first_literal(branch) -> Optional[int]:
    """Return the code of the literal a branch must start with, or None when it may start otherwise."""
    item = _first_item(branch)
    if item is not None and item[0] == sre.LITERAL:
        return item[1]
    return None


def _first_item(items) -> Optional[Node]:
    """Return the first item that consumes text, looking into groups and past anchors, or None."""
    for op, value in items:
        if op == sre.AT:
            continue
        if op == sre.SUBPATTERN:
            return _first_item(value[-1])
        return op, value
    return None


def _is_wide_unbounded(node: Node) -> bool:
    """Return whether node is an unbounded repeat of a character class that matches almost anything."""
    op, value = node
    if op not in _REPEATS or value[1] != sre.MAXREPEAT:
        return False
    body = list(value[2])
    if len(body) != 1:
        return False
    item_op, item_value = body[0]
    if item_op in (sre.ANY, sre.NOT_LITERAL):
        return True
    if item_op == sre.IN:
        if item_value and item_value[0][0] == sre.NEGATE:
            return True
        return any(op == sre.CATEGORY and code not in _NARROW_CATEGORIES for op, code in item_value)
    return False


class LazyPattern:
    """A regular expression compiled with `re` when first used, then read as the compiled pattern itself.

    For the tables of many patterns that a run mostly never searches: compiling each costs a fraction of a
    millisecond, paid at import on every run otherwise. After the first use each method is the compiled
    pattern's own, kept on the instance, so a search costs what it did.
    """

    def __init__(self, pattern: str, flags: int = 0):
        self.pattern = pattern
        self._flags = flags

    def __getattr__(self, name: str) -> Any:  # reached only for what the instance does not hold yet
        if name.startswith("__"):  # copy and pickle asking for hooks, before `pattern` is set
            raise AttributeError(name)
        value = getattr(re.compile(self.pattern, self._flags), name)
        setattr(self, name, value)
        return value

    def __reduce__(self):  # a copy starts uncompiled: the compiled parts do not pickle
        return LazyPattern, (self.pattern, self._flags)

    def __repr__(self) -> str:
        return f"LazyPattern({self.pattern!r})"


class KeywordPattern:
    """A regular expression tried only on text that holds one of its keywords, and compiled when first tried.

    For the tables of a tool's messages searched line by line, of which a line matches none or one: the keywords
    are literal text that every match holds (one of them, for an alternation), so a line without any is no match
    and `in` turns it away for a fraction of a search. With no keyword the pattern is tried on every line. The
    keywords are looked for as written, so the pattern must not ignore case (re's IGNORECASE also takes "ſ" for "s").
    """

    __slots__ = ("keywords", "_pattern")

    def __init__(self, pattern: str, *keywords: str):
        self.keywords = keywords
        self._pattern = LazyPattern(pattern)

    @property
    def pattern(self) -> str:
        return self._pattern.pattern

    def holds_keyword(self, text: str) -> bool:
        """Return whether `text` holds one of the keywords (True with none), as any match of the pattern does."""
        for keyword in self.keywords:
            if keyword in text:
                return True
        return not self.keywords

    def search(self, text: str) -> Optional["re.Match[str]"]:
        return self._pattern.search(text) if self.holds_keyword(text) else None

    def match(self, text: str) -> Optional["re.Match[str]"]:
        return self._pattern.match(text) if self.holds_keyword(text) else None

    def __repr__(self) -> str:
        return f"KeywordPattern({self.pattern!r}, {', '.join(map(repr, self.keywords))})"


# Python syntax RE2 reads otherwise: "[[:alpha:]]" is a POSIX class to RE2 and a set of characters to `re`;
# "{,3}" is a repeat to `re` and literal text to RE2.
_READ_OTHERWISE = re.compile(r"\[:\^?[a-z]+:\]|\{,")
# A budget RE2 may use for an automaton, not memory it takes up front: a hundred-odd knowledge-base patterns need
# more than RE2's default 8 MB, below which RE2 falls back to a matcher about six times slower.
RE2_MEMORY = 64 << 20


_COMPILED: Deque["PatternSet"] = deque(maxlen=8)  # the sets built last in this process (`PatternSet.compiled_for`)


class PatternSet:
    """Patterns matched together by one RE2 set: `matching(text)` names those found in a line, reading it once.

    Without google-re2 (the optional re2 extra) no pattern joins, and the caller tries each with `re`.
    """

    def __init__(self):
        try:
            import re2
        except ImportError:
            re2 = None
        self._set = None
        if re2 is not None:
            options = re2.Options()
            options.max_mem = RE2_MEMORY
            options.log_errors = False  # a pattern RE2 refuses is expected, not worth a line on stderr
            self._set = re2.Set.SearchSet(options)
        self.added = 0
        self._slots: List[Tuple[str, Optional[int]]] = []  # each pattern offered, in order, and its slot

    def add(self, pattern: str) -> Optional[int]:
        """Return the slot `pattern` has in the set, or None when it cannot join (the caller then tries it itself).

        A pattern joins when RE2 reads it as `re` does; RE2 refuses what it cannot run (look-arounds).
        """
        slot = self._slot(pattern)
        self._slots.append((pattern, slot))
        return slot

    def _slot(self, pattern: str) -> Optional[int]:
        if self._set is None or _READ_OTHERWISE.search(pattern):
            return None
        try:
            slot = self._set.Add(pattern)
        except Exception:  # noqa: BLE001 - re2 raises its own error type; any failure means "not in the set"
            return None
        self.added += 1
        return slot

    def compile(self) -> bool:
        """Return whether the set could be built; when not, the caller tries every pattern itself."""
        if self._set is None or not self.added:
            return False
        try:
            self._set.Compile()
        except Exception:  # noqa: BLE001 - past RE2's memory budget
            return False
        _COMPILED.append(self)
        return True

    @staticmethod
    def compiled_for(patterns: Sequence[str]) -> Optional[Tuple["PatternSet", Tuple[Optional[int], ...]]]:
        """Return a set built earlier whose first patterns are `patterns`, and their slots in it; None without one.

        A set answers for each of its patterns as if it held no other, so the excerpt's classifier, whose set holds
        the knowledge base's patterns first, serves the diagnosis too, which then compiles no set of its own (~3 ms).
        """
        wanted = list(patterns)
        for built in tuple(_COMPILED):  # a copy: another thread may add a set meanwhile
            if [pattern for pattern, _ in built._slots[:len(wanted)]] == wanted:
                return built, tuple(slot for _, slot in built._slots[:len(wanted)])
        return None

    def matching(self, text: str) -> FrozenSet[int]:
        """Return the slots of the patterns found in `text` (RE2's \\w, \\b, \\s are ASCII-only: ASCII text)."""
        return frozenset(self._set.Match(text) or ())


def unanchored(pattern: str) -> str:
    """Return a line pattern fit for raw bytes, where a timestamp or colour code may precede the text."""
    return pattern[1:] if pattern.startswith("^") else pattern


def possible_patterns(patterns: Tuple[str, ...], text: Union[str, bytes]) -> Tuple[str, ...]:
    """Return those of `patterns` that may match somewhere in `text`, in order: every one that does, and a few that
    do not (`PatternFilter`); all of them without google-re2."""
    found = pattern_filter(patterns)
    if found is None:
        return patterns
    possible = found.possible(text)
    return tuple(pattern for index, pattern in enumerate(patterns) if index in possible)


@functools.lru_cache(maxsize=8)
def pattern_filter(patterns: Tuple[str, ...]) -> Optional["PatternFilter"]:
    """Return the filter of `patterns`, built once per knowledge base; None without google-re2 or when RE2 cannot
    build it."""
    try:
        import re2
    except ImportError:
        return None
    shipped = _shipped_needed_texts()
    needed = [shipped[pattern] if pattern in shipped else needed_texts(pattern) for pattern in patterns]
    try:
        return PatternFilter(re2, needed)
    except Exception:  # noqa: BLE001 - re2 raises its own error type; past its memory budget, say
        return None


Clauses = Tuple[Tuple[str, ...], ...]

NEEDED_TEXTS_PATH = Path(__file__).resolve().parent.parent / "kb" / "needed-texts.json"


@functools.lru_cache(maxsize=1)
def _shipped_needed_texts() -> Dict[str, Clauses]:
    """Return the needed texts of the bundled patterns as scripts/needed_texts.py wrote them; {} without the file."""
    try:
        document = json.loads(NEEDED_TEXTS_PATH.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {pattern: tuple(map(tuple, clauses)) for pattern, clauses in document.items()}


def needed_texts_document(patterns: Iterable[str]) -> str:
    """Return the JSON of each pattern's needed texts, one pattern a line (`NEEDED_TEXTS_PATH`)."""
    lines = [f"{json.dumps(pattern)}: {json.dumps(needed_texts(pattern))}" for pattern in dict.fromkeys(patterns)]
    return "{\n" + ",\n".join(lines) + "\n}\n"


# Letters that are not ASCII but that `re` or RE2 match for an ASCII letter when ignoring case: the dotted and the
# dotless i, the long s and the Kelvin sign. Lowering bytes leaves them as they are.
_FOLDED_TO_ASCII = {"\u0130": "i", "\u0131": "i", "\u017f": "s", "\u212a": "k"}
_FEW_TEXTS = 16  # a stretch of fixed text spelt as at most this many texts: "[Ee]rror (?:CS|TS)\d" is 2
_FEW_CLAUSES = 8  # an alternation of patterns needs one of each's texts: the clauses that reads as, at most
_SHORTEST_NEEDED = 3  # bytes: a shorter text is in almost every log and rules nothing out
_LONGEST_NEEDED = 24  # characters: a longer text's start rules out as much
_REACH = 4 * _LONGEST_NEEDED  # bytes


def needed_texts(pattern: str) -> Clauses:
    """Return what text every match of `pattern` holds, as clauses: each a few lowercase texts, one of which is in
    any text the pattern matches, ignoring case (by `re`'s reading and RE2's). () when no text is sure.

    Only ASCII and characters without case are spelt: a pattern's other characters can match more than themselves
    ignoring case. An ASCII letter also matches one of `_FOLDED_TO_ASCII`, which the search reads as that letter.
    At most `_LONGEST_NEEDED` characters long, a text spelt in UTF-8 takes at most `_REACH` bytes.
    """
    if _READ_OTHERWISE.search(pattern):
        return ()
    try:
        parsed = sre_parse.parse(pattern)
    except (re.error, RecursionError):
        return ()
    return tuple(sorted({tuple(sorted(clause)) for clause in _clauses(parsed)}))


def _clauses(items) -> List[FrozenSet[str]]:
    """Return the clauses a sequence of parsed items needs: its stretches of fixed text, and what its repeats and
    alternations need."""
    clauses: List[Optional[FrozenSet[str]]] = []
    stretch: FrozenSet[str] = frozenset({""})  # the texts the fixed text read so far may be
    for op, value in _flattened(items):
        texts = _fixed_texts(op, value)
        if texts is not None:
            joined = _joined(stretch, texts)
            if joined is None:
                clauses.append(_clause(stretch))
            stretch = texts if joined is None else joined
            continue
        repeated = _repeated_texts(op, value)
        if repeated is not None:  # its first round follows the stretch, its last one starts the next
            clauses.append(_clause(_joined(stretch, repeated) or stretch))
            stretch = repeated
            continue
        clauses.append(_clause(stretch))
        clauses.extend(_inner_clauses(op, value))
        stretch = frozenset({""})
    clauses.append(_clause(stretch))
    return [clause for clause in clauses if clause]


def _flattened(items) -> Iterator[Node]:
    """Yield the items of a sequence with its groups opened: a group matches its items in a row."""
    for op, value in items:
        if op == sre.SUBPATTERN:
            yield from _flattened(value[-1])
        else:
            yield op, value


def _fixed_texts(op, value) -> Optional[FrozenSet[str]]:
    """Return the few texts an item can match, lowercased, or None when they are many or not spelt."""
    if op == sre.AT:
        return frozenset({""})
    if op == sre.LITERAL:
        return _spelt({chr(value)})
    if op == sre.IN:
        return _spelt(_set_characters(value))
    if op == sre.BRANCH:
        alternatives = [_sequence_texts(branch) for branch in value[1]]
        if None in alternatives:
            return None
        texts = frozenset().union(*alternatives)
        return texts if len(texts) <= _FEW_TEXTS else None
    if op in _REPEATS:
        low, high, body = value
        texts = _sequence_texts(body)
        if texts is None or high > 1 and low != high:
            return None
        if high <= 1:
            return texts | {""} if low == 0 else texts
        repeated: Optional[FrozenSet[str]] = frozenset({""})
        for _ in range(low):
            repeated = _joined(repeated, texts)
            if repeated is None:
                return None
        return repeated
    return None


def _sequence_texts(items) -> Optional[FrozenSet[str]]:
    """Return the few texts a sequence of items can match, or None."""
    texts: Optional[FrozenSet[str]] = frozenset({""})
    for op, value in _flattened(items):
        item = _fixed_texts(op, value)
        texts = _joined(texts, item) if item is not None and texts is not None else None
        if texts is None:
            return None
    return texts


def _repeated_texts(op, value) -> Optional[FrozenSet[str]]:
    """Return the few texts each round of a repeat that runs at least once can match, or None."""
    if op not in _REPEATS or value[0] < 1:
        return None
    return _sequence_texts(value[2])


def _inner_clauses(op, value) -> List[FrozenSet[str]]:
    """Return the clauses an item that is no fixed text needs: a repeat's body, one of an alternation's branches."""
    if op in _REPEATS and value[0] >= 1:
        return _clauses(value[2])
    if op == sre.BRANCH:
        return _either([_clauses(branch) for branch in value[1]])
    return []


def _either(branches: List[List[FrozenSet[str]]]) -> List[FrozenSet[str]]:
    """Return clauses that hold wherever one of the branches' clauses all hold: a text of each branch, for a few
    pairings of the branches' strongest clauses."""
    if not all(branches):
        return []
    strongest = [sorted(clauses, key=_weakness) for clauses in branches]
    paired = itertools.islice(itertools.product(*strongest), _FEW_CLAUSES)
    return [clause for clause in (_clause(frozenset().union(*pairing)) for pairing in paired) if clause]


def _weakness(clause: FrozenSet[str]) -> Tuple[int, int]:
    """Return how little a clause rules out: short texts are found often, and each text more is one more chance."""
    return -min(map(len, clause)), len(clause)


def _joined(left: FrozenSet[str], right: FrozenSet[str]) -> Optional[FrozenSet[str]]:
    """Return each text of `left` followed by each of `right`, or None when they are too many."""
    if len(left) * len(right) > _FEW_TEXTS:
        return None
    return frozenset(a + b for a in left for b in right)


def _clause(texts: FrozenSet[str]) -> Optional[FrozenSet[str]]:
    """Return the texts as a clause worth searching for: each cut to its start, those holding another dropped
    (finding the other is enough); None when one is too short to rule anything out."""
    cut = {text[:_LONGEST_NEEDED] for text in texts}
    if any(len(text.encode("utf-8")) < _SHORTEST_NEEDED for text in cut):
        return None
    return frozenset(text for text in cut if not any(other != text and other in text for other in cut))


def _set_characters(items) -> Set[str]:
    """Return the characters a character set matches, or an empty set when they are many or not listed."""
    characters: Set[str] = set()
    for op, value in items:
        if op == sre.LITERAL:
            characters.add(chr(value))
        elif op == sre.RANGE and value[1] - value[0] < _FEW_TEXTS:
            characters.update(map(chr, range(value[0], value[1] + 1)))
        else:  # a negation, a class such as \d, a wide range
            return set()
    return characters


def _spelt(characters: Set[str]) -> Optional[FrozenSet[str]]:
    """Return the characters lowercased, or None when there are none, too many, or one that is not spelt."""
    if not characters or not all(map(_is_spelt, characters)):
        return None
    lowered = frozenset(character.lower() for character in characters)
    return lowered if len(lowered) <= _FEW_TEXTS else None


def _is_spelt(character: str) -> bool:
    """Return whether a character matches only itself and its ASCII case partner, ignoring case."""
    if character.isascii():
        return True
    return character.lower() == character == character.upper() and not 0xD800 <= ord(character) <= 0xDFFF


_CANARY = "pattern filter canary"
_LOWERED_BYTES = 4 << 20


class PatternFilter:
    """Which of many patterns may match somewhere in a text, told by one search for the texts they need.

    `needed_texts` reads from each pattern the texts any match of it holds; one search of the text for all of them,
    with RE2's set of literals, rules out each pattern a clause of which finds none of its texts. What is left holds
    every pattern that matches (by `re`'s reading and RE2's, ignoring case or not), and a few that do not: a set or
    an alternation of just those finds in that text what one of all would, and RE2 builds the automaton of a few
    patterns rather than of hundreds for the bytes it reads. A pattern that needs no text may always match.

    The set searches the text lowercased. Once a process has searched `_LOWERED_BYTES` (many failed steps' logs), a
    second set that ignores case itself takes over: it costs a few milliseconds to build, more than lowering a small
    log does, and saves lowering each further megabyte (about a millisecond).
    """

    def __init__(self, re2, needed: Sequence[Clauses]):
        numbers: Dict[str, int] = {}  # each text by its number in the sets
        self._needs = [[frozenset(numbers.setdefault(text, len(numbers)) for text in clause) for clause in clauses]
                       for clauses in needed]
        self._texts = tuple(numbers)
        self._re2 = re2
        self._lowered = self._literal_set(case_sensitive=True, marked=tuple(_FOLDED_TO_ASCII))
        self._searched = 0

    def _literal_set(self, case_sensitive: bool, marked: Sequence[str]) -> Tuple[Any, Dict[int, str]]:
        """Return RE2's set of the texts, numbered in order, and of the `marked` letters, with their numbers."""
        options = self._re2.Options()
        options.literal = True
        options.case_sensitive = case_sensitive
        options.max_mem = RE2_MEMORY
        options.log_errors = False
        literals = self._re2.Set.SearchSet(options)
        for text in self._texts:
            literals.Add(text)
        letters = {literals.Add(letter): letter for letter in marked}
        canary = literals.Add(_CANARY)
        literals.Compile()
        # RE2 finds nothing when the automaton of its search runs out of memory: that would rule out every pattern
        if canary not in (literals.Match(_CANARY) or ()):
            raise MemoryError("the pattern filter's search for its texts finds nothing")
        return literals, letters

    @functools.cached_property
    def _folding(self) -> Tuple[Any, Dict[int, str]]:
        # RE2 ignoring case folds the long s and the Kelvin sign as `re` does, not the dotted and the dotless i
        return self._literal_set(case_sensitive=False, marked=("\u0130", "\u0131"))

    def possible(self, text: Union[str, bytes]) -> FrozenSet[int]:
        """Return the indexes of the patterns that may match somewhere in `text`."""
        data = text.encode("utf-8", "replace") if isinstance(text, str) else text
        self._searched += len(data)
        lowered = self._searched <= _LOWERED_BYTES
        literals, letters = self._lowered if lowered else self._folding

        def found_in(searched: bytes) -> FrozenSet[int]:
            return frozenset(literals.Match(searched.lower() if lowered else searched) or ())

        found = found_in(data)
        folded = [letter for number, letter in letters.items() if number in found]
        if folded:
            found |= found_in(_folded_read_as_ascii(data, folded))
        return frozenset(index for index, clauses in enumerate(self._needs)
                         if all(not clause.isdisjoint(found) for clause in clauses))


def _folded_read_as_ascii(data: bytes, letters: Sequence[str]) -> bytes:
    """Return what of `data` a needed text holding one of the `letters` (of `_FOLDED_TO_ASCII`) may lie in, with them
    read as the ASCII letters they match: the bytes within `_REACH` of each, or all of `data` where they are many."""
    spelt = [letter.encode() for letter in letters]
    places = [at for letter in spelt for at in _places(data, letter)]
    if len(places) * 2 * _REACH < len(data):
        data = b"\n".join(data[max(0, at - _REACH):at + _REACH + 3] for at in places)  # a letter is 2 or 3 bytes
    for letter, bytes_letter in zip(letters, spelt):
        data = data.replace(bytes_letter, _FOLDED_TO_ASCII[letter].encode())
    return data


def _places(data: bytes, part: bytes) -> Iterator[int]:
    """Yield where `part` starts in `data`, each time."""
    at = data.find(part)
    while at >= 0:
        yield at
        at = data.find(part, at + len(part))
