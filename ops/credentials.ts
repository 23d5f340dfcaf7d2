import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

const passwordsFile = z.object({ temporalDb: z.string().min(1), heraldDb: z.string().min(1) });

export type ClusterPasswords = z.infer<typeof passwordsFile>;

/** The fixed passwords clusters had before they were generated: their databases were created with them. */
const FIXED_BEFORE = { temporalDb: 'temporal', heraldDb: 'herald' } as const;

/**
 * The passwords of a cluster's two databases, kept in `credentials.json` (0600) in its directory:
 * made at random when the directory is new. A directory whose databases predate that keeps the fixed
 * passwords they were created with (`fixed` says so): PostgreSQL checks them, so they cannot change here.
 */
export function clusterPasswords(dir: string): { passwords: ClusterPasswords; fixed: boolean } {
  const file = path.join(dir, 'credentials.json');
  if (fs.existsSync(file)) {
    const passwords = passwordsFile.parse(JSON.parse(fs.readFileSync(file, 'utf8')));
    return { passwords, fixed: passwords.temporalDb === FIXED_BEFORE.temporalDb && passwords.heraldDb === FIXED_BEFORE.heraldDb };
  }
  const createdBefore = ['temporal-db', 'herald-db'].some((db) => fs.existsSync(path.join(dir, db, 'data', 'PG_VERSION')));
  const passwords = createdBefore
    ? { ...FIXED_BEFORE }
    : { temporalDb: crypto.randomBytes(24).toString('base64url'), heraldDb: crypto.randomBytes(24).toString('base64url') };
  fs.writeFileSync(file, `${JSON.stringify(passwords, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  return { passwords, fixed: createdBefore };
}
