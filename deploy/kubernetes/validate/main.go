// Command validate builds Meridian's kustomize base and checks what it
// renders, offline: every object is decoded strictly (unknown and duplicate
// fields are errors) into the Kubernetes API's own Go types and the
// Prometheus Operator's, and then the objects are checked against each
// other and against the Meridian configuration they carry: selectors that
// select the pods, ports that exist, probes on the admin listener, mounts
// where the configuration says the files are.
//
// It is its own Go module so that Meridian's go.mod does not depend on
// Kubernetes. deploy/check.sh runs it:
//
//	go -C deploy/kubernetes/validate run . -dir .. -root /tmp/pod -rules ../../prometheus/alerts.yml
//
// With -root it also writes the files the pod mounts from ConfigMaps under
// that directory (ROOT/etc/meridian/...), so that `meridian check` can load
// them as the pod would.
package main

import (
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

func main() {
	dir := flag.String("dir", "..", "the kustomization directory to build")
	out := flag.String("o", "", "also write the rendered manifests to this file")
	root := flag.String("root", "", "write the files the pod mounts from ConfigMaps under this directory")
	rules := flag.String("rules", "", "a Prometheus rules file that must also be a valid PrometheusRule spec")
	flag.Parse()
	if err := run(*dir, *out, *root, *rules); err != nil {
		fmt.Fprintln(os.Stderr, "validate:", err)
		os.Exit(1)
	}
}

func run(dir, out, root, rules string) error {
	rendered, objs, decodeErrs, err := build(dir)
	if err != nil {
		return err
	}
	if out != "" {
		if err := os.WriteFile(out, rendered, 0o644); err != nil {
			return err
		}
	}
	for _, o := range objs.all {
		fmt.Printf("decoded %s %s\n", o.GetObjectKind().GroupVersionKind().Kind, o.(metav1.Object).GetName())
	}
	problems := append(decodeErrs, objs.check()...)
	if rules != "" {
		if err := checkRules(rules); err != nil {
			problems = append(problems, err)
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%d problems:\n%w", len(problems), errors.Join(problems...))
	}
	if root != "" {
		if err := objs.materialise(root); err != nil {
			return err
		}
	}
	fmt.Printf("%d objects valid\n", len(objs.all))
	return nil
}

// scheme knows every kind the base may contain; any other kind is an error,
// since there would be nothing to check it against.
func scheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		appsv1.AddToScheme, corev1.AddToScheme, policyv1.AddToScheme, networkingv1.AddToScheme, monitoringv1.AddToScheme,
	} {
		if err := add(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// objects are the rendered objects by kind.
type objects struct {
	all             []runtime.Object
	deployments     []*appsv1.Deployment
	services        []*corev1.Service
	configMaps      []*corev1.ConfigMap
	pdbs            []*policyv1.PodDisruptionBudget
	networkPolicies []*networkingv1.NetworkPolicy
	serviceMonitors []*monitoringv1.ServiceMonitor
}

// build runs kustomize on dir and decodes every resource strictly. An
// object with unknown or duplicate fields is kept, and its strict-decoding
// error returned among the others, so that the remaining checks still run.
func build(dir string) ([]byte, *objects, []error, error) {
	// Legacy order (namespaces, ConfigMaps, Services, ... first), as
	// `kustomize build` and `kubectl kustomize` print it.
	opts := krusty.MakeDefaultOptions()
	opts.Reorder = krusty.ReorderOptionLegacy
	rm, err := krusty.MakeKustomizer(opts).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	rendered, err := rm.AsYaml()
	if err != nil {
		return nil, nil, nil, err
	}
	s, err := scheme()
	if err != nil {
		return nil, nil, nil, err
	}
	codec := json.NewSerializerWithOptions(json.DefaultMetaFactory, s, s, json.SerializerOptions{Yaml: true, Strict: true})
	objs := &objects{}
	var errs []error
	for _, r := range rm.Resources() {
		id := r.CurId().String()
		src, err := r.AsYAML()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", id, err))
			continue
		}
		obj, _, err := codec.Decode(src, nil, nil)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", id, err))
			if !runtime.IsStrictDecodingError(err) || obj == nil {
				continue
			}
		}
		objs.all = append(objs.all, obj)
		switch o := obj.(type) {
		case *appsv1.Deployment:
			objs.deployments = append(objs.deployments, o)
		case *corev1.Service:
			objs.services = append(objs.services, o)
		case *corev1.ConfigMap:
			objs.configMaps = append(objs.configMaps, o)
		case *policyv1.PodDisruptionBudget:
			objs.pdbs = append(objs.pdbs, o)
		case *networkingv1.NetworkPolicy:
			objs.networkPolicies = append(objs.networkPolicies, o)
		case *monitoringv1.ServiceMonitor:
			objs.serviceMonitors = append(objs.serviceMonitors, o)
		default:
			errs = append(errs, fmt.Errorf("%s: no checks for this kind", id))
		}
	}
	return rendered, objs, errs, nil
}

// problems collects errors, each prefixed with the object it is about.
type problems []error

func (p *problems) add(obj metav1.Object, kind, format string, args ...any) {
	*p = append(*p, fmt.Errorf("%s %s: %s", kind, obj.GetName(), fmt.Sprintf(format, args...)))
}

func (o *objects) check() []error {
	var p problems
	for _, obj := range o.all {
		m := obj.(metav1.Object)
		kind := obj.GetObjectKind().GroupVersionKind().Kind
		for _, msg := range validation.IsDNS1123Subdomain(m.GetName()) {
			p.add(m, kind, "name: %s", msg)
		}
		checkLabels(&p, m, kind, m.GetLabels())
	}
	if len(o.deployments) == 0 {
		p = append(p, errors.New("no Deployment"))
	}
	for _, d := range o.deployments {
		o.checkDeployment(&p, d)
	}
	for _, s := range o.services {
		o.checkService(&p, s)
	}
	for _, b := range o.pdbs {
		d := o.selects(b.Spec.Selector)
		if d == nil {
			p.add(b, "PodDisruptionBudget", "selector matches no Deployment's pods")
		} else if b.Spec.MinAvailable != nil && d.Spec.Replicas != nil && b.Spec.MinAvailable.IntValue() >= int(*d.Spec.Replicas) {
			p.add(b, "PodDisruptionBudget", "minAvailable %s leaves no pod of %d to evict: node drains would block", b.Spec.MinAvailable.String(), *d.Spec.Replicas)
		}
	}
	for _, np := range o.networkPolicies {
		d := o.selects(&np.Spec.PodSelector)
		if d == nil {
			p.add(np, "NetworkPolicy", "podSelector matches no Deployment's pods")
			continue
		}
		for _, rule := range np.Spec.Ingress {
			for _, port := range rule.Ports {
				if port.Port != nil && !hasPort(d, *port.Port, protocol(port.Protocol)) {
					p.add(np, "NetworkPolicy", "port %s/%s is not a container port", port.Port.String(), protocol(port.Protocol))
				}
			}
		}
	}
	for _, sm := range o.serviceMonitors {
		o.checkServiceMonitor(&p, sm)
	}
	return p
}

func checkLabels(p *problems, m metav1.Object, kind string, set map[string]string) {
	for k, v := range set {
		for _, msg := range validation.IsQualifiedName(k) {
			p.add(m, kind, "label key %q: %s", k, msg)
		}
		for _, msg := range validation.IsValidLabelValue(v) {
			p.add(m, kind, "label %s value %q: %s", k, v, msg)
		}
	}
}

// selects returns the Deployment whose pod template sel matches.
func (o *objects) selects(sel *metav1.LabelSelector) *appsv1.Deployment {
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil || s.Empty() {
		return nil
	}
	for _, d := range o.deployments {
		if s.Matches(labels.Set(d.Spec.Template.Labels)) {
			return d
		}
	}
	return nil
}

func protocol(p *corev1.Protocol) corev1.Protocol {
	if p == nil || *p == "" {
		return corev1.ProtocolTCP
	}
	return *p
}

// containerPort resolves a port by name or number among the pod's
// containers.
func containerPort(d *appsv1.Deployment, port intstr.IntOrString, proto corev1.Protocol) (corev1.ContainerPort, bool) {
	for _, c := range d.Spec.Template.Spec.Containers {
		for _, cp := range c.Ports {
			if protocol(&cp.Protocol) != proto {
				continue
			}
			if (port.Type == intstr.String && cp.Name == port.StrVal) || (port.Type == intstr.Int && cp.ContainerPort == port.IntVal) {
				return cp, true
			}
		}
	}
	return corev1.ContainerPort{}, false
}

func hasPort(d *appsv1.Deployment, port intstr.IntOrString, proto corev1.Protocol) bool {
	_, ok := containerPort(d, port, proto)
	return ok
}

func (o *objects) configMap(name string) *corev1.ConfigMap {
	for _, cm := range o.configMaps {
		if cm.Name == name {
			return cm
		}
	}
	return nil
}

func (o *objects) checkDeployment(p *problems, d *appsv1.Deployment) {
	const kind = "Deployment"
	if d.Spec.Replicas == nil || *d.Spec.Replicas < 2 {
		p.add(d, kind, "fewer than 2 replicas: a name server needs a second one")
	}
	if d.Spec.Selector == nil || d.Spec.Selector.Size() == 0 {
		p.add(d, kind, "no selector")
	} else if s, err := metav1.LabelSelectorAsSelector(d.Spec.Selector); err != nil || !s.Matches(labels.Set(d.Spec.Template.Labels)) {
		p.add(d, kind, "selector does not match the pod template's labels")
	}
	pod := d.Spec.Template.Spec
	checkLabels(p, d, kind, d.Spec.Template.Labels)
	if a := pod.Affinity; a == nil || a.PodAntiAffinity == nil || !slices.ContainsFunc(a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution,
		func(t corev1.PodAffinityTerm) bool { return t.TopologyKey == corev1.LabelHostname }) {
		p.add(d, kind, "no required pod anti-affinity on %s: replicas may share a node", corev1.LabelHostname)
	}
	podNonRoot := pod.SecurityContext != nil && pod.SecurityContext.RunAsNonRoot != nil && *pod.SecurityContext.RunAsNonRoot
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
		if v.ConfigMap != nil && o.configMap(v.ConfigMap.Name) == nil {
			p.add(d, kind, "volume %s: no ConfigMap %s", v.Name, v.ConfigMap.Name)
		}
	}
	if len(pod.Containers) == 0 {
		p.add(d, kind, "no containers")
	}
	for _, c := range pod.Containers {
		where := "container " + c.Name + ": "
		if c.Image == "" {
			p.add(d, kind, "%sno image", where)
		}
		for _, cp := range c.Ports {
			if cp.Name != "" {
				for _, msg := range validation.IsValidPortName(cp.Name) {
					p.add(d, kind, "%sport name %q: %s", where, cp.Name, msg)
				}
			}
			if cp.ContainerPort < 1 || cp.ContainerPort > 65535 {
				p.add(d, kind, "%sport %d out of range", where, cp.ContainerPort)
			}
		}
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if _, ok := c.Resources.Requests[r]; !ok {
				p.add(d, kind, "%sno %s request", where, r)
			}
		}
		if _, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok {
			p.add(d, kind, "%sno memory limit", where)
		}
		for name, probe := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
			switch {
			case probe == nil || probe.HTTPGet == nil:
				p.add(d, kind, "%sno HTTP %s probe", where, name)
			case !hasPort(d, probe.HTTPGet.Port, corev1.ProtocolTCP):
				p.add(d, kind, "%s%s probe port %s is not a container port", where, name, probe.HTTPGet.Port.String())
			}
		}
		sc := c.SecurityContext
		switch {
		case sc == nil:
			p.add(d, kind, "%sno securityContext", where)
		default:
			if !podNonRoot && (sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot) {
				p.add(d, kind, "%srunAsNonRoot is not set", where)
			}
			if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
				p.add(d, kind, "%sreadOnlyRootFilesystem is not set", where)
			}
			if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
				p.add(d, kind, "%sallowPrivilegeEscalation is not false", where)
			}
			if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
				p.add(d, kind, "%scapabilities are not dropped (drop: [ALL])", where)
			}
		}
		for _, m := range c.VolumeMounts {
			if _, ok := volumes[m.Name]; !ok {
				p.add(d, kind, "%smount %s: no volume %s", where, m.MountPath, m.Name)
			}
		}
		if err := o.checkMeridianConfig(d, c, volumes); err != nil {
			p.add(d, kind, "%s%v", where, err)
		}
	}
}

// mounted finds the volume mount holding file and returns it with the
// file's path inside the volume.
func mounted(c corev1.Container, file string) (corev1.VolumeMount, string, bool) {
	var best corev1.VolumeMount
	found := false
	for _, m := range c.VolumeMounts {
		if (file == m.MountPath || strings.HasPrefix(file, strings.TrimSuffix(m.MountPath, "/")+"/")) && len(m.MountPath) > len(best.MountPath) {
			best, found = m, true
		}
	}
	rel := strings.TrimPrefix(strings.TrimPrefix(file, best.MountPath), "/")
	return best, rel, found
}

// configFile returns the --config argument of a `meridian serve` container.
func configFile(c corev1.Container) string {
	args := append(slices.Clone(c.Command), c.Args...)
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, "--config="); ok {
			return v
		}
		if a == "--config" && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// meridianConfig is the part of Meridian's configuration that must agree
// with the pod around it.
type meridianConfig struct {
	Listen     []string `json:"listen"`
	Zones      string   `json:"zones"`
	AdminState string   `json:"admin_state"`
	HTTP       struct {
		Listen          string   `json:"listen"`
		AllowedNetworks []string `json:"allowed_networks"`
	} `json:"http"`
}

// checkMeridianConfig reads the configuration the container is started
// with from its ConfigMap and checks it against the pod: DNS ports, the
// admin listener the probes use, and the mounts of the zones and of the
// admin_state file.
func (o *objects) checkMeridianConfig(d *appsv1.Deployment, c corev1.Container, volumes map[string]corev1.Volume) error {
	file := configFile(c)
	if file == "" {
		return errors.New("no --config argument")
	}
	m, rel, ok := mounted(c, file)
	if !ok || volumes[m.Name].ConfigMap == nil {
		return fmt.Errorf("--config %s is not in a ConfigMap volume", file)
	}
	cm := o.configMap(volumes[m.Name].ConfigMap.Name)
	if cm == nil {
		return fmt.Errorf("--config %s: no ConfigMap %s", file, volumes[m.Name].ConfigMap.Name)
	}
	src, ok := cm.Data[rel]
	if !ok {
		return fmt.Errorf("--config %s: ConfigMap %s has no key %s", file, cm.Name, rel)
	}
	var cfg meridianConfig
	if err := yaml.Unmarshal([]byte(src), &cfg); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	var errs []error
	for _, l := range cfg.Listen {
		ap, err := netip.ParseAddrPort(l)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: listen %q: %w", file, l, err))
			continue
		}
		for _, proto := range []corev1.Protocol{corev1.ProtocolUDP, corev1.ProtocolTCP} {
			if !hasPort(d, intstr.FromInt32(int32(ap.Port())), proto) {
				errs = append(errs, fmt.Errorf("%s: listen %s: port %d/%s is not a container port", file, l, ap.Port(), proto))
			}
		}
	}
	admin, err := netip.ParseAddrPort(cfg.HTTP.Listen)
	switch {
	case err != nil:
		errs = append(errs, fmt.Errorf("%s: http.listen %q must be set to an address:port the kubelet can reach", file, cfg.HTTP.Listen))
	case !admin.Addr().IsUnspecified():
		errs = append(errs, fmt.Errorf("%s: http.listen %s: probes come from outside the pod; listen on 0.0.0.0 or [::]", file, admin))
	default:
		for name, probe := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
			if probe == nil || probe.HTTPGet == nil {
				continue
			}
			if cp, ok := containerPort(d, probe.HTTPGet.Port, corev1.ProtocolTCP); ok && cp.ContainerPort != int32(admin.Port()) {
				errs = append(errs, fmt.Errorf("%s: http.listen port %d, but the %s probe uses %d", file, admin.Port(), name, cp.ContainerPort))
			}
		}
	}
	if !slices.ContainsFunc(cfg.HTTP.AllowedNetworks, func(n string) bool {
		p, err := netip.ParsePrefix(n)
		return err == nil && !p.Addr().IsLoopback()
	}) {
		errs = append(errs, fmt.Errorf("%s: http.allowed_networks admits only loopback: the kubelet's probes would get 403", file))
	}
	if zm, _, ok := mounted(c, cfg.Zones); !ok || zm.MountPath != strings.TrimSuffix(cfg.Zones, "/") || volumes[zm.Name].ConfigMap == nil {
		errs = append(errs, fmt.Errorf("%s: zones %s is not a ConfigMap volume's mount", file, cfg.Zones))
	}
	if cfg.AdminState != "" {
		am, _, ok := mounted(c, cfg.AdminState)
		v := volumes[am.Name]
		if !ok || am.ReadOnly || (v.EmptyDir == nil && v.PersistentVolumeClaim == nil) {
			errs = append(errs, fmt.Errorf("%s: admin_state %s must be on a writable volume (the root filesystem is read-only)", file, cfg.AdminState))
		}
	}
	return errors.Join(errs...)
}

func (o *objects) checkService(p *problems, s *corev1.Service) {
	const kind = "Service"
	for _, msg := range validation.IsDNS1035Label(s.Name) {
		p.add(s, kind, "name: %s", msg)
	}
	d := o.selects(&metav1.LabelSelector{MatchLabels: s.Spec.Selector})
	if d == nil {
		p.add(s, kind, "selector matches no Deployment's pods")
		return
	}
	for _, port := range s.Spec.Ports {
		if port.Port < 1 || port.Port > 65535 {
			p.add(s, kind, "port %s: %d out of range", port.Name, port.Port)
		}
		target := port.TargetPort
		if target.Type == intstr.Int && target.IntVal == 0 {
			target = intstr.FromInt32(port.Port)
		}
		if !hasPort(d, target, protocol(&port.Protocol)) {
			p.add(s, kind, "port %s: target %s/%s is not a container port", port.Name, target.String(), protocol(&port.Protocol))
		}
	}
}

func (o *objects) checkServiceMonitor(p *problems, sm *monitoringv1.ServiceMonitor) {
	const kind = "ServiceMonitor"
	sel, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector)
	if err != nil {
		p.add(sm, kind, "selector: %v", err)
		return
	}
	var svc *corev1.Service
	for _, s := range o.services {
		if sel.Matches(labels.Set(s.Labels)) {
			if svc != nil {
				p.add(sm, kind, "selector matches Services %s and %s: targets would be scraped twice", svc.Name, s.Name)
			}
			svc = s
		}
	}
	if svc == nil {
		p.add(sm, kind, "selector matches no Service")
		return
	}
	if sm.Spec.JobLabel != "" && svc.Labels[sm.Spec.JobLabel] == "" {
		p.add(sm, kind, "jobLabel %s is not a label of Service %s", sm.Spec.JobLabel, svc.Name)
	}
	if len(sm.Spec.Endpoints) == 0 {
		p.add(sm, kind, "no endpoints")
	}
	for _, ep := range sm.Spec.Endpoints {
		if !slices.ContainsFunc(svc.Spec.Ports, func(sp corev1.ServicePort) bool { return sp.Name == ep.Port }) {
			p.add(sm, kind, "endpoint port %q is not a port name of Service %s", ep.Port, svc.Name)
		}
	}
}

// materialise writes every file the Deployments' containers mount from a
// ConfigMap under root, at its mount path.
func (o *objects) materialise(root string) error {
	for _, d := range o.deployments {
		volumes := map[string]*corev1.ConfigMapVolumeSource{}
		for _, v := range d.Spec.Template.Spec.Volumes {
			volumes[v.Name] = v.ConfigMap
		}
		for _, c := range d.Spec.Template.Spec.Containers {
			for _, m := range c.VolumeMounts {
				src := volumes[m.Name]
				if src == nil {
					continue
				}
				cm := o.configMap(src.Name)
				dir := filepath.Join(root, filepath.FromSlash(m.MountPath))
				if err := os.MkdirAll(dir, 0o755); err != nil {
					return err
				}
				for key, data := range cm.Data {
					if key != path.Base(key) {
						return fmt.Errorf("ConfigMap %s: key %q", cm.Name, key)
					}
					if err := os.WriteFile(filepath.Join(dir, key), []byte(data), 0o644); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

// checkRules decodes a Prometheus rules file as the spec of a
// PrometheusRule, so that the same file can be applied through the
// Prometheus Operator.
func checkRules(file string) error {
	src, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var spec monitoringv1.PrometheusRuleSpec
	if err := yaml.UnmarshalStrict(src, &spec); err != nil {
		return fmt.Errorf("%s as a PrometheusRule spec: %w", file, err)
	}
	n := 0
	for _, g := range spec.Groups {
		n += len(g.Rules)
	}
	fmt.Printf("%s: %d groups, %d rules, valid as a PrometheusRule spec\n", file, len(spec.Groups), n)
	return nil
}
