-- wrk script for exact counting. wrk stops at -d with requests still in flight: nginx
-- answers them but wrk never counts them, so wrk's "N requests in" is lower than what
-- the server really served (by up to one request per connection). Here each thread
-- sends exactly E2E_BUDGET requests for E2E_PATH and then only E2E_DRAIN_PATH until the
-- end, so no E2E_PATH request is in flight when wrk stops, and ok= is exact.
-- Responses are told apart by Content-Length (E2E_PATH_LEN for E2E_PATH).
-- Prints: E2E sent=<E2E_PATH requests sent> ok=<200s for them> bad=<non-200s for them>
--         drain=<E2E_DRAIN_PATH responses>
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  budget = tonumber(os.getenv("E2E_BUDGET") or "5000")
  main_len = os.getenv("E2E_PATH_LEN")
  req_main = wrk.format("GET", os.getenv("E2E_PATH"))
  req_drain = wrk.format("GET", os.getenv("E2E_DRAIN_PATH"))
  sent = 0
  ok = 0
  bad = 0
  drain = 0
end

function request()
  if sent < budget then
    sent = sent + 1
    return req_main
  end
  return req_drain
end

function response(status, headers, body)
  if headers["Content-Length"] == main_len then
    if status == 200 then ok = ok + 1 else bad = bad + 1 end
  else
    drain = drain + 1
  end
end

function done(summary, latency, requests)
  local s, o, b, d = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    s = s + t:get("sent")
    o = o + t:get("ok")
    b = b + t:get("bad")
    d = d + t:get("drain")
  end
  io.write(string.format("E2E sent=%d ok=%d bad=%d drain=%d\n", s, o, b, d))
end
