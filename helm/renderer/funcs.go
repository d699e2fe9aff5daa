package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	yamlv2 "gopkg.in/yaml.v2"
)

// helmFuncs are the functions helm adds to sprig, minus include and tpl (they need the template
// set, see render). Each behaves as helm's does, including the quiet failure modes: toYaml of an
// unencodable value is "", fromYaml of bad input is a map with an "Error" key.
func helmFuncs() map[string]interface{} {
	return map[string]interface{}{
		"toYaml":        toYAML,
		"mustToYaml":    mustToYAML,
		"fromYaml":      fromYAML,
		"fromYamlArray": fromYAMLArray,
		"toJson":        toJSON,
		"mustToJson":    mustToJSON,
		"fromJson":      fromJSON,
		"fromJsonArray": fromJSONArray,
		"required":      required,
		"fail":          func(msg string) (string, error) { return "", errors.New(msg) },
		// `helm template` has no cluster to look in: lookup finds nothing.
		"lookup": func(apiVersion, kind, namespace, name string) (map[string]interface{}, error) {
			return map[string]interface{}{}, nil
		},
		"toToml": func(interface{}) (string, error) {
			return "", errors.New("toToml is not supported by the fallback renderer")
		},
	}
}

func required(warning string, value interface{}) (interface{}, error) {
	if value == nil {
		return value, errors.New(warning)
	}
	if s, ok := value.(string); ok && s == "" {
		return value, errors.New(warning)
	}
	return value, nil
}

// toYAML follows sigs.k8s.io/yaml, which helm uses: encode as JSON (so struct tags, sorted keys
// and JSON's types apply), then re-emit that JSON as YAML.
func toYAML(v interface{}) string {
	out, err := mustToYAML(v)
	if err != nil {
		return ""
	}
	return out
}

func mustToYAML(v interface{}) (string, error) {
	j, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	var generic interface{}
	if err := yamlv2.Unmarshal(j, &generic); err != nil {
		return "", err
	}
	y, err := yamlv2.Marshal(generic)
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(string(y), "\n"), nil
}

func toJSON(v interface{}) string {
	out, err := mustToJSON(v)
	if err != nil {
		return ""
	}
	return out
}

func mustToJSON(v interface{}) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

func fromYAML(text string) map[string]interface{} {
	var m map[string]interface{}
	if err := yamlToJSONTyped(text, &m); err != nil {
		return map[string]interface{}{"Error": err.Error()}
	}
	if m == nil {
		m = map[string]interface{}{}
	}
	return m
}

func fromYAMLArray(text string) []interface{} {
	var a []interface{}
	if err := yamlToJSONTyped(text, &a); err != nil {
		return []interface{}{err.Error()}
	}
	return a
}

func fromJSON(text string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := json.Unmarshal([]byte(text), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

func fromJSONArray(text string) []interface{} {
	a := []interface{}{}
	if err := json.Unmarshal([]byte(text), &a); err != nil {
		a = []interface{}{err.Error()}
	}
	return a
}

// yamlToJSONTyped reads YAML the way helm reads values files: through JSON, so maps have string
// keys and numbers are float64.
func yamlToJSONTyped(text string, target interface{}) error {
	var generic interface{}
	if err := yamlv2.Unmarshal([]byte(text), &generic); err != nil {
		return err
	}
	normalised, err := stringKeys(generic)
	if err != nil {
		return err
	}
	j, err := json.Marshal(normalised)
	if err != nil {
		return err
	}
	return json.Unmarshal(j, target)
}

func stringKeys(v interface{}) (interface{}, error) {
	switch x := v.(type) {
	case map[interface{}]interface{}:
		out := make(map[string]interface{}, len(x))
		for k, val := range x {
			converted, err := stringKeys(val)
			if err != nil {
				return nil, err
			}
			out[fmt.Sprint(k)] = converted
		}
		return out, nil
	case []interface{}:
		out := make([]interface{}, len(x))
		for i, val := range x {
			converted, err := stringKeys(val)
			if err != nil {
				return nil, err
			}
			out[i] = converted
		}
		return out, nil
	default:
		return v, nil
	}
}

func readYAMLFileAsJSONMap(file string) (map[string]interface{}, error) {
	content, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var m map[string]interface{}
	if err := yamlToJSONTyped(string(content), &m); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if m == nil {
		m = map[string]interface{}{}
	}
	return m, nil
}
