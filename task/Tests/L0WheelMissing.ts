// No bundled wheel fits this agent: the offline install fails and the index fills the gap.
import { ANALYZE, PIP_OFFLINE, PIP_WITH_INDEX, firstRunAnswers, newRunner } from './scenario';

const tmr = newRunner();
tmr.setInput('llmProvider', 'azure_openai');
tmr.setInput('model', 'gpt-4o');
tmr.setInput('endpoint', 'https://contoso.openai.azure.com');
tmr.setInput('publishTag', 'true');
tmr.setInput('publishPrComment', 'true');
tmr.setInput('publishSummary', 'true');
tmr.setAnswers(firstRunAnswers({
    [PIP_OFFLINE]: { code: 1, stderr: 'ERROR: No matching distribution found for pydantic-core==2.46.5' },
    [PIP_WITH_INDEX]: { code: 0, stdout: 'Successfully installed azura-0.1.0' },
    [`${ANALYZE} --llm-provider azure_openai --model gpt-4o`]: { code: 0 },
}));
tmr.run();
