{{/* Names, labels and the few snippets several templates share. */}}

{{- define "cio-gateway.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Names stay under 63 characters minus the longest suffix we add ("-ingest", "-dashboard", "-management"). */}}
{{- define "cio-gateway.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "cio-gateway.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "cio-gateway.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cio-gateway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "cio-gateway.labels" -}}
helm.sh/chart: {{ include "cio-gateway.chart" . }}
{{ include "cio-gateway.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: cio-gateway
{{- end }}

{{/* Labels of one component; call with (dict "root" $ "component" "ingest"). */}}
{{- define "cio-gateway.componentLabels" -}}
{{ include "cio-gateway.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "cio-gateway.componentSelectorLabels" -}}
{{ include "cio-gateway.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "cio-gateway.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "cio-gateway.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "cio-gateway.secretName" -}}
{{- default (include "cio-gateway.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{- define "cio-gateway.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/*
The routes.yaml the pods read: `routesYaml` as it is, or `config` with the Redis connection of
`redis.*` (_redis.tpl). It passes through tpl so a value can name the release; the gateway itself
resolves ${VAR} from the environment afterwards.
*/}}
{{- define "cio-gateway.routesYaml" -}}
{{- if .Values.routesYaml }}
{{- $text := tpl .Values.routesYaml . }}
{{- include "cio-gateway.routesFileChecks" (dict "root" . "text" $text) }}
{{- $text }}
{{- else }}
{{- tpl (include "cio-gateway.configWithRedis" .) . }}
{{- end }}
{{- end }}
