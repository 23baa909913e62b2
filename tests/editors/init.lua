-- The Neovim config of the end-to-end tests (and the screenshot): the plugin from this checkout,
-- the server command and settings from the environment, nothing from the user's config.
local plugin = assert(vim.env.FILLGAP_NVIM_PLUGIN, 'FILLGAP_NVIM_PLUGIN: the editors/nvim folder')
vim.opt.runtimepath:prepend(plugin)
vim.opt.swapfile = false
vim.opt.shortmess:append('I')
vim.lsp.log.set_level(vim.env.FILLGAP_NVIM_LSP_LOG or 'WARN')
require('fillgap').setup({
  cmd = { assert(vim.env.FILLGAP_SERVER, 'FILLGAP_SERVER: the fillgap executable'), 'serve' },
  -- One worker thread: the machine is shared; and answer automatic requests without a pause.
  settings = vim.json.decode(vim.env.FILLGAP_SETTINGS or '{"threads": 1}'),
  -- FILLGAP_NVIM_INLINE=0: the Neovim 0.11 path (the fill as a completion item) on this 0.12.
  inline = vim.env.FILLGAP_NVIM_INLINE ~= '0',
})
