import * as React from 'react';

import { fmtTime } from '../format';
import { VersionsModel } from '../model';

/** The tracked cells of the notebook; clicking one filters the run list. */
export function CellList(props: { model: VersionsModel }): JSX.Element {
  const { model } = props;
  if (!model.cells.length) {
    return (
      <div className="nbtrack-empty" data-testid="nbtrack-no-cells">
        No tracked cells in this notebook yet: put <code>%%track</code> on a cell and run it.
      </div>
    );
  }
  const item = (
    key: string | null,
    label: string,
    count: number,
    extra: string,
    status?: string
  ) => (
    <li
      key={key ?? '*'}
      className={`nbtrack-cell${model.selectedCell === key ? ' nbtrack-mod-selected' : ''}`}
      data-cell-key={key ?? ''}
      onClick={() => void model.selectCell(key)}
      title={key ?? 'all runs of this notebook'}
    >
      {status && <span className={`nbtrack-status nbtrack-status-${status}`} title={status} />}
      <span className="nbtrack-cell-label">{label}</span>
      <span className="nbtrack-cell-count">{count} v</span>
      <span className="nbtrack-dim">{extra}</span>
    </li>
  );
  const all = model.cells.reduce((n, c) => n + c.versions, 0);
  return (
    <ul className="nbtrack-cells" data-testid="nbtrack-cells">
      {item(null, 'All tracked cells', all, '')}
      {model.cells.map(c =>
        item(c.cell_key, c.label, c.versions, fmtTime(c.latest_started), c.latest_status)
      )}
    </ul>
  );
}
