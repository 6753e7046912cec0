import { pack } from 'tar-stream';

/** One member of a hand-made archive (tar-stream header fields plus optional content). */
export interface CraftedMember {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'fifo' | 'character-device';
  content?: string;
  mode?: number;
  linkname?: string;
  uid?: number;
  gid?: number;
  mtime?: Date;
}

/** craftTar builds an uncompressed archive exactly as listed: for malformed and hostile inputs. */
export async function craftTar(members: CraftedMember[]): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (c: unknown) => chunks.push(c as Buffer));
  const done = new Promise<void>((r) => p.on('end', () => r()));
  for (const m of members) {
    const { content, ...header } = m;
    const h = { type: 'file' as const, mode: 0o644, mtime: new Date(0), ...header };
    await new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null) => (err ? reject(err) : resolve());
      if (h.type === 'file') p.entry(h, content ?? '', cb);
      else p.entry(h, cb);
    });
  }
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}
