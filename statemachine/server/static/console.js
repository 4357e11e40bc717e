// statemachine console: a single page on the server's own AWS Step Functions API
// (POST / with X-Amz-Target) plus three console endpoints (/console/api/layout, /approvals,
// /schedules).
"use strict";

const TOKEN_KEY = "statemachine-console-token";
const STATUSES = ["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE"];
const POLL_MS = 1000;
const app = document.getElementById("app");
let pollTimer = null;
let renderSerial = 0;
const layoutCache = new Map();
const EVENT_ROWS = 1000;
const showAllEvents = new Set();

// -- talking to the server ------------------------------------------------------------------

function authHeaders() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? {Authorization: `Bearer ${token}`} : {};
}

class ApiError extends Error {
  constructor(code, message, status) { super(`${code}: ${message}`); this.code = code; this.status = status; }
}

async function checked(response) {
  const text = await response.text();
  let body = {};
  try { body = text ? JSON.parse(text) : {}; } catch (e) { body = {message: text}; }
  if (response.status === 401 || response.status === 403) showTokenBar();
  if (!response.ok) {
    const code = (body.__type || body.code || `HTTP ${response.status}`).split("#").pop();
    throw new ApiError(code, body.message || body.Message || response.statusText, response.status);
  }
  return body;
}

async function aws(operation, body) {
  const response = await fetch("/", {
    method: "POST",
    headers: {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": `AWSStepFunctions.${operation}`, ...authHeaders()},
    body: JSON.stringify(body || {}),
  });
  return checked(response);
}

async function consoleApi(path, body) {
  const init = body === undefined ? {headers: authHeaders()}
    : {method: "POST", headers: {"Content-Type": "application/json", ...authHeaders()}, body: JSON.stringify(body)};
  return checked(await fetch(`/console/api/${path}`, init));
}

async function allPages(operation, body, key, limit) {
  const items = [];
  let nextToken;
  do {
    const page = await aws(operation, {...body, ...(nextToken ? {nextToken} : {})});
    items.push(...(page[key] || []));
    nextToken = page.nextToken;
  } while (nextToken && items.length < (limit || Infinity));
  return items;
}

// -- small helpers ---------------------------------------------------------------------------

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

function toDate(value) {
  if (value === undefined || value === null) return null;
  return typeof value === "number" ? new Date(value * 1000) : new Date(value);
}

function when(value) {
  const date = toDate(value);
  return date ? date.toLocaleString(undefined, {dateStyle: "medium", timeStyle: "medium"}) : "";
}

function duration(start, stop) {
  const a = toDate(start), b = toDate(stop) || new Date();
  if (!a) return "";
  const ms = Math.max(0, b - a);
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 3600000) return `${Math.floor(ms / 60000)} min ${Math.round(ms % 60000 / 1000)} s`;
  return `${Math.floor(ms / 3600000)} h ${Math.round(ms % 3600000 / 60000)} min`;
}

function pretty(text) {
  if (text === undefined || text === null) return "";
  try { return JSON.stringify(JSON.parse(text), null, 2); } catch (e) { return String(text); }
}

function jsonBlock(text) { return h("pre", {class: "json"}, pretty(text)); }

// One line of JSON that opens into the whole value (event tables stay compact).
function jsonFold(text) {
  const full = pretty(text);
  let line = String(text);
  try { line = JSON.stringify(JSON.parse(text)); } catch (e) { /* not JSON: as it is */ }
  if (!full.includes("\n") && line.length <= 90) return h("code", {class: "json-line"}, line);
  return h("details", {class: "json-fold"}, h("summary", {}, h("code", {}, line.length > 90 ? line.slice(0, 89) + "\u2026" : line)), h("pre", {class: "json"}, full));
}
function badge(status) { return h("span", {class: `badge ${status}`}, status.replace("_", " ")); }
function nameOf(arn) { return arn.split(":").pop(); }
function machineOfExecution(arn) { const parts = arn.split(":"); return parts[parts.length - 2]; }
function execLink(arn, text) { return h("a", {href: `#/execution/${encodeURIComponent(arn)}`}, text || nameOf(arn)); }
function machineLink(arn, text) { return h("a", {href: `#/machine/${encodeURIComponent(arn)}`}, text || nameOf(arn)); }

function toast(message, isError) {
  const el = document.getElementById("toast");
  el.textContent = message;
  el.className = "toast" + (isError ? " error" : "");
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.hidden = true; }, isError ? 8000 : 3000);
}

function showTokenBar() { document.getElementById("token-bar").hidden = false; }

function setLive(on) { document.getElementById("live").classList.toggle("on", on); }

function schedule(refresh, delay) {
  clearTimeout(pollTimer);
  pollTimer = setTimeout(refresh, delay || POLL_MS);
}

async function action(button, work, done) {
  button.disabled = true;
  try { await work(); if (done) toast(done); } catch (error) { toast(error.message, true); } finally { button.disabled = false; }
}

// -- lists -----------------------------------------------------------------------------------

async function listExecutions(machineArn, status) {
  const machines = machineArn ? [machineArn] : (await allPages("ListStateMachines", {maxResults: 100}, "stateMachines")).map((m) => m.stateMachineArn);
  const lists = await Promise.all(machines.map((arn) => allPages("ListExecutions",
    {stateMachineArn: arn, maxResults: 100, ...(status ? {statusFilter: status} : {})}, "executions", 200)));
  return lists.flat().sort((a, b) => toDate(b.startDate) - toDate(a.startDate));
}

function executionsTable(executions) {
  if (!executions.length) return h("p", {class: "muted", id: "no-executions"}, "No executions.");
  return h("table", {class: "executions", id: "executions"},
    h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "Status"), h("th", {}, "State machine"),
      h("th", {}, "Started"), h("th", {}, "Duration"))),
    h("tbody", {}, executions.map((e) => h("tr", {"data-arn": e.executionArn, "data-status": e.status},
      h("td", {}, execLink(e.executionArn, e.name)), h("td", {}, badge(e.status)),
      h("td", {}, machineLink(e.stateMachineArn)), h("td", {}, when(e.startDate)),
      h("td", {class: "muted"}, duration(e.startDate, e.stopDate))))));
}

function statusFilter(current, onChange) {
  return h("div", {class: "filters", id: "status-filter"}, h("span", {class: "muted"}, "Status:"),
    [["", "All"], ...STATUSES.map((s) => [s, s.replace("_", " ").toLowerCase()])].map(([value, label]) =>
      h("button", {class: "chip" + (value === current ? " active" : ""), "data-status": value || "ALL",
        onclick: () => onChange(value)}, label)));
}

async function executionsPage(params, keep) {
  const serial = renderSerial;
  const status = params.get("status") || "";
  const machine = params.get("machine") || "";
  const [machines, executions, approvals] = await Promise.all([
    allPages("ListStateMachines", {maxResults: 100}, "stateMachines"),
    listExecutions(machine, status), consoleApi("approvals")]);
  if (serial !== renderSerial) return;
  updateApprovalCount(approvals.approvals.length);
  let page = keep ? document.getElementById("executions-page") : null;
  if (!page) {  // a refresh keeps the filters and the approvals being edited: only lists change
    const go = (s, m) => { location.hash = `#/?${new URLSearchParams({...(s ? {status: s} : {}), ...(m ? {machine: m} : {})})}`; };
    const select = h("select", {id: "machine-filter", onchange: (e) => go(status, e.target.value)},
      h("option", {value: ""}, "all state machines"),
      machines.map((m) => h("option", {value: m.stateMachineArn, selected: m.stateMachineArn === machine}, m.name)));
    page = h("div", {id: "executions-page"},
      h("section", {class: "panel", id: "approvals-panel"}, h("h2", {id: "approvals-title"}), approvalCards([], true)),
      h("section", {class: "panel"}, h("h1", {}, "Executions"),
        h("div", {class: "filters"}, statusFilter(status, (s) => go(s, machine)), select),
        h("div", {id: "executions-list"})));
    app.replaceChildren(page);
  }
  const count = approvals.approvals.length;
  page.querySelector("#approvals-panel").hidden = !count;
  page.querySelector("#approvals-title").textContent = `Pending approvals (${count})`;
  approvalCards(approvals.approvals, true, page.querySelector("#approvals"));
  page.querySelector("#executions-list").replaceChildren(executionsTable(executions));
  const running = executions.some((e) => e.status === "RUNNING");
  setLive(running);
  if (running) schedule(() => { if (serial === renderSerial) route(true); });
}

async function machinesPage() {
  const machines = await allPages("ListStateMachines", {maxResults: 100}, "stateMachines");
  app.replaceChildren(h("section", {class: "panel"}, h("h1", {}, "State machines"),
    machines.length ? h("table", {id: "machines"},
      h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "Type"), h("th", {}, "Created"), h("th", {}, ""))),
      h("tbody", {}, machines.map((m) => h("tr", {"data-arn": m.stateMachineArn},
        h("td", {}, machineLink(m.stateMachineArn, m.name)), h("td", {}, m.type), h("td", {}, when(m.creationDate)),
        h("td", {}, h("a", {href: `#/?machine=${encodeURIComponent(m.stateMachineArn)}`}, "executions"))))))
      : h("p", {class: "muted"}, "No state machines yet.")));
}

async function machinePage(arn) {
  const serial = renderSerial;
  const [machine, executions] = await Promise.all([aws("DescribeStateMachine", {stateMachineArn: arn}), listExecutions(arn, "")]);
  const layout = await graphLayout(machine.definition);
  if (serial !== renderSerial) return;
  const input = h("textarea", {id: "start-input", rows: 4}, "{}");
  const start = h("button", {class: "primary", id: "start-button", onclick: () => action(start, async () => {
    const started = await aws("StartExecution", {stateMachineArn: arn, input: input.value});
    location.hash = `#/execution/${encodeURIComponent(started.executionArn)}`;
  })}, "Start execution");
  app.replaceChildren(
    h("section", {class: "panel"}, h("h1", {}, machine.name), h("span", {class: "muted"}, `${machine.type} \u00b7 ${arn}`)),
    h("div", {class: "row"},
      h("section", {class: "panel grow"}, h("h2", {}, "Graph"), h("div", {class: "graph-wrap"}, renderGraph(layout, {}, {}))),
      h("section", {class: "panel grow"}, h("h2", {}, "Start an execution"), h("label", {class: "muted"}, "Input (JSON)"), input,
        h("div", {class: "actions", style: "margin-top:8px"}, start),
        h("h2", {style: "margin-top:18px"}, "Definition"), jsonBlock(machine.definition))),
    h("section", {class: "panel"}, h("h2", {}, "Executions"), executionsTable(executions)));
}

// -- approvals -------------------------------------------------------------------------------

function updateApprovalCount(count) {
  const el = document.getElementById("approval-count");
  el.textContent = count;
  el.hidden = !count;
}

function approvalCard(item, showExecution) {
  const output = h("textarea", {class: "approve-output", rows: 3}, JSON.stringify({approved: true}, null, 2));
  const error = h("input", {class: "reject-error", value: "Rejected"});
  const cause = h("input", {class: "reject-cause", placeholder: "why (optional)"});
  const approve = h("button", {class: "primary approve", onclick: () => action(approve, async () => {
    await aws("SendTaskSuccess", {taskToken: item.taskToken, output: output.value});
    route(true);
  }, `Approved ${item.stateName}`)}, "Approve");
  const reject = h("button", {class: "danger reject", onclick: () => action(reject, async () => {
    await aws("SendTaskFailure", {taskToken: item.taskToken, error: error.value, ...(cause.value ? {cause: cause.value} : {})});
    route(true);
  }, `Rejected ${item.stateName}`)}, "Reject");
  return h("div", {class: "approval", "data-token": item.taskToken, "data-state": item.stateName},
    h("h3", {}, item.stateName, h("span", {class: "muted"}, ` \u00b7 waiting ${duration(item.created)}`)),
    showExecution ? h("div", {class: "muted"}, "execution ", execLink(item.executionArn), ` (${machineOfExecution(item.executionArn)})`) : "",
    h("label", {}, "Input"), jsonBlock(item.input),
    h("div", {class: "forms"},
      h("div", {}, h("label", {}, "Output (JSON)"), output, h("div", {class: "actions", style: "margin-top:6px"}, approve)),
      h("div", {}, h("label", {}, "Error"), error, h("label", {}, "Cause"), cause, h("div", {class: "actions", style: "margin-top:6px"}, reject))));
}

// Cards keyed by task token: a refresh adds and removes cards but keeps the ones being edited.
function approvalCards(items, showExecution, container) {
  const box = container || h("div", {class: "approvals", id: "approvals"});
  const wanted = new Set(items.map((i) => i.taskToken));
  for (const card of [...box.children]) if (!wanted.has(card.dataset.token)) card.remove();
  const present = new Set([...box.children].map((c) => c.dataset.token));
  for (const item of items) if (!present.has(item.taskToken)) box.append(approvalCard(item, showExecution));
  return box;
}

async function approvalsPage() {
  const serial = renderSerial;
  const {approvals} = await consoleApi("approvals");
  if (serial !== renderSerial) return;
  updateApprovalCount(approvals.length);
  let box = document.getElementById("approvals");
  if (!box) {
    box = approvalCards([], true);
    app.replaceChildren(h("section", {class: "panel"}, h("h1", {}, "Pending approvals"),
      h("p", {class: "muted"}, "Tasks waiting for a callback (.waitForTaskToken). Approve sends SendTaskSuccess with the output; Reject sends SendTaskFailure."),
      box, h("p", {class: "muted", id: "no-approvals"}, "")));
  }
  approvalCards(approvals, true, box);
  document.getElementById("no-approvals").textContent = approvals.length ? "" : "Nothing is waiting.";
  setLive(true);
  schedule(() => { if (serial === renderSerial) approvalsPage().catch(showError); });
}

// -- schedules -------------------------------------------------------------------------------

// A fire time on the schedule's own clock (its ScheduleExpressionTimezone), 24-hour.
function zoned(seconds, zone) {
  const options = {year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
    hourCycle: "h23", timeZoneName: "short"};
  try { return new Date(seconds * 1000).toLocaleString(undefined, {...options, timeZone: zone}); }
  catch (e) { return new Date(seconds * 1000).toLocaleString(undefined, options); }  // a zone the browser lacks
}

function fireTime(seconds, zone, cls) {
  return h("time", {class: cls, datetime: new Date(seconds * 1000).toISOString(), title: when(seconds)}, zoned(seconds, zone));
}

async function schedulesPage() {
  const serial = renderSerial;
  const {schedules} = await consoleApi("schedules");
  if (serial !== renderSerial) return;
  const rows = schedules.map((s) => {
    const zone = s.ScheduleExpressionTimezone || "UTC";
    const fires = s.NextFireTimes || [];
    return h("tr", {"data-name": s.Name, "data-group": s.GroupName, "data-state": s.State},
      h("td", {}, s.Name, s.GroupName !== "default" ? h("span", {class: "muted"}, ` @${s.GroupName}`) : "",
        s.Description ? h("div", {class: "muted"}, s.Description) : ""),
      h("td", {}, h("span", {class: `badge ${s.State === "ENABLED" ? "SUCCEEDED" : "ABORTED"}`}, s.State.toLowerCase())),
      h("td", {}, h("code", {class: "expression"}, s.ScheduleExpression), h("div", {class: "muted zone"}, zone)),
      h("td", {}, s.Target.Exists === false ? h("span", {class: "error-text target-missing", title: "its fires are dropped"},
        `${nameOf(s.Target.Arn)} (deleted)`) : machineLink(s.Target.Arn)),
      h("td", {class: "next-fires"}, fires.length ? fires.map((t, i) => h("div", {}, fireTime(t, zone, i ? "muted" : "next")))
        : h("span", {class: "muted"}, s.State === "ENABLED" ? "no more fires" : "disabled")),
      h("td", {class: "last-fire"}, s.LastFireTime ? fireTime(s.LastFireTime, zone) : h("span", {class: "muted"}, "never")));
  });
  app.replaceChildren(h("section", {class: "panel"}, h("h1", {}, "Schedules"),
    h("p", {class: "muted"}, "EventBridge Scheduler schedules fired by this server (sm schedules, the Scheduler API). Times are on each schedule's clock."),
    schedules.length ? h("table", {id: "schedules"},
      h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "State"), h("th", {}, "Expression"),
        h("th", {}, "State machine"), h("th", {}, "Next fires"), h("th", {}, "Last fire"))),
      h("tbody", {}, rows)) : h("p", {class: "muted", id: "no-schedules"}, "No schedules.")));
  setLive(false);
  schedule(() => { if (serial === renderSerial) schedulesPage().catch(showError); }, POLL_MS * 5);
}

// -- one execution ---------------------------------------------------------------------------

async function graphLayout(definition) {
  if (!layoutCache.has(definition)) layoutCache.set(definition, await consoleApi("layout", {definition}));
  return layoutCache.get(definition);
}

const EVENT_DETAILS = [["input", "Input"], ["output", "Output"], ["parameters", "Parameters"], ["error", "Error"], ["cause", "Cause"], ["result", "Result"]];

function eventRow(event, stateOf, start) {
  const details = Object.entries(event).find(([key]) => key.endsWith("EventDetails"));
  const body = details ? details[1] : {};
  const parts = EVENT_DETAILS.filter(([key]) => body[key] !== undefined).map(([key, label]) =>
    h("div", {class: `detail detail-${key}`}, h("b", {}, label), key === "error" ? h("code", {class: "error-text"}, body[key]) : jsonFold(body[key])));
  const kind = /(Failed|TimedOut|Aborted)$/.test(event.type) ? "failed" : /(Succeeded|Exited)$/.test(event.type) ? "succeeded" : "";
  const state = stateOf.get(event.id) || "";
  return h("tr", {class: kind, "data-id": event.id, "data-type": event.type, "data-state": state},
    h("td", {class: "num"}, event.id), h("td", {class: "type"}, event.type), h("td", {}, state),
    h("td", {class: "time"}, `+${duration(start, event.timestamp)}`),
    h("td", {class: "details"}, parts));
}

// The state each event belongs to: its own name, or its StateEntered ancestor's.
function eventStates(events) {
  const byId = new Map(events.map((e) => [e.id, e]));
  const result = new Map();
  for (const event of events) {
    const own = (event.stateEnteredEventDetails || event.stateExitedEventDetails || {}).name;
    if (own) { result.set(event.id, own); continue; }
    if (event.type.startsWith("Execution")) continue;
    const previous = byId.get(event.previousEventId);
    if (previous && result.has(previous.id) && !previous.type.endsWith("StateExited")) result.set(event.id, result.get(previous.id));
  }
  return result;
}

async function executionPage(arn, keep) {
  const serial = renderSerial;
  const [execution, machine, events, approvals] = await Promise.all([
    aws("DescribeExecution", {executionArn: arn}),
    aws("DescribeStateMachineForExecution", {executionArn: arn}),
    allPages("GetExecutionHistory", {executionArn: arn, maxResults: 1000, includeExecutionData: true}, "events"),
    consoleApi(`approvals?executionArn=${encodeURIComponent(arn)}`)]);
  const layout = await graphLayout(machine.definition);
  if (serial !== renderSerial) return;
  const outcomes = stateOutcomes(events, execution.status, layout);
  const selected = keep && document.getElementById("execution") ? document.getElementById("execution").dataset.selected || "" : "";
  const page = h("div", {id: "execution", "data-status": execution.status, "data-selected": selected});
  const select = (name) => {
    page.dataset.selected = page.dataset.selected === name ? "" : name;
    applySelection(page);
  };
  const stop = h("button", {class: "danger", id: "stop-button", onclick: () => action(stop, async () => {
    await aws("StopExecution", {executionArn: arn, error: "Stopped", cause: "stopped from the console"}); route(true);
  }, "Stopped")}, "Stop");
  const redrive = h("button", {id: "redrive-button", onclick: () => action(redrive, async () => {
    await aws("RedriveExecution", {executionArn: arn}); route(true);
  }, "Redriven")}, "Redrive");
  const status = execution.status;
  const redrivable = ["FAILED", "ABORTED", "TIMED_OUT"].includes(status) && execution.redriveStatus !== "NOT_REDRIVABLE";
  const approvalsBox = keep && document.getElementById("approvals") ? document.getElementById("approvals") : approvalCards([], false);
  approvalCards(approvals.approvals, false, approvalsBox);
  const stateOf = eventStates(events);
  // long histories: the first and the newest events (all on request), so the page stays quick
  const shown = showAllEvents.has(arn) || events.length <= EVENT_ROWS ? events
    : [...events.slice(0, EVENT_ROWS / 2), ...events.slice(-EVENT_ROWS / 2)];
  page.append(
    h("section", {class: "panel"},
      h("div", {class: "row"}, h("div", {class: "grow"},
        h("div", {class: "muted"}, machineLink(execution.stateMachineArn), " / execution"),
        h("h1", {}, execution.name, " ", h("span", {id: "execution-status"}, badge(status)))),
        h("div", {class: "actions"}, status === "RUNNING" ? stop : "", redrivable ? redrive : "")),
      h("dl", {class: "meta"},
        h("dt", {}, "ARN"), h("dd", {class: "mono"}, arn),
        h("dt", {}, "Started"), h("dd", {}, when(execution.startDate)),
        execution.stopDate ? [h("dt", {}, "Stopped"), h("dd", {}, when(execution.stopDate))] : "",
        h("dt", {}, "Duration"), h("dd", {}, duration(execution.startDate, execution.stopDate)),
        execution.redriveCount ? [h("dt", {}, "Redriven"), h("dd", {}, `${execution.redriveCount} time(s)`)] : "",
        execution.error ? [h("dt", {}, "Error"), h("dd", {class: "error-text", id: "execution-error"}, execution.error)] : "",
        execution.cause ? [h("dt", {}, "Cause"), h("dd", {id: "execution-cause"}, execution.cause)] : "")),
    h("div", {class: "row"},
      h("section", {class: "panel graph-panel"}, h("h2", {}, "Graph"),
        h("div", {class: "legend"}, ["running", "succeeded", "caught", "failed", "not-reached"].map((o) => h("span", {class: o}, o.replace("-", " ")))),
        h("div", {class: "graph-wrap"}, renderGraph(layout, outcomes, {onSelect: select}))),
      h("div", {class: "grow side-column"},
        approvals.approvals.length ? h("section", {class: "panel"}, h("h2", {}, "Waiting for approval"), approvalsBox) : "",
        h("section", {class: "panel side"}, h("h2", {}, "Execution input"), jsonBlock(execution.input),
          h("h2", {}, "Execution output"), execution.output !== undefined ? jsonBlock(execution.output)
            : h("p", {class: "muted"}, status === "RUNNING" ? "none yet" : "none"),
          h("div", {id: "state-detail"})))),
    h("section", {class: "panel"}, h("h2", {}, "Events ", h("span", {class: "state-filter muted", id: "state-filter"})),
      h("table", {class: "events", id: "events"},
        h("thead", {}, h("tr", {}, h("th", {}, "#"), h("th", {}, "Type"), h("th", {}, "State"), h("th", {}, "Elapsed"), h("th", {}, "Input / output"))),
        h("tbody", {}, shown.map((e) => eventRow(e, stateOf, execution.startDate)))),
      shown.length < events.length ? h("p", {class: "muted", id: "more-events"}, `${events.length - shown.length} events in the middle not shown \u00b7 `,
        h("a", {href: "javascript:void 0", onclick: () => { showAllEvents.add(arn); route(true); }}, "show all")) : ""));
  app.replaceChildren(page);
  applySelection(page);
  const live = status === "RUNNING";
  setLive(live);
  // big histories poll less often
  if (live) schedule(() => { if (serial === renderSerial) route(true); }, POLL_MS * (1 + Math.min(9, Math.floor(events.length / 2000))));
}

function applySelection(page) {
  const name = page.dataset.selected;
  for (const g of page.querySelectorAll("svg.graph .state")) g.classList.toggle("selected", g.dataset.state === name);
  for (const row of page.querySelectorAll("#events tbody tr")) row.classList.toggle("hidden", !!name && row.dataset.state !== name);
  const detail = page.querySelector("#state-detail");
  const entered = [...page.querySelectorAll("#events tbody tr")].filter((row) => row.dataset.state === name);
  const pick = (suffix, key) => {
    const rows = entered.filter((row) => row.dataset.type.endsWith(suffix));
    const cell = rows.length ? rows[rows.length - 1].querySelector(`.detail-${key} details pre, .detail-${key} code`) : null;
    return cell ? cell.textContent : null;
  };
  detail.replaceChildren(...(name ? [h("h2", {}, `State ${name}`),
    h("h3", {}, "Input"), pick("StateEntered", "input") !== null ? jsonBlock(pick("StateEntered", "input")) : h("p", {class: "muted"}, "not entered"),
    h("h3", {}, "Output"), pick("StateExited", "output") !== null ? jsonBlock(pick("StateExited", "output")) : h("p", {class: "muted"}, "no output")]
    : [h("p", {class: "muted"}, "Click a state in the graph to see its input and output and only its events.")]));
  const label = page.querySelector("#state-filter");
  label.replaceChildren(name ? h("span", {}, `only state ${name} \u00b7 `, h("a", {href: "javascript:void 0", onclick: () => { page.dataset.selected = ""; applySelection(page); }}, "show all")) : "click a state to see only its events");
}

// -- routing ---------------------------------------------------------------------------------

function showError(error) {
  app.replaceChildren(h("section", {class: "panel"}, h("h1", {}, "Something went wrong"), h("p", {class: "error-text", id: "page-error"}, error.message)));
}

async function route(keep) {
  clearTimeout(pollTimer);
  if (!keep) renderSerial++;
  const [path, query] = (location.hash.slice(1) || "/").split("?");
  const params = new URLSearchParams(query || "");
  const parts = path.split("/").filter(Boolean);
  try {
    if (parts[0] === "execution" && parts[1]) await executionPage(decodeURIComponent(parts[1]), keep);
    else if (parts[0] === "machine" && parts[1]) await machinePage(decodeURIComponent(parts[1]));
    else if (parts[0] === "machines") await machinesPage();
    else if (parts[0] === "approvals") await approvalsPage();
    else if (parts[0] === "schedules") await schedulesPage();
    else await executionsPage(params, keep);
  } catch (error) {
    if (error instanceof ApiError && (error.status === 401 || error.status === 403)) showTokenBar();
    showError(error);
  }
}

document.getElementById("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, document.getElementById("token-input").value.trim());
  document.getElementById("token-bar").hidden = true;
  route();
});
window.addEventListener("hashchange", () => route());
route();
