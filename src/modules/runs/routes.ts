import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { named, responses } from '../../http/responses.js';
import { RunTag } from '../../http/schemas.js';
import type { RunsService } from './service.js';

const n = (description: string) => Type.Integer({ minimum: 0, description });

const RunDeletion = named(
  'RunDeletion',
  Type.Object({
    runTag: Type.String(),
    deleted: Type.Object(
      {
        users: n('users created with the tag'),
        products: n('products created with the tag (and not kept)'),
        coupons: n('coupon drops created with the tag (and not kept)'),
        waitingRooms: n('waiting rooms created with the tag (and not kept)'),
        orders: n("the run's users' orders"),
        orderItems: n('their lines'),
        userCoupons: n("coupons the run's users held"),
        pointLedger: n('their ledger rows'),
        pointWallets: n('their wallets'),
        idempotencyKeys: n('their Idempotency-Keys'),
        notifications: n('their notifications'),
        outbox: n('their outbox events (delivered or not)'),
        waitingRoomEntries: n("their entries, and every entry of the run's rooms"),
        waitingRoomAdmissions: n("their admissions, and every admission of the run's rooms"),
        seatReservations: n('their seat reservations'),
        soldSeats: n('seats they bought'),
        chatRooms: n("chat rooms the run's users created (with all their members and messages)"),
        chatMembers: n("their chat memberships, and every membership of the run's rooms"),
        chatMessages: n("their chat messages, and every message of the run's rooms"),
      },
      { description: 'rows removed, by table' },
    ),
    returned: Type.Object(
      {
        stock: n("units of stock the run's orders took from products that stay"),
        couponUnits: n("units the run's users held of coupon drops that stay"),
        seats: n('seats their reservations held or bought'),
      },
      { description: 'given back to rows outside the run' },
    ),
    kept: Type.Object(
      {
        products: n('tagged products in orders of users outside the run'),
        coupons: n('tagged coupons held by users outside the run'),
        waitingRooms: n('tagged rooms in front of a coupon or concert that stays'),
      },
      { description: 'tagged rows kept, with their tag, because rows outside the run depend on them' },
    ),
  }),
  {
    description: "What a run's deletion removed, gave back and kept",
    example: {
      runTag: 'drill-20261128-000000-3f9a1c',
      deleted: {
        users: 200,
        products: 5,
        coupons: 1,
        waitingRooms: 0,
        orders: 48,
        orderItems: 50,
        userCoupons: 30,
        pointLedger: 248,
        pointWallets: 200,
        idempotencyKeys: 200,
        notifications: 78,
        outbox: 78,
        waitingRoomEntries: 0,
        waitingRoomAdmissions: 0,
        seatReservations: 0,
        soldSeats: 0,
        chatRooms: 0,
        chatMembers: 0,
        chatMessages: 0,
      },
      returned: { stock: 0, couponUnits: 0, seats: 0 },
      kept: { products: 0, coupons: 0, waitingRooms: 0 },
    },
  },
);

export const runsRoutes =
  (runs: RunsService): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.delete(
      '/admin/runs/:runTag',
      {
        config: { access: 'admin' },
        schema: {
          tags: ['admin'],
          summary:
            'Delete a rehearsal: every row created with this runTag and everything its users own, in one transaction',
          params: Type.Object({ runTag: RunTag }),
          response: responses(
            { 200: RunDeletion.answer('Deleted; nothing carries the tag any more except what is kept') },
            {
              VALIDATION_FAILED:
                'the tag is not 1..64 letters, digits, ".", "_" or "-" (starting with a letter or digit)',
              NOT_FOUND: 'no user, product, coupon or waiting room carries this tag',
              UNAVAILABLE:
                'the run is still being written to; nothing was deleted, retry once it has stopped',
            },
          ),
        },
      },
      async (request) => runs.delete(request.params.runTag),
    );
  };
