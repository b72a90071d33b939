-- wrk script: POST the bytes of a file with any headers, and print a JSON summary at the end.
-- Usage: wrk -s bench/post_headers.lua URL -- BODY_FILE CONTENT_TYPE ["Name: value" ...]
-- (post_body.lua's summary line; the extra headers carry e.g. Inference-Header-Content-Length.)

function init(args)
   local path = args[1]
   if path == nil or args[2] == nil then
      error("post_headers.lua needs the body file and its content type: -- BODY_FILE CONTENT_TYPE [HEADER...]")
   end
   local f = assert(io.open(path, "rb"))
   wrk.body = f:read("*a")
   f:close()
   wrk.method = "POST"
   wrk.headers["Content-Type"] = args[2]
   for i = 3, #args do
      local name, value = string.match(args[i], "^([^:]+):%s*(.*)$")
      if name == nil then
         error("a header argument must be 'Name: value', got " .. args[i])
      end
      wrk.headers[name] = value
   end
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'WRK_JSON {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
      '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
      '"latency_us": {"mean": %.1f, "p50": %d, "p90": %d, "p99": %d, "max": %d}}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
