{{/*
How the pods reach Redis (`redis.*`): the queue keys the chart adds to routes.yaml and the Secret
keys the pods get as environment variables. Passwords never enter the ConfigMap: routes.yaml names
them as ${REDIS_PASSWORD} and ${REDIS_SENTINEL_PASSWORD}, which the gateway reads from the pod's
environment. Values that contradict each other fail the render with a message naming the value, so
a half-configured Sentinel or Cluster never reaches a pod that would only crash-loop on it.
*/}}

{{/* The keys of one `redis.*` block that hold something (a non-empty string or list, true, a non-zero number). */}}
{{- define "cio-gateway.redisKeysSet" -}}
{{- $set := list }}
{{- range $key, $value := . }}
{{- if $value }}
{{- $set = append $set $key }}
{{- end }}
{{- end }}
{{- join ", " (sortAlpha $set) }}
{{- end }}

{{/* redis.mode, once it is known to be one of the three (the fallback renderer does not apply values.schema.json). */}}
{{- define "cio-gateway.redisMode" -}}
{{- $mode := toString .Values.redis.mode }}
{{- if not (has $mode (list "url" "sentinel" "cluster")) }}
{{- fail (printf "redis.mode must be url, sentinel or cluster (found %q)" $mode) }}
{{- end }}
{{- $mode }}
{{- end }}

{{/*
Fails on `redis.*` values that make no sense together, when the chart writes the queue keys
(`config`); renders nothing. Every rule names the value to change.
*/}}
{{- define "cio-gateway.redisChecks" -}}
{{- $redis := .Values.redis }}
{{- $mode := include "cio-gateway.redisMode" . }}
{{- range $block := list "sentinel" "cluster" }}
{{- $set := include "cio-gateway.redisKeysSet" (index $redis $block) }}
{{- if and $set (ne $mode $block) }}
{{- fail (printf "redis.%s is set (%s), but redis.mode is %s: set redis.mode: %s, or remove redis.%s" $block $set $mode $block $block) }}
{{- end }}
{{- end }}
{{- if and (ne (toString $redis.shards) "") (ne $mode "cluster") }}
{{- fail (printf "redis.shards is set, but redis.mode is %s: shards spread keys over a Redis Cluster only (one node and Sentinel have one shard)" $mode) }}
{{- end }}
{{- if eq $mode "sentinel" }}
{{- $_ := required "redis.sentinel.masterSet is required with redis.mode sentinel: the master set name the sentinels monitor (bitnami redis chart: mymaster)" $redis.sentinel.masterSet }}
{{- if not $redis.sentinel.nodes }}
{{- fail "redis.sentinel.nodes is required with redis.mode sentinel: the sentinels as redis://host:26379" }}
{{- end }}
{{- else if and (eq $mode "cluster") (not $redis.cluster.nodes) }}
{{- fail "redis.cluster.nodes is required with redis.mode cluster: one or more nodes (or the configuration endpoint) as redis://host:6379" }}
{{- end }}
{{- end }}

{{/*
The queue keys `redis.*` decides, as JSON (include returns text): redis_url, redis_sentinel or
redis_cluster, plus shards and replicas_ack when set.
*/}}
{{- define "cio-gateway.redisQueue" -}}
{{- include "cio-gateway.redisChecks" . }}
{{- $redis := .Values.redis }}
{{- $keys := .Values.secrets.keys }}
{{- $queue := dict }}
{{- if eq $redis.mode "url" }}
{{- $_ := set $queue "redis_url" "${REDIS_URL}" }}
{{- else }}
{{- $block := index $redis $redis.mode }}
{{- $connection := dict "nodes" $block.nodes }}
{{- if eq $redis.mode "sentinel" }}
{{- $_ := set $connection "name" $block.masterSet }}
{{- if $block.db }}
{{- $_ := set $connection "db" (int $block.db) }}
{{- end }}
{{- if $keys.redisSentinelPassword }}
{{- $_ := set $connection "sentinel_password" "${REDIS_SENTINEL_PASSWORD}" }}
{{- end }}
{{- end }}
{{- if $keys.redisPassword }}
{{- $_ := set $connection "password" "${REDIS_PASSWORD}" }}
{{- end }}
{{- with $block.username }}
{{- $_ := set $connection "username" . }}
{{- end }}
{{- if $block.tls }}
{{- $_ := set $connection "tls" true }}
{{- end }}
{{- $_ := set $queue (printf "redis_%s" $redis.mode) $connection }}
{{- end }}
{{- if ne (toString $redis.shards) "" }}
{{- $_ := set $queue "shards" (int $redis.shards) }}
{{- end }}
{{- if ne (toString $redis.replicasAck) "" }}
{{- $_ := set $queue "replicas_ack" (int $redis.replicasAck) }}
{{- end }}
{{- toJson $queue }}
{{- end }}

{{/*
`config` with the queue keys of `redis.*` added. The connection has one home: a connection key in
`config.queue` beside `redis.*` would be a second answer to the same question, so it fails the
render, except today's `config.queue.redis_url` with redis.mode url (the chart's earlier values),
which is kept as it is.
*/}}
{{- define "cio-gateway.configWithRedis" -}}
{{- $config := deepCopy .Values.config }}
{{- $queue := default (dict) $config.queue }}
{{- $mode := include "cio-gateway.redisMode" . }}
{{- $moved := dict "redis_sentinel" "redis.mode: sentinel and redis.sentinel" "redis_cluster" "redis.mode: cluster and redis.cluster" "shards" "redis.shards" "replicas_ack" "redis.replicasAck" }}
{{- range $key := keys $moved | sortAlpha }}
{{- if hasKey $queue $key }}
{{- fail (printf "config.queue.%s: set %s instead; the chart writes queue.%s itself" $key (index $moved $key) $key) }}
{{- end }}
{{- end }}
{{- if and (hasKey $queue "redis_url") (ne $mode "url") }}
{{- fail (printf "config.queue.redis_url is set, but redis.mode is %s: remove it (the chart writes queue.redis_%s from redis.%s)" $mode $mode $mode) }}
{{- end }}
{{- $_ := set $config "queue" (merge $queue (include "cio-gateway.redisQueue" . | fromJson)) }}
{{- toYaml $config }}
{{- end }}

{{/*
A routes.yaml given whole (`routesYaml`) is used as it is: redis.mode then only chooses the Secret
keys the pods get, and must name the engine the file's queue uses.
*/}}
{{- define "cio-gateway.routesFileChecks" -}}
{{- $queue := default (dict) (fromYaml .text).queue }}
{{- $mode := include "cio-gateway.redisMode" .root }}
{{- $fileMode := "url" }}
{{- if hasKey $queue "redis_sentinel" }}
{{- $fileMode = "sentinel" }}
{{- else if hasKey $queue "redis_cluster" }}
{{- $fileMode = "cluster" }}
{{- end }}
{{- if ne $mode $fileMode }}
{{- fail (printf "routesYaml: its queue uses %s, but redis.mode is %s: set redis.mode: %s (it chooses the Secret keys the pods get)" (ternary "redis_url" (printf "redis_%s" $fileMode) (eq $fileMode "url")) $mode $fileMode) }}
{{- end }}
{{- range $key := list "shards" "replicasAck" }}
{{- if ne (toString (index $.root.Values.redis $key)) "" }}
{{- fail (printf "redis.%s is set, but routesYaml is used as it is: put %s in its queue section instead" $key (ternary "shards" "replicas_ack" (eq $key "shards"))) }}
{{- end }}
{{- end }}
{{- range $block := list "sentinel" "cluster" }}
{{- $set := include "cio-gateway.redisKeysSet" (index $.root.Values.redis $block) }}
{{- if $set }}
{{- fail (printf "redis.%s is set (%s), but routesYaml is used as it is: put the connection in its queue.redis_%s" $block $set $block) }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The environment variables the Redis connection reads from Secrets, as JSON: a list of
[variable, key, Secret name]; empty keys are left out by the caller.
*/}}
{{- define "cio-gateway.redisSecretEnv" -}}
{{- $mode := include "cio-gateway.redisMode" . }}
{{- $keys := .Values.secrets.keys }}
{{- $secretName := include "cio-gateway.secretName" . }}
{{- if and $keys.redisSentinelPassword (ne $mode "sentinel") }}
{{- fail (printf "secrets.keys.redisSentinelPassword is set, but redis.mode is %s: it is the password of Redis Sentinel (redis.mode: sentinel)" $mode) }}
{{- end }}
{{- $env := list }}
{{- if eq $mode "url" }}
{{- if .Values.secrets.redisSecret }}
{{- fail "secrets.redisSecret is set, but redis.mode is url: the password is part of the URL in secrets.keys.redisUrl; redisSecret serves redis.mode sentinel and cluster" }}
{{- end }}
{{- $env = append $env (list "REDIS_URL" (required "secrets.keys.redisUrl is required with redis.mode url: ingest and worker pods share their queue through Redis only" $keys.redisUrl) $secretName) }}
{{- else }}
{{- $redisSecret := default $secretName .Values.secrets.redisSecret }}
{{- $env = append $env (list "REDIS_PASSWORD" $keys.redisPassword $redisSecret) }}
{{- if eq $mode "sentinel" }}
{{- $env = append $env (list "REDIS_SENTINEL_PASSWORD" $keys.redisSentinelPassword $redisSecret) }}
{{- end }}
{{- end }}
{{- toJson $env }}
{{- end }}
