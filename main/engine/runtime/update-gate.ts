// The safe point for installing an update (issue 13 section 4: "an update never interrupts an
// upload mid-file"). Asked for one, the gate holds the upload queue (no new file starts) and
// resolves once no upload is in flight; the desktop's updater (main/app/updater.ts) then
// restarts the app to install. Invariant: while the gate holds, no upload starts; when
// safePoint() resolves, none is in flight, and none starts until release() (the app quits at
// that point, or gives up on the update and releases). Pure: no Electron, no timers of its
// own; it wakes on the queue's own "an upload ended" notice.
//
// [Note: Waiting for the upload in flight]
// A pause would abort the uploads in flight and keep their offsets, so an update could
// restart at once and resume them after. That is safe for the data but not what the issue
// asks, and a large video on a slow line would then send its last chunk twice per update.
// Waiting is bounded by the uploads in flight alone (the queue starts nothing new while held),
// so the wait is at most the time of the slowest upload already under way. A person who
// wants the update now can pause: a pause ends every upload in flight, and the gate sees the
// queue empty at once.

export interface UpdateGateTarget {
  /** No new upload starts while held; those in flight go on to their end. */
  holdUploads(held: boolean): void;
  /** Uploads in flight now. */
  uploadsInFlight(): number;
  /** Calls `listener` whenever an upload ends or progresses; returns the unsubscribe. */
  onUploadsChanged(listener: () => void): () => void;
  /** Says in Activity what the gate is doing (why no new file starts). */
  say(message: string): void;
}

export interface UpdateGate {
  /**
   * Holds the queue and resolves once no upload is in flight (at once when none is). The hold
   * stays until release(). An aborted signal releases the hold and rejects with its reason.
   */
  safePoint(signal?: AbortSignal): Promise<void>;
  /** New uploads may start again (the update was not installed after all). */
  release(): void;
  /** true while new uploads are held for an update. */
  holding(): boolean;
}

export function createUpdateGate(target: UpdateGateTarget): UpdateGate {
  let holding = false;
  const hold = () => {
    if (holding) return;
    holding = true;
    target.holdUploads(true);
  };
  const release = () => {
    if (!holding) return;
    holding = false;
    target.holdUploads(false);
  };

  return {
    safePoint(signal) {
      if (signal?.aborted) return Promise.reject(signal.reason as Error);
      hold();
      const inFlight = target.uploadsInFlight();
      if (inFlight === 0) {
        target.say('An update is ready: no upload is in flight, Keepsake restarts to install it');
        return Promise.resolve();
      }
      target.say(
        `An update is ready: no new upload starts until the ${inFlight === 1 ? 'one' : inFlight} in flight ${inFlight === 1 ? 'finishes' : 'finish'}, then Keepsake restarts to install it`,
      );
      return new Promise<void>((resolve, reject) => {
        const done = () => {
          unsubscribe();
          signal?.removeEventListener('abort', onAbort);
        };
        const onAbort = () => {
          done();
          release();
          reject(signal?.reason as Error);
        };
        const unsubscribe = target.onUploadsChanged(() => {
          if (target.uploadsInFlight() !== 0) return;
          done();
          target.say('The uploads in flight finished: Keepsake restarts to install the update');
          resolve();
        });
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    },
    release,
    holding: () => holding,
  };
}
