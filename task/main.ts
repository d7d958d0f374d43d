import * as os from 'os';
import * as path from 'path';
import * as tl from 'azure-pipelines-task-lib/task';
import { AzuraTaskInputs, problemResult, resultFor, runAzura } from './runazura';

function readInputs(failOnError: boolean): AzuraTaskInputs {
    const apiKeyVariable = tl.getInput('apiKeyVariable', false) || '';
    const apiKey = apiKeyVariable ? tl.getVariable(apiKeyVariable) || '' : '';
    if (apiKeyVariable && !apiKey) {
        tl.warning(tl.loc('KeyVariableEmpty', apiKeyVariable));
    }
    const tempDirectory = tl.getVariable('Agent.TempDirectory') || os.tmpdir();
    return {
        llmProvider: tl.getInput('llmProvider', false) || 'none',
        model: tl.getInput('model', false) || '',
        endpoint: tl.getInput('endpoint', false) || '',
        apiKey,
        azureApiVersion: tl.getInput('azureApiVersion', false) || '',
        budget: tl.getInput('budget', false) || '',
        publishTag: tl.getBoolInput('publishTag', false),
        tagPrefix: tl.getInput('tagPrefix', false) || '',
        publishPrComment: tl.getBoolInput('publishPrComment', false),
        publishSummary: tl.getBoolInput('publishSummary', false),
        failOnError,
        timeout: tl.getInput('timeout', false) || '',
        pipArguments: tl.getInput('pipArguments', false) || '',
        // Not getEndpointAuthorizationParameter: that one writes the token to the debug log.
        accessToken: tl.getEndpointAuthorization('SystemVssConnection', true)?.parameters['AccessToken'] || '',
        tempDirectory,
        toolsDirectory: tl.getVariable('Agent.ToolsDirectory') || tempDirectory,
    };
}

async function run(): Promise<void> {
    tl.setResourcePath(path.join(__dirname, 'task.json'));
    const failOnError = tl.getBoolInput('failOnError', false);
    try {
        const run = await runAzura(readInputs(failOnError));
        const [result, message] = resultFor(run, failOnError);
        tl.setResult(result, message);
    } catch (err) {
        tl.setResult(problemResult(failOnError), tl.loc('TaskProblem', err instanceof Error ? err.message : String(err)));
    }
}

void run();
