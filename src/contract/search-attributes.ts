// dcign's Temporal search attributes: registered by `dcign dev up` and by the test server, upserted by the workflows,
// filtered on in the Temporal UI. Declared once here so the server set-up and the workflows cannot disagree.
import { defineSearchAttributeKey } from '@temporalio/common';

/** Name -> the type `temporal operator search-attribute create` takes. */
export const SEARCH_ATTRIBUTE_TYPES = {
  DcignSweep: 'Keyword',
  DcignTrial: 'Keyword',
  DcignModel: 'Keyword',
  DcignArchitecture: 'Keyword',
  DcignBeta: 'Double',
  DcignLatent: 'Int',
  DcignState: 'Keyword',
} as const;

export const SA_SWEEP = defineSearchAttributeKey('DcignSweep', 'KEYWORD');
export const SA_TRIAL = defineSearchAttributeKey('DcignTrial', 'KEYWORD');
/** The model variant (beta-vae, factor-vae, ...). */
export const SA_MODEL = defineSearchAttributeKey('DcignModel', 'KEYWORD');
/** The encoder/decoder architecture (standard, residual, attention). */
export const SA_ARCHITECTURE = defineSearchAttributeKey('DcignArchitecture', 'KEYWORD');
export const SA_BETA = defineSearchAttributeKey('DcignBeta', 'DOUBLE');
export const SA_LATENT = defineSearchAttributeKey('DcignLatent', 'INT');
/**
 * A trial's state as it last set it (running, paused, completed, stopped by early stopping, failed, cancelled):
 * `DcignState = 'paused'` finds paused trials.
 */
export const SA_STATE = defineSearchAttributeKey('DcignState', 'KEYWORD');
