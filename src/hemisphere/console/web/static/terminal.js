// The workspace page's terminal: xterm.js over the terminal WebSocket (dc/terminal.py).
// The shell outlives the connection on the server for a grace period; this page remembers the
// session id (per tab) and reconnects to it after a network blip or a reload, with back-off.
import { Terminal } from "/static/vendor/xterm.esm.js";
import { FitAddon } from "/static/vendor/addon-fit.esm.js";

const CLOSE = { unauthenticated: 4401, notFound: 4404, notRunning: 4409, takenOver: 4410, tooMany: 4429 };

function workspaceState() {
  const summary = document.getElementById("ws-summary");
  return summary ? summary.dataset.state : "running";
}

function start(el) {
  const workspaceId = el.dataset.workspace;
  const status = document.getElementById("term-status");
  const button = document.getElementById("term-reconnect");
  const storageKey = `hemisphere-terminal-${workspaceId}`;
  const encoder = new TextEncoder();
  const term = new Terminal({
    cursorBlink: true,
    fontSize: 14,
    fontFamily: 'ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace',
    scrollback: 5000,
    theme: { background: "#0f172a", foreground: "#e2e8f0", cursor: "#facc15" },
  });
  const fit = new FitAddon();
  term.loadAddon(fit);
  term.open(el);
  fit.fit();

  let socket = null;
  let retries = 0;
  let timer = null;
  let lastEscape = 0;
  let lastState = workspaceState();

  const isOpen = () => socket !== null && socket.readyState === WebSocket.OPEN;
  const send = (data) => { if (isOpen()) socket.send(data); };
  const say = (text) => { status.textContent = text; };
  const offer = (label) => { button.textContent = label; button.hidden = false; };

  // Keyboard users must be able to leave: Escape then Tab moves focus on instead of sending Tab.
  term.attachCustomKeyEventHandler((event) => {
    if (event.type !== "keydown") return true;
    if (event.key === "Escape") { lastEscape = Date.now(); return true; }
    if (event.key === "Tab" && Date.now() - lastEscape < 1500) { lastEscape = 0; return false; }
    return true;
  });
  term.onData((data) => send(encoder.encode(data)));
  term.onBinary((data) => send(Uint8Array.from(data, (c) => c.charCodeAt(0))));
  term.onResize(({ cols, rows }) => send(JSON.stringify({ type: "resize", cols, rows })));
  new ResizeObserver(() => { try { fit.fit(); } catch (_) { /* hidden */ } }).observe(el);

  function connect() {
    clearTimeout(timer);
    button.hidden = true;
    if (socket !== null && socket.readyState <= WebSocket.OPEN) return;
    const query = new URLSearchParams({ cols: term.cols, rows: term.rows });
    const session = sessionStorage.getItem(storageKey);
    if (session) query.set("session", session);
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/api/workspaces/${workspaceId}/terminal?${query}`);
    ws.binaryType = "arraybuffer";
    socket = ws;
    say(retries ? "Reconnecting…" : "Connecting…");
    let exited = false;
    ws.onmessage = (event) => {
      if (typeof event.data !== "string") {
        term.write(new Uint8Array(event.data));
        return;
      }
      const msg = JSON.parse(event.data);
      if (msg.type === "session") {
        sessionStorage.setItem(storageKey, msg.id);
        if (msg.replay) term.reset();  // the replay redraws what this screen already shows
        retries = 0;
        el.dataset.session = msg.id;
        el.dataset.connected = "true";
        say(msg.replay ? "Reconnected to your shell." : "Connected.");
      } else if (msg.type === "exit") {
        exited = true;
        sessionStorage.removeItem(storageKey);
      }
    };
    ws.onclose = (event) => {
      if (socket !== ws) return;
      socket = null;
      el.dataset.connected = "false";
      if (exited) {
        say("The shell has ended.");
        offer("Open a new shell");
        return;
      }
      switch (event.code) {
        case CLOSE.unauthenticated: say("Your login has ended. Reload the page to log in again."); return;
        case CLOSE.notFound: say("This workspace no longer exists."); return;
        case CLOSE.notRunning: say("The workspace is not running. Start it to open a terminal."); return;
        case CLOSE.takenOver: say("This terminal was opened in another window."); offer("Use it here"); return;
        case CLOSE.tooMany: say(event.reason || "Too many terminals are open."); offer("Try again"); return;
        default: break;
      }
      retries += 1;
      const delay = Math.min(500 * 2 ** (retries - 1), 8000);
      say(`Connection lost. Reconnecting in ${Math.ceil(delay / 1000)} s…`);
      timer = setTimeout(connect, delay);
    };
  }

  button.addEventListener("click", () => { connect(); term.focus(); });
  // The summary above the terminal is kept live by htmx: connect when the workspace comes up.
  document.body.addEventListener("htmx:afterSettle", () => {
    const state = workspaceState();
    if (state === "running" && lastState !== "running" && !isOpen()) connect();
    if (state !== "running" && !isOpen()) say("Start the workspace to open a terminal.");
    lastState = state;
  });
  window.addEventListener("online", () => { if (!isOpen()) { retries = 0; connect(); } });
  if (lastState === "running") connect();
}

const element = document.getElementById("terminal");
if (element) start(element);
