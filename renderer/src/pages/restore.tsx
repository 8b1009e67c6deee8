// Restore: browse what the vault holds by device, folder, path and capture date (a list;
// thumbnails come with the previews issue), choose a destination folder, and watch the
// restore. It never replaces a file: identical ones are skipped, different ones are kept
// beside the restored file (see README "Restore").
import { useEffect, useState } from 'react';
import type { RestoreSelection } from '../../../common/contract';
import { bridge } from '../bridge';
import { formatBytes, formatCount, formatDateTime } from '../format';
import { useAction, useCommand } from '../hooks';
import { Empty, InlineError, ProgressBar, QueryView } from '../ui';

/** A date field's value (YYYY-MM-DD) as local midnight, or the next one with `endOfDay`. */
function dayMs(value: string, endOfDay: boolean): number | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  if (!m) return undefined;
  return new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]) + (endOfDay ? 1 : 0)).getTime();
}

function RestoreProgress() {
  const state = useCommand('restore.state', {});
  const running = state.data?.running === true;
  useEffect(() => {
    if (!running) return;
    const timer = setInterval(() => state.reload(), 500);
    return () => clearInterval(timer);
  }, [running, state.reload]);
  const s = state.data;
  if (!s || (s.to === null && !s.running)) return null;
  return (
    <section className="card" data-testid="restore-progress" data-running={s.running}>
      <h2>{s.running ? 'Restoring' : 'Last restore'}</h2>
      <p className="muted">Into {s.to}</p>
      <ProgressBar value={s.bytesDone} max={s.bytesTotal} label="Restore progress" />
      <p>
        {formatCount(s.filesDone)} of {formatCount(s.filesTotal)} files, {formatBytes(s.bytesDone)}{' '}
        of {formatBytes(s.bytesTotal)}
      </p>
      {s.result && (
        <p data-testid="restore-result" data-restored={s.result.restored}>
          {formatCount(s.result.restored)} restored, {formatCount(s.result.skipped)} already there,{' '}
          {formatCount(s.result.failed)} failed ({formatBytes(s.result.bytesDownloaded)} downloaded)
        </p>
      )}
      {s.result?.failures.map((f) => (
        <p key={f.path} className="error small">
          {f.path}: {f.message}
        </p>
      ))}
      {s.error && <p className="error">{s.error}</p>}
    </section>
  );
}

export function RestorePage() {
  const devices = useCommand('restore.devices', {});
  const [device, setDevice] = useState('');
  const [folder, setFolder] = useState('');
  const [path, setPath] = useState('');
  const [since, setSince] = useState('');
  const [until, setUntil] = useState('');
  const [to, setTo] = useState('');
  const selection: RestoreSelection = {};
  if (device !== '') selection.device = device;
  if (folder.trim() !== '') selection.folder = folder.trim();
  if (path.trim() !== '') selection.path = path.trim();
  const sinceMs = dayMs(since, false);
  const untilMs = dayMs(until, true);
  if (sinceMs !== undefined) selection.since = sinceMs;
  if (untilMs !== undefined) selection.until = untilMs;
  const preview = useCommand('restore.preview', selection, JSON.stringify(selection));
  const start = useAction();
  const [started, setStarted] = useState(0);

  async function chooseDestination() {
    const chosen = await bridge.pickFolder?.();
    if (chosen) setTo(chosen);
  }

  return (
    <>
      <section className="card">
        <h2>What to restore</h2>
        <div className="row wrap">
          <label>
            Device{' '}
            <select
              data-testid="restore-device"
              value={device}
              onChange={(e) => setDevice(e.target.value)}
            >
              <option value="">Every device</option>
              {(devices.data ?? []).map((d) => (
                <option key={d.deviceId} value={d.deviceId}>
                  {d.deviceName}
                </option>
              ))}
            </select>
          </label>
          <label>
            Folder{' '}
            <input
              data-testid="restore-folder"
              type="text"
              placeholder="every folder"
              value={folder}
              onChange={(e) => setFolder(e.target.value)}
            />
          </label>
          <label>
            Path{' '}
            <input
              data-testid="restore-path"
              type="text"
              placeholder="e.g. 2019/**"
              value={path}
              onChange={(e) => setPath(e.target.value)}
            />
          </label>
          <label>
            Taken from{' '}
            <input type="date" value={since} onChange={(e) => setSince(e.target.value)} />
          </label>
          <label>
            to <input type="date" value={until} onChange={(e) => setUntil(e.target.value)} />
          </label>
        </div>
      </section>
      <QueryView query={preview} what="the files on the vault">
        {(p) => (
          <section className="card" data-testid="restore-preview" data-files={p.files}>
            <h2>
              {formatCount(p.files)} files, {formatBytes(p.bytes)}
            </h2>
            {p.items.length === 0 ? (
              <Empty>Nothing on the vault matches.</Empty>
            ) : (
              <table className="files">
                <thead>
                  <tr>
                    <th>Folder</th>
                    <th>Path</th>
                    <th>Device</th>
                    <th className="num">Size</th>
                    <th>Modified</th>
                  </tr>
                </thead>
                <tbody>
                  {p.items.map((i) => (
                    <tr key={`${i.deviceName}/${i.folder}/${i.path}`} data-testid="restore-item">
                      <td>{i.folder}</td>
                      <td>{i.path}</td>
                      <td>{i.deviceName}</td>
                      <td className="num">{formatBytes(i.size)}</td>
                      <td>{i.mtimeMs === null ? '' : formatDateTime(i.mtimeMs)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
            {p.items.length < p.files && (
              <p className="muted small">
                The first {formatCount(p.items.length)} are listed; all {formatCount(p.files)} are
                restored.
              </p>
            )}
          </section>
        )}
      </QueryView>
      <section className="card">
        <h2>Where to</h2>
        <div className="row">
          <input
            data-testid="restore-to"
            type="text"
            placeholder="/home/me/Restored"
            value={to}
            onChange={(e) => setTo(e.target.value)}
          />
          {bridge.pickFolder && (
            <button type="button" onClick={() => void chooseDestination()}>
              Choose…
            </button>
          )}
          <button
            type="button"
            data-testid="restore-start"
            disabled={start.busy || to.trim() === ''}
            onClick={() =>
              void start
                .run('restore.start', { ...selection, to: to.trim() })
                .then((ok) => ok && setStarted((n) => n + 1))
            }
          >
            Restore
          </button>
        </div>
        <p className="muted small">
          Files are rebuilt as FOLDER/PATH under the destination with their dates. Nothing there is
          replaced: identical files are skipped, a different file keeps its name and the restored
          one is saved beside it as “NAME (restored)”.
        </p>
        <InlineError error={start.error} />
      </section>
      <RestoreProgress key={started} />
    </>
  );
}
