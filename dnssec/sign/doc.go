// Package sign makes the DNSSEC signatures of Meridian's answers, ahead of
// the queries that need them.
//
// Signing costs ten times a whole unsigned answer, so nothing is signed on
// the query path in steady state:
//
//   - Validity windows are a pure function of the time, aligned to the week
//     (WindowAt): every instance, and every snapshot after a reload, signs
//     an RRset with the same input for a whole week.
//   - The static RRsets of a snapshot are signed once (Signer.SignAll),
//     reusing the signatures of unchanged RRsets from the previous
//     snapshot's SignedSet.
//   - The answers of a service are a finite set (per region, selection and
//     TTL); Signer.Sign caches their signatures by content and key, bounded
//     in memory, so each is signed once per window.
//
// Ed25519 signatures are deterministic: every instance makes the same bytes
// for the same input. ECDSA P-256 signatures are randomised (a fresh nonce
// each time), so two instances, or one instance after its cache evicted an
// entry, give different bytes for the same input. Every one of them
// validates; within one instance the cache returns one signature per
// RRset, key and window while it holds it.
//
// The package knows nothing of zone files or key files: the caller gives
// it Keys (DNSKEY records with their private keys) and RRsets.
package sign
