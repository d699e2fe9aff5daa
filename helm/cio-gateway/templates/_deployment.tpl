{{/*
The Deployment of one role. Ingest and worker pods run the same image and routes.yaml and differ
in `--role`, sizing and the worker's data volume; call with (dict "root" $ "component" "ingest").
*/}}
{{- define "cio-gateway.deployment" -}}
{{- $root := .root }}
{{- $component := .component }}
{{- $values := index $root.Values $component }}
{{- $fullname := include "cio-gateway.fullname" $root }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ printf "%s-%s" $fullname $component }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "cio-gateway.componentLabels" . | nindent 4 }}
spec:
  {{- if not $values.autoscaling.enabled }}
  replicas: {{ $values.replicas }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "cio-gateway.componentSelectorLabels" . | nindent 6 }}
  template:
    metadata:
      annotations:
        {{- /* Pods roll when routes.yaml changes. The gateway also reloads it live, but settings it cannot change live (server, queue, dedupe, reporting) need new pods. */}}
        checksum/config: {{ include "cio-gateway.routesYaml" $root | sha256sum }}
        {{- with $values.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      labels:
        {{- include "cio-gateway.componentSelectorLabels" . | nindent 8 }}
        {{- with $values.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "cio-gateway.serviceAccountName" $root }}
      automountServiceAccountToken: {{ $root.Values.serviceAccount.automountServiceAccountToken }}
      {{- /* No <SERVICE>_PORT variables: the gateway reads PORT, MANAGEMENT_PORT and CIO_GATEWAY_* from its environment. */}}
      enableServiceLinks: false
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $values.priorityClassName }}
      priorityClassName: {{ . }}
      {{- end }}
      terminationGracePeriodSeconds: {{ $values.terminationGracePeriodSeconds }}
      securityContext:
        {{- toYaml $root.Values.podSecurityContext | nindent 8 }}
      containers:
        - name: gateway
          image: {{ include "cio-gateway.image" $root | quote }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          args: ["serve", "--config", "/etc/cio-gateway/routes.yaml", "--role", {{ $component | quote }}]
          {{- /*
          Two listeners (SPEC §3): `http`, the webhook listener Customer.io reaches (ingest pods only:
          workers open none), and `management` (/metrics, /admin/*, /healthz, /readyz). Inside the pod
          management listens on all interfaces so the kubelet's probes and Prometheus reach it; the
          management Service is ClusterIP only, and the main Service never exposes it.
          */}}
          ports:
            {{- if ne $component "worker" }}
            - name: http
              containerPort: 8080
              protocol: TCP
            {{- end }}
            - name: management
              containerPort: 8081
              protocol: TCP
          env:
            {{- if ne $component "worker" }}
            - name: HOST
              value: "0.0.0.0"
            - name: PORT
              value: "8080"
            {{- end }}
            - name: MANAGEMENT_HOST
              value: "0.0.0.0"
            - name: MANAGEMENT_PORT
              value: "8081"
            - name: NODE_ENV
              value: production
            {{- with $values.nodeOptions }}
            - name: NODE_OPTIONS
              value: {{ . | quote }}
            {{- end }}
            {{- $keys := $root.Values.secrets.keys }}
            {{- $secretName := include "cio-gateway.secretName" $root }}
            {{- /* (variable, key in the Secret, optional, Secret): the names routes.yaml refers to as ${VAR}. */}}
            {{- $secretEnv := list
                  (list "CIO_WEBHOOK_SECRET" (required "secrets.keys.webhookSecret is required: without the signing key every webhook is refused" $keys.webhookSecret) false $secretName)
                  (list "CIO_WEBHOOK_SECRET_PREVIOUS" $keys.webhookSecretPrevious true $secretName)
                  (list "ADMIN_TOKEN" $keys.adminToken true $secretName)
                  (list "CIO_APP_API_KEY" $keys.appApiKey true $secretName) }}
            {{- /* Redis' variables are required: a missing key stops the pod with the kubelet's message naming it. */}}
            {{- range include "cio-gateway.redisSecretEnv" $root | fromJsonArray }}
            {{- $secretEnv = append $secretEnv (list (index . 0) (index . 1) false (index . 2)) }}
            {{- end }}
            {{- range $secretEnv }}
            {{- if index . 1 }}
            - name: {{ index . 0 }}
              valueFrom:
                secretKeyRef:
                  name: {{ index . 3 }}
                  key: {{ index . 1 }}
                  optional: {{ index . 2 }}
            {{- end }}
            {{- end }}
            {{- with $root.Values.extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          {{- with $root.Values.extraEnvFrom }}
          envFrom:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          livenessProbe:
            {{- toYaml $values.livenessProbe | nindent 12 }}
          readinessProbe:
            {{- toYaml $values.readinessProbe | nindent 12 }}
          resources:
            {{- toYaml $values.resources | nindent 12 }}
          securityContext:
            {{- toYaml $root.Values.securityContext | nindent 12 }}
          volumeMounts:
            - name: config
              mountPath: /etc/cio-gateway
              readOnly: true
            - name: tmp
              mountPath: /tmp
            {{- if eq $component "worker" }}
            - name: data
              mountPath: /data
            {{- end }}
            {{- with $root.Values.extraVolumeMounts }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
      volumes:
        - name: config
          configMap:
            name: {{ $fullname }}
        - name: tmp
          emptyDir: {}
        {{- if eq $component "worker" }}
        - name: data
          {{- toYaml (default (dict "emptyDir" (dict)) $values.dataVolume) | nindent 10 }}
        {{- end }}
        {{- with $root.Values.extraVolumes }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- with $values.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $values.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $values.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $values.topologySpreadConstraints }}
      topologySpreadConstraints:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end }}

{{/* The HorizontalPodAutoscaler of one role; same call as cio-gateway.deployment. */}}
{{- define "cio-gateway.hpa" -}}
{{- $root := .root }}
{{- $component := .component }}
{{- $values := index $root.Values $component "autoscaling" }}
{{- if $values.enabled }}
{{- /* int: --set gives int64 where values files give float64, and gt refuses to mix them. */}}
{{- if gt (int $values.minReplicas) (int $values.maxReplicas) }}
{{- fail (printf "%s.autoscaling: minReplicas (%v) is above maxReplicas (%v)" $component $values.minReplicas $values.maxReplicas) }}
{{- end }}
{{- $name := printf "%s-%s" (include "cio-gateway.fullname" $root) $component }}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ $name }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "cio-gateway.componentLabels" . | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ $name }}
  minReplicas: {{ $values.minReplicas }}
  maxReplicas: {{ $values.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ $values.targetCPUUtilizationPercentage }}
    {{- if $values.targetMemoryUtilizationPercentage }}
    - type: Resource
      resource:
        name: memory
        target:
          type: Utilization
          averageUtilization: {{ $values.targetMemoryUtilizationPercentage }}
    {{- end }}
{{- end }}
{{- end }}

{{/* The PodDisruptionBudget of one role; same call as cio-gateway.deployment. */}}
{{- define "cio-gateway.pdb" -}}
{{- $root := .root }}
{{- $component := .component }}
{{- $values := index $root.Values $component "podDisruptionBudget" }}
{{- if $values.enabled }}
{{- $hasMin := ne (toString $values.minAvailable) "" }}
{{- $hasMax := ne (toString $values.maxUnavailable) "" }}
{{- if eq $hasMin $hasMax }}
{{- fail (printf "%s.podDisruptionBudget: set exactly one of minAvailable and maxUnavailable" $component) }}
{{- end }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ printf "%s-%s" (include "cio-gateway.fullname" $root) $component }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "cio-gateway.componentLabels" . | nindent 4 }}
spec:
  {{- if $hasMin }}
  minAvailable: {{ $values.minAvailable }}
  {{- else }}
  maxUnavailable: {{ $values.maxUnavailable }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "cio-gateway.componentSelectorLabels" . | nindent 6 }}
{{- end }}
{{- end }}
