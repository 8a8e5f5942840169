// Package cluster runs a Meridian instance as a member of a fleet that
// shares one view of health through etcd (docs/fleet.md).
//
// Every member registers itself under <prefix>instances/<instance> and
// publishes its own verdict on each health-check target it probes under
// <prefix>health/<instance>/<target>, on change only, on a lease that
// expires about three check intervals after the member stops renewing it.
// With cluster.health.observers N, each target is probed by N live members
// chosen by rendezvous hashing (Observers). Every member reads the others'
// observations, decides each target with cluster.health.down_when
// (Decide), and publishes the verdicts as a healthcheck.StatusMap that
// the DNS path reads with one atomic load.
//
// Nothing on the DNS path waits for etcd. A member that loses contact with
// etcd keeps its last state for one lease TTL, then decides from its own
// probes alone and probes every target, until etcd answers again.
//
// What comes from etcd is untrusted: every key and value is checked
// (ParseObservation, ParseInstance); one that does not pass is ignored,
// counted and logged at a bounded rate.
package cluster
