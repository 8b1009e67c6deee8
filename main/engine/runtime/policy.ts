// The organisation's policy while the engine runs: what it sets in Settings, the folders it
// requires, and the refusals of changes it locks. See [Note: What a policy means] in
// common/policy.ts; the policy is read by engine/policy/read-policy.ts and handed in (at start,
// and again whenever it changes).
//
// Invariant: every refusal is a KeepsakeError 'setting_locked' whose message says "set by your
// organisation"; a required folder that cannot be watched (missing, overlapping) is an activity
// warning, never a stopped engine, and is tried again with the next policy or start.
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import type { ActivityEvent } from '../../../common/contract.js';
import { emptyPolicy, lockedMessage, type Policy } from '../../../common/policy.js';
import { KeepsakeError } from '../errors.js';
import { describePolicyProblem, expandPolicyPath } from '../policy/read-policy.js';
import { policySettings, type SettingsSource } from '../store/settings.js';
import type { Store } from '../store/store.js';
import type { Folders } from './folders.js';

export interface RuntimePolicyOptions {
  initial: Policy;
  settingsSource: SettingsSource;
  store: Store;
  activity: (event: Omit<ActivityEvent, 'id' | 'at'>) => void;
  /** For "~" and %VARIABLES% in required folders (default: this process's). */
  env?: NodeJS.ProcessEnv;
  home?: string;
}

export interface RuntimePolicy {
  current(): Policy;
  /** Whether `path` (absolute, as stored) is a folder the policy requires. */
  requires(path: string): boolean;
  /** Refuses adding a folder when the policy locks `folders` (existing and required ones pass). */
  checkAdd(path: string): void;
  /** Refuses removing a required folder. */
  checkRemove(folderId: number): void;
  /** Refuses rules on a required folder that differ from locked policy rules. */
  checkRules(folderId: number, include: readonly string[], exclude: readonly string[]): void;
  /** Takes a new policy: Settings at once, problems into the activity list. */
  set(policy: Policy): void;
  /** Watches the required folders (with the policy's rules); a failure is an activity warning. */
  applyFolders(folders: Folders): Promise<void>;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

export function createRuntimePolicy(options: RuntimePolicyOptions): RuntimePolicy {
  const { store, settingsSource } = options;
  let policy = emptyPolicy;
  let required = new Set<string>();

  const requiredPaths = (p: Policy) =>
    (p.values.folders ?? []).map((f) =>
      resolve(expandPolicyPath(f, options.env ?? process.env, options.home ?? homedir())),
    );

  function set(next: Policy): void {
    policy = next;
    required = new Set(requiredPaths(next));
    Object.assign(settingsSource, policySettings(next));
    for (const problem of next.problems) {
      options.activity({
        level: 'warning',
        message: describePolicyProblem(problem),
        path: null,
        code: 'policy_invalid',
      });
    }
  }
  set(options.initial);

  const locked = (key: Policy['locked'][number]) => policy.locked.includes(key);
  const refuse = (key: string, message = lockedMessage(key)) => {
    throw new KeepsakeError('setting_locked', message);
  };

  return {
    current: () => policy,
    requires: (path) => required.has(path),
    checkAdd(path) {
      if (!locked('folders')) return;
      const abs = resolve(path);
      if (required.has(abs) || store.getFolderByPath(abs) !== null) return;
      refuse(
        'folders',
        'The watched folders are set by your organisation: no other folder can be added here.',
      );
    },
    checkRemove(folderId) {
      const folder = store.getFolder(folderId);
      if (folder && required.has(folder.path)) {
        refuse(
          'folders',
          `${folder.path} is required by your organisation (set by your organisation) and cannot be removed.`,
        );
      }
    },
    checkRules(folderId, include, exclude) {
      const folder = store.getFolder(folderId);
      if (!folder || !required.has(folder.path)) return;
      if (locked('include') && !sameList(include, policy.values.include ?? [])) refuse('include');
      if (locked('exclude') && !sameList(exclude, policy.values.exclude ?? [])) refuse('exclude');
    },
    set,
    async applyFolders(folders) {
      const rules = {
        ...(policy.values.include !== undefined ? { include: policy.values.include } : {}),
        ...(policy.values.exclude !== undefined ? { exclude: policy.values.exclude } : {}),
      };
      for (const path of required) {
        const existing = store.getFolderByPath(path);
        try {
          if (existing === null) {
            await folders.add({ path, ...rules });
          } else if (
            (rules.include !== undefined && !sameList(existing.include, rules.include)) ||
            (rules.exclude !== undefined && !sameList(existing.exclude, rules.exclude))
          ) {
            await folders.setRules(
              existing.id,
              rules.include ?? existing.include,
              rules.exclude ?? existing.exclude,
            );
          }
        } catch (err) {
          options.activity({
            level: 'warning',
            message: `The folder ${path} required by your organisation cannot be watched: ${err instanceof Error ? err.message : String(err)}`,
            path,
            code: 'policy_folder',
          });
        }
      }
    },
  };
}
