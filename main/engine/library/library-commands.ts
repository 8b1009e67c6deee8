// The contract's library commands (the Library page, issue 11 section 3): the vault's
// timeline a page at a time, its folders for the filter, and one asset's detail (metadata,
// proof, every place it lives, its group); and the Similar photos review's (issue 15): the
// vault's groups of similar photos, and moving contents to and from the vault's trash. The pictures are not here: they travel as URLs
// (See [Note: Pictures travel as URLs] in ./media.ts).
//
// Invariant: no state of its own; every answer is what the vault said just now, and a vault
// that predates a field (groups, previews) gives an answer without it, never an error.
import type { KeepsakeApi, LibraryAsset } from '../../../common/contract.js';
import { mediaMetadataSchema } from '../../../common/vault-protocol.js';
import { KeepsakeError } from '../errors.js';
import type { VaultClient } from '../vault/vault-client.js';

export type LibraryCommands = Pick<
  KeepsakeApi,
  | 'library.list'
  | 'library.folders'
  | 'library.asset'
  | 'similar.list'
  | 'library.trash'
  | 'library.untrash'
>;

export function createLibraryCommands(options: {
  vault: VaultClient | null;
  /** Aborted when the engine closes. */
  signal: AbortSignal;
}): LibraryCommands {
  const { signal } = options;
  function vaultOrThrow(): VaultClient {
    if (options.vault === null) {
      throw new KeepsakeError('vault_unreachable', 'No vault is configured.');
    }
    return options.vault;
  }

  return {
    'library.list': async (args) => {
      const query: Record<string, string> = {};
      if (args.type !== undefined) query.type = args.type;
      if (args.folder !== undefined) query.folder = args.folder;
      if (args.device !== undefined) query.device = args.device;
      if (args.problems === true) query.problems = '1';
      const page = await vaultOrThrow().library(
        query,
        args.cursor ?? null,
        args.limit ?? 200,
        signal,
      );
      return { tiles: page.items, next: page.next, total: page.total ?? null };
    },
    'library.folders': () => vaultOrThrow().libraryFolders(signal),
    'similar.list': async (args) => {
      const page = await vaultOrThrow().similar(args.cursor ?? null, args.limit ?? 20, signal);
      return {
        groups: page.groups,
        next: page.next,
        totalGroups: page.totalGroups,
        totalReclaimableBytes: page.totalReclaimableBytes,
      };
    },
    'library.trash': async ({ sha256 }) => ({ moved: await vaultOrThrow().trash(sha256, signal) }),
    'library.untrash': async ({ sha256 }) => ({
      restored: await vaultOrThrow().untrash(sha256, signal),
    }),
    'library.asset': async ({ sha256 }) => {
      const vault = vaultOrThrow();
      const [asset, health, places, preview] = await Promise.all([
        vault.asset(sha256, signal),
        vault.assetHealth(sha256, signal),
        vault.locationsOf(sha256, signal),
        vault.previewStatus(sha256, signal).catch(() => null),
      ]);
      if (asset === null) {
        throw new KeepsakeError('not_found', 'The vault does not hold this file.');
      }
      const parsed = mediaMetadataSchema.safeParse(asset.metadata);
      const m = parsed.success ? parsed.data : null;
      let group: LibraryAsset['group'] = null;
      // A vault older than groups leaves `group` out: the asset stands alone.
      if (asset.group != null) {
        const found = await vault.group(asset.group.id, signal).catch(() => null);
        group = {
          id: asset.group.id,
          role: asset.group.role,
          members: (found?.members ?? []).map((x) => ({ sha256: x.sha256, role: x.role })),
        };
      }
      return {
        sha256,
        filename: asset.filename,
        kind: asset.kind,
        mime: asset.mime,
        size: asset.size,
        metadata:
          m === null
            ? null
            : {
                captureTime: m.captureTime,
                captureTimeSource: m.captureTimeSource,
                timeZone: m.timeZone,
                camera: m.camera,
                gps: m.gps,
                width: m.width,
                height: m.height,
                durationSec: m.durationSec,
              },
        proof:
          health === null
            ? null
            : { state: health.state, verifiedAt: health.verifiedAt, checkedAt: health.checkedAt },
        places: places.map((p) => ({
          deviceId: p.deviceId,
          deviceName: p.deviceName,
          folder: p.folder,
          path: p.path,
          goneAt: p.goneAt,
        })),
        group,
        preview,
        ...(m?.motionPhoto !== undefined ? { motionPhoto: true } : {}),
      };
    },
  };
}
