// How the desktop shell keeps the vault token out of the engine's plaintext file: a
// settings.set of `vaultToken` from the window goes to the TokenStore (safeStorage, or an
// owner-only file where there is no keyring: see [Note: basic_text is plaintext] in
// token-store.ts), never to the engine; and the Settings the window sees say where the token
// really is. Pure (no Electron import) so tests check it under Node.
import type { Settings } from '../../common/contract.js';
import type { TokenStorageKind } from './token-store.js';

/** The Settings as the engine reports them, corrected with what the shell's store knows. */
export function withDesktopToken(
  settings: Settings,
  kind: TokenStorageKind,
  tokenSet: boolean,
): Settings {
  return {
    ...settings,
    vaultTokenSet: {
      ...settings.vaultTokenSet,
      value: settings.vaultTokenSet.locked ? settings.vaultTokenSet.value : tokenSet,
    },
    tokenStorage: { value: kind, source: 'default', locked: true },
  };
}
