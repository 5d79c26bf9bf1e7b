-- wrk script of `make bench-ingress`: cycles through distinct pre-signed requests read from the
-- file given after `--`, and prints the run's figures as one JSON line when done.
--
-- File format, one record per request:
--   "<method> <path> <header count> <body length>\n", then "<Name>: <value>\n" per header,
--   then the body (any bytes) and "\n".

local requests = {}
local counter = 0
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

local function load(path)
  local f = assert(io.open(path, "rb"))
  local data = f:read("*a")
  f:close()
  local pos = 1
  while pos <= #data do
    local eol = data:find("\n", pos, true)
    local method, target, nh, nb = data:sub(pos, eol - 1):match("^(%S+) (%S+) (%d+) (%d+)$")
    assert(method, "bad record at byte " .. pos)
    pos = eol + 1
    local headers = {}
    for _ = 1, tonumber(nh) do
      eol = data:find("\n", pos, true)
      local name, value = data:sub(pos, eol - 1):match("^([^:]+): (.*)$")
      headers[name] = value
      pos = eol + 1
    end
    local size = tonumber(nb)
    local body = data:sub(pos, pos + size - 1)
    pos = pos + size + 1
    -- wrk.format adds Host and Content-Length: the request is formatted once, here.
    requests[#requests + 1] = wrk.format(method, target, headers, body)
  end
end

function init(args)
  load(args[1])
  -- threads start at different places in the list, so they send different requests
  counter = ((id or 0) * 7919) % #requests
end

function request()
  counter = counter % #requests + 1
  return requests[counter]
end

function done(summary, latency, _)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"non_2xx_3xx":%d,"connect":%d,"read":%d,"write":%d,'
      .. '"timeout":%d,"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
