// sheetmesh chat page: no framework, no build step, no third-party origin.
'use strict';

const KEY = 'sheetmesh.apiKey';
const $ = (id) => document.getElementById(id);

function apiKey() { return localStorage.getItem(KEY) || ''; }

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
  for (const child of children) node.append(child);
  return node;
}

// The answer is Markdown. A small renderer that builds DOM nodes (never
// innerHTML, so model output cannot inject markup): paragraphs, "- " lists,
// **bold**, _italic_ / *italic*, `code`.
function inline(text) {
  const out = document.createDocumentFragment();
  const pattern = /(\*\*[^*]+\*\*|`[^`]+`|_[^_\s][^_]*_|\*[^*\s][^*]*\*)/g;
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    out.append(text.slice(last, match.index));
    const token = match[0];
    if (token.startsWith('**')) out.append(el('strong', {}, token.slice(2, -2)));
    else if (token.startsWith('`')) out.append(el('code', {}, token.slice(1, -1)));
    else out.append(el('em', {}, token.slice(1, -1)));
    last = match.index + token.length;
  }
  out.append(text.slice(last));
  return out;
}

function markdown(text) {
  const out = document.createDocumentFragment();
  let list = null;
  for (const line of text.split('\n')) {
    const item = line.match(/^\s*[-*] (.*)$/);
    if (item) {
      if (!list) out.append(list = el('ul', {}));
      list.append(el('li', {}, inline(item[1])));
    } else if (line.trim() === '') {
      list = null;
    } else {
      list = null;
      out.append(el('p', {}, inline(line)));
    }
  }
  return out;
}

function status(text, isError) {
  const node = $('status');
  node.textContent = text || '';
  node.className = isError ? 'error' : 'muted';
}

async function api(path, options) {
  const response = await fetch(path, { ...options, headers: { 'Content-Type': 'application/json', 'X-API-Key': apiKey(), ...((options || {}).headers || {}) } });
  if (!response.ok) {
    let message = response.status + ' ' + response.statusText;
    try { message = (await response.json()).message || message; } catch (_) { /* not JSON */ }
    throw new Error(message);
  }
  return response;
}

function cellText(value) {
  if (value === null || value === undefined) return '';
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

// Short values (SKUs, prices, names) stay on one line and the table scrolls
// sideways on a narrow screen; only long text wraps, at word boundaries.
function cell(text) {
  return el('td', text.length > 32 ? { class: 'long' } : {}, text);
}

function citationsTable(citations) {
  if (!citations || citations.length === 0) return el('p', { class: 'meta citations-none' }, 'No citations.');
  const columns = [];
  for (const citation of citations) for (const field of citation.values || []) if (!columns.includes(field.column)) columns.push(field.column);
  const head = el('tr', {}, el('th', {}, 'Sheet'), el('th', {}, 'Row'), ...columns.map((c) => el('th', {}, c)));
  const rows = citations.map((citation) => {
    const byColumn = new Map((citation.values || []).map((field) => [field.column, field.value]));
    return el('tr', { class: 'citation' }, cell(citation.sheet), cell(String(citation.row)), ...columns.map((c) => cell(cellText(byColumn.get(c)))));
  });
  return el('table', { class: 'citations' }, el('thead', {}, head), el('tbody', {}, ...rows));
}

let conversationId = '';

// Reads a text/event-stream body and calls onEvent(name, data) per event.
async function readEvents(response, onEvent) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = 'message';
      const data = [];
      for (const line of frame.split('\n')) {
        if (line.startsWith('event:')) name = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
      }
      if (data.length) onEvent(name, JSON.parse(data.join('\n')));
    }
  }
}

async function ask(question) {
  const log = $('log');
  log.append(el('div', { class: 'turn user' }, question));
  const answer = el('div', { class: 'answer' });
  const meta = el('div', { class: 'meta' });
  const turn = el('div', { class: 'turn assistant' }, answer, meta);
  log.append(turn);
  $('ask').disabled = true;
  status('Thinking…');
  try {
    const response = await api('/v1/chat/stream', { method: 'POST', body: JSON.stringify({ message: question, conversationId }) });
    await readEvents(response, (name, data) => {
      if (name === 'delta') answer.textContent += data.text;
      else if (name === 'citations') turn.append(citationsTable(data.citations));
      else if (name === 'done') {
        conversationId = data.conversationId || conversationId;
        answer.replaceChildren(markdown(data.answer));
        if (!turn.querySelector('table') && !turn.querySelector('.citations-none')) turn.append(citationsTable(data.citations));
        // Degraded answers come from retrieval: say it once, with the reason.
        const source = data.degraded ? 'retrieval only' + (data.degradedReason ? ': ' + data.degradedReason : '') : data.model;
        meta.textContent = [source, data.cached ? 'cached' : ''].filter(Boolean).join(' · ');
      } else if (name === 'error') throw new Error(data.message);
    });
    status('');
  } catch (error) {
    answer.append(el('span', { class: 'error' }, ' ' + error.message));
    status(error.message, true);
  } finally {
    $('ask').disabled = false;
  }
}

async function loadSheets() {
  const list = $('sheets');
  if (!apiKey()) return;
  try {
    const { sheets } = await (await api('/v1/sheets')).json();
    list.replaceChildren(...(sheets.length ? sheets.map((sheet) => el('li', { class: 'sheet' },
      el('strong', {}, sheet.name), el('br'),
      el('span', { class: 'meta' }, sheet.rowCount + ' rows · ',
        sheet.syncedAt ? el('time', { datetime: sheet.syncedAt }, 'synced ' + new Date(sheet.syncedAt).toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'short' })) : 'not synced yet'),
      ...(sheet.lastError ? [el('br'), el('span', { class: 'error' }, sheet.lastError)] : []))) : [el('li', { class: 'muted' }, 'No sheets synced yet.')]));
  } catch (error) {
    list.replaceChildren(el('li', { class: 'error' }, error.message));
  }
}

document.addEventListener('DOMContentLoaded', () => {
  $('api-key').value = apiKey();
  $('key-form').addEventListener('submit', (event) => {
    event.preventDefault();
    localStorage.setItem(KEY, $('api-key').value.trim());
    status('Key saved.');
    loadSheets();
  });
  $('ask-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const question = $('question').value.trim();
    if (!question) return;
    if (!apiKey()) { status('Enter your API key first.', true); return; }
    $('question').value = '';
    ask(question);
  });
  loadSheets();
  setInterval(loadSheets, 30000);
});
