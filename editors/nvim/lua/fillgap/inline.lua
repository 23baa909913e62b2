-- Per buffer, when the fillgap client attaches: ghost text (0.12) or the completion item (0.11),
-- and insert-mode keys to accept and to cycle suggestions.
local M = {}

local function has_inline()
  return vim.lsp.inline_completion ~= nil
end

--- Accept an inline item. Neovim's own accept expands a snippet item at the cursor and ignores
--- its range, which would leave the placeholder (`pass`) in place next to the fill; fillgap's
--- items always carry a range, so clear it first and expand there.
---@param item vim.lsp.inline_completion.Item
function M.accept_item(item)
  local bufnr = vim.api.nvim_get_current_buf()
  local text, range = item.insert_text, item.range
  local snippet = type(text) == 'table' and text.kind == 'snippet'
  if range then
    local plain = snippet and '' or (type(text) == 'table' and text.value or text) --[[@as string]]
    local lines = vim.split(plain, '\n', { plain = true })
    vim.api.nvim_buf_set_text(bufnr, range.start.row, range.start.col, range.end_.row, range.end_.col, lines)
    local row = range.start.row + #lines
    local col = (#lines == 1 and range.start.col or 0) + #lines[#lines]
    vim.api.nvim_win_set_cursor(0, { row, col })
  end
  if snippet then
    vim.snippet.expand(text.value)
  elseif not range then
    vim.api.nvim_paste(type(text) == 'table' and text.value or text, false, -1)
  end
  -- `fillgap.accepted` counts accepts for fillgap.status (kept by the server, never sent anywhere).
  local client = item.command and vim.lsp.get_client_by_id(item.client_id)
  if client then
    client:exec_cmd(item.command, { bufnr = bufnr })
  end
end

--- Accept the shown suggestion; false when none is shown.
---@return boolean
function M.accept()
  if not has_inline() then
    return false
  end
  return vim.lsp.inline_completion.get({ on_accept = M.accept_item })
end

--- After a fillgap completion item is accepted: Neovim inserts a plain-text item's text only up to
--- its first whitespace (the word shown while the menu is open), so put the whole fill in place
--- of that word. The item's textEdit range is on one line (the server never sends others).
---@param client vim.lsp.Client
---@param bufnr integer
---@param completed table v:completed_item
function M.complete_whole_fill(client, bufnr, completed)
  local lsp_data = vim.tbl_get(completed or {}, 'user_data', 'nvim', 'lsp') or {}
  local item = lsp_data.completion_item
  if lsp_data.client_id ~= client.id or not item or not item.textEdit or item.insertTextFormat == 2 then
    return
  end
  local edit = item.textEdit
  local row = edit.range.start.line
  local line = vim.api.nvim_buf_get_lines(bufnr, row, row + 1, true)[1]
  local start = vim.str_byteindex(line, client.offset_encoding, edit.range.start.character, false)
  local cursor = vim.api.nvim_win_get_cursor(0)
  if cursor[1] - 1 ~= row or line:sub(start + 1, cursor[2]) ~= completed.word then
    return -- the word is not where completion put it: leave the buffer alone
  end
  local lines = vim.split(edit.newText, '\n', { plain = true })
  vim.api.nvim_buf_set_text(bufnr, row, start, row, cursor[2], lines)
  local last = #lines == 1 and start + #lines[1] or #lines[#lines]
  vim.api.nvim_win_set_cursor(0, { row + #lines, last })
end

local function map(bufnr, lhs, fn, desc, expr)
  if lhs then
    vim.keymap.set('i', lhs, fn, { buffer = bufnr, expr = expr, desc = 'fillgap: ' .. desc })
  end
end

---@param client vim.lsp.Client
---@param bufnr integer
---@param opts fillgap.Options
function M.attach(client, bufnr, opts)
  if has_inline() and opts.inline then
    vim.lsp.inline_completion.enable(true, { bufnr = bufnr })
    local keys = opts.keys
    map(bufnr, keys.accept, function()
      -- A snippet session (doubtful spans as tab stops) owns the key while it can jump.
      if vim.snippet.active({ direction = 1 }) then
        return '<Cmd>lua vim.snippet.jump(1)<CR>'
      end
      if M.accept() then
        return ''
      end
      return keys.accept
    end, 'accept the suggestion', true)
    map(bufnr, keys.next, function()
      vim.lsp.inline_completion.select({ count = 1 })
    end, 'next suggestion', false)
    map(bufnr, keys.prev, function()
      vim.lsp.inline_completion.select({ count = -1 })
    end, 'previous suggestion', false)
  elseif vim.lsp.completion then
    -- 0.11: the same fill arrives as one completion item; <C-x><C-o> asks for it. No autotrigger:
    -- a fill takes seconds, too slow to run on every keystroke.
    vim.lsp.completion.enable(true, client.id, bufnr, { autotrigger = false })
    -- The answer is one item: without 'menuone' Vim inserts its first word with no menu, and the
    -- whole fill (applied when the item is accepted with <C-y>) never lands.
    local cot = vim.split(vim.o.completeopt, ',', { trimempty = true })
    if not vim.tbl_contains(cot, 'menuone') then
      table.insert(cot, 'menuone')
      vim.bo[bufnr].completeopt = table.concat(cot, ',')
    end
    vim.api.nvim_create_autocmd('CompleteDone', {
      buffer = bufnr,
      group = vim.api.nvim_create_augroup('fillgap_complete_' .. bufnr, { clear = true }),
      callback = function()
        if vim.v.event.reason == 'accept' then
          M.complete_whole_fill(client, bufnr, vim.v.completed_item)
        end
      end,
    })
  end
end

return M
