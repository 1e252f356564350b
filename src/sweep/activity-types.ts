// The activity interface the workflows schedule, typed from the factory itself (STYLE.md: declared once). Type-only:
// workflow code imports it from here because it may not import workers/ or src/parallel/ modules, even for types.
import type { createActivities } from '../../workers/activities.js';

export type Activities = ReturnType<typeof createActivities>;
export type { RendezvousResult } from '../parallel/types.js';
