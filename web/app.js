// caredesk agent desk: Preact + htm as plain ES modules, no bundler.
// Every piece of API data is rendered through htm/Preact (text nodes and
// attributes), never through innerHTML.
import { h, render } from 'preact';
import { useState, useEffect, useRef, useCallback, useMemo } from 'preact/hooks';
import htm from 'htm';

const html = htm.bind(h);

const API = '/api/v1';
const PAGE_SIZE = 50;
const MAX_MESSAGE_PAGES = 20;

const STATUSES = ['new', 'open', 'pending', 'on_hold', 'resolved', 'closed'];
const STATUS_LABELS = {
  new: 'New', open: 'Open', pending: 'Pending', on_hold: 'On hold', resolved: 'Resolved', closed: 'Closed',
};
const PRIORITY_LABELS = { low: 'Low', normal: 'Normal', high: 'High', urgent: 'Urgent' };
const CHANNEL_LABELS = { email: 'Email', chat: 'Chat', voice: 'Voice', social: 'Social', web: 'Web' };
const ROLE_LABELS = { agent: 'Agent', supervisor: 'Supervisor', admin: 'Admin', client_viewer: 'Client viewer' };

// ---------------------------------------------------------------------------
// API access

class ApiError extends Error {
  constructor(status, code, message, field, fromServer) {
    super(message);
    this.fromServer = !!fromServer;
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

let csrfToken = null;
let onUnauthorized = () => {};

async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  const init = { method, headers, credentials: 'same-origin' };
  if (method !== 'GET') {
    headers['Content-Type'] = 'application/json';
    if (csrfToken) headers['X-CSRF-Token'] = csrfToken;
    if (body !== undefined) init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(API + path, init);
  } catch (e) {
    throw new ApiError(0, 'network', 'Cannot reach the caredesk server. Check your connection and try again.');
  }
  let data = null;
  if (res.status !== 204) {
    const text = await res.text();
    if (text) {
      try { data = JSON.parse(text); } catch (e) { data = null; }
    }
  }
  if (!res.ok) {
    const err = data && data.error ? data.error : {};
    const message = err.message || `The server answered ${res.status} ${res.statusText || ''}`.trim();
    throw new ApiError(res.status, err.code || 'http_' + res.status, message, err.field || null, !!err.message);
  }
  return data;
}

// Calls made while logged in: a 401 means the session ended.
async function authed(method, path, body) {
  try {
    return await api(method, path, body);
  } catch (e) {
    if (e.status === 401) onUnauthorized();
    throw e;
  }
}

function qs(params) {
  const parts = [];
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') parts.push(encodeURIComponent(k) + '=' + encodeURIComponent(v));
  }
  return parts.length ? '?' + parts.join('&') : '';
}

const seg = (id) => encodeURIComponent(String(id));

// ---------------------------------------------------------------------------
// Formatting

const fmtTime = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const fmtDay = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' });
const fmtDate = new Intl.DateTimeFormat(undefined, { year: 'numeric', month: 'short', day: 'numeric' });
const fmtFull = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

function toDate(ms) {
  if (ms === null || ms === undefined || ms === '') return null;
  const d = new Date(typeof ms === 'string' && /^\d+$/.test(ms) ? Number(ms) : ms);
  return isNaN(d.getTime()) ? null : d;
}

function shortTime(ms) {
  const d = toDate(ms);
  if (!d) return '';
  const now = new Date();
  if (d.toDateString() === now.toDateString()) return fmtTime.format(d);
  if (d.getFullYear() === now.getFullYear()) return fmtDay.format(d) + ', ' + fmtTime.format(d);
  return fmtDate.format(d);
}

function fullTime(ms) {
  const d = toDate(ms);
  return d ? fmtFull.format(d) : '';
}

function isoTime(ms) {
  const d = toDate(ms);
  return d ? d.toISOString() : undefined;
}

const label = (map, v) => (v in map ? map[v] : String(v || '').replace(/_/g, ' '));

function clientLabel(clientsById, id) {
  const c = clientsById.get(String(id));
  if (!c) return id ? 'Client ' + id : 'Unknown client';
  return c.name || (c.brand && c.brand.display_name) || c.slug || 'Client ' + id;
}

// The selected interaction lives in the URL hash so a reload reopens it.
function hashId() {
  const m = /^#\/interactions\/([^/?#]+)$/.exec(location.hash);
  return m ? decodeURIComponent(m[1]) : null;
}

function setHashId(id) {
  const url = location.pathname + location.search + (id ? '#/interactions/' + encodeURIComponent(id) : '');
  history.replaceState(null, '', url);
}

// ---------------------------------------------------------------------------
// Small components

function StatusBadge({ status }) {
  return html`<span class=${'badge status-' + status} title="Status">${label(STATUS_LABELS, status)}</span>`;
}

function PriorityBadge({ priority }) {
  return html`<span class=${'badge prio prio-' + priority} title="Priority">${label(PRIORITY_LABELS, priority)}</span>`;
}

function ChannelTag({ channel }) {
  return html`<span class=${'channel ch-' + channel}><span class="ch-dot" aria-hidden="true"></span>${label(CHANNEL_LABELS, channel)}</span>`;
}

function ErrorBanner({ message, onDismiss }) {
  if (!message) return null;
  return html`
    <div class="banner banner-error" role="alert" data-test="error">
      <span class="banner-text">${message}</span>
      <button type="button" class="banner-close" aria-label="Dismiss" onClick=${onDismiss}>×</button>
    </div>`;
}

// ---------------------------------------------------------------------------
// Login

function LoginView({ onLoggedIn, error, setError }) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);

  async function submit(e) {
    e.preventDefault();
    if (busy) return;
    if (!email.trim() || !password) {
      setError('Enter your email and password.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const session = await api('POST', '/auth/login', { email: email.trim(), password });
      onLoggedIn(session);
    } catch (err) {
      setError(err.status === 401 && !err.fromServer ? 'Wrong email or password.' : err.message);
      setBusy(false);
    }
  }

  return html`
    <main class="login-page">
      <form class="login-card" onSubmit=${submit} novalidate>
        <div class="brand brand-lg"><span class="brand-mark">cd</span><span>caredesk</span></div>
        <h1 class="login-title">Sign in to the agent desk</h1>
        <${ErrorBanner} message=${error} onDismiss=${() => setError(null)} />
        <label class="field">
          <span class="field-label">Email</span>
          <input type="email" name="email" autocomplete="username" required autofocus
            data-test="login-email" value=${email} onInput=${(e) => setEmail(e.currentTarget.value)} />
        </label>
        <label class="field">
          <span class="field-label">Password</span>
          <input type="password" name="password" autocomplete="current-password" required
            data-test="login-password" value=${password} onInput=${(e) => setPassword(e.currentTarget.value)} />
        </label>
        <button type="submit" class="btn btn-primary btn-block" data-test="login-submit"
          disabled=${busy}>${busy ? 'Signing in…' : 'Sign in'}</button>
      </form>
    </main>`;
}

// ---------------------------------------------------------------------------
// Interaction list

function InteractionList(props) {
  const { items, clients, clientsById, selectedId, onSelect, status, onStatus, clientId, onClient,
    loading, nextCursor, onMore } = props;
  return html`
    <section class="list-pane" aria-label="Interactions">
      <div class="list-toolbar">
        <label class="filter">
          <span>Status</span>
          <select data-test="status-filter" value=${status} onChange=${(e) => onStatus(e.currentTarget.value)}>
            <option value="">All statuses</option>
            ${STATUSES.map((s) => html`<option key=${s} value=${s}>${STATUS_LABELS[s]}</option>`)}
          </select>
        </label>
        ${clients.length > 1 && html`
          <label class="filter">
            <span>Client</span>
            <select data-test="client-filter" value=${clientId} onChange=${(e) => onClient(e.currentTarget.value)}>
              <option value="">All clients</option>
              ${clients.map((c) => html`<option key=${c.id} value=${String(c.id)}>${clientLabel(clientsById, c.id)}</option>`)}
            </select>
          </label>`}
      </div>
      <ul class="rows" data-test="interaction-list">
        ${items.map((it) => html`
          <li key=${it.id}>
            <button type="button" data-test="interaction-row" data-id=${String(it.id)} data-status=${it.status}
              class=${'row' + (String(it.id) === String(selectedId) ? ' selected' : '')}
              aria-current=${String(it.id) === String(selectedId) ? 'true' : undefined}
              onClick=${() => onSelect(it)}>
              <span class="row-line">
                <span class="row-subject">${it.subject || '(no subject)'}</span>
                <time class="row-time" datetime=${isoTime(it.updated_at)} title=${'Updated ' + fullTime(it.updated_at)}>
                  ${shortTime(it.updated_at)}
                </time>
              </span>
              <span class="row-line row-meta">
                <span class="row-client">${clientLabel(clientsById, it.client_id)}</span>
                <${ChannelTag} channel=${it.channel} />
              </span>
              <span class="row-line row-badges">
                <${StatusBadge} status=${it.status} />
                <${PriorityBadge} priority=${it.priority} />
              </span>
            </button>
          </li>`)}
      </ul>
      <div class="list-foot">
        ${loading
          ? html`<span class="muted">Loading…</span>`
          : nextCursor
            ? html`<button type="button" class="btn btn-secondary btn-block" data-test="load-more" onClick=${onMore}>Load more</button>`
            : items.length === 0
              ? html`<span class="muted">No interactions match this filter.</span>`
              : html`<span class="muted">${items.length} interaction${items.length === 1 ? '' : 's'}</span>`}
      </div>
    </section>`;
}

// ---------------------------------------------------------------------------
// Interaction detail

// A sentiment score in [-1, 1] and its label, as a small badge.
function Mood({ label: name, score, prefix }) {
  const shown = typeof score === 'number' ? score.toFixed(2) : '';
  return html`<span class=${'badge mood mood-' + name} data-test="sentiment" data-label=${name}
    title=${'Customer sentiment ' + shown}>${prefix || ''}${name}</span>`;
}

const moodOf = (score) => (score >= 0.05 ? 'positive' : score <= -0.05 ? 'negative' : 'neutral');

function MessageList({ messages, loading, user, people, customerName, truncated, onMoreMessages }) {
  const end = useRef(null);
  useEffect(() => {
    if (end.current) end.current.scrollIntoView({ block: 'end' });
  }, [messages.length, loading]);

  function who(m) {
    if (m.direction === 'inbound') return customerName || 'Customer';
    if (user && m.author_id !== null && m.author_id !== undefined && String(m.author_id) === String(user.id)) {
      return user.name + ' (you)';
    }
    const name = people && m.author_id != null ? people.get(String(m.author_id)) : null;
    return name || 'Agent';
  }
  const kind = { inbound: 'Customer', outbound: 'Reply', note: 'Internal note' };

  return html`
    <div class="messages" data-test="messages" data-state=${loading ? 'loading' : 'ready'}>
      ${loading && html`<p class="muted center">Loading messages…</p>`}
      ${!loading && messages.length === 0 && html`<p class="muted center">No messages yet.</p>`}
      ${messages.map((m) => html`
        <article key=${m.id} class=${'msg msg-' + m.direction} data-test="message"
          data-direction=${m.direction} data-id=${String(m.id)}>
          <header class="msg-head">
            <span class="msg-kind">${label(kind, m.direction)}</span>
            <span class="msg-who">${who(m)}</span>
            ${m.sentiment_label && html`<${Mood} label=${m.sentiment_label} score=${m.sentiment} />`}
            <time class="msg-time" datetime=${isoTime(m.created_at)} title=${fullTime(m.created_at)}>${shortTime(m.created_at)}</time>
          </header>
          <div class="msg-body">${m.body}</div>
        </article>`)}
      ${truncated && html`
        <button type="button" class="btn btn-secondary" onClick=${onMoreMessages}>Load newer messages</button>`}
      <div ref=${end}></div>
    </div>`;
}

function Composer({ onSend, closed }) {
  const [text, setText] = useState('');
  const [sending, setSending] = useState(null);

  async function send(direction) {
    const body = text.trim();
    if (!body || sending) return;
    setSending(direction);
    const ok = await onSend(direction, body);
    setSending(null);
    if (ok) setText('');
  }

  function onKeyDown(e) {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      send('outbound');
    }
  }

  const empty = !text.trim();
  return html`
    <form class="composer" onSubmit=${(e) => { e.preventDefault(); send('outbound'); }}>
      <textarea data-test="composer" rows="4" placeholder="Write a reply to the customer, or an internal note…"
        aria-label="Message" value=${text} readOnly=${!!sending}
        onInput=${(e) => setText(e.currentTarget.value)} onKeyDown=${onKeyDown}></textarea>
      <div class="composer-actions">
        ${closed
          ? html`<span class="hint hint-warn">This interaction is closed.</span>`
          : html`<span class="hint">Ctrl+Enter sends the reply</span>`}
        <button type="button" class="btn btn-note" data-test="add-note" disabled=${empty || !!sending}
          onClick=${() => send('note')}>${sending === 'note' ? 'Adding…' : 'Add note'}</button>
        <button type="submit" class="btn btn-primary" data-test="send-reply" disabled=${empty || !!sending}>
          ${sending === 'outbound' ? 'Sending…' : 'Send reply'}</button>
      </div>
    </form>`;
}

function Fields({ it, clientsById, user, people }) {
  const a = it.assignee_id;
  const assignee = a === null || a === undefined ? 'Unassigned'
    : user && String(a) === String(user.id) ? `You (${user.name || user.email})`
    : (people && people.get(String(a))) || 'User #' + a;
  const rows = [
    ['Client', clientLabel(clientsById, it.client_id)],
    ['Channel', label(CHANNEL_LABELS, it.channel)],
    ['Queue', it.queue || '—'],
    ['Assignee', assignee],
    ['Category', it.category || '—'],
    ['Created', fullTime(it.created_at) || '—'],
    ['Updated', fullTime(it.updated_at) || '—'],
  ];
  const custom = it.custom_fields && typeof it.custom_fields === 'object' ? Object.entries(it.custom_fields) : [];
  const tags = Array.isArray(it.tags) ? it.tags : [];
  return html`
    <dl class="fields">
      ${rows.map(([k, v]) => html`<div class="field-row" key=${k}><dt>${k}</dt><dd>${v}</dd></div>`)}
      <div class="field-row">
        <dt>Tags</dt>
        <dd>${tags.length ? tags.map((t) => html`<span class="tag" key=${t}>${String(t)}</span>`) : '—'}</dd>
      </div>
      ${custom.map(([k, v]) => html`
        <div class="field-row" key=${'cf-' + k}>
          <dt>${k.replace(/_/g, ' ')}</dt>
          <dd>${v === null || v === undefined ? '—' : typeof v === 'object' ? JSON.stringify(v) : String(v)}</dd>
        </div>`)}
    </dl>`;
}

// Sensitive fields arrive masked; Reveal asks the server for the clear
// values (allowed to some roles only, and audited).
function SensitiveFields({ customer }) {
  const [clear, setClear] = useState(null);
  const [error, setError] = useState(null);
  const fields = customer && customer.sensitive ? Object.keys(customer.sensitive) : [];
  useEffect(() => { setClear(null); setError(null); }, [customer && customer.id]);
  if (fields.length === 0) return null;
  async function reveal() {
    setError(null);
    try {
      const r = await authed('GET', `/customers/${seg(customer.id)}/sensitive`);
      setClear(r.sensitive || {});
    } catch (e) {
      setError(e.message);
    }
  }
  return html`
    <div class="sensitive" data-test="sensitive">
      <ul class="identities">
        ${fields.map((f) => html`
          <li key=${f}><span class="idn-kind">${f.replace(/_/g, ' ')}</span>
            <span class="idn-value" data-test="sensitive-value" data-field=${f}>${clear && f in clear ? clear[f] : customer.sensitive[f]}</span></li>`)}
      </ul>
      ${!clear && html`<button type="button" class="btn btn-secondary btn-small" data-test="reveal" onClick=${reveal}>Reveal (audited)</button>`}
      ${error && html`<p class="error small" data-test="reveal-error">${error}</p>`}
    </div>`;
}

// A search snippet: HTML-escaped text with <mark> around matches. Rendered
// as text nodes and <mark> elements, never as HTML.
function Snippet({ text }) {
  const unescape = (t) => t.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'").replace(/&amp;/g, '&');
  const parts = String(text || '').split(/<mark>|<\/mark>/);
  return html`<span class="snippet">${parts.map((p, i) => (i % 2 ? html`<mark key=${i}>${unescape(p)}</mark>` : unescape(p)))}</span>`;
}

// Knowledge-base articles that may help with the open interaction.
function Suggestions({ interaction, report }) {
  const [items, setItems] = useState(null);
  const [voted, setVoted] = useState({});
  useEffect(() => {
    setItems(null);
    setVoted({});
    authed('GET', `/interactions/${seg(interaction.id)}/suggestions`)
      .then((r) => setItems(r.items || []))
      .catch(() => setItems([]));
  }, [interaction.id]);
  async function vote(id, helpful) {
    try {
      await authed('POST', `/interactions/${seg(interaction.id)}/suggestions/${seg(id)}/feedback`, { helpful });
      setVoted((v) => ({ ...v, [id]: helpful ? 'helpful' : 'not helpful' }));
    } catch (e) { report(e); }
  }
  if (!items || items.length === 0) return null;
  return html`
    <section class="card" data-test="suggestions">
      <h3>Suggested articles</h3>
      <ul class="suggestions">
        ${items.map((a) => html`
          <li key=${a.article_id} data-test="suggestion" data-id=${String(a.article_id)}>
            <div class="suggestion-title">${a.title}</div>
            <div class="muted small"><${Snippet} text=${a.snippet} /></div>
            ${voted[a.article_id]
              ? html`<span class="muted small" data-test="voted">Marked ${voted[a.article_id]}</span>`
              : html`<span class="votes">
                  <button type="button" class="btn btn-ghost btn-small" data-test="helpful" onClick=${() => vote(a.article_id, true)}>Helpful</button>
                  <button type="button" class="btn btn-ghost btn-small" onClick=${() => vote(a.article_id, false)}>Not helpful</button>
                </span>`}
          </li>`)}
      </ul>
    </section>`;
}

function CustomerCard({ history, currentId, loading, onOpen }) {
  if (loading) return html`<section class="card"><h3>Customer</h3><p class="muted">Loading…</p></section>`;
  if (!history) return html`<section class="card"><h3>Customer</h3><p class="muted">Not available.</p></section>`;
  const c = history.customer || {};
  const identities = Array.isArray(c.identities) ? c.identities : [];
  const others = (Array.isArray(history.items) ? history.items : [])
    .filter((it) => String(it.id) !== String(currentId))
    .sort((a, b) => Number(b.updated_at || 0) - Number(a.updated_at || 0));
  return html`
    <section class="card">
      <h3>Customer</h3>
      <div class="customer-name">
        ${c.name || 'Unknown customer'}
        ${c.tier && html`<span class="badge tier">${String(c.tier)}</span>`}
      </div>
      ${identities.length > 0 && html`
        <ul class="identities">
          ${identities.map((idn, i) => html`<li key=${i}><span class="idn-kind">${idn.kind}</span> <span class="idn-value">${idn.value}</span></li>`)}
        </ul>`}
      <${SensitiveFields} customer=${c} />
      <h4>History across channels</h4>
      ${others.length === 0
        ? html`<p class="muted">No other interactions.</p>`
        : html`
          <ul class="history">
            ${others.map((it) => html`
              <li key=${it.id}>
                <button type="button" class="history-item" data-test="history-item" data-id=${String(it.id)}
                  onClick=${() => onOpen(it)}>
                  <span class="row-line">
                    <${ChannelTag} channel=${it.channel} />
                    <time class="row-time" datetime=${isoTime(it.updated_at)} title=${fullTime(it.updated_at)}>${shortTime(it.updated_at)}</time>
                  </span>
                  <span class="history-subject">${it.subject || '(no subject)'}</span>
                  <span class="row-line">
                    <${StatusBadge} status=${it.status} />
                    ${Array.isArray(it.messages) && html`<span class="muted small">${it.messages.length} message${it.messages.length === 1 ? '' : 's'}</span>`}
                  </span>
                </button>
              </li>`)}
          </ul>`}
    </section>`;
}

// ---------------------------------------------------------------------------
// Guide: a guided workflow run on the open interaction

function GuideStep({ session, onAnswer, onBack, busy }) {
  const [text, setText] = useState('');
  const c = session.current || {};
  const say = (session.effects || []).filter((e) => e.say).map((e) => e.say);
  if (session.ended) {
    return html`<div class="guide-end" data-test="guide-end">Done: ${session.outcome || c.outcome}${c.code ? ` (${c.code})` : ''}</div>`;
  }
  let inputs;
  if (c.kind === 'check') {
    inputs = html`
      <button type="button" class="btn btn-primary" data-test="guide-yes" disabled=${busy} onClick=${() => onAnswer(true)}>Done</button>
      <button type="button" class="btn btn-ghost" disabled=${busy} onClick=${() => onAnswer(false)}>Failed</button>`;
  } else if (c.type === 'yes_no') {
    inputs = html`
      <button type="button" class="btn btn-primary" data-test="guide-yes" disabled=${busy} onClick=${() => onAnswer(true)}>Yes</button>
      <button type="button" class="btn btn-ghost" disabled=${busy} onClick=${() => onAnswer(false)}>No</button>`;
  } else if (c.type === 'choice') {
    inputs = (c.options || []).map((o) => html`
      <button type="button" class="btn btn-ghost" key=${o} data-test="guide-option" disabled=${busy} onClick=${() => onAnswer(o)}>${String(o).replace(/_/g, ' ')}</button>`);
  } else {
    inputs = html`
      <input class="guide-input" data-test="guide-input" type=${c.type === 'number' ? 'number' : c.type === 'date' ? 'date' : 'text'}
        value=${text} onInput=${(e) => setText(e.target.value)} />
      <button type="button" class="btn btn-primary" disabled=${busy || !text}
        onClick=${() => { onAnswer(c.type === 'number' ? Number(text) : text); setText(''); }}>Next</button>`;
  }
  return html`
    <div class="guide-step" data-test="guide-step" data-node=${c.id}>
      ${say.map((t, i) => html`<p class="guide-say" key=${i}>${t}</p>`)}
      <p class="guide-prompt">${c.kind === 'check' ? 'Required step: ' : ''}${c.prompt || c.text || ''}</p>
      <div class="guide-inputs">${inputs}
        <button type="button" class="btn btn-ghost" data-test="guide-back" disabled=${busy} onClick=${onBack}>Back</button>
      </div>
    </div>`;
}

function Guide({ interaction, report, onChanged }) {
  const [flows, setFlows] = useState([]);
  const [choice, setChoice] = useState('');
  const [session, setSession] = useState(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    setSession(null);
    authed('GET', '/workflows' + qs({ client_id: interaction.client_id }))
      .then((res) => setFlows((res && res.items || [])))
      .catch(() => setFlows([]));
  }, [interaction.id]);
  // The session started here is the top of a tree: a call node runs another
  // workflow as a sub-flow session, which the agent answers until it hands
  // back. After each step the whole tree is read again.
  const run = useCallback(async (fn, top) => {
    setBusy(true);
    try {
      const s = await fn();
      const root = top ? await authed('GET', `/sessions/${seg(top)}`) : s;
      if (root !== s && s && s.effects) { // what the step said, shown where the agent is now
        let leaf = root;
        while (leaf.subflow) leaf = leaf.subflow;
        leaf.effects = s.effects;
      }
      setSession(root);
      if (s && s.ended) onChanged();
    } catch (e) { report(e); }
    setBusy(false);
  }, [report, onChanged]);
  const chain = [];
  for (let v = session; v && chain.length < 10; v = v.subflow) chain.push(v);
  const shown = chain.length ? chain[chain.length - 1] : null;
  if (!flows.length) return null;
  return html`
    <section class="card guide" data-test="guide">
      <h3>Guide</h3>
      ${!session && html`
        <div class="guide-start">
          <select data-test="guide-flow" value=${choice} onChange=${(e) => setChoice(e.target.value)}>
            <option value="">Choose a workflow…</option>
            ${flows.map((f) => html`<option key=${f.id} value=${String(f.id)}>${f.title || f.key}</option>`)}
          </select>
          <button type="button" class="btn btn-primary" data-test="guide-start" disabled=${!choice || busy}
            onClick=${() => run(() => authed('POST', `/interactions/${seg(interaction.id)}/sessions`, { workflow_id: Number(choice) }))}>Start</button>
        </div>`}
      ${chain.length > 1 && html`
        <p class="muted small" data-test="guide-subflow">Sub-flow ${chain.length - 1} of the workflow: step ${chain.slice(0, -1).map((v) => v.current && v.current.id).join(' › ')}</p>`}
      ${shown && html`<${GuideStep} session=${shown} busy=${busy}
        onAnswer=${(a) => run(() => authed('POST', `/sessions/${seg(shown.id)}/answer`, { answer: a }), session.id)}
        onBack=${() => run(() => authed('POST', `/sessions/${seg(shown.id)}/back`), session.id)} />`}
    </section>`;
}

function Detail({ detail, user, people, clientsById, onOpen, onSend, onMoreMessages, report, onChanged }) {
  if (!detail) {
    return html`
      <section class="detail-pane empty" data-test="detail">
        <div class="empty-state">
          <div class="empty-title">No interaction selected</div>
          <div class="muted">Pick an interaction on the left to read the conversation and reply.</div>
        </div>
      </section>`;
  }
  const it = detail.interaction;
  const customerName = detail.history && detail.history.customer ? detail.history.customer.name : null;
  return html`
    <section class="detail-pane" data-test="detail" data-id=${String(it.id)}>
      <header class="detail-head">
        <div class="detail-title">
          <h2>${it.subject || '(no subject)'}</h2>
          <div class="detail-sub">
            <span>${clientLabel(clientsById, it.client_id)}</span>
            <${ChannelTag} channel=${it.channel} />
            ${customerName && html`<span>${customerName}</span>`}
            <span class="muted">#${String(it.id)}</span>
          </div>
        </div>
        <div class="detail-badges">
          ${it.sentiment && typeof it.sentiment.end === 'number' && html`
            <span title=${'start ' + it.sentiment.start + ', lowest ' + it.sentiment.low}>
              <${Mood} label=${moodOf(it.sentiment.end)} score=${it.sentiment.end} prefix="Mood: " />
            </span>`}
          <${StatusBadge} status=${it.status} />
          <${PriorityBadge} priority=${it.priority} />
        </div>
      </header>
      <div class="detail-body">
        <div class="conversation">
          <${MessageList} messages=${detail.messages} loading=${detail.messagesLoading} user=${user} people=${people}
            customerName=${customerName} truncated=${!!detail.messagesCursor} onMoreMessages=${onMoreMessages} />
          <${Composer} key=${it.id} onSend=${onSend} closed=${it.status === 'closed'} />
        </div>
        <aside class="side">
          <section class="card">
            <h3>Details</h3>
            <${Fields} it=${it} clientsById=${clientsById} user=${user} people=${people} />
          </section>
          ${report && html`<${Guide} interaction=${it} report=${report} onChanged=${onChanged} />`}
          ${report && html`<${Suggestions} interaction=${it} report=${report} />`}
          <${CustomerCard} history=${detail.history} currentId=${it.id} loading=${detail.historyLoading} onOpen=${onOpen} />
        </aside>
      </div>
    </section>`;
}

// ---------------------------------------------------------------------------
// Desk (logged in)

function Header({ session, onLogout, busy, clientsById, routing, wall, onWall }) {
  const u = session.user || {};
  const clients = session.clients || [];
  return html`
    <header class="topbar">
      <div class="brand"><span class="brand-mark">cd</span><span>caredesk</span></div>
      <div class="topbar-clients" title="Clients you serve">
        ${clients.map((c) => html`<span class="client-chip" key=${c.id}>${clientLabel(clientsById, c.id)}</span>`)}
      </div>
      <div class="topbar-user">
        ${onWall && html`<button type="button" class=${'btn btn-ghost' + (wall ? ' active' : '')}
          data-test="wall-toggle" onClick=${onWall}>${wall ? 'Desk' : 'Queues'}</button>`}
        ${routing && html`<${Availability} state=${routing.state} onChange=${routing.setAvailability} />`}
        <div class="user-text">
          <span class="user-name" data-test="user-name" title=${u.email || ''}>${u.name || u.email}</span>
          <span class="badge role">${label(ROLE_LABELS, u.role)}</span>
        </div>
        <button type="button" class="btn btn-ghost" data-test="logout" disabled=${busy} onClick=${onLogout}>Log out</button>
      </div>
    </header>`;
}

// Fetches every page of an interaction's messages (oldest first), up to a cap.
async function fetchMessages(id, cursor) {
  let items = [];
  let next = cursor || null;
  for (let page = 0; page < MAX_MESSAGE_PAGES; page++) {
    const res = await authed('GET', `/interactions/${seg(id)}/messages` + qs({ cursor: next }));
    items = items.concat(res && Array.isArray(res.items) ? res.items : []);
    next = res && res.next_cursor ? res.next_cursor : null;
    if (!next) break;
  }
  return { items, next };
}

// ---------------------------------------------------------------------------
// Routing: the agent's availability and the offers pushed to them

const ROUTING_ROLES = ['agent', 'supervisor', 'admin'];
const STATE_LABELS = { available: 'Available', away: 'Away', offline: 'Offline', wrapup: 'Wrap-up' };

// Keeps the agent's state and pending offers current through the event
// stream (the browser reconnects it by itself if it drops). A new message
// on an interaction assigned to the user is handed to onMessage.current, an
// interaction handed to the user by someone else to onAssigned.current.
function useRouting(enabled, report, onMessage, onAssigned) {
  const [state, setState] = useState(null);
  const [offers, setOffers] = useState([]);
  useEffect(() => {
    if (!enabled) return undefined;
    let closed = false;
    authed('GET', '/agents/me/offers')
      .then((res) => { if (!closed) setOffers(res && res.items || []); })
      .catch(() => {});
    const es = new EventSource(API + '/agents/me/stream');
    const parse = (ev) => { try { return JSON.parse(ev.data); } catch (e) { return null; } };
    const drop = (d) => d && setOffers((list) => list.filter((o) => o.interaction_id !== d.interaction_id));
    es.addEventListener('state', (ev) => { const d = parse(ev); if (d) setState(d); });
    es.addEventListener('offer', (ev) => {
      const d = parse(ev);
      if (d) setOffers((list) => list.some((o) => o.id === d.id) ? list : list.concat([d]));
    });
    es.addEventListener('offer_expired', (ev) => drop(parse(ev)));
    es.addEventListener('offer_withdrawn', (ev) => drop(parse(ev)));
    es.addEventListener('message', (ev) => {
      const d = parse(ev);
      if (d && onMessage && onMessage.current) onMessage.current(d);
    });
    es.addEventListener('assigned', (ev) => {
      const d = parse(ev);
      if (d && onAssigned && onAssigned.current) onAssigned.current(d);
    });
    return () => { closed = true; es.close(); };
  }, [enabled]);

  const setAvailability = useCallback(async (next) => {
    try {
      const body = next === 'away' ? { state: 'away', reason: 'break' } : { state: next };
      setState(await authed('PUT', '/agents/me/state', body));
    } catch (e) { report(e); }
  }, [report]);
  const decide = useCallback(async (offer, verb) => {
    try {
      const res = await authed('POST', `/offers/${seg(offer.id)}/${verb}`);
      setOffers((list) => list.filter((o) => o.id !== offer.id));
      return res;
    } catch (e) {
      setOffers((list) => list.filter((o) => o.id !== offer.id));
      report(e);
      return null;
    }
  }, [report]);
  return { state, offers, setAvailability, decide };
}

function Availability({ state, onChange }) {
  const current = state ? state.state : 'offline';
  return html`
    <label class="availability" title="Your routing state">
      <span class=${'dot dot-' + current}></span>
      <select data-test="availability" value=${current === 'wrapup' ? 'available' : current}
        onChange=${(e) => onChange(e.target.value)}>
        <option value="available">Available</option>
        <option value="away">Away</option>
        <option value="offline">Offline</option>
      </select>
      ${current === 'wrapup' && html`<span class="muted small">wrap-up</span>`}
    </label>`;
}

function Offers({ offers, clientsById, onAccept, onReject }) {
  const [, tick] = useState(0);
  useEffect(() => {
    if (!offers.length) return undefined;
    const t = setInterval(() => tick((n) => n + 1), 1000);
    return () => clearInterval(t);
  }, [offers.length]);
  if (!offers.length) return null;
  return html`
    <div class="offers" data-test="offers">
      ${offers.map((o) => {
        const left = Math.max(0, Math.round((o.expires_at - Date.now()) / 1000));
        return html`
          <div class="offer" key=${o.id} data-test="offer" data-id=${o.interaction_id}>
            <div class="offer-text">
              <strong>${o.subject || 'New ' + label(CHANNEL_LABELS, o.channel)}</strong>
              <span class="muted small">${clientLabel(clientsById, o.client_id)} · ${label(CHANNEL_LABELS, o.channel)} · ${o.priority} · ${left}s</span>
            </div>
            <button type="button" class="btn btn-primary" data-test="offer-accept" onClick=${() => onAccept(o)}>Accept</button>
            <button type="button" class="btn btn-ghost" data-test="offer-reject" onClick=${() => onReject(o)}>Reject</button>
          </div>`;
      })}
    </div>`;
}

// ---------------------------------------------------------------------------
// Supervisor wall: each client's queues, live

const WALL_ROLES = ['supervisor', 'admin', 'wfm', 'client_viewer'];

const NOTICES_KEPT = 8;

// A client's live figures, and the notices its rules sent supervisors
// (newest first) since the wall opened. `lost`: the stream was refused (the
// user no longer supervises the client; the server ends a stream when what
// its user may see changes, and the browser's reconnect is refused).
function useClientFigures(clientId) {
  const [figures, setFigures] = useState(null);
  const [notices, setNotices] = useState([]);
  const [lost, setLost] = useState(false);
  useEffect(() => {
    const es = new EventSource(`${API}/supervisor/stream?client_id=${seg(clientId)}`);
    es.onopen = () => setLost(false);
    es.onerror = () => { if (es.readyState === EventSource.CLOSED) setLost(true); };
    es.addEventListener('queues', (ev) => {
      try { setFigures(JSON.parse(ev.data)); } catch (e) { /* keep the last figures */ }
    });
    es.addEventListener('notice', (ev) => {
      let n = null;
      try { n = JSON.parse(ev.data); } catch (e) { return; }
      setNotices((list) => [n].concat(list).slice(0, NOTICES_KEPT));
    });
    return () => es.close();
  }, [clientId]);
  return { figures, notices, lost };
}

function duration(s) {
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d`;
}

function ClientWall({ client, clientsById }) {
  const { figures: f, notices, lost } = useClientFigures(client.id);
  const agents = f ? f.agents : {};
  return html`
    <section class="wall-client" data-test="wall-client" data-id=${client.id}>
      <header class="wall-head">
        <h2>${clientLabel(clientsById, client.id)}</h2>
        <div class="wall-agents">
          ${['available', 'wrapup', 'away', 'offline'].map((st) => html`
            <span class="wall-agent" key=${st}><span class=${'dot dot-' + st}></span>
              ${agents[st] || 0} ${STATE_LABELS[st].toLowerCase()}</span>`)}
        </div>
      </header>
      ${lost && html`<p class="muted" data-test="wall-lost">No longer yours to watch: figures stopped.</p>`}
      ${!lost && !f && html`<p class="muted">Connecting…</p>`}
      ${!lost && f && html`
        <table class="wall-table">
          <thead><tr><th>Queue</th><th>Waiting</th><th>Offered</th><th>Longest wait</th>
            <th>Answered today</th><th>Service level (${f.service_level_threshold_s}s)</th></tr></thead>
          <tbody>
            ${f.queues.length === 0 && html`<tr><td colspan="6" class="muted">No work waiting.</td></tr>`}
            ${f.queues.map((q) => html`
              <tr key=${q.queue} data-test="wall-queue">
                <td>${q.queue}</td><td>${q.waiting}</td><td>${q.offered}</td>
                <td>${q.waiting ? duration(q.longest_wait_s) : '—'}</td>
                <td>${q.answered_today}</td>
                <td>${q.service_level === null ? '—' : Math.round(q.service_level * 100) + '%'}</td>
              </tr>`)}
          </tbody>
        </table>`}
      ${notices.length > 0 && html`
        <ul class="wall-notices" data-test="wall-notices">
          ${notices.map((n) => html`
            <li key=${n.interaction_id + ':' + n.at + ':' + n.rule_id} data-test="wall-notice">
              <span class="muted small">${fmtTime.format(new Date(n.at))} · ${n.rule || 'rule'} · #${n.interaction_id}</span>
              <span>${n.text}</span>
            </li>`)}
        </ul>`}
    </section>`;
}

function Wall({ clients, clientsById }) {
  return html`
    <div class="wall" data-test="wall">
      ${clients.map((c) => html`<${ClientWall} key=${c.id} client=${c} clientsById=${clientsById} />`)}
    </div>`;
}

function Desk({ session, onLogout, loggingOut, error, setError }) {
  const clients = session.clients || [];
  const clientsById = useMemo(() => new Map(clients.map((c) => [String(c.id), c])), [clients]);

  const [status, setStatus] = useState('');
  const [clientId, setClientId] = useState('');
  // Names of the colleagues the user may see, for authors and assignees.
  // Roles without user.read get 403; ids then show as they are.
  const [people, setPeople] = useState(() => new Map());
  useEffect(() => {
    authed('GET', '/users?limit=200')
      .then((res) => setPeople(new Map((res && res.items || []).map((u) => [String(u.id), u.name]))))
      .catch(() => {});
  }, []);
  const [list, setList] = useState({ items: [], next: null, loading: true });
  const [detail, setDetail] = useState(null);
  const listSeq = useRef(0);
  const openSeq = useRef(0);

  const report = useCallback((e) => {
    if (e && e.status === 401) return; // handled by onUnauthorized
    setError(e && e.message ? e.message : String(e));
  }, [setError]);

  const loadList = useCallback(async (append, cursor) => {
    const seq = ++listSeq.current;
    setList((l) => ({ items: append ? l.items : [], next: append ? l.next : null, loading: true }));
    try {
      const res = await authed('GET', '/interactions' + qs({ limit: PAGE_SIZE, cursor, status, client_id: clientId }));
      if (seq !== listSeq.current) return;
      const got = res && Array.isArray(res.items) ? res.items : [];
      setList((l) => {
        const items = append ? l.items.concat(got.filter((g) => !l.items.some((x) => String(x.id) === String(g.id)))) : got;
        return { items, next: res && res.next_cursor ? res.next_cursor : null, loading: false };
      });
    } catch (e) {
      if (seq !== listSeq.current) return;
      setList((l) => ({ ...l, loading: false }));
      report(e);
    }
  }, [status, clientId, report]);

  useEffect(() => { loadList(false, null); }, [loadList]);

  const patchInteraction = useCallback((it) => {
    setList((l) => ({ ...l, items: l.items.map((x) => (String(x.id) === String(it.id) ? { ...x, ...it } : x)) }));
    setDetail((d) => (d && String(d.interaction.id) === String(it.id) ? { ...d, interaction: { ...d.interaction, ...it } } : d));
  }, []);

  const open = useCallback(async (known, id) => {
    const seq = ++openSeq.current;
    id = known ? known.id : id;
    setError(null);
    setHashId(id);
    setDetail(known
      ? { interaction: known, messages: [], messagesLoading: true, messagesCursor: null, history: null, historyLoading: true }
      : null);
    let it = known;
    try {
      const fresh = await authed('GET', `/interactions/${seg(id)}`);
      if (seq !== openSeq.current) return;
      it = { ...(known || {}), ...fresh };
      delete it.messages; // history items carry messages; the detail loads its own
      if (known) patchInteraction(it);
      setDetail((d) => (d ? { ...d, interaction: it }
        : { interaction: it, messages: [], messagesLoading: true, messagesCursor: null, history: null, historyLoading: true }));
    } catch (e) {
      if (seq !== openSeq.current) return;
      report(e);
      if (!known || e.status === 401) {
        if (!known) setHashId(null);
        return;
      }
    }
    const [msgs, hist] = await Promise.allSettled([
      fetchMessages(id, null),
      it.customer_id !== undefined && it.customer_id !== null
        ? authed('GET', `/customers/${seg(it.customer_id)}/history`)
        : Promise.resolve(null),
    ]);
    if (seq !== openSeq.current) return;
    setDetail((d) => d && {
      ...d,
      messages: msgs.status === 'fulfilled' ? msgs.value.items : [],
      messagesCursor: msgs.status === 'fulfilled' ? msgs.value.next : null,
      messagesLoading: false,
      history: hist.status === 'fulfilled' ? hist.value : null,
      historyLoading: false,
    });
    if (msgs.status === 'rejected') report(msgs.reason);
    else if (hist.status === 'rejected') report(hist.reason);
  }, [patchInteraction, report, setError]);

  // Reopen the interaction named in the URL (e.g. after a reload).
  useEffect(() => {
    const id = hashId();
    if (id) open(null, id);
  }, []); // eslint-disable-line react-hooks/exhaustive-deps

  const moreMessages = useCallback(async () => {
    if (!detail || !detail.messagesCursor) return;
    const id = detail.interaction.id;
    try {
      const res = await fetchMessages(id, detail.messagesCursor);
      setDetail((d) => (d && String(d.interaction.id) === String(id) ? {
        ...d,
        messages: d.messages.concat(res.items.filter((m) => !d.messages.some((x) => String(x.id) === String(m.id)))),
        messagesCursor: res.next,
      } : d));
    } catch (e) {
      report(e);
    }
  }, [detail, report]);

  const send = useCallback(async (direction, body) => {
    if (!detail) return false;
    const id = detail.interaction.id;
    try {
      const msg = await authed('POST', `/interactions/${seg(id)}/messages`, { direction, body });
      setError(null);
      setDetail((d) => {
        if (!d || String(d.interaction.id) !== String(id)) return d;
        if (msg && d.messages.some((x) => String(x.id) === String(msg.id))) return d;
        return { ...d, messages: msg ? d.messages.concat([msg]) : d.messages };
      });
      // The server may have changed status/updated_at; refresh quietly.
      authed('GET', `/interactions/${seg(id)}`).then(patchInteraction, () => {});
      return true;
    } catch (e) {
      report(e);
      return false;
    }
  }, [detail, patchInteraction, report, setError]);

  // A message came in on an interaction assigned to the user: the open
  // conversation gains it and the list row its new state, without a reload.
  const detailRef = useRef(null);
  detailRef.current = detail;
  const onMessage = useRef(null);
  onMessage.current = async (d, tries = 0) => {
    const id = String(d.interaction_id);
    const cur = detailRef.current;
    if (cur && String(cur.interaction.id) === id && cur.messagesLoading && tries < 20) {
      // Opening it right now: look again once its messages are in.
      setTimeout(() => onMessage.current(d, tries + 1), 250);
      return;
    }
    try {
      // With newer pages not loaded yet ("more"), the new message comes with them.
      if (cur && String(cur.interaction.id) === id && !cur.messagesCursor) {
        const last = cur.messages.length ? String(cur.messages[cur.messages.length - 1].id) : null;
        const res = await fetchMessages(id, last);
        setDetail((dd) => (dd && String(dd.interaction.id) === id ? {
          ...dd,
          messages: dd.messages.concat(res.items.filter((m) => !dd.messages.some((x) => String(x.id) === String(m.id)))),
        } : dd));
      }
      const fresh = await authed('GET', `/interactions/${seg(id)}`);
      if (fresh) {
        delete fresh.messages;
        patchInteraction(fresh);
      }
    } catch (e) {
      report(e);
    }
  };

  // Someone handed the user an interaction: it joins the top of the list.
  const onAssigned = useRef(null);
  onAssigned.current = async (d) => {
    try {
      const it = await authed('GET', `/interactions/${seg(d.interaction_id)}`);
      if (!it) return;
      delete it.messages;
      setList((l) => (l.items.some((x) => String(x.id) === String(it.id))
        ? { ...l, items: l.items.map((x) => (String(x.id) === String(it.id) ? { ...x, ...it } : x)) }
        : { ...l, items: [it].concat(l.items) }));
    } catch (e) {
      report(e);
    }
  };

  const routes = ROUTING_ROLES.includes(session.user && session.user.role);
  const [wall, setWall] = useState(false);
  const routing = useRouting(routes, report, onMessage, onAssigned);
  const accept = useCallback(async (offer) => {
    const res = await routing.decide(offer, 'accept');
    if (res) {
      open(null, offer.interaction_id);
      loadList(false, null);
    }
  }, [routing.decide, open, loadList]);

  return html`
    <div class="desk">
      <${Header} session=${session} onLogout=${onLogout} busy=${loggingOut} clientsById=${clientsById}
        routing=${routes ? routing : null} wall=${wall}
        onWall=${WALL_ROLES.includes(session.user && session.user.role) ? () => setWall((w) => !w) : null} />
      <${ErrorBanner} message=${error} onDismiss=${() => setError(null)} />
      ${routes && html`<${Offers} offers=${routing.offers} clientsById=${clientsById}
        onAccept=${accept} onReject=${(o) => routing.decide(o, 'reject')} />`}
      ${wall && html`<${Wall} clients=${clients} clientsById=${clientsById} />`}
      <div class="panes" style=${wall ? 'display:none' : ''}>
        <${InteractionList} items=${list.items} clients=${clients} clientsById=${clientsById}
          selectedId=${detail ? detail.interaction.id : null} onSelect=${(it) => open(it)}
          status=${status} onStatus=${setStatus} clientId=${clientId} onClient=${setClientId}
          loading=${list.loading} nextCursor=${list.next} onMore=${() => loadList(true, list.next)} />
        <${Detail} detail=${detail} user=${session.user} people=${people} clientsById=${clientsById}
          onOpen=${(it) => open(it)} onSend=${send} onMoreMessages=${moreMessages}
          report=${report} onChanged=${() => detail && open(null, detail.interaction.id)} />
      </div>
    </div>`;
}

// ---------------------------------------------------------------------------
// App

function App() {
  const [session, setSession] = useState(undefined); // undefined: checking, null: logged out
  const [error, setError] = useState(null);
  const [loggingOut, setLoggingOut] = useState(false);
  const sessionRef = useRef(undefined);

  const adopt = useCallback((s) => {
    csrfToken = s && s.csrf_token ? s.csrf_token : null;
    sessionRef.current = s || null;
    setSession(s || null);
  }, []);

  useEffect(() => {
    onUnauthorized = () => {
      if (sessionRef.current) setError('Your session has ended. Please sign in again.');
      adopt(null);
    };
    api('GET', '/auth/me').then(adopt, (e) => {
      adopt(null);
      if (e.status !== 401) setError(e.message);
    });
  }, [adopt]);

  const logout = useCallback(async () => {
    setLoggingOut(true);
    try {
      await api('POST', '/auth/logout');
    } catch (e) {
      if (e.status !== 401) {
        setError(e.message);
        setLoggingOut(false);
        return;
      }
    }
    setLoggingOut(false);
    setError(null);
    setHashId(null);
    adopt(null);
  }, [adopt]);

  if (session === undefined) return html`<div class="splash">Loading caredesk…</div>`;
  if (!session) {
    return html`<${LoginView} error=${error} setError=${setError} onLoggedIn=${(s) => { setError(null); adopt(s); }} />`;
  }
  return html`<${Desk} key=${session.user && session.user.id} session=${session} onLogout=${logout}
    loggingOut=${loggingOut} error=${error} setError=${setError} />`;
}

render(html`<${App} />`, document.getElementById('app'));
