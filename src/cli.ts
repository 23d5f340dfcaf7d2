import { parseArgs, type ParseArgsConfig } from 'node:util';
import { z } from 'zod';

/**
 * `herald`: Herald's HTTP API from a terminal. Talks to a running API at HERALD_URL
 * (default http://localhost:3000) with HERALD_API_KEY as the bearer key.
 */

const usage = `usage: herald <command> [options]

  events send --type T [--data JSON] [--id ID] [--channels a,b] [--tags a,b] [--tenant T]
  deliveries list [--status S] [--endpoint E] [--event-type T] [--tag T] [--since ISO] [--tenant T] [--cursor C] [--json]
  deliveries show ID
  deliveries replay ID
  endpoints list [--tenant T] [--json]
  endpoints create --url U [--events a,b] [--policy standard|make|none|JSON] [--tenant T]
  endpoints stats ID [--window 1h|24h|7d] [--tenant T]
  portal link [--tenant T] [--capabilities view,replay,...] [--endpoints E1,E2] [--expires-in 24h] [--session-id S]
  portal revoke SESSION_ID [--tenant T]

environment: HERALD_URL (default http://localhost:3000), HERALD_API_KEY (bearer key)`;

/** A failure worth one line on stderr; `exitCode` 2 is a usage mistake, 1 anything the API or network said. */
class CliError extends Error {
  constructor(message: string, readonly exitCode: 1 | 2 = 1) {
    super(message);
  }
}

const problemSchema = z.object({
  status: z.number(),
  title: z.string(),
  detail: z.string().optional(),
  errors: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
});

const environment = z.object({
  HERALD_URL: z.url({ protocol: /^https?$/, error: 'HERALD_URL must be an http or https URL' }).default('http://localhost:3000'),
  HERALD_API_KEY: z.string().min(1).optional(),
});

type Api = (method: string, path: string, body?: unknown) => Promise<unknown>;

/** A page of a list route: `{ data, nextCursor }`. */
const listPage = z.object({ data: z.array(z.record(z.string(), z.unknown())), nextCursor: z.string().nullable().optional() });

function readPage(answer: unknown, path: string): z.output<typeof listPage> {
  const page = listPage.safeParse(answer);
  if (!page.success) throw new CliError(`GET ${path}: unexpected answer ${JSON.stringify(answer).slice(0, 200)}`);
  return page.data;
}

function apiClient(env: NodeJS.ProcessEnv): Api {
  const parsed = environment.safeParse(env);
  if (!parsed.success) throw new CliError(parsed.error.issues.map((issue) => issue.message).join('; '), 2);
  const baseUrl = parsed.data.HERALD_URL.replace(/\/+$/, '');
  const apiKey = parsed.data.HERALD_API_KEY;
  return async (method, path, body) => {
    let response: Response;
    try {
      response = await fetch(`${baseUrl}${path}`, {
        method,
        headers: {
          accept: 'application/json',
          ...(apiKey && { authorization: `Bearer ${apiKey}` }),
          ...(body !== undefined && { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : String(err);
      throw new CliError(`cannot reach Herald at ${baseUrl}: ${cause}`);
    }
    const text = await response.text();
    let answer: unknown;
    try {
      answer = text ? JSON.parse(text) : undefined;
    } catch {
      throw new CliError(`${method} ${path}: HTTP ${response.status}, not JSON: ${text.slice(0, 200)}`);
    }
    if (!response.ok) throw new CliError(describeProblem(response.status, answer));
    return answer;
  };
}

/** `400 Invalid request: 2 invalid fields in body` and one indented line per failing field. */
function describeProblem(status: number, answer: unknown): string {
  const problem = problemSchema.safeParse(answer);
  if (!problem.success) return `HTTP ${status}: ${JSON.stringify(answer)}`;
  const { title, detail, errors = [] } = problem.data;
  return [`${status} ${title}${detail ? `: ${detail}` : ''}`, ...errors.map((e) => `  ${e.field}: ${e.message}`)].join('\n');
}

function parseJsonOption(name: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new CliError(`--${name} is not valid JSON: ${(err as Error).message}`, 2);
  }
}

/** A compact, aligned table; arrays are comma-joined and missing values shown as `-`. */
function table(rows: Record<string, unknown>[], columns: [header: string, key: string][]): string {
  if (rows.length === 0) return '(none)';
  const cell = (value: unknown) => (value === null || value === undefined ? '-' : Array.isArray(value) ? value.join(',') : String(value));
  const lines = [columns.map(([header]) => header), ...rows.map((row) => columns.map(([, key]) => cell(row[key])))];
  const widths = columns.map((_, i) => Math.max(...lines.map((line) => line[i]!.length)));
  return lines.map((line) => line.map((text, i) => text.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

type Values = Record<string, string | boolean | undefined>;

interface Command {
  options: NonNullable<ParseArgsConfig['options']>;
  /** Names of the required positional arguments. */
  positionals?: string[];
  required?: string[];
  /** Prints what the API answered: JSON, or a table for lists (unless --json). */
  run(api: Api, values: Values, positionals: string[]): Promise<string>;
}

const json = (value: unknown) => JSON.stringify(value, null, 2);
const query = (params: Record<string, string | boolean | undefined>) => {
  const search = new URLSearchParams(Object.entries(params).filter((e): e is [string, string] => typeof e[1] === 'string'));
  return search.size ? `?${search}` : '';
};
const deliveryPath = (id: string) => `/v1/deliveries/${encodeURIComponent(id)}`;
/** `a, b,c` as ['a', 'b', 'c']; undefined when the option was not given. */
const commaList = (text: unknown) => (typeof text === 'string' ? text.split(',').map((item) => item.trim()).filter(Boolean) : undefined);

const commands: Record<string, Command> = {
  'events send': {
    options: { type: { type: 'string' }, data: { type: 'string' }, id: { type: 'string' }, channels: { type: 'string' }, tags: { type: 'string' }, tenant: { type: 'string' } },
    required: ['type'],
    // Options left out are undefined, which JSON leaves out: the API applies its defaults.
    run: async (api, v) =>
      json(await api('POST', '/v1/events', {
        type: v.type, id: v.id, tenant: v.tenant, data: v.data === undefined ? undefined : parseJsonOption('data', v.data as string),
        channels: commaList(v.channels), tags: commaList(v.tags),
      })),
  },
  'deliveries list': {
    options: {
      status: { type: 'string' }, endpoint: { type: 'string' }, 'event-type': { type: 'string' }, tag: { type: 'string' }, since: { type: 'string' },
      tenant: { type: 'string' }, cursor: { type: 'string' }, json: { type: 'boolean' },
    },
    // One page, newest first: a delivery log can be long. The next page's command is printed.
    run: async (api, v) => {
      const path = `/v1/deliveries${query({ status: v.status, endpointId: v.endpoint, eventType: v['event-type'], tag: v.tag, since: v.since, tenant: v.tenant, cursor: v.cursor })}`;
      const answer = await api('GET', path);
      if (v.json) return json(answer);
      const page = readPage(answer, path);
      const rows = table(page.data, [['ID', 'id'], ['STATUS', 'status'], ['ATTEMPTS', 'attempts'], ['LAST ERROR', 'lastError'], ['EVENT TYPE', 'eventType'], ['STARTED', 'startedAt']]);
      return page.nextCursor ? `${rows}\nmore: herald deliveries list --cursor ${page.nextCursor} (with the same filters)` : rows;
    },
  },
  'deliveries show': {
    options: {},
    positionals: ['ID'],
    run: async (api, _v, [id]) => json(await api('GET', deliveryPath(id!))),
  },
  'deliveries replay': {
    options: {},
    positionals: ['ID'],
    run: async (api, _v, [id]) => json(await api('POST', `${deliveryPath(id!)}/replay`)),
  },
  'endpoints list': {
    options: { tenant: { type: 'string' }, json: { type: 'boolean' } },
    run: async (api, v) => {
      // Every page: a terminal user asks for "the endpoints", not the first page of them.
      const endpoints: Record<string, unknown>[] = [];
      for (let after: string | null = null; ;) {
        const path = `/v1/endpoints${query({ tenant: v.tenant, limit: '200', after: after ?? undefined })}`;
        const page = readPage(await api('GET', path), path);
        endpoints.push(...page.data);
        if (!page.nextCursor) break;
        after = page.nextCursor;
      }
      return v.json
        ? json(endpoints)
        : table(endpoints, [['ID', 'id'], ['URL', 'url'], ['EVENTS', 'eventTypes'], ['ENABLED', 'enabled'], ['DESCRIPTION', 'description']]);
    },
  },
  'endpoints stats': {
    options: { window: { type: 'string' }, tenant: { type: 'string' } },
    positionals: ['ID'],
    run: async (api, v, [id]) => json(await api('GET', `/v1/endpoints/${encodeURIComponent(id!)}/stats${query({ window: v.window, tenant: v.tenant })}`)),
  },
  'endpoints create': {
    options: { url: { type: 'string' }, events: { type: 'string' }, policy: { type: 'string' }, tenant: { type: 'string' } },
    required: ['url'],
    run: async (api, v) => {
      const policy = v.policy as string | undefined;
      return json(await api('POST', '/v1/endpoints', {
        url: v.url,
        tenant: v.tenant,
        eventTypes: commaList(v.events),
        // A preset by name, or a schedule or exponential policy as JSON.
        retryPolicy: policy?.trimStart().startsWith('{') ? parseJsonOption('policy', policy) : policy,
      }));
    },
  },
  'portal link': {
    options: {
      tenant: { type: 'string' }, capabilities: { type: 'string' }, endpoints: { type: 'string' }, 'expires-in': { type: 'string' }, 'session-id': { type: 'string' },
    },
    // Prints the link alone, to paste or pipe; every capability unless narrowed.
    run: async (api, v) => {
      const answer = await api('POST', '/v1/portal/sessions', {
        tenant: v.tenant, endpointIds: commaList(v.endpoints), expiresIn: v['expires-in'], sessionId: v['session-id'],
        capabilities: commaList(v.capabilities) ?? ['view', 'manageEndpoints', 'viewSecrets', 'rotateSecrets', 'replay', 'testSend', 'manageTransforms'],
      });
      const link = z.object({ url: z.string(), sessionId: z.string(), expiresAt: z.string() }).safeParse(answer);
      if (!link.success) throw new CliError(`POST /v1/portal/sessions: unexpected answer ${JSON.stringify(answer).slice(0, 200)}`);
      return `${link.data.url}
(session ${link.data.sessionId}, single use, expires ${link.data.expiresAt})`;
    },
  },
  'portal revoke': {
    options: { tenant: { type: 'string' } },
    positionals: ['SESSION_ID'],
    run: async (api, v, [id]) => {
      await api('DELETE', `/v1/portal/sessions/${encodeURIComponent(id!)}${query({ tenant: v.tenant })}`);
      return `session ${id} revoked`;
    },
  },
};

/** Runs one command line; answers what to print and the exit code. */
async function runCli(argv: string[], env: NodeJS.ProcessEnv): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const [group, action, ...rest] = argv;
  if (!group || group === 'help' || group === '--help' || group === '-h') return { exitCode: 0, stdout: usage, stderr: '' };
  const name = `${group} ${action ?? ''}`.trim();
  const command = commands[name];
  try {
    if (!command) throw new CliError(`unknown command '${name}'`, 2);
    let parsed: { values: Values; positionals: string[] };
    try {
      parsed = parseArgs({ args: rest, options: command.options, allowPositionals: true, strict: true }) as typeof parsed;
    } catch (err) {
      throw new CliError(`${name}: ${(err as Error).message}`, 2);
    }
    const expected = command.positionals ?? [];
    if (parsed.positionals.length !== expected.length) {
      throw new CliError(`${name} takes ${expected.length ? expected.join(' ') : 'no arguments'}, got ${parsed.positionals.length ? parsed.positionals.join(' ') : 'none'}`, 2);
    }
    const missing = (command.required ?? []).filter((option) => parsed.values[option] === undefined);
    if (missing.length) throw new CliError(`${name} needs ${missing.map((option) => `--${option}`).join(' and ')}`, 2);
    return { exitCode: 0, stdout: await command.run(apiClient(env), parsed.values, parsed.positionals), stderr: '' };
  } catch (err) {
    if (!(err instanceof CliError)) throw err;
    return { exitCode: err.exitCode, stdout: '', stderr: `herald: ${err.message}${err.exitCode === 2 ? `\n\n${usage}` : ''}` };
  }
}

runCli(process.argv.slice(2), process.env).then(
  ({ exitCode, stdout, stderr }) => {
    if (stdout) process.stdout.write(`${stdout}\n`);
    if (stderr) process.stderr.write(`${stderr}\n`);
    process.exitCode = exitCode;
  },
  (err: unknown) => {
    process.stderr.write(`herald: unexpected error: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exitCode = 1;
  },
);
