// Problems from the API (RFC 9457 `application/problem+json`) and failures to reach it, turned
// into messages for people and into errors at the right form field.

/** What the API said went wrong, or that it could not be reached. */
export class ApiProblem extends Error {
  /** HTTP status; 0 when the server could not be reached. */
  readonly status: number;
  /** The problem's stable kind (`/problems/plan-limit`), or `network`. */
  readonly type: string;
  readonly title: string;
  readonly detail: string;
  /** The request field the problem is about, when the API names one. */
  readonly field: string | null;
  /** Members particular to the kind of problem (`diagnostics`, `limit`, `upgrade_to`…). */
  readonly extensions: Readonly<Record<string, unknown>>;

  constructor(init: {
    status: number;
    type: string;
    title: string;
    detail: string;
    extensions?: Record<string, unknown>;
  }) {
    super(init.detail || init.title);
    this.name = 'ApiProblem';
    this.status = init.status;
    this.type = init.type;
    this.title = init.title;
    this.detail = init.detail;
    this.extensions = init.extensions ?? {};
    const field = this.extensions.field;
    this.field = typeof field === 'string' ? field : null;
    // The message for people, as a sentence; a field's problem without the field's name.
    this.message = humanize(this.fieldMessage ?? (this.detail || this.title));
  }

  /** A problem for a request that never got an answer (offline, DNS, connection refused). */
  static network(): ApiProblem {
    return new ApiProblem({
      status: 0,
      type: 'network',
      title: 'Cannot reach the server',
      detail: 'the server could not be reached; check your connection',
    });
  }

  /** Reads a failed response: a problem document, or whatever the server (or a proxy) sent. */
  static async from(response: Response): Promise<ApiProblem> {
    let body: unknown = null;
    try {
      body = await response.json();
    } catch {
      // A proxy's HTML error page, or an empty body: the status says enough.
    }
    if (isRecord(body) && typeof body.type === 'string') {
      const { type, title, status, detail, ...extensions } = body;
      return new ApiProblem({
        status: typeof status === 'number' ? status : response.status,
        type,
        title: typeof title === 'string' ? title : response.statusText,
        detail: typeof detail === 'string' ? detail : '',
        extensions,
      });
    }
    return new ApiProblem({
      status: response.status,
      type: response.status >= 500 ? '/problems/internal' : '/problems/unknown',
      title: response.statusText || `HTTP ${response.status}`,
      detail: response.status >= 500 ? 'the server failed to handle this request' : '',
    });
  }

  /** Whether trying again later may work: offline, a 5xx, or a rate limit. */
  get retryable(): boolean {
    return this.status === 0 || this.status >= 500 || this.status === 429;
  }

  /** A plan limit: the answer offers the upgrade. */
  get planLimit(): PlanLimit | null {
    if (this.status !== 402) return null;
    const e = this.extensions;
    return {
      limit: str(e.limit),
      plan: str(e.plan),
      allowed: typeof e.allowed === 'number' ? e.allowed : null,
      upgradeTo: typeof e.upgrade_to === 'string' ? e.upgrade_to : null,
    };
  }

  /** The part of `detail` that describes the field, when the problem is about one. */
  private get fieldMessage(): string | null {
    if (this.field === null) return null;
    const prefix = `${this.field}: `;
    return this.detail.startsWith(prefix) ? this.detail.slice(prefix.length) : this.detail;
  }
}

/** A plan limit named by a 402. */
export interface PlanLimit {
  /** Which limit (`graphs`, `api_keys`…). */
  limit: string;
  /** The plan whose limit it is. */
  plan: string;
  allowed: number | null;
  /** The plan that lifts it. */
  upgradeTo: string | null;
}

/** The message to show beside `field`, if the problem is about it. */
export function fieldError(problem: unknown, field: string): string | undefined {
  if (problem instanceof ApiProblem && problem.field === field) return problem.message;
  return undefined;
}

/** The message to show above a form: everything not shown at a field of the form. */
export function formError(problem: unknown, fields: readonly string[]): string | undefined {
  if (problem === null || problem === undefined) return undefined;
  if (problem instanceof ApiProblem) {
    if (problem.field !== null && fields.includes(problem.field)) return undefined;
    return problem.message;
  }
  return problem instanceof Error ? humanize(problem.message) : 'Something went wrong.';
}

/** `must be 8 to 256 characters` → `Must be 8 to 256 characters.` */
export function humanize(text: string): string {
  const t = text.trim();
  if (t === '') return 'Something went wrong.';
  const first = t.charAt(0).toUpperCase() + t.slice(1);
  return /[.!?]$/.test(first) ? first : `${first}.`;
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
