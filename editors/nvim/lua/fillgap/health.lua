-- :checkhealth fillgap — the Neovim features used, the server command, and the worker's state
-- as the running server reports it (fillgap.status).
local M = {}

function M.check()
  local health = vim.health
  local fillgap = require('fillgap')

  health.start('fillgap: Neovim')
  if vim.fn.has('nvim-0.11') == 0 then
    health.error('Neovim 0.11 or newer is needed (vim.lsp.config / vim.lsp.enable)')
  elseif vim.lsp.inline_completion then
    health.ok('vim.lsp.inline_completion is available: suggestions show as ghost text')
  else
    health.warn('no vim.lsp.inline_completion (Neovim 0.12+): fills come as a completion item (<C-x><C-o>)')
  end

  health.start('fillgap: server')
  if not fillgap.options then
    health.error('require("fillgap").setup() has not run')
    return
  end
  if not fillgap.cmd then
    health.error(fillgap.cmd_source or 'no server command')
    return
  end
  local exe = fillgap.cmd[1]
  if vim.fn.executable(exe) == 1 then
    health.ok(('server: %s (from %s)'):format(table.concat(fillgap.cmd, ' '), fillgap.cmd_source))
  else
    health.error(('server %s is not executable (from %s)'):format(exe, fillgap.cmd_source))
  end
  local settings = fillgap.options.settings
  health.info('settings: ' .. (next(settings) and vim.inspect(settings, { newline = ' ', indent = '' }) or 'defaults'))

  health.start('fillgap: worker')
  local status, err = fillgap.status(nil, 10000)
  if not status then
    health.warn(err or 'no status')
    return
  end
  health.ok(('fillgap %s; worker: %s'):format(status.version, status.worker))
  health.info(('model: %s on %s (%s)'):format(
    status.model ~= vim.NIL and status.model or 'the shipped default',
    status.device,
    status.backend ~= vim.NIL and status.backend or 'loads on the first fill'
  ))
  local counts = status.suggestions or {}
  if next(counts) then
    health.info('suggestions: ' .. vim.inspect(counts, { newline = ' ', indent = '' }))
  end
end

return M
