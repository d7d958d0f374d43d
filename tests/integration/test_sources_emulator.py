"""Source lines at the commit and the files commits touched, through the real SDK against the emulator."""
from __future__ import annotations

from collections import Counter

from tests.emulators import ado_scenarios as scenarios
from tests.emulators.ado import case_result, commit
from tests.integration.conftest import TOKEN, assert_token_never_leaks

CART_TEST = "src/cart/Cart.test.tsx"


def asked_for_code(emulator) -> Counter:
    return Counter(request.route for request in emulator.requests()
                   if request.route in ("git_items", "git_commit_changes"))


def github_tests_failed(emulator, stack_path: str = f"/home/vsts/work/1/s/{CART_TEST}"):
    """The GitHub build whose jest run published one failed test, its frame at `stack_path` line 42."""
    scenario = scenarios.github_repo_build(emulator)
    emulator.add_test_run(scenario.build_id, "Jest", [case_result(
        "Cart › shows the total with tax", message="expect(element).toHaveTextContent()\nExpected: Total: $32.54",
        stack_trace=f"    at Object.<anonymous> ({stack_path}:42:31)")])
    return scenario


def checkout_with(tmp_path, files):
    root = tmp_path / "agent" / "1" / "s"
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text, encoding="utf-8")
    return root


def test_github_repository_is_read_from_the_agents_checkout_never_the_git_api(emulator, agent_env, run_step,
                                                                              tmp_path):
    scenario = github_tests_failed(emulator)
    lines = [f"  line {n}" for n in range(1, 60)]
    lines[41] = "    expect(screen.getByTestId('total')).toHaveTextContent('Total: $32.54');"
    root = checkout_with(tmp_path, {CART_TEST: "\n".join(lines)})

    step = run_step(agent_env(emulator, scenario, BUILD_SOURCESDIRECTORY=str(root)))

    (window,) = step.analysis["sources"]
    assert (window["file"], window["line"]) == (CART_TEST, 42)
    assert {"line": 42, "text": lines[41]} in window["lines"]
    assert asked_for_code(emulator) == Counter()


def test_github_repository_without_a_checkout_has_no_source_and_no_warning(emulator, agent_env, run_step):
    scenario = github_tests_failed(emulator)

    step = run_step(agent_env(emulator, scenario, BUILD_SOURCESDIRECTORY=None))

    assert step.analysis["sources"] == []
    assert not [warning for warning in step.analysis["warnings"] if "source" in warning]


def test_a_frame_that_leaves_the_repository_is_never_read(emulator, agent_env, run_step, tmp_path):
    scenario = github_tests_failed(emulator, stack_path="/home/vsts/work/1/s/../../../../etc/passwd")
    root = checkout_with(tmp_path, {"README.md": "hello\n"})
    (tmp_path / "agent" / "etc").mkdir(parents=True)
    (tmp_path / "agent" / "etc" / "passwd").write_text("root:x:0:0\n" * 50)

    step = run_step(agent_env(emulator, scenario, BUILD_SOURCESDIRECTORY=str(root)))

    assert step.returncode == 0, step.stderr
    assert step.analysis["sources"] == []
    assert "root:x" not in (step.output_dir / "analysis.json").read_text(encoding="utf-8")


def test_a_file_missing_at_the_commit_is_skipped_quietly(emulator, agent_env, run_step):
    scenario = scenarios.tests_failed(emulator, source_in_repository=False)

    step = run_step(agent_env(emulator, scenario))

    assert step.analysis["sources"] == []
    assert not [warning for warning in step.analysis["warnings"] if "source" in warning]
    assert asked_for_code(emulator)["git_items"] == 2  # both tests' frames, each a 404


def test_a_token_without_code_read_gets_the_analysis_and_a_warning_naming_the_permission(emulator, agent_env,
                                                                                         run_step):
    scenario = scenarios.tests_failed(emulator)
    emulator.code_read = False

    step = run_step(agent_env(emulator, scenario))

    assert step.returncode == 0, step.stderr
    assert step.analysis["sources"] == [] and step.analysis["test_runs"]
    (warning,) = [w for w in step.analysis["warnings"] if w.startswith("source of")]
    assert "Code: Read" in warning and "--no-source-lines" in warning
    assert asked_for_code(emulator)["git_items"] == 1  # refused once: the other files are not asked for


def test_turned_off_source_lines_send_no_git_request(emulator, agent_env, run_step):
    scenario = scenarios.tests_failed(emulator)

    step = run_step(agent_env(emulator, scenario), "--no-source-lines")

    assert step.analysis["sources"] == [] and asked_for_code(emulator) == Counter()


def test_secrets_in_source_lines_are_redacted(emulator, agent_env, run_step):
    scenario = scenarios.tests_failed(emulator)
    path, line, _ = scenario.source
    build = emulator.build(scenario.build_id)
    lines = [f"// {n}" for n in range(1, 100)]
    lines[line - 2] = f'    var pat = "{TOKEN}"; // password=hunter2hunter2'
    emulator.add_file(build.repository, build.source_version, path, "\n".join(lines))

    env = agent_env(emulator, scenario)
    step = run_step(env)

    texts = [entry["text"] for entry in step.analysis["sources"][0]["lines"]]
    assert any("«redacted" in text for text in texts) and not any("hunter2" in text for text in texts)
    assert_token_never_leaks(step, env)


def test_a_suspect_commit_that_touched_the_failing_tests_file_says_so(emulator, agent_env, run_step):
    scenarios.build_history(emulator, ("green",))
    scenario = scenarios.tests_failed(emulator)
    build = emulator.build(scenario.build_id)
    sha = "4c1d9e2f7a6b5c3d2e1f0a9b8c7d6e5f4a3b2c1d"
    emulator.set_changes(scenario.build_id, [commit(sha, "Round tax half-up", "Bruno Costa")])
    emulator.set_commit_changes(build.repository, sha, [(scenario.source[0], "edit"), ("README.md", "edit")])

    step = run_step(agent_env(emulator, scenario))

    (change,) = step.analysis["history"]["changes"]
    assert change["suspect"] and change["files"] == [scenario.source[0]]
    summary = (step.output_dir / "summary.md").read_text(encoding="utf-8")
    assert "Round tax half-up (by Bruno Costa), touches tests/Widgets.Tests/Orders/TaxTests.cs" in summary
    assert asked_for_code(emulator)["git_commit_changes"] == 1
