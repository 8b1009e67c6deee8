// The Storage page's "On the vault's disk" section (issue 15 section 3): what the vault's disk
// holds for the backed-up bytes, and what compression took off (compressible formats stored
// compressed, losslessly); the page's own card shows what deduplication saved. Usage and the
// quota count the original bytes; this is the only place the disk's bytes show.
import type { VaultUsage } from '../../common/contract';
import { formatBytes, formatPercent } from './format';

export function StorageSavings({ usage }: { usage: VaultUsage }) {
  // A vault from before compression does not report its disk: nothing to say then.
  if (usage.storedBytes === undefined) return null;
  const compression = usage.compressionSavedBytes ?? 0;
  return (
    <section aria-labelledby="storage-savings-title">
      <h2 id="storage-savings-title">On the vault&apos;s disk</h2>
      <div className="card-grid">
        <div className="card">
          <h2>Stored on disk</h2>
          <p className="big" data-testid="storage-on-disk" data-bytes={usage.storedBytes}>
            {formatBytes(usage.storedBytes)}
          </p>
          <p className="muted">For {formatBytes(usage.bytes)} of backed-up files.</p>
        </div>
        <div className="card">
          <h2>Saved by compression</h2>
          <p className="big" data-testid="storage-compression" data-bytes={compression}>
            {formatBytes(compression)}
          </p>
          <p className="muted">
            {compression > 0
              ? `${formatPercent(compression, usage.bytes)} of the backed-up bytes. `
              : ''}
            TIFF, BMP, PSD and uncompressed RAW files are stored compressed, losslessly: every
            restore gives back the original bytes.
          </p>
        </div>
      </div>
    </section>
  );
}
