// One rule for time: when keyrole serves what it holds, renews it, keeps serving it after a
// renewal failed, asks a person, and warns that a person will be asked. Every layer that
// expires (a cache entry, an IAM Identity Center token) goes through the same four moments,
// measured back from its end:
//
//   served as it is ... | renewed (ask from) ... | used only if renewal fails ... | never
//                end - refresh window    end - LAST_USE_MS                 end
//
// The cache (src/credentials/cache.ts, cached.ts), the SSO token (src/sso/sso.ts), `status`
// (src/credentials/status.ts) and the endpoint's warning (src/server/warn.ts) all ask this
// module, so "needs you at 14:05" in `status`, the warning and the first prompt agree.
// It imports nothing: the cache hit loads it.
//
// The words, one meaning each, wherever time is judged: "served as it is" (outside the
// refresh window: servedAsIs), "renewed" (from renewFrom on), "usable after a failed renewal"
// (usableAfterFailedRenewal, until lastUse), "expired" (past its end). "Fresh" is not one of
// them: in keyrole it means only newly made (a random token, a new process).

/**
 * botocore's advisory refresh window: a long-lived botocore client re-runs the helper on
 * every call while less than this remains, so keyrole renews before it.
 */
export const REFRESH_WINDOW_MS = 15 * 60 * 1000;

/**
 * How long before its end a layer is renewed: the refresh window, or half the session for
 * sessions shorter than 30 minutes (a 900 s role could never be served otherwise). Half a
 * short session still costs a long-lived botocore client only a cache hit per call (it
 * re-runs the helper while less than 15 min remain, and keyrole answers from the cache),
 * not an STS call.
 */
export function refreshWindowMs(durationSeconds: number): number {
  return Math.min(REFRESH_WINDOW_MS, (durationSeconds * 1000) / 2);
}

/**
 * AWS Sign-In's credentials last 15 minutes; botocore and the JS SDK refresh them 5 minutes
 * before their end, and so does keyrole: judged as a session of this length (the refresh
 * window is half of it). The login layer's durationSeconds (src/credentials/plan.ts).
 */
export const LOGIN_REFRESH_WINDOW_MS = 5 * 60_000;
export const LOGIN_JUDGED_SECONDS = (2 * LOGIN_REFRESH_WINDOW_MS) / 1000;

/** Whether something with `leftMs` to go is served as it is, without renewing it. */
export function servedAsIs(leftMs: number, durationSeconds: number): boolean {
  return leftMs >= refreshWindowMs(durationSeconds);
}

/** When renewal starts: from this moment a call that can ask a person asks. */
export function renewFrom(end: Date, durationSeconds: number): Date {
  return new Date(end.getTime() - refreshWindowMs(durationSeconds));
}

/**
 * Credentials or a token with less than this left are never handed out: a request signed
 * with them may arrive after they end. Above it, what a renewal could not replace is still
 * used when the renewal needs a person nobody can ask (the endpoint of `exec --server`,
 * `credential_process` without a terminal). botocore takes them
 * (it fails only on credentials already past their end) and asks again on its next call;
 * the JS SDK does the same under 5 minutes. Working until their end beats failing while
 * they work.
 */
export const LAST_USE_MS = 60_000;

/**
 * When AWS cannot be reached or is failing, more is kept in hand: credentials inside the JS
 * SDK's 5-minute expiry window (plus a minute) would make every request of an SDK client
 * try the failing renewal again, each attempt with the SDK's retries and back-off, so
 * those fail instead. A renewal that needs a person fails at once, so it has no such cost.
 */
export const AWS_FAILING_MIN_MS = 6 * 60_000;

/**
 * Whether something with `leftMs` to go may still be used when it could not be renewed:
 * because AWS failed (`transient`), or because a person was needed and could not be asked.
 */
export function usableAfterFailedRenewal(leftMs: number, why: 'transient' | 'needs a person' = 'needs a person'): boolean {
  return leftMs > (why === 'transient' ? AWS_FAILING_MIN_MS : LAST_USE_MS);
}

/** The moment after which `end`'s credentials are no longer handed out. */
export function lastUse(end: Date): Date {
  return new Date(end.getTime() - LAST_USE_MS);
}

/**
 * How long before keyrole starts asking a person (renewFrom of a layer only a person can
 * renew) the endpoint warns: time to finish what one is doing and run `keyrole login` in
 * another terminal, which renews at once. The credentials keep working after the warning
 * and after that moment too (until lastUse), so the warning is never the same second as a
 * failure.
 */
export const WARN_AHEAD_MS = 15 * 60_000;

/** When to warn about a person needed from `askFrom`. */
export function warnAt(askFrom: Date): Date {
  return new Date(askFrom.getTime() - WARN_AHEAD_MS);
}
