// The status bar's model: what the worker is doing, from what the server sends (work-done
// progress while the model loads, its log and error messages, fillgap.status results) and the
// latency the editor measured for its last fill. Pure, so it is tested without VS Code.

export type WorkerState = "stopped" | "starting" | "idle" | "loading" | "ready" | "error";

/** The parts of the server's `fillgap.status` result used here. */
export interface ServerStatus {
  version?: string;
  worker?: string;
  model?: string | null;
  device?: string;
  backend?: string | null;
  suggestions?: Record<string, number>;
}

export interface StatusView {
  text: string;
  tooltip: string;
}

// MessageType.Error in LSP.
const ERROR = 1;
// The server's log line once the worker is up: "fillgap: model M on D (B), N parameters".
const READY = /^fillgap: model (.+) on (\S+) \((.*)\), ([\d,]+) parameters$/;

const ICONS: Record<WorkerState, string> = {
  stopped: "$(circle-slash)",
  starting: "$(sync~spin)",
  idle: "$(circle-outline)",
  loading: "$(sync~spin)",
  ready: "$(check)",
  error: "$(error)",
};

export function formatLatency(ms: number): string {
  if (ms < 1000) {
    return `${Math.round(ms)} ms`;
  }
  return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
}

function shortModel(model: string): string {
  const parts = model.split(/[\\/]/).filter((p) => p !== "");
  return parts.length > 0 ? parts[parts.length - 1] : model;
}

export class StatusModel {
  state: WorkerState = "stopped";
  detail = "";
  model?: string;
  device?: string;
  backend?: string;
  parameters?: string;
  version?: string;
  counts: Record<string, number> = {};
  last?: { what: string; ms: number };

  clientStarting(): void {
    this.state = "starting";
    this.detail = "starting fillgap serve";
  }

  /** The server is up; its worker starts on the first fill. */
  clientRunning(): void {
    if (this.state === "starting" || this.state === "stopped") {
      this.state = "idle";
      this.detail = "the model loads on the first fill";
    }
  }

  clientStopped(why?: string): void {
    this.state = why ? "error" : "stopped";
    this.detail = why ?? "server stopped";
  }

  progressBegin(message?: string): void {
    this.state = "loading";
    this.detail = message ?? "loading the model";
  }

  progressEnd(message?: string): void {
    if (this.state === "loading") {
      this.state = "ready";
      this.detail = message ?? "model ready";
    }
  }

  logMessage(message: string): void {
    const m = READY.exec(message.trim());
    if (m) {
      [this.model, this.device, this.backend, this.parameters] = [m[1], m[2], m[3], m[4]];
      this.state = "ready";
      this.detail = "model ready";
    }
  }

  showMessage(type: number, message: string): void {
    if (type === ERROR && message.includes("model worker unavailable")) {
      this.state = "error";
      this.detail = message.replace(/^fillgap: /, "");
    }
  }

  statusResult(status: ServerStatus): void {
    this.version = status.version ?? this.version;
    this.model = status.model ?? this.model;
    this.device = status.device ?? this.device;
    this.backend = status.backend ?? this.backend;
    this.counts = { ...(status.suggestions ?? {}) };
    if (status.worker === "ready") {
      this.state = "ready";
      this.detail = "model ready";
    } else if (status.worker === "not started" && this.state !== "loading" && this.state !== "error") {
      this.state = "idle";
      this.detail = "the model loads on the first fill";
    }
  }

  /** A fill the editor waited for (inline suggestion, code action, command), in milliseconds. */
  requestDone(what: string, ms: number): void {
    this.last = { what, ms };
  }

  view(): StatusView {
    const latency = this.last && this.state === "ready" ? ` ${formatLatency(this.last.ms)}` : "";
    const label = this.state === "ready" ? "fillgap" : `fillgap: ${this.state}`;
    const lines = [`fillgap${this.version ? " " + this.version : ""}: ${this.detail || this.state}`];
    if (this.model) {
      const params = this.parameters ? `, ${this.parameters} parameters` : "";
      lines.push(`model: ${shortModel(this.model)} on ${this.device ?? "?"}${params}`);
    }
    if (this.backend) {
      lines.push(`backend: ${this.backend}`);
    }
    if (this.last) {
      lines.push(`last ${this.last.what}: ${formatLatency(this.last.ms)}`);
    }
    const counts = Object.entries(this.counts).map(([k, v]) => `${k} ${v}`);
    if (counts.length > 0) {
      lines.push(`suggestions: ${counts.join(", ")}`);
    }
    lines.push("click for fillgap.status");
    return { text: `${ICONS[this.state]} ${label}${latency}`, tooltip: lines.join("\n") };
  }
}
