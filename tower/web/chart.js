// chart.js — small SVG line charts of a node's figures over time, with the
// latest value written beside them.

import {svg, h} from './dom.js';

// points: [[t, v], ...] in time order. max: the y range's top (null: the data's).
export function sparkline(title, points, {max = null, format = (v) => String(v), width = 150, height = 36} = {}) {
  const valid = points.filter(([t, v]) => Number.isFinite(t) && Number.isFinite(v));
  const root = svg('svg', {
    class: 'spark', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img',
    'aria-label': title, 'data-chart': title, 'data-points': valid.length,
  });
  root.append(svg('rect', {class: 'spark-bg', width, height}));
  if (valid.length > 0) {
    const t0 = valid[0][0], t1 = valid[valid.length - 1][0];
    const top = max ?? Math.max(...valid.map(([, v]) => v), 1e-9);
    const x = (t) => (t1 === t0 ? width : ((t - t0) / (t1 - t0)) * (width - 2) + 1);
    const y = (v) => height - 2 - (Math.min(v, top) / top) * (height - 4);
    const pts = valid.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`);
    if (valid.length === 1) pts.unshift(`1,${y(valid[0][1]).toFixed(1)}`);
    root.append(svg('polyline', {class: 'spark-line', points: pts.join(' ')}));
  }
  const last = valid.length ? format(valid[valid.length - 1][1]) : 'no data';
  return h('figure', {class: 'chart'}, h('figcaption', {}, h('span', {}, title), h('b', {}, last)), root);
}
