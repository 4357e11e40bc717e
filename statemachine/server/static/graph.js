// The state graph as SVG, from the layout the server computes (statemachine/layout.py),
// coloured by each state's outcome. No libraries: plain DOM.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";

function svgEl(name, attrs, parent) {
  const el = document.createElementNS(SVG_NS, name);
  for (const [key, value] of Object.entries(attrs || {})) el.setAttribute(key, value);
  if (parent) parent.appendChild(el);
  return el;
}

function shorten(text, width, charWidth) {
  const max = Math.max(4, Math.floor(width / charWidth));
  return text.length <= max ? text : text.slice(0, max - 1) + "\u2026";
}

// A smooth path through forward-edge points: vertical cubic curves between them.
function curvePath(points) {
  let d = `M${points[0][0]},${points[0][1]}`;
  for (let i = 1; i < points.length; i++) {
    const [x0, y0] = points[i - 1];
    const [x1, y1] = points[i];
    if (x0 === x1) { d += ` L${x1},${y1}`; continue; }
    const my = (y0 + y1) / 2;
    d += ` C${x0},${my} ${x1},${my} ${x1},${y1}`;
  }
  return d;
}

// Orthogonal segments with rounded corners (loops back up the right side).
function loopPath(points) {
  const r = 8;
  let d = `M${points[0][0]},${points[0][1]}`;
  for (let i = 1; i < points.length - 1; i++) {
    const [px, py] = points[i - 1], [x, y] = points[i], [nx, ny] = points[i + 1];
    const inx = Math.sign(x - px), iny = Math.sign(y - py);
    const outx = Math.sign(nx - x), outy = Math.sign(ny - y);
    d += ` L${x - inx * r},${y - iny * r} Q${x},${y} ${x + outx * r},${y + outy * r}`;
  }
  const last = points[points.length - 1];
  return d + ` L${last[0]},${last[1]}`;
}

// outcomes: {stateName: "running"|"succeeded"|"failed"|"caught"}; missing = not reached.
// options.onSelect(name) is called when a state is clicked.
function renderGraph(layout, outcomes, options) {
  const margin = 16;
  const width = layout.width + 2 * margin, height = layout.height + 2 * margin;
  const svg = svgEl("svg", {
    class: "graph", viewBox: `${-margin} ${-margin} ${width} ${height}`,
    width: width, height: height, role: "img", "aria-label": "state machine graph",
  });
  const defs = svgEl("defs", {}, svg);
  for (const [id, cls] of [["arrow", "arrow"], ["arrow-taken", "arrow taken"]]) {
    const marker = svgEl("marker", {id, viewBox: "0 0 10 10", refX: 9, refY: 5, markerUnits: "userSpaceOnUse",
      markerWidth: 9, markerHeight: 9, orient: "auto-start-reverse"}, defs);
    svgEl("path", {d: "M0,0 L10,5 L0,10 z", class: cls}, marker);
  }
  const byId = Object.fromEntries(layout.nodes.map((n) => [n.id, n]));
  const outcome = (node) => {
    if (node.kind === "start") return Object.keys(outcomes).length ? "succeeded" : "";
    if (node.kind === "end") return outcomes.__end || "";
    if (node.kind === "join") return "";
    return outcomes[node.name] || "not-reached";
  };
  const reached = (node) => node.kind === "join" || node.kind === "start" && Object.keys(outcomes).length > 0
    || (outcomes[node.name] && node.kind !== "end") || (node.kind === "end" && outcomes.__end);

  // compound boxes and their branch lanes first (behind), then edges, then states
  for (const node of layout.nodes.filter((n) => n.kind === "compound")) drawCompound(svg, node, outcome(node), options);
  for (const lane of layout.lanes) {
    const g = svgEl("g", {class: "lane"}, svg);
    svgEl("rect", {x: lane.x, y: lane.y, width: lane.width, height: lane.height, rx: 8}, g);
    svgEl("text", {x: lane.x + 10, y: lane.y + 14, class: "lane-label"}, g).textContent = lane.label;
  }
  const edgeLayer = svgEl("g", {class: "edges"}, svg);
  const labelLayer = svgEl("g", {class: "edge-labels"}, svg);
  for (const edge of layout.edges) {
    if (!edge.points || edge.points.length < 2) continue;
    // taken: both ends reached, and not the Next of a state whose Catch took over (nor a Catch
    // of a state that succeeded)
    const sourceOutcome = outcome(byId[edge.source]);
    const taken = reached(byId[edge.source]) && reached(byId[edge.target])
      && !(sourceOutcome === "caught" && !edge.dashed) && !(sourceOutcome === "succeeded" && edge.dashed && byId[edge.source].kind === "state");
    const cls = ["edge", edge.dashed ? "dashed" : "", edge.back ? "back" : "", taken ? "taken" : ""].join(" ");
    const toJoin = byId[edge.target].kind === "join";
    svgEl("path", {
      d: edge.back ? loopPath(edge.points) : curvePath(edge.points), class: cls,
      "marker-end": toJoin ? "" : `url(#${taken ? "arrow-taken" : "arrow"})`,
    }, edgeLayer);
    if (edge.label && edge.labelAt) {
      const [x, y] = edge.labelAt;
      const text = edge.label;
      const w = text.length * 6.2 + 10;
      const g = svgEl("g", {class: "edge-label" + (edge.dashed ? " catch" : "")}, labelLayer);
      svgEl("rect", {x: x - w / 2, y: y - 9, width: w, height: 17, rx: 4}, g);
      svgEl("text", {x, y: y + 4, "text-anchor": "middle"}, g).textContent = text;
      svgEl("title", {}, g).textContent = edge.label;
    }
  }
  for (const node of layout.nodes.filter((n) => n.kind !== "compound")) drawNode(svg, node, outcome(node), options);
  return svg;
}

// Click, Enter or Space on a state selects it.
function selectable(g, node, options) {
  if (!options || !options.onSelect) return;
  g.addEventListener("click", () => options.onSelect(node.name));
  g.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") { event.preventDefault(); options.onSelect(node.name); }
  });
}

function drawCompound(svg, node, outcome, options) {
  const g = svgEl("g", {class: `state compound ${outcome}`, "data-state": node.name, "data-outcome": outcome, tabindex: 0}, svg);
  svgEl("rect", {x: node.x, y: node.y, width: node.width, height: node.height, rx: 12}, g);
  const title = svgEl("text", {x: node.x + 12, y: node.y + 21, class: "name"}, g);
  title.textContent = shorten(node.name, node.width - 90, 7.4);
  svgEl("text", {x: node.x + node.width - 12, y: node.y + 21, class: "type", "text-anchor": "end"}, g).textContent = node.type;
  svgEl("title", {}, g).textContent = `${node.name} (${node.type}) \u2014 ${outcome.replace("-", " ")}`;
  selectable(g, node, options);
}

function drawNode(svg, node, outcome, options) {
  if (node.kind === "join") {
    svgEl("circle", {cx: node.x + node.width / 2, cy: node.y + node.height / 2, r: 4, class: "join"}, svg);
    return;
  }
  if (node.kind === "start" || node.kind === "end") {
    const g = svgEl("g", {class: `terminal ${outcome}`}, svg);
    svgEl("rect", {x: node.x, y: node.y, width: node.width, height: node.height, rx: node.height / 2}, g);
    svgEl("text", {x: node.x + node.width / 2, y: node.y + node.height / 2 + 4, "text-anchor": "middle"}, g).textContent = node.name;
    return;
  }
  const g = svgEl("g", {class: `state ${outcome} type-${node.type}`, "data-state": node.name, "data-outcome": outcome, tabindex: 0}, svg);
  svgEl("rect", {x: node.x, y: node.y, width: node.width, height: node.height, rx: node.type === "Choice" ? 22 : 8}, g);
  svgEl("rect", {x: node.x, y: node.y + 8, width: 4, height: node.height - 16, rx: 2, class: "accent"}, g);
  const cx = node.x + node.width / 2;
  svgEl("text", {x: cx, y: node.y + 20, "text-anchor": "middle", class: "name"}, g).textContent = shorten(node.name, node.width - 20, 7.4);
  svgEl("text", {x: cx, y: node.y + 36, "text-anchor": "middle", class: "type"}, g).textContent = node.type;
  svgEl("title", {}, g).textContent = `${node.name} (${node.type}) \u2014 ${outcome.replace("-", " ")}`;
  selectable(g, node, options);
}

// Each state's outcome from an execution's history (GetExecutionHistory events, oldest
// first) and its status. A state instance (one StateEntered event) succeeded when it
// exited; "caught" when its last attempt failed and a Catch took it on (it still exited);
// "running" while it has not exited (or waits to retry); "failed" when the execution
// ended without it exiting. Several instances (Map iterations, loops): the worst wins.
// A Catch shows in the history as a failure event before the exit, or (a Parallel or Map
// whose branch failed) only by where the execution went next: ``layout`` (optional) gives
// the Catch targets that are not also normal successors.
function catchOnlyTargets(layout) {
  const names = Object.fromEntries(layout.nodes.map((n) => [n.id, n.name]));
  const solid = {}, dashed = {};
  for (const edge of layout.edges) {
    const table = edge.dashed ? dashed : solid;
    (table[names[edge.source]] = table[names[edge.source]] || new Set()).add(names[edge.target]);
  }
  const result = {};
  for (const [source, targets] of Object.entries(dashed)) {
    result[source] = new Set([...targets].filter((t) => !(solid[source] && solid[source].has(t))));
  }
  return result;
}

function stateOutcomes(events, status, layout) {
  const catchOnly = layout ? catchOnlyTargets(layout) : {};
  const byId = new Map();
  const instances = [];
  const instanceOf = new Map(); // event id -> instance
  const rank = {"not-reached": 0, succeeded: 1, caught: 2, failed: 3, running: 4};
  const find = (event, test) => {
    let current = byId.get(event.previousEventId);
    for (let hops = 0; current && hops < 10000; hops++) {
      if (test(current)) return instanceOf.get(current.id);
      current = byId.get(current.previousEventId);
    }
    return undefined;
  };
  for (const event of events) {
    byId.set(event.id, event);
    const type = event.type;
    if (type === "ExecutionRedriven") {
      for (const inst of instances) if (!inst.exited) inst.dropped = true;
      continue;
    }
    if (type.endsWith("StateEntered")) {
      const inst = {name: event.stateEnteredEventDetails.name, type: type.slice(0, -"StateEntered".length),
        exited: false, failed: false, dropped: false};
      instances.push(inst);
      instanceOf.set(event.id, inst);
      const previous = byId.get(event.previousEventId);
      const from = previous && previous.type.endsWith("StateExited") ? instanceOf.get(previous.id) : undefined;
      // the Parallel/Map instance it runs in: the one that started its branch, or its predecessor's
      const before = previous ? instanceOf.get(previous.id) : undefined;
      inst.parent = from ? from.parent : before && (before.type === "Parallel" || before.type === "Map") ? before : before && before.parent;
      if (from && catchOnly[from.name] && catchOnly[from.name].has(inst.name)) from.caught = true;
      continue;
    }
    if (type.endsWith("StateExited")) {
      const name = event.stateExitedEventDetails.name;
      const inst = find(event, (e) => e.type.endsWith("StateEntered") && e.stateEnteredEventDetails.name === name
        && !instanceOf.get(e.id).exited);
      if (inst) { inst.exited = true; instanceOf.set(event.id, inst); }
      continue;
    }
    if (type.startsWith("Execution")) continue;
    const prefix = type.startsWith("Parallel") ? "ParallelStateEntered" : type.startsWith("Map") && !type.startsWith("MapRun") ? "MapStateEntered" : "";
    const inst = find(event, (e) => prefix ? e.type === prefix : e.type.endsWith("StateEntered"));
    if (!inst) continue;
    instanceOf.set(event.id, inst);
    if (/(Failed|TimedOut|Aborted)$/.test(type)) inst.failed = true;
    else if (/(Scheduled|Started|Submitted)$/.test(type)) inst.failed = false;
  }
  // a state still open in a branch that has ended (its Parallel or Map exited) failed there
  const closed = (inst) => { for (let p = inst.parent; p; p = p.parent) if (p.exited) return true; return false; };
  const outcomes = {};
  for (const inst of instances) {
    if (inst.dropped) continue;
    let outcome;
    if (inst.type === "Fail") outcome = "failed";
    else if (inst.exited) outcome = inst.failed || inst.caught ? "caught" : "succeeded";
    else outcome = status === "RUNNING" && !closed(inst) ? "running" : "failed";
    if (!outcomes[inst.name] || rank[outcome] > rank[outcomes[inst.name]]) outcomes[inst.name] = outcome;
  }
  if (status === "SUCCEEDED") outcomes.__end = "succeeded";
  else if (status === "FAILED" || status === "TIMED_OUT" || status === "ABORTED") outcomes.__end = "failed";
  return outcomes;
}
