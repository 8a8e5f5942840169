package zones

import (
	"fmt"
	"strings"
)

// The fields of miekg/dns's "bad <TYPE> <Field>" parse errors, by what
// they must hold.
var (
	numberFields = map[string]string{
		"Pref": "preference", "Preference": "preference", "Priority": "priority", "Weight": "weight",
		"Port": "port", "Order": "order",
	}
	nameFields = map[string]string{
		"Mx": "mail exchanger", "Ns": "name server", "Target": "target", "Ptr": "target",
		"Mbox": "mailbox", "Replacement": "replacement", "Exchanger": "exchanger",
	}
)

// recordErrorText words a miekg/dns parse error (its message and the token
// it is about, "" for none) as what is wrong with the record, in place of
// its terse "bad A A" form.
func recordErrorText(msg, tok string) string {
	q := quote(tok)
	if f := strings.Fields(msg); len(f) == 3 && f[0] == "bad" {
		typ, field := f[1], f[2]
		switch {
		case typ == "A" && field == "A":
			return fmt.Sprintf("bad A record %s: not an IPv4 address", q)
		case typ == "AAAA" && field == "AAAA":
			return fmt.Sprintf("bad AAAA record %s: not an IPv6 address", q)
		case tok == "unbalanced brace":
			return fmt.Sprintf("bad %s record: a ( is not closed by a )", typ)
		case numberFields[field] != "":
			return fmt.Sprintf("bad %s record %s: the %s must be a number from 0 to 65535", typ, q, numberFields[field])
		case nameFields[field] != "":
			return fmt.Sprintf("bad %s record %s: the %s is not a domain name", typ, q, nameFields[field])
		case typ == "TXT":
			return fmt.Sprintf("bad TXT record %s: text is one or more strings, each in double quotes", q)
		}
		return fmt.Sprintf("bad %s record %s (its %s)", typ, q, strings.ToLower(field))
	}
	switch msg {
	case "not a TTL":
		if strings.Trim(tok, "0123456789") == "" {
			return fmt.Sprintf("bad TTL %s: not a number from 0 to 2147483647", q)
		}
		return fmt.Sprintf("%s is not a record type, class or TTL", q)
	case "garbage after rdata":
		if tok == "unbalanced brace" {
			return "a ( is not closed by a )"
		}
		return fmt.Sprintf("%s after the end of the record's data", q)
	case "bad owner name":
		return fmt.Sprintf("bad owner name %s: not a domain name", q)
	case "expecting $TTL value, not this...":
		return fmt.Sprintf("bad $TTL %s: not a TTL", q)
	}
	if tok == "" {
		return msg
	}
	return msg + " " + q
}
