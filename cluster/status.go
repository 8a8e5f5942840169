package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/meridian-dns/meridian/config"
)

// statusDir holds each live instance's status: status/<instance> =
// Status, on a lease of the instance, written on change only.
const statusDir = "status/"

// MaxStatusBytes bounds a status value. An instance with more zones than
// fit leaves the serials out and says so (SerialsOmitted).
const MaxStatusBytes = 64 << 10

// Status is what an instance tells the fleet about itself.
type Status struct {
	// ZonesFrom is cluster.zones_from: files or cluster.
	ZonesFrom string `json:"zones_from"`
	// Revision is the published revision served; 0 when the zones come
	// from files, or none was applied yet.
	Revision uint64 `json:"revision,omitempty"`
	// Serials are the SOA serials served, by zone.
	Serials map[string]uint32 `json:"serials"`
	// SerialsOmitted reports serials left out to keep the value small.
	SerialsOmitted bool `json:"serials_omitted,omitempty"`
	// Connected reports the health consensus's contact with etcd.
	Connected bool `json:"connected"`
	// Disagreements counts the targets whose fleet verdict differs from
	// this instance's own probes.
	Disagreements int `json:"disagreements"`
	// Rejected is the last published revision this instance refused,
	// while it is the current one.
	Rejected *Rejection `json:"rejected,omitempty"`
}

// Rejection is a published revision an instance could not serve.
type Rejection struct {
	Revision uint64 `json:"revision"`
	Error    string `json:"error"`
}

// maxRejectionText bounds the reason carried in a status.
const maxRejectionText = 2048

// Marshal returns the value published for s, within MaxStatusBytes.
func (s Status) Marshal() []byte {
	if s.Rejected != nil {
		r := *s.Rejected
		r.Error = clipText(r.Error, maxRejectionText)
		s.Rejected = &r
	}
	b, _ := json.Marshal(s)
	if len(b) > MaxStatusBytes {
		s.Serials, s.SerialsOmitted = nil, true
		b, _ = json.Marshal(s)
	}
	return b
}

// clipText cuts s to at most n bytes of valid UTF-8 without control
// characters.
func clipText(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
	if len(s) > n {
		s = strings.ToValidUTF8(s[:n], "") + "..."
	}
	return s
}

// ParseStatus reads a published status strictly.
func ParseStatus(b []byte) (Status, error) {
	var s Status
	if err := decodeStrictLimit(b, &s, MaxStatusBytes); err != nil {
		return Status{}, err
	}
	if s.ZonesFrom != "files" && s.ZonesFrom != "cluster" {
		return Status{}, fmt.Errorf("zones_from %q is not files or cluster", clip(s.ZonesFrom))
	}
	for z := range s.Serials {
		if err := checkText(z, 255); err != nil || z == "" {
			return Status{}, fmt.Errorf("serials: zone %q is not a name", clip(z))
		}
	}
	if s.Disagreements < 0 {
		return Status{}, errors.New("negative disagreements")
	}
	if r := s.Rejected; r != nil {
		if err := checkText(r.Error, maxRejectionText+3); err != nil {
			return Status{}, fmt.Errorf("rejected: %w", err)
		}
	}
	return s, nil
}

// Fleet is the fleet as etcd holds it: the published revision and every
// live instance.
type Fleet struct {
	// Revision is the current published revision, 0 when none is.
	Revision uint64 `json:"revision"`
	// Published and By say when and by whom it was published.
	Published time.Time `json:"published,omitzero"`
	By        string    `json:"by,omitempty"`
	// Instances are the live instances, sorted by name.
	Instances []InstanceStatus `json:"instances"`
}

// InstanceStatus is one live instance.
type InstanceStatus struct {
	Instance string    `json:"instance"`
	Version  string    `json:"version"`
	Started  time.Time `json:"started"`
	// Status is what the instance published, nil when it published none
	// or a malformed one (Error says why).
	Status *Status `json:"status,omitempty"`
	Error  string  `json:"error,omitempty"`
}

// ReadFleet reads the fleet's live instances, their status and the
// current revision under prefix. Every value is checked; one that does
// not pass is reported in its instance's Error, not used.
func ReadFleet(ctx context.Context, cli *clientv3.Client, prefix string) (Fleet, error) {
	resp, err := cli.Txn(ctx).Then(
		clientv3.OpGet(prefix+instancesDir, clientv3.WithPrefix(), clientv3.WithLimit(maxInstances)),
		clientv3.OpGet(prefix+statusDir, clientv3.WithPrefix(), clientv3.WithLimit(maxInstances)),
		clientv3.OpGet(prefix+zonesCurrentKey),
	).Commit()
	if err != nil {
		return Fleet{}, fmt.Errorf("reading the fleet under %s: %w", prefix, err)
	}
	var f Fleet
	status := map[string][]byte{}
	for _, kv := range resp.Responses[1].GetResponseRange().Kvs {
		status[strings.TrimPrefix(string(kv.Key), prefix+statusDir)] = kv.Value
	}
	for _, kv := range resp.Responses[0].GetResponseRange().Kvs {
		name := strings.TrimPrefix(string(kv.Key), prefix+instancesDir)
		if config.CheckInstanceName(name) != nil {
			continue
		}
		is := InstanceStatus{Instance: name}
		if i, err := ParseInstance(kv.Value); err != nil {
			is.Error = "registration: " + err.Error()
		} else {
			is.Version, is.Started = i.Version, i.Started
		}
		if b, ok := status[name]; !ok {
			if is.Error == "" {
				is.Error = "no status published"
			}
		} else if s, err := ParseStatus(b); err != nil {
			is.Error = strings.TrimPrefix(is.Error+"; ", "; ") + "status: " + err.Error()
		} else {
			is.Status = &s
		}
		f.Instances = append(f.Instances, is)
	}
	slices.SortFunc(f.Instances, func(a, b InstanceStatus) int { return strings.Compare(a.Instance, b.Instance) })
	if kvs := resp.Responses[2].GetResponseRange().Kvs; len(kvs) > 0 {
		if id, err := parseRevisionID(string(kvs[0].Value)); err == nil {
			f.Revision = id
			m, err := cli.Get(ctx, revKey(prefix, id)+manifestName)
			if err == nil && len(m.Kvs) > 0 {
				if man, err := parseManifest(m.Kvs[0].Value); err == nil {
					f.Published, f.By = man.Published, man.By
				}
			}
		}
	}
	return f, nil
}
