{{/* The chart name, cut to fit a label. */}}
{{- define "associate-operator.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's object name: the release name when it already holds the chart name. */}}
{{- define "associate-operator.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "associate-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "associate-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "associate-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "associate-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The ServiceAccount the manager runs as; the RBAC bindings name it. */}}
{{- define "associate-operator.serviceAccountName" -}}
{{- include "associate-operator.fullname" . }}
{{- end }}

{{- define "associate-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* Refuses a rule that grants "*": every rule names its groups, resources and verbs. */}}
{{- define "associate-operator.checkRules" -}}
{{- range $rule := . }}
{{- range $field := list "apiGroups" "resources" "verbs" "resourceNames" "nonResourceURLs" }}
{{- if has "*" (get $rule $field | default list) }}
{{- fail (printf "RBAC rule %v grants \"*\" in %s: list the groups, resources and verbs it needs" $rule $field) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
