import * as React from 'react';

import { fmtValue } from '../format';
import { VersionsModel } from '../model';
import { Row } from '../tokens';

/** "Approve notebook" with a reason (only when this nbtrack can approve). */
export function ApproveForm(props: { model: VersionsModel }): JSX.Element {
  const [reason, setReason] = React.useState('');
  return (
    <section className="nbtrack-actions" data-testid="nbtrack-approve">
      <h4>Approve notebook</h4>
      <input
        className="jp-mod-styled nbtrack-input"
        placeholder="reason (e.g. reviewed, metrics ok)"
        value={reason}
        onChange={e => setReason(e.target.value)}
      />
      <button
        className="jp-mod-styled jp-mod-accept"
        disabled={!reason.trim()}
        onClick={() => void props.model.approve(reason.trim())}
      >
        Approve
      </button>
    </section>
  );
}

/** Registered models: versions, aliases, Promote (through the gate) and Rollback. */
export function ModelsSection(props: { model: VersionsModel }): JSX.Element {
  const { model } = props;
  const [alias, setAlias] = React.useState('production');
  const [gate, setGate] = React.useState('');
  React.useEffect(() => {
    if (model.models === null) {
      void model.loadModels();
    }
  }, [model, model.notebook]);
  const models = model.models ?? [];
  return (
    <section className="nbtrack-actions" data-testid="nbtrack-models">
      <h4>Models</h4>
      {!models.length && <div className="nbtrack-dim">No registered models.</div>}
      <ul className="nbtrack-cells">
        {models.map(m => {
          const name = String(m.name ?? '');
          return (
            <li
              key={name}
              className={`nbtrack-cell${model.model?.name === name ? ' nbtrack-mod-selected' : ''}`}
              onClick={() => void model.openModel(model.model?.name === name ? null : name)}
            >
              <span className="nbtrack-cell-label">{name}</span>
              <span className="nbtrack-dim">{summary(m)}</span>
            </li>
          );
        })}
      </ul>
      {model.model && (
        <div data-testid="nbtrack-model-detail">
          <div className="nbtrack-dim">aliases: {model.model.aliases || 'none'}</div>
          <div className="nbtrack-form">
            <input
              className="jp-mod-styled nbtrack-input"
              value={alias}
              onChange={e => setAlias(e.target.value)}
              title="alias"
            />
            <input
              className="jp-mod-styled nbtrack-input"
              placeholder="gate, e.g. accuracy >= 0.9"
              value={gate}
              onChange={e => setGate(e.target.value)}
            />
          </div>
          <table className="nbtrack-kv">
            <tbody>
              {model.model.versions.map(v => {
                const version = Number(v.version);
                return (
                  <tr key={version}>
                    <td>v{version}</td>
                    <td className="nbtrack-dim">{summary(v)}</td>
                    <td>
                      <button
                        className="jp-mod-styled"
                        onClick={() =>
                          void model.changeAlias(model.model!.name, 'promote', alias, version, gate)
                        }
                      >
                        Promote
                      </button>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          <button
            className="jp-mod-styled"
            onClick={() => void model.changeAlias(model.model!.name, 'rollback', alias)}
          >
            Rollback @{alias}
          </button>
        </div>
      )}
    </section>
  );
}

function summary(row: Row): string {
  return Object.entries(row)
    .filter(([k, v]) => k !== 'name' && k !== 'version' && v !== null && typeof v !== 'object')
    .slice(0, 4)
    .map(([k, v]) => `${k}=${fmtValue(v)}`)
    .join(' ');
}
