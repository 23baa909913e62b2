// VS Code's `fillgap.*` settings -> the server's settings object (lsp/fill/settings.py). The server
// rejects unknown keys, so only its own names go out; editor-side settings (server path) stay here.

/** Reads one setting by its name under `fillgap.` (as vscode.WorkspaceConfiguration.get does). */
export type Lookup = (key: string) => unknown;

export interface SamplerSettings {
  steps?: number;
  refine_rounds?: number;
  tau?: number;
  temperature?: number;
  seed?: number;
  threshold?: number;
}

export interface WorkerSettings {
  mode?: "shared" | "private";
  address?: string;
  token_file?: string;
}

export interface ServerSettings {
  model?: string;
  device?: string;
  threads?: number;
  debounce_ms?: number;
  snippets?: "auto" | "on" | "off";
  sampler?: SamplerSettings;
  typing?: { enabled: boolean };
  worker?: WorkerSettings;
}

// VS Code setting name -> server key, for the top level and the sampler.
const TOP: ReadonlyArray<[string, keyof ServerSettings]> = [
  ["device", "device"],
  ["threads", "threads"],
  ["debounceMs", "debounce_ms"],
  ["snippets", "snippets"],
];
const SAMPLER: ReadonlyArray<[string, keyof SamplerSettings]> = [
  ["sampler.steps", "steps"],
  ["sampler.refineRounds", "refine_rounds"],
  ["sampler.tau", "tau"],
  ["sampler.temperature", "temperature"],
  ["sampler.seed", "seed"],
  ["sampler.threshold", "threshold"],
];
const SNIPPETS = new Set(["auto", "on", "off"]);

function isNumber(v: unknown): v is number {
  return typeof v === "number" && Number.isFinite(v);
}

/**
 * The server's settings from the editor's. Unset or malformed values are left out, so the server
 * keeps its own default for them rather than refusing the whole object.
 */
export function toServerSettings(get: Lookup): ServerSettings {
  const out: ServerSettings = {};
  const model = get("model");
  if (typeof model === "string" && model.trim() !== "") {
    out.model = model.trim();
  }
  for (const [name, key] of TOP) {
    const v = get(name);
    if (key === "device" && typeof v === "string" && v.trim() !== "") {
      out.device = v.trim();
    } else if (key === "snippets" && typeof v === "string" && SNIPPETS.has(v)) {
      out.snippets = v as ServerSettings["snippets"];
    } else if ((key === "threads" || key === "debounce_ms") && isNumber(v) && Number.isInteger(v) && v >= 0) {
      out[key] = v;
    }
  }
  const sampler: SamplerSettings = {};
  for (const [name, key] of SAMPLER) {
    const v = get(name);
    if (isNumber(v)) {
      sampler[key] = v;
    }
  }
  if (Object.keys(sampler).length > 0) {
    out.sampler = sampler;
  }
  const typing = get("typing.enabled");
  if (typeof typing === "boolean") {
    out.typing = { enabled: typing };
  }
  const worker = toWorkerSettings(get);
  if (Object.keys(worker).length > 0) {
    out.worker = worker;
  }
  return out;
}

/** Which worker serves fills: the user's shared daemon, a private child, or one at an address. */
function toWorkerSettings(get: Lookup): WorkerSettings {
  const worker: WorkerSettings = {};
  const mode = get("worker.mode");
  if (mode === "shared" || mode === "private") {
    worker.mode = mode;
  }
  for (const [name, key] of [["worker.address", "address"], ["worker.tokenFile", "token_file"]] as const) {
    const v = get(name);
    if (typeof v === "string" && v.trim() !== "") {
      worker[key] = v.trim();
    }
  }
  return worker;
}

/** Settings whose change needs a new server process rather than didChangeConfiguration. */
export const RESTART_KEYS = ["server.path", "server.pythonEnvironment"] as const;
