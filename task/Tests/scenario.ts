// Shared setup of the mock-run scripts: an agent (Linux unless a script says otherwise) with Python 3.12 and
// the bundled wheels.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { TaskLibAnswerExecResult, TaskLibAnswers } from 'azure-pipelines-task-lib/mock-answer';
import { TaskMockRunner } from 'azure-pipelines-task-lib/mock-run';
import { ToolRunner } from 'azure-pipelines-task-lib/mock-toolrunner';
import { IExecOptions, IExecSyncOptions, IExecSyncResult } from 'azure-pipelines-task-lib/toolrunner';

// task-lib's Platform values (importing the enum would load task-lib before the inputs are set).
export const WINDOWS = 0;
export const MACOS = 1;
export const LINUX = 2;

export const TOKEN = 'job-token-3f9c0a';
export const API_KEY = 'sk-secret-8d21e7';
export const DB_PASSWORD = 'db-secret-51f0c2';
export const PROXY_PASSWORD = 'pr0xy p@ss:word';
export const PYTHON = '/usr/bin/python3';
// A real folder: task-lib writes its vault key into Agent.TempDirectory, and Azura its report.
export const TEMP = path.join(os.tmpdir(), 'azura-l0-agent-temp');
export const REPORT_DIR = path.join(TEMP, 'azura');
export const TOOLS = '/agent/_work/_tool';
export const WHEELS = path.join(__dirname, '..', 'wheels');
export const WHEEL_PATTERN = 'azura_pipelines-*-py3-none-any.whl';
export const WHEEL = path.join(WHEELS, 'azura_pipelines-0.1.0-py3-none-any.whl');
// Interpreters of the platform scenarios.
export const STUB = 'C:\\Users\\agent\\AppData\\Local\\Microsoft\\WindowsApps\\python.exe';
export const LAUNCHER = 'C:\\Windows\\py.exe';
export const HOMEBREW_PYTHON = '/opt/homebrew/bin/python3';
export const INTERPRETER = '/opt/hostedtoolcache/Python/3.12.4/x64/bin/python3';
// The agent's own CA certificate (Agent.CAInfo) in the proxy scenario.
export const AGENT_CA = path.join(TEMP, 'agent-ca.pem');
export const AGENT_CA_TEXT = '-----BEGIN CERTIFICATE-----\nQ29udG9zbyBJbnRlcm5hbCBDQQ==\n-----END CERTIFICATE-----\n';
export const PIP_ARGUMENTS = '--index-url https://pkgs.dev.azure.com/contoso/_packaging/python/pypi/simple/';

/** The commands the task runs on an agent of one platform with one interpreter. */
export interface AgentCommands {
    readonly venv: string;
    readonly venvPython: string;
    readonly createVenv: string;
    readonly pipOffline: string;
    readonly pipOfflineRe2: string;
    readonly pipWithIndex: string;
    readonly pipLlm: string;
    readonly llmMarker: string;
    readonly analyze: string;
}

/** Return the commands for `python` (with the arguments that pick it, `py -3`) on a platform (win32, darwin, linux). */
export function agentCommands(platform: string, python: string): AgentCommands {
    const venv = path.join(TOOLS, 'azura', '0.1.0', `py3.12-${platform}-${os.arch()}`);
    const venvPython = platform === 'win32' ? path.join(venv, 'Scripts', 'python.exe') : path.join(venv, 'bin', 'python');
    const pip = `${venvPython} -m pip install --disable-pip-version-check --no-input --progress-bar off`;
    return {
        venv,
        venvPython,
        createVenv: `${python} -m venv --clear ${venv}`,
        pipOffline: `${pip} --no-index --find-links ${WHEELS} ${WHEEL}`,
        pipOfflineRe2: `${pip} --no-index --find-links ${WHEELS} ${WHEEL}[re2]`,
        pipWithIndex: `${pip} --find-links ${WHEELS} ${WHEEL}`,
        // The llm extra: Azura and its core from the bundled wheels, openai and jsonschema from the index.
        pipLlm: `${pip} --find-links ${WHEELS} ${WHEEL}[llm]`,
        llmMarker: `${venv}.llm.complete`,
        analyze: `${venvPython} -m azura analyze --output-dir ${REPORT_DIR}`,
    };
}

const LINUX_AGENT = agentCommands('linux', PYTHON);
export const VENV = LINUX_AGENT.venv;
export const CREATE_VENV = LINUX_AGENT.createVenv;
export const PIP_OFFLINE = LINUX_AGENT.pipOffline;
export const PIP_OFFLINE_RE2 = LINUX_AGENT.pipOfflineRe2;
export const PIP_WITH_INDEX = LINUX_AGENT.pipWithIndex;
export const PIP_LLM = LINUX_AGENT.pipLlm;
export const LLM_MARKER = LINUX_AGENT.llmMarker;
export const ANALYZE = LINUX_AGENT.analyze;

// Printed for each variable the task hands to a child process; secrets are shown by role, never by value.
const WATCHED = [
    'SYSTEM_ACCESSTOKEN', 'SYSTEM_COLLECTIONURI', 'OPENAI_API_KEY', 'OPENAI_BASE_URL',
    'AZURE_OPENAI_API_KEY', 'AZURE_OPENAI_ENDPOINT', 'OLLAMA_BASE_URL',
    'PYTHONUTF8', 'PYTHONUNBUFFERED', 'AZURE_DEVOPS_CACHE_DIR', 'AZURA_SECRETS',
    'HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy', 'NO_PROXY', 'no_proxy',
    'REQUESTS_CA_BUNDLE', 'SSL_CERT_FILE', 'PIP_CERT',
];

/** Return a mock runner for main.js on an agent that passes the job token and public variables. */
export function newRunner(): TaskMockRunner {
    const tmr = new TaskMockRunner(path.join(__dirname, '..', 'main.js'));
    setDefaultInputs(tmr);
    process.env['ENDPOINT_AUTH_SYSTEMVSSCONNECTION'] = JSON.stringify({ parameters: { AccessToken: TOKEN }, scheme: 'OAuth' });
    process.env['SYSTEM_COLLECTIONURI'] = 'https://dev.azure.com/contoso/';
    fs.mkdirSync(TEMP, { recursive: true });
    process.env['AGENT_TEMPDIRECTORY'] = TEMP;
    process.env['AGENT_TOOLSDIRECTORY'] = TOOLS;
    for (const name of WATCHED.filter((name) => /PROXY|CERT|BUNDLE/i.test(name))) {
        delete process.env[name]; // the machine running the tests must not leak its own into the scenario
    }
    tmr.registerMockExport('tool', recordingTool);
    return tmr;
}

/** Give every input its task.json default, as the agent does for inputs a pipeline leaves out. */
function setDefaultInputs(tmr: TaskMockRunner): void {
    const task = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'task.json'), 'utf8'));
    for (const input of task.inputs as { name: string; defaultValue?: string }[]) {
        if (input.defaultValue) {
            tmr.setInput(input.name, input.defaultValue);
        }
    }
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
        getPlatform: { getPlatform: LINUX },
        which: { python3: PYTHON },
        exist: { [`${VENV}.complete`]: cached.core, [LLM_MARKER]: cached.llm },
        findMatch: { [WHEEL_PATTERN]: [WHEEL] },
        rmRF: { [LLM_MARKER]: { success: true } },
        exec: { [`${PYTHON} --version`]: { code: 0, stdout: 'Python 3.12.1' }, ...exec },
    };
}

/** Return answers for a first run on a platform, where `python` (with its arguments) is the interpreter found. */
export function firstRunAnswersOn(platform: number, agent: AgentCommands, python: string,
                                  exec: { [command: string]: TaskLibAnswerExecResult }): TaskLibAnswers {
    return {
        getPlatform: { getPlatform: platform },
        exist: { [`${agent.venv}.complete`]: false, [agent.llmMarker]: false },
        findMatch: { [WHEEL_PATTERN]: [WHEEL] },
        rmRF: { [agent.llmMarker]: { success: true } },
        exec: {
            [`${python} --version`]: { code: 0, stdout: 'Python 3.12.4' },
            [agent.createVenv]: { code: 0 },
            [agent.pipOfflineRe2]: { code: 0, stdout: 'Successfully installed azura-pipelines-0.1.0 google-re2-1.1' },
            [`${agent.analyze} --llm-provider none`]: { code: 0 },
            ...exec,
        },
    };
}

let report: object | undefined;

/** Make the mocked `azura analyze` leave this analysis.json in its --output-dir, as Azura does. */
export function azuraWrites(analysis: object): void {
    report = analysis;
}

// The mock tool runner ignores options.env and writes no files: print the environment it was given so L0.ts
// can check it, and write the report the mocked Azura would have written.
// (Importing mock-task here would load task-lib before the inputs are set.)
function recordingTool(toolPath: string): ToolRunner {
    const runner = new ToolRunner(toolPath);
    const args: string[] = [];
    const arg = runner.arg.bind(runner);
    runner.arg = (value: string | string[]): ToolRunner => {
        args.push(...(Array.isArray(value) ? value : [value]));
        return arg(value);
    };
    const execSync = runner.execSync.bind(runner);
    runner.execSync = (options?: IExecSyncOptions): IExecSyncResult => {
        console.log(`[sync command]${[toolPath, ...args].join(' ')}`); // silent runs print no [command] line
        return execSync(options);
    };
    const execAsync = runner.execAsync.bind(runner);
    runner.execAsync = async (options?: IExecOptions): Promise<number> => {
        const env = options?.env;
        if (env) {
            for (const name of WATCHED) {
                console.log(`child env ${name}=${disguise(env[name])}`);
            }
        }
        const code = await execAsync(options);
        if (report && args.includes('analyze')) {
            const folder = args[args.indexOf('--output-dir') + 1];
            fs.mkdirSync(folder, { recursive: true });
            fs.writeFileSync(path.join(folder, 'analysis.json'), JSON.stringify(report));
        }
        return code;
    };
    return runner;
}

function disguise(value: string | undefined): string {
    if (value === undefined) {
        return '<unset>';
    }
    return value.replace(TOKEN, '<job token>').replace(API_KEY, '<api key>').replace(DB_PASSWORD, '<db password>')
        .replace(encodeURIComponent(PROXY_PASSWORD), '<proxy password>').replace(PROXY_PASSWORD, '<raw proxy password>');
}
