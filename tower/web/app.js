// app.js — the tower's web console: log in once with the admin token, then
// OverClouds (list, detail with live DAGs and step logs), Nodes (with their
// figures as charts) and Actions (create, delete, attach, join token).

import {api, setCsrf, stream, whenUnauthorized, ApiError} from './api.js';
import {h, clear, ago, bytes, when} from './dom.js';
import {drawDag} from './graph.js';
import {sparkline} from './chart.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const loginBox = document.getElementById('login');
const statusLine = document.getElementById('status');

// A page of rows, each with its own history call: a fleet of thousands is
// narrowed with the filter, never fetched whole every few seconds.
const NODES_SHOWN = 50;

// What the current page started (timers, streams): stopped when it is left.
// A page that is still awaiting its first answer when it is left must not
// start anything: it checks that the generation it began in is current.
let leaving = [];
let generation = 0;
function onLeave(fn) {
  leaving.push(fn);
}
function leave() {
  for (const fn of leaving) fn();
  leaving = [];
  generation++;
}
const current = (gen) => gen === generation;

function every(ms, fn) {
  const timer = setInterval(fn, ms);
  onLeave(() => clearInterval(timer));
}

function errorText(e) {
  return e instanceof ApiError ? e.message : `cannot reach the tower: ${e.message || e}`;
}

function showStatus(text) {
  statusLine.textContent = text;
}

// ---- session ----

function showLogin() {
  leave();
  setCsrf(null);
  nav.hidden = true;
  clear(main);
  loginBox.hidden = false;
  document.getElementById('login-token').focus();
}

function showApp() {
  loginBox.hidden = true;
  nav.hidden = false;
  route();
}

document.getElementById('login-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const input = document.getElementById('login-token');
  const err = document.getElementById('login-error');
  err.textContent = '';
  try {
    const s = await api('POST', '/v1/session', {token: input.value.trim()});
    input.value = '';
    setCsrf(s.csrf);
    showApp();
  } catch (e) {
    err.textContent = errorText(e);
  }
});

document.getElementById('logout').addEventListener('click', async () => {
  try {
    await api('DELETE', '/v1/session');
  } catch (e) {
    showStatus(`log out: ${errorText(e)}`);
  }
  showLogin();
});

whenUnauthorized(showLogin);

// ---- metrics ----

const CHARTS = [
  {key: 'cpu', title: 'CPU', max: 100, value: (m) => m.cpu, format: (v) => `${v.toFixed(0)} %`},
  {key: 'mem', title: 'MEM', max: 100, value: (m) => (m.mem_total ? (100 * m.mem_used) / m.mem_total : NaN),
    format: (v) => `${v.toFixed(0)} %`},
  {key: 'load', title: 'load', max: null, value: (m) => m.load1, format: (v) => v.toFixed(2)},
  {key: 'disk', title: 'disk', max: 100, value: (m) => (m.fs_total ? (100 * m.fs_used) / m.fs_total : NaN),
    format: (v) => `${v.toFixed(0)} %`},
  {key: 'net', title: 'net in/out', max: null, value: (m) => (m.net_rx_rate ?? 0) + (m.net_tx_rate ?? 0),
    format: (v) => `${bytes(v)}/s`},
];

function metricCharts(history, which = ['cpu', 'mem', 'load', 'disk', 'net']) {
  return h('div', {class: 'charts'}, CHARTS.filter((c) => which.includes(c.key)).map((c) =>
    sparkline(c.title, history.map((m) => [m.t, c.value(m)]), {max: c.max, format: c.format})));
}

async function nodeHistory(id) {
  try {
    const r = await api('GET', `/v1/nodes/${encodeURIComponent(id)}/metrics`);
    return Array.isArray(r && r.history) ? r.history : [];
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return [];
    throw e;
  }
}

// ---- OverClouds ----

function statusBadge(status) {
  return h('span', {class: `badge status-${status}`}, status);
}

async function pageOverclouds() {
  const box = h('section', {class: 'card'}, h('h2', {}, 'OverClouds'));
  const table = h('div', {});
  box.append(table, h('p', {}, h('a', {href: '#/actions', class: 'button'}, 'Create an OverCloud')));
  main.append(box);
  const load = async () => {
    let list;
    try {
      list = await api('GET', '/v1/overclouds');
    } catch (e) {
      clear(table).append(h('p', {class: 'error'}, errorText(e)));
      return;
    }
    clear(table);
    if (list.length === 0) {
      table.append(h('p', {class: 'muted'}, 'No OverCloud yet.'));
      return;
    }
    table.append(h('table', {class: 'list', id: 'overcloud-list'},
      h('thead', {}, h('tr', {}, ['OverCloud', 'status', 'pattern', 'provider', 'nodes', 'DevOps Post', 'steps', 'created']
        .map((t) => h('th', {}, t)))),
      h('tbody', {}, list.slice().reverse().map((oc) => {
        const done = oc.steps.filter((s) => s.state === 'done').length;
        return h('tr', {'data-overcloud': oc.overcloud_id},
          h('td', {}, h('a', {href: `#/overclouds/${oc.overcloud_id}`}, oc.overcloud_id)),
          h('td', {}, statusBadge(oc.status), oc.error ? h('div', {class: 'error small'}, oc.error) : null),
          h('td', {}, oc.pattern), h('td', {}, oc.provider), h('td', {}, String(oc.nodes.length)),
          h('td', {}, oc.devops_post || '–'), h('td', {}, `${done}/${oc.steps.length}`),
          h('td', {}, when(oc.created_at)));
      }))));
  };
  const gen = generation;
  await load();
  if (current(gen)) every(3000, load);
}

const DAG_TITLES = {create: 'Create', attach: 'Attach', destroy: 'Destroy'};

async function pageOvercloud(id) {
  let selected = null;      // {dag, name}
  let logFor = null;        // run_id whose log is shown
  let logStream = null;
  let last = null;
  let nodeCharts = new Map();

  const head = h('div', {class: 'oc-head'});
  const dags = h('div', {class: 'dags'});
  const logTitle = h('h3', {}, 'Log');
  const logInfo = h('p', {class: 'muted'}, 'Click a step to see its log.');
  const logPre = h('pre', {class: 'log', id: 'step-log'});
  const nodesBox = h('div', {});
  main.append(h('section', {class: 'card'}, head, dags),
    h('section', {class: 'card'}, logTitle, logInfo, logPre),
    h('section', {class: 'card'}, h('h3', {}, 'Nodes'), nodesBox));

  const closeLog = () => {
    if (logStream) logStream.close();
    logStream = null;
  };
  onLeave(closeLog);

  const showLog = (step) => {
    logTitle.textContent = `Log of ${step.dag}/${step.name}`;
    if (!step.run_id) {
      closeLog();
      logFor = null;
      clear(logPre);
      logInfo.textContent = step.error ? `${step.state}: ${step.error}`
        : step.state === 'pending' ? 'This step has not started yet.'
          : 'This step runs in the tower itself: it has no node log.';
      return;
    }
    if (logFor === step.run_id) return;
    closeLog();
    logFor = step.run_id;
    clear(logPre);
    logInfo.textContent = `run ${step.run_id}`;
    const lines = new Map();   // task -> text so far without its last partial line
    let ended = false;
    logStream = stream(`/v1/runs/${encodeURIComponent(step.run_id)}/events`, {
      log: (d) => {
        const prefix = `[${d.node || d.node_id}] `;
        const text = (lines.get(d.task_id) || '') + (d.data || '');
        const parts = text.split('\n');
        lines.set(d.task_id, parts.pop());
        for (const line of parts)
          logPre.append(h('span', {class: d.stream === 'stderr' ? 'stderr' : null}, prefix + line + '\n'));
        logPre.scrollTop = logPre.scrollHeight;
      },
      task: (t) => {
        if (t.state === 'done' || t.state === 'failed') {
          const rest = lines.get(t.task_id);
          if (rest) logPre.append(h('span', {}, `[${t.node || t.node_id}] ${rest}\n`));
          lines.delete(t.task_id);
          logPre.append(h('span', {class: `task-end state-${t.state}`},
            `[${t.node || t.node_id}] ${t.state}${t.exit_code !== undefined && t.exit_code !== null ? ` (exit ${t.exit_code})` : ''}${t.reason ? ': ' + t.reason : ''}\n`));
        }
      },
      end: () => {
        ended = true;
        logInfo.textContent = `run ${step.run_id}: finished`;
      },
      onclose: () => {
        // Dropped before its end (the network changed, the tower
        // restarted): open it again; the replay starts from the top.
        if (ended || logFor !== step.run_id) return;
        setTimeout(() => {
          if (logFor !== step.run_id) return;
          logFor = null;
          showLog(step);
        }, 1000);
      },
    });
  };

  const select = (dag, name) => {
    selected = {dag, name};
    render(last);
  };

  const renderNodes = async (oc) => {
    clear(nodesBox);
    if (oc.nodes.length === 0) {
      nodesBox.append(h('p', {class: 'muted'}, 'No node yet.'));
      return;
    }
    nodesBox.append(h('table', {class: 'list'},
      h('thead', {}, h('tr', {}, ['node', 'group', 'role', 'address', 'state', 'figures'].map((t) => h('th', {}, t)))),
      h('tbody', {}, oc.nodes.map((n) => h('tr', {'data-node': n.name},
        h('td', {}, n.name, n.node_id ? h('div', {class: 'muted small'}, n.node_id) : null),
        h('td', {}, n.group), h('td', {}, n.role), h('td', {}, n.address || '–'),
        h('td', {}, n.state, n.connected ? h('span', {class: 'dot on', title: 'connected'}) : null),
        h('td', {class: 'chart-cell', 'data-node-id': n.node_id}, nodeCharts.get(n.node_id) || ''))))));
  };

  const refreshCharts = async () => {
    if (!last) return;
    for (const n of last.nodes.slice(0, NODES_SHOWN)) {
      if (!n.node_id || n.state === 'released') continue;
      try {
        nodeCharts.set(n.node_id, metricCharts(await nodeHistory(n.node_id), ['cpu', 'mem', 'net']));
      } catch (e) {
        showStatus(`figures of ${n.name}: ${errorText(e)}`);
      }
    }
    for (const cell of nodesBox.querySelectorAll('td.chart-cell')) {
      const c = nodeCharts.get(cell.dataset.nodeId);
      if (c) clear(cell).append(c);
    }
  };

  const render = (oc) => {
    if (!oc) return;
    last = oc;
    clear(head).append(
      h('h2', {}, `OverCloud ${oc.overcloud_id} `, statusBadge(oc.status), oc.attaching ? statusBadge('attaching') : null),
      h('dl', {class: 'facts'},
        h('dt', {}, 'pattern'), h('dd', {}, oc.pattern),
        h('dt', {}, 'provider'), h('dd', {}, `${oc.provider}${oc.size ? ' (' + oc.size + ')' : ''}`),
        h('dt', {}, 'number'), h('dd', {}, String(oc.number)),
        h('dt', {}, 'DevOps Post'), h('dd', {}, oc.devops_post || '–'),
        h('dt', {}, 'cluster'), h('dd', {}, oc.logical_cluster.join(', ') || '–'),
        h('dt', {}, 'created'), h('dd', {}, when(oc.created_at))),
      ...(oc.error ? [h('p', {class: 'error', id: 'oc-error'}, oc.error)] : []));
    clear(dags);
    for (const dag of ['create', 'attach', 'destroy']) {
      const steps = oc.steps.filter((s) => s.dag === dag);
      if (steps.length === 0) continue;
      dags.append(h('div', {class: 'dag-box'}, h('h3', {}, `${DAG_TITLES[dag]} workflow`),
        h('div', {class: 'dag-scroll'},
          drawDag(dag, steps, selected && selected.dag === dag ? selected.name : null, (name) => select(dag, name)))));
    }
    const step = selected && oc.steps.find((s) => s.dag === selected.dag && s.name === selected.name);
    if (step) showLog(step);
    renderNodes(oc);
  };

  let events = null;
  const follow = () => {
    events = stream(`/v1/overclouds/${encodeURIComponent(id)}/events`, {
      overcloud: render,
      end: render,
      onclose: () => {
        // The stream ends when the OverCloud settles; a later delete or
        // attach is seen by looking again now and then.
        events = null;
      },
    });
  };
  onLeave(() => events && events.close());

  const gen = generation;
  try {
    const oc = await api('GET', `/v1/overclouds/${encodeURIComponent(id)}`);
    if (!current(gen)) return;
    render(oc);
  } catch (e) {
    clear(head).append(h('h2', {}, `OverCloud ${id}`), h('p', {class: 'error'}, errorText(e)));
    return;
  }
  follow();
  refreshCharts();
  every(5000, async () => {
    refreshCharts();
    if (events !== null || !last) return;
    try {
      const oc = await api('GET', `/v1/overclouds/${encodeURIComponent(id)}`);
      if (oc.updated_at !== last.updated_at || oc.status !== last.status) {
        render(oc);
        if (!['ready', 'failed', 'deleted'].includes(oc.status) || oc.attaching) follow();
      }
    } catch (e) {
      showStatus(errorText(e));
    }
  });
}

// ---- Nodes ----

function uptime(s) {
  if (!s) return '–';
  if (s < 3600) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} d`;
}

async function pageNodes() {
  const body = h('div', {});
  const filter = h('input', {id: 'node-filter', type: 'search', placeholder: 'filter: name, id, arch, role, state'});
  main.append(h('section', {class: 'card'}, h('h2', {}, 'Nodes'),
    h('p', {class: 'muted'}, 'Every enrolled node: the ones providers made and the devices that joined with a token.'),
    filter, body));
  const load = async () => {
    let nodes;
    try {
      nodes = await api('GET', '/v1/nodes');
    } catch (e) {
      clear(body).append(h('p', {class: 'error'}, errorText(e)));
      return;
    }
    const words = filter.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
    const matching = nodes.filter((n) => words.every((w) =>
      [n.name, n.id, n.arch, n.role, n.state].some((f) => String(f || '').toLowerCase().includes(w))));
    const shown = matching.slice(0, NODES_SHOWN);
    const histories = await Promise.all(shown.map((n) => nodeHistory(n.id).catch(() => [])));
    clear(body);
    if (nodes.length === 0) {
      body.append(h('p', {class: 'muted'}, 'No node has enrolled yet. Create an OverCloud, or a join token for a device.'));
      return;
    }
    body.append(h('p', {class: 'muted small', id: 'node-count'},
      `${nodes.length} node(s), ${nodes.filter((n) => n.state === 'connected').length} connected` +
      (matching.length > shown.length ? `; the first ${shown.length} of ${matching.length} matching are shown` : '')));
    body.append(h('table', {class: 'list', id: 'node-list'},
      h('thead', {}, h('tr', {}, ['node', 'arch', 'role', 'state', 'last seen', 'figures (last hour)'].map((t) => h('th', {}, t)))),
      h('tbody', {}, shown.map((n, i) => {
        const m = n.metrics;
        return h('tr', {'data-node-id': n.id},
          h('td', {}, h('b', {}, n.name), h('div', {class: 'muted small'}, n.id),
            n.os ? h('div', {class: 'muted small'}, `${n.os}${n.kernel ? ', ' + n.kernel : ''}`) : null),
          h('td', {}, n.arch), h('td', {}, n.role),
          h('td', {}, h('span', {class: `dot ${n.state === 'connected' ? 'on' : 'off'}`}), n.state),
          h('td', {title: when(n.last_seen)}, ago(n.last_seen)),
          h('td', {}, metricCharts(histories[i]),
            m ? h('div', {class: 'muted small'},
              `mem ${bytes(m.mem_used)} / ${bytes(m.mem_total)} · disk ${bytes(m.fs_used)} / ${bytes(m.fs_total)} · up ${uptime(m.uptime)}`)
              : h('div', {class: 'muted small'}, 'no figures yet')));
      }))));
  };
  let typing = null;
  filter.addEventListener('input', () => {
    clearTimeout(typing);
    typing = setTimeout(load, 300);
  });
  onLeave(() => clearTimeout(typing));
  const gen = generation;
  await load();
  if (current(gen)) every(5000, load);
}

// ---- Actions ----

function actionForm(id, title, help, fields, submitLabel, onSubmit) {
  const error = h('p', {class: 'error', role: 'alert', id: `${id}-error`});
  const result = h('div', {class: 'result', id: `${id}-result`});
  const button = h('button', {type: 'submit'}, submitLabel);
  const form = h('form', {id, class: 'action', autocomplete: 'off'}, fields, button, error);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    error.textContent = '';
    clear(result);
    button.disabled = true;
    try {
      await onSubmit(new FormData(form), result);
    } catch (e) {
      error.textContent = errorText(e);
    } finally {
      button.disabled = false;
    }
  });
  return h('section', {class: 'card action-card'}, h('h3', {}, title), h('p', {class: 'muted'}, help), form, result);
}

function field(label, input) {
  return h('label', {}, label, input);
}

async function pageActions() {
  let ocs = [], nodes = [];
  const gen = generation;
  try {
    [ocs, nodes] = await Promise.all([api('GET', '/v1/overclouds'), api('GET', '/v1/nodes')]);
  } catch (e) {
    showStatus(errorText(e));
  }
  if (!current(gen)) return;
  const live = ocs.filter((o) => o.status !== 'deleted').map((o) => o.overcloud_id).reverse();
  const ocList = h('datalist', {id: 'oc-ids'}, live.map((v) => h('option', {value: v})));
  const nodeList = h('datalist', {id: 'node-names'}, nodes.map((n) => h('option', {value: n.name}, n.id)));

  main.append(h('div', {class: 'grid'}, ocList, nodeList,
    actionForm('create-form', 'Create an OverCloud',
      'The tower acquires the nodes from the provider and runs the pattern\'s create workflow.',
      [field('provider', h('input', {name: 'provider', value: 'local', required: true})),
        field('number', h('input', {name: 'number', type: 'number', min: 1, max: 1000, value: 1, required: true})),
        field('size', h('input', {name: 'size', placeholder: 'flavor or instance type (optional)'})),
        field('pattern', h('input', {name: 'pattern', placeholder: 'the tower\'s default', value: 'demo'}))],
      'Create', async (f) => {
        const body = {provider: f.get('provider').trim(), number: Number(f.get('number'))};
        if (f.get('size').trim()) body.size = f.get('size').trim();
        if (f.get('pattern').trim()) body.pattern = f.get('pattern').trim();
        const r = await api('POST', '/v1/overclouds', body);
        location.hash = `#/overclouds/${r.overcloud_id}`;
      }),
    actionForm('delete-form', 'Delete an OverCloud',
      'Runs the destroy workflow and gives the nodes back to their provider.',
      [field('OverCloud', h('input', {name: 'id', list: 'oc-ids', required: true, value: live[0] || ''}))],
      'Delete', async (f) => {
        const id = f.get('id').trim();
        await api('DELETE', `/v1/overclouds/${encodeURIComponent(id)}`);
        location.hash = `#/overclouds/${id}`;
      }),
    actionForm('attach-form', 'Attach a node',
      'Adds an enrolled node (an edge device) to a ready OverCloud with the pattern\'s attach workflow.',
      [field('OverCloud', h('input', {name: 'id', list: 'oc-ids', required: true, value: live[0] || ''})),
        field('node', h('input', {name: 'node', list: 'node-names', required: true, placeholder: 'node id or name'}))],
      'Attach', async (f) => {
        const id = f.get('id').trim();
        await api('POST', `/v1/overclouds/${encodeURIComponent(id)}/nodes`, {node: f.get('node').trim()});
        location.hash = `#/overclouds/${id}`;
      }),
    actionForm('token-form', 'Create a join token',
      'A device runs the one line below to enroll with this tower.',
      [field('role', h('input', {name: 'role', value: 'edge-worker', required: true})),
        field('expires in', h('input', {name: 'ttl', value: '1h'})),
        field('uses', h('input', {name: 'uses', type: 'number', min: 1, value: 1}))],
      'Create token', async (f, result) => {
        const r = await api('POST', '/v1/tokens', {role: f.get('role').trim(), ttl: f.get('ttl').trim() || '1h',
          uses: Number(f.get('uses') || 1)});
        result.append(h('p', {}, `Token for role ${r.role}, ${r.uses} use(s), expires ${when(r.expires_at)}. Run on the device:`),
          h('pre', {class: 'join', id: 'join-command'}, r.join));
      })));
}

// ---- routing ----

async function route() {
  leave();
  clear(main);
  showStatus('');
  const hash = location.hash || '#/overclouds';
  const [, page, id] = hash.match(/^#\/([a-z]+)(?:\/([A-Za-z0-9-]+))?/) || [];
  for (const a of nav.querySelectorAll('a')) a.classList.toggle('active', a.dataset.page === page);
  document.body.dataset.page = id ? `${page}-detail` : page || 'overclouds';
  if (page === 'overclouds' && id) await pageOvercloud(id);
  else if (page === 'nodes') await pageNodes();
  else if (page === 'actions') await pageActions();
  else await pageOverclouds();
}

window.addEventListener('hashchange', () => {
  if (!nav.hidden) route();
});

async function start() {
  try {
    const s = await api('GET', '/v1/session');
    if (s && s.active) {
      setCsrf(s.csrf);
      showApp();
      return;
    }
  } catch (e) {
    showStatus(errorText(e));
  }
  showLogin();
}

start();
