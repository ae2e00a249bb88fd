/**
 * Every module of the server, in the order their definitions are listed; the composition root
 * sorts them by their dependencies (src/kernel/compose.ts). A new module is one folder and one
 * line here.
 */
import type { AnyModuleDefinition } from '../kernel/module.js';
import catalog from './catalog/index.js';
import chat from './chat/index.js';
import concerts from './concerts/index.js';
import coupons from './coupons/index.js';
import idempotency from './idempotency/index.js';
import live from './live/index.js';
import notifications from './notifications/index.js';
import orders from './orders/index.js';
import outbox from './outbox/index.js';
import points from './points/index.js';
import ranking from './ranking/index.js';
import runs from './runs/index.js';
import users from './users/index.js';
import waitingRooms from './waiting-rooms/index.js';

export const MODULES: readonly AnyModuleDefinition[] = [
  users,
  idempotency,
  points,
  catalog,
  ranking,
  notifications,
  waitingRooms,
  coupons,
  concerts,
  orders,
  outbox,
  runs,
  live,
  chat,
];
