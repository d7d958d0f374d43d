// Second run on the same agent: the cached environment is used as it is; nothing is installed.
import { ANALYZE, cachedRunAnswers, newRunner } from './scenario';

const tmr = newRunner();
tmr.setInput('llmProvider', 'none');
tmr.setInput('publishTag', 'false');
tmr.setInput('publishPrComment', 'false');
tmr.setInput('publishSummary', 'false');
tmr.setAnswers(cachedRunAnswers({ core: true, llm: false }, {
    [`${ANALYZE} --llm-provider none --no-tag --no-pr-comment --no-summary`]: { code: 0 },
}));
tmr.run();
