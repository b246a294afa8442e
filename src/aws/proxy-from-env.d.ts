// proxy-from-env ships no types; the one function keyrole uses (src/aws/agents.ts).
declare module 'proxy-from-env' {
  /** The proxy URL for `url` from the environment, or '' when it goes direct (NO_PROXY, no proxy for its scheme). */
  export function getProxyForUrl(url: string | URL): string;
}
