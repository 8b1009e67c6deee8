// Battery and metered-network signals for the headless daemon on Linux (issue 13 §3), where no
// Electron powerMonitor exists: the battery from /sys/class/power_supply, a metered network
// from NetworkManager's per-device GENERAL.METERED through `nmcli`.
//
// Invariant: a signal that cannot be read is null ("unknown"), never a guessed false: the
// engine then says the pause-on-battery / pause-on-metered setting cannot act here.
import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface PowerSignals {
  /** null: unknown (no power_supply class to read). */
  onBattery: boolean | null;
  /** null: unknown (no NetworkManager, or it does not say). */
  metered: boolean | null;
}

async function readTrimmed(path: string): Promise<string | null> {
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch {
    return null;
  }
}

/**
 * On battery when no mains/USB supply is online and a battery is discharging; a machine with no
 * supplies listed at all (a desktop, a server, a VM) is never on battery. null when `root`
 * cannot be read.
 */
export async function readLinuxBattery(root = '/sys/class/power_supply'): Promise<boolean | null> {
  let names: string[];
  try {
    names = await readdir(root);
  } catch {
    return null;
  }
  const supplies = await Promise.all(
    names.map(async (name) => ({
      type: await readTrimmed(join(root, name, 'type')),
      online: await readTrimmed(join(root, name, 'online')),
      status: await readTrimmed(join(root, name, 'status')),
      scope: await readTrimmed(join(root, name, 'scope')),
    })),
  );
  // A wireless mouse's battery ("scope: Device") says nothing about this computer.
  const own = supplies.filter((s) => s.scope !== 'Device');
  if (own.some((s) => s.type !== 'Battery' && s.online === '1')) return false;
  return own.some((s) => s.type === 'Battery' && s.status === 'Discharging');
}

/**
 * `nmcli -t -f GENERAL.DEVICE,GENERAL.STATE,GENERAL.METERED device show`: metered when a
 * connected device says "yes" (or "yes (guessed)"); null when no connected device says.
 */
export function parseNmcliMetered(text: string): boolean | null {
  const devices: { state: string; metered: string }[] = [];
  let current: { state: string; metered: string } | null = null;
  for (const line of text.split(/\r?\n/)) {
    const sep = line.indexOf(':');
    if (sep < 0) continue;
    const field = line.slice(0, sep);
    const value = line.slice(sep + 1).trim();
    if (field === 'GENERAL.DEVICE') {
      current = { state: '', metered: '' };
      devices.push(current);
    } else if (current && field === 'GENERAL.STATE') current.state = value;
    else if (current && field === 'GENERAL.METERED') current.metered = value;
  }
  const connected = devices.filter((d) => /^100\b/.test(d.state));
  if (connected.some((d) => d.metered.startsWith('yes'))) return true;
  if (connected.some((d) => d.metered.startsWith('no'))) return false;
  return null;
}

/** Runs nmcli; null when it is not installed or NetworkManager does not answer. */
export function readNmcliMetered(bin = 'nmcli'): Promise<boolean | null> {
  return new Promise((resolve) => {
    execFile(
      bin,
      ['-t', '-f', 'GENERAL.DEVICE,GENERAL.STATE,GENERAL.METERED', 'device', 'show'],
      { timeout: 10_000 },
      (err, stdout) => resolve(err ? null : parseNmcliMetered(stdout)),
    );
  });
}

export interface LinuxPowerOptions {
  powerSupplyRoot?: string;
  nmcli?: string;
  intervalMs?: number;
  onSignals: (signals: PowerSignals) => void;
}

/** Reads both signals now and every intervalMs (default a minute); stop() ends it. */
export function watchLinuxPower(options: LinuxPowerOptions): { stop(): void } {
  let stopped = false;
  const read = async () => {
    const [onBattery, metered] = await Promise.all([
      readLinuxBattery(options.powerSupplyRoot),
      readNmcliMetered(options.nmcli),
    ]);
    if (!stopped) options.onSignals({ onBattery, metered });
  };
  void read();
  const timer = setInterval(() => void read(), options.intervalMs ?? 60_000);
  timer.unref();
  return {
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}
