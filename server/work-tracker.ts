// Counts store work in flight (PATCH bodies being written, finished uploads being verified
// and committed), so the vault closes its index only after that work is done. Requests are
// not a good proxy for it: a request whose client vanished may be answered (or abandoned)
// while its bytes are still being written.

export class WorkTracker {
  private active = 0;
  private waiters: (() => void)[] = [];

  async run<T>(work: () => Promise<T>): Promise<T> {
    this.active += 1;
    try {
      return await work();
    } finally {
      this.active -= 1;
      if (this.active === 0) for (const w of this.waiters.splice(0)) w();
    }
  }

  /** Resolves when no work is in flight. */
  idle(): Promise<void> {
    if (this.active === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}
