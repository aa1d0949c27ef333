import { ApiError } from './api.js';

// Small DOM helpers shared by the console's views.

export const $ = (id) => document.getElementById(id);

/** An element with properties and children; `text` sets textContent (never HTML). */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (name === 'className') node.className = value;
    else if (name === 'text') node.textContent = value;
    else node.setAttribute(name, value);
  }
  for (const child of children) if (child != null) node.append(child);
  return node;
}

/** One line of feedback for the last action, read out by screen readers. */
export function say(text, isError = false) {
  const status = $('status');
  status.textContent = text;
  status.classList.toggle('error', isError);
}

/** Reports an API failure; a rejected key sends the user back to the key form (app.js listens). */
export function fail(err) {
  if (err instanceof ApiError && (err.code === 'UNAUTHORIZED' || err.code === 'KEY_EXPIRED')) {
    window.dispatchEvent(new CustomEvent('berth:signout', { detail: `The key was refused: ${err.message}` }));
    return;
  }
  say(err instanceof ApiError ? `${err.code}: ${err.message}` : String(err?.message ?? err), true);
}

export function usageSummary(s) {
  const m = s.modelUsage;
  const a = s.agentUsage;
  const metered = m?.requests > 0;
  const tokens = metered ? m.inputTokens + m.outputTokens : (a?.inputTokens ?? 0) + (a?.outputTokens ?? 0);
  const cost = metered ? m.costUsd : (a?.costUsd ?? 0);
  return `${tokens} tokens · $${cost.toFixed(4)}`;
}

export const exitText = (lastExit) =>
  lastExit ? `${lastExit.reason}${lastExit.code === null ? '' : ` (${lastExit.code})`}` : '—';

/** Fills a <dl> with term/value pairs. */
export function facts(dl, pairs) {
  dl.replaceChildren(
    ...pairs.flatMap(([term, value]) => [el('dt', { text: term }), el('dd', { text: value })]),
  );
}

/** A byte count as people read it: 512 B, 1.5 KiB, 12 MiB. */
export function sizeText(bytes) {
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let n = bytes;
  let unit = 0;
  while (n >= 1024 && unit < units.length - 1) {
    n /= 1024;
    unit++;
  }
  return unit === 0 ? `${n} B` : `${n < 10 ? n.toFixed(1) : Math.round(n)} ${units[unit]}`;
}
