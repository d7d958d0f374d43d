// A self-hosted agent with no index: the llm extra cannot be installed, so Azura runs offline.
import { ANALYZE, PIP_LLM, firstRunAnswers, newRunner } from './scenario';

const tmr = newRunner();
tmr.setInput('llmProvider', 'openai');
tmr.setInput('model', 'gpt-4o-mini');
tmr.setInput('publishTag', 'true');
tmr.setInput('publishPrComment', 'true');
tmr.setInput('publishSummary', 'true');
tmr.setInput('failOnError', 'false');
tmr.setAnswers(firstRunAnswers({
    [PIP_LLM]: { code: 1, stderr: 'ERROR: Could not find a version that satisfies the requirement openai>=1.40' },
    [`${ANALYZE} --llm-provider none --model gpt-4o-mini`]: { code: 0 },
}));
tmr.run();
