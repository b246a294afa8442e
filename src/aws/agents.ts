// HTTP agents that go through the proxy the environment names (HTTPS_PROXY, HTTP_PROXY,
// ALL_PROXY, NO_PROXY, either case), for src/aws/http.ts, which says why a library and why
// a bundle of its own (dist/keyrole-sdk-net.cjs, loaded only when a proxy variable is set).
// It imports nothing from keyrole, so it shares no module state with the main bundle.

import type { Agent as HttpAgent } from 'node:http';
import type { Agent as HttpsAgent } from 'node:https';
import type { SecureContext } from 'node:tls';
import { getProxyForUrl } from 'proxy-from-env';
import { HttpsProxyAgent } from 'https-proxy-agent';
import { HttpProxyAgent } from 'http-proxy-agent';

export interface ProxiedAgents {
  httpAgent: HttpAgent;
  httpsAgent: HttpsAgent;
  /** The proxy, without its user and password (for --debug). */
  proxyLabel: string;
}

/**
 * NO_PROXY as the AWS CLI reads it (Python's proxy_bypass_environment): a plain entry
 * `example.com` also covers its subdomains, which proxy-from-env matches only with a
 * leading dot. Both readings are applied: a host either one exempts goes direct.
 */
function exemptAsSubdomain(host: string, env: NodeJS.ProcessEnv): boolean {
  const list = (env.no_proxy || env.NO_PROXY || '').toLowerCase();
  return list.split(/[,\s]+/).some((entry) => {
    const name = entry.replace(/:\d+$/, '');
    return !!name && !/^[.*]/.test(name) && host.toLowerCase().endsWith(`.${name}`);
  });
}

/** Agents through the proxy for `url`, or undefined when it goes direct. */
export function agentsFor(url: string, tls: { rejectUnauthorized: true; secureContext?: SecureContext }, env: NodeJS.ProcessEnv = process.env): ProxiedAgents | undefined {
  const target = new URL(url);
  const proxy = getProxyForUrl(target);
  if (!proxy || exemptAsSubdomain(target.hostname, env)) return undefined;
  const p = new URL(proxy);
  const label = `${p.protocol}//${p.host}`;
  // The TLS options reach both the proxy connection (an https:// proxy) and the tunnelled
  // connection to AWS: the same trust for both.
  return {
    proxyLabel: label,
    httpAgent: new HttpProxyAgent(p, { ...tls, keepAlive: false }),
    httpsAgent: new HttpsProxyAgent(p, { ...tls, keepAlive: false }) as unknown as HttpsAgent,
  };
}
