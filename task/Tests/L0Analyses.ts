// First run with an OpenAI-compatible model: installs the core offline and the llm extra from the
// index, maps every input, Azura exits 0 and leaves its report.
import { ANALYZE, API_KEY, DB_PASSWORD, azuraWrites, firstRunAnswers, newRunner } from './scenario';

const tmr = newRunner();
tmr.setInput('llmProvider', 'openai');
tmr.setInput('model', 'gpt-4o-mini');
tmr.setInput('endpoint', 'http://127.0.0.1:8000/v1');
tmr.setInput('apiKeyVariable', 'OpenAIKey');
tmr.setVariableName('OpenAIKey', API_KEY, true);
tmr.setVariableName('Db.Password', DB_PASSWORD, true);
tmr.setInput('budget', '3000');
tmr.setInput('publishTag', 'true');
tmr.setInput('tagPrefix', 'ci');
tmr.setInput('publishPrComment', 'false');
tmr.setInput('publishSummary', 'true');
tmr.setInput('timeout', '120');
tmr.setInput('failOnError', 'false');
tmr.setAnswers(firstRunAnswers({
    [`${ANALYZE} --llm-provider openai --model gpt-4o-mini --budget 3000 --timeout 120 --tag-prefix ci --no-pr-comment`]:
        { code: 0, stdout: 'azura: 1 failed step analysed' },
}));
azuraWrites({ schema_version: 1, tag: 'ci-test', failures: [{ category: 'test' }, { category: 'network' }] });
tmr.run();
