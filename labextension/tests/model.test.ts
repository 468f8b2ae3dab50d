import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { PageConfig } from '@jupyterlab/coreutils';

import { PAGE_SIZE, SNAPSHOTTING_POLL_MS, VersionsModel } from '../src/model';
import { ICell, INotebookAccess, IRunRow } from '../src/tokens';
import { ApiServer, IRequestSeen, json } from './server';

const server = new ApiServer();
beforeAll(() => server.start());
afterAll(() => server.stop());

const NB = 'work/train.ipynb';

function cell(key: string, versions: number): ICell {
  return {
    cell_key: key,
    cell_id: `id-${key}`,
    label: key,
    notebook: NB,
    versions,
    first_started: 1000,
    latest_run: `run-${key}`,
    latest_status: 'finished',
    latest_started: 2000,
    latest_version: versions
  };
}

function row(i: number): IRunRow {
  return {
    id: `run${String(i).padStart(5, '0')}`,
    name: null,
    experiment: 'default',
    kind: 'cell',
    status: 'finished',
    parent: null,
    notebook: NB,
    cell_version: 1,
    started: 10_000 - i,
    duration: 0.5,
    params: { i },
    metrics: { acc: i / 1000 }
  };
}

/** A workspace with `total` runs, newest first, served a page at a time. */
function workspace(total: number): void {
  server.routes = {
    info: () => ({ version: '0.1.0', workspace: '/tmp/ws/.nbtrack' }),
    cells: () => ({ notebook: NB, cells: [cell('train', 3), cell('eval', 1)] }),
    runs: (req: IRequestSeen) => {
      const offset = Number(req.query.offset);
      const limit = Number(req.query.limit);
      const runs = [];
      for (let i = offset; i < Math.min(total, offset + limit); i++) {
        runs.push(row(i));
      }
      return { runs, total, offset, limit };
    }
  };
}

class Access implements INotebookAccess {
  calls: Array<[string, string | null, string | null]> = [];
  answer: string | null = 'cell 3';
  restore(source: string, cellId: string | null, label: string | null): string | null {
    this.calls.push([source, cellId, label]);
    return this.answer;
  }
}

/** Resolves once `model` emitted `changed` and `done()` holds. */
function until(model: VersionsModel, done: () => boolean): Promise<void> {
  return new Promise(resolve => {
    const check = () => {
      if (done()) {
        model.changed.disconnect(check);
        resolve();
      }
    };
    model.changed.connect(check);
    check();
  });
}

let access: Access;
let model: VersionsModel;
beforeEach(() => {
  PageConfig.setOption('baseUrl', server.baseUrl);
  server.seen.length = 0;
  access = new Access();
  model = new VersionsModel(access);
});

describe('VersionsModel state', () => {
  it('starts with no notebook and goes back to it', async () => {
    expect(model.state).toBe('no-notebook');
    workspace(3);
    await model.setNotebook(NB);
    expect(model.state).toBe('ready');
    await model.setNotebook(null);
    expect(model.state).toBe('no-notebook');
  });

  it('loads cells and the first page of runs of the notebook', async () => {
    workspace(250);
    const states: string[] = [];
    model.changed.connect(() => states.push(model.state));
    await model.setNotebook(NB);
    expect(states[0]).toBe('loading');
    expect(model.state).toBe('ready');
    expect(model.info?.workspace).toBe('/tmp/ws/.nbtrack');
    expect(model.cells.map(c => c.cell_key)).toEqual(['train', 'eval']);
    expect(model.total).toBe(250);
    expect(model.runAt(0)?.id).toBe('run00000');
    expect(model.runAt(PAGE_SIZE - 1)?.id).toBe('run00099');
    expect(model.runAt(PAGE_SIZE)).toBeUndefined();
    expect(model.firstPageMs).toBeGreaterThanOrEqual(0);
    const runs = server.seen.filter(r => r.route === 'runs');
    expect(runs.map(r => r.query)).toEqual([
      { notebook: NB, offset: '0', limit: String(PAGE_SIZE) }
    ]);
  });

  it('refreshes again while a run is snapshotting, and stops once it finished', async () => {
    workspace(3);
    let status = 'snapshotting';
    const runs = server.routes.runs;
    server.routes.runs = async (req: IRequestSeen) => {
      const page = (await runs(req)) as { runs: IRunRow[] };
      page.runs[0] = { ...page.runs[0], status };
      return page;
    };
    await model.setNotebook(NB);
    expect(model.runAt(0)?.status).toBe('snapshotting');
    status = 'finished';
    await until(model, () => model.runAt(0)?.status === 'finished');
    const polled = server.seen.filter(r => r.route === 'runs').length;
    await new Promise(r => setTimeout(r, SNAPSHOTTING_POLL_MS + 300));
    expect(server.seen.filter(r => r.route === 'runs').length).toBe(polled);
  });

  it('loads the pages a scrolled range needs, once', async () => {
    workspace(250);
    await model.setNotebook(NB);
    model.ensureRange(150, 260);
    model.ensureRange(150, 260); // already loading: no second request
    await until(model, () => model.runAt(249) !== undefined);
    expect(model.runAt(249)?.id).toBe('run00249');
    const offsets = server.seen.filter(r => r.route === 'runs').map(r => r.query.offset);
    expect(offsets).toEqual(['0', '100', '200']);
  });

  it('filters runs by the selected cell', async () => {
    workspace(5);
    await model.setNotebook(NB);
    await model.selectCell('train');
    expect(model.selectedCell).toBe('train');
    expect(server.seen.filter(r => r.route === 'runs').pop()?.query.cell).toBe('train');
  });

  it('shows "no workspace" when the notebook resolves to none', async () => {
    workspace(0);
    server.routes.info = () => ({ version: '0.1.0', workspace: null, message: 'no .nbtrack' });
    server.routes.cells = () => json(404, { error: 'NotFound', message: 'no workspace' });
    server.routes.runs = () => json(404, { error: 'NotFound', message: 'no workspace' });
    await model.setNotebook(NB);
    expect(model.state).toBe('no-workspace');
    expect(model.cells).toEqual([]);
    expect(model.error).toBeNull();
  });

  it('shows "extension missing" when the server extension is not there', async () => {
    server.routes = {};
    await model.setNotebook(NB);
    expect(model.state).toBe('extension-missing');
    expect(model.error?.kind).toBe('extension-missing');
  });

  it('shows an error state for any other failure', async () => {
    workspace(3);
    server.routes.runs = () => json(503, { error: 'StoreUnavailable', message: 'database locked' });
    await model.setNotebook(NB);
    expect(model.state).toBe('error');
    expect([model.error?.name, model.error?.message]).toEqual([
      'StoreUnavailable',
      'database locked'
    ]);
  });
});

describe('VersionsModel actions', () => {
  beforeEach(async () => {
    workspace(3);
    await model.setNotebook(NB);
    server.seen.length = 0;
  });

  it('compares the last two ticked runs, older first', async () => {
    server.routes.diff = (req: IRequestSeen) => ({
      a: req.query.a,
      b: req.query.b,
      diff: '-x\n+y',
      same_source: false,
      metrics: [],
      params: []
    });
    await model.toggleCompare('run00000'); // newest
    expect(model.diff).toBeNull();
    await model.toggleCompare('run00002');
    expect(model.compare).toEqual(['run00000', 'run00002']);
    expect([model.diff?.a, model.diff?.b]).toEqual(['run00002', 'run00000']);
    await model.toggleCompare('run00001');
    expect(model.compare).toEqual(['run00002', 'run00001']);
    await model.toggleCompare('run00001');
    expect(model.compare).toEqual(['run00002']);
    expect(model.diff).toBeNull();
  });

  it('restores a run into its cell', async () => {
    server.routes['runs/run00001/source'] = () => ({
      id: 'run00001',
      cell_id: 'c-1',
      cell_key: `${NB}::train`,
      label: 'train',
      cell_version: 2,
      source: 'x = 1'
    });
    await model.restore('run00001');
    expect(access.calls).toEqual([['x = 1', 'c-1', 'train']]);
    expect(model.notice).toEqual({
      kind: 'info',
      text: 'Restored the code of run run00001 into cell 3 (Ctrl-Z undoes it).'
    });
  });

  it('says so when a run has no source or there is no cell to restore into', async () => {
    const source = (src: string | null) => () => ({
      id: 'run00001',
      cell_id: null,
      cell_key: null,
      label: null,
      cell_version: null,
      source: src
    });
    server.routes['runs/run00001/source'] = source(null);
    await model.restore('run00001');
    expect(model.notice?.text).toBe('This run has no recorded source.');
    expect(access.calls).toEqual([]);
    server.routes['runs/run00001/source'] = source('y = 2');
    access.answer = null;
    await model.restore('run00001');
    expect(model.notice).toEqual({
      kind: 'error',
      text: 'Open the notebook and select a cell to restore into.'
    });
  });

  it('shows an API error of an action as a notice, keeping the panel usable', async () => {
    server.routes['runs/nope'] = () => json(404, { error: 'NotFound', message: 'no run nope' });
    await model.openRun('nope');
    expect(model.notice).toEqual({ kind: 'error', text: 'NotFound: no run nope' });
    expect(model.state).toBe('ready');
    expect(model.selectedRun).toBeNull();
  });

  it('reports a promotion the gate refused', async () => {
    server.routes['models/clf/aliases'] = (req: IRequestSeen) => ({
      name: 'clf',
      alias: 'production',
      action: 'promote',
      result: { accepted: false, request: JSON.parse(req.body), notebook: req.query.notebook }
    });
    server.routes['models/clf'] = () => ({
      name: 'clf',
      versions: [{ version: 1 }],
      aliases: null
    });
    await model.changeAlias('clf', 'promote', 'production', 2, 'acc >= 0.9');
    expect(model.notice?.kind).toBe('error');
    expect(model.notice?.text).toBe('Refused by the gate: Promoted: clf @production');
    expect(model.notice?.detail).toEqual({
      accepted: false,
      request: { action: 'promote', alias: 'production', version: 2, gate: 'acc >= 0.9' },
      notebook: NB
    });
    // the model is reloaded after the call
    expect(model.model?.name).toBe('clf');
  });

  it('approves the notebook', async () => {
    server.routes.approvals = (req: IRequestSeen) =>
      json(201, { notebook: NB, result: { version: 1, body: JSON.parse(req.body) } });
    await model.approve('reviewed');
    expect(model.notice).toEqual({
      kind: 'info',
      text: 'Notebook approved',
      detail: { version: 1, body: { notebook: NB, reason: 'reviewed' } }
    });
  });

  it('ignores the answer of a refresh that a newer one overtook', async () => {
    let release: () => void = () => undefined;
    const slow = new Promise<void>(resolve => (release = resolve));
    server.routes.cells = async () => {
      await slow;
      return { notebook: NB, cells: [cell('old', 1)] };
    };
    const first = model.refresh();
    await new Promise(r => setTimeout(r, 50));
    server.routes.cells = () => ({ notebook: NB, cells: [cell('new', 1)] });
    await model.refresh();
    release();
    await first;
    expect(model.cells.map(c => c.cell_key)).toEqual(['new']);
  });
});
