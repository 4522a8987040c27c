// The warren dashboard. It calls this node's API with the token the user
// gives (kept in sessionStorage, sent in the Authorization header) and
// renders every value as text: Worker output is hostile, so nothing here
// ever assigns HTML.
"use strict";

(() => {
  const TOKEN_KEY = "warren.token";
  const TAIL_ROWS = 200;          // invocations kept on the page
  const TAIL_BUFFER = 16 << 20;   // bytes of an unfinished event before giving up
  const CELL_TEXT = 2000;         // characters of logs shown per invocation
  const RUN_BODY_TEXT = 1 << 20;  // characters of a run's body shown
  const DEFAULT_SNIPPET = `export default {
  async fetch(request, env, ctx) {
    console.log("hello from the dashboard");
    return new Response("hi from " + new URL(request.url).pathname);
  }
};
`;

  const $ = (id) => document.getElementById(id);

  // el builds an element; children are nodes or strings (as text).
  function el(tag, props, ...children) {
    const e = document.createElement(tag);
    if (props) {
      for (const [k, v] of Object.entries(props)) {
        if (k === "class") e.className = v;
        else if (k === "title") e.title = v;
        else e.setAttribute(k, v);
      }
    }
    for (const c of children) {
      if (c === null || c === undefined) continue;
      e.append(typeof c === "string" ? c : c instanceof Node ? c : String(c));
    }
    return e;
  }

  function cut(s, n) {
    s = String(s);
    return s.length > n ? s.slice(0, n) + ` … [${s.length - n} more characters]` : s;
  }

  function fmtMs(v) {
    return typeof v === "number" && isFinite(v) ? v.toFixed(v < 10 ? 2 : 1) : "–";
  }

  function setStatus(msg, cls) {
    const s = $("status");
    s.textContent = msg;
    s.className = cls || "";
  }

  // The token: a #token=... fragment (which never reaches a server) is
  // taken once and removed from the address bar.
  function takeFragmentToken() {
    const m = /^#token=(.+)$/.exec(location.hash);
    if (m) {
      history.replaceState(null, "", location.pathname + location.search);
      try {
        sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]).trim());
      } catch (_) {
        setStatus("The #token= in the address is malformed: paste the token instead.", "error");
      }
    }
  }
  const token = () => sessionStorage.getItem(TOKEN_KEY) || "";

  class APIError extends Error {
    constructor(status, code, msg) {
      super(msg);
      this.status = status;
      this.code = code;
    }
  }

  async function api(path, init) {
    init = init || {};
    const headers = new Headers(init.headers || {});
    if (token()) headers.set("Authorization", "Bearer " + token());
    const resp = await fetch(path, { ...init, headers, cache: "no-store", credentials: "omit" });
    if (!resp.ok) {
      let body = {};
      try { body = await resp.json(); } catch (_) { /* not JSON */ }
      throw new APIError(resp.status, body.code || "", body.error || resp.status + " " + resp.statusText);
    }
    return resp;
  }

  function authProblem(err) {
    if (err instanceof APIError && (err.status === 401 || err.status === 403)) {
      setStatus(token() ? "The token was refused: " + err.message : "Paste an API token above (warren token create --admin).", "error");
      return true;
    }
    return false;
  }

  // Members, their RTT matrix and load.
  async function refreshMembers() {
    const [members, overview] = await Promise.all([
      api("/v1/members").then((r) => r.json()),
      api("/v1/overview").then((r) => r.json()),
    ]);
    $("node-name").textContent = "· " + members.node;
    const rows = new Map((overview.nodes || []).map((v) => [v.name, v]));
    const tbody = $("members").tBodies[0];
    tbody.replaceChildren(...(members.members || []).map((m) => {
      const v = rows.get(m.name) || {};
      const cells = [
        el("td", null, m.name + (m.local ? " (this node)" : "")),
        el("td", { class: m.state }, m.state),
        el("td", null, m.api || "–"),
        el("td", null, String(m.slots)),
        el("td", null, String(v.free ?? m.free)),
        el("td", null, typeof m.load === "number" ? m.load.toFixed(2) : "–"),
        el("td", null, v.running ?? "–"),
        el("td", null, v.queued ?? "–"),
        el("td", null, v.objectsActive ?? "–"),
      ];
      return el("tr", { "data-member": m.name }, ...cells);
    }));

    const names = (overview.nodes || []).map((v) => v.name);
    $("rtt").tHead.replaceChildren(el("tr", null, el("th", null, "from \\ to"), ...names.map((n) => el("th", null, n))));
    $("rtt").tBodies[0].replaceChildren(...(overview.nodes || []).map((v) =>
      el("tr", null, el("th", null, v.name), ...names.map((to) => {
        const rtt = v.rttMs ? v.rttMs[to] : undefined;
        return el("td", null, v.error ? "?" : rtt === null || rtt === undefined ? "–" : fmtMs(rtt));
      }))));
    const errs = (overview.nodes || []).filter((v) => v.error).map((v) => v.name + ": " + v.error);
    $("overview-errors").textContent = errs.join("; ");
  }

  // Raft groups.
  async function refreshGroups() {
    let data;
    try {
      data = await (await api("/v1/groups")).json();
    } catch (err) {
      if (err instanceof APIError && err.status === 503) {
        $("groups-note").textContent = err.message;
        $("groups").tBodies[0].replaceChildren();
        return;
      }
      throw err;
    }
    const groups = data.groups || [];
    $("groups-note").textContent = groups.length ? "" : "no groups placed yet";
    $("groups").tBodies[0].replaceChildren(...groups.map((g) => {
      const reps = (g.replicas || []).map((r) => r.node + (r.leader ? "★" : "") + (r.voter ? "" : " (learner)") +
        (r.unreachable ? " (unreachable)" : r.lag ? ` lag ${r.lag}` : "")).join(", ");
      const flags = [g.degraded ? "degraded" : "", g.unavailable ? "unavailable" : "", g.error || ""].filter(Boolean).join("; ");
      return el("tr", { class: g.unavailable || g.error ? "bad" : "" },
        el("td", null, g.id), el("td", null, g.leader || "none"), el("td", null, String(g.term)),
        el("td", null, String(g.commitIndex)), el("td", null, String(g.wanted)),
        el("td", { class: "wrap" }, reps + (flags ? " — " + flags : "")));
    }));
  }

  // needsToken is false on a node without auth (its API answers without one).
  let needsToken = true;

  // poll runs f now and every ms after it ends (never two at once).
  function poll(f, ms) {
    const tick = async () => {
      if (token() || !needsToken) {
        try {
          await f();
          if ($("status").className === "error") setStatus("");
        } catch (err) {
          if (!authProblem(err)) setStatus(String(err.message || err), "error");
        }
      }
      setTimeout(tick, ms);
    };
    tick();
  }

  // The live tail, read with fetch so that the token goes in a header:
  // EventSource cannot send one, and a token in a URL would be logged.
  let tailAbort = null;
  async function followTail() {
    if (tailAbort) tailAbort.abort();
    const ctl = new AbortController();
    tailAbort = ctl;
    const state = $("tail-state");
    for (;;) {
      if (ctl.signal.aborted) return;
      try {
        const resp = await api("/v1/tail?scope=mesh", { signal: ctl.signal, headers: { Accept: "text/event-stream" } });
        state.textContent = "(connected)";
        await readEvents(resp.body, ctl.signal, addTailEvent);
        state.textContent = "(stream ended; reconnecting)";
      } catch (err) {
        if (ctl.signal.aborted) return;
        if (err instanceof APIError && (err.status === 401 || err.status === 403)) {
          state.textContent = "(the live tail needs an admin token: " + err.message + ")";
          return;
        }
        state.textContent = "(disconnected: " + (err.message || err) + "; reconnecting)";
      }
      await new Promise((r) => setTimeout(r, 2000));
    }
  }

  // readEvents parses server-sent events from a byte stream and hands
  // each event's data, parsed as JSON, to onEvent.
  async function readEvents(body, signal, onEvent) {
    const reader = body.getReader();
    const dec = new TextDecoder();
    let buf = "";
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done || signal.aborted) return;
        buf += dec.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
        let i;
        while ((i = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const data = block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).replace(/^ /, "")).join("\n");
          if (!data) continue; // a comment: keep-alive
          let e;
          try { e = JSON.parse(data); } catch (_) { continue; }
          onEvent(e);
        }
        if (buf.length > TAIL_BUFFER) throw new Error("an event larger than " + TAIL_BUFFER + " bytes");
      }
    } finally {
      reader.cancel().catch(() => {});
    }
  }

  // readLines hands each line of a byte stream, parsed as JSON, to onLine.
  async function readLines(body, onLine) {
    const reader = body.getReader();
    const dec = new TextDecoder();
    let buf = "";
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let i;
        while ((i = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          if (line.trim()) onLine(JSON.parse(line));
        }
      }
      if (buf.trim()) onLine(JSON.parse(buf));
    } finally {
      reader.cancel().catch(() => {});
    }
  }

  function addTailEvent(e) {
    const hops = Array.isArray(e.hops) ? e.hops.join(" → ") : "";
    const lines = [];
    for (const l of e.logs || []) lines.push("[" + l.level + "] " + l.message);
    for (const x of e.exceptions || []) lines.push(x.name + ": " + x.message);
    if (e.error) lines.push(e.error);
    if (e.dropped) lines.push(`(${e.dropped} earlier events dropped: the stream was too slow)`);
    const t = new Date(e.time);
    const row = el("tr", { class: e.outcome === "ok" ? "" : "bad" },
      el("td", null, isNaN(t) ? String(e.time) : t.toLocaleTimeString()),
      el("td", null, e.node), el("td", null, e.entry), el("td", null, e.worker || ""),
      el("td", null, hops), el("td", { class: e.outcome === "ok" ? "ok" : "bad" }, e.outcome),
      el("td", null, fmtMs(e.cpuMs)), el("td", null, fmtMs(e.wallMs)),
      el("td", { class: "wrap" }, cut(lines.join("\n"), CELL_TEXT)));
    const tbody = $("tail").tBodies[0];
    tbody.prepend(row);
    while (tbody.rows.length > TAIL_ROWS) tbody.deleteRow(-1);
  }

  // The snippet runner.
  async function runSnippet(ev) {
    ev.preventDefault();
    const lang = $("run-lang").value === "ts" ? "ts" : "js";
    const main = "main." + lang;
    let path = $("run-path").value.trim() || "/";
    if (!path.startsWith("/")) path = "/" + path;
    const body = {
      code: { mainModule: main, modules: { [main]: $("run-source").value } },
      request: { url: "http://localhost" + path },
    };
    const button = $("run-button");
    button.disabled = true;
    $("run-result").hidden = false;
    $("run-outcome").textContent = "running…";
    let gotResult = false;
    for (const id of ["run-node", "run-hops", "run-status", "run-times", "run-error", "run-body", "run-logs", "run-exceptions"]) $(id).textContent = "";
    try {
      // As lines of JSON: the result, then a streamed body's chunks as
      // the Worker produces them.
      const resp = await api("/v1/run", {
        method: "POST", body: JSON.stringify(body),
        headers: { "Content-Type": "application/json", Accept: "application/x-ndjson" },
      });
      let shown = 0;
      await readLines(resp.body, (line) => {
        if (line.result) {
          gotResult = true;
          showResult(line.result);
          return;
        }
        const chunk = typeof line.body === "string" ? line.body
          : typeof line.bodyBase64 === "string" ? "(bytes, base64) " + line.bodyBase64 : "";
        if (chunk && shown < RUN_BODY_TEXT) {
          $("run-body").append(chunk.slice(0, RUN_BODY_TEXT - shown));
          shown += chunk.length;
          if (shown >= RUN_BODY_TEXT) $("run-body").append(" … [the rest is not shown]");
        }
        if (line.error) $("run-error").textContent = "the body failed midway: " + line.error;
      });
    } catch (err) {
      if (!gotResult) $("run-outcome").textContent = "not run";
      $("run-error").textContent = (gotResult ? "reading the body: " : "") + String(err.message || err);
      authProblem(err);
    } finally {
      button.disabled = false;
    }
  }

  function showResult(res) {
    const tel = res.telemetry || {};
    $("run-outcome").textContent = res.outcome;
    $("run-outcome").className = res.outcome === "ok" ? "ok" : "bad";
    $("run-node").textContent = tel.node || "–";
    $("run-hops").textContent = Array.isArray(tel.hops) ? tel.hops.join(" → ") : "–";
    $("run-times").textContent = fmtMs(tel.cpuTime) + " / " + fmtMs(tel.wallTime) + " ms" + (tel.coldStart ? " (cold)" : "");
    $("run-error").textContent = res.error || "";
    const r = res.response;
    $("run-status").textContent = r ? String(r.status) : "–";
    if (r && typeof r.body === "string") $("run-body").textContent = cut(r.body, RUN_BODY_TEXT);
    else if (r && r.bodyBase64) $("run-body").textContent = "(bytes, base64) " + cut(r.bodyBase64, RUN_BODY_TEXT);
    $("run-logs").textContent = (res.logs || []).map((l) => "[" + l.level + "] " + l.message).join("\n") || "none";
    $("run-exceptions").textContent = (res.exceptions || []).map((x) => x.stack || x.name + ": " + x.message).join("\n\n") || "none";
  }

  async function start() {
    takeFragmentToken();
    $("run-source").value = DEFAULT_SNIPPET;
    $("token-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const v = $("token").value.trim();
      $("token").value = "";
      if (v) sessionStorage.setItem(TOKEN_KEY, v);
      setStatus("");
      followTail();
    });
    $("token-forget").addEventListener("click", () => {
      sessionStorage.removeItem(TOKEN_KEY);
      if (tailAbort) tailAbort.abort();
      $("tail-state").textContent = "";
      setStatus("Token forgotten.");
    });
    $("run-form").addEventListener("submit", runSnippet);
    // A node without auth answers without a token; find out once.
    try {
      await api("/v1/members");
      needsToken = false;
    } catch (err) {
      authProblem(err);
    }
    poll(refreshMembers, 2000);
    poll(refreshGroups, 5000);
    if (token() || !needsToken) followTail();
  }

  document.addEventListener("DOMContentLoaded", start);
})();
