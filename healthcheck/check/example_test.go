package check_test

import (
	"fmt"

	"go.yaml.in/yaml/v3"

	"github.com/meridian-dns/meridian/healthcheck/check"
)

// A zone loader decodes each entry under "checks:" with Decode and names
// it after its key.
func ExampleDecode() {
	const zone = `checks:
  web:
    type: http               # tcp | http | https | dns | exec
    port: 80
    path: /healthz
    host: www.example.com    # Host header (and SNI for https)
    expect_status: [200-299] # codes or ranges
    expect_body: "ok"        # optional substring in the first 64 KiB
    interval: 10s
    timeout: 2s
    rise: 2                  # consecutive successes to become up
    fall: 3                  # consecutive failures to become down
  typo:
    type: tcp
    prot: 22
`
	var doc struct {
		Checks map[string]yaml.Node `yaml:"checks"`
	}
	if err := yaml.Unmarshal([]byte(zone), &doc); err != nil {
		fmt.Println(err)
		return
	}
	node := doc.Checks["web"]
	web, err := check.Decode(&node)
	if err != nil {
		fmt.Println(err)
		return
	}
	web.Name = "web"
	fmt.Println(web.Type, web.Port, web.Path, web.ExpectStatus, web.Interval, web.Timeout, web.Rise, web.Fall)

	node = doc.Checks["typo"]
	_, err = check.Decode(&node)
	fmt.Println(err)
	// Output:
	// http 80 /healthz [200-299] 10s 2s 2 3
	// line 15: unknown key "prot"; did you mean "port"?
}

// The DNS side decides per region whether enough endpoints are up.
func ExampleRegionUp() {
	half, _ := check.ParseMinHealthy("50%")
	fmt.Println(check.RegionUp(1, 3, half), check.RegionUp(2, 3, half))
	fmt.Println(check.RegionUp(1, 4, check.MinHealthy{}))
	// Output:
	// false true
	// true
}
