// The contract's restore commands inside a running engine (the Restore page of the desktop
// app and the daemon's web UI): the vault's devices, a preview of a selection, and one
// restore at a time running in the background, its progress read with restore.state.
// `keepsake restore` runs the same runRestore without an engine (main/cli/commands/restore.ts).
//
// Invariant: at most one restore runs per engine; it stops when the engine closes (its
// partial files stay, and the next restore into the same folder continues them).
import { isAbsolute } from 'node:path';
import type { KeepsakeApi, RestoreSelection, RestoreState } from '../../../common/contract.js';
import { isAbortError, KeepsakeError } from '../errors.js';
import type { Clock, Logger } from '../ports.js';
import type { VaultClient } from '../vault/vault-client.js';
import type { ContentSource } from './fetch-content.js';
import { runRestore } from './restore.js';
import { type RestoreFilters, selectRestoreItems } from './selection.js';

export type RestoreCommands = Pick<
  KeepsakeApi,
  'restore.devices' | 'restore.preview' | 'restore.start' | 'restore.state'
>;

export interface RestoreCommandsOptions {
  /** null: no vault configured (every command refuses). */
  vault: VaultClient | null;
  content: ContentSource | null;
  clock: Clock;
  logger: Logger;
  /** Aborted when the engine closes. */
  signal: AbortSignal;
}

const previewItems = 500;

function filtersOf(s: RestoreSelection): RestoreFilters {
  const f: RestoreFilters = {};
  if (s.device !== undefined) f.device = s.device;
  if (s.folder !== undefined) f.folder = s.folder;
  if (s.path !== undefined) f.pathGlob = s.path;
  if (s.since !== undefined) f.sinceMs = s.since;
  if (s.until !== undefined) f.untilMs = s.until;
  if (s.at !== undefined) f.atMs = s.at;
  return f;
}

export function createRestoreCommands(options: RestoreCommandsOptions): RestoreCommands {
  const state: RestoreState = {
    running: false,
    to: null,
    filesTotal: 0,
    filesDone: 0,
    bytesTotal: 0,
    bytesDone: 0,
    result: null,
    error: null,
  };

  function vaultOrThrow(): VaultClient {
    if (options.vault === null) {
      throw new KeepsakeError('vault_unreachable', 'No vault is configured.');
    }
    return options.vault;
  }

  return {
    'restore.devices': () => vaultOrThrow().devices(options.signal),
    'restore.preview': async (selection) => {
      const items = await selectRestoreItems(vaultOrThrow(), filtersOf(selection), options.signal);
      return {
        files: items.length,
        bytes: items.reduce((n, i) => n + i.size, 0),
        items: items.slice(0, previewItems).map((i) => ({
          deviceName: i.deviceName,
          folder: i.folder,
          path: i.displayPath,
          size: i.size,
          mtimeMs: i.mtimeMs,
        })),
      };
    },
    'restore.start': ({ to, ...selection }) => {
      const vault = vaultOrThrow();
      if (options.content === null) {
        throw new KeepsakeError('vault_unreachable', 'No vault is configured.');
      }
      if (!isAbsolute(to)) {
        throw new KeepsakeError('invalid_argument', 'Choose a destination folder (a full path).');
      }
      if (state.running) throw new KeepsakeError('invalid_argument', 'A restore is running.');
      Object.assign(state, {
        running: true,
        to,
        filesTotal: 0,
        filesDone: 0,
        bytesTotal: 0,
        bytesDone: 0,
        result: null,
        error: null,
      });
      void runRestore({
        vault,
        content: options.content,
        to,
        filters: filtersOf(selection),
        clock: options.clock,
        logger: options.logger,
        signal: options.signal,
        progress: state,
      })
        .then((summary) => {
          state.result = {
            ...summary,
            failures: summary.failures.map(({ path, message }) => ({ path, message })),
          };
        })
        .catch((err: unknown) => {
          state.error = isAbortError(err)
            ? 'The restore stopped; start it again to continue where it stopped.'
            : err instanceof Error
              ? err.message
              : String(err);
          options.logger.warn('restore failed', { error: String(err) });
        })
        .finally(() => {
          state.running = false;
        });
      return Promise.resolve({ ok: true as const });
    },
    'restore.state': () => Promise.resolve({ ...state }),
  };
}
