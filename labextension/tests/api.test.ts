import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { ApiError, apiGet, apiPost, requestAPI, routeUrl } from '../src/api';
import { ApiServer, json, raw } from './server';
import { PageConfig } from '@jupyterlab/coreutils';

const server = new ApiServer();

beforeAll(() => server.start());
afterAll(() => server.stop());
beforeEach(() => {
  server.routes = {};
  server.seen.length = 0;
  PageConfig.setOption('baseUrl', server.baseUrl);
});

async function failure(p: Promise<unknown>): Promise<ApiError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(ApiError);
    return e as ApiError;
  }
  throw new Error('the call did not fail');
}

describe('requestAPI', () => {
  it('returns the JSON of a successful answer and sends the token', async () => {
    server.routes['info'] = () => ({ version: '1.2.3', workspace: '/w' });
    expect(await requestAPI('info')).toEqual({ version: '1.2.3', workspace: '/w' });
    expect(server.seen[0].method).toBe('GET');
    expect(server.seen[0].headers.authorization).toBe('token secret-token');
  });

  it('leaves out empty query values and encodes the others', async () => {
    server.routes['runs'] = () => ({});
    await requestAPI('runs', {
      query: { notebook: 'a b/c&d.ipynb', cell: null, filter: undefined, order_by: '', offset: 0 }
    });
    expect(server.seen[0].query).toEqual({ notebook: 'a b/c&d.ipynb', offset: '0' });
  });

  it('posts a JSON body', async () => {
    server.routes['approvals'] = req => json(201, { got: JSON.parse(req.body) });
    const r = await requestAPI('approvals', { method: 'POST', body: { notebook: 'nb.ipynb' } });
    expect(r).toEqual({ got: { notebook: 'nb.ipynb' } });
    expect(server.seen[0].method).toBe('POST');
    expect(server.seen[0].headers['content-type']).toBe('application/json');
  });

  it('reads a blob when asked', async () => {
    server.routes['artifacts/r1/fig.png'] = () => raw(200, 'PNGDATA', 'image/png');
    const blob = await requestAPI<Blob>('artifacts/r1/fig.png', { blob: true });
    expect(blob.type).toBe('image/png');
    expect(await blob.text()).toBe('PNGDATA');
  });

  it('maps a plain 404 to "extension missing"', async () => {
    const e = await failure(requestAPI('info'));
    expect(e.kind).toBe('extension-missing');
    expect(e.status).toBe(404);
    expect(e.message).toMatch(/server extension is not running/);
  });

  it('keeps the error class and message of an nbtrack error answer', async () => {
    server.routes['runs/zzzz'] = () => json(404, { error: 'NotFound', message: 'no run zzzz' });
    const e = await failure(requestAPI('runs/zzzz'));
    expect([e.kind, e.status, e.name, e.message]).toEqual(['api', 404, 'NotFound', 'no run zzzz']);
  });

  it('falls back to the error class when the message is missing', async () => {
    server.routes['diff'] = () => json(409, { error: 'Conflict' });
    const e = await failure(requestAPI('diff'));
    expect([e.kind, e.status, e.name, e.message]).toEqual(['api', 409, 'Conflict', 'Conflict']);
  });

  it('reports other HTTP errors with their status line', async () => {
    server.routes['models'] = () => raw(500, '<html>boom</html>', 'text/html');
    const e = await failure(requestAPI('models'));
    expect([e.kind, e.status, e.name]).toEqual(['api', 500, 'HTTPError']);
    expect(e.message).toBe('500 Internal Server Error');
  });

  it('reports an unreachable server as a network error', async () => {
    const down = new ApiServer();
    await down.start();
    await down.stop();
    const e = await failure(requestAPI('info'));
    expect([e.kind, e.status, e.name]).toEqual(['network', 0, 'NetworkError']);
    expect(e.message).toMatch(/cannot reach the Jupyter server/);
  });
});

describe('typed routes', () => {
  it('fills and encodes the placeholders of a route', () => {
    expect(routeUrl('/runs/{run}/source', { run: 'a/b c' })).toBe('runs/a%2Fb%20c/source');
    expect(routeUrl('/info')).toBe('info');
  });

  it('refuses a route with a missing placeholder value', () => {
    expect(() => routeUrl('/models/{name}', {})).toThrow(/no value for \{name\}/);
    expect(() => routeUrl('/models/{name}', { name: '' })).toThrow(ApiError);
  });

  it('apiGet calls the route with its path and query', async () => {
    server.routes['models/my%20model'] = () => ({ name: 'my model', versions: [], aliases: null });
    const m = await apiGet('/models/{name}', {
      path: { name: 'my model' },
      query: { notebook: null }
    });
    expect(m.name).toBe('my model');
    expect(server.seen[0].query).toEqual({});
  });

  it('apiPost sends the body and the query', async () => {
    server.routes['models/clf/aliases'] = req => ({
      name: 'clf',
      alias: 'production',
      action: 'promote',
      result: { accepted: true, body: JSON.parse(req.body) }
    });
    const r = await apiPost('/models/{name}/aliases', {
      path: { name: 'clf' },
      query: { notebook: 'nb.ipynb' },
      body: { action: 'promote', alias: 'production', version: 2 }
    });
    expect(r.result).toEqual({
      accepted: true,
      body: { action: 'promote', alias: 'production', version: 2 }
    });
    expect(server.seen[0].query).toEqual({ notebook: 'nb.ipynb' });
  });
});
