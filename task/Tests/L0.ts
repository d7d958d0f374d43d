import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { MockTestRunner } from 'azure-pipelines-task-lib/mock-test';
import {
    AGENT_CA_TEXT, ANALYZE, API_KEY, CREATE_VENV, DB_PASSWORD, HOMEBREW_PYTHON, INTERPRETER, LAUNCHER, LLM_MARKER,
    PIP_ARGUMENTS, PIP_LLM, PIP_OFFLINE, PIP_OFFLINE_RE2, PIP_WITH_INDEX, PROXY_PASSWORD, REPORT_DIR, STUB, TEMP, TOKEN,
    agentCommands,
} from './scenario';

const TASK_JSON = path.join(__dirname, '..', 'task.json');

/** Run one mock-run script with the Node that runs the tests (the runner would download one). */
async function runScenario(name: string): Promise<MockTestRunner> {
    const tr = new MockTestRunner(path.join(__dirname, `${name}.js`), TASK_JSON);
    tr.nodePath = process.execPath;
    await tr.runAsync();
    return tr;
}

/** Run the assertions; on failure show what the task printed. */
function runValidations(tr: MockTestRunner, validator: () => void): void {
    try {
        validator();
    } catch (error) {
        console.log('STDOUT', tr.stdout);
        console.error('STDERR', tr.stderr);
        throw error;
    }
}

function commandLines(tr: MockTestRunner): string[] {
    return tr.stdout.split(/\r?\n/).filter((line) => line.startsWith('[command]'));
}

/** Return whether the task ran `command` synchronously (version checks; tr.ran() sees only asynchronous runs). */
function askedVersion(tr: MockTestRunner, command: string): boolean {
    return tr.stdout.split(/\r?\n/).includes(`[sync command]${command}`);
}

/** Return the logging command that sets an output variable of the step to `value`. */
function outputVariable(name: string, value: string): string {
    return `##vso[task.setvariable variable=${name};isOutput=true;issecret=false;]${value}`;
}

describe('Azura task', function () {
    this.timeout(20000);

    describe('first run with an OpenAI-compatible model', () => {
        let tr: MockTestRunner;
        before(async () => {
            tr = await runScenario('L0Analyses');
        });

        it('creates the environment and installs Azura from the bundled wheels with no index', () => {
            runValidations(tr, () => {
                assert.ok(tr.ran(CREATE_VENV), 'venv created');
                const lines = commandLines(tr);
                const withRe2 = lines.indexOf(`[command]${PIP_OFFLINE_RE2}`);
                assert.ok(withRe2 >= 0 && lines.indexOf(`[command]${PIP_OFFLINE}`) > withRe2, 'RE2 first, then without it');
                assert.ok(!tr.ran(PIP_WITH_INDEX), 'the core must not come from the index');
            });
        });

        it('forgets an llm extra installed before, as it builds the environment anew', () => {
            runValidations(tr, () => {
                assert.ok(tr.stdOutContained(`rmRF ${LLM_MARKER}`));
            });
        });

        it('then adds the llm extra with the index allowed, after the offline install', () => {
            runValidations(tr, () => {
                const lines = commandLines(tr);
                const offline = lines.indexOf(`[command]${PIP_OFFLINE}`);
                const llm = lines.indexOf(`[command]${PIP_LLM}`);
                assert.ok(offline >= 0 && llm > offline, lines.join('\n'));
                assert.ok(tr.stdOutContained('loc_mock_InstallingLlmExtra'));
            });
        });

        it('passes every input as a flag of azura analyze', () => {
            runValidations(tr, () => {
                assert.ok(tr.ran(`${ANALYZE} --llm-provider openai --model gpt-4o-mini --budget 3000 --timeout 120 --tag-prefix ci --no-pr-comment`));
            });
        });

        it('hands the job token to Azura as SYSTEM_ACCESSTOKEN', () => {
            runValidations(tr, () => {
                assert.ok(tr.stdOutContained('child env SYSTEM_ACCESSTOKEN=<job token>'));
            });
        });

        it('hands the key from the named secret variable and the endpoint to Azura', () => {
            runValidations(tr, () => {
                assert.ok(tr.stdOutContained('child env OPENAI_API_KEY=<api key>'));
                assert.ok(tr.stdOutContained('child env OPENAI_BASE_URL=http://127.0.0.1:8000/v1'));
                assert.ok(tr.stdOutContained('child env AZURE_OPENAI_API_KEY=<unset>'));
            });
        });

        it('hands the value of every secret variable to Azura in AZURA_SECRETS, for redaction', () => {
            runValidations(tr, () => {
                assert.ok(tr.stdOutContained('child env AZURA_SECRETS=["<api key>","<db password>"]'));
            });
        });

        it('keeps the token, the key and the secret variables out of every command line', () => {
            runValidations(tr, () => {
                const lines = commandLines(tr);
                assert.ok(lines.length >= 3, 'commands were printed');
                for (const line of lines) {
                    assert.ok(!line.includes(TOKEN) && !line.includes(API_KEY) && !line.includes(DB_PASSWORD), line);
                }
            });
        });

        it('never prints the job token', () => {
            runValidations(tr, () => {
                assert.ok(!tr.stdout.includes(TOKEN) && !tr.stderr.includes(TOKEN));
            });
        });

        it('runs Python in UTF-8, unbuffered, with the SDK cache under the agent temp folder', () => {
            runValidations(tr, () => {
                assert.ok(tr.stdOutContained('child env PYTHONUTF8=1'));
                assert.ok(tr.stdOutContained('child env PYTHONUNBUFFERED=1'));
                assert.ok(tr.stdOutContained(`child env AZURE_DEVOPS_CACHE_DIR=${path.join(TEMP, 'azura-ado-cache')}`));
            });
        });

        it('keeps the public pipeline variables Azura reads', () => {
            runValidations(tr, () => {
                assert.ok(tr.stdOutContained('child env SYSTEM_COLLECTIONURI=https://dev.azure.com/contoso/'));
            });
        });

        it('writes the report to a folder of the agent temp directory it names', () => {
            runValidations(tr, () => {
                assert.ok(tr.ran(`${ANALYZE} --llm-provider openai --model gpt-4o-mini --budget 3000 --timeout 120 --tag-prefix ci --no-pr-comment`));
                assert.strictEqual(ANALYZE.split(' --output-dir ')[1], path.join(TEMP, 'azura'));
            });
        });

        it('sets AZURA_CATEGORY to the first failure\'s category and AZURA_REPORT_DIR for later steps', () => {
            runValidations(tr, () => {
                assert.ok(tr.stdOutContained(outputVariable('AZURA_CATEGORY', 'test')));
                assert.ok(tr.stdOutContained(outputVariable('AZURA_REPORT_DIR', REPORT_DIR)));
            });
        });

        it('hands no proxy and no CA bundle over when the agent has none', () => {
            runValidations(tr, () => {
                assert.ok(tr.stdOutContained('child env HTTPS_PROXY=<unset>'));
                assert.ok(tr.stdOutContained('child env REQUESTS_CA_BUNDLE=<unset>'));
            });
        });

        it('succeeds without issues when Azura exits 0', () => {
            runValidations(tr, () => {
                assert.ok(tr.succeeded);
                assert.deepStrictEqual(tr.warningIssues, []);
                assert.ok(tr.stdOutContained('result=Succeeded;]loc_mock_AnalysisDone'));
            });
        });
    });

    describe('later run on the same agent', () => {
        let tr: MockTestRunner;
        before(async () => {
            tr = await runScenario('L0ReusesEnvironment');
        });

        it('reuses the cached environment and installs nothing', () => {
            runValidations(tr, () => {
                assert.ok(!tr.ran(CREATE_VENV));
                assert.ok(!tr.stdOutContained('-m pip install'));
                assert.ok(tr.ran(`${ANALYZE} --llm-provider none --no-tag --no-pr-comment --no-summary`));
                assert.ok(tr.succeeded);
            });
        });
    });

    describe('run with the lookups besides the logs turned off', () => {
        let tr: MockTestRunner;
        before(async () => {
            tr = await runScenario('L0LookupsOff');
        });

        it('passes one flag per lookup turned off', () => {
            runValidations(tr, () => {
                assert.ok(tr.ran(`${ANALYZE} --llm-provider none --no-test-results --no-history --no-source-lines`));
                assert.ok(tr.succeeded);
            });
        });
    });

    describe('later run with a provider, the llm extra already installed', () => {
        let tr: MockTestRunner;
        before(async () => {
            tr = await runScenario('L0ReusesLlmExtra');
        });

        it('installs nothing and runs the provider', () => {
            runValidations(tr, () => {
                assert.ok(!tr.stdOutContained('-m pip install'));
                assert.ok(tr.ran(`${ANALYZE} --llm-provider ollama`));
                assert.ok(tr.stdOutContained('result=Succeeded;]loc_mock_AnalysisDone'));
            });
        });
    });

    describe('first run with a provider on an agent that cached the offline install', () => {
        let tr: MockTestRunner;
        before(async () => {
            tr = await runScenario('L0AddsLlmExtra');
        });

        it('adds the llm extra to the cached environment, through the index named in pipArguments', () => {
            runValidations(tr, () => {
                assert.ok(!tr.ran(CREATE_VENV) && !tr.ran(PIP_OFFLINE));
                assert.ok(tr.ran(`${PIP_LLM} ${PIP_ARGUMENTS}`));
                assert.ok(tr.ran(`${ANALYZE} --llm-provider ollama`));
                assert.ok(tr.stdOutContained('result=Succeeded;]loc_mock_AnalysisDone'));
            });
        });
    });

    describe('the llm extra cannot be installed (no index reachable)', () => {
        let tr: MockTestRunner;
        before(async () => {
            tr = await runScenario('L0LlmExtraFails');
        });

        it('warns how to provide the extra and runs Azura offline', () => {
            runValidations(tr, () => {
                assert.ok(tr.ran(PIP_LLM));
                assert.deepStrictEqual(tr.warningIssues, ['loc_mock_LlmExtraFailed 1', 'loc_mock_AnalysedWithoutLlm']);
                assert.ok(tr.ran(`${ANALYZE} --llm-provider none --model gpt-4o-mini`));
            });
        });

        it('ends SucceededWithIssues, not Failed', () => {
            runValidations(tr, () => {
                assert.ok(tr.succeeded);
                assert.deepStrictEqual(tr.errorIssues, []);
                assert.ok(tr.stdOutContained('result=SucceededWithIssues;]loc_mock_AnalysedWithoutLlm'));
            });
        });
    });

    describe('the llm extra cannot be installed, with failOnError', () => {
        let tr: MockTestRunner;
        before(async () => {
            tr = await runScenario('L0LlmExtraFailsStrict');
        });

        it('must not fail the step when Azura succeeded offline', () => {
            runValidations(tr, () => {
                assert.ok(tr.ran(`${ANALYZE} --llm-provider none --strict`));
                assert.ok(tr.succeeded);
                assert.deepStrictEqual(tr.errorIssues, []);
                assert.ok(tr.stdOutContained('result=SucceededWithIssues;]loc_mock_AnalysedWithoutLlm'));
            });
        });
    });

    describe('agent without a recent Python', () => {
        let tr: MockTestRunner;
        before(async () => {
            tr = await runScenario('L0NoPython');
        });

        it('warns with a message naming what was tried and what to add', () => {
            runValidations(tr, () => {
                assert.deepStrictEqual(tr.warningIssues, [
                    'loc_mock_TaskProblem loc_mock_PythonNotFound 3.10 python3, /usr/bin/python',
                ]);
                assert.ok(tr.stdOutContained('loc_mock_PythonTooOld /usr/bin/python 3.8 3.10'));
            });
        });

        it('ends SucceededWithIssues and starts nothing', () => {
            runValidations(tr, () => {
                assert.ok(tr.succeeded);
                assert.ok(tr.stdOutContained('result=SucceededWithIssues;'));
                assert.strictEqual(tr.invokedToolCount, 0);
            });
        });

        it('still sets the output variables, empty, so later steps read no stale text', () => {
            runValidations(tr, () => {
                assert.ok(tr.stdOutContained(outputVariable('AZURA_CATEGORY', '')));
                assert.ok(tr.stdOutContained(outputVariable('AZURA_REPORT_DIR', '')));
            });
        });
    });

    describe('Azura fails', () => {
        let tr: MockTestRunner;
        before(async () => {
            tr = await runScenario('L0AnalyzerCrashes');
        });

        it('installs from the bundled wheels only: provider none never reaches for the index', () => {
            runValidations(tr, () => {
                assert.ok(tr.ran(PIP_OFFLINE));
                assert.ok(!tr.ran(PIP_WITH_INDEX) && !tr.ran(PIP_LLM));
                assert.ok(!tr.stdOutContained('[llm]'));
            });
        });

        it('sets no category from a report an earlier run left behind', () => {
            runValidations(tr, () => {
                assert.ok(tr.stdOutContained(outputVariable('AZURA_CATEGORY', '')));
                assert.ok(!tr.stdOutContained(outputVariable('AZURA_CATEGORY', 'compile')));
            });
        });

        it('ends SucceededWithIssues with a warning, not Failed', () => {
            runValidations(tr, () => {
                assert.ok(tr.ran(`${ANALYZE} --llm-provider none`));
                assert.ok(tr.succeeded);
                assert.ok(tr.stdOutContained('result=SucceededWithIssues;'));
                assert.deepStrictEqual(tr.warningIssues, ['loc_mock_AzuraFailed 1']);
                assert.deepStrictEqual(tr.errorIssues, []);
            });
        });
    });

    describe('Azura fails with failOnError', () => {
        let tr: MockTestRunner;
        before(async () => {
            tr = await runScenario('L0StrictFails');
        });

        it('runs Azura with --strict and fails the step', () => {
            runValidations(tr, () => {
                assert.ok(tr.ran(`${ANALYZE} --llm-provider none --strict`));
                assert.ok(tr.failed);
                assert.deepStrictEqual(tr.errorIssues, ['loc_mock_AzuraFailed 1']);
            });
        });
    });

    describe('no bundled wheel fits the agent', () => {
        let tr: MockTestRunner;
        before(async () => {
            tr = await runScenario('L0WheelMissing');
        });

        it('falls back to the package index with a warning and still runs Azura', () => {
            runValidations(tr, () => {
                assert.ok(tr.ran(PIP_OFFLINE));
                assert.ok(tr.ran(PIP_WITH_INDEX));
                assert.ok(tr.ran(PIP_LLM));
                assert.deepStrictEqual(tr.warningIssues, ['loc_mock_WheelMissingUsingIndex 1']);
                assert.ok(tr.ran(`${ANALYZE} --llm-provider azure_openai --model gpt-4o`));
                assert.ok(tr.succeeded);
            });
        });

        it('hands the Azure OpenAI endpoint to Azura under its own name', () => {
            runValidations(tr, () => {
                assert.ok(tr.stdOutContained('child env AZURE_OPENAI_ENDPOINT=https://contoso.openai.azure.com'));
                assert.ok(tr.stdOutContained('child env OPENAI_BASE_URL=<unset>'));
            });
        });
    });

    describe('Windows agent whose python is the Store stub', () => {
        let tr: MockTestRunner;
        before(async () => {
            tr = await runScenario('L0Windows');
        });

        it('tries python, then the py -3 launcher, and builds the environment with the launcher', () => {
            runValidations(tr, () => {
                const agent = agentCommands('win32', `${LAUNCHER} -3`);
                assert.ok(askedVersion(tr, `${STUB} --version`));
                assert.ok(askedVersion(tr, `${LAUNCHER} -3 --version`));
                assert.ok(tr.ran(agent.createVenv));
                assert.ok(tr.stdOutContained(`loc_mock_UsingPython ${LAUNCHER} -3 3.12`));
            });
        });

        it('runs Azura from Scripts\\python.exe of the environment', () => {
            runValidations(tr, () => {
                const agent = agentCommands('win32', `${LAUNCHER} -3`);
                assert.ok(agent.venvPython.endsWith(path.join('Scripts', 'python.exe')));
                assert.ok(tr.ran(`${agent.analyze} --llm-provider none`));
                assert.ok(tr.succeeded);
            });
        });
    });

    describe('macOS agent', () => {
        let tr: MockTestRunner;
        before(async () => {
            tr = await runScenario('L0MacOS');
        });

        it('uses python3 from PATH and keeps a darwin environment apart from other platforms', () => {
            runValidations(tr, () => {
                const agent = agentCommands('darwin', HOMEBREW_PYTHON);
                assert.ok(agent.venv.includes('-darwin-'));
                assert.ok(tr.ran(agent.createVenv));
                assert.ok(tr.ran(`${agent.analyze} --llm-provider none`));
                assert.ok(tr.succeeded);
            });
        });
    });

    describe('pythonInterpreter names the interpreter', () => {
        let tr: MockTestRunner;
        before(async () => {
            tr = await runScenario('L0InterpreterInput');
        });

        it('uses it without searching PATH', () => {
            runValidations(tr, () => {
                const agent = agentCommands('linux', INTERPRETER);
                assert.ok(askedVersion(tr, `${INTERPRETER} --version`));
                assert.ok(!askedVersion(tr, '/usr/bin/python3 --version'));
                assert.ok(tr.ran(agent.createVenv));
                assert.ok(tr.ran(`${agent.analyze} --llm-provider none`));
            });
        });
    });

    describe('pythonInterpreter names a Python that is too old', () => {
        let tr: MockTestRunner;
        before(async () => {
            tr = await runScenario('L0InterpreterTooOld');
        });

        it('warns naming the input and the version, and does not fall back to PATH', () => {
            runValidations(tr, () => {
                assert.deepStrictEqual(tr.warningIssues, [
                    'loc_mock_TaskProblem loc_mock_InterpreterUnusable /usr/bin/python3.8 3.8 3.10',
                ]);
                assert.ok(askedVersion(tr, '/usr/bin/python3.8 --version'));
                assert.ok(!askedVersion(tr, '/usr/bin/python3 --version'));
                assert.ok(tr.succeeded);
            });
        });
    });

    describe('agent behind a proxy, with its own CA certificate', () => {
        let tr: MockTestRunner;
        before(async () => {
            tr = await runScenario('L0Proxy');
        });

        it('hands the proxy, credentials percent-encoded, to pip and to Azura in every spelling', () => {
            runValidations(tr, () => {
                const proxy = 'http://agent-svc:<proxy password>@proxy.contoso.com:8080';
                for (const name of ['HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy']) {
                    const lines = tr.stdout.split(/\r?\n/).filter((line) => line === `child env ${name}=${proxy}`);
                    assert.strictEqual(lines.length, 4, name); // the offline installs with and without RE2, the llm extra, Azura
                }
            });
        });

        it('turns the bypass list into NO_PROXY: the hosts Azura calls that it matches, and its plain hosts', () => {
            runValidations(tr, () => {
                assert.ok(tr.stdOutContained('child env NO_PROXY=llm.corp.contoso.com,github.com,corp.contoso.com\n'));
                assert.ok(tr.stdOutContained('child env no_proxy=llm.corp.contoso.com,github.com,corp.contoso.com\n'));
            });
        });

        it('hands one CA bundle, the public CAs and the agent\'s, to requests, httpx and pip', () => {
            runValidations(tr, () => {
                const bundle = path.join(TEMP, 'azura-ca-bundle.pem');
                for (const name of ['REQUESTS_CA_BUNDLE', 'SSL_CERT_FILE', 'PIP_CERT']) {
                    assert.ok(tr.stdOutContained(`child env ${name}=${bundle}`), name);
                }
                const text = fs.readFileSync(bundle, 'utf-8');
                assert.ok(text.endsWith(AGENT_CA_TEXT));
                assert.ok(text.split('-----BEGIN CERTIFICATE-----').length > 100, 'the public CAs are kept');
            });
        });

        it('never prints the proxy password, and has the agent mask its encoded form', () => {
            runValidations(tr, () => {
                assert.ok(!tr.stdout.includes(PROXY_PASSWORD) && !tr.stderr.includes(PROXY_PASSWORD));
                // task-lib escapes '%' in logging commands as %AZP25; the agent reads it back as '%'.
                const encoded = encodeURIComponent(PROXY_PASSWORD).replace(/%/g, '%AZP25');
                assert.ok(tr.stdOutContained(`##vso[task.setsecret]${encoded}\n`));
            });
        });

        it('warns that the agent\'s client certificate is not presented, and still succeeds', () => {
            runValidations(tr, () => {
                assert.deepStrictEqual(tr.warningIssues, ['loc_mock_ClientCertificateNotPassed']);
                assert.ok(tr.ran(`${ANALYZE} --llm-provider openai`));
                assert.ok(tr.succeeded);
            });
        });
    });

    describe('task.json', () => {
        it('has a message for every tl.loc key the task uses', () => {
            const messages = JSON.parse(fs.readFileSync(TASK_JSON, 'utf-8')).messages as { [key: string]: string };
            for (const source of ['main.ts', 'runazura.ts']) {
                const text = fs.readFileSync(path.join(__dirname, '..', source), 'utf-8');
                for (const match of text.matchAll(/tl\.loc\('([A-Za-z]+)'/g)) {
                    assert.ok(match[1] in messages, `${source}: ${match[1]} has no message`);
                }
            }
        });
    });
});
