// What the person chose, kept apart from keepsake.db so that a database rebuilt after damage
// gets it back: the watched folders (with their include/exclude rules) and the settings they
// set (bandwidth, concurrency, device name, the vault in Settings, ...). The copy is
// DATA-DIR/choices.json. See [Note: Choices outlive a rebuilt database].
//
// Invariant: choices.json is always a whole file (written to a temporary file, flushed, renamed,
// the directory flushed), and after any change to the folders or a person's setting it holds
// what the database holds.
//
// [Note: Choices outlive a rebuilt database]
// A damaged database is set aside and a new empty one made (database.ts); everything in it is a
// cache of what the disk and the vault say, except what the person chose: the watched folders
// and their settings. Lost, a daemon or the desktop app would silently stop backing up every
// folder added through the UI, and bandwidth caps would lift. Two ways to get them back were
// weighed: salvaging those tables from the set-aside file, and a small copy kept beside it.
// Salvage alone fails exactly when the damage hits those pages (or page 1, the schema), and a
// damaged file may answer with wrong rows rather than an error; the copy does not share the
// database's pages, is a few hundred bytes written only when a folder or setting changes
// (rarely), and is written whole by a rename. So the copy comes first; salvage is only the
// fallback for a data directory whose database was damaged before any copy was written (one
// made by an older Keepsake). The copy is rewritten from the database at every healthy open,
// so it cannot drift from it for longer than one change.
import {
  closeSync,
  fsyncSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { z } from 'zod';
import { storedKeys } from './settings.js';
import type { Store } from './store.js';

export const choicesFileName = 'choices.json';

/** The settings-table keys a person sets; engine.* keys are caches, rebuilt on their own. */
const personSettingKeys: readonly string[] = [
  ...storedKeys,
  // The cards ticked "always import" and the folder imports go to (import/device/
  // device-offers.ts); its deviceImport.seen.* records are a cache.
  'deviceImport.always',
  'deviceImport.into',
];

const PersonChoices = z.object({
  version: z.literal(1),
  /** in the order they were added (their vault labels depend on it) */
  folders: z.array(
    z.object({
      path: z.string().min(1),
      include: z.array(z.string()),
      exclude: z.array(z.string()),
      /** the person allowed freeing up space here (absent: not allowed) */
      freeUp: z.boolean().optional(),
    }),
  ),
  settings: z.record(z.string(), z.unknown()),
});
export type PersonChoices = z.infer<typeof PersonChoices>;

/** The choices the store holds now. */
export function choicesOf(store: Store): PersonChoices {
  const settings: Record<string, unknown> = {};
  for (const [key, value] of store.userSettings()) {
    if (personSettingKeys.includes(key)) settings[key] = value;
  }
  return {
    version: 1,
    folders: store.listFolders().map((f) => ({
      path: f.path,
      include: f.include,
      exclude: f.exclude,
      ...(f.freeUp ? { freeUp: true } : {}),
    })),
    settings,
  };
}

/** Writes DATA-DIR/choices.json from the store, whole and durable. */
export function saveChoices(dataDir: string, store: Store): void {
  const path = join(dataDir, choicesFileName);
  const text = `${JSON.stringify(choicesOf(store), null, 2)}\n`;
  const temp = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(temp, text, { mode: 0o600, flush: true });
  } catch (err) {
    // A full disk: the copy there stays as it was, and no half-written temp is left beside it.
    rmSync(temp, { force: true });
    throw err;
  }
  renameSync(temp, path);
  try {
    // The rename itself must survive a power cut.
    const dir = openSync(dataDir, 'r');
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  } catch {
    // Directories cannot be opened for a sync on every platform (Windows); the rename stands.
  }
}

/** The copy in DATA-DIR/choices.json; null when there is none or it cannot be read. */
export function readChoices(dataDir: string): PersonChoices | null {
  try {
    const parsed = PersonChoices.safeParse(
      JSON.parse(readFileSync(join(dataDir, choicesFileName), 'utf8')),
    );
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/**
 * The choices read out of a database that was set aside as damaged, when its folders and
 * settings pages still read; null when they do not.
 */
export function salvageChoices(setAsideFile: string): PersonChoices | null {
  let db: Database.Database | null = null;
  try {
    db = new Database(setAsideFile, { readonly: true, fileMustExist: true });
    const folders = db
      .prepare<[], { path: string; include_globs: string; exclude_globs: string }>(
        'SELECT path, include_globs, exclude_globs FROM folders ORDER BY id',
      )
      .all();
    const rows = db
      .prepare<[], { key: string; value: string }>('SELECT key, value FROM settings')
      .all();
    const settings: Record<string, unknown> = {};
    for (const r of rows) {
      if (personSettingKeys.includes(r.key)) settings[r.key] = JSON.parse(r.value) as unknown;
    }
    const parsed = PersonChoices.safeParse({
      version: 1,
      folders: folders.map((f) => ({
        path: f.path,
        include: JSON.parse(f.include_globs) as unknown,
        exclude: JSON.parse(f.exclude_globs) as unknown,
      })),
      settings,
    });
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  } finally {
    db?.close();
  }
}

/** Puts the choices into a new, empty store; returns how many folders and settings. */
export function restoreChoices(
  store: Store,
  choices: PersonChoices,
): { folders: number; settings: number } {
  let folders = 0;
  let settings = 0;
  store.batch(() => {
    for (const f of choices.folders) {
      if (store.getFolderByPath(f.path) !== null) continue;
      const added = store.addFolder(f.path, f.include, f.exclude);
      if (f.freeUp === true) store.setFolderFreeUp(added.id, true);
      folders++;
    }
    for (const [key, value] of Object.entries(choices.settings)) {
      if (!personSettingKeys.includes(key) || value === null || value === undefined) continue;
      store.setSetting(key, value);
      settings++;
    }
  });
  store.commit();
  return { folders, settings };
}

/**
 * The store, keeping choices.json in step: every change to the folders or to a person's
 * setting rewrites it. A copy that cannot be written is only logged by `onSaveFailed`: the
 * database still holds the choice.
 */
export function savingChoices(
  store: Store,
  dataDir: string,
  onSaveFailed: (err: unknown) => void,
): Store {
  const save = () => {
    try {
      saveChoices(dataDir, store);
    } catch (err) {
      onSaveFailed(err);
    }
  };
  return {
    ...store,
    addFolder(path, include, exclude) {
      const folder = store.addFolder(path, include, exclude);
      save();
      return folder;
    },
    removeFolder(id, vaultLabel) {
      store.removeFolder(id, vaultLabel);
      save();
    },
    setFolderRules(id, include, exclude) {
      store.setFolderRules(id, include, exclude);
      save();
    },
    setFolderFreeUp(id, allowed) {
      store.setFolderFreeUp(id, allowed);
      save();
    },
    setSetting(key, value) {
      store.setSetting(key, value);
      if (personSettingKeys.includes(key)) save();
    },
  };
}
