// lib.mjs - what the desk's browser tests share: checks that print one line
// each, steps that turn a Playwright timeout into a failed check, the final
// "N passed, N failed" line, and starting Chromium and logging in as a demo
// user. A failed check ends the run (later steps depend on earlier ones).
import { chromium } from 'playwright-core';

export const BASE = (process.env.CAREDESK_URL || '').replace(/\/+$/, '');
export const EMAIL = 'ana@caredesk.demo';
export const PASSWORD = 'caredesk-demo';
export const STEP_MS = 15_000;
const OVERALL_MS = 90_000;

const state = { passed: 0, failed: 0, browser: null, finished: false };

export function pass(name, detail) {
  if (state.finished) return; // a step cut short by the overall timeout
  state.passed++;
  console.log(`ok   - ${name}${detail ? ` (${detail})` : ''}`);
}

export function failCheck(name, detail) {
  if (state.finished) return;
  state.failed++;
  console.log(`FAIL - ${name}${detail ? `: ${detail}` : ''}`);
}

export class Abort extends Error {}

export function check(name, cond, detail) {
  if (cond) {
    pass(name);
  } else {
    failCheck(name, detail);
    throw new Abort(name);
  }
}

export function firstLine(e) {
  // eslint-disable-next-line no-control-regex
  const s = (e && e.message ? e.message : String(e)).replace(/\x1b\[[0-9;]*m/g, '');
  return s.split('\n').filter((l) => l.trim()).slice(0, 3).join(' | ');
}

// Runs fn; a thrown error (e.g. a Playwright timeout) fails the named check.
export async function step(name, fn) {
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

export async function finish(code) {
  if (state.finished) return;
  state.finished = true;
  if (state.browser) {
    await Promise.race([state.browser.close().catch(() => {}), new Promise((r) => setTimeout(r, 5000))]);
  }
  console.log(`${state.passed} passed, ${state.failed} failed`);
  process.exit(code ?? (state.failed ? 1 : 0));
}

const overall = setTimeout(() => {
  failCheck('overall timeout', `run exceeded ${OVERALL_MS / 1000} s`);
  finish(1);
}, OVERALL_MS);
overall.unref();

// Chromium, a page with page errors collected, and the desk logged in as
// the demo agent. Returns { page, pageErrors, $ }.
export async function openDesk() {
  if (!/^https?:\/\//.test(BASE)) {
    failCheck('CAREDESK_URL is set', `got ${JSON.stringify(process.env.CAREDESK_URL || '')}`);
    await finish(1);
  }
  state.browser = await step('chromium launches', () => chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    timeout: 30_000,
  }));
  const context = await state.browser.newContext({ viewport: { width: 1400, height: 900 } });
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
  return { page, pageErrors, $ };
}

// Runs main; an unexpected error fails the run.
export function run(main) {
  main().then(() => finish(), (e) => {
    if (!(e instanceof Abort)) failCheck('unexpected error', firstLine(e));
    finish(1);
  });
}
