/**
 * Counts the physical copies of a chunk by looking at the local S3 emulators' directories, which
 * is what the durability window is measured on: a copy exists when the replica stored the object,
 * whatever the catalog believes.
 *
 * s3rver keeps object `K` of bucket `B` as `<dir>/B/<K>._S3rver_object` and writes
 * `<K>._S3rver_metadata.json` after the bytes, so the metadata file marks a complete copy.
 * EchoFS keys chunks as `chunks/<owner>/<sha256>`; the benchmark learns the directory of its own
 * owner on each replica from the first chunk it finds there, then checks single paths.
 */
import { readdir, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';

const SUFFIX = '._S3rver_metadata.json';

export class ReplicaFiles {
  /** region -> directory holding this owner's chunks (learned lazily). */
  private readonly dirs = new Map<string, string>();

  /** `roots`: region -> the emulator's data directory for that region. */
  constructor(private readonly roots: Record<string, string>) {}

  get regions(): string[] {
    return Object.keys(this.roots);
  }

  /** Find where `hash` lives on each replica that has it, and remember the directory. */
  async learn(hash: string): Promise<number> {
    let found = 0;
    for (const [region, root] of Object.entries(this.roots)) {
      if (this.dirs.has(region)) {
        if (await exists(join(this.dirs.get(region) as string, hash + SUFFIX))) found++;
        continue;
      }
      let entries: string[];
      try {
        entries = await readdir(root, { recursive: true });
      } catch {
        continue;
      }
      const hit = entries.find((e) => e.endsWith(`/${hash}${SUFFIX}`) || e === hash + SUFFIX);
      if (hit) {
        this.dirs.set(region, dirname(join(root, hit)));
        found++;
      }
    }
    return found;
  }

  /** True once every replica's directory is known. */
  ready(): boolean {
    return this.dirs.size === Object.keys(this.roots).length;
  }

  /** How many replicas hold a complete copy of `hash` (only replicas whose directory is known). */
  async copies(hash: string): Promise<number> {
    const checks = [...this.dirs.values()].map((d) => exists(join(d, hash + SUFFIX)));
    return (await Promise.all(checks)).filter(Boolean).length;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
