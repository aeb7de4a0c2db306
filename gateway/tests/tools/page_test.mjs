// The web chat page in a real headless Chromium (Debian's /usr/bin/chromium,
// driven by playwright-core; made available by setup-browser.sh on NODE_PATH).
//
//   node page_test.mjs <gateway url> <api key>
//
// Enters the key, asks about SKU-0042, waits for the streamed answer and a
// citation row, checks the synced sheets, reloads to see the key remembered,
// then checks a phone-sized viewport does not scroll sideways. Screenshots go
// to a fresh temp directory whose files are printed. Exits 1 with the reason
// on the first failure.

import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [url, apiKey] = process.argv.slice(2);
if (!url || !apiKey) {
  console.error('usage: node page_test.mjs <gateway url> <api key>');
  process.exit(2);
}
const QUESTION = 'What does SKU-0042 cost?';
const CITED = 'SKU-0042';
// The sheets of the sample workbook (sheets/inventory.xlsx).
const SHEETS = (process.env.EXPECT_SHEETS || 'Products,Stores,Orders').split(',');
const TIMEOUT = 20_000;

// createRequire resolves through NODE_PATH, where setup-browser.sh put it.
const { chromium } = createRequire(import.meta.url)('playwright-core');

class Failure extends Error {}
function check(condition, message) {
  if (!condition) throw new Failure(message);
}
// Waits on the DOM (a polled predicate in the page) with a bounded timeout,
// turning a timeout into a sentence saying what never appeared.
async function waitFor(page, what, predicate, arg) {
  try {
    return await page.waitForFunction(predicate, arg, { timeout: TIMEOUT });
  } catch (error) {
    throw new Failure(`${what} did not happen within ${TIMEOUT / 1000} s (${error.message.split('\n')[0]})`);
  }
}

const shots = mkdtempSync(join(tmpdir(), 'sheetmesh-page-'));
const profile = mkdtempSync(join(tmpdir(), 'sheetmesh-chromium-'));
const problems = [];
let context;
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    // Without the background-networking flags Chromium keeps dialling
    // Google's hosts, which a closed network refuses.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 800 },
  });
  // A CSP violation or a script error is a broken page even if the text shows up.
  context.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
  });
  context.on('weberror', (error) => problems.push(`page error: ${error.error().message}`));
  context.on('response', (response) => {
    if (response.status() >= 400) problems.push(`${response.request().method()} ${response.url()} answered ${response.status()}`);
  });

  const page = context.pages()[0] || (await context.newPage());
  const loaded = await page.goto(url, { timeout: TIMEOUT });
  check(loaded && loaded.ok(), `GET ${url} answered ${loaded && loaded.status()}`);
  check((await page.title()) === 'sheetmesh', `the page title is "${await page.title()}"`);

  // The key, entered once.
  await page.fill('#api-key', apiKey);
  await page.click('#save-key');
  await waitFor(page, `the sheets list showing ${SHEETS.join(', ')}`, (names) => {
    const text = [...document.querySelectorAll('#sheets li.sheet')].map((li) => li.textContent).join('\n');
    return names.every((name) => text.includes(name));
  }, SHEETS);
  const sheetItems = await page.locator('#sheets li.sheet').allTextContents();
  check(sheetItems.every((item) => /\d+ rows · synced /.test(item)), `a sheet without a row count and sync time: ${JSON.stringify(sheetItems)}`);

  // Ask; the answer arrives as Server-Sent Events.
  const streamed = page.waitForResponse((response) => response.url().endsWith('/v1/chat/stream'), { timeout: TIMEOUT });
  await page.fill('#question', QUESTION);
  await page.click('#ask');
  const response = await streamed;
  check(response.status() === 200, `POST /v1/chat/stream answered ${response.status()}`);
  check((response.headers()['content-type'] || '').startsWith('text/event-stream'), `the chat stream is ${response.headers()['content-type']}, not text/event-stream`);
  await waitFor(page, `a citations row containing ${CITED}`, (cited) =>
    [...document.querySelectorAll('.turn.assistant table.citations tr.citation')].some((row) => row.textContent.includes(cited)), CITED);
  // `done` re-enables the button and fills in the model line.
  await waitFor(page, 'the end of the answer (Ask enabled again)', () => !document.getElementById('ask').disabled);
  const answer = (await page.locator('.turn.assistant .answer').first().textContent()).trim();
  check(answer.length > 0, 'the answer is empty');
  check((await page.locator('.turn.assistant .error').count()) === 0, `the answer shows an error: ${await page.locator('.turn.assistant .error').first().textContent().catch(() => '')}`);
  check((await page.locator('.turn.user').first().textContent()) === QUESTION, 'the question is not shown in the log');
  console.log(`answer: ${answer}`);
  const desktop = join(shots, 'desktop.png');
  await page.screenshot({ path: desktop, fullPage: true });
  console.log(`screenshot: ${desktop}`);

  // The key is remembered: after a reload it is filled in and used.
  await page.reload({ timeout: TIMEOUT });
  check((await page.inputValue('#api-key')) === apiKey, 'the API key was not remembered after a reload');
  await waitFor(page, 'the sheets list after a reload (with the remembered key)', () => document.querySelectorAll('#sheets li.sheet').length > 0);

  // A phone: everything fits the width, including a citations table.
  const phone = await context.newPage();
  await phone.setViewportSize({ width: 390, height: 844 });
  await phone.goto(url, { timeout: TIMEOUT });
  await waitFor(phone, 'the sheets list on a phone', () => document.querySelectorAll('#sheets li.sheet').length > 0);
  await phone.fill('#question', QUESTION);
  await phone.click('#ask');
  await waitFor(phone, 'a citations row on a phone', (cited) =>
    [...document.querySelectorAll('tr.citation')].some((row) => row.textContent.includes(cited)), CITED);
  await waitFor(phone, 'the end of the answer on a phone', () => !document.getElementById('ask').disabled);
  const overflow = await phone.evaluate(() => {
    const width = document.documentElement.clientWidth;
    const wide = [...document.querySelectorAll('body *')]
      .filter((node) => node.getBoundingClientRect().right > width + 1 && !node.closest('table'))
      .map((node) => node.tagName.toLowerCase() + (node.id ? '#' + node.id : ''));
    return { width, scrollWidth: document.documentElement.scrollWidth, wide: wide.slice(0, 5) };
  });
  const phoneShot = join(shots, 'phone.png');
  await phone.screenshot({ path: phoneShot, fullPage: true });
  console.log(`screenshot: ${phoneShot}`);
  check(overflow.scrollWidth <= overflow.width, `on a 390 px wide phone the page is ${overflow.scrollWidth} px wide (too wide: ${overflow.wide.join(', ')})`);

  check(problems.length === 0, problems.join('\n'));
  console.log('page test passed');
} catch (error) {
  console.error(`page test failed: ${error instanceof Failure ? error.message : error.stack}`);
  console.error(`screenshots so far: ${shots}`);
  if (context) {
    for (const [index, page] of context.pages().entries()) {
      await page.screenshot({ path: join(shots, `failure-${index}.png`), fullPage: true }).catch(() => {});
    }
  }
  if (problems.length) console.error(problems.join('\n'));
  process.exitCode = 1;
} finally {
  if (context) await context.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
}
