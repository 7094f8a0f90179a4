import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { CHUNK_SIZE, hashBlob, pendingChunks, planChunks } from '../../web/src/chunking.js';

const MiB = 1024 * 1024;

describe('planChunks', () => {
  it('cuts 0, 1, 1 MiB−1, 1 MiB, 1 MiB+1 bytes at 1 MiB boundaries', () => {
    expect(planChunks(0)).toEqual([]);
    expect(planChunks(1)).toEqual([{ index: 0, offset: 0, size: 1 }]);
    expect(planChunks(MiB - 1)).toEqual([{ index: 0, offset: 0, size: MiB - 1 }]);
    expect(planChunks(MiB)).toEqual([{ index: 0, offset: 0, size: MiB }]);
    expect(planChunks(MiB + 1)).toEqual([
      { index: 0, offset: 0, size: MiB },
      { index: 1, offset: MiB, size: 1 },
    ]);
    expect(CHUNK_SIZE).toBe(MiB);
  });

  it('covers every byte exactly once, in order, with no chunk above the limit', () => {
    fc.assert(
      fc.property(fc.nat(50 * MiB), fc.integer({ min: 1, max: 4 * MiB }), (size, chunkRaw) => {
        // Keep the plan to at most ~2000 chunks so the property stays cheap.
        const chunk = Math.max(chunkRaw, Math.ceil(size / 2000));
        const plan = planChunks(size, chunk);
        let pos = 0;
        plan.forEach((c, i) => {
          expect(c.index).toBe(i);
          expect(c.offset).toBe(pos);
          expect(c.size).toBeGreaterThan(0);
          expect(c.size).toBeLessThanOrEqual(chunk);
          pos += c.size;
        });
        expect(pos).toBe(size);
      }),
      { numRuns: 40 },
    );
  });

  it('rejects negative or fractional sizes', () => {
    expect(() => planChunks(-1)).toThrow(RangeError);
    expect(() => planChunks(1.5)).toThrow(RangeError);
    expect(() => planChunks(10, 0)).toThrow(RangeError);
  });
});

describe('hashBlob', () => {
  it('hashes each chunk and the whole file like node:crypto and reports progress up to the size', async () => {
    const data = new Uint8Array(2 * MiB + 1234).map((_, i) => (i * 7) & 0xff);
    const progress: number[] = [];
    const h = await hashBlob(new Blob([data]), { onProgress: (b) => progress.push(b) });
    expect(h.size).toBe(data.length);
    expect(h.sha256).toBe(createHash('sha256').update(data).digest('hex'));
    expect(h.chunks.map((c) => c.size)).toEqual([MiB, MiB, 1234]);
    for (const c of h.chunks) {
      expect(c.hash).toBe(createHash('sha256').update(data.subarray(c.offset, c.offset + c.size)).digest('hex'));
    }
    expect(progress).toEqual([MiB, 2 * MiB, data.length]);
  });

  it('stops when aborted', async () => {
    const ctl = new AbortController();
    ctl.abort(new DOMException('stop', 'AbortError'));
    await expect(hashBlob(new Blob([new Uint8Array(10)]), { signal: ctl.signal })).rejects.toMatchObject({ name: 'AbortError' });
  });
});

describe('pendingChunks', () => {
  it('returns each missing hash once, in file order, even when the file repeats a chunk', () => {
    const chunks = [
      { index: 0, offset: 0, size: 4, hash: 'a' },
      { index: 1, offset: 4, size: 4, hash: 'b' },
      { index: 2, offset: 8, size: 4, hash: 'a' },
      { index: 3, offset: 12, size: 2, hash: 'c' },
    ];
    expect(pendingChunks(chunks, ['c', 'a']).map((c) => c.index)).toEqual([0, 3]);
    expect(pendingChunks(chunks, [])).toEqual([]);
  });
});
