// Azura itself fails (exit 1) before writing its report: the run gets a warning, not a second red step, and a
// report an earlier run of the job left behind is not taken for this run's.
import * as fs from 'fs';
import * as path from 'path';
import { ANALYZE, REPORT_DIR, firstRunAnswers, newRunner } from './scenario';

const tmr = newRunner();
fs.mkdirSync(REPORT_DIR, { recursive: true });
fs.writeFileSync(path.join(REPORT_DIR, 'analysis.json'), JSON.stringify({ failures: [{ category: 'compile' }] }));
tmr.setInput('llmProvider', 'none');
tmr.setInput('publishTag', 'true');
tmr.setInput('publishPrComment', 'true');
tmr.setInput('publishSummary', 'true');
tmr.setInput('failOnError', 'false');
tmr.setAnswers(firstRunAnswers({
    [`${ANALYZE} --llm-provider none`]: { code: 1, stderr: 'Traceback (most recent call last): ...' },
}));
tmr.run();
