import { api, openSocket } from './api.js';
import { $, el, facts, fail, say } from './ui.js';

/** Output lines kept on screen (the server keeps the last 64 KiB of a build for late viewers). */
const MAX_LINES = 5000;

const words = (value) => value.split(/[\s,]+/).filter(Boolean);

function groupFacts(g) {
  const m = g.modelUsage;
  return [
    ['id', g.id],
    ['folder', g.folder],
    ['trust', g.trust],
    ['image', g.containerConfig?.image ?? 'the base agent image'],
    [
      'usage',
      `${m.inputTokens + m.outputTokens} tokens · $${m.costUsd.toFixed(4)} · ${m.requests} model calls`,
    ],
  ];
}

/** The group view: its facts and image builds, with one build's output live. Returns its closer. */
export function showGroup(panel, groupId) {
  panel.hidden = false;
  const base = `/v1/groups/${encodeURIComponent(groupId)}`;
  const output = $('build-output');
  output.hidden = true;
  output.replaceChildren();
  $('build-output-title').hidden = true;
  let socket = null;

  const refresh = async () => {
    try {
      const g = await api(base);
      $('group-title').textContent = `Group ${g.name}`;
      facts($('group-facts'), groupFacts(g));
    } catch (err) {
      fail(err);
    }
  };

  const watch = (build) => {
    socket?.close(1000, 'viewer left');
    output.hidden = false;
    output.replaceChildren();
    $('build-output-title').hidden = false;
    $('build-output-title').textContent = `Output of build ${build.id}`;
    let own;
    try {
      own = openSocket(`${base}/image/builds/${encodeURIComponent(build.id)}/output`);
    } catch (err) {
      return fail(err);
    }
    socket = own;
    own.onmessage = (message) => {
      const frame = JSON.parse(message.data);
      const text =
        frame.type === 'end' ? `— ${frame.status}${frame.error ? `: ${frame.error}` : ''}` : frame.line;
      output.append(`${text}\n`);
      while (output.childNodes.length > MAX_LINES) output.firstChild.remove();
      output.scrollTop = output.scrollHeight;
      // A successful build changes the group's image: show it, and the build's final status.
      if (frame.type === 'end') {
        listBuilds();
        refresh();
      }
    };
    own.onclose = (event) => {
      // 1013: the build runs on another instance; its stored tail was sent, the list shows its status.
      if (event.code === 1013) output.append('— running on another berth instance; refresh for its status\n');
    };
  };

  const buildRow = (b) =>
    el(
      'li',
      { 'data-build': b.id },
      el('span', { className: `badge status-${b.status}`, text: b.status }),
      el('span', { className: 'name', text: `${[...b.packages.apt, ...b.packages.npm].join(' ')}` }),
      el('span', {
        className: 'meta',
        text: `${b.tag}${b.durationMs === null ? '' : ` · ${(b.durationMs / 1000).toFixed(1)} s`}`,
      }),
      actionButton('Show output', () => watch(b)),
    );

  async function listBuilds() {
    try {
      const { items } = await api(`${base}/image/builds?limit=10`);
      const rows = items.map(buildRow);
      if (rows.length === 0) rows.push(el('li', { className: 'meta', text: 'No builds yet.' }));
      $('builds').replaceChildren(...rows);
    } catch (err) {
      // Viewers and operators may not see builds (admin only); the rest of the group view still works.
      if (err.status === 403) $('builds').replaceChildren(el('li', { className: 'meta', text: err.message }));
      else fail(err);
    }
  }

  $('build').onsubmit = async (event) => {
    event.preventDefault();
    const apt = words($('apt').value);
    const npm = words($('npm').value);
    try {
      const build = await api(`${base}/image`, { method: 'POST', json: { apt, npm } });
      say(build.reused ? `Image ${build.tag} exists; the group uses it now.` : `Build ${build.id} queued.`);
      await listBuilds();
      watch(build);
      refresh();
    } catch (err) {
      fail(err);
    }
  };

  refresh();
  listBuilds();
  return { close: () => socket?.close(1000, 'viewer left') };
}

function actionButton(label, onClick) {
  const button = el('button', { type: 'button', text: label });
  button.addEventListener('click', onClick);
  return button;
}
