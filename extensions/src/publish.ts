// The "Publish to alphabook" flow: draft → form dialog → publish → report.
import { Dialog, Notification, showDialog } from '@jupyterlab/apputils';
import { NotebookPanel } from '@jupyterlab/notebook';
import { Widget } from '@lumino/widgets';

import {
  errorMessage,
  getDraft,
  IDraft,
  IParameter,
  IPublishRequest,
  IPublishResult,
  Licence,
  publish
} from './api';
import { el, formatMinor, parsePriceMinor } from './util';

/** The raw values of the publish form, as typed by the person. */
export interface IFormValues {
  name: string;
  title: string;
  category: string;
  price: string;
  licence: Licence;
  version: string;
  changelog: string;
  submit: boolean;
}

function initialValues(draft: IDraft): IFormValues {
  return {
    name: draft.name,
    title: draft.title,
    category: draft.category,
    price: formatMinor(draft.price.amount_minor),
    licence: draft.licence === 'open' ? 'open' : 'protected',
    version: draft.next_version,
    changelog: '',
    submit: true
  };
}

function formatDefault(value: number | boolean | string): string {
  if (typeof value === 'boolean') {
    return value ? 'True' : 'False';
  }
  return String(value);
}

function formatRange(p: IParameter): string {
  if (p.choices && p.choices.length > 0) {
    return p.choices.join(', ');
  }
  const hasMin = p.minimum !== undefined && p.minimum !== null;
  const hasMax = p.maximum !== undefined && p.maximum !== null;
  if (hasMin && hasMax) {
    return `${p.minimum} – ${p.maximum}`;
  }
  if (hasMin) {
    return `≥ ${p.minimum}`;
  }
  if (hasMax) {
    return `≤ ${p.maximum}`;
  }
  return '';
}

/**
 * The body of the publish dialog.
 */
export class PublishForm
  extends Widget
  implements Dialog.IBodyWidget<IFormValues>
{
  constructor(draft: IDraft, values: IFormValues, error?: string) {
    super();
    this.addClass('ab-PublishForm');
    const root = this.node;

    const intro = el(
      'p',
      'ab-PublishForm-intro',
      `Publish ${draft.path} as ${draft.kind === 'strategy' ? 'a strategy' : 'an indicator'}.`
    );
    root.appendChild(intro);

    if (draft.listing) {
      const l = draft.listing;
      const latest = l.latest_version
        ? `, latest version ${l.latest_version}`
        : ', no version yet';
      root.appendChild(
        el(
          'p',
          'ab-ListingStatus',
          `Updating ${l.slug} (${l.status})${latest}`
        )
      );
    }

    if (error) {
      root.appendChild(el('div', 'ab-FormError', error));
    }

    if (draft.problems.length > 0) {
      const box = el('div', 'ab-Problems');
      box.appendChild(
        el('div', 'ab-Problems-title', 'Problems found in the notebook:')
      );
      const ul = el('ul');
      for (const problem of draft.problems) {
        ul.appendChild(el('li', undefined, problem));
      }
      box.appendChild(ul);
      root.appendChild(box);
    }

    const fields = el('div', 'ab-Fields');
    root.appendChild(fields);

    const row = (label: string, control: HTMLElement, hint?: string): void => {
      const wrap = el('label', 'ab-Field');
      wrap.appendChild(el('span', 'ab-Field-label', label));
      wrap.appendChild(control);
      if (hint) {
        wrap.appendChild(el('span', 'ab-Field-hint', hint));
      }
      fields.appendChild(wrap);
    };

    const text = (name: string, value: string, placeholder = ''): HTMLInputElement => {
      const input = el('input', 'jp-mod-styled ab-Input');
      input.type = 'text';
      input.name = name;
      input.value = value;
      input.placeholder = placeholder;
      return input;
    };

    this._name = text('name', values.name, 'my-indicator');
    row('Name', this._name, 'Listing name in the URL (lowercase, dashes).');

    this._title = text('title', values.title, 'A short descriptive title');
    row('Title', this._title);

    this._category = el('select', 'jp-mod-styled ab-Select');
    this._category.name = 'category';
    const categories = [...draft.categories];
    if (values.category && !categories.includes(values.category)) {
      categories.unshift(values.category);
    }
    for (const c of categories) {
      const option = el('option', undefined, c);
      option.value = c;
      this._category.appendChild(option);
    }
    this._category.value = values.category;
    row('Category', this._category);

    this._price = text('price', values.price, '9.99');
    this._price.inputMode = 'decimal';
    row(
      `Price (${draft.price.currency})`,
      this._price,
      'Per purchase, for example 9.99; 0 makes it free.'
    );

    this._licence = el('select', 'jp-mod-styled ab-Select');
    this._licence.name = 'licence';
    const licences: [Licence, string][] = [
      ['protected', 'Protected: buyers run it, never see the code'],
      ['open', 'Open: buyers get the source']
    ];
    for (const [value, label] of licences) {
      const option = el('option', undefined, label);
      option.value = value;
      this._licence.appendChild(option);
    }
    this._licence.value = values.licence;
    row('Licence', this._licence);

    this._version = text('version', values.version, draft.next_version);
    row('Version', this._version);

    this._changelog = el('textarea', 'jp-mod-styled ab-Textarea');
    this._changelog.name = 'changelog';
    this._changelog.rows = 3;
    this._changelog.value = values.changelog;
    this._changelog.placeholder = draft.listing
      ? 'What changed in this version'
      : 'First release';
    row('Changelog', this._changelog);

    const submitWrap = el('label', 'ab-Field ab-Field-checkbox');
    this._submit = el('input');
    this._submit.type = 'checkbox';
    this._submit.name = 'submit';
    this._submit.checked = values.submit;
    submitWrap.appendChild(this._submit);
    submitWrap.appendChild(el('span', undefined, 'Submit for review now'));
    fields.appendChild(submitWrap);

    root.appendChild(el('h3', 'ab-Section-title', 'Parameters'));
    if (draft.parameters.length === 0) {
      root.appendChild(
        el('p', 'ab-Muted', 'No parameters were detected in the notebook.')
      );
    } else {
      const table = el('table', 'ab-Params');
      const head = el('tr');
      for (const h of ['Name', 'Type', 'Default', 'Range']) {
        head.appendChild(el('th', undefined, h));
      }
      const thead = el('thead');
      thead.appendChild(head);
      table.appendChild(thead);
      const tbody = el('tbody');
      for (const p of draft.parameters) {
        const tr = el('tr');
        const nameCell = el('td', undefined, p.name);
        if (p.description) {
          nameCell.title = p.description;
        }
        tr.appendChild(nameCell);
        tr.appendChild(el('td', undefined, p.type));
        tr.appendChild(el('td', undefined, formatDefault(p.default)));
        tr.appendChild(el('td', undefined, formatRange(p)));
        tbody.appendChild(tr);
      }
      table.appendChild(tbody);
      root.appendChild(table);
    }
  }

  getValue(): IFormValues {
    return {
      name: this._name.value.trim(),
      title: this._title.value.trim(),
      category: this._category.value,
      price: this._price.value.trim(),
      licence: this._licence.value === 'open' ? 'open' : 'protected',
      version: this._version.value.trim(),
      changelog: this._changelog.value,
      submit: this._submit.checked
    };
  }

  private _name: HTMLInputElement;
  private _title: HTMLInputElement;
  private _category: HTMLSelectElement;
  private _price: HTMLInputElement;
  private _licence: HTMLSelectElement;
  private _version: HTMLInputElement;
  private _changelog: HTMLTextAreaElement;
  private _submit: HTMLInputElement;
}

/**
 * Validate the form values and build the publish request, or return an error.
 */
export function buildRequest(
  draft: IDraft,
  values: IFormValues
): { ok: true; request: IPublishRequest } | { ok: false; error: string } {
  if (!values.title) {
    return { ok: false, error: 'The title cannot be empty.' };
  }
  if (!values.name) {
    return { ok: false, error: 'The name cannot be empty.' };
  }
  if (!values.version) {
    return { ok: false, error: 'The version cannot be empty.' };
  }
  if (!values.category) {
    return { ok: false, error: 'Choose a category.' };
  }
  const price = parsePriceMinor(values.price);
  if (!price.ok) {
    return { ok: false, error: price.error };
  }
  return {
    ok: true,
    request: {
      path: draft.path,
      name: values.name,
      title: values.title,
      category: values.category,
      tags: draft.tags,
      price_minor: price.value,
      currency: draft.price.currency,
      licence: values.licence,
      version: values.version,
      changelog: values.changelog,
      submit: values.submit
    }
  };
}

/**
 * The body of the validation report dialog.
 */
export class ReportView extends Widget {
  constructor(result: IPublishResult) {
    super();
    this.addClass('ab-Report');
    this.addClass(result.published ? 'ab-Report-ok' : 'ab-Report-failed');
    this.node.appendChild(el('p', 'ab-ReportMessage', result.message));

    if (result.listing_url) {
      const link = el('a', 'ab-ListingLink', 'Open the listing page');
      link.href = result.listing_url;
      link.target = '_blank';
      link.rel = 'noopener noreferrer';
      this.node.appendChild(link);
    }

    const steps = el('div', 'ab-Steps');
    for (const step of result.report?.steps ?? []) {
      const row = el(
        'div',
        `ab-Step ${step.ok ? 'ab-Step-ok' : 'ab-Step-failed'}`
      );
      const head = el('div', 'ab-Step-head');
      head.appendChild(el('span', 'ab-Step-mark', step.ok ? '✓' : '✗'));
      head.appendChild(el('span', 'ab-Step-name', step.name));
      const seconds =
        typeof step.seconds === 'number' ? `${step.seconds.toFixed(1)} s` : '';
      head.appendChild(el('span', 'ab-Step-seconds', seconds));
      row.appendChild(head);
      if (step.detail) {
        row.appendChild(el('div', 'ab-Step-detail', step.detail));
      }
      steps.appendChild(row);
    }
    this.node.appendChild(steps);
  }
}

/**
 * Run the whole publish flow for a notebook panel.
 */
export async function publishNotebook(panel: NotebookPanel): Promise<void> {
  const context = panel.context;
  await context.ready;
  if (context.model.dirty && !context.model.readOnly) {
    try {
      await context.save();
    } catch (error) {
      Notification.error(
        `Could not save the notebook before publishing: ${errorMessage(error)}`,
        { autoClose: false }
      );
      return;
    }
  }

  let draft: IDraft;
  try {
    draft = await getDraft(context.path);
  } catch (error) {
    Notification.error(errorMessage(error), { autoClose: false });
    return;
  }

  let values = initialValues(draft);
  let formError: string | undefined;
  let request: IPublishRequest | null = null;
  while (request === null) {
    const form = new PublishForm(draft, values, formError);
    const result = await showDialog<IFormValues>({
      title: 'Publish to alphabook',
      body: form,
      buttons: [
        Dialog.cancelButton(),
        Dialog.okButton({ label: 'Validate and publish' })
      ],
      focusNodeSelector: 'input[name="title"]'
    });
    if (!result.button.accept || result.value === null) {
      return;
    }
    values = result.value;
    const built = buildRequest(draft, values);
    if (built.ok) {
      request = built.request;
    } else {
      formError = built.error;
    }
  }

  const pending = publish(request);
  const notificationId = Notification.emit(
    'Validating in the sandbox…',
    'in-progress',
    { autoClose: false }
  );

  let outcome: IPublishResult;
  try {
    outcome = await pending;
  } catch (error) {
    Notification.update({
      id: notificationId,
      message: errorMessage(error),
      type: 'error',
      autoClose: false
    });
    return;
  }
  Notification.update({
    id: notificationId,
    message: outcome.published
      ? `Published ${outcome.slug ?? request.name} ${outcome.version ?? ''}`.trim()
      : 'Validation failed; see the report.',
    type: outcome.published ? 'success' : 'warning',
    autoClose: 5000
  });

  await showDialog({
    title: 'Validation report',
    body: new ReportView(outcome),
    buttons: [Dialog.okButton({ label: 'OK' })]
  });
}
