import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TestHarnessError } from '../lib/exec.js';

/**
 * debianMirror: the URI apt uses for `suite` (e.g. `bookworm`), read from
 * `/etc/apt/sources.list` and `/etc/apt/sources.list.d/*.list` (one-line format) and
 * `/etc/apt/sources.list.d/*.sources` (deb822). `KILN_DEBIAN_MIRROR` overrides it.
 * Only `deb` entries count (not `deb-src`), disabled deb822 stanzas are skipped.
 * Throws `KILN_TEST_NO_MIRROR` when no entry names the suite.
 * @public
 */
export async function debianMirror(suite: string, aptDir = '/etc/apt'): Promise<string> {
  const override = process.env.KILN_DEBIAN_MIRROR;
  if (override) return override;
  const files = [join(aptDir, 'sources.list')];
  const d = join(aptDir, 'sources.list.d');
  const names = await readdir(d).catch(() => [] as string[]);
  for (const n of names.sort()) if (n.endsWith('.list') || n.endsWith('.sources')) files.push(join(d, n));
  for (const f of files) {
    const text = await readFile(f, 'utf8').catch(() => undefined);
    if (text === undefined) continue;
    const uri = f.endsWith('.sources') ? fromDeb822(text, suite) : fromOneLine(text, suite);
    if (uri) return uri;
  }
  throw new TestHarnessError(
    'KILN_TEST_NO_MIRROR',
    `no 'deb' source for suite ${suite} in ${aptDir}/sources.list*; set KILN_DEBIAN_MIRROR`,
  );
}

/** One-line format: `deb [opt=val ...] URI SUITE COMPONENT...`. */
export function fromOneLine(text: string, suite: string): string | undefined {
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    const withoutOptions = line.replace(/\[[^\]]*\]/, ' ');
    const words = withoutOptions.split(/\s+/);
    if (words[0] === 'deb' && words[2] === suite && words[1]) return words[1];
  }
  return undefined;
}

/** deb822 format: blank-line separated stanzas of `Key: value` fields (RFC822-like). */
export function fromDeb822(text: string, suite: string): string | undefined {
  for (const stanza of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    let key: string | undefined;
    for (const line of stanza.split('\n')) {
      if (line.startsWith('#')) continue;
      if (/^\s/.test(line) && key) {
        fields.set(key, `${fields.get(key)} ${line.trim()}`); // continuation line
        continue;
      }
      const m = /^([\w-]+):\s*(.*)$/.exec(line);
      if (m) fields.set((key = m[1]!.toLowerCase()), m[2]!.trim());
    }
    if ((fields.get('enabled') ?? 'yes').toLowerCase() === 'no') continue;
    if (!(fields.get('types') ?? '').split(/\s+/).includes('deb')) continue;
    if (!(fields.get('suites') ?? '').split(/\s+/).includes(suite)) continue;
    const uri = (fields.get('uris') ?? '').split(/\s+/)[0];
    if (uri) return uri;
  }
  return undefined;
}
