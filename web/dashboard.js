// The live operations page (web/dashboard.html, served at /dashboard). No build step, no framework:
// Chart.js (window.Chart, served by this server at /dashboard/chart.js) draws the charts.
//
// What it does: asks for the admin token once (kept in sessionStorage, this tab only), fills the
// charts with the last 10 minutes (GET /api/v1/admin/live/history), then appends each snapshot of
// the live stream (GET /api/v1/admin/live, SSE, token as ?access_token= since EventSource sends no
// headers), keeping 10 minutes. The alert list is read every 5 s (GET /api/v1/admin/alerts) and
// from each snapshot's firing alerts in between. A lost stream, or the server's `shutdown` event,
// is reconnected with a growing delay, and the history read again to fill the gap; a refused token
// (401/403) asks for the token again.
(() => {
  const API = '/api/v1';
  const TOKEN_KEY = 'stampede.adminToken';
  const WINDOW_MS = 10 * 60 * 1000;
  const HISTORY_MINUTES = 10;
  const ALERTS_EVERY_MS = 5000;
  const RESOLVED_SHOWN = 10;
  const ROUTES_SHOWN = 6;
  const RETRY_FIRST_MS = 1000;
  const RETRY_MAX_MS = 15000;

  const $ = (id) => document.getElementById(id);
  const ChartJs = window.Chart;

  const state = {
    token: null,
    source: null,
    retryMs: RETRY_FIRST_MS,
    retryTimer: null,
    alertsTimer: null,
    lastAt: 0,
    /** The oldest second kept (the axis starts there until the window is full). */
    firstAt: 0,
    latest: null,
    /** Alerts from the last /admin/alerts read, newest first. */
    polled: [],
    alertsKey: '',
    /** Bumped by every (re)start and stop: answers of an older generation are ignored. */
    generation: 0,
  };

  // ---- storage (a browser may refuse it: the token then lasts as long as the page) -------------

  function stored() {
    try {
      return sessionStorage.getItem(TOKEN_KEY);
    } catch {
      return null;
    }
  }
  function store(value) {
    try {
      if (value === null) sessionStorage.removeItem(TOKEN_KEY);
      else sessionStorage.setItem(TOKEN_KEY, value);
    } catch {
      // kept in memory only
    }
  }

  // ---- formatting ------------------------------------------------------------------------------

  const numberFormats = new Map();
  function num(v, digits) {
    let f = numberFormats.get(digits);
    if (!f) {
      f = new Intl.NumberFormat(undefined, { maximumFractionDigits: digits, minimumFractionDigits: 0 });
      numberFormats.set(digits, f);
    }
    return f.format(v);
  }
  /** A rate or a count: fewer decimals as it grows. */
  const amount = (v) => (v === null || v === undefined ? '–' : num(v, Math.abs(v) < 10 ? 1 : 0));
  const ms = (v) => (v === null || v === undefined ? '–' : `${num(v, v < 10 ? 2 : v < 100 ? 1 : 0)} ms`);
  const percent = (share) => `${num(share * 100, share < 0.1 ? 2 : 1)} %`;
  const mib = (bytes) => `${num(bytes / 1048576, 0)} MiB`;
  const clock = (t) =>
    new Date(t).toLocaleTimeString([], {
      hour12: false,
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
  const minute = (t) =>
    new Date(t).toLocaleTimeString([], { hour12: false, hour: '2-digit', minute: '2-digit' });
  const label = (key) => key.replaceAll('_', ' ');

  const UNITS = {
    rate: (v) => `${amount(v)}/s`,
    count: amount,
    ms,
    share: percent,
    seconds: (v) => `${num(v, v < 1 ? 2 : v < 10 ? 1 : 0)} s`,
    cores: (v) => num(v, 2),
    mib: (v) => `${num(v, 0)} MiB`,
    rows: (v) => num(v, 1),
  };

  // ---- charts ----------------------------------------------------------------------------------

  const PALETTE = ['#2563eb', '#d97706', '#059669', '#db2777', '#7c3aed', '#0891b2', '#65a30d', '#dc2626'];
  const STATUS_COLOURS = { '2xx': '#059669', '3xx': '#2563eb', '4xx': '#d97706', '5xx': '#dc2626' };
  const OUTCOME_COLOURS = { paid: '#059669', issued: '#059669', held: '#059669' };
  const DASHED = [6, 4];
  const DOTTED = [2, 3];

  function cssVar(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }
  function theme() {
    if (!ChartJs) return;
    ChartJs.defaults.color = cssVar('--muted');
    ChartJs.defaults.borderColor = cssVar('--grid');
    ChartJs.defaults.font.family = getComputedStyle(document.body).fontFamily;
  }

  function axis(unit, title, position, extra) {
    return {
      type: 'linear',
      position,
      beginAtZero: true,
      title: { display: Boolean(title), text: title },
      ticks: { callback: (v) => UNITS[unit](v), maxTicksLimit: 5 },
      grid: { drawOnChartArea: position === 'left' },
      ...extra,
    };
  }

  /**
   * One chart panel: a line chart over time (x = ms since the epoch), its datasets by key. `missing`
   * is what a dataset gets in a snapshot that does not mention it: 0 for rates (nothing happened),
   * null for gauges (a gap). Datasets made on the way (`dynamic`: one per drop, room, outcome) are
   * dropped once nothing but zeros is left of them in the window.
   */
  function panel(id, { y, y1, stacked = false, missing = 0 }) {
    const scales = {
      x: {
        type: 'linear',
        // Ticks on round seconds or minutes (draw() sets the step), not at the window's ends.
        afterBuildTicks: (scale) => {
          const step = scale.options.ticks.stepSize;
          const ticks = [];
          for (let t = Math.ceil(scale.min / step) * step; t <= scale.max; t += step)
            ticks.push({ value: t });
          scale.ticks = ticks;
        },
        ticks: { callback: clock, stepSize: 60000, maxRotation: 0 },
        grid: { display: false },
      },
      y: axis(y.unit, y.title, 'left', stacked ? { stacked: true } : {}),
    };
    if (y1) scales.y1 = axis(y1.unit, y1.title, 'right');
    const units = { y: y.unit, y1: y1?.unit };
    const chart = new ChartJs($(id), {
      type: 'line',
      data: { datasets: [] },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        parsing: false,
        normalized: true,
        interaction: { mode: 'nearest', axis: 'x', intersect: false },
        elements: { point: { radius: 0, hitRadius: 6 }, line: { borderWidth: 2, tension: 0 } },
        plugins: {
          legend: { position: 'bottom', labels: { boxWidth: 14, boxHeight: 3 } },
          tooltip: {
            callbacks: {
              title: (items) => (items.length ? clock(items[0].parsed.x) : ''),
              label: (item) =>
                `${item.dataset.label}: ${item.parsed.y === null ? '–' : UNITS[units[item.dataset.yAxisID ?? 'y']](item.parsed.y)}`,
            },
          },
        },
        scales,
      },
    });
    return { chart, sets: new Map(), missing, stacked, colours: 0 };
  }

  /** The panel's dataset for `key`, made with `make(colour)` the first time. */
  function dataset(p, key, make, dynamic) {
    let d = p.sets.get(key);
    if (!d) {
      const colour = PALETTE[p.colours++ % PALETTE.length];
      d = {
        key,
        dynamic,
        data: [],
        yAxisID: 'y',
        borderColor: colour,
        backgroundColor: colour,
        spanGaps: false,
        ...make(colour),
      };
      p.sets.set(key, d);
      p.chart.data.datasets.push(d);
    }
    return d;
  }

  /**
   * Appends one second to a panel: `rows` are [key, y, make(colour) → dataset options, dynamic?];
   * every other dataset of the panel gets the panel's `missing` value at x.
   */
  function append(p, x, rows) {
    const seen = new Set();
    for (const [key, y, make, dynamic = false] of rows) {
      const d = dataset(p, key, make, dynamic);
      d.data.push({ x, y: y === undefined ? p.missing : y });
      seen.add(key);
    }
    for (const d of p.sets.values()) if (!seen.has(d.key)) d.data.push({ x, y: p.missing });
  }

  /** Drops points older than the window, and dynamic datasets with nothing left to show. */
  function trim(p, from) {
    for (const d of [...p.sets.values()]) {
      let n = 0;
      while (n < d.data.length && d.data[n].x < from) n++;
      if (n) d.data.splice(0, n);
      if (d.dynamic && !d.data.some((pt) => pt.y)) {
        p.sets.delete(d.key);
        p.chart.data.datasets.splice(p.chart.data.datasets.indexOf(d), 1);
      }
    }
  }

  const panels = ChartJs ? makePanels() : null;

  function makePanels() {
    theme();
    return {
      rps: panel('chart-rps', { y: { unit: 'count', title: 'req/s' } }),
      latency: panel('chart-latency', { y: { unit: 'ms', title: 'ms' }, missing: null }),
      errors: panel('chart-errors', {
        y: { unit: 'count', title: 'answers/s' },
        y1: { unit: 'share', title: '5xx share' },
        stacked: true,
      }),
      coupons: panel('chart-coupons', { y: { unit: 'count', title: 'per second' } }),
      rooms: panel('chart-rooms', {
        y: { unit: 'count', title: 'people' },
        y1: { unit: 'count', title: 'admitted/s' },
        missing: null,
      }),
      holds: panel('chart-holds', { y: { unit: 'count', title: 'per second' } }),
      orders: panel('chart-orders', { y: { unit: 'count', title: 'per second' } }),
      commits: panel('chart-commits', {
        y: { unit: 'rows', title: 'rows/batch' },
        y1: { unit: 'ms', title: 'commit ms' },
        missing: null,
      }),
      outbox: panel('chart-outbox', { y: { unit: 'seconds', title: 'lag s' }, missing: null }),
      loop: panel('chart-loop', { y: { unit: 'ms', title: 'ms' } }),
      pool: panel('chart-pool', { y: { unit: 'count', title: 'connections' } }),
      process: panel('chart-process', {
        y: { unit: 'cores', title: 'CPU cores' },
        y1: { unit: 'mib', title: 'RSS MiB' },
      }),
    };
  }

  const line = (text, extra) => () => ({ label: text, ...extra });
  const lineColoured = (text, colour, extra) => () => ({
    label: text,
    borderColor: colour,
    backgroundColor: colour,
    ...extra,
  });
  const perSecond = (s, value) => value / Math.max(1, s.seconds || 1);

  /** One snapshot into every panel (its second, x, is its `at`). */
  function record(s) {
    const x = Date.parse(s.at);
    const P = panels;
    append(P.rps, x, [
      ['rps', s.http.rps, line('requests/s', { fill: 'origin', backgroundColor: '#2563eb33' })],
    ]);
    append(P.latency, x, [
      ['p50', s.http.p50, lineColoured('p50', '#059669')],
      ['p95', s.http.p95, lineColoured('p95', '#d97706')],
      ['p99', s.http.p99, lineColoured('p99', '#dc2626')],
    ]);
    const statusRows = ['2xx', '3xx', '4xx', '5xx'].map((cls) => [
      cls,
      perSecond(s, s.http.statuses?.[cls] ?? 0),
      () => ({
        label: `${cls}/s`,
        borderColor: STATUS_COLOURS[cls],
        backgroundColor: `${STATUS_COLOURS[cls]}55`,
        fill: 'stack',
        stack: 'status',
        borderWidth: 1,
      }),
    ]);
    statusRows.push([
      'errorRate',
      s.http.errorRate,
      lineColoured('5xx share', cssVar('--text') || '#16181d', {
        yAxisID: 'y1',
        borderDash: DASHED,
        stack: 'rate',
      }),
    ]);
    append(P.errors, x, statusRows);

    const coupons = [];
    for (const c of s.coupons ?? []) {
      const issued = `${c.couponId}:issued`;
      const soldOut = `${c.couponId}:sold_out`;
      // Both lines of one drop share its colour: issued solid, sold out dashed.
      const colour = P.coupons.sets.get(issued)?.borderColor ?? P.coupons.sets.get(soldOut)?.borderColor;
      coupons.push([
        issued,
        c.perSecond.issued ?? 0,
        (own) => ({
          label: `drop ${c.couponId} issued/s`,
          borderColor: colour ?? own,
          backgroundColor: colour ?? own,
        }),
        true,
      ]);
      coupons.push([
        soldOut,
        c.perSecond.sold_out ?? 0,
        () => {
          const same = P.coupons.sets.get(issued)?.borderColor;
          return {
            label: `drop ${c.couponId} sold out/s`,
            borderColor: same,
            backgroundColor: same,
            borderDash: DASHED,
          };
        },
        true,
      ]);
    }
    append(P.coupons, x, coupons);

    const rooms = [];
    for (const r of s.waitingRooms ?? []) {
      const k = (what) => `${r.roomId}:${what}`;
      const colourOf = (own) => P.rooms.sets.get(k('waiting'))?.borderColor ?? own;
      rooms.push([
        k('waiting'),
        r.waiting,
        (own) => ({
          label: `room ${r.roomId} waiting`,
          borderColor: colourOf(own),
          backgroundColor: colourOf(own),
        }),
        true,
      ]);
      rooms.push([
        k('active'),
        r.active,
        (own) => ({
          label: `room ${r.roomId} active`,
          borderColor: colourOf(own),
          backgroundColor: colourOf(own),
          borderDash: DASHED,
        }),
        true,
      ]);
      rooms.push([
        k('admitted'),
        r.admittedPerSecond,
        (own) => ({
          label: `room ${r.roomId} admitted/s`,
          borderColor: colourOf(own),
          backgroundColor: colourOf(own),
          borderDash: DOTTED,
          yAxisID: 'y1',
        }),
        true,
      ]);
    }
    append(P.rooms, x, rooms);

    const holds = s.concerts?.holdsPerSecond ?? {};
    const payments = s.concerts?.paymentsPerSecond ?? {};
    append(P.holds, x, [
      ['held', holds.held ?? 0, lineColoured('held/s', '#059669')],
      ['seat_unavailable', holds.seat_unavailable ?? 0, lineColoured('seat unavailable/s', '#d97706')],
      ['paid', payments.paid ?? 0, lineColoured('paid/s', '#2563eb', { borderDash: DASHED, order: -1 })],
    ]);

    append(
      P.orders,
      x,
      Object.entries(s.orders?.perSecond ?? {}).map(([outcome, v]) => [
        outcome,
        v,
        (own) => ({
          label: `${label(outcome)}/s`,
          borderColor: OUTCOME_COLOURS[outcome] ?? own,
          backgroundColor: OUTCOME_COLOURS[outcome] ?? own,
        }),
        true,
      ]),
    );

    append(P.commits, x, [
      ['meanBatch', s.commits?.meanBatch ?? null, lineColoured('rows per batch', '#2563eb')],
      [
        'meanCommitMs',
        s.commits?.meanCommitMs ?? null,
        lineColoured('commit ms', '#d97706', { yAxisID: 'y1', borderDash: DASHED }),
      ],
    ]);

    append(
      P.outbox,
      x,
      Object.entries(s.outbox?.lagSeconds ?? {}).map(([dest, v]) => [dest, v, line(`${dest} lag`), true]),
    );

    append(P.loop, x, [['p99', s.eventLoop?.p99Ms ?? 0, lineColoured('event-loop p99', '#7c3aed')]]);

    const pool = s.pool ?? { total: 0, idle: 0, waiting: 0 };
    append(P.pool, x, [
      ['inUse', Math.max(0, pool.total - pool.idle), lineColoured('in use', '#2563eb')],
      ['waiting', pool.waiting, lineColoured('waiting', '#dc2626')],
      ['total', pool.total, lineColoured('open', '#64748b', { borderDash: DASHED, borderWidth: 1 })],
    ]);

    const proc = s.process ?? {};
    append(P.process, x, [
      ['cpu', proc.cpuCores ?? 0, lineColoured('CPU (all processes)', '#2563eb')],
      ['maxCpu', proc.maxCpuCores ?? 0, lineColoured('CPU (busiest)', '#0891b2', { borderDash: DOTTED })],
      [
        'rss',
        (proc.rssBytes ?? 0) / 1048576,
        lineColoured('RSS MiB', '#d97706', { yAxisID: 'y1', borderDash: DASHED }),
      ],
    ]);
  }

  /**
   * Tick spacing of the time axis over `span` ms, on round seconds or minutes: at most 4 ticks
   * with seconds (HH:MM:SS), 5 without (HH:MM), so the labels fit a narrow chart.
   */
  const STEPS = [5, 10, 15, 30, 60, 120, 300].map((sec) => sec * 1000);
  const stepFor = (span) =>
    STEPS.find((step) => span / step <= (step < 60 * 1000 ? 4 : 5)) ?? STEPS[STEPS.length - 1];

  function draw() {
    if (!panels || document.hidden || !state.lastAt) return;
    // The axis covers what is kept: up to the window, at least a minute.
    state.firstAt = Math.max(state.firstAt, state.lastAt - WINDOW_MS);
    const from = Math.min(state.firstAt, state.lastAt - 60 * 1000);
    const step = stepFor(state.lastAt - from);
    for (const p of Object.values(panels)) {
      trim(p, from);
      const x = p.chart.options.scales.x;
      x.min = from;
      x.max = state.lastAt;
      x.ticks.stepSize = step;
      x.ticks.callback = step < 60 * 1000 ? clock : minute;
      p.chart.update('none');
    }
  }

  /** A snapshot newer than the last one kept (older ones, e.g. history overlapping the stream, are skipped). */
  function add(s) {
    const at = Date.parse(s.at);
    if (!Number.isFinite(at) || at <= state.lastAt) return false;
    if (panels) record(s);
    if (!state.firstAt) state.firstAt = at;
    state.lastAt = at;
    state.latest = s;
    return true;
  }

  // ---- text: the latest second, routes, breakers, alerts -----------------------------------------

  function setText(id, text) {
    const el = $(id);
    if (el.textContent !== text) el.textContent = text;
  }

  function topOf(rec, n, fmt) {
    return Object.entries(rec ?? {})
      .filter(([, v]) => v > 0)
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, v]) => fmt(k, v))
      .join(', ');
  }

  function describe(s) {
    const h = s.http;
    setText(
      'updated',
      `Last second: ${clock(Date.parse(s.at))} · ${s.processes} process${s.processes === 1 ? '' : 'es'}`,
    );
    setText('rps-now', `${amount(h.rps)} requests/s`);
    setText('latency-now', `p50 ${ms(h.p50)} · p95 ${ms(h.p95)} · p99 ${ms(h.p99)} · mean ${ms(h.mean)}`);
    const mix = topOf(h.statuses, 4, (k, v) => `${k} ${amount(perSecond(s, v))}/s`);
    setText('errors-now', `5xx ${percent(h.errorRate)}${mix ? ` · ${mix}` : ''}`);

    const drops = (s.coupons ?? [])
      .map((c) => ({ id: c.couponId, total: Object.values(c.perSecond).reduce((a, b) => a + b, 0), c }))
      .sort((a, b) => b.total - a.total)
      .slice(0, 3)
      .map(({ id, c }) => `drop ${id}: ${topOf(c.perSecond, 5, (k, v) => `${amount(v)} ${label(k)}/s`)}`);
    setText('coupons-now', drops.length ? drops.join(' · ') : 'No coupon issued or refused this second.');

    const rooms = (s.waitingRooms ?? [])
      .slice(0, 3)
      .map(
        (r) =>
          `room ${r.roomId}: ${amount(r.waiting)} waiting, ${amount(r.active)} active, ${amount(r.admittedPerSecond)} admitted/s`,
      );
    setText('rooms-now', rooms.length ? rooms.join(' · ') : 'No waiting room in use.');

    const holds = topOf(s.concerts?.holdsPerSecond, 4, (k, v) => `${amount(v)} ${label(k)}/s`);
    const pays = topOf(s.concerts?.paymentsPerSecond, 4, (k, v) => `${amount(v)} ${label(k)}/s`);
    setText(
      'holds-now',
      holds || pays
        ? `holds: ${holds || 'none'} · payments: ${pays || 'none'}`
        : 'No seat hold or payment this second.',
    );

    const orders = topOf(s.orders?.perSecond, 6, (k, v) => `${amount(v)} ${label(k)}/s`);
    setText('orders-now', orders || 'No order this second.');

    const c = s.commits;
    setText(
      'commits-now',
      c
        ? `${amount(c.batchesPerSecond)} batches/s · ${amount(c.rowsPerSecond)} rows/s · ${c.meanBatch === null ? '–' : num(c.meanBatch, 1)} rows/batch · ${ms(c.meanCommitMs)} a commit · ${amount(c.depth)} waiting`
        : '–',
    );

    const lag = topOf(s.outbox?.lagSeconds, 4, (k, v) => `${k} ${UNITS.seconds(v)} behind`);
    const delivered = topOf(s.outbox?.deliveredPerSecond, 4, (k, v) => `${k} ${amount(v)}/s`);
    setText('outbox-now', `${lag || 'no lag'} · delivered: ${delivered || 'none'}`);

    setText('loop-now', `${ms(s.eventLoop?.p99Ms ?? 0)} (worst process)`);

    const pool = s.pool;
    setText(
      'pool-now',
      pool
        ? `${amount(pool.total - pool.idle)} of ${amount(pool.total)} open in use (${percent(pool.inUseShare)} of the largest pool's maximum) · ${amount(pool.waiting)} waiting`
        : '–',
    );

    const p = s.process;
    setText(
      'process-now',
      p
        ? `CPU ${num(p.cpuCores, 2)} cores (busiest process ${num(p.maxCpuCores, 2)}) · RSS ${mib(p.rssBytes)} · heap ${mib(p.heapUsedBytes)} · ${percent(p.memoryShare)} of the machine's memory`
        : '–',
    );

    routes(h.routes ?? []);
    breakers(s.breakers ?? {});
  }

  function cell(text, className) {
    const td = document.createElement('td');
    td.textContent = text;
    if (className) td.className = className;
    return td;
  }

  /** A route, breakable after each `/` on a narrow column. */
  function routeCell(route) {
    const td = document.createElement('td');
    td.className = 'route';
    route.split('/').forEach((part, i) => {
      if (i > 0) td.append('/', document.createElement('wbr'));
      td.append(part);
    });
    return td;
  }

  function routes(list) {
    const body = $('routes-body');
    const top = [...list].sort((a, b) => b.rps - a.rps).slice(0, ROUTES_SHOWN);
    const rows = top.map((r) => {
      const tr = document.createElement('tr');
      tr.append(routeCell(r.route), cell(amount(r.rps), 'num'), cell(percent(r.errorRate), 'num'));
      return tr;
    });
    if (!rows.length) {
      const tr = document.createElement('tr');
      const td = cell('No requests this second.', 'hint');
      td.colSpan = 3;
      tr.append(td);
      rows.push(tr);
    }
    body.replaceChildren(...rows);
  }

  function breakers(rec) {
    const list = $('breakers');
    const names = Object.keys(rec).sort();
    list.replaceChildren(
      ...names.map((name) => {
        const li = document.createElement('li');
        li.dataset.state = rec[name];
        const n = document.createElement('span');
        n.textContent = `${name}: `;
        const st = document.createElement('span');
        st.className = 'state';
        st.textContent = rec[name];
        li.append(n, st);
        return li;
      }),
    );
    $('no-breakers').hidden = names.length > 0;
  }

  function alertItem(a, resolved) {
    const li = document.createElement('li');
    li.dataset.alertId = a.id;
    li.dataset.rule = a.rule;
    const badge = document.createElement('span');
    badge.className = `badge ${resolved ? 'resolved' : a.severity}`;
    badge.textContent = resolved ? 'resolved' : a.severity;
    const rule = document.createElement('span');
    rule.className = 'rule';
    rule.textContent = a.rule;
    const detail = document.createElement('span');
    detail.className = 'detail';
    detail.textContent = a.detail;
    const when = document.createElement('span');
    when.className = 'when';
    const started = clock(Date.parse(a.startedAt));
    when.textContent = resolved
      ? `${started} to ${clock(Date.parse(a.resolvedAt))} · last value ${num(a.value, 3)} (threshold ${num(a.threshold, 3)})`
      : `since ${started} · value ${num(a.value, 3)} (threshold ${num(a.threshold, 3)})`;
    li.append(badge, rule, detail, when);
    return li;
  }

  /**
   * Firing: the polled firing alerts and the latest snapshot's, less any the poll saw resolved (an
   * alert id is one episode of a rule, so a resolved id never fires again). Pages before tickets,
   * newest first. Resolved: the poll's, most recently resolved first.
   */
  function renderAlerts() {
    const resolvedIds = new Set(state.polled.filter((a) => a.state === 'RESOLVED').map((a) => a.id));
    const firing = new Map();
    for (const a of state.polled) if (a.state === 'FIRING') firing.set(a.id, a);
    for (const a of state.latest?.alerts ?? []) if (!resolvedIds.has(a.id)) firing.set(a.id, a);
    const list = [...firing.values()].sort(
      (a, b) =>
        (a.severity === b.severity ? 0 : a.severity === 'page' ? -1 : 1) ||
        b.startedAt.localeCompare(a.startedAt),
    );
    const resolved = state.polled
      .filter((a) => a.state === 'RESOLVED')
      .sort((a, b) => (b.resolvedAt ?? '').localeCompare(a.resolvedAt ?? ''))
      .slice(0, RESOLVED_SHOWN);
    const key = JSON.stringify([list, resolved]);
    if (key === state.alertsKey) return;
    state.alertsKey = key;
    $('alerts-firing').replaceChildren(...list.map((a) => alertItem(a, false)));
    $('alerts-resolved').replaceChildren(...resolved.map((a) => alertItem(a, true)));
    setText('firing-count', String(list.length));
    $('no-firing').hidden = list.length > 0;
    $('no-resolved').hidden = resolved.length > 0;
  }

  // ---- connection --------------------------------------------------------------------------------

  function connection(kind, text) {
    const el = $('connection');
    el.dataset.state = kind;
    setText('connection', text);
  }

  /** One admin API read: { status, body }; throws when the network failed. */
  async function api(path) {
    const res = await fetch(API + path, {
      headers: { accept: 'application/json', authorization: `Bearer ${state.token}` },
      cache: 'no-store',
    });
    let body = null;
    try {
      body = await res.json();
    } catch {
      body = null;
    }
    return { status: res.status, body };
  }
  const refused = (status) => status === 401 || status === 403;

  function stopStream() {
    clearTimeout(state.retryTimer);
    state.retryTimer = null;
    if (state.source) state.source.close();
    state.source = null;
  }

  function stop() {
    state.generation++;
    stopStream();
    clearInterval(state.alertsTimer);
    state.alertsTimer = null;
  }

  function askForToken(message) {
    stop();
    store(null);
    state.token = null;
    $('forget').hidden = true;
    $('login').hidden = false;
    $('login-error').textContent = message ?? '';
    $('login-button').disabled = false;
    connection(message ? 'refused' : 'idle', message ? 'Token refused' : 'Not connected');
    $('token').focus();
  }

  function retryLater(why) {
    stopStream();
    const delay = state.retryMs;
    state.retryMs = Math.min(RETRY_MAX_MS, state.retryMs * 2);
    connection('retrying', `${why}; reconnecting in ${Math.round(delay / 1000)} s…`);
    const generation = state.generation;
    state.retryTimer = setTimeout(() => {
      if (generation === state.generation) void connect();
    }, delay);
  }

  /** Reads the history (also the token's check), then opens the stream. */
  async function connect() {
    stopStream();
    const generation = state.generation;
    let r;
    try {
      r = await api(`/admin/live/history?minutes=${HISTORY_MINUTES}`);
    } catch {
      if (generation === state.generation) retryLater('The server does not answer');
      return;
    }
    if (generation !== state.generation) return;
    if (refused(r.status)) return askForToken('The server refused this token. Enter the admin token again.');
    if (r.status !== 200 || !Array.isArray(r.body?.items))
      return retryLater(`The history answered ${r.status}`);
    let added = false;
    for (const s of r.body.items) added = add(s) || added;
    if (added) {
      draw();
      describe(state.latest);
      renderAlerts();
    }
    openStream(generation);
  }

  function openStream(generation) {
    const es = new EventSource(`${API}/admin/live?access_token=${encodeURIComponent(state.token)}`);
    state.source = es;
    es.addEventListener('open', () => {
      if (generation !== state.generation) return;
      state.retryMs = RETRY_FIRST_MS;
      connection('live', 'Live');
    });
    es.addEventListener('snapshot', (e) => {
      if (generation !== state.generation) return;
      let s;
      try {
        s = JSON.parse(e.data);
      } catch {
        return;
      }
      if (!add(s)) return;
      draw();
      describe(s);
      renderAlerts();
      connection('live', 'Live');
    });
    es.addEventListener('shutdown', () => {
      if (generation !== state.generation) return;
      retryLater('The server is shutting down');
    });
    // The stream ended or never opened: reconnect ourselves, through the history, which fills the
    // gap and tells a refused token (EventSource cannot see the status) from a server away.
    es.addEventListener('error', () => {
      if (generation !== state.generation || state.source !== es) return;
      retryLater('The live stream was lost');
    });
  }

  async function pollAlerts() {
    const generation = state.generation;
    let r;
    try {
      r = await api('/admin/alerts');
    } catch {
      return; // the stream's state says the server is away
    }
    if (generation !== state.generation) return;
    if (refused(r.status)) return askForToken('The server refused this token. Enter the admin token again.');
    if (r.status === 200 && Array.isArray(r.body?.items)) {
      state.polled = r.body.items;
      renderAlerts();
    }
  }

  function start(token) {
    stop();
    state.token = token;
    state.retryMs = RETRY_FIRST_MS;
    $('login').hidden = true;
    $('forget').hidden = false;
    connection('retrying', `Loading the last ${HISTORY_MINUTES} minutes…`);
    void connect();
    void pollAlerts();
    state.alertsTimer = setInterval(pollAlerts, ALERTS_EVERY_MS);
  }

  // ---- the token form ----------------------------------------------------------------------------

  $('login-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const token = $('token').value.trim();
    if (!token) {
      $('login-error').textContent = 'Enter the admin token.';
      $('token').focus();
      return;
    }
    $('login-button').disabled = true;
    $('login-error').textContent = '';
    let status;
    try {
      const res = await fetch(`${API}/admin/alerts?state=firing`, {
        headers: { accept: 'application/json', authorization: `Bearer ${token}` },
        cache: 'no-store',
      });
      status = res.status;
      await res.body?.cancel();
    } catch {
      status = 0;
    }
    $('login-button').disabled = false;
    if (refused(status)) {
      $('login-error').textContent = 'The server refused this token.';
      $('token').select();
      return;
    }
    if (status !== 200) {
      $('login-error').textContent = status
        ? `The server answered ${status}; try again.`
        : 'The server does not answer; try again.';
      return;
    }
    $('token').value = '';
    store(token);
    start(token);
  });

  $('forget').addEventListener('click', () => askForToken());

  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) draw();
  });
  window.matchMedia?.('(prefers-color-scheme: dark)').addEventListener?.('change', () => {
    theme();
    if (panels) for (const p of Object.values(panels)) p.chart.update('none');
  });

  if (!ChartJs) connection('refused', 'Chart.js did not load: charts are off');
  const kept = stored();
  if (kept) start(kept);
  else askForToken();
})();
