; The benchmark zone for gdnsd: the records of
; bench/perf/zones/example.com.yaml, with the www service as a DYNA record of
; the geoip plugin (see ../config).
$TTL 3600
@      300 IN SOA    ns1 hostmaster 2026112901 7200 3600 1209600 300
@          IN NS     ns1
@          IN NS     ns2
ns1        IN A      192.0.2.53
ns2        IN AAAA   2001:db8::53
@          IN MX 10  mail
@          IN TXT    "v=spf1 mx -all"
mail       IN A      192.0.2.25
mail       IN AAAA   2001:db8::25
docs       IN CNAME  www
*.apps     IN A      192.0.2.80
sub        IN NS     ns.sub
ns.sub     IN A      192.0.2.99
_sip._udp  IN SRV 10 5 5060 sip
sip        IN A      192.0.2.60
a.b.c      IN TXT    "deep name; b.c and c are empty non-terminals"
www     30 IN DYNA   geoip!www
