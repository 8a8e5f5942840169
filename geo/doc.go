// Package geo answers "where is this client?" for the DNS path: it reads
// MaxMind DB (MMDB) files such as GeoIP2, GeoLite2 and DB-IP lite into
// memory, turns a client address into a Location, and keeps the databases
// fresh with Source, which reloads them atomically when the files change.
//
// It also holds the built-in country and continent tables used to fill in
// coordinates when a database only knows the country, and Distance for
// distance-based selection.
package geo
