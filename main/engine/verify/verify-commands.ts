// The contract's verify commands inside a running engine (the desktop app and the daemon's
// web UI): "Verify now" (verify.run), the last receipt (verify.last), and one file's receipt
// (files.receipt: the vault's word on its content and every place it lives). `keepsake
// verify` runs the same runVerify without an engine (main/cli/commands/verify.ts).
//
// Invariant: one verify at a time per engine; its receipt is kept before it is answered.
import { basename } from 'node:path';
import type { ActivityEvent, FileReceipt, KeepsakeApi } from '../../../common/contract.js';
import { KeepsakeError } from '../errors.js';
import type { FileHasher } from '../hash/types.js';
import type { StatPath } from '../pipeline/hash-pump.js';
import type { Clock } from '../ports.js';
import type { Store } from '../store/store.js';
import type { VaultClient } from '../vault/vault-client.js';
import type { Healer } from './healer.js';
import { runVerify } from './verify-run.js';

export type VerifyCommands = Pick<KeepsakeApi, 'verify.run' | 'verify.last' | 'files.receipt'>;

export interface VerifyCommandsOptions {
  store: Store;
  /** null: no vault configured (verify.run and the vault part of a receipt refuse). */
  vault: VaultClient | null;
  embedded: boolean;
  statPath: StatPath;
  hasher: FileHasher;
  clock: Clock;
  healer: Healer;
  /** Aborted when the engine closes. */
  signal: AbortSignal;
  activity: (event: Omit<ActivityEvent, 'id' | 'at'>) => void;
  /** Files were queued (changed originals, repairs): wake the pipeline. */
  kickAll: () => void;
}

/** Problems a receipt carries across the contract (the rest are counted). */
const maxProblems = 1000;

export function createVerifyCommands(options: VerifyCommandsOptions): VerifyCommands {
  const { store, vault, clock } = options;
  let running = false;

  return {
    'verify.run': async ({ sample, folder }) => {
      if (vault === null) throw new KeepsakeError('vault_unreachable', 'No vault is configured.');
      if (running) throw new KeepsakeError('invalid_argument', 'A verify is already running.');
      running = true;
      try {
        const receipt = await runVerify(
          {
            store,
            vault,
            vaultInfo: { url: vault.endpoint, embedded: options.embedded },
            statPath: options.statPath,
            hashFile: (path, signal) => options.hasher.hashFile(path, signal),
            clock,
            repair: (request) => options.healer.queue(request),
          },
          { sample: sample ?? null, folder: folder ?? null },
          options.signal,
        );
        options.kickAll();
        const n = (x: number) => x.toLocaleString('en-US');
        options.activity({
          level: receipt.problemCount > 0 ? 'error' : 'info',
          message:
            receipt.problemCount > 0
              ? `Verify: ${n(receipt.filesProven)} of ${n(receipt.files)} files proven on the vault; ${n(receipt.problemCount)} problems`
              : `Verify: ${n(receipt.filesProven)} of ${n(receipt.files)} files proven on the vault`,
          path: null,
          code: null,
        });
        return { ...receipt, problems: receipt.problems.slice(0, maxProblems) };
      } finally {
        running = false;
      }
    },
    'verify.last': () => Promise.resolve(store.verify.lastReceipt()),
    'files.receipt': async ({ id }) => {
      const file = store.getFile(id);
      if (!file) throw new KeepsakeError('not_found', `No file with id ${id}.`);
      const receipt: FileReceipt = {
        fileId: file.id,
        path: file.path,
        sha256: file.sha256,
        state: file.state,
        vault: null,
        locations: [],
        localPaths: file.sha256 === null ? [] : store.verify.localPaths(file.sha256),
        provenAt: store.verify.provenAt(file.id),
        vaultError: null,
      };
      if (file.sha256 === null) return receipt;
      if (vault === null) return { ...receipt, vaultError: 'No vault is configured.' };
      try {
        const [health, locations] = await Promise.all([
          vault.assetHealth(file.sha256, options.signal),
          vault.locationsOf(file.sha256, options.signal),
        ]);
        receipt.vault = health && {
          state: health.state,
          verifiedAt: health.verifiedAt,
          checkedAt: health.checkedAt,
          problemSince: health.problemSince,
        };
        receipt.locations = locations.map((l) => ({
          deviceName: l.deviceName,
          folder: l.folder,
          path: l.path,
          goneAt: l.goneAt,
        }));
      } catch (err) {
        receipt.vaultError =
          err instanceof Error
            ? `Could not ask the vault about ${basename(file.path)}: ${err.message}`
            : String(err);
      }
      return receipt;
    },
  };
}
