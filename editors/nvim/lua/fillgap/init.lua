-- fillgap for Neovim >= 0.11: configures `fillgap serve` with vim.lsp.config/enable, ghost text
-- through vim.lsp.inline_completion on 0.12 (the completion item on 0.11), code actions and status.
local server = require('fillgap.server')

local M = {}

M.name = 'fillgap'

---@class fillgap.Keys
---@field accept string|false  insert mode: accept the ghost text (falls through when none is shown)
---@field next string|false    insert mode: next suggestion
---@field prev string|false    insert mode: previous suggestion

-- The server's settings (lsp/fill/settings.py; README "Settings"). Every sampler field is optional:
-- leave it out (nil) and the server sends nothing, so the model family's own default applies. A
-- masked-diffusion model refuses the block-diffusion fields, and a block-diffusion model
-- (DiffusionGemma) ignores the masked-only ones: set only those of the model you run.
---@class fillgap.Sampler
--- masked diffusion (the shipped model, Dream, LLaDA, ...)
---@field steps? integer                 1..1024 parallel unmasking steps per gap (per block with `block`)
---@field refine_rounds? integer         0..16 re-mask-and-refine passes after every position is committed
---@field tau? number                    [0, 1] tokens under this confidence are re-masked (and shown as doubts)
---@field temperature? number            >= 0; 0 is greedy
---@field top_p? number                  (0, 1] nucleus sampling when temperature > 0
---@field seed? integer
---@field order? 'confidence'|'margin'|'entropy'|'random'
---@field threshold? number              [0, 1] > 0: commit every position above it each step
---@field block? integer                 0..1024 > 0: decode the gap left to right in blocks of this many tokens
---@field dual_cache? boolean            reuse prefix/suffix keys and values between steps
--- block diffusion (DiffusionGemma); unset: the checkpoint's generation_config.json, else the reference's
---@field entropy_bound? number          (0, 1000] accept the lowest-entropy tokens up to this entropy sum (0.1)
---@field t_max? number                  (0, 100] temperature at a canvas's first step, above t_min (0.8)
---@field t_min? number                  [0, 100] temperature at its last step (0.4)
---@field max_denoising_steps? integer   1..1024 denoising steps per canvas at most (48)
---@field stability_threshold? integer   0..64 steps the canvas must repeat before it may stop (1)
---@field confidence_threshold? number   (0, 1000] ... and its mean token entropy under this (0.005)
---@field infill? 'instruction'|'inpainting'  the gap asked for in a chat turn, or the suffix held on the canvas
---                                        ('instruction': the one checkpoint is instruction-tuned)

---@class fillgap.Typing                 as-you-type requests: latency first; nil fields: the family's typing profile
---@field enabled? boolean
---@field steps? integer
---@field refine_rounds? integer
---@field dual_cache? boolean
---@field max_denoising_steps? integer   block diffusion: steps per canvas for as-you-type requests
---@field resample? boolean
---@field gate? number                  [0, 1] typed suggestions scored under this (or trivial) are not shown; 0: all shown; nil: the model's calibrated gate

---@class fillgap.Settings
---@field model? string                  checkpoint folder (a DiffusionGemma download works too); nil: the shipped model
---@field device? string                 'auto', 'cpu', 'cuda', 'mps'
---@field threads? integer
---@field sampler? fillgap.Sampler
---@field typing? fillgap.Typing
---@field budgets? table
---@field debounce_ms? integer
---@field snippets? 'on'|'off'|'auto'

---@class fillgap.Options
---@field cmd? string[]        the server command; default: found from `python`, PATH or $VIRTUAL_ENV
---@field python? string       a Python environment folder whose bin/ holds `fillgap`
---@field filetypes string[]
---@field root_markers string[]
---@field settings fillgap.Settings the server's settings (model, device, threads, debounce_ms, snippets, sampler, budgets);
---                            only these are sent: what is left out is the server's default (device `auto`) and,
---                            for `sampler`, the model family's
---@field inline boolean       ghost text on Neovim 0.12
---@field keys fillgap.Keys
M.defaults = {
  cmd = nil,
  python = nil,
  filetypes = { 'python' },
  root_markers = { 'pyproject.toml', 'setup.py', 'setup.cfg', '.git' },
  settings = {},
  inline = true,
  keys = { accept = '<Tab>', next = '<M-]>', prev = '<M-[>' },
}

---@type fillgap.Options?
M.options = nil
M.cmd = nil ---@type string[]?
M.cmd_source = nil ---@type string?

-- Lists (filetypes, cmd) replace the defaults whole; tables of names (keys, settings) merge.
local function merge(opts)
  local out = vim.deepcopy(M.defaults)
  for k, v in pairs(opts or {}) do
    if (k == 'keys' or k == 'settings') and type(v) == 'table' then
      out[k] = vim.tbl_deep_extend('force', out[k], v)
    else
      out[k] = v
    end
  end
  return out
end

-- An empty Lua table would reach the server as a JSON array, which it rejects: send nothing then.
local function as_object(t)
  if t == nil or next(t) == nil then
    return nil
  end
  return t
end

---@param opts? table see fillgap.Options
function M.setup(opts)
  M.options = merge(opts)
  local cmd, how = server.resolve(M.options)
  M.cmd, M.cmd_source = cmd, how
  if not cmd then
    vim.notify('fillgap: ' .. how, vim.log.levels.WARN)
    return
  end
  local settings = as_object(M.options.settings)
  vim.lsp.config(M.name, {
    cmd = cmd,
    filetypes = M.options.filetypes,
    root_markers = M.options.root_markers,
    init_options = settings,
    -- Kept on the client so a later configure() can resend them as workspace/didChangeConfiguration.
    settings = settings and { fillgap = settings } or nil,
  })
  vim.lsp.enable(M.name)
  local group = vim.api.nvim_create_augroup('fillgap', { clear = true })
  vim.api.nvim_create_autocmd('LspAttach', {
    group = group,
    callback = function(ev)
      local client = vim.lsp.get_client_by_id(ev.data.client_id)
      if client and client.name == M.name then
        require('fillgap.inline').attach(client, ev.buf, M.options)
      end
    end,
  })
end

--- The fillgap client attached to a buffer (default: the current one).
---@param bufnr? integer
---@return vim.lsp.Client?
function M.client(bufnr)
  return vim.lsp.get_clients({ bufnr = bufnr or 0, name = M.name })[1]
end

--- New server settings, live: merged into the current ones and sent as didChangeConfiguration
--- (a new model or device restarts the worker).
---@param settings table
function M.configure(settings)
  M.options = M.options or merge({})
  M.options.settings = vim.tbl_deep_extend('force', M.options.settings, settings)
  local new = as_object(M.options.settings) or vim.empty_dict()
  vim.lsp.config(M.name, { settings = { fillgap = new }, init_options = as_object(new) })
  for _, client in ipairs(vim.lsp.get_clients({ name = M.name })) do
    client.settings = { fillgap = new }
    client:notify('workspace/didChangeConfiguration', { settings = client.settings })
  end
end

--- The server's `fillgap.status` (worker state, model, device, counts), or nil and why not.
---@param bufnr? integer
---@param timeout_ms? integer
---@return table?, string?
function M.status(bufnr, timeout_ms)
  local client = M.client(bufnr) or vim.lsp.get_clients({ name = M.name })[1]
  if not client then
    return nil, 'no fillgap client is running (open a ' .. table.concat(M.defaults.filetypes, '/') .. ' file)'
  end
  local reply, err = client:request_sync(
    'workspace/executeCommand',
    { command = 'fillgap.status', arguments = {} },
    timeout_ms or 5000,
    bufnr or 0
  )
  if not reply then
    return nil, err or 'no reply'
  end
  if reply.err then
    return nil, reply.err.message
  end
  return reply.result
end

-- Code actions are listed instantly and resolved (the model runs) when applied; `prefix` picks one.
local function apply_action(prefix, range)
  if not M.client() then
    vim.notify('fillgap: not attached to this buffer', vim.log.levels.WARN)
    return
  end
  vim.lsp.buf.code_action({
    apply = true,
    range = range,
    context = { only = { 'refactor.rewrite' }, diagnostics = {} },
    filter = function(action)
      return action.title:sub(1, #prefix) == prefix
    end,
  })
end

--- "Fill body" on the placeholder body at the cursor.
function M.fill_body()
  apply_action('Fill body')
end

--- "Fill all gaps in file".
function M.fill_all()
  apply_action('Fill all gaps in file')
end

--- "Rewrite selection" (or "Refine selection") on rows/columns like nvim_buf_get_mark's: rows
--- 1-based, columns 0-based bytes, the end inclusive. Default: the last visual selection.
---@param first? [integer, integer]
---@param last? [integer, integer]
---@param title? string
function M.rewrite(first, last, title)
  first = first or vim.api.nvim_buf_get_mark(0, '<')
  last = last or vim.api.nvim_buf_get_mark(0, '>')
  -- A linewise selection's end column is v:maxcol: bring it back to the line's last byte.
  local line = vim.api.nvim_buf_get_lines(0, last[1] - 1, last[1], true)[1]
  last = { last[1], math.max(0, math.min(last[2], #line - 1)) }
  apply_action(title or 'Rewrite selection', { start = first, ['end'] = last })
end

--- Print the server's status.
function M.show_status()
  local status, err = M.status()
  if not status then
    vim.notify('fillgap: ' .. err, vim.log.levels.WARN)
    return
  end
  local counts = status.suggestions or {}
  vim.notify(
    ('fillgap %s: worker %s, model %s on %s; suggestions %s'):format(
      status.version,
      status.worker,
      status.model or 'shipped default',
      status.device,
      vim.inspect(counts, { newline = ' ', indent = '' })
    )
  )
end

return M
