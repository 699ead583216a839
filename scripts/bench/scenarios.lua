-- wrk script for every scenario of scripts/bench.sh (one file, so the status checking below is
-- shared). Why it exists: wrk alone cannot vary ids, names and values per request, and counts
-- non-2xx answers only as a total; this script picks requests per scenario and records every
-- answer >= 300 plus one sample of status and body, printed by done() for report.py.
--
-- Settings come from the environment (the scenario must be known at load time, because wrk
-- decides from the main script state whether `request` is dynamic):
--   BENCH_SCENARIO  ceiling | get-secret | list-groups | list-secrets-values | create-group |
--                   update-group | list-offset-0 | list-offset-90pct
--   BENCH_TOKEN     bearer token            BENCH_DATA  directory written by seed.py
--   BENCH_RUN       random run id (unique names)   BENCH_OFFSET  offset for list-offset-90pct

local scenario = os.getenv("BENCH_SCENARIO")
local data = os.getenv("BENCH_DATA") or "."
local run = os.getenv("BENCH_RUN") or "run"

wrk.headers["Authorization"] = "Bearer " .. (os.getenv("BENCH_TOKEN") or "")
wrk.headers["Content-Type"] = "application/json"

local function lines(file)
  local t = {}
  for line in io.lines(data .. "/" .. file) do
    if line ~= "" then t[#t + 1] = line end
  end
  return t
end

local function random_value()
  return string.format("%s-%08x%08x%08x", run, math.random(0, 0x7fffffff),
    math.random(0, 0x7fffffff), math.random(0, 0x7fffffff))
end

-- Static scenarios: wrk builds the request once and reuses it (no per-request Lua).
local static = {
  ["ceiling"] = { "GET", "/healthz" },
  ["list-groups"] = { "GET", "/api/svc/v1/secret-groups?limit=100" },
  ["list-secrets-values"] = { "POST", "/api/svc/v1/secrets", '{"limit":100,"withValue":true}' },
  ["list-offset-0"] = { "POST", "/api/svc/v1/secrets", '{"limit":100,"offset":0}' },
  ["list-offset-90pct"] = { "POST", "/api/svc/v1/secrets",
    '{"limit":100,"offset":' .. (os.getenv("BENCH_OFFSET") or "0") .. '}' },
}

local counter = 0
local ids, groups

if static[scenario] then
  wrk.method, wrk.path, wrk.body = static[scenario][1], static[scenario][2], static[scenario][3]
elseif scenario == "get-secret" then
  request = function()
    return wrk.format("GET", "/api/svc/v1/secrets/" .. ids[math.random(#ids)])
  end
elseif scenario == "create-group" then
  request = function()
    counter = counter + 1
    local secrets = {}
    for i = 1, 10 do
      secrets[i] = string.format('{"key":"K%02d","value":"%s"}', i, random_value())
    end
    local body = string.format('{"name":"bench-%s-t%d-%d","integrationId":"internal-secret-store",'
      .. '"secrets":[%s]}', run, tid, counter, table.concat(secrets, ","))
    return wrk.format("POST", "/api/svc/v1/secret-groups", nil, body)
  end
elseif scenario == "update-group" then
  request = function()
    local g = groups[math.random(#groups)]
    local changed = math.random(#g.keys)
    local secrets = {}
    for i, key in ipairs(g.keys) do
      -- every key must be listed (a missing key is deleted); only one gets a new value
      if i == changed then
        secrets[i] = string.format('{"key":"%s","value":"%s"}', key, random_value())
      else
        secrets[i] = string.format('{"key":"%s"}', key)
      end
    end
    return wrk.format("PUT", "/api/svc/v1/secret-groups/" .. g.id, nil,
      '{"secrets":[' .. table.concat(secrets, ",") .. ']}')
  end
else
  error("unknown BENCH_SCENARIO: " .. tostring(scenario))
end

-- Main state: number the threads so that each can make unique names.
local threads = {}
function setup(thread)
  threads[#threads + 1] = thread
  thread:set("tid", #threads)
end

-- Thread states: load the ids seed.py wrote; seed the generator differently per thread.
function init(args)
  math.randomseed(os.time() + 7919 * (tid or 0))
  if scenario == "get-secret" then
    ids = lines("secret_ids.txt")
  elseif scenario == "update-group" then
    groups = {}
    for _, line in ipairs(lines("update_groups.txt")) do
      local g = { keys = {} }
      for word in line:gmatch("%S+") do
        if g.id == nil then g.id = word else g.keys[#g.keys + 1] = word end
      end
      groups[#groups + 1] = g
    end
  end
end

responses, failures, sample = 0, 0, ""
function response(status, headers, body)
  responses = responses + 1
  if status >= 300 then
    failures = failures + 1
    if sample == "" then
      sample = status .. " " .. (body or ""):sub(1, 300):gsub("%s+", " ")
    end
  end
end

function done(summary, latency, requests)
  local total, failed, first = 0, 0, ""
  for _, t in ipairs(threads) do
    total = total + t:get("responses")
    failed = failed + t:get("failures")
    if first == "" then first = t:get("sample") end
  end
  io.write(string.format("bench-lua: responses=%d non2xx=%d\n", total, failed))
  if first ~= "" then io.write("bench-lua: sample=" .. first .. "\n") end
end
