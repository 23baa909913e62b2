// VS Code's `fillgap.*` settings -> the server's settings object (lsp/fill/settings.py). The server
// rejects unknown keys, so only its own names go out; editor-side settings (server path) stay here.
// Only what the user set goes out: a setting left at its default is the server's to decide (and
// the worker's: unset sampler settings are the model family's own defaults).

/** Reads one setting by its name under `fillgap.`: the value the user set, or undefined. */
export type Lookup = (key: string) => unknown;

/** The parts of vscode.WorkspaceConfiguration.inspect()'s answer that a user (not a default) set. */
export interface Inspected {
  globalValue?: unknown;
  workspaceValue?: unknown;
  workspaceFolderValue?: unknown;
  globalLanguageValue?: unknown;
  workspaceLanguageValue?: unknown;
  workspaceFolderLanguageValue?: unknown;
}

/** The most specific value the user set (folder over workspace over user, language-specific first); undefined when only the default applies. */
export function userValue(inspected: Inspected | undefined): unknown {
  if (inspected === undefined) {
    return undefined;
  }
  const chain = [
    inspected.workspaceFolderLanguageValue,
    inspected.workspaceLanguageValue,
    inspected.globalLanguageValue,
    inspected.workspaceFolderValue,
    inspected.workspaceValue,
    inspected.globalValue,
  ];
  return chain.find((v) => v !== undefined && v !== null);
}

export interface SamplerSettings {
  steps?: number;
  refine_rounds?: number;
  tau?: number;
  temperature?: number;
  seed?: number;
  threshold?: number;
  // Block-diffusion (DiffusionGemma) only; a masked-diffusion worker refuses them when set.
  entropy_bound?: number;
  t_max?: number;
  t_min?: number;
  max_denoising_steps?: number;
  stability_threshold?: number;
  confidence_threshold?: number;
  infill?: "instruction" | "inpainting";
}

export interface WorkerSettings {
  mode?: "shared" | "private";
  address?: string;
  token_file?: string;
  model?: string;
}

export interface ServerSettings {
  model?: string;
  device?: string;
  threads?: number;
  debounce_ms?: number;
  snippets?: "auto" | "on" | "off";
  sampler?: SamplerSettings;
  typing?: { enabled?: boolean; max_denoising_steps?: number; gate?: number };
  worker?: WorkerSettings;
}

// VS Code setting name -> server key, for the top level and the sampler.
const TOP: ReadonlyArray<[string, keyof ServerSettings]> = [
  ["device", "device"],
  ["threads", "threads"],
  ["debounceMs", "debounce_ms"],
  ["snippets", "snippets"],
];
const SAMPLER: ReadonlyArray<[string, Exclude<keyof SamplerSettings, "infill">]> = [
  ["sampler.steps", "steps"],
  ["sampler.refineRounds", "refine_rounds"],
  ["sampler.tau", "tau"],
  ["sampler.temperature", "temperature"],
  ["sampler.seed", "seed"],
  ["sampler.threshold", "threshold"],
  ["sampler.entropyBound", "entropy_bound"],
  ["sampler.tMax", "t_max"],
  ["sampler.tMin", "t_min"],
  ["sampler.maxDenoisingSteps", "max_denoising_steps"],
  ["sampler.stabilityThreshold", "stability_threshold"],
  ["sampler.confidenceThreshold", "confidence_threshold"],
];
const INFILLS = new Set(["instruction", "inpainting"]);
const SNIPPETS = new Set(["auto", "on", "off"]);

function isNumber(v: unknown): v is number {
  return typeof v === "number" && Number.isFinite(v);
}

/**
 * The server's settings from the editor's (`get` answers only what the user set: see userValue).
 * Unset or malformed values are left out, so the server keeps its own default for them rather
 * than refusing the whole object.
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
  const infill = get("sampler.infill");
  if (typeof infill === "string" && INFILLS.has(infill)) {
    sampler.infill = infill as SamplerSettings["infill"];
  }
  if (Object.keys(sampler).length > 0) {
    out.sampler = sampler;
  }
  const typing: NonNullable<ServerSettings["typing"]> = {};
  const enabled = get("typing.enabled");
  if (typeof enabled === "boolean") {
    typing.enabled = enabled;
  }
  const steps = get("typing.maxDenoisingSteps");
  if (isNumber(steps) && Number.isInteger(steps) && steps >= 1) {
    typing.max_denoising_steps = steps;
  }
  const gate = get("typing.gate");
  if (isNumber(gate) && gate >= 0 && gate <= 1) {
    typing.gate = gate;
  }
  if (Object.keys(typing).length > 0) {
    out.typing = typing;
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
  const keys = [["worker.address", "address"], ["worker.tokenFile", "token_file"], ["worker.model", "model"]] as const;
  for (const [name, key] of keys) {
    const v = get(name);
    if (typeof v === "string" && v.trim() !== "") {
      worker[key] = v.trim();
    }
  }
  return worker;
}

/** Settings whose change needs a new server process rather than didChangeConfiguration. */
export const RESTART_KEYS = ["server.path", "server.pythonEnvironment"] as const;
