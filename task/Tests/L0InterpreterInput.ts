// pythonInterpreter names the interpreter: PATH is not searched.
import { INTERPRETER, LINUX, agentCommands, firstRunAnswersOn, newRunner } from './scenario';

const tmr = newRunner();
tmr.setInput('llmProvider', 'none');
for (const sink of ['publishTag', 'publishPrComment', 'publishSummary']) {
    tmr.setInput(sink, 'true');
}
tmr.setInput('pythonInterpreter', INTERPRETER);
tmr.setAnswers({
    ...firstRunAnswersOn(LINUX, agentCommands('linux', INTERPRETER), INTERPRETER, {}),
    which: { python3: '/usr/bin/python3' },
});
tmr.run();
