// The features the daemon starts once connected (see feature.ts), in order.
import { startInterceptFeature } from '../intercept/daemon-feature.js';
import type { StartFeature } from './feature.js';
import { startRunFeature } from './shim-feature.js';

export const FEATURES: StartFeature[] = [startRunFeature, startInterceptFeature];
