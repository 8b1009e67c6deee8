// Library: everything on the vault as a timeline, newest first, grouped by the day it was
// taken, in a virtual grid (only the rows on screen are in the DOM, so 100,000 photos scroll
// as 100 do). A group (Live Photo, RAW+JPEG, an edit) is one tile with a badge. Opening a
// tile shows its preview, metadata, the vault's proof and every place it lives, with
// Download and Restore. Pictures are URLs the transport serves from the vault (See
// [Note: Pictures travel as URLs] in main/engine/library/media.ts); pages come in by cursor
// as the grid nears the end of what is loaded.
import { memo, useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react';
import {
  type ErrorInfo,
  type LibraryFilter,
  type LibraryTile,
  mediaPath,
} from '../../../common/contract';
import { bridge, isDesktop } from '../bridge';
import { formatCount } from '../format';
import { useCommand } from '../hooks';
import { devicesOf, layoutTimeline, rowsInView } from '../library-layout';
import { Empty, ErrorState, Loading } from '../ui';
import { LibraryDetail } from './library-detail';

const PAGE = 500;
const DAY_HEIGHT = 40;
const GAP = 6;
/** Load the next page when the view is this close (px) to the end of what is loaded. */
const LOAD_AHEAD = 2000;

export const badgeWords: Record<NonNullable<LibraryTile['badge']>, string> = {
  live: 'LIVE',
  'raw+jpeg': 'RAW+JPEG',
  edited: 'Edited',
};

const dayFmt = new Intl.DateTimeFormat(undefined, {
  weekday: 'short',
  day: 'numeric',
  month: 'long',
  year: 'numeric',
  timeZone: 'UTC',
});
function dayLabel(day: string): string {
  const [y, m, d] = day.split('-').map(Number);
  return dayFmt.format(Date.UTC(y ?? 1970, (m ?? 1) - 1, d ?? 1));
}

function durationLabel(sec: number): string {
  const s = Math.round(sec);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

interface Timeline {
  tiles: LibraryTile[];
  next: string | null;
  total: number | null;
  loading: boolean;
  error: ErrorInfo | undefined;
}

/** The timeline for a filter, a page at a time; `more` asks for the next page. */
function useTimeline(filter: LibraryFilter) {
  const [state, setState] = useState<Timeline>({
    tiles: [],
    next: null,
    total: null,
    loading: true,
    error: undefined,
  });
  const generation = useRef(0);
  const inFlight = useRef(false);
  const key = JSON.stringify(filter);

  const load = useCallback(
    (cursor: string | null) => {
      const mine = generation.current;
      inFlight.current = true;
      setState((s) => ({ ...s, loading: true }));
      void bridge.invoke('library.list', { ...filter, limit: PAGE, cursor }).then((res) => {
        if (mine !== generation.current) return;
        inFlight.current = false;
        if (!res.ok) {
          setState((s) => ({ ...s, loading: false, error: res.error }));
          return;
        }
        setState((s) => ({
          tiles: cursor === null ? res.value.tiles : [...s.tiles, ...res.value.tiles],
          next: res.value.next,
          total: cursor === null ? res.value.total : s.total,
          loading: false,
          error: undefined,
        }));
      });
    },
    [key],
  );

  const reload = useCallback(() => {
    generation.current++;
    setState({ tiles: [], next: null, total: null, loading: true, error: undefined });
    load(null);
  }, [load]);

  useEffect(reload, [reload]);

  const more = useCallback(() => {
    if (inFlight.current || state.next === null || state.error) return;
    load(state.next);
  }, [load, state.next, state.error]);

  return { ...state, reload, more };
}

/**
 * A thumbnail that says so when there is none yet (made in the background) or none at all.
 * See [Note: A thumbnail that leaves the screen stops loading].
 */
function Thumb({ tile }: { tile: LibraryTile }) {
  const [attempt, setAttempt] = useState(0);
  const [failed, setFailed] = useState(false);
  const img = useRef<HTMLImageElement>(null);
  useEffect(() => {
    const element = img.current;
    return () => {
      // Unmounted (scrolled away) or given a new src: drop the request if it is still open.
      if (element !== null && !element.complete) element.removeAttribute('src');
    };
  }, [failed, attempt]);
  useEffect(() => {
    if (!failed || attempt >= 3) return;
    // Not made yet, most likely: the vault makes previews in the background after an upload.
    const timer = setTimeout(() => {
      setFailed(false);
      setAttempt((a) => a + 1);
    }, 4000);
    return () => clearTimeout(timer);
  }, [failed, attempt]);
  if (failed) {
    return (
      <span className="thumb-none" data-testid="thumb-none">
        {tile.kind === 'video' ? 'Video' : tile.filename.split('.').pop()?.toUpperCase()}
      </span>
    );
  }
  return (
    <img
      ref={img}
      src={`${mediaPath(tile.sha256, 'thumbnail')}${attempt > 0 ? `?try=${attempt}` : ''}`}
      alt=""
      decoding="async"
      draggable={false}
      data-testid="thumb"
      onError={() => setFailed(true)}
    />
  );
}

// [Note: A thumbnail that leaves the screen stops loading]
// The grid unmounts a tile as soon as it scrolls out of view, but Chromium does not cancel an
// <img>'s request when the element leaves the document: it loads on, for nothing. A flick or a
// jump through the timeline mounts thousands of tiles for a few frames each, and their loads
// queue on the browser's six connections to the daemon ahead of the screenful that stays:
// at the end of a scroll through 100,000 assets the visible thumbnails waited behind ~20,000
// stale ones, over a minute on a loaded machine. Dropping the src of an image still loading
// when its tile unmounts cancels the request (the daemon then aborts its fetch from the
// vault), so what is on screen is what loads. A loaded thumbnail keeps its src: the HTTP cache
// has it, and scrolling back shows it at once.

/** Memoised: scrolling re-renders the grid every frame, but a tile only when it changes. */
const Tile = memo(function Tile(props: {
  tile: LibraryTile;
  size: number;
  onOpen: (tile: LibraryTile) => void;
}) {
  const { tile, size, onOpen } = props;
  const problem = tile.problems.length > 0;
  return (
    <button
      type="button"
      className="tile"
      style={{ width: size, height: size }}
      onClick={() => onOpen(tile)}
      data-testid="tile"
      data-sha256={tile.sha256}
      data-badge={tile.badge ?? ''}
      aria-label={`${tile.filename}${tile.badge ? ` (${badgeWords[tile.badge]})` : ''}${problem ? ', has problems' : ''}`}
    >
      <Thumb tile={tile} />
      {tile.badge && <span className="tile-badge">{badgeWords[tile.badge]}</span>}
      {tile.kind === 'video' && tile.durationSec !== null && (
        <span className="tile-duration">{durationLabel(tile.durationSec)}</span>
      )}
      {problem && (
        <span className="tile-problem" title={tile.problems.join(', ')}>
          !
        </span>
      )}
    </button>
  );
});

function Filters(props: { filter: LibraryFilter; onChange: (f: LibraryFilter) => void }) {
  const folders = useCommand('library.folders', {});
  const { filter, onChange } = props;
  const folderValue =
    filter.folder === undefined ? '' : JSON.stringify([filter.device ?? '', filter.folder]);
  const devices = devicesOf(folders.data ?? []);
  const shownFolders = (folders.data ?? []).filter(
    (f) => filter.device === undefined || f.deviceId === filter.device,
  );
  return (
    <div className="toolbar library-filters" role="group" aria-label="Filters">
      <label>
        Type{' '}
        <select
          value={filter.type ?? ''}
          data-testid="filter-type"
          onChange={(e) => {
            const { type: _old, ...rest } = filter;
            const v = e.target.value;
            onChange(
              v === 'photo' || v === 'video' || v === 'raw' || v === 'live'
                ? { ...rest, type: v }
                : rest,
            );
          }}
        >
          <option value="">Everything</option>
          <option value="photo">Photos</option>
          <option value="video">Videos</option>
          <option value="raw">RAW</option>
          <option value="live">Live Photos</option>
        </select>
      </label>
      {devices.length > 1 && (
        <label>
          Device{' '}
          <select
            value={filter.device ?? ''}
            data-testid="filter-device"
            onChange={(e) => {
              // A folder belongs to one device: choosing a device drops the folder.
              const { folder: _f, device: _d, ...rest } = filter;
              onChange(e.target.value === '' ? rest : { ...rest, device: e.target.value });
            }}
          >
            <option value="">All devices</option>
            {devices.map((d) => (
              <option key={d.deviceId} value={d.deviceId}>
                {d.deviceName}
              </option>
            ))}
          </select>
        </label>
      )}
      <label>
        Folder{' '}
        <select
          value={folderValue}
          data-testid="filter-folder"
          onChange={(e) => {
            const { folder: _f, device: _d, ...rest } = filter;
            // "All folders" keeps a device chosen in the Device select (shown: several devices).
            const keep = devices.length > 1 && filter.device !== undefined;
            if (e.target.value === '')
              return onChange(keep ? { ...rest, device: filter.device } : rest);
            const [device, folder] = JSON.parse(e.target.value) as [string, string];
            onChange({ ...rest, device, folder });
          }}
        >
          <option value="">All folders</option>
          {shownFolders.map((f) => (
            <option
              key={`${f.deviceId}/${f.folder}`}
              value={JSON.stringify([f.deviceId, f.folder])}
            >
              {f.folder} on {f.deviceName} ({formatCount(f.assets)})
            </option>
          ))}
        </select>
      </label>
      <label className="check">
        <input
          type="checkbox"
          checked={filter.problems === true}
          data-testid="filter-problems"
          onChange={(e) => {
            const { problems: _p, ...rest } = filter;
            onChange(e.target.checked ? { ...rest, problems: true } : rest);
          }}
        />{' '}
        Has problems
      </label>
    </div>
  );
}

export function LibraryPage() {
  const [filter, setFilter] = useState<LibraryFilter>({});
  const timeline = useTimeline(filter);
  const [open, setOpen] = useState<LibraryTile | null>(null);
  const viewport = useRef<HTMLDivElement>(null);
  const [size, setSize] = useState({ width: 800, height: 600 });
  const [scrollTop, setScrollTop] = useState(0);
  const hasTiles = timeline.tiles.length > 0;

  useLayoutEffect(() => {
    const el = viewport.current;
    if (!el) return;
    const measure = () => setSize({ width: el.clientWidth, height: el.clientHeight });
    measure();
    const observer = new ResizeObserver(measure);
    observer.observe(el);
    return () => observer.disconnect();
  }, [hasTiles]);

  // 3 columns on a phone-sized window, tiles of about 170 px on a wide one.
  const inner = Math.max(0, size.width - 2 * GAP);
  const columns = Math.max(3, Math.floor(inner / 170));
  const tileSize = Math.max(40, Math.floor((inner - (columns - 1) * GAP) / columns));
  const layout = useMemo(
    () => layoutTimeline(timeline.tiles, columns, tileSize + GAP, DAY_HEIGHT),
    [timeline.tiles, columns, tileSize],
  );
  const view = rowsInView(layout.rows, scrollTop, size.height);

  const { more } = timeline;
  useEffect(() => {
    if (timeline.next !== null && scrollTop + size.height + LOAD_AHEAD >= layout.height) more();
  }, [scrollTop, size.height, layout.height, timeline.next, more]);

  useEffect(() => {
    viewport.current?.scrollTo({ top: 0 });
    setScrollTop(0);
  }, [filter]);

  const filtered = Object.keys(filter).length > 0;
  let body;
  if (timeline.tiles.length === 0 && timeline.error) {
    body = <ErrorState error={timeline.error} retry={timeline.reload} />;
  } else if (timeline.tiles.length === 0 && timeline.loading) {
    body = <Loading what="the library" />;
  } else if (timeline.tiles.length === 0) {
    body = (
      <Empty>
        {filtered ? (
          <>
            <p>Nothing on the vault matches these filters.</p>
            <button type="button" onClick={() => setFilter({})}>
              Show everything
            </button>
          </>
        ) : (
          <>
            <p>Nothing on the vault yet.</p>
            <p className="muted">
              Photos and videos appear here once they are backed up. Add a folder on the Folders
              page to start.
            </p>
          </>
        )}
      </Empty>
    );
  } else {
    const rows = [];
    for (let r = view.start; r < view.end; r++) {
      const row = layout.rows[r];
      if (!row) continue;
      if (row.kind === 'day') {
        rows.push(
          <h2
            key={`d${row.top}`}
            className="library-day"
            style={{ transform: `translateY(${row.top}px)`, height: row.height }}
          >
            {dayLabel(row.day)} <span className="muted small">{formatCount(row.count)}</span>
          </h2>,
        );
        continue;
      }
      const cells = [];
      for (let i = row.first; i < row.end; i++) {
        const tile = timeline.tiles[i];
        if (tile) {
          cells.push(<Tile key={tile.sha256} tile={tile} size={tileSize} onOpen={setOpen} />);
        }
      }
      rows.push(
        <div
          key={`r${row.first}`}
          className="library-row"
          role="listitem"
          style={{ transform: `translateY(${row.top}px)`, height: row.height, gap: GAP }}
        >
          {cells}
        </div>,
      );
    }
    body = (
      <div
        ref={viewport}
        className="library-grid"
        role="list"
        aria-label="Photos and videos, newest first"
        data-testid="library-grid"
        data-loaded={timeline.tiles.length}
        onScroll={(e) => setScrollTop(e.currentTarget.scrollTop)}
      >
        <div className="library-spacer" style={{ height: layout.height }}>
          {rows}
        </div>
      </div>
    );
  }

  return (
    <div className="library" data-testid="library">
      <Filters filter={filter} onChange={setFilter} />
      <p
        className="muted small library-count"
        data-testid="library-total"
        data-value={timeline.total ?? ''}
        data-filter={JSON.stringify(filter)}
        data-state={timeline.error ? 'error' : timeline.loading ? 'loading' : 'ready'}
      >
        {timeline.total === null
          ? '\u00a0'
          : `${formatCount(timeline.total)} ${timeline.total === 1 ? 'item' : 'items'}`}
        {timeline.error && timeline.tiles.length > 0 && ` · ${timeline.error.message}`}
      </p>
      {body}
      {open && <LibraryDetail tile={open} onClose={() => setOpen(null)} desktop={isDesktop} />}
    </div>
  );
}
