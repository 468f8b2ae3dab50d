import * as React from 'react';
import { ReactWidget, refreshIcon, ToolbarButtonComponent } from '@jupyterlab/ui-components';

import { VersionsModel } from '../model';
import { ApproveForm, ModelsSection } from './Actions';
import { CellList } from './CellList';
import { DiffView } from './DiffView';
import { RunDetail } from './RunDetail';
import { RunList } from './RunList';
import { StateMessage } from './StateMessage';

/** The left-sidebar "Versions" panel. */
export class VersionsPanel extends ReactWidget {
  constructor(readonly model: VersionsModel) {
    super();
    this.addClass('nbtrack-panel');
  }

  render(): JSX.Element {
    return <VersionsView model={this.model} />;
  }
}

function useModel(model: VersionsModel): void {
  const [, setTick] = React.useState(0);
  React.useEffect(() => {
    const update = () => setTick(t => t + 1);
    model.changed.connect(update);
    return () => {
      model.changed.disconnect(update);
    };
  }, [model]);
}

function VersionsView(props: { model: VersionsModel }): JSX.Element {
  const { model } = props;
  useModel(model);
  const name = model.notebook?.split('/').pop() ?? '';
  return (
    <div className="nbtrack-view">
      <div className="nbtrack-toolbar">
        <span className="nbtrack-title" title={model.notebook ?? ''}>
          Versions {name && <span className="nbtrack-dim">· {name}</span>}
        </span>
        <ToolbarButtonComponent
          icon={refreshIcon}
          tooltip="Refresh"
          onClick={() => void model.refresh()}
          className="nbtrack-refresh"
        />
      </div>
      {model.notice && (
        <div
          className={`nbtrack-notice nbtrack-notice-${model.notice.kind}`}
          data-testid="nbtrack-notice"
        >
          {model.notice.text}
          {model.notice.detail !== undefined && model.notice.detail !== null && (
            <pre className="nbtrack-code">{JSON.stringify(model.notice.detail, null, 1)}</pre>
          )}
        </div>
      )}
      <StateMessage model={model} />
      {model.state === 'ready' && (
        <>
          <CellList model={model} />
          <RunList model={model} />
          {model.diff && <DiffView diff={model.diff} onClose={() => model.clearCompare()} />}
          {model.selectedRun && <RunDetail model={model} run={model.selectedRun} />}
          <ApproveForm model={model} />
          <ModelsSection model={model} />
        </>
      )}
    </div>
  );
}
