// The window: a navigation rail and one page at a time, chosen by the URL hash (#/queue) so a
// page can be linked, reloaded and opened directly by tests. The engine status is fetched once
// here and shared with every page through StatusContext.
import { useEffect, useState } from 'react';
import { DeviceBanners } from './device-banner';
import { useStatus } from './hooks';
import { ActivityPage } from './pages/activity';
import { FoldersPage } from './pages/folders';
import { LibraryPage } from './pages/library';
import { OverviewPage } from './pages/overview';
import { QueuePage } from './pages/queue';
import { RestorePage } from './pages/restore';
import { SettingsPage } from './pages/settings';
import { SimilarPage } from './pages/similar';
import { StoragePage } from './pages/storage';
import { StatusContext, statusWords } from './ui';

const pages = [
  { id: 'overview', title: 'Overview', Page: OverviewPage },
  { id: 'library', title: 'Library', Page: LibraryPage },
  { id: 'queue', title: 'Queue', Page: QueuePage },
  { id: 'storage', title: 'Storage', Page: StoragePage },
  { id: 'similar', title: 'Similar photos', Page: SimilarPage },
  { id: 'restore', title: 'Restore', Page: RestorePage },
  { id: 'folders', title: 'Folders', Page: FoldersPage },
  { id: 'settings', title: 'Settings', Page: SettingsPage },
  { id: 'activity', title: 'Activity', Page: ActivityPage },
] as const;
type PageId = (typeof pages)[number]['id'];

function pageFromHash(): PageId {
  const id = window.location.hash.replace(/^#\/?/, '');
  return pages.find((p) => p.id === id)?.id ?? 'overview';
}

export function App() {
  const [page, setPage] = useState<PageId>(pageFromHash);
  const status = useStatus();

  useEffect(() => {
    const onHash = () => setPage(pageFromHash());
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);

  const current = pages.find((p) => p.id === page) ?? pages[0];
  useEffect(() => {
    const words = status.data ? statusWords[status.data.status] : '';
    document.title = words
      ? `Keepsake · ${current.title} · ${words}`
      : `Keepsake · ${current.title}`;
  }, [current.title, status.data]);

  return (
    <StatusContext.Provider value={status}>
      <div className="shell">
        <nav className="rail" aria-label="Pages">
          <div className="brand">Keepsake</div>
          <ul>
            {pages.map((p) => (
              <li key={p.id}>
                <a
                  href={`#/${p.id}`}
                  aria-current={p.id === page ? 'page' : undefined}
                  data-testid={`nav-${p.id}`}
                >
                  {p.title}
                  {p.id === 'queue' && status.data && status.data.counts.failed > 0 && (
                    <span
                      className="pill pill-bad"
                      aria-label={`${status.data.counts.failed} failed`}
                    >
                      {status.data.counts.failed}
                    </span>
                  )}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <main className="page" aria-labelledby="page-title" data-page={current.id}>
          <h1 id="page-title">{current.title}</h1>
          <DeviceBanners />
          <current.Page />
        </main>
      </div>
    </StatusContext.Provider>
  );
}
