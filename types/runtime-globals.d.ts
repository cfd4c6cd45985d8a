// What the runtime (src/sse_monitor/browser/static/sse-monitor.js) finds on the page besides the DOM:
// for `tsc --noEmit --checkJs` only (make lint); never shipped.
interface Window {
  /** htmx 2 or 4, loaded by the page before the runtime runs its connects. */
  htmx?: any;
  /** The runtime's own handle (one per page, even with several inline copies). */
  SSEMonitor?: any;
}
