import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { INotebookTracker, NotebookActions, NotebookPanel } from '@jupyterlab/notebook';
import { historyIcon } from '@jupyterlab/ui-components';

import { VersionsPanel } from './components/VersionsPanel';
import { VersionsModel } from './model';
import { INotebookAccess } from './tokens';

/** Widget id; also the sidebar tab's `data-id`. */
export const PANEL_ID = 'nbtrack-versions';
const OPEN_COMMAND = 'nbtrack:open-versions';
const REFRESH_DELAY_MS = 300;

/** Restores code into the current notebook's cells, undoably. */
class NotebookAccess implements INotebookAccess {
  constructor(private readonly tracker: INotebookTracker) {}

  restore(source: string, cellId: string | null, label: string | null): string | null {
    const panel = this.tracker.currentWidget;
    if (!panel) {
      return null;
    }
    const nb = panel.content;
    let index = cellId ? nb.widgets.findIndex(c => c.model.id === cellId) : -1;
    if (index < 0 && label) {
      // runs executed outside JupyterLab (nbclient, papermill) carry no cell id
      index = nb.widgets.findIndex(c => {
        const first = c.model.sharedModel.getSource().split('\n', 1)[0].trim();
        return first.startsWith('%%track') && first.split(/\s+/)[1] === label;
      });
    }
    if (index < 0) {
      index = nb.activeCellIndex;
    }
    const cell = nb.widgets[index];
    if (!cell) {
      return null;
    }
    const shared = cell.model.sharedModel;
    const first = shared.getSource().split('\n', 1)[0];
    const magic = first.startsWith('%%track') ? first : '%%track';
    const text = `${magic}\n${source.replace(/\n+$/, '')}`;
    // one transaction: a single Ctrl-Z in the cell brings the old code back
    shared.transact(() => shared.setSource(text));
    nb.activeCellIndex = index;
    void nb.scrollToItem(index);
    return `cell [${index + 1}]`;
  }
}

function isTracked(source: string): boolean {
  return /^\s*%%track\b/.test(source);
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'nbtrack-labextension:plugin',
  description: 'nbtrack "Versions" sidebar: tracked cells, runs, diffs, restore, approve, promote.',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ILayoutRestorer, ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null
  ) => {
    const model = new VersionsModel(new NotebookAccess(tracker));
    const panel = new VersionsPanel(model);
    panel.id = PANEL_ID;
    panel.title.icon = historyIcon;
    panel.title.caption = 'nbtrack versions';
    app.shell.add(panel, 'left', { rank: 650 });
    if (restorer) {
      restorer.add(panel, PANEL_ID);
    }

    // follow the active notebook (and its renames)
    const follow = (nb: NotebookPanel | null) => {
      void model.setNotebook(nb ? nb.context.path : null);
    };
    tracker.currentChanged.connect((_, nb) => {
      follow(nb);
      nb?.context.pathChanged.connect(() => follow(tracker.currentWidget));
    });
    follow(tracker.currentWidget);

    // a tracked cell finished: its run is in the store before the execute_reply arrives
    let timer: number | undefined;
    NotebookActions.executed.connect((_, args) => {
      const current = tracker.currentWidget;
      if (
        !current ||
        args.notebook !== current.content ||
        !isTracked(args.cell.model.sharedModel.getSource())
      ) {
        return;
      }
      window.clearTimeout(timer);
      timer = window.setTimeout(() => void model.refresh(), REFRESH_DELAY_MS);
    });

    app.commands.addCommand(OPEN_COMMAND, {
      label: 'Show nbtrack Versions',
      execute: () => app.shell.activateById(PANEL_ID)
    });
    palette?.addItem({ command: OPEN_COMMAND, category: 'nbtrack' });
  }
};

export default plugin;
