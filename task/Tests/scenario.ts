// Shared setup of the mock-run scripts: a Linux-like agent with Python 3.12 and the bundled wheels.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { TaskLibAnswerExecResult, TaskLibAnswers } from 'azure-pipelines-task-lib/mock-answer';
import { TaskMockRunner } from 'azure-pipelines-task-lib/mock-run';
import { ToolRunner } from 'azure-pipelines-task-lib/mock-toolrunner';
import { IExecOptions } from 'azure-pipelines-task-lib/toolrunner';

export const TOKEN = 'job-token-3f9c0a';
export const API_KEY = 'sk-secret-8d21e7';
export const PYTHON = '/usr/bin/python3';
// A real folder: task-lib writes its vault key into Agent.TempDirectory.
export const TEMP = path.join(os.tmpdir(), 'azura-l0-agent-temp');
export const TOOLS = '/agent/_work/_tool';
export const WHEELS = path.join(__dirname, '..', 'wheels');
export const WHEEL_PATTERN = 'azura_pipelines-*-py3-none-any.whl';
export const WHEEL = path.join(WHEELS, 'azura_pipelines-0.1.0-py3-none-any.whl');
export const VENV = path.join(TOOLS, 'azura', '0.1.0', `py3.12-${process.platform}-${os.arch()}`);
export const VENV_PYTHON = process.platform === 'win32'
    ? path.join(VENV, 'Scripts', 'python.exe')
    : path.join(VENV, 'bin', 'python');
export const CREATE_VENV = `${PYTHON} -m venv --clear ${VENV}`;
const PIP = `${VENV_PYTHON} -m pip install --disable-pip-version-check --no-input --progress-bar off`;
export const PIP_OFFLINE = `${PIP} --no-index --find-links ${WHEELS} ${WHEEL}`;
export const PIP_OFFLINE_RE2 = `${PIP_OFFLINE}[re2]`;
export const PIP_WITH_INDEX = `${PIP} --find-links ${WHEELS} ${WHEEL}`;
// The llm extra: Azura and its core from the bundled wheels, openai and jsonschema from the index.
export const PIP_LLM = `${PIP} --find-links ${WHEELS} ${WHEEL}[llm]`;
export const LLM_MARKER = `${VENV}.llm.complete`;
export const PIP_ARGUMENTS = '--index-url https://pkgs.dev.azure.com/contoso/_packaging/python/pypi/simple/';
export const ANALYZE = `${VENV_PYTHON} -m azura analyze`;

// Printed for each variable the task hands to Azura; secrets are shown by role, never by value.
const WATCHED = [
    'SYSTEM_ACCESSTOKEN', 'SYSTEM_COLLECTIONURI', 'OPENAI_API_KEY', 'OPENAI_BASE_URL',
    'AZURE_OPENAI_API_KEY', 'AZURE_OPENAI_ENDPOINT', 'OLLAMA_BASE_URL',
    'PYTHONUTF8', 'PYTHONUNBUFFERED', 'AZURE_DEVOPS_CACHE_DIR',
];

/** Return a mock runner for main.js on an agent that passes the job token and public variables. */
export function newRunner(): TaskMockRunner {
    const tmr = new TaskMockRunner(path.join(__dirname, '..', 'main.js'));
    process.env['ENDPOINT_AUTH_SYSTEMVSSCONNECTION'] = JSON.stringify({ parameters: { AccessToken: TOKEN }, scheme: 'OAuth' });
    process.env['SYSTEM_COLLECTIONURI'] = 'https://dev.azure.com/contoso/';
    fs.mkdirSync(TEMP, { recursive: true });
    process.env['AGENT_TEMPDIRECTORY'] = TEMP;
    process.env['AGENT_TOOLSDIRECTORY'] = TOOLS;
    tmr.registerMockExport('tool', recordingTool);
    return tmr;
}

/** Return answers for a first run: Python 3.12 on PATH, no cached environment, installs succeed. */
export function firstRunAnswers(exec: { [command: string]: TaskLibAnswerExecResult }): TaskLibAnswers {
    return cachedRunAnswers({ core: false, llm: false }, {
        [CREATE_VENV]: { code: 0 },
        // no google-re2 wheel for this agent in the bundle: Azura installs without it
        [PIP_OFFLINE_RE2]: { code: 1, stderr: 'ERROR: No matching distribution found for google-re2' },
        [PIP_OFFLINE]: { code: 0, stdout: 'Successfully installed azura-pipelines-0.1.0' },
        [PIP_LLM]: { code: 0, stdout: 'Successfully installed openai-2.8.0 jsonschema-4.25.1' },
        ...exec,
    });
}

/** Return answers for a run on an agent whose tool cache holds the core and/or the llm extra. */
export function cachedRunAnswers(
    cached: { core: boolean; llm: boolean }, exec: { [command: string]: TaskLibAnswerExecResult }): TaskLibAnswers {
    return {
        which: { python3: PYTHON },
        exist: { [`${VENV}.complete`]: cached.core, [LLM_MARKER]: cached.llm },
        findMatch: { [WHEEL_PATTERN]: [WHEEL] },
        rmRF: { [LLM_MARKER]: { success: true } },
        exec: { [`${PYTHON} --version`]: { code: 0, stdout: 'Python 3.12.1' }, ...exec },
    };
}

// The mock tool runner ignores options.env; print what it was given so L0.ts can check it.
// (Importing mock-task here would load task-lib before the inputs are set.)
function recordingTool(toolPath: string): ToolRunner {
    const runner = new ToolRunner(toolPath);
    const execAsync = runner.execAsync.bind(runner);
    runner.execAsync = (options?: IExecOptions): Promise<number> => {
        const env = options?.env;
        if (env) {
            for (const name of WATCHED) {
                console.log(`child env ${name}=${disguise(env[name])}`);
            }
        }
        return execAsync(options);
    };
    return runner;
}

function disguise(value: string | undefined): string {
    if (value === undefined) {
        return '<unset>';
    }
    return value === TOKEN ? '<job token>' : value === API_KEY ? '<api key>' : value;
}
