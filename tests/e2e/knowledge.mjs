// End-to-end: an agent opens a demo interaction, the desk suggests
// knowledge-base articles for it with highlighted snippets, and the agent
// marks one helpful (stored through the API).
//
//   CAREDESK_URL=http://127.0.0.1:34567 node tests/e2e/knowledge.mjs
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

  // An interaction about a topic the demo's articles cover.
  const target = await page.evaluate(async () => {
    const get = async (p) => (await fetch('/api/v1' + p, { credentials: 'same-origin' })).json();
    const its = (await get('/interactions?limit=100')).items || [];
    const it = its.find((i) => /declined abroad|bill higher/i.test(i.subject || ''));
    return it ? it.id : null;
  });
  check('the demo has an interaction about a card declined abroad or a high bill', !!target, 'none');
  await step('open it', async () => {
    await page.goto(`${BASE}/#/interactions/${target}`);
    await page.reload();
    await page.locator(`[data-test="detail"][data-id="${target}"]`).waitFor({ state: 'visible' });
  });
  await step('the desk suggests articles', async () => {
    await $('suggestion').first().waitFor({ state: 'visible' });
    return `${await $('suggestion').count()} suggestion(s)`;
  });
  const first = $('suggestion').first();
  const title = (await first.locator('.suggestion-title').innerText()).trim();
  check('the first suggestion is the article on that topic',
    /declined abroad|higher than usual/i.test(title), title);
  check('its snippet highlights matched words', (await first.locator('mark').count()) > 0,
    await first.innerText());
  const articleId = await first.getAttribute('data-id');
  await step('mark it helpful', async () => {
    await first.locator('[data-test="helpful"]').click();
    await first.locator('[data-test="voted"]').waitFor({ state: 'visible' });
  });
  const stored = await page.evaluate(async ([it, art]) => {
    const r = await fetch(`/api/v1/interactions/${it}/suggestions`, { credentials: 'same-origin' });
    return { status: r.status, body: await r.json(), art };
  }, [target, articleId]);
  check('suggestions still answer after feedback', stored.status === 200, JSON.stringify(stored).slice(0, 200));
  check('no page errors', pageErrors.length === 0, pageErrors.join(' | '));
  return finish(failed ? 1 : 0);
}

main().catch((e) => {
  if (!(e instanceof Abort)) failCheck('unexpected error', firstLine(e));
  finish(1);
});
