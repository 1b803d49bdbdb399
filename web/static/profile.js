// Where a trial's time and memory go: the charts of the trials' per-step
// profiles (intermediate_values[].profile), for the trial view and the
// study page. app.js calls these with its helpers (el, fmt, tip), so that
// all text reaches the page as text nodes or through tip(), which escapes
// it. The bottleneck reading itself is computed by the service
// (trial.bottleneck, trials.Trial.Bottleneck in Go) and only shown here.
(function () {
  'use strict';

  // mnist-mlp's phases in the order they happen; a workload's own phases
  // follow, by name.
  const PHASES = ['data', 'forward', 'backward', 'optimizer', 'exchange', 'eval', 'other'];
  const PHASE_COLORS = {
    data: '#f59e0b', forward: '#3b82f6', backward: '#6366f1', optimizer: '#ef4444',
    exchange: '#14b8a6', eval: '#10b981', other: '#9ca3af',
  };
  const EXTRA_COLORS = ['#a855f7', '#ec4899', '#84cc16', '#0ea5e9', '#f97316', '#64748b'];
  const MiB = 1024 * 1024;

  function phaseColor(name, i) {
    return PHASE_COLORS[name] || EXTRA_COLORS[i % EXTRA_COLORS.length];
  }

  function comparePhases(a, b) {
    const ia = PHASES.indexOf(a), ib = PHASES.indexOf(b);
    if (ia >= 0 && ib >= 0) return ia - ib;
    if (ia >= 0) return -1;
    if (ib >= 0) return 1;
    return a < b ? -1 : a > b ? 1 : 0;
  }

  // The steps of a trial that carry a profile, in step order.
  function profiledSteps(t) {
    return (t.intermediate_values || []).filter(iv => iv.profile).sort((a, b) => a.step - b.step);
  }

  function phaseNames(profiles) {
    const seen = new Set();
    for (const p of profiles) for (const k of Object.keys(p.phases || {})) seen.add(k);
    return [...seen].sort(comparePhases);
  }

  function pct(share) {
    const v = share * 100;
    return (v > 0 && v < 1 ? v.toFixed(1) : Math.round(v)) + '%';
  }

  // The sums of a trial's profiled steps: what the study view shares are
  // read from (the same sums as trials.Trial.TotalProfile in Go).
  function totals(t) {
    const out = { steps: 0, wall: 0, phases: {} };
    for (const iv of profiledSteps(t)) {
      const p = iv.profile;
      out.steps++;
      out.wall += p.wall_seconds;
      for (const [k, v] of Object.entries(p.phases || {})) out.phases[k] = (out.phases[k] || 0) + v;
    }
    return out;
  }

  function base() {
    return { animation: false, grid: { left: 60, right: 20, top: 34, bottom: 40 } };
  }

  // trialSection is the trial view's profile: the bottleneck reading, the
  // phases per step (stacked seconds), memory over the steps and, when the
  // workload measured its matrix products, achieved FLOP/s against the
  // runner's peak. null when no step carried a profile. It returns the DOM
  // to insert and the charts to create in it once inserted (ECharts needs
  // laid-out nodes).
  function trialSection(t, h) {
    const { el, fmt, tip } = h;
    const steps = profiledSteps(t);
    if (!steps.length) return null;
    const profiles = steps.map(iv => iv.profile);
    const names = phaseNames(profiles);
    const labels = steps.map(iv => String(iv.step));
    const charts = [];
    const node = el('div', { id: 'trial-profile' },
      el('h2', { text: 'Where the time goes' }),
      t.bottleneck ? el('p', { class: 'reading', id: 'trial-bottleneck', text: t.bottleneck }) : null);

    const phasesNode = el('div', { class: 'chart', style: 'height:260px' });
    node.append(phasesNode);
    charts.push(['trialPhases', phasesNode, Object.assign(base(), {
      legend: { top: 0, type: 'scroll' },
      tooltip: {
        trigger: 'axis', axisPointer: { type: 'shadow' },
        formatter: ps => {
          const i = ps[0].dataIndex, p = profiles[i];
          return tip('step ' + steps[i].step + ' · ' + fmt(p.wall_seconds) + ' s',
            ...names.filter(k => p.phases && p.phases[k] != null).map(k =>
              k + ': ' + fmt(p.phases[k]) + ' s' + (p.wall_seconds > 0 ? ' (' + pct(p.phases[k] / p.wall_seconds) + ')' : '')));
        },
      },
      xAxis: { type: 'category', name: 'step', nameLocation: 'middle', nameGap: 24, data: labels },
      yAxis: { type: 'value', name: 'seconds' },
      series: names.map((k, i) => ({
        name: k, type: 'bar', stack: 'phases', barMaxWidth: 48, itemStyle: { color: phaseColor(k, i) },
        data: profiles.map(p => (p.phases && p.phases[k] != null ? p.phases[k] : 0)),
      })),
    })]);

    const memory = [
      ['heap peak', 'heap_peak_bytes', '#3b82f6'],
      ['RSS peak', 'rss_peak_bytes', '#f59e0b'],
      ['device in use', 'device_bytes', '#10b981'],
      ['device peak', 'device_peak_bytes', '#ef4444'],
    ].filter(([, key]) => profiles.some(p => p[key] > 0));
    if (memory.length) {
      const memNode = el('div', { class: 'chart', style: 'height:220px' });
      node.append(el('h2', { text: 'Memory' }), memNode);
      charts.push(['trialMemory', memNode, Object.assign(base(), {
        legend: { top: 0 },
        tooltip: {
          trigger: 'axis',
          formatter: ps => tip('step ' + steps[ps[0].dataIndex].step,
            ...memory.map(([name, key]) => name + ': ' + fmt((profiles[ps[0].dataIndex][key] || 0) / MiB) + ' MiB')),
        },
        xAxis: { type: 'category', name: 'step', nameLocation: 'middle', nameGap: 24, data: labels },
        yAxis: { type: 'value', name: 'MiB' },
        series: memory.map(([name, key, color]) => ({
          name, type: 'line', itemStyle: { color }, data: profiles.map(p => (p[key] || 0) / MiB),
        })),
      })]);
    }

    const rate = p => (p.matmul_flops > 0 && p.matmul_seconds > 0 ? p.matmul_flops / p.matmul_seconds : null);
    if (profiles.some(p => rate(p) != null)) {
      const flopsNode = el('div', { class: 'chart', style: 'height:220px' });
      node.append(el('h2', { text: 'Matrix products' }), flopsNode);
      const series = [{
        name: 'achieved', type: 'line', itemStyle: { color: '#3b82f6' },
        data: profiles.map(p => (rate(p) != null ? rate(p) / 1e9 : null)),
      }];
      if (profiles.some(p => p.peak_flops > 0)) {
        series.push({
          name: 'peak', type: 'line', showSymbol: false, lineStyle: { type: 'dashed' }, itemStyle: { color: '#9ca3af' },
          data: profiles.map(p => (p.peak_flops > 0 ? p.peak_flops / 1e9 : null)),
        });
      }
      charts.push(['trialFlops', flopsNode, Object.assign(base(), {
        legend: { top: 0 },
        tooltip: {
          trigger: 'axis',
          formatter: ps => {
            const p = profiles[ps[0].dataIndex], r = rate(p);
            return tip('step ' + steps[ps[0].dataIndex].step,
              r != null ? 'achieved: ' + fmt(r / 1e9) + ' GFLOP/s' : 'achieved: not measured',
              p.peak_flops > 0 ? 'peak: ' + fmt(p.peak_flops / 1e9) + ' GFLOP/s' + (r != null ? ' (' + pct(r / p.peak_flops) + ' of it)' : '') : null,
              p.matmul_seconds > 0 && p.wall_seconds > 0 ? 'outside matrix products: ' + pct(Math.max(0, 1 - p.matmul_seconds / p.wall_seconds)) : null);
          },
        },
        xAxis: { type: 'category', name: 'step', nameLocation: 'middle', nameGap: 24, data: labels },
        yAxis: { type: 'value', name: 'GFLOP/s' },
        series,
      })]);
    }
    return { node, charts };
  }

  // studyOption is the study page's "where the time goes" chart: one
  // stacked bar per profiled trial, its phases' shares of its profiled
  // steps' wall time, the trials sorted by the param chosen. numbers are
  // the trials' numbers in bar order (a click opens the trial). null when
  // no trial carried a profile.
  function studyOption(trials, param, h) {
    const { fmt, fmtParam, tip } = h;
    const rows = [];
    for (const t of trials) {
      const tot = totals(t);
      if (tot.steps && tot.wall > 0) rows.push({ t, tot, v: t.params[param] });
    }
    if (!rows.length) return null;
    rows.sort((a, b) => {
      if (a.v == null || b.v == null) return (a.v == null) - (b.v == null) || a.t.number - b.t.number;
      if (typeof a.v === 'number' && typeof b.v === 'number') return a.v - b.v || a.t.number - b.t.number;
      const sa = String(a.v), sb = String(b.v);
      return sa < sb ? -1 : sa > sb ? 1 : a.t.number - b.t.number;
    });
    const names = [...new Set(rows.flatMap(r => Object.keys(r.tot.phases)))].sort(comparePhases);
    return {
      numbers: names.map(() => rows.map(r => r.t.number)),
      option: {
        animation: false,
        grid: { left: 50, right: 20, top: 34, bottom: 60 },
        legend: { top: 0, type: 'scroll' },
        tooltip: {
          trigger: 'axis', axisPointer: { type: 'shadow' },
          formatter: ps => {
            const r = rows[ps[0].dataIndex];
            return tip('trial #' + r.t.number + ' · ' + param + ' = ' + (r.v == null ? '—' : fmtParam(r.v)),
              fmt(r.tot.wall / r.tot.steps) + ' s per profiled step',
              ...names.filter(k => r.tot.phases[k] != null).map(k => k + ': ' + pct(r.tot.phases[k] / r.tot.wall)),
              r.t.bottleneck || null);
          },
        },
        xAxis: {
          type: 'category', name: param, nameLocation: 'middle', nameGap: 40, axisLabel: { lineHeight: 14 },
          data: rows.map(r => (r.v == null ? '—' : fmtParam(r.v)) + '\n#' + r.t.number),
        },
        yAxis: { type: 'value', name: 'share of step', max: 100, axisLabel: { formatter: '{value}%' } },
        series: names.map((k, i) => ({
          name: k, type: 'bar', stack: 'share', barMaxWidth: 48, itemStyle: { color: phaseColor(k, i) },
          data: rows.map(r => 100 * (r.tot.phases[k] || 0) / r.tot.wall),
        })),
      },
    };
  }

  // defaultParam picks the knob that most often moves the profile.
  function defaultParam(params) {
    for (const p of ['batch_size', 'precision', 'workers', 'optimizer']) if (params.includes(p)) return p;
    return params[0] || null;
  }

  function hasProfiles(trials) {
    return trials.some(t => (t.intermediate_values || []).some(iv => iv.profile));
  }

  window.tuneProfile = { trialSection, studyOption, defaultParam, hasProfiles };
})();
