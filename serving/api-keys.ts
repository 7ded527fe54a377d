/**
 * API keys: random secrets shown once at creation; Postgres keeps only their SHA-256 (a fast hash is
 * enough for 256-bit random secrets: there is nothing to brute-force) and a display prefix. Servers
 * verify presented secrets through a short-lived in-process cache, so auth costs no query per request.
 */
import { createHash, randomBytes } from 'node:crypto';
import { and, asc, eq, isNull, or, sql } from 'drizzle-orm';
import { z } from 'zod';
import type { Db } from '../db/client.js';
import { apiKeys } from '../db/schema.js';
import { SCOPES, type ApiKeyVerifier, type AuthenticatedKey, type Scope } from './context.js';
import { text } from './input-text.js';

/** `kz_<id: 12 hex>_<secret: 32 random bytes, base64url>`. */
const SECRET_FORMAT = /^kz_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/;

export const newApiKeySchema = z.object({
  name: text().trim().min(1).max(100),
  scopes: z
    .array(z.enum(SCOPES))
    .min(1)
    .transform((scopes) => [...new Set(scopes)]),
});

/** What may be shown about a key: never its secret or hash. */
export interface ApiKeyInfo {
  id: string;
  name: string;
  /** `kz_<id>`: identifies the key in listings and logs. */
  prefix: string;
  scopes: Scope[];
  createdAt: Date;
  revokedAt: Date | null;
}

export interface CreatedApiKey extends ApiKeyInfo {
  /** The plain secret: returned here once, stored nowhere. */
  secret: string;
}

const hashSecret = (secret: string) => createHash('sha256').update(secret).digest('hex');

const info = (row: typeof apiKeys.$inferSelect): ApiKeyInfo => ({
  id: row.id,
  name: row.name,
  prefix: row.prefix,
  scopes: row.scopes as Scope[],
  createdAt: row.createdAt,
  revokedAt: row.revokedAt,
});

/** Validates its input itself: the CLI passes scopes as typed by a user. */
export async function createApiKey(
  db: Db,
  input: { name: string; scopes: readonly string[] },
): Promise<CreatedApiKey> {
  const parsed = newApiKeySchema.safeParse(input);
  if (!parsed.success) throw new Error(`invalid API key: ${z.prettifyError(parsed.error)}`);
  const id = randomBytes(6).toString('hex');
  const prefix = `kz_${id}`;
  const secret = `${prefix}_${randomBytes(32).toString('base64url')}`;
  const [row] = await db
    .insert(apiKeys)
    .values({ id, name: parsed.data.name, prefix, keyHash: hashSecret(secret), scopes: parsed.data.scopes })
    .returning();
  return { ...info(row), secret };
}

/**
 * Revokes the key with this id (or `kz_<id>` prefix), or every active key with this name (names need
 * not be unique: a rotation creates the new key under the same name, then revokes the old one by id).
 * Returns the keys it revoked; none when nothing active matches.
 */
export async function revokeApiKey(db: Db, idOrName: string): Promise<ApiKeyInfo[]> {
  const rows = await db
    .update(apiKeys)
    .set({ revokedAt: sql`now()` })
    .where(
      and(
        isNull(apiKeys.revokedAt),
        or(eq(apiKeys.id, idOrName.replace(/^kz_/, '')), eq(apiKeys.name, idOrName)),
      ),
    )
    .returning();
  return rows.map(info);
}

/** All keys, revoked ones included, oldest first. */
export async function listApiKeys(db: Db): Promise<ApiKeyInfo[]> {
  const rows = await db.select().from(apiKeys).orderBy(asc(apiKeys.createdAt), asc(apiKeys.id));
  return rows.map(info);
}

/**
 * The active key with this secret hash, straight from Postgres. No secret is compared byte by byte,
 * so there is no comparison to make timing-safe: the index finds the row by the SHA-256 of what the
 * caller sent, and how long that takes tells the caller only about the hash of its own guess.
 */
async function findActiveKey(db: Db, keyHash: string): Promise<AuthenticatedKey | null> {
  const [row] = await db
    .select({ id: apiKeys.id, name: apiKeys.name, scopes: apiKeys.scopes })
    .from(apiKeys)
    .where(and(eq(apiKeys.keyHash, keyHash), isNull(apiKeys.revokedAt)));
  return row ? { id: row.id, name: row.name, scopes: row.scopes as Scope[] } : null;
}

export interface ApiKeyVerifierOptions {
  /** How long a lookup (found or not) is reused: a revoked key stops working within this. */
  cacheMs?: number;
  /** Cached lookups at most; the oldest are dropped first. */
  maxEntries?: number;
}

/**
 * Verifies secrets against Postgres through a cache keyed by the secret itself, in memory only (never
 * logged): a hit then costs no SHA-256. Concurrent requests with the same uncached secret share one
 * query; a failed query is not cached. Malformed secrets are refused without a query. A key in use is
 * re-read in the background once half its cacheMs has passed, answering from the cache meanwhile:
 * under steady traffic no request waits for the query (it was the servers' slowest 1% of requests).
 * The Map compares a guess's text with a cached secret only when their hashes (seeded at random per
 * process) collide, which a caller cannot aim for: no timing-safe comparison is needed here either.
 */
export function createApiKeyVerifier(db: Db, opts: ApiKeyVerifierOptions = {}): ApiKeyVerifier {
  const cacheMs = opts.cacheMs ?? 1000;
  const maxEntries = opts.maxEntries ?? 10_000;
  interface Entry {
    key: Promise<AuthenticatedKey | null>;
    expiresAt: number;
    refreshAt: number;
    settled: boolean;
    refreshing: boolean;
  }
  const cache = new Map<string, Entry>();
  // Expiry counts from before the query, so a revocation is never served for longer than cacheMs.
  const lookUp = (secret: string, now: number): Entry => ({
    key: findActiveKey(db, hashSecret(secret)),
    expiresAt: now + cacheMs,
    refreshAt: now + cacheMs / 2,
    settled: false,
    refreshing: false,
  });
  // The re-read answer takes the entry's place, last in the map (most recently used: dropped last).
  const refresh = (secret: string, stale: Entry, now: number) => {
    stale.refreshing = true;
    const next = lookUp(secret, now);
    next.key.then(
      () => {
        next.settled = true;
        if (cache.get(secret) !== stale) return;
        cache.delete(secret);
        cache.set(secret, next);
      },
      // The cached answer stands until it expires; the next request past refreshAt tries again.
      () => (stale.refreshing = false),
    );
  };
  return {
    verify(secret) {
      const now = Date.now();
      const cached = cache.get(secret);
      if (cached && cached.expiresAt > now) {
        if (cached.settled && !cached.refreshing && now >= cached.refreshAt) refresh(secret, cached, now);
        return cached.key;
      }
      if (!SECRET_FORMAT.test(secret)) return Promise.resolve(null);
      cache.delete(secret);
      if (cache.size >= maxEntries) cache.delete(cache.keys().next().value!);
      const entry = lookUp(secret, now);
      cache.set(secret, entry);
      entry.key.then(
        () => (entry.settled = true),
        () => cache.get(secret) === entry && cache.delete(secret),
      );
      return entry.key;
    },
  };
}
