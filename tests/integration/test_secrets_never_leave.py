"""Planted secrets never leave: a failed step's log holds one secret of every kind (tests/planted_secrets.py), and
none of them shows up in anything Azura writes or sends: the excerpt, the LLM request, the PR comment, the
summary, analysis.json, the server's answers and job store, and the logs of both."""
from __future__ import annotations

import json
import logging
from typing import Dict, List, Tuple

from tests.emulators.ado import issue, timeline_record
from tests.emulators.ado_scenarios import Scenario
from tests.emulators.openai_server import OpenAIEmulator
from tests.integration.server_support import ServerThread, settings_for, wait_for_job
from tests.planted_secrets import (ACCESS_TOKEN, ISSUE, LLM_KEY, MAPPED_SECRET, PLANTED, PLANTED_LOG, SECRETS,
                                   TASK_SECRET, planted_line_numbers)

BUDGET = "20000"  # the whole planted log fits in the excerpt, so every planted line is checked


def planted_pr_build(emu) -> Scenario:
    """Return a failed pull-request build whose failed step logs PLANTED_LOG and records ISSUE."""
    project = emu.add_project("Widgets")
    repository = emu.add_repository(project.name, "widgets")
    pull_request = emu.add_pull_request(repository, pull_request_id=42)
    build = emu.add_build(project.name, ("widgets-cd", 12), result="failed", reason="pullRequest",
                          branch="refs/pull/42/merge", repository=repository)
    stage = timeline_record("Stage", "Deploy", result="failed", order=1)
    phase = timeline_record("Phase", "Deploy", parent_id=stage["id"], result="failed", order=1)
    job = timeline_record("Job", "Deploy", parent_id=phase["id"], result="failed", order=1)
    task = timeline_record("Task", "Deploy", parent_id=job["id"], result="failed", order=2, log_id=5, task="Bash",
                           issues=[issue(ISSUE)])
    emu.set_timeline(build.id, [stage, phase, job, task])
    emu.add_log(build.id, 5, lines=PLANTED_LOG)
    return Scenario(name="planted", project=project.name, project_id=project.id, build_id=build.id,
                    definition_id=12, result="failed", failed=(), pr_id=pull_request.id, repository_id=repository.id)


def leaks(outputs: Dict[str, str]) -> List[Tuple[str, str]]:
    """Return (output, kind of secret) for every planted secret found in an output."""
    return [(name, kind) for name, text in outputs.items() for kind, secret in SECRETS if secret in text]


def test_no_planted_secret_reaches_any_output_of_a_pipeline_step(emulator, agent_env, run_step):
    scenario = planted_pr_build(emulator)
    with OpenAIEmulator(api_key=LLM_KEY) as llm:
        env = agent_env(emulator, scenario, SYSTEM_ACCESSTOKEN=ACCESS_TOKEN, LLM_PROVIDER="openai",
                        OPENAI_API_KEY=LLM_KEY, OPENAI_BASE_URL=llm.base_url, AZURA_SECRETS=json.dumps([TASK_SECRET]),
                        DEPLOY_PASSWORD=MAPPED_SECRET)
        emulator.token = ACCESS_TOKEN
        step = run_step(env, "--budget", BUDGET)
        sent = [request.raw.decode("utf-8", "replace") + json.dumps(request.body, ensure_ascii=False)
                for request in llm.requests]

    analysis = step.analysis
    excerpt = analysis["failures"][0]["excerpt"]
    outputs = {
        "excerpt": json.dumps(excerpt, ensure_ascii=False),
        "LLM request": "\n".join(sent),
        "PR comment": json.dumps(emulator.threads(scenario.pr_id), ensure_ascii=False),
        "summary": (step.output_dir / "summary.md").read_text(encoding="utf-8"),
        "analysis.json": (step.output_dir / "analysis.json").read_text(encoding="utf-8"),
        "logs": step.stdout + step.stderr,
    }

    assert step.returncode == 0, step.stderr
    assert sent and emulator.threads(scenario.pr_id), "the LLM was asked and the PR comment posted"
    assert {line["line"] for line in excerpt} >= set(planted_line_numbers()), "every planted line was checked"
    assert sum("«redacted:" in line["text"] for line in excerpt) == len(PLANTED)
    assert leaks(outputs) == []


def test_no_planted_secret_reaches_the_servers_answers_job_store_or_log(tmp_path, caplog, emulator):
    caplog.set_level(logging.INFO)
    emulator.token = ACCESS_TOKEN
    pasted = "\n".join(PLANTED_LOG + [ISSUE]).encode()
    environ = {"AZURA_API_KEY": "planted-server-api-key-0042", "AZURA_SECRETS": json.dumps([TASK_SECRET]),
               "AZURE_DEVOPS_ORG_URL": emulator.org_url, "AZURE_DEVOPS_PAT": ACCESS_TOKEN,
               "DEPLOY_PASSWORD": MAPPED_SECRET}
    key = {"Authorization": "Bearer planted-server-api-key-0042"}
    with ServerThread(settings_for(tmp_path, environ)) as running:
        answers = [
            running.post("/api/analyze", body=pasted, headers={"Content-Type": "text/plain", **key}),
            running.post("/api/analyze", json_body={"log": pasted.decode()}, headers=key),
            running.post("/api/chat", json_body={"message": f"why? {PLANTED[0][1]} {TASK_SECRET}"}, headers=key),
        ]
        queued = running.post("/api/analyze/async", body=pasted, headers={"Content-Type": "text/plain", **key})
        job = wait_for_job(running.url, queued.json["job_id"], headers=key)

    outputs = {f"answer {n}": answer.text for n, answer in enumerate(answers)}
    outputs["job"] = json.dumps(job, ensure_ascii=False)
    outputs.update({f"job store {path.name}": path.read_bytes().decode("utf-8", "replace")
                    for path in tmp_path.glob("jobs.sqlite3*")})
    outputs["server log"] = caplog.text

    assert [answer.status for answer in answers] == [200, 200, 200] and job["status"] == "done"
    assert leaks(outputs) == []
