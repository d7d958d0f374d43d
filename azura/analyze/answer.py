"""The LLM's answer: its JSON schema, the answer check, and merging what passed into the Analysis.

Everything here treats the answer as untrusted. Before any of it may replace the offline answer it must match
the schema and pass the check, failure by failure: summary and root cause are sentences of their own (not
numbers, not the prompt); they do not say a failed step passed; they do not repeat an instruction planted in
the log; every quote it cites is in the excerpt; and when the offline analysis named a failing test or a
compile error, the answer names it too. A failure whose entry fails keeps its offline answer. What is used
can neither issue a logging command nor render HTML or mention anyone.
"""
from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, replace
from pathlib import PurePath
from typing import Any, Dict, FrozenSet, Iterable, List, Optional, Sequence, Set, Tuple

from azura.context import Settings
from azura.errors import LLMError
from azura.models import CATEGORIES, Analysis, Failure, Line, Usage

MAX_EVIDENCE = 5
TEXT_LIMITS = {"headline": 300, "summary": 300, "root_cause": 1500, "suggested_fix": 1500}
ECHO_WORDS = 8  # this many words in a row, copied from the instructions, make an echo
MIN_QUOTE = 4  # a shorter "quote" says too little to check: only its line number is
MIN_TEXT_QUOTE = 12  # quoted text inside a summary or root cause, from this length, must be in the log


def answer_schema(failure_count: int, max_evidence: Optional[int] = MAX_EVIDENCE) -> Dict[str, Any]:
    """Return the JSON schema of an answer for `failure_count` failures, strict enough to constrain small models.

    The schema sent caps evidence, so a server that decodes by grammar stops a model that counts on forever;
    answers are validated without the cap, and extra lines are dropped rather than the answer.
    """
    indexes = list(range(1, failure_count + 1))
    cited = {"type": "object", "additionalProperties": False, "required": ["line", "quote"],
             "properties": {"line": {"type": "integer"}, "quote": {"type": "string"}}}
    evidence: Dict[str, Any] = {"type": "array", "items": cited}
    if max_evidence is not None:
        evidence["maxItems"] = max_evidence
    entry = {
        "type": "object",
        "additionalProperties": False,
        "required": ["index", "category", "summary", "root_cause", "suggested_fix", "confidence", "evidence"],
        "properties": {
            "index": {"type": "integer", "enum": indexes},
            "category": {"type": "string", "enum": list(CATEGORIES)},
            "summary": {"type": "string"},
            "root_cause": {"type": "string"},
            "suggested_fix": {"type": "string"},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
            "evidence": evidence,
        },
    }
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["headline", "failures"],
        "properties": {
            "headline": {"type": "string"},
            "failures": {"type": "array", "items": entry, "minItems": failure_count, "maxItems": failure_count},
        },
    }


_FENCED = re.compile(r"```(?:json)?\s*(\{.*\})\s*```", re.DOTALL)


def parsed(text: str) -> Any:
    """Return the JSON object in an answer's text, or raise LLMError without quoting the text."""
    # Servers that ignore response_format often wrap the JSON in prose or a ```json fence.
    candidates = [text.strip()]
    fenced = _FENCED.search(text)
    if fenced:
        candidates.append(fenced.group(1))
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start:end + 1])
    problem = ""
    for candidate in candidates:
        try:
            # strict=False: grammar-constrained local models put raw tabs and newlines inside strings.
            return json.loads(candidate, parse_constant=_not_a_number, strict=False)
        except (ValueError, RecursionError) as exc:  # RecursionError: arrays nested thousands deep
            problem = problem or str(exc)  # the whole answer's problem says most; no answer text is quoted
    raise LLMError(f"the answer is not valid JSON ({problem[:80]}, {len(text)} characters)")


def _not_a_number(name: str) -> None:
    raise ValueError(f"{name} is not JSON")  # NaN and Infinity would pass a range check and break analysis.json


# ---------------------------------------------------------------- the check

@dataclass(frozen=True)
class Verdict:
    """What the answer check made of one answer: for each failure, the entry to use, or why not.

    An entry is the answer's entry with `evidence` as positions in that failure's excerpt. `problem` is set when
    the answer as a whole was refused (wrong shape), and then no entry is used.
    """

    headline: Optional[str]  # None when the headline did not pass; the merge then writes one
    entries: Tuple[Optional[Dict[str, Any]], ...]
    reasons: Tuple[str, ...]  # per failure: why its entry was refused, "" when it is used
    names: Tuple[str, ...]  # per failure: "failure N (stage › job › task)", for messages
    dropped: int = 0  # cited line numbers that were not in the excerpts
    problem: str = ""

    @property
    def used(self) -> bool:
        return any(entry is not None for entry in self.entries)

    @property
    def complete(self) -> bool:
        """Return whether every part of the answer passed, so that it may be cached and reused as it is."""
        return self.headline is not None and all(entry is not None for entry in self.entries)

    @property
    def status(self) -> str:
        """Return `used`, or `rejected: <the first reason>` (the analysis.json `llm.status`)."""
        if self.used:
            return "used"
        if self.problem:
            return f"rejected: {self.problem}"
        if len(self.reasons) == 1:
            return f"rejected: {self.reasons[0]}"
        name, reason = next((n, r) for n, r in zip(self.names, self.reasons) if r)
        return f"rejected: for {name}, {reason}"

    def refusals(self) -> List[str]:
        """Return one sentence per failure whose entry was refused while others were used."""
        if not self.used:
            return []
        return [f"LLM answer for {name} not used (rejected: {reason}); its offline analysis stands"
                for name, reason in zip(self.names, self.reasons) if reason]


def checked(answer: Any, offline: Analysis, instructions: str) -> Verdict:
    """Return the verdict of the answer check on `answer` for `offline`'s failures.

    `instructions` is the system prompt the model was given: an answer that copies it says nothing.
    """
    count = len(offline.failures)
    names = tuple(f"failure {i} ({failure.step.path})" for i, failure in enumerate(offline.failures, start=1))
    problem = _shape_problem(answer, count)
    if problem:
        return Verdict(None, (None,) * count, (problem,) * count, names, problem=problem)
    echo = _Echo(instructions)
    sources = tuple(line.text for window in offline.sources for line in window.lines)
    entries: List[Optional[Dict[str, Any]]] = []
    reasons: List[str] = []
    dropped = 0
    for entry in sorted(answer["failures"], key=lambda e: e["index"]):
        kept, reason, missing = _checked_entry(entry, offline.failures[entry["index"] - 1], echo, sources)
        entries.append(kept)
        reasons.append(reason)
        dropped += missing
    headline = answer["headline"]
    planted = [text for failure in offline.failures for text in _Planted(failure, sources).lines.values()]
    if _sentence_problem(headline, "headline") or _content_problem(headline, "headline", echo) \
            or _contradicts_the_run(headline) or _repeats_planted(headline, planted, offline.failures):
        headline = None
    return Verdict(headline, tuple(entries), tuple(reasons), names, dropped)


def _shape_problem(answer: Any, count: int) -> str:
    import jsonschema

    validator = jsonschema.Draft202012Validator(answer_schema(count, max_evidence=None))
    error = jsonschema.exceptions.best_match(validator.iter_errors(answer))
    if error is not None:
        where = "/".join(str(part) for part in error.absolute_path) or "the top level"
        if error.validator == "enum" and error.absolute_path and error.absolute_path[-1] == "category":
            return f"the category at {where} is not one of the contract's"
        return f"the answer does not match the schema (at {where}: {error.validator} check failed)"
    indexes = sorted(entry["index"] for entry in answer["failures"])
    if indexes != list(range(1, count + 1)):
        return f"the answer covers failures {indexes}, expected 1..{count}, each once"
    return ""


def _checked_entry(entry: Dict[str, Any], failure: Failure, echo: "_Echo", sources: Sequence[str]
                   ) -> Tuple[Optional[Dict[str, Any]], str, int]:
    """Return (the entry with evidence positions, or None; why not; how many cited lines were dropped).

    `sources` are the run's source lines the model was shown: quotable, and no place for instructions either.
    """
    said = f"{entry['summary']}\n{entry['root_cause']}"
    planted = _Planted(failure, sources)
    problem = (_sentence_problem(entry["summary"], "summary") or _sentence_problem(entry["root_cause"], "root cause")
               or ("the answer repeats an instruction planted in the log"
                   if _repeats_planted(said, planted.lines.values(), (failure,)) else "")
               or ("the answer says the step passed, but it failed" if _contradicts_the_run(said) else "")
               or _content_problem(entry["summary"], "summary", echo)
               or _content_problem(entry["root_cause"], "root cause", echo)
               or _quote_problem(said, failure, sources))
    if problem:
        return None, problem, 0
    positions, dropped, problem = _evidence_positions(entry["evidence"], failure, sources)
    if not problem and set(positions) & planted.positions:
        problem = "the answer cites an instruction planted in the log as evidence"
    problem = problem or _missed_cause(said, failure)
    if problem:
        return None, problem, 0
    kept = {key: entry[key] for key in ("category", "summary", "root_cause", "suggested_fix", "confidence")}
    return kept | {"evidence": positions}, "", dropped


_WORD = re.compile(r"[^\W\d_]{2,}")
_WORDS = re.compile(r"[a-z0-9]+")
# Words that say nothing about a failure by themselves: an answer made only of these is content-free.
_GENERIC = frozenset("""
a an the it its this that these those is was were be been has have had of in on at to for from with by and or
but not no see log logs above below output details detail unknown error errors failed fails fail failure
failures build builds step steps job jobs run runs pipeline task stage exit code process completed exited
because due some something went wrong problem issue occurred happened there here check more information
""".split())


def _sentence_problem(text: str, what: str) -> str:
    words = _WORD.findall(text)
    if len(words) < 2 or sum(len(word) for word in words) < 8:
        return f"the {what} is not a sentence"
    return ""


def _content_problem(text: str, what: str, echo: "_Echo") -> str:
    if all(word.lower() in _GENERIC for word in _WORD.findall(text)):
        return f"the {what} says nothing specific"
    if echo.copies(text):
        return f"the {what} copies the prompt"
    return ""


class _Echo:
    """The instructions the model was given, to tell an answer that merely repeats them."""

    # The prompt's own shapes: a copy of them is a copy of the prompt, whatever the words.
    SHAPES = re.compile(r"(?:BEGIN|END) (?:LOG|SOURCE)|## Failure \d|^\s*(?:diagnosis|fact|history|issue) \|",
                        re.MULTILINE)
    NUMBERED = re.compile(r"^\s*\d+ \| ", re.MULTILINE)

    def __init__(self, instructions: str):
        words = _WORDS.findall(instructions.lower())
        self.text = " " + " ".join(words) + " "
        self.runs = {tuple(words[i:i + ECHO_WORDS]) for i in range(len(words) - ECHO_WORDS + 1)}

    def copies(self, text: str) -> bool:
        if self.SHAPES.search(text) or len(self.NUMBERED.findall(text)) >= 2:
            return True
        words = _WORDS.findall(text.lower())
        if len(words) >= 3 and f" {' '.join(words)} " in self.text:
            return True
        return any(tuple(words[i:i + ECHO_WORDS]) in self.runs for i in range(len(words) - ECHO_WORDS + 1))


# A claim that nothing failed. "green" alone is not one: "since the last green build" is a fine root cause.
_SUCCESS = re.compile(
    r"\b(?:pass(?:ed|es)?|succeed(?:ed|s)?|success(?:ful(?:ly)?)?|is green|all good|ok to merge"
    r"|no (?:failures?|errors?|problems?|issues?|action)|nothing (?:failed|went wrong|to fix)"
    r"|(?:did not|didn't|does not|doesn't|never) fail(?:ed)?|without (?:errors?|failures?))\b", re.IGNORECASE)
# Anything that says something went wrong; one of these beside a success claim makes it a partial success.
_TROUBLE = re.compile(
    r"\b(?:fail\w*|error\w*|exception\w*|crash\w*|time[sd]? ?out|timeouts?|abort\w*|killed|broke\w*|missing"
    r"|not found|cannot|can't|could not|couldn't|unable|denied|refused|invalid|mismatch\w*|expected|segfault\w*"
    r"|panic\w*|cancel\w*|exceeded|unresolved|undefined|unauthori[sz]ed|forbidden|rejected|exit(?:ed)? with"
    r"|non-zero|nonzero|wrong|incompatible|conflict\w*|deprecated|violat\w*|unreachable|out of|stopped|halted"
    r"|(?:did|does|is|was|were|are|could|would) not|(?:did|does|is|was|were|are)n't|no such"
    r"|[A-Z]{1,5}\d{3,5})\b", re.IGNORECASE)  # the last: a tool's error code, CS0246, TS2322, E0308


def _contradicts_the_run(text: str) -> bool:
    """Return whether `text` says the run or step succeeded and nothing in it says what went wrong."""
    if not _SUCCESS.search(text):
        return False
    return not _TROUBLE.search(_SUCCESS.sub(" ", text))


# Text written to a model, not to a person reading a log: orders, notes addressed to an assistant, role play.
_ORDER = re.compile(
    r"\b(?:ignore|disregard|forget|override)\b.{0,40}?\b(?:instructions?|prompts?|rules|directions|guidelines)\b"
    r"|\b(?:note|message|instructions?|hint|reminder|attention)s?\s+(?:to|for)\s+(?:the\s+|any\s+|all\s+)?"
    r"(?:ai|assistant|llm|model|language model|analy[sz]er|bot|gpt|chatgpt|copilot|reviewer|agent)s?\b"
    r"|\b(?:ai|llm|gpt|chatgpt|copilot|assistant)s?(?:\s+(?:reviewers?|agents?|models?|analy[sz]ers?))?\s*[:,]"
    r"|\byou\s+(?:are|must|should|will)\s+(?:now\s+)?(?:an?\s+)?(?:ai|assistant|model|respond|answer|report|say"
    r"|classify|output|ignore|reply)\b"
    r"|\b(?:system|new)\s+(?:prompt|instructions?)\b"
    r"|\b(?:report|say|state|answer|respond|reply|output|classify|conclude)\s+(?:that\s+)?(?:this|the)\s+"
    r"(?:build|run|pipeline|job|step|tests?)\s+(?:has\s+|have\s+|is\s+|was\s+)?(?:passed|succeeded|green|fine|ok)\b",
    re.IGNORECASE)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_BASE64 = re.compile(r"[A-Za-z0-9+/]{20,}={0,2}")


def _readings(text: str) -> List[str]:
    """Return the ways a model may read `text`: as written, as words (test names), and base64 decoded."""
    words = _CAMEL.sub(" ", text).replace("_", " ").replace("-", " ")
    readings = [text, words]
    for token in _BASE64.findall(text):
        try:
            decoded = base64.b64decode(token + "=" * (-len(token) % 4), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            continue
        if decoded.isprintable() or all(c.isprintable() or c.isspace() for c in decoded):
            readings.append(decoded)
    return readings


class _Planted:
    """The lines of a failure's excerpt, its facts and the run's source lines that hold an instruction to a model,
    by line number (facts and sources get negative numbers: no evidence can point at them)."""

    def __init__(self, failure: Failure, sources: Sequence[str] = ()):
        self.lines: Dict[int, str] = {}
        numbered = [(line.number, line.text) for line in failure.excerpt.lines]
        numbered += [(-1 - i, text) for i, text in enumerate(_fact_texts(failure) + list(sources))]
        for number, text in numbered:
            orders = [reading for reading in _readings(text) if _ORDER.search(reading)]
            if orders:
                self.lines[number] = " ".join(orders)
        numbers = [line.number for line in failure.excerpt.lines]
        self.positions = {numbers.index(n) for n in self.lines if n in numbers}


# Words an answer uses whatever the cause: they cannot tell that it took its words from a planted line.
_ANSWER_WORDS = _GENERIC | frozenset("""
ignore previous prior instructions instruction assistant model report reports say says said state answer category
summary root cause note reviewer reviewers confidence fix nothing needs needed the you your please should must
will would that which when what then than into onto only also just as is are be passed succeeded success
""".split())


def _repeats_planted(text: str, planted: Iterable[str], failures: Sequence[Failure]) -> bool:
    """Return whether `text` takes its words from a planted instruction rather than from the rest of the log.

    Two words of the instruction that occur nowhere else in the failures' logs are enough: they came from the order.
    """
    planted = list(planted)
    if not planted:
        return False
    elsewhere: Set[str] = set()
    for failure in failures:
        for line in failure.excerpt.lines:
            if not _ORDER.search(" ".join(_readings(line.text))):
                elsewhere.update(_content_words(line.text))
        elsewhere.update(_content_words(failure.step.path))
    ordered = set().union(*(_content_words(text_) for text_ in planted)) - elsewhere
    return len(_content_words(text) & ordered) >= 2


def _content_words(text: str) -> FrozenSet[str]:
    return frozenset(word for word in _WORDS.findall(" ".join(_readings(text)).lower())
                     if len(word) >= 3 and word not in _ANSWER_WORDS and not word.isdigit())


def _normalised(text: str) -> str:
    return " ".join(text.lower().split())


def _quotable(failure: Failure, sources: Sequence[str]) -> List[str]:
    """Return what an answer may quote from: the excerpt's lines first, then the step's issues, the offline facts
    and the source lines the model was shown."""
    texts = [line.text for line in failure.excerpt.lines] + [issue.message for issue in failure.step.issues]
    return [_normalised(text) for text in texts + _fact_texts(failure) + list(sources)]


_LINE_PREFIX = re.compile(r"^\s*\d+ \| ")  # a quote copied with the prompt's "NNN | " in front of it


def _holds(quote: str, text: str) -> bool:
    """Return whether normalised `text` holds `quote`, whose pieces may be joined by an ellipsis."""
    quote = _LINE_PREFIX.sub("", quote)
    pieces = [piece.strip(" \"'`“”‘’.,;:") for piece in re.split(r"\.\.\.|…", _normalised(quote))]
    pieces = [piece for piece in pieces if piece]
    return bool(pieces) and all(piece in text for piece in pieces)


_QUOTED = re.compile(r"\"([^\"]+)\"|“([^”]+)”")


def _quote_problem(text: str, failure: Failure, sources: Sequence[str]) -> str:
    """Return why the text's quotations are not from the log, or ''."""
    quotable = _quotable(failure, sources)
    for match in _QUOTED.finditer(text):
        quote = match.group(1) or match.group(2)
        if len(quote.strip()) >= MIN_TEXT_QUOTE and not any(_holds(quote, source) for source in quotable):
            return "the answer quotes text that is not in the excerpt"
    return ""


def _evidence_positions(cited: Sequence[Dict[str, Any]], failure: Failure, sources: Sequence[str]
                        ) -> Tuple[List[int], int, str]:
    """Return (positions in the excerpt of the lines cited, how many were dropped, a problem or '').

    A line whose quote is on another line of the excerpt is that other line (small models miscount); a line
    number not in the excerpt with no checkable quote is dropped; a quote found nowhere is a made-up quote.
    """
    lines = failure.excerpt.lines
    texts = [_normalised(line.text) for line in lines]
    others = _quotable(failure, sources)[len(lines):]  # quotable, but no line of the excerpt to point at
    positions: List[int] = []
    dropped = 0
    for item in cited:
        quote = item["quote"].strip()
        where = next((i for i, line in enumerate(lines) if line.number == item["line"]), None)
        if len(quote) < MIN_QUOTE:
            if where is None:
                dropped += 1
            else:
                positions.append(where)
            continue
        if where is not None and _holds(quote, texts[where]):
            positions.append(where)
            continue
        holding = [i for i, text in enumerate(texts) if _holds(quote, text)]
        if holding:
            positions.append(min(holding, key=lambda i: abs(lines[i].number - item["line"])))
        elif not any(_holds(quote, text) for text in others):
            return [], 0, f"the answer quotes text that is not in the excerpt (cited as line {item['line']})"
    return list(dict.fromkeys(positions))[:MAX_EVIDENCE], dropped, ""


def _missed_cause(text: str, failure: Failure) -> str:
    """Return what specific cause the offline analysis named and `text` does not, or ''."""
    causes = _named_causes(failure)
    if not causes:
        return ""
    said = text.lower()
    if any(any(mention.lower() in said for mention in mentions) for _, mentions in causes):
        return ""
    return f"the answer does not name {causes[0][0]}, which the offline analysis found"


def _named_causes(failure: Failure) -> List[Tuple[str, Tuple[str, ...]]]:
    """Return the specific causes the offline facts name, each as (how to say it, what naming it looks like)."""
    facts = failure.facts
    causes = []
    for test in facts.failing_tests:
        if test.name.strip():
            causes.append((f"the failing test {test.name}", _test_mentions(test.name)))
    for error in facts.compile_errors:
        if error.location and error.location.line:
            mentions = [PurePath(error.location.file.replace("\\", "/")).name, str(error.location)]
            if len(error.code) >= 3:
                mentions.append(error.code)
            causes.append((f"the compile error at {error.location}", tuple(m for m in mentions if m)))
    return causes


def _test_mentions(name: str) -> Tuple[str, ...]:
    """Return the ways an answer may name a test: in full, without parameters, or by its last part."""
    bare = re.sub(r"\[.*\]$|\(.*\)$", "", name.strip())
    last = re.split(r"::|[./#>\\ ]+", bare.rstrip(":. "))[-1]
    return tuple(dict.fromkeys(m for m in (name.strip(), bare, last) if len(m) >= 4))


def _fact_texts(failure: Failure) -> List[str]:
    facts = failure.facts
    texts = [f"{test.name} {test.message}" for test in facts.failing_tests]
    texts += [f"{error.location or ''} {error.code} {error.message}" for error in facts.compile_errors]
    texts += [name.name for name in facts.missing]
    return texts


# ---------------------------------------------------------------- cache

def fits(answer: Any, offline: Analysis) -> bool:
    """Return whether a cached answer has the stored shape and its evidence positions exist in these excerpts."""
    if not isinstance(answer, dict) or not isinstance(answer.get("headline"), str):
        return False
    failures = answer.get("failures")
    if not isinstance(failures, list) or len(failures) != len(offline.failures):
        return False
    return all(_fits_entry(entry, len(failure.excerpt.lines)) for entry, failure in zip(failures, offline.failures))


def _fits_entry(entry: Any, line_count: int) -> bool:
    return (isinstance(entry, dict) and entry.get("category") in CATEGORIES
            and all(isinstance(entry.get(key), str) for key in ("summary", "root_cause", "suggested_fix"))
            and isinstance(entry.get("confidence"), (int, float)) and 0 <= entry["confidence"] <= 1
            and isinstance(entry.get("evidence"), list)
            and all(isinstance(p, int) and 0 <= p < line_count for p in entry["evidence"]))


def cached_verdict(answer: Dict[str, Any], offline: Analysis) -> Verdict:
    """Return the verdict a cached (complete, checked) answer stands for."""
    names = tuple(f"failure {i}" for i in range(1, len(offline.failures) + 1))
    return Verdict(answer["headline"], tuple(answer["failures"]), ("",) * len(names), names)


def to_cache(verdict: Verdict) -> Dict[str, Any]:
    """Return the stored form of a complete verdict."""
    return {"headline": verdict.headline, "failures": list(verdict.entries)}


# ---------------------------------------------------------------- merge

def merged(offline: Analysis, verdict: Verdict, settings: Settings, usage: Usage) -> Analysis:
    """Return `offline` with every entry that passed the check in place of its failure's offline answer.

    The headline is the answer's when it passed and the first failure's entry is used; else one written like the
    offline one. Evidence keeps the offline lines first, then adds the lines the model cited.
    """
    from azura.analyze.offline import build_tag, headline

    failures = tuple(failure if entry is None else _merged_failure(failure, entry)
                     for failure, entry in zip(offline.failures, verdict.entries))
    if verdict.headline is not None and verdict.entries[0] is not None:
        title = untrusted(verdict.headline, TEXT_LIMITS["headline"])
    else:
        title = headline(failures)
    analysis = replace(offline, headline=title, failures=failures, tag=build_tag(failures, settings.tag_prefix),
                       usage=usage, llm_status=verdict.status)
    for refusal in verdict.refusals():
        analysis = analysis.with_warning(refusal)
    return analysis


def _merged_failure(failure: Failure, entry: Dict[str, Any]) -> Failure:
    lines = failure.excerpt.lines
    cited = tuple(lines[position] for position in entry["evidence"])
    known = {line.number for line in failure.evidence}
    evidence = failure.evidence + tuple(line for line in cited if line.number not in known)
    return replace(
        failure, category=entry["category"], confidence=float(entry["confidence"]),
        summary=untrusted(entry["summary"], TEXT_LIMITS["summary"]),
        root_cause=untrusted(entry["root_cause"], TEXT_LIMITS["root_cause"]),
        suggested_fix=untrusted(entry["suggested_fix"], TEXT_LIMITS["suggested_fix"]),
        evidence=_unique(evidence),
    )


def _unique(lines: Tuple[Line, ...]) -> Tuple[Line, ...]:
    return tuple({(line.number, line.text): line for line in lines}.values())


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_TAG = re.compile(r"<(/?[A-Za-z!][^<>]*)>")
_MENTION = re.compile(r"(?<![\w.])@(?=[\w<{\[])")  # not the @ inside an e-mail address


def untrusted(text: str, limit: int) -> str:
    """Return model-written `text` unable to issue logging commands, render HTML or mention anyone."""
    from azura.commands import neutralize

    text = _CONTROL.sub(" ", text).strip()
    text = _TAG.sub(lambda m: f"‹{m.group(1)}›", text)
    text = _MENTION.sub("@\u200b", text)
    text = neutralize(text)
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"
