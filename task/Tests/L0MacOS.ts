// A macOS agent with Homebrew's python3 on PATH.
import { HOMEBREW_PYTHON, MACOS, agentCommands, firstRunAnswersOn, newRunner } from './scenario';

const tmr = newRunner();
tmr.setInput('llmProvider', 'none');
for (const sink of ['publishTag', 'publishPrComment', 'publishSummary']) {
    tmr.setInput(sink, 'true');
}
tmr.setAnswers({
    ...firstRunAnswersOn(MACOS, agentCommands('darwin', HOMEBREW_PYTHON), HOMEBREW_PYTHON, {}),
    which: { python3: HOMEBREW_PYTHON },
});
tmr.run();
