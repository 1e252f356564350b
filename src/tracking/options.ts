// Where the MLflow client connects and how, from MLflow's environment variables as its Python client reads them
// (mlflow/utils/rest_utils.py, mlflow/environment_variables.py).
import type { BatchLimits } from './batch.js';

export const DEFAULT_TRACKING_URI = 'http://127.0.0.1:5000';

/** MLFLOW_TRACKING_URI, or the embedded dev server's address when it is unset. */
export function trackingUriFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  const uri = env.MLFLOW_TRACKING_URI?.trim();
  return uri !== undefined && uri !== '' ? uri : DEFAULT_TRACKING_URI;
}

export interface MlflowClientOptions {
  /** http(s)://host[:port][/prefix]; defaults to {@link trackingUriFromEnv}. */
  trackingUri?: string;
  /** Bearer token (MLFLOW_TRACKING_TOKEN). */
  token?: string;
  /** Basic auth (MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD); wins over the token, as in MLflow. */
  username?: string;
  password?: string;
  /** Skip TLS certificate verification (MLFLOW_TRACKING_INSECURE_TLS=true). Testing only. */
  insecureTls?: boolean;
  /** CA bundle to verify the server with (MLFLOW_TRACKING_SERVER_CERT_PATH). */
  serverCertPath?: string;
  /** Retries after the first attempt for retryable failures (MLFLOW_HTTP_REQUEST_MAX_RETRIES; default 5). */
  maxRetries?: number;
  /** First backoff delay in ms, doubled per retry with jitter (default 500). */
  backoffMs?: number;
  /** Longest backoff delay in ms (default 16000). */
  maxBackoffMs?: number;
  /** Per-request timeout in ms (MLFLOW_HTTP_REQUEST_TIMEOUT in seconds; default 120 s). */
  timeoutMs?: number;
  /** Log-batch limits; MLflow's by default. */
  limits?: Partial<BatchLimits>;
}

/** Options from MLflow's environment variables, as its Python client reads them. */
export function clientOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): MlflowClientOptions {
  const opts: MlflowClientOptions = { trackingUri: trackingUriFromEnv(env) };
  if (env.MLFLOW_TRACKING_TOKEN) opts.token = env.MLFLOW_TRACKING_TOKEN;
  if (env.MLFLOW_TRACKING_USERNAME) opts.username = env.MLFLOW_TRACKING_USERNAME;
  if (env.MLFLOW_TRACKING_PASSWORD) opts.password = env.MLFLOW_TRACKING_PASSWORD;
  const insecure = env.MLFLOW_TRACKING_INSECURE_TLS?.toLowerCase();
  if (insecure === 'true' || insecure === '1') opts.insecureTls = true;
  if (env.MLFLOW_TRACKING_SERVER_CERT_PATH) opts.serverCertPath = env.MLFLOW_TRACKING_SERVER_CERT_PATH;
  const retries = Number(env.MLFLOW_HTTP_REQUEST_MAX_RETRIES);
  if (env.MLFLOW_HTTP_REQUEST_MAX_RETRIES && Number.isInteger(retries) && retries >= 0) opts.maxRetries = retries;
  const timeoutS = Number(env.MLFLOW_HTTP_REQUEST_TIMEOUT);
  if (env.MLFLOW_HTTP_REQUEST_TIMEOUT && timeoutS > 0) opts.timeoutMs = timeoutS * 1000;
  return opts;
}
