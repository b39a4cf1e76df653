// A guided workflow in the agent desk, in headless Chromium: the demo agent
// opens a Northwind Energy interaction, starts the billing-dispute workflow
// the demo published, passes the required identity check, goes back, and
// the steps follow the workflow.
import { chromium } from 'playwright-core';

const URL = process.env.CAREDESK_URL;
let passed = 0, failed = 0;
function check(name, ok, detail) {
  if (ok) { passed++; console.log(`ok   - ${name}`); } else { failed++; console.log(`FAIL - ${name}: ${detail || ''}`); }
}
const timer = setTimeout(() => { console.log('FAIL - timed out'); console.log(`${passed} passed, ${failed + 1} failed`); process.exit(1); }, 90000);
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(URL);
  await page.fill('[data-test=login-email]', 'ana@caredesk.demo');
  await page.fill('[data-test=login-password]', 'caredesk-demo');
  await page.click('[data-test=login-submit]');
  await page.waitForSelector('[data-test=interaction-row]', { timeout: 15000 });
  await page.locator('[data-test=interaction-row]', { hasText: 'Northwind Energy' }).first().click();
  await page.waitForSelector('[data-test=guide-flow]', { timeout: 15000 });
  const value = await page.locator('[data-test=guide-flow] option', { hasText: 'Billing dispute' }).getAttribute('value');
  check('the billing-dispute workflow is offered for a Northwind Energy interaction', !!value);
  await page.selectOption('[data-test=guide-flow]', value);
  await page.click('[data-test=guide-start]');
  const step = page.locator('[data-test=guide-step]');
  await step.waitFor({ timeout: 10000 });
  check('the workflow starts at the required identity check',
    (await step.getAttribute('data-node')) === 'verify_identity', await step.getAttribute('data-node'));
  await page.click('[data-test=guide-yes]');
  await page.waitForSelector('[data-test=guide-step][data-node=which_bill]', { timeout: 10000 });
  check('passing the check moves to the next question', true);
  check('the question offers its options', (await page.locator('[data-test=guide-option]').count()) >= 2);
  await page.click('[data-test=guide-back]');
  await page.waitForSelector('[data-test=guide-step][data-node=verify_identity]', { timeout: 10000 });
  check('back returns to the check', true);
  check('no page errors', errors.length === 0, errors.join(' | '));
} catch (e) {
  check('the guide test ran', false, e.message);
} finally {
  clearTimeout(timer);
  await browser.close();
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
