// An agent configured with a proxy (credentials, a bypass list), its own CA certificate and a client
// certificate: pip and Azura get the proxy and a CA bundle through the environment.
import * as fs from 'fs';
import { AGENT_CA, AGENT_CA_TEXT, ANALYZE, PIP_LLM, PROXY_PASSWORD, firstRunAnswers, newRunner } from './scenario';

// The agent's bypass list: regular expressions matched against whole URLs (.proxybypass).
const BYPASS = ['github\\.com', '.*\\.corp\\.contoso\\.com', '[a-z]+\\.weird'];

const tmr = newRunner();
fs.writeFileSync(AGENT_CA, AGENT_CA_TEXT);
tmr.setInput('llmProvider', 'openai');
tmr.setInput('endpoint', 'https://llm.corp.contoso.com/v1');
tmr.setInput('publishTag', 'true');
tmr.setInput('publishPrComment', 'true');
tmr.setInput('publishSummary', 'true');
// task-lib's mock answers null for both; these answer as task-lib does on an agent configured this way.
tmr.registerMockExport('getHttpProxyConfiguration', (requestUrl?: string) => {
    if (requestUrl && BYPASS.some((pattern) => new RegExp(pattern, 'i').test(requestUrl))) {
        return null;
    }
    return {
        proxyUrl: 'http://proxy.contoso.com:8080', proxyUsername: 'agent-svc', proxyPassword: PROXY_PASSWORD,
        proxyBypassHosts: BYPASS, proxyFormattedUrl: `http://agent-svc:${PROXY_PASSWORD}@proxy.contoso.com:8080`,
    };
});
tmr.registerMockExport('getHttpCertConfiguration', () => ({ caFile: AGENT_CA, certFile: '/agent/client-cert.pem' }));
tmr.setAnswers(firstRunAnswers({
    [PIP_LLM]: { code: 0, stdout: 'Successfully installed openai-2.8.0 jsonschema-4.25.1' },
    [`${ANALYZE} --llm-provider openai`]: { code: 0 },
}));
tmr.run();
