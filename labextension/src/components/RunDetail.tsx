import * as React from 'react';

import { requestAPI } from '../api';
import { fmtDuration, fmtTime, fmtValue, shortId } from '../format';
import { VersionsModel } from '../model';
import { IArtifact, ILineageItem, IRunDetail } from '../tokens';

/** One run: params, metrics with history charts, figures, data lineage, source. */
export function RunDetail(props: { model: VersionsModel; run: IRunDetail }): JSX.Element {
  const { model, run } = props;
  const figures = run.artifacts.filter(a => (a.media_type ?? '').startsWith('image/png'));
  return (
    <div className="nbtrack-detail" data-testid="nbtrack-run-detail" data-run-id={run.id}>
      <div className="nbtrack-detail-head">
        <strong>
          {run.name ?? 'run'} {run.cell_version ? `v${run.cell_version}` : ''}
        </strong>{' '}
        <span className="nbtrack-dim">
          {shortId(run.id)} · {run.status} · {fmtTime(run.started)} · {fmtDuration(run.duration)}
        </span>
        <div className="nbtrack-buttons">
          <button
            className="jp-mod-styled jp-mod-accept"
            data-testid="nbtrack-restore"
            disabled={!run.source}
            onClick={() => void model.restore(run.id)}
            title="Put this version's code into its cell (Ctrl-Z undoes it)"
          >
            Restore code
          </button>
          <button className="jp-mod-styled" onClick={() => void model.openRun(null)}>
            Close
          </button>
        </div>
      </div>
      {run.error_type && (
        <div className="nbtrack-error-text">
          {run.error_type}: {run.error_message}
        </div>
      )}
      <KeyValues title="Params" values={run.params} testId="nbtrack-params" />
      <KeyValues title="Metrics" values={run.metrics} testId="nbtrack-metrics" />
      <MetricCharts history={run.metric_history} />
      {figures.length > 0 && (
        <section>
          <h4>Figures</h4>
          {figures.map(a => (
            <Figure key={a.name} artifact={a} />
          ))}
        </section>
      )}
      <Lineage run={run} />
      {run.source !== null && (
        <section>
          <h4>Code</h4>
          <pre className="nbtrack-code">{run.source}</pre>
        </section>
      )}
      {run.stdout && (
        <details>
          <summary>Output</summary>
          <pre className="nbtrack-code">{run.stdout}</pre>
        </details>
      )}
    </div>
  );
}

function KeyValues(props: {
  title: string;
  values: Record<string, unknown>;
  testId: string;
}): JSX.Element | null {
  const entries = Object.entries(props.values);
  if (!entries.length) {
    return null;
  }
  return (
    <section data-testid={props.testId}>
      <h4>{props.title}</h4>
      <table className="nbtrack-kv">
        <tbody>
          {entries.map(([k, v]) => (
            <tr key={k}>
              <td>{k}</td>
              <td>{fmtValue(v)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

/** A small SVG line per metric that has more than one logged value. */
function MetricCharts(props: { history: IRunDetail['metric_history'] }): JSX.Element | null {
  const series = Object.entries(props.history).filter(([, pts]) => pts.length > 1);
  if (!series.length) {
    return null;
  }
  const W = 220;
  const H = 48;
  return (
    <section data-testid="nbtrack-charts">
      <h4>Metric history</h4>
      {series.map(([key, pts]) => {
        const ys = pts.map(p => p[1]).filter((y): y is number => y !== null);
        const xs = pts.map(p => p[0] ?? 0); // steps are never null (openapi 3.0 cannot say so)
        const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
        const [y0, y1] = [Math.min(...ys), Math.max(...ys)];
        const sx = (x: number) => (x1 === x0 ? W / 2 : ((x - x0) / (x1 - x0)) * (W - 4) + 2);
        const sy = (y: number) => (y1 === y0 ? H / 2 : H - 2 - ((y - y0) / (y1 - y0)) * (H - 4));
        const d = pts
          .filter(p => p[1] !== null)
          .map(p => `${sx(p[0] ?? 0).toFixed(1)},${sy(p[1] as number).toFixed(1)}`)
          .join(' ');
        return (
          <div key={key} className="nbtrack-chart">
            <span className="nbtrack-dim">
              {key} {fmtValue(ys[0])} → {fmtValue(ys[ys.length - 1])}
            </span>
            <svg width={W} height={H} role="img" aria-label={`${key} history`}>
              <polyline points={d} fill="none" stroke="var(--jp-brand-color1)" strokeWidth="1.5" />
            </svg>
          </div>
        );
      })}
    </section>
  );
}

/** A PNG artifact, fetched with the API's authentication and shown as an object URL. */
function Figure(props: { artifact: IArtifact }): JSX.Element {
  const [src, setSrc] = React.useState<string | null>(null);
  const [failed, setFailed] = React.useState<string | null>(null);
  React.useEffect(() => {
    let url: string | null = null;
    let live = true;
    requestAPI<Blob>(props.artifact.url, { blob: true })
      .then(blob => {
        url = URL.createObjectURL(blob);
        if (live) {
          setSrc(url);
        }
      })
      .catch(e => live && setFailed(String(e.message ?? e)));
    return () => {
      live = false;
      if (url) {
        URL.revokeObjectURL(url);
      }
    };
  }, [props.artifact.url]);
  if (failed) {
    return <div className="nbtrack-error-text">{failed}</div>;
  }
  return src ? (
    <img
      className="nbtrack-figure"
      src={src}
      alt={props.artifact.name}
      title={props.artifact.name}
    />
  ) : (
    <div className="nbtrack-dim">loading {props.artifact.name}…</div>
  );
}

/** Data inputs/outputs and model candidates. */
function Lineage(props: { run: IRunDetail }): JSX.Element | null {
  const { run } = props;
  const io = run.lineage;
  const items = (list: ILineageItem[], testId: string) => (
    <ul className="nbtrack-lineage" data-testid={testId}>
      {list.map((it, i) => (
        <li key={i}>
          <span className={`nbtrack-kind nbtrack-kind-${it.kind}`}>
            {it.kind === 'model' ? 'model candidate' : it.kind}
          </span>{' '}
          {it.label}
        </li>
      ))}
    </ul>
  );
  if (!io.inputs.length && !io.outputs.length && !run.reads.length && !run.writes.length) {
    return null;
  }
  return (
    <section data-testid="nbtrack-lineage">
      <h4>Data</h4>
      {io.inputs.length > 0 && (
        <div>
          <span className="nbtrack-dim">inputs</span>
          {items(io.inputs, 'nbtrack-inputs')}
        </div>
      )}
      {io.outputs.length > 0 && (
        <div>
          <span className="nbtrack-dim">outputs</span>
          {items(io.outputs, 'nbtrack-outputs')}
        </div>
      )}
      {run.reads.length > 0 && (
        <div>
          <span className="nbtrack-dim">reads</span> {run.reads.join(', ')}
        </div>
      )}
      {run.writes.length > 0 && (
        <div>
          <span className="nbtrack-dim">writes</span> {run.writes.join(', ')}
        </div>
      )}
    </section>
  );
}
