// Storage: what the vault holds by type, what deduplication saved, the quota, and how much of
// each watched folder is backed up.
import type { VaultUsage } from '../../../common/contract';
import { formatBytes, formatCount, formatPercent } from '../format';
import { useCommand, useEvent } from '../hooks';
import { Empty, ProgressBar, QueryView } from '../ui';
import { FreeUpSection } from '../free-up';
import { StorageSavings } from '../storage-savings';
import { SimilarStorageSection } from '../similar-storage';

const typeWords: Record<keyof VaultUsage['byType'], string> = {
  image: 'Photos',
  video: 'Videos',
  other: 'Other',
};

function UsageChart({ usage }: { usage: VaultUsage }) {
  const entries = (Object.keys(usage.byType) as (keyof VaultUsage['byType'])[]).map((k) => ({
    key: k,
    ...usage.byType[k],
  }));
  const max = Math.max(1, ...entries.map((e) => e.bytes));
  return (
    <figure className="type-chart" aria-label="Vault usage by type">
      <table>
        <tbody>
          {entries.map((e) => (
            <tr key={e.key} data-testid={`usage-${e.key}`} data-bytes={e.bytes}>
              <th scope="row">{typeWords[e.key]}</th>
              <td className="type-bar-cell">
                {e.bytes > 0 && (
                  <div
                    className={`type-bar type-${e.key}`}
                    style={{ width: `${(e.bytes / max) * 100}%` }}
                  />
                )}
              </td>
              <td className="num">{formatBytes(e.bytes)}</td>
              <td className="num muted">{formatCount(e.assets)} files</td>
            </tr>
          ))}
        </tbody>
      </table>
    </figure>
  );
}

export function StoragePage() {
  const usage = useCommand('vault.usage', {});
  const folders = useCommand('folders.list', {});
  useEvent('folders.changed', () => folders.reload());
  return (
    <>
      <QueryView query={usage} what="the vault's usage">
        {(u) => (
          <>
            <section className="card-grid">
              <div className="card">
                <h2>Used on the vault</h2>
                <p className="big" data-testid="storage-used" data-bytes={u.bytes}>
                  {formatBytes(u.bytes)}
                </p>
                <p className="muted" data-testid="storage-assets" data-value={u.assets}>
                  {formatCount(u.assets)} files
                </p>
              </div>
              <div className="card">
                <h2>Saved by deduplication</h2>
                <p className="big" data-testid="storage-dedup" data-bytes={u.dedupSavedBytes}>
                  {formatBytes(u.dedupSavedBytes)}
                </p>
                <p className="muted">Identical files are stored once.</p>
              </div>
              <div className="card">
                <h2>Quota</h2>
                {u.quotaBytes === null ? (
                  <>
                    <p className="big">No limit</p>
                    <p className="muted">The vault has no quota set.</p>
                  </>
                ) : (
                  <>
                    <p className="big">{formatPercent(u.bytes, u.quotaBytes)}</p>
                    <ProgressBar
                      value={u.bytes}
                      max={u.quotaBytes}
                      label="Quota used"
                      tone={
                        u.bytes / u.quotaBytes > 0.9
                          ? 'bad'
                          : u.bytes / u.quotaBytes > 0.75
                            ? 'warn'
                            : 'ok'
                      }
                    />
                    <p className="muted">
                      {formatBytes(u.bytes)} of {formatBytes(u.quotaBytes)}
                    </p>
                  </>
                )}
              </div>
            </section>
            <StorageSavings usage={u} />
            <section>
              <h2>By type</h2>
              {u.assets === 0 ? (
                <Empty>
                  <p>The vault is empty so far.</p>
                </Empty>
              ) : (
                <UsageChart usage={u} />
              )}
            </section>
          </>
        )}
      </QueryView>
      <FreeUpSection />
      <SimilarStorageSection />
      <section>
        <h2>Watched folders</h2>
        <QueryView query={folders} what="the folders">
          {(list) =>
            list.length === 0 ? (
              <Empty>
                <p>No folders are watched yet.</p>
              </Empty>
            ) : (
              <table className="folder-table">
                <thead>
                  <tr>
                    <th scope="col">Folder</th>
                    <th scope="col">Backed up</th>
                    <th scope="col" className="num">
                      Safe
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {list.map((f) => (
                    <tr key={f.id}>
                      <td className="path">{f.path}</td>
                      <td className="bar-cell">
                        <ProgressBar
                          value={f.bytesSafe}
                          max={f.bytesTotal}
                          label={`${f.path} backed up`}
                        />
                      </td>
                      <td className="num">
                        {formatBytes(f.bytesSafe)} / {formatBytes(f.bytesTotal)}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )
          }
        </QueryView>
      </section>
    </>
  );
}
