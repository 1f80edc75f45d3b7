-- Drives the uvio Neovim module (examples/nvim_module) in a headless nvim:
--
--   UVIO_NVIM_OUT=FILE nvim --headless -u NONE -i NONE \
--     --cmd "lua package.cpath = 'DIR/?.so;' .. package.cpath" -c "luafile module_test.lua"
--
-- Writes what it saw to $UVIO_NVIM_OUT, ending with "ALL OK", then quits with :qa! while
-- uvio's handles (a 10-minute timer, the TCP server) are still open. Run by
-- tests/nvim_module.rs, which checks the file and nvim's exit status.
local out = assert(io.open(assert(os.getenv('UVIO_NVIM_OUT')), 'w'))
local function log(s)
  out:write(s, '\n')
  out:flush()
end

local function wait_for(what, cond)
  if not vim.wait(30000, cond, 5) then
    error('timed out waiting for ' .. what)
  end
end

local function run()
  local uvio = require('uvio_nvim')
  local this = debug.getinfo(1, 'S').source:sub(2)

  -- Lua called straight from a uvio callback runs inside the libuv callback (a fast event,
  -- though nvim flags only luv's own as such)...
  local probe
  uvio.fast_probe(function() probe = uvio.in_callback() end)
  wait_for('fast_probe', function() return probe ~= nil end)
  assert(probe == true, 'fast_probe runs inside the libuv callback')
  assert(not uvio.in_callback())
  log('fast_probe inside the libuv callback')

  -- ...so the module delivers results through vim.schedule, where the whole API works.
  local fired
  uvio.timer(30, function(elapsed)
    assert(not uvio.in_callback() and not vim.in_fast_event())
    vim.api.nvim_buf_set_lines(0, 0, -1, false, { 'timer fired' })
    fired = elapsed
  end)
  wait_for('timer', function() return fired ~= nil end)
  assert(fired >= 30, 'timer(30) fired after ' .. fired .. ' ms')
  assert(vim.api.nvim_buf_get_lines(0, 0, -1, false)[1] == 'timer fired')
  log('timer ok')

  -- A busy Lua host, then a timer: it still waits its whole delay.
  local spin = vim.loop.hrtime()
  while vim.loop.hrtime() - spin < 60e6 do end
  fired = nil
  uvio.timer(20, function(elapsed) fired = elapsed end)
  wait_for('timer after busy Lua', function() return fired ~= nil end)
  assert(fired >= 20, 'timer(20) after busy Lua fired after ' .. fired .. ' ms')
  log('timer after busy Lua ok')

  -- An fs read, and its error.
  local text, err
  uvio.read_file(this, function(t, e)
    assert(not uvio.in_callback())
    text, err = t, e
  end)
  wait_for('read_file', function() return text ~= nil or err ~= nil end)
  local f = assert(io.open(this, 'rb'))
  local want = f:read('*a')
  f:close()
  assert(text == want, 'read_file returned the file')
  text, err = nil, nil
  uvio.read_file('/nonexistent/uvio-nvim', function(t, e) text, err = t, e end)
  wait_for('read_file error', function() return text ~= nil or err ~= nil end)
  assert(text == nil and err:find('ENOENT'), 'error ' .. tostring(err))
  log('read_file ok')

  -- An async task.
  local n, slept
  uvio.task(10, this, function(a, b) n, slept = a, b end)
  wait_for('task', function() return n ~= nil end)
  assert(n == #want and slept >= 10)
  log('task ok')

  -- A uvio TCP server that luv's client talks to.
  local got_line, reply
  local port = uvio.serve(function(line)
    assert(not uvio.in_callback())
    vim.api.nvim_buf_set_lines(0, 0, -1, false, { line })
    got_line = line
  end)
  local client = vim.loop.new_tcp()
  client:connect('127.0.0.1', port, function(cerr)
    assert(not cerr, cerr)
    client:read_start(function(rerr, data)
      assert(not rerr, rerr)
      if data then
        reply = (reply or '') .. data
      else
        client:close()
      end
    end)
    client:write('hello from luv\n')
  end)
  wait_for('tcp', function() return got_line ~= nil and reply ~= nil and reply:find('\n') end)
  assert(got_line == 'hello from luv')
  assert(reply == 'uvio got: hello from luv\n', reply)
  assert(vim.api.nvim_buf_get_lines(0, 0, -1, false)[1] == 'hello from luv')
  log('tcp ok')

  -- Leave handles open for :qa!: a 10-minute timer and the server.
  uvio.timer(600000, function() log('LONG TIMER FIRED') end)
  log('handles open: ' .. uvio.handles())
  log('ALL OK')
end

local ok, e = pcall(run)
if not ok then
  log('FAIL: ' .. tostring(e))
end
vim.cmd('qa!')
