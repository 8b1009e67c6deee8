// The Storage page's Similar photos section (issue 15 section 1): how much following every
// suggestion of the review would reclaim on the vault, with a link to the review itself.
import { countOf, formatBytes } from './format';
import { useCommand } from './hooks';

export function SimilarStorageSection() {
  const similar = useCommand('similar.list', { limit: 1 });
  const page = similar.data;
  return (
    <section data-testid="storage-similar">
      <h2>Similar photos</h2>
      {page === undefined ? (
        <p className="muted">
          {similar.error ? `Could not compare photos: ${similar.error.message}` : 'Comparing…'}
        </p>
      ) : page.totalGroups === 0 ? (
        <p className="muted">No bursts or near-copies found on the vault.</p>
      ) : (
        <p data-testid="storage-reclaimable" data-bytes={page.totalReclaimableBytes}>
          {countOf(page.totalGroups, 'group', 'groups')} of bursts and near-copies:{' '}
          <strong>{formatBytes(page.totalReclaimableBytes)}</strong> could be reclaimed.{' '}
          <a href="#/similar" data-testid="storage-similar-review">
            Review similar photos
          </a>
        </p>
      )}
    </section>
  );
}
