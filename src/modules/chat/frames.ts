/**
 * The WebSocket protocol of GET /api/v1/chat/ws: what a client may send (validated here, with the
 * same text rules as the REST bodies) and what the server sends (built here, so each frame's shape
 * is written once).
 *
 * Client frames: subscribe { roomId, afterSeq? } · unsubscribe { roomId } · send { roomId, text,
 * clientMsgId } · ping. Unknown fields are ignored. Server frames: subscribed · message · ack ·
 * presence · pong · error { code, detail, clientMsgId?, roomId? }.
 */
import { type Static, Type } from '@sinclair/typebox';
import { Ajv, type ErrorObject } from 'ajv';
import type { ErrorCode } from '../../http/errors.js';
import { IdText, Text, textPatternMessage } from '../../http/schemas.js';
import type { OnlineUser } from './presence.js';
import type { ChatMessage } from './repository.js';

/** A message's text: 1..2000 code points; line feeds and tabs allowed, no other control character. */
export const MessageText = Text({ max: 2000, multiline: true, description: '1..2000 characters' });
/** The sender's own id of a message: a resend with the same one is stored once. */
export const ClientMsgId = Text({
  max: 100,
  description: 'your id for the message (1..100 characters): the same one from you is stored once',
});
/** A seq position: 0 (before the first message) and up. */
export const Seq = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });

const Subscribe = Type.Object({
  type: Type.Literal('subscribe'),
  roomId: IdText,
  afterSeq: Type.Optional(Seq),
});
const Unsubscribe = Type.Object({ type: Type.Literal('unsubscribe'), roomId: IdText });
const Send = Type.Object({
  type: Type.Literal('send'),
  roomId: IdText,
  text: MessageText,
  clientMsgId: ClientMsgId,
});
const Ping = Type.Object({ type: Type.Literal('ping') });

export type ClientFrame =
  | Static<typeof Subscribe>
  | Static<typeof Unsubscribe>
  | Static<typeof Send>
  | Static<typeof Ping>;

const ajv = new Ajv({ coerceTypes: false, removeAdditional: false, allErrors: false, strict: false });
const validators = {
  subscribe: ajv.compile(Subscribe),
  unsubscribe: ajv.compile(Unsubscribe),
  send: ajv.compile(Send),
  ping: ajv.compile(Ping),
};
const TYPES = Object.keys(validators).join(', ');

export type FrameRefusal = { code: ErrorCode; detail: string; clientMsgId?: string; roomId?: string };

function refusalDetail(first: ErrorObject | undefined): string {
  const field = `frame${(first?.instancePath ?? '').replaceAll('/', '.')}`;
  const message =
    (first?.keyword === 'pattern' ? textPatternMessage(first.params?.pattern) : undefined) ??
    first?.message ??
    'is invalid';
  const missing = first?.keyword === 'required' ? ` (${first.params?.missingProperty})` : '';
  return `${field} ${message}${missing}`;
}

/** A text field of a frame that is short enough to name in a refusal (clientMsgId, roomId). */
function echo(frame: Record<string, unknown>, key: 'clientMsgId' | 'roomId'): { [k: string]: string } {
  const v = frame[key];
  return typeof v === 'string' && v.length > 0 && v.length <= 100 ? { [key]: v } : {};
}

/**
 * Reads one client frame: the frame, or why it is refused (VALIDATION_FAILED, PAYLOAD_TOO_LARGE).
 * A refusal names the field, and carries the frame's clientMsgId and roomId when it had them.
 */
export function parseFrame(data: Buffer, isBinary: boolean, maxBytes: number): ClientFrame | FrameRefusal {
  if (data.length > maxBytes)
    return { code: 'PAYLOAD_TOO_LARGE', detail: `a frame may hold at most ${maxBytes} bytes` };
  if (isBinary) return { code: 'VALIDATION_FAILED', detail: 'frames are JSON text, not binary' };
  let frame: unknown;
  try {
    frame = JSON.parse(data.toString('utf8'));
  } catch {
    return { code: 'VALIDATION_FAILED', detail: 'the frame is not valid JSON' };
  }
  if (typeof frame !== 'object' || frame === null || Array.isArray(frame))
    return { code: 'VALIDATION_FAILED', detail: 'a frame is a JSON object with a "type"' };
  const f = frame as Record<string, unknown>;
  const type = f.type;
  const validate =
    typeof type === 'string' && Object.hasOwn(validators, type)
      ? validators[type as keyof typeof validators]
      : null;
  if (!validate)
    return {
      code: 'VALIDATION_FAILED',
      detail: `frame.type must be one of ${TYPES}`,
      ...echo(f, 'clientMsgId'),
    };
  if (!validate(frame))
    return {
      code: 'VALIDATION_FAILED',
      detail: refusalDetail(validate.errors?.[0]),
      ...echo(f, 'clientMsgId'),
      ...echo(f, 'roomId'),
    };
  return frame as ClientFrame;
}

export function isRefusal(x: ClientFrame | FrameRefusal): x is FrameRefusal {
  return 'code' in x;
}

// ---- server frames ----------------------------------------------------------------------------

export const messageFrame = (m: ChatMessage) => JSON.stringify({ type: 'message', ...m });

export const subscribedFrame = (roomId: string, lastSeq: number) =>
  JSON.stringify({ type: 'subscribed', roomId, lastSeq });

export const ackFrame = (clientMsgId: string, seq: number) =>
  JSON.stringify({ type: 'ack', clientMsgId, seq });

export const presenceFrame = (roomId: string, user: OnlineUser, online: boolean) =>
  JSON.stringify({ type: 'presence', roomId, userId: user.userId, name: user.name, online });

export const PONG_FRAME = JSON.stringify({ type: 'pong' });

export const errorFrame = (r: FrameRefusal) =>
  JSON.stringify({
    type: 'error',
    code: r.code,
    detail: r.detail,
    ...(r.clientMsgId === undefined ? {} : { clientMsgId: r.clientMsgId }),
    ...(r.roomId === undefined ? {} : { roomId: r.roomId }),
  });
