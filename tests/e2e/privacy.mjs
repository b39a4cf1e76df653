// End-to-end: an agent opens an interaction of a customer with sealed
// fields, sees them masked, reveals them (the reveal is audited), and sees
// the customer's sentiment on messages and a typed-in card number masked.
//
//   CAREDESK_URL=http://127.0.0.1:34567 node tests/e2e/privacy.mjs
//
// Needs `cd tests/e2e && npm install` (playwright-core) and /usr/bin/chromium.
// Prints one line per check and a final "N passed, N failed".
import { BASE, check, openDesk, run, step } from './lib.mjs';

async function main() {
  const { page, pageErrors, $ } = await openDesk();

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
}

run(main);
