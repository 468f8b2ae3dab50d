import * as React from 'react';

import { fmtDuration, fmtTime, fmtValue, shortId } from '../format';
import { VersionsModel } from '../model';
import { IRunRow } from '../tokens';

const ROW_HEIGHT = 44;
const VIEW_HEIGHT = 308;
const OVERSCAN = 10;
const KEY_METRICS = 3;

/**
 * The runs of the selected cell (or notebook), newest first, virtualised: only
 * the rows in view are rendered and only their pages are fetched.
 */
export function RunList(props: { model: VersionsModel }): JSX.Element {
  const { model } = props;
  const [scrollTop, setScrollTop] = React.useState(0);
  const total = model.total;
  const start = Math.max(0, Math.floor(scrollTop / ROW_HEIGHT) - OVERSCAN);
  const end = Math.min(total, Math.ceil((scrollTop + VIEW_HEIGHT) / ROW_HEIGHT) + OVERSCAN);

  React.useEffect(() => model.ensureRange(start, end), [model, start, end, total]);
  const list = React.useRef<HTMLDivElement>(null);
  React.useEffect(() => {
    // how long the first page took to show up, for the 10,000-run browser test
    if (model.firstRenderMs === null && model.runAt(0) && list.current) {
      model.firstRenderMs = performance.now() - model.refreshStartedAt;
      list.current.dataset.firstPageMs = model.firstRenderMs.toFixed(1);
    }
  });

  if (!total) {
    return (
      <div className="nbtrack-empty" data-testid="nbtrack-no-runs">
        No runs yet.
      </div>
    );
  }
  const rows: JSX.Element[] = [];
  for (let i = start; i < end; i++) {
    const run = model.runAt(i);
    rows.push(
      <div
        key={run?.id ?? `loading-${i}`}
        style={{ top: i * ROW_HEIGHT, height: ROW_HEIGHT }}
        className="nbtrack-row-slot"
      >
        {run ? (
          <RunRow model={model} run={run} />
        ) : (
          <div className="nbtrack-run nbtrack-dim">…</div>
        )}
      </div>
    );
  }
  return (
    <div>
      <div className="nbtrack-runs-header">
        <span data-testid="nbtrack-run-total">{total} runs</span>
        <span className="nbtrack-dim">tick two to compare</span>
      </div>
      <div
        className="nbtrack-runs"
        data-testid="nbtrack-runs"
        ref={list}
        style={{ height: Math.min(VIEW_HEIGHT, total * ROW_HEIGHT) }}
        onScroll={e => setScrollTop((e.target as HTMLDivElement).scrollTop)}
      >
        <div style={{ height: total * ROW_HEIGHT, position: 'relative' }}>{rows}</div>
      </div>
    </div>
  );
}

function RunRow(props: { model: VersionsModel; run: IRunRow }): JSX.Element {
  const { model, run } = props;
  const selected = model.selectedRun?.id === run.id;
  const metrics = Object.entries(run.metrics).slice(0, KEY_METRICS);
  return (
    <div
      className={`nbtrack-run${selected ? ' nbtrack-mod-selected' : ''}`}
      data-run-id={run.id}
      onClick={() => void model.openRun(selected ? null : run.id)}
    >
      <input
        type="checkbox"
        className="nbtrack-compare"
        title="compare"
        checked={model.compare.includes(run.id)}
        onClick={e => e.stopPropagation()}
        onChange={() => void model.toggleCompare(run.id)}
      />
      <span className={`nbtrack-status nbtrack-status-${run.status}`} title={run.status} />
      <div className="nbtrack-run-main">
        <div>
          <strong>{run.cell_version ? `v${run.cell_version}` : shortId(run.id)}</strong>{' '}
          <span className="nbtrack-dim">{run.name ?? ''}</span>
          <span className="nbtrack-run-time">
            {fmtTime(run.started)} · {fmtDuration(run.duration)}
          </span>
        </div>
        <div className="nbtrack-run-metrics">
          {metrics.map(([k, v]) => (
            <span key={k} className="nbtrack-metric">
              {k}={fmtValue(v)}
            </span>
          ))}
          {run.status !== 'finished' && <span className="nbtrack-dim">{run.status}</span>}
        </div>
      </div>
    </div>
  );
}
