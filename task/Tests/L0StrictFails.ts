// failOnError: Azura runs with --strict and its failure fails the step.
import { ANALYZE, firstRunAnswers, newRunner } from './scenario';

const tmr = newRunner();
tmr.setInput('llmProvider', 'none');
tmr.setInput('publishTag', 'true');
tmr.setInput('publishPrComment', 'true');
tmr.setInput('publishSummary', 'true');
tmr.setInput('failOnError', 'true');
tmr.setAnswers(firstRunAnswers({
    [`${ANALYZE} --llm-provider none --strict`]: { code: 1 },
}));
tmr.run();
