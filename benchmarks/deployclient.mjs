// Load client for the deploy benchmark: N SSE clients behind a load balancer that behave like the
// browser runtime (sse-monitor.js) across a deploy.
// Usage: node deployclient.mjs <url> <clients> <jitter: paced|today>
// - `event: close` with {"reconnect_after_ms": n}: come back after n ms plus the runtime's jitter:
//   `paced` = the current runtime (+ up to 10 %, at most 250 ms), `today` = the runtime before paced
//   close (n x 1-1.5); then reconnect with Last-Event-ID.
// - a dropped stream or an error status: exponential backoff 1, 2, 4 s (x 0.5-1 jitter), as the runtime.
// Event data is "<seq> <publish wall-clock ms>": each client checks it gets every seq once, in order.
// stdin: "before" / "during" / "after" start the latency periods (for clients never moved: those
// already on the survivor); "report" prints {"report": ...} and exits.
import http from "node:http";

const [url, clientsArg, jitterArg] = process.argv.slice(2);
const target = new URL(url);
const N = Number(clientsArg);
const paced = jitterArg !== "today";
const wallNow = () => performance.timeOrigin + performance.now();

let connected = 0, announced = false, closes = 0, errors = 0, refused = 0, reconnects = 0;
let phase = "idle";
const latencies = {before: [], during: []};
const clients = [];

function closeDelay(after) {
  return paced ? after + Math.min(250, after * 0.1) * Math.random() : after * (1 + 0.5 * Math.random());
}

function backoff(c) {
  c.attempt++;
  const delay = 1000 * 2 ** Math.min(c.attempt - 1, 2);
  return delay * (1 - 0.5 * Math.random());
}

function onEvent(c, block) {
  let event = "message", data = null, id = null;
  for (const line of block.split("\n")) {
    if (line.startsWith("event: ")) event = line.slice(7);
    else if (line.startsWith("data: ")) data = line.slice(6);
    else if (line.startsWith("id: ")) id = line.slice(4);
  }
  if (id !== null) c.lastId = id;
  if (event === "close") { c.closeAfter = JSON.parse(data).reconnect_after_ms; return; }
  if (event !== "message" || data === null) return;
  const space = data.indexOf(" ");
  const seq = Number(data.slice(0, space)), published = Number(data.slice(space + 1));
  if (c.last === null) c.first = seq;
  else if (seq <= c.last) { c.dup++; return; }
  else if (seq > c.last + 1) c.lost += seq - c.last - 1;
  c.last = seq;
  if (!c.moved && (phase === "before" || phase === "during")) latencies[phase].push(wallNow() - published);
}

function open(c) {
  const headers = {accept: "text/event-stream"};
  if (c.lastId) headers["last-event-id"] = c.lastId;
  c.closeAfter = null;
  const req = http.get({hostname: target.hostname, port: target.port, path: target.pathname, agent: false, headers},
    (res) => {
      if (res.statusCode !== 200) { refused++; res.resume(); res.on("end", () => retry(c, backoff(c))); return; }
      c.attempt = 0;
      if (c.opened++ === 0) {
        connected++;
        if (connected === N && !announced) { announced = true; console.log(JSON.stringify({connected})); }
      } else reconnects++;
      let pending = "";
      res.setEncoding("utf8");
      res.on("data", (chunk) => {
        pending += chunk;
        let cut;
        while ((cut = pending.indexOf("\n\n")) !== -1) { onEvent(c, pending.slice(0, cut)); pending = pending.slice(cut + 2); }
      });
      const ended = () => {
        if (c.done) return;
        c.done = true;
        if (c.closeAfter !== null) { closes++; c.moved = true; retry(c, closeDelay(c.closeAfter)); }
        else { errors++; c.moved = true; retry(c, backoff(c)); }
      };
      res.on("end", ended);
      res.on("error", ended);
      res.on("close", ended);
    });
  req.on("error", () => { errors++; c.moved = true; retry(c, backoff(c)); });
}

function retry(c, delay) {
  setTimeout(() => { c.done = false; open(c); }, delay);
}

for (let i = 0; i < N; i++) {
  const c = {lastId: null, last: null, first: null, lost: 0, dup: 0, opened: 0, attempt: 0, moved: false,
             done: false, closeAfter: null};
  clients.push(c);
  setTimeout(() => open(c), Math.floor(i / 200) * 20);    // 200 at a time, as tabs open
}

function p99(values) {
  if (!values.length) return null;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.floor(0.99 * sorted.length))];
}

process.stdin.setEncoding("utf8");
process.stdin.on("data", (text) => {
  for (const line of text.split("\n")) {
    if (line === "before" || line === "during" || line === "after") phase = line;
    if (line.startsWith("report")) {
      const finalSeq = Number(line.split(" ")[1]);
      let lost = 0, dup = 0, incomplete = 0;
      for (const c of clients) {
        lost += c.last === null ? finalSeq : c.lost + (c.first - 1) + Math.max(0, finalSeq - c.last);
        dup += c.dup;
        if (c.last !== finalSeq) incomplete++;
      }
      console.log(JSON.stringify({report: {clients: N, connected, closes, reconnects, errors, refused, lost, dup,
        incomplete, moved: clients.filter((c) => c.moved).length,
        stayed_p99_before_ms: p99(latencies.before), stayed_p99_during_ms: p99(latencies.during),
        samples_before: latencies.before.length, samples_during: latencies.during.length}}));
      process.exit(0);
    }
  }
});
