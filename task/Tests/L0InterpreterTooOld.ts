// pythonInterpreter names a Python too old for Azura: the task says so and warns; it does not look elsewhere.
import { LINUX, newRunner } from './scenario';

const tmr = newRunner();
tmr.setInput('llmProvider', 'none');
tmr.setInput('pythonInterpreter', '/usr/bin/python3.8');
tmr.setAnswers({
    getPlatform: { getPlatform: LINUX },
    which: { python3: '/usr/bin/python3' },
    exec: {
        '/usr/bin/python3.8 --version': { code: 0, stdout: 'Python 3.8.18' },
        '/usr/bin/python3 --version': { code: 0, stdout: 'Python 3.12.1' },
    },
});
tmr.run();
