import { all, forgetKey, storedKey, storeKey } from './api.js';
import { showGroup } from './group.js';
import { showSession } from './session.js';
import { $, el, exitText, fail, say, usageSummary } from './ui.js';

const state = { groups: [], sessions: [], view: null, refreshTimer: null };

function sessionLink(s) {
  const label = s.externalKey ?? s.id;
  return el(
    'li',
    {},
    el(
      'a',
      { href: `#/sessions/${s.id}`, className: 'session-link', 'data-session': s.id },
      el('span', { className: 'name', text: label }),
      el('span', { className: `badge status-${s.status}`, text: s.status }),
      el('span', {
        className: 'meta',
        text: `gen ${s.generation} · exit ${exitText(s.lastExit)} · ${usageSummary(s)}`,
      }),
    ),
  );
}

function renderSidebar() {
  const list = $('groups');
  const items = state.groups.map((g) => {
    const sessions = state.sessions.filter((s) => s.groupId === g.id);
    return el(
      'li',
      { className: 'group' },
      el(
        'a',
        { href: `#/groups/${g.id}`, className: 'group-link', 'data-group': g.id },
        el('span', { className: 'name', text: g.name }),
        el('span', { className: 'meta', text: `${g.folder} · ${g.trust} · ${sessions.length} sessions` }),
      ),
      el('ul', { className: 'sessions' }, ...sessions.map(sessionLink)),
    );
  });
  list.replaceChildren(...items);
  if (items.length === 0) list.append(el('li', { className: 'meta', text: 'No groups yet.' }));
  markCurrent();
}

function markCurrent() {
  for (const link of document.querySelectorAll('#groups a')) {
    if (link.getAttribute('href') === location.hash) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
}

async function refreshLists() {
  try {
    [state.groups, state.sessions] = await Promise.all([all('/v1/groups'), all('/v1/sessions')]);
    renderSidebar();
    return true;
  } catch (err) {
    fail(err);
    return false;
  }
}

/** Shows what the hash names: `#/sessions/<id>`, `#/groups/<id>`, or nothing. */
function route() {
  state.view?.close();
  state.view = null;
  for (const id of ['session', 'group', 'empty']) $(id).hidden = true;
  // Signed out (a refused key included): nothing opens until a key is given.
  if (!storedKey()) return;
  const [, kind, id] = /^#\/(sessions|groups)\/([\w-]+)$/.exec(location.hash) ?? [];
  if (kind === 'sessions') state.view = showSession($('session'), id);
  else if (kind === 'groups') state.view = showGroup($('group'), id);
  else $('empty').hidden = false;
  markCurrent();
}

function signIn() {
  $('login').hidden = true;
  $('console').hidden = false;
  $('signout').hidden = false;
  refreshLists().then(route);
  clearInterval(state.refreshTimer);
  // The list is a summary; the open session refreshes itself from its own events.
  state.refreshTimer = setInterval(refreshLists, 15_000);
}

function signOut(message = '') {
  forgetKey();
  clearInterval(state.refreshTimer);
  state.view?.close();
  state.view = null;
  $('console').hidden = true;
  $('signout').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = message;
  say('');
  $('key').focus();
}

$('login').addEventListener('submit', (event) => {
  event.preventDefault();
  const key = $('key').value.trim();
  if (!key) return;
  storeKey(key);
  $('key').value = '';
  $('login-error').textContent = '';
  signIn();
});
$('signout').addEventListener('click', () => signOut());
$('refresh').addEventListener('click', async () => {
  if (await refreshLists()) say('Lists refreshed.');
});
window.addEventListener('hashchange', route);
window.addEventListener('berth:signout', (event) => signOut(event.detail));
window.addEventListener('berth:changed', () => refreshLists());

if (storedKey()) signIn();
else $('key').focus();
