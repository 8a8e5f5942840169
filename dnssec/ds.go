package dnssec

import (
	"fmt"
	"strings"

	"github.com/miekg/dns"
)

// FormatDS writes a DS record as dnssec-dsfromkey does, for a registrar:
// "example.com. IN DS 12345 13 2 ABCD...", without a TTL.
func FormatDS(ds *dns.DS) string {
	return fmt.Sprintf("%s IN DS %d %d %d %s", ds.Hdr.Name, ds.KeyTag, ds.Algorithm, ds.DigestType, strings.ToUpper(ds.Digest))
}
