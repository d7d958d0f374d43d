// The agent has only a Python that is too old: the task says what to add and warns, not fails.
import { LINUX, newRunner } from './scenario';

const tmr = newRunner();
tmr.setInput('llmProvider', 'none');
tmr.setAnswers({
    getPlatform: { getPlatform: LINUX },
    which: { python: '/usr/bin/python' },
    exec: { '/usr/bin/python --version': { code: 0, stdout: 'Python 3.8.18' } },
});
tmr.run();
