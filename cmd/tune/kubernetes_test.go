package main

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/kustomize/api/krusty"
	kustypes "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// kubeDir holds the kustomize base and its overlays.
var kubeDir = filepath.Join(repoRoot, "deploy", "kubernetes")

// manifests is one rendered kustomization, decoded into the Kubernetes API
// types.
type manifests struct {
	dir          string
	deployments  []appsv1.Deployment
	statefulSets []appsv1.StatefulSet
	jobs         []batchv1.Job
	services     []corev1.Service
	secrets      []corev1.Secret
	pdbs         []policyv1.PodDisruptionBudget
	policies     []networkingv1.NetworkPolicy
	namespaces   []corev1.Namespace
}

// TestKubernetesManifests renders the base and every overlay with
// kustomize (the library kubectl embeds, so it runs where kubectl is
// missing; where kubectl is installed, `kubectl kustomize` must render the
// same objects), decodes every object strictly into the k8s.io/api types
// (an unknown or misspelled field fails), and checks what a cluster would
// only reveal at run time: probes on real routes, tune arguments that
// parse, Secrets and images that exist, selectors that match.
func TestKubernetesManifests(t *testing.T) {
	dirs := []string{filepath.Join(kubeDir, "base")}
	overlays, err := filepath.Glob(filepath.Join(kubeDir, "overlays", "*"))
	if err != nil || len(overlays) < 3 {
		t.Fatalf("want the postgres, gpu and runner-job overlays, found %v (%v)", overlays, err)
	}
	dirs = append(dirs, overlays...)
	api := startServer(t) // the probes and the scrape path are checked against it
	kubectl, _ := exec.LookPath("kubectl")
	if kubectl == "" {
		t.Log("kubectl is not installed: rendering with the kustomize library alone")
	}
	for _, dir := range dirs {
		name, _ := filepath.Rel(kubeDir, dir)
		t.Run(name, func(t *testing.T) {
			rendered := renderKustomization(t, dir)
			if kubectl != "" {
				out, err := exec.Command(kubectl, "kustomize", dir).Output()
				if err != nil {
					t.Fatalf("kubectl kustomize %s: %v", dir, err)
				}
				if diff := cmp.Diff(documents(t, rendered), documents(t, out)); diff != "" {
					t.Errorf("kubectl kustomize renders differently from the kustomize library (-library +kubectl):\n%s", diff)
				}
			}
			m := decodeManifests(t, dir, rendered)
			m.checkCommon(t, api)
			switch filepath.Base(dir) {
			case "base":
				if len(m.statefulSets) != 0 || len(m.jobs) != 0 {
					t.Errorf("the base holds a StatefulSet or a Job; they belong in overlays")
				}
				m.checkRunnerDeployment(t, "tune-runner", false)
			case "postgres":
				m.checkPostgres(t)
			case "gpu":
				m.checkRunnerDeployment(t, "tune-runner", false)
				m.checkRunnerDeployment(t, "tune-runner-gpu", true)
			case "runner-job":
				m.checkRunnerJob(t)
			default:
				t.Errorf("overlay %s is not checked: add what must hold for it here", dir)
			}
		})
	}
}

func renderKustomization(t *testing.T, dir string) []byte {
	t.Helper()
	res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize %s: %v", dir, err)
	}
	out, err := res.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// documents splits a rendering into its objects as generic maps.
func documents(t *testing.T, rendered []byte) []map[string]any {
	t.Helper()
	var docs []map[string]any
	for _, doc := range bytes.Split(rendered, []byte("\n---\n")) {
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		var m map[string]any
		if err := yaml.Unmarshal(doc, &m); err != nil {
			t.Fatalf("rendered YAML does not parse: %v\n%s", err, doc)
		}
		docs = append(docs, m)
	}
	// kubectl orders objects by kind (namespaces first), the library
	// keeps them as declared: compare the sets.
	key := func(m map[string]any) string {
		meta, _ := m["metadata"].(map[string]any)
		return fmt.Sprint(m["apiVersion"], m["kind"], meta["namespace"], meta["name"])
	}
	slices.SortFunc(docs, func(a, b map[string]any) int { return strings.Compare(key(a), key(b)) })
	return docs
}

// decodeManifests reads every rendered object strictly into its API type.
func decodeManifests(t *testing.T, dir string, rendered []byte) *manifests {
	t.Helper()
	m := &manifests{dir: dir}
	for _, doc := range bytes.Split(rendered, []byte("\n---\n")) {
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			t.Fatal(err)
		}
		var err error
		into := func(list any, obj any) {
			if err = yaml.UnmarshalStrict(doc, obj); err == nil {
				switch l := list.(type) {
				case *[]appsv1.Deployment:
					*l = append(*l, *obj.(*appsv1.Deployment))
				case *[]appsv1.StatefulSet:
					*l = append(*l, *obj.(*appsv1.StatefulSet))
				case *[]batchv1.Job:
					*l = append(*l, *obj.(*batchv1.Job))
				case *[]corev1.Service:
					*l = append(*l, *obj.(*corev1.Service))
				case *[]corev1.Secret:
					*l = append(*l, *obj.(*corev1.Secret))
				case *[]policyv1.PodDisruptionBudget:
					*l = append(*l, *obj.(*policyv1.PodDisruptionBudget))
				case *[]networkingv1.NetworkPolicy:
					*l = append(*l, *obj.(*networkingv1.NetworkPolicy))
				case *[]corev1.Namespace:
					*l = append(*l, *obj.(*corev1.Namespace))
				}
			}
		}
		switch meta.APIVersion + " " + meta.Kind {
		case "apps/v1 Deployment":
			into(&m.deployments, &appsv1.Deployment{})
		case "apps/v1 StatefulSet":
			into(&m.statefulSets, &appsv1.StatefulSet{})
		case "batch/v1 Job":
			into(&m.jobs, &batchv1.Job{})
		case "v1 Service":
			into(&m.services, &corev1.Service{})
		case "v1 Secret":
			into(&m.secrets, &corev1.Secret{})
		case "policy/v1 PodDisruptionBudget":
			into(&m.pdbs, &policyv1.PodDisruptionBudget{})
		case "networking.k8s.io/v1 NetworkPolicy":
			into(&m.policies, &networkingv1.NetworkPolicy{})
		case "v1 Namespace":
			into(&m.namespaces, &corev1.Namespace{})
		default:
			t.Errorf("%s: unexpected object %s %s: decode and check it here", dir, meta.APIVersion, meta.Kind)
		}
		if err != nil {
			t.Errorf("%s: %s does not decode strictly: %v", dir, meta.Kind, err)
		}
	}
	return m
}

// podSpec is a workload's pod template, named for messages.
type podSpec struct {
	what     string
	template corev1.PodTemplateSpec
}

func (m *manifests) pods() []podSpec {
	var ps []podSpec
	for _, d := range m.deployments {
		ps = append(ps, podSpec{"Deployment " + d.Name, d.Spec.Template})
	}
	for _, s := range m.statefulSets {
		ps = append(ps, podSpec{"StatefulSet " + s.Name, s.Spec.Template})
	}
	for _, j := range m.jobs {
		ps = append(ps, podSpec{"Job " + j.Name, j.Spec.Template})
	}
	return ps
}

// checkCommon holds for every kustomization: a namespace for everything,
// hardened containers with resource requests, tune arguments tune parses,
// images set by the kustomization, Secrets that exist, a server that is
// probed on its real routes and scraped, and selectors that match.
func (m *manifests) checkCommon(t *testing.T, api string) {
	if len(m.namespaces) != 1 || m.namespaces[0].Name != "tune" {
		t.Errorf("want the one namespace tune, got %d", len(m.namespaces))
	}
	images := m.declaredImages(t)
	for _, p := range m.pods() {
		spec := p.template.Spec
		if spec.SecurityContext == nil || spec.SecurityContext.RunAsNonRoot == nil || !*spec.SecurityContext.RunAsNonRoot {
			t.Errorf("%s: pods may run as root (set runAsNonRoot)", p.what)
		}
		if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
			t.Errorf("%s: mounts a service account token it never uses", p.what)
		}
		for _, c := range spec.Containers {
			what := p.what + " container " + c.Name
			sc := c.SecurityContext
			if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
				sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
				sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
				t.Errorf("%s: want a read-only root filesystem, no privilege escalation, all capabilities dropped", what)
			}
			if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
				t.Errorf("%s: no cpu and memory requests", what)
			}
			if !images[c.Image] {
				t.Errorf("%s: image %q is not one the kustomization sets (images: %v)", what, c.Image, images)
			}
			if strings.Contains(c.Image, "ghcr.io/tune-dev/tune") {
				if len(c.Command) != 0 {
					t.Errorf("%s: overrides the image's entrypoint (tune) with %q", what, c.Command)
				}
				parseTune(t, what, c.Args)
			}
			for _, name := range secretRefs(c) {
				m.secret(t, what, name.secret, name.key)
			}
		}
		for _, v := range spec.Volumes {
			if v.Secret != nil {
				m.secret(t, p.what+" volume "+v.Name, v.Secret.SecretName, "")
			}
		}
	}

	server := m.deployment(t, "tune")
	if server == nil {
		return
	}
	if server.Spec.Replicas == nil || *server.Spec.Replicas < 2 {
		t.Errorf("the service runs %v replicas, want 2 or more", server.Spec.Replicas)
	}
	c := server.Spec.Template.Spec.Containers[0]
	parseTune(t, "tune server", c.Args)
	if c.Args[0] != "serve" {
		t.Errorf("the tune Deployment runs tune %s, want serve", c.Args[0])
	}
	for probe, path := range map[*corev1.Probe]string{c.ReadinessProbe: "/readyz", c.LivenessProbe: "/healthz"} {
		if probe == nil || probe.HTTPGet == nil {
			t.Errorf("the service lacks an HTTP probe on %s", path)
			continue
		}
		if probe.HTTPGet.Path != path {
			t.Errorf("probe on %s, want %s", probe.HTTPGet.Path, path)
		}
		checkRoute(t, api, probe.HTTPGet.Path)
		if port := containerPort(c, probe.HTTPGet.Port); port != 8080 {
			t.Errorf("probe %s on port %v, which is not the container's 8080", path, probe.HTTPGet.Port.String())
		}
	}
	ann := server.Spec.Template.Annotations
	if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/port"] != "8080" {
		t.Errorf("the service's pods are not annotated for Prometheus scraping: %v", ann)
	} else {
		checkRoute(t, api, ann["prometheus.io/path"])
	}
	podLabels := labels.Set(server.Spec.Template.Labels)

	var svc *corev1.Service
	for i := range m.services {
		if m.services[i].Name == "tune" {
			svc = &m.services[i]
		}
	}
	if svc == nil {
		t.Errorf("no Service named tune (the runners' --server http://tune:8080)")
	} else {
		if !labels.SelectorFromSet(svc.Spec.Selector).Matches(podLabels) {
			t.Errorf("Service tune selects %v, not the service's pods %v", svc.Spec.Selector, podLabels)
		}
		if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 8080 || containerPort(c, svc.Spec.Ports[0].TargetPort) != 8080 {
			t.Errorf("Service tune ports %+v, want 8080 to the container's 8080", svc.Spec.Ports)
		}
	}
	if len(m.pdbs) != 1 || m.pdbs[0].Spec.MinAvailable == nil || m.pdbs[0].Spec.MinAvailable.IntValue() < 1 ||
		!selects(t, m.pdbs[0].Spec.Selector, podLabels) {
		t.Errorf("want one PodDisruptionBudget keeping at least one service pod up")
	}
	// Users and runners reach the service on its port.
	open := false
	for _, p := range m.policies {
		if selects(t, &p.Spec.PodSelector, podLabels) {
			for _, r := range p.Spec.Ingress {
				if len(r.From) == 0 && len(r.Ports) == 1 && containerPort(c, *r.Ports[0].Port) == 8080 {
					open = true
				}
			}
		}
	}
	if !open {
		t.Errorf("no NetworkPolicy lets runners and users reach the service on 8080")
	}
	// Two Deployments must never select each other's pods.
	for _, a := range m.deployments {
		for _, b := range m.deployments {
			if a.Name != b.Name && selects(t, a.Spec.Selector, labels.Set(b.Spec.Template.Labels)) {
				t.Errorf("Deployment %s selects the pods of %s", a.Name, b.Name)
			}
		}
	}
}

func checkRoute(t *testing.T, server, path string) {
	t.Helper()
	rsp, err := http.Get(server + path)
	if err != nil {
		t.Fatal(err)
	}
	rsp.Body.Close()
	if rsp.StatusCode != http.StatusOK {
		t.Errorf("GET %s answers %s, want 200: the manifests point at a route tune does not serve", path, rsp.Status)
	}
}

func containerPort(c corev1.Container, port intstr.IntOrString) int32 {
	if port.Type == intstr.Int {
		return port.IntVal
	}
	for _, p := range c.Ports {
		if p.Name == port.StrVal {
			return p.ContainerPort
		}
	}
	return -1
}

func selects(t *testing.T, sel *metav1.LabelSelector, set labels.Set) bool {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Errorf("selector %v: %v", sel, err)
		return false
	}
	return !s.Empty() && s.Matches(set)
}

type secretRef struct{ secret, key string }

// secretRefs lists the Secrets a container needs (optional ones aside).
func secretRefs(c corev1.Container) []secretRef {
	var refs []secretRef
	for _, e := range c.Env {
		if r := e.ValueFrom; r != nil && r.SecretKeyRef != nil && (r.SecretKeyRef.Optional == nil || !*r.SecretKeyRef.Optional) {
			refs = append(refs, secretRef{r.SecretKeyRef.Name, r.SecretKeyRef.Key})
		}
	}
	for _, e := range c.EnvFrom {
		if e.SecretRef != nil && (e.SecretRef.Optional == nil || !*e.SecretRef.Optional) {
			refs = append(refs, secretRef{e.SecretRef.Name, ""})
		}
	}
	return refs
}

func (m *manifests) secret(t *testing.T, what, name, key string) *corev1.Secret {
	t.Helper()
	for i, s := range m.secrets {
		if s.Name == name {
			if _, ok := s.Data[key]; key != "" && !ok {
				t.Errorf("%s: Secret %s has no key %s", what, name, key)
			}
			return &m.secrets[i]
		}
	}
	t.Errorf("%s: Secret %s is not in the kustomization", what, name)
	return nil
}

// declaredImages is every image the kustomization and its bases set, as
// containers will name it.
func (m *manifests) declaredImages(t *testing.T) map[string]bool {
	t.Helper()
	images := map[string]bool{}
	var visit func(dir string)
	visit = func(dir string) {
		data, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		var k kustypes.Kustomization
		if err := yaml.UnmarshalStrict(data, &k); err != nil {
			t.Fatalf("%s/kustomization.yaml: %v", dir, err)
		}
		for _, img := range k.Images {
			if img.NewName == "" || img.NewTag == "" || img.NewTag == "latest" {
				t.Errorf("%s: image %s needs a registry name and a pinned tag", dir, img.Name)
			}
			images[img.NewName+":"+img.NewTag] = true
		}
		for _, r := range k.Resources {
			if fi, err := os.Stat(filepath.Join(dir, r)); err == nil && fi.IsDir() {
				visit(filepath.Join(dir, r))
			}
		}
	}
	visit(m.dir)
	return images
}

func (m *manifests) deployment(t *testing.T, name string) *appsv1.Deployment {
	t.Helper()
	for i := range m.deployments {
		if m.deployments[i].Name == name {
			return &m.deployments[i]
		}
	}
	t.Errorf("no Deployment %s", name)
	return nil
}

// runnerArgs parses a runner container's arguments with tune's own CLI
// and returns the flags it would run with.
func runnerArgs(t *testing.T, what string, c corev1.Container) (device, server string, exitWhenIdle bool) {
	t.Helper()
	parseTune(t, what, c.Args)
	cmd, rest, err := newRootCommand().Find(c.Args)
	if err != nil || cmd.Name() != "runner" {
		t.Fatalf("%s runs tune %q, want tune runner", what, c.Args)
	}
	if err := cmd.ParseFlags(rest); err != nil {
		t.Fatal(err)
	}
	flag := func(name string) string {
		f := cmd.Flags().Lookup(name)
		if f == nil {
			t.Fatalf("tune runner has no --%s", name)
		}
		return f.Value.String()
	}
	u, err := url.Parse(flag("server"))
	if err != nil || u.Hostname() != "tune" || u.Port() != "8080" {
		t.Errorf("%s: --server %s, want the tune Service (http://tune:8080)", what, flag("server"))
	}
	// tune runner refuses to start with exec among its workloads unless
	// --allow-exec names the programs; mnist-mlp trains on the CPU only.
	workloads, _ := cmd.Flags().GetStringSlice("workloads")
	allow, _ := cmd.Flags().GetStringSlice("allow-exec")
	if slices.Contains(workloads, "exec") && len(allow) == 0 {
		t.Errorf("%s: --workloads %v without --allow-exec: the runner would refuse to start", what, workloads)
	}
	if flag("device") != "cpu" && slices.Contains(workloads, "mnist-mlp") {
		t.Errorf("%s: --device %s with mnist-mlp, which trains on the CPU only: the runner would refuse to start", what, flag("device"))
	}
	return flag("device"), flag("server"), flag("exit-when-idle") == "true"
}

// runnerTokenSecret is the Secret runners take their token from; the
// kustomization generates it with a placeholder.
const runnerTokenSecret = "tune-runner-token"

// checkRunnerToken: the service answers 401 to a runner without a token,
// so every runner needs one from the Secret, as $TUNE_TOKEN (a secretKeyRef)
// or as the file $TUNE_TOKEN_FILE names in a mounted Secret volume.
func (m *manifests) checkRunnerToken(t *testing.T, what string, spec corev1.PodSpec) {
	t.Helper()
	c := spec.Containers[0]
	for _, e := range c.Env {
		switch {
		case e.Name == tokenEnv && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			if !strings.HasPrefix(ref.Name, runnerTokenSecret) || (ref.Optional != nil && *ref.Optional) {
				t.Errorf("%s: %s from Secret %s (optional %v), want the Secret %s", what, tokenEnv, ref.Name, ref.Optional, runnerTokenSecret)
			}
			m.secret(t, what, ref.Name, ref.Key)
			return
		case e.Name == tokenFileEnv:
			m.checkTokenFile(t, what, spec, c, e.Value)
			return
		}
	}
	t.Errorf("%s: the runner has no token: set %s from the Secret %s, or %s to a file mounted from it", what, tokenEnv, runnerTokenSecret, tokenFileEnv)
}

// checkTokenFile: path lies in a volume mounted from the runner token
// Secret, as a file that holds the Secret's token key.
func (m *manifests) checkTokenFile(t *testing.T, what string, spec corev1.PodSpec, c corev1.Container, path string) {
	t.Helper()
	for _, vm := range c.VolumeMounts {
		rel, err := filepath.Rel(vm.MountPath, path)
		if err != nil || strings.HasPrefix(rel, "..") || rel == "." {
			continue
		}
		for _, v := range spec.Volumes {
			if v.Name != vm.Name {
				continue
			}
			if v.Secret == nil || !strings.HasPrefix(v.Secret.SecretName, runnerTokenSecret) {
				t.Errorf("%s: %s=%s is in volume %s, which is not the Secret %s", what, tokenFileEnv, path, v.Name, runnerTokenSecret)
				return
			}
			key := rel // a Secret volume shows each key as a file of its name
			for _, item := range v.Secret.Items {
				if item.Path == rel {
					key = item.Key
				}
			}
			if len(v.Secret.Items) > 0 && key == rel && !slices.ContainsFunc(v.Secret.Items, func(i corev1.KeyToPath) bool { return i.Key == rel && i.Path == rel }) {
				t.Errorf("%s: %s=%s names no file the Secret volume %s holds", what, tokenFileEnv, path, v.Name)
			}
			if s := m.secret(t, what, v.Secret.SecretName, key); s != nil && len(bytes.TrimSpace(s.Data[key])) == 0 {
				t.Errorf("%s: the Secret %s holds an empty %s", what, s.Name, key)
			}
			// Secret files belong to root and the pod's fsGroup: the
			// runner reads its token through the group.
			if mode := v.Secret.DefaultMode; mode != nil && *mode&0o040 == 0 {
				t.Errorf("%s: the token file's mode %o is not readable by the pod's group, so not by the runner", what, *mode)
			}
			return
		}
	}
	t.Errorf("%s: %s=%s is in no mounted volume", what, tokenFileEnv, path)
}

func (m *manifests) checkRunnerDeployment(t *testing.T, name string, gpu bool) {
	d := m.deployment(t, name)
	if d == nil {
		return
	}
	c := d.Spec.Template.Spec.Containers[0]
	device, _, idle := runnerArgs(t, "Deployment "+name, c)
	m.checkRunnerToken(t, "Deployment "+name, d.Spec.Template.Spec)
	if idle {
		t.Errorf("Deployment %s: --exit-when-idle would restart its pods forever", name)
	}
	gpus := c.Resources.Limits[corev1.ResourceName("nvidia.com/gpu")]
	if gpu {
		if device != "cuda:0" || gpus.Cmp(resource.MustParse("1")) != 0 {
			t.Errorf("Deployment %s: --device %s with %s GPUs, want cuda:0 with nvidia.com/gpu: 1", name, device, gpus.String())
		}
	} else if device != "cpu" || !gpus.IsZero() {
		t.Errorf("Deployment %s: --device %s with %s GPUs, want a CPU runner", name, device, gpus.String())
	}
}

func (m *manifests) checkRunnerJob(t *testing.T) {
	if len(m.jobs) != 1 {
		t.Fatalf("want one runner Job, got %d", len(m.jobs))
	}
	for _, d := range m.deployments {
		if strings.Contains(d.Name, "runner") {
			t.Errorf("the Job form still has the runner Deployment %s", d.Name)
		}
	}
	j := m.jobs[0]
	if j.Spec.Parallelism == nil || *j.Spec.Parallelism < 2 || j.Spec.Completions != nil {
		t.Errorf("Job %s: parallelism %v completions %v, want a work queue (parallelism N, no completions)",
			j.Name, j.Spec.Parallelism, j.Spec.Completions)
	}
	if rp := j.Spec.Template.Spec.RestartPolicy; rp != corev1.RestartPolicyOnFailure && rp != corev1.RestartPolicyNever {
		t.Errorf("Job %s: restartPolicy %s", j.Name, rp)
	}
	m.checkRunnerToken(t, "Job "+j.Name, j.Spec.Template.Spec)
	if _, _, idle := runnerArgs(t, "Job "+j.Name, j.Spec.Template.Spec.Containers[0]); !idle {
		t.Errorf("Job %s: runners without --exit-when-idle never finish", j.Name)
	}
}

func (m *manifests) checkPostgres(t *testing.T) {
	if len(m.statefulSets) != 1 {
		t.Fatalf("want the postgres StatefulSet, got %d", len(m.statefulSets))
	}
	s := m.statefulSets[0]
	if s.Spec.Replicas == nil || *s.Spec.Replicas != 1 || len(s.Spec.VolumeClaimTemplates) != 1 {
		t.Errorf("StatefulSet %s: want one replica with a volume claim", s.Name)
	}
	pgLabels := labels.Set(s.Spec.Template.Labels)
	var svc *corev1.Service
	for i := range m.services {
		if labels.SelectorFromSet(m.services[i].Spec.Selector).Matches(pgLabels) {
			svc = &m.services[i]
		}
	}
	if svc == nil || svc.Name != s.Spec.ServiceName {
		t.Fatalf("no Service %s selects the postgres pods", s.Spec.ServiceName)
	}
	// The service's URL points at that Service, with the password Postgres
	// is started with.
	server := m.deployment(t, "tune")
	var db *corev1.Secret
	for _, r := range secretRefs(server.Spec.Template.Spec.Containers[0]) {
		db = m.secret(t, "tune", r.secret, r.key)
		if db != nil {
			u, err := url.Parse(string(db.Data[r.key]))
			if err != nil || u.Scheme != "postgres" || u.Hostname() != svc.Name {
				t.Errorf("the service's database URL does not point at the %s Service", svc.Name)
				continue
			}
			pw, _ := u.User.Password()
			pg := m.secret(t, "postgres", secretRefs(s.Spec.Template.Spec.Containers[0])[0].secret, "")
			if pg != nil && (string(pg.Data["POSTGRES_PASSWORD"]) != pw || string(pg.Data["POSTGRES_USER"]) != u.User.Username()) {
				t.Errorf("the service's database URL and Postgres disagree on the user or password")
			}
		}
	}
	if db == nil {
		t.Errorf("the service reads no database URL from a Secret")
	}
	// Only the service reaches Postgres.
	serverLabels := labels.Set(server.Spec.Template.Labels)
	var guarded bool
	for _, p := range m.policies {
		if !selects(t, &p.Spec.PodSelector, pgLabels) {
			continue
		}
		guarded = true
		for _, r := range p.Spec.Ingress {
			if len(r.From) == 0 {
				t.Errorf("NetworkPolicy %s lets anyone reach Postgres", p.Name)
			}
			for _, f := range r.From {
				if f.PodSelector == nil || f.NamespaceSelector != nil || f.IPBlock != nil || !selects(t, f.PodSelector, serverLabels) {
					t.Errorf("NetworkPolicy %s lets more than the service reach Postgres: %+v", p.Name, f)
				}
				for _, pod := range m.pods() {
					if pod.what != "Deployment tune" && !strings.HasPrefix(pod.what, "StatefulSet") &&
						selects(t, f.PodSelector, labels.Set(pod.template.Labels)) {
						t.Errorf("NetworkPolicy %s lets %s reach Postgres", p.Name, pod.what)
					}
				}
			}
		}
	}
	if !guarded {
		t.Errorf("no NetworkPolicy guards Postgres")
	}
}
