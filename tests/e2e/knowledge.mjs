// End-to-end: an agent opens a demo interaction, the desk suggests
// knowledge-base articles for it with highlighted snippets, and the agent
// marks one helpful (stored through the API).
//
//   CAREDESK_URL=http://127.0.0.1:34567 node tests/e2e/knowledge.mjs
//
// Needs `cd tests/e2e && npm install` (playwright-core) and /usr/bin/chromium.
// Prints one line per check and a final "N passed, N failed".
import { BASE, check, openDesk, run, step } from './lib.mjs';

async function main() {
  const { page, pageErrors, $ } = await openDesk();

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
}

run(main);
