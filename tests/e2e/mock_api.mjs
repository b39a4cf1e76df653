// A stand-in for the caredesk server, for working on web/ and on the e2e
// scripts without the C build: serves web/ as static files and an in-memory
// copy of the /api/v1 endpoints the page uses, following the API contract
// (cookie session cd_session, X-CSRF-Token on writes, cursor pagination,
// {"error":{code,message,field}} errors). It is NOT a test of the server.
//
//   node tests/e2e/mock_api.mjs [--port N]              serve until killed
//   node tests/e2e/mock_api.mjs -- node login_reply.mjs  serve, run the command
//                                                        with CAREDESK_URL set,
//                                                        exit with its status
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const WEB = path.resolve(here, '../../web');

const argv = process.argv.slice(2);
const dd = argv.indexOf('--');
const cmd = dd >= 0 ? argv.slice(dd + 1) : [];
const opts = dd >= 0 ? argv.slice(0, dd) : argv;
const port = opts.includes('--port') ? Number(opts[opts.indexOf('--port') + 1]) : 0;

// ---- demo data -------------------------------------------------------------

const now = Date.now();
const min = 60 * 1000;
const clients = [
  { id: 'cl_acme', slug: 'acme-telecom', name: 'Acme Telecom', brand: { display_name: 'Acme Support', color: '#d9480f' } },
  { id: 'cl_globex', slug: 'globex-retail', name: 'Globex Retail', brand: { display_name: 'Globex Care', color: '#1971c2' } },
  { id: 'cl_initech', slug: 'initech', name: 'Initech', brand: { display_name: 'Initech Help', color: '#2f9e44' } },
];
const users = [
  { id: 'u_ana', email: 'ana@caredesk.demo', name: 'Ana Silva', role: 'agent', password: 'caredesk-demo', clients: ['cl_acme', 'cl_globex'] },
];
const customers = [
  { id: 'cu_1', client_id: 'cl_acme', name: 'Maria Jones', tier: 'gold', identities: [{ kind: 'email', value: 'maria@example.com' }, { kind: 'phone', value: '+1 555 0101' }] },
  { id: 'cu_2', client_id: 'cl_globex', name: 'Tom <b>Baker</b>', tier: 'standard', identities: [{ kind: 'email', value: 'tom@example.org' }] },
  { id: 'cu_3', client_id: 'cl_initech', name: 'Hidden Person', tier: 'standard', identities: [] },
];
const interactions = [];
const messages = [];
let seq = 1;
function addInteraction(client_id, customer_id, channel, status, priority, subject, ago, msgs) {
  const id = 'in_' + seq++;
  const it = {
    id, client_id, customer_id, channel, status, priority, subject, queue: 'tier1', assignee_id: null,
    category: channel === 'voice' ? 'billing' : null, tags: channel === 'email' ? ['vip'] : [],
    custom_fields: { order_ref: 'A-' + (1000 + seq) }, version: 1,
    created_at: now - ago * min - 30 * min, updated_at: now - ago * min,
  };
  interactions.push(it);
  msgs.forEach(([direction, body], i) => messages.push({
    id: 'm_' + seq++, interaction_id: id, client_id, direction, body,
    author_id: direction === 'inbound' ? null : 'u_other', created_at: it.created_at + i * min,
  }));
  return it;
}
addInteraction('cl_acme', 'cu_1', 'email', 'open', 'high', 'Router keeps dropping the connection', 5, [
  ['inbound', 'Hello,\nmy router drops the connection every evening.\n<script>alert(1)</script>'],
  ['outbound', 'Sorry to hear that. Could you tell us the model?'],
  ['note', 'Customer is on the legacy plan.'],
  ...Array.from({ length: 25 }, (_, i) => ['inbound', 'Follow-up ' + (i + 1)]),
]);
addInteraction('cl_acme', 'cu_1', 'chat', 'resolved', 'normal', 'Billing question about March invoice', 60 * 24 * 3, [
  ['inbound', 'Why was I charged twice?'], ['outbound', 'Refunded, sorry!'],
]);
addInteraction('cl_acme', 'cu_1', 'voice', 'closed', 'low', 'Call: change of address', 60 * 24 * 40, [['note', 'Address updated.']]);
addInteraction('cl_globex', 'cu_2', 'social', 'new', 'urgent', 'Order never arrived', 12, [['inbound', 'Where is my order?!']]);
addInteraction('cl_globex', 'cu_2', 'web', 'pending', 'normal', 'Return label request', 200, [['inbound', 'Need a return label.']]);
addInteraction('cl_initech', 'cu_3', 'email', 'open', 'normal', 'Not visible to Ana', 1, [['inbound', 'secret']]);
for (let i = 0; i < 60; i++) {
  addInteraction(i % 2 ? 'cl_acme' : 'cl_globex', i % 2 ? 'cu_1' : 'cu_2', ['email', 'chat', 'web'][i % 3],
    STATUS_OF(i), ['low', 'normal', 'high'][i % 3], 'Older request #' + (i + 1), 60 * 24 * 5 + i * 90, [['inbound', 'Old message ' + i]]);
}
function STATUS_OF(i) { return ['new', 'open', 'pending', 'on_hold', 'resolved', 'closed'][i % 6]; }

const sessions = new Map(); // token -> { user, csrf }

// ---- helpers ---------------------------------------------------------------

function send(res, status, body, headers = {}) {
  const data = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', ...headers });
  res.end(data);
}
const fail = (res, status, code, message, field = null) => send(res, status, { error: { code, message, field } });

function sessionOf(req) {
  const m = /(?:^|;\s*)cd_session=([^;]+)/.exec(req.headers.cookie || '');
  return m ? sessions.get(m[1]) : undefined;
}
function me(s) {
  const { id, email, name, role } = s.user;
  return { user: { id, email, name, role }, csrf_token: s.csrf, clients: clients.filter((c) => s.user.clients.includes(c.id)) };
}
async function readJson(req) {
  let raw = '';
  for await (const chunk of req) raw += chunk;
  try { return JSON.parse(raw || 'null'); } catch { return undefined; }
}
function page(list, cursor, limit) {
  const start = cursor ? Number(Buffer.from(cursor, 'base64url').toString()) : 0;
  const items = list.slice(start, start + limit);
  const next = start + limit < list.length ? Buffer.from(String(start + limit)).toString('base64url') : null;
  return { items, next_cursor: next };
}
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.json': 'application/json', '.svg': 'image/svg+xml', '.png': 'image/png' };

function serveStatic(req, res, pathname) {
  const rel = pathname === '/' ? 'index.html' : decodeURIComponent(pathname).replace(/^\/+/, '');
  const file = path.resolve(WEB, rel);
  if (!file.startsWith(WEB + path.sep) || rel.split('/').some((p) => p.startsWith('.') || p === 'node_modules' || /^package(-lock)?\.json$/.test(p))) {
    res.writeHead(404); return res.end('not found');
  }
  fs.readFile(file, (err, data) => {
    if (err) { res.writeHead(404, { 'Content-Type': 'text/plain' }); return res.end('not found'); }
    const headers = { 'Content-Type': TYPES[path.extname(file)] || 'application/octet-stream', 'Cache-Control': 'no-cache' };
    if (file.endsWith('.html')) headers['Content-Security-Policy'] = csp(data.toString());
    res.writeHead(200, headers);
    res.end(data);
  });
}

// A strict CSP, to keep the page working under one: inline scripts (the import
// map) are allowed only by their hash.
function csp(page) {
  const hashes = [...page.matchAll(/<script[^>]*>([\s\S]*?)<\/script>/g)]
    .filter((m) => m[1].trim())
    .map((m) => `'sha256-${crypto.createHash('sha256').update(m[1]).digest('base64')}'`);
  return ["default-src 'self'", `script-src 'self' ${hashes.join(' ')}`, "style-src 'self'", "img-src 'self' data:",
    "connect-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'", "form-action 'self'"].join('; ');
}

// ---- routes ----------------------------------------------------------------

async function handle(req, res) {
  const url = new URL(req.url, 'http://x');
  const p = url.pathname;
  if (!p.startsWith('/api/')) {
    if (req.method !== 'GET' && req.method !== 'HEAD') return fail(res, 405, 'method_not_allowed', 'Method not allowed');
    return serveStatic(req, res, p);
  }
  const q = url.searchParams;

  if (p === '/api/v1/auth/login' && req.method === 'POST') {
    const b = await readJson(req);
    const u = b && users.find((x) => x.email === b.email && x.password === b.password);
    if (!u) return fail(res, 401, 'invalid_credentials', 'Wrong email or password.');
    const token = crypto.randomBytes(24).toString('base64url');
    const s = { user: u, csrf: crypto.randomBytes(24).toString('base64url') };
    sessions.set(token, s);
    return send(res, 200, me(s), { 'Set-Cookie': `cd_session=${token}; Path=/; HttpOnly; SameSite=Strict` });
  }

  const s = sessionOf(req);
  if (!s) return fail(res, 401, 'unauthenticated', 'Not logged in.');
  if (req.method !== 'GET') {
    if (req.headers['x-csrf-token'] !== s.csrf) return fail(res, 403, 'csrf', 'Missing or wrong CSRF token.');
    if (!/^application\/json/.test(req.headers['content-type'] || '')) return fail(res, 415, 'unsupported_media_type', 'Send JSON.');
  }
  const visible = (it) => it && s.user.clients.includes(it.client_id);
  let m;

  if (p === '/api/v1/auth/me' && req.method === 'GET') return send(res, 200, me(s));
  if (p === '/api/v1/auth/logout' && req.method === 'POST') {
    for (const [k, v] of sessions) if (v === s) sessions.delete(k);
    res.writeHead(204, { 'Set-Cookie': 'cd_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0' });
    return res.end();
  }
  if (p === '/api/v1/interactions' && req.method === 'GET') {
    const limit = Math.min(Math.max(Number(q.get('limit')) || 50, 1), 200);
    const list = interactions.filter(visible)
      .filter((it) => !q.get('status') || it.status === q.get('status'))
      .filter((it) => !q.get('client_id') || it.client_id === q.get('client_id'))
      .sort((a, b) => b.updated_at - a.updated_at);
    return send(res, 200, page(list, q.get('cursor'), limit));
  }
  if ((m = /^\/api\/v1\/interactions\/([^/]+)$/.exec(p)) && req.method === 'GET') {
    const it = interactions.find((x) => x.id === m[1]);
    return visible(it) ? send(res, 200, it) : fail(res, 404, 'not_found', 'No such interaction.');
  }
  if ((m = /^\/api\/v1\/interactions\/([^/]+)\/messages$/.exec(p))) {
    const it = interactions.find((x) => x.id === m[1]);
    if (!visible(it)) return fail(res, 404, 'not_found', 'No such interaction.');
    if (req.method === 'GET') {
      const list = messages.filter((x) => x.interaction_id === it.id).sort((a, b) => a.created_at - b.created_at);
      return send(res, 200, page(list, q.get('cursor'), Number(q.get('limit')) || 20));
    }
    if (req.method === 'POST') {
      const b = await readJson(req);
      if (!b || !['outbound', 'note'].includes(b.direction)) return fail(res, 400, 'invalid', 'direction must be outbound or note', 'direction');
      if (typeof b.body !== 'string' || !b.body.trim()) return fail(res, 400, 'invalid', 'body must not be empty', 'body');
      if (b.body.includes('FAIL')) return fail(res, 422, 'rejected', 'The mock server rejects bodies containing FAIL.', 'body');
      const t = Date.now();
      const msg = { id: 'm_' + seq++, interaction_id: it.id, client_id: it.client_id, direction: b.direction, body: b.body, author_id: s.user.id, created_at: t };
      messages.push(msg);
      it.updated_at = t;
      it.version += 1;
      if (b.direction === 'outbound' && it.status === 'new') it.status = 'open';
      return send(res, 201, msg);
    }
  }
  if ((m = /^\/api\/v1\/customers\/([^/]+)(\/history)?$/.exec(p)) && req.method === 'GET') {
    const c = customers.find((x) => x.id === m[1]);
    if (!c || !s.user.clients.includes(c.client_id)) return fail(res, 404, 'not_found', 'No such customer.');
    if (!m[2]) return send(res, 200, c);
    const items = interactions.filter((it) => it.customer_id === c.id && visible(it))
      .map((it) => ({ ...it, messages: messages.filter((x) => x.interaction_id === it.id) }));
    return send(res, 200, { customer: c, items });
  }
  return fail(res, 404, 'not_found', 'No such endpoint.');
}

const server = http.createServer((req, res) => {
  handle(req, res).catch((e) => { console.error(e); fail(res, 500, 'internal', 'Mock server error.'); });
});
server.listen(port, '127.0.0.1', () => {
  const url = `http://127.0.0.1:${server.address().port}`;
  if (!cmd.length) { console.log(`mock caredesk on ${url}`); return; }
  const child = spawn(cmd[0], cmd.slice(1), { stdio: 'inherit', env: { ...process.env, CAREDESK_URL: url } });
  child.on('exit', (code, sig) => { server.close(); process.exit(code === null ? 1 : code); });
});
