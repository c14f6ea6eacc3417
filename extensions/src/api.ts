// Typed client for the alphabook jupyter_server extension.
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

export type Kind = 'indicator' | 'strategy';
export type Licence = 'protected' | 'open';

export interface IParameter {
  name: string;
  type: 'int' | 'float' | 'bool' | 'choice';
  default: number | boolean | string;
  minimum?: number | null;
  maximum?: number | null;
  choices?: string[];
  description?: string;
}

export interface IListingRef {
  slug: string;
  status: string;
  latest_version: string | null;
  title: string;
}

export interface IDraft {
  path: string;
  kind: Kind;
  name: string;
  title: string;
  description: string;
  category: string;
  tags: string[];
  price: { amount_minor: number; currency: string };
  licence: Licence;
  parameters: IParameter[];
  problems: string[];
  listing: IListingRef | null;
  next_version: string;
  categories: string[];
}

export interface IPublishRequest {
  path: string;
  name: string;
  title: string;
  category: string;
  tags: string[];
  price_minor: number;
  currency: string;
  licence: Licence;
  version: string;
  changelog: string;
  submit: boolean;
}

export interface IReportStep {
  name: string;
  ok: boolean;
  detail: string;
  seconds: number;
}

export interface IReport {
  ok: boolean;
  steps: IReportStep[];
  backtest?: Record<string, unknown>;
}

export interface IPublishResult {
  published: boolean;
  slug: string | null;
  version: string | null;
  created: boolean;
  submitted: boolean;
  status: string | null;
  report: IReport;
  listing_url: string | null;
  message: string;
}

export interface ISummary {
  slug: string;
  kind: string;
  title: string;
  creator: string;
  category: string;
  tags: string[];
  price: { amount_minor: number; currency: string; display: string };
  free: boolean;
  licence: string;
  rating_avg: number;
  rating_count: number;
  installs: number;
  purchases: number;
}

export interface IItems {
  items: ISummary[];
}

/**
 * An error from the alphabook server extension; `message` is the
 * human-readable `detail` of the JSON problem body.
 */
export class AlphabookError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly title: string
  ) {
    super(message);
    this.name = 'AlphabookError';
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Call an alphabook endpoint and return its parsed JSON body.
 */
export async function requestAPI<T>(
  endPoint: string,
  init: RequestInit = {},
  query: Record<string, string> = {}
): Promise<T> {
  const settings = ServerConnection.makeSettings();
  let url = URLExt.join(settings.baseUrl, 'alphabook', endPoint);
  const search = URLExt.objectToQueryString(query);
  if (search) {
    url += search;
  }

  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new ServerConnection.NetworkError(error as TypeError);
  }

  const text = await response.text();
  let data: unknown = null;
  if (text.length > 0) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }

  if (!response.ok) {
    let detail = `The alphabook server answered ${response.status} ${response.statusText}.`;
    let title = 'alphabook error';
    if (isRecord(data)) {
      if (typeof data.detail === 'string' && data.detail) {
        detail = data.detail;
      } else if (typeof data.message === 'string' && data.message) {
        detail = data.message;
      }
      if (typeof data.title === 'string' && data.title) {
        title = data.title;
      }
    } else if (text && response.status === 404) {
      detail =
        'The alphabook server extension is not enabled on this Jupyter server.';
    }
    throw new AlphabookError(detail, response.status, title);
  }
  if (data === null) {
    throw new AlphabookError(
      'The alphabook server returned an empty or invalid response.',
      response.status,
      'alphabook error'
    );
  }
  return data as T;
}

export function getDraft(path: string): Promise<IDraft> {
  return requestAPI<IDraft>('draft', { method: 'GET' }, { path });
}

export function publish(body: IPublishRequest): Promise<IPublishResult> {
  return requestAPI<IPublishResult>('publish', {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'Content-Type': 'application/json' }
  });
}

export function searchMarketplace(q: string, kind: string): Promise<IItems> {
  return requestAPI<IItems>('marketplace', { method: 'GET' }, { q, kind });
}

export function getLibrary(): Promise<IItems> {
  return requestAPI<IItems>('library', { method: 'GET' });
}

/** The human-readable message of any thrown value. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) {
    return error.message;
  }
  return String(error);
}
