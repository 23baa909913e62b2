-- Where `fillgap serve` lives: an explicit command, a chosen Python environment, or PATH.
local M = {}

local sep = package.config:sub(1, 1)
local windows = sep == '\\'

--- The `fillgap` executable inside a Python environment (a venv or conda prefix).
---@param env string
---@return string
function M.in_env(env)
  env = vim.fs.normalize(env)
  if windows then
    return vim.fs.joinpath(env, 'Scripts', 'fillgap.exe')
  end
  return vim.fs.joinpath(env, 'bin', 'fillgap')
end

--- The command that starts the server, and where it was found (for :checkhealth).
--- opts.cmd wins; then opts.python (a Python environment folder); then `fillgap` on PATH;
--- then the environment of the activated virtualenv ($VIRTUAL_ENV).
---@param opts { cmd?: string[], python?: string }
---@return string[]? cmd, string how
function M.resolve(opts)
  if opts.cmd then
    return opts.cmd, 'the `cmd` option'
  end
  if opts.python then
    local exe = M.in_env(opts.python)
    if vim.fn.executable(exe) == 1 then
      return { exe, 'serve' }, 'the `python` option (' .. opts.python .. ')'
    end
    return nil, 'no fillgap executable at ' .. exe .. ' (the `python` option)'
  end
  local on_path = vim.fn.exepath('fillgap')
  if on_path ~= '' then
    return { on_path, 'serve' }, 'PATH'
  end
  local venv = vim.env.VIRTUAL_ENV
  if venv and vim.fn.executable(M.in_env(venv)) == 1 then
    return { M.in_env(venv), 'serve' }, '$VIRTUAL_ENV'
  end
  return nil, 'fillgap is not on PATH; set `cmd` or `python` in setup()'
end

return M
