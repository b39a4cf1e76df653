// The supervisor's wall in headless Chromium: a supervisor of both demo
// clients opens "Queues" and sees each client's queues with live figures;
// an interaction created meanwhile shows up in the waiting count without a
// reload (the page listens to /api/v1/supervisor/stream).
import { chromium } from 'playwright-core';

const URL = process.env.CAREDESK_URL;
let passed = 0, failed = 0;
function check(name, ok, detail) {
  if (ok) { passed++; console.log(`ok   - ${name}`); } else { failed++; console.log(`FAIL - ${name}: ${detail || ''}`); }
}

const timer = setTimeout(() => { console.log('FAIL - timed out'); console.log(`${passed} passed, ${failed + 1} failed`); process.exit(1); }, 90000);
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
try {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(URL);
  await page.fill('[data-test=login-email]', 'sam@caredesk.demo');
  await page.fill('[data-test=login-password]', 'caredesk-demo');
  await page.click('[data-test=login-submit]');
  await page.waitForSelector('[data-test=wall-toggle]', { timeout: 15000 });
  await page.click('[data-test=wall-toggle]');
  await page.waitForSelector('[data-test=wall-queue]', { timeout: 15000 });
  check('the wall shows both clients', await page.locator('[data-test=wall-client]').count() === 2);
  const billing = page.locator('[data-test=wall-client]').first().locator('[data-test=wall-queue]', { hasText: 'billing' });
  const before = Number(await billing.locator('td').nth(1).innerText());
  check('a queue shows its waiting count', Number.isInteger(before) && before >= 0, before);
  // Create an interaction in that queue through the API, as the supervisor.
  const created = await page.evaluate(async () => {
    const me = await (await fetch('/api/v1/auth/me')).json();
    const client = me.clients.find((c) => c.slug === 'northwind-energy');
    const r = await fetch('/api/v1/interactions', {
      method: 'POST', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': me.csrf_token },
      body: JSON.stringify({ client_id: client.id, channel: 'chat', subject: 'wall test', queue: 'billing' }),
    });
    return r.status;
  });
  check('an interaction is created', created === 201, created);
  let after = before;
  for (let i = 0; i < 50 && after === before; i++) {
    await page.waitForTimeout(100);
    after = Number(await billing.locator('td').nth(1).innerText());
  }
  check('the waiting count rises without a reload', after === before + 1, `${before} -> ${after}`);
  // A rule that notifies supervisors: its notice shows on the wall as it fires.
  const noticed = await page.evaluate(async () => {
    const me = await (await fetch('/api/v1/auth/me')).json();
    const client = me.clients.find((c) => c.slug === 'northwind-energy');
    const post = (path, body) => fetch(path, {
      method: 'POST', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': me.csrf_token },
      body: JSON.stringify(body),
    });
    const rule = await post('/api/v1/rules', {
      client_id: client.id, name: 'wall notice', event: 'created',
      condition: "interaction.subject == 'needs a supervisor'",
      actions: [{ type: 'notify_supervisors', text: 'Look at {{interaction.subject}} now' }],
    });
    const it = await post('/api/v1/interactions', {
      client_id: client.id, channel: 'chat', subject: 'needs a supervisor', queue: 'billing',
    });
    return [rule.status, it.status];
  });
  check('a notifying rule and an interaction that fires it', noticed[0] === 201 && noticed[1] === 201, noticed);
  const notice = page.locator('[data-test=wall-client]').first().locator('[data-test=wall-notice]', { hasText: 'Look at needs a supervisor now' });
  const shown = await notice.waitFor({ state: 'visible', timeout: 10000 }).then(() => true, () => false);
  check('the notice shows on the wall without a reload', shown);
  // An administrator takes the supervisor off the second client: its part of
  // the wall says so at once (the stream ends and may not reopen).
  const me = await page.evaluate(async () => (await (await fetch('/api/v1/auth/me')).json()));
  const other = me.clients.find((c) => c.slug !== 'northwind-energy');
  const adminCtx = await browser.newContext();
  const login = await adminCtx.request.post(`${URL}/api/v1/auth/login`, { data: { email: 'admin@caredesk.demo', password: 'caredesk-demo' } });
  const csrf = (await login.json()).csrf_token;
  const removed = await adminCtx.request.delete(`${URL}/api/v1/users/${me.user.id}/clients/${other.id}`, { headers: { 'X-CSRF-Token': csrf } });
  check('the admin takes the supervisor off the second client', removed.status() === 204, removed.status());
  const lostNote = page.locator(`[data-test=wall-client][data-id="${other.id}"] [data-test=wall-lost]`);
  const lostShown = await lostNote.waitFor({ state: 'visible', timeout: 15000 }).then(() => true, () => false);
  check('the part of the wall of that client says it is no longer watched', lostShown);
  const firstStill = await page.locator('[data-test=wall-client]').first().locator('[data-test=wall-lost]').count();
  check('the figures of the other client go on', firstStill === 0, firstStill);
  await adminCtx.close();
  check('no page errors', errors.length === 0, errors.join(' | '));
} catch (e) {
  check('the wall test ran', false, e.message);
} finally {
  clearTimeout(timer);
  await browser.close();
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
