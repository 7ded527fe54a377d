import { splitList, type KaizenConfig } from '../../config.js';
import type { Db } from '../../db/client.js';
import {
  createApiKey,
  listApiKeys,
  revokeApiKey,
  type ApiKeyInfo,
  type CreatedApiKey,
} from '../../serving/api-keys.js';
import { withRuntime } from '../runtime-context.js';
import { iso } from './models.js';

/** `features:read,predict` → its scopes (validated by createApiKey, with the allowed ones in the error). */
export const parseScopesOption = splitList;

const describeKey = (k: ApiKeyInfo) => `${k.prefix} "${k.name}" (${k.scopes.join(', ')})`;

/** Goes to stderr, so stdout carries the secret alone (`KEY=$(kaizen keys create …)`). */
export const createdKeyNotice = (k: CreatedApiKey) =>
  `created API key ${describeKey(k)}\n` +
  'Store the secret now: only its hash is kept, it cannot be shown again.';

export function formatKeyList(rows: ApiKeyInfo[]): string {
  if (rows.length === 0) return 'no API keys (create one with `kaizen keys create`)';
  const width = Math.max(4, ...rows.map((r) => r.name.length));
  const lines = [
    `${'key'.padEnd(15)}  ${'name'.padEnd(width)}  ${'created'.padEnd(20)}  ${'status'.padEnd(28)}  scopes`,
  ];
  for (const r of rows) {
    const status = r.revokedAt ? `revoked ${iso(r.revokedAt)}` : 'active';
    lines.push(
      `${r.prefix.padEnd(15)}  ${r.name.padEnd(width)}  ${iso(r.createdAt).padEnd(20)}  ${status.padEnd(28)}  ${r.scopes.join(',')}`,
    );
  }
  return lines.join('\n');
}

export async function keysCreateCommand(config: KaizenConfig, opts: { name: string; scopes: string }) {
  await withRuntime(config, {}, async ({ database }) => {
    const key = await createApiKey(database.db, { name: opts.name, scopes: parseScopesOption(opts.scopes) });
    console.error(createdKeyNotice(key));
    console.log(key.secret);
  });
}

/** Revokes a key by id (`kz_<id>` too) or every active key with that name. */
export async function revokeKeys(db: Db, idOrName: string): Promise<string> {
  const revoked = await revokeApiKey(db, idOrName);
  if (revoked.length === 0) throw new Error(`no active API key with id or name "${idOrName}"`);
  return revoked.map((k) => `revoked ${describeKey(k)}`).join('\n');
}

export async function keysRevokeCommand(config: KaizenConfig, idOrName: string) {
  await withRuntime(config, {}, async ({ database }) => {
    console.log(await revokeKeys(database.db, idOrName));
  });
}

export async function keysListCommand(config: KaizenConfig) {
  await withRuntime(config, {}, async ({ database }) => {
    console.log(formatKeyList(await listApiKeys(database.db)));
  });
}
