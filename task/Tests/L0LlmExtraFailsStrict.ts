// failOnError is about Azura's own failures: an index the agent cannot reach must not fail the step.
import { ANALYZE, PIP_LLM, firstRunAnswers, newRunner } from './scenario';

const tmr = newRunner();
tmr.setInput('llmProvider', 'azure_openai');
tmr.setInput('publishTag', 'true');
tmr.setInput('publishPrComment', 'true');
tmr.setInput('publishSummary', 'true');
tmr.setInput('failOnError', 'true');
tmr.setAnswers(firstRunAnswers({
    [PIP_LLM]: { code: 1, stderr: 'ERROR: Could not find a version that satisfies the requirement openai>=1.40' },
    [`${ANALYZE} --llm-provider none --strict`]: { code: 0 },
}));
tmr.run();
