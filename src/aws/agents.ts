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
 * NO_PROXY as the AWS CLI reads it (Python's proxy_bypass_environment): `example.com`,
 * `.example.com` and `*.example.com` each cover the domain and its subdomains, which
 * proxy-from-env reads more narrowly. Both readings are applied: a host either exempts goes
 * direct.
 */
function exemptAsAwsCli(target: URL, env: NodeJS.ProcessEnv): boolean {
  const host = target.hostname.toLowerCase();
  const port = target.port || (target.protocol === 'https:' ? '443' : '80');
  return (env.no_proxy || env.NO_PROXY || '').toLowerCase().split(/[,\s]+/).some((entry) => {
    const m = /^(.*?)(?::(\d+))?$/.exec(entry)!;
    const name = m[1].replace(/^\*?\.?/, '');
    if (m[2] && m[2] !== port) return false;
    return entry === '*' || (!!name && (host === name || host.endsWith(`.${name}`)));
  });
}

type TlsOptions = { rejectUnauthorized: true; secureContext?: SecureContext };

/**
 * HttpsProxyAgent upgrades the tunnel with the request's options, which carry no TLS
 * options (Node does not merge an agent's own options into them): the trust is added here,
 * so the connection to AWS inside the tunnel is checked as a direct one is.
 */
class TunnelAgent extends HttpsProxyAgent<string> {
  readonly #tls: TlsOptions;
  constructor(proxy: URL, tls: TlsOptions) {
    super(proxy, { ...tls, keepAlive: false });
    this.#tls = tls;
  }
  override connect(req: Parameters<HttpsProxyAgent<string>['connect']>[0], opts: Parameters<HttpsProxyAgent<string>['connect']>[1]) {
    return super.connect(req, { ...opts, ...this.#tls });
  }
}

/** Agents through the proxy for `url`, or undefined when it goes direct. */
/** `tls` gives the trust for TLS connections; it is asked only when the target or the proxy speaks TLS. */
export function agentsFor(url: string, tls: () => TlsOptions, env: NodeJS.ProcessEnv = process.env): ProxiedAgents | undefined {
  const target = new URL(url);
  const proxy = getProxyForUrl(target);
  if (!proxy || exemptAsAwsCli(target, env)) return undefined;
  const p = new URL(proxy);
  const label = `${p.protocol}//${p.host}`;
  const trust: TlsOptions = target.protocol === 'https:' || p.protocol === 'https:' ? tls() : { rejectUnauthorized: true };
  // The TLS options reach both the proxy connection (an https:// proxy) and the tunnelled
  // connection to AWS: the same trust for both.
  return {
    proxyLabel: label,
    httpAgent: new HttpProxyAgent(p, { ...trust, keepAlive: false }),
    httpsAgent: new TunnelAgent(p, trust) as unknown as HttpsAgent,
  };
}
