// A Windows agent whose `python` is the Store's stub (it does not run): the `py -3` launcher finds Python,
// and the environment is laid out the Windows way (Scripts\python.exe).
import { LAUNCHER, STUB, WINDOWS, agentCommands, firstRunAnswersOn, newRunner } from './scenario';

const tmr = newRunner();
tmr.setInput('llmProvider', 'none');
for (const sink of ['publishTag', 'publishPrComment', 'publishSummary']) {
    tmr.setInput(sink, 'true');
}
tmr.setAnswers({
    ...firstRunAnswersOn(WINDOWS, agentCommands('win32', `${LAUNCHER} -3`), `${LAUNCHER} -3`, {
        [`${STUB} --version`]: { code: 9009, stderr: '' },
    }),
    which: { python: STUB, py: LAUNCHER },
});
tmr.run();
