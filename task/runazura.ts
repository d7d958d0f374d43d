import * as os from 'os';
import * as path from 'path';
import * as tl from 'azure-pipelines-task-lib/task';

/** Everything the task needs, read once from inputs, variables and the job's connection. */
export interface AzuraTaskInputs {
    readonly llmProvider: string;
    readonly model: string;
    readonly endpoint: string;
    readonly apiKey: string;
    readonly azureApiVersion: string;
    readonly budget: string;
    readonly publishTag: boolean;
    readonly tagPrefix: string;
    readonly publishPrComment: boolean;
    readonly publishSummary: boolean;
    readonly failOnError: boolean;
    readonly timeout: string;
    readonly pipArguments: string;
    readonly accessToken: string;
    readonly tempDirectory: string;
    readonly toolsDirectory: string;
}

/** How Azura ran: its exit code, and whether it ran offline because the llm extra could not be installed. */
export interface AzuraRun {
    readonly exitCode: number;
    readonly withoutLlm: boolean;
}

/** Azura could not be started (no Python, no wheels, install failed); the message is for the user. */
class TaskProblem extends Error {}

interface Python {
    readonly path: string;
    readonly version: readonly [number, number];
}

interface BundledWheel {
    readonly file: string;
    readonly version: string;
}

const MINIMUM_PYTHON: readonly [number, number] = [3, 9];

// Where each provider reads its endpoint and key (Azura's environment contract).
const PROVIDER_ENVIRONMENT: { readonly [provider: string]: { readonly endpoint: string; readonly key?: string } } = {
    openai: { endpoint: 'OPENAI_BASE_URL', key: 'OPENAI_API_KEY' },
    azure_openai: { endpoint: 'AZURE_OPENAI_ENDPOINT', key: 'AZURE_OPENAI_API_KEY' },
    ollama: { endpoint: 'OLLAMA_BASE_URL' },
};

/** Install Azura if needed, run `python -m azura analyze` and return how it went. */
export async function runAzura(inputs: AzuraTaskInputs): Promise<AzuraRun> {
    const python = findPython();
    const environment = await azuraEnvironment(python, inputs);
    const withoutLlm = inputs.llmProvider !== 'none' && !await hasLlmExtra(environment, inputs.pipArguments);
    const exitCode = await tl.tool(environment.python)
        .arg(['-m', 'azura', 'analyze'])
        .arg(analyzeArguments(inputs, withoutLlm ? 'none' : inputs.llmProvider))
        .execAsync({ env: childEnvironment(inputs, process.env), ignoreReturnCode: true, failOnStdErr: false });
    return { exitCode, withoutLlm };
}

/** Return the task result and message for how Azura ran. */
export function resultFor(run: AzuraRun, failOnError: boolean): [tl.TaskResult, string] {
    if (run.exitCode !== 0) {
        return [problemResult(failOnError), tl.loc('AzuraFailed', run.exitCode)];
    }
    // A missing extra is the agent's network, not Azura failing: it never fails the step.
    if (run.withoutLlm) {
        return [tl.TaskResult.SucceededWithIssues, tl.loc('AnalysedWithoutLlm')];
    }
    return [tl.TaskResult.Succeeded, tl.loc('AnalysisDone')];
}

/** Return the result for a problem of Azura's own: a warning unless the user asked to fail. */
export function problemResult(failOnError: boolean): tl.TaskResult {
    return failOnError ? tl.TaskResult.Failed : tl.TaskResult.SucceededWithIssues;
}

/** Return the command-line flags of `azura analyze` for these inputs and the provider that can run. */
function analyzeArguments(inputs: AzuraTaskInputs, llmProvider: string): string[] {
    const args = ['--llm-provider', llmProvider];
    const valued: [string, string][] = [
        ['--model', inputs.model],
        ['--budget', inputs.budget],
        ['--timeout', inputs.timeout],
        ['--tag-prefix', inputs.publishTag ? inputs.tagPrefix : ''],
    ];
    for (const [flag, value] of valued) {
        if (value) {
            args.push(flag, value);
        }
    }
    if (!inputs.publishTag) {
        args.push('--no-tag');
    }
    if (!inputs.publishPrComment) {
        args.push('--no-pr-comment');
    }
    if (!inputs.publishSummary) {
        args.push('--no-summary');
    }
    if (inputs.failOnError) {
        args.push('--strict');
    }
    return args;
}

/** Return the environment of the Azura process: the agent's public variables plus what task-lib hid. */
function childEnvironment(inputs: AzuraTaskInputs, base: NodeJS.ProcessEnv): { [name: string]: string } {
    const env: { [name: string]: string } = {};
    for (const [name, value] of Object.entries(base)) {
        if (value !== undefined) {
            env[name] = value;
        }
    }
    // task-lib removed the job's token and all secrets from process.env when it loaded.
    env['SYSTEM_ACCESSTOKEN'] = inputs.accessToken;
    // Logging commands must reach the agent as UTF-8 and in order with the task's own output.
    env['PYTHONUTF8'] = '1';
    env['PYTHONUNBUFFERED'] = '1';
    // The SDK writes its cache at import time; HOME may not be writable on an agent.
    env['AZURE_DEVOPS_CACHE_DIR'] = path.join(inputs.tempDirectory, 'azura-ado-cache');
    const names = PROVIDER_ENVIRONMENT[inputs.llmProvider];
    if (names && inputs.endpoint) {
        env[names.endpoint] = inputs.endpoint;
    }
    if (names && names.key && inputs.apiKey) {
        env[names.key] = inputs.apiKey;
    }
    if (inputs.llmProvider === 'azure_openai' && inputs.azureApiVersion) {
        env['AZURE_OPENAI_API_VERSION'] = inputs.azureApiVersion;
    }
    return env;
}

/** Return the first Python on PATH that is recent enough for Azura. */
function findPython(): Python {
    // On Windows `python3` is often the Store's stub, so `python` comes first there.
    const names = process.platform === 'win32' ? ['python', 'python3'] : ['python3', 'python'];
    const tried: string[] = [];
    for (const name of names) {
        const found = tl.which(name, false);
        if (!found) {
            tried.push(name);
            continue;
        }
        tried.push(found);
        const version = pythonVersion(found);
        if (version && isAtLeast(version, MINIMUM_PYTHON)) {
            console.log(tl.loc('UsingPython', found, version.join('.')));
            return { path: found, version };
        }
        if (version) {
            console.log(tl.loc('PythonTooOld', found, version.join('.'), MINIMUM_PYTHON.join('.')));
        }
    }
    throw new TaskProblem(tl.loc('PythonNotFound', MINIMUM_PYTHON.join('.'), tried.join(', ')));
}

/** Return (major, minor) of the interpreter, or undefined when it does not run. */
function pythonVersion(python: string): [number, number] | undefined {
    const result = tl.tool(python).arg('--version').execSync({ silent: true });
    const match = /Python (\d+)\.(\d+)/.exec(`${result.stdout || ''} ${result.stderr || ''}`);
    if (result.code !== 0 || !match) {
        return undefined;
    }
    return [Number(match[1]), Number(match[2])];
}

function isAtLeast(version: readonly [number, number], minimum: readonly [number, number]): boolean {
    return version[0] > minimum[0] || (version[0] === minimum[0] && version[1] >= minimum[1]);
}

/** The cached virtual environment of the bundled Azura. */
interface AzuraEnvironment {
    readonly dir: string;
    readonly python: string;
    readonly wheel: BundledWheel;
}

/** Return the virtual environment holding the bundled Azura, creating it on first use. */
async function azuraEnvironment(python: Python, inputs: AzuraTaskInputs): Promise<AzuraEnvironment> {
    const wheelsDir = path.join(__dirname, 'wheels');
    const wheel = bundledAzuraWheel(wheelsDir);
    // One environment per Azura version and interpreter, in the agent's tool cache like any tool;
    // the `.complete` file beside it says the install finished.
    const dir = path.join(
        inputs.toolsDirectory, 'azura', wheel.version,
        `py${python.version.join('.')}-${process.platform}-${os.arch()}`);
    const environment = {
        dir,
        python: process.platform === 'win32' ? path.join(dir, 'Scripts', 'python.exe') : path.join(dir, 'bin', 'python'),
        wheel,
    };
    const marker = `${dir}.complete`;
    if (tl.exist(marker)) {
        console.log(tl.loc('ReusingEnvironment', wheel.version, dir));
        return environment;
    }
    console.log(tl.loc('CreatingEnvironment', wheel.version, dir));
    // --clear below removes an llm extra installed before, so its marker must go too.
    tl.rmRF(llmMarker(dir));
    const venvCode = await tl.tool(python.path).arg(['-m', 'venv', '--clear', dir]).execAsync({ ignoreReturnCode: true });
    if (venvCode !== 0) {
        throw new TaskProblem(tl.loc('VenvFailed', python.path, venvCode));
    }
    await installAzura(environment, wheelsDir, inputs.pipArguments);
    tl.writeFile(marker, wheel.version);
    return environment;
}

/** Return whether the llm extra is in the environment, installing it from the index if needed. */
async function hasLlmExtra(environment: AzuraEnvironment, pipArguments: string): Promise<boolean> {
    const marker = llmMarker(environment.dir);
    if (tl.exist(marker)) {
        return true;
    }
    console.log(tl.loc('InstallingLlmExtra'));
    // openai and jsonschema are not bundled (they would break the Marketplace's size limit); the
    // bundled wheels still serve Azura and its core, so only the extra's packages come from the index.
    const code = await pipInstall(
        environment.python, ['--find-links', path.dirname(environment.wheel.file), `${environment.wheel.file}[llm]`], pipArguments);
    if (code !== 0) {
        tl.warning(tl.loc('LlmExtraFailed', code));
        return false;
    }
    tl.writeFile(marker, environment.wheel.version);
    return true;
}

/** Return the file saying the llm extra is installed: beside the core's, as the extra joins the same environment. */
function llmMarker(venvDir: string): string {
    return `${venvDir}.llm.complete`;
}

/** Return the Azura wheel bundled in the task folder and its version. */
function bundledAzuraWheel(wheelsDir: string): BundledWheel {
    const [file] = tl.findMatch(wheelsDir, 'azura_pipelines-*-py3-none-any.whl');
    if (!file) {
        throw new TaskProblem(tl.loc('WheelsMissing', wheelsDir));
    }
    return { file, version: path.basename(file).split('-')[1] };
}

async function installAzura(environment: AzuraEnvironment, wheelsDir: string, pipArguments: string): Promise<void> {
    // The wheel is named by path, never `azura-pipelines==x`: an index candidate of the same
    // version must not win over the bundled one.
    console.log(tl.loc('InstallingOffline'));
    // With RE2, the fast log scanner, where the bundle has its wheel for this agent; else without it.
    let offlineCode = 0;
    for (const requirement of [`${environment.wheel.file}[re2]`, environment.wheel.file]) {
        offlineCode = await pipInstall(environment.python, ['--no-index', '--find-links', wheelsDir, requirement], '');
        if (offlineCode === 0) {
            return;
        }
    }
    tl.warning(tl.loc('WheelMissingUsingIndex', offlineCode));
    const indexCode = await pipInstall(environment.python, ['--find-links', wheelsDir, environment.wheel.file], pipArguments);
    if (indexCode !== 0) {
        throw new TaskProblem(tl.loc('InstallFailed', indexCode));
    }
}

/** Run pip install in the environment; pipArguments (the user's index settings) come last. */
function pipInstall(venvPython: string, args: string[], pipArguments: string): Promise<number> {
    return tl.tool(venvPython)
        .arg(['-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', '--progress-bar', 'off'])
        .arg(args)
        .line(pipArguments)
        .execAsync({ ignoreReturnCode: true });
}
