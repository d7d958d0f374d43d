"""Signature patterns keep to shapes whose matching time is bounded on any line (azura.analyze.patterns)."""
import pickle
import re
import sys

import pytest

from azura.analyze import patterns
from azura.analyze.patterns import (KeywordPattern, LazyPattern, needed_texts, needed_texts_document, pattern_problem,
                                    possible_patterns, unanchored)
from azura.analyze.signatures import bundled_signatures, load_signatures
from azura.errors import ConfigError
from tests.corpus import corpus_dir, log_chunks


@pytest.mark.parametrize("pattern, problem", [
    (r"(a+)+$", "nested quantifiers"),
    (r"(?:\w+-?)*!", "nested quantifiers"),
    (r"(?:x{2,5})+", "nested quantifiers"),
    (r"(a|ab)*c", "alternatives that can start alike"),
    (r"(?:.b|ab)+x", "alternatives that can start alike"),
    (r"error.*in .*line .*:", "3 repeats of almost any character"),
    (r"a[^x]*b\S+c\W*d", "3 repeats of almost any character"),
    (r"foo(?=bar)", "look-ahead or look-behind"),
    (r"(?<!not )found", "look-ahead or look-behind"),
    (r"(['\"]).*\1", "back-reference"),
    (r"(a)?(?(1)b|c)", "conditional group"),
    (r"x{1001}", "counted repetition above {1000}"),
])
def test_pattern_that_could_stall_is_refused_with_the_reason(pattern, problem):
    assert problem in (pattern_problem(pattern) or "")


@pytest.mark.skipif(sys.version_info < (3, 11), reason="atomic groups and possessive quantifiers came in 3.11")
@pytest.mark.parametrize("pattern", [r"(?>a+)b", r"a++b"])
def test_atomic_group_and_possessive_quantifier_are_refused(pattern):
    assert pattern_problem(pattern) is not None


@pytest.mark.parametrize("pattern", [
    r"ContosoDb is warming up",
    r"\d+(?:\.\d+)*",  # each round starts at a dot no inner repeat can take: one way to split
    r"(?i)version \d+(?:v\d+)+",
    r"(?:foo|bar)+",
    r"error.*in .*\.cs",
    r"a.*b|c.*d|e.*f",  # alternatives are tried one after the other, not multiplied
    r"^\s*(?:E\s+)?AssertionError\b",
    r"x{1000}",
])
def test_pattern_of_bounded_shape_is_accepted(pattern):
    assert pattern_problem(pattern) is None


@pytest.mark.parametrize("signature", bundled_signatures(), ids=lambda s: s.id)
def test_bundled_pattern_keeps_to_the_bounded_shapes(signature):
    assert pattern_problem(signature.pattern) is None


def test_user_signature_that_could_stall_is_refused_naming_entry_and_file():
    entry = {"id": "team-slow", "category": "test", "pattern": r"^(\w+\s?)*$", "summary": "s", "hint": "h"}
    with pytest.raises(ConfigError) as refused:
        load_signatures([entry], "team/azura.yml")
    message = str(refused.value)
    assert "team/azura.yml" in message and "'team-slow'" in message and "nested quantifiers" in message


def test_lazy_pattern_is_compiled_on_first_use_and_then_answers_as_re_does():
    broken = LazyPattern("(unclosed")  # nothing is compiled yet, so nothing fails yet
    with pytest.raises(re.error):
        broken.search("text")
    pattern = LazyPattern(r"FAILED (?P<name>\S+)")
    line = "x FAILED tests/test_a.py::test_b - assert 1 == 2"
    assert pattern.search(line).group("name") == re.search(pattern.pattern, line).group("name")
    assert pattern.match(line) is None and pattern.groupindex == {"name": 1}
    assert pickle.loads(pickle.dumps(pattern)).search(line).group("name") == "tests/test_a.py::test_b"



def test_keyword_pattern_is_tried_and_compiled_only_on_text_that_holds_a_keyword():
    broken = KeywordPattern("(unclosed", "FAILED")
    assert broken.search("all 12 passed") is None  # never compiled, so it never failed
    with pytest.raises(re.error):
        broken.search("1 FAILED")
    pattern = KeywordPattern(r"(?P<n>\d+) (?:failed|FAILED)", "failed", "FAILED")
    assert pattern.search("x 2 FAILED").group("n") == "2" and pattern.match("3 failed").group("n") == "3"
    assert pattern.search("2 Failed") is None and pattern.match("x 3 failed") is None
    assert KeywordPattern(r"\d+ failed").search("2 failed")  # without keywords it is tried on every text


BUNDLED_PATTERNS = tuple(signature.pattern for signature in bundled_signatures())


@pytest.fixture(params=["lowered", "ignoring case"])
def search(request, monkeypatch):
    """The filter's two searches: of the text lowercased (a process's first megabytes), and by a set that ignores
    case (after `_LOWERED_BYTES`, for many failed steps)."""
    if request.param == "ignoring case":
        monkeypatch.setattr(patterns, "_LOWERED_BYTES", -1)
    patterns.pattern_filter.cache_clear()
    yield request.param
    patterns.pattern_filter.cache_clear()


def test_every_bundled_signature_stays_possible_in_each_of_its_examples(search):
    pytest.importorskip("re2", reason="the filter is RE2's (the re2 extra)")
    ruled_out = [(signature.id, example) for signature in bundled_signatures() for example in signature.examples
                 if signature.pattern not in possible_patterns(BUNDLED_PATTERNS, example)]
    assert ruled_out == []


def test_the_signatures_whose_literals_a_text_lacks_are_ruled_out(search):
    pytest.importorskip("re2", reason="the filter is RE2's (the re2 extra)")
    possible = possible_patterns(BUNDLED_PATTERNS, "npm ERR! code ERESOLVE\nRestored 12 packages in 1.2 s")
    assert 0 < len(possible) < len(BUNDLED_PATTERNS) / 4


@pytest.mark.parametrize("pattern, text", [
    (r"(?i)deployment quota", "DEPLOYMENT QUOTA reached"),
    (r"^Quota exceeded", "2024-05-01T10:00:00.0000000Z Quota exceeded"),  # raw bytes: a timestamp before the text
    (r"(?i)ſtatus \d+", "STATUS 503"),  # RE2 folds the long s with s
    (r"(?i)k8s apply failed", "\u212a8s apply failed"),  # and the Kelvin sign with k
    (r"İstanbul region (?:down|full)", "İstanbul region full"),
    (r"(?:Gradle|Maven) build (?:failed|broke) at [a-c]{2}", "Maven build broke at cb"),
])
def test_a_pattern_stays_possible_wherever_re2_matches_it(pattern, text, search):
    re2 = pytest.importorskip("re2", reason="the filter is RE2's (the re2 extra)")
    assert re2.search(unanchored(pattern), text)
    assert possible_patterns((pattern, "never here"), text) == (pattern,)


@pytest.mark.parametrize("pattern, text", [
    (r"(?<!no )quota reached", "no quota reached"),  # RE2 refuses look-behinds
    (r"quota x{,3} reached", "quota xx reached"),  # RE2 reads "{,3}" as text, `re` as a repeat
])
def test_a_pattern_re2_refuses_or_reads_otherwise_than_re_is_always_possible(pattern, text):
    pytest.importorskip("re2", reason="the filter is RE2's (the re2 extra)")
    assert possible_patterns((pattern, "never here"), text) == (pattern,)


def test_without_re2_every_pattern_is_possible(monkeypatch, without_cached_matchers):
    monkeypatch.setitem(sys.modules, "re2", None)  # as where google-re2 has no wheel: the import fails
    assert possible_patterns(BUNDLED_PATTERNS, "Restored 12 packages in 1.2 s") == BUNDLED_PATTERNS


@pytest.mark.parametrize("pattern, needed", [
    (r"Error CS\d+: ", (("error cs",),)),  # lowercased; a class of digits ends the text
    (r"npm ERR! code E(?:RESOLVE|NOTFOUND)", (("npm err! code enotfound", "npm err! code eresolve"),)),
    (r"[Ee]rror: (?:TS|CS)\d", (("error: cs", "error: ts"),)),  # a few spellings of fixed text
    (r"\bmake: \*\*\* \[.*\] Error \d+", (("] error ",), ("make: *** [",))),  # one clause a stretch
    (r"(?i)the job running on (?:agent|pool) .* ran longer",
     ((" ran longer",), ("the job running on agent", "the job running on pool "))),  # 24 characters at most
    (r"Cannot find module '[^']+'|Module not found: ", (("cannot find module '", "module not found: "),)),
    (r"fatal: .*not found|ENOENT: no such file",  # one text of each branch's clauses, in pairs
     (("enoent: no such file", "fatal: "), ("enoent: no such file", "not found"))),
    (r"Timed? ?out after \d+ s",  # optional parts spelt with and without
     (("time out after ", "timed out after ", "timedout after ", "timeout after "),)),
    (r"(?:npm ERR! )+code E404", (("npm err! ",), ("npm err! code e404",))),  # its last round goes on
    (r"Échec de la compilation", (("chec de la compilation",),)),  # a cased letter that is not ASCII is not spelt
    (r"→ build failed", (("→ build failed",),)),  # a character without case is
    (r"a+b|x", ()),  # too short to rule anything out
    (r"\d+ failed, \d+ passed", ((" failed, ",), (" passed",))),
    (r"quota x{,3} reached", ()),  # RE2 reads "{,3}" otherwise: no text is sure
])
def test_the_texts_a_pattern_needs(pattern, needed):
    assert needed_texts(pattern) == needed


def test_every_match_of_a_bundled_pattern_holds_a_text_of_each_of_its_clauses():
    missing = [(signature.id, example, clause) for signature in bundled_signatures() for example in signature.examples
               for clause in needed_texts(signature.pattern) if not any(text in example.lower() for text in clause)]
    assert missing == []


# Every character but ASCII and the surrogates (which RE2's UTF-8 cannot hold), searched at once
EVERY_OTHER_CHARACTER = "".join(chr(code) for code in range(128, sys.maxunicode + 1) if not 0xD800 <= code <= 0xDFFF)


def test_only_the_four_folded_letters_match_an_ascii_letter_ignoring_case_besides_its_own_case():
    re2 = pytest.importorskip("re2", reason="RE2's folding is checked with RE2 (the re2 extra)")
    folded = {}
    for letter in "abcdefghijklmnopqrstuvwxyz":
        for search in (re.compile(letter, re.IGNORECASE), re2.compile(f"(?i){letter}")):
            folded.update(dict.fromkeys(search.findall(EVERY_OTHER_CHARACTER), letter))
    assert folded == patterns._FOLDED_TO_ASCII


def test_a_spelt_character_that_is_not_ascii_matches_only_itself_ignoring_case():
    re2 = pytest.importorskip("re2", reason="RE2's folding is checked with RE2 (the re2 extra)")
    spelt = {character for clauses in map(needed_texts, BUNDLED_PATTERNS) for clause in clauses for text in clause
             for character in text if not character.isascii()} | {"→", "✗", "…"}
    for character in sorted(spelt):
        for search in (re.compile(re.escape(character), re.IGNORECASE), re2.compile(f"(?i){re.escape(character)}")):
            assert search.findall(EVERY_OTHER_CHARACTER) == [character]


@pytest.mark.parametrize("text", ["İMAGE PULL FAILED", "ımage pull failed", "STATUS ſ03", "\u212aILLED"])
def test_a_folded_letter_in_a_text_is_read_as_the_ascii_letter_it_matches(text, search):
    pytest.importorskip("re2", reason="the filter is RE2's (the re2 extra)")
    pattern = r"(?i)image pull failed|status \S03|killed"
    assert re.search(pattern, text)
    assert possible_patterns((pattern, "never here"), text) == (pattern,)
    assert possible_patterns((pattern, "never here"), text.encode()) == (pattern,)


@pytest.mark.parametrize("text", [
    "x" * 5000 + "\U0001f6ab" * 23 + "\u212a " + "y" * 5000,  # a needed text of 24 characters in 93 bytes
    "\u0131" * 3000 + "\U0001f6ab" * 23 + "\u212a",  # the letters too many to read around each: all is read
], ids=["far into a long text", "among many folded letters"])
def test_a_folded_letter_is_read_as_ascii_wherever_a_needed_text_around_it_starts(text, search):
    pytest.importorskip("re2", reason="the filter is RE2's (the re2 extra)")
    pattern = "(?i)\U0001f6ab{23}k"
    assert needed_texts(pattern) == (("\U0001f6ab" * 23 + "k",),)
    assert re.search(pattern, text)
    assert possible_patterns((pattern, "never here"), text.encode()) == (pattern,)


def test_no_bundled_signature_that_matches_a_real_log_is_ruled_out(search):
    re2 = pytest.importorskip("re2", reason="the filter is RE2's (the re2 extra)")
    corpus = corpus_dir()
    logs = sorted((corpus / "logchunks" / "logs").glob("*/*/*/*.log.gz"))[::10] + \
        sorted((corpus / "other-ci-corpora" / "cidiff-breakages" / "data").glob("**/fail.log"))[::2]
    searches = {pattern: re2.compile(unanchored(pattern).encode()) for pattern in BUNDLED_PATTERNS}
    wrongly = []
    for path in logs:
        data = b"".join(log_chunks(path))
        possible = set(possible_patterns(BUNDLED_PATTERNS, data))
        wrongly += [(path.name, p) for p in BUNDLED_PATTERNS if p not in possible and searches[p].search(data)]
    assert len(logs) > 100 and wrongly == []


def test_the_shipped_needed_texts_are_those_the_bundled_patterns_need():
    shipped = patterns.NEEDED_TEXTS_PATH.read_text(encoding="utf-8")
    assert shipped == needed_texts_document(BUNDLED_PATTERNS), "stale: run `python scripts/needed_texts.py`"


def test_the_filter_reads_the_bundled_patterns_needs_from_the_shipped_file(monkeypatch):
    def not_worked_out(pattern):
        raise AssertionError(f"worked out at run time: {pattern}")

    patterns.pattern_filter.cache_clear()
    monkeypatch.setattr(patterns, "needed_texts", not_worked_out)
    try:
        assert possible_patterns(BUNDLED_PATTERNS, "npm ERR! code ERESOLVE") != BUNDLED_PATTERNS
    finally:
        patterns.pattern_filter.cache_clear()


def test_without_the_shipped_file_the_needs_are_worked_out_alike(monkeypatch, tmp_path):
    pytest.importorskip("re2", reason="the filter is RE2's (the re2 extra)")
    text = "npm ERR! code ERESOLVE\nerror CS0246: The type or namespace name 'Foo' could not be found"
    shipped = possible_patterns(BUNDLED_PATTERNS, text)
    monkeypatch.setattr(patterns, "NEEDED_TEXTS_PATH", tmp_path / "absent.json")
    patterns.pattern_filter.cache_clear()
    patterns._shipped_needed_texts.cache_clear()
    try:
        assert possible_patterns(BUNDLED_PATTERNS, text) == shipped
    finally:
        patterns.pattern_filter.cache_clear()
        patterns._shipped_needed_texts.cache_clear()
