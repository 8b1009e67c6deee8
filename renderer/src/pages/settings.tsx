// Settings: each value with where it came from (default, you, or your organisation's policy);
// a locked setting is shown disabled with the reason. Each change is saved on its own.
import { useState, type ReactNode } from 'react';
import type { Settings, SettingUpdate } from '../../../common/contract';

type SettingSource = Settings['vaultUrl']['source'];
import { isDesktop } from '../bridge';
import { useAction, useCommand } from '../hooks';
import { InlineError, QueryView, useSharedStatus } from '../ui';

const sourceWords: Record<SettingSource, string> = {
  default: 'Default',
  user: 'Set by you',
  policy: 'Set by your organisation',
};

type Entry = { source: SettingSource; locked: boolean };

function Field(props: {
  id: string;
  label: string;
  entry: Entry;
  help?: ReactNode;
  children: ReactNode;
}) {
  return (
    <div
      className={`field${props.entry.locked ? ' locked' : ''}`}
      data-testid={`setting-${props.id}`}
    >
      <div className="field-label">
        <label htmlFor={`setting-${props.id}`}>{props.label}</label>
        <span className="source" data-source={props.entry.source}>
          {props.entry.locked ? '🔒 Locked · ' : ''}
          {sourceWords[props.entry.source]}
        </span>
      </div>
      {props.children}
      {props.help && <p className="muted small">{props.help}</p>}
    </div>
  );
}

function TextSetting(props: {
  id: string;
  label: string;
  entry: Entry & { value: string | null };
  placeholder: string;
  help?: ReactNode;
  save: (value: string | null) => void;
  busy: boolean;
}) {
  const [text, setText] = useState(props.entry.value ?? '');
  const dirty = text !== (props.entry.value ?? '');
  return (
    <Field id={props.id} label={props.label} entry={props.entry} help={props.help}>
      <div className="row">
        <input
          id={`setting-${props.id}`}
          type="text"
          value={text}
          placeholder={props.placeholder}
          disabled={props.entry.locked}
          onChange={(e) => setText(e.target.value)}
        />
        <button
          type="button"
          disabled={props.entry.locked || !dirty || props.busy}
          onClick={() => props.save(text.trim() === '' ? null : text.trim())}
        >
          Save
        </button>
      </div>
    </Field>
  );
}

function SettingsForm({
  settings,
  onSaved,
}: {
  settings: Settings;
  onSaved: (s: Settings) => void;
}) {
  const action = useAction();
  const [token, setToken] = useState('');
  const sharedStatus = useSharedStatus().data;
  const vault = sharedStatus?.vault;
  // A signal this computer cannot read: the setting cannot act, and says so.
  const unknownSignal = {
    pauseOnBattery:
      sharedStatus?.power?.onBattery === null
        ? 'This computer cannot tell whether it runs on battery: this setting cannot act here.'
        : undefined,
    pauseOnMetered:
      sharedStatus?.power?.metered === null
        ? 'This computer cannot tell whether the network is metered (unknown): this setting cannot act here.'
        : undefined,
    startAtLogin: undefined,
  };
  // The embedded vault listens on a new loopback port each start: name it by its directory.
  const embedded = vault?.embedded === true && settings.vaultUrl.value === null;
  const save = (update: SettingUpdate) =>
    void action.run('settings.set', update).then((s) => {
      if (s) onSaved(s);
    });

  return (
    <div className="settings">
      <section>
        <h2>Vault</h2>
        {embedded && (
          <p data-testid="vault-embedded">
            <strong>Embedded vault ({vault.dir ?? 'in the data directory'})</strong>
            <br />
            <span className="muted small">
              {vault.sameDiskAs !== null
                ? 'On the same disk as your photos. '
                : 'On this computer. '}
              To keep a copy on another disk or machine, run <code>keepsake vault</code> there and
              enter its address and token below.
            </span>
          </p>
        )}
        <TextSetting
          id="vaultUrl"
          label={embedded ? 'Another vault’s address' : 'Vault address'}
          entry={settings.vaultUrl}
          placeholder="Empty: the embedded vault on this computer"
          busy={action.busy}
          save={(value) => save({ key: 'vaultUrl', value })}
        />
        <Field
          id="vaultToken"
          label="Vault token"
          entry={settings.vaultTokenSet}
          help={
            settings.tokenStorage.value === 'file'
              ? isDesktop
                ? 'This system has no keyring Keepsake can use, so the token is kept in a file only your user account can read (not encrypted).'
                : 'The token is kept in a file only the account running Keepsake can read.'
              : "The token is encrypted with your system's keychain."
          }
        >
          <div className="row">
            <input
              id="setting-vaultToken"
              type="password"
              autoComplete="off"
              value={token}
              placeholder={
                settings.vaultTokenSet.value ? 'A token is set (hidden)' : 'No token set'
              }
              disabled={settings.vaultTokenSet.locked}
              onChange={(e) => setToken(e.target.value)}
            />
            <button
              type="button"
              disabled={settings.vaultTokenSet.locked || token.length === 0 || action.busy}
              onClick={() => {
                save({ key: 'vaultToken', value: token });
                setToken('');
              }}
            >
              Save token
            </button>
            {settings.vaultTokenSet.value && (
              <button
                type="button"
                disabled={settings.vaultTokenSet.locked || action.busy}
                onClick={() => save({ key: 'vaultToken', value: null })}
              >
                Forget token
              </button>
            )}
          </div>
        </Field>
      </section>

      <section>
        <h2>Network</h2>
        <TextSetting
          id="bandwidthLimit"
          label="Bandwidth limit"
          entry={settings.bandwidthLimit}
          placeholder="No limit"
          busy={action.busy}
          help={
            <>
              A rate such as <code>4M</code> (4 MiB/s), <code>off</code>, or a schedule:{' '}
              <code>Mon-08:00,2M Mon-18:00,off</code>.
            </>
          }
          save={(value) => save({ key: 'bandwidthLimit', value })}
        />
        <Field id="concurrency" label="Files uploaded at once" entry={settings.concurrency}>
          <select
            id="setting-concurrency"
            value={settings.concurrency.value}
            disabled={settings.concurrency.locked || action.busy}
            onChange={(e) => save({ key: 'concurrency', value: Number(e.target.value) })}
          >
            {Array.from({ length: 16 }, (_, i) => i + 1).map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
        </Field>
      </section>

      <section>
        <h2>This computer</h2>
        <TextSetting
          id="deviceName"
          label="Name on the vault"
          entry={settings.deviceName}
          placeholder="The computer's host name"
          busy={action.busy}
          help="Where its files came from, when you browse or restore them."
          save={(value) => save({ key: 'deviceName', value })}
        />
      </section>

      {/* Power, network and login come from the desktop app; headless, they do nothing. */}
      {isDesktop && (
        <section data-testid="desktop-settings">
          <h2>When to back up</h2>
          {(
            [
              ['pauseOnBattery', 'Pause while on battery'],
              ['pauseOnMetered', 'Pause on metered networks'],
              ['startAtLogin', 'Start Keepsake when I log in'],
            ] as const
          ).map(([key, label]) => (
            <Field
              key={key}
              id={key}
              label={label}
              entry={settings[key]}
              {...(unknownSignal[key] ? { help: unknownSignal[key] } : {})}
            >
              <input
                id={`setting-${key}`}
                type="checkbox"
                className="switch"
                checked={settings[key].value}
                disabled={settings[key].locked || action.busy}
                onChange={(e) => save({ key, value: e.target.checked })}
              />
            </Field>
          ))}
        </section>
      )}
      <InlineError error={action.error} />
    </div>
  );
}

export function SettingsPage() {
  const query = useCommand('settings.get', {});
  const [saved, setSaved] = useState<Settings>();
  return (
    <QueryView query={{ ...query, data: saved ?? query.data }} what="the settings">
      {(settings) => (
        <SettingsForm key={JSON.stringify(settings)} settings={settings} onSaved={setSaved} />
      )}
    </QueryView>
  );
}
