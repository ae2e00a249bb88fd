/** The scenarios `stampede drill <scenario>` knows. */
import type { ScenarioName } from '../options.js';
import { createBrowse } from './browse.js';
import { createCheckout } from './checkout.js';
import { createConcert } from './concert.js';
import { createCouponDrop } from './coupon-drop.js';
import type { ScenarioFactory } from './types.js';
import { createWaitingRoom } from './waiting-room.js';

export const SCENARIOS: Record<ScenarioName, ScenarioFactory> = {
  'coupon-drop': createCouponDrop,
  checkout: createCheckout,
  browse: createBrowse,
  'waiting-room': createWaitingRoom,
  concert: createConcert,
};
