/**
 * The web console's page: one static document, no build step and nothing fetched from
 * elsewhere, fed by the admin endpoint's JSON API and its Server-Sent Events (console.ts).
 * Views: overview (the LUN and a picture of its segments, fdatasync latency, throughput
 * charts, alarms), queue managers (start / stop / kill), queues (depth, rates, oldest message;
 * a queue's browse, test put and purge), channels (the shared status table, live), and units
 * of work and locks (resolve in-doubt units).
 */
export const CONSOLE_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>sanmq console</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  body { font: 14px system-ui, sans-serif; margin: 0; color: #1d232a; background: #f6f7f9; }
  header { background: #1d3557; color: #fff; padding: 10px 16px; display: flex; gap: 16px; align-items: center; }
  header h1 { font-size: 16px; margin: 0; }
  nav button { background: none; border: 0; color: #cfe0f5; font: inherit; padding: 6px 10px; cursor: pointer; }
  nav button.active { color: #fff; border-bottom: 2px solid #fff; }
  main { padding: 16px; }
  section { display: none; }
  section.active { display: block; }
  table { border-collapse: collapse; background: #fff; margin: 8px 0 16px; }
  th, td { border: 1px solid #d8dde3; padding: 4px 8px; text-align: left; white-space: nowrap; }
  th { background: #eef1f4; }
  .alarms { background: #fff4e5; border: 1px solid #f0b35b; padding: 6px 10px; margin-bottom: 12px; }
  .alarms:empty { display: none; }
  .grid { display: flex; flex-wrap: wrap; gap: 2px; max-width: 720px; }
  .seg { width: 14px; height: 14px; border-radius: 2px; }
  .seg.free { background: #d8dde3; } .seg.live { background: #2a9d8f; } .seg.compacting { background: #e76f51; }
  .cards { display: flex; gap: 12px; flex-wrap: wrap; }
  .card { background: #fff; border: 1px solid #d8dde3; padding: 10px 14px; min-width: 160px; }
  .card b { display: block; font-size: 20px; }
  svg { background: #fff; border: 1px solid #d8dde3; }
  pre { background: #fff; border: 1px solid #d8dde3; padding: 6px; overflow: auto; max-width: 900px; }
  .status-running { color: #1b7f3a; font-weight: 600; } .status-retrying, .status-stopped { color: #b3261e; }
  .error { color: #b3261e; }
</style>
</head>
<body>
<header>
  <h1>sanmq console</h1><span id="lun-path" data-testid="lun-path"></span>
  <nav>
    <button data-view="overview" class="active">Overview</button>
    <button data-view="members">Queue managers</button>
    <button data-view="queues">Queues</button>
    <button data-view="channels">Channels</button>
    <button data-view="units">Units &amp; locks</button>
  </nav>
  <span id="live" data-testid="live">connecting…</span>
</header>
<main>
  <div class="alarms" id="alarms" data-testid="alarms"></div>
  <div class="error" id="error" data-testid="error"></div>
  <section id="view-overview" class="active">
    <div class="cards">
      <div class="card">LUN size<b id="lun-size"></b></div>
      <div class="card">Used<b id="lun-used"></b></div>
      <div class="card">fdatasync p50 / p99 <small>(of per-second means, 5 min)</small><b id="fsync" data-testid="fsync"></b></div>
      <div class="card">puts/s · gets/s<b id="rates"></b></div>
    </div>
    <h3>Segments <small>(green: live, grey: free, orange: being compacted; paler: less live)</small></h3>
    <div class="grid" id="segments" data-testid="segments"></div>
    <h3>Throughput, last 5 minutes <small>(puts blue, gets green)</small></h3>
    <svg id="chart-rates" width="720" height="120" data-testid="chart-rates"></svg>
    <h3>fdatasync mean latency per second (µs)</h3>
    <svg id="chart-fsync" width="720" height="120"></svg>
  </section>
  <section id="view-members">
    <table data-testid="members"><thead><tr><th>Queue manager</th><th>Personality</th><th>State</th>
      <th>Connections</th><th>Channel initiator</th><th></th></tr></thead><tbody></tbody></table>
  </section>
  <section id="view-queues">
    <table data-testid="queues"><thead><tr><th>Queue</th><th>Depth</th><th>Max depth</th><th>Uncommitted</th>
      <th>Puts/s</th><th>Gets/s</th><th>Oldest message</th></tr></thead><tbody></tbody></table>
    <div id="queue-detail" data-testid="queue-detail" hidden>
      <h3>Queue <span id="detail-name" data-testid="detail-name"></span></h3>
      <form id="put-form"><input id="put-text" data-testid="put-text" placeholder="message text" size="40">
        <button type="submit" data-testid="put">Put test message</button>
        <button type="button" id="purge" data-testid="purge">Purge…</button>
        <button type="button" id="refresh" data-testid="browse">Browse</button></form>
      <div id="messages" data-testid="messages"></div>
    </div>
  </section>
  <section id="view-channels">
    <table data-testid="channels"><thead><tr><th>Channel</th><th>Type</th><th>Status</th><th>Owner</th>
      <th>Instance</th><th>Sent</th><th>Committed</th><th>Transmission queue</th><th>Remote QM</th>
      <th>Updated</th></tr></thead><tbody></tbody></table>
  </section>
  <section id="view-units">
    <h3>Open units of work</h3>
    <table data-testid="units-open"><thead><tr><th>Unit</th><th>Owner</th><th>State</th><th>Puts</th><th>Gets</th>
      </tr></thead><tbody></tbody></table>
    <h3>In doubt</h3>
    <table data-testid="units-in-doubt"><thead><tr><th>XID</th><th>Puts</th><th>Gets</th><th>Queues</th><th></th>
      </tr></thead><tbody></tbody></table>
    <h3>Locks</h3>
    <table data-testid="locks"><thead><tr><th>Resource</th><th>Holders (mode)</th><th>Waiters</th></tr></thead>
      <tbody></tbody></table>
  </section>
</main>
<script>
'use strict';
let state = null;
let previous = null;
let selected = null;
const $ = (id) => document.getElementById(id);
function text(value) { return document.createTextNode(value === undefined || value === null ? '' : String(value)); }
function cell(row, value) { const td = document.createElement('td'); td.appendChild(text(value)); row.appendChild(td); return td; }
function button(label, action, testid) {
  const b = document.createElement('button');
  b.textContent = label;
  if (testid) b.dataset.testid = testid;
  b.addEventListener('click', action);
  return b;
}
function bytes(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(1)) + ' ' + units[i];
}
function age(ms) {
  if (!ms) return '';
  const s = Math.round(ms / 1000);
  return s < 60 ? s + ' s' : s < 3600 ? Math.round(s / 60) + ' min' : (s / 3600).toFixed(1) + ' h';
}
function rows(table, items, fill) {
  const body = document.querySelector('[data-testid="' + table + '"] tbody');
  body.replaceChildren();
  for (const item of items) { const row = document.createElement('tr'); fill(row, item); body.appendChild(row); }
}
async function call(method, path, payload) {
  const response = await fetch(path, { method, headers: { 'content-type': 'application/json' },
    body: payload === undefined ? undefined : JSON.stringify(payload) });
  const answer = await response.json();
  if (!response.ok) { $('error').textContent = (answer.code || '') + ': ' + (answer.message || ''); throw new Error(answer.message); }
  $('error').textContent = '';
  return answer;
}
function chart(svg, series, colors) {
  svg.replaceChildren();
  const width = Number(svg.getAttribute('width')), height = Number(svg.getAttribute('height'));
  const max = Math.max(1, ...series.flat());
  series.forEach((values, k) => {
    if (values.length < 2) return;
    const points = values.map((v, i) => (i * width / (values.length - 1)).toFixed(1) + ',' +
      (height - 4 - v * (height - 8) / max).toFixed(1)).join(' ');
    const line = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
    line.setAttribute('points', points);
    line.setAttribute('fill', 'none');
    line.setAttribute('stroke', colors[k]);
    svg.appendChild(line);
  });
  const label = document.createElementNS('http://www.w3.org/2000/svg', 'text');
  label.setAttribute('x', 4); label.setAttribute('y', 14); label.setAttribute('font-size', 11);
  label.textContent = 'max ' + Math.round(max);
  svg.appendChild(label);
}
function render() {
  const s = state;
  $('lun-path').textContent = s.lun.path + ' (' + s.lun.device + ')';
  $('lun-size').textContent = bytes(s.lun.sizeBytes);
  $('lun-used').textContent = bytes(s.lun.usedBytes) + ' (' + bytes(s.lun.liveBytes) + ' live)';
  $('fsync').textContent = s.fsync.p50Us + ' / ' + s.fsync.p99Us + ' µs';
  $('rates').textContent = Math.round(s.rates.putsPerSecond) + ' · ' + Math.round(s.rates.getsPerSecond);
  $('alarms').textContent = s.alarms.join(' · ');
  const grid = $('segments');
  grid.replaceChildren();
  for (const seg of s.lun.segments) {
    const d = document.createElement('div');
    d.className = 'seg ' + seg.state;
    if (seg.state === 'live') d.style.opacity = String(0.35 + 0.65 * seg.liveRatio);
    d.title = 'segment ' + seg.index + ': ' + seg.state + (seg.state === 'live' ? ', ' + Math.round(seg.liveRatio * 100) + '% live' : '');
    grid.appendChild(d);
  }
  chart($('chart-rates'), [s.history.map((h) => h.puts), s.history.map((h) => h.gets)], ['#1d70b8', '#2a9d8f']);
  chart($('chart-fsync'), [s.history.map((h) => h.syncMeanUs)], ['#e76f51']);
  rows('members', s.queueManagers, (row, m) => {
    cell(row, m.name); cell(row, m.personality);
    cell(row, m.running ? 'running' : 'stopped').dataset.testid = 'member-state-' + m.name;
    cell(row, m.connections); cell(row, m.channelInitiator ? 'running' : '-');
    const td = cell(row, '');
    td.appendChild(button('Start', () => call('POST', '/api/members/' + encodeURIComponent(m.name) + '/start'), 'start-' + m.name));
    td.appendChild(button('Stop', () => call('POST', '/api/members/' + encodeURIComponent(m.name) + '/stop'), 'stop-' + m.name));
    td.appendChild(button('Kill', () => call('POST', '/api/members/' + encodeURIComponent(m.name) + '/kill'), 'kill-' + m.name));
  });
  const dt = previous === null ? 0 : (s.at - previous.at) / 1000;
  rows('queues', s.queues, (row, q) => {
    const before = previous === null ? undefined : previous.queues.find((p) => p.name === q.name);
    const link = cell(row, '');
    link.appendChild(button(q.name, () => select(q.name), 'queue-' + q.name));
    cell(row, q.depth).dataset.testid = 'depth-' + q.name;
    cell(row, q.maxDepth); cell(row, q.uncommitted);
    cell(row, before && dt > 0 ? Math.round((q.puts - before.puts) / dt) : '');
    cell(row, before && dt > 0 ? Math.round((q.gets - before.gets) / dt) : '');
    cell(row, age(q.oldestAgeMs));
  });
  rows('channels', s.channels, (row, c) => {
    cell(row, c.name); cell(row, c.type === 'sender' ? 'SDR' : 'RCVR');
    const st = cell(row, c.status); st.className = 'status-' + c.status; st.dataset.testid = 'channel-status-' + c.name;
    cell(row, c.owner).dataset.testid = 'channel-owner-' + c.name;
    cell(row, c.instance); cell(row, c.sentSequence); cell(row, c.committedSequence);
    cell(row, c.transmissionQueue); cell(row, c.remoteQueueManager);
    cell(row, c.updated ? new Date(c.updated).toISOString().slice(11, 23) : '');
  });
  rows('units-open', s.units.open, (row, u) => { cell(row, u.id); cell(row, u.owner); cell(row, u.state); cell(row, u.puts); cell(row, u.gets); });
  rows('units-in-doubt', s.units.inDoubt, (row, u) => {
    cell(row, u.xid); cell(row, u.puts); cell(row, u.gets); cell(row, u.queues.join(' '));
    const td = cell(row, '');
    for (const [label, outcome] of [['Commit', 'commit'], ['Back out', 'rollback']]) {
      td.appendChild(button(label, () => call('POST', '/api/units/' + encodeURIComponent(u.xid) + '/resolve', { outcome })));
    }
  });
  rows('locks', s.locks, (row, l) => {
    cell(row, l.resource);
    cell(row, l.holders.map((h) => h.owner + ' (' + h.mode + ')').join(', '));
    cell(row, l.waiters.map((w) => w.owner + ' (' + w.mode + ')').join(', '));
  });
  previous = s;
}
async function browse() {
  const messages = await call('GET', '/api/queues/' + encodeURIComponent(selected) + '/messages');
  const box = $('messages');
  box.replaceChildren();
  messages.forEach((m, i) => {
    const pre = document.createElement('pre');
    pre.dataset.testid = 'message';
    const hex = (m.hex.match(/.{1,32}/g) || []).map((line) => line.replace(/(..)/g, '$1 ')).join('\\n');
    pre.textContent = 'Message ' + (i + 1) + '  MsgId ' + m.messageId + '  CorrelId ' + m.correlationId +
      '\\nformat ' + m.format + '  priority ' + m.priority + '  persistent ' + m.persistent +
      '  put ' + new Date(m.putTime).toISOString() + '  backouts ' + m.backoutCount +
      '  properties ' + JSON.stringify(m.properties) + '\\nlength ' + m.length + '\\n' + hex + '\\n' + JSON.stringify(m.text);
    box.appendChild(pre);
  });
  if (messages.length === 0) box.textContent = 'no messages';
}
function select(name) {
  selected = name;
  $('queue-detail').hidden = false;
  $('detail-name').textContent = name;
  void browse();
}
$('put-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  await call('POST', '/api/queues/' + encodeURIComponent(selected) + '/put', { text: $('put-text').value });
  $('put-text').value = '';
  await browse();
});
$('purge').addEventListener('click', async () => {
  if (!confirm('Purge every committed message of ' + selected + '?')) return;
  await call('POST', '/api/queues/' + encodeURIComponent(selected) + '/purge');
  await browse();
});
$('refresh').addEventListener('click', () => void browse());
for (const b of document.querySelectorAll('nav button')) {
  b.addEventListener('click', () => {
    for (const other of document.querySelectorAll('nav button')) other.classList.toggle('active', other === b);
    for (const view of document.querySelectorAll('section')) view.classList.toggle('active', view.id === 'view-' + b.dataset.view);
  });
}
const events = new EventSource('/api/events');
events.addEventListener('state', (event) => {
  state = JSON.parse(event.data);
  $('live').textContent = 'live ' + new Date(state.at).toISOString().slice(11, 19);
  render();
});
events.addEventListener('error', () => { $('live').textContent = 'reconnecting…'; });
</script>
</body>
</html>
`;
