// A pipeline that turns off the lookups besides the logs: each becomes its `--no-...` flag.
import { ANALYZE, cachedRunAnswers, newRunner } from './scenario';

const tmr = newRunner();
tmr.setInput('readTestResults', 'false');
tmr.setInput('readHistory', 'false');
tmr.setInput('readSourceLines', 'false');
tmr.setAnswers(cachedRunAnswers({ core: true, llm: false }, {
    [`${ANALYZE} --llm-provider none --no-test-results --no-history --no-source-lines`]: { code: 0 },
}));
tmr.run();
