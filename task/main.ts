import * as os from 'os';
import * as path from 'path';
import * as tl from 'azure-pipelines-task-lib/task';
import { AgentNetwork, AzuraTaskInputs, problemResult, resultFor, runAzura, setOutputVariables } from './runazura';

// Where each provider is reached when no endpoint is given (to check the agent's proxy bypass list against).
const DEFAULT_ENDPOINTS: { readonly [provider: string]: string } = {
    openai: 'https://api.openai.com/v1',
    ollama: 'http://localhost:11434',
};

function readInputs(failOnError: boolean): AzuraTaskInputs {
    const apiKeyVariable = tl.getInput('apiKeyVariable', false) || '';
    const apiKey = apiKeyVariable ? tl.getVariable(apiKeyVariable) || '' : '';
    if (apiKeyVariable && !apiKey) {
        tl.warning(tl.loc('KeyVariableEmpty', apiKeyVariable));
    }
    const tempDirectory = tl.getVariable('Agent.TempDirectory') || os.tmpdir();
    const llmProvider = tl.getInput('llmProvider', false) || 'none';
    const endpoint = tl.getInput('endpoint', false) || '';
    return {
        llmProvider,
        model: tl.getInput('model', false) || '',
        endpoint,
        apiKey,
        azureApiVersion: tl.getInput('azureApiVersion', false) || '',
        budget: tl.getInput('budget', false) || '',
        publishTag: tl.getBoolInput('publishTag', false),
        tagPrefix: tl.getInput('tagPrefix', false) || '',
        publishPrComment: tl.getBoolInput('publishPrComment', false),
        publishSummary: tl.getBoolInput('publishSummary', false),
        readTestResults: tl.getBoolInput('readTestResults', false),
        readHistory: tl.getBoolInput('readHistory', false),
        readSourceLines: tl.getBoolInput('readSourceLines', false),
        failOnError,
        timeout: tl.getInput('timeout', false) || '',
        pipArguments: tl.getInput('pipArguments', false) || '',
        pythonInterpreter: tl.getInput('pythonInterpreter', false) || '',
        // Not getEndpointAuthorizationParameter: that one writes the token to the debug log.
        accessToken: tl.getEndpointAuthorization('SystemVssConnection', true)?.parameters['AccessToken'] || '',
        tempDirectory,
        toolsDirectory: tl.getVariable('Agent.ToolsDirectory') || tempDirectory,
        network: readNetwork([
            tl.getVariable('System.CollectionUri') || '',
            llmProvider === 'none' ? '' : endpoint || DEFAULT_ENDPOINTS[llmProvider] || '',
        ]),
    };
}

/** Return the agent's proxy and CA settings; `urls` are the servers Azura will call. */
function readNetwork(urls: string[]): AgentNetwork {
    const proxy = tl.getHttpProxyConfiguration();
    const certificates = tl.getHttpCertConfiguration();
    return {
        proxy: proxy ? {
            url: proxy.proxyUrl,
            username: proxy.proxyUsername,
            password: proxy.proxyPassword,
            bypassPatterns: proxy.proxyBypassHosts || [],
            // task-lib answers null for a URL that the agent's bypass list matches.
            bypassedHosts: urls.filter((url) => url && tl.getHttpProxyConfiguration(url) === null)
                .map(hostOf).filter((host): host is string => Boolean(host)),
        } : undefined,
        caFile: certificates?.caFile || undefined,
        clientCertificate: Boolean(certificates?.certFile),
    };
}

function hostOf(url: string): string | undefined {
    try {
        return new URL(url).hostname;
    } catch {
        return undefined; // Azura itself names a malformed endpoint
    }
}

async function run(): Promise<void> {
    tl.setResourcePath(path.join(__dirname, 'task.json'));
    const failOnError = tl.getBoolInput('failOnError', false);
    try {
        const run = await runAzura(readInputs(failOnError));
        setOutputVariables(run.category, run.reportDirectory);
        const [result, message] = resultFor(run, failOnError);
        tl.setResult(result, message);
    } catch (err) {
        // Empty rather than unset, so later steps' $(azura.AZURA_CATEGORY) reads '' instead of itself.
        setOutputVariables('', '');
        tl.setResult(problemResult(failOnError), tl.loc('TaskProblem', err instanceof Error ? err.message : String(err)));
    }
}

void run();
