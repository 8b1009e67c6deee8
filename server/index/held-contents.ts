// Which contents the vault holds, asked inside a store's transaction: a rule such as "an album
// or a group names only held contents" reads this in the transaction that writes, so no
// content leaves (the trash emptied) between the check and the write.
import type { Sql } from './sql.js';

/** Which of `hashes` the vault holds, read through `tx` (one statement per chunk of 500). */
export async function heldAmong(tx: Sql, hashes: readonly string[]): Promise<Set<string>> {
  const held = new Set<string>();
  for (let i = 0; i < hashes.length; i += 500) {
    const chunk = hashes.slice(i, i + 500);
    const rows = await tx.all<{ sha256: string }>(
      `SELECT sha256 FROM assets WHERE sha256 IN (${chunk.map(() => '?').join(',')})`,
      chunk,
    );
    for (const r of rows) held.add(r.sha256);
  }
  return held;
}
