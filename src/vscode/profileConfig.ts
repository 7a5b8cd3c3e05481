// The VS Code layer's view of connection profiles, delegating to the core's profile module
// (src/core/connectionProfile.ts: libpq URI parsing, validation, PG* environment and .pgpass
// precedence, sslmode → TLS) so the UI validates exactly what the engine will use.

import type { ClientConfig } from 'pg';
import { describeTarget, parseConnectionUri, resolveClientConfig, validateProfile } from '../core/connectionProfile.js';
import type { StoredProfile } from './connectionStore.js';

/** A readable problem with the profile, or undefined when it can be used. */
export function validateStoredProfile(p: StoredProfile): string | undefined {
  return validateProfile(p);
}

/** "user@host:port/db" as psql would connect (PG* variables applied); never shows a password. */
export function describeProfile(p: StoredProfile): string {
  return describeTarget(p);
}

/**
 * The pg config for a profile. The stored secret wins; without one libpq's order applies (a
 * password in the URI, PGPASSWORD, then .pgpass), with .pgpass warnings sent to `warn`.
 */
export function toClientConfig(p: StoredProfile, password: string | undefined, warn: (message: string) => void): Promise<ClientConfig> {
  return resolveClientConfig(p, { password: password || undefined, warn });
}

/**
 * Splits a password out of a URI so only the rest is stored in settings (the password goes to
 * SecretStorage). Throws the core parser's readable error for an invalid URI.
 */
export function splitUriPassword(uri: string): { uri: string; password?: string } {
  const parts = parseConnectionUri(uri);
  if (parts.password === undefined) return { uri };
  // scheme://user:password@… → scheme://user@…  (the userinfo ends at the last @ before the host part)
  const clean = uri.replace(/^(postgres(?:ql)?:\/\/)([^@/?#]*)@/i, (_m, scheme: string, userinfo: string) => {
    const colon = userinfo.indexOf(':');
    return `${scheme}${colon >= 0 ? userinfo.slice(0, colon) : userinfo}@`;
  });
  return { uri: clean, password: parts.password };
}
