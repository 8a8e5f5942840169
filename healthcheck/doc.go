// Package healthcheck decides which endpoints are up.
//
// What to probe is plain data from package check: the zone loader turns
// every checked endpoint into a check.Target and the complete list is handed
// to a Manager with SetTargets on every reload, once the new zones serve (a
// reload validates them first with CheckTargets, which changes nothing).
// Targets that share a check.Key are probed once, however many services use
// them.
//
// The Manager builds a prober for each target (tcp, http, https, dns or
// exec), probes it on its own schedule, runs every result through a small
// state machine with hysteresis (the first result decides, then rise and
// fall counts), and publishes an immutable StatusMap behind an atomic
// pointer. The DNS answer path reads that map with Status without taking
// locks.
//
// Operators override health in an admin_state file, read by LoadOverrides
// and kept current by WatchOverrides:
//
//	endpoints:
//	  "www.example.com./198.51.100.10": drain     # up | down | drain
//	regions:
//	  "example.com./eu-west": down                # zone + "/" + region
package healthcheck
