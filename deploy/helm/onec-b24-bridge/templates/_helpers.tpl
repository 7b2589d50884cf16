{{/* Names ------------------------------------------------------------------------------------------ */}}

{{- define "bridge.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* <release>-<chart>, or the release name alone when it already contains the chart name. */}}
{{- define "bridge.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* A component's object name: (dict "ctx" $ "component" "relay") → <fullname>-relay */}}
{{- define "bridge.componentName" -}}
{{- printf "%s-%s" (include "bridge.fullname" .ctx) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "bridge.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels ----------------------------------------------------------------------------------------- */}}

{{- define "bridge.selectorLabels" -}}
app.kubernetes.io/name: {{ include "bridge.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Standard labels of every object. */}}
{{- define "bridge.labels" -}}
helm.sh/chart: {{ include "bridge.chart" . }}
{{ include "bridge.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: onec-b24-bridge
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* (dict "ctx" $ "component" "relay") */}}
{{- define "bridge.componentSelectorLabels" -}}
{{ include "bridge.selectorLabels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "bridge.componentLabels" -}}
{{ include "bridge.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* metadata.annotations of every object (empty when there are none). */}}
{{- define "bridge.annotations" -}}
{{- with .Values.commonAnnotations }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Pieces of the pod spec -------------------------------------------------------------------------- */}}

{{- define "bridge.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{- define "bridge.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "bridge.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "bridge.secretName" -}}
{{- .Values.secrets.existingSecret | default (include "bridge.fullname" .) -}}
{{- end -}}

{{- define "bridge.mappingConfigMap" -}}
{{- .Values.mapping.existingConfigMap | default (printf "%s-mapping" (include "bridge.fullname" .)) -}}
{{- end -}}

{{- define "bridge.hasMapping" -}}
{{- if or .Values.mapping.existingConfigMap .Values.mapping.content -}}true{{- end -}}
{{- end -}}

{{/* The secret environment of a component: (dict "ctx" $ "keys" (list "BRIDGE_DATABASE_URL" …) "optional" (list …)) */}}
{{- define "bridge.secretEnv" -}}
{{- $secret := include "bridge.secretName" .ctx -}}
{{- range .keys }}
- name: {{ . }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ . }}
{{- end }}
{{- range .optional }}
- name: {{ . }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ . }}
      optional: true
{{- end }}
{{- end -}}

{{/* The non-secret environment shared by every component (values.env), sorted by name. */}}
{{- define "bridge.commonEnv" -}}
{{- range $name, $value := .Values.env }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end -}}

{{/* Pod annotations that roll the pods when the Secret or the mapping file changes. */}}
{{- define "bridge.checksums" -}}
{{- if not .Values.secrets.existingSecret }}
checksum/secret: {{ include (print $.Template.BasePath "/secret.yaml") . | sha256sum }}
{{- end }}
{{- if and .Values.mapping.content (not .Values.mapping.existingConfigMap) }}
checksum/mapping: {{ .Values.mapping.content | sha256sum }}
{{- end }}
{{- end -}}

{{/* Probes on the named port "metrics" (or "http" for the ingest): (dict "ctx" $ "port" "http").
     Liveness and readiness begin only once the startup probe has seen the process answer. */}}
{{- define "bridge.probes" -}}
startupProbe:
  httpGet:
    path: /healthz
    port: {{ .port }}
  {{- toYaml .ctx.Values.probes.startup | nindent 2 }}
livenessProbe:
  httpGet:
    path: /healthz
    port: {{ .port }}
  {{- toYaml .ctx.Values.probes.liveness | nindent 2 }}
readinessProbe:
  httpGet:
    path: /readyz
    port: {{ .port }}
  {{- toYaml .ctx.Values.probes.readiness | nindent 2 }}
{{- end -}}

{{/* Scheduling: a component's own nodeSelector/tolerations/affinity, else the global ones: (dict "ctx" $ "c" $component) */}}
{{- define "bridge.scheduling" -}}
{{- with (.c.nodeSelector | default .ctx.Values.nodeSelector) }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with (.c.tolerations | default .ctx.Values.tolerations) }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with (.c.affinity | default .ctx.Values.affinity) }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .c.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* The pod-level parts shared by every long-running component. */}}
{{- define "bridge.podCommon" -}}
serviceAccountName: {{ include "bridge.serviceAccountName" . }}
automountServiceAccountToken: {{ .Values.serviceAccount.automountServiceAccountToken }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- end -}}

{{/* A PodDisruptionBudget: (dict "ctx" $ "component" "relay" "pdb" $pdb); minAvailable wins when set. */}}
{{- define "bridge.pdb" -}}
{{- if .pdb.create }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "bridge.componentName" . }}
  namespace: {{ .ctx.Release.Namespace }}
  labels:
    {{- include "bridge.componentLabels" . | nindent 4 }}
  {{- with include "bridge.annotations" .ctx }}{{ . | trim | nindent 2 }}{{ end }}
{{- $min := ternary "" (toString .pdb.minAvailable) (kindIs "invalid" .pdb.minAvailable) }}
{{- $max := ternary "" (toString .pdb.maxUnavailable) (kindIs "invalid" .pdb.maxUnavailable) }}
spec:
  {{- if $min }}
  minAvailable: {{ .pdb.minAvailable }}
  {{- else }}
  maxUnavailable: {{ .pdb.maxUnavailable | default 1 }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "bridge.componentSelectorLabels" . | nindent 6 }}
{{- end }}
{{- end -}}

{{/* A NetworkPolicy admitting `from` to `port`: (dict "ctx" $ "component" "x" "rules" (list (dict "port" "http" "from" list))).
     A rule with no peers admits everyone, so the callers pass one only when no peer list is set at all
     (bridge.networkPolicyOpen); otherwise they leave the rule out and the port admits no one. */}}
{{- define "bridge.networkPolicy" -}}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ include "bridge.componentName" . }}
  namespace: {{ .ctx.Release.Namespace }}
  labels:
    {{- include "bridge.componentLabels" . | nindent 4 }}
  {{- with include "bridge.annotations" .ctx }}{{ . | trim | nindent 2 }}{{ end }}
spec:
  podSelector:
    matchLabels:
      {{- include "bridge.componentSelectorLabels" . | nindent 6 }}
  policyTypes: ["Ingress"]
  {{- if not .rules }}
  ingress: []
  {{- end }}
  {{- with .rules }}
  ingress:
    {{- range . }}
    - ports:
        - port: {{ .port }}
          protocol: TCP
      {{- with .from }}
      from:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    {{- end }}
  {{- end }}
{{- end -}}

{{/* "true" when networkPolicy lists no peers at all: every served port then admits everyone. As soon as
     ingestFrom or metricsFrom is set, each port admits only the peers listed for it. */}}
{{- define "bridge.networkPolicyOpen" -}}
{{- if not (or .Values.networkPolicy.ingestFrom .Values.networkPolicy.metricsFrom) }}true{{ end -}}
{{- end -}}

{{/* Peers allowed to reach a component's ops port (metrics, probes): (dict "ctx" $ "component" "relay") */}}
{{- define "bridge.opsNetworkPolicy" -}}
{{- $np := .ctx.Values.networkPolicy }}
{{- $rules := list }}
{{- if include "bridge.networkPolicyOpen" .ctx }}
{{- $rules = list (dict "port" "metrics" "from" list) }}
{{- else if $np.metricsFrom }}
{{- $rules = list (dict "port" "metrics" "from" $np.metricsFrom) }}
{{- end }}
{{- include "bridge.networkPolicy" (dict "ctx" .ctx "component" .component "rules" $rules) }}
{{- end -}}

{{/* Fail early, with the value to set, when a component would start without a secret it needs. Bitrix24
     (consumers, reconcile): the webhook, or OAuth mode when env.BRIDGE_B24_OAUTH_CLIENT_ID is set (the
     bridge reads the OAuth secrets only then: without it, it falls back to the webhook, whose default is the
     local sandbox's, and the consumers would wait for a portal that never answers). */}}
{{- define "bridge.validateSecrets" -}}
{{- $b24 := or (include "bridge.anyConsumer" .) .Values.reconcile.enabled -}}
{{- $oauth := include "bridge.oauthMode" . -}}
{{- if and $b24 .Values.env.BRIDGE_B24_OAUTH_CLIENT_ID (not .Values.env.BRIDGE_B24_OAUTH_PORTAL_URL) -}}
{{- fail "OAuth mode (env.BRIDGE_B24_OAUTH_CLIENT_ID is set) also needs env.BRIDGE_B24_OAUTH_PORTAL_URL, the portal's https://PORTAL/ (see docs/deployment.md)" -}}
{{- end -}}
{{- if not .Values.secrets.existingSecret -}}
{{- $s := .Values.secrets -}}
{{- $missing := list -}}
{{- $anyDb := or .Values.ingest.enabled .Values.relay.enabled (include "bridge.anyConsumer" .) .Values.migrations.enabled -}}
{{- if and $anyDb (not $s.databaseUrl) }}{{ $missing = append $missing "secrets.databaseUrl" }}{{ end -}}
{{- if and (or .Values.relay.enabled (include "bridge.anyConsumer" .)) (not $s.amqpUrl) }}{{ $missing = append $missing "secrets.amqpUrl" }}{{ end -}}
{{- if and .Values.ingest.enabled (not $s.ingestTokens) }}{{ $missing = append $missing "secrets.ingestTokens" }}{{ end -}}
{{- if and $b24 $oauth (not $s.b24OauthClientSecret) }}{{ $missing = append $missing "secrets.b24OauthClientSecret (OAuth mode: env.BRIDGE_B24_OAUTH_CLIENT_ID is set)" }}{{ end -}}
{{- if and $b24 (not $oauth) (not $s.b24WebhookUrl) -}}
{{- if or $s.b24OauthClientSecret $s.b24OauthRefreshToken -}}
{{- fail "secrets.b24OauthClientSecret / b24OauthRefreshToken are set but env.BRIDGE_B24_OAUTH_CLIENT_ID is not: the bridge uses OAuth only with it (else the webhook, and secrets.b24WebhookUrl is empty). Set env.BRIDGE_B24_OAUTH_CLIENT_ID and env.BRIDGE_B24_OAUTH_PORTAL_URL (see docs/deployment.md)" -}}
{{- end -}}
{{- $missing = append $missing "secrets.b24WebhookUrl (or the OAuth secrets)" -}}
{{- end -}}
{{- if $missing -}}
{{- fail (printf "missing secrets: set secrets.existingSecret to a Secret you manage, or give %s (see docs/deployment.md)" (join ", " $missing)) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The Bitrix24 keys of the Secret for the consumers and the reconcile, as (dict "keys" … "optional" …): in
     webhook mode BRIDGE_B24_WEBHOOK_URL is required, so a Secret without it stops the pod with the key's name
     (an optional key left the code's default, the local sandbox, and consumers waiting for a portal that never
     answers); in OAuth mode (env.BRIDGE_B24_OAUTH_CLIENT_ID) the webhook is not read. */}}
{{- define "bridge.b24SecretKeys" -}}
{{- $optional := list "BRIDGE_B24_OAUTH_CLIENT_SECRET" "BRIDGE_B24_OAUTH_REFRESH_TOKEN" "BRIDGE_B24_PROXY_URL" -}}
{{- $keys := list -}}
{{- if include "bridge.oauthMode" . -}}
{{- $optional = append $optional "BRIDGE_B24_WEBHOOK_URL" -}}
{{- else -}}
{{- $keys = append $keys "BRIDGE_B24_WEBHOOK_URL" -}}
{{- end -}}
{{- dict "keys" $keys "optional" $optional | toYaml -}}
{{- end -}}

{{/* "true" in OAuth mode: BRIDGE_B24_OAUTH_CLIENT_ID given in env, or in the extraEnv of the consumers (their
     defaults or a target) or of the reconcile, the components that call Bitrix24. */}}
{{- define "bridge.oauthMode" -}}
{{- $lists := list .Values.consumers.defaults.extraEnv .Values.reconcile.extraEnv -}}
{{- range .Values.consumers.targets }}{{ $lists = append $lists (.extraEnv | default list) }}{{ end -}}
{{- $found := .Values.env.BRIDGE_B24_OAUTH_CLIENT_ID -}}
{{- range $lists }}{{ range (. | default list) }}{{ if and (eq .name "BRIDGE_B24_OAUTH_CLIENT_ID") (or .value .valueFrom) }}{{ $found = true }}{{ end }}{{ end }}{{ end -}}
{{- if $found }}true{{ end -}}
{{- end -}}

{{/* "true" when at least one consumer target is enabled. */}}
{{- define "bridge.anyConsumer" -}}
{{- range .Values.consumers.targets }}{{ if .enabled }}true{{ end }}{{ end -}}
{{- end -}}

{{/* A HorizontalPodAutoscaler for a component's Deployment: (dict "ctx" $ "component" "x" "autoscaling" $a) */}}
{{- define "bridge.hpa" -}}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "bridge.componentName" . }}
  namespace: {{ .ctx.Release.Namespace }}
  labels:
    {{- include "bridge.componentLabels" . | nindent 4 }}
  {{- with include "bridge.annotations" .ctx }}{{ . | trim | nindent 2 }}{{ end }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "bridge.componentName" . }}
  minReplicas: {{ .autoscaling.minReplicas }}
  maxReplicas: {{ .autoscaling.maxReplicas }}
  metrics:
    {{- with .autoscaling.targetCPUUtilizationPercentage }}
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ . }}
    {{- end }}
    {{- with .autoscaling.metrics }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end -}}

{{/* The ClusterIP Service of a component's ops port (/healthz, /readyz, /metrics), named `metrics`:
     (dict "ctx" $ "component" "relay" "port" 9101) */}}
{{- define "bridge.opsService" -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "bridge.componentName" . }}
  namespace: {{ .ctx.Release.Namespace }}
  labels:
    {{- include "bridge.componentLabels" . | nindent 4 }}
  {{- with include "bridge.annotations" .ctx }}{{ . | trim | nindent 2 }}{{ end }}
spec:
  type: ClusterIP
  selector:
    {{- include "bridge.componentSelectorLabels" . | nindent 4 }}
  ports:
    - name: metrics
      port: {{ .port }}
      targetPort: metrics
      protocol: TCP
{{- end -}}

{{/* A consumer target's settings: consumers.defaults overridden by the target's own keys (YAML). */}}
{{- define "bridge.consumer" -}}
{{- mergeOverwrite (deepCopy .ctx.Values.consumers.defaults) (deepCopy .target) | toYaml -}}
{{- end -}}


{{/* The most PostgreSQL connections the release's pods open at once (autoscaled components at maxReplicas):
     ingest replicas × ingest.databasePoolSize, relay replicas × (pool 4 + its LISTEN connection), consumer
     pods × 5, reconcile 4 — the pool sizes of bridge/bootstrap.py. Not counted: the migration Job (1, before
     the pods) and the extra pod of a rolling update. As YAML: {total: N, ingest: N, relay: N, consumers: N, reconcile: N} */}}
{{- define "bridge.pgConnections" -}}
{{- $v := .Values -}}
{{- $ingest := 0 -}}
{{- if $v.ingest.enabled -}}
{{- $ingest = mul (ternary $v.ingest.autoscaling.maxReplicas $v.ingest.replicaCount $v.ingest.autoscaling.enabled) $v.ingest.databasePoolSize -}}
{{- end -}}
{{- $relay := ternary (mul $v.relay.replicaCount 5) 0 $v.relay.enabled -}}
{{- $consumers := 0 -}}
{{- range $v.consumers.targets -}}
{{- if .enabled -}}
{{- $c := include "bridge.consumer" (dict "ctx" $ "target" .) | fromYaml -}}
{{- $consumers = add $consumers (mul (ternary $c.autoscaling.maxReplicas $c.replicaCount $c.autoscaling.enabled) 5) -}}
{{- end -}}
{{- end -}}
{{- $reconcile := ternary 4 0 $v.reconcile.enabled -}}
total: {{ add $ingest $relay $consumers $reconcile }}
ingest: {{ $ingest }}
relay: {{ $relay }}
consumers: {{ $consumers }}
reconcile: {{ $reconcile }}
{{- end -}}

{{/* The migration Job's pod template: (dict "ctx" $ "m" migrations "cctx" component ctx "hookSecret" bool).
     Kept apart so a plain Job's name can carry its hash (see the Job's name). */}}
{{- define "bridge.migratePod" -}}
metadata:
  labels:
    {{- include "bridge.componentLabels" $.cctx | nindent 4 }}
  {{- with (merge (dict) $.m.podAnnotations $.ctx.Values.podAnnotations) }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  restartPolicy: Never
  {{- if $.m.serviceAccountName }}
  serviceAccountName: {{ $.m.serviceAccountName }}
  {{- else if not $.m.hook }}
  serviceAccountName: {{ include "bridge.serviceAccountName" $.ctx }}
  {{- end }}
  automountServiceAccountToken: false
  {{- with $.ctx.Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- toYaml $.ctx.Values.podSecurityContext | nindent 4 }}
  {{- with include "bridge.scheduling" (dict "ctx" $.ctx "c" (dict)) }}{{ . | trim | nindent 2 }}{{ end }}
  containers:
    - name: migrate
      image: {{ include "bridge.image" $.ctx }}
      imagePullPolicy: {{ $.ctx.Values.image.pullPolicy }}
      args: ["migrate"]
      env:
        - name: BRIDGE_DATABASE_URL
          valueFrom:
            secretKeyRef:
              name: {{ ternary (include "bridge.componentName" $.cctx) (include "bridge.secretName" $.ctx) $.hookSecret }}
              key: BRIDGE_DATABASE_URL
        {{- with include "bridge.commonEnv" $.ctx }}{{ . | trim | nindent 8 }}{{ end }}
      resources:
        {{- toYaml $.m.resources | nindent 8 }}
      securityContext:
        {{- toYaml $.ctx.Values.containerSecurityContext | nindent 8 }}
      volumeMounts:
        - name: tmp
          mountPath: /tmp
  volumes:
    - name: tmp
      emptyDir:
        sizeLimit: 64Mi
{{- end -}}
