// A later run with a provider on an agent that installed the llm extra before: nothing is installed.
import { ANALYZE, cachedRunAnswers, newRunner } from './scenario';

const tmr = newRunner();
tmr.setInput('llmProvider', 'ollama');
tmr.setInput('endpoint', 'http://127.0.0.1:11434');
tmr.setInput('publishTag', 'true');
tmr.setInput('publishPrComment', 'true');
tmr.setInput('publishSummary', 'true');
tmr.setAnswers(cachedRunAnswers({ core: true, llm: true }, {
    [`${ANALYZE} --llm-provider ollama`]: { code: 0 },
}));
tmr.run();
