import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseInstruction, type RunInstruction } from '@kiln/dockerfile';
import { afterAll, describe, expect, it } from 'vitest';
import { mountEnv, prepareMounts } from '../src/stage/run-mounts.js';
import type { StageContext } from '../src/stage/run-stage.js';
import { SshAgents } from '../src/stage/ssh-agents.js';

const dir = mkdtempSync(path.join(tmpdir(), 'kiln-ssh-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const hasOpenssh = (() => {
  try {
    execFileSync('ssh-keygen', [
      '-q',
      '-t',
      'ed25519',
      '-N',
      '',
      '-C',
      'kiln-test',
      '-f',
      path.join(dir, 'key'),
    ]);
    return true;
  } catch {
    return false;
  }
})();

/** Asks an agent for its identities (SSH_AGENTC_REQUEST_IDENTITIES, 11) and returns how many it holds (reply 12). */
function countIdentities(socket: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const c = net.connect(socket);
    let buf = Buffer.alloc(0);
    c.on('error', reject);
    c.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length < 4 || buf.length < 4 + buf.readUInt32BE(0)) return;
      c.end();
      if (buf[4] !== 12) reject(new Error(`agent answered message type ${buf[4]}`));
      else resolve(buf.readUInt32BE(5));
    });
    c.write(Buffer.from([0, 0, 0, 1, 11]));
  });
}

const mounts = (...raw: string[]) =>
  (parseInstruction(`RUN ${raw.map((r) => `--mount=${r}`).join(' ')} true`) as RunInstruction).mounts;
const ctxWith = (ssh?: SshAgents) => ({ workDir: dir, ...(ssh ? { ssh } : {}) }) as unknown as StageContext;

describe('SshAgents', () => {
  it('refuses sources that are neither a socket nor key files, and an empty one without SSH_AUTH_SOCK', async () => {
    mkdirSync(path.join(dir, 'a-dir'), { recursive: true });
    await expect(SshAgents.open({ default: path.join(dir, 'missing') })).rejects.toMatchObject({
      code: 'KILN_SSH_SOURCE',
    });
    await expect(SshAgents.open({ default: path.join(dir, 'a-dir') })).rejects.toThrow(
      /neither an agent socket nor a private key file/,
    );
    const saved = process.env.SSH_AUTH_SOCK;
    delete process.env.SSH_AUTH_SOCK;
    try {
      await expect(SshAgents.open({ default: '' })).rejects.toThrow(/SSH_AUTH_SOCK is not set/);
    } finally {
      if (saved !== undefined) process.env.SSH_AUTH_SOCK = saved;
    }
  });

  it.skipIf(!hasOpenssh)(
    'serves key files through an ssh-agent of its own, and a socket as given, each RUN through its own forward',
    async () => {
      let callerAgent: number | undefined;
      const keys = await SshAgents.open({ default: path.join(dir, 'key') });
      const first = await keys.forward('default', { mode: 0o600, uid: 0, gid: 0 });
      try {
        expect(await countIdentities(first.path)).toBe(1);
        // An agent of the caller's, given as a socket.
        const agentSocket = path.join(dir, 'agent.sock');
        const started = execFileSync('ssh-agent', ['-s', '-a', agentSocket], { encoding: 'utf8' });
        callerAgent = Number(/SSH_AGENT_PID=(\d+)/.exec(started)![1]);
        execFileSync('ssh-add', ['-q', path.join(dir, 'key')], {
          env: { ...process.env, SSH_AUTH_SOCK: agentSocket },
        });
        const sockets = await SshAgents.open({ other: agentSocket });
        const second = await sockets.forward('other', { mode: 0o644, uid: 1000, gid: 100 });
        const st = statSync(second.path);
        expect(st.isSocket()).toBe(true);
        expect(st.mode & 0o777).toBe(0o644);
        if (process.getuid?.() === 0) expect([st.uid, st.gid]).toEqual([1000, 100]);
        expect(await countIdentities(second.path)).toBe(1);
        second.close();
        await sockets.close();
        await new Promise((r) => setTimeout(r, 50));
        expect(() => statSync(second.path)).toThrow();
      } finally {
        first.close();
        await keys.close();
        if (callerAgent) process.kill(callerAgent);
      }
    },
  );

  it.skipIf(!hasOpenssh)('says how to use a key with a passphrase', async () => {
    const locked = path.join(dir, 'locked');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'pass phrase', '-f', locked]);
    // Keys are loaded when the build starts, so the error comes before any instruction runs.
    await expect(SshAgents.open({ default: locked })).rejects.toThrow(/load.*into your own ssh-agent/);
  });
});

describe('RUN --mount=type=ssh', () => {
  it.skipIf(!hasOpenssh)(
    "takes BuildKit's targets, numbering and SSH_AUTH_SOCK; skips an optional id that was not given",
    async () => {
      const ssh = await SshAgents.open({ default: path.join(dir, 'key'), k2: path.join(dir, 'key') });
      try {
        const p = await prepareMounts(
          ctxWith(ssh),
          mounts('type=ssh,id=absent', 'type=ssh', 'type=ssh,id=k2,target=agent.sock,mode=0640,uid=7,gid=8'),
          '/work',
          'RUN x',
        );
        expect(p.mounts.map((m) => [m.type, m.target, m.readonly])).toEqual([
          ['ssh', '/run/buildkit/ssh_agent.1', true],
          ['ssh', '/work/agent.sock', true],
        ]);
        expect(p.targets).toEqual(['run/buildkit/ssh_agent.1', 'work/agent.sock']);
        // The first ssh mount names SSH_AUTH_SOCK, even when it was skipped (BuildKit sets it when planning).
        expect(p.envDefaults).toEqual({ SSH_AUTH_SOCK: '/run/buildkit/ssh_agent.0' });
        expect(statSync(p.mounts[1]!.source!).mode & 0o777).toBe(0o640);
        expect(await countIdentities(p.mounts[0]!.source!)).toBe(1);
        p.release();
      } finally {
        await ssh.close();
      }
    },
  );

  it('fails for a required id that was not given, and for source=', async () => {
    await expect(
      prepareMounts(ctxWith(), mounts('type=ssh,id=deploy,required'), '/', 'RUN x'),
    ).rejects.toMatchObject({ code: 'KILN_SSH_MISSING', message: expect.stringMatching(/"deploy"/) });
    await expect(prepareMounts(ctxWith(), mounts('type=ssh,source=x'), '/', 'RUN x')).rejects.toThrow(
      /ssh does not support source/,
    );
    const none = await prepareMounts(ctxWith(), mounts('type=ssh'), '/', 'RUN x');
    expect(none.mounts).toEqual([]);
  });

  it("gives SSH_AUTH_SOCK only where the RUN's environment lacks it", () => {
    const prepared = { env: { TOKEN: 't' }, envDefaults: { SSH_AUTH_SOCK: '/run/buildkit/ssh_agent.0' } };
    expect(mountEnv(['PATH=/bin'], prepared)).toEqual([
      'PATH=/bin',
      'TOKEN=t',
      'SSH_AUTH_SOCK=/run/buildkit/ssh_agent.0',
    ]);
    expect(mountEnv(['SSH_AUTH_SOCK=/preset'], prepared)).toEqual(['SSH_AUTH_SOCK=/preset', 'TOKEN=t']);
  });
});
