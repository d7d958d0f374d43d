import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tls from 'tls';
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
    readonly readTestResults: boolean;
    readonly readHistory: boolean;
    readonly readSourceLines: boolean;
    readonly failOnError: boolean;
    readonly timeout: string;
    readonly pipArguments: string;
    readonly pythonInterpreter: string;
    readonly accessToken: string;
    readonly tempDirectory: string;
    readonly toolsDirectory: string;
    readonly network: AgentNetwork;
}

/** The agent's proxy and CA certificate (Agent.ProxyUrl, Agent.ProxyBypassList, Agent.CAInfo, ...). */
export interface AgentNetwork {
    readonly proxy?: {
        readonly url: string;
        readonly username?: string;
        readonly password?: string;
        /** The agent's bypass list: regular expressions matched against whole URLs. */
        readonly bypassPatterns: readonly string[];
        /** Hosts Azura will call that the bypass list lets skip the proxy (checked by task-lib itself). */
        readonly bypassedHosts: readonly string[];
    };
    readonly caFile?: string;
    readonly clientCertificate: boolean;
}

/** How Azura ran: its exit code, whether it ran offline because the llm extra could not be installed, and
 * the category of the first failure (empty when nothing failed or Azura made no report). */
export interface AzuraRun {
    readonly exitCode: number;
    readonly withoutLlm: boolean;
    readonly category: string;
    readonly reportDirectory: string;
}

/** Azura could not be started (no Python, no wheels, install failed); the message is for the user. */
class TaskProblem extends Error {}

/** An interpreter: a command and the arguments that pick it (`py -3`), with its version. */
interface Python {
    readonly command: string;
    readonly args: readonly string[];
    readonly version: readonly [number, number];
}

interface BundledWheel {
    readonly file: string;
    readonly version: string;
}

const MINIMUM_PYTHON: readonly [number, number] = [3, 10]; // setup.py's python_requires

// Where each provider reads its endpoint and key (Azura's environment contract).
const PROVIDER_ENVIRONMENT: { readonly [provider: string]: { readonly endpoint: string; readonly key?: string } } = {
    openai: { endpoint: 'OPENAI_BASE_URL', key: 'OPENAI_API_KEY' },
    azure_openai: { endpoint: 'AZURE_OPENAI_ENDPOINT', key: 'AZURE_OPENAI_API_KEY' },
    ollama: { endpoint: 'OLLAMA_BASE_URL' },
};

// Output variables for later steps, named like Azura's other variables. task.json does not declare them: its
// schema allows no '_' in declared names, and the agent passes on undeclared output variables all the same.
const CATEGORY_VARIABLE = 'AZURA_CATEGORY';
const REPORT_VARIABLE = 'AZURA_REPORT_DIR';

/** Install Azura if needed, run `python -m azura analyze` and return how it went. */
export async function runAzura(inputs: AzuraTaskInputs): Promise<AzuraRun> {
    const network = networkEnvironment(inputs);
    const python = findPython(inputs.pythonInterpreter);
    const environment = await azuraEnvironment(python, inputs, network);
    const withoutLlm = inputs.llmProvider !== 'none' && !await hasLlmExtra(environment, inputs.pipArguments, network);
    const reportDirectory = path.join(inputs.tempDirectory, 'azura');
    const analysisFile = path.join(reportDirectory, 'analysis.json');
    // A report left by an earlier run in this job must not pass for this run's.
    fs.rmSync(analysisFile, { force: true });
    const exitCode = await tl.tool(environment.python)
        .arg(['-m', 'azura', 'analyze', '--output-dir', reportDirectory])
        .arg(analyzeArguments(inputs, withoutLlm ? 'none' : inputs.llmProvider))
        .execAsync({
            env: { ...childEnvironment(inputs, process.env), ...network },
            ignoreReturnCode: true,
            failOnStdErr: false,
        });
    return { exitCode, withoutLlm, category: reportedCategory(analysisFile), reportDirectory };
}

/** Set the output variables later steps read: the category (empty when there is none) and the report folder. */
export function setOutputVariables(category: string, reportDirectory: string): void {
    tl.setVariable(CATEGORY_VARIABLE, category, false, true);
    tl.setVariable(REPORT_VARIABLE, reportDirectory, false, true);
}

/** Return the category of the first failure in analysis.json, or '' when there is no readable report. */
function reportedCategory(analysisFile: string): string {
    try {
        const analysis = JSON.parse(fs.readFileSync(analysisFile, 'utf-8')) as { failures?: { category?: unknown }[] };
        const category = analysis.failures?.[0]?.category;
        // The categories are lower-case words (analysis.json's contract); anything else is not passed on.
        return typeof category === 'string' && /^[a-z]{1,32}$/.test(category) ? category : '';
    } catch {
        return '';
    }
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
    if (!inputs.readTestResults) {
        args.push('--no-test-results');
    }
    if (!inputs.readHistory) {
        args.push('--no-history');
    }
    if (!inputs.readSourceLines) {
        args.push('--no-source-lines');
    }
    if (inputs.failOnError) {
        args.push('--strict');
    }
    return args;
}

/** Return the process environment without its unset names. */
function processEnvironment(base: NodeJS.ProcessEnv): Environment {
    const env: Environment = {};
    for (const [name, value] of Object.entries(base)) {
        if (value !== undefined) {
            env[name] = value;
        }
    }
    return env;
}

/** Return the environment of the Azura process: the agent's public variables plus what task-lib hid. */
function childEnvironment(inputs: AzuraTaskInputs, base: NodeJS.ProcessEnv): Environment {
    const env = processEnvironment(base);
    // task-lib removed the job's token and all secrets from process.env when it loaded.
    env['SYSTEM_ACCESSTOKEN'] = inputs.accessToken;
    // Azura redacts these wherever they appear; unlike the command line, the environment is private to it.
    env['AZURA_SECRETS'] = JSON.stringify(secretVariableValues());
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

/** Return the values of every secret variable the task can see; the agent masks them only in its own log. */
function secretVariableValues(): string[] {
    return tl.getVariables().filter((variable) => variable.secret && variable.value).map((variable) => variable.value);
}

/** Return the interpreter to install Azura with: the pythonInterpreter input, else the first recent one on PATH. */
function findPython(interpreter: string): Python {
    if (interpreter) {
        const version = pythonVersion(interpreter, []);
        if (!version || !isAtLeast(version, MINIMUM_PYTHON)) {
            throw new TaskProblem(tl.loc('InterpreterUnusable', interpreter, version ? version.join('.') : '?',
                MINIMUM_PYTHON.join('.')));
        }
        console.log(tl.loc('UsingPython', interpreter, version.join('.')));
        return { command: interpreter, args: [], version };
    }
    const tried: string[] = [];
    for (const [name, ...args] of candidateCommands()) {
        const found = tl.which(name, false);
        const shown = [found || name, ...args].join(' ');
        tried.push(shown);
        if (!found) {
            continue;
        }
        const version = pythonVersion(found, args);
        if (version && isAtLeast(version, MINIMUM_PYTHON)) {
            console.log(tl.loc('UsingPython', shown, version.join('.')));
            return { command: found, args, version };
        }
        if (version) {
            console.log(tl.loc('PythonTooOld', shown, version.join('.'), MINIMUM_PYTHON.join('.')));
        }
    }
    throw new TaskProblem(tl.loc('PythonNotFound', MINIMUM_PYTHON.join('.'), tried.join(', ')));
}

/** Return the commands that may start Python on this agent, in the order they are tried. */
function candidateCommands(): string[][] {
    if (tl.getPlatform() === tl.Platform.Windows) {
        // `python` first: UsePythonVersion@0 puts the version the pipeline chose there. Then the launcher `py`,
        // which python.org installers add; `python3` last, as it is often the Store's stub.
        return [['python'], ['py', '-3'], ['python3']];
    }
    return [['python3'], ['python']];
}

/** Return (major, minor) of the interpreter, or undefined when it does not run. */
function pythonVersion(python: string, args: readonly string[]): [number, number] | undefined {
    const result = tl.tool(python).arg([...args, '--version']).execSync({ silent: true });
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
async function azuraEnvironment(python: Python, inputs: AzuraTaskInputs, network: Environment): Promise<AzuraEnvironment> {
    const wheelsDir = path.join(__dirname, 'wheels');
    const wheel = bundledAzuraWheel(wheelsDir);
    const windows = tl.getPlatform() === tl.Platform.Windows;
    // One environment per Azura version and interpreter, in the agent's tool cache like any tool;
    // the `.complete` file beside it says the install finished.
    const dir = path.join(
        inputs.toolsDirectory, 'azura', wheel.version,
        `py${python.version.join('.')}-${platformName()}-${os.arch()}`);
    const environment = {
        dir,
        python: windows ? path.join(dir, 'Scripts', 'python.exe') : path.join(dir, 'bin', 'python'),
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
    const venvCode = await tl.tool(python.command).arg([...python.args, '-m', 'venv', '--clear', dir])
        .execAsync({ ignoreReturnCode: true });
    if (venvCode !== 0) {
        throw new TaskProblem(tl.loc('VenvFailed', [python.command, ...python.args].join(' '), venvCode));
    }
    await installAzura(environment, wheelsDir, inputs.pipArguments, network);
    tl.writeFile(marker, wheel.version);
    return environment;
}

/** Return the platform's name as Node spells it (process.platform), from task-lib's view of the agent. */
function platformName(): string {
    const names: { [platform: number]: string } = {
        [tl.Platform.Windows]: 'win32', [tl.Platform.MacOS]: 'darwin', [tl.Platform.Linux]: 'linux',
    };
    return names[tl.getPlatform()];
}

/** Return whether the llm extra is in the environment, installing it from the index if needed. */
async function hasLlmExtra(environment: AzuraEnvironment, pipArguments: string, network: Environment): Promise<boolean> {
    const marker = llmMarker(environment.dir);
    if (tl.exist(marker)) {
        return true;
    }
    console.log(tl.loc('InstallingLlmExtra'));
    // openai and jsonschema are not bundled (they would break the Marketplace's size limit); the
    // bundled wheels still serve Azura and its core, so only the extra's packages come from the index.
    const code = await pipInstall(
        environment.python, ['--find-links', path.dirname(environment.wheel.file), `${environment.wheel.file}[llm]`],
        pipArguments, network);
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

async function installAzura(
    environment: AzuraEnvironment, wheelsDir: string, pipArguments: string, network: Environment): Promise<void> {
    // The wheel is named by path, never `azura-pipelines==x`: an index candidate of the same
    // version must not win over the bundled one.
    console.log(tl.loc('InstallingOffline'));
    // With RE2, the fast log scanner, where the bundle has its wheel for this agent; else without it.
    let offlineCode = 0;
    for (const requirement of [`${environment.wheel.file}[re2]`, environment.wheel.file]) {
        offlineCode = await pipInstall(
            environment.python, ['--no-index', '--find-links', wheelsDir, requirement], '', network);
        if (offlineCode === 0) {
            return;
        }
    }
    tl.warning(tl.loc('WheelMissingUsingIndex', offlineCode));
    const indexCode = await pipInstall(
        environment.python, ['--find-links', wheelsDir, environment.wheel.file], pipArguments, network);
    if (indexCode !== 0) {
        throw new TaskProblem(tl.loc('InstallFailed', indexCode));
    }
}

/** Run pip install in the environment; pipArguments (the user's index settings) come last. */
function pipInstall(venvPython: string, args: string[], pipArguments: string, network: Environment): Promise<number> {
    return tl.tool(venvPython)
        .arg(['-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', '--progress-bar', 'off'])
        .arg(args)
        .line(pipArguments)
        .execAsync({ env: { ...processEnvironment(process.env), ...network }, ignoreReturnCode: true });
}

type Environment = { [name: string]: string };

/** Return the variables that hand the agent's proxy and CA certificate to pip, requests (the Azure DevOps SDK)
 * and httpx (the openai client), which all read the same names. */
export function networkEnvironment(inputs: AzuraTaskInputs): Environment {
    const env: Environment = {};
    const { proxy, caFile, clientCertificate } = inputs.network;
    if (proxy) {
        const url = proxyUrl(proxy.url, proxy.username, proxy.password);
        const noProxy = [...new Set([
            ...(process.env['NO_PROXY'] || process.env['no_proxy'] || '').split(',').map((host) => host.trim()),
            ...proxy.bypassedHosts,
            ...proxy.bypassPatterns.map(bypassHost),
        ].filter((host): host is string => Boolean(host)))].join(',');
        // Both spellings: each tool reads one or the other, and on Linux they are different variables.
        for (const name of ['HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy']) {
            env[name] = url;
        }
        env['NO_PROXY'] = env['no_proxy'] = noProxy;
    }
    const bundle = caFile ? caBundle(caFile, inputs.tempDirectory) : undefined;
    if (bundle) {
        // requests and pip would trust only this file, so it holds the public CAs too.
        env['REQUESTS_CA_BUNDLE'] = env['SSL_CERT_FILE'] = env['PIP_CERT'] = bundle;
    }
    if (clientCertificate) {
        tl.warning(tl.loc('ClientCertificateNotPassed'));
    }
    return env;
}

/** Return the proxy URL with its credentials percent-encoded (task-lib's proxyFormattedUrl leaves them raw). */
function proxyUrl(url: string, username?: string, password?: string): string {
    if (!username) {
        return url;
    }
    const parsed = new URL(url);
    parsed.username = encodeURIComponent(username);
    parsed.password = encodeURIComponent(password || '');
    // The agent masks the password as given; the encoded form is another string to mask.
    if (parsed.password && parsed.password !== password) {
        tl.setSecret(parsed.password);
    }
    return parsed.toString().replace(/\/$/, '');
}

/** Return the NO_PROXY entry for one of the agent's bypass expressions, or undefined when it is no plain host.
 *
 * The agent matches these regular expressions against whole URLs (`github\.com`, `.*\.corp\.contoso\.com`);
 * NO_PROXY takes host names, each of which also covers its subdomains. */
export function bypassHost(pattern: string): string | undefined {
    const host = pattern.trim()
        .replace(/^\^/, '')
        .replace(/^(https\?|https?):(\\\/|\/){2}/, '')
        .replace(/^(\.\*|\(\.\*\\\.\)\?)(\\\.)?/, '')
        .replace(/\$$/, '')
        .replace(/\\\./g, '.');
    return /^[A-Za-z0-9][A-Za-z0-9.-]*$/.test(host) ? host : undefined;
}

/** Write the public CAs and the agent's CA certificate to one file under the agent's temp folder; return it,
 * or undefined (with a warning) when the agent's file cannot be read. */
function caBundle(caFile: string, tempDirectory: string): string | undefined {
    const bundle = path.join(tempDirectory, 'azura-ca-bundle.pem');
    let agentCa: string;
    try {
        agentCa = fs.readFileSync(caFile, 'utf-8');
    } catch (error) {
        tl.warning(tl.loc('CaFileUnreadable', caFile, error instanceof Error ? error.message : String(error)));
        return undefined;
    }
    fs.writeFileSync(bundle, [...tls.rootCertificates, agentCa.trim()].join('\n') + '\n', { encoding: 'utf-8', mode: 0o644 });
    return bundle;
}
