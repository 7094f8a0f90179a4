import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { Sha256 } from '../../web/src/sha256.js';

const nodeHex = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('incremental SHA-256', () => {
  it('matches the FIPS test vectors for "", "abc" and the 448-bit message', () => {
    const enc = new TextEncoder();
    expect(new Sha256().hex()).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(new Sha256().update(enc.encode('abc')).hex()).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(new Sha256().update(enc.encode('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq')).hex()).toBe(
      '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
    );
  });

  it('gives the same digest as node:crypto for any data split into any pieces', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 700 }), fc.array(fc.nat(700), { maxLength: 6 }), (data, cuts) => {
        const h = new Sha256();
        const points = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b);
        let prev = 0;
        for (const p of [...points, data.length]) {
          h.update(data.subarray(prev, p));
          prev = p;
        }
        expect(h.hex()).toBe(nodeHex(data));
      }),
      { numRuns: 300 },
    );
  });

  it('hashes a multi-megabyte buffer fed in 1 MiB pieces like node:crypto', () => {
    const data = new Uint8Array(3 * 1024 * 1024 + 17).map((_, i) => (i * 31 + (i >> 9)) & 0xff);
    const h = new Sha256();
    for (let o = 0; o < data.length; o += 1024 * 1024) h.update(data.subarray(o, o + 1024 * 1024));
    expect(h.hex()).toBe(nodeHex(data));
  });

  it('refuses to be used after the digest is taken', () => {
    const h = new Sha256();
    h.hex();
    expect(() => h.update(new Uint8Array(1))).toThrow(/after digest/);
  });
});
