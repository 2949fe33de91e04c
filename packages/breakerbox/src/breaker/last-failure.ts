/** The `metrics().last_failure` shape: what failed, without the credentials it may carry. */
export interface LastFailure {
  /** The error's name, or its code when the name says nothing (a plain `Error`). */
  error: string;
  /** The message with URL userinfo, `password=` values and bearer tokens removed. */
  message: string;
  /** ISO-8601. */
  at: string;
}

const REDACTED = '[REDACTED]';
const PATTERNS: ReadonlyArray<[RegExp, string]> = [
  // scheme://user:pass@host -> scheme://[REDACTED]@host
  [/([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@]+@/gi, `$1${REDACTED}@`],
  // Authorization: Bearer <token>, Basic <credentials>
  [/\b(bearer|basic)\s+[A-Za-z0-9\-._~+/]+=*/gi, `$1 ${REDACTED}`],
  // password=..., passwd: ..., pwd=..., secret=..., token=..., api_key=... up to a separator
  [
    /\b(password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key)(\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s&;,]+)/gi,
    `$1$2${REDACTED}`,
  ],
];

/** Removes credentials from a message before it is logged, exported or served. */
export function redactCredentials(text: string): string {
  let out = text;
  for (const [pattern, replacement] of PATTERNS) out = out.replace(pattern, replacement);
  return out;
}

/** The error's name, or its code when the name is the generic `Error`. */
export function errorName(error: unknown): string {
  if (error instanceof Error || (typeof error === 'object' && error !== null)) {
    const { name, code } = error as { name?: unknown; code?: unknown };
    if (typeof name === 'string' && name !== '' && name !== 'Error') return name;
    if (typeof code === 'string' || typeof code === 'number') return String(code);
    return typeof name === 'string' && name !== '' ? name : 'Error';
  }
  return typeof error;
}

export function errorMessage(error: unknown): string {
  if (typeof error === 'object' && error !== null && 'message' in error) {
    return redactCredentials(String((error as { message: unknown }).message));
  }
  return redactCredentials(String(error));
}
