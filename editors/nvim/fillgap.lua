-- Minimal Neovim (0.12+) setup for fillgap: load with `:luafile editors/nvim/fillgap.lua`
-- or copy into your init.lua. Requires `fillgap` on PATH (e.g. the repo's .venv/bin).
vim.lsp.config('fillgap', {
  cmd = { 'fillgap', 'serve' },
  filetypes = { 'python' },
  root_markers = { '.git', 'pyproject.toml' },
})
vim.lsp.enable('fillgap')

if vim.lsp.inline_completion then
  vim.lsp.inline_completion.enable(true)
  -- Accept the ghost text with <Tab> when one is shown; otherwise insert a tab.
  vim.keymap.set('i', '<Tab>', function()
    if not vim.lsp.inline_completion.get() then
      return '<Tab>'
    end
  end, { expr = true, desc = 'fillgap: accept inline completion' })
end
