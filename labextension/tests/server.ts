/**
 * A real HTTP server on 127.0.0.1 standing in for the Jupyter server: the code under test
 * talks to it through `ServerConnection` exactly as it talks to Jupyter (fetch, base URL).
 */
import { AddressInfo } from 'net';
import { createServer, IncomingMessage, Server, ServerResponse } from 'http';

import { PageConfig } from '@jupyterlab/coreutils';

export interface IRequestSeen {
  method: string;
  /** path below /nbtrack/api/, without the query */
  route: string;
  query: Record<string, string>;
  headers: IncomingMessage['headers'];
  body: string;
}

/** What a handler answers: a JSON value (status 200), or the status and raw body. */
export type Answer = unknown | { status: number; body: string; type?: string };

export type Handler = (req: IRequestSeen) => Answer | Promise<Answer>;

export function raw(status: number, body: string, type = 'text/plain'): Answer {
  return { status, body, type, __raw: true };
}

export function json(status: number, value: unknown): Answer {
  return raw(status, JSON.stringify(value), 'application/json');
}

export class ApiServer {
  readonly seen: IRequestSeen[] = [];
  /** route ("runs", "runs/abc/source"...) -> handler; unknown routes answer a plain 404. */
  routes: Record<string, Handler> = {};

  async start(): Promise<void> {
    this._server = createServer((req, res) => void this._handle(req, res));
    await new Promise<void>(resolve => this._server!.listen(0, '127.0.0.1', resolve));
    const { port } = this._server.address() as AddressInfo;
    this.baseUrl = `http://127.0.0.1:${port}/`;
    PageConfig.setOption('baseUrl', this.baseUrl);
    PageConfig.setOption('token', 'secret-token');
  }

  async stop(): Promise<void> {
    await new Promise<void>(resolve => this._server?.close(() => resolve()));
  }

  baseUrl = '';

  private async _handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) {
      chunks.push(chunk as Buffer);
    }
    const url = new URL(req.url ?? '/', this.baseUrl);
    const seen: IRequestSeen = {
      method: req.method ?? 'GET',
      route: decodeURI(url.pathname.replace(/^\/nbtrack\/api\//, '')),
      // without ServerConnection's cache buster (`?<timestamp>` on GETs)
      query: Object.fromEntries(
        [...url.searchParams.entries()].filter(([k, v]) => !/^\d+$/.test(k) || v)
      ),
      headers: req.headers,
      body: Buffer.concat(chunks).toString()
    };
    this.seen.push(seen);
    const handler = url.pathname.startsWith('/nbtrack/api/')
      ? this.routes[url.pathname.slice('/nbtrack/api/'.length)]
      : undefined;
    let answer: Answer = raw(404, 'Not Found');
    if (handler) {
      answer = await handler(seen);
    }
    const a = answer as { status?: number; body?: string; type?: string; __raw?: boolean };
    if (a && typeof a === 'object' && a.__raw) {
      res.writeHead(a.status!, { 'Content-Type': a.type! });
      res.end(a.body);
    } else {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(answer));
    }
  }

  private _server: Server | undefined;
}
