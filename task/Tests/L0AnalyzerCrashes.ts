// Azura itself fails (exit 1): the run gets a warning, not a second red step.
import { ANALYZE, firstRunAnswers, newRunner } from './scenario';

const tmr = newRunner();
tmr.setInput('llmProvider', 'none');
tmr.setInput('publishTag', 'true');
tmr.setInput('publishPrComment', 'true');
tmr.setInput('publishSummary', 'true');
tmr.setInput('failOnError', 'false');
tmr.setAnswers(firstRunAnswers({
    [`${ANALYZE} --llm-provider none`]: { code: 1, stderr: 'Traceback (most recent call last): ...' },
}));
tmr.run();
