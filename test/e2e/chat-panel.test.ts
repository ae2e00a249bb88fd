/**
 * The chat panel of the waiting-room page (`/wait/:roomId?chat=<chat room id>`) in headless
 * Chromium against an embedded server: a person in line sees the room's last messages, sends one
 * from the page (stored once, with its seq), and sees what others send appear live over the
 * WebSocket; after the socket drops it resubscribes from its last seq, so nothing is missed or
 * shown twice; no console error, nothing loaded from elsewhere.
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Env, get, post, startEnv, type TestUser, users, waitFor } from '../commerce/support.js';
import { foreignRequests, launchChromium, needChromium, openRecorded } from '../support/browser.js';
import { ADMIN_TOKEN } from '../support/harness.js';

const run = needChromium('the chat panel of the waiting-room page');

describe.runIf(run)('chat panel of the waiting-room page in Chromium', () => {
  let env: Env;
  let browser: Browser;
  let people: TestUser[];
  let waitRoom: string;
  let chatRoom: string;

  beforeAll(async () => {
    env = await startEnv('embedded');
    browser = await launchChromium();
    people = await users(env, 2);
    const r = await post(env, '/api/v1/admin/waiting-rooms', ADMIN_TOKEN, { name: 'Doors', maxActive: 1 });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    waitRoom = r.body.id;
    const c = await post(env, '/api/v1/chat/rooms', people[0].token, { name: 'The line' });
    chatRoom = c.body.id;
    await post(env, `/api/v1/chat/rooms/${chatRoom}/messages`, people[0].token, {
      text: 'welcome, everyone',
    });
  });
  afterAll(async () => {
    await browser?.close();
    await env?.close();
  });

  const texts = (p: Awaited<ReturnType<typeof openRecorded>>['page']) =>
    p.$$eval('#chat-log li:not(.pending)', (lis) => lis.map((li) => li.textContent ?? ''));

  it('shows the history, sends from the page, receives live, and recovers after a dropped socket', async () => {
    const rec = await openRecorded(browser, { viewport: { width: 390, height: 844 } });
    const { page } = rec;
    const [me, other] = people;
    await page.goto(`${env.server.url}/wait/${waitRoom}?chat=${chatRoom}&token=${me.token}`);
    await page.waitForSelector('#chat:not([hidden])');
    await waitFor('the history', async () =>
      (await texts(page)).some((t) => t.includes('welcome, everyone')),
    );

    // Sent from the page: stored once, and shown once (the pending line replaced by the message).
    await page.fill('#chat-text', 'hello from the line');
    await page.click('#chat-send');
    await waitFor('the sent message', async () =>
      (await texts(page)).some((t) => t.includes('hello from the line')),
    );
    const stored = await get(env, `/api/v1/chat/rooms/${chatRoom}/messages?limit=10`, other.token);
    expect(stored.status).toBe(403); // the other user is not a member yet
    await post(env, `/api/v1/chat/rooms/${chatRoom}/members`, other.token, undefined);
    const history = await get(env, `/api/v1/chat/rooms/${chatRoom}/messages?limit=10`, other.token);
    expect(history.body.items.map((m: { text: string }) => m.text)).toEqual([
      'welcome, everyone',
      'hello from the line',
    ]);

    // Someone else talks: it appears live.
    await post(env, `/api/v1/chat/rooms/${chatRoom}/messages`, other.token, { text: 'see you inside' });
    await waitFor('the live message', async () =>
      (await texts(page)).some((t) => t.includes('see you inside')),
    );

    // The server drops the page's socket; two more messages while it reconnects (from its last seq).
    const wss = (env.server.app as unknown as { websocketServer: { clients: Set<{ terminate(): void }> } })
      .websocketServer;
    for (const client of wss.clients) client.terminate();
    await post(env, `/api/v1/chat/rooms/${chatRoom}/messages`, other.token, { text: 'missed one' });
    await post(env, `/api/v1/chat/rooms/${chatRoom}/messages`, other.token, { text: 'missed two' });
    await waitFor(
      'the missed messages',
      async () => (await texts(page)).some((t) => t.includes('missed two')),
      20_000,
    );
    const seqs = await page.$$eval('#chat-log li:not(.pending)', (lis) =>
      lis.map((li) => Number(li.getAttribute('data-seq'))),
    );
    expect(seqs).toEqual([1, 2, 3, 4, 5]); // every message once, in order
    expect(rec.errors).toEqual([]);
    expect(foreignRequests(rec, env.server.url)).toEqual([]);
    await rec.context.close();
  });
});
