import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { randomBytes } from 'node:crypto';
import { CHUNK_SIZE, CorruptChunk, chunkBuffer, chunkStream, decodeChunk, encodeChunk, sha256Hex, worthCompressing } from '#shared/storage/codec.js';

async function collect(it: AsyncIterable<Buffer>): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const c of it) out.push(Buffer.from(c));
  return out;
}

async function* fromPieces(pieces: Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const p of pieces) yield p;
}

describe('chunk codec', () => {
  it('round-trips any chunk (property): decode(encode(x)) === x and the hash is sha256(x)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.uint8Array({ maxLength: 5000 }), fc.string({ maxLength: 3000 }).map((s) => new TextEncoder().encode(s.repeat(3)))), async (arr) => {
        const plain = Buffer.from(arr);
        const enc = await encodeChunk(plain);
        expect(enc.hash).toBe(sha256Hex(plain));
        expect(enc.size).toBe(plain.length);
        const dec = await decodeChunk(enc.stored, enc.hash);
        expect(dec.equals(plain)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('compresses a compressible chunk and stores random bytes raw (only when it saves space)', async () => {
    const text = Buffer.from('EchoFS keeps every chunk verified. '.repeat(30000)).subarray(0, CHUNK_SIZE);
    const t = await encodeChunk(text);
    expect(t.compressed).toBe(true);
    expect(t.stored.length).toBeLessThan(text.length / 5);
    expect((await decodeChunk(t.stored, t.hash)).equals(text)).toBe(true);

    const rnd = randomBytes(CHUNK_SIZE);
    const r = await encodeChunk(rnd);
    expect(r.compressed).toBe(false);
    expect(r.stored.length).toBe(CHUNK_SIZE + 1);
    expect((await decodeChunk(r.stored, r.hash)).equals(rnd)).toBe(true);
  });

  it('skips the full compression attempt for incompressible chunks of any size, judged on a sample', async () => {
    // Small and large random chunks: the sample does not shrink, no attempt (stored raw).
    for (const size of [16 * 1024, 64 * 1024, 256 * 1024, CHUNK_SIZE]) expect(await worthCompressing(randomBytes(size)), `${size} random bytes`).toBe(false);
    // Compressible chunks of the same sizes are tried.
    for (const size of [16 * 1024, 64 * 1024, 256 * 1024, CHUNK_SIZE]) expect(await worthCompressing(Buffer.alloc(size, 'EchoFS keeps every chunk verified. ')), `${size} bytes of text`).toBe(true);
    // Tiny chunks are always tried whole (the attempt is as cheap as a sample).
    expect(await worthCompressing(randomBytes(4096))).toBe(true);
    // What a skipped chunk becomes: raw, and still round-trips.
    const rnd = randomBytes(16 * 1024);
    const r = await encodeChunk(rnd);
    expect(r.compressed).toBe(false);
    expect((await decodeChunk(r.stored, r.hash)).equals(rnd)).toBe(true);
  });

  it('rejects a chunk larger than 1 MiB', async () => {
    await expect(encodeChunk(Buffer.alloc(CHUNK_SIZE + 1))).rejects.toThrow(RangeError);
  });

  it('detects corruption: a flipped bit, truncation, a bad header, an empty object', async () => {
    const plain = Buffer.from('abc'.repeat(1000));
    const enc = await encodeChunk(plain);
    const flipped = Buffer.from(enc.stored);
    flipped[flipped.length - 1] = (flipped[flipped.length - 1] ?? 0) ^ 1;
    for (const bad of [flipped, enc.stored.subarray(0, enc.stored.length - 3), Buffer.concat([Buffer.of(9), plain]), Buffer.alloc(0)]) {
      await expect(decodeChunk(bad, enc.hash)).rejects.toBeInstanceOf(CorruptChunk);
    }
    const rawEnc = await encodeChunk(randomBytes(100));
    const rawBad = Buffer.from(rawEnc.stored);
    rawBad[5] = (rawBad[5] ?? 0) ^ 0xff;
    await expect(decodeChunk(rawBad, rawEnc.hash)).rejects.toBeInstanceOf(CorruptChunk);
  });
});

describe('streaming chunker', () => {
  it('re-cuts any split of any input into full chunks plus one short tail (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 400 }), fc.array(fc.nat(50), { maxLength: 30 }), fc.integer({ min: 1, max: 64 }), async (data, cuts, size) => {
        const pieces: Uint8Array[] = [];
        let off = 0;
        for (const c of cuts) {
          if (off >= data.length) break;
          pieces.push(data.subarray(off, off + c));
          off += c;
        }
        if (off < data.length) pieces.push(data.subarray(off));
        const chunks = await collect(chunkStream(fromPieces(pieces), size));
        expect(Buffer.concat(chunks).equals(Buffer.from(data))).toBe(true);
        chunks.forEach((c, i) => {
          if (i < chunks.length - 1) expect(c.length).toBe(size);
          else expect(c.length).toBeGreaterThan(0);
          expect(c.length).toBeLessThanOrEqual(size);
        });
        expect(chunks.length).toBe(Math.ceil(data.length / size));
        expect(chunkBuffer(Buffer.from(data), size).map((b) => b.toString('hex'))).toEqual(chunks.map((b) => b.toString('hex')));
      }),
      { numRuns: 300 },
    );
  });

  it('cuts at exact 1 MiB boundaries: 0, 1, 1 MiB-1, 1 MiB, 1 MiB+1 bytes', async () => {
    const cases: [number, number[]][] = [
      [0, []],
      [1, [1]],
      [CHUNK_SIZE - 1, [CHUNK_SIZE - 1]],
      [CHUNK_SIZE, [CHUNK_SIZE]],
      [CHUNK_SIZE + 1, [CHUNK_SIZE, 1]],
    ];
    for (const [n, sizes] of cases) {
      const data = randomBytes(n);
      const chunks = await collect(chunkStream(fromPieces([data.subarray(0, 7), data.subarray(7)])));
      expect(chunks.map((c) => c.length)).toEqual(sizes);
      expect(Buffer.concat(chunks).equals(data)).toBe(true);
    }
  });
});
