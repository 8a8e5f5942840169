// Package healthcheck decides which endpoints are up.
//
// A zone declares named checks, each decoded into a Spec with DecodeSpec,
// and services whose endpoints refer to them:
//
//	checks:
//	  web:
//	    type: http               # tcp | http | https | dns | exec
//	    port: 80
//	    path: /healthz
//	    host: www.example.com    # Host header (and SNI for https)
//	    expect_status: [200-299] # codes or ranges
//	    expect_body: "ok"        # optional substring in the first 64 KiB
//	    interval: 10s
//	    timeout: 2s
//	    rise: 2                  # consecutive successes to become up
//	    fall: 3                  # consecutive failures to become down
//	    load_header: X-Load      # optional response header with a load 0..1
//	  resolver:
//	    type: dns
//	    query: "www.example.com. A"
//	    expect_rcode: [NOERROR]
//	  script:
//	    type: exec               # only when the server allows exec checks
//	    command: ["/usr/local/libexec/check-backend", "--quick"]
//
// The zone loader turns every endpoint into a Target (a Spec plus the
// address to probe) and hands the complete list to a Manager with
// SetTargets on every reload. Targets that probe the same thing share a Key
// and are probed once, however many services use them.
//
// The Manager probes each target on its own schedule, runs every result
// through a small state machine with hysteresis (the first result decides,
// then rise and fall counts), and publishes an immutable StatusMap behind an
// atomic pointer. The DNS answer path reads that map with Status without
// taking locks.
//
// Operators override health in an admin_state file, read by LoadOverrides
// and kept current by WatchOverrides:
//
//	endpoints:
//	  "www.example.com./198.51.100.10": drain     # up | down | drain
//	regions:
//	  "example.com./eu-west": down                # zone + "/" + region
//
// RegionUp with a MinHealthy (a count, or a percentage such as "50%")
// decides whether a region has enough healthy endpoints to be answered from.
package healthcheck
