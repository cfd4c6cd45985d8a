// Load client for the fan-out benchmark: N concurrent SSE connections in one Node process.
// Usage: node loadclient.mjs <url> <clients> <seconds-to-measure>
// Prints JSON lines: {"connected": n} once every connection is open; then, for the events
// PUBLISHED during the measurement window (each event's data is its wall-clock publish time),
// {"received", "errors", "p50", "p99", "max"} (latencies in ms) after a grace period for events
// still in flight; then {"closes", "ended"} once the server ended the streams (waits up to 15 s).
import http from "node:http";

const [url, clientsArg, secondsArg] = process.argv.slice(2);
const clients = Number(clientsArg), seconds = Number(secondsArg);
const target = new URL(url);
const GRACE_MS = 3000;
let connected = 0, ended = 0, received = 0, closes = 0, errors = 0, windowStart = Infinity, windowEnd = Infinity;
let latencies = new Float64Array(1 << 20), count = 0;
const wallNow = () => performance.timeOrigin + performance.now();

function record(ms) {
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

function open() {
  const req = http.get({hostname: target.hostname, port: target.port, path: target.pathname, agent: false,
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

for (let i = 0; i < clients; i++) open();

process.stdin.setEncoding("utf8");
process.stdin.on("data", (line) => {            // the runner says "go" when publishing starts
  if (!line.includes("go")) return;
  windowStart = wallNow();
  windowEnd = windowStart + seconds * 1000;
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
