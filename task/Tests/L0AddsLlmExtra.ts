// The first run with a provider on an agent that cached the offline install: the extra joins that
// environment, from the index the user named in pipArguments.
import { ANALYZE, PIP_ARGUMENTS, PIP_LLM, cachedRunAnswers, newRunner } from './scenario';

const tmr = newRunner();
tmr.setInput('llmProvider', 'ollama');
tmr.setInput('endpoint', 'http://127.0.0.1:11434');
tmr.setInput('pipArguments', PIP_ARGUMENTS);
tmr.setInput('publishTag', 'true');
tmr.setInput('publishPrComment', 'true');
tmr.setInput('publishSummary', 'true');
tmr.setAnswers(cachedRunAnswers({ core: true, llm: false }, {
    [`${PIP_LLM} ${PIP_ARGUMENTS}`]: { code: 0, stdout: 'Successfully installed openai-2.8.0 jsonschema-4.25.1' },
    [`${ANALYZE} --llm-provider ollama`]: { code: 0 },
}));
tmr.run();
