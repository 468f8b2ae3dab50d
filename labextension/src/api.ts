import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

/** Why a call to the nbtrack API failed. */
export type ApiErrorKind =
  /** the server answered 404 without our JSON error: the server extension is not installed/enabled */
  | 'extension-missing'
  /** no response at all */
  | 'network'
  /** the server returned {"error": ..., "message": ...}; `name` holds the error class */
  | 'api';

/** The one error type every call to the nbtrack API throws. */
export class ApiError extends Error {
  constructor(
    readonly kind: ApiErrorKind,
    readonly status: number,
    readonly name: string,
    message: string
  ) {
    super(message);
  }
}

export interface IRequestOptions {
  method?: 'GET' | 'POST';
  /** Query parameters; undefined/null/'' values are left out. */
  query?: Record<string, string | number | null | undefined>;
  /** JSON body for POST. */
  body?: unknown;
  /** Read the body as a Blob (figures) instead of JSON. */
  blob?: boolean;
}

/**
 * Call the nbtrack server extension at `{base_url}/nbtrack/api/<endPoint>`.
 *
 * @throws {ApiError} on any failure (network, 404 extension missing, error JSON)
 */
export async function requestAPI<T>(endPoint: string, options: IRequestOptions = {}): Promise<T> {
  const settings = ServerConnection.makeSettings();
  let url = URLExt.join(settings.baseUrl, 'nbtrack', 'api', endPoint);
  const params = Object.entries(options.query ?? {}).filter(
    ([, v]) => v !== undefined && v !== null && v !== ''
  );
  if (params.length) {
    const qs = params
      .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
      .join('&');
    url += (url.includes('?') ? '&' : '?') + qs;
  }
  const init: RequestInit = { method: options.method ?? 'GET' };
  if (options.body !== undefined) {
    init.body = JSON.stringify(options.body);
    init.headers = { 'Content-Type': 'application/json' };
  }
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new ApiError('network', 0, 'NetworkError', `cannot reach the Jupyter server: ${error}`);
  }
  if (response.ok && options.blob) {
    return (await response.blob()) as unknown as T;
  }
  const text = await response.text();
  let data: unknown = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const body = (data ?? {}) as { error?: string; message?: string };
    if (!body.error) {
      if (response.status === 404) {
        throw new ApiError(
          'extension-missing',
          404,
          'ExtensionMissing',
          'The nbtrack server extension is not running: install nbtrack in the Python environment that runs Jupyter, then restart it.'
        );
      }
      throw new ApiError(
        'api',
        response.status,
        'HTTPError',
        `${response.status} ${response.statusText}`
      );
    }
    throw new ApiError('api', response.status, body.error, body.message ?? body.error);
  }
  return data as T;
}
