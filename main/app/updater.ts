// The desktop app's updates (issue 13 section 4): electron-updater against the generic feed
// named in electron-builder.yml (`publish`, built into the app as app-update.yml), on the
// channel and permission the Settings say (policy `updateChannel` / `updatesAllowed`, which
// an organisation can lock). A downloaded update is installed only at a safe point: the
// engine's update gate (main/engine/runtime/update-gate.ts) holds new uploads and waits for
// the ones in flight, then the app restarts into the installer.
// Invariant: nothing is checked, downloaded or installed while updatesAllowed is false, or in
// an unpackaged (development) run. Staged rollouts need nothing here: electron-updater reads
// `stagingPercentage` from the feed's latest.yml and keeps this computer's random staging id.
// Verified only by the type checker: there is no Electron binary in CI (see README "For IT").
import electronUpdater from 'electron-updater';
import type { KeepsakeEngine } from '../engine/api.js';
import type { Logger } from '../engine/ports.js';

const { autoUpdater } = electronUpdater;

const firstCheckAfterMs = 60_000;
const checkEveryMs = 4 * 3600_000;

export interface DesktopUpdater {
  /** Settings changed (updatesAllowed / updateChannel): applied at the next check. */
  settingsChanged(): void;
  stop(): void;
}

export function startUpdater(options: {
  engine: Pick<KeepsakeEngine, 'api' | 'updateGate'>;
  logger: Logger;
  isPackaged: boolean;
}): DesktopUpdater {
  const { engine } = options;
  const log = options.logger.child({ component: 'updater' });
  if (!options.isPackaged) {
    log.info('updates are off in an unpackaged run');
    return { settingsChanged: () => {}, stop: () => {} };
  }
  autoUpdater.logger = {
    info: (m: unknown) => log.info(String(m)),
    warn: (m: unknown) => log.warn(String(m)),
    error: (m: unknown) => log.error(String(m)),
  };
  autoUpdater.autoDownload = true;
  // Installed at the engine's safe point only, never by a quit at a random moment.
  autoUpdater.autoInstallOnAppQuit = false;
  let installing = false;
  let stopped = false;

  const check = async () => {
    if (stopped || installing) return;
    const settings = await engine.api['settings.get']({});
    if (!settings.updatesAllowed.value) {
      log.info('updates are not allowed (Settings or the organisation’s policy)');
      return;
    }
    const channel = settings.updateChannel.value;
    if (autoUpdater.channel !== channel) {
      autoUpdater.channel = channel;
      // Setting a channel allows downgrades; a pinned channel must not roll a computer back.
      autoUpdater.allowDowngrade = false;
    }
    autoUpdater.allowPrerelease = channel !== 'latest';
    await autoUpdater.checkForUpdates();
  };
  const checkLogged = () =>
    void check().catch((err: unknown) => {
      log.warn('checking for updates failed', { error: String(err) });
    });

  autoUpdater.on('update-downloaded', (info: { version: string }) => {
    if (installing || stopped) return;
    installing = true;
    log.info('an update is downloaded; waiting for a safe point', { version: info.version });
    void (async () => {
      // The person may have turned updates off (or the policy did) while it downloaded.
      const settings = await engine.api['settings.get']({});
      if (!settings.updatesAllowed.value) {
        installing = false;
        return;
      }
      await engine.updateGate.safePoint();
      if (stopped) {
        engine.updateGate.release();
        return;
      }
      log.info('no upload in flight: restarting to install', { version: info.version });
      autoUpdater.quitAndInstall(true, true);
    })().catch((err: unknown) => {
      installing = false;
      engine.updateGate.release();
      log.error('installing the update failed', { error: String(err) });
    });
  });

  const first = setTimeout(checkLogged, firstCheckAfterMs);
  first.unref();
  const every = setInterval(checkLogged, checkEveryMs);
  every.unref();
  return {
    settingsChanged: checkLogged,
    stop() {
      stopped = true;
      clearTimeout(first);
      clearInterval(every);
    },
  };
}
