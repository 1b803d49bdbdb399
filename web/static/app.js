// The tune dashboard: a single-page app over the REST API (/api/v1), in
// plain JavaScript so that it needs no build step. Pages: / (studies),
// /studies/{id} (one study) and /studies/{id}/trials/{number} (the study
// with one trial open). Charts are ECharts instances created once per page
// and fed with setOption, so thousands of trials cost no DOM per point.
(function () {
  'use strict';

  const API = '/api/v1';
  const POLL_MS = 2000;
  const PAGE_ROWS = 50;
  const STATES = ['waiting', 'running', 'complete', 'pruned', 'failed'];
  // What decided a trial's params (the trial's origin), in words.
  const ORIGINS = {
    startup: 'sampled at random while the sampler waits for enough finished trials to model',
    tpe: 'proposed by TPE from the finished trials',
    gp: 'proposed by a Gaussian process from the finished trials',
    cmaes: 'proposed by CMA-ES',
    random: 'sampled at random',
    qmc: 'a quasi-random (Sobol) point',
    enqueued: 'enqueued with fixed params',
    recorded: 'recorded as a finished trial (an import)',
  };
  // Why a failed trial failed (its failure_kind), in words.
  const FAILURES = {
    oom: 'ran out of memory',
    diverged: 'diverged: the loss became NaN or infinite',
    timeout: 'ran out of time, or did not reach its target',
    error: 'an error in the workload',
    preempted: 'preempted: its runner stopped or lost the lease',
  };
  const FINISHED = new Set(['complete', 'pruned', 'failed']);
  const COLORS = {
    waiting: '#9ca3af', running: '#10b981', complete: '#3b82f6', pruned: '#f59e0b', failed: '#ef4444',
  };
  const VALUE_KEY = '__value';

  const app = document.getElementById('app');
  const crumbs = document.getElementById('crumbs');
  const statusEl = document.getElementById('status');
  const banner = document.getElementById('banner');

  // The charts of the current page by name, for resizing and for tests.
  let charts = {};
  let page = null;

  // tuneDashboard is a debugging hook: tests (and curious users, from the
  // console) read what the page holds and what its charts were given.
  const dbg = window.tuneDashboard = {
    page: null, ready: false, polls: 0, trials: 0, renders: 0,
    chartNames: () => Object.keys(charts),
    // The series of a chart as ECharts holds them: name, type and the
    // number of data items.
    chartData(name) {
      const c = charts[name];
      if (!c) return null;
      const opt = c.getOption();
      return (opt.series || []).map(s => ({ name: s.name, type: s.type, points: (s.data || []).length }));
    },
    trial: n => (page && page.trial ? page.trial(n) : null),
    tableRows: () => app.querySelectorAll('table.trials tbody tr').length,
    // The tooltip a chart shows for one data item, as the browser holds
    // it: the HTML ECharts inserted and the elements it made.
    tooltip(name, seriesIndex, dataIndex) {
      const c = charts[name];
      if (!c) return null;
      c.dispatchAction({ type: 'showTip', seriesIndex, dataIndex });
      const box = [...c.getDom().querySelectorAll('div')].find(d => d.style.position === 'absolute' && d.innerHTML.includes('trial #'));
      return box ? { html: box.innerHTML, text: box.innerText, elements: box.querySelectorAll('*').length } : null;
    },
  };

  // ---- helpers -------------------------------------------------------

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k === 'style') e.style.cssText = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : v);
    }
    for (const c of children.flat()) {
      if (c == null || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  function fmt(v) {
    if (v == null || Number.isNaN(v)) return '—';
    if (typeof v !== 'number') return String(v);
    if (Number.isInteger(v) && Math.abs(v) < 1e7) return String(v);
    const a = Math.abs(v);
    if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(3);
    return String(+v.toPrecision(4));
  }

  function fmtParam(v) {
    return typeof v === 'number' ? fmt(v) : String(v);
  }

  // tip renders a tooltip from lines of plain text. ECharts inserts a
  // formatter's string as HTML, and runner names, metric names, param names
  // and choices are user text: each line is escaped here, so no tooltip
  // ever carries markup from the API (the CSP is a second line, not the
  // first).
  function tip(...lines) {
    return lines.filter(l => l != null && l !== '').map(escapeHTML).join('<br>');
  }

  function escapeHTML(v) {
    return String(v).replace(/[&<>"']/g, ch => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch]);
  }

  function ms(s) { return s ? Date.parse(s) : null; }

  function duration(t) {
    const a = ms(t.started_at);
    if (a == null) return null;
    const b = t.finished_at ? ms(t.finished_at) : Date.now();
    return (b - a) / 1000;
  }

  function fmtDuration(sec) {
    if (sec == null) return '—';
    if (sec < 1) return Math.round(sec * 1000) + ' ms';
    if (sec < 60) return sec.toFixed(1) + ' s';
    const m = Math.floor(sec / 60);
    if (m < 60) return m + 'm ' + Math.round(sec % 60) + 's';
    return Math.floor(m / 60) + 'h ' + (m % 60) + 'm';
  }

  function fmtTime(s) { return s ? new Date(s).toLocaleString() : '—'; }

  class ApiError extends Error {
    constructor(status, detail) { super(detail); this.status = status; }
  }

  // The API's bearer token, asked for once and kept for this tab's session
  // only (sessionStorage): closing the tab forgets it, and no other site
  // can read it.
  const TOKEN_KEY = 'tune.token';

  function token() {
    try { return sessionStorage.getItem(TOKEN_KEY) || ''; } catch (e) { return ''; }
  }

  async function getJSON(path) {
    const headers = { Accept: 'application/json' };
    const t = token();
    if (t) headers.Authorization = 'Bearer ' + t;
    let r;
    try {
      r = await fetch(API + path, { headers });
    } catch (e) {
      throw new ApiError(0, 'the server is not reachable');
    }
    if (!r.ok) {
      let detail = r.statusText;
      try { detail = (await r.json()).detail || detail; } catch (e) { /* not problem+json */ }
      if (r.status === 401) askForToken(t ? detail : '');
      throw new ApiError(r.status, detail);
    }
    return r.json();
  }

  // askForToken shows the sign-in form over the page (once, however many
  // polls were refused) and reloads the page's data when a token is given.
  function askForToken(why) {
    let form = document.getElementById('signin');
    if (!form) {
      const input = el('input', { type: 'password', name: 'token', autocomplete: 'off', placeholder: 'tune_…', 'aria-label': 'access token' });
      form = el('form', { id: 'signin', class: 'signin card' },
        el('h2', { text: 'This server asks for an access token' }),
        el('p', { class: 'muted' }, 'Paste a token with the read scope, made with ',
          el('code', { text: 'tune token create --name dashboard --scope read' }),
          ' (or the admin token in the data directory of ', el('code', { text: 'tune serve' }),
          '). It is kept for this tab only.'),
        el('p', { class: 'why', hidden: true }),
        el('div', { class: 'row' }, input, el('button', { type: 'submit', text: 'Sign in' })));
      form.addEventListener('submit', e => {
        e.preventDefault();
        const v = input.value.trim();
        if (!v) return;
        try { sessionStorage.setItem(TOKEN_KEY, v); } catch (err) { /* private mode: kept in memory below */ }
        form.remove();
        route();
      });
      document.body.insertBefore(form, app);
      input.focus();
    }
    const w = form.querySelector('.why');
    w.textContent = why ? 'The token was refused: ' + why : '';
    w.hidden = !why;
    setStatus(false, 'signed out');
  }

  function setStatus(ok, text) {
    statusEl.className = 'status ' + (ok ? 'live' : 'down');
    statusEl.textContent = text;
  }

  function showBanner(text) {
    banner.textContent = text;
    banner.hidden = !text;
  }

  // An error the page cannot recover from by polling again is a bug: it
  // goes to the console as well as the banner, so tests see it.
  function reportBug(e) {
    console.error(e && e.stack ? e.stack : e);
    showBanner('The dashboard hit an error: ' + e.message);
  }

  function stateBadge(state, prefix) {
    return el('span', { class: 'badge ' + (prefix || '') + state, text: state });
  }

  function countChips(counts) {
    return el('span', { class: 'chips' }, STATES.filter(s => counts[s] > 0).map(s =>
      el('span', { class: 'chip', style: '--c:' + COLORS[s], title: s, text: counts[s] + ' ' + s })));
  }

  // A study's objectives in order: its objectives when it has several,
  // else its one objective.
  function goalsOf(s) { return s.objectives && s.objectives.length ? s.objectives : [s.objective]; }
  function dirOf(g) { return g.direction || 'minimize'; }
  function goalsText(s) { return goalsOf(s).map(g => g.metric + ' ' + (dirOf(g) === 'maximize' ? '↑' : '↓')).join(', '); }
  function constraintText(c) {
    if (c.min != null && c.max != null) return c.min + ' ≤ ' + c.metric + ' ≤ ' + c.max;
    return c.metric + (c.min != null ? ' ≥ ' + c.min : ' ≤ ' + c.max);
  }

  // trialState is a trial's state badge, with why it failed and whether it
  // broke a constraint.
  function trialState(t) {
    return el('span', {}, stateBadge(t.state, 's-'),
      t.failure_kind ? el('span', { class: 'muted failure', title: FAILURES[t.failure_kind] || '', text: ' ' + t.failure_kind }) : null,
      t.feasible === false ? el('span', { class: 'infeasible', title: (t.violations || []).join('; '), text: ' infeasible' }) : null);
  }

  function finishedCount(c) { return c.complete + c.pruned + c.failed; }
  function totalCount(c) { return STATES.reduce((n, s) => n + (c[s] || 0), 0); }

  function progress(study) {
    const done = finishedCount(study.counts);
    if (study.max_trials > 0) {
      const pct = Math.min(100, 100 * done / study.max_trials);
      return el('span', { class: 'progress' },
        el('span', { class: 'bar' }, el('span', { style: 'width:' + pct.toFixed(1) + '%' })),
        done + ' / ' + study.max_trials);
    }
    return el('span', { class: 'progress' }, done + ' finished, no limit');
  }

  function newChart(name, node) {
    const c = echarts.init(node, null, { renderer: 'canvas' });
    charts[name] = c;
    return c;
  }

  function emptyTitle(text) {
    return { text, left: 'center', top: 'middle', textStyle: { color: '#9ca3af', fontSize: 13, fontWeight: 'normal' } };
  }

  // ---- routing -------------------------------------------------------

  function navigate(href) {
    history.pushState(null, '', href);
    route();
  }

  document.addEventListener('click', e => {
    const a = e.target.closest('a[data-nav]');
    if (!a || e.button !== 0 || e.ctrlKey || e.metaKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(a.getAttribute('href'));
  });
  window.addEventListener('popstate', route);
  window.addEventListener('resize', () => Object.values(charts).forEach(c => c.resize()));

  function route() {
    const path = location.pathname.replace(/\/+$/, '') || '/';
    let m;
    if ((m = path.match(/^\/studies\/([^/]+)(?:\/trials\/(\d+))?$/))) {
      const ref = decodeURIComponent(m[1]);
      const n = m[2] != null ? Number(m[2]) : null;
      if (page && page.kind === 'study' && page.ref === ref) {
        page.showTrial(n);
        return;
      }
      mount(studyPage(ref, n));
    } else if (path === '/') {
      mount(listPage());
    } else {
      mount(notFoundPage());
    }
  }

  function mount(p) {
    if (page) page.stop();
    for (const c of Object.values(charts)) c.dispose();
    charts = {};
    showBanner('');
    dbg.page = p.kind;
    dbg.ready = false;
    dbg.polls = 0;
    dbg.trials = 0;
    page = p;
    p.start();
  }

  // poller runs fn every POLL_MS until stopped, never two at once.
  function poller(fn, onNotFound) {
    let timer = null, stopped = false;
    async function tick() {
      // A hidden tab costs the server nothing; it catches up when shown.
      if (document.hidden && dbg.polls > 0) {
        if (!stopped) timer = setTimeout(tick, POLL_MS);
        return;
      }
      try {
        await fn();
        dbg.polls++;
        setStatus(true, 'live · ' + new Date().toLocaleTimeString());
      } catch (e) {
        if (e instanceof ApiError) {
          setStatus(false, e.status === 0 ? 'offline, retrying' : e.status === 401 ? 'signed out' : 'error ' + e.status + ', retrying');
          if (e.status === 401) {
            // Nothing to poll for until a token is given; the sign-in form
            // mounts the page again then.
            stopped = true;
            dbg.ready = true;
            return;
          }
          if (e.status === 404 && onNotFound) {
            stopped = true;
            onNotFound();
            dbg.ready = true;
            return;
          }
        } else {
          reportBug(e);
        }
      }
      if (!stopped) timer = setTimeout(tick, POLL_MS);
    }
    return {
      start() { tick(); },
      stop() { stopped = true; clearTimeout(timer); },
    };
  }

  function notFoundPage() {
    return {
      kind: 'notfound',
      start() {
        crumbs.replaceChildren();
        app.replaceChildren(el('div', { class: 'empty' }, 'No such page. ', el('a', { href: '/', 'data-nav': true, text: 'All studies' })));
        dbg.ready = true;
      },
      stop() {},
    };
  }

  // ---- the list of studies -------------------------------------------

  function listPage() {
    const tbody = el('tbody');
    const table = el('table', { class: 'studies' },
      el('thead', {}, el('tr', {},
        el('th', { text: 'Study' }), el('th', { text: 'State' }), el('th', { text: 'Objective' }),
        el('th', { text: 'Trials by state' }), el('th', { class: 'num', text: 'Best value' }),
        el('th', { text: 'Progress' }), el('th', { class: 'num', text: 'Running runners' }),
        el('th', { text: 'Created' }))),
      tbody);
    const empty = el('div', { class: 'empty', hidden: true },
      'No studies yet. Create one with ', el('code', { text: 'tune study create -f study.yaml' }), '.');

    function row(s) {
      return el('tr', { 'data-study': s.id },
        el('td', {}, el('a', { href: '/studies/' + s.id, 'data-nav': true, text: s.name })),
        el('td', {}, stateBadge(s.state)),
        el('td', { text: goalsText(s) }),
        el('td', {}, countChips(s.counts)),
        el('td', { class: 'num', text: fmt(s.best_value) }),
        el('td', {}, progress(s)),
        el('td', { class: 'num', text: s.running_runners != null ? String(s.running_runners) : '—' }),
        el('td', { class: 'muted', text: fmtTime(s.created_at) }));
    }

    // GET /studies answers a page at a time: follow next_cursor so that
    // every study is listed.
    async function allStudies() {
      const items = [];
      let cursor = '';
      for (;;) {
        const pg = await getJSON('/studies?limit=1000' + (cursor ? '&cursor=' + encodeURIComponent(cursor) : ''));
        items.push(...pg.items);
        if (!pg.next_cursor || pg.items.length === 0) return items;
        cursor = pg.next_cursor;
      }
    }

    const poll = poller(async () => {
      const items = await allStudies();
      tbody.replaceChildren(...items.map(row));
      empty.hidden = items.length > 0;
      table.hidden = items.length === 0;
      dbg.studies = items.length;
      dbg.ready = true;
    });

    return {
      kind: 'list',
      start() {
        document.title = 'tune · studies';
        crumbs.replaceChildren('studies');
        app.replaceChildren(el('h1', { text: 'Studies' }), el('div', { class: 'card tablewrap' }, table, empty));
        poll.start();
      },
      stop() { poll.stop(); },
    };
  }

  // ---- one study -----------------------------------------------------

  // inferDirection guesses whether a metric is better small or large:
  // losses, times, seconds, memory and errors are minimized, anything
  // else maximized; objectives go the study's way.
  function inferDirection(key, study) {
    const goals = goalsOf(study);
    if (key === VALUE_KEY) return dirOf(goals[0]);
    const g = goals.find(g => g.metric === key);
    if (g) return dirOf(g);
    return /loss|seconds|time|memory|bytes|latency|error/i.test(key) ? 'minimize' : 'maximize';
  }

  // paretoFront returns the indices of the points that no other point
  // beats on both axes (better-or-equal on both, strictly on one).
  function paretoFront(points, maxX, maxY) {
    const idx = points.map((_, i) => i);
    const sx = maxX ? 1 : -1, sy = maxY ? 1 : -1;
    idx.sort((a, b) => (sx * points[b][0] - sx * points[a][0]) || (sy * points[b][1] - sy * points[a][1]));
    const front = [];
    let bestY = -Infinity;
    for (const i of idx) {
      const y = sy * points[i][1];
      if (y > bestY) { front.push(i); bestY = y; }
    }
    return front;
  }

  // hypervolumeSteps returns, for each prefix of points (2-D, both
  // minimized, in [0, 1]), the area they dominate up to the reference
  // point (1.1, 1.1). The front is kept sorted by x, so each point costs
  // at most the front's size.
  function hypervolumeSteps(points) {
    const R = 1.1, out = [];
    let front = [];
    for (const p of points) {
      if (!front.some(q => q[0] <= p[0] && q[1] <= p[1])) {
        front = front.filter(q => !(p[0] <= q[0] && p[1] <= q[1]));
        front.push(p);
        front.sort((a, b) => a[0] - b[0]);
      }
      let hv = 0, prevY = R;
      for (const q of front) { hv += (R - q[0]) * (prevY - q[1]); prevY = q[1]; }
      out.push(hv);
    }
    return out;
  }

  function studyPage(ref, openNumber) {
    const st = {
      study: null, trials: [], low: 0, openNumber,
      sortKey: 'number', sortAsc: true, pageNo: 0,
      xKey: null, yKey: VALUE_KEY, xDir: 'auto', yDir: 'auto',
      impCount: -1, impAt: 0, importance: null, front: null,
      dirty: false, chartsAt: 0, chartsMs: 0,
    };
    let id = null;
    let built = false;
    const nodes = {};

    function trialsList() { return st.trials.filter(Boolean); }
    function goals() { return goalsOf(st.study); }
    function primary() { return goals()[0]; }
    function multi() { return goals().length > 1; }

    // A multi-objective study's front is the service's (GET .../pareto):
    // non-dominated on all objectives, among feasible complete trials.
    async function fetchFront(changed) {
      if (!multi() || (!changed && st.front)) return false;
      const pg = await getJSON('/studies/' + id + '/pareto');
      st.front = new Set(pg.items.map(t => t.number));
      dbg.front = pg.items.length;
      return true;
    }

    // Finished trials never change, so after the first load only trials
    // from the lowest unfinished number on are fetched again.
    async function fetchTrials() {
      let changed = false;
      let cursor = st.low > 0 ? String(st.low - 1) : '';
      for (;;) {
        const q = '/studies/' + id + '/trials?limit=1000' + (cursor ? '&cursor=' + encodeURIComponent(cursor) : '');
        const pg = await getJSON(q);
        for (const t of pg.items) {
          if (differs(st.trials[t.number], t)) {
            st.trials[t.number] = t;
            changed = true;
          }
        }
        if (!pg.next_cursor) break;
        cursor = pg.next_cursor;
      }
      while (st.low < st.trials.length && st.trials[st.low] && FINISHED.has(st.trials[st.low].state)) st.low++;
      dbg.trials = trialsList().length;
      return changed;
    }

    function differs(a, b) {
      return !a || a.state !== b.state || a.value !== b.value || a.attempt !== b.attempt ||
        a.runner !== b.runner || a.started_at !== b.started_at || a.finished_at !== b.finished_at ||
        a.intermediate_values.length !== b.intermediate_values.length || a.error !== b.error ||
        JSON.stringify(a.metrics) !== JSON.stringify(b.metrics) ||
        JSON.stringify(a.intermediate_values) !== JSON.stringify(b.intermediate_values);
    }

    async function fetchImportance() {
      const c = st.study.counts.complete;
      if (c < 2) { st.importance = null; return false; }
      // Importance reads every complete trial; at most every 5 s.
      if (c === st.impCount || Date.now() - st.impAt < 5000) return false;
      st.impAt = Date.now();
      try {
        st.importance = await getJSON('/studies/' + id + '/importance');
        st.impCount = c;
      } catch (e) {
        if (!(e instanceof ApiError) || e.status !== 409) throw e;
        st.importance = null;
      }
      return true;
    }

    const poll = poller(async () => {
      const study = await getJSON('/studies/' + encodeURIComponent(id == null ? ref : id));
      const first = id == null;
      id = study.id;
      const studyChanged = JSON.stringify(study) !== JSON.stringify(st.study);
      st.study = study;
      if (first) build();
      const changed = await fetchTrials();
      const impChanged = await fetchImportance();
      await fetchFront(changed);
      const running = trialsList().some(t => t.state === 'running');
      if (first || changed || studyChanged || impChanged) {
        st.dirty = true;
        renderLight();
      }
      if (st.dirty && (first || heavyDue())) {
        renderCharts();
      } else if (running) {
        // Running bars grow with the clock.
        renderTimeline();
      }
      if (!st.dirty) dbg.ready = true;
    }, () => {
      // A study that is not there (or was deleted) is a page of its own,
      // not a bug.
      app.replaceChildren(el('div', { class: 'empty' }, 'Study ' + ref + ' does not exist. ',
        el('a', { href: '/', 'data-nav': true, text: 'All studies' })));
    });

    // ---- layout

    function card(title, body, opts) {
      opts = opts || {};
      return el('section', { class: 'card' + (opts.wide ? ' wide' : ''), id: opts.id },
        el('h2', {}, title, opts.hint ? el('span', { class: 'hint', text: opts.hint }) : null),
        body);
    }

    function build() {
      built = true;
      const s = st.study;
      document.title = 'tune · ' + s.name;
      crumbs.replaceChildren(el('a', { href: '/', 'data-nav': true, text: 'studies' }), ' / ' + s.name);
      nodes.head = el('section', { class: 'study-head' });
      nodes.history = el('div', { class: 'chart' });
      nodes.curves = el('div', { class: 'chart' });
      nodes.parallel = el('div', { class: 'chart tall' });
      nodes.importance = el('div', { class: 'chart' });
      nodes.pareto = el('div', { class: 'chart' });
      nodes.timeline = el('div', { class: 'chart' });
      nodes.slices = el('div', { class: 'slices' });
      buildProfileCard();
      nodes.table = el('div', { class: 'tablewrap' });
      nodes.pager = el('div', { class: 'pager' });
      nodes.xSel = el('select', { 'aria-label': 'x metric', onchange: e => { st.xKey = e.target.value; renderPareto(); } });
      nodes.ySel = el('select', { 'aria-label': 'y metric', onchange: e => { st.yKey = e.target.value; renderPareto(); } });
      const dirSel = (k) => el('select', { 'aria-label': k + ' direction', onchange: e => { st[k] = e.target.value; renderPareto(); } },
        ['auto', 'maximize', 'minimize'].map(d => el('option', { value: d, text: d === 'auto' ? 'auto' : d })));
      nodes.xDirSel = dirSel('xDir');
      nodes.yDirSel = dirSel('yDir');
      nodes.paretoInfo = el('span');
      nodes.panel = el('div', { class: 'overlay', hidden: true, onclick: e => { if (e.target === nodes.panel) closeTrial(); } });
      const legend = el('span', { class: 'legend' }, ['complete', 'pruned', 'failed', 'running'].map(k =>
        el('span', { class: 'chip', style: '--c:' + COLORS[k], text: k })));

      app.replaceChildren(
        nodes.head,
        el('div', { class: 'grid' },
          multi() ? card('Hypervolume', nodes.history, { hint: goals().length === 2
            ? 'area the front dominates, objectives scaled to the trials seen; higher is better'
            : 'best value of each objective so far, scaled to the trials seen (0 worst, 1 best)' })
            : card('Optimization history', nodes.history, { hint: 'complete trials and the best so far' }),
          card('Learning curves', nodes.curves, { hint: 'intermediate values by step; pruned curves stop early' }),
          card('Parallel coordinates', nodes.parallel, { wide: true, hint: 'complete trials, coloured by objective' }),
          card('Param importance', nodes.importance, { id: 'importance-card' }),
          card(multi() ? 'Pareto front' : 'Speed vs accuracy', el('div', {},
            el('div', { class: 'controls' },
              'x', nodes.xSel, nodes.xDirSel, 'y', nodes.ySel, nodes.yDirSel, nodes.paretoInfo),
            nodes.pareto), { hint: 'Pareto-optimal trials marked' }),
          card('Timeline', el('div', {}, legend, nodes.timeline), { wide: true, hint: 'one row per runner, one bar per trial' }),
          card('Slice plots', nodes.slices, { wide: true, hint: 'objective against each param' }),
          nodes.profileCard,
          card('Trials', el('div', {}, nodes.table, nodes.pager), { wide: true })),
        nodes.panel);

      for (const name of ['history', 'curves', 'parallel', 'importance', 'pareto', 'timeline', 'profile']) {
        newChart(name, nodes[name]);
      }
      nodes.sliceParams = Object.keys(s.search_space).sort();
      for (const p of nodes.sliceParams) {
        const n = el('div', { class: 'chart' });
        nodes.slices.append(n);
        newChart('slice:' + p, n);
      }
      // Clicking a point or bar opens its trial; every series keeps the
      // trial numbers of its points beside its data.
      for (const [name, c] of Object.entries(charts)) {
        c.on('click', p => {
          const nums = c.__numbers && c.__numbers[p.seriesIndex];
          const n = nums ? nums[p.dataIndex] : null;
          if (n != null) navigate('/studies/' + id + '/trials/' + n);
        });
      }
      document.addEventListener('keydown', onKey);
    }

    function onKey(e) { if (e.key === 'Escape' && st.openNumber != null) closeTrial(); }

    // The header, the table (one page of rows) and the open trial cost
    // little and follow every change. The charts cost more with every
    // trial (about half a second at 5,000 on a slow machine): while a big
    // study runs they redraw at most once per ten times their last
    // drawing time, so the page keeps at least 90% of its time for the user.
    function renderLight() {
      renderHead();
      renderTable();
      renderPanel();
    }

    function heavyDue() {
      return performance.now() - st.chartsAt >= 10 * st.chartsMs;
    }

    function renderCharts() {
      const t0 = performance.now();
      dbg.timings = {};
      for (const f of [multi() ? renderHypervolume : renderHistory, renderCurves, renderParallel, renderImportance,
        renderParetoControls, renderPareto, renderTimeline, renderSlices, renderProfile]) {
        const a = performance.now();
        f();
        dbg.timings[f.name] = Math.round(performance.now() - a);
      }
      st.chartsAt = performance.now();
      st.chartsMs = st.chartsAt - t0;
      st.dirty = false;
      dbg.renders++;
      dbg.renderMs = Math.round(st.chartsMs);
    }

    function runningRunners() {
      if (st.study.running_runners != null) return st.study.running_runners;
      return new Set(trialsList().filter(t => t.state === 'running').map(t => t.runner || '(ask/tell)')).size;
    }

    function renderHead() {
      const s = st.study;
      const best = s.best_trial_id != null ? trialsList().find(t => t.id === s.best_trial_id) : null;
      const w = s.workload ? s.workload.type : 'none (ask/tell)';
      nodes.head.replaceChildren(
        el('h1', {}, s.name, stateBadge(s.state)),
        el('div', { class: 'meta' },
          multi() ? el('span', {}, 'objectives ', el('b', { text: goalsText(s) }))
            : el('span', {}, 'objective ', el('b', { text: primary().metric }), ' (' + dirOf(primary()) + ')'),
          s.constraints && s.constraints.length ? el('span', {}, 'constraints ', el('b', { text: s.constraints.map(constraintText).join(', ') })) : null,
          multi() ? el('span', { id: 'front-size' }, 'Pareto front ', el('b', { text: st.front ? st.front.size + ' trials' : '—' }))
            : el('span', {}, 'best ', el('b', { text: fmt(s.best_value) }),
              best ? el('span', {}, ' (', el('a', { href: '/studies/' + s.id + '/trials/' + best.number, 'data-nav': true, text: 'trial #' + best.number }), ')') : null),
          el('span', {}, 'sampler ', el('b', { text: s.sampler.type })),
          el('span', {}, 'pruner ', el('b', { text: s.pruner.type })),
          el('span', {}, 'workload ', el('b', { text: w })),
          el('span', {}, 'running runners ', el('b', { text: String(runningRunners()) })),
          el('span', {}, progress(s)),
          countChips(s.counts)));
    }

    function completeTrials() {
      return trialsList().filter(t => t.state === 'complete' && t.value != null);
    }

    function setNumbers(chart, lists) { chart.__numbers = lists; }

    function renderHistory() {
      const s = st.study;
      const done = completeTrials();
      const max = dirOf(primary()) === 'maximize';
      let best = null;
      const pts = [], bestLine = [];
      for (const t of done) {
        pts.push([t.number, t.value]);
        if (best == null || (max ? t.value > best : t.value < best)) best = t.value;
        bestLine.push([t.number, best]);
      }
      const c = charts.history;
      setNumbers(c, [done.map(t => t.number), done.map(t => t.number)]);
      c.setOption({
        animation: false,
        title: pts.length ? { show: false } : emptyTitle('no complete trials yet'),
        grid: { left: 60, right: 20, top: 30, bottom: 40 },
        legend: { top: 0, data: ['value', 'best so far'] },
        tooltip: { trigger: 'item', formatter: p => tip('trial #' + p.value[0], fmt(p.value[1])) },
        xAxis: { type: 'value', name: 'trial', nameLocation: 'middle', nameGap: 24, minInterval: 1 },
        yAxis: { type: 'value', name: primary().metric, scale: true },
        series: [
          { name: 'value', type: 'scatter', data: pts, symbolSize: 6, itemStyle: { color: COLORS.complete, opacity: 0.7 }, large: pts.length > 2000 },
          { name: 'best so far', type: 'line', step: 'end', data: bestLine, showSymbol: false, lineStyle: { color: '#e11d48', width: 2 }, itemStyle: { color: '#e11d48' } },
        ],
      }, { notMerge: true });
    }

    // renderHypervolume follows a multi-objective search: with two
    // objectives the hypervolume of the front after each trial (each
    // objective scaled to [0, 1] over the feasible complete trials, 0 the
    // best seen, reference point 1.1), with more the best of each
    // objective so far on the same scale.
    function renderHypervolume() {
      const gs = goals();
      const done = completeTrials().filter(t => t.feasible !== false && t.values && t.values.length === gs.length)
        .sort((a, b) => a.number - b.number);
      const lo = gs.map((_, i) => Math.min(...done.map(t => t.values[i])));
      const hi = gs.map((_, i) => Math.max(...done.map(t => t.values[i])));
      // As losses: 0 the best value seen, 1 the worst.
      const loss = (t, i) => {
        const span = hi[i] - lo[i];
        if (!(span > 0)) return 0;
        const v = (t.values[i] - lo[i]) / span;
        return dirOf(gs[i]) === 'maximize' ? 1 - v : v;
      };
      const series = [], numbers = [];
      if (gs.length === 2) {
        const data = hypervolumeSteps(done.map(t => [loss(t, 0), loss(t, 1)]));
        series.push({ name: 'hypervolume', type: 'line', step: 'end', showSymbol: data.length < 200,
          data: data.map((hv, k) => [done[k].number, hv]), lineStyle: { color: '#e11d48', width: 2 }, itemStyle: { color: '#e11d48' } });
        numbers.push(done.map(t => t.number));
      } else {
        gs.forEach((g, i) => {
          let best = Infinity;
          series.push({ name: g.metric, type: 'line', step: 'end', showSymbol: false,
            data: done.map(t => { best = Math.min(best, loss(t, i)); return [t.number, 1 - best]; }) });
          numbers.push(done.map(t => t.number));
        });
      }
      const c = charts.history;
      setNumbers(c, numbers);
      dbg.hypervolume = gs.length === 2 && series[0].data.length ? series[0].data[series[0].data.length - 1][1] : null;
      c.setOption({
        animation: false,
        title: done.length ? { show: false } : emptyTitle('no feasible complete trials yet'),
        grid: { left: 60, right: 20, top: 30, bottom: 40 },
        legend: { top: 0, data: series.map(x => x.name) },
        tooltip: { trigger: 'item', formatter: p => tip('after trial #' + p.value[0], p.seriesName + ': ' + fmt(p.value[1])) },
        xAxis: { type: 'value', name: 'trial', nameLocation: 'middle', nameGap: 24, minInterval: 1 },
        yAxis: { type: 'value', name: gs.length === 2 ? 'hypervolume' : 'scaled best', min: 0 },
        series,
      }, { notMerge: true });
    }

    function curveOf(t) {
      return t.intermediate_values.slice().sort((a, b) => a.step - b.step).map(iv => [iv.step, iv.value]);
    }

    function renderCurves() {
      const list = trialsList().filter(t => t.intermediate_values.length > 0);
      const groups = ['complete', 'pruned', 'failed', 'running'];
      const series = [], numbers = [];
      const many = list.length > 300;
      // One line series per state holds all its trials' curves, each
      // ended by an empty point so the line breaks between trials: a few
      // series however many trials there are.
      dbg.curves = {};
      for (const g of groups) {
        const ts = list.filter(t => t.state === g);
        const data = [], nums = [];
        for (const t of ts) {
          for (const p of curveOf(t)) { data.push(p); nums.push(t.number); }
          data.push('-');
          nums.push(null);
        }
        dbg.curves[g] = ts.length;
        series.push({
          name: g, type: 'line', data, showSymbol: false, connectNulls: false,
          lineStyle: { color: COLORS[g], width: g === 'running' ? 2 : 1, opacity: many ? 0.3 : 0.75 },
          itemStyle: { color: COLORS[g] }, emphasis: { disabled: true }, triggerLineEvent: true,
        });
        numbers.push(nums);
      }
      // A pruned trial's curve ends where the pruner stopped it.
      const pruned = list.filter(t => t.state === 'pruned');
      series.push({
        name: 'pruned here', type: 'scatter', symbol: 'diamond', symbolSize: 7,
        data: pruned.map(t => { const c = curveOf(t); return c[c.length - 1]; }),
        itemStyle: { color: COLORS.pruned },
      });
      numbers.push(pruned.map(t => t.number));
      const c = charts.curves;
      setNumbers(c, numbers);
      c.setOption({
        animation: false,
        title: list.length ? { show: false } : emptyTitle('no intermediate values reported yet'),
        grid: { left: 60, right: 20, top: 30, bottom: 40 },
        legend: { top: 0, data: groups.concat(['pruned here']) },
        tooltip: {
          trigger: 'item',
          formatter: p => {
            const n = c.__numbers[p.seriesIndex][p.dataIndex];
            if (n == null) return '';
            return tip('trial #' + n, 'step ' + p.value[0] + ': ' + fmt(p.value[1]), p.seriesType === 'scatter' ? 'pruned here' : '');
          },
        },
        xAxis: { type: 'value', name: 'step', nameLocation: 'middle', nameGap: 24, minInterval: 1, scale: true },
        yAxis: { type: 'value', name: primary().metric, scale: true },
        series,
      }, { notMerge: true });
    }

    function paramNames() { return Object.keys(st.study.search_space).sort(); }

    function axisFor(name, d) {
      if (d.type === 'categorical') return { type: 'category', data: d.choices.map(String), axisLabel: { interval: 0 } };
      if (d.log) return { type: 'log', min: d.low, max: d.high };
      return { type: 'value', min: d.low, max: d.high };
    }

    function paramValue(d, v) { return d.type === 'categorical' ? String(v) : v; }

    function valueRange(done) {
      if (!done.length) return [0, 1];
      let lo = Infinity, hi = -Infinity;
      for (const t of done) { lo = Math.min(lo, t.value); hi = Math.max(hi, t.value); }
      if (lo === hi) { lo -= 1; hi += 1; }
      return [lo, hi];
    }

    function renderParallel() {
      const s = st.study;
      const names = paramNames();
      const done = completeTrials();
      const axes = names.map((p, i) => Object.assign({ dim: i, name: p, nameTextStyle: { fontSize: 11 } }, axisFor(p, s.search_space[p])));
      axes.push({ dim: names.length, name: primary().metric, type: 'value', scale: true, nameTextStyle: { fontSize: 11, fontWeight: 'bold' } });
      const data = done.map(t => names.map(p => paramValue(s.search_space[p], t.params[p])).concat([t.value]));
      const [lo, hi] = valueRange(done);
      const ramp = ['#fde68a', '#f97316', '#7c2d12'];
      const c = charts.parallel;
      setNumbers(c, [done.map(t => t.number)]);
      c.setOption({
        animation: false,
        title: done.length ? { show: false } : emptyTitle('no complete trials yet'),
        parallel: { left: 60, right: 110, top: 40, bottom: 30 },
        parallelAxis: axes,
        visualMap: {
          type: 'continuous', dimension: names.length, min: lo, max: hi, right: 0, top: 'middle', itemHeight: 120,
          calculable: true, precision: 3, text: ['', ''],
          // Better values are darker whichever the direction.
          inRange: { color: dirOf(primary()) === 'maximize' ? ramp : ramp.slice().reverse() },
        },
        series: [{
          name: 'trials', type: 'parallel', data, smooth: false,
          lineStyle: { width: 1, opacity: done.length > 1000 ? 0.2 : 0.6 },
          progressive: 1000,
        }],
      }, { notMerge: true });
    }

    function renderImportance() {
      const c = charts.importance;
      const imp = st.importance;
      if (!imp) {
        c.setOption({ title: emptyTitle('needs at least 2 complete trials'), series: [] }, { notMerge: true });
        return;
      }
      const items = imp.importances.slice().reverse();
      c.setOption({
        animation: false,
        title: { text: imp.method.toUpperCase() + ' over ' + imp.trials_used + ' complete trials (top ' + Math.round(imp.top_quantile * 100) + '% vs all)', textStyle: { fontSize: 11, color: '#6b7280', fontWeight: 'normal' }, left: 'center', top: 0 },
        grid: { left: 110, right: 50, top: 30, bottom: 30 },
        tooltip: { trigger: 'item', formatter: p => tip(p.name + ': ' + (p.value * 100).toFixed(1) + '%') },
        xAxis: { type: 'value', min: 0, max: 1, axisLabel: { formatter: v => Math.round(v * 100) + '%' } },
        yAxis: { type: 'category', data: items.map(i => i.param) },
        series: [{
          name: 'importance', type: 'bar', data: items.map(i => i.importance), itemStyle: { color: COLORS.complete },
          label: { show: true, position: 'right', formatter: p => (p.value * 100).toFixed(1) + '%' },
        }],
      }, { notMerge: true });
    }

    // The metrics any complete trial has, for the Pareto plot's axes.
    function metricKeys() {
      const keys = new Set();
      for (const t of completeTrials()) for (const k of Object.keys(t.metrics)) keys.add(k);
      return Array.from(keys).sort();
    }

    function keyLabel(k) {
      if (k === VALUE_KEY) return primary().metric + ' (objective)';
      return goals().some(g => g.metric === k) ? k + ' (objective)' : k;
    }

    function renderParetoControls() {
      const keys = metricKeys().filter(k => k !== primary().metric);
      const all = [VALUE_KEY].concat(keys);
      if (st.xKey == null || !all.includes(st.xKey)) {
        // A multi-objective study is drawn on its first two objectives.
        const second = multi() ? goals()[1].metric : null;
        st.xKey = second && keys.includes(second) ? second
          : keys.includes('samples_per_second') ? 'samples_per_second' : (keys[0] || VALUE_KEY);
      }
      if (!all.includes(st.yKey)) st.yKey = VALUE_KEY;
      const sig = all.join('\n');
      if (nodes.xSel.dataset.sig !== sig) {
        for (const sel of [nodes.xSel, nodes.ySel]) {
          sel.replaceChildren(...all.map(k => el('option', { value: k, text: keyLabel(k) })));
          sel.dataset.sig = sig;
        }
      }
      nodes.xSel.value = st.xKey;
      nodes.ySel.value = st.yKey;
    }

    function metricOf(t, k) {
      if (k === VALUE_KEY) return t.values ? t.values[0] : t.value;
      const v = t.metrics[k];
      return typeof v === 'number' ? v : null;
    }

    function renderPareto() {
      const s = st.study;
      const xDir = st.xDir === 'auto' ? inferDirection(st.xKey, s) : st.xDir;
      const yDir = st.yDir === 'auto' ? inferDirection(st.yKey, s) : st.yDir;
      const ts = [], pts = [], bad = [];
      for (const t of completeTrials()) {
        const x = metricOf(t, st.xKey), y = metricOf(t, st.yKey);
        if (x == null || y == null) continue;
        // Trials that break a constraint are greyed and never on the front.
        if (t.feasible === false) { bad.push(t); continue; }
        ts.push(t);
        pts.push([x, y]);
      }
      // A multi-objective study's front is the service's, over all its
      // objectives; otherwise the front of the two metrics drawn.
      const serverFront = multi() && st.front;
      const front = serverFront ? pts.map((_, i) => i).filter(i => st.front.has(ts[i].number))
        : paretoFront(pts, xDir === 'maximize', yDir === 'maximize');
      const onFront = new Set(front);
      const rest = pts.map((_, i) => i).filter(i => !onFront.has(i));
      const frontSorted = front.slice().sort((a, b) => pts[a][0] - pts[b][0]);
      // The dashed line joins the front only where it is a front of the
      // two axes drawn.
      const line = !serverFront || (goals().length === 2 && [VALUE_KEY, goals()[0].metric, goals()[1].metric].includes(st.xKey) &&
        [VALUE_KEY, goals()[0].metric, goals()[1].metric].includes(st.yKey));
      nodes.paretoInfo.textContent = front.length + ' Pareto-optimal of ' + pts.length +
        (serverFront && goals().length > 2 ? ' (on all ' + goals().length + ' objectives; ' : ' (') +
        keyLabel(st.xKey) + ' ' + xDir + ', ' + keyLabel(st.yKey) + ' ' + yDir + ')' +
        (bad.length ? ' · ' + bad.length + ' infeasible' : '');
      const c = charts.pareto;
      setNumbers(c, [rest.map(i => ts[i].number), frontSorted.map(i => ts[i].number), frontSorted.map(i => ts[i].number), bad.map(t => t.number)]);
      c.setOption({
        animation: false,
        title: pts.length ? { show: false } : emptyTitle('no complete trials with both metrics yet'),
        grid: { left: 60, right: 20, top: 30, bottom: 44 },
        legend: { top: 0, data: ['trials', 'Pareto-optimal', 'infeasible'] },
        tooltip: {
          trigger: 'item',
          formatter: p => {
            const lines = ['trial #' + c.__numbers[p.seriesIndex][p.dataIndex],
              keyLabel(st.xKey) + ': ' + fmt(p.value[0]), keyLabel(st.yKey) + ': ' + fmt(p.value[1])];
            if (p.seriesName === 'infeasible') lines.push(...(bad[p.dataIndex].violations || []).map(v => 'breaks ' + v));
            return tip(...lines);
          },
        },
        xAxis: { type: 'value', name: keyLabel(st.xKey), nameLocation: 'middle', nameGap: 26, scale: true },
        yAxis: { type: 'value', name: keyLabel(st.yKey), scale: true },
        series: [
          { name: 'trials', type: 'scatter', data: rest.map(i => pts[i]), symbolSize: 6, itemStyle: { color: '#94a3b8', opacity: 0.7 }, large: rest.length > 2000 },
          { name: 'Pareto-optimal', type: 'scatter', data: frontSorted.map(i => pts[i]), symbol: 'diamond', symbolSize: 11, itemStyle: { color: '#e11d48' }, z: 3 },
          { name: 'front', type: 'line', data: line ? frontSorted.map(i => pts[i]) : [], showSymbol: false, silent: true, lineStyle: { color: '#e11d48', type: 'dashed', width: 1 } },
          { name: 'infeasible', type: 'scatter', symbol: 'triangle', data: bad.map(t => [metricOf(t, st.xKey), metricOf(t, st.yKey)]), symbolSize: 7, itemStyle: { color: '#d1d5db', borderColor: '#9ca3af' } },
        ],
      }, { notMerge: true });
    }

    function renderTimeline() {
      const list = trialsList().filter(t => t.started_at);
      const rows = Array.from(new Set(list.map(t => t.runner || '(ask/tell)'))).sort();
      const rowOf = new Map(rows.map((r, i) => [r, i]));
      const now = Date.now();
      const data = list.map(t => [rowOf.get(t.runner || '(ask/tell)'), ms(t.started_at),
        t.finished_at ? ms(t.finished_at) : now, STATES.indexOf(t.state), t.attempt]);
      const h = Math.max(160, rows.length * 34 + 70);
      if (nodes.timeline.style.height !== h + 'px') {
        nodes.timeline.style.height = h + 'px';
        charts.timeline.resize();
      }
      const c = charts.timeline;
      setNumbers(c, [list.map(t => t.number)]);
      c.setOption({
        animation: false,
        title: list.length ? { show: false } : emptyTitle('no trial has started yet'),
        grid: { left: 120, right: 20, top: 10, bottom: 30 },
        tooltip: {
          trigger: 'item',
          formatter: p => {
            const t = list[p.dataIndex];
            return tip('trial #' + t.number + ' · ' + t.state + (t.attempt ? ' · retry ' + t.attempt : ''),
              t.runner || '(ask/tell)', fmtDuration(duration(t)));
          },
        },
        xAxis: { type: 'time', scale: true },
        yAxis: { type: 'category', data: rows, axisLabel: { width: 110, overflow: 'truncate' } },
        series: [{
          name: 'trials', type: 'custom', data, encode: { x: [1, 2], y: 0 },
          renderItem: (params, api) => {
            const y = api.value(0);
            const a = api.coord([api.value(1), y]), b = api.coord([api.value(2), y]);
            const hh = api.size([0, 1])[1] * 0.6;
            const shape = echarts.graphic.clipRectByRect(
              { x: a[0], y: a[1] - hh / 2, width: Math.max(2, b[0] - a[0]), height: hh },
              { x: params.coordSys.x, y: params.coordSys.y, width: params.coordSys.width, height: params.coordSys.height });
            if (!shape) return null;
            const state = STATES[api.value(3)];
            // A retried trial (its first runner lost the lease) gets a dark outline.
            return {
              type: 'rect', shape,
              style: { fill: COLORS[state], stroke: api.value(4) > 0 ? '#111827' : '#ffffff', lineWidth: api.value(4) > 0 ? 2 : 0.5 },
            };
          },
        }],
      }, { notMerge: true });
    }

    function renderSlices() {
      const s = st.study;
      const done = completeTrials();
      const maxN = done.length ? done[done.length - 1].number : 1;
      for (const p of nodes.sliceParams) {
        const d = s.search_space[p];
        const c = charts['slice:' + p];
        setNumbers(c, [done.map(t => t.number)]);
        c.setOption({
          animation: false,
          title: { text: p, left: 'center', top: 0, textStyle: { fontSize: 12 } },
          grid: { left: 55, right: 15, top: 28, bottom: 30 },
          tooltip: { trigger: 'item', formatter: q => tip('trial #' + q.value[2], p + ': ' + fmtParam(q.value[0]), fmt(q.value[1])) },
          xAxis: axisFor(p, d),
          yAxis: { type: 'value', scale: true, name: primary().metric, nameTextStyle: { fontSize: 10 } },
          visualMap: { show: false, dimension: 2, min: 0, max: Math.max(1, maxN), inRange: { color: ['#bfdbfe', '#1e3a8a'] } },
          series: [{ name: p, type: 'scatter', symbolSize: 6, data: done.map(t => [paramValue(d, t.params[p]), t.value, t.number]), large: done.length > 2000 }],
        }, { notMerge: true });
      }
    }

    // ---- where the time goes (profile.js draws it)

    function buildProfileCard() {
      nodes.profile = el('div', { class: 'chart' });
      nodes.profileSel = el('select', { 'aria-label': 'profile param', onchange: e => { st.profileParam = e.target.value; renderProfile(); } },
        Object.keys(st.study.search_space).sort().map(p => el('option', { value: p, text: p })));
      st.profileParam = tuneProfile.defaultParam(Object.keys(st.study.search_space));
      if (st.profileParam) nodes.profileSel.value = st.profileParam;
      // Hidden until a trial reports a profile: a study whose workload
      // does not profile shows nothing of it.
      nodes.profileCard = card('Where the time goes', el('div', {},
        el('div', { class: 'controls' }, 'trials sorted by', nodes.profileSel),
        nodes.profile), { wide: true, id: 'profile-card', hint: "each profiled trial's phases, as shares of its steps' time" });
      nodes.profileCard.hidden = true;
    }

    function renderProfile() {
      const c = charts.profile;
      const list = trialsList();
      const shown = tuneProfile.hasProfiles(list) && st.profileParam != null;
      const wasHidden = nodes.profileCard.hidden;
      nodes.profileCard.hidden = !shown;
      if (!shown) return;
      if (wasHidden) c.resize();
      const v = tuneProfile.studyOption(list, st.profileParam, { fmt, fmtParam, tip });
      setNumbers(c, v ? v.numbers : []);
      c.setOption(v ? v.option : { title: emptyTitle('no profiled steps yet') }, { notMerge: true });
    }

    // ---- trial table

    function keyMetrics() {
      const keys = metricKeys();
      const preferred = ['samples_per_second', 'val_loss', 'wall_seconds', 'peak_memory_bytes', 'seconds_per_epoch'];
      const isGoal = k => goals().some(g => g.metric === k);
      const out = preferred.filter(k => keys.includes(k) && !isGoal(k));
      for (const k of keys) if (out.length < 4 && !out.includes(k) && !isGoal(k)) out.push(k);
      return out.slice(0, 4);
    }

    // A trial that did not finish has no final metrics; the table shows
    // what it last reported instead.
    function tableMetric(t, m) {
      if (t.metrics[m] != null) return t.metrics[m];
      let last = null;
      for (const iv of t.intermediate_values) {
        if (iv.metrics && iv.metrics[m] != null && (last == null || iv.step > last.step)) last = iv;
      }
      return last ? last.metrics[m] : null;
    }

    function sortValue(t, key) {
      switch (key) {
        case 'number': return t.number;
        case 'state': return t.state;
        case 'value': return t.value;
        case 'front': return st.front && st.front.has(t.number) ? 0 : 1;
        case 'duration': return duration(t);
        case 'runner': return t.runner;
      }
      if (key.startsWith('p:')) return t.params[key.slice(2)];
      if (key.startsWith('m:')) return tableMetric(t, key.slice(2));
      if (key.startsWith('g:')) return t.values ? t.values[+key.slice(2)] : null;
      return null;
    }

    function renderTable() {
      const names = paramNames();
      const metrics = keyMetrics();
      const cols = [
        { key: 'number', label: '#', num: true, cell: t => el('a', { href: '/studies/' + id + '/trials/' + t.number, 'data-nav': true, text: String(t.number) }) },
        { key: 'state', label: 'state', cell: trialState },
      ].concat(
        multi() ? goals().map((g, i) => ({ key: 'g:' + i, label: g.metric, num: true, cell: t => fmt(t.values ? t.values[i] : null) }))
          .concat([{ key: 'front', label: 'front', cell: t => st.front && st.front.has(t.number) ? el('span', { class: 'on-front', text: '◆' }) : '' }])
          : [{ key: 'value', label: primary().metric, num: true, cell: t => fmt(t.value) }],
        names.map(p => ({ key: 'p:' + p, label: p, num: st.study.search_space[p].type !== 'categorical', cell: t => fmtParam(t.params[p]) })),
        metrics.map(m => ({ key: 'm:' + m, label: m, num: true, cell: t => fmt(tableMetric(t, m)) })),
        [
          { key: 'duration', label: 'duration', num: true, cell: t => fmtDuration(duration(t)) },
          { key: 'runner', label: 'runner', cell: t => t.runner || '—' },
        ]);
      const list = trialsList();
      const k = st.sortKey, dir = st.sortAsc ? 1 : -1;
      list.sort((a, b) => {
        const va = sortValue(a, k), vb = sortValue(b, k);
        // Missing values sort last either way.
        if (va == null && vb == null) return a.number - b.number;
        if (va == null) return 1;
        if (vb == null) return -1;
        const c = typeof va === 'number' && typeof vb === 'number' ? va - vb : String(va).localeCompare(String(vb));
        return c * dir || a.number - b.number;
      });
      const pages = Math.max(1, Math.ceil(list.length / PAGE_ROWS));
      st.pageNo = Math.min(st.pageNo, pages - 1);
      const rows = list.slice(st.pageNo * PAGE_ROWS, (st.pageNo + 1) * PAGE_ROWS);
      const head = el('tr', {}, cols.map(c => el('th', {
        class: (c.num ? 'num ' : '') + (c.key === k ? 'sorted' + (st.sortAsc ? ' asc' : '') : ''),
        'data-key': c.key, text: c.label,
        onclick: () => {
          if (st.sortKey === c.key) st.sortAsc = !st.sortAsc;
          else {
            // The objective sorts best first; other numbers largest first.
            st.sortKey = c.key;
            st.sortAsc = c.key === 'value' ? dirOf(primary()) !== 'maximize'
              : c.key.startsWith('g:') ? dirOf(goals()[+c.key.slice(2)]) !== 'maximize'
              : c.key === 'number' || c.key === 'front' || c.key === 'state' || c.key === 'runner' || c.key.startsWith('p:');
          }
          st.pageNo = 0;
          renderTable();
        },
      })));
      const body = el('tbody', {}, rows.map(t => el('tr', {
        'data-number': t.number,
        onclick: e => { if (!e.target.closest('a')) navigate('/studies/' + id + '/trials/' + t.number); },
      }, cols.map(c => el('td', { class: c.num ? 'num' : '' }, c.cell(t))))));
      nodes.table.replaceChildren(el('table', { class: 'trials' }, el('thead', {}, head), body));
      const from = list.length ? st.pageNo * PAGE_ROWS + 1 : 0;
      nodes.pager.replaceChildren(
        el('span', { text: 'trials ' + from + '–' + (st.pageNo * PAGE_ROWS + rows.length) + ' of ' + list.length }),
        el('button', { text: '« first', disabled: st.pageNo === 0, onclick: () => { st.pageNo = 0; renderTable(); } }),
        el('button', { text: '‹ prev', disabled: st.pageNo === 0, onclick: () => { st.pageNo--; renderTable(); } }),
        el('span', { text: 'page ' + (st.pageNo + 1) + ' / ' + pages }),
        el('button', { text: 'next ›', disabled: st.pageNo >= pages - 1, onclick: () => { st.pageNo++; renderTable(); } }),
        el('button', { text: 'last »', disabled: st.pageNo >= pages - 1, onclick: () => { st.pageNo = pages - 1; renderTable(); } }));
    }

    // ---- one trial

    function closeTrial() { navigate('/studies/' + id); }

    // The open trial's charts (its curve and profile) go with its panel.
    function disposeTrialCharts() {
      for (const name of ['trialCurve', 'trialPhases', 'trialMemory', 'trialFlops']) {
        if (charts[name]) { charts[name].dispose(); delete charts[name]; }
      }
    }

    function renderPanel() {
      const n = st.openNumber;
      const t0 = n == null ? null : st.trials[n];
      // Redraw only when the open trial changed: a redraw resets the
      // panel's scroll.
      const sig = n == null ? '' : n + ':' + (t0 ? JSON.stringify(t0) : 'none');
      if (sig === nodes.panelSig) return;
      nodes.panelSig = sig;
      if (n == null) {
        nodes.panel.hidden = true;
        disposeTrialCharts();
        return;
      }
      const t = st.trials[n];
      const close = el('a', { class: 'close', href: '/studies/' + id, 'data-nav': true, text: 'close ✕' });
      if (!t) {
        nodes.panel.replaceChildren(el('div', { class: 'panel' }, close, el('h1', { text: 'Trial #' + n }), el('p', { class: 'muted', text: 'The study has no trial with this number (yet).' })));
        nodes.panel.hidden = false;
        return;
      }
      const kv = (pairs) => el('dl', { class: 'kv' }, pairs.flatMap(([k, v]) => [el('dt', { text: k }), el('dd', {}, v)]));
      const origin = el('span', { id: 'trial-origin' }, el('span', { text: t.origin || '—' }),
        ORIGINS[t.origin] ? el('span', { class: 'muted', text: ' · ' + ORIGINS[t.origin] }) : null,
        t.attempt ? el('span', { class: 'muted', text: ' · retried: handed out again after ' + t.attempt + (t.attempt === 1 ? ' lost lease' : ' lost leases') }) : null);
      const names = Object.keys(t.params).sort();
      const metrics = Object.keys(t.metrics).sort();
      const curveNode = el('div', { class: 'chart', style: 'height:260px' });
      const profile = tuneProfile.trialSection(t, { el, fmt, tip });
      nodes.panel.replaceChildren(el('div', { class: 'panel', id: 'trial-panel', 'data-number': n },
        close,
        el('h1', {}, 'Trial #' + n, stateBadge(t.state, 's-')),
        kv([
          ...(multi() ? goals().map((g, i) => [g.metric, fmt(t.values ? t.values[i] : null)]) : [[primary().metric, fmt(t.value)]]),
          ...(multi() && st.front ? [['Pareto front', st.front.has(t.number) ? 'on the front' : 'not on the front']] : []),
          ...(t.failure_kind ? [['failed because', el('span', { id: 'trial-failure' }, el('b', { text: t.failure_kind }),
            el('span', { class: 'muted', text: ' · ' + (FAILURES[t.failure_kind] || '') }))]] : []),
          ...(t.feasible != null ? [['constraints', el('span', { id: 'trial-feasible' }, t.feasible ? 'all kept'
            : el('span', { class: 'infeasible', text: 'breaks ' + (t.violations || []).join('; ') }))]] : []),
          ['params from', origin],
          ['runner', t.runner || '—'], ['device', t.device || '—'], ['attempt', String(t.attempt)],
          ['created', fmtTime(t.created_at)], ['started', fmtTime(t.started_at)], ['finished', fmtTime(t.finished_at)],
          // Token names are user text: kv appends them as text nodes.
          ['created by', t.created_by || '—'], ['finished by', t.finished_by || '—'],
          ['duration', fmtDuration(duration(t))], ['trial id', String(t.id)],
        ]),
        t.error ? el('div', {}, el('h2', { text: 'Error' }), el('pre', { class: 'error', text: t.error })) : null,
        el('div', { class: 'cols' },
          el('div', {}, el('h2', { text: 'Params' }), el('table', {}, el('tbody', {}, names.map(p =>
            el('tr', {}, el('td', { text: p }), el('td', { class: 'num', text: fmtParam(t.params[p]) })))))),
          el('div', {}, el('h2', { text: 'Metrics' }), metrics.length ? el('table', {}, el('tbody', {}, metrics.map(m =>
            el('tr', {}, el('td', { text: m }), el('td', { class: 'num', text: fmt(t.metrics[m]) }))))) : el('p', { class: 'muted', text: 'none yet' }))),
        el('h2', { text: 'Learning curve' }),
        t.intermediate_values.length ? curveNode : el('p', { class: 'muted', text: 'no intermediate values reported' }),
        profile ? profile.node : null));
      nodes.panel.hidden = false;
      disposeTrialCharts();
      if (profile) {
        for (const [name, node, option] of profile.charts) newChart(name, node).setOption(option);
      }
      if (t.intermediate_values.length) {
        const ivs = t.intermediate_values.slice().sort((a, b) => a.step - b.step);
        const c = newChart('trialCurve', curveNode);
        c.setOption({
          animation: false,
          grid: { left: 60, right: 20, top: 20, bottom: 40 },
          tooltip: {
            trigger: 'axis',
            formatter: ps => {
              const iv = ivs[ps[0].dataIndex];
              return tip('step ' + iv.step, primary().metric + ': ' + fmt(iv.value),
                ...Object.entries(iv.metrics || {}).map(([k, v]) => k + ': ' + fmt(v)));
            },
          },
          xAxis: { type: 'value', name: 'step', nameLocation: 'middle', nameGap: 24, minInterval: 1, scale: true },
          yAxis: { type: 'value', name: primary().metric, scale: true },
          series: [{ name: primary().metric, type: 'line', data: ivs.map(iv => [iv.step, iv.value]), itemStyle: { color: COLORS[t.state] } }],
        });
      }
    }

    return {
      kind: 'study', ref,
      start() {
        app.replaceChildren(el('p', { class: 'muted', text: 'Loading study…' }));
        crumbs.replaceChildren(el('a', { href: '/', 'data-nav': true, text: 'studies' }), ' / ' + ref);
        poll.start();
      },
      stop() {
        poll.stop();
        document.removeEventListener('keydown', onKey);
      },
      showTrial(n) {
        st.openNumber = n;
        if (built) renderPanel();
      },
      trial: n => st.trials[n] || null,
    };
  }

  route();
})();
