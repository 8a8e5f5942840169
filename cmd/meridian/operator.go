package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/meridian-dns/meridian/config"
)

// defaultAdmin is the admin API's address when neither --admin nor a
// configuration says otherwise (http.listen's default).
const defaultAdmin = "http://127.0.0.1:9153"

// operatorCmds are the commands that change operator state through a
// running instance's admin API.
func operatorCmds() []*cobra.Command {
	return []*cobra.Command{drainCmd("drain"), drainCmd("undrain"), weightCmd()}
}

// adminFlags adds the flags that say how to reach the admin API.
func adminFlags(cmd *cobra.Command) {
	cmd.Flags().String("admin", "", "the admin API's URL (default from the configuration's http.listen, else "+defaultAdmin+")")
	cmd.Flags().String("token", "", "the admin API's bearer token (default $MERIDIAN_TOKEN, else the configuration's http.token)")
	cmd.Flags().String("config", "", "configuration file to take http.listen and http.token from (default ./meridian.yaml when present)")
}

// adminTarget works out the admin API's base URL and token from the flags,
// the environment and the configuration.
func adminTarget(cmd *cobra.Command) (base, token string, err error) {
	base, _ = cmd.Flags().GetString("admin")
	token, _ = cmd.Flags().GetString("token")
	if token == "" {
		token = os.Getenv("MERIDIAN_TOKEN")
	}
	path, _ := cmd.Flags().GetString("config")
	if path == "" {
		if _, err := os.Stat("meridian.yaml"); err == nil && base == "" {
			path = "meridian.yaml"
		}
	}
	if path != "" && (base == "" || token == "") {
		cfg, err := config.Load(path, nil)
		if err != nil {
			return "", "", err
		}
		if base == "" {
			if cfg.HTTP.Listen == "" {
				return "", "", fmt.Errorf("%s: http.listen is empty, so the admin API is off; give --admin", path)
			}
			base = adminURL(cfg.HTTP.Listen)
		}
		if token == "" {
			token = cfg.HTTP.Token
		}
	}
	if base == "" {
		base = defaultAdmin
	}
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	return strings.TrimRight(base, "/"), token, nil
}

// adminURL is the URL of an admin listener at listen ("host:port"): a
// wildcard address is reached on loopback.
func adminURL(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "http://" + listen
	}
	if a, err := netip.ParseAddr(host); err == nil && a.IsUnspecified() {
		host = "127.0.0.1"
		if a.Is6() {
			host = "::1"
		}
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// callAdmin POSTs body as JSON to path on the admin API and decodes the
// answer into out; an answer other than 200 is an error with the API's
// message.
func callAdmin(cmd *cobra.Command, path string, body any, out any) error {
	base, token, err := adminTarget(cmd)
	if err != nil {
		return err
	}
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("--admin %s: %w", base, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("admin API at %s: %w", base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("admin API at %s: %w", base, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return fmt.Errorf("admin API: %s (%s)", e.Error, resp.Status)
		}
		return fmt.Errorf("admin API: %s", resp.Status)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("admin API: the answer is not JSON: %w", err)
	}
	return nil
}

// drainCmd is `meridian drain` or `meridian undrain`.
func drainCmd(action string) *cobra.Command {
	what := "Drain an endpoint or a region: take it out of answers on purpose, on every instance of a fleet"
	if action == "undrain" {
		what = "Undrain an endpoint or a region: clear its override, on every instance of a fleet"
	}
	cmd := &cobra.Command{
		Use:   action + " (--service NAME --endpoint ADDRESS | --zone ZONE --region REGION)",
		Short: what,
		Long: what + `, through a running instance's admin API
(POST /api/v1/` + action + `). With a cluster section the change goes to etcd
and reaches every instance; alone, it is written to the instance's
admin_state file. The change is recorded with who made it
(GET /api/v1/changes).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req := map[string]string{}
			for _, f := range []string{"service", "endpoint", "zone", "region"} {
				if v, _ := cmd.Flags().GetString(f); v != "" {
					req[f] = v
				}
			}
			var res map[string]string
			if err := callAdmin(cmd, "/api/v1/"+action, req, &res); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %s\n", res["result"], res["target"])
			return nil
		},
	}
	cmd.Flags().String("service", "", "the service's name (with --endpoint)")
	cmd.Flags().String("endpoint", "", "the endpoint's address or CNAME target (with --service)")
	cmd.Flags().String("zone", "", "the zone (with --region)")
	cmd.Flags().String("region", "", "the region's name (with --zone)")
	cmd.MarkFlagsRequiredTogether("service", "endpoint")
	cmd.MarkFlagsRequiredTogether("zone", "region")
	cmd.MarkFlagsMutuallyExclusive("service", "zone")
	cmd.MarkFlagsOneRequired("service", "zone")
	adminFlags(cmd)
	return cmd
}

// weightCmd is `meridian weight`.
func weightCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "weight --service NAME --endpoint ADDRESS (WEIGHT | --clear)",
		Short: "Set an endpoint's weight at runtime, on every instance of a fleet",
		Long: `Weight sets an endpoint's weight (0 to 1000000) in place of the zone
file's, through a running instance's admin API (POST /api/v1/weight);
--clear goes back to the zone file's weight. Weight 0 keeps the endpoint
out of answers while an endpoint of positive weight in its region is up.
With a cluster section the change goes to etcd and reaches every
instance; alone, it is written to the instance's admin_state file.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			service, _ := cmd.Flags().GetString("service")
			endpoint, _ := cmd.Flags().GetString("endpoint")
			clearIt, _ := cmd.Flags().GetBool("clear")
			req := map[string]any{"service": service, "endpoint": endpoint, "weight": nil}
			switch {
			case clearIt && len(args) == 0:
			case !clearIt && len(args) == 1:
				w, err := strconv.Atoi(args[0])
				if err != nil {
					return fmt.Errorf("weight %q is not a whole number", args[0])
				}
				req["weight"] = w
			default:
				return errors.New("give a weight or --clear")
			}
			var res map[string]string
			if err := callAdmin(cmd, "/api/v1/weight", req, &res); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %s -> %s\n", res["target"], res["old"], res["new"])
			return nil
		},
	}
	cmd.Flags().String("service", "", "the service's name")
	cmd.Flags().String("endpoint", "", "the endpoint's address")
	cmd.Flags().Bool("clear", false, "go back to the zone file's weight")
	cmd.MarkFlagRequired("service")
	cmd.MarkFlagRequired("endpoint")
	adminFlags(cmd)
	return cmd
}
