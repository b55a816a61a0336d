// console.test.mjs — the tower's web console in Debian's chromium, driven by
// puppeteer-core over the DevTools protocol, against a real tower (started by
// tests/integration/test_console.sh, which passes it in the environment):
// login, a create through the form whose DAG changes live, a step's log, node
// charts with data, API errors next to their forms, a join token, an attach
// through the form, CSRF refusal, a delete through the form, logout ending
// the session server-side.
// Any JavaScript error or console error on the page fails the test.
import fs from 'node:fs';
import path from 'node:path';
import puppeteer from 'puppeteer-core';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const BASE = env('CONSOLE_URL');          // https://127.0.0.1:PORT
const TOKEN = env('CONSOLE_TOKEN');
const OUT = env('CONSOLE_OUT');           // screenshots
const SPKI = env('CONSOLE_SPKI');         // the tower's key, trusted by pin
const EDGE_NODE = env('CONSOLE_EDGE_NODE'); // an enrolled node not in any OverCloud
const SCALE = Number(process.env.CONSOLE_WAIT_SCALE || 1);
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

const problems = [];
let expectHttpErrors = false;   // only while a step provokes a 4xx on purpose

function ok(what) {
  console.log(`ok: ${what}`);
}
function check(cond, what, detail = '') {
  if (!cond) throw new Error(`FAIL: ${what}${detail ? ' — ' + detail : ''}`);
  ok(what);
}

const browser = await puppeteer.launch({
  executablePath: CHROMIUM,
  headless: true,
  userDataDir: fs.mkdtempSync(path.join(process.env.CONSOLE_PROFILE_DIR || OUT, 'chromium-profile-')),
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-extensions',
    `--ignore-certificate-errors-spki-list=${SPKI}`, '--window-size=1400,1000'],
  defaultViewport: {width: 1400, height: 1000},
});
let page;

async function shot(name) {
  const file = path.join(OUT, `${name}.png`);
  await page.screenshot({path: file, fullPage: true});
  console.log(`screenshot: ${file}`);
}

async function waitFor(what, seconds, fn, ...args) {
  try {
    return await page.waitForFunction(fn, {timeout: seconds * 1000 * SCALE, polling: 100}, ...args);
  } catch (e) {
    await shot(`failed-${what.replace(/[^a-z0-9]+/gi, '-').slice(0, 40)}`).catch(() => {});
    throw new Error(`FAIL: gave up waiting for ${what}: ${e.message}`);
  }
}

// fetch() from inside the page: same origin, the session cookie goes along.
async function pageFetch(method, url, {body, csrf} = {}) {
  return page.evaluate(async (method, url, body, csrf) => {
    const headers = {'Content-Type': 'application/json'};
    if (csrf) headers['X-CSRF-Token'] = csrf;
    const r = await fetch(url, {method, headers, body: body === undefined ? undefined : JSON.stringify(body)});
    return {status: r.status, text: await r.text()};
  }, method, url, body, csrf);
}

async function provokes(fn) {
  expectHttpErrors = true;
  try {
    return await fn();
  } finally {
    expectHttpErrors = false;
  }
}

async function submitForm(formId, values) {
  for (const [name, value] of Object.entries(values)) {
    const sel = `#${formId} [name="${name}"]`;
    await page.$eval(sel, (el) => { el.value = ''; });
    await page.type(sel, String(value));
  }
  await page.click(`#${formId} button[type=submit]`);
}

// The DAG is drawn anew at every event: a click is one step inside the page,
// not a lookup then a click that a redraw can come between.
async function clickStep(name) {
  await page.$eval(`svg.dag[data-dag="create"] g.step[data-step="${name}"]`,
    (g) => g.dispatchEvent(new MouseEvent('click', {bubbles: true})));
}

async function go(hash) {
  await page.evaluate((h) => { location.hash = h; }, hash);
}

try {
  page = await browser.newPage();
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const text = m.text();
    if (expectHttpErrors && /status of 4\d\d/.test(text)) return;
    // Chromium's own notice when an interface comes or goes on the machine
    // (other tests make network namespaces and veths); the page reopens
    // its streams, and the checks below still need what they need.
    if (/net::ERR_NETWORK_CHANGED/.test(text)) {
      console.log(`note: ${text}`);
      return;
    }
    problems.push(`console error: ${text} (${JSON.stringify(m.location())})`);
  });

  // ---- the page, its headers, the login form ----
  const resp = await page.goto(`${BASE}/ui/`, {waitUntil: 'load'});
  check(resp.status() === 200, 'GET /ui/ answers 200');
  const csp = resp.headers()['content-security-policy'] || '';
  check(/script-src 'self'/.test(csp) && !/unsafe-inline|unsafe-eval/.test(csp) && /default-src 'none'/.test(csp),
    'the page has a strict Content-Security-Policy', csp);
  check((resp.headers()['content-type'] || '').startsWith('text/html'), 'index.html is text/html');
  const js = await page.evaluate(async () => (await fetch('/ui/app.js')).headers.get('content-type'));
  check(js.startsWith('text/javascript'), 'app.js is text/javascript', js);
  await waitFor('the login form', 10, () => !document.getElementById('login').hidden);
  await shot('01-login');

  await provokes(async () => {
    await submitForm('login-form', {token: 'not-the-token'});
    await waitFor('the login error', 10, () => /wrong admin token/.test(document.getElementById('login-error').textContent));
  });
  ok('a wrong token is refused with the API\'s error next to the login form');

  await submitForm('login-form', {token: TOKEN});
  await waitFor('the console after login', 10, () => !document.getElementById('nav').hidden &&
    document.getElementById('login').hidden);
  const cookies = await page.cookies();
  const session = cookies.find((c) => c.name === '__Host-oc_session');
  check(session && session.httpOnly && session.secure && session.sameSite === 'Strict' && session.path === '/',
    'login sets the session cookie HttpOnly; Secure; SameSite=Strict', JSON.stringify(session));
  const lifetime = session.expires - Date.now() / 1000;
  check(lifetime > 3600 && lifetime <= 8 * 3600 + 60, `the session cookie expires (in ${Math.round(lifetime)} s)`);
  check(!(await page.evaluate(() => document.cookie)).includes('oc_session'), 'page script cannot read the cookie');
  const who = JSON.parse((await pageFetch('GET', '/v1/session')).text);
  check(who.active === true && /^[0-9a-f]{64}$/.test(who.csrf), 'GET /v1/session tells the CSRF token');
  const csrf = who.csrf;
  await page.evaluate(() => { window.__sameDocument = true; });

  // ---- Nodes: every enrolled node with figures ----
  await go('#/nodes');
  await waitFor('the edge node in the nodes table', 20, (id) => !!document.querySelector(`#node-list tr[data-node-id="${id}"]`), EDGE_NODE);
  await waitFor('CPU and MEM charts of the edge node with data', 40, (id) => {
    const row = document.querySelector(`#node-list tr[data-node-id="${id}"]`);
    if (!row) return false;
    const cpu = row.querySelector('svg[data-chart="CPU"]'), mem = row.querySelector('svg[data-chart="MEM"]');
    return cpu && mem && Number(cpu.dataset.points) >= 2 && Number(mem.dataset.points) >= 2 &&
      cpu.querySelector('polyline') && mem.querySelector('polyline');
  }, EDGE_NODE);
  const row = await page.$eval(`#node-list tr[data-node-id="${EDGE_NODE}"]`, (r) => r.textContent);
  check(/x86_64|aarch64|armv7/.test(row) && /edge-worker/.test(row) && /connected/.test(row) && /s ago/.test(row),
    'the nodes table shows arch, role, state and last seen', row.slice(0, 200));
  ok('node metric charts have data (>= 2 samples)');
  await page.type('#node-filter', 'no-such-node-zzz');
  await waitFor('the filter to hide the edge node', 10, (id) => !document.querySelector(`#node-list tr[data-node-id="${id}"]`), EDGE_NODE);
  await page.$eval('#node-filter', (el) => { el.value = ''; });
  await page.type('#node-filter', 'edge-worker');
  await waitFor('the filter by role to show it', 10, (id) => !!document.querySelector(`#node-list tr[data-node-id="${id}"]`), EDGE_NODE);
  ok('the nodes filter narrows the table');
  await shot('02-nodes');

  // ---- Actions: API errors next to their forms, a join token ----
  await go('#/actions');
  await waitFor('the action forms', 10, () => ['create-form', 'delete-form', 'attach-form', 'token-form']
    .every((id) => document.getElementById(id)));
  await provokes(async () => {
    await submitForm('create-form', {provider: 'local', number: 1, pattern: 'no-such-pattern'});
    await waitFor('the create error', 10, () => /unknown pattern/.test(document.getElementById('create-form-error').textContent));
    await submitForm('attach-form', {id: 'oc-00000000', node: EDGE_NODE});
    await waitFor('the attach error', 10, () => /no such overcloud/.test(document.getElementById('attach-form-error').textContent));
    await submitForm('token-form', {role: 'Not A Role'});
    await waitFor('the token error', 10, () => /role/.test(document.getElementById('token-form-error').textContent));
  });
  check(await page.$eval('#create-form-error', (e) => e.closest('form').id === 'create-form'), 'the API error is shown inside its form');
  await shot('03-actions-errors');
  ok('API errors are shown next to the create, attach and token forms');
  await submitForm('token-form', {role: 'edge-worker', ttl: '15m', uses: 2});
  await waitFor('the join command', 10, () => {
    const j = document.getElementById('join-command');
    return j && /^overcloud-agent join --tower \S+ --token \S+ --ca-hash sha256:[0-9a-f]{64}$/.test(j.textContent);
  });
  check((await page.$eval('#token-form-error', (e) => e.textContent)) === '', 'the token form\'s old error is gone');
  ok('a join token is made and its one-line join command shown');
  await shot('04-actions-token');

  // ---- Create through the form; the DAG changes live ----
  await submitForm('create-form', {provider: 'local', number: 1, pattern: 'demo'});
  await waitFor('the OverCloud detail page', 15, () => /^#\/overclouds\/oc-[0-9a-f]+$/.test(location.hash));
  const ocId = await page.evaluate(() => location.hash.split('/')[2]);
  ok(`create through the form: ${ocId}`);
  // Record every (step, state) the page shows, in order, at every change of the DOM.
  await page.evaluate(() => {
    window.__seen = [];
    const record = () => {
      for (const g of document.querySelectorAll('svg.dag[data-dag="create"] g.step')) {
        const key = `${g.dataset.step}=${g.dataset.state}`;
        if (!window.__seen.includes(key)) window.__seen.push(key);
      }
    };
    record();
    window.__recorder = new MutationObserver(record);
    window.__recorder.observe(document.getElementById('main'), {childList: true, subtree: true, attributes: true});
  });
  await waitFor('the create DAG drawn', 15, () => document.querySelectorAll('svg.dag[data-dag="create"] g.step').length > 0);
  const apiOc = JSON.parse((await pageFetch('GET', `/v1/overclouds/${ocId}`)).text);
  const createSteps = apiOc.steps.filter((s) => s.dag === 'create');
  const drawn = await page.$$eval('svg.dag[data-dag="create"] g.step', (gs) => gs.map((g) => g.dataset.step));
  check(createSteps.length >= 5 && createSteps.every((s) => drawn.includes(s.name)) && drawn.length === createSteps.length,
    `the create DAG shows every step (${drawn.join(', ')})`);
  const wantEdges = createSteps.reduce((n, s) => n + s.requires.length, 0);
  const edges = await page.$$eval('svg.dag[data-dag="create"] path.edge', (ps) => ps.map((p) => `${p.dataset.from}>${p.dataset.to}`));
  check(wantEdges > 0 && edges.length === wantEdges &&
    createSteps.every((s) => s.requires.every((r) => edges.includes(`${r}>${s.name}`))),
  `every requires-edge is drawn (${edges.join(', ')})`);
  await waitFor('a step running', 60, () => window.__seen.some((k) => k.endsWith('=running')));
  await shot('05-detail-running');
  // Watch cluster-join's log while it may still run.
  await clickStep('cluster-join');
  await waitFor('the OverCloud ready', 120, () => document.querySelector('.oc-head .badge')?.textContent === 'ready');
  await page.evaluate(() => window.__recorder.disconnect());
  const seen = await page.evaluate(() => window.__seen);
  const changed = createSteps.filter((s) => seen.includes(`${s.name}=done`) &&
    (seen.includes(`${s.name}=pending`) || seen.includes(`${s.name}=running`)));
  // Steps that run on nodes take a while each: a page that follows the
  // stream shows each of them running in turn, one that is only told the
  // end shows at most the first.
  const ran = createSteps.filter((s) => seen.includes(`${s.name}=running`));
  check(changed.length >= 3 && ran.length >= 3 && await page.evaluate(() => window.__sameDocument === true),
    `states changed live on the same page (${ran.map((s) => s.name).join(', ')} seen running; ` +
    `${changed.map((s) => s.name).join(', ')} went to done)`, seen.join(' '));
  check(await page.$$eval('svg.dag[data-dag="create"] g.step', (gs) => gs.every((g) => g.dataset.state === 'done')),
    'every create step is shown done');

  // ---- a step's log ----
  await waitFor('cluster-join\'s log', 30, () => /proved the shared secret/.test(document.getElementById('step-log').textContent));
  ok('a step\'s log appears (cluster-join)');
  await clickStep('post-secret');
  await waitFor('post-secret\'s log', 30, () => /proof service/.test(document.getElementById('step-log').textContent) &&
    !/proved the shared secret/.test(document.getElementById('step-log').textContent));
  ok('another step\'s log replaces it (post-secret)');
  await waitFor('node charts on the detail page', 40, () =>
    [...document.querySelectorAll('td.chart-cell svg[data-chart="CPU"]')].some((s) => Number(s.dataset.points) >= 1));
  ok('the OverCloud\'s nodes show their charts');
  await shot('06-detail-ready');

  // ---- the list ----
  await go('#/overclouds');
  await waitFor('the OverCloud in the list', 10, (id) => {
    const r = document.querySelector(`#overcloud-list tr[data-overcloud="${id}"]`);
    return r && /ready/.test(r.textContent);
  }, ocId);
  ok('the list shows the OverCloud ready');
  await shot('07-overclouds');

  // ---- CSRF ----
  const noHeader = await provokes(() => pageFetch('POST', '/v1/tokens', {body: {role: 'edge-worker'}}));
  check(noHeader.status === 403 && /CSRF/.test(noHeader.text), 'a mutating call with the cookie but without X-CSRF-Token is refused (403)', noHeader.text);
  const badHeader = await provokes(() => pageFetch('DELETE', `/v1/overclouds/${ocId}`, {csrf: '0'.repeat(64)}));
  check(badHeader.status === 403, 'a wrong CSRF token is refused (403)', badHeader.text);
  const withHeader = await pageFetch('POST', '/v1/tokens', {body: {role: 'edge-worker'}, csrf});
  check(withHeader.status === 201, 'the same call with the session\'s CSRF token works (201)', withHeader.text);

  // ---- Attach the edge node through the form ----
  await go('#/actions');
  await waitFor('the attach form', 10, () => document.getElementById('attach-form'));
  await submitForm('attach-form', {id: ocId, node: EDGE_NODE});
  await waitFor('the detail page after attach', 15, (id) => location.hash === `#/overclouds/${id}`, ocId);
  await waitFor('the attach DAG drawn', 30, () => document.querySelectorAll('svg.dag[data-dag="attach"] g.step').length > 0);
  await waitFor('the attach DAG done', 120, () => {
    const steps = [...document.querySelectorAll('svg.dag[data-dag="attach"] g.step')];
    return steps.length > 0 && steps.every((g) => g.dataset.state === 'done');
  });
  await waitFor('the edge node in the OverCloud\'s nodes', 15, (id) =>
    !!document.querySelector(`td.chart-cell[data-node-id="${id}"]`), EDGE_NODE);
  ok('attach through the form: the attach DAG ran and the edge node is listed');
  await shot('08-detail-attached');

  // ---- Delete through the form ----
  await go('#/actions');
  await waitFor('the delete form', 10, () => document.getElementById('delete-form'));
  await submitForm('delete-form', {id: ocId});
  await waitFor('the detail page after delete', 15, (id) => location.hash === `#/overclouds/${id}`, ocId);
  await waitFor('the destroy DAG drawn', 30, () => document.querySelectorAll('svg.dag[data-dag="destroy"] g.step').length > 0);
  await waitFor('the OverCloud deleted', 120, () => document.querySelector('.oc-head .badge')?.textContent === 'deleted');
  check(await page.$$eval('svg.dag[data-dag="destroy"] g.step', (gs) => gs.every((g) => ['done', 'skipped'].includes(g.dataset.state))),
    'delete through the form: the destroy DAG ran to the end');
  await shot('09-detail-deleted');

  // ---- Logout ends the session on the tower ----
  const before = (await page.cookies()).find((c) => c.name === '__Host-oc_session');
  await page.click('#logout');
  await waitFor('the login form after logout', 10, () => !document.getElementById('login').hidden);
  check(!(await page.cookies()).some((c) => c.name === '__Host-oc_session'), 'logout clears the cookie');
  await page.setCookie(before);   // the old cookie, as a thief would replay it
  const replay = await provokes(() => pageFetch('GET', '/v1/nodes'));
  check(replay.status === 401, 'the old session cookie no longer works after logout (401)', replay.text);
  const after = JSON.parse((await pageFetch('GET', '/v1/session')).text);
  check(after.active === false, 'GET /v1/session: no session');
  await shot('10-logged-out');

  check(problems.length === 0, 'no JavaScript or console error on the page', problems.join('\n'));
  console.log('console test: all checks passed');
} catch (e) {
  console.error(e.message);
  if (problems.length) console.error(`page problems:\n${problems.join('\n')}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
