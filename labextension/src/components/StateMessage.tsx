import * as React from 'react';

import { VersionsModel } from '../model';

/** The empty and error states of the panel; null when there is data to show. */
export function StateMessage(props: { model: VersionsModel }): JSX.Element | null {
  const { model } = props;
  const box = (title: string, text: string, testId: string) => (
    <div className="nbtrack-state" data-testid={testId}>
      <strong>{title}</strong>
      <p>{text}</p>
    </div>
  );
  switch (model.state) {
    case 'no-notebook':
      return box(
        'No notebook',
        'Open a notebook to see the versions of its tracked cells.',
        'nbtrack-no-notebook'
      );
    case 'loading':
      return box('Loading…', 'Reading runs from the workspace.', 'nbtrack-loading');
    case 'no-workspace':
      return box(
        'No workspace yet',
        'Run a cell with %load_ext nbtrack and %%track (or `nbtrack init` in a terminal); its versions will show up here.',
        'nbtrack-no-workspace'
      );
    case 'extension-missing':
      return box(
        'Server extension missing',
        model.error?.message ?? '',
        'nbtrack-extension-missing'
      );
    case 'error':
      return box(
        'Request failed',
        `${model.error?.name}: ${model.error?.message}`,
        'nbtrack-error'
      );
    default:
      return null;
  }
}
