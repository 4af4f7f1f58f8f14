/**
 * The one table of error codes that cross Fanout's process boundaries (bridge, worker, clients).
 * Pure: no runtime imports, shared by the bridge and the worker.
 */
export const ERROR_CODES = {
  INVALID_ARGUMENT: { retryable: false },
  NOT_FOUND: { retryable: false },
  ALREADY_EXISTS: { retryable: false },
  FAILED_PRECONDITION: { retryable: false },
  UNAUTHENTICATED: { retryable: false },
  PERMISSION_DENIED: { retryable: false },
  RESOURCE_EXHAUSTED: { retryable: true },
  UNAVAILABLE: { retryable: true },
  TIMEOUT: { retryable: true },
  JANUS: { retryable: false },
  INTERNAL: { retryable: false },
} as const satisfies Record<string, { retryable: boolean }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export const ERROR_CODE_NAMES = Object.keys(ERROR_CODES) as [ErrorCode, ...ErrorCode[]];

/** A typed error with a string code, converted to the wire in one place (`toWire`). */
export class CdnError extends Error {
  override readonly name = 'CdnError';
  readonly code: ErrorCode;
  /** The numeric Janus error code, when Janus refused the request. */
  readonly janusCode: number | undefined;

  constructor(code: ErrorCode, message: string, options?: { janusCode?: number; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.janusCode = options?.janusCode;
  }

  get retryable(): boolean {
    return ERROR_CODES[this.code].retryable;
  }

  toWire(): WireError {
    return this.janusCode === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, janusCode: this.janusCode };
  }

  static from(err: unknown): CdnError {
    if (err instanceof CdnError) return err;
    return new CdnError('INTERNAL', err instanceof Error ? err.message : String(err), { cause: err });
  }
}

export interface WireError {
  code: ErrorCode;
  message: string;
  janusCode?: number;
}
