import * as React from 'react';

import { fmtValue, shortId } from '../format';
import { IDiff } from '../tokens';

/** Code diff and metric/param differences of two runs. */
export function DiffView(props: { diff: IDiff; onClose: () => void }): JSX.Element {
  const { diff } = props;
  return (
    <div className="nbtrack-diff" data-testid="nbtrack-diff">
      <div className="nbtrack-detail-head">
        <strong>
          Compare {shortId(diff.a)} → {shortId(diff.b)}
        </strong>
        <button className="jp-mod-styled" onClick={props.onClose}>
          Close
        </button>
      </div>
      {diff.metrics.length > 0 && (
        <table className="nbtrack-kv" data-testid="nbtrack-diff-metrics">
          <thead>
            <tr>
              <th>metric</th>
              <th>a</th>
              <th>b</th>
              <th>Δ</th>
            </tr>
          </thead>
          <tbody>
            {diff.metrics.map(m => (
              <tr key={m.key}>
                <td>{m.key}</td>
                <td>{fmtValue(m.a)}</td>
                <td>{fmtValue(m.b)}</td>
                <td
                  className={
                    m.delta === null
                      ? ''
                      : m.delta > 0
                        ? 'nbtrack-up'
                        : m.delta < 0
                          ? 'nbtrack-down'
                          : ''
                  }
                >
                  {m.delta === null ? '' : (m.delta > 0 ? '+' : '') + fmtValue(m.delta)}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {diff.params.length > 0 && (
        <div className="nbtrack-dim">
          params changed:{' '}
          {diff.params.map(p => `${p.key} ${fmtValue(p.a)} → ${fmtValue(p.b)}`).join(', ')}
        </div>
      )}
      {diff.same_source ? (
        <div className="nbtrack-dim">Same code.</div>
      ) : (
        <pre className="nbtrack-code nbtrack-diff-text" data-testid="nbtrack-diff-text">
          {diff.diff.split('\n').map((line, i) => (
            <div
              key={i}
              className={
                line.startsWith('+') && !line.startsWith('+++')
                  ? 'nbtrack-add'
                  : line.startsWith('-') && !line.startsWith('---')
                    ? 'nbtrack-del'
                    : line.startsWith('@@')
                      ? 'nbtrack-hunk'
                      : ''
              }
            >
              {line || ' '}
            </div>
          ))}
        </pre>
      )}
    </div>
  );
}
