import { ISignal, Signal } from '@lumino/signaling';

import { ApiError, apiGet, apiPost } from './api';
import {
  ICell,
  IDiff,
  IInfo,
  IModel,
  INotebookAccess,
  IRunDetail,
  IRunRow,
  IRunsPage,
  Row
} from './tokens';

/** Rows fetched per request; the run list is virtualised over these pages. */
export const PAGE_SIZE = 100;

/**
 * While a shown run is `snapshotting` (its frames are still being stored by the
 * kernel's background writer), the panel refreshes again after this many ms.
 */
export const SNAPSHOTTING_POLL_MS = 1000;

export type PanelState =
  'no-notebook' | 'loading' | 'ready' | 'no-workspace' | 'extension-missing' | 'error';

/** What the user last did, shown under the toolbar. */
export interface INotice {
  kind: 'info' | 'error';
  text: string;
  /** Structured result (gate results of a promotion...). */
  detail?: unknown;
}

/**
 * State of the Versions panel for the active notebook. Views read it and call
 * its methods; it emits `changed` after every change.
 */
export class VersionsModel {
  constructor(private readonly access: INotebookAccess) {}

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  notebook: string | null = null;
  state: PanelState = 'no-notebook';
  info: IInfo | null = null;
  error: ApiError | null = null;
  notice: INotice | null = null;

  cells: ICell[] = [];
  /** cell_key of the selected cell; null: all runs of the notebook. */
  selectedCell: string | null = null;
  total = 0;
  selectedRun: IRunDetail | null = null;
  compare: string[] = [];
  diff: IDiff | null = null;
  models: Row[] | null = null;
  model: IModel | null = null;
  /** ms from a refresh's start until its first page of runs arrived. */
  firstPageMs: number | null = null;
  /** performance.now() when the last refresh started (for the render timing). */
  refreshStartedAt = 0;
  /** ms from the last refresh's start until its first rows were in the DOM (set by RunList). */
  firstRenderMs: number | null = null;

  /** Follow another notebook (path relative to the server root), or none. */
  async setNotebook(path: string | null): Promise<void> {
    if (path === this.notebook) {
      return;
    }
    this.notebook = path;
    this.selectedCell = null;
    this.selectedRun = null;
    this.compare = [];
    this.diff = null;
    this.notice = null;
    this.models = null;
    this.model = null;
    await this.refresh();
  }

  /** Reload cells and the visible runs (after a tracked cell ran). */
  async refresh(): Promise<void> {
    const gen = ++this._generation;
    const t0 = performance.now();
    this.refreshStartedAt = t0;
    this.firstRenderMs = null;
    this._pages.clear();
    this._loading.clear();
    if (!this.notebook) {
      this.state = 'no-notebook';
      this._emit();
      return;
    }
    if (this.state !== 'ready') {
      this.state = 'loading';
      this._emit();
    }
    try {
      const nb = this.notebook;
      const [info, cells, page] = await Promise.all([
        apiGet('/info', { query: { notebook: nb } }),
        apiGet('/cells', { query: { notebook: nb } }).catch((e: ApiError) =>
          e.name === 'NotFound' ? { notebook: nb, cells: [] } : Promise.reject(e)
        ),
        this._fetchPage(0).catch((e: ApiError) =>
          e.name === 'NotFound' ? null : Promise.reject(e)
        )
      ]);
      if (gen !== this._generation) {
        return;
      }
      this.info = info;
      this.cells = cells.cells;
      if (this.selectedCell && !this.cells.some(c => c.cell_key === this.selectedCell)) {
        this.selectedCell = null;
      }
      this.error = null;
      if (!info.workspace) {
        this.state = 'no-workspace';
      } else {
        this.state = 'ready';
        if (page) {
          this.total = page.total;
          this._pages.set(0, page.runs);
          this.firstPageMs = performance.now() - t0;
        }
        this._pollWhileSnapshotting(gen, page ? page.runs : []);
      }
    } catch (e) {
      if (gen !== this._generation) {
        return;
      }
      this._fail(e);
    }
    this._emit();
  }

  /** Refresh again shortly while a shown run or cell is still `snapshotting`. */
  private _pollWhileSnapshotting(gen: number, runs: IRunRow[]): void {
    const pending =
      runs.some(r => r.status === 'snapshotting') ||
      this.cells.some(c => c.latest_status === 'snapshotting');
    if (!pending) {
      return;
    }
    setTimeout(() => {
      if (gen === this._generation) {
        void this.refresh();
      }
    }, SNAPSHOTTING_POLL_MS);
  }

  /** Show the runs of one cell (null: all runs of the notebook). */
  async selectCell(key: string | null): Promise<void> {
    this.selectedCell = key;
    this.total = 0;
    await this.refresh();
  }

  /** The run at `index` of the current list, if its page is loaded. */
  runAt(index: number): IRunRow | undefined {
    return this._pages.get(Math.floor(index / PAGE_SIZE))?.[index % PAGE_SIZE];
  }

  /** Make sure the pages covering rows [start, end) are loaded or loading. */
  ensureRange(start: number, end: number): void {
    const first = Math.floor(Math.max(0, start) / PAGE_SIZE);
    const last = Math.floor(Math.max(0, Math.min(end, this.total) - 1) / PAGE_SIZE);
    for (let p = first; p <= last; p++) {
      if (this._pages.has(p) || this._loading.has(p)) {
        continue;
      }
      this._loading.add(p);
      const gen = this._generation;
      this._fetchPage(p)
        .then(page => {
          if (gen === this._generation) {
            this._pages.set(p, page.runs);
            this.total = page.total;
            this._emit();
          }
        })
        .catch(e => this._fail(e))
        .finally(() => this._loading.delete(p));
    }
  }

  async openRun(id: string | null): Promise<void> {
    if (id === null) {
      this.selectedRun = null;
      this._emit();
      return;
    }
    try {
      this.selectedRun = await apiGet('/runs/{run}', {
        path: { run: id },
        query: { notebook: this.notebook }
      });
    } catch (e) {
      this._notify(e);
    }
    this._emit();
  }

  /** Tick/untick a run for comparison; with two ticked, load their diff. */
  async toggleCompare(id: string): Promise<void> {
    this.compare = this.compare.includes(id)
      ? this.compare.filter(x => x !== id)
      : [...this.compare, id].slice(-2);
    this.diff = null;
    this._emit();
    if (this.compare.length === 2) {
      let [a, b] = this.compare;
      const ra = this._find(a);
      const rb = this._find(b);
      if (ra && rb && ra.started > rb.started) {
        [a, b] = [b, a]; // diff from the older to the newer version
      }
      try {
        this.diff = await apiGet('/diff', {
          query: { a, b, notebook: this.notebook }
        });
      } catch (e) {
        this._notify(e);
      }
      this._emit();
    }
  }

  clearCompare(): void {
    this.compare = [];
    this.diff = null;
    this._emit();
  }

  /** Put run `id`'s source into its notebook cell (undoable). */
  async restore(id: string): Promise<void> {
    try {
      const src = await apiGet('/runs/{run}/source', {
        path: { run: id },
        query: { notebook: this.notebook }
      });
      if (src.source === null) {
        this.notice = { kind: 'error', text: 'This run has no recorded source.' };
      } else {
        const where = this.access.restore(src.source, src.cell_id, src.label);
        this.notice = where
          ? {
              kind: 'info',
              text: `Restored the code of run ${id.slice(0, 8)} into ${where} (Ctrl-Z undoes it).`
            }
          : { kind: 'error', text: 'Open the notebook and select a cell to restore into.' };
      }
    } catch (e) {
      this._notify(e);
    }
    this._emit();
  }

  async approve(reason: string): Promise<void> {
    await this._act(
      () => apiPost('/approvals', { body: { notebook: this.notebook ?? '', reason } }),
      'Notebook approved'
    );
  }

  async loadModels(): Promise<void> {
    try {
      const r = await apiGet('/models', {
        query: { notebook: this.notebook }
      });
      this.models = r.models;
    } catch (e) {
      this._notify(e);
    }
    this._emit();
  }

  async openModel(name: string | null): Promise<void> {
    if (name === null) {
      this.model = null;
    } else {
      try {
        this.model = await apiGet('/models/{name}', {
          path: { name },
          query: { notebook: this.notebook }
        });
      } catch (e) {
        this._notify(e);
      }
    }
    this._emit();
  }

  /** Promote (through the gate), roll back, or set an alias of a model. */
  async changeAlias(
    name: string,
    action: 'set' | 'promote' | 'rollback',
    alias: string,
    version?: number,
    gate?: string
  ): Promise<void> {
    const verb = { set: 'Alias set', promote: 'Promoted', rollback: 'Rolled back' }[action];
    const ok = await this._act(
      () =>
        apiPost('/models/{name}/aliases', {
          path: { name },
          query: { notebook: this.notebook },
          body: { action, alias, version, gate: gate || undefined }
        }),
      `${verb}: ${name} @${alias}`
    );
    if (ok) {
      await this.openModel(name);
    }
  }

  private async _act(call: () => Promise<{ result?: unknown }>, done: string): Promise<boolean> {
    try {
      const r = await call();
      const refused = (r.result as { accepted?: boolean } | null)?.accepted === false;
      this.notice = refused
        ? { kind: 'error', text: `Refused by the gate: ${done}`, detail: r.result }
        : { kind: 'info', text: done, detail: r.result };
      this._emit();
      return true;
    } catch (e) {
      this._notify(e);
      this._emit();
      return false;
    }
  }

  private _find(id: string): IRunRow | undefined {
    for (const rows of this._pages.values()) {
      const row = rows.find(r => r.id === id);
      if (row) {
        return row;
      }
    }
    return undefined;
  }

  private _fetchPage(page: number): Promise<IRunsPage> {
    return apiGet('/runs', {
      query: {
        notebook: this.notebook,
        cell: this.selectedCell,
        offset: page * PAGE_SIZE,
        limit: PAGE_SIZE
      }
    });
  }

  private _fail(e: unknown): void {
    const err = e instanceof ApiError ? e : new ApiError('api', 0, 'Error', String(e));
    this.error = err;
    this.state = err.kind === 'extension-missing' ? 'extension-missing' : 'error';
    this._emit();
  }

  private _notify(e: unknown): void {
    const text = e instanceof ApiError ? `${e.name}: ${e.message}` : String(e);
    this.notice = { kind: 'error', text };
  }

  private _emit(): void {
    this._changed.emit();
  }

  private _changed = new Signal<this, void>(this);
  private _generation = 0;
  private _pages = new Map<number, IRunRow[]>();
  private _loading = new Set<number>();
}
