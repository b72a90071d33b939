-- wrk script: POST the bytes of a file to the URL and print a JSON summary at the end.
-- Usage: wrk -s bench/post_body.lua URL -- BODY_FILE [CONTENT_TYPE [ACCEPT]]
-- The body is read once (init) so wrk sends the same request on every connection.

function init(args)
   local path = args[1]
   if path == nil then
      error("post_body.lua needs the body file: wrk -s post_body.lua URL -- BODY_FILE [CONTENT_TYPE]")
   end
   local f = assert(io.open(path, "rb"))
   wrk.body = f:read("*a")
   f:close()
   wrk.method = "POST"
   wrk.headers["Content-Type"] = args[2] or "application/json"
   if args[3] ~= nil then
      wrk.headers["Accept"] = args[3]
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
