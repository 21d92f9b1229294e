{{/*
signet.name is the chart name, or nameOverride.
*/}}
{{- define "signet.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
signet.fullname prefixes every object name: "<release>-signet", or the
release name alone when it already contains the chart name.
*/}}
{{- define "signet.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
signet.tokenServer.fullname names the token endpoint's Service, the
standalone token server's objects and its certificate.
*/}}
{{- define "signet.tokenServer.fullname" -}}
{{- printf "%s-token-server" (include "signet.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
signet.selectorLabels identify the release's Pods; a component label is
added next to them wherever one Deployment's Pods must be told apart.
*/}}
{{- define "signet.selectorLabels" -}}
app.kubernetes.io/name: {{ include "signet.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
signet.labels go on every object.
*/}}
{{- define "signet.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "signet.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: signet
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
signet.metadata renders the name, namespace and labels of a namespaced
object. Call it with (dict "root" $ "name" NAME "component" COMPONENT).
*/}}
{{- define "signet.metadata" -}}
name: {{ .name }}
namespace: {{ .root.Release.Namespace }}
labels:
  {{- include "signet.labels" .root | nindent 2 }}
  {{- with .component }}
  app.kubernetes.io/component: {{ . }}
  {{- end }}
{{- end }}

{{/*
signet.serviceAccountName is the manager Pods' ServiceAccount.
*/}}
{{- define "signet.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "signet.fullname" .) .Values.serviceAccount.name }}
{{- else if .Values.serviceAccount.name }}
{{- .Values.serviceAccount.name }}
{{- else }}
{{- fail "serviceAccount.name must name an existing ServiceAccount when serviceAccount.create is false" }}
{{- end }}
{{- end }}

{{/*
signet.tokenServer.serviceAccountName is the token server's ServiceAccount,
in both layouts.
*/}}
{{- define "signet.tokenServer.serviceAccountName" -}}
{{- $sa := .Values.tokenServer.serviceAccount }}
{{- if $sa.create }}
{{- default (include "signet.tokenServer.fullname" .) $sa.name }}
{{- else if $sa.name }}
{{- $sa.name }}
{{- else }}
{{- fail "tokenServer.serviceAccount.name must name an existing ServiceAccount when tokenServer.serviceAccount.create is false" }}
{{- end }}
{{- end }}

{{/*
signet.image is the image holding both binaries; a digest wins over a tag.
*/}}
{{- define "signet.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
signet.issuer is the token server's issuer identifier, by default the https
URL of the token endpoint's Service.
*/}}
{{- define "signet.issuer" -}}
{{- if .Values.issuer }}
{{- .Values.issuer }}
{{- else }}
{{- printf "https://%s.%s.svc" (include "signet.tokenServer.fullname" .) .Release.Namespace }}
{{- if ne (int .Values.service.port) 443 }}:{{ .Values.service.port }}{{ end }}
{{- end }}
{{- end }}

{{/*
signet.tlsSecretName is the Secret holding the token server's certificate.
*/}}
{{- define "signet.tlsSecretName" -}}
{{- if and .Values.tls.existingSecret .Values.tls.certManager.enabled }}
{{- fail "set tls.existingSecret or tls.certManager.enabled, not both" }}
{{- end }}
{{- default (printf "%s-tls" (include "signet.tokenServer.fullname" .)) .Values.tls.existingSecret }}
{{- end }}

{{/*
signet.webhook.serviceName, secretName and configurationName name the
admission webhook's Service, certificate Secret and
ValidatingWebhookConfiguration (templates/webhook.yaml), which the manager's
flags name too.
*/}}
{{- define "signet.webhook.serviceName" -}}
{{- printf "%s-webhook" (include "signet.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- define "signet.webhook.secretName" -}}
{{- printf "%s-webhook-cert" (include "signet.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- define "signet.webhook.configurationName" -}}
{{- printf "%s-validating-webhook" (include "signet.fullname" .) }}
{{- end }}
{{- define "signet.webhook.certDir" -}}
/var/run/secrets/signet/webhook
{{- end }}

{{/*
signet.managerContainer is the manager container. The ports and flags are
the manager's (cmd/manager); keep them in step.
*/}}
{{- define "signet.managerContainer" -}}
- name: manager
  image: {{ include "signet.image" . }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  command: ["/manager"]
  args:
    - --leader-elect
    - --signet-namespace=$(POD_NAMESPACE)
    - --issuer={{ include "signet.issuer" . }}
    {{- with .Values.tokenURL }}
    - --token-url={{ . }}
    {{- end }}
    - --metrics-bind-address=:8080
    - --health-probe-bind-address=:8081
    - --signing-algorithm={{ .Values.signing.algorithm }}
    - --signing-key-rotation={{ .Values.signing.keyRotation }}
    - --signing-key-publish-lead={{ .Values.signing.keyPublishLead }}
    - --max-concurrent-reconciles={{ .Values.manager.maxConcurrentReconciles }}
    - --kube-api-qps={{ .Values.manager.kubeAPIQPS }}
    - --kube-api-burst={{ .Values.manager.kubeAPIBurst }}
    - --zap-log-level={{ .Values.manager.logLevel }}
    {{- if not .Values.tokenServer.standalone }}
    - --token-server-service-account={{ include "signet.tokenServer.serviceAccountName" . }}
    - --token-server-token-file={{ include "signet.tokenServer.tokenDir" . }}/token
    {{- end }}
    {{- if .Values.webhook.enabled }}
    - --webhook-bind-address=:9443
    - --webhook-cert-dir={{ include "signet.webhook.certDir" . }}
    - --webhook-cert-secret={{ include "signet.webhook.secretName" . }}
    - --webhook-configuration={{ include "signet.webhook.configurationName" . }}
    - --webhook-service={{ include "signet.webhook.serviceName" . }}
    {{- end }}
    {{- range .Values.manager.extraArgs }}
    - {{ . | quote }}
    {{- end }}
  {{- include "signet.env" .Values.manager.extraEnv | nindent 2 }}
  ports:
    - name: metrics
      containerPort: 8080
      protocol: TCP
    - name: healthz
      containerPort: 8081
      protocol: TCP
    {{- if .Values.webhook.enabled }}
    - name: webhook
      containerPort: 9443
      protocol: TCP
    {{- end }}
  {{- include "signet.probes" "healthz" | nindent 2 }}
  resources:
    {{- toYaml .Values.manager.resources | nindent 4 }}
  securityContext:
    {{- toYaml .Values.containerSecurityContext | nindent 4 }}
  volumeMounts:
    - name: kube-api-access
      mountPath: /var/run/secrets/kubernetes.io/serviceaccount
      readOnly: true
    {{- if not .Values.tokenServer.standalone }}
    - name: token-server-token
      mountPath: {{ include "signet.tokenServer.tokenDir" . }}
    {{- end }}
    {{- if .Values.webhook.enabled }}
    - name: webhook-cert
      mountPath: {{ include "signet.webhook.certDir" . }}
      readOnly: true
    {{- end }}
{{- end }}

{{/*
signet.tokenServerContainer is the token server container. The ports and
flags are the token server's (cmd/token-server); keep them in step.
*/}}
{{- define "signet.tokenServerContainer" -}}
- name: token-server
  image: {{ include "signet.image" . }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  command: ["/token-server"]
  args:
    - --namespace=$(POD_NAMESPACE)
    - --issuer={{ include "signet.issuer" . }}
    - --listen=:8443
    - --tls-cert-file=/etc/signet/tls/tls.crt
    - --tls-key-file=/etc/signet/tls/tls.key
    - --probe-listen=:8082
    {{- with .Values.tokenServer.defaultAudience }}
    - --default-audience={{ . }}
    {{- end }}
    {{- if not .Values.tokenServer.standalone }}
    - --kube-token-file={{ include "signet.tokenServer.tokenDir" . }}/token
    - --kube-ca-file=/var/run/secrets/signet/kube-ca/ca.crt
    {{- end }}
    {{- range .Values.tokenServer.extraArgs }}
    - {{ . | quote }}
    {{- end }}
  {{- include "signet.env" .Values.tokenServer.extraEnv | nindent 2 }}
  ports:
    - name: https
      containerPort: 8443
      protocol: TCP
    - name: ts-metrics
      containerPort: 8082
      protocol: TCP
  {{- include "signet.probes" "ts-metrics" | nindent 2 }}
  resources:
    {{- toYaml .Values.tokenServer.resources | nindent 4 }}
  securityContext:
    {{- toYaml .Values.containerSecurityContext | nindent 4 }}
  volumeMounts:
    - name: tls
      mountPath: /etc/signet/tls
      readOnly: true
    {{- if not .Values.tokenServer.standalone }}
    - name: token-server-token
      mountPath: {{ include "signet.tokenServer.tokenDir" . }}
      readOnly: true
    - name: kube-ca
      mountPath: /var/run/secrets/signet/kube-ca
      readOnly: true
    {{- end }}
{{- end }}

{{/*
signet.tokenServer.tokenDir is where, in the sidecar layout, the manager
writes the token server's ServiceAccount token and the token server reads it.
*/}}
{{- define "signet.tokenServer.tokenDir" -}}
/var/run/secrets/signet/token-server
{{- end }}

{{/*
signet.env is a container's environment: POD_NAMESPACE, which both binaries
take as the Signet namespace, then the given extra variables.
*/}}
{{- define "signet.env" -}}
env:
  - name: POD_NAMESPACE
    valueFrom:
      fieldRef:
        fieldPath: metadata.namespace
  {{- with . }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end }}

{{/*
signet.probes are the liveness and readiness probes on the named port, which
serves /healthz and /readyz in both binaries.
*/}}
{{- define "signet.probes" -}}
livenessProbe:
  httpGet:
    path: /healthz
    port: {{ . }}
  periodSeconds: 10
  failureThreshold: 3
readinessProbe:
  httpGet:
    path: /readyz
    port: {{ . }}
  periodSeconds: 5
  failureThreshold: 3
{{- end }}

{{/*
signet.deployment renders a Deployment. Call it with a dict:
  root         the chart's root context;
  name         the Deployment's name;
  component    its app.kubernetes.io/component label;
  replicas     its replica count;
  sa           its ServiceAccount;
  manager      whether the Pod runs the manager;
  tokenServer  whether the Pod runs the token server.
*/}}
{{- define "signet.deployment" -}}
{{- $root := .root }}
{{- $v := $root.Values }}
{{- $podSelector := merge (include "signet.selectorLabels" $root | fromYaml) (dict "app.kubernetes.io/component" .component) }}
apiVersion: apps/v1
kind: Deployment
metadata:
  {{- include "signet.metadata" (dict "root" $root "name" .name "component" .component) | nindent 2 }}
spec:
  replicas: {{ .replicas }}
  selector:
    matchLabels:
      {{- toYaml $podSelector | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "signet.labels" $root | nindent 8 }}
        app.kubernetes.io/component: {{ .component }}
        {{- with $v.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- with $v.podAnnotations }}
      annotations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    spec:
      serviceAccountName: {{ .sa }}
      {{- /*
      A manager Pod mounts no token by default: the manager container mounts
      its account's token explicitly (kube-api-access), so that a sidecar
      token server never holds the manager's credentials. The standalone
      token server's Pod runs as its own account and mounts its token.
      */}}
      automountServiceAccountToken: {{ and (not .manager) $v.tokenServer.serviceAccount.automountServiceAccountToken }}
      enableServiceLinks: false
      securityContext:
        {{- toYaml $v.podSecurityContext | nindent 8 }}
      terminationGracePeriodSeconds: {{ $v.terminationGracePeriodSeconds }}
      {{- with $v.priorityClassName }}
      priorityClassName: {{ . }}
      {{- end }}
      {{- with $v.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- if $v.affinity }}
      affinity:
        {{- toYaml $v.affinity | nindent 8 }}
      {{- else if ne $v.podAntiAffinity "none" }}
      {{- $term := dict "topologyKey" "kubernetes.io/hostname" "labelSelector" (dict "matchLabels" $podSelector) }}
      affinity:
        podAntiAffinity:
          {{- if eq $v.podAntiAffinity "hard" }}
          requiredDuringSchedulingIgnoredDuringExecution:
            {{- toYaml (list $term) | nindent 12 }}
          {{- else }}
          preferredDuringSchedulingIgnoredDuringExecution:
            {{- toYaml (list (dict "weight" 100 "podAffinityTerm" $term)) | nindent 12 }}
          {{- end }}
      {{- end }}
      {{- with $v.topologySpreadConstraints }}
      topologySpreadConstraints:
        {{- range . }}
        {{- $c := deepCopy . }}
        {{- if not $c.labelSelector }}
        {{- $_ := set $c "labelSelector" (dict "matchLabels" $podSelector) }}
        {{- end }}
        {{- toYaml (list $c) | nindent 8 }}
        {{- end }}
      {{- end }}
      containers:
        {{- if .manager }}
        {{- include "signet.managerContainer" $root | nindent 8 }}
        {{- end }}
        {{- if .tokenServer }}
        {{- include "signet.tokenServerContainer" $root | nindent 8 }}
        {{- end }}
      volumes:
        {{- if .manager }}
        {{- /* What the API server's ServiceAccount admission would mount. */}}
        - name: kube-api-access
          projected:
            defaultMode: 0444
            sources:
              - serviceAccountToken:
                  path: token
                  expirationSeconds: 3607
              - configMap:
                  name: kube-root-ca.crt
                  items:
                    - key: ca.crt
                      path: ca.crt
              - downwardAPI:
                  items:
                    - path: namespace
                      fieldRef:
                        fieldPath: metadata.namespace
        {{- if $v.webhook.enabled }}
        {{- /* The admission webhook's certificate, written by the manager. */}}
        - name: webhook-cert
          secret:
            secretName: {{ include "signet.webhook.secretName" $root }}
        {{- end }}
        {{- end }}
        {{- if and .manager .tokenServer }}
        {{- /*
        The sidecar's own token, written by the manager (TokenRequest API)
        and refreshed before it expires; kept in memory, never on disk.
        */}}
        - name: token-server-token
          emptyDir:
            medium: Memory
            sizeLimit: 1Mi
        - name: kube-ca
          configMap:
            name: kube-root-ca.crt
            items:
              - key: ca.crt
                path: ca.crt
        {{- end }}
        {{- if .tokenServer }}
        - name: tls
          secret:
            secretName: {{ include "signet.tlsSecretName" $root }}
        {{- end }}
{{- end }}

{{/*
signet.pdb renders a PodDisruptionBudget for a Deployment with more than one
replica. Call it with (dict "root" $ "name" NAME "component" COMPONENT
"replicas" N).
*/}}
{{- define "signet.pdb" -}}
{{- $pdb := .root.Values.podDisruptionBudget }}
{{- if and $pdb.enabled (gt (int .replicas) 1) }}
{{- if and (not (kindIs "invalid" $pdb.minAvailable)) (not (kindIs "invalid" $pdb.maxUnavailable)) }}
{{- fail "set podDisruptionBudget.minAvailable or podDisruptionBudget.maxUnavailable, not both (set the other to null)" }}
{{- end }}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  {{- include "signet.metadata" . | nindent 2 }}
spec:
  {{- if not (kindIs "invalid" $pdb.maxUnavailable) }}
  maxUnavailable: {{ $pdb.maxUnavailable }}
  {{- else }}
  minAvailable: {{ $pdb.minAvailable | default 1 }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "signet.selectorLabels" .root | nindent 6 }}
      app.kubernetes.io/component: {{ .component }}
{{- end }}
{{- end }}

{{/*
signet.role renders a Role in the release namespace and its RoleBinding.
Call it with (dict "root" $ "name" NAME "component" COMPONENT "rules" RULES
"subjects" SUBJECTS).
*/}}
{{- define "signet.role" -}}
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  {{- include "signet.metadata" . | nindent 2 }}
rules:
  {{- toYaml .rules | nindent 2 }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  {{- include "signet.metadata" . | nindent 2 }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: {{ .name }}
subjects:
  {{- toYaml .subjects | nindent 2 }}
{{- end }}
