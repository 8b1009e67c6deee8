// One Library item in full: its preview, what it is (capture time in the zone it was taken
// in and where that time came from, camera, GPS, size), the vault's proof (SHA-256, when it
// was verified and last re-read), every place it lives, its group's members, and the two
// things a person does with it: Download (the original, through the transport) and Restore
// (into a folder, through restore.start, which never replaces a file). A video plays in place
// (its preview as the poster); a Live Photo shows its still with a control that plays its
// video, both through the `video` media variant (inline only for what the vault says is video).
import { useEffect, useRef, useState } from 'react';
import { type LibraryAsset, type LibraryTile, mediaPath } from '../../../common/contract';
import { bridge } from '../bridge';
import { formatBytes, formatDateTime } from '../format';
import { useAction, useCommand } from '../hooks';
import { ErrorState, InlineError, Loading } from '../ui';

const sourceWords: Record<string, string> = {
  exif_original: 'EXIF DateTimeOriginal',
  exif_create: 'EXIF CreateDate',
  quicktime: 'QuickTime CreateDate',
  gps: 'GPS time',
  filename: 'the file name',
  mtime: 'the file’s modification time',
  takeout: 'Google Takeout',
  icloud: 'iCloud export',
};

const roleWords: Record<string, string> = {
  primary: 'Original',
  'live-video': 'Live Photo video',
  raw: 'RAW',
  rendition: 'JPEG of the RAW',
  edit: 'Edited copy',
  sidecar: 'Sidecar (edits, ratings)',
};

function zoneLabel(offsetMinutes: number): string {
  const sign = offsetMinutes < 0 ? '−' : '+';
  const abs = Math.abs(offsetMinutes);
  return `UTC${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

/** The capture time as the clock showed it where it was taken (not converted to ours). */
function takenWords(m: NonNullable<LibraryAsset['metadata']>): string {
  if (m.captureTime === null) return 'Unknown';
  const t = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?/.exec(m.captureTime);
  const wall = t
    ? new Intl.DateTimeFormat(undefined, {
        dateStyle: 'medium',
        timeStyle: 'medium',
        timeZone: 'UTC',
      }).format(
        Date.UTC(
          Number(t[1]),
          Number(t[2]) - 1,
          Number(t[3]),
          Number(t[4]),
          Number(t[5]),
          Number(t[6] ?? 0),
        ),
      )
    : m.captureTime;
  const zone = m.timeZone
    ? `${zoneLabel(m.timeZone.offsetMinutes)}${m.timeZone.source === 'assumed_local' ? ', assumed' : ''}`
    : 'zone unknown';
  return `${wall} (${zone})`;
}

/** A glob that matches exactly this path (restore.start selects by glob). */
function exactGlob(path: string): string {
  return path.replace(/[\\*?[\]{}()!+@|]/g, (c) => `\\${c}`);
}

function Facts({ asset }: { asset: LibraryAsset }) {
  const m = asset.metadata;
  const camera = m?.camera
    ? [m.camera.make, m.camera.model].filter(Boolean).join(' ') +
      (m.camera.lens ? ` · ${m.camera.lens}` : '')
    : '';
  return (
    <dl className="receipt-facts" data-testid="library-facts">
      <dt>Taken</dt>
      <dd data-testid="fact-taken">
        {m ? takenWords(m) : 'Unknown (no metadata was sent)'}
        {m?.captureTimeSource && (
          <span className="muted small">
            {' '}
            from {sourceWords[m.captureTimeSource] ?? m.captureTimeSource}
          </span>
        )}
      </dd>
      {camera !== '' && (
        <>
          <dt>Camera</dt>
          <dd data-testid="fact-camera">{camera}</dd>
        </>
      )}
      {m?.gps && (
        <>
          <dt>Location</dt>
          <dd data-testid="fact-gps">
            {m.gps.lat.toFixed(6)}, {m.gps.lon.toFixed(6)}
            {m.gps.alt !== undefined && ` · ${Math.round(m.gps.alt)} m`}
          </dd>
        </>
      )}
      {m?.width != null && m.height != null && (
        <>
          <dt>Dimensions</dt>
          <dd data-testid="fact-dimensions">
            {m.width} × {m.height}
            {m.durationSec !== null && ` · ${Math.round(m.durationSec)} s`}
          </dd>
        </>
      )}
      <dt>File</dt>
      <dd>
        {asset.filename} · {formatBytes(asset.size)}
        {asset.mime && <span className="muted small"> · {asset.mime}</span>}
      </dd>
      <dt>SHA-256</dt>
      <dd>
        <code data-testid="fact-sha256">{asset.sha256}</code>
      </dd>
      <dt>Verified</dt>
      <dd data-testid="fact-verified">
        {asset.proof ? (
          <>
            {formatDateTime(asset.proof.verifiedAt)}
            {asset.proof.checkedAt !== null &&
              ` · last re-read ${formatDateTime(asset.proof.checkedAt)}`}
            {asset.proof.state !== 'ok' && (
              <strong className="error">
                {' '}
                ·{' '}
                {asset.proof.state === 'damaged' ? 'damaged on the vault' : 'missing on the vault'}
              </strong>
            )}
          </>
        ) : (
          'Unknown'
        )}
      </dd>
    </dl>
  );
}

function Restore({ asset, desktop }: { asset: LibraryAsset; desktop: boolean }) {
  const place = asset.places.find((p) => p.goneAt === null) ?? asset.places[0];
  const [to, setTo] = useState('');
  const [started, setStarted] = useState(false);
  const action = useAction();
  if (!place) return null;
  const start = async (dest: string) => {
    const ok = await action.run('restore.start', {
      device: place.deviceId,
      folder: place.folder,
      path: exactGlob(place.path),
      to: dest,
    });
    if (ok) setStarted(true);
  };
  return (
    <div className="library-restore">
      {desktop && bridge.pickFolder ? (
        <button
          type="button"
          disabled={action.busy}
          onClick={() => {
            void bridge.pickFolder?.().then((dest) => (dest ? start(dest) : undefined));
          }}
        >
          Restore to a folder…
        </button>
      ) : (
        <form
          className="row"
          onSubmit={(e) => {
            e.preventDefault();
            if (to.trim() !== '') void start(to.trim());
          }}
        >
          <input
            type="text"
            placeholder="Restore into folder (full path)"
            aria-label="Restore into folder"
            value={to}
            onChange={(e) => setTo(e.target.value)}
          />
          <button type="submit" disabled={action.busy || to.trim() === ''}>
            Restore
          </button>
        </form>
      )}
      {started && (
        <p className="small" role="status">
          Restoring {place.path}: see the Restore page for progress.
        </p>
      )}
      <InlineError error={action.error} />
    </div>
  );
}

export function LibraryDetail(props: { tile: LibraryTile; onClose: () => void; desktop: boolean }) {
  const { tile, onClose } = props;
  const asset = useCommand('library.asset', { sha256: tile.sha256 }, tile.sha256);
  const [previewFailed, setPreviewFailed] = useState(false);
  const [playingLive, setPlayingLive] = useState(false);
  const closeRef = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    closeRef.current?.focus();
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') onClose();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [onClose]);
  useEffect(() => {
    setPreviewFailed(false);
    setPlayingLive(false);
  }, [tile.sha256]);

  const a = asset.data;
  // A Live Photo's video is its group's live-video member; an Android motion photo's is inside
  // the photo itself (the vault serves it as the photo's own `video`).
  const liveVideo =
    a?.group?.members.find((m) => m.role === 'live-video' && m.sha256 !== a.sha256) ??
    (a?.motionPhoto === true ? { sha256: a.sha256, role: 'live-video' } : undefined);
  return (
    <div className="library-detail-backdrop" onClick={onClose}>
      <div
        className="library-detail"
        role="dialog"
        aria-modal="true"
        aria-label={tile.filename}
        data-testid="library-detail"
        data-ready={a !== undefined}
        onClick={(e) => e.stopPropagation()}
      >
        <div className="library-preview">
          {tile.kind === 'video' ? (
            <video
              src={mediaPath(tile.sha256, 'video')}
              poster={previewFailed ? undefined : mediaPath(tile.sha256, 'preview')}
              controls
              playsInline
              preload="metadata"
              aria-label={tile.filename}
              data-testid="video"
            />
          ) : liveVideo && playingLive ? (
            <video
              src={mediaPath(liveVideo.sha256, 'video')}
              poster={previewFailed ? undefined : mediaPath(tile.sha256, 'preview')}
              controls
              muted
              playsInline
              autoPlay
              preload="metadata"
              aria-label={`${tile.filename}: Live Photo video`}
              data-testid="live-video"
            />
          ) : previewFailed ? (
            <p className="thumb-none" data-testid="preview-none">
              {a?.preview?.state === 'none'
                ? `No preview: ${a.preview.reason}`
                : a?.preview?.state === 'pending'
                  ? 'The preview is being made.'
                  : 'No preview.'}
            </p>
          ) : (
            <img
              src={mediaPath(tile.sha256, 'preview')}
              alt={tile.filename}
              decoding="async"
              data-testid="preview"
              onError={() => setPreviewFailed(true)}
            />
          )}
          {liveVideo && tile.kind !== 'video' && (
            <button
              type="button"
              className="library-live-play"
              aria-pressed={playingLive}
              onClick={() => setPlayingLive((on) => !on)}
              data-testid="play-live"
            >
              {playingLive ? 'Show the photo' : '▶ Play Live Photo'}
            </button>
          )}
        </div>
        <div className="library-info">
          <div className="file-detail-head">
            <h2>{tile.filename}</h2>
            <span className="spacer" />
            <button type="button" ref={closeRef} onClick={onClose}>
              Close
            </button>
          </div>
          {a === undefined && asset.error && (
            <ErrorState error={asset.error} retry={asset.reload} />
          )}
          {a === undefined && !asset.error && <Loading what="the details" />}
          {a && (
            <>
              <Facts asset={a} />
              <h3>Where it lives</h3>
              {a.places.length === 0 ? (
                <p className="muted small">No place recorded (uploaded before places were kept).</p>
              ) : (
                <ul className="receipt-places" data-testid="library-places">
                  {a.places.map((p) => (
                    <li key={`${p.deviceId}/${p.folder}/${p.path}`}>
                      {p.deviceName} · {p.folder}/{p.path}
                      {p.goneAt !== null && (
                        <span className="muted"> (gone since {formatDateTime(p.goneAt)})</span>
                      )}
                    </li>
                  ))}
                </ul>
              )}
              {a.group && a.group.members.length > 0 && (
                <>
                  <h3>In this group</h3>
                  <ul className="receipt-places" data-testid="library-group">
                    {a.group.members.map((m) => (
                      <li key={m.sha256}>
                        {roleWords[m.role] ?? m.role}{' '}
                        <a href={mediaPath(m.sha256, 'original')} download>
                          <code>{m.sha256.slice(0, 12)}</code>
                        </a>
                      </li>
                    ))}
                  </ul>
                </>
              )}
              <div className="library-actions">
                <a
                  className="button"
                  href={mediaPath(a.sha256, 'original')}
                  download={a.filename}
                  data-testid="download"
                  title="The file exactly as it was backed up"
                >
                  Download original
                </a>
                {(a.kind === 'image' || a.kind === 'video') && (
                  <a
                    className="button"
                    href={mediaPath(a.sha256, a.kind === 'video' ? 'mp4' : 'jpeg')}
                    download
                    data-testid="download-compatible"
                    title={
                      a.kind === 'video'
                        ? 'An H.264 MP4 that plays everywhere (made by the vault)'
                        : 'A full-size JPEG that opens everywhere, with its date and place (made by the vault)'
                    }
                  >
                    Most compatible
                  </a>
                )}
                <Restore asset={a} desktop={props.desktop} />
              </div>
            </>
          )}
        </div>
      </div>
    </div>
  );
}
