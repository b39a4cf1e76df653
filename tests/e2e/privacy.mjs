// End-to-end: an agent opens an interaction of a customer with sealed
// fields, sees them masked, reveals them (the reveal is audited), and sees
// the customer's sentiment on messages and a typed-in card number masked.
//
//   CAREDESK_URL=http://127.0.0.1:34567 node tests/e2e/privacy.mjs
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

async function main() {
  if (!/^https?:\/\//.test(BASE)) {
    failCheck('CAREDESK_URL is set', `got ${JSON.stringify(process.env.CAREDESK_URL || '')}`);
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
  page.on('pageerror', (e) => pageErrors.push(firstLine(e)));
  const $ = (t) => page.locator(`[data-test="${t}"]`);

  await step('login as the demo agent', async () => {
    await page.goto(BASE + '/', { waitUntil: 'domcontentloaded' });
    await $('login-email').fill(EMAIL);
    await $('login-password').fill(PASSWORD);
    await $('login-submit').click();
    await $('logout').waitFor({ state: 'visible' });
  });

  // Through the API, with the page's session: a customer with sealed
  // fields and one of their interactions.
  const found = await page.evaluate(async () => {
    const get = async (p) => (await fetch('/api/v1' + p, { credentials: 'same-origin' })).json();
    const customers = (await get('/customers?limit=200')).items || [];
    for (const c of customers) {
      if (!c.sensitive || !Object.keys(c.sensitive).length) continue;
      const its = (await get(`/interactions?customer_id=${c.id}&limit=5`)).items || [];
      if (its.length) return { customer: c, interaction: its[0].id };
    }
    return null;
  });
  check('the demo has a customer with sealed fields and an interaction', !!found, 'none found');
  const fields = Object.keys(found.customer.sensitive);
  check('the API shows the sealed fields masked',
    fields.every((f) => found.customer.sensitive[f] === '********'), JSON.stringify(found.customer.sensitive));

  await step('open that interaction', async () => {
    await page.goto(`${BASE}/#/interactions/${found.interaction}`);
    await page.reload();
    await page.locator(`[data-test="detail"][data-id="${found.interaction}"]`).waitFor({ state: 'visible' });
    await $('sensitive').waitFor({ state: 'visible' });
  });
  const shown = await $('sensitive-value').allInnerTexts();
  check('the customer card shows the fields masked', shown.length === fields.length
    && shown.every((t) => t.trim() === '********'), JSON.stringify(shown));

  await step('reveal them', async () => {
    await $('reveal').click();
    await page.waitForFunction(() => [...document.querySelectorAll('[data-test="sensitive-value"]')]
      .every((e) => e.textContent.trim() !== '********'));
  });
  const revealed = await page.locator('[data-test="sensitive-value"][data-field="date_of_birth"]').innerText();
  check('the date of birth is shown in clear', /^\d{4}-\d{2}-\d{2}$/.test(revealed.trim()), revealed);
  check('the reveal button is gone', (await $('reveal').count()) === 0);

  // Sentiment badges and a masked card number somewhere in the demo.
  const withCard = await page.evaluate(async () => {
    const get = async (p) => (await fetch('/api/v1' + p, { credentials: 'same-origin' })).json();
    const its = (await get('/interactions?limit=200')).items || [];
    for (const it of its) {
      const ms = (await get(`/interactions/${it.id}/messages`)).items || [];
      if (ms.some((m) => m.body.includes('**** **** **** 1111'))) return it.id;
    }
    return null;
  });
  check('a demo message holds a masked card number', !!withCard, 'none found');
  await step('open it', async () => {
    await page.goto(`${BASE}/#/interactions/${withCard}`);
    await page.reload();
    await page.locator('[data-test="messages"][data-state="ready"]').waitFor({ state: 'visible' });
  });
  const bodies = await $('message').allInnerTexts();
  check('the page shows the card masked, never in clear',
    bodies.some((b) => b.includes('**** **** **** 1111')) && !bodies.some((b) => b.includes('4111 1111')),
    bodies.join(' | ').slice(0, 300));
  const moods = await page.locator('[data-test="message"][data-direction="inbound"] [data-test="sentiment"]').count();
  const inbound = await page.locator('[data-test="message"][data-direction="inbound"]').count();
  check('every customer message shows its sentiment', inbound > 0 && moods === inbound, `${moods} of ${inbound}`);
  check('no page errors', pageErrors.length === 0, pageErrors.join(' | '));
  return finish(failed ? 1 : 0);
}

main().catch((e) => {
  if (!(e instanceof Abort)) failCheck('unexpected error', firstLine(e));
  finish(1);
});
