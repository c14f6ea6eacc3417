// The "Marketplace" left sidebar panel.
import { Notification } from '@jupyterlab/apputils';
import { INotebookTracker, NotebookActions } from '@jupyterlab/notebook';
import { refreshIcon } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import { errorMessage, getLibrary, ISummary, searchMarketplace } from './api';
import { alphabookIcon } from './icons';
import { el, useSnippet } from './util';

export const MARKETPLACE_ID = 'alphabook-marketplace';

function stars(avg: number): string {
  const n = Math.max(0, Math.min(5, Math.round(avg)));
  return '★'.repeat(n) + '☆'.repeat(5 - n);
}

/**
 * Insert a code cell that loads `slug` below the active cell of the current
 * notebook. Returns false when no notebook is open.
 */
export function insertUseCell(tracker: INotebookTracker, slug: string): boolean {
  const panel = tracker.currentWidget;
  if (!panel || !panel.content.model) {
    Notification.warning('Open a notebook first', { autoClose: 4000 });
    return false;
  }
  const notebook = panel.content;
  NotebookActions.insertBelow(notebook);
  if (notebook.activeCell && notebook.activeCell.model.type !== 'code') {
    NotebookActions.changeCellType(notebook, 'code');
  }
  const cell = notebook.activeCell;
  if (cell) {
    cell.model.sharedModel.setSource(useSnippet(slug));
  }
  return true;
}

export class MarketplacePanel extends Widget {
  constructor(
    private readonly _tracker: INotebookTracker,
    private readonly _activateNotebook: (id: string) => void
  ) {
    super();
    this.id = MARKETPLACE_ID;
    this.addClass('ab-Marketplace');
    this.title.icon = alphabookIcon;
    this.title.caption = 'alphabook Marketplace';

    const header = el('div', 'ab-Marketplace-header');
    header.appendChild(el('h2', 'ab-Marketplace-title', 'Marketplace'));
    const refresh = el('button', 'jp-Button jp-mod-minimal ab-RefreshButton');
    refresh.type = 'button';
    refresh.title = 'Refresh';
    refresh.setAttribute('aria-label', 'Refresh');
    refreshIcon.element({ container: refresh, tag: 'span' });
    refresh.addEventListener('click', () => {
      void this.refresh();
    });
    header.appendChild(refresh);
    this.node.appendChild(header);

    const searchRow = el('div', 'ab-SearchRow');
    this._search = el('input', 'jp-mod-styled ab-Search');
    this._search.type = 'search';
    this._search.placeholder = 'Search indicators, strategies…';
    this._search.setAttribute('aria-label', 'Search the marketplace');
    this._search.addEventListener('keydown', (event: KeyboardEvent) => {
      if (event.key === 'Enter') {
        event.preventDefault();
        void this.search();
      }
    });
    searchRow.appendChild(this._search);

    this._kind = el('select', 'jp-mod-styled ab-KindFilter');
    this._kind.setAttribute('aria-label', 'Kind');
    for (const [value, label] of [
      ['', 'All kinds'],
      ['indicator', 'Indicators'],
      ['strategy', 'Strategies'],
      ['notebook', 'Notebooks']
    ]) {
      const option = el('option', undefined, label);
      option.value = value;
      this._kind.appendChild(option);
    }
    this._kind.addEventListener('change', () => {
      void this.search();
    });
    searchRow.appendChild(this._kind);

    const searchButton = el(
      'button',
      'jp-Button jp-mod-styled jp-mod-accept ab-SearchButton',
      'Search'
    );
    searchButton.type = 'button';
    searchButton.addEventListener('click', () => {
      void this.search();
    });
    searchRow.appendChild(searchButton);
    this.node.appendChild(searchRow);

    const body = el('div', 'ab-Marketplace-body');
    body.appendChild(el('h3', 'ab-Section-title', 'Results'));
    this._results = el('div', 'ab-Results');
    body.appendChild(this._results);
    body.appendChild(el('h3', 'ab-Section-title', 'My purchases'));
    this._library = el('div', 'ab-Library');
    body.appendChild(this._library);
    this.node.appendChild(body);
  }

  /** Reload the search results and the library. */
  async refresh(): Promise<void> {
    await Promise.all([this.search(), this.loadLibrary()]);
  }

  /** Run the search with the current query and kind filter. */
  async search(): Promise<void> {
    const token = ++this._searchToken;
    this._setStatus(this._results, 'Searching…');
    try {
      const { items } = await searchMarketplace(
        this._search.value.trim(),
        this._kind.value
      );
      if (token !== this._searchToken) {
        return; // A newer search superseded this one.
      }
      this._render(this._results, items, 'Nothing matches this search.');
    } catch (error) {
      if (token === this._searchToken) {
        this._setStatus(this._results, errorMessage(error), true);
      }
    }
  }

  /** Load what the person bought or installed. */
  async loadLibrary(): Promise<void> {
    const token = ++this._libraryToken;
    this._setStatus(this._library, 'Loading…');
    try {
      const { items } = await getLibrary();
      if (token !== this._libraryToken) {
        return;
      }
      this._render(
        this._library,
        items,
        'You have not bought or installed anything yet.'
      );
    } catch (error) {
      if (token === this._libraryToken) {
        this._setStatus(this._library, errorMessage(error), true);
      }
    }
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this._loadOnce();
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    if (this.isVisible) {
      this._loadOnce();
    }
  }

  protected onActivateRequest(msg: Message): void {
    super.onActivateRequest(msg);
    if (this.isAttached) {
      this._search.focus();
    }
  }

  private _loadOnce(): void {
    if (this._loaded) {
      return;
    }
    this._loaded = true;
    void this.refresh();
  }

  private _setStatus(container: HTMLElement, text: string, error = false): void {
    container.replaceChildren(
      el('div', error ? 'ab-Status ab-Status-error' : 'ab-Status', text)
    );
  }

  private _render(
    container: HTMLElement,
    items: ISummary[],
    emptyText: string
  ): void {
    if (items.length === 0) {
      this._setStatus(container, emptyText);
      return;
    }
    const list = el('ul', 'ab-ResultList');
    for (const item of items) {
      list.appendChild(this._renderItem(item));
    }
    container.replaceChildren(list);
  }

  private _renderItem(item: ISummary): HTMLElement {
    const li = el('li', 'ab-Result');
    li.dataset.slug = item.slug;

    const top = el('div', 'ab-Result-top');
    top.appendChild(el('span', 'ab-Result-title', item.title || item.slug));
    top.appendChild(
      el(
        'span',
        item.free ? 'ab-Result-price ab-Result-free' : 'ab-Result-price',
        item.free ? 'Free' : item.price.display
      )
    );
    li.appendChild(top);

    li.appendChild(el('div', 'ab-Result-slug', item.slug));

    const meta = el('div', 'ab-Result-meta');
    meta.appendChild(el('span', 'ab-Result-kind', item.kind));
    meta.appendChild(el('span', 'ab-Result-creator', `by ${item.creator}`));
    const rating = el(
      'span',
      'ab-Result-rating',
      `${stars(item.rating_avg)} (${item.rating_count})`
    );
    rating.title = `Rated ${item.rating_avg.toFixed(1)} out of 5 by ${item.rating_count} ${item.rating_count === 1 ? 'person' : 'people'}`;
    meta.appendChild(rating);
    meta.appendChild(el('span', 'ab-Result-licence', item.licence));
    li.appendChild(meta);

    const actions = el('div', 'ab-Result-actions');
    const insert = el('button', 'jp-Button jp-mod-styled ab-Insert', 'Insert');
    insert.type = 'button';
    insert.title = 'Insert ab.use(...) into the notebook';
    insert.addEventListener('click', () => {
      if (insertUseCell(this._tracker, item.slug)) {
        const panel = this._tracker.currentWidget;
        if (panel) {
          this._activateNotebook(panel.id);
        }
      }
    });
    actions.appendChild(insert);
    li.appendChild(actions);
    return li;
  }

  private _search: HTMLInputElement;
  private _kind: HTMLSelectElement;
  private _results: HTMLDivElement;
  private _library: HTMLDivElement;
  private _loaded = false;
  private _searchToken = 0;
  private _libraryToken = 0;
}
