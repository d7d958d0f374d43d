"""Fixtures for running `azura analyze` as a pipeline step would: a subprocess with an agent's environment,
talking to the Azure DevOps emulator over real HTTP on 127.0.0.1."""
from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional

import pytest

from tests.emulators.ado import AdoEmulator

TOKEN = "azT0kenSecretValue1234567890abcdefghijklmnopqrstuv"
ADO_HOST = "ado.internal.invalid"  # names only the tests' forward proxy resolves
LLM_HOST = "llm.internal.invalid"  # long and unique, so a leak is easy to grep
REPO_ROOT = Path(__file__).resolve().parents[2]
STEP_TIMEOUT = 120  # seconds a subprocess may take before the test fails instead of hanging


@dataclass
class StepRun:
    """What one `azura analyze` step printed and left behind."""

    returncode: int
    stdout: str
    stderr: str
    output_dir: Path

    @property
    def analysis(self) -> dict:
        path = self.output_dir / "analysis.json"
        assert path.is_file(), f"no analysis.json (exit {self.returncode})\n{self.stdout}\n{self.stderr}"
        return json.loads(path.read_text(encoding="utf-8"))

    def commands(self) -> list:
        """Return the logging-command lines of stdout, in order."""
        return [line for line in self.stdout.splitlines() if "##vso[" in line]

    def warnings(self) -> list:
        """Return the messages of the warnings Azura gave the agent (on stderr), in order."""
        prefix = "##vso[task.logissue type=warning;]Azura: "
        return [line[len(prefix):] for line in self.stderr.splitlines() if line.startswith(prefix)]


@pytest.fixture
def emulator():
    """Return a running Azure DevOps emulator that accepts TOKEN; stopped after the test."""
    with AdoEmulator(token=TOKEN) as emu:
        yield emu


@pytest.fixture
def agent_env(tmp_path):
    """Return create(emu, scenario, **overrides) -> the environment the agent gives a script step."""

    def create(emu: AdoEmulator, scenario, **overrides: Optional[str]) -> Dict[str, str]:
        agent_temp = tmp_path / "agent-temp"
        agent_temp.mkdir(exist_ok=True)
        not_a_folder = tmp_path / "not-a-folder"
        not_a_folder.touch()
        home = not_a_folder / "home"  # unusable even by root: the SDK must not need HOME
        env = {
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": str(REPO_ROOT),
            "HOME": str(home),
            "TF_BUILD": "True",
            "SYSTEM_COLLECTIONURI": emu.org_url + "/",
            "SYSTEM_TEAMPROJECT": scenario.project,
            "SYSTEM_TEAMPROJECTID": scenario.project_id,
            "BUILD_BUILDID": str(scenario.build_id),
            "SYSTEM_ACCESSTOKEN": TOKEN,
            "AGENT_TEMPDIRECTORY": str(agent_temp),
            "SYSTEM_TASKINSTANCEID": str(uuid.uuid4()),
            "SYSTEM_JOBATTEMPT": str(scenario.attempt),
            "BUILD_REPOSITORY_PROVIDER": scenario.repository_provider,
            "BUILD_REPOSITORY_ID": scenario.repository_id or str(uuid.uuid4()),
            "BUILD_REASON": "PullRequest" if scenario.pr_id else "IndividualCI",
        }
        if scenario.pr_id and scenario.repository_provider == "TfsGit":
            env["SYSTEM_PULLREQUEST_PULLREQUESTID"] = str(scenario.pr_id)
        elif scenario.pr_id:
            env["SYSTEM_PULLREQUEST_PULLREQUESTNUMBER"] = str(scenario.pr_id)
        env.update(overrides)
        return {key: value for key, value in env.items() if value is not None}

    return create


@pytest.fixture
def run_step(tmp_path):
    """Return run(env, *args) -> StepRun: `python -m azura analyze ARGS` in a fresh folder, with a deadline."""

    def run(env: Dict[str, str], *args: str) -> StepRun:
        workdir = tmp_path / "work"
        workdir.mkdir(exist_ok=True)
        completed = subprocess.run([sys.executable, "-m", "azura", "analyze", *args], env=env, cwd=workdir,
                                   capture_output=True, text=True, timeout=STEP_TIMEOUT)
        return StepRun(completed.returncode, completed.stdout, completed.stderr,
                       Path(env["AGENT_TEMPDIRECTORY"]) / "azura")

    return run


def assert_token_never_leaks(step: StepRun, env: Dict[str, str]) -> None:
    """Fail when the access token shows up in stdout, stderr, or any file under the agent's temp folder."""
    token = env["SYSTEM_ACCESSTOKEN"]
    assert token not in step.stdout
    assert token not in step.stderr
    for path in Path(env["AGENT_TEMPDIRECTORY"]).rglob("*"):
        if path.is_file():
            assert token.encode() not in path.read_bytes(), f"token written to {path}"


@pytest.fixture
def internal_ca(tmp_path):
    """Return (CA certificate file, server TLS context) of a throwaway CA made with the openssl command."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("needs the openssl command to make a test CA")
    folder = tmp_path / "internal-ca"
    folder.mkdir()

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], cwd=folder, check=True, capture_output=True, timeout=60)

    new_key = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    run("req", "-x509", *new_key, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=Contoso Internal Test CA", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", *new_key, "-keyout", "server.key", "-out", "server.csr", "-subj", f"/CN={ADO_HOST}")
    (folder / "server.ext").write_text(
        f"subjectAltName=DNS:{ADO_HOST},DNS:{LLM_HOST},IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectKeyIdentifier=hash\n"
        "authorityKeyIdentifier=keyid,issuer\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.pem", "-days", "2", "-extfile", "server.ext")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "server.pem", folder / "server.key")
    return folder / "ca.pem", context
