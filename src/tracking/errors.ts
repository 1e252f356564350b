// Errors from the MLflow tracking server, or from failing to reach it, in one type that says what, where and what to do.

/** Error codes that are ours, not the server's, for failures where no MLflow error_code came back. */
export type LocalErrorCode = 'CONNECTION_FAILED' | 'TIMEOUT' | 'BAD_RESPONSE' | 'INVALID_ARGUMENT' | 'UNSUPPORTED';

export interface MlflowErrorInit {
  /** MLflow's `error_code` (e.g. RESOURCE_DOES_NOT_EXIST) or one of {@link LocalErrorCode}. */
  errorCode: string;
  message: string;
  /** `METHOD /path` of the request, e.g. `POST /api/2.0/mlflow/runs/log-batch`. */
  endpoint: string;
  /** HTTP status, absent when no response came back. */
  status?: number;
  /** Whether trying the same request again later can succeed (outage, 429, 5xx). */
  transient?: boolean;
  /**
   * Whether the server may have acted on the request although we saw a failure (response lost, timeout, 5xx).
   * False when it cannot have (connection refused, 4xx before any processing, 429).
   */
  maybeApplied?: boolean;
  cause?: unknown;
}

export class MlflowError extends Error {
  readonly errorCode: string;
  readonly endpoint: string;
  readonly status: number | undefined;
  readonly transient: boolean;
  readonly maybeApplied: boolean;

  constructor(init: MlflowErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = 'MlflowError';
    this.errorCode = init.errorCode;
    this.endpoint = init.endpoint;
    this.status = init.status;
    this.transient = init.transient ?? false;
    this.maybeApplied = init.maybeApplied ?? false;
  }
}

export function isMlflowError(err: unknown, errorCode?: string): err is MlflowError {
  return err instanceof MlflowError && (errorCode === undefined || err.errorCode === errorCode);
}
