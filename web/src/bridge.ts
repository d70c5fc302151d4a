// The terminal-bridge WebSocket client: the whole wire protocol lives in this module.
//
// One socket per page (`<bridgeUrl>?token=<token>`), multiplexing every terminal by
// (sessionId, terminalId). When the socket drops, it reconnects with exponential backoff
// (0.5 s doubling to 10 s, with jitter) and re-sends `open` for every terminal it had, so
// the bridge replays their recent output; the shells live on in the sandbox meanwhile.
//
// Client -> server: open, terminal_input, resize, close.
// Server -> client: ready, opened, terminal_output, exit, detached, closed, file_changed,
// workspace_status, sync_error, error, reconnect, pong (terminal-bridge/PROTOCOL.md,
// "Terminal protocol").

export type ClientMessage =
  | { type: "open"; sessionId: string; terminalId: string; cols: number; rows: number }
  | { type: "terminal_input"; sessionId: string; terminalId: string; input: string }
  | { type: "resize"; sessionId: string; terminalId: string; cols: number; rows: number }
  | { type: "close"; sessionId: string; terminalId: string };

export type ServerMessage =
  | { type: "ready"; userId: number }
  /** `replayed`: how many bytes of the output that follows are scrollback. */
  | { type: "opened"; sessionId: string; terminalId: string; created: boolean; replayed: number }
  | { type: "terminal_output"; sessionId: string; terminalId: string; output: string }
  | { type: "exit"; sessionId: string; terminalId: string; code?: number; signal?: number }
  /** This socket was cut off from a terminal (e.g. it read too slowly); the shell lives on. */
  | { type: "detached"; sessionId: string; terminalId: string; reason: string }
  | { type: "closed"; sessionId: string; terminalId: string }
  | {
      type: "file_changed";
      sessionId: string;
      path: string;
      version: number | null;
      origin: string;
      deleted: boolean;
    }
  | { type: "workspace_status"; sessionId: string; state: string; message?: string | null }
  | { type: "sync_error"; sessionId: string; path: string; code: string; message: string }
  | { type: "error"; code: string; message: string; sessionId?: string; terminalId?: string }
  | { type: "reconnect"; reason?: string }
  | { type: "pong" };

export type ConnectionState =
  | { kind: "connecting" }
  | { kind: "open" }
  | { kind: "reconnecting"; inMs: number; attempt: number }
  | { kind: "stopped"; reason: string };

/** What a terminal tab hears from the bridge. */
export interface TerminalSink {
  size(): { cols: number; rows: number };
  opened(msg: Extract<ServerMessage, { type: "opened" }>): void;
  output(data: string): void;
  exited(msg: Extract<ServerMessage, { type: "exit" }>): void;
  error(code: string, message: string): void;
}

const MIN_BACKOFF_MS = 500;
/** How soon a terminal is opened again after `unavailable` (its sandbox was unreachable). */
const REOPEN_UNAVAILABLE_MS = 2_000;
const MAX_BACKOFF_MS = 10_000;

/** The bridge's URL: the configured one, else this host on port 8001, path /ws. */
export function defaultBridgeUrl(loc: Location = location): string {
  const scheme = loc.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${loc.hostname}:8001/ws`;
}

export class Bridge {
  private socket: WebSocket | null = null;
  private terminals = new Map<string, TerminalSink>();
  private attempt = 0;
  private timer: number | undefined;
  private stopped = false;
  /** Messages for the session's workspace (file_changed, workspace_status, errors). */
  onWorkspace: (msg: ServerMessage) => void = () => {};
  onState: (state: ConnectionState) => void = () => {};

  constructor(
    private readonly url: string,
    private readonly token: string,
  ) {}

  start(): void {
    this.stopped = false;
    this.connect();
  }

  /** Closes the socket for good (leaving the page, logging out). */
  stop(reason = "closed"): void {
    this.stopped = true;
    window.clearTimeout(this.timer);
    this.socket?.close(1000, reason);
    this.socket = null;
    this.onState({ kind: "stopped", reason });
  }

  /** Attaches a terminal (creating it in the sandbox if it does not exist yet). */
  attach(sessionId: string, terminalId: string, sink: TerminalSink): void {
    this.terminals.set(key(sessionId, terminalId), sink);
    this.sendOpen(sessionId, terminalId, sink);
  }

  /** Ends a terminal: the bridge closes its shell. */
  close(sessionId: string, terminalId: string): void {
    this.terminals.delete(key(sessionId, terminalId));
    this.send({ type: "close", sessionId, terminalId });
  }

  /** Forgets a terminal without ending its shell (the tab goes away, the shell lives on). */
  detach(sessionId: string, terminalId: string): void {
    this.terminals.delete(key(sessionId, terminalId));
  }

  /** Asks for a fresh shell after an exit. */
  reopen(sessionId: string, terminalId: string): void {
    const sink = this.terminals.get(key(sessionId, terminalId));
    if (sink) this.sendOpen(sessionId, terminalId, sink);
  }

  input(sessionId: string, terminalId: string, input: string): void {
    this.send({ type: "terminal_input", sessionId, terminalId, input });
  }

  resize(sessionId: string, terminalId: string, cols: number, rows: number): void {
    this.send({ type: "resize", sessionId, terminalId, cols, rows });
  }

  get isOpen(): boolean {
    return this.socket?.readyState === WebSocket.OPEN;
  }

  private sendOpen(sessionId: string, terminalId: string, sink: TerminalSink): void {
    const { cols, rows } = sink.size();
    this.send({ type: "open", sessionId, terminalId, cols, rows });
  }

  /** Sends when connected; otherwise drops it (open is re-sent on reconnect). */
  private send(msg: ClientMessage): void {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(msg));
  }

  private connect(): void {
    if (this.stopped) return;
    this.onState({ kind: "connecting" });
    const sep = this.url.includes("?") ? "&" : "?";
    let socket: WebSocket;
    try {
      socket = new WebSocket(`${this.url}${sep}token=${encodeURIComponent(this.token)}`);
    } catch (e) {
      this.scheduleReconnect();
      return;
    }
    this.socket = socket;
    socket.onopen = () => {
      this.attempt = 0;
      this.onState({ kind: "open" });
      for (const [k, sink] of this.terminals) {
        const [sessionId, terminalId] = unkey(k);
        this.sendOpen(sessionId, terminalId, sink);
      }
    };
    socket.onmessage = (ev) => {
      if (typeof ev.data !== "string") return;
      let msg: ServerMessage;
      try {
        msg = JSON.parse(ev.data) as ServerMessage;
      } catch {
        return;
      }
      this.dispatch(msg);
    };
    socket.onclose = (ev) => {
      if (this.socket !== socket) return;
      this.socket = null;
      // 4401: the bridge refused the token; retrying will not help.
      if (ev.code === 4401) {
        this.stop(ev.reason || "the terminal service refused the login");
        return;
      }
      this.scheduleReconnect();
    };
  }

  private scheduleReconnect(delayMs?: number): void {
    if (this.stopped) return;
    window.clearTimeout(this.timer);
    this.attempt += 1;
    const base = Math.min(MAX_BACKOFF_MS, MIN_BACKOFF_MS * 2 ** (this.attempt - 1));
    const inMs = delayMs ?? Math.min(MAX_BACKOFF_MS, Math.round(base * (0.75 + Math.random() * 0.5)));
    this.onState({ kind: "reconnecting", inMs, attempt: this.attempt });
    this.timer = window.setTimeout(() => this.connect(), inMs);
  }

  private dispatch(msg: ServerMessage): void {
    switch (msg.type) {
      case "opened":
        this.terminals.get(key(msg.sessionId, msg.terminalId))?.opened(msg);
        break;
      case "terminal_output":
        this.terminals.get(key(msg.sessionId, msg.terminalId))?.output(msg.output);
        break;
      case "exit":
        this.terminals.get(key(msg.sessionId, msg.terminalId))?.exited(msg);
        break;
      case "detached": {
        // Cut off from this terminal only: attach again (the bridge replays what was missed).
        const sink = this.terminals.get(key(msg.sessionId, msg.terminalId));
        if (sink) {
          sink.error("detached", msg.reason);
          this.sendOpen(msg.sessionId, msg.terminalId, sink);
        }
        break;
      }
      case "closed":
      case "ready":
      case "pong":
        break;
      case "error": {
        const { sessionId, terminalId } = msg;
        const sink =
          sessionId && terminalId ? this.terminals.get(key(sessionId, terminalId)) : undefined;
        if (sink && sessionId && terminalId) {
          sink.error(msg.code, msg.message);
          // The sandbox could not be started or its agent was lost: open again to reconnect.
          if (msg.code === "unavailable") {
            window.setTimeout(() => {
              if (this.terminals.get(key(sessionId, terminalId)) === sink) {
                this.sendOpen(sessionId, terminalId, sink);
              }
            }, REOPEN_UNAVAILABLE_MS);
          }
        } else this.onWorkspace(msg);
        break;
      }
      case "reconnect": {
        // The bridge is going away (deploy, drain): reconnect soon, to another instance.
        const old = this.socket;
        this.socket = null;
        old?.close(1000, "reconnect requested");
        this.attempt = 0;
        this.scheduleReconnect(200 + Math.round(Math.random() * 300));
        break;
      }
      default:
        this.onWorkspace(msg);
    }
  }
}

const key = (sessionId: string, terminalId: string) => `${sessionId}\u0000${terminalId}`;
const unkey = (k: string) => k.split("\u0000") as [string, string];
