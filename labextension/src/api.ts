import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import type { paths } from './schema';

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

/* Typed calls: routes, parameters, bodies and replies come from src/schema.d.ts, generated
 * from src/nbtrack/jupyter/openapi.yml by `jlpm schema` (never edited by hand). */

type Method = 'get' | 'post';

/** The routes of openapi.yml that answer `M`. */
export type Route<M extends Method> = {
  [P in keyof paths]: paths[P][M] extends { responses: unknown } ? P : never;
}[keyof paths];

type Operation<P extends keyof paths, M extends Method> = NonNullable<paths[P][M]>;
type QueryOf<O> = O extends { parameters: { query?: infer Q } } ? NonNullable<Q> : never;
type PathOf<O> = O extends { parameters: { path?: infer X } } ? NonNullable<X> : never;
type Success<R> = R extends { 200: infer S } ? S : R extends { 201: infer S } ? S : never;
type Json<S> = S extends { content: { 'application/json': infer T } } ? T : never;

/** The JSON a successful call of route `P` with method `M` returns. */
export type Reply<P extends keyof paths, M extends Method> = Json<
  Success<Operation<P, M>['responses']>
>;

/** Query parameters of an operation; null/undefined ones are left out of the URL. */
export type Query<O> = { [K in keyof QueryOf<O>]?: QueryOf<O>[K] | null };

/** Values for the `{placeholders}` of a route. */
export type PathParams<O> = PathOf<O>;

type Body<O> = O extends { requestBody?: { content: { 'application/json': infer B } } } ? B : never;

export interface ICallOptions<O> {
  path?: PathParams<O>;
  query?: Query<O>;
  body?: Body<O>;
}

/**
 * The URL below the API root for `route` (`/runs/{run}` -> `runs/<id>`), every path
 * value URL-encoded.
 *
 * @throws {ApiError} when a placeholder has no value
 */
export function routeUrl(route: string, path: Record<string, unknown> = {}): string {
  return route.replace(/^\//, '').replace(/\{(\w+)\}/g, (_, key: string) => {
    const value = path[key];
    if (value === undefined || value === null || value === '') {
      throw new ApiError('api', 0, 'InvalidInput', `${route}: no value for {${key}}`);
    }
    return encodeURIComponent(String(value));
  });
}

/** GET `route` of the nbtrack API; the reply is typed by openapi.yml. */
export function apiGet<P extends Route<'get'>>(
  route: P,
  options: ICallOptions<Operation<P, 'get'>> = {}
): Promise<Reply<P, 'get'>> {
  return requestAPI<Reply<P, 'get'>>(routeUrl(route, options.path as Record<string, unknown>), {
    query: options.query as IRequestOptions['query']
  });
}

/** POST to `route` of the nbtrack API; body and reply are typed by openapi.yml. */
export function apiPost<P extends Route<'post'>>(
  route: P,
  options: ICallOptions<Operation<P, 'post'>> = {}
): Promise<Reply<P, 'post'>> {
  return requestAPI<Reply<P, 'post'>>(routeUrl(route, options.path as Record<string, unknown>), {
    method: 'POST',
    query: options.query as IRequestOptions['query'],
    body: options.body
  });
}
