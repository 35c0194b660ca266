-- wrk script for bench/ledger.py: POST deposits, each with its own idempotency key.
-- The API key comes from the environment (KHATA_BENCH_KEY).
local thread_count = 0

function setup(thread)
  thread:set("thread_no", thread_count)
  thread_count = thread_count + 1
end

function init(args)
  math.randomseed(os.time() * 1000 + thread_no)
  prefix = string.format("%d-%d-%d", os.time(), thread_no, math.random(1, 1000000000))
  counter = 0
  headers = {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Api-Key " .. os.getenv("KHATA_BENCH_KEY"),
  }
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"owner":{"type":"user","id":"h%d"},"creator":{"type":"system","id":"bench"},' ..
    '"amount":{"unitType":"currency_micros","unitToken":"USD","unitCount":1000000},' ..
    '"reason":{"type":"bench","token":"http"},"idempotencyKey":{"type":"bench_wrk","token":"%s-%d"}}',
    math.random(0, 9999), prefix, counter)
  return wrk.format("POST", "/api/v1/ledger/deposits", headers, body)
end

function done(summary, latency, requests)
  io.write(string.format("requests %d\n", summary.requests))
  io.write(string.format("errors %d\n", summary.errors.status + summary.errors.connect + summary.errors.read
                                        + summary.errors.write + summary.errors.timeout))
  io.write(string.format("p50_us %d\n", latency:percentile(50)))
  io.write(string.format("p99_us %d\n", latency:percentile(99)))
end
