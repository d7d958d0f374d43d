"""Signature patterns keep to shapes whose matching time is bounded on any line (azura.analyze.patterns)."""
import pickle
import re
import sys

import pytest

from azura.analyze.patterns import KeywordPattern, LazyPattern, pattern_problem, possible_patterns, unanchored
from azura.analyze.signatures import bundled_signatures, load_signatures
from azura.errors import ConfigError


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


def test_every_bundled_signature_stays_possible_in_each_of_its_examples():
    pytest.importorskip("re2", reason="the filter is RE2's (the re2 extra)")
    ruled_out = [(signature.id, example) for signature in bundled_signatures() for example in signature.examples
                 if signature.pattern not in possible_patterns(BUNDLED_PATTERNS, example)]
    assert ruled_out == []


def test_the_signatures_whose_literals_a_text_lacks_are_ruled_out():
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
def test_a_pattern_stays_possible_wherever_re2_matches_it(pattern, text):
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
