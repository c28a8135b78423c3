{{- define "homeostat.fullname" -}}
{{ .Release.Name }}
{{- end }}

{{- define "homeostat.labels" -}}
app.kubernetes.io/name: homeostat
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}

{{- define "homeostat.selectorLabels" -}}
app.kubernetes.io/name: homeostat
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "homeostat.tokenSecret" -}}
{{- if .Values.apiToken.existingSecret -}}
{{ .Values.apiToken.existingSecret }}
{{- else -}}
{{ include "homeostat.fullname" . }}-api-token
{{- end }}
{{- end }}
