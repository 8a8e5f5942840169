// Package check describes health checks as plain data: what a zone's
// checks: section says to probe, how often, and how many results move an
// endpoint up or down. It decodes and validates that section and names
// each probe target; it probes nothing itself (package healthcheck does),
// so the zone data can hold checks without depending on network clients.
//
// A zone declares named checks, each decoded into a Spec with Decode, and
// services whose endpoints refer to them:
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
// The zone loader turns every checked endpoint into a Target (a Spec plus
// the address to probe). Targets that probe the same thing share a Key and
// are probed once, however many services use them.
//
// RegionUp with a MinHealthy (a count, or a percentage such as "50%")
// decides whether a region has enough healthy endpoints to be answered from.
package check
