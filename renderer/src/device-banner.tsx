// The Import banner (issue 12 section 4): a card or camera that mounted as a disk, offered for
// import ("EOS_DIGITAL: 312 new photos, 4.1 GiB"), then its progress and whether it is safe to
// erase. Nothing is imported until the person presses Import; "Always import this card" is
// remembered by the engine for that volume. Kept current by the `devices.changed` event.
import { useState } from 'react';
import type { DeviceOffer } from '../../common/contract';
import { countOf, formatBytes, formatCount } from './format';
import { useAction, useCommand, useEvent } from './hooks';
import { InlineError } from './ui';

export function DeviceBanners() {
  const query = useCommand('devices.list', {});
  const [live, setLive] = useState<DeviceOffer[]>();
  useEvent('devices.changed', setLive);
  const offers = (live ?? query.data ?? []).filter((o) => o.state !== 'dismissed');
  if (offers.length === 0) return null;
  return (
    <section aria-label="Cards and cameras" className="device-banners">
      {offers.map((offer) => (
        <DeviceBanner key={offer.id} offer={offer} />
      ))}
    </section>
  );
}

function headline(offer: DeviceOffer): string {
  if (offer.state === 'offered') {
    return `${offer.label}: ${countOf(offer.newFiles, 'new photo', 'new photos')}, ${formatBytes(offer.newBytes)}`;
  }
  if (offer.state === 'importing') return `${offer.label}: importing`;
  if (offer.state === 'done' && offer.result) {
    return `${offer.label}: ${countOf(offer.result.imported, 'photo', 'photos')} imported, ${formatCount(offer.result.alreadyOnVault)} already on the vault`;
  }
  return offer.label;
}

function DeviceBanner({ offer }: { offer: DeviceOffer }) {
  const [always, setAlways] = useState(offer.alwaysImport);
  const action = useAction();
  const tone =
    offer.state === 'failed' || (offer.state === 'done' && offer.result?.safeToErase === false)
      ? 'needs_attention'
      : offer.state === 'done'
        ? 'up_to_date'
        : 'backing_up';
  return (
    <div
      className={`status-banner device-banner tone-${tone}`}
      role="status"
      data-testid="device-banner"
      data-state={offer.state}
    >
      <span className="dot" aria-hidden="true" />
      <div>
        <p className="status-words">{headline(offer)}</p>
        <p className="status-detail">
          {offer.state === 'offered'
            ? `Copy them into ${offer.into}, by date, and back them up. Nothing on the card is changed.`
            : offer.message}
          {offer.state === 'done' && offer.result?.safeToErase && !offer.canEject
            ? ' Eject it from the file manager before taking it out.'
            : ''}
        </p>
        {offer.state === 'offered' && (
          <label className="device-always">
            <input type="checkbox" checked={always} onChange={(e) => setAlways(e.target.checked)} />{' '}
            Always import this card
          </label>
        )}
        <InlineError error={action.error} />
      </div>
      {offer.state === 'offered' && (
        <>
          <button
            className="primary"
            disabled={action.busy}
            onClick={() => void action.run('devices.import', { id: offer.id, always })}
          >
            Import
          </button>
          <button
            disabled={action.busy}
            onClick={() => void action.run('devices.dismiss', { id: offer.id })}
          >
            Not now
          </button>
        </>
      )}
      {offer.state !== 'importing' && offer.canEject && (
        <button
          disabled={action.busy}
          onClick={() => void action.run('devices.eject', { id: offer.id })}
        >
          Eject
        </button>
      )}
      {offer.state === 'failed' && (
        <button
          disabled={action.busy}
          onClick={() => void action.run('devices.import', { id: offer.id })}
        >
          Try again
        </button>
      )}
    </div>
  );
}
