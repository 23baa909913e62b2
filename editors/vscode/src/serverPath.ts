// Where `fillgap serve` lives: an explicit path, a chosen Python environment, or PATH.
// Pure: the file system and environment come in as arguments, so tests need no VS Code.
import * as path from "node:path";

export interface ServerLocation {
  command: string;
  args: string[];
  /** Which setting or search found it, for the status tooltip and error messages. */
  source: string;
}

export interface Host {
  platform: NodeJS.Platform;
  env: Record<string, string | undefined>;
  isExecutable(file: string): boolean;
}

export interface ServerOptions {
  /** fillgap.server.path: the `fillgap` executable. */
  path?: string;
  /** fillgap.server.pythonEnvironment: a venv/conda folder whose bin/ (Scripts\ on Windows) holds fillgap. */
  pythonEnvironment?: string;
}

function pathApi(platform: NodeJS.Platform): typeof path.posix {
  return platform === "win32" ? path.win32 : path.posix;
}

/** The fillgap executable inside a Python environment. */
export function inEnvironment(env: string, platform: NodeJS.Platform): string {
  const p = pathApi(platform);
  return platform === "win32" ? p.join(env, "Scripts", "fillgap.exe") : p.join(env, "bin", "fillgap");
}

function expandHome(file: string, host: Host): string {
  const home = host.env.HOME ?? host.env.USERPROFILE;
  return home && (file === "~" || file.startsWith("~/")) ? home + file.slice(1) : file;
}

/** Search PATH the way a shell would (PATHEXT on Windows). */
export function onPath(name: string, host: Host): string | undefined {
  const p = pathApi(host.platform);
  const dirs = (host.env.PATH ?? host.env.Path ?? "").split(p.delimiter).filter((d) => d !== "");
  const exts = host.platform === "win32" ? (host.env.PATHEXT ?? ".EXE;.CMD;.BAT").split(";") : [""];
  for (const dir of dirs) {
    for (const ext of exts) {
      const candidate = p.join(dir, name + ext.toLowerCase());
      if (host.isExecutable(candidate)) {
        return candidate;
      }
    }
  }
  return undefined;
}

/** The server command, or an Error saying what was tried. Order: path, Python environment, PATH, $VIRTUAL_ENV. */
export function resolveServer(opts: ServerOptions, host: Host): ServerLocation | Error {
  const explicit = opts.path?.trim();
  if (explicit) {
    const file = expandHome(explicit, host);
    return host.isExecutable(file)
      ? { command: file, args: ["serve"], source: "fillgap.server.path" }
      : new Error(`fillgap.server.path: ${file} is not an executable file`);
  }
  const envDir = opts.pythonEnvironment?.trim();
  if (envDir) {
    const file = inEnvironment(expandHome(envDir, host), host.platform);
    return host.isExecutable(file)
      ? { command: file, args: ["serve"], source: "fillgap.server.pythonEnvironment" }
      : new Error(`fillgap.server.pythonEnvironment: no fillgap executable at ${file}`);
  }
  const found = onPath("fillgap", host);
  if (found) {
    return { command: found, args: ["serve"], source: "PATH" };
  }
  const venv = host.env.VIRTUAL_ENV;
  if (venv && host.isExecutable(inEnvironment(venv, host.platform))) {
    return { command: inEnvironment(venv, host.platform), args: ["serve"], source: "$VIRTUAL_ENV" };
  }
  return new Error(
    "fillgap is not on PATH: set fillgap.server.path, or fillgap.server.pythonEnvironment to the environment it is installed in",
  );
}
