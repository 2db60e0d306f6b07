// The one WebSocket of a browser tab. It reconnects with backoff and hands every
// event to the page as a DOM event, so that features stay small:
//   document.addEventListener("ws:event", (e) => e.detail /* {stream, event, data} */)
// Pages send frames with `window.workspaceSocket.send({type: ..., ...})`.

const MIN_DELAY = 500;
const MAX_DELAY = 15000;

class WorkspaceSocket {
  constructor(url) {
    this.url = url;
    this.delay = MIN_DELAY;
    this.queue = [];
    this.connect();
  }

  connect() {
    this.ws = new WebSocket(this.url);
    this.ws.addEventListener("open", () => {
      this.delay = MIN_DELAY;
      document.documentElement.dataset.socket = "open";
      document.dispatchEvent(new CustomEvent("ws:open"));
      for (const frame of this.queue.splice(0)) this.ws.send(JSON.stringify(frame));
    });
    this.ws.addEventListener("message", (message) => {
      let frame;
      try {
        frame = JSON.parse(message.data);
      } catch {
        return;
      }
      const name = frame.type === "event" ? "ws:event" : `ws:${frame.type}`;
      document.dispatchEvent(new CustomEvent(name, { detail: frame }));
    });
    this.ws.addEventListener("close", (event) => {
      document.documentElement.dataset.socket = "closed";
      document.dispatchEvent(new CustomEvent("ws:close", { detail: { code: event.code } }));
      if (event.code === 4401) return; // signed out: reconnecting cannot help
      const jitter = Math.random() * this.delay * 0.3;
      setTimeout(() => this.connect(), this.delay + jitter);
      this.delay = Math.min(this.delay * 2, MAX_DELAY);
    });
  }

  send(frame) {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame));
    else this.queue.push(frame);
  }
}

const scheme = location.protocol === "https:" ? "wss:" : "ws:";
window.workspaceSocket = new WorkspaceSocket(`${scheme}//${location.host}/ws/`);
