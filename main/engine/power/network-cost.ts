// Whether this computer's network is metered, from the OS where Electron exposes no network
// cost (issue 13 section 3): Windows through the connection cost API (WinRT
// NetworkInformation.GetInternetConnectionProfile().GetConnectionCost()) called from Windows
// PowerShell, Linux through NetworkManager's `nmcli` (./linux-power.ts), macOS unknown
// (NWPath.isExpensive has no command-line equivalent).
// Invariant: a signal that cannot be read is null ("unknown"), never a guessed false: the
// engine then says the pause-on-metered setting cannot act here.
//
// [Note: Windows connection cost]
// ConnectionCost has NetworkCostType (Unknown, Unrestricted, Fixed, Variable), Roaming,
// OverDataLimit and ApproachingDataLimit
// (https://learn.microsoft.com/uwp/api/windows.networking.connectivity.connectioncost).
// Microsoft's guidance for background transfers ("Manage metered network cost constraints")
// is to hold back on Fixed or Variable plans and whenever roaming or over the data limit;
// that is "metered" here. Unknown cost, or no internet profile at all, is unknown (null).
// The script runs in Windows PowerShell 5.1 (powershell.exe), which can load WinRT types;
// PowerShell 7 (pwsh) cannot. It prints one `Name=Value` line per property so the parser
// does not depend on PowerShell's table formatting; it also accepts Format-List's
// `Name : Value` lines, which is what the object prints by itself.
import { execFile } from 'node:child_process';
import { readNmcliMetered } from './linux-power.js';

/** The PowerShell script: one `Name=Value` line per ConnectionCost property, or NoProfile. */
export const windowsConnectionCostScript = [
  "$ErrorActionPreference = 'Stop'",
  '[void][Windows.Networking.Connectivity.NetworkInformation, Windows.Networking.Connectivity, ContentType = WindowsRuntime]',
  '$connection = [Windows.Networking.Connectivity.NetworkInformation]::GetInternetConnectionProfile()',
  "if ($null -eq $connection) { 'NoProfile'; exit 0 }",
  '$cost = $connection.GetConnectionCost()',
  '"NetworkCostType=$($cost.NetworkCostType)"',
  '"Roaming=$($cost.Roaming)"',
  '"OverDataLimit=$($cost.OverDataLimit)"',
  '"ApproachingDataLimit=$($cost.ApproachingDataLimit)"',
].join('; ');

/** The PowerShell output read as metered (true), not (false) or unknown (null). */
export function parseWindowsConnectionCost(text: string): boolean | null {
  const fields = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const m = /^\s*(\w+)\s*(?:=|:)\s*(.*?)\s*$/.exec(line);
    if (m?.[1] !== undefined && m[2] !== undefined) fields.set(m[1].toLowerCase(), m[2]);
  }
  const type = fields.get('networkcosttype')?.toLowerCase();
  if (type === undefined) return null; // NoProfile (offline), or output we do not know
  const yes = (name: string) => fields.get(name)?.toLowerCase() === 'true';
  if (yes('roaming') || yes('overdatalimit')) return true;
  switch (type) {
    case 'fixed':
    case 'variable':
    case '2':
    case '3':
      return true;
    case 'unrestricted':
    case '1':
      return false;
    default:
      return null; // Unknown (0), or a value added after this was written
  }
}

/** Runs the script in Windows PowerShell; null when it fails or says nothing we know. */
export function readWindowsMetered(bin = 'powershell.exe'): Promise<boolean | null> {
  return new Promise((resolve) => {
    execFile(
      bin,
      ['-NoProfile', '-NonInteractive', '-Command', windowsConnectionCostScript],
      { timeout: 15_000, windowsHide: true },
      (err, stdout) => resolve(err ? null : parseWindowsConnectionCost(stdout)),
    );
  });
}

/** Why the network cost cannot be read on this OS, or null when it can be. */
export function networkCostUnknownReason(platform: NodeJS.Platform): string | null {
  if (platform === 'win32' || platform === 'linux') return null;
  if (platform === 'darwin') {
    return 'macOS offers no command-line way to read whether the network is expensive (NWPath.isExpensive)';
  }
  return `no way to read the network cost on ${platform}`;
}

/** The metered signal on this OS: true, false, or null (unknown). */
export function readMetered(platform: NodeJS.Platform = process.platform): Promise<boolean | null> {
  if (platform === 'win32') return readWindowsMetered();
  if (platform === 'linux') return readNmcliMetered();
  return Promise.resolve(null);
}

/** Reads the metered signal now and every intervalMs (default a minute); stop() ends it. */
export function watchNetworkCost(options: {
  platform?: NodeJS.Platform;
  intervalMs?: number;
  onMetered: (metered: boolean | null) => void;
}): { stop(): void } {
  let stopped = false;
  const read = async () => {
    const metered = await readMetered(options.platform);
    if (!stopped) options.onMetered(metered);
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
