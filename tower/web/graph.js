// graph.js — a workflow's DAG drawn in SVG: one box per step (state, progress,
// attempts), an arrow from each step it requires. Columns are the length of
// the longest chain of requires before a step, so every arrow points right.

import {svg} from './dom.js';

const W = 170, H = 58, GAP_X = 56, GAP_Y = 18, PAD = 12, LANE = 16;

export function levels(steps) {
  const byName = new Map(steps.map((s) => [s.name, s]));
  const level = new Map();
  const visit = (s, seen) => {
    if (level.has(s.name)) return level.get(s.name);
    if (seen.has(s.name)) return 0; // a cycle cannot load, but never loop on one
    seen.add(s.name);
    let l = 0;
    for (const r of s.requires || []) {
      const dep = byName.get(r);
      if (dep) l = Math.max(l, visit(dep, seen) + 1);
    }
    level.set(s.name, l);
    return l;
  };
  for (const s of steps) visit(s, new Set());
  return level;
}

// steps: of one DAG, in the pattern's order. selected: a step name or null.
export function drawDag(dag, steps, selected, onSelect) {
  const level = levels(steps);
  const columns = [];
  for (const s of steps) {
    const l = level.get(s.name);
    (columns[l] = columns[l] || []).push(s);
  }
  const rows = Math.max(1, ...columns.map((c) => (c ? c.length : 0)));
  // An edge that skips a column runs in a lane above or below the boxes,
  // never through a box it does not touch.
  const skips = steps.some((s) => (s.requires || []).some((r) => level.has(r) && level.get(s.name) - level.get(r) > 1));
  const lane = skips ? LANE : 0;
  const width = PAD * 2 + columns.length * W + Math.max(0, columns.length - 1) * GAP_X;
  const height = PAD * 2 + lane * 2 + rows * H + (rows - 1) * GAP_Y;
  const pos = new Map();
  columns.forEach((col, l) => {
    const offset = ((rows - col.length) * (H + GAP_Y)) / 2;
    col.forEach((s, i) => {
      pos.set(s.name, {x: PAD + l * (W + GAP_X), y: PAD + lane + offset + i * (H + GAP_Y)});
    });
  });

  const marker = `arrow-${dag}`;
  const root = svg('svg', {
    class: 'dag', width, height, viewBox: `0 0 ${width} ${height}`,
    role: 'img', 'aria-label': `${dag} workflow`, 'data-dag': dag,
  }, svg('defs', {}, svg('marker', {
    id: marker, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7,
    orient: 'auto-start-reverse',
  }, svg('path', {d: 'M0,0 L10,5 L0,10 z', class: 'arrowhead'}))));

  for (const s of steps) {
    for (const r of s.requires || []) {
      const a = pos.get(r), b = pos.get(s.name);
      if (!a || !b) continue;
      const x1 = a.x + W, y1 = a.y + H / 2, x2 = b.x - 2, y2 = b.y + H / 2;
      let d;
      if (level.get(s.name) - level.get(r) > 1) {
        const ly = y1 + y2 < height ? PAD / 2 + lane / 2 : height - PAD / 2 - lane / 2;
        const ax = x1 + GAP_X / 2, bx = x2 - GAP_X / 2;
        d = `M${x1},${y1} C${ax},${y1} ${x1},${ly} ${ax},${ly} L${bx},${ly} C${x2},${ly} ${bx},${y2} ${x2},${y2}`;
      } else {
        const mx = (x1 + x2) / 2;
        d = `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`;
      }
      root.append(svg('path', {
        class: 'edge', d,
        'marker-end': `url(#${marker})`, 'data-from': r, 'data-to': s.name,
      }));
    }
  }
  for (const s of steps) {
    const {x, y} = pos.get(s.name);
    const progress = Math.max(0, Math.min(100, Number(s.progress) || 0));
    const label = s.state === 'running' ? `running ${progress}%`
      : s.attempts > 1 ? `${s.state} (try ${s.attempts})` : s.state;
    const g = svg('g', {
      class: `step state-${s.state}${selected === s.name ? ' selected' : ''}`,
      transform: `translate(${x},${y})`, tabindex: 0, role: 'button',
      'data-step': s.name, 'data-dag': dag, 'data-state': s.state, 'data-progress': progress,
      onclick: () => onSelect(s.name),
      onkeydown: (e) => { if (e.key === 'Enter' || e.key === ' ') onSelect(s.name); },
    },
    svg('title', {}, s.error ? `${s.name}: ${s.error}` : `${s.name}: ${label}`),
    svg('rect', {class: 'box', width: W, height: H, rx: 7}),
    svg('text', {class: 'name', x: 10, y: 20}, s.name),
    svg('text', {class: 'state', x: 10, y: 38}, label),
    svg('rect', {class: 'bar-bg', x: 10, y: H - 12, width: W - 20, height: 5, rx: 2}),
    svg('rect', {class: 'bar', x: 10, y: H - 12, width: ((W - 20) * progress) / 100, height: 5, rx: 2}));
    root.append(g);
  }
  return root;
}
