// Proof on screen (issue 10 section 6): the last verify receipt with a "Verify now" action
// (on the Overview), and one file's receipt (in the Queue): the vault's SHA-256, when it was
// verified and last re-read, and every place the content lives.
import { useEffect, useState } from 'react';
import type { FileReceipt, VerifyReceipt } from '../../common/contract';
import { countOf, formatBytes, formatCount, formatDateTime } from './format';
import { useAction, useCommand } from './hooks';
import { InlineError, Loading, QueryView } from './ui';

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });

/** "3 days ago", "in 2 minutes", "now". */
function timeAgo(ms: number, now = Date.now()): string {
  const s = (ms - now) / 1000;
  const steps: [number, Intl.RelativeTimeFormatUnit][] = [
    [60, 'second'],
    [60, 'minute'],
    [24, 'hour'],
    [30, 'day'],
    [12, 'month'],
    [Number.POSITIVE_INFINITY, 'year'],
  ];
  let value = s;
  for (const [size, unit] of steps) {
    if (Math.abs(value) < size) return relative.format(Math.round(value), unit);
    value /= size;
  }
  return relative.format(Math.round(value), 'year');
}

/** "1,204 of 1,204 files proven on the vault 3 days ago". */
function receiptLine(r: VerifyReceipt): string {
  return `${formatCount(r.filesProven)} of ${countOf(r.files, 'file', 'files')} proven on the vault ${timeAgo(r.finishedAt)}`;
}

/** The Overview's card: the last receipt and "Verify now". */
export function VerifyCard() {
  const last = useCommand('verify.last', {});
  const action = useAction();
  const [fresh, setFresh] = useState<VerifyReceipt | null>(null);
  const receipt = fresh ?? last.data ?? null;
  const verifyNow = async () => {
    const r = await action.run('verify.run', {});
    if (r) setFresh(r);
  };
  return (
    <section className="card verify-card" aria-label="Proof" data-testid="verify-card">
      <h2>Proof</h2>
      {last.loading && !receipt ? (
        <Loading what="the last verify" />
      ) : receipt === null ? (
        <p className="muted" data-testid="verify-receipt" data-state="none">
          Not verified yet: Verify now asks the vault to re-read every file it holds for you.
        </p>
      ) : (
        <>
          <p
            data-testid="verify-receipt"
            data-state={receipt.problemCount === 0 ? 'ok' : 'problems'}
            data-proven={receipt.filesProven}
            data-files={receipt.files}
            title={formatDateTime(receipt.finishedAt)}
          >
            {receiptLine(receipt)} ({formatBytes(receipt.bytesProven)})
          </p>
          {receipt.problemCount > 0 && (
            <>
              <p className="file-error">
                {countOf(receipt.problemCount, 'problem', 'problems')}; files that this computer
                still holds are being uploaded again.
              </p>
              <ul className="verify-problems">
                {receipt.problems.slice(0, 5).map((p) => (
                  <li key={`${p.path}:${p.problem}`} title={p.message}>
                    <span
                      className={`badge state-${p.problem === 'changed' ? 'queued' : 'failed'}`}
                    >
                      {p.problem}
                    </span>{' '}
                    {p.path}
                  </li>
                ))}
              </ul>
            </>
          )}
        </>
      )}
      <button
        type="button"
        data-testid="verify-now"
        disabled={action.busy}
        onClick={() => void verifyNow()}
      >
        {action.busy ? 'Verifying…' : 'Verify now'}
      </button>
      <InlineError error={action.error} />
    </section>
  );
}

/** The vault's part of a receipt: rows of the receipt's list. */
function VaultFacts({ r }: { r: FileReceipt }) {
  if (r.vaultError || r.vault === null) {
    return (
      <>
        <dt>On the vault</dt>
        <dd className={r.vaultError ? 'file-error' : 'muted'}>
          {r.vaultError ?? 'The vault does not hold this content.'}
        </dd>
      </>
    );
  }
  return (
    <>
      <dt>On the vault</dt>
      <dd data-testid="receipt-vault-state" data-state={r.vault.state}>
        {r.vault.state === 'ok'
          ? 'whole'
          : `${r.vault.state}${r.vault.problemSince ? ` since ${formatDateTime(r.vault.problemSince)}` : ''}`}
      </dd>
      <dt>Verified by the vault</dt>
      <dd>{formatDateTime(r.vault.verifiedAt)}</dd>
      <dt>Last re-read (scrub)</dt>
      <dd>{r.vault.checkedAt === null ? 'not since' : formatDateTime(r.vault.checkedAt)}</dd>
    </>
  );
}

/** One file's receipt, shown under the Queue's toolbar. */
export function FileReceiptPanel({ fileId, onClose }: { fileId: number; onClose: () => void }) {
  const query = useCommand('files.receipt', { id: fileId }, String(fileId));
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') onClose();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [onClose]);
  return (
    <section className="card file-receipt" aria-label="Receipt" data-testid="file-receipt">
      <div className="upload-head">
        <h2>Receipt</h2>
        <button type="button" onClick={onClose}>
          Close
        </button>
      </div>
      <QueryView query={query} what="the receipt">
        {(r) => (
          <>
            <p className="name" title={r.path}>
              {r.path}
            </p>
            <dl className="receipt-facts">
              <dt>SHA-256</dt>
              <dd>
                <code data-testid="receipt-sha256">{r.sha256 ?? 'not hashed yet'}</code>
              </dd>
              <dt>Last proven by verify</dt>
              <dd>{r.provenAt === null ? 'never' : formatDateTime(r.provenAt)}</dd>
              {r.sha256 !== null && <VaultFacts r={r} />}
            </dl>
            {r.locations.length > 0 && (
              <>
                <h3>Where the vault knows it ({formatCount(r.locations.length)})</h3>
                <ul className="receipt-places" data-testid="receipt-locations">
                  {r.locations.map((l) => (
                    <li key={`${l.deviceName}/${l.folder}/${l.path}`}>
                      {l.deviceName}: {l.folder}/{l.path}
                      {l.goneAt !== null ? ` (gone ${formatDateTime(l.goneAt)})` : ''}
                    </li>
                  ))}
                </ul>
              </>
            )}
            <h3>On this computer ({formatCount(r.localPaths.length)})</h3>
            <ul className="receipt-places" data-testid="receipt-local-paths">
              {r.localPaths.map((p) => (
                <li key={p}>{p}</li>
              ))}
            </ul>
          </>
        )}
      </QueryView>
    </section>
  );
}
