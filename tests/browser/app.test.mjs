// The live rating page in a real headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core, which never downloads a browser). Starts `cyrisk serve --demo` on a scratch
// SQLite database and a free port; the binary is $CYRISK_BIN or target/debug/cyrisk (built by
// `cargo test --workspace`). Screenshots go to target/browser/.
//
//   node --test tests/browser/

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, mkdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer } from 'node:net';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const bin = process.env.CYRISK_BIN || join(root, 'target', 'debug', 'cyrisk');
const shots = join(root, 'target', 'browser');
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';

let server;
let base;
let adminKey;
let dbUrl;
let browser;

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

async function api(path, key = adminKey) {
  const res = await fetch(base + path, { headers: { authorization: `Bearer ${key}` } });
  assert.equal(res.status, 200, `${path}: ${res.status}`);
  return res.json();
}

function cli(...args) {
  return execFileSync(bin, [...args, '--database-url', dbUrl], { encoding: 'utf8' });
}

async function signIn(page, key, lang = 'en') {
  await page.goto(`${base}/app?lang=${lang}`);
  // Not signed in: the page sends the browser to the sign-in form.
  assert.match(page.url(), /\/app\/login/);
  await page.fill('#key', key);
  await Promise.all([page.waitForURL(/\/app\?/), page.click('#sign-in')]);
}

before(async () => {
  assert.ok(existsSync(bin), `${bin} is missing: run cargo build -p cyrisk-cli first`);
  assert.ok(existsSync(chromiumPath), `${chromiumPath} is missing: apt-get install chromium`);
  mkdirSync(shots, { recursive: true });
  const dir = mkdtempSync(join(tmpdir(), 'cyrisk-browser-'));
  dbUrl = `sqlite://${join(dir, 'cyrisk.db')}`;
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  server = spawn(bin, ['serve', '--demo', '--addr', `127.0.0.1:${port}`, '--database-url', dbUrl], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  adminKey = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${out}`)), 60_000);
    server.stdout.on('data', (chunk) => {
      out += chunk;
      const key = out.match(/cyk_[0-9a-f]+/);
      if (key && out.includes('listening')) {
        clearTimeout(timer);
        resolve(key[0]);
      }
    });
    server.on('exit', (code) => reject(new Error(`serve exited with ${code}: ${out}`)));
  });
  browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox'] });
});

after(async () => {
  await browser?.close();
  server?.kill('SIGTERM');
});

test('the vendored htmx is the pinned npm release', () => {
  const vendored = readFileSync(join(root, 'crates', 'cyrisk-api', 'assets', 'htmx.min.js'));
  const pinned = readFileSync(join(here, 'node_modules', 'htmx.org', 'dist', 'htmx.min.js'));
  assert.ok(vendored.equals(pinned), 'crates/cyrisk-api/assets/htmx.min.js differs from npm htmx.org');
});

test('an admin signs in, sees the API score, switches language and downloads the PDF', async () => {
  const orgs = await api('/api/v1/organizations');
  assert.equal(orgs.length, 3);
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 1400 } });
  const page = await context.newPage();
  const violations = [];
  page.on('console', (m) => {
    if (m.type() === 'error') violations.push(m.text());
  });
  page.on('response', (r) => {
    if (r.status() >= 400) violations.push(`${r.status()} ${r.url()}`);
  });
  await signIn(page, adminKey);

  // The first organisation by name, with the score the API gives.
  const first = orgs[0];
  const rating = await api(`/api/v1/organizations/${first.id}/rating`);
  assert.equal(await page.textContent('#org-name'), first.name);
  assert.equal(Number(await page.textContent('#score')), rating.score);
  assert.match(await page.textContent('#grade'), new RegExp(`${rating.grade}$`));
  // The priced fixes arrive after the first paint (htmx loads the section).
  await page.waitForSelector('#plan tr:nth-child(2)');
  const plan = await api(`/api/v1/organizations/${first.id}/plan?money=true&top=5`);
  assert.equal(
    (await page.textContent('#plan tr:nth-child(2) td')).trim(),
    plan.items[0].description,
    'the first fix is the plan API\'s first',
  );

  // The picker opens another organisation (htmx swaps the page in place).
  const other = orgs[2];
  await page.selectOption('#org', other.id);
  await Promise.all([page.waitForURL(new RegExp(other.id)), page.click('.picker button')]);
  const otherRating = await api(`/api/v1/organizations/${other.id}/rating`);
  await page.waitForSelector(`#org-name:has-text("${other.name}")`);
  assert.equal(Number(await page.textContent('#score')), otherRating.score);
  await page.screenshot({ path: join(shots, 'live-page-en.png'), fullPage: true });

  // Chinese: the words change, and the glyphs are drawn from a CJK font (not empty boxes).
  await Promise.all([page.waitForURL(/lang=zh-CN/), page.click('#lang-zh')]);
  await page.waitForSelector('html[lang="zh-CN"]', { state: 'attached' });
  assert.match(await page.textContent('.downloads h2'), /下载报告/);
  // Which font Chromium really drew the heading's glyphs with (DevTools protocol): a CJK
  // font, not a fallback box.
  const cdp = await context.newCDPSession(page);
  await cdp.send('DOM.enable');
  await cdp.send('CSS.enable');
  const { root: doc } = await cdp.send('DOM.getDocument');
  const { nodeId } = await cdp.send('DOM.querySelector', { nodeId: doc.nodeId, selector: '.downloads h2' });
  const { fonts } = await cdp.send('CSS.getPlatformFontsForNode', { nodeId });
  assert.ok(
    fonts.some((f) => /Noto Sans CJK/.test(f.familyName) && f.glyphCount >= 4),
    `the Chinese heading is drawn with Noto Sans CJK (fonts-noto-cjk): ${JSON.stringify(fonts)}`,
  );
  await page.screenshot({ path: join(shots, 'live-page-zh.png'), fullPage: true });

  // The PDF, in Chinese and in English, as a download.
  for (const [button, lang] of [['#pdf-zh', 'zh-CN'], ['#pdf-en', 'en']]) {
    const [download] = await Promise.all([page.waitForEvent('download'), page.click(button)]);
    assert.equal(download.suggestedFilename(), `cyrisk-report-${other.id}-${lang}.pdf`);
    const file = join(shots, download.suggestedFilename());
    await download.saveAs(file);
    assert.equal(readFileSync(file).subarray(0, 5).toString(), '%PDF-');
  }

  // Nothing the content security policy blocked, no script error.
  assert.deepEqual(violations, []);

  // Signing out ends the session: the page asks to sign in again, and going back shows no copy
  // of the signed-out page (htmx keeps no history snapshots; the server sends the form).
  await Promise.all([page.waitForURL(/\/app\/login/), page.click('#sign-out')]);
  assert.equal(await page.evaluate(() => localStorage.getItem('htmx-history-cache')), null);
  await page.goBack();
  await page.waitForLoadState();
  assert.equal(await page.$('#score'), null, 'no rating shown after sign-out');
  await page.goto(`${base}/app`);
  assert.match(page.url(), /\/app\/login/);
  // A wrong key after signing out is told so (the sign-in form is a plain page, not a swap).
  await page.fill('#key', 'cyk_wrong');
  await page.click('#sign-in');
  await page.waitForSelector('.error');
  await context.close();
});

test("an enterprise key sees its own organisation only: another's page and report are 404", async () => {
  const orgs = await api('/api/v1/organizations');
  const [own, other] = orgs;
  const key = cli('keys', 'create', '--name', 'browser-enterprise', '--role', 'enterprise', '--org', own.id)
    .match(/cyk_[0-9a-f]+/)[0];
  const context = await browser.newContext();
  const page = await context.newPage();
  await signIn(page, key);
  assert.equal(await page.textContent('#org-name'), own.name);
  assert.equal(await page.$('#org'), null, 'no picker for one organisation');
  const rating = await api(`/api/v1/organizations/${own.id}/rating`, key);
  assert.equal(Number(await page.textContent('#score')), rating.score);

  const res = await page.goto(`${base}/app?org=${other.id}`);
  assert.equal(res.status(), 404);
  for (const format of ['pdf', 'html']) {
    const r = await page.request.get(`${base}/app/report?org=${other.id}&format=${format}&lang=en`);
    assert.equal(r.status(), 404, `${format} report of another organisation`);
  }
  const mine = await page.request.get(`${base}/app/report?org=${own.id}&format=html&lang=en`);
  assert.equal(mine.status(), 200);
  await context.close();
});

test('a wrong key is refused, and a form without its token is refused', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${base}/app/login?lang=en`);
  await page.fill('#key', 'cyk_not_a_key');
  await page.click('#sign-in');
  await page.waitForSelector('.error');
  assert.match(await page.textContent('.error'), /Unknown or revoked key/);
  // A cross-site post carries no sign-in cookie (SameSite=Strict) and no token.
  const r = await fetch(`${base}/app/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: `key=${adminKey}&csrf=guess&lang=en`,
    redirect: 'manual',
  });
  assert.equal(r.status, 403);
  assert.equal(r.headers.get('set-cookie')?.includes('cyrisk_session'), false);
  assert.match(r.headers.get('content-security-policy'), /frame-ancestors 'none'/);
  assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
  await context.close();
});
