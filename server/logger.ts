// The vault's logging seam. server/ stands alone (it imports nothing from main/), so it
// declares the small structural logger it needs; the engine's Logger satisfies it, so the
// embedded vault logs through the same sink as the app. Never log tokens or file contents.

export type VaultLogFields = Record<string, unknown>;

export interface VaultLogger {
  debug(msg: string, fields?: VaultLogFields): void;
  info(msg: string, fields?: VaultLogFields): void;
  warn(msg: string, fields?: VaultLogFields): void;
  error(msg: string, fields?: VaultLogFields): void;
}

export const silentVaultLogger: VaultLogger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
};
