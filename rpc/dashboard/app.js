/* Otedama dashboard: a read-only view of this node's API. It calls only the unprivileged
 * JSON-RPC methods (POST /, batched), listens to /events (Server-Sent Events) for new shares,
 * blocks and miners, and draws the history (gethistory) with uPlot. Everything from the node is
 * put in the page as text (textContent), never as HTML: worker names, addresses and peer
 * agents come from other machines. */
'use strict';
(function () {
  var SVG = 'http://www.w3.org/2000/svg';
  var CHART_HEIGHT = 180;
  /* Numbers that change without an event (hashrates, ping) are polled; history follows the
   * node's sample interval. */
  var POLL_MS = 10000;
  var HISTORY_MS = 15000;
  var RECONNECT_MAX_MS = 10000;

  var state = {
    status: null, miners: [], payouts: null, blocks: [], history: null,
    span: 'hour', charts: {}, connects: 0, updates: 0, mine: new Map(), rpcId: 0,
  };

  function $(id) { return document.getElementById(id); }

  /* el('td', {className: 'num', text: '3'}, child...) */
  function el(tag, props) {
    var node = document.createElement(tag);
    if (props) {
      Object.keys(props).forEach(function (k) {
        if (k === 'text') node.textContent = props[k];
        else if (k === 'data') Object.keys(props.data).forEach(function (d) { node.dataset[d] = props.data[d]; });
        else node[k] = props[k];
      });
    }
    for (var i = 2; i < arguments.length; i++) if (arguments[i]) node.appendChild(arguments[i]);
    return node;
  }

  function svg(tag, attrs) {
    var node = document.createElementNS(SVG, tag);
    Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    return node;
  }

  /* ---- formatting ---- */
  var SI = ['', 'k', 'M', 'G', 'T', 'P', 'E'];
  function si(x, unit) {
    if (x === null || x === undefined || !isFinite(x)) return '–';
    var i = 0;
    while (Math.abs(x) >= 1000 && i < SI.length - 1) { x /= 1000; i++; }
    var digits = (i === 0 && Number.isInteger(x)) || Math.abs(x) >= 100 ? x.toFixed(0) : x.toPrecision(3);
    return digits + (unit || SI[i] ? ' ' + SI[i] + unit : '');
  }
  function hashrate(h) { return si(h, 'H/s'); }
  function num(x) {
    if (x === null || x === undefined || !isFinite(x)) return '–';
    if (x === 0) return '0';
    if (Math.abs(x) >= 1000) return si(x, '');
    return String(Number(x.toPrecision(3)));
  }
  function duration(secs) {
    if (secs === null || secs === undefined || !isFinite(secs)) return '–';
    secs = Math.max(0, Math.round(secs));
    if (secs < 90) return secs + ' s';
    if (secs < 5400) return Math.round(secs / 60) + ' min';
    if (secs < 172800) return (secs / 3600).toFixed(1) + ' h';
    return (secs / 86400).toFixed(1) + ' d';
  }
  function now() { return Date.now() / 1000; }
  function ago(t) { return t ? duration(now() - t) + ' ago' : '–'; }
  function short(id) { return id ? id.slice(0, 12) + '…' : '–'; }

  /* A text cell whose value is also kept raw (data-value) for scripts and tests. */
  function setValue(id, text, raw) {
    var node = $(id);
    node.textContent = text;
    node.dataset.value = raw === null || raw === undefined ? '' : String(raw);
  }

  /* An "n s ago" text kept current by the ticker. */
  function agoNode(tag, t, props) {
    var node = el(tag, props);
    node.classList.add('ago');
    node.dataset.time = t || '';
    node.textContent = ago(t);
    return node;
  }

  /* ---- API ---- */
  function rpc(calls) {
    var body = calls.map(function (c) {
      state.rpcId += 1;
      return { jsonrpc: '2.0', id: state.rpcId, method: c[0], params: c[1] || {} };
    });
    return fetch('/', {
      method: 'POST', cache: 'no-store',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    }).then(function (r) {
      if (!r.ok) throw new Error('HTTP ' + r.status);
      return r.json();
    }).then(function (out) {
      var byId = new Map((Array.isArray(out) ? out : [out]).map(function (o) { return [o.id, o]; }));
      return body.map(function (b) {
        var o = byId.get(b.id);
        if (o && !o.error) return { ok: true, value: o.result };
        return { ok: false, error: o && o.error ? o.error.message : 'no answer' };
      });
    });
  }

  var CALLS = {
    status: ['getstatus'],
    miners: ['getminers'],
    payouts: ['getpayouts'],
    blocks: ['getblocks', { limit: 20 }],
    peers: ['getpeers'],
    shares: ['getshares', { limit: 20 }],
  };
  var RENDER = {
    status: renderStatus, miners: renderMiners, payouts: renderPayouts,
    blocks: renderBlocks, peers: renderPeers, shares: renderShares,
  };

  var pending = new Set();
  var timer = null;
  var busy = false;

  /* Coalesces bursts of events (a share brings several) into one batched call. */
  function schedule(kinds) {
    kinds.forEach(function (k) { pending.add(k); });
    if (!timer) timer = setTimeout(flush, 200);
  }

  function flush() {
    timer = null;
    if (busy) { timer = setTimeout(flush, 200); return Promise.resolve(); }
    var kinds = Array.from(pending);
    pending.clear();
    if (!kinds.length) return Promise.resolve();
    busy = true;
    return rpc(kinds.map(function (k) { return CALLS[k]; })).then(function (results) {
      kinds.forEach(function (k, i) { RENDER[k](results[i]); });
      if (kinds.indexOf('payouts') < 0 && (kinds.indexOf('miners') >= 0 || kinds.indexOf('status') >= 0)) {
        renderPayouts(null);
      }
    }).catch(function () {
      setLive(false, 'node unreachable');
    }).then(function () { busy = false; });
  }

  function refreshAll() {
    schedule(Object.keys(CALLS));
    return flush();
  }

  /* ---- overview ---- */
  function renderStatus(r) {
    if (!r.ok) return;
    var s = r.value;
    state.status = s;
    $('chain').textContent = s.chain + ' · ' + s.pool;
    setValue('pool-hashrate', hashrate(s.hashrate.pool), s.hashrate.pool);
    setValue('local-hashrate', hashrate(s.hashrate.local), s.hashrate.local);
    $('local-split').textContent = 'rigs ' + hashrate(s.hashrate.stratum) + ' · embedded ' + hashrate(s.hashrate.embedded);
    setValue('share-height', s.best_share.height === null ? '–' : String(s.best_share.height), s.best_share.height);
    setValue('share-difficulty', num(s.share_difficulty), s.share_difficulty);
    var last = $('last-share');
    last.classList.add('ago');
    last.dataset.time = s.best_share.timestamp || '';
    last.textContent = ago(s.best_share.timestamp);
    var sync = s.sync.state + (s.sync.state === 'syncing' ? ' ' + Math.round(s.sync.progress * 100) + '%' : '');
    setValue('sync-state', sync, s.sync.state);
    $('sync-progress').value = s.sync.progress;
    var ph = s.parent_chain.height;
    setValue('parent-height', ph === null ? '–' : String(ph), ph);
    setValue('full-node', s.parent_chain.full_node, s.parent_chain.full_node);
    setValue('peers', s.peers.in + ' / ' + s.peers.out, s.peers.in + '/' + s.peers.out);
    setValue('block-eta', duration(s.expected_block_secs), s.expected_block_secs);
    $('build').textContent = s.build || '';
    document.title = 'Otedama · ' + hashrate(s.hashrate.local) + ' · ' + s.chain;
    state.updates += 1;
    document.body.dataset.updated = String(state.updates);
  }

  /* ---- payouts ---- */
  function mineTag(address) {
    var who = state.mine.get(address);
    return who ? el('span', { className: 'tag', text: who }) : null;
  }

  function renderPayouts(r) {
    if (r) state.payouts = r.ok ? r.value : { error: r.error };
    var s = state.status;
    state.mine = new Map();
    state.miners.forEach(function (m) { if (m.address) state.mine.set(m.address, 'rig'); });
    if (s) state.mine.set(s.payout_address, 'this node');
    var p = state.payouts;
    var tbody = $('payout-table').tBodies[0];
    if (!p) return;
    if (p.error) {
      $('payout-summary').textContent = 'Not available: ' + p.error;
      tbody.replaceChildren();
      return;
    }
    var ours = 0;
    var rows = p.outputs.map(function (o) {
      var mine = state.mine.has(o.address);
      if (mine) ours += o.amount;
      return el('tr', { className: mine ? 'mine' : '', data: { address: o.address, amount: String(o.amount) } },
        el('td', { className: 'mono', text: o.address }, mineTag(o.address)),
        el('td', { className: 'num', text: o.amount_coins }),
        el('td', { className: 'num', text: o.percent.toFixed(2) + ' %' }));
    });
    tbody.replaceChildren.apply(tbody, rows);
    var pct = p.reward ? ours * 100 / p.reward : 0;
    var eta = s && s.expected_block_secs;
    $('payout-summary').textContent = 'A block found now pays ' + p.count + ' outputs, ' + p.reward_coins +
      ' in all. Yours: ' + pct.toFixed(2) + ' % of the window, ' + (ours / 1e8).toFixed(8) +
      ' per block. Next block expected in ' + duration(eta) + ' at the current rates.';
  }

  function renderBlocks(r) {
    if (!r.ok) return;
    var blocks = r.value.blocks;
    state.blocks = blocks;
    var last = $('last-block');
    last.classList.add('ago');
    last.dataset.time = blocks.length ? blocks[0].time : '';
    last.textContent = blocks.length ? ago(blocks[0].time) : 'none yet';
    var tbody = $('block-table').tBodies[0];
    if (!blocks.length) {
      tbody.replaceChildren(el('tr', {}, el('td', { colSpan: 5, className: 'muted', text: 'No block found yet.' })));
      return;
    }
    tbody.replaceChildren.apply(tbody, blocks.map(function (b) {
      var good = b.status === 'confirmed' || b.status === 'accepted';
      return el('tr', { data: { hash: b.hash } },
        el('td', { text: String(b.height) }),
        el('td', { className: 'mono', text: short(b.hash), title: b.hash }),
        agoNode('td', b.time),
        el('td', { className: good ? 'ok' : (b.status === 'submitting' || b.status === 'unknown' ? '' : 'err'),
          text: b.status + (b.reason ? ' (' + b.reason + ')' : '') }),
        el('td', { className: 'num', text: b.our_payout_coins }));
    }));
  }

  /* ---- miners and peers ---- */
  function renderMiners(r) {
    if (!r.ok) return;
    state.miners = r.value.miners;
    var tbody = $('miner-table').tBodies[0];
    if (!state.miners.length) {
      tbody.replaceChildren(el('tr', {}, el('td', { colSpan: 8, className: 'muted', text: 'No rig or worker yet.' })));
      return;
    }
    tbody.replaceChildren.apply(tbody, state.miners.map(function (m) {
      return el('tr', { data: { worker: m.worker, address: m.address } },
        el('td', { text: m.worker || '(address only)', title: m.kind }),
        el('td', { className: 'mono', text: m.address }),
        el('td', { className: 'num', text: hashrate(m.hashrate) }),
        el('td', { className: 'num', text: num(m.difficulty) }),
        el('td', { className: 'num', text: String(m.accepted) }),
        el('td', { className: 'num', text: String(m.rejected) }),
        el('td', { className: 'num', text: String(m.stale) }),
        agoNode('td', m.last_share));
    }));
  }

  function renderPeers(r) {
    if (!r.ok) return;
    var tbody = $('peer-table').tBodies[0];
    var peers = r.value.peers;
    if (!peers.length) {
      tbody.replaceChildren(el('tr', {}, el('td', { colSpan: 5, className: 'muted', text: 'No peer connected.' })));
      return;
    }
    tbody.replaceChildren.apply(tbody, peers.map(function (p) {
      return el('tr', { data: { peer: p.peer_id } },
        el('td', { className: 'mono', text: short(p.peer_id), title: p.peer_id + '\n' + p.agent }),
        el('td', { className: 'mono', text: p.address }),
        el('td', { text: p.direction }),
        el('td', { className: 'num', text: p.ping_ms === null ? '–' : p.ping_ms + ' ms' }),
        el('td', { className: 'num', text: String(p.score) }));
    }));
  }

  /* ---- sharechain ---- */
  /* The best chain as a vertical line through every row, the share a dot on it, and each of
   * its uncles a hollow dot beside it, linked to the share that names it. */
  function chainGraph(share, first, lastRow) {
    var g = svg('svg', { width: 56, height: 28, viewBox: '0 0 56 28', role: 'img' });
    g.appendChild(svg('line', { x1: 10, y1: first ? 14 : 0, x2: 10, y2: lastRow ? 14 : 28, class: 'chain' }));
    share.uncle_ids.slice(0, 4).forEach(function (id, i) {
      var x = 24 + i * 9;
      g.appendChild(svg('line', { x1: 10, y1: 14, x2: x, y2: 6, class: 'link' }));
      var a = svg('a', { href: '#share/' + id });
      var c = svg('circle', { cx: x, cy: 6, r: 3.5, class: 'uncle' });
      var t = svg('title', {});
      t.textContent = 'uncle ' + id;
      c.appendChild(t);
      a.appendChild(c);
      g.appendChild(a);
    });
    g.appendChild(svg('circle', { cx: 10, cy: 14, r: 5, class: 'dot' }));
    return g;
  }

  function renderShares(r) {
    if (!r.ok) return;
    var shares = r.value.shares;
    var tbody = $('share-table').tBodies[0];
    tbody.replaceChildren.apply(tbody, shares.map(function (s, i) {
      var graph = el('td', { className: 'graph', title: s.uncles + ' uncle(s)' });
      graph.appendChild(chainGraph(s, i === 0, i === shares.length - 1));
      return el('tr', { data: { id: s.id, height: String(s.height) } },
        graph,
        el('td', { text: String(s.height) }),
        el('td', { className: 'mono' }, el('a', { href: '#share/' + s.id, className: 'share-link', text: short(s.id), title: s.id })),
        el('td', { className: 'mono', text: s.address }, mineTag(s.address)),
        el('td', { className: 'num', text: num(s.difficulty) }),
        agoNode('td', s.timestamp));
    }));
  }

  function showShare() {
    var box = $('share-detail');
    var m = /^#share\/([0-9a-f]{64})$/.exec(location.hash);
    if (!m) { box.hidden = true; return; }
    rpc([['getshare', { id: m[1] }]]).then(function (res) {
      var r = res[0];
      box.hidden = false;
      if (!r.ok) { box.replaceChildren(el('p', { text: r.error })); return; }
      var s = r.value;
      var out = null;
      if (state.payouts && state.payouts.outputs) {
        out = state.payouts.outputs.find(function (o) { return o.address === s.address; });
      }
      var dl = el('dl');
      var row = function (k, v) { dl.appendChild(el('dt', { text: k })); dl.appendChild(v); };
      var link = function (id) { return el('a', { href: '#share/' + id, className: 'mono', text: id }); };
      row('Share', el('dd', { className: 'mono', text: s.id }));
      row('Height', el('dd', { text: s.height + (s.on_best_chain ? ' (best chain)' : ' (side chain)') }));
      row('Miner', el('dd', { className: 'mono', text: s.address }, mineTag(s.address)));
      row('Difficulty', el('dd', { text: num(s.difficulty) + ' (work ' + s.work + ')' }));
      row('Time', el('dd', { text: new Date(s.timestamp * 1000).toLocaleString() + ', ' + ago(s.timestamp) }));
      row('Parent block', el('dd', { text: String(s.parent_height) }));
      row('Previous', el('dd', {}, link(s.prev)));
      var uncles = el('dd');
      if (!s.uncle_ids.length) uncles.textContent = 'none';
      s.uncle_ids.forEach(function (u) { uncles.appendChild(link(u)); uncles.appendChild(el('br')); });
      row('Uncles', uncles);
      row('Miner\'s payout', el('dd', {
        text: out ? out.amount_coins + ' (' + out.percent.toFixed(2) + ' %) in the next block found' : 'not in the current window',
      }));
      box.replaceChildren(el('h3', { text: 'Share detail' }), dl, el('a', { href: '#', text: 'close' }));
    }).catch(function () { setLive(false, 'node unreachable'); });
  }

  /* ---- charts ---- */
  function css(name) { return getComputedStyle(document.documentElement).getPropertyValue(name).trim(); }

  function deltas(h, key) {
    return h[key].map(function (v, i) { return i === 0 ? null : Math.max(0, v - h[key][i - 1]); });
  }

  function chartData(h) {
    var own = deltas(h, 'shares_own');
    var total = deltas(h, 'shares_total');
    var side = deltas(h, 'shares_side');
    var acc = deltas(h, 'submits_accepted');
    var stale = deltas(h, 'submits_stale');
    var ratio = function (a, b) { return a.map(function (x, i) { return b[i] ? 100 * x / b[i] : null; }); };
    var staleOf = acc.map(function (a, i) { return a === null ? null : a + stale[i]; });
    return {
      hashrate: [h.time, h.pool_hashrate, h.local_hashrate],
      difficulty: [h.time, h.share_difficulty],
      shares: [h.time, own, total.map(function (t, i) { return t === null ? null : Math.max(0, t - own[i]); })],
      rates: [h.time, ratio(stale, staleOf), ratio(side, total)],
    };
  }

  var SERIES = {
    hashrate: [['pool', '--accent2', hashrate], ['local', '--accent', hashrate]],
    difficulty: [['share difficulty', '--accent', num]],
    shares: [['own', '--accent', num], ['others', '--accent2', num]],
    rates: [['stale %', '--bad', num], ['uncle %', '--accent2', num]],
  };

  function makeChart(key, data) {
    var box = $('chart-' + key);
    var fg = css('--muted');
    var grid = css('--grid');
    var fmt = SERIES[key][0][2];
    var axis = { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
    var steps = key === 'shares' && uPlot.paths && uPlot.paths.stepped ? uPlot.paths.stepped({ align: -1 }) : undefined;
    var opts = {
      width: Math.max(200, box.clientWidth), height: CHART_HEIGHT,
      scales: { x: { time: true } },
      series: [{}].concat(SERIES[key].map(function (s) {
        return { label: s[0], stroke: css(s[1]), width: 1.5, paths: steps, spanGaps: key !== 'rates',
          value: function (u, v) { return v === null ? '–' : s[2](v); } };
      })),
      axes: [Object.assign({}, axis), Object.assign({ size: 60, values: function (u, vals) { return vals.map(fmt); } }, axis)],
    };
    box.replaceChildren();
    return new uPlot(opts, data, box);
  }

  function drawCharts(rebuild) {
    if (!state.history || typeof uPlot === 'undefined') return;
    var data = chartData(state.history);
    Object.keys(SERIES).forEach(function (key) {
      var chart = state.charts[key];
      if (!chart || rebuild) {
        if (chart) chart.destroy();
        state.charts[key] = makeChart(key, data[key]);
      } else {
        chart.setData(data[key]);
      }
      $('chart-' + key).dataset.points = String(data[key][0].length);
    });
  }

  function loadHistory() {
    return rpc([['gethistory', { span: state.span }]]).then(function (res) {
      if (!res[0].ok) return;
      state.history = res[0].value;
      drawCharts(false);
    }).catch(function () { setLive(false, 'node unreachable'); });
  }

  /* ---- live updates ---- */
  function setLive(on, text) {
    var live = $('live');
    live.className = 'live ' + (on ? 'on' : 'off');
    live.textContent = text || (on ? 'live' : 'reconnecting');
  }

  var backoff = 1000;
  function connect() {
    var es = new EventSource('/events');
    es.onopen = function () {
      backoff = 1000;
      state.connects += 1;
      document.body.dataset.connects = String(state.connects);
      setLive(true);
      /* After a reconnection the node may have restarted: everything may have changed. */
      if (state.connects > 1) { refreshAll(); loadHistory(); }
    };
    es.addEventListener('share', function () { schedule(['status', 'shares', 'payouts', 'miners']); });
    es.addEventListener('block', function () { schedule(['status', 'blocks', 'payouts']); });
    es.addEventListener('miner_connected', function () { schedule(['miners']); });
    es.addEventListener('miner_disconnected', function () { schedule(['miners']); });
    es.onerror = function () {
      setLive(false);
      /* The browser retries by itself unless the stream was refused outright (CLOSED); then
       * start a new one, backing off while the node is away. */
      if (es.readyState === EventSource.CLOSED) {
        es.close();
        setTimeout(connect, backoff);
        backoff = Math.min(backoff * 2, RECONNECT_MAX_MS);
      }
    };
  }

  function tick() {
    Array.prototype.forEach.call(document.querySelectorAll('.ago'), function (node) {
      var t = Number(node.dataset.time);
      if (t) node.textContent = ago(t);
    });
  }

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll('.toggle button'), function (b) {
      b.addEventListener('click', function () {
        state.span = b.dataset.span;
        Array.prototype.forEach.call(document.querySelectorAll('.toggle button'), function (o) {
          o.classList.toggle('on', o === b);
        });
        loadHistory();
      });
    });
    window.addEventListener('hashchange', showShare);
    /* Coming back to the window shows fresh numbers at once, not at the next poll. */
    window.addEventListener('focus', function () { refreshAll(); });
    var dark = window.matchMedia('(prefers-color-scheme: dark)');
    if (dark.addEventListener) dark.addEventListener('change', function () { drawCharts(true); });
    if (window.ResizeObserver) {
      var resize = new ResizeObserver(function () {
        Object.keys(state.charts).forEach(function (key) {
          var w = Math.max(200, $('chart-' + key).clientWidth);
          if (state.charts[key].width !== w) state.charts[key].setSize({ width: w, height: CHART_HEIGHT });
        });
      });
      Object.keys(SERIES).forEach(function (key) { resize.observe($('chart-' + key)); });
    }
    connect();
    Promise.all([refreshAll(), loadHistory()]).then(function () {
      showShare();
      document.body.dataset.ready = '1';
    });
    setInterval(function () { schedule(['status', 'miners', 'peers']); }, POLL_MS);
    setInterval(loadHistory, HISTORY_MS);
    setInterval(tick, 1000);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
