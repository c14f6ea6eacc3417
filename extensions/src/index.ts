import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  ICommandPalette,
  Notification,
  ToolbarButton
} from '@jupyterlab/apputils';
import { DocumentRegistry } from '@jupyterlab/docregistry';
import {
  INotebookModel,
  INotebookTracker,
  NotebookPanel
} from '@jupyterlab/notebook';
import { DisposableDelegate, IDisposable } from '@lumino/disposable';

import { errorMessage } from './api';
import { publishIcon } from './icons';
import { publishNotebook } from './publish';
import { MarketplacePanel } from './sidebar';

namespace CommandIDs {
  export const publish = 'alphabook:publish';
  export const marketplace = 'alphabook:marketplace';
}

const PALETTE_CATEGORY = 'alphabook';

/** Notebook panels with a publish flow in progress. */
const inFlight = new WeakSet<NotebookPanel>();

async function runPublish(panel: NotebookPanel): Promise<void> {
  if (inFlight.has(panel)) {
    Notification.info('Publishing of this notebook is already in progress.', {
      autoClose: 3000
    });
    return;
  }
  inFlight.add(panel);
  try {
    await publishNotebook(panel);
  } catch (error) {
    Notification.error(errorMessage(error), { autoClose: false });
  } finally {
    inFlight.delete(panel);
  }
}

/**
 * Adds a "Publish" button to every notebook toolbar.
 */
class PublishButtonExtension
  implements DocumentRegistry.IWidgetExtension<NotebookPanel, INotebookModel>
{
  createNew(
    panel: NotebookPanel,
    _context: DocumentRegistry.IContext<INotebookModel>
  ): IDisposable {
    const button = new ToolbarButton({
      className: 'ab-PublishButton',
      icon: publishIcon,
      label: 'Publish',
      tooltip: 'Publish to alphabook',
      onClick: () => {
        void runPublish(panel);
      }
    });
    panel.toolbar.insertItem(10, 'alphabookPublish', button);
    return new DisposableDelegate(() => {
      button.dispose();
    });
  }
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'alphabook-jupyterlab:plugin',
  description:
    'Publish notebooks to the alphabook marketplace and browse it from JupyterLab.',
  autoStart: true,
  requires: [INotebookTracker, ICommandPalette],
  optional: [ILayoutRestorer],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    palette: ICommandPalette,
    restorer: ILayoutRestorer | null
  ) => {
    const { commands, shell } = app;

    const currentNotebook = (): NotebookPanel | null => {
      const widget = tracker.currentWidget;
      return widget !== null && widget === shell.currentWidget ? widget : null;
    };

    commands.addCommand(CommandIDs.publish, {
      label: 'Publish to alphabook',
      caption:
        'Validate the current notebook in the sandbox and publish it as an alphabook listing',
      icon: publishIcon,
      isEnabled: () => currentNotebook() !== null,
      execute: async () => {
        const panel = currentNotebook();
        if (!panel) {
          Notification.warning('Open a notebook first', { autoClose: 4000 });
          return;
        }
        await runPublish(panel);
      }
    });

    const notifyChanged = (): void => {
      commands.notifyCommandChanged(CommandIDs.publish);
    };
    tracker.currentChanged.connect(notifyChanged);
    if (shell.currentChanged) {
      shell.currentChanged.connect(notifyChanged);
    }

    app.docRegistry.addWidgetExtension('Notebook', new PublishButtonExtension());

    const marketplace = new MarketplacePanel(tracker, id => {
      shell.activateById(id);
    });
    shell.add(marketplace, 'left', { rank: 600 });
    if (restorer) {
      restorer.add(marketplace, marketplace.id);
    }

    commands.addCommand(CommandIDs.marketplace, {
      label: 'Open the alphabook Marketplace',
      caption: 'Search alphabook listings and insert them into a notebook',
      execute: () => {
        shell.activateById(marketplace.id);
      }
    });

    palette.addItem({ command: CommandIDs.publish, category: PALETTE_CATEGORY });
    palette.addItem({
      command: CommandIDs.marketplace,
      category: PALETTE_CATEGORY
    });
  }
};

export default plugin;
