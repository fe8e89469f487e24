{{/* Names, labels and the few decisions more than one template needs. */}}

{{- define "mirrord-usage.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name: the Service, Deployment, ServiceAccount and claim are called this. */}}
{{- define "mirrord-usage.fullname" -}}
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

{{- define "mirrord-usage.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "mirrord-usage.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mirrord-usage.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "mirrord-usage.labels" -}}
helm.sh/chart: {{ include "mirrord-usage.chart" . }}
{{ include "mirrord-usage.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: mirrord-usage
{{- end }}

{{- define "mirrord-usage.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "mirrord-usage.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false: name the ServiceAccount the controller runs as" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "mirrord-usage.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The Secret with the serving certificate (tls.crt, tls.key) that the controller mounts. */}}
{{- define "mirrord-usage.tlsSecretName" -}}
{{- if .Values.tls.existingSecret }}
{{- .Values.tls.existingSecret }}
{{- else }}
{{- printf "%s-tls" (include "mirrord-usage.fullname" .) }}
{{- end }}
{{- end }}

{{/* The names kube-apiserver and in-cluster clients use for the Service. */}}
{{- define "mirrord-usage.serviceDnsNames" -}}
{{- $service := include "mirrord-usage.fullname" . }}
{{- list (printf "%s.%s.svc" $service .Release.Namespace) (printf "%s.%s.svc.cluster.local" $service .Release.Namespace) | toJson }}
{{- end }}

{{/* Refuses combinations of values that would install something that cannot work. */}}
{{- define "mirrord-usage.validate" -}}
{{- if and .Values.tls.certManager.enabled .Values.tls.existingSecret }}
{{- fail "tls.certManager.enabled and tls.existingSecret are two sources of the serving certificate; set one of them" }}
{{- end }}
{{- if and .Values.tls.existingSecret (not .Values.tls.caBundle) }}
{{- fail "tls.existingSecret needs tls.caBundle: the PEM of the CA that signed its certificate (e.g. --set-file tls.caBundle=ca.crt), which kube-apiserver checks the certificate against" }}
{{- end }}
{{- if and .Values.tls.caBundle (not .Values.tls.existingSecret) }}
{{- fail "tls.caBundle is only used with tls.existingSecret: set that too, or leave tls.caBundle empty" }}
{{- end }}
{{- if and .Values.tls.caBundle (not (contains "-----BEGIN CERTIFICATE-----" .Values.tls.caBundle)) }}
{{- fail "tls.caBundle must be PEM (-----BEGIN CERTIFICATE-----…), e.g. --set-file tls.caBundle=ca.crt" }}
{{- end }}
{{- if and .Values.dashboard.ingress.enabled (not .Values.dashboard.enabled) }}
{{- fail "dashboard.ingress.enabled needs dashboard.enabled=true" }}
{{- end }}
{{- if and .Values.dashboard.ingress.enabled (not .Values.dashboard.ingress.host) }}
{{- fail "dashboard.ingress.enabled needs dashboard.ingress.host, the host name users open (e.g. --set dashboard.ingress.host=mirrord-dashboard.company.com)" }}
{{- end }}
{{- if and .Values.dashboard.ingress.tls.certManager.issuer (not .Values.dashboard.ingress.tls.enabled) }}
{{- fail "dashboard.ingress.tls.certManager.issuer needs dashboard.ingress.tls.enabled=true: cert-manager fills the Secret the ingress's TLS section names" }}
{{- end }}
{{- if and .Values.networkPolicy.enabled (not (or .Values.networkPolicy.apiServer.cidrs .Values.networkPolicy.apiServer.peers)) }}
{{- fail "networkPolicy.enabled needs networkPolicy.apiServer.cidrs (or .peers): without them kube-apiserver could not reach the aggregated API. Its addresses: kubectl get endpoints kubernetes -n default" }}
{{- end }}
{{- end }}
