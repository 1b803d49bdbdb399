// The tune client for TypeScript: the types are generated from
// openapi/openapi.yaml (src/schema.d.ts, `npm run generate`), and every
// call goes through openapi-fetch, so a request or a response that does not
// match the spec is a type error, not a surprise at run time.
import createClient, { type Client, type Middleware } from "openapi-fetch";
import type { components, operations, paths } from "./schema.js";

export type { components, operations, paths };
export type Study = components["schemas"]["Study"];
export type StudyCreate = components["schemas"]["StudyCreate"];
export type Trial = components["schemas"]["Trial"];
export type TellRequest = components["schemas"]["TellRequest"];
export type ReportRequest = components["schemas"]["ReportRequest"];
export type Problem = components["schemas"]["Problem"];
export type TuneClient = Client<paths>;

export const API_PREFIX = "/api/v1";
export const DEFAULT_SERVER = "http://127.0.0.1:8080";

export interface TuneClientOptions {
  /** The server, e.g. http://tune.internal:8080; else $TUNE_SERVER, else http://127.0.0.1:8080. */
  server?: string;
  /** A bearer token; else $TUNE_TOKEN. Sent as `Authorization: Bearer`. */
  token?: string;
  /** A fetch to use instead of the global one (tests, proxies). */
  fetch?: typeof globalThis.fetch;
}

/** The server's base URL as the CLI reads --server: a scheme is added when
 * missing, and a trailing slash or /api/v1 is dropped. */
export function normalizeServer(server: string): string {
  let url = server.trim();
  if (url === "") throw new Error("empty server URL");
  if (!url.includes("://")) url = "http://" + url;
  const u = new URL(url);
  if (u.protocol !== "http:" && u.protocol !== "https:") {
    throw new Error(`server URL ${JSON.stringify(server)}: want http://host:port`);
  }
  let path = u.pathname.replace(/\/+$/, "");
  if (path.endsWith(API_PREFIX)) path = path.slice(0, -API_PREFIX.length);
  return `${u.protocol}//${u.host}${path}`;
}

function env(name: string): string | undefined {
  const g = globalThis as { process?: { env?: Record<string, string | undefined> } };
  return g.process?.env?.[name] || undefined;
}

/** A typed client for the tune API (paths are relative to /api/v1). */
export function createTuneClient(options: TuneClientOptions = {}): TuneClient {
  const server = normalizeServer(options.server ?? env("TUNE_SERVER") ?? DEFAULT_SERVER);
  const client = createClient<paths>({ baseUrl: server + API_PREFIX, fetch: options.fetch });
  const token = options.token ?? env("TUNE_TOKEN");
  if (token) {
    // A middleware rather than a default header: the token stays out of
    // the client's visible configuration.
    const auth: Middleware = {
      onRequest({ request }) {
        request.headers.set("Authorization", `Bearer ${token}`);
        return request;
      },
    };
    client.use(auth);
  }
  return client;
}

/** The server's RFC 9457 problem details as an Error. */
export class TuneError extends Error {
  readonly status: number;
  readonly title: string;
  readonly detail: string;

  constructor(problem: Partial<Problem> & { status: number }) {
    const title = problem.title ?? `HTTP ${problem.status}`;
    super(problem.detail ? `${problem.status} ${title}: ${problem.detail}` : `${problem.status} ${title}`);
    this.name = "TuneError";
    this.status = problem.status;
    this.title = title;
    this.detail = problem.detail ?? "";
  }
}

/** The data of an openapi-fetch result, or a TuneError for its problem. */
export function unwrap<T>(result: { data?: T; error?: unknown; response: Response }): T {
  if (result.error !== undefined || !result.response.ok) {
    const p = (typeof result.error === "object" && result.error !== null ? result.error : {}) as Partial<Problem>;
    throw new TuneError({ ...p, status: p.status ?? result.response.status });
  }
  return result.data as T;
}
