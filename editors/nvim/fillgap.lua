-- One-file setup without a plugin manager: `:luafile editors/nvim/fillgap.lua`, or `dofile()` it
-- from init.lua. It puts this folder on 'runtimepath' (the plugin's lua/ and plugin/) and calls
-- setup() with the defaults: `fillgap` from PATH or $VIRTUAL_ENV, <Tab> to accept.
local here = vim.fn.fnamemodify(debug.getinfo(1, 'S').source:sub(2), ':p:h')
if not vim.tbl_contains(vim.opt.runtimepath:get(), here) then
  vim.opt.runtimepath:prepend(here)
  vim.cmd.runtime('plugin/fillgap.lua')
end
require('fillgap').setup()
