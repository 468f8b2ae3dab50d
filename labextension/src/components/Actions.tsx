import * as React from 'react';

import { fmtTime, fmtValue } from '../format';
import { VersionsModel } from '../model';
import { IModel, Row } from '../tokens';

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
          <ServedList served={model.model.served ?? []} />
          <MonitoringList monitoring={model.model.monitoring} />
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

/** Servers of the model (`nbtrack serve`): version served, state and recent traffic. */
export function ServedList(props: { served: Row[] }): JSX.Element {
  return (
    <div data-testid="nbtrack-served">
      <h4>Served</h4>
      {!props.served.length && (
        <div className="nbtrack-dim">Not served (nbtrack serve NAME@ALIAS).</div>
      )}
      <ul className="nbtrack-kv-list">
        {props.served.map(s => (
          <li key={`${String(s.run)}-${String(s.model)}`}>
            v{fmtValue(s.version)} {s.ref ? `(${String(s.ref)}) ` : ''}
            <span className={s.status === 'running' ? '' : 'nbtrack-dim'}>
              {String(s.status ?? '')}
            </span>{' '}
            <span className="nbtrack-dim">
              {String(s.host ?? '')} · {fmtValue(s.rows_logged ?? 0)} rows logged,{' '}
              {fmtValue(s.rows_last_hour ?? 0)} in the last hour
            </span>
          </li>
        ))}
      </ul>
    </div>
  );
}

/** Alert rules watching the model and its newest monitor runs (with their alerts). */
export function MonitoringList(props: { monitoring: IModel['monitoring'] }): JSX.Element {
  const rules = props.monitoring?.rules ?? [];
  const checks = props.monitoring?.checks ?? [];
  const last = checks.length ? checks[0] : null;
  return (
    <div data-testid="nbtrack-monitoring">
      <h4>Monitoring</h4>
      {!rules.length && (
        <div className="nbtrack-dim">No alert rules (nbtrack monitor add NAME@ALIAS).</div>
      )}
      <ul className="nbtrack-kv-list">
        {rules.map(r => (
          <li key={r.id}>
            rule {r.id} on {r.model}: <span className="nbtrack-dim">{r.rule}</span>
          </li>
        ))}
      </ul>
      <div data-testid="nbtrack-last-check">
        {last === null
          ? 'Last check: never'
          : `Last ${last.kind ?? 'check'} ${fmtTime(last.started)} on ${last.model ?? ''}: ` +
            (last.alerts.length
              ? `${last.alerts.length} alert(s): ${last.alerts.join('; ')}`
              : 'ok')}
      </div>
    </div>
  );
}
