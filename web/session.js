import { ApiError, api, idempotencyKey } from './api.js';
import { downloadFile, encodeFiles, FilePicker } from './files.js';
import { EventStream } from './stream.js';
import { appendEvent } from './timeline.js';
import { $, exitText, facts, fail, say, usageSummary } from './ui.js';

/** Session facts are re-read after these lifecycle events, which change status or usage. */
const REFRESH_ON = new Set(['wake', 'exit', 'spawn_error', 'interrupt_requested', 'usage']);

function sessionFacts(s) {
  const a = s.agentUsage;
  return [
    ['id', s.id],
    ['status', s.status],
    ['generation', String(s.generation)],
    ['last exit', exitText(s.lastExit)],
    ['last activity', s.lastActivityAt ? new Date(s.lastActivityAt).toLocaleString() : '—'],
    ['usage', `${usageSummary(s)} · ${a.turns} turns · ${s.modelUsage.requests} model calls`],
  ];
}

/** The session view: facts, actions, the live timeline and the message box. Returns its closer. */
export function showSession(panel, sessionId) {
  panel.hidden = false;
  const base = `/v1/sessions/${encodeURIComponent(sessionId)}`;
  const list = $('timeline');
  const live = $('live');
  const pause = $('pause');
  list.replaceChildren();
  pause.checked = false;
  let refreshTimer = null;

  const refresh = async () => {
    try {
      const s = await api(base);
      $('session-title').textContent = `Session ${s.externalKey ?? s.id}`;
      facts($('session-facts'), sessionFacts(s));
    } catch (err) {
      fail(err);
    }
  };
  // Bursts of lifecycle events cause one read, not one each.
  const refreshSoon = () => {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(() => {
      refresh();
      window.dispatchEvent(new Event('berth:changed'));
    }, 300);
  };

  const stream = new EventStream(sessionId, {
    onEvent(event) {
      appendEvent(list, event);
      if (event.kind === 'usage' || (event.kind === 'lifecycle' && REFRESH_ON.has(event.data?.type)))
        refreshSoon();
    },
    onState(text) {
      live.textContent = text;
      live.dataset.state = text.split(' ')[0];
    },
  }).start();

  const action = (name, label) => async () => {
    try {
      const result = await api(`${base}/${name}`, { method: 'POST' });
      const detail =
        name === 'interrupt' ? (result.interrupted ? 'turn interrupted' : 'no turn was running') : '';
      say(
        `${label}: ${detail || result.status}${result.generation ? ` (generation ${result.generation})` : ''}`,
      );
      refreshSoon();
    } catch (err) {
      fail(err);
    }
  };
  const handlers = {
    wake: action('wake', 'Wake'),
    stop: action('stop', 'Stop'),
    interrupt: action('interrupt', 'Interrupt'),
  };
  for (const [id, handler] of Object.entries(handlers)) $(id).onclick = handler;
  pause.onchange = () => stream.setPaused(pause.checked);

  const form = $('send');
  const box = $('message');
  const sendError = $('send-error');
  const picker = new FilePicker($('attach'), $('attachments'));
  picker.clear();
  sendError.textContent = '';
  form.onsubmit = async (event) => {
    event.preventDefault();
    const text = box.value;
    if (!text.trim()) return;
    const button = $('send-button');
    button.disabled = true;
    sendError.textContent = '';
    try {
      const attachments = await encodeFiles(picker.files);
      const message = await api(`${base}/messages`, {
        method: 'POST',
        json: attachments.length ? { text, attachments } : { text },
        headers: { 'idempotency-key': idempotencyKey() },
      });
      box.value = '';
      picker.clear();
      const count = attachments.length ? ` with ${attachments.length} file(s)` : '';
      say(`Message ${message.seq} queued${count}.`);
    } catch (err) {
      // The text and the chosen files stay, so a refused file can be removed and the message resent.
      if (err instanceof ApiError && (err.status === 400 || err.status === 413))
        sendError.textContent = `Not sent: ${err.message} (${err.code})`;
      else fail(err);
    } finally {
      button.disabled = false;
      box.focus();
    }
  };
  // Delivered files in the timeline download with the key in a header (files.js).
  list.onclick = async (event) => {
    const button = event.target.closest('button[data-file]');
    if (!button) return;
    const name = button.dataset.name;
    try {
      await downloadFile(`${base}/files/${encodeURIComponent(button.dataset.file)}`, name);
      say(`Downloaded ${name}.`);
    } catch (err) {
      fail(err);
    }
  };
  // Ctrl+Enter (or Cmd+Enter) sends; Enter alone makes a new line.
  box.onkeydown = (event) => {
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) form.requestSubmit();
  };

  refresh();
  return {
    close() {
      stream.close();
      clearTimeout(refreshTimer);
    },
  };
}
