// End-to-end: an agent logs in through the web page, replies to an
// interaction, adds an internal note, and the session survives a reload.
//
//   CAREDESK_URL=http://127.0.0.1:34567 node tests/e2e/login_reply.mjs
//
// Needs `cd tests/e2e && npm install` (playwright-core) and /usr/bin/chromium.
// Prints one line per check and a final "N passed, N failed"; exits 0 only if
// every check passed. Hard overall timeout: 90 s.
import { chromium } from 'playwright-core';

const BASE = (process.env.CAREDESK_URL || '').replace(/\/+$/, '');
const EMAIL = 'ana@caredesk.demo';
const PASSWORD = 'caredesk-demo';
const OVERALL_MS = 90_000;
const STEP_MS = 15_000;

let passed = 0;
let failed = 0;
let browser = null;
let finished = false;

function pass(name, detail) {
  if (finished) return; // a step cut short by the overall timeout
  passed++;
  console.log(`ok   - ${name}${detail ? ` (${detail})` : ''}`);
}

function failCheck(name, detail) {
  if (finished) return; // a step cut short by the overall timeout
  failed++;
  console.log(`FAIL - ${name}${detail ? `: ${detail}` : ''}`);
}

// A failed check ends the run: later steps depend on the earlier ones.
class Abort extends Error {}

function check(name, cond, detail) {
  if (cond) {
    pass(name);
  } else {
    failCheck(name, detail);
    throw new Abort(name);
  }
}

// Runs fn; a thrown error (e.g. a Playwright timeout) fails the named check.
async function step(name, fn) {
  try {
    const detail = await fn();
    pass(name, typeof detail === 'string' ? detail : undefined);
    return detail;
  } catch (e) {
    if (e instanceof Abort) throw e;
    failCheck(name, firstLine(e));
    throw new Abort(name);
  }
}

function firstLine(e) {
  // eslint-disable-next-line no-control-regex
  const s = (e && e.message ? e.message : String(e)).replace(/\x1b\[[0-9;]*m/g, '');
  return s.split('\n').filter((l) => l.trim()).slice(0, 3).join(' | ');
}

async function finish(code) {
  if (finished) return;
  finished = true;
  if (browser) {
    await Promise.race([browser.close().catch(() => {}), new Promise((r) => setTimeout(r, 5000))]);
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(code);
}

const overall = setTimeout(() => {
  failCheck('overall timeout', `run exceeded ${OVERALL_MS / 1000} s`);
  finish(1);
}, OVERALL_MS);
overall.unref();

// Reads every page of an interaction's messages through the API, in the page
// (so with the page's session cookie), oldest first.
async function apiMessages(page, id) {
  return page.evaluate(async (iid) => {
    const items = [];
    let cursor = null;
    for (let i = 0; i < 50; i++) {
      const q = cursor ? `?cursor=${encodeURIComponent(cursor)}` : '';
      const r = await fetch(`/api/v1/interactions/${encodeURIComponent(iid)}/messages${q}`, { credentials: 'same-origin' });
      if (r.status !== 200) return { status: r.status, items };
      const body = await r.json();
      items.push(...(body.items || []));
      cursor = body.next_cursor;
      if (!cursor) break;
    }
    return { status: 200, items };
  }, id);
}

async function main() {
  if (!/^https?:\/\//.test(BASE)) {
    failCheck('CAREDESK_URL is set', `got ${JSON.stringify(process.env.CAREDESK_URL || '')}; expected e.g. http://127.0.0.1:34567`);
    return finish(1);
  }

  browser = await step('chromium launches', () => chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    timeout: 30_000,
  }));
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  context.setDefaultTimeout(STEP_MS);
  const page = await context.newPage();

  const pageErrors = [];
  const consoleErrors = [];
  page.on('pageerror', (e) => pageErrors.push(firstLine(e)));
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const where = (msg.location() && msg.location().url) || '';
    // The first GET /api/v1/auth/me answers 401 before login; Chromium logs
    // every non-2xx fetch as "Failed to load resource".
    if (/Failed to load resource/.test(msg.text()) && /\/api\/v1\/auth\/me$/.test(where)) return;
    consoleErrors.push(`${msg.text()} ${where}`.trim());
  });

  const $ = (t) => page.locator(`[data-test="${t}"]`);

  // Waits for locator to be visible; fails at once, with its text, if the
  // page's error banner shows up instead.
  async function visible(locator, timeout = STEP_MS) {
    const banner = $('error');
    let settled = false;
    const never = new Promise(() => {});
    const bannerShows = banner.waitFor({ state: 'visible', timeout }).then(async () => {
      if (settled) return never;
      const text = (await banner.innerText().catch(() => '?')).replace(/\s*×\s*$/, '');
      throw new Error(`the page shows an error: ${text}`);
    }, () => never);
    try {
      await Promise.race([locator.waitFor({ state: 'visible', timeout }), bannerShows]);
    } finally {
      settled = true;
    }
  }

  await step('page shows the login form', async () => {
    const resp = await page.goto(BASE + '/', { waitUntil: 'domcontentloaded' });
    if (!resp || !resp.ok()) throw new Error(`GET / answered ${resp ? resp.status() : 'nothing'}`);
    await $('login-email').waitFor({ state: 'visible' });
  });

  await step('login as the demo agent', async () => {
    await $('login-email').fill(EMAIL);
    await $('login-password').fill(PASSWORD);
    await $('login-submit').click();
    await visible($('logout'));
    return (await $('user-name').count()) ? `as ${(await $('user-name').innerText()).trim()}` : undefined;
  });

  const rowCount = await step('interaction list shows rows', async () => {
    await visible($('interaction-row').first());
    return `${await $('interaction-row').count()} rows`;
  });
  void rowCount;

  // The first row, unless it is closed (a server may refuse replies there).
  const open = $('interaction-row').and(page.locator(':not([data-status="closed"])'));
  const first = (await open.count()) ? open.first() : $('interaction-row').first();
  const id = await first.getAttribute('data-id');
  check('row carries its interaction id', !!id, 'data-id missing on the first row');

  await step('open the first interaction', async () => {
    await first.click();
    await visible(page.locator(`[data-test="detail"][data-id="${id}"]`));
    await visible(page.locator('[data-test="messages"][data-state="ready"]'));
    return `id ${id}, ${await $('message').count()} messages`;
  });

  const tag = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  const replyText = `E2E reply ${tag}: thanks for your patience, we are on it.`;
  const noteText = `E2E note ${tag}: customer verified by phone.`;

  await step('send a reply', async () => {
    await $('composer').fill(replyText);
    await $('send-reply').click();
    await visible(page.locator('[data-test="message"][data-direction="outbound"]', { hasText: replyText }));
  });
  check('composer cleared after sending', (await $('composer').inputValue()) === '', `composer still holds "${await $('composer').inputValue()}"`);
  check('no error banner after the reply', (await $('error').count()) === 0,
    (await $('error').count()) ? await $('error').innerText() : '');

  let stored = await apiMessages(page, id);
  check('API lists the messages', stored.status === 200, `GET /api/v1/interactions/${id}/messages answered ${stored.status}`);
  const reply = stored.items.find((m) => m.body === replyText);
  check('API stored the reply', !!reply, `no message with the reply text among ${stored.items.length}`);
  check('stored reply has direction "outbound"', reply.direction === 'outbound', `direction is ${JSON.stringify(reply.direction)}`);
  check('stored reply belongs to the interaction', String(reply.interaction_id) === String(id),
    `interaction_id ${reply.interaction_id} != ${id}`);

  await step('add a note', async () => {
    await $('composer').fill(noteText);
    await $('add-note').click();
    await visible(page.locator('[data-test="message"][data-direction="note"]', { hasText: noteText }));
  });
  const noteEl = page.locator('[data-test="message"]', { hasText: noteText });
  const replyEl = page.locator('[data-test="message"]', { hasText: replyText });
  const [noteBg, replyBg] = [
    await noteEl.evaluate((el) => getComputedStyle(el).backgroundColor),
    await replyEl.evaluate((el) => getComputedStyle(el).backgroundColor),
  ];
  check('note is styled apart from the reply', noteBg !== replyBg, `both have background ${noteBg}`);

  stored = await apiMessages(page, id);
  const note = stored.items.find((m) => m.body === noteText);
  check('API stored the note with direction "note"', !!note && note.direction === 'note',
    note ? `direction is ${JSON.stringify(note.direction)}` : 'note not found via the API');

  await step('session persists across a reload', async () => {
    await page.reload({ waitUntil: 'domcontentloaded' });
    await visible($('logout'));
    if (await $('login-email').count()) throw new Error('login form is showing');
  });

  await step('reply is still there after the reload', async () => {
    const detail = page.locator(`[data-test="detail"][data-id="${id}"]`);
    // The page reopens the interaction from the URL; if it did not, open it.
    try {
      await visible(detail, 5000);
    } catch {
      await page.locator(`[data-test="interaction-row"][data-id="${id}"]`).click();
      await visible(detail);
    }
    await visible(page.locator('[data-test="message"][data-direction="outbound"]', { hasText: replyText }));
    await visible(page.locator('[data-test="message"][data-direction="note"]', { hasText: noteText }));
  });

  // Routing: going available brings offers over the event stream; accepting
  // one opens it, assigned to the agent.
  await step('going available brings an offer', async () => {
    await $('availability').selectOption('available');
    await visible($('offer').first(), 15000);
  });
  const offered = await $('offer').first().getAttribute('data-id');
  check('offer carries its interaction id', !!offered, 'data-id missing on the offer');
  await step('accept the offer: the interaction opens', async () => {
    await $('offer').first().locator('[data-test="offer-accept"]').click();
    await visible(page.locator(`[data-test="detail"][data-id="${offered}"]`));
  });
  const assigned = await page.evaluate(async (iid) => {
    const r = await fetch(`/api/v1/interactions/${iid}`, { credentials: 'same-origin' });
    const me = await (await fetch('/api/v1/auth/me', { credentials: 'same-origin' })).json();
    const it = await r.json();
    return { assignee: it.assignee_id, me: me.user.id, status: it.status };
  }, offered);
  check('accepted interaction is assigned to the agent', assigned.assignee === assigned.me,
    JSON.stringify(assigned));

  // The customer writes on it (posted past the page, as another channel
  // would): the open conversation shows it without a reload, pushed over
  // the agent's event stream.
  const liveText = `E2E live ${tag}: hello, are you still there?`;
  await step('a new customer message appears without a reload', async () => {
    const status = await page.evaluate(async ([iid, body]) => {
      const me = await (await fetch('/api/v1/auth/me', { credentials: 'same-origin' })).json();
      const r = await fetch(`/api/v1/interactions/${iid}/messages`, {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': me.csrf_token },
        body: JSON.stringify({ direction: 'inbound', body }),
      });
      return r.status;
    }, [offered, liveText]);
    if (status !== 201) throw new Error(`POST of the customer's message answered ${status}`);
    await visible(page.locator('[data-test="message"][data-direction="inbound"]', { hasText: liveText }), 10000);
  });
  await step('going offline', async () => {
    await $('availability').selectOption('offline');
  });

  await step('logout returns to the login form', async () => {
    await $('logout').click();
    await $('login-email').waitFor({ state: 'visible' });
    await page.reload({ waitUntil: 'domcontentloaded' });
    await $('login-email').waitFor({ state: 'visible' });
  });

  check('no uncaught page errors', pageErrors.length === 0, pageErrors.join(' || '));
  check('no unexpected console errors', consoleErrors.length === 0, consoleErrors.join(' || '));
}

main().then(
  () => finish(failed ? 1 : 0),
  (e) => {
    if (!(e instanceof Abort)) failCheck('unexpected error', e && e.stack ? e.stack : String(e));
    return finish(1);
  },
);
