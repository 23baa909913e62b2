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
  end
end

return M
