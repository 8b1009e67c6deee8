// What both the desktop app (main/app/) and the CLI (`keepsake backup`, `keepsake daemon`)
// start: the engine on a data directory, the vault it backs up to (the one given, else the
// one set in Settings, else a vault embedded in this process) and, when asked, the web UI.
// Nothing here parses command lines or touches Electron: the callers do, and pass what they
// decided (the desktop passes its safeStorage-backed SecretStore).
//
// Invariants: the data directory's lock is checked before an embedded vault starts inside it;
// close() stops the web UI, then the engine (uploads keep their offsets), then the embedded
// vault, once however often it is called; a failed start leaves nothing running. While a
// started host runs, other Keepsake commands reach its contract through control.json (see
// [Note: Commands beside a running Keepsake] in ./control-endpoint.ts).
import { homedir } from 'node:os';
import { join } from 'node:path';
import { emptyPolicy, lockedMessage, type Policy } from '../../common/policy.js';
import type { EngineOptions, KeepsakeEngine } from '../engine/api.js';
import { KeepsakeError } from '../engine/errors.js';
import {
  describePolicyProblem,
  readPolicy,
  systemPolicyLocations,
  watchPolicy,
  type PolicyLocations,
} from '../engine/policy/read-policy.js';
import { lockDataDir } from '../engine/data-dir.js';
import { createEngine } from '../engine/engine.js';
import { systemClock, type Logger, type SecretStore } from '../engine/ports.js';
import { createLinuxVolumeSource, defaultLinuxRoots } from '../engine/import/device/volumes.js';
import { storedVaultUrl } from '../engine/runtime/snapshot.js';
import { createSecretStore } from '../engine/secret-store.js';
import { startWebUi, type WebUi, type WebUiOptions } from '../web/server.js';
import { publishControlEndpoint } from './control-endpoint.js';
import { startEmbeddedVault, type EmbeddedVault } from './embedded-vault.js';
import {
  type Enrolled,
  exchangeEnrolmentCode,
  policyEnrolment,
  rememberEnrolment,
} from './enrolment.js';
import { createRebuildingEngine } from './rebuilding-engine.js';

export interface HostOptions {
  dataDir: string;
  /** An explicit vault (`--to`); else the one set in Settings; else the embedded vault. */
  vault?: { url: string; token: string; caFile?: string } | null;
  /** Where the vault token set in Settings is kept (default: a 0600 file in dataDir). */
  secrets?: SecretStore;
  logger: Logger;
  /** Engine options for this run (tuning, runtime overrides, dry run, test ports). */
  engine?: Omit<Partial<EngineOptions>, 'dataDir' | 'vault' | 'secrets' | 'logger'>;
  env?: NodeJS.ProcessEnv;
  /**
   * A database found damaged while running is set aside and rebuilt in-process (the daemon and
   * the desktop app, which run for weeks); otherwise the engine stops on it (`keepsake backup`
   * exits and the next run rebuilds). See [Note: Rebuilding while running].
   */
  rebuildDamagedDatabase?: boolean;
  /**
   * Where the organisation's policy is read (default: this OS's places, see
   * engine/policy/read-policy.ts), and the policy if the caller read it already; null: none.
   */
  policy?: { locations: PolicyLocations; current?: Policy } | null;
  /**
   * With no vault given: enrol this computer with the policy's `enrollmentCode` at its
   * `vaultUrl` when it keeps no token yet, and remember the token (the desktop app's first
   * start; the CLI enrols before it opens the host, See main/cli/enrol.ts). A refused or
   * unreachable enrolment is logged and the start goes on without it.
   */
  enrolByPolicy?: boolean;
}

export interface Host {
  engine: KeepsakeEngine;
  dataDir: string;
  vaultUrl: string;
  /** The token for vaultUrl (for a command's own calls beside the engine's, e.g. import device). */
  vaultToken: string;
  embedded: boolean;
  /** The embedded vault's storage directory; null when the vault is elsewhere. */
  embeddedDir: string | null;
  /** The web UI, when startHost was asked for it. */
  ui: WebUi | null;
  /**
   * The contract API other Keepsake commands reach it by (startHost: the web UI when asked
   * for, else an API-only server). See [Note: Commands beside a running Keepsake].
   */
  control: WebUi | null;
  /** The organisation's policy as read at start (startHost follows its changes). */
  policy: Policy;
  /** Stops the web UI, the engine (offsets kept), then the embedded vault. Idempotent. */
  close(): Promise<void>;
}

/**
 * Knobs for tests and unusual setups, from the environment: KEEPSAKE_SETTLE_MS (how long a
 * file must hold still before hashing, default 2000), KEEPSAKE_RECONCILE_INTERVAL_MS
 * (periodic full rescan, default hourly) and KEEPSAKE_VAULT_AUDIT_MS (how often the safe
 * files are checked against the vault for content it lost, default daily; 0 = every start).
 */
function envTuning(env: NodeJS.ProcessEnv): Partial<EngineOptions> {
  const out: Partial<EngineOptions> = {};
  const int = (v: string | undefined) => (v !== undefined && /^\d+$/.test(v) ? Number(v) : null);
  const settle = int(env.KEEPSAKE_SETTLE_MS);
  if (settle !== null) out.settleMs = settle;
  const interval = int(env.KEEPSAKE_RECONCILE_INTERVAL_MS);
  if (interval !== null) out.reconcileIntervalMs = interval;
  const audit = int(env.KEEPSAKE_VAULT_AUDIT_MS);
  if (audit !== null) out.vaultAuditIntervalMs = audit;
  return out;
}

/**
 * The cards a long-running host (the daemon, the desktop app) watches for (issue 12 section 4):
 * mounts under /media and /run/media on Linux, or the ':'-separated KEEPSAKE_DEVICE_ROOTS (empty:
 * none); imports go to ~/Pictures (KEEPSAKE_IMPORT_INTO) until the person chooses. macOS and
 * Windows are not watched yet: see [Note: Noticing a card] in import/device/volumes.ts.
 */
export function hostDevices(env: NodeJS.ProcessEnv): EngineOptions['devices'] {
  if (process.platform !== 'linux') return null;
  const roots = env.KEEPSAKE_DEVICE_ROOTS;
  if (roots === '') return null;
  const poll = env.KEEPSAKE_DEVICE_POLL_MS;
  return {
    source: createLinuxVolumeSource({
      clock: systemClock,
      roots: roots === undefined ? defaultLinuxRoots : roots.split(':').filter((r) => r !== ''),
      ...(poll !== undefined && /^\d+$/.test(poll) ? { pollMs: Number(poll) } : {}),
    }),
    defaultInto: env.KEEPSAKE_IMPORT_INTO ?? join(homedir(), 'Pictures'),
  };
}

/** Builds the engine and its vault (the engine is not started). */
export async function openHost(options: HostOptions): Promise<Host> {
  const env = options.env ?? process.env;
  const { dataDir } = options;
  const secrets = options.secrets ?? createSecretStore(dataDir);
  // Fail on a locked data directory before starting a vault inside it.
  lockDataDir(dataDir).release();
  const policyLocations =
    options.policy === null ? null : (options.policy?.locations ?? systemPolicyLocations(env));
  const policy =
    options.policy?.current ??
    (policyLocations === null ? emptyPolicy : await readPolicy(policyLocations));
  for (const problem of policy.problems) {
    options.logger.warn(describePolicyProblem(problem), { source: problem.source });
  }
  refuseLockedRunOptions(policy, options);
  let vault = options.vault ?? null;
  const enrolled = vault === null && options.enrolByPolicy ? await enrolNow() : null;
  if (enrolled !== null) vault = { url: enrolled.url, token: enrolled.token };
  if (vault === null) {
    // A locked address wins; else the person's; else the organisation's default.
    const url = policy.locked.includes('vaultUrl')
      ? (policy.values.vaultUrl ?? null)
      : (storedVaultUrl(dataDir) ?? policy.values.vaultUrl ?? null);
    const token = url === null ? null : await secrets.read();
    if (url !== null && token !== null) vault = { url, token };
  }
  let embedded: EmbeddedVault | null = null;
  if (vault === null) {
    embedded = await startEmbeddedVault(dataDir, env);
    vault = { url: embedded.url, token: embedded.token };
  }
  try {
    const engineOptions = {
      ...envTuning(env),
      ...options.engine,
      dataDir,
      logger: options.logger,
      secrets,
      policy,
      vault: {
        ...vault,
        embedded: embedded !== null,
        ...(embedded !== null ? { dir: embedded.dataDir } : {}),
      },
    };
    const engine = options.rebuildDamagedDatabase
      ? await createRebuildingEngine(
          (onStorageFault) => createEngine({ ...engineOptions, onStorageFault }),
          options.logger,
        )
      : await createEngine(engineOptions);
    if (enrolled !== null) {
      await rememberEnrolment(engine, enrolled, policy);
      options.logger.info('enrolled with the vault named by the policy', { url: enrolled.url });
    }
    let closing: Promise<void> | null = null;
    const host: Host = {
      engine,
      dataDir,
      vaultUrl: vault.url,
      vaultToken: vault.token,
      embedded: embedded !== null,
      embeddedDir: embedded?.dataDir ?? null,
      ui: null,
      control: null,
      policy,
      close: () =>
        (closing ??= (async () => {
          try {
            await host.ui?.close();
            await engine.close();
          } finally {
            await embedded?.close();
          }
        })()),
    };
    return host;
  } catch (err) {
    await embedded?.close();
    throw err;
  }

  async function enrolNow(): Promise<Enrolled | null> {
    const wanted = await policyEnrolment(dataDir, policy, secrets);
    if (wanted === null) return null;
    const outcome = await exchangeEnrolmentCode(wanted.url, wanted.code);
    if (outcome.ok) {
      // Kept at once: the code is spent, and a start that fails later must not lose the token.
      await secrets.write(outcome.token);
      return outcome;
    }
    options.logger.warn(
      outcome.refused
        ? 'the enrolment code in the policy was refused; going on without it'
        : 'could not enrol with the enrolment code in the policy; trying again at the next start',
      { reason: outcome.message },
    );
    return null;
  }
}

/**
 * Serves the contract to other Keepsake commands (the web UI's server when there is one) and
 * says where in <data-dir>/control.json; close() then takes both away first.
 */
async function offerControl(host: Host, logger: Logger): Promise<void> {
  const control =
    host.ui ?? (await startWebUi({ port: 0, apiOnly: true, engine: host.engine, logger }));
  host.control = control;
  let published: { remove(): void } | null = null;
  const closeHost = host.close.bind(host);
  let closing: Promise<void> | null = null;
  host.close = () =>
    (closing ??= (async () => {
      published?.remove();
      try {
        if (control !== host.ui) await control.close();
      } finally {
        await closeHost();
      }
    })());
  published = publishControlEndpoint(host.dataDir, {
    url: `http://127.0.0.1:${control.port}`,
    token: control.token,
  });
}

/**
 * Run options an organisation locked are refused (setting_locked): an explicit vault other than
 * the locked address, and this run's overrides of locked settings. The CLI refuses the flags
 * first with their names; this guards every other caller.
 */
export function refuseLockedRunOptions(
  policy: Policy,
  options: Pick<HostOptions, 'vault' | 'engine'>,
): void {
  const locked = new Set<string>(policy.locked);
  const vault = options.vault ?? null;
  if (vault !== null && locked.has('vaultUrl') && vault.url !== policy.values.vaultUrl) {
    throw new KeepsakeError('setting_locked', lockedMessage('vaultUrl'));
  }
  for (const key of Object.keys(options.engine?.overrides ?? {})) {
    if (locked.has(key)) throw new KeepsakeError('setting_locked', lockedMessage(key));
  }
}

export interface StartHostOptions extends HostOptions {
  /** Folders to add to the watched folders before starting (kept in the data directory). */
  folders?: string[];
  /** Serve the web UI on loopback (the daemon's --ui-port); omitted: no web UI. */
  ui?: Omit<WebUiOptions, 'engine' | 'logger'> | null;
}

/**
 * Opens the host, adds the folders, starts the engine (watchers, queue) and the web UI. It runs
 * for long: a database damaged meanwhile is rebuilt in-process (rebuildDamagedDatabase).
 */
export async function startHost(options: StartHostOptions): Promise<Host> {
  const host = await openHost({
    rebuildDamagedDatabase: true,
    ...options,
    engine: { devices: hostDevices(options.env ?? process.env), ...options.engine },
  });
  const env = options.env ?? process.env;
  const locations =
    options.policy === null ? null : (options.policy?.locations ?? systemPolicyLocations(env));
  if (locations !== null) {
    // Read at start and on change: a changed policy applies at once, folders included.
    const watch = watchPolicy(locations, host.policy, (next) => {
      for (const problem of next.problems) {
        options.logger.warn(describePolicyProblem(problem), { source: problem.source });
      }
      options.logger.info('the policy changed; applying it', { sources: next.sources });
      host.policy = next;
      host.engine.setPolicy(next).catch((err: unknown) => {
        options.logger.error('applying the changed policy failed', { error: String(err) });
      });
    });
    const closeHost = host.close.bind(host);
    host.close = () => {
      watch.close();
      return closeHost();
    };
  }
  try {
    for (const path of options.folders ?? []) await host.engine.api['folders.add']({ path });
    await host.engine.start();
    if (options.ui) {
      host.ui = await startWebUi({ ...options.ui, engine: host.engine, logger: options.logger });
    }
    await offerControl(host, options.logger);
  } catch (err) {
    await host.close();
    throw err;
  }
  return host;
}
