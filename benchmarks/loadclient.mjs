// Load client for the fan-out benchmark: N concurrent SSE connections in one Node process.
// Usage: node loadclient.mjs <url> <clients> <seconds-to-measure> [report-every-seconds [churn]]
// A "{i}" in the url is replaced by each client's number (0 to clients - 1): a stream of its own each.
// With report-every-seconds (the soak), it also prints {"interval", "received", "p50", "p99",
// "open", "errors"} for each such period of the window; with churn, it also opens that many extra
// streams every second and drops each one a second later (not counted: they exercise clean-up).
// Prints JSON lines: {"connected": n} once every connection is open; then, for the events
// PUBLISHED during the measurement window (each event's data is its wall-clock publish time),
// {"received", "errors", "p50", "p99", "max"} (latencies in ms) after a grace period for events
// still in flight; then {"closes", "ended"} once the server ended the streams (waits up to 15 s).
import http from "node:http";

const [url, clientsArg, secondsArg, everyArg, churnArg] = process.argv.slice(2);
const clients = Number(clientsArg), seconds = Number(secondsArg);
const target = new URL(url);
const GRACE_MS = 3000;
let connected = 0, ended = 0, received = 0, closes = 0, errors = 0, windowStart = Infinity, windowEnd = Infinity;
let latencies = new Float64Array(1 << 20), count = 0;
const wallNow = () => performance.timeOrigin + performance.now();

let period = [], periodReceived = 0;
function record(ms) {
  if (everyArg) { period.push(ms); periodReceived++; }
  if (count === latencies.length) { const bigger = new Float64Array(count * 2); bigger.set(latencies); latencies = bigger; }
  latencies[count++] = ms;
}

function onEvent(block) {
  if (block.includes("event: close")) { closes++; return; }
  if (block.startsWith(":") || block.includes("event: ")) return;   // comments, heartbeats, pings
  const at = block.indexOf("data: ");
  if (at === -1) return;
  const published = Number(block.slice(at + 6));
  if (published < windowStart || published >= windowEnd) return;
  received++;
  record(wallNow() - published);
}

function open(i) {
  const path = decodeURI(target.pathname).replace("{i}", String(i));
  const req = http.get({hostname: target.hostname, port: target.port, path: path, agent: false,
                        headers: {accept: "text/event-stream"}}, (res) => {
    if (res.statusCode !== 200) { errors++; res.resume(); return; }
    connected++;
    if (connected === clients) console.log(JSON.stringify({connected}));
    let pending = "";
    res.setEncoding("utf8");
    res.on("data", (chunk) => {
      pending = (pending + chunk).replace(/\r\n/g, "\n");   // sse-starlette ends lines with CRLF
      let cut;
      while ((cut = pending.indexOf("\n\n")) !== -1) { onEvent(pending.slice(0, cut)); pending = pending.slice(cut + 2); }
    });
    res.on("end", () => { ended++; });
    res.on("error", () => { ended++; });
  });
  req.on("error", () => { errors++; ended++; });
}

for (let i = 0; i < clients; i++) open(i);

let churned = 0;
function churnOne() {
  const req = http.get({hostname: target.hostname, port: target.port, path: target.pathname, agent: false,
                        headers: {accept: "text/event-stream"}}, (res) => {
    if (res.statusCode !== 200) errors++;
    res.resume();
    res.on("error", () => {});
    setTimeout(() => { req.destroy(); churned++; }, 1000);
  });
  req.on("error", () => {});
}

process.stdin.setEncoding("utf8");
process.stdin.on("data", (line) => {            // the runner says "go" when publishing starts
  if (!line.includes("go")) return;
  windowStart = wallNow();
  windowEnd = windowStart + seconds * 1000;
  if (Number(churnArg) > 0) {
    const churner = setInterval(() => {
      if (wallNow() >= windowEnd) { clearInterval(churner); return; }
      for (let i = 0; i < Number(churnArg); i++) churnOne();
    }, 1000);
  }
  if (everyArg) {
    let interval = 0;
    const timer = setInterval(() => {
      const sorted = Float64Array.from(period).sort();
      const pick = (q) => sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : null;
      console.log(JSON.stringify({interval: ++interval, received: periodReceived, p50: pick(0.5), p99: pick(0.99),
                                  open: connected - ended, errors, churned}));
      period = []; periodReceived = 0;
      if (wallNow() >= windowEnd) clearInterval(timer);
    }, Number(everyArg) * 1000);
  }
  setTimeout(() => {
    const sorted = latencies.subarray(0, count).sort();
    const pick = (q) => count ? sorted[Math.min(count - 1, Math.floor(q * count))] : null;
    console.log(JSON.stringify({received, errors, p50: pick(0.5), p99: pick(0.99), max: pick(1)}));
    const deadline = Date.now() + 15000;
    const wait = setInterval(() => {
      if (ended >= connected || Date.now() > deadline) {
        clearInterval(wait);
        console.log(JSON.stringify({closes, ended}));
        process.exit(0);
      }
    }, 50);
  }, seconds * 1000 + GRACE_MS);
});
