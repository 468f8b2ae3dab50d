/**
 * Shapes of the nbtrack sidebar API (generated from src/nbtrack/jupyter/openapi.yml)
 * and the interfaces the panel's layers share.
 */
import type { components } from './schema';

/** The schemas of openapi.yml, generated into ./schema.d.ts by `jlpm schema`. */
type Schemas = components['schemas'];

export type IInfo = Schemas['Info'];
export type ICell = Schemas['Cell'];
export type IRunRow = Schemas['RunRow'];
export type IRunsPage = Schemas['RunsPage'];
export type IArtifact = Schemas['Artifact'];
export type IRunDetail = Schemas['RunDetail'];
export type ILineageItem = Schemas['LineageItem'];
export type IRunSource = Schemas['RunSource'];
export type IMetricDelta = Schemas['MetricDelta'];
export type IDiff = Schemas['Diff'];
export type Row = Schemas['Row'];
export type IModel = Schemas['Model'];

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
