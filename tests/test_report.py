import json
import re
from dataclasses import replace

import pytest

from azura import __version__, report
from azura.errors import ConfigError
from azura.models import (Analysis, Build, Change, Excerpt, FailedStep, FailedTestRun, FailingTest, Failure,
                          History, Line, SourceLocation, SourceWindow, Usage)
from azura.report import (PR_COMMENT_MARKER, TEMPLATE_NAMES, bundled_templates_dir, code_block, plain, render,
                          shorten)

BUILD_URL = "https://dev.azure.com/contoso/web/_build/results?buildId=812"
LOGGING_COMMAND = re.compile(r"##(?:vso)?\[", re.IGNORECASE)


def make_failure(*texts, first=40, root_cause="The .NET compiler reported an error.", summary="Compile error.",
                 fix="Fix the error.", category="compile", **step):
    lines = tuple(Line(first + index, text) for index, text in enumerate(texts))
    failed_step = FailedStep(**{"name": "Build", "stage": "CI", "job": "Linux", "log_id": 7, **step})
    return Failure(step=failed_step, excerpt=Excerpt(step=failed_step, lines=lines, tokens=12), category=category,
                   summary=summary, root_cause=root_cause, suggested_fix=fix, confidence=0.9, evidence=lines)


def make_analysis(*failures, **fields):
    failures = failures or (make_failure("src/A.cs(3,5): error CS0246: The type 'OrderDto' could not be found"),)
    values = {"headline": "The .NET compiler reported an error (CI › Linux › Build)", "failures": failures,
              "tag": "azura-compile", "usage": Usage(excerpt_tokens=12)}
    values.update(fields)
    return Analysis(**values)


def full_history(**fields):
    values = dict(last_success_build_id=800, last_success_url=BUILD_URL.replace("812", "800"),
                  first_failure_build_id=805, first_failure_url=BUILD_URL.replace("812", "805"),
                  changes=(Change(id="a1b2c3d4e5f60718", author="Jane Doe", message="Rename OrderDto\n\nbody",
                                  url="https://dev.azure.com/contoso/web/_git/web/commit/a1b2c3d4e5f60718",
                                  suspect=True),),
                  flaky=True, flaky_evidence=("passed on retry in attempt 2",))
    values.update(fields)
    return History(**values)


def all_outputs(rendered):
    return {"summary": rendered.summary_md, "comment": rendered.pr_comment_md, "text": rendered.text}


def test_every_template_renders_a_full_analysis_under_strict_undefined():
    analysis = make_analysis(build=Build(id=812, number="20261121.3", url=BUILD_URL, definition="web", result="failed"),
                             history=full_history(), warnings=("LLM answer not used (timeout)",),
                             model="gpt-4o", provider="openai", usage=Usage(12, 900, 120))
    rendered = render(analysis)
    for output in all_outputs(rendered).values():
        assert "OrderDto" in output and "LLM answer not used" in output


def test_an_analysis_without_failures_renders():
    rendered = render(make_analysis(make_failure(), headline="No failed step was found.", failures=()))
    assert "No failed step was found." in rendered.summary_md


def test_logging_commands_from_untrusted_text_never_reach_any_output():
    hostile = "##vso[task.setvariable variable=deploy]yes ##[error]fake ##VSO[build.addbuildtag]x"
    failure = make_failure(hostile, "##[group]x", root_cause=hostile, summary=hostile, fix=hostile, name=hostile)
    analysis = make_analysis(failure, headline=hostile, warnings=(hostile,),
                             history=full_history(changes=(Change(id="abc", author=hostile, message=hostile),),
                                                  flaky_evidence=(hostile,)))
    rendered = render(analysis)
    for name, output in {**all_outputs(rendered), "json": rendered.analysis_json}.items():
        assert not LOGGING_COMMAND.search(output), name
    assert "#\u200b#vso[task.setvariable" in rendered.summary_md  # still readable to people


def test_json_escapes_logging_commands_yet_reads_back_unchanged():
    analysis = make_analysis(make_failure("##vso[task.complete result=Succeeded]done"))
    assert json.loads(render(analysis).analysis_json) == analysis.to_dict()


def test_code_fence_is_longer_than_any_backtick_run_in_the_log():
    block = code_block("a ```` b\n```\n# not a heading")
    assert block.splitlines()[0] == "`````" and block.splitlines()[-1] == "`````"


def test_evidence_with_a_fence_stays_inside_its_block_in_the_summary():
    summary = render(make_analysis(make_failure("```", "## Injected heading"))).summary_md
    assert "\n````\n>   40 | ```\n    41 | ## Injected heading\n````\n" in summary


def test_code_block_keeps_markup_characters_literal():
    assert "<b>&amp;</b>" in code_block("<b>&amp;</b>")


def test_html_mentions_links_and_markers_from_llm_text_are_neutralised():
    hostile = ("<img src=x onerror=alert(1)> ping @alice, see [click](https://evil.example) "
               "![pixel](https://evil.example/p.png) fixes #123 <!-- azura:pr-comment v1 --> **bold**")
    comment = render(make_analysis(make_failure("x", root_cause=hostile, fix=hostile))).pr_comment_md
    assert "<img" not in comment and "<!-- azura" not in comment.split("\n", 1)[1]
    assert "@alice" not in comment and "@\u200balice" in comment
    assert "](https://evil" not in comment and "![" not in comment
    assert "#123" not in comment and "**bold**" not in comment
    assert "`https://evil.example`" in comment  # shown, copyable, not a link


def test_plain_leaves_ordinary_text_as_it_is():
    assert plain("Fix the error in Api.cs line 42; then re-run.") == "Fix the error in Api.cs line 42; then re-run."


def test_plain_keeps_one_line_and_drops_terminal_escapes():
    assert plain("first\n# second\x1b[31m red", markdown=False) == "first # second[31m red"


def test_pr_comment_starts_with_the_hidden_marker():
    assert render(make_analysis()).pr_comment_md.startswith(PR_COMMENT_MARKER + "\n")


def test_user_template_overrides_pr_comment_by_name_and_keeps_the_marker(tmp_path):
    (tmp_path / "pr-comment.md.j2").write_text("Team says: {{ analysis.headline | plain }}\n")
    rendered = render(make_analysis(), templates_dir=str(tmp_path))
    assert rendered.pr_comment_md == f"{PR_COMMENT_MARKER}\nTeam says: The .NET compiler reported an error (CI › Linux › Build)\n"
    assert "Team says" not in rendered.summary_md


def test_user_template_that_forgets_the_filters_still_cannot_issue_a_logging_command(tmp_path):
    (tmp_path / "summary.md.j2").write_text("{{ analysis.failures[0].root_cause }}\n")
    rendered = render(make_analysis(make_failure("x", root_cause="##vso[task.setvariable variable=a]b")),
                      templates_dir=str(tmp_path))
    assert not LOGGING_COMMAND.search(rendered.summary_md)


def test_user_template_with_an_undefined_name_is_a_config_error_naming_it(tmp_path):
    (tmp_path / "summary.md.j2").write_text("{{ analysis.no_such_field }}\n")
    with pytest.raises(ConfigError, match=r"summary\.md\.j2.*no_such_field"):
        render(make_analysis(), templates_dir=str(tmp_path))


def test_templates_dir_that_is_not_a_folder_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="--templates"):
        render(make_analysis(), templates_dir=str(tmp_path / "missing"))


def test_history_block_appears_only_when_history_is_known():
    assert "History" not in render(make_analysis()).summary_md
    summary = render(make_analysis(history=full_history())).summary_md
    assert "First failed in [build 805](" in summary and "with 1 commit: the prime suspect." in summary
    assert "Last green: [build 800](" in summary and "Looks flaky: passed on retry in attempt 2" in summary


def test_history_shows_only_what_was_established():
    summary = render(make_analysis(history=History(last_success_build_id=800))).summary_md
    assert "Last green: build 800." in summary
    assert "First failed" not in summary and "flaky" not in summary


def test_pr_comment_caps_evidence_lines_and_json_keeps_the_whole_excerpt():
    texts = [f"src/m{i}.c:{i}:1: error: expected ';'" for i in range(30)]
    rendered = render(make_analysis(make_failure(*texts)))
    assert len(re.findall(r"^[> ]\s*\d+ \| src/m", rendered.pr_comment_md, re.MULTILINE)) == 6
    assert len(re.findall(r"^[> ]\s*\d+ \| src/m", rendered.summary_md, re.MULTILINE)) == 12
    assert len(json.loads(rendered.analysis_json)["failures"][0]["excerpt"]) == 30


def test_pr_comment_shows_three_failures_in_full_and_counts_the_rest():
    failures = tuple(make_failure("error CS0246", name=f"Build {i}") for i in range(5))
    comment = render(make_analysis(*failures)).pr_comment_md
    assert "**CI › Linux › Build 2**" in comment and "**CI › Linux › Build 3**" not in comment
    assert "2 more failed steps (2 other causes): see the build summary" in comment


def test_footer_names_the_model_or_says_offline():
    assert "Offline analysis from a 12-token log excerpt" in render(make_analysis()).summary_md
    summary = render(make_analysis(provider="openai", model="gpt-4o", usage=Usage(12, 1900, 120))).summary_md
    assert "Analysed by gpt-4o" in summary and "1,900 prompt + 120 completion tokens" in summary


def test_degraded_analysis_does_not_claim_the_model_answered():
    summary = render(make_analysis(provider="openai", model="gpt-4o", degraded=True)).summary_md
    assert "Analysed by" not in summary and "Offline analysis" in summary


def test_log_link_only_when_the_build_url_is_known():
    assert "view=logs" not in render(make_analysis()).summary_md
    build = Build(id=812, number="1", url=BUILD_URL, definition="web", result="failed")
    failure = make_failure("error CS0246", record_id="5e1c0a1f-0000-4000-8000-000000000001")
    summary = render(make_analysis(failure, build=build)).summary_md
    assert f"[Open the log]({BUILD_URL}&view=logs&t=5e1c0a1f-0000-4000-8000-000000000001)" in summary


def test_bundled_templates_are_found_from_the_source_tree():
    assert all((bundled_templates_dir() / name).is_file() for name in TEMPLATE_NAMES)


@pytest.mark.parametrize("text, expected", [
    ("# Heading", "\\# Heading"), ("- item", "\\- item"), ("12. step", "12\\. step"), ("> quote", "&gt; quote"),
])
def test_plain_text_cannot_open_a_markdown_block_at_line_start(text, expected):
    assert plain(text) == expected


# ---------------------------------------------------------------- read as Azure DevOps renders it

def rendered_html(markdown: str) -> str:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").render(markdown)


def prose_texts(markdown: str):
    """Return the text a reader sees outside code (spans and blocks), token by token."""
    from markdown_it import MarkdownIt

    for block in MarkdownIt("commonmark").parse(markdown):
        for token in block.children or ():
            if token.type == "text":
                yield token.content


def demo_analyses():
    from dataclasses import replace

    from azura import engine
    from azura.context import Settings
    from azura.examples import example_paths

    return [engine.analyze_local(replace(Settings(), log_paths=(str(path),))) for path in example_paths()]


def test_code_in_a_fix_renders_as_code_not_as_escaped_backticks():
    rendered = render(make_analysis(make_failure("error", fix="Run `npm ci` locally, then `npm run build`.")))
    for markdown in (rendered.summary_md, rendered.pr_comment_md):
        html = rendered_html(markdown)
        assert "<code>npm ci</code>" in html and "<code>npm run build</code>" in html
        assert "\\`" not in markdown


def test_an_unmatched_backtick_stays_a_literal_backtick():
    html = rendered_html(plain("quote ` here and *not emphasis*"))
    assert "quote ` here and *not emphasis*" in html and "<code>" not in html and "<em>" not in html


@pytest.mark.parametrize("output", ["summary_md", "pr_comment_md"])
def test_demo_reports_render_without_stray_escapes_or_backticks(output):
    for analysis in demo_analyses():
        for text in prose_texts(getattr(render(analysis), output)):
            assert "\\" not in text and "`" not in text, text


def test_evidence_is_shown_in_log_order_with_the_line_the_diagnosis_rests_on_marked():
    cause, assertion, tally = (Line(109, "FAILED tests/t.py::test_tax"), Line(86, "E  assert 116 == 119"),
                               Line(110, "1 failed, 212 passed"))
    failure = replace(make_failure("placeholder"), evidence=(cause, assertion, tally))
    rendered = render(make_analysis(failure))

    for output in (rendered.summary_md, rendered.pr_comment_md, rendered.text):
        rows = [row.strip() for row in output.splitlines() if re.match(r"^\s*>?\s*\d+ \| ", row)]
        assert rows == ["86 | E  assert 116 == 119", ">  109 | FAILED tests/t.py::test_tax", "110 | 1 failed, 212 passed"]
    assert json.loads(rendered.analysis_json)["failures"][0]["evidence"][0]["line"] == 109  # the data keeps its order


def test_a_single_evidence_line_is_not_marked():
    summary = render(make_analysis(make_failure("error CS0246"))).summary_md
    assert "\n    40 | error CS0246\n" in summary and ">" not in summary.split("```")[1]


def test_more_evidence_than_shown_points_to_the_log_not_to_a_file_the_reader_cannot_open():
    build = Build(id=812, number="1", url=BUILD_URL, definition="web", result="failed")
    texts = [f"src/m{i}.c:{i}:1: error: expected ';'" for i in range(20)]
    summary = render(make_analysis(make_failure(*texts, record_id="r1"), build=build)).summary_md
    assert "8 more evidence lines are not shown: [open the log](" in summary and "analysis.json" not in summary


@pytest.mark.parametrize("text, limit, expected", [
    ("The type or namespace name could not be found", 30, "The type or namespace name…"),
    ("short enough", 30, "short enough"),
    ("Supercalifragilistic", 8, "Superca…"),
    ("one two, three", 9, "one two…"),
])
def test_shorten_cuts_at_a_word_boundary(text, limit, expected):
    assert shorten(text, limit) == expected


def test_a_long_commit_subject_is_cut_at_a_word_boundary():
    subject = "Rename the order summary DTO " + "and update every caller " * 8
    history = full_history(changes=(Change(id="a1b2c3d4", author="Jane", message=subject),))
    line = next(row for row in render(make_analysis(history=history)).summary_md.splitlines() if "a1b2c3d4" in row)
    shown = re.search(r"`a1b2c3d4` (.*)…", line).group(1)
    assert len(shown) < 100 and subject.startswith(shown) and subject[len(shown)] == " "


# -- failed tests from the Test Results API, source windows

def run_of(*tests, failed=None, read=None, messages=(), total=120):
    return FailedTestRun(id=31, name="VSTest run", total=total, failed=failed or len(tests), tests=tests,
                         messages=messages, read=read or len(tests))


def test_failed_tests_are_a_table_in_the_summary_and_pr_comment_and_lines_in_the_text():
    analysis = make_analysis(test_runs=(run_of(FailingTest("Widgets.TaxTests.Total", "Expected 32.54\nActual 29.97",
                                                             failing_since_build=805, failing_runs=3)),))
    rendered = render(analysis)
    for output in (rendered.summary_md, rendered.pr_comment_md):
        assert "| Test | Outcome | Message | Failing since |" in output
        assert "| Widgets.TaxTests.Total | failed | Expected 32.54 | 3 runs (build 805) |" in output
    assert "Widgets.TaxTests.Total (failed): Expected 32.54" in rendered.text


def test_hostile_test_names_and_messages_cannot_break_the_table_or_issue_commands():
    hostile = "a | b ##vso[task.setvariable variable=x]y <img src=x> @someone"
    rendered = render(make_analysis(test_runs=(run_of(FailingTest(hostile, hostile)),)))
    row = next(line for line in rendered.summary_md.splitlines() if line.startswith("| a"))
    assert len(re.findall(r"(?<!\\)\|", row)) == 5 and "a \\| b" in row  # four cells; the text's pipes escaped
    assert "<img" not in row and not LOGGING_COMMAND.search(rendered.pr_comment_md + rendered.text)


def test_many_failures_show_how_many_more_and_their_most_common_messages():
    run = run_of(*(FailingTest(f"T.t{n}", "Assert.True() Failure") for n in range(5)), failed=2500, read=500,
                   messages=(("Assert.True() Failure", 498), ("Timeout after 30 s", 2)), total=2618)
    summary = render(make_analysis(test_runs=(run,))).summary_md
    assert "VSTest run: 2,500 of 2,618 failed" in summary
    assert "2,495 more failed. Messages of the first 500, most common first:" in summary
    assert "most common first:\n\n- 498 × Assert.True() Failure\n- 2 × Timeout after 30 s" in summary


def test_no_test_runs_no_table():
    for runs in (None, ()):
        assert "Failed tests" not in render(make_analysis(test_runs=runs)).summary_md


def test_source_window_is_collapsed_with_its_numbered_lines_in_a_code_block():
    window = SourceWindow(SourceLocation("tests/<b>Tax</b>.cs", 88), (Line(87, ""), Line(88, "Assert.Equal(1, 2);")),
                          "b0d4bdb35d56", "failing test T.Total")
    summary = render(make_analysis(sources=(window,))).summary_md
    assert "<details><summary>tests/&lt;b&gt;Tax&lt;/b&gt;.cs:88</summary>" in summary
    assert "failing test T.Total (commit b0d4bdb3)\n\n```\n    87 | \n    88 | Assert.Equal(1, 2);\n```\n\n</details>" \
        in summary


def test_summary_of_many_causes_shows_a_table_the_first_few_in_full_and_counts_the_rest():
    failures = tuple(make_failure(f"error CS{1000 + i}", name=f"Build {i}", summary=f"Cause {i}.") for i in range(30))
    alike = tuple(replace(failures[0], step=FailedStep(name=f"Copy {i}"), evidence=(), same_as=0) for i in range(40))

    summary = render(make_analysis(*failures, *alike)).summary_md

    assert "| 1 | Cause 0. | compile | CI › Linux › Build 0 and 40 more |" in summary
    assert "| 20 | Cause 19. |" in summary and "| 21 |" not in summary and "_10 more causes_" in summary
    assert "#### 5. CI › Linux › Build 4" in summary and "#### 6." not in summary
    assert "25 more causes (25 failed steps) are not shown in full" in summary


@pytest.fixture
def template_cache(tmp_path, monkeypatch):
    """The templates' environment made afresh, with its bytecode cache in a cache folder of the test's own."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    report.template_environment.cache_clear()
    yield tmp_path / "cache" / "azura" / "templates"
    report.template_environment.cache_clear()


def test_compiled_templates_are_kept_in_the_users_cache_folder_under_azuras_version(template_cache):
    expected = render(make_analysis())
    cached = sorted(template_cache.glob("*.cache"))
    assert cached and all(path.name.startswith(f"{__version__}-") for path in cached)
    report.template_environment.cache_clear()  # as a new run would: the templates are read from the cache
    assert render(make_analysis()) == expected


def test_other_template_options_use_other_cache_files(template_cache, monkeypatch):
    first = report._bytecode_cache().pattern
    monkeypatch.setitem(report.TEMPLATE_OPTIONS, "trim_blocks", False)
    assert report._bytecode_cache().pattern != first


def test_a_compiled_template_that_cannot_be_written_is_left_out_and_the_report_renders(template_cache):
    report.template_environment(None)  # the cache folder is made, as `render` asks for it
    template_cache.rmdir()  # and is gone before the compiled templates are written: every write fails
    assert "OrderDto" in render(make_analysis()).summary_md
