// The Temporal TLS / mTLS / API key flags (Temporal CLI names), added to every command that connects to Temporal.
import type { Argv } from 'yargs';

import { TEMPORAL_TLS_OPTIONS } from '../../temporal-connection.js';
import type { TemporalTlsFlags } from '../../temporal-connection.js';

export type TemporalTlsArgs = TemporalTlsFlags;

export function temporalTlsFlags<T>(y: Argv<T>): Argv<T & TemporalTlsArgs> {
  return y.options(TEMPORAL_TLS_OPTIONS).group(Object.keys(TEMPORAL_TLS_OPTIONS), 'Temporal TLS / API key:') as unknown as Argv<T & TemporalTlsArgs>;
}

/** The flags' values only (yargs also sets camelCase aliases and undefined for unset options). */
export function tlsFlagsOf(a: TemporalTlsArgs): TemporalTlsFlags {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(TEMPORAL_TLS_OPTIONS) as (keyof TemporalTlsFlags)[]) if (a[k] !== undefined) out[k] = a[k];
  return out as TemporalTlsFlags;
}
