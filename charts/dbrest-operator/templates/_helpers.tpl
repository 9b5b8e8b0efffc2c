{{/*
The name prefix of every object: the release name, or "<release>-dbrest-operator"
when the release name does not contain the chart name. A release named
dbrest-operator gives the names config/default uses. It is cut at 28
characters, so that the longest name, the metrics Service's, stays a
63-character DNS label.
*/}}
{{- define "dbrest-operator.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 28 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 28 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels of every object. */}}
{{- define "dbrest-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/*
Labels that select the manager's pods. control-plane is the label
config/default selects on; the instance label keeps two releases (shards)
in one namespace apart.
*/}}
{{- define "dbrest-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
control-plane: controller-manager
{{- end -}}

{{- define "dbrest-operator.serviceAccountName" -}}
{{ include "dbrest-operator.fullname" . }}-controller-manager
{{- end -}}

{{- define "dbrest-operator.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end -}}

{{/* The subject of every binding: the manager's ServiceAccount. */}}
{{- define "dbrest-operator.subjects" -}}
- kind: ServiceAccount
  name: {{ include "dbrest-operator.serviceAccountName" . }}
  namespace: {{ .Release.Namespace }}
{{- end -}}
