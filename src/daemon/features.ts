// The features the daemon starts once connected (see feature.ts), in order.
import type { StartFeature } from './feature.js';
import { startRunFeature } from './shim-feature.js';

export const FEATURES: StartFeature[] = [startRunFeature];
