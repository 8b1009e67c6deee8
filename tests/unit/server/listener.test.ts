// Which addresses keep the token and photos on this machine (server/listener.ts): only
// loopback listens without the clear-text warning.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isLoopbackAddress } from '../../../server/listener.js';

describe('loopback addresses', () => {
  it('127.0.0.0/8, ::1 and IPv4-mapped 127.x are loopback', () => {
    for (const a of ['127.0.0.1', '127.1.2.3', '::1', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1'])
      assert.equal(isLoopbackAddress(a), true, a);
  });
  it('any address, LAN addresses and public ones are not', () => {
    for (const a of ['0.0.0.0', '::', '192.168.1.10', '10.0.0.1', '::ffff:192.168.1.1', 'fe80::1'])
      assert.equal(isLoopbackAddress(a), false, a);
  });
});
