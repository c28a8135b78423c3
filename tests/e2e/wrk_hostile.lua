-- wrk script for the hostile-traffic test: every request has a path never sent before
-- (thread id, chunk and a per-thread counter are in it, within the first 128 bytes the
-- kernel side captures), in five shapes chosen by the counter:
--   8/16  /u/<n>/orders?q=<QMARK>...           ids (one template) and a query string
--   3/16  /r/<letters of n>?<QMARK>             a random readable segment: a new route each
--   2/16  /l/<t>x<n>/<letters ... several KB>TAILMARK   a very long URL
--   1/16  /h/<n> with 60 extra headers          a header flood
--   2/16  /s/<t>/<n>.html?<QMARK>               static-looking, distinct files
-- E2E_CHUNK (env) keeps paths distinct across successive wrk runs; E2E_QMARK and
-- E2E_TAILMARK are markers the test greps /metrics, the API and the log for.
-- Prints: E2E sent=<requests written> long=<long URLs> flood=<header floods> ok=<2xx>
local threads = {}
local next_id = 0

function setup(thread)
  next_id = next_id + 1
  thread:set("id", next_id)
  table.insert(threads, thread)
end

local letters = "abcdefghijklmnopqrstuvwxyz"

local function word(n)
  -- n in base 26, letters only, at least 6 long: readable, never an identifier.
  local out = {}
  for _ = 1, 6 do
    local d = n % 26
    out[#out + 1] = letters:sub(d + 1, d + 1)
    n = (n - d) / 26
  end
  while n > 0 do
    local d = n % 26
    out[#out + 1] = letters:sub(d + 1, d + 1)
    n = (n - d) / 26
  end
  return table.concat(out)
end

function init(args)
  chunk = os.getenv("E2E_CHUNK") or "0"
  qmark = os.getenv("E2E_QMARK") or "QMARK"
  tailmark = os.getenv("E2E_TAILMARK") or "TAILMARK"
  local pad = {}
  for i = 1, 7000 do
    local d = (i * 7) % 26
    pad[i] = letters:sub(d + 1, d + 1)
  end
  padding = table.concat(pad)
  flood = {}
  for i = 1, 60 do
    flood["X-Flood-" .. i] = string.rep("v", 40) .. i
  end
  prefix = "c" .. chunk .. "t" .. id
  n = 0
  sent = 0
  long = 0
  floods = 0
  ok = 0
end

function request()
  n = n + 1
  sent = sent + 1
  local mode = n % 16
  local path
  if mode < 8 then
    path = "/u/" .. string.format("%d%08d", tonumber(chunk) * 64 + id, n) .. "/orders?q=" .. qmark .. n .. "&token=secret" .. n
  elseif mode < 11 then
    path = "/r/" .. word(n * 1024 + tonumber(chunk) * 16 + id) .. "?" .. qmark .. "=" .. n
  elseif mode < 13 then
    long = long + 1
    local len = 400 + (n * 37) % 6000
    path = "/l/" .. prefix .. "x" .. n .. "/" .. padding:sub(1, len) .. tailmark .. n
  elseif mode < 14 then
    floods = floods + 1
    return wrk.format("GET", "/h/" .. prefix .. "/" .. n, flood)
  else
    path = "/s/" .. prefix .. "/" .. n .. ".html?" .. qmark .. n
  end
  return wrk.format("GET", path)
end

function response(status, headers, body)
  if status >= 200 and status < 300 then ok = ok + 1 end
end

function done(summary, latency, requests)
  local s, l, f, o = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    s = s + t:get("sent")
    l = l + t:get("long")
    f = f + t:get("floods")
    o = o + t:get("ok")
  end
  io.write(string.format("E2E sent=%d long=%d flood=%d ok=%d\n", s, l, f, o))
end
