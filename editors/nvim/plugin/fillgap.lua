-- User commands; they act once require('fillgap').setup() has configured the server.
if vim.g.loaded_fillgap then
  return
end
vim.g.loaded_fillgap = true

local function fillgap()
  return require('fillgap')
end

vim.api.nvim_create_user_command('FillgapStatus', function()
  fillgap().show_status()
end, { desc = 'fillgap: worker, model and suggestion counts' })

vim.api.nvim_create_user_command('FillgapFillBody', function()
  fillgap().fill_body()
end, { desc = 'fillgap: fill the placeholder body at the cursor' })

vim.api.nvim_create_user_command('FillgapFillAll', function()
  fillgap().fill_all()
end, { desc = 'fillgap: fill every placeholder body in the file' })

-- :'<,'>FillgapRewrite uses the visual selection; with a plain line range, those whole lines.
local function on_range(title)
  return function(cmd)
    local first, last = vim.api.nvim_buf_get_mark(0, '<'), vim.api.nvim_buf_get_mark(0, '>')
    if cmd.range == 0 or first[1] ~= cmd.line1 or last[1] ~= cmd.line2 then
      first, last = { cmd.line1, 0 }, { cmd.line2, vim.v.maxcol }
    end
    fillgap().rewrite(first, last, title)
  end
end

vim.api.nvim_create_user_command('FillgapRewrite', on_range('Rewrite selection'), {
  range = true,
  desc = 'fillgap: rewrite the selection with the model',
})

vim.api.nvim_create_user_command('FillgapRefine', on_range('Refine selection'), {
  range = true,
  desc = 'fillgap: rewrite only the tokens of the selection the model doubts',
})
