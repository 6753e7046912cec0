import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A fault-injecting reverse proxy for HTTP registries. Each rule matches method + path and fires
 * `times` times (default once); unmatched requests are forwarded unchanged. Faults:
 * - `status`: answer with that status (and `Retry-After` when given) without forwarding;
 * - `drop-response`: forward, send the headers and about half the body, then destroy the socket;
 * - `drop-request`: read about half the request body, then destroy the socket (nothing forwarded);
 * - `cut-request`: forward the headers and about half the body to the registry, then cut both
 *   connections (the registry keeps a partial upload, as after a real network failure);
 * - `stall`: accept the request and never answer (the client's stall timeout must fire).
 */
export type Fault =
  | { kind: 'status'; status: number; retryAfter?: string }
  | { kind: 'drop-response' }
  | { kind: 'drop-request' }
  | { kind: 'cut-request' }
  | { kind: 'stall' };

export interface FaultRule {
  method?: string;
  path: RegExp;
  fault: Fault;
  /** How many times to fire; Infinity for a persistent fault. Default 1. */
  times?: number;
  /** Let this many matching requests through before firing. Default 0. */
  skip?: number;
}

export interface FaultProxy {
  host: string;
  /** Adds a rule (rules are tried in order). */
  add(rule: FaultRule): void;
  /** Removes every rule and forgets what was seen. */
  clear(): void;
  /** How many times faults fired, and every request seen (method + path). */
  fired: { method: string; path: string; fault: Fault['kind'] }[];
  seen: { method: string; path: string; range?: string }[];
  close(): Promise<void>;
}

/** startFaultProxy: a proxy on 127.0.0.1 in front of `target` (`host:port`, plain HTTP). */
export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const rules: (FaultRule & { left: number; skipLeft: number })[] = [];
  const fired: FaultProxy['fired'] = [];
  const seen: FaultProxy['seen'] = [];
  const [thost, tport] = target.split(':') as [string, string];
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = req.url ?? '/';
    seen.push({
      method: req.method ?? 'GET',
      path,
      ...(req.headers.range ? { range: req.headers.range } : {}),
    });
    let rule = rules.find((r) => r.left > 0 && (!r.method || r.method === req.method) && r.path.test(path));
    if (rule && rule.skipLeft > 0) {
      rule.skipLeft--;
      rule = undefined;
    }
    if (rule) {
      rule.left--;
      fired.push({ method: req.method ?? 'GET', path, fault: rule.fault.kind });
      const f = rule.fault;
      if (f.kind === 'status') {
        req.resume();
        const body = JSON.stringify({ errors: [{ code: 'UNAVAILABLE', message: `injected ${f.status}` }] });
        res.writeHead(f.status, {
          'content-type': 'application/json',
          ...(f.retryAfter ? { 'retry-after': f.retryAfter } : {}),
        });
        res.end(body);
        return;
      }
      if (f.kind === 'stall') {
        req.resume();
        return;
      }
      if (f.kind === 'drop-request') {
        const half = Number(req.headers['content-length'] ?? 0) / 2;
        let got = 0;
        req.on('data', (c: Buffer) => {
          got += c.length;
          if (got >= half) req.socket.destroy();
        });
        req.on('end', () => req.socket.destroy());
        return;
      }
    }
    // The Host header is passed unchanged so the registry's Location URLs point back at the proxy.
    const up = httpRequest(
      { host: thost, port: Number(tport), method: req.method, path, headers: req.headers },
      (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        if (rule?.fault.kind === 'drop-response') {
          const half = Number(upRes.headers['content-length'] ?? 0) / 2;
          let sent = 0;
          upRes.on('data', (c: Buffer) => {
            if (sent + c.length >= half) {
              res.write(c.subarray(0, Math.max(0, Math.floor(half - sent))));
              upRes.destroy();
              setTimeout(() => res.socket?.destroy(), 20);
              return;
            }
            sent += c.length;
            res.write(c);
          });
          return;
        }
        upRes.pipe(res);
      },
    );
    up.on('error', () => res.socket?.destroy());
    if (rule?.fault.kind === 'cut-request') {
      const half = Number(req.headers['content-length'] ?? 0) / 2;
      let sent = 0;
      req.on('data', (c: Buffer) => {
        if (sent >= half) return;
        const take = c.subarray(0, Math.max(0, Math.ceil(half - sent)));
        up.write(take);
        sent += take.length;
        if (sent >= half) {
          // Give the registry a moment to write what it got, then fail both sides.
          setTimeout(() => {
            up.destroy();
            req.socket.destroy();
          }, 50);
        }
      });
      return;
    }
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    add: (rule) => rules.push({ ...rule, left: rule.times ?? 1, skipLeft: rule.skip ?? 0 }),
    clear: () => {
      rules.length = 0;
      fired.length = 0;
      seen.length = 0;
    },
    fired,
    seen,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
