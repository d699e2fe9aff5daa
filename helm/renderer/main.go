// Command renderer is the test suite's stand-in for `helm template` on machines without helm.
//
// It drives the same engines helm uses (Go's text/template with the sprig function library) and
// adds the helm functions and built-in objects that charts lean on: include, tpl, required, fail,
// toYaml, fromYaml, toJson, fromJson, lookup (empty, as in `helm template`), .Values, .Release,
// .Chart, .Capabilities, .Template and .Files. Values are merged and typed the way helm does it
// (YAML read through JSON, so every number is a float64), so a template that only works here
// because of a typing accident is unlikely.
//
// What it does not do is listed in CONTRIBUTING.md ("The fallback renderer"); the short version:
// no values.schema.json validation (the tests do that with ajv), no subcharts, no --set, no hooks,
// no kind-ordered output, no cluster (lookup is empty, Capabilities are fixed).
//
// Usage: renderer [--name NAME] [--namespace NS] [-f values.yaml]... CHART_DIR
//
// Built in GOPATH mode against Debian's golang-github-masterminds-sprig-dev; see
// test/deploy/helpers/render.ts for the exact build command.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
)

// helm refuses deeper include recursion with the same limit.
const maxIncludeDepth = 1000

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func main() {
	var valueFiles stringList
	name := flag.String("name", "release-name", "release name")
	namespace := flag.String("namespace", "default", "release namespace")
	flag.Var(&valueFiles, "f", "values file (repeatable; later files win)")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: renderer [--name NAME] [--namespace NS] [-f values.yaml]... CHART_DIR")
		os.Exit(2)
	}
	out, err := render(flag.Arg(0), *name, *namespace, valueFiles)
	if err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
	os.Stdout.WriteString(out)
}

func render(chartDir, releaseName, namespace string, valueFiles []string) (string, error) {
	chartMeta, err := loadChartMetadata(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		return "", err
	}
	chartName, _ := chartMeta["Name"].(string)
	if chartName == "" {
		return "", errors.New("Chart.yaml: name is required")
	}

	values, err := readYAMLFileAsJSONMap(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		return "", err
	}
	for _, file := range valueFiles {
		override, err := readYAMLFileAsJSONMap(file)
		if err != nil {
			return "", err
		}
		values = coalesce(override, values)
	}

	templates, files, err := loadChartFiles(chartDir, chartName)
	if err != nil {
		return "", err
	}

	root := template.New("gotpl").Option("missingkey=zero")
	includeDepth := 0
	funcs := sprig.TxtFuncMap()
	// helm drops these two: a chart must render the same wherever it is rendered.
	delete(funcs, "env")
	delete(funcs, "expandenv")
	for k, v := range helmFuncs() {
		funcs[k] = v
	}
	funcs["include"] = func(name string, data interface{}) (string, error) {
		if includeDepth >= maxIncludeDepth {
			return "", fmt.Errorf("rendering template has a nested reference name: %s: unable to execute template", name)
		}
		includeDepth++
		defer func() { includeDepth-- }()
		var buf bytes.Buffer
		if err := root.ExecuteTemplate(&buf, name, data); err != nil {
			return "", err
		}
		return buf.String(), nil
	}
	funcs["tpl"] = func(text string, data interface{}) (string, error) {
		clone, err := root.Clone()
		if err != nil {
			return "", err
		}
		t, err := clone.New(templateNameOf(data) + "/tpl").Parse(text)
		if err != nil {
			return "", fmt.Errorf("cannot parse template %q: %w", text, err)
		}
		var buf bytes.Buffer
		if err := t.Execute(&buf, data); err != nil {
			return "", fmt.Errorf("error calling tpl: %w", err)
		}
		return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
	}
	root.Funcs(funcs)

	names := make([]string, 0, len(templates))
	for name := range templates {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if _, err := root.New(name).Parse(templates[name]); err != nil {
			return "", err
		}
	}

	top := map[string]interface{}{
		"Values": values,
		"Chart":  chartMeta,
		"Release": map[string]interface{}{
			"Name":      releaseName,
			"Namespace": namespace,
			"Service":   "Helm",
			"IsInstall": true,
			"IsUpgrade": false,
			"Revision":  1,
		},
		"Capabilities": map[string]interface{}{
			"KubeVersion": map[string]interface{}{
				"Version": "v1.30.0", "Major": "1", "Minor": "30", "GitVersion": "v1.30.0",
			},
			"APIVersions": apiVersions{"v1", "apps/v1", "autoscaling/v2", "policy/v1", "networking.k8s.io/v1"},
			"HelmVersion": map[string]interface{}{"Version": "v3-fallback-renderer"},
		},
		"Files": files,
	}

	var out strings.Builder
	for _, name := range names {
		base := path.Base(name)
		if strings.HasPrefix(base, "_") {
			continue
		}
		data := make(map[string]interface{}, len(top)+1)
		for k, v := range top {
			data[k] = v
		}
		data["Template"] = map[string]interface{}{"Name": name, "BasePath": chartName + "/templates"}
		var buf bytes.Buffer
		if err := root.ExecuteTemplate(&buf, name, data); err != nil {
			return "", fmt.Errorf("execution error: %w", err)
		}
		text := strings.ReplaceAll(buf.String(), "<no value>", "")
		// NOTES.txt is rendered, so its errors surface, but it is no manifest.
		if strings.EqualFold(base, "NOTES.txt") || strings.TrimSpace(text) == "" {
			continue
		}
		fmt.Fprintf(&out, "---\n# Source: %s\n%s\n", name, strings.TrimSpace(text))
	}
	return out.String(), nil
}

func templateNameOf(data interface{}) string {
	if m, ok := data.(map[string]interface{}); ok {
		if t, ok := m["Template"].(map[string]interface{}); ok {
			if n, ok := t["Name"].(string); ok {
				return n
			}
		}
	}
	return "tpl"
}

// loadChartMetadata exposes Chart.yaml with helm's capitalised field names (.Chart.Name, ...).
func loadChartMetadata(file string) (map[string]interface{}, error) {
	raw, err := readYAMLFileAsJSONMap(file)
	if err != nil {
		return nil, err
	}
	rename := map[string]string{
		"apiVersion": "APIVersion", "appVersion": "AppVersion", "kubeVersion": "KubeVersion",
	}
	meta := map[string]interface{}{}
	for k, v := range raw {
		if r, ok := rename[k]; ok {
			meta[r] = v
		} else if k != "" {
			meta[strings.ToUpper(k[:1])+k[1:]] = v
		}
	}
	return meta, nil
}

// loadChartFiles returns the templates (named "<chart>/templates/<path>", as helm names them)
// and every other file of the chart for .Files.
func loadChartFiles(chartDir, chartName string) (map[string]string, chartFiles, error) {
	templates := map[string]string{}
	files := chartFiles{}
	err := filepath.WalkDir(chartDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(chartDir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		content, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		switch {
		case strings.HasPrefix(rel, "templates/"):
			templates[chartName+"/"+rel] = string(content)
		case rel == "Chart.yaml" || rel == "values.yaml" || rel == "values.schema.json" || rel == ".helmignore":
		default:
			files[rel] = content
		}
		return nil
	})
	return templates, files, err
}

// chartFiles is .Files: the methods a template calls on it.
type chartFiles map[string][]byte

func (f chartFiles) Get(name string) string      { return string(f[name]) }
func (f chartFiles) GetBytes(name string) []byte { return f[name] }
func (f chartFiles) Lines(name string) []string {
	if f[name] == nil {
		return []string{}
	}
	return strings.Split(strings.TrimSuffix(string(f[name]), "\n"), "\n")
}

type apiVersions []string

func (a apiVersions) Has(v string) bool {
	for _, x := range a {
		if x == v {
			return true
		}
	}
	return false
}

// coalesce merges src (a user's values file) over dst (the chart's defaults): maps merge key by
// key, anything else is replaced, and an explicit null deletes the default, as in helm.
func coalesce(src, dst map[string]interface{}) map[string]interface{} {
	out := make(map[string]interface{}, len(dst))
	for k, v := range dst {
		out[k] = v
	}
	for k, v := range src {
		if v == nil {
			delete(out, k)
			continue
		}
		srcMap, srcIsMap := v.(map[string]interface{})
		dstMap, dstIsMap := out[k].(map[string]interface{})
		if srcIsMap && dstIsMap {
			out[k] = coalesce(srcMap, dstMap)
		} else {
			out[k] = v
		}
	}
	return out
}
