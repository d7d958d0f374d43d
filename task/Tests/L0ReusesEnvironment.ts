// Second run on the same agent: the cached environment is used as it is; nothing is installed.
import { ANALYZE, PYTHON, VENV, WHEEL, newRunner } from './scenario';

const tmr = newRunner();
tmr.setInput('llmProvider', 'none');
tmr.setInput('publishTag', 'false');
tmr.setInput('publishPrComment', 'false');
tmr.setInput('publishSummary', 'false');
tmr.setAnswers({
    which: { python3: PYTHON },
    exist: { [`${VENV}.complete`]: true },
    findMatch: { 'azura-*-py3-none-any.whl': [WHEEL] },
    exec: {
        [`${PYTHON} --version`]: { code: 0, stdout: 'Python 3.12.1' },
        [`${ANALYZE} --llm-provider none --no-tag --no-pr-comment --no-summary`]: { code: 0 },
    },
});
tmr.run();
