// dcign's Temporal search attributes: registered by `dcign dev up` and by the test server, upserted by the workflows,
// filtered on in the Temporal UI. Declared once here so the server set-up and the workflows cannot disagree.
import { defineSearchAttributeKey } from '@temporalio/common';

/** Name -> the type `temporal operator search-attribute create` takes. */
export const SEARCH_ATTRIBUTE_TYPES = {
  DcignSweep: 'Keyword',
  DcignTrial: 'Keyword',
  DcignModel: 'Keyword',
  DcignBeta: 'Double',
  DcignLatent: 'Int',
} as const;

export const SA_SWEEP = defineSearchAttributeKey('DcignSweep', 'KEYWORD');
export const SA_TRIAL = defineSearchAttributeKey('DcignTrial', 'KEYWORD');
export const SA_MODEL = defineSearchAttributeKey('DcignModel', 'KEYWORD');
export const SA_BETA = defineSearchAttributeKey('DcignBeta', 'DOUBLE');
export const SA_LATENT = defineSearchAttributeKey('DcignLatent', 'INT');
