import { el, sizeText } from './ui.js';

// Renders timeline events as list rows. Event data is untrusted: it only ever becomes textContent.

/** Rows kept in the page; older ones are dropped so a long history cannot exhaust the tab. */
const MAX_ROWS = 2000;

const time = (iso) => new Date(iso).toLocaleTimeString([], { hour12: false });

function compact(data, omit = []) {
  const rest = Object.fromEntries(Object.entries(data).filter(([k]) => !omit.includes(k)));
  return Object.keys(rest).length ? JSON.stringify(rest) : '';
}

function usageText(d) {
  const parts = [`in ${d.inputTokens ?? 0}`, `out ${d.outputTokens ?? 0}`];
  if (d.cacheReadTokens || d.cacheReadInputTokens)
    parts.push(`cache ${d.cacheReadTokens ?? d.cacheReadInputTokens}`);
  if (typeof d.costUsd === 'number') parts.push(`$${d.costUsd.toFixed(4)}`);
  if (d.interrupted) parts.push('interrupted');
  return parts.join(' · ');
}

/** The label and body text of one event. */
export function describe(event) {
  const d = event.data ?? {};
  switch (event.kind) {
    case 'log':
      return { label: event.stream ?? 'log', body: String(d.line ?? compact(d)) };
    case 'output':
      return {
        label: event.stream === 'reply' ? 'reply' : (event.stream ?? 'output'),
        body: String(d.text ?? ''),
      };
    case 'tool': {
      const detail = event.stream === 'end' ? d.result : d.input;
      const flag = d.isError ? ' (error)' : '';
      return {
        label: `tool ${event.stream ?? ''}`.trim(),
        body: `${d.name ?? '?'}${flag} ${detail ?? ''}`.trim(),
      };
    }
    case 'usage':
      return { label: 'usage', body: usageText(d) };
    default: {
      const type = String(d.type ?? event.kind);
      if (type === 'usage') return { label: 'model', body: `${d.model ?? ''} ${usageText(d)}`.trim() };
      return { label: type, body: compact(d, ['type']) };
    }
  }
}

/**
 * The files a reply delivered, each a download button (session.js handles the clicks). The id must
 * look like one, since session.js puts it into a path.
 */
function deliveredFiles(event) {
  const files = event.kind === 'output' && Array.isArray(event.data?.files) ? event.data.files : [];
  const buttons = files
    .filter((f) => typeof f?.id === 'string' && /^[A-Za-z0-9_-]+$/.test(f.id))
    .map((f) => {
      const name = String(f.name ?? f.id);
      const size = sizeText(Number(f.size) || 0);
      return el(
        'li',
        {},
        el(
          'button',
          {
            type: 'button',
            className: 'file',
            'data-file': f.id,
            'data-name': name,
            'aria-label': `Download ${name}, ${size}`,
          },
          el('span', { className: 'name', text: name }),
          el('span', { className: 'size', text: size }),
        ),
      );
    });
  return buttons.length ? el('ul', { className: 'files', 'aria-label': 'Files' }, ...buttons) : null;
}

/** Appends one event to the list, keeping the view pinned to the bottom when it already was. */
export function appendEvent(list, event) {
  const pinned = list.scrollTop + list.clientHeight >= list.scrollHeight - 8;
  const { label, body } = describe(event);
  const row = el(
    'li',
    { className: `event kind-${event.kind}`, 'data-seq': String(event.seq), 'data-kind': event.kind },
    el('span', { className: 'seq', text: `#${event.seq}` }),
    el('time', { datetime: event.time, text: time(event.time) }),
    el('span', { className: 'label', text: label }),
    el('span', { className: 'body', text: body }),
    deliveredFiles(event),
  );
  list.append(row);
  while (list.childElementCount > MAX_ROWS) list.firstElementChild.remove();
  if (pinned) list.scrollTop = list.scrollHeight;
}
