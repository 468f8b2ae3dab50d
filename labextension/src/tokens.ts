/**
 * Shapes of the nbtrack sidebar API (see src/nbtrack/jupyter/openapi.yml)
 * and the interfaces the panel's layers share.
 */

export interface IInfo {
  version: string;
  /** The workspace the notebook resolves to; null when there is none yet. */
  workspace: string | null;
  message?: string;
}

export interface ICell {
  cell_key: string;
  cell_id: string | null;
  label: string;
  notebook: string;
  versions: number;
  first_started: number;
  latest_run: string;
  latest_status: string;
  latest_started: number;
  latest_version: number | null;
}

export type JSONScalar = string | number | boolean | null;

export interface IRunRow {
  id: string;
  name: string | null;
  experiment: string;
  kind: string;
  status: string;
  parent: string | null;
  notebook: string | null;
  cell_version: number | null;
  /** Epoch seconds. */
  started: number;
  duration: number | null;
  params: Record<string, unknown>;
  metrics: Record<string, number>;
}

export interface IRunsPage {
  runs: IRunRow[];
  total: number;
  offset: number;
  limit: number;
}

export interface IArtifact {
  name: string;
  kind: string;
  media_type: string | null;
  size: number | null;
  /** Relative to the API root. */
  url: string;
}

export interface IRunDetail {
  id: string;
  name: string | null;
  status: string;
  kind: string;
  notebook: string | null;
  cell_id: string | null;
  cell_key: string | null;
  cell_version: number | null;
  started: number;
  ended: number | null;
  duration: number | null;
  error_type: string | null;
  error_message: string | null;
  user: string | null;
  git_commit: string | null;
  git_dirty: boolean | null;
  reads: string[];
  writes: string[];
  params: Record<string, unknown>;
  metrics: Record<string, number | null>;
  tags: Record<string, string>;
  artifacts: IArtifact[];
  source: string | null;
  stdout: string;
  /** key -> [[step, value], ...] */
  metric_history: Record<string, Array<[number, number | null]>>;
  /** Data and model versions the run read and produced. */
  lineage: { inputs: ILineageItem[]; outputs: ILineageItem[] };
}

export interface ILineageItem {
  /** dataset | model */
  kind: string;
  /** name@version */
  ref: string;
  /** "raw@2", "model clf@1" */
  label: string;
  /** input | output */
  relation: string;
  /** the variable that held it in the cell, if any */
  variable: string | null;
}

export interface IMetricDelta {
  key: string;
  a: number | null;
  b: number | null;
  delta: number | null;
}

export interface IDiff {
  a: string;
  b: string;
  diff: string;
  same_source: boolean;
  metrics: IMetricDelta[];
  params: Array<{ key: string; a: unknown; b: unknown }>;
}

export type Row = Record<string, unknown>;

export interface IModel {
  name: string;
  versions: Row[];
  /** e.g. "production=2,staging=3" */
  aliases: string | null;
}

/** What the panel may do to the open notebook (implemented in index.ts). */
export interface INotebookAccess {
  /**
   * Put `source` into the notebook cell it came from: the cell with id `cellId`,
   * else the cell whose first line is `%%track <label>`, else the active cell;
   * keeping its `%%track` line. Undoable with Ctrl-Z.
   *
   * @returns a description of the cell changed, or null if there is none
   */
  restore(source: string, cellId: string | null, label: string | null): string | null;
}
